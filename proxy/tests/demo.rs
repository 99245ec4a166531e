//! `sluice demo` as a newcomer runs it: it reaches ready, the psql, mariadb and REST lines it
//! prints work when pasted and see only their tenant's rows, and Ctrl-C stops everything and
//! removes what it made (or keeps the directory with `--keep`).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running demo and what it printed.
struct Demo {
    child: Child,
    /// Everything it printed on standard output up to the last line of the instructions.
    printed: String,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Standard error so far.
    progress: std::sync::Arc<std::sync::Mutex<String>>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(180);

impl Demo {
    fn start(extra: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "demo",
                "--pg-listen",
                "127.0.0.1:0",
                "--mysql-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                // The test command installs the servers; the demo must not need to.
                "--no-install",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run sluice demo");
        let stderr = child.stderr.take().unwrap();
        let progress = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = progress.clone();
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
            sink.lock().unwrap().clone()
        });
        let printed = read_instructions(child.stdout.take().unwrap());
        let mut demo = Demo {
            child,
            printed,
            stderr: Some(stderr),
            progress,
        };
        if !demo.printed.contains("Ctrl-C stops") {
            let _ = demo.child.kill();
            let _ = demo.child.wait();
            let stderr = demo.stderr.take().unwrap();
            panic!(
                "sluice demo did not print its instructions within {READY_TIMEOUT:?}:\n{}\n\
                 stderr:\n{}",
                demo.printed,
                stderr.join().unwrap()
            );
        }
        demo
    }

    /// The pasteable psql DSN printed under `# {tenant} as {role}`.
    fn psql_dsn(&self, tenant: &str, role: &str) -> String {
        let mut lines = self.printed.lines();
        lines
            .find(|l| l.trim() == format!("# {tenant} as {role}"))
            .unwrap_or_else(|| panic!("no psql line for {tenant}/{role} in:\n{}", self.printed));
        let line = lines.next().unwrap().trim();
        line.strip_prefix("psql \"")
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("not a psql line: {line}"))
            .to_string()
    }

    /// The line that follows the heading starting with `heading`.
    fn line_after(&self, heading: &str) -> String {
        let mut lines = self.printed.lines();
        lines.find(|l| l.starts_with(heading)).unwrap_or_else(|| {
            panic!(
                "no {heading:?} in:\n{}\nstderr:\n{}",
                self.printed,
                self.progress.lock().unwrap()
            )
        });
        lines.next().unwrap().trim().to_string()
    }

    /// The demo's directory, from "Tokens (…) are in DIR/tokens; …".
    fn dir(&self) -> PathBuf {
        let line = self
            .printed
            .lines()
            .find(|l| l.starts_with("Tokens ("))
            .expect("a Tokens line");
        let tokens = line
            .split(" are in ")
            .nth(1)
            .and_then(|r| r.split("; ").next())
            .expect("a token directory");
        Path::new(tokens).parent().unwrap().to_path_buf()
    }

    /// Ctrl-C; returns the exit status and standard error.
    fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: a plain signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sluice demo did not stop within 60 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self.stderr.take().unwrap().join().unwrap())
    }
}

impl Drop for Demo {
    /// A failed test still stops the demo as Ctrl-C does, so that it removes what it made.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: a plain signal to our own child.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads standard output until the instructions' last line, or the timeout.
fn read_instructions(stdout: ChildStdout) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut printed = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
                if line.starts_with("Ctrl-C stops") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    printed
}

/// Runs a pasted shell line with extra arguments; returns standard output, failing on an error.
fn sh(line: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{line}` failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn psql(dsn: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .arg(dsn)
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql must be installed (./scripts/test installs it)")
}

fn port_of(addr_line: &str, key: &str) -> u16 {
    addr_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {addr_line:?}"))
}

#[test]
fn pasted_lines_see_only_their_tenant_and_ctrl_c_removes_everything() {
    let demo = Demo::start(&[]);
    let ready = demo
        .printed
        .lines()
        .find(|l| l.starts_with("sluice demo ready:"))
        .unwrap()
        .to_string();
    let dir = demo.dir();
    assert!(dir.join("issuer.key").exists() && dir.join("roles.yaml").exists());

    // psql, as pasted: each tenant sees its own rows only.
    for tenant in ["acme", "globex"] {
        let out = psql(
            &demo.psql_dsn(tenant, "agent_readonly"),
            "SELECT DISTINCT tenant_id FROM reservations",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tenant);
    }
    let all = psql(
        &demo.psql_dsn("acme", "agent_readonly"),
        "SELECT count(*) FROM reservations",
    );
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).trim(),
        "15",
        "acme's reservations in examples/rental/data.sql"
    );
    // The hidden column the instructions name does not exist for the token.
    let ssn = psql(
        &demo.psql_dsn("acme", "agent_readonly"),
        "SELECT ssn FROM customers",
    );
    assert!(!ssn.status.success());
    assert!(
        String::from_utf8_lossy(&ssn.stderr).contains("column \"ssn\" does not exist"),
        "{}",
        String::from_utf8_lossy(&ssn.stderr)
    );

    // The mariadb command, as pasted.
    let mariadb = demo.line_after("mariadb (");
    assert!(mariadb.starts_with("mariadb "), "{mariadb}");
    let tenants = sh(&format!(
        "{mariadb} -N -e 'SELECT DISTINCT tenant_id FROM reservations'"
    ));
    assert_eq!(tenants.trim(), "acme");

    // The curl line's request, made without curl (which the test machine may lack).
    let curl = demo.line_after("REST (");
    let url = curl
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let token = std::fs::read_to_string(dir.join("tokens/acme-agent_readonly")).unwrap();
    let body = http_get(&url, token.trim());
    assert!(body.contains("\"tenant_id\":\"acme\""), "{body}");
    assert!(!body.contains("globex"), "{body}");

    // The audit log records the statements.
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(audit.contains("SELECT DISTINCT tenant_id FROM reservations"));

    let pg_port = port_of(&ready, "postgres");
    let (status, stderr) = demo.interrupt();
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    assert!(
        stderr.contains("everything it created is removed"),
        "{stderr}"
    );
    assert!(!dir.exists(), "{} was left behind", dir.display());
    assert!(
        TcpStream::connect(("127.0.0.1", pg_port)).is_err(),
        "the gateway still listens"
    );
    // The throwaway PostgreSQL's port is in the progress line "[1/4] PostgreSQL … 127.0.0.1:P".
    let backend_port: u16 = stderr
        .lines()
        .find(|l| l.contains("PostgreSQL"))
        .and_then(|l| l.split("127.0.0.1:").nth(1))
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no PostgreSQL port in:\n{stderr}"));
    assert!(
        TcpStream::connect(("127.0.0.1", backend_port)).is_err(),
        "the throwaway PostgreSQL still runs"
    );
}

#[test]
fn keep_leaves_keys_tokens_and_audit_log_in_the_directory() {
    let parent = tempfile::tempdir().unwrap();
    let keep = parent.path().join("demo");
    let demo = Demo::start(&["--keep", keep.to_str().unwrap(), "--no-mariadb"]);
    assert_eq!(demo.dir(), keep.canonicalize().unwrap());
    assert!(demo.printed.contains("mysql=(off)"), "{}", demo.printed);
    let out = psql(
        &demo.psql_dsn("globex", "agent_support"),
        "SELECT DISTINCT tenant_id FROM reservations",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "globex");
    let (status, stderr) = demo.interrupt();
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    for file in [
        "issuer.key",
        "issuer.pub",
        "roles.yaml",
        "revoked.txt",
        "audit.jsonl",
        "gateway.log",
        "mcp.json",
        "tokens/globex-agent_support",
    ] {
        assert!(keep.join(file).exists(), "{file} was not kept");
    }
    // A kept directory is not reused: new keys would not match the old tokens.
    let again = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--no-install", "--keep"])
        .arg(&keep)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
}

/// A plain HTTP/1.1 GET with a bearer token; returns the body.
fn http_get(url: &str, token: &str) -> String {
    use std::io::Write;
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}
