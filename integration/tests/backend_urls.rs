//! The gateway's connections to its backends are encrypted as the backend URL asks, or the
//! gateway does not start: PostgreSQL's `sslmode`/`sslrootcert` and MySQL's `ssl-mode`/`ssl-ca`,
//! against throwaway servers started with TLS on a certificate the test makes, every URL
//! parameter the gateway does not honour refused at start, and a backend that refuses the
//! gateway's account or database stopping the start.
//!
//! Proof of encryption: PostgreSQL's `pg_stat_ssl` for the gateway's own connections
//! (`application_name = 'sluice'`), read over a direct superuser connection; MariaDB started with
//! `require_secure_transport=ON`, which refuses every connection that is not encrypted, so a
//! gateway that serves from it uses TLS.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use sluice_integration::certs::TestCa;
use sluice_integration::rental::{seed_mariadb, seed_pg, ROLES};
use sluice_integration::{
    pg_gateway_pids, shared_mariadb, shared_pg, sluice_bin, Gateway, GatewayOptions, MariaDbServer,
    PgServer,
};

/// The CA files the tests trust: the one that signed the servers' certificates, and another.
struct Cas {
    /// Signed the TLS servers' certificates (valid for 127.0.0.1 only, not `localhost`).
    right: PathBuf,
    /// A CA that signed nothing here.
    other: PathBuf,
    server_cert: sluice_integration::certs::ServerCert,
}

fn cas() -> &'static Cas {
    static CAS: OnceLock<Cas> = OnceLock::new();
    CAS.get_or_init(|| {
        // Removed at the process's exit (a static is never dropped).
        let dir = sluice_integration::process_scratch_dir("tls-cas").expect("a scratch dir");
        let ca = TestCa::new("sluice test CA").expect("a CA");
        let other = TestCa::new("another CA").expect("a CA");
        Cas {
            right: ca.write_cert(&dir, "ca.pem").unwrap(),
            other: other.write_cert(&dir, "other-ca.pem").unwrap(),
            server_cert: ca.issue(&["127.0.0.1"]).expect("a server certificate"),
        }
    })
}

/// A PostgreSQL server with `ssl=on` (it also accepts plaintext: the client's sslmode decides).
fn tls_pg() -> &'static PgServer {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    let server = SERVER
        .get_or_init(|| PgServer::start_with_tls(&cas().server_cert).map_err(|e| format!("{e:#}")));
    server
        .as_ref()
        .unwrap_or_else(|e| panic!("the PostgreSQL test server with TLS could not be started: {e}"))
}

/// A MariaDB server that refuses every connection that is not encrypted.
fn tls_only_mariadb() -> &'static MariaDbServer {
    static SERVER: OnceLock<Result<MariaDbServer, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        MariaDbServer::start_with_tls(&cas().server_cert, true).map_err(|e| format!("{e:#}"))
    });
    server.as_ref().unwrap_or_else(|e| {
        panic!("the MariaDB test server with require_secure_transport could not be started: {e}")
    })
}

fn pg_url(pg: &PgServer, host: &str, db: &str, params: &str) -> String {
    format!("postgres://postgres@{host}:{}/{db}?{params}", pg.port())
}

fn my_url(my: &MariaDbServer, host: &str, db: &str, params: &str) -> String {
    format!("mysql://root@{host}:{}/{db}?{params}", my.port())
}

fn start_pg(url: &str, db: &str) -> anyhow::Result<Gateway> {
    Gateway::start_pg(url, db, ROLES, GatewayOptions::default())
}

fn start_mysql(url: &str, db: &str) -> anyhow::Result<Gateway> {
    Gateway::start_mysql(url, db, ROLES, GatewayOptions::default())
}

/// The start error's whole chain.
fn start_error(r: anyhow::Result<Gateway>) -> String {
    match r {
        Ok(_) => panic!("the gateway started, but it must refuse to"),
        Err(e) => format!("{e:#}"),
    }
}

/// Statements through the gateway's PostgreSQL door work. In transaction pool mode each one
/// takes a backend connection from the pool and gives it back, so the later ones run on a
/// connection the pool checked and reused.
async fn pg_serves(gw: &Gateway) {
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let client = gw.client(&token).await;
    for _ in 0..3 {
        let row = client
            .query_one("SELECT count(*) FROM vehicles", &[])
            .await
            .unwrap_or_else(|e| panic!("{}", sluice_integration::db_message(&e)));
        assert!(row.get::<_, i64>(0) > 0);
    }
}

/// (encrypted, plaintext) connections the gateway holds to `db`, seen by the server.
async fn pg_gateway_connections(pg: &PgServer, db: &str) -> (i64, i64) {
    let (client, conn) = tokio_postgres::connect(&pg.url(db), tokio_postgres::NoTls)
        .await
        .expect("a direct superuser connection");
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'sluice' AND a.datname = $1",
            &[&db],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

/// A statement through the gateway's MySQL door works.
async fn mysql_serves(gw: &Gateway) {
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut conn = gw.mysql_conn(&token).await;
    let n: Option<i64> = conn
        .query_first("SELECT count(*) FROM vehicles")
        .await
        .unwrap_or_else(|e| panic!("the MySQL door could not serve a statement: {e}"));
    assert!(n.unwrap_or(0) > 0);
    let _ = conn.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_require_and_prefer_encrypt_every_backend_connection() {
    let pg = tls_pg();
    // `prefer` is libpq's default, so a URL without sslmode encrypts too.
    for params in ["sslmode=require", "sslmode=prefer", ""] {
        let db = seed_pg(pg).unwrap();
        let gw = start_pg(&pg_url(pg, "127.0.0.1", &db, params), &db).unwrap();
        pg_serves(&gw).await;
        let (tls, plain) = pg_gateway_connections(pg, &db).await;
        assert!(
            tls >= 1 && plain == 0,
            "{params:?}: the gateway's backend connections: {tls} encrypted, {plain} in plaintext"
        );
        // An idle TLS connection goes back to the pool and is reused, not replaced.
        let pids = pg_gateway_pids(pg, &db).await;
        pg_serves(&gw).await;
        assert_eq!(pg_gateway_pids(pg, &db).await, pids, "{params:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_disable_and_prefer_without_server_tls_stay_plaintext() {
    // disable: plaintext even though the server offers TLS.
    let pg = tls_pg();
    let db = seed_pg(pg).unwrap();
    let gw = start_pg(&pg_url(pg, "127.0.0.1", &db, "sslmode=disable"), &db).unwrap();
    pg_serves(&gw).await;
    let (tls, plain) = pg_gateway_connections(pg, &db).await;
    assert!(tls == 0 && plain >= 1, "{tls} encrypted, {plain} plaintext");

    // prefer against a server that answers the SSLRequest with N: plaintext, and it works.
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    let gw = start_pg(&pg_url(pg, "127.0.0.1", &db, "sslmode=prefer"), &db).unwrap();
    pg_serves(&gw).await;
    let (tls, plain) = pg_gateway_connections(pg, &db).await;
    assert!(tls == 0 && plain >= 1, "{tls} encrypted, {plain} plaintext");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_require_against_a_server_without_tls_stops_the_start() {
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    let e = start_error(start_pg(
        &pg_url(pg, "127.0.0.1", &db, "sslmode=require"),
        &db,
    ));
    assert!(
        e.contains("does not accept TLS connections") && e.contains("sslmode=require"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_verify_ca_checks_the_chain_only() {
    let pg = tls_pg();
    let cas = cas();
    // The right CA: served, encrypted. `localhost` is not in the certificate, and verify-ca
    // does not look at names.
    for host in ["127.0.0.1", "localhost"] {
        let db = seed_pg(pg).unwrap();
        let params = format!("sslmode=verify-ca&sslrootcert={}", cas.right.display());
        let gw = start_pg(&pg_url(pg, host, &db, &params), &db).unwrap();
        pg_serves(&gw).await;
        let (tls, plain) = pg_gateway_connections(pg, &db).await;
        assert!(tls >= 1 && plain == 0, "{tls} encrypted, {plain} plaintext");
    }
    // Another CA: the gateway does not start, and says why. `require` with a root certificate
    // checks the chain too, as libpq does.
    for mode in ["verify-ca", "require", "prefer"] {
        let db = seed_pg(pg).unwrap();
        let params = format!("sslmode={mode}&sslrootcert={}", cas.other.display());
        let e = start_error(start_pg(&pg_url(pg, "127.0.0.1", &db, &params), &db));
        assert!(
            e.contains("TLS handshake with the PostgreSQL backend")
                && e.contains("not signed by a CA certificate in sslrootcert"),
            "{mode}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_verify_full_checks_the_host_name() {
    let pg = tls_pg();
    let cas = cas();
    let db = seed_pg(pg).unwrap();
    let right = format!("sslmode=verify-full&sslrootcert={}", cas.right.display());
    let gw = start_pg(&pg_url(pg, "127.0.0.1", &db, &right), &db).unwrap();
    pg_serves(&gw).await;
    let (tls, plain) = pg_gateway_connections(pg, &db).await;
    assert!(tls >= 1 && plain == 0, "{tls} encrypted, {plain} plaintext");
    drop(gw);

    // The certificate names 127.0.0.1, not localhost.
    let e = start_error(start_pg(&pg_url(pg, "localhost", &db, &right), &db));
    assert!(
        e.contains("does not name the host") && e.contains("localhost"),
        "{e}"
    );
    // Another CA.
    let other = format!("sslmode=verify-full&sslrootcert={}", cas.other.display());
    let e = start_error(start_pg(&pg_url(pg, "127.0.0.1", &db, &other), &db));
    assert!(e.contains("not signed by a CA certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_cancel_reaches_a_backend_reached_over_tls() {
    let pg = tls_pg();
    let db = seed_pg(pg).unwrap();
    let gw = start_pg(&pg_url(pg, "127.0.0.1", &db, "sslmode=require"), &db).unwrap();
    let token = gw.token("agent_slow", Some("acme"), 600);
    let client = gw.client(&token).await;
    let cancel = client.cancel_token();
    let started = Instant::now();
    let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(0.9)").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("the gateway takes the cancel request");
    let e = sleeper
        .await
        .unwrap()
        .expect_err("the statement was cancelled");
    assert_eq!(sluice_integration::sqlstate(&e), "57014", "{e}");
    assert!(started.elapsed() < Duration::from_millis(850));
}

/// Runs `sluice serve` with `backend` as its `env` backend variable and waits for it to exit
/// (it must: a refused URL stops the start). A gateway that starts anyway is killed and fails
/// the test.
fn serve_refuses(env: &str, listen: &str, backend: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(sluice_bin())
        .args(["keygen", "--out-dir"])
        .arg(dir.path().join("keys"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(dir.path().join("roles.yaml"), ROLES).unwrap();
    let mut child = Command::new(sluice_bin())
        .arg("serve")
        .arg("--rbac-config")
        .arg(dir.path().join("roles.yaml"))
        .arg("--public-key")
        .arg(dir.path().join("keys/issuer.pub"))
        .args([listen, "127.0.0.1:0"])
        .env(env, backend)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "sluice serve started with a backend URL it must refuse:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn check_db(url: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("roles.yaml"), ROLES).unwrap();
    Command::new(sluice_bin())
        .arg("check")
        .arg("--rbac-config")
        .arg(dir.path().join("roles.yaml"))
        .env("SLUICE_CHECK_DB", url)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pg_unknown_and_unsupported_parameters_are_refused_at_start() {
    let pg = shared_pg();
    let base = format!(
        "postgres://app:hunter2secret@127.0.0.1:{}/rental",
        pg.port()
    );
    for (params, named) in [
        ("sslmode=require&sslcert=/tmp/client.crt", "`sslcert`"),
        ("target_session_attrs=read-write", "`target_session_attrs`"),
        ("options=-c%20search_path%3Devil", "`options`"),
        ("application_name=x", "`application_name`"),
        ("sslmod=require", "`sslmod`"),
        ("sslmode=verify-full", "sslrootcert=FILE"),
        (
            "sslmode=disable&sslrootcert=/tmp/ca.pem",
            "sslmode=disable never uses it",
        ),
        (
            "sslmode=require&sslrootcert=/nonexistent/ca.pem",
            "cannot read the CA certificate",
        ),
        ("sslmode=allow", "sslmode=allow is not supported"),
    ] {
        let url = format!("{base}?{params}");
        let o = serve_refuses("SLUICE_PG_BACKEND", "--pg-listen", &url);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{params}: {err}");
        assert!(err.contains(named), "{params}: {err}");
        assert!(!err.contains("hunter2secret"), "{params}: {err}");
        if named.starts_with('`') {
            assert!(
                err.contains("Supported parameters: host, port, user, password, dbname"),
                "{params}: {err}"
            );
        }
        // `sluice check --db` reads the URL the same way.
        let o = check_db(&url);
        assert_eq!(o.status.code(), Some(2), "{params}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{params}: {}", stderr(&o));
    }
    // The key=value form is held to the same rules.
    let o = check_db(&format!(
        "host=127.0.0.1 port={} user=app password=hunter2secret keepalives=1",
        pg.port()
    ));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`keepalives`") && !stderr(&o).contains("hunter2secret"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_db_reads_the_schema_over_tls_and_refuses_a_wrong_ca() {
    let pg = tls_pg();
    let db = seed_pg(pg).unwrap();
    let cas = cas();
    let url = |ca: &PathBuf| {
        pg_url(
            pg,
            "127.0.0.1",
            &db,
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        )
    };
    // 1: findings (the rental roles have one), not 2: the schema was read.
    let o = check_db(&url(&cas.right));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = check_db(&url(&cas.other));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not signed by a CA certificate in sslrootcert"),
        "{}",
        stderr(&o)
    );

    let my = tls_only_mariadb();
    let db = seed_mariadb(my).unwrap();
    let ca = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", cas.right.display());
    let o = check_db(&my_url(my, "127.0.0.1", &db, &ca));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let ca = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", cas.other.display());
    let o = check_db(&my_url(my, "127.0.0.1", &db, &ca));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not signed by a CA certificate in ssl-ca"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_required_and_preferred_reach_a_server_that_refuses_plaintext() {
    let my = tls_only_mariadb();
    // PREFERRED is MySQL clients' default, so a URL without ssl-mode encrypts too.
    for params in ["ssl-mode=REQUIRED", "ssl-mode=PREFERRED", ""] {
        let db = seed_mariadb(my).unwrap();
        let gw = start_mysql(&my_url(my, "127.0.0.1", &db, params), &db)
            .unwrap_or_else(|e| panic!("{params:?}: {e:#}"));
        mysql_serves(&gw).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_disabled_is_refused_by_a_server_that_requires_tls() {
    // The control for the test above: the server does refuse plaintext.
    let my = tls_only_mariadb();
    // MariaDB answers a plaintext login there with "Access denied" (1045), which the gateway
    // takes for the configuration error it is: it does not start.
    let db = seed_mariadb(my).unwrap();
    let started = start_mysql(&my_url(my, "127.0.0.1", &db, "ssl-mode=DISABLED"), &db);
    let e = started
        .err()
        .expect("a plaintext gateway must not start against a TLS-only server");
    let e = format!("{e:#}");
    assert!(e.contains("does not start") && e.contains("1045"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_verify_modes_check_the_certificate() {
    let my = tls_only_mariadb();
    let cas = cas();
    for mode in ["VERIFY_CA", "VERIFY_IDENTITY"] {
        let db = seed_mariadb(my).unwrap();
        let right = format!("ssl-mode={mode}&ssl-ca={}", cas.right.display());
        let gw = start_mysql(&my_url(my, "127.0.0.1", &db, &right), &db)
            .unwrap_or_else(|e| panic!("{mode}: {e:#}"));
        mysql_serves(&gw).await;
        drop(gw);
        let other = format!("ssl-mode={mode}&ssl-ca={}", cas.other.display());
        let e = start_error(start_mysql(&my_url(my, "127.0.0.1", &db, &other), &db));
        assert!(
            e.contains("TLS handshake with the MySQL backend")
                && e.contains("not signed by a CA certificate in ssl-ca"),
            "{mode}: {e}"
        );
    }
    // ssl-ca alone means VERIFY_CA, as for MySQL's clients.
    let db = seed_mariadb(my).unwrap();
    let other = format!("ssl-ca={}", cas.other.display());
    let e = start_error(start_mysql(&my_url(my, "127.0.0.1", &db, &other), &db));
    assert!(e.contains("ssl-mode=VERIFY_CA"), "{e}");
    // VERIFY_IDENTITY: the certificate names 127.0.0.1, not localhost.
    let right = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", cas.right.display());
    let e = start_error(start_mysql(&my_url(my, "localhost", &db, &right), &db));
    assert!(e.contains("does not name the host"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_required_against_a_server_without_tls_stops_the_start() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).unwrap();
    let e = start_error(start_mysql(
        &my_url(my, "127.0.0.1", &db, "ssl-mode=REQUIRED"),
        &db,
    ));
    assert!(
        e.contains("does not offer TLS") && e.contains("ssl-mode=REQUIRED"),
        "{e}"
    );
    // PREFERRED falls back to plaintext when the server offers no TLS.
    let gw = start_mysql(&my_url(my, "127.0.0.1", &db, "ssl-mode=PREFERRED"), &db).unwrap();
    mysql_serves(&gw).await;
}

#[test]
fn mysql_unknown_and_unsupported_parameters_are_refused_at_start() {
    let my = shared_mariadb();
    let base = format!("mysql://app:hunter2secret@127.0.0.1:{}/rental", my.port());
    for (params, named) in [
        ("prefer_socket=false", "`prefer_socket`"),
        ("require_ssl=true", "`require_ssl`"),
        ("pool_max=100", "`pool_max`"),
        ("sslmode=REQUIRED", "`sslmode`"),
        ("tls=true", "`tls`"),
        (
            "ssl-mode=REQUIRED&ssl-ca=/tmp/ca.pem",
            "does not check the server's certificate",
        ),
        ("ssl-mode=VERIFY_IDENTITY", "needs ssl-ca=FILE"),
        (
            "ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem",
            "cannot read the CA certificate",
        ),
        ("ssl-mode=SOMETIMES", "ssl-mode must be"),
    ] {
        let url = format!("{base}?{params}");
        let o = serve_refuses("SLUICE_MYSQL_BACKEND", "--mysql-listen", &url);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{params}: {err}");
        assert!(err.contains(named), "{params}: {err}");
        assert!(!err.contains("hunter2secret"), "{params}: {err}");
        if named.starts_with('`') {
            assert!(
                err.contains("Supported parameters: ssl-mode, ssl-ca"),
                "{params}: {err}"
            );
        }
        let o = check_db(&url);
        assert_eq!(o.status.code(), Some(2), "{params}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{params}: {}", stderr(&o));
    }
}

/// A backend that refuses the gateway's account or database is a configuration error, not an
/// outage: `serve` stops before `ready` with exit 2 and the reason (never the password), rather
/// than serve clients that every statement would fail.
#[test]
fn a_backend_that_refuses_the_gateways_account_or_database_stops_the_start() {
    let pg = shared_pg();
    let o = serve_refuses(
        "SLUICE_PG_BACKEND",
        "--pg-listen",
        &pg.url("no_such_database_here"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not start") && err.contains("no_such_database_here"),
        "{err}"
    );
    let my = shared_mariadb();
    for url in [
        my.url("no_such_database_here"),
        my.url("rental")
            .replacen("mysql://root", "mysql://nobody_here:wrong", 1),
    ] {
        let o = serve_refuses("SLUICE_MYSQL_BACKEND", "--mysql-listen", &url);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains("does not start"), "{url}: {err}");
        assert!(!err.contains(":wrong@"), "{err}");
    }
}
