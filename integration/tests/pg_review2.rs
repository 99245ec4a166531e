//! Second security review of the PostgreSQL door: reproductions. Each test asserts the
//! behaviour the gateway must have and fails on the code it was written against.

use sluice_integration::raw::{RawPg, Reply};
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, Gateway, GatewayOptions};
use sluice_proxy::pg::PoolMode;

fn gateway(opts: GatewayOptions) -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).expect("gateway starts")
}

async fn raw(gw: &Gateway, token: &str) -> RawPg {
    RawPg::connect(gw.pg_addr, &gw.database, token)
        .await
        .expect("raw client logs in")
}

fn errors(r: &[Reply]) -> Vec<String> {
    r.iter()
        .filter(|r| r.tag == b'E')
        .map(|e| {
            format!(
                "{} | {} | detail: {}",
                e.sqlstate().unwrap_or_default(),
                e.field(b'M').unwrap_or_default(),
                e.field(b'D').unwrap_or_default()
            )
        })
        .collect()
}

/// agent_support may UPDATE reservations.status and may not read reservations.internal_score
/// (row 1 of acme has internal_score 80). A NOT NULL violation makes PostgreSQL answer with
/// `DETAIL: Failing row contains (<every column of the physical row>)`, and the door forwards
/// the backend's ErrorResponse as it came: the hidden column's value reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_error_does_not_show_hidden_columns_of_the_row() {
    let gw = gateway(GatewayOptions::default());
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut problems = Vec::new();
    for sql in [
        "UPDATE reservations SET status = NULL WHERE id = 1",
        "UPDATE reservations SET status = NULL, notes = 'x' WHERE id = 4",
    ] {
        let mut c = raw(&gw, &token).await;
        let replies = c.query(sql).until_ready().await.unwrap();
        for e in errors(&replies) {
            println!("{sql}\n  -> {e}");
            // internal_score of row 1 is 80, of row 4 is 90 (examples/rental/data.sql)
            if e.contains("Failing row contains") && (e.contains(", 80)") || e.contains(", 90)")) {
                problems.push(format!(
                    "HIDDEN COLUMN LEAK: {sql} -> {e} (reservations.internal_score is not granted to agent_support)"
                ));
            }
        }
        // the same through the extended protocol
        let mut c = raw(&gw, &token).await;
        let replies = c
            .parse("", sql, &[])
            .bind("", "", &[])
            .execute("", 0)
            .sync()
            .until_ready()
            .await
            .unwrap();
        // The error itself still arrives, its detail withheld.
        let errs = errors(&replies);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("23502") && e.contains("withheld by Sluice")),
            "{errs:?}"
        );
        for e in errs {
            println!("{sql} (extended)\n  -> {e}");
            if e.contains("Failing row contains") && (e.contains(", 80)") || e.contains(", 90)")) {
                problems.push(format!("HIDDEN COLUMN LEAK (extended): {sql} -> {e}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A portal bound before a role reload keeps running its old rewrite after the reload: the
/// role loses the column `email` of customers, yet a suspended portal (or one bound and not yet
/// executed) keeps returning it. Statements are re-authorized after a reload; portals are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_bound_before_a_role_change_does_not_outlive_it() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            ..Default::default()
        });
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let mut c = raw(&gw, &token).await;
        let r = c.query("BEGIN").until_ready().await.unwrap();
        assert!(errors(&r).is_empty(), "{:?}", errors(&r));
        let r = c
            .parse("", "SELECT id, email FROM customers ORDER BY id", &[])
            .bind("p", "", &[])
            .execute("p", 1)
            .sync()
            .until_ready()
            .await
            .unwrap();
        assert!(errors(&r).is_empty(), "{:?}", errors(&r));
        assert!(r.iter().any(|m| m.tag == b's'), "portal suspended");

        // The operator takes `email` away from the role and reloads.
        let roles = std::fs::read_to_string(gw.roles_path()).unwrap();
        let narrowed = roles.replace(
            "SELECT: [id, tenant_id, name, email]",
            "SELECT: [id, tenant_id, name]",
        );
        assert_ne!(roles, narrowed);
        std::fs::write(gw.roles_path(), narrowed).unwrap();
        gw.reload().unwrap();

        // A new statement reading email no longer works ...
        let fresh = c
            .query("SAVEPOINT s; SELECT email FROM customers")
            .until_ready()
            .await
            .unwrap();
        let fresh_errors = errors(&fresh);
        println!("{mode:?}: fresh SELECT email after reload -> {fresh_errors:?}");
        let _ = c
            .query("ROLLBACK TO SAVEPOINT s")
            .until_ready()
            .await
            .unwrap();

        // ... but the portal bound before the reload keeps delivering it.
        let r = c.execute("p", 0).sync().until_ready().await.unwrap();
        let emails: Vec<String> = r
            .iter()
            .filter(|m| m.tag == b'D')
            .filter_map(|m| m.columns().get(1).cloned().flatten())
            .collect();
        println!(
            "{mode:?}: portal after reload -> {} rows, errors {:?}",
            emails.len(),
            errors(&r)
        );
        assert!(
            errors(&r)
                .iter()
                .any(|e| e.contains("role change") || e.starts_with("42501")),
            "{mode:?}: the stale portal must be refused with a reason: {:?}",
            errors(&r)
        );
        if !emails.is_empty() {
            problems.push(format!(
                "{mode:?}: after the role lost customers.email (reload), the portal bound before it returned {} more emails: {:?}",
                emails.len(),
                emails
            ));
        }
        let _ = c.query("ROLLBACK").until_ready().await;
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Transaction mode replays a client's SETs on every backend it gets, as they were authorized
/// when first run: `SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE`, allowed while the
/// role could write, is replayed after a reload made the role read-only, on the read-only
/// pool's backend: the engine-level second gate (default_transaction_read_only = on) is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_sets_are_reauthorized_after_a_role_change() {
    let gw = gateway(GatewayOptions::default());
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut c = raw(&gw, &token).await;
    let r = c
        .query("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        .until_ready()
        .await
        .unwrap();
    println!("SET SESSION CHARACTERISTICS -> {:?}", errors(&r));
    assert!(errors(&r).is_empty(), "{:?}", errors(&r));

    // The operator makes agent_support read-only (no UPDATE/INSERT) and reloads.
    let roles = std::fs::read_to_string(gw.roles_path()).unwrap();
    let narrowed = roles
        .replace("reservations: [SELECT, UPDATE, INSERT]", "reservations: [SELECT]")
        .replace("        UPDATE: [notes, status]\n", "")
        .replace(
            "        INSERT: [customer_id, vehicle_id, status, notes, starts_on, price, tenant_id]\n",
            "",
        )
        .replace("  agent_support:\n    inherits: agent_readonly\n    tables:\n      reservations: [SELECT]\n    columns:\n      reservations:\n",
                 "  agent_support:\n    inherits: agent_readonly\n    tables:\n      reservations: [SELECT]\n");
    assert_ne!(roles, narrowed);
    std::fs::write(gw.roles_path(), narrowed).unwrap();
    gw.reload().unwrap();

    // The same SET is now refused ...
    let mut fresh = raw(&gw, &token).await;
    let r = fresh
        .query("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        .until_ready()
        .await
        .unwrap();
    println!("after reload, fresh session: {:?}", errors(&r));
    let fresh_refused = !errors(&r).is_empty();

    // ... but the old session's replayed copy switches the read-only backend to read-write.
    let r = c
        .query("SHOW transaction_read_only")
        .until_ready()
        .await
        .unwrap();
    let value = r
        .iter()
        .find(|m| m.tag == b'D')
        .and_then(|m| m.columns().first().cloned().flatten());
    println!(
        "old session after reload: transaction_read_only = {value:?} {:?}",
        errors(&r)
    );
    assert!(fresh_refused, "the SET is refused for the read-only role");
    assert_eq!(
        value.as_deref(),
        Some("on"),
        "a read-only role's statement ran in a read-write transaction: the replayed SET was not re-authorized after the role change"
    );
}

fn first_value(r: &[Reply]) -> Option<String> {
    r.iter()
        .find(|m| m.tag == b'D')
        .and_then(|m| m.columns().first().cloned().flatten())
}

/// The door learns what a portal does (its SET effect, which marks the backend dirty so that it
/// is reset before the next client) from its own map of portal name → statement, updated at
/// every Bind, even a Bind the server refuses. Binding an existing named portal again fails on
/// the server ("cursor already exists") but overwrites the gateway's entry; inside a savepoint
/// the transaction survives the error, and the original portal (a SET) then runs while the
/// gateway believes it is a SELECT: the backend is not marked dirty, is not reset, and the next
/// client (another tenant) inherits the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_run_through_a_rebound_portal_does_not_leak_to_the_next_client() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            pool_size: 1,
            ..Default::default()
        });
        let acme = gw.token("agent_readonly", Some("acme"), 600);
        let globex = gw.token("agent_readonly", Some("globex"), 600);
        let before = {
            let mut g = raw(&gw, &globex).await;
            let r = g.query("SHOW datestyle").until_ready().await.unwrap();
            first_value(&r)
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        {
            let mut c = raw(&gw, &acme).await;
            let mut all = Vec::new();
            all.extend(c.query("BEGIN").until_ready().await.unwrap());
            all.extend(
                c.parse("s_set", "SET datestyle = 'SQL, DMY'", &[])
                    .parse("s_sel", "SELECT 1", &[])
                    .bind("p", "s_set", &[])
                    .sync()
                    .until_ready()
                    .await
                    .unwrap(),
            );
            all.extend(c.query("SAVEPOINT sp").until_ready().await.unwrap());
            // Fails on the server (cursor "p" already exists); the gateway now maps p → SELECT 1.
            let rebind = c
                .bind("p", "s_sel", &[])
                .sync()
                .until_ready()
                .await
                .unwrap();
            println!("{mode:?}: rebind -> {:?}", errors(&rebind));
            all.extend(
                c.query("ROLLBACK TO SAVEPOINT sp")
                    .until_ready()
                    .await
                    .unwrap(),
            );
            let run = c.execute("p", 0).sync().until_ready().await.unwrap();
            println!(
                "{mode:?}: execute p -> tags {:?} errors {:?}",
                run.iter().map(|m| m.tag as char).collect::<String>(),
                errors(&run)
            );
            all.extend(c.query("COMMIT").until_ready().await.unwrap());
            println!("{mode:?}: other errors {:?}", errors(&all));
            // Terminate
            c.abandon();
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut g = raw(&gw, &globex).await;
        let r = g.query("SHOW datestyle").until_ready().await.unwrap();
        let after = first_value(&r);
        let dates = g
            .query("SELECT starts_on FROM reservations ORDER BY id LIMIT 1")
            .until_ready()
            .await
            .unwrap();
        println!(
            "{mode:?}: globex datestyle before {before:?}, after {after:?}; first starts_on {:?}",
            first_value(&dates)
        );
        if after != before {
            problems.push(format!(
                "{mode:?}: tenant acme's SET datestyle outlived its session: tenant globex's next session on the pooled backend has datestyle {after:?} (was {before:?}) and reads its dates as {:?}",
                first_value(&dates)
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// An exclusion constraint's error names the conflicting *existing* row's key: a token of
/// tenant acme that may only see and insert its own bookings learns the exact period (and
/// vehicle) of tenant globex's booking, values it can never read, from the ErrorResponse's
/// DETAIL, which the door forwards as the backend wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_error_does_not_show_another_tenants_row() {
    let pg = shared_pg();
    let db = pg.create_unique_database("excl").expect("db");
    pg.exec(
        &db,
        "CREATE TABLE bookings (
             id        INT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
             tenant_id TEXT NOT NULL,
             vehicle   INT NOT NULL,
             during    DATERANGE NOT NULL,
             secret    TEXT,
             EXCLUDE USING gist (during WITH &&)
         );
         INSERT INTO bookings (tenant_id, vehicle, during, secret)
             VALUES ('globex', 7, '[2025-03-03,2025-03-17)', 'GLOBEX-SECRET');",
    )
    .expect("schema");
    let roles = r#"
roles:
  booker:
    tables:
      bookings: [SELECT, INSERT]
    columns:
      bookings:
        SELECT: [id, tenant_id, vehicle, during]
        INSERT: [vehicle, during, tenant_id]
    filters:
      bookings: "tenant_id = {{ token.tenant_id }}"
"#;
    let gw = Gateway::start_pg(&pg.url(&db), &db, roles, GatewayOptions::default())
        .expect("gateway starts");
    let acme = gw.token("booker", Some("acme"), 600);
    let mut c = raw(&gw, &acme).await;
    let r = c
        .query("SELECT count(*) FROM bookings")
        .until_ready()
        .await
        .unwrap();
    assert_eq!(
        first_value(&r).as_deref(),
        Some("0"),
        "acme sees no booking"
    );
    let r = c
        .query("INSERT INTO bookings (vehicle, during) VALUES (1, '[2025-01-01,2026-01-01)')")
        .until_ready()
        .await
        .unwrap();
    let errs = errors(&r);
    println!("{errs:?}");
    let leaked = errs
        .iter()
        .any(|e| e.contains("2025-03-03") || e.contains("2025-03-17"));
    assert!(
        !leaked,
        "CROSS-TENANT LEAK: acme's INSERT error shows globex's booking period: {errs:?}"
    );
}

/// Controls (expected to pass): what the findings above are measured against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_that_hold() {
    let gw = gateway(GatewayOptions {
        pool_size: 1,
        ..Default::default()
    });
    let acme = gw.token("agent_readonly", Some("acme"), 600);
    let globex = gw.token("agent_readonly", Some("globex"), 600);
    // A plain SET (simple and extended) is reset before the next client.
    {
        let mut c = raw(&gw, &acme).await;
        let r = c
            .query("SET datestyle = 'SQL, DMY'")
            .until_ready()
            .await
            .unwrap();
        assert!(errors(&r).is_empty());
        let r = c
            .parse("", "SET timezone = 'Asia/Tokyo'", &[])
            .bind("", "", &[])
            .execute("", 0)
            .sync()
            .until_ready()
            .await
            .unwrap();
        assert!(errors(&r).is_empty());
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut g = raw(&gw, &globex).await;
    let r = g.query("SHOW datestyle").until_ready().await.unwrap();
    assert_eq!(first_value(&r).as_deref(), Some("ISO, MDY"));
    // Declared regclass parameter, DISCARD in Parse, READ WRITE for a reader, an unbound portal.
    let r = g
        .parse("", "SELECT $1", &[2205])
        .sync()
        .until_ready()
        .await
        .unwrap();
    assert!(!errors(&r).is_empty(), "regclass parameter");
    let r = g
        .parse("", "DISCARD ALL", &[])
        .sync()
        .until_ready()
        .await
        .unwrap();
    assert!(!errors(&r).is_empty(), "DISCARD in Parse");
    let r = g
        .query("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        .until_ready()
        .await
        .unwrap();
    assert!(!errors(&r).is_empty(), "READ WRITE for a reader");
    let r = g
        .execute("someone_elses", 0)
        .sync()
        .until_ready()
        .await
        .unwrap();
    assert!(!errors(&r).is_empty(), "unbound portal");
    let r = g
        .query("SHOW transaction_read_only")
        .until_ready()
        .await
        .unwrap();
    assert_eq!(first_value(&r).as_deref(), Some("on"));
}
