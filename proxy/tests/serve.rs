//! `sluice serve` as a process: the ready line, SIGHUP reloads without dropping sessions, a
//! broken role file on reload keeps the old one, and SIGTERM drains running statements.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::shared_pg;
use tokio_postgres::NoTls;

struct Served {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
    db: String,
}

impl Served {
    fn start(roles: &str) -> Served {
        let pg = shared_pg();
        let db = seed_pg(pg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let bin = env!("CARGO_BIN_EXE_sluice");
        let keys = dir.path().join("keys");
        let st = Command::new(bin)
            .args(["keygen", "--out-dir"])
            .arg(&keys)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::write(dir.path().join("roles.yaml"), roles).unwrap();
        std::fs::write(dir.path().join("revoked.txt"), "").unwrap();
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--rbac-config")
            .arg(dir.path().join("roles.yaml"))
            .arg("--public-key")
            .arg(keys.join("issuer.pub"))
            .arg("--revocations")
            .arg(dir.path().join("revoked.txt"))
            .arg("--audit-log")
            .arg(dir.path().join("audit.jsonl"))
            .args(["--pg-listen", "127.0.0.1:0", "--drain-timeout", "10s"])
            .env("SLUICE_PG_BACKEND", pg.url(&db))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("sluice ready: postgres=")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_string();
        Served {
            child,
            addr,
            dir,
            db,
        }
    }

    fn token(&self, role: &str) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "token",
                "create",
                "--role",
                role,
                "--tenant-id",
                "acme",
                "--expires-in",
                "10m",
                "--key",
            ])
            .arg(self.dir.path().join("keys/issuer.key"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    async fn connect(&self, token: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (host, port) = self.addr.rsplit_once(':').unwrap();
        let url = format!(
            "postgres://agent:{token}@{host}:{port}/{}?sslmode=disable",
            self.db
        );
        let (c, conn) = tokio_postgres::connect(&url, NoTls).await?;
        tokio::spawn(conn);
        Ok(c)
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn stderr(mut self) -> String {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut s).unwrap();
        s
    }
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_roles_on_open_sessions_and_keeps_the_old_ones_on_error() {
    let served = Served::start(ROLES);
    let token = served.token("agent_readonly");
    let c = served.connect(&token).await.unwrap();
    let stmt = c.prepare("SELECT count(*) FROM vehicles").await.unwrap();
    assert_eq!(c.query_one(&stmt, &[]).await.unwrap().get::<_, i64>(0), 12);

    // A role file without the vehicles grant: the open session loses it on its next statement,
    // including the statement it prepared before the reload.
    let without = ROLES.replacen("      vehicles: [SELECT]\n", "", 1);
    assert_ne!(without, ROLES);
    std::fs::write(served.dir.path().join("roles.yaml"), &without).unwrap();
    served.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.query("SELECT count(*) FROM vehicles", &[]).await {
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(_) => panic!("the reload did not apply"),
            Err(e) => {
                assert_eq!(sqlstate(&e), "42501", "{e}");
                break;
            }
        }
    }
    let e = c.query_one(&stmt, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42501", "prepared before the reload: {e}");
    c.simple_query("SELECT count(*) FROM customers")
        .await
        .expect("session kept");

    // A broken role file: the reload fails, the previous roles stay in force.
    std::fs::write(served.dir.path().join("roles.yaml"), "roles: [").unwrap();
    served.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.simple_query("SELECT count(*) FROM customers")
        .await
        .expect("still served");
    let stderr = served.stderr();
    assert!(stderr.contains("reload failed"), "{stderr}");
    assert!(
        stderr.contains("roles.yaml"),
        "the error names the file: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_statements_finish_and_refuses_new_clients() {
    let mut served = Served::start(ROLES);
    let token = served.token("agent_slow");
    let c = served.connect(&token).await.unwrap();
    let idle = served.connect(&token).await.unwrap();
    let running = tokio::spawn(async move {
        let r = c.simple_query("SELECT pg_sleep(0.8)").await;
        (r.is_ok(), c)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    served.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        served.connect(&token).await.is_err(),
        "a new client was accepted while draining"
    );
    // An idle session is closed at once, with a reason.
    let e = idle.simple_query("SELECT 1").await.unwrap_err();
    assert!(idle.is_closed(), "{e}");
    let (ok, c) = running.await.unwrap();
    assert!(ok, "the running statement was cut off");
    // Once its statement is done, the busy session is idle and closed too: the gateway exits
    // without waiting for the drain timeout (10 s).
    let stopped = Instant::now();
    let status = served.child.wait().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped.elapsed()
    );
    drop(c);
    assert!(status.success(), "{status:?}");
    let audit = std::fs::read_to_string(served.dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("pg_sleep(0.8)"),
        "the drained statement is audited: {audit}"
    );
}

/// A `sluice serve` command with new keys and [`ROLES`] in a temp dir (kept alive by the caller).
fn serve_command() -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_sluice");
    let keys = dir.path().join("keys");
    assert!(Command::new(bin)
        .args(["keygen", "--out-dir"])
        .arg(&keys)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    std::fs::write(dir.path().join("roles.yaml"), ROLES).unwrap();
    let mut serve = Command::new(bin);
    serve
        .arg("serve")
        .arg("--rbac-config")
        .arg(dir.path().join("roles.yaml"))
        .arg("--public-key")
        .arg(keys.join("issuer.pub"));
    (dir, serve)
}

/// `sluice serve` in front of `backend_url`, with its standard output and error as channels of
/// lines.
struct Watched {
    child: Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Watched {
    fn start(backend_url: &str, extra: &[&str]) -> Watched {
        let (dir, mut serve) = serve_command();
        let mut child = serve
            .args(["--pg-listen", "127.0.0.1:0"])
            .args(extra)
            .env("SLUICE_PG_BACKEND", backend_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        Watched {
            stdout: lines(Box::new(child.stdout.take().unwrap())),
            stderr: lines(Box::new(child.stderr.take().unwrap())),
            child,
            _dir: dir,
        }
    }

    /// The first line of `rx` containing `needle`, within `within`.
    fn wait_for(
        rx: &std::sync::mpsc::Receiver<String>,
        needle: &str,
        within: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_backend_down_at_start_delays_ready_with_progress_until_it_answers() {
    // A server of its own: this test stops it.
    let pg = sluice_integration::PgServer::start().unwrap();
    let db = seed_pg(&pg).unwrap();
    pg.stop().unwrap();
    let served = Watched::start(&pg.url(&db), &[]);
    let progress = Watched::wait_for(
        &served.stderr,
        "waiting for the PostgreSQL backend",
        Duration::from_secs(20),
    )
    .expect("a progress line while the backend is down");
    assert!(progress.contains("--no-wait"), "{progress}");
    assert!(
        served.stdout.recv_timeout(Duration::from_secs(3)).is_err(),
        "ready was printed while the backend is down"
    );
    pg.restart().unwrap();
    let ready = Watched::wait_for(&served.stdout, "sluice ready:", Duration::from_secs(30))
        .expect("ready once the backend answers");
    assert!(
        ready.starts_with("sluice ready: postgres=127.0.0.1:"),
        "{ready}"
    );
}

#[test]
fn with_no_wait_a_backend_down_at_start_does_not_delay_ready() {
    let pg = sluice_integration::PgServer::start().unwrap();
    let db = seed_pg(&pg).unwrap();
    pg.stop().unwrap();
    let served = Watched::start(&pg.url(&db), &["--no-wait"]);
    let ready = Watched::wait_for(&served.stdout, "sluice ready:", Duration::from_secs(10));
    assert!(ready.is_some(), "--no-wait must listen at once");
    let logged = Watched::wait_for(&served.stderr, "is unknown", Duration::from_secs(5));
    assert!(logged.is_some(), "the unknown schema is logged");
}

/// Runs `sluice serve` until it exits or prints ready; returns (exit code, stderr).
fn serve_until_exit(backend_env: (&str, String), listen: &str) -> (Option<i32>, String) {
    let (_dir, mut serve) = serve_command();
    let mut child = serve
        .args([listen, "127.0.0.1:0"])
        .env(backend_env.0, backend_env.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

#[test]
fn a_postgres_account_without_a_privilege_the_roles_grant_stops_the_start() {
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    // ROLES grants agent_support INSERT and UPDATE on reservations; this account may only read.
    let account = format!("{db}_reader");
    pg.exec(
        &db,
        &format!(
            "CREATE ROLE {account} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {account}"
        ),
    )
    .unwrap();
    let url = format!("postgres://{account}@127.0.0.1:{}/{db}", pg.port());
    let (code, stderr) = serve_until_exit(("SLUICE_PG_BACKEND", url), "--pg-listen");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("lacks privileges the role file grants")
            && stderr.contains("INSERT on public.reservations (granted to agent_support)")
            && stderr.contains("UPDATE on public.reservations (granted to agent_support)")
            && stderr.contains("GRANT INSERT ON public.reservations TO"),
        "{stderr}"
    );
    assert!(!stderr.contains("SELECT on"), "{stderr}");
}

#[test]
fn a_mariadb_account_without_a_privilege_the_roles_grant_stops_the_start() {
    let my = sluice_integration::shared_mariadb();
    let db = sluice_integration::rental::seed_mariadb(my).unwrap();
    let account = format!("{db}_reader");
    my.exec(
        &db,
        &format!(
            "CREATE USER '{account}'@'%'; GRANT SELECT ON {db}.* TO '{account}'@'%'; \
             GRANT INSERT ON {db}.reservations TO '{account}'@'%'"
        ),
    )
    .unwrap();
    let url = format!("mysql://{account}@127.0.0.1:{}/{db}", my.port());
    let (code, stderr) = serve_until_exit(("SLUICE_MYSQL_BACKEND", url), "--mysql-listen");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "UPDATE on {db}.reservations (granted to agent_support)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("INSERT on"), "{stderr}");
    assert!(!stderr.contains("SELECT on"), "{stderr}");
}
