//! Real MySQL client programs through the gateway's MySQL door, one test per client and
//! transport: the `mariadb` command-line client (text protocol), PyMySQL (text protocol: it
//! interpolates parameters itself), node mysql2 (`query`: text; `execute`: server-side prepared
//! statements) and mysql_async (`query`: text; `exec`/`prep`: prepared), each on a plain loopback
//! connection (the door switches the client to `mysql_clear_password`) and, where the client can
//! show it, over TLS (`caching_sha2_password` full authentication: the token in clear inside TLS).
//!
//! Each test runs against a freshly seeded MariaDB rental database with an `agent_support` token
//! for acme. The client performs the same steps in its own idiom and produces a report, which
//! [`Fixture::assert_report`] checks with exact values from `examples/rental/data.sql`:
//! - confined reads: the distinct tenants are `["acme"]`, the customers are acme's ten by id and
//!   name, `SELECT *` has no `ssn` / `internal_score` column, and reads by id return acme's rows
//!   and nothing for globex's reservation 16;
//! - allowed writes: the UPDATE of acme's reservation 1 changes 1 row, that of globex's 16 none;
//!   an INSERT (the gateway supplies `tenant_id`) adds reservation 1000, read back through the
//!   gateway; the backend, read directly, confirms all of it;
//! - denials with the MySQL error code of the policy rule (SQLSTATE 42000, the message ending
//!   in `[sluice: <rule>]`), tried over every protocol the client has, each followed by
//!   `SELECT 1` on the same connection, which must answer. `SELECT ssn` is not a denial: the
//!   column does not exist in the role's view of `customers`, so MariaDB answers 1054.
//!
//! The mariadb CLI's report is built here from its `-vv` output; the other programs (in
//! `integration/clients/`) print JSON. A client that is not installed fails its test with what to
//! install; a client that hangs is killed and fails its test.

use std::process::{Command, Output, Stdio};

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value as MyValue};
use serde_json::{json, Value};
use sluice_integration::clients::{clients_dir, json_report, npm_version, python, require, run};
use sluice_integration::rental::{seed_mariadb, ROLES};
use sluice_integration::{shared_mariadb, Gateway, GatewayOptions};

/// A statement every client must see fail, and how.
struct Failing {
    sql: &'static str,
    code: u16,
    sqlstate: &'static str,
    message: Message,
}

/// What the error message must say.
enum Message {
    /// A denial: the message ends with `[sluice: <rule id>]`.
    Rule(&'static str),
    /// An error of the backend's own: the message contains this.
    Backend(&'static str),
}

impl Message {
    fn matches(&self, message: &str) -> bool {
        match self {
            Message::Rule(rule) => message.ends_with(&format!("[sluice: {rule}]")),
            Message::Backend(text) => message.contains(text),
        }
    }
}

const DENIALS: [Failing; 6] = [
    Failing {
        sql: "DELETE FROM customers",
        code: 1142,
        sqlstate: "42000",
        message: Message::Rule("forbidden_operation"),
    },
    Failing {
        sql: "DROP TABLE customers",
        code: 1142,
        sqlstate: "42000",
        message: Message::Rule("forbidden_operation"),
    },
    Failing {
        sql: "UPDATE reservations SET price = 0 WHERE id = 1",
        code: 1143,
        sqlstate: "42000",
        message: Message::Rule("column_not_granted"),
    },
    // Allowed by the policy and refused by MariaDB: the hidden column is not in the derived
    // table the gateway puts in place of `customers`.
    Failing {
        sql: "SELECT ssn FROM customers",
        code: 1054,
        sqlstate: "42S22",
        message: Message::Backend("Unknown column 'ssn'"),
    },
    Failing {
        sql: "SELEC 1",
        code: 1064,
        sqlstate: "42000",
        message: Message::Rule("syntax_error"),
    },
    Failing {
        sql: "SELECT LOAD_FILE('/etc/passwd')",
        code: 1370,
        sqlstate: "42000",
        message: Message::Rule("function_not_allowed"),
    },
];

/// Reservation 1 belongs to acme, 16 to globex; both start with notes 'smooth'.
const ACME_ROW: i64 = 1;
const GLOBEX_ROW: i64 = 16;
/// The first id MariaDB gives an inserted reservation (the schema's AUTO_INCREMENT).
const INSERTED_ID: u64 = 1000;

#[test]
fn mariadb_cli() {
    let f = Fixture::start();
    // The 10.11 client asks for TLS whenever the server offers it: plain needs --skip-ssl.
    let report = mariadb_cli_report(&f, &["--skip-ssl"]);
    f.assert_report(&report, "the mariadb CLI", Transport::Text);
    assert_eq!(report["extra"], json!({"update_same": 0}), "{report:#}");
}

/// The client's default settings, which in 10.11 ask for TLS when the server offers it and do
/// not verify the certificate (`--ssl-verify-server-cert` is off by default), so the door's
/// caching_sha2_password full authentication runs. The CLI does not show whether TLS was used;
/// `pymysql_tls` and `mysql2_tls` prove it for their clients.
#[test]
fn mariadb_cli_default_settings() {
    let f = Fixture::start();
    let report = mariadb_cli_report(&f, &[]);
    f.assert_report(&report, "the mariadb CLI", Transport::Text);
    assert_eq!(report["extra"], json!({"update_same": 0}), "{report:#}");
}

#[test]
fn pymysql() {
    let f = Fixture::start();
    let report = pymysql_report(&f, false);
    f.assert_report(&report, "PyMySQL", Transport::TextWithoutSqlstate);
    assert_eq!(
        report["extra"],
        json!({
            "auth": {"switch_to": "mysql_clear_password"},
            "tls": null,
            "insert_id": INSERTED_ID,
            // PyMySQL does not ask for CLIENT_FOUND_ROWS: an UPDATE to the same value changes 0.
            "update_same": 0,
            // A denial inside a transaction is an error like any other: the transaction goes
            // on, and ROLLBACK undoes the update made before it.
            "denied_in_transaction": 1142,
            "note_in_transaction_after_denial": "in a transaction",
            "note_after_rollback": "child seat",
        }),
        "{report:#}"
    );
}

/// PyMySQL over TLS (certificate not verified): the door greets with caching_sha2_password and
/// answers the scramble with "perform full authentication" (0x01 0x04); PyMySQL then sends the
/// token in clear inside TLS.
#[test]
fn pymysql_tls() {
    let f = Fixture::start();
    let report = pymysql_report(&f, true);
    f.assert_report(&report, "PyMySQL", Transport::TextWithoutSqlstate);
    let extra = &report["extra"];
    assert_eq!(
        extra["auth"],
        json!({"caching_sha2_reply": [1, 4], "secure": true}),
        "{report:#}"
    );
    assert!(
        extra["tls"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "not over TLS: {report:#}"
    );
    assert_eq!(extra["insert_id"], json!(INSERTED_ID), "{report:#}");
}

/// The SSLRequest and the TLS ClientHello in one write: the door must hand the bytes behind the
/// request to TLS, not drop the connection (PyMySQL and mysql2 send them back to back).
#[test]
fn tls_request_and_client_hello_in_one_write() {
    let f = Fixture::start();
    let port = f.gw.mysql_addr.expect("MySQL door").port().to_string();
    for _ in 0..3 {
        let output = run(
            Command::new(python())
                .arg("tls_coalesced_check.py")
                .arg(&port)
                .stdin(Stdio::null()),
            "tls_coalesced_check.py",
            &[],
        );
        let version = String::from_utf8_lossy(&output.stdout);
        assert!(version.starts_with("TLSv1."), "{version}");
    }
}

#[test]
fn mysql2() {
    let f = Fixture::start();
    let report = mysql2_report(&f, false);
    f.assert_report(&report, "mysql2", Transport::QueryAndExecute);
    assert_eq!(report["extra"]["tls"], Value::Null, "{report:#}");
}

#[test]
fn mysql2_tls() {
    let f = Fixture::start();
    let report = mysql2_report(&f, true);
    f.assert_report(&report, "mysql2", Transport::QueryAndExecute);
    assert!(
        report["extra"]["tls"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "not over TLS: {report:#}"
    );
}

#[tokio::test]
async fn mysql_async_text_and_prepared() {
    let f = Fixture::start();
    let mut conn = f.gw.mysql_conn(&f.token).await;
    let report = mysql_async_report(&mut conn).await;
    conn.disconnect().await.expect("disconnects");
    f.assert_report(&report, "mysql_async", Transport::TextAndPrepared);
    assert_eq!(
        report["extra"],
        json!({
            "insert_id": INSERTED_ID,
            "update_same": 0,
            "text_reads": {
                "tenants": ["acme"],
                "star_customers": star_customers(),
                "by_id": by_id_after("mysql_async"),
            },
        }),
        "{report:#}"
    );
    // Each denial is in the audit log once per protocol, with its rule.
    let audit = f.gw.audit();
    for d in &DENIALS {
        let Message::Rule(rule) = d.message else {
            continue;
        };
        let seen = audit
            .iter()
            .filter(|l| l["decision"] == "deny" && l["statement"] == d.sql)
            .map(|l| (l["door"].clone(), l["rule"].clone()))
            .collect::<Vec<_>>();
        assert_eq!(
            seen,
            vec![(json!("mysql"), json!(rule)); 2],
            "audit lines of {:?}",
            d.sql
        );
    }
}

/// The protocols a client's report covers; each denial is tried over each.
#[derive(Clone, Copy)]
enum Transport {
    /// COM_QUERY; the client shows the SQLSTATE of errors.
    Text,
    /// COM_QUERY; the client keeps only the error code and message (PyMySQL).
    TextWithoutSqlstate,
    /// mysql2's `query` (text) and `execute` (prepared).
    QueryAndExecute,
    /// mysql_async's `query` (text) and `exec` (prepared).
    TextAndPrepared,
}

impl Transport {
    fn vias(self) -> &'static [&'static str] {
        match self {
            Transport::Text | Transport::TextWithoutSqlstate => &["text"],
            Transport::QueryAndExecute => &["query", "execute"],
            Transport::TextAndPrepared => &["text", "prepared"],
        }
    }

    fn has_sqlstate(self) -> bool {
        !matches!(self, Transport::TextWithoutSqlstate)
    }
}

/// A gateway with only the MySQL door in front of a freshly seeded rental database, and an
/// `agent_support` token for acme.
struct Fixture {
    gw: Gateway,
    db: String,
    token: String,
}

impl Fixture {
    fn start() -> Fixture {
        let my = shared_mariadb();
        let db = seed_mariadb(my).expect("seed");
        let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES, GatewayOptions::default())
            .expect("gateway starts");
        let token = gw.token("agent_support", Some("acme"), 600);
        Fixture { gw, db, token }
    }

    /// `mysql://agent:<token>@127.0.0.1:<port>/<db>?…`
    fn url(&self) -> String {
        self.gw.mysql_url(&self.token)
    }

    /// The checks every client's report must pass; `client` is the name in the notes it wrote
    /// (`checked by <client>`, `inserted by <client>`).
    fn assert_report(&self, report: &Value, client: &str, transport: Transport) {
        let shown = format!("{report:#}");
        let note = format!("checked by {client}");
        let inserted = format!("inserted by {client}");
        assert_eq!(report["tenants"], json!(["acme"]), "{shown}");
        assert_eq!(
            report["customers"],
            json!([
                ["1", "Alice Smith"],
                ["2", "Bob Jones"],
                ["3", "Carol White"],
                ["4", "Dan Brown"],
                ["5", "Eve Black"],
                ["6", "Frank Green"],
                ["7", "Grace Hopper"],
                ["8", "Heidi Klum"],
                ["9", "Ivan Petrov"],
                ["10", "Judy Moss"],
            ]),
            "{shown}"
        );
        assert_eq!(report["star_customers"], star_customers(), "{shown}");
        assert_eq!(
            report["star_reservations"],
            json!({
                "columns": ["id", "tenant_id", "customer_id", "vehicle_id", "status", "notes",
                            "starts_on", "price"],
                "rows": [["1", "acme", "1", "1", "returned", "smooth", "2025-01-05", "195.00"]],
            }),
            "SELECT * FROM reservations (no internal_score): {shown}"
        );
        assert_eq!(
            report["by_id"],
            json!([
                ["1", "195.00", "2025-01-05", "smooth"],
                null,
                ["3", "277.50", "2025-03-01", "child seat"],
            ]),
            "reads by id 1, 16 (globex), 3: {shown}"
        );
        assert_eq!(report["update_own"], json!(1), "{shown}");
        assert_eq!(report["update_other"], json!(0), "{shown}");
        assert_eq!(report["note_after"], json!(note), "{shown}");
        assert_eq!(
            report["insert"],
            json!({
                "affected": 1,
                "rows": [[INSERTED_ID.to_string(), "acme", "2", "3", "booked", inserted,
                          "2025-08-01", "120.00"]],
            }),
            "{shown}"
        );

        let denials = report["denials"].as_array().expect("denials");
        for d in &DENIALS {
            for via in transport.vias() {
                let tried: Vec<&Value> = denials
                    .iter()
                    .filter(|t| t["sql"] == d.sql && t["via"] == *via)
                    .collect();
                let [t] = tried[..] else {
                    panic!("{} ({via}) tried {} times: {shown}", d.sql, tried.len());
                };
                let what = format!("{} ({via})", d.sql);
                assert_eq!(t["code"], json!(d.code), "{what}: {shown}");
                if transport.has_sqlstate() {
                    assert_eq!(t["sqlstate"], json!(d.sqlstate), "{what}: {shown}");
                }
                let message = t["message"].as_str().unwrap_or_default();
                assert!(
                    d.message.matches(message),
                    "{what}: message {message:?}: {shown}"
                );
                assert_eq!(t["then"], json!(1), "SELECT 1 after {what}: {shown}");
            }
        }
        assert_eq!(
            denials.len(),
            DENIALS.len() * transport.vias().len(),
            "unexpected steps: {shown}"
        );

        // What the backend holds, read directly.
        let rows = backend_rows(
            &self.db,
            &format!(
                "SELECT id, tenant_id, notes, price FROM reservations \
                 WHERE id IN ({ACME_ROW}, {GLOBEX_ROW}, {INSERTED_ID}) ORDER BY id"
            ),
        );
        assert_eq!(
            rows,
            vec![
                vec![ACME_ROW.to_string(), "acme".into(), note, "195.00".into()],
                vec![
                    GLOBEX_ROW.to_string(),
                    "globex".into(),
                    "smooth".into(),
                    "234.00".into()
                ],
                vec![
                    INSERTED_ID.to_string(),
                    "acme".into(),
                    inserted,
                    "120.00".into()
                ],
            ],
            "reservations {ACME_ROW}, {GLOBEX_ROW} and {INSERTED_ID} on the backend"
        );
        let counts = backend_rows(
            &self.db,
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM reservations)",
        );
        assert_eq!(
            counts,
            vec![vec!["18".to_string(), "28".to_string()]],
            "customers and reservations on the backend"
        );
    }
}

/// `SELECT * FROM customers WHERE id = 1` as acme's agent_support sees it: no ssn.
fn star_customers() -> Value {
    json!({
        "columns": ["id", "tenant_id", "name", "email"],
        "rows": [["1", "acme", "Alice Smith", "alice@acme.example"]],
    })
}

/// Reads by id 1, 16, 3 after `client` wrote its note into reservation 1.
fn by_id_after(client: &str) -> Value {
    json!([
        ["1", "195.00", "2025-01-05", format!("checked by {client}")],
        null,
        ["3", "277.50", "2025-03-01", "child seat"],
    ])
}

// --- mariadb CLI ---------------------------------------------------------------------------

const CLI_SCRIPT: &str = "mariadb_check.sql";

/// Runs `mariadb_check.sql` through the CLI (`extra_args` after the connection options) and
/// builds the common report from its output.
fn mariadb_cli_report(f: &Fixture, extra_args: &[&str]) -> Value {
    let cli = ["mariadb", "mysql"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "client missing: install the mariadb command-line client: apt-get install \
                 mariadb-client (./scripts/test installs the clients when missing)"
            )
        });
    let addr = f.gw.mysql_addr.expect("a MySQL door");
    let script_path = clients_dir().join(CLI_SCRIPT);
    let script = std::fs::read_to_string(&script_path).expect("reads the CLI script");
    let stdin = std::fs::File::open(&script_path).expect("opens the CLI script");
    let output = run(
        Command::new(cli)
            // First: the machine's option files must not change the client's settings.
            .arg("--no-defaults")
            .arg(format!("--host={}", addr.ip()))
            .arg(format!("--port={}", addr.port()))
            .arg("--user=agent")
            .arg(format!("--password={}", f.token))
            .arg(format!("--database={}", f.db))
            .args(extra_args)
            .args(["--batch", "--force", "-vv"])
            .stdin(stdin),
        cli,
        // With --force the client exits 1 after errors it went past; the report checks each.
        &[1],
    );
    cli_report(&script, &output)
}

/// One statement of the CLI script and what the client printed for it.
struct CliStep {
    sql: String,
    /// Output lines (blank lines dropped).
    out: Vec<String>,
    /// `(code, sqlstate, message)` of the error printed for it.
    error: Option<(u16, String, String)>,
}

/// Builds the common report from the CLI's output: with `-vv` it echoes each statement between
/// lines of dashes before its output (a tab-separated header and rows, or `Query OK, N rows
/// affected`), and prints errors on stderr as `ERROR <code> (<SQLSTATE>) at line <n>: <message>`.
fn cli_report(script: &str, output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = format!("stdout:\n{stdout}\nstderr:\n{stderr}");

    // The script: one statement per line; comments and blank lines skipped.
    let statements: Vec<(usize, String)> = script
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with("--"))
        .map(|(i, l)| (i + 1, l.trim_end_matches(';').to_string()))
        .collect();

    let mut echoed: Vec<(String, Vec<String>)> = Vec::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("--------------") {
            let mut sql = Vec::new();
            for l in lines.by_ref() {
                if l.starts_with("--------------") {
                    break;
                }
                sql.push(l);
            }
            echoed.push((sql.join("\n"), Vec::new()));
        } else if line.trim().is_empty() || line == "Bye" {
        } else if let Some((_, out)) = echoed.last_mut() {
            out.push(line.to_string());
        } else {
            panic!("output before the first statement: {line:?}\n{shown}");
        }
    }
    let echoed_sql: Vec<&str> = echoed.iter().map(|(s, _)| s.as_str()).collect();
    let script_sql: Vec<&str> = statements.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        echoed_sql, script_sql,
        "the CLI did not run every statement of {CLI_SCRIPT}\n{shown}"
    );

    let mut steps: Vec<CliStep> = statements
        .iter()
        .zip(echoed)
        .map(|((_, sql), (_, out))| CliStep {
            sql: sql.clone(),
            out,
            error: None,
        })
        .collect();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let (code, state, at, message) = parse_cli_error(line)
            .unwrap_or_else(|| panic!("unexpected line on stderr: {line:?}\n{shown}"));
        let index = statements
            .iter()
            .position(|(n, _)| *n == at)
            .unwrap_or_else(|| panic!("error at line {at}, which holds no statement\n{shown}"));
        steps[index].error = Some((code, state, message));
    }

    let step = |sql: &str| -> &CliStep {
        steps
            .iter()
            .find(|s| s.sql == sql)
            .unwrap_or_else(|| panic!("no step {sql:?} in {CLI_SCRIPT}"))
    };
    // A result set: header line, rows, then `N row(s) in set` (or just `Empty set`).
    let result = |sql: &str| -> (Vec<String>, Vec<Value>) {
        let s = step(sql);
        assert!(s.error.is_none(), "{sql}: {:?}\n{shown}", s.error);
        match &s.out[..] {
            [empty] if empty == "Empty set" => (Vec::new(), Vec::new()),
            [header, rows @ .., count] if count.ends_with(" in set") => {
                let n: usize = count.split(' ').next().unwrap().parse().expect("row count");
                assert_eq!(n, rows.len(), "{sql}: {count}\n{shown}");
                let columns = header.split('\t').map(str::to_string).collect();
                let rows = rows
                    .iter()
                    .map(|r| {
                        Value::Array(
                            r.split('\t')
                                .map(|v| if v == "NULL" { Value::Null } else { json!(v) })
                                .collect(),
                        )
                    })
                    .collect();
                (columns, rows)
            }
            other => panic!("{sql}: not a result set: {other:?}\n{shown}"),
        }
    };
    let rows = |sql: &str| result(sql).1;
    let one_row = |sql: &str| -> Value {
        match &rows(sql)[..] {
            [] => Value::Null,
            [row] => row.clone(),
            more => panic!("{sql}: one row expected, got {more:?}"),
        }
    };
    let star = |sql: &str| {
        let (columns, rows) = result(sql);
        json!({"columns": columns, "rows": rows})
    };
    // `Query OK, N row(s) affected`, then for an UPDATE `Rows matched: … Changed: …`.
    let affected = |sql: &str| -> Value {
        let s = step(sql);
        assert!(s.error.is_none(), "{sql}: {:?}\n{shown}", s.error);
        let n = s
            .out
            .first()
            .and_then(|l| l.strip_prefix("Query OK, "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{sql}: no `Query OK` line: {:?}\n{shown}", s.out));
        json!(n)
    };

    let by_id = |id: i64| {
        one_row(&format!(
            "SELECT id, price, starts_on, notes FROM reservations WHERE id = {id}"
        ))
    };
    let note = "checked by the mariadb CLI";
    let inserted = "inserted by the mariadb CLI";
    let denials: Vec<Value> = DENIALS
        .iter()
        .map(|d| {
            let index = steps
                .iter()
                .position(|s| s.sql == d.sql)
                .unwrap_or_else(|| panic!("{} is not in {CLI_SCRIPT}", d.sql));
            let (code, state, message) = match &steps[index].error {
                Some((c, s, m)) => (json!(c), json!(s), json!(m)),
                None => (Value::Null, Value::Null, Value::Null),
            };
            let next = steps.get(index + 1).expect("a statement after the denial");
            assert_eq!(next.sql, "SELECT 1", "{CLI_SCRIPT}: after {}", d.sql);
            let then = match (&next.error, &next.out[..]) {
                (None, [header, one, count]) if header == "1" && count == "1 row in set" => {
                    json!(one.parse::<i64>().expect("SELECT 1"))
                }
                other => panic!("SELECT 1 after {}: {other:?}\n{shown}", d.sql),
            };
            json!({"sql": d.sql, "via": "text", "code": code, "sqlstate": state,
                   "message": message, "then": then})
        })
        .collect();

    json!({
        "client": "mariadb CLI",
        "tenants": rows("SELECT DISTINCT tenant_id FROM customers")
            .iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        "customers": rows("SELECT id, name FROM customers ORDER BY id"),
        "star_customers": star("SELECT * FROM customers WHERE id = 1"),
        "star_reservations": star("SELECT * FROM reservations WHERE id = 1"),
        "by_id": [by_id(1), by_id(16), by_id(3)],
        "update_own": affected(&format!("UPDATE reservations SET notes = '{note}' WHERE id = 1")),
        "update_other": affected(&format!("UPDATE reservations SET notes = '{note}' WHERE id = 16")),
        "note_after": one_row("SELECT notes FROM reservations WHERE id = 1")[0],
        "insert": {
            "affected": affected(&format!(
                "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, \
                 price) VALUES (2, 3, 'booked', '{inserted}', '2025-08-01', 120.00)"
            )),
            "rows": rows(&format!(
                "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price \
                 FROM reservations WHERE notes = '{inserted}'"
            )),
        },
        "denials": denials,
        "extra": {
            "update_same": affected(&format!(
                "UPDATE reservations SET notes = '{note}' WHERE id = 1 AND notes = '{note}'"
            )),
        },
    })
}

/// `ERROR 1142 (42000) at line 12: message` → `(1142, "42000", 12, "message")`.
fn parse_cli_error(line: &str) -> Option<(u16, String, usize, String)> {
    let rest = line.strip_prefix("ERROR ")?;
    let (code, rest) = rest.split_once(" (")?;
    let (state, rest) = rest.split_once(") at line ")?;
    let (at, message) = rest.split_once(": ")?;
    Some((
        code.parse().ok()?,
        state.to_string(),
        at.parse().ok()?,
        message.to_string(),
    ))
}

// --- PyMySQL and mysql2 --------------------------------------------------------------------

fn pymysql_report(f: &Fixture, tls: bool) -> Value {
    require(
        Command::new(python()).args(["-c", "import pymysql"]),
        &format!(
            "PyMySQL for {}: apt-get install python3-pymysql",
            python().display()
        ),
    );
    let mut cmd = Command::new(python());
    cmd.arg("pymysql_check.py").arg(f.url());
    if tls {
        cmd.arg("tls");
    }
    json_report(&mut cmd, "pymysql_check.py")
}

fn mysql2_report(f: &Fixture, tls: bool) -> Value {
    require(
        Command::new("node").args(["-e", "require('mysql2')"]),
        "mysql2: apt-get install nodejs npm, then `npm ci` in integration/clients",
    );
    let mut cmd = Command::new("node");
    cmd.arg("mysql2_check.js").arg(f.url());
    if tls {
        cmd.arg("tls");
    }
    let client = format!("mysql2 {}", npm_version("mysql2"));
    let report = json_report(&mut cmd, &format!("mysql2_check.js ({client})"));
    // The report names the driver that ran (and every assertion message shows the report).
    assert_eq!(report["client"], json!(client), "{report:#}");
    // The text protocol reads, made after the writes.
    assert_eq!(
        report["extra"]["text_reads"],
        json!({
            "tenants": ["acme"],
            "star_customers": star_customers(),
            "by_id": by_id_after("mysql2"),
        }),
        "{report:#}"
    );
    assert_eq!(
        report["extra"]["insert_id"],
        json!(INSERTED_ID),
        "{report:#}"
    );
    // mysql2 asks for CLIENT_FOUND_ROWS: an UPDATE to the same value counts the matched row.
    assert_eq!(report["extra"]["update_same"], json!(1), "{report:#}");
    report
}

// --- mysql_async ---------------------------------------------------------------------------

/// The common report, made with mysql_async: reads and writes as prepared statements with
/// parameters (`exec`, `prep`), the reads again over the text protocol (`query`), and every
/// denial both ways.
async fn mysql_async_report(conn: &mut mysql_async::Conn) -> Value {
    let note = "checked by mysql_async";
    let inserted = "inserted by mysql_async";
    let by_id_sql = "SELECT id, price, starts_on, notes FROM reservations WHERE id = ?";

    let tenants: Vec<Row> = conn
        .exec("SELECT DISTINCT tenant_id FROM customers", ())
        .await
        .expect("tenants");
    let customers: Vec<Row> = conn
        .exec("SELECT id, name FROM customers ORDER BY id", ())
        .await
        .expect("customers");
    let mut star_prepared = Vec::new();
    for table in ["customers", "reservations"] {
        let stmt = conn
            .prep(format!("SELECT * FROM {table} WHERE id = 1"))
            .await
            .expect("prepares SELECT *");
        let columns: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let rows: Vec<Row> = conn.exec(&stmt, ()).await.expect("SELECT *");
        star_prepared.push(json!({"columns": columns, "rows": rows_json(&rows)}));
    }
    let mut by_id = Vec::new();
    for id in [1, 16, 3] {
        let row: Option<Row> = conn.exec_first(by_id_sql, (id,)).await.expect("by id");
        by_id.push(row.map_or(Value::Null, |r| row_json(&r)));
    }

    let update = "UPDATE reservations SET notes = ? WHERE id = ?";
    conn.exec_drop(update, (note, ACME_ROW))
        .await
        .expect("update own");
    let update_own = conn.affected_rows();
    conn.exec_drop(update, (note, GLOBEX_ROW))
        .await
        .expect("update other");
    let update_other = conn.affected_rows();
    conn.exec_drop(update, (note, ACME_ROW))
        .await
        .expect("update same");
    let update_same = conn.affected_rows();
    let note_after: Option<String> = conn
        .exec_first("SELECT notes FROM reservations WHERE id = ?", (ACME_ROW,))
        .await
        .expect("note after");

    conn.exec_drop(
        "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) \
         VALUES (?, ?, ?, ?, ?, ?)",
        (2, 3, "booked", inserted, "2025-08-01", "120.00"),
    )
    .await
    .expect("insert");
    let insert_affected = conn.affected_rows();
    let insert_id = conn.last_insert_id();
    let inserted_rows: Vec<Row> = conn
        .exec(
            "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price \
             FROM reservations WHERE notes = ?",
            (inserted,),
        )
        .await
        .expect("reads the inserted row");

    let mut denials = Vec::new();
    for d in &DENIALS {
        for via in ["text", "prepared"] {
            let (result, then) = if via == "text" {
                let r = conn.query_drop(d.sql).await;
                (r, conn.query_first::<i64, _>("SELECT 1").await)
            } else {
                let r = conn.exec_drop(d.sql, ()).await;
                (r, conn.exec_first::<i64, _, _>("SELECT 1", ()).await)
            };
            let (code, state, message) = match result {
                Ok(()) => (Value::Null, Value::Null, Value::Null),
                Err(mysql_async::Error::Server(e)) => {
                    (json!(e.code), json!(e.state), json!(e.message))
                }
                Err(e) => panic!("{} ({via}): not a server error: {e}", d.sql),
            };
            let then = then.unwrap_or_else(|e| panic!("SELECT 1 after {} ({via}): {e}", d.sql));
            denials.push(
                json!({"sql": d.sql, "via": via, "code": code, "sqlstate": state,
                                "message": message, "then": then}),
            );
        }
    }

    // The reads again, over the text protocol.
    let text_tenants: Vec<String> = conn
        .query("SELECT DISTINCT tenant_id FROM customers")
        .await
        .expect("text tenants");
    let result = conn
        .query_iter("SELECT * FROM customers WHERE id = 1")
        .await
        .expect("text SELECT *");
    let text_columns: Vec<String> = result
        .columns()
        .map(|cs| cs.iter().map(|c| c.name_str().into_owned()).collect())
        .unwrap_or_default();
    let text_star_rows: Vec<Row> = result.collect_and_drop().await.expect("text SELECT * rows");
    let mut text_by_id = Vec::new();
    for id in [1, 16, 3] {
        let row: Option<Row> = conn
            .query_first(format!(
                "SELECT id, price, starts_on, notes FROM reservations WHERE id = {id}"
            ))
            .await
            .expect("text by id");
        text_by_id.push(row.map_or(Value::Null, |r| row_json(&r)));
    }

    json!({
        "client": "mysql_async",
        "tenants": tenants.iter().map(|r| row_json(r)[0].clone()).collect::<Vec<_>>(),
        "customers": rows_json(&customers),
        "star_customers": star_prepared[0],
        "star_reservations": star_prepared[1],
        "by_id": by_id,
        "update_own": update_own,
        "update_other": update_other,
        "note_after": note_after,
        "insert": {"affected": insert_affected, "rows": rows_json(&inserted_rows)},
        "denials": denials,
        "extra": {
            "insert_id": insert_id,
            "update_same": update_same,
            "text_reads": {
                "tenants": text_tenants,
                "star_customers": {"columns": text_columns, "rows": rows_json(&text_star_rows)},
                "by_id": text_by_id,
            },
        },
    })
}

fn rows_json(rows: &[Row]) -> Value {
    Value::Array(rows.iter().map(row_json).collect())
}

/// A row as the text a report compares: text-protocol bytes as they are, binary-protocol
/// integers and dates formatted as MariaDB prints them.
fn row_json(row: &Row) -> Value {
    Value::Array(
        (0..row.len())
            .map(|i| match row.as_ref(i).expect("a value") {
                MyValue::NULL => Value::Null,
                MyValue::Bytes(b) => json!(String::from_utf8_lossy(b)),
                MyValue::Int(n) => json!(n.to_string()),
                MyValue::UInt(n) => json!(n.to_string()),
                MyValue::Date(y, m, d, 0, 0, 0, 0) => json!(format!("{y:04}-{m:02}-{d:02}")),
                other => json!(format!("{other:?}")),
            })
            .collect(),
    )
}

// --- running client programs and reading the backend ---------------------------------------

/// Rows of `sql` run on the backend directly (not through the gateway), every value as text
/// (NULL as `"NULL"`).
fn backend_rows(db: &str, sql: &str) -> Vec<Vec<String>> {
    shared_mariadb()
        .rows(db, sql)
        .expect("reads the backend")
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}
