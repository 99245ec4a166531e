//! The PostgreSQL door's limits and records: max_rows, rate limits, statement timeouts,
//! CancelRequest routing, the audit trail, TLS and the plaintext rule, and a backend that goes
//! away and comes back.

use std::time::{Duration, Instant};

use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{db_message, shared_pg, sqlstate, Gateway, GatewayOptions, PgServer};
use tokio_postgres::{NoTls, SimpleQueryMessage};

fn gateway() -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default()).expect("gateway starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_caps_every_result_with_a_warning() {
    let gw = gateway();
    let c = gw
        .client(&gw.token("agent_capped", Some("acme"), 600))
        .await;
    // Extended protocol.
    let rows = c
        .query("SELECT id FROM vehicles ORDER BY id", &[])
        .await
        .unwrap();
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    // Simple protocol, two result sets, each capped.
    let msgs = c
        .simple_query("SELECT id FROM vehicles ORDER BY id; SELECT id FROM customers ORDER BY id")
        .await
        .unwrap();
    let mut counts = Vec::new();
    for m in &msgs {
        if let SimpleQueryMessage::CommandComplete(n) = m {
            counts.push(*n);
        }
    }
    assert_eq!(counts, vec![3, 3]);
    // Under the cap: untouched.
    let rows = c
        .query("SELECT id FROM vehicles WHERE id < 3", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_refuses_with_53400_and_the_session_survives() {
    let gw = gateway();
    let token = gw.token("agent_limited", Some("acme"), 600);
    let c = gw.client(&token).await;
    for i in 0..5 {
        c.simple_query("SELECT 1")
            .await
            .unwrap_or_else(|e| panic!("statement {i}: {e}"));
    }
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&e), "53400", "{}", db_message(&e));
    assert!(db_message(&e).contains("rate limit"), "{}", db_message(&e));
    let e = c.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "53400", "{}", db_message(&e));
    // The limit is per token: a second connection with the same token shares it...
    let c2 = gw.client(&token).await;
    assert_eq!(
        sqlstate(&c2.simple_query("SELECT 1").await.unwrap_err()),
        "53400"
    );
    // ...and another token of the same role has its own.
    let other = gw
        .client(&gw.token("agent_limited", Some("acme"), 600))
        .await;
    other.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_of_the_role_applies() {
    let gw = gateway();
    let c = gw.client(&gw.token("agent_slow", Some("acme"), 600)).await;
    let started = Instant::now();
    let e = c.simple_query("SELECT pg_sleep(5)").await.unwrap_err();
    assert_eq!(sqlstate(&e), "57014", "{}", db_message(&e));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Usable afterwards, and the timeout cannot be raised by the client.
    let e = c
        .simple_query("SET statement_timeout = 0")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501", "{}", db_message(&e));
    c.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_reaches_the_backend_running_the_statement() {
    let gw = gateway();
    let c = gw.client(&gw.token("agent_slow", Some("acme"), 600)).await;
    let cancel = c.cancel_token();
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel_query(NoTls).await
    });
    let e = c.simple_query("SELECT pg_sleep(0.9)").await.unwrap_err();
    canceller.await.unwrap().unwrap();
    assert_eq!(sqlstate(&e), "57014", "{}", db_message(&e));
    assert!(
        db_message(&e).contains("user request"),
        "cancelled, not timed out: {}",
        db_message(&e)
    );
    assert!(
        started.elapsed() < Duration::from_millis(850),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_every_decision_without_secrets() {
    let gw = gateway();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let c = gw.client(&token).await;
    c.simple_query("SELECT count(*) FROM customers")
        .await
        .unwrap();
    c.query("SELECT id FROM vehicles WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    c.simple_query("DELETE FROM customers").await.unwrap_err();
    drop(c);
    let _ = tokio_postgres::connect(&gw.pg_url("forged"), NoTls).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.shutdown();
    let text = gw.audit_text();
    assert!(!text.contains(&token), "the audit log holds the token");
    assert!(
        !text.contains("postgres://"),
        "the audit log holds the backend URL"
    );
    let lines = gw.audit();
    let jti = sluice_tokens::jti_of(&token).unwrap();
    let find = |event: &str, decision: &str, needle: &str| {
        lines.iter().find(|l| {
            l["event"] == event
                && l["decision"] == decision
                && l["statement"].as_str().unwrap_or("").contains(needle)
        })
    };
    let sel = find("statement", "allow", "count(*) FROM customers").expect("simple query audited");
    assert_eq!(sel["jti"], jti.as_str());
    assert_eq!(sel["role"], "agent_readonly");
    assert_eq!(sel["tenant"], "acme");
    assert_eq!(sel["label"], "integration-test");
    assert_eq!(sel["door"], "postgres");
    assert_eq!(sel["rows"], 1);
    assert!(
        sel["rendered"]
            .as_str()
            .unwrap()
            .contains("tenant_id = 'acme'"),
        "{sel}"
    );
    assert!(sel["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(sel["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    let ext = find("statement", "allow", "FROM vehicles WHERE id = $1").expect("extended audited");
    assert_eq!(ext["rows"], 1);
    let deny = find("statement", "deny", "DELETE FROM customers").expect("denial audited");
    assert_eq!(deny["rule"], "forbidden_operation");
    assert!(lines
        .iter()
        .any(|l| l["event"] == "connect" && l["decision"] == "deny" && l["reason"] == "invalid"));
    assert!(lines
        .iter()
        .any(|l| l["event"] == "connect" && l["decision"] == "allow" && l["jti"] == jti.as_str()));
    assert!(lines
        .iter()
        .any(|l| l["event"] == "disconnect" && l["jti"] == jti.as_str()));
}

#[test]
fn sslmode_require_works_with_the_generated_certificate() {
    let gw = gateway();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    // psql with sslmode=require against the generated self-signed certificate.
    let out = std::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=agent dbname={} sslmode=require",
            gw.pg_addr.port(),
            gw.database
        ))
        .env("PGPASSWORD", &token)
        .args(["-X", "-At", "-c", "SELECT count(*) FROM customers"])
        .output()
        .expect("psql runs (install postgresql-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10");
}

/// The first non-loopback IPv4 address of this machine, to connect from off loopback.
fn outside_address() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // No packet is sent: connecting a UDP socket only picks the route's source address.
    probe
        .connect("192.0.2.255:9")
        .or_else(|_| probe.connect("10.255.255.255:9"))
        .unwrap();
    let ip = probe.local_addr().unwrap().ip();
    assert!(
        !ip.is_loopback(),
        "this machine has no non-loopback address to test with"
    );
    ip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_tokens_from_other_hosts_are_refused_unless_allowed() {
    let ip = outside_address();
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    for allow in [false, true] {
        let opts = GatewayOptions {
            pg_listen: std::net::SocketAddr::new(ip, 0),
            allow_plaintext: allow,
            ..Default::default()
        };
        let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).unwrap();
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let result = tokio_postgres::connect(&gw.pg_url(&token), NoTls).await;
        match (allow, result) {
            (false, Err(e)) => {
                assert_eq!(sqlstate(&e), "28000", "{}", db_message(&e));
                assert!(db_message(&e).contains("TLS"), "{}", db_message(&e));
            }
            (true, Ok((c, conn))) => {
                tokio::spawn(conn);
                c.simple_query("SELECT 1").await.unwrap();
            }
            (allow, Err(e)) => panic!("allow_plaintext={allow}: {}", db_message(&e)),
            (allow, Ok(_)) => {
                panic!("allow_plaintext={allow}: a plaintext token from {ip} was accepted")
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_goes_away_gives_a_clean_error_and_is_reconnected() {
    let pg = PgServer::start().expect("own server");
    let db = seed_pg(&pg).expect("seed");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default()).unwrap();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let c = gw.client(&token).await;
    c.simple_query("SELECT 1").await.unwrap();
    // Three transactions at once leave three idle connections in the pool.
    let mut others = Vec::new();
    for _ in 0..3 {
        let o = gw.client(&token).await;
        o.simple_query("BEGIN").await.unwrap();
        others.push(o);
    }
    for o in &others {
        o.simple_query("COMMIT").await.unwrap();
    }
    pg.stop().unwrap();
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert!(
        matches!(sqlstate(&e).as_str(), "08006" | "57P01"),
        "{e}: {}",
        db_message(&e)
    );
    // A client connecting while the backend is down gets a clean error on its statement, and
    // its session stays open.
    let c = gw.client(&token).await;
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&e), "08006", "{}", db_message(&e));
    assert!(db_message(&e).contains("unavailable"), "{}", db_message(&e));
    // Retrying helps, and nothing names the backend's address or account (the gateway's log
    // does).
    let told = format!("{:?}", e.as_db_error());
    assert!(told.contains("retry later"), "{told}");
    for secret in [
        pg.port().to_string(),
        "127.0.0.1".to_string(),
        "postgres".to_string(),
    ] {
        assert!(
            !told.contains(&secret),
            "the client is told {secret:?}: {told}"
        );
    }
    let e = c.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "08006", "{}", db_message(&e));
    pg.restart().unwrap();
    // Connections pooled before the restart are dead; no client may be handed one.
    let c = gw.client(&token).await;
    for _ in 0..6 {
        let rows = c
            .query("SELECT count(*) FROM customers", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 10);
    }
    let rows = c
        .query("SELECT count(*) FROM customers", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 10);
}

/// A database that goes away under a running gateway (dropped, renamed) is a misconfiguration,
/// not an outage: clients are told that retrying does not mend it and to tell the operator,
/// and nothing names the backend's address or account. (At start the same error stops
/// `serve`: backend_urls.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_backend_is_not_reported_as_an_outage() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default()).unwrap();
    pg.exec("postgres", &format!("DROP DATABASE {db} WITH (FORCE)"))
        .expect("drop the database under the gateway");
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let told = match tokio_postgres::connect(&gw.pg_url(&token), tokio_postgres::NoTls).await {
        Err(e) => (sqlstate(&e), format!("{:?}", e.as_db_error())),
        Ok((c, conn)) => {
            tokio::spawn(conn);
            let e = c.simple_query("SELECT 1").await.unwrap_err();
            (sqlstate(&e), format!("{:?}", e.as_db_error()))
        }
    };
    assert_eq!(told.0, "08004", "{}", told.1);
    assert!(told.1.contains("tell the gateway's operator"), "{}", told.1);
    for secret in [
        pg.port().to_string(),
        "127.0.0.1".to_string(),
        "postgres".to_string(),
    ] {
        assert!(
            !told.1.contains(&secret),
            "the client is told {secret:?}: {}",
            told.1
        );
    }
}
