//! Real ORMs writing through the PostgreSQL door (issue 16): SQLAlchemy 2's ORM in a `Session`
//! with psycopg 3 and with asyncpg, Django 5's ORM with psycopg 3, node-postgres and knex. Each
//! binds the tenant column's value as a parameter, as it always does; the gateway must write the
//! `agent_support` token's own tenant (acme) and refuse another (globex) with
//! `write_not_confinable` (42501), writing nothing.
//!
//! Each client program (`integration/clients/*_orm_check.{py,js}`) drives its ORM as the ORM's
//! documentation shows and prints a JSON report of what it saw; the test checks the report's exact
//! values, then what a direct connection to the backend shows afterwards. A client that is not
//! installed fails its test with what to install.

use std::process::Command;

use serde_json::{json, Value};
use sluice_integration::clients::{json_report, python, require};
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

/// A Python module a client program imports, and where it comes from.
struct Module {
    name: &'static str,
    install: &'static str,
}

const SQLALCHEMY: Module = Module {
    name: "sqlalchemy",
    install: "sqlalchemy==2.0.59 (pip, into the tests' environment)",
};
const PSYCOPG: Module = Module {
    name: "psycopg",
    install: "psycopg==3.2.13 (pip, into the tests' environment)",
};
const ASYNCPG: Module = Module {
    name: "asyncpg",
    install: "python3-asyncpg (apt-get)",
};
const DJANGO: Module = Module {
    name: "django",
    install: "django==5.2.20 (pip, into the tests' environment)",
};

fn python_report(modules: &[&Module], script: &str, args: &[String]) -> Value {
    for m in modules {
        require(
            Command::new(python()).args(["-c", &format!("import {}", m.name)]),
            &format!("{} for {}: {}", m.name, python().display(), m.install),
        );
    }
    json_report(Command::new(python()).arg(script).args(args), script)
}

fn node_report(driver: &str, url: &str) -> Value {
    require(
        Command::new("node").args(["-e", &format!("require('{driver}')")]),
        &format!(
            "{driver} for node: apt-get install nodejs npm, then `npm ci` in integration/clients"
        ),
    );
    json_report(
        Command::new("node")
            .arg("node_pg_orm_check.js")
            .arg(driver)
            .arg(url),
        &format!("node_pg_orm_check.js {driver}"),
    )
}

/// SQLAlchemy's ORM session with `driver`: add, commit, read back, update, commit; globex refused.
fn sqlalchemy(driver: &str, module: &Module) {
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
