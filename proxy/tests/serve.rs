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
