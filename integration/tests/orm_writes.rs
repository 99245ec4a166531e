//! Real ORMs and drivers writing through the PostgreSQL door (issue 16): SQLAlchemy 2's ORM in a
//! `Session` with psycopg 3 and with asyncpg, Django 5's ORM with psycopg 3, node-postgres, knex,
//! drizzle-orm (node-postgres), PgJDBC with autocommit off, and sqlx's `query`/`query_as`. Each
//! binds the tenant column's value as a parameter, as it always does; the gateway must write the
//! `agent_support` token's own tenant (acme) and refuse another (globex) with
//! `write_not_confinable` (42501), writing nothing.
//!
//! Each client program (`integration/clients/*_orm_check.{py,js}`, `JdbcWriteCheck.java`,
//! compiled with javac at test time) drives its library as the library's documentation shows and
//! prints a JSON report of what it saw, with the versions it ran (printed by the test and shown in
//! its assertion messages); sqlx runs in the test itself. The test checks the report's exact
//! values, then what a direct connection to the backend shows afterwards. A client that is not
//! installed fails its test with what to install.

use std::process::Command;

use serde_json::{json, Value};
use sluice_integration::clients::{
    client_versions, json_report, python, require_node, require_python, PythonModule, ASYNCPG,
    DJANGO, PSYCOPG, SQLALCHEMY,
};
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, Gateway, GatewayOptions};

/// The first id the fixture's identity column hands out (the seeded rows carry their own ids).
const FIRST_ID: i64 = 1000;
/// Reservations seeded in all, and acme's.
const SEEDED: i64 = 27;
const SEEDED_ACME: i64 = 15;

/// A gateway in front of a freshly seeded rental database, and an `agent_support` token for acme.
struct Fixture {
    gw: Gateway,
    db: String,
    token: String,
}

impl Fixture {
    fn start() -> Fixture {
        let pg = shared_pg();
        let db = seed_pg(pg).expect("seed");
        let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default())
            .expect("gateway starts");
        let token = gw.token("agent_support", Some("acme"), 3600);
        Fixture { gw, db, token }
    }

    /// HOST PORT DBNAME USER PASSWORD of the gateway, as the Python programs take them.
    fn gateway_args(&self) -> Vec<String> {
        vec![
            self.gw.pg_addr.ip().to_string(),
            self.gw.pg_addr.port().to_string(),
            self.db.clone(),
            "agent".to_string(),
            self.token.clone(),
        ]
    }

    /// The rows the ORMs may have written (`orm-` notes, or ids past the seeded ones) and the
    /// table's row count, read on a direct connection to the backend: each row as text, in the
    /// column order of [`row`].
    fn backend(&self) -> (Vec<Value>, i64) {
        let url = shared_pg().url(&self.db);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connects to the backend");
            tokio::spawn(conn);
            let rows = client
                .query(
                    "SELECT id::int8, tenant_id, customer_id::int8, vehicle_id::int8, status, \
                     notes, starts_on::text, price::text FROM reservations \
                     WHERE id >= $1 OR notes LIKE 'orm-%' ORDER BY id",
                    &[&(FIRST_ID as i32)],
                )
                .await
                .expect("reads the backend");
            let rows = rows
                .iter()
                .map(|r| {
                    json!([
                        r.get::<_, i64>(0),
                        r.get::<_, String>(1),
                        r.get::<_, i64>(2),
                        r.get::<_, i64>(3),
                        r.get::<_, String>(4),
                        r.get::<_, Option<String>>(5),
                        r.get::<_, String>(6),
                        r.get::<_, String>(7),
                    ])
                })
                .collect();
            let count: i64 = client
                .query_one("SELECT count(*) FROM reservations", &[])
                .await
                .expect("counts on the backend")
                .get(0);
            (rows, count)
        })
    }

    /// The backend holds exactly `rows` past the seeded ones, nothing of globex's among them.
    fn assert_backend(&self, rows: &[Value]) {
        let (got, count) = self.backend();
        assert_eq!(got, rows, "rows written, on a direct connection");
        assert_eq!(
            count,
            SEEDED + rows.len() as i64,
            "reservations on the backend"
        );
    }
}

/// How a client sent its INSERTs.
#[derive(Clone, Copy, PartialEq)]
enum Sent {
    /// The tenant value as a parameter (`$1`).
    Bound,
    /// The tenant value quoted into the statement's text.
    Inline,
}

/// The gateway's audit of the client's INSERTs: the acme one allowed, then the globex one
/// refused with `write_not_confinable`, each sent as `sent` says.
fn assert_audited_inserts(gw: &Gateway, sent: Sent) {
    let inserts: Vec<Value> = gw
        .audit()
        .into_iter()
        .filter(|l| {
            l["statement"]
                .as_str()
                .is_some_and(|s| s.trim_start().to_ascii_uppercase().starts_with("INSERT"))
        })
        .collect();
    let shown = format!("{inserts:#?}");
    let decisions: Vec<(&Value, &Value)> = inserts
        .iter()
        .map(|l| (&l["decision"], &l["rule"]))
        .collect();
    assert_eq!(
        decisions,
        [
            (&json!("allow"), &Value::Null),
            (&json!("deny"), &json!("write_not_confinable"))
        ],
        "{shown}"
    );
    for (l, tenant) in inserts.iter().zip(["acme", "globex"]) {
        let statement = l["statement"].as_str().unwrap_or_default();
        let inline = statement.contains(&format!("'{tenant}'"));
        match sent {
            Sent::Bound => assert!(statement.contains("$1") && !inline, "{shown}"),
            Sent::Inline => assert!(inline, "{shown}"),
        }
    }
}

/// A row the ORMs write, as [`Fixture::backend`] and the reports show it.
fn row(id: i64, status: &str, notes: &str) -> Value {
    json!([id, "acme", 2, 3, status, notes, "2026-05-01", "150.25"])
}

/// The globex write was refused as a write the gateway cannot confine.
fn assert_refused(report: &Value) {
    let shown = format!("{report:#}");
    assert_eq!(report["globex"]["sqlstate"], json!("42501"), "{shown}");
    let message = report["globex"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the token's value acme"),
        "the refusal names the rule: {shown}"
    );
}

fn python_report(modules: &[&PythonModule], script: &str, args: &[String]) -> Value {
    require_python(modules);
    let report = json_report(Command::new(python()).arg(script).args(args), script);
    client_versions(&format!("{script} {}", args[0]), &report);
    report
}

fn node_report(driver: &str, url: &str) -> Value {
    require_node(&[driver]);
    let what = format!("node_pg_orm_check.js {driver}");
    let report = json_report(
        Command::new("node")
            .arg("node_pg_orm_check.js")
            .arg(driver)
            .arg(url),
        &what,
    );
    client_versions(&what, &report);
    report
}

/// SQLAlchemy's ORM session with `driver`: add, commit, read back, update, commit; globex refused.
fn sqlalchemy(driver: &str, module: &PythonModule) {
    let f = Fixture::start();
    let mut args = vec![driver.to_string()];
    args.extend(f.gateway_args());
    let report = python_report(&[&SQLALCHEMY, module], "sqlalchemy_orm_check.py", &args);
    let shown = format!("{report:#}");
    let notes = format!("orm-{driver}");
    let updated = format!("orm-{driver}-updated");
    assert_eq!(report["id"], json!(FIRST_ID), "{shown}");
    assert_eq!(
        report["inserted"],
        row(FIRST_ID, "booked", &notes),
        "{shown}"
    );
    assert_eq!(
        report["updated"],
        row(FIRST_ID, "active", &updated),
        "{shown}"
    );
    assert_eq!(report["mine"], json!(1), "{shown}");
    assert_refused(&report);
    assert_eq!(report["after"], json!(SEEDED_ACME + 1), "{shown}");
    f.assert_backend(&[row(FIRST_ID, "active", &updated)]);
    assert_audited_inserts(&f.gw, Sent::Bound);
}

#[test]
fn sqlalchemy_orm_session_with_psycopg3() {
    sqlalchemy("psycopg", &PSYCOPG);
}

#[test]
fn sqlalchemy_orm_async_session_with_asyncpg() {
    sqlalchemy("asyncpg", &ASYNCPG);
}

/// Django's ORM with `binding` (`client`: its default, values quoted into the text; `server`:
/// `server_side_binding`, values bound): `objects.create`, `.filter().update()`, `.filter()`
/// queries; globex refused.
fn django(binding: &str) {
    let f = Fixture::start();
    let mut args = vec![binding.to_string()];
    args.extend(f.gateway_args());
    let report = python_report(&[&DJANGO, &PSYCOPG], "django_orm_check.py", &args);
    let shown = format!("{report:#}");
    assert_eq!(report["driver"], json!("psycopg"), "{shown}");
    assert_eq!(report["id"], json!(FIRST_ID), "{shown}");
    assert_eq!(
        report["inserted"],
        row(FIRST_ID, "booked", "orm-django"),
        "{shown}"
    );
    assert_eq!(report["update"], json!(1), "{shown}");
    assert_eq!(
        report["updated"],
        row(FIRST_ID, "active", "orm-django-updated"),
        "{shown}"
    );
    assert_eq!(report["mine"], json!(1), "{shown}");
    // acme's seeded active reservations (3, 8, 12) and the new one.
    assert_eq!(report["filtered"], json!([3, 8, 12, FIRST_ID]), "{shown}");
    assert_refused(&report);
    assert_eq!(report["after"], json!(SEEDED_ACME + 1), "{shown}");
    f.assert_backend(&[row(FIRST_ID, "active", "orm-django-updated")]);
    let sent = if binding == "server" {
        Sent::Bound
    } else {
        Sent::Inline
    };
    assert_audited_inserts(&f.gw, sent);
}

#[test]
fn django_orm_with_psycopg3() {
    django("client");
}

#[test]
fn django_orm_with_psycopg3_server_side_binding() {
    django("server");
}

/// An `INSERT ... VALUES ($1, ...) RETURNING id` with bound values, by node-postgres or knex.
fn node(driver: &str) {
    let f = Fixture::start();
    let report = node_report(driver, &f.gw.pg_url(&f.token));
    let shown = format!("{report:#}");
    assert_eq!(report["id"], json!(FIRST_ID), "{shown}");
    assert_refused(&report);
    assert_eq!(report["after"], json!(SEEDED_ACME + 1), "{shown}");
    f.assert_backend(&[row(FIRST_ID, "booked", &format!("orm-{driver}"))]);
    assert_audited_inserts(&f.gw, Sent::Bound);
}

#[test]
fn node_postgres_bound_insert() {
    node("pg");
}

#[test]
fn knex_bound_insert() {
    node("knex");
}

/// Debian's PgJDBC jar (`apt-get install libpostgresql-jdbc-java`).
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";

/// PgJDBC with autocommit off: a `PreparedStatement` INSERT with the tenant bound, committed;
/// another rolled back (a savepoint set and released inside); a globex one refused with 42501
/// and rolled back; an UPDATE committed. PgJDBC sends its own `BEGIN` before each transaction's
/// first statement and fails the transaction unless the tag is `BEGIN`.
#[test]
fn pgjdbc_prepared_insert_with_autocommit_off() {
    use sluice_integration::clients::{clients_dir, require, run};
    use std::process::Stdio;
    assert!(
        std::path::Path::new(PGJDBC_JAR).exists(),
        "client missing: apt-get install libpostgresql-jdbc-java (provides {PGJDBC_JAR}; \
         ./scripts/test installs the clients when missing)"
    );
    require(
        Command::new("javac").arg("-version"),
        "a JDK: apt-get install default-jdk-headless",
    );
    let classes = sluice_integration::process_scratch_dir("jdbc-writes").expect("scratch dir");
    run(
        Command::new("javac")
            .arg("-d")
            .arg(&classes)
            .arg(clients_dir().join("JdbcWriteCheck.java"))
            .stdin(Stdio::null()),
        "javac JdbcWriteCheck.java",
        &[],
    );
    let f = Fixture::start();
    let url = format!(
        "jdbc:postgresql://{}:{}/{}?sslmode=disable",
        f.gw.pg_addr.ip(),
        f.gw.pg_addr.port(),
        f.db
    );
    let report = json_report(
        Command::new("java")
            .arg("-cp")
            .arg(format!("{}:{PGJDBC_JAR}", classes.display()))
            .arg("JdbcWriteCheck")
            .args([url.as_str(), "agent", f.token.as_str()]),
        "JdbcWriteCheck",
    );
    let versions = client_versions("JdbcWriteCheck", &report);
    let shown = format!("{versions}\n{report:#}");
    assert_eq!(report["id"], json!(FIRST_ID), "{shown}");
    assert_eq!(
        report["inserted"],
        row(FIRST_ID, "booked", "orm-jdbc"),
        "{shown}"
    );
    // The rolled-back insert took an id and left nothing.
    assert_eq!(report["rolled_back_id"], json!(FIRST_ID + 1), "{shown}");
    assert_eq!(report["rolled_back_seen"], json!(0), "{shown}");
    assert_refused(&report);
    assert_eq!(report["update"], json!(1), "{shown}");
    assert_eq!(
        report["updated"],
        row(FIRST_ID, "active", "orm-jdbc-updated"),
        "{shown}"
    );
    assert_eq!(report["after"], json!(SEEDED_ACME + 1), "{shown}");
    f.assert_backend(&[row(FIRST_ID, "active", "orm-jdbc-updated")]);
    let inserts: Vec<_> =
        f.gw.audit()
            .into_iter()
            .filter(|l| {
                l["statement"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("INSERT"))
            })
            .map(|l| (l["decision"].clone(), l["rule"].clone()))
            .collect();
    let allow = (json!("allow"), Value::Null);
    let deny = (json!("deny"), json!("write_not_confinable"));
    assert_eq!(inserts, [allow.clone(), allow, deny], "{shown}");
}

/// drizzle-orm over node-postgres: `insert().values().returning()` with the tenant bound, and
/// without one (drizzle writes `default` for it, and for the identity key in every INSERT),
/// `select().where()`, `update().set().where().returning()`; a globex row refused, and a
/// multi-row insert mixing acme and globex refused whole.
#[test]
fn drizzle_orm_insert_select_update() {
    require_node(&["drizzle-orm", "pg"]);
    let f = Fixture::start();
    let what = "drizzle_orm_check.js";
    let report = json_report(
        Command::new("node").arg(what).arg(f.gw.pg_url(&f.token)),
        what,
    );
    let versions = client_versions(what, &report);
    let shown = format!("{versions}\n{report:#}");
    assert_eq!(report["id"], json!(FIRST_ID), "{shown}");
    assert_eq!(
        report["inserted"],
        row(FIRST_ID, "booked", "orm-drizzle"),
        "{shown}"
    );
    // No tenant given: the token's; no notes given: the column's default (NULL).
    let defaulted = json!([
        FIRST_ID + 1,
        "acme",
        2,
        3,
        "booked",
        null,
        "2026-05-01",
        "150.25"
    ]);
    assert_eq!(report["defaulted"], defaulted, "{shown}");
    assert_eq!(
        report["selected"],
        row(FIRST_ID, "booked", "orm-drizzle"),
        "{shown}"
    );
    assert_eq!(
        report["updated"],
        row(FIRST_ID, "active", "orm-drizzle-updated"),
        "{shown}"
    );
    assert_refused(&report);
    assert_eq!(report["mixed"]["sqlstate"], json!("42501"), "{shown}");
    assert_eq!(report["mine"], json!(1), "{shown}");
    assert_eq!(report["after"], json!(SEEDED_ACME + 2), "{shown}");
    f.assert_backend(&[row(FIRST_ID, "active", "orm-drizzle-updated"), defaulted]);
}

/// sqlx (`query`/`query_as`, not the compile-time macros) with a pool, as its documentation
/// shows: an INSERT … RETURNING with the tenant bound, in a transaction committed; an UPDATE; the
/// row read back with `query_as`; a globex row refused (42501) with nothing written.
#[test]
fn sqlx_query_and_query_as_bound_insert() {
    use sqlx::postgres::PgPoolOptions;
    let f = Fixture::start();
    let version = sluice_integration::clients::locked_version("sqlx").unwrap_or_default();
    let report = json!({ "versions": { "sqlx": version } });
    let versions = client_versions("sqlx", &report);
    const INSERT: &str = "INSERT INTO reservations \
        (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) \
        VALUES ($1, $2, $3, $4, $5, $6::date, $7::numeric) RETURNING id";
    type Row = (
        i32,
        String,
        i32,
        i32,
        String,
        Option<String>,
        String,
        String,
    );
    const SELECT: &str = "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, \
        starts_on::text, price::text FROM reservations WHERE id = $1";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (inserted, updated, refused, after) = runtime.block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&f.gw.pg_url(&f.token))
            .await
            .expect("sqlx connects through the gateway");
        let insert = |tenant: &'static str, notes: &'static str| {
            sqlx::query_as::<_, (i32,)>(INSERT)
                .bind(tenant)
                .bind(2i32)
                .bind(3i32)
                .bind("booked")
                .bind(notes)
                .bind("2026-05-01")
                .bind("150.25")
        };
        let mut tx = pool.begin().await.expect("BEGIN");
        let (id,) = insert("acme", "orm-sqlx")
            .fetch_one(&mut *tx)
            .await
            .expect("the acme insert");
        tx.commit().await.expect("COMMIT");
        let inserted: Row = sqlx::query_as(SELECT)
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("reads the row back");
        let done = sqlx::query("UPDATE reservations SET notes = $1, status = $2 WHERE id = $3")
            .bind("orm-sqlx-updated")
            .bind("active")
            .bind(id)
            .execute(&pool)
            .await
            .expect("the update");
        assert_eq!(done.rows_affected(), 1, "{versions}");
        let updated: Row = sqlx::query_as(SELECT)
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("reads the row back");
        let refused = match insert("globex", "orm-sqlx-globex").fetch_one(&pool).await {
            Ok(_) => json!("written"),
            Err(e) => {
                let db = e.as_database_error();
                json!({
                    "sqlstate": db.and_then(|d| d.code()).map(|c| c.to_string()),
                    "message": db.map(|d| d.message().to_string()),
                })
            }
        };
        let (after,): (i64,) = sqlx::query_as("SELECT count(*) FROM reservations")
            .fetch_one(&pool)
            .await
            .expect("counts");
        pool.close().await;
        (inserted, updated, refused, after)
    });
    let as_json = |r: Row| json!([r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7]);
    assert_eq!(
        as_json(inserted),
        row(FIRST_ID, "booked", "orm-sqlx"),
        "{versions}"
    );
    assert_eq!(
        as_json(updated),
        row(FIRST_ID, "active", "orm-sqlx-updated"),
        "{versions}"
    );
    assert_refused(&json!({ "globex": refused }));
    assert_eq!(after, SEEDED_ACME + 1, "{versions}");
    f.assert_backend(&[row(FIRST_ID, "active", "orm-sqlx-updated")]);
    assert_audited_inserts(&f.gw, Sent::Bound);
}
