//! The MySQL door end to end against a throwaway MariaDB, with mysql_async as the client: text
//! and prepared protocols, confinement, denials with their MySQL codes, writes, read-only
//! roles, token checks on every statement, limits, pinned settings and audit.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use sluice_integration::rental::{seed_mariadb, ROLES};
use sluice_integration::{shared_mariadb, Gateway, GatewayOptions};

/// The rental roles, plus MySQL-flavoured ones for the timeout test.
fn roles() -> String {
    format!(
        "{ROLES}  agent_sleepy:\n    inherits: agent_readonly\n    statement_timeout: 1s\n    functions: [sleep]\n"
    )
}

fn gateway() -> Gateway {
    gateway_with(GatewayOptions::default())
}

fn gateway_with(opts: GatewayOptions) -> Gateway {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed");
    Gateway::start_mysql(&my.url(&db), &db, &roles(), opts).expect("gateway starts")
}

async fn direct(gw: &Gateway) -> Conn {
    let my = shared_mariadb();
    Conn::from_url(my.url(&gw.database)).await.expect("direct")
}

/// The server error code and message of a mysql_async error.
fn code(e: &mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message.clone()),
        other => (0, other.to_string()),
    }
}

async fn expect_code(c: &mut Conn, sql: &str, want: u16) -> String {
    let e = c
        .query_drop(sql)
        .await
        .expect_err(&format!("{sql} must be refused"));
    let (got, message) = code(&e);
    assert_eq!(got, want, "{sql}: {message}");
    message
}

async fn still_answers(c: &mut Conn) {
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("session usable");
    assert_eq!(one, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_confined_in_text_and_prepared_protocols() {
    let gw = gateway();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;

    let tenants: Vec<String> = c
        .query("SELECT DISTINCT tenant_id FROM customers")
        .await
        .unwrap();
    assert_eq!(tenants, vec!["acme".to_string()]);
    let names: Vec<(i64, String)> = c
        .query("SELECT id, name FROM customers ORDER BY id")
        .await
        .unwrap();
    assert_eq!(names.len(), 10);
    assert_eq!(names[0].1, "Alice Smith");

    // Prepared, with a parameter that tries to reach the other tenant.
    let n: Option<i64> = c
        .exec_first(
            "SELECT count(*) FROM customers WHERE tenant_id = ?",
            ("globex",),
        )
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    let stmt = c
        .prep("SELECT name FROM customers WHERE id = ?")
        .await
        .unwrap();
    let mut seen = Vec::new();
    for id in [1i64, 2, 11, 12] {
        let name: Option<String> = c.exec_first(&stmt, (id,)).await.unwrap();
        seen.push(name);
    }
    // ids 11 and 12 belong to globex in rental_data.sql: invisible.
    assert_eq!(seen[2..], [None, None]);
    assert!(seen[0].is_some());

    // `||` means what the engine parsed: concatenation, with its operands grouped as parsed
    // (`2 * 3 || 4` is `(2 * 3) || 4` = '64', not MariaDB's own `2 * (3 || 4)` = 68).
    let v: Option<String> = c.query_first("SELECT 2 * 3 || 4").await.unwrap();
    assert_eq!(v.as_deref(), Some("64"));
    let v: Option<String> = c.exec_first("SELECT 2 * 3 || ?", (4,)).await.unwrap();
    assert_eq!(v.as_deref(), Some("64"));

    // `SELECT *` expands to the granted columns only.
    let rows: Vec<Row> = c.query("SELECT * FROM customers LIMIT 1").await.unwrap();
    let cols: Vec<String> = rows[0]
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(cols, ["id", "tenant_id", "name", "email"]);
    let rows: Vec<Row> = c.exec("SELECT * FROM customers LIMIT 1", ()).await.unwrap();
    assert_eq!(rows[0].len(), 4);
}

/// The engine may move a condition holding a `?` (into a fenced derived table), and proves
/// `id >= ?` leakproof only for a number: the door binds each value to its place in whichever
/// rendering runs (the unfenced one for numbers and integer strings, the fenced fallback for
/// other values), and the answers are the direct connection's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_values_reach_their_places_in_either_rendering() {
    use mysql_async::Value;
    let gw = gateway();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    let mut d = direct(&gw).await;
    let through = "SELECT ?, id, name FROM customers WHERE name REGEXP ? AND id >= ? ORDER BY id";
    let directly = "SELECT ?, id, name FROM customers WHERE tenant_id = 'acme' AND name REGEXP ? AND id >= ? ORDER BY id";
    let stmt = c.prep(through).await.unwrap();
    let values: [(&str, Value); 5] = [
        ("an integer", Value::Int(3)),
        ("an integer as a string", Value::Bytes(b"3".to_vec())),
        ("a double", Value::Double(2.5)),
        ("a decimal string (fallback)", Value::Bytes(b"2.5".to_vec())),
        ("a date (fallback)", Value::Date(2026, 1, 1, 0, 0, 0, 0)),
    ];
    for (what, v) in values {
        let params = vec![
            Value::Bytes(b"tag".to_vec()),
            Value::Bytes(b"^[A-H]".to_vec()),
            v,
        ];
        let got: Vec<(String, i64, String)> = c
            .exec(&stmt, params.clone())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let want: Vec<(String, i64, String)> = d.exec(directly, params).await.unwrap();
        assert_eq!(got, want, "{what}");
        if what != "a date (fallback)" {
            assert!(
                !got.is_empty() && got.iter().all(|r| r.0 == "tag" && r.1 >= 3),
                "{what}: {got:?}"
            );
        }
    }
    // The same statement again, with an integer after the fallback ran.
    let got: Vec<(String, i64, String)> = c.exec(&stmt, ("t", "^A", 1)).await.unwrap();
    assert_eq!(got, [("t".to_string(), 1, "Alice Smith".to_string())]);
    // Another tenant's id is out of reach whichever way it is bound.
    for v in [
        Value::Int(11),
        Value::Bytes(b"11".to_vec()),
        Value::Bytes(b"11.0".to_vec()),
    ] {
        let n: Option<i64> = c
            .exec_first("SELECT count(*) FROM customers WHERE id = ?", vec![v])
            .await
            .unwrap();
        assert_eq!(n, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_carry_mysql_codes_and_the_session_goes_on() {
    let gw = gateway();
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    let m = expect_code(&mut c, "DELETE FROM reservations WHERE id = 1", 1142).await;
    assert!(m.contains("[sluice: forbidden_operation]"), "{m}");
    still_answers(&mut c).await;
    // A column outside the role's UPDATE columns.
    let m = expect_code(
        &mut c,
        "UPDATE reservations SET price = 1 WHERE id = 1",
        1143,
    )
    .await;
    assert!(m.contains("[sluice: column_not_granted]"), "{m}");
    still_answers(&mut c).await;
    // A hidden column does not exist for this token: the backend's own "unknown column".
    expect_code(&mut c, "SELECT ssn FROM customers", 1054).await;
    still_answers(&mut c).await;
    expect_code(&mut c, "SELEC 1", 1064).await;
    expect_code(&mut c, "  ", 1065).await;
    still_answers(&mut c).await;
    expect_code(&mut c, "SELECT LOAD_FILE('/etc/passwd')", 1370).await;
    still_answers(&mut c).await;
    expect_code(
        &mut c,
        "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
        1227,
    )
    .await;
    expect_code(&mut c, "SELECT * FROM mysql.user", 1142).await;
    // The same denials at prepare time.
    let e = c
        .prep("DELETE FROM reservations WHERE id = ?")
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, 1142);
    let e = c
        .prep("UPDATE reservations SET price = ? WHERE id = ?")
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, 1143);
    // `OFFSET ? LIMIT ?` is not MySQL; sqlparser would write it as `LIMIT ? OFFSET ?`, and the
    // parameters, bound by position, would swap. Refused as the syntax error MySQL gives.
    let e = c
        .prep("SELECT id FROM reservations ORDER BY id OFFSET ? LIMIT ?")
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, 1064, "{e}");
    let ids: Vec<i64> = c
        .exec(
            "SELECT id FROM reservations ORDER BY id LIMIT ? OFFSET ?",
            (2, 1),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 2, "LIMIT 2 OFFSET 1 gives two rows: {ids:?}");
    still_answers(&mut c).await;
    // Several statements: nothing runs when one is denied.
    let opts = mysql_async::OptsBuilder::from_opts(gw.mysql_opts(&token));
    let mut multi = Conn::new(opts).await.unwrap();
    let e = multi
        .query_drop("UPDATE reservations SET notes = 'multi' WHERE id = 1; DROP TABLE vehicles")
        .await
        .unwrap_err();
    assert!(code(&e).0 > 0, "{e}");
    let mut d = direct(&gw).await;
    let notes: Option<Option<String>> = d
        .query_first("SELECT notes FROM reservations WHERE id = 1")
        .await
        .unwrap();
    assert_ne!(notes.flatten().as_deref(), Some("multi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stay_inside_the_scope() {
    let gw = gateway();
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    let mut d = direct(&gw).await;

    c.query_drop("UPDATE reservations SET notes = 'text-protocol' WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(
        c.info(),
        "Rows matched: 1  Changed: 1  Warnings: 0",
        "the backend's OK info reaches the client"
    );
    c.exec_drop(
        "UPDATE reservations SET notes = ? WHERE id = ?",
        ("prepared", 2),
    )
    .await
    .unwrap();
    let notes: Vec<(i64, Option<String>)> = d
        .query("SELECT id, notes FROM reservations WHERE id IN (1, 2) ORDER BY id")
        .await
        .unwrap();
    assert_eq!(notes[0].1.as_deref(), Some("text-protocol"));
    assert_eq!(notes[1].1.as_deref(), Some("prepared"));

    // Another tenant's row: the update matches nothing.
    let before: Option<Option<String>> = d
        .query_first(
            "SELECT notes FROM reservations WHERE tenant_id = 'globex' ORDER BY id LIMIT 1",
        )
        .await
        .unwrap();
    c.query_drop("UPDATE reservations SET notes = 'leak' WHERE tenant_id = 'globex'")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 0);
    let after: Option<Option<String>> = d
        .query_first(
            "SELECT notes FROM reservations WHERE tenant_id = 'globex' ORDER BY id LIMIT 1",
        )
        .await
        .unwrap();
    assert_eq!(before, after);

    // INSERT without tenant_id gets the token's tenant; with another tenant it is refused.
    c.exec_drop(
        "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) VALUES (?, ?, ?, ?, ?, ?)",
        (1, 1, "booked", "inserted", "2026-12-01", "99.50"),
    )
    .await
    .unwrap();
    let id = c.last_insert_id().expect("an insert id");
    let tenant: Option<String> = d
        .query_first(format!(
            "SELECT tenant_id FROM reservations WHERE id = {id}"
        ))
        .await
        .unwrap();
    assert_eq!(tenant.as_deref(), Some("acme"));
    let e = c
        .query_drop("INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, starts_on, price) VALUES ('globex', 1, 1, 'x', '2026-12-01', 1)")
        .await
        .unwrap_err();
    assert!(code(&e).0 > 0, "{e}");

    // A transaction rolled back leaves nothing.
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("UPDATE reservations SET notes = 'rolled back' WHERE id = 1")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    let notes: Option<Option<String>> = d
        .query_first("SELECT notes FROM reservations WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(notes.flatten().as_deref(), Some("text-protocol"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_roles_cannot_write_even_when_they_ask_for_it() {
    let gw = gateway();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    expect_code(
        &mut c,
        "UPDATE reservations SET notes = 'x' WHERE id = 1",
        1142,
    )
    .await;
    expect_code(&mut c, "START TRANSACTION READ WRITE", 1227).await;
    expect_code(&mut c, "SET SESSION TRANSACTION READ WRITE", 1227).await;
    // The backend connection itself is read-only.
    let ro: Option<i64> = c.query_first("SELECT @@tx_read_only").await.unwrap();
    assert_eq!(ro, Some(1));
    c.query_drop("START TRANSACTION").await.unwrap();
    let n: Option<i64> = c
        .query_first("SELECT count(*) FROM reservations")
        .await
        .unwrap();
    assert!(n.unwrap() > 0);
    c.query_drop("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_settings_hold_and_are_restored_for_the_next_client() {
    let gw = gateway_with(GatewayOptions {
        pool_size: 1,
        ..Default::default()
    });
    let token = gw.token("agent_support", Some("acme"), 600);
    {
        let mut c = gw.mysql_conn(&token).await;
        let mode: Option<String> = c.query_first("SELECT @@sql_mode").await.unwrap();
        let mode = mode.unwrap();
        assert!(mode.contains("PIPES_AS_CONCAT"), "{mode}");
        assert!(!mode.contains("NO_BACKSLASH_ESCAPES"), "{mode}");
        assert!(!mode.contains("ANSI_QUOTES"), "{mode}");
        let t: Option<f64> = c.query_first("SELECT @@max_statement_time").await.unwrap();
        assert_eq!(t, Some(30.0));
        // Settings a client may change, and an open transaction, left behind.
        c.query_drop("SET time_zone = '+05:00'").await.unwrap();
        c.query_drop("SET autocommit = 0").await.unwrap();
        c.query_drop("UPDATE reservations SET notes = 'uncommitted' WHERE id = 1")
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }
    let mut c = gw.mysql_conn(&token).await;
    let (tz, ac): (String, i64) = c
        .query_first("SELECT @@time_zone, @@autocommit")
        .await
        .unwrap()
        .unwrap();
    let mut d = direct(&gw).await;
    let fresh_tz: Option<String> = d.query_first("SELECT @@time_zone").await.unwrap();
    assert_eq!((Some(tz), ac), (fresh_tz, 1));
    let notes: Option<Option<String>> = d
        .query_first("SELECT notes FROM reservations WHERE id = 1")
        .await
        .unwrap();
    assert_ne!(notes.flatten().as_deref(), Some("uncommitted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_at_connect_and_on_every_statement() {
    let gw = gateway();
    // The backend's own login is not a token.
    let my = shared_mariadb();
    let url = format!(
        "mysql://root:@{}/{}?enable_cleartext_plugin=true",
        gw.mysql_addr.unwrap(),
        gw.database
    );
    let e = Conn::from_url(url).await.unwrap_err();
    assert_eq!(code(&e).0, 1045, "{e}");
    let _ = my;
    // Garbage and tampered tokens.
    let e = Conn::new(gw.mysql_opts("v4.public.garbage"))
        .await
        .unwrap_err();
    let (c1045, m) = code(&e);
    assert_eq!(c1045, 1045, "{m}");
    assert!(m.contains("token invalid"), "{m}");
    // Another database than the backend's.
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let url = gw
        .mysql_url(&token)
        .replace(&format!("/{}?", gw.database), "/mysql?");
    let e = Conn::from_url(url).await.unwrap_err();
    assert_eq!(code(&e).0, 1044, "{e}");
    // COM_INIT_DB to another database.
    let mut c = gw.mysql_conn(&token).await;
    let e = c.query_drop("USE mysql").await.unwrap_err();
    assert!(code(&e).0 > 0);
    still_answers(&mut c).await;

    // Revoked mid-session: the next statement is refused within 2 s.
    gw.revoke(&token).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let refused = loop {
        match c.query_drop("SELECT 1").await {
            Err(e) => break code(&e),
            Ok(()) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(()) => panic!("a revoked token still works after 3 s"),
        }
    };
    assert_eq!(refused.0, 1045, "{}", refused.1);
    assert!(refused.1.contains("revoked"), "{}", refused.1);
    let e = Conn::new(gw.mysql_opts(&token)).await.unwrap_err();
    assert!(code(&e).1.contains("revoked"));

    // Expiring mid-session.
    let short = gw.token("agent_readonly", Some("acme"), 2);
    let mut c = gw.mysql_conn(&short).await;
    still_answers(&mut c).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let e = c.query_drop("SELECT 1").await.unwrap_err();
    let (n, m) = code(&e);
    assert_eq!(n, 1045, "{m}");
    assert!(m.contains("expired"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_rate_limit_and_statement_timeout() {
    let gw = gateway();
    let capped = gw.token("agent_capped", Some("acme"), 600);
    let mut c = gw.mysql_conn(&capped).await;
    let ids: Vec<i64> = c.query("SELECT id FROM customers").await.unwrap();
    assert_eq!(ids.len(), 3);
    let ids: Vec<i64> = c.exec("SELECT id FROM customers", ()).await.unwrap();
    assert_eq!(ids.len(), 3);
    still_answers(&mut c).await;

    let limited = gw.token("agent_limited", Some("acme"), 600);
    let mut c = gw.mysql_conn(&limited).await;
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = c.query_drop("SELECT 1").await {
            refused = Some(code(&e));
            break;
        }
    }
    let (n, m) = refused.expect("the rate limit (5/min) refuses within 10 statements");
    assert_eq!(n, 1226, "{m}");
    assert!(m.contains("rate limit"), "{m}");

    let sleepy = gw.token("agent_sleepy", Some("acme"), 600);
    let mut c = gw.mysql_conn(&sleepy).await;
    let started = std::time::Instant::now();
    let e = c.query_drop("SELECT SLEEP(5)").await;
    // MariaDB ends SLEEP at max_statement_time with error 1969, or (some versions) returns 1.
    if let Err(e) = e {
        assert_eq!(code(&e).0, 1969, "{e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    still_answers(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_name_the_mysql_door_and_never_the_token() {
    let gw = gateway();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    let _: Vec<i64> = c.query("SELECT id FROM customers").await.unwrap();
    let _ = c.query_drop("DELETE FROM customers").await;
    let _: Vec<i64> = c
        .exec("SELECT id FROM customers WHERE id = ?", (1,))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.shutdown();
    let text = gw.audit_text();
    assert!(!text.contains(&token), "the audit log holds the token");
    let lines = gw.audit();
    assert!(lines.iter().all(|l| l["door"] == "mysql"), "{text}");
    // mysql_async's own connect query is audited too; look at the test's statements.
    let allow: Vec<_> = lines
        .iter()
        .filter(|l| {
            l["event"] == "statement"
                && l["decision"] == "allow"
                && l["statement"].as_str().unwrap().contains("customers")
        })
        .collect();
    assert_eq!(allow.len(), 2, "{text}");
    assert!(allow[0]["rendered"].as_str().unwrap().contains("tenant_id"));
    assert_eq!(allow[0]["rows"], 10);
    assert_eq!(allow[0]["tenant"], "acme");
    let deny: Vec<_> = lines.iter().filter(|l| l["decision"] == "deny").collect();
    assert_eq!(deny.len(), 1, "{text}");
    assert_eq!(deny[0]["rule"], "forbidden_operation");
    assert!(lines.iter().any(|l| l["event"] == "connect"));
    assert!(lines.iter().any(|l| l["event"] == "disconnect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_sessions_and_lets_transactions_finish() {
    let gw = std::sync::Arc::new(gateway_with(GatewayOptions {
        drain_timeout: Duration::from_secs(10),
        ..Default::default()
    }));
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut idle = gw.mysql_conn(&token).await;
    let mut busy = gw.mysql_conn(&token).await;
    busy.query_drop("START TRANSACTION").await.unwrap();
    busy.query_drop("UPDATE reservations SET notes = 'during drain' WHERE id = 1")
        .await
        .unwrap();
    let stopper = {
        let gw = gw.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            gw.shutdown();
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The idle session was told and closed.
    let e = idle.query_drop("SELECT 1").await.unwrap_err();
    assert!(
        e.to_string().contains("shutting down") || matches!(e, mysql_async::Error::Io(_)),
        "{e}"
    );
    // The transaction finishes and commits.
    busy.query_drop("COMMIT").await.unwrap();
    drop(busy);
    let waited = tokio::task::spawn_blocking(move || stopper.join().unwrap())
        .await
        .unwrap();
    assert!(waited < Duration::from_secs(8), "drain took {waited:?}");
    let mut d = direct(&gw).await;
    let notes: Option<Option<String>> = d
        .query_first("SELECT notes FROM reservations WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(notes.flatten().as_deref(), Some("during drain"));
    // Nothing listens any more.
    assert!(Conn::new(gw.mysql_opts(&token)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_reload_reaches_open_sessions() {
    let gw = gateway();
    let token = gw.token("agent_capped", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    let ids: Vec<i64> = c.query("SELECT id FROM customers").await.unwrap();
    assert_eq!(ids.len(), 3);
    let roles = std::fs::read_to_string(gw.roles_path()).unwrap();
    let roles = roles.replace("    max_rows: 3\n", "    max_rows: 1\n");
    std::fs::write(gw.roles_path(), roles).unwrap();
    gw.reload().unwrap();
    let ids: Vec<i64> = c.query("SELECT id FROM customers").await.unwrap();
    assert_eq!(ids.len(), 1, "the open session uses the reloaded max_rows");
    let ids: Vec<i64> = c.exec("SELECT id FROM customers", ()).await.unwrap();
    assert_eq!(ids.len(), 1);
    // A role removed from the file ends the sessions that use it.
    let roles = std::fs::read_to_string(gw.roles_path()).unwrap();
    let roles = roles.replace("agent_capped:", "agent_renamed:");
    std::fs::write(gw.roles_path(), roles).unwrap();
    gw.reload().unwrap();
    let e = c.query_drop("SELECT 1").await.unwrap_err();
    assert_eq!(code(&e).0, 1045, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_transaction_is_rolled_back_and_its_session_closed() {
    let gw = gateway_with(GatewayOptions {
        idle_transaction_timeout: Duration::from_secs(1),
        ..Default::default()
    });
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    // Idle outside a transaction is fine.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    still_answers(&mut c).await;
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("UPDATE reservations SET notes = 'abandoned' WHERE id = 1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let e = c.query_drop("COMMIT").await.unwrap_err();
    assert!(
        e.to_string().contains("idle") || matches!(e, mysql_async::Error::Io(_)),
        "{e}"
    );
    let mut d = direct(&gw).await;
    let notes: Option<Option<String>> = d
        .query_first("SELECT notes FROM reservations WHERE id = 1")
        .await
        .unwrap();
    assert_ne!(notes.flatten().as_deref(), Some("abandoned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_cannot_take_every_backend_connection() {
    let gw = gateway_with(GatewayOptions {
        pool_size: 4,
        max_sessions_per_token: 2,
        ..Default::default()
    });
    let acme = gw.token("agent_readonly", Some("acme"), 600);
    let a1 = gw.mysql_conn(&acme).await;
    let _a2 = gw.mysql_conn(&acme).await;
    let e = Conn::new(gw.mysql_opts(&acme)).await.unwrap_err();
    let (n, m) = code(&e);
    assert_eq!(n, 1040, "{m}");
    assert!(m.contains("--max-sessions-per-token"), "{m}");
    // Another token still gets in.
    let globex = gw.token("agent_readonly", Some("globex"), 600);
    let mut g = gw.mysql_conn(&globex).await;
    still_answers(&mut g).await;
    // A session that ends frees its place.
    a1.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut a3 = gw.mysql_conn(&acme).await;
    still_answers(&mut a3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refusals: Vec<_> = gw
        .audit()
        .into_iter()
        .filter(|l| l["rule"] == "sessions_per_token")
        .collect();
    assert_eq!(refusals.len(), 1);
}

/// A statement that fails after some of its rows have gone to the client (max_statement_time
/// with a per-row SLEEP) leaves the session, and the pooled connection, in step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_failing_mid_result_leaves_the_session_in_step() {
    let gw = gateway_with(GatewayOptions {
        pool_size: 1,
        ..Default::default()
    });
    let sleepy = gw.token("agent_sleepy", Some("acme"), 600);
    let mut c = gw.mysql_conn(&sleepy).await;
    let check = "SELECT id FROM customers ORDER BY id";
    let want: Vec<i64> = c.query(check).await.unwrap();
    let slow = "SELECT id, SLEEP(0.15) FROM customers ORDER BY id";
    for prepared in [false, true, false, true] {
        let (got_rows, error) = if prepared {
            rows_then_error(c.exec_iter(slow, ()).await).await
        } else {
            rows_then_error(c.query_iter(slow).await).await
        };
        // The role's 1 s timeout ends it after a few rows: max_statement_time exceeded.
        assert!(
            got_rows > 0,
            "prepared={prepared}: rows came before the error"
        );
        assert_eq!(error.map(|e| e.0), Some(1969), "prepared={prepared}");
        let again: Vec<i64> = c.query(check).await.expect("text after");
        assert_eq!(again, want, "text after prepared={prepared}");
        let again: Vec<i64> = c.exec(check, ()).await.expect("prepared after");
        assert_eq!(again, want, "prepared after prepared={prepared}");
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = gw.mysql_conn(&sleepy).await;
    let again: Vec<i64> = c.query(check).await.expect("next session");
    assert_eq!(again, want);
}

/// How many rows a result gave before its error (the error's code and message), or all of them.
async fn rows_then_error<P: mysql_async::prelude::Protocol>(
    result: Result<mysql_async::QueryResult<'_, '_, P>, mysql_async::Error>,
) -> (usize, Option<(u16, String)>) {
    let mut r = match result {
        Ok(r) => r,
        Err(e) => return (0, Some(code(&e))),
    };
    let mut rows = 0;
    loop {
        match r.next().await {
            Ok(Some(_)) => rows += 1,
            Ok(None) => return (rows, None),
            Err(e) => return (rows, Some(code(&e))),
        }
    }
}
