//! What drivers send when they connect, through the gateway against real servers: each works as
//! on a direct connection, as the SET or SHOW it is, and a setting the gateway pins is refused
//! with a message that names it, never dropped in silence.
//! - Django's `SELECT set_config('TimeZone', 'UTC', false)`, asyncpg's
//!   `SELECT current_setting('jit'), set_config('jit', 'off', false)`, Sequelize's
//!   `SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE`, TypeORM's `SELECT * FROM
//!   current_schema()`, pgcli's `SELECT * FROM unnest(current_schemas(true))`: the setting
//!   holds for the session's later statements (transaction pooling: on whichever backend
//!   connection runs them);
//! - libpq's startup `options=-c name=value` (psql), taking effect, and refused for a pinned
//!   setting;
//! - MariaDB Connector/J's `set autocommit=1, sql_mode = concat(@@sql_mode, ',STRICT_TRANS_TABLES')`
//!   and the mariadb CLI's `select DATABASE(), USER() limit 1` (the role's account at the
//!   gateway, never the backend's).

use std::process::{Command, Stdio};

use mysql_async::prelude::Queryable;
use sluice_integration::clients::{require, run};
use sluice_integration::rental::{seed_mariadb, seed_pg, ROLES};
use sluice_integration::{db_message, shared_mariadb, shared_pg, Gateway, GatewayOptions};
use sluice_proxy::pg::PoolMode;

fn pg_gateway() -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default()).expect("gateway")
}

#[tokio::test]
async fn postgres_driver_setup_statements_set_what_they_say() {
    let gw = pg_gateway();
    let client = gw
        .client(&gw.token("agent_readonly", Some("acme"), 3600))
        .await;
    let one = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {}", db_message(&e)))
                .into_iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some(r.get(0).unwrap_or("NULL").to_string())
                    }
                    _ => None,
                })
                .unwrap_or_default()
        }
    };
    // Django.
    assert_eq!(
        one("SELECT set_config('TimeZone', 'Asia/Tokyo', false)").await,
        "Asia/Tokyo"
    );
    // Later statements, on whichever backend connection (transaction pooling), see it.
    for _ in 0..3 {
        assert_eq!(one("SHOW TimeZone").await, "Asia/Tokyo");
        assert_eq!(
            one("SELECT current_setting('TimeZone')").await,
            "Asia/Tokyo"
        );
    }
    // asyncpg.
    let rows = client
        .simple_query(
            "SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new",
        )
        .await
        .expect("asyncpg's jit statement");
    assert!(
        rows.iter().any(
            |m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(1) == Some("off"))
        ),
        "{rows:?}"
    );
    assert_eq!(one("SHOW jit").await, "off");
    // Sequelize.
    client
        .simple_query("SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE")
        .await
        .expect("SET TIME ZONE INTERVAL");
    assert_eq!(one("SHOW TimeZone").await, "<+00>-00");
    // TypeORM, pgcli.
    assert_eq!(one("SELECT * FROM current_schema()").await, "public");
    assert!(!one("SELECT * FROM unnest(current_schemas(true))")
        .await
        .is_empty());
    // A pinned setting stays pinned, by whatever name it is asked for.
    for sql in [
        "SELECT set_config('statement_timeout', '0', false)",
        "SELECT set_config('search_path', 'evil', false)",
        "SELECT set_config('role', 'postgres', false)",
        "SELECT current_setting('data_directory')",
    ] {
        let e = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(
            sluice_integration::sqlstate(&e),
            "42501",
            "{sql}: {}",
            db_message(&e)
        );
    }
}

#[test]
fn psql_startup_options_take_effect_or_are_refused_by_name() {
    require(
        Command::new("psql").arg("--version"),
        "psql: apt-get install postgresql-client",
    );
    // Both pool modes: in session mode the backend is held from the start, and the settings
    // must reach it too.
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let pg = shared_pg();
        let db = seed_pg(pg).expect("seed");
        let opts = GatewayOptions {
            pool_mode: mode,
            ..GatewayOptions::default()
        };
        let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).expect("gateway");
        startup_options(&gw);
    }
}

fn startup_options(gw: &Gateway) {
    let dsn = gw.pg_dsn(&gw.token("agent_readonly", Some("acme"), 3600));
    let out = run(
        Command::new("psql")
            .stdin(Stdio::null())
            .env(
                "PGOPTIONS",
                "-c timezone=Asia/Tokyo -c extra_float_digits=1",
            )
            .arg(&dsn)
            .args([
                "-X",
                "-A",
                "-t",
                "-c",
                "SHOW timezone",
                "-c",
                "SHOW extra_float_digits",
            ]),
        "psql with PGOPTIONS",
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Asia/Tokyo\n1\n");
    let refused = Command::new("psql")
        .stdin(Stdio::null())
        .env("PGOPTIONS", "-c statement_timeout=0")
        .arg(&dsn)
        .args(["-X", "-A", "-t", "-c", "SELECT 1"])
        .output()
        .expect("psql runs");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "a pinned setting at startup must be refused"
    );
    assert!(
        err.contains("statement_timeout=0") && err.contains("refused"),
        "the refusal names the parameter: {err}"
    );
}

#[tokio::test]
async fn mysql_driver_setup_statements() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed");
    let gw =
        Gateway::start_mysql(&my.url(&db), &db, ROLES, GatewayOptions::default()).expect("gateway");
    let mut conn = gw
        .mysql_conn(&gw.token("agent_readonly", Some("acme"), 3600))
        .await;
    // Connector/J with jdbcCompliantTruncation (the default).
    conn.query_drop("set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')")
        .await
        .expect("Connector/J's set-up statement");
    let mode: Option<String> = conn
        .query_first("SELECT @@sql_mode")
        .await
        .expect("sql_mode");
    let mode = mode.unwrap_or_default();
    assert!(
        mode.contains("STRICT_TRANS_TABLES") && mode.contains("PIPES_AS_CONCAT"),
        "the pinned modes stay, the added one is there: {mode}"
    );
    // A mode that changes how statements parse is refused.
    let e = conn
        .query_drop("SET sql_mode = concat(@@sql_mode, ',ANSI_QUOTES')")
        .await
        .expect_err("ANSI_QUOTES");
    assert!(e.to_string().contains("sql_mode"), "{e}");
    // The mariadb CLI's `status`.
    let (database, user): (Option<String>, Option<String>) = conn
        .query_first("select DATABASE(), USER() limit 1")
        .await
        .expect("status")
        .expect("a row");
    assert_eq!(database.as_deref(), Some(db.as_str()));
    assert_eq!(user.as_deref(), Some("agent_readonly@sluice"));
}
