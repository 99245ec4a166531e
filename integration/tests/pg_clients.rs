//! Real PostgreSQL client programs through the gateway's PostgreSQL door, one test per client:
//! psql (simple protocol), psycopg 3 (extended protocol, binary results, server-side prepared
//! statements), asyncpg (prepared statements, binary results) and node-postgres (simple and
//! extended protocol, named statements). tokio-postgres is covered by `pg_door.rs`.
//!
//! Each test runs a program from `integration/clients/` with an `agent_support` token for acme.
//! The program performs the same steps in its client's idiom and prints a report, which
//! [`Fixture::assert_report`] checks with exact values:
//! - confined reads: the distinct tenants are `["acme"]`, acme has 10 customers, and a read by id
//!   (prepared where the client can) returns acme's rows with exact prices and dates and nothing
//!   for globex's;
//! - an allowed write with parameters: the acme row is updated (1 row), the globex row is not
//!   (0 rows), and the backend, read directly, confirms both;
//! - denials with the policy's SQLSTATE (`DELETE`/`DROP`/`pg_read_file` 42501, a syntax error
//!   42601), each followed by a query that must still answer on the same session.
//!
//! Each test also checks what only its client does (psql's `\d`, denials inside transactions,
//! typed parameters). psql's report is built here from its output (its script is
//! `psql_check.sql`); the other programs print JSON. A client that is not installed fails its test
//! with what to install; a client that hangs is killed and fails its test.
//!
//! Statements the client libraries send on their own work too: psycopg's `DEALLOCATE` (answered
//! by the gateway) and asyncpg's pool reset. asyncpg's type introspection (a pg_catalog query,
//! for result types it has no codec for) works against the scoped catalogs.

use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use sluice_integration::clients::{
    json_report, python, require, require_node, require_python, run, PythonModule, ASYNCPG, PSYCOPG,
};
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, Gateway, GatewayOptions};

/// Statements every client must see denied, with the SQLSTATE the policy gives them.
const DENIALS: [(&str, &str); 4] = [
    ("DELETE FROM customers", "42501"),
    ("DROP TABLE customers", "42501"),
    ("SELECT pg_read_file('/etc/passwd')", "42501"),
    ("SELEC 1", "42601"),
];
/// `SELECT count(*) FROM vehicles`, the query each denial is followed by.
const VEHICLES: i64 = 12;
/// Reservation 1 belongs to acme, reservation 16 to globex; both start with notes 'smooth'.
const ACME_ROW: i32 = 1;
/// acme's customers (globex's are 11 to 15).
const ACME_CUSTOMER_IDS: [i32; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const GLOBEX_ROW: i32 = 16;

#[test]
fn psql() {
    require(
        Command::new("psql").arg("--version"),
        "psql: apt-get install postgresql-client",
    );
    let f = Fixture::start();
    let output = run(
        Command::new("psql")
            .stdin(Stdio::null())
            .arg(f.dsn())
            .args(["-X", "-v", "ON_ERROR_STOP=0", "-f", "psql_check.sql"]),
        "psql",
        &[],
    );
    let report = psql_report(&output);
    f.assert_report(&report, "checked by psql");
    // \d queries pg_catalog: answered or refused, psql must go on to the next step.
    let describe = &report["extra"]["describe"];
    let lines = describe["stdout"].as_array().unwrap();
    let errors = describe["stderr"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .all(|e| is_sqlstate_error(e.as_str().unwrap())),
        "\\d failed uncleanly: {describe}"
    );
    assert!(
        !lines.is_empty() || !errors.is_empty(),
        "\\d printed nothing"
    );
    assert_eq!(
        report["extra"]["after_describe"],
        json!(VEHICLES),
        "{report:#}"
    );
}

#[test]
fn psycopg3() {
    let f = Fixture::start();
    let report = python_report(&PSYCOPG, "psycopg_check.py", &f.dsn());
    f.assert_report(&report, "checked by psycopg");
    assert_eq!(
        report["extra"],
        json!({
            // The binary cursor really got binary columns back.
            "binary_results": true,
            // In a transaction the denial aborts it: the next statement is refused (25P02)
            // until ROLLBACK, which undoes the update made before the denial.
            "denied_in_transaction": "42501",
            "next_statement_in_failed_transaction": "25P02",
            "note_after_rollback": "child seat",
        }),
        "{report:#}"
    );
}

#[test]
fn asyncpg() {
    let f = Fixture::start();
    let report = python_report(&ASYNCPG, "asyncpg_check.py", &f.url());
    f.assert_report(&report, "checked by asyncpg");
    assert_eq!(
        report["extra"],
        json!({
            "denied_in_transaction": "42501",
            "note_after_rollback": "child seat",
            // acme's reservations from 2025-03-01 over 100.00: ids 3, 4, 8, 10, 12.
            "typed": [5, "1443.46", "2025-06-10"],
        }),
        "{report:#}"
    );
}

#[test]
fn node_postgres() {
    require_node(&["pg"]);
    let f = Fixture::start();
    let report = json_report(
        Command::new("node").arg("node_pg_check.js").arg(f.url()),
        "node_pg_check.js",
    );
    f.assert_report(&report, "checked by node-postgres");
    assert_eq!(
        report["extra"],
        json!({
            "globex_customers": 0,
            "denied_in_transaction": "42501",
            "next_statement_in_failed_transaction": "25P02",
            "note_after_rollback": "child seat",
        }),
        "{report:#}"
    );
}

/// psycopg manages its prepared-statement cache with `DEALLOCATE ALL` after every ROLLBACK and
/// `DEALLOCATE <name>` on eviction; both must work for a connection with prepared statements.
#[test]
fn psycopg3_prepared_statement_cache() {
    let f = Fixture::start();
    let report = python_report(&PSYCOPG, "psycopg_machinery_check.py", &f.dsn());
    let ok = |result: Value| json!({"result": result, "sqlstate": null, "then": VEHICLES});
    assert_eq!(
        report,
        json!({
            "rollback_with_prepared_statements": ok(Value::Null),
            "cache_eviction": [ok(json!(12)), ok(json!(13)), ok(json!(14)), ok(json!(15))],
        }),
        "{report:#}"
    );
}

/// asyncpg's pool resets each connection it gets back: that must work. asyncpg looks up result
/// types it has no codec for (here int4[]) in pg_catalog, which the gateway serves scoped
/// (`engine/catalog.rs`): the lookup works and the array comes back.
#[test]
fn asyncpg_pool_and_type_introspection() {
    let f = Fixture::start();
    let report = python_report(&ASYNCPG, "asyncpg_machinery_check.py", &f.url());
    let ok = |result: Value| json!({"result": result, "sqlstate": null, "then": VEHICLES});
    assert_eq!(
        report,
        json!({
            "pool_release": [ok(json!(10)), ok(json!(10))],
            "int_array": ok(json!(ACME_CUSTOMER_IDS)),
        }),
        "{report:#}"
    );
}

/// Runs `script` (in `integration/clients`) with [`python`] and `dsn`, and parses its report.
fn python_report(client: &PythonModule, script: &str, dsn: &str) -> Value {
    require_python(&[client]);
    json_report(Command::new(python()).arg(script).arg(dsn), script)
}

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
        let token = gw.token("agent_support", Some("acme"), 600);
        Fixture { gw, db, token }
    }

    /// libpq `key=value` connection string.
    fn dsn(&self) -> String {
        self.gw.pg_dsn(&self.token)
    }

    /// `postgres://` URL.
    fn url(&self) -> String {
        self.gw.pg_url(&self.token)
    }

    /// The checks every client's report must pass; `note` is what the client wrote into acme's
    /// row.
    fn assert_report(&self, report: &Value, note: &str) {
        let shown = format!("{report:#}");
        assert_eq!(report["tenants"], json!(["acme"]), "{shown}");
        assert_eq!(report["customers"], json!(10), "{shown}");
        assert_eq!(
            report["by_id"],
            json!([
                [1, "195.00", "2025-01-05", "smooth"],
                null,
                [3, "277.50", "2025-03-01", "child seat"],
            ]),
            "reads by id 1, 16 (globex), 3: {shown}"
        );
        assert_eq!(report["update_own"], json!(1), "{shown}");
        assert_eq!(report["update_other"], json!(0), "{shown}");
        assert_eq!(report["note_after"], json!(note), "{shown}");
        let backend = [ACME_ROW, GLOBEX_ROW].map(|id| backend_notes(&self.db, id));
        assert_eq!(
            backend,
            [Some(note.to_string()), Some("smooth".to_string())],
            "notes of reservations {ACME_ROW} (acme) and {GLOBEX_ROW} (globex) on the backend"
        );

        let denials = report["denials"].as_array().expect("denials");
        for (sql, state) in DENIALS {
            let tried: Vec<&Value> = denials.iter().filter(|d| d["sql"] == sql).collect();
            assert!(!tried.is_empty(), "{sql} was not tried: {shown}");
            for d in tried {
                assert_eq!(d["sqlstate"], json!(state), "{sql} ({}): {shown}", d["via"]);
                assert_eq!(
                    d["then"],
                    json!(VEHICLES),
                    "session after {sql} ({}): {shown}",
                    d["via"]
                );
            }
        }
        for d in denials {
            assert!(
                DENIALS.iter().any(|(sql, _)| d["sql"] == *sql),
                "unexpected step {d}"
            );
        }
    }
}

/// Builds the common report from psql's output: `psql_check.sql` marks each step with `#<step>`
/// on stdout and stderr, results land on stdout, errors on stderr.
fn psql_report(output: &Output) -> Value {
    let stdout = steps(&String::from_utf8_lossy(&output.stdout));
    let stderr = steps(&String::from_utf8_lossy(&output.stderr));
    let shown = format!("stdout: {stdout:#?}\nstderr: {stderr:#?}");
    let out = |step: &str| -> &[String] {
        stdout
            .iter()
            .find(|(name, _)| name == step)
            .map(|(_, lines)| lines.as_slice())
            .unwrap_or_else(|| panic!("psql never reached step {step}: {shown}"))
    };
    let err = |step: &str| -> Vec<String> {
        let lines = stderr
            .iter()
            .find(|(name, _)| name == step)
            .map(|(_, lines)| lines.as_slice())
            .unwrap_or_default();
        // "psql:psql_check.sql:42: ERROR:  42501" -> "ERROR:  42501"
        lines
            .iter()
            .map(|l| match l.splitn(4, ':').collect::<Vec<_>>()[..] {
                ["psql", _file, line, message] if line.parse::<u32>().is_ok() => {
                    message.trim_start().to_string()
                }
                _ => l.clone(),
            })
            .collect()
    };
    let only = |step: &str| -> Value {
        assert_eq!(err(step), Vec::<String>::new(), "errors in {step}: {shown}");
        match out(step) {
            [one] => value(one),
            other => panic!("step {step}: one line expected, got {other:?}: {shown}"),
        }
    };
    let command_count = |step: &str| -> Value {
        match only(step)
            .as_str()
            .and_then(|tag| tag.strip_prefix("UPDATE "))
        {
            Some(n) => json!(n.parse::<i64>().expect("row count")),
            None => panic!("step {step}: no UPDATE tag: {shown}"),
        }
    };
    let by_id = |id: i64| -> Value {
        let step = format!("by_id {id}");
        assert_eq!(err(&step), Vec::<String>::new(), "{shown}");
        match out(&step) {
            [] => Value::Null,
            [row] => {
                let cols: Vec<&str> = row.split('|').collect();
                let [rid, price, date, notes] = cols[..] else {
                    panic!("step {step}: {row}")
                };
                json!([value(rid), price, date, notes])
            }
            other => panic!("step {step}: {other:?}"),
        }
    };
    let denials: Vec<Value> = DENIALS
        .iter()
        .map(|(sql, _)| {
            let step = format!("deny {sql}");
            let state = match &err(&step)[..] {
                [one] if is_sqlstate_error(one) => json!(one.trim_start_matches("ERROR:").trim()),
                other => panic!("step {step}: one SQLSTATE error expected, got {other:?}"),
            };
            let then = match out(&step) {
                [line] => value(line),
                other => panic!("step {step}: one result line expected, got {other:?}"),
            };
            json!({"sql": sql, "via": "simple", "sqlstate": state, "then": then})
        })
        .collect();
    json!({
        "client": "psql",
        "tenants": out("tenants"),
        "customers": only("customers"),
        "by_id": [by_id(1), by_id(16), by_id(3)],
        "update_own": command_count("update_own"),
        "update_other": command_count("update_other"),
        "note_after": only("note_after"),
        "denials": denials,
        "extra": {
            "describe": {"stdout": out("describe"), "stderr": err("describe")},
            "after_describe": only("after_describe"),
        },
    })
}

/// A line of psql's unaligned output as JSON: a number when it is one.
fn value(line: &str) -> Value {
    line.parse::<i64>()
        .map_or_else(|_| json!(line), |n| json!(n))
}

/// Splits output into `(step, lines)` at marker lines `#<step>`; blank lines are dropped.
fn steps(text: &str) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match (line.strip_prefix('#'), steps.last_mut()) {
            (Some(step), _) => steps.push((step.to_string(), Vec::new())),
            (None, Some((_, lines))) => lines.push(line.to_string()),
            (None, None) => {} // before the first step: psql's own messages, if any
        }
    }
    steps
}

/// `ERROR:  42501`, as psql prints an error with `VERBOSITY sqlstate`.
fn is_sqlstate_error(line: &str) -> bool {
    line.strip_prefix("ERROR:")
        .map(str::trim)
        .is_some_and(|s| s.len() == 5 && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Reservation `id`'s notes, read from the backend directly (not through the gateway).
fn backend_notes(db: &str, id: i32) -> Option<String> {
    let url = shared_pg().url(db);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connects to the backend");
        tokio::spawn(conn);
        client
            .query_one("SELECT notes FROM reservations WHERE id = $1", &[&id])
            .await
            .expect("reads the backend")
            .get(0)
    })
}
