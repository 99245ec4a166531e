//! Real node drivers and ORMs writing and reading through the MySQL door (issue 16), against
//! MariaDB: mysql2's `execute()` (a prepared statement, every value bound, the tenant's too),
//! Sequelize 6 (mysql dialect on mysql2: `Model.create`, `findAll`, `update`, `bulkCreate`), and
//! mysql2 reading JSON, UUID and INET6 columns as a direct connection to the same server gives
//! them (MariaDB's extended column metadata, forwarded by the door).
//!
//! The `agent_support` token for acme may INSERT reservations; the row filter pins `tenant_id`.
//! A bound tenant value is written only when it is the token's (checked at every
//! COM_STMT_EXECUTE); another tenant's value, in one row, in one row of several, or in an upsert,
//! is refused with nothing written, which each test checks on the table through a direct
//! connection. Each client program (`integration/clients/*.js`) drives its library as the
//! library's documentation shows and prints a JSON report naming the library's version (checked
//! against `integration/clients/node_modules`, and shown in every assertion message).

use std::process::Command;

use serde_json::{json, Value};
use sluice_integration::clients::{json_report, npm_version, require};
use sluice_integration::rental::{seed_mariadb, ROLES};
use sluice_integration::{shared_mariadb, Gateway, GatewayOptions};

/// Reservations seeded in all, and acme's.
const SEEDED: usize = 27;
const SEEDED_ACME: i64 = 15;
/// The first id MariaDB gives an inserted reservation (the schema's AUTO_INCREMENT).
const FIRST_ID: i64 = 1000;

/// A gateway with the MySQL door in front of a freshly seeded rental database, and an
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

    /// Runs `my_orm_check.js <driver>` through the gateway; the report must name `package` at
    /// the installed version. Returns the report and how to name the client in messages.
    fn report(&self, driver: &str, package: &str) -> (Value, String) {
        require(
            Command::new("node").args(["-e", &format!("require('{package}')")]),
            &format!("{package}: apt-get install nodejs npm, then `npm ci` in integration/clients"),
        );
        let client = format!("{package} {}", npm_version(package));
        let report = json_report(
            Command::new("node")
                .arg("my_orm_check.js")
                .arg(driver)
                .arg(self.gw.mysql_url(&self.token)),
            &format!("my_orm_check.js {driver} ({client})"),
        );
        assert_eq!(report["client"], json!(client), "{report:#}");
        (report, client)
    }

    /// The reservations rows past the seeded ones and those with `orm-` notes, on a direct
    /// connection: id, tenant_id, status, notes. And the table's row count.
    fn backend(&self) -> (Vec<Vec<Option<String>>>, usize) {
        let my = shared_mariadb();
        let rows = my
            .rows(
                &self.db,
                &format!(
                    "SELECT id, tenant_id, status, notes FROM reservations \
                     WHERE id >= {FIRST_ID} OR notes LIKE 'orm-%' ORDER BY id"
                ),
            )
            .expect("reads the backend");
        let count = my
            .rows(&self.db, "SELECT count(*) FROM reservations")
            .expect("counts on the backend");
        let count = count[0][0]
            .as_deref()
            .unwrap_or("0")
            .parse()
            .expect("a count");
        (rows, count)
    }

    /// The backend holds exactly `rows` (id, tenant, status, notes) past the seeded ones.
    fn assert_backend(&self, rows: &[[&str; 4]], client: &str) {
        let (got, count) = self.backend();
        let want: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
            .collect();
        assert_eq!(got, want, "{client}: rows written, on a direct connection");
        assert_eq!(
            count,
            SEEDED + rows.len(),
            "{client}: reservations on the backend"
        );
    }
}

/// A refused write's outcome in a report, with the rule its message must end in.
fn assert_refused(report: &Value, step: &str, code: u16, rule: &str, client: &str) {
    let shown = format!("{client}: {report:#}");
    let got = &report[step];
    assert_eq!(got["code"], json!(code), "{step}: {shown}");
    assert_eq!(got["sqlstate"], json!("42000"), "{step}: {shown}");
    let message = got["message"].as_str().unwrap_or_default();
    assert!(
        message.ends_with(&format!("[sluice: {rule}]")),
        "{step}: {message:?}: {shown}"
    );
}

#[test]
fn mysql2_execute_writes_only_the_tokens_tenant() {
    let f = Fixture::start();
    let (report, client) = f.report("mysql2", "mysql2");
    let shown = format!("{client}: {report:#}");
    assert_eq!(
        report["inserted"],
        json!({"affected": 1, "id": FIRST_ID}),
        "{shown}"
    );
    assert_refused(&report, "globex", 1142, "write_not_confinable", &client);
    assert!(
        report["globex"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("must hold the token's value acme")),
        "{shown}"
    );
    assert_refused(&report, "mixed_rows", 1142, "write_not_confinable", &client);
    // ON DUPLICATE KEY UPDATE and REPLACE on a filtered table are refused whatever the values
    // (README); a tenant bound in the SELECT list of INSERT … SELECT is checked as in VALUES.
    assert_refused(&report, "upsert", 1142, "write_not_confinable", &client);
    assert_refused(&report, "replace", 1142, "forbidden_operation", &client);
    assert_refused(
        &report,
        "insert_select",
        1142,
        "write_not_confinable",
        &client,
    );
    assert_eq!(
        report["read_back"],
        json!([[FIRST_ID, "acme", "orm-mysql2"]]),
        "{shown}"
    );
    assert_eq!(report["after"], json!(SEEDED_ACME + 1), "{shown}");
    f.assert_backend(&[["1000", "acme", "booked", "orm-mysql2"]], &client);
}

#[test]
fn sequelize_creates_finds_and_updates_only_the_tokens_tenant() {
    let f = Fixture::start();
    let (report, client) = f.report("sequelize", "sequelize");
    let shown = format!("{client}: {report:#}");
    assert_eq!(report["id"], json!(FIRST_ID), "{shown}");
    assert_refused(&report, "globex", 1142, "write_not_confinable", &client);
    // bulkCreate writes its rows inline and NULL for the id, a column the role may not INSERT:
    // refused before the tenants are looked at (NULL is not DEFAULT: on a column without
    // AUTO_INCREMENT it writes NULL).
    assert_refused(&report, "bulk_mixed", 1143, "column_not_granted", &client);
    assert_eq!(report["updated"], json!(1), "{shown}");
    // tenant_id is not among the role's UPDATE columns.
    assert_refused(
        &report,
        "update_tenant",
        1143,
        "column_not_granted",
        &client,
    );
    assert_eq!(
        report["found"],
        json!([[
            FIRST_ID,
            "acme",
            "active",
            "orm-sequelize",
            "2026-05-01",
            "150.25"
        ]]),
        "{shown}"
    );
    assert_eq!(report["count"], json!(SEEDED_ACME + 1), "{shown}");
    f.assert_backend(&[["1000", "acme", "active", "orm-sequelize"]], &client);
    // Sequelize's set-up statement at connect ran through the gateway (it is allowlisted).
    let audit = f.gw.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["statement"] == "SET time_zone = '+00:00'" && l["decision"] == "allow"),
        "{client}: the SET time_zone Sequelize sends at connect: {:#?}",
        report["statements"]
    );
}

/// A table of JSON, UUID and INET6 columns, and a hidden one whose values are canaries.
const DOCUMENTS: &str = r#"
CREATE TABLE documents (
    id        INT AUTO_INCREMENT PRIMARY KEY,
    tenant_id VARCHAR(32) NOT NULL,
    body      JSON,
    ref       UUID,
    addr      INET6,
    secret    JSON
) ENGINE=InnoDB;
INSERT INTO documents VALUES
 (1, 'acme', '{"a": 1, "tags": ["x", "y"]}', '123e4567-e89b-12d3-a456-426614174000', '::1', '{"canary": 1}'),
 (2, 'globex', '{"a": 2, "canary": true}', '00000000-0000-0000-0000-0000000000aa', '::2', '{"canary": 2}'),
 (3, 'acme', NULL, NULL, NULL, NULL),
 (4, 'acme', '[1, "a", null]', '123e4567-e89b-12d3-a456-426614174001', '::ffff:10.0.0.1', '{"canary": 4}');
"#;

const DOCUMENT_ROLES: &str = r#"
roles:
  reader:
    tables:
      documents: [SELECT]
    columns:
      documents:
        SELECT: [id, tenant_id, body, ref, addr]
    filters:
      documents: "tenant_id = {{ token.tenant_id }}"
"#;

/// mysql2 reads JSON columns (and JSON functions' results) through the gateway as objects and
/// UUID/INET6 columns with their type names, as it does on a direct connection to the same
/// MariaDB: the door forwards the server's extended column metadata (`format=json`), offered to
/// the client only because its backend connection has it. Before, the gateway dropped it and
/// mysql2 returned the JSON text as a string. Each statement runs with `query` and `execute`;
/// the direct connection runs the same statement with acme's filter written in. The metadata
/// carries nothing of the hidden column or of the tables behind the confinement: every column
/// definition names only the table and columns the client named.
#[test]
fn mysql2_reads_json_and_uuid_columns_as_a_direct_connection_does() {
    let my = shared_mariadb();
    let db = my.create_unique_database("documents").expect("database");
    my.exec(&db, DOCUMENTS).expect("documents");
    let gw = Gateway::start_mysql(&my.url(&db), &db, DOCUMENT_ROLES, GatewayOptions::default())
        .expect("gateway starts");
    let token = gw.token("reader", Some("acme"), 600);
    require(
        Command::new("node").args(["-e", "require('mysql2')"]),
        "mysql2: apt-get install nodejs npm, then `npm ci` in integration/clients",
    );
    let client = format!("mysql2 {}", npm_version("mysql2"));
    // (name, through the gateway, directly, parameters)
    let statements = [
        (
            "plain",
            "SELECT id, body, ref, addr FROM documents ORDER BY id",
            "SELECT id, body, ref, addr FROM documents WHERE tenant_id = 'acme' ORDER BY id",
            json!([]),
        ),
        // LIKE is not proven leakproof: the gateway fences the derived table (materialized).
        (
            "fenced",
            "SELECT d.id, d.body FROM documents AS d WHERE d.body LIKE ? ORDER BY d.id",
            "SELECT d.id, d.body FROM documents AS d WHERE d.tenant_id = 'acme' \
             AND d.body LIKE ? ORDER BY d.id",
            json!(["%a%"]),
        ),
        (
            "functions",
            "SELECT JSON_OBJECT('id', id, 'body', body) AS j, JSON_EXTRACT(body, '$.tags') AS t \
             FROM documents WHERE id = ?",
            "SELECT JSON_OBJECT('id', id, 'body', body) AS j, JSON_EXTRACT(body, '$.tags') AS t \
             FROM documents WHERE id = ?",
            json!([1]),
        ),
    ];
    let run = |url: &str, through: bool| {
        let list: Vec<Value> = statements
            .iter()
            .map(|(name, gw_sql, direct_sql, params)| {
                json!([name, if through { gw_sql } else { direct_sql }, params])
            })
            .collect();
        json_report(
            Command::new("node")
                .arg("mysql2_json_check.js")
                .arg(url)
                .arg(Value::Array(list).to_string()),
            &format!("mysql2_json_check.js ({client})"),
        )
    };
    let through = run(&gw.mysql_url(&token), true);
    let direct = run(&my.url(&db), false);
    let shown = format!("{client}\nthrough the gateway: {through:#}\ndirect: {direct:#}");
    assert_eq!(through["client"], json!(client), "{shown}");
    assert_eq!(direct["extended_metadata"], json!(true), "{shown}");
    assert_eq!(through["extended_metadata"], json!(true), "{shown}");
    assert_eq!(through["results"], direct["results"], "{shown}");
    // What that means for a program: objects, not JSON text.
    assert_eq!(
        through["results"]["plain (execute)"]["rows"][0]["body"],
        json!({"type": "object", "value": {"a": 1, "tags": ["x", "y"]}}),
        "{shown}"
    );
    assert_eq!(
        through["results"]["functions (query)"]["rows"][0]["j"]["type"],
        json!("object"),
        "{shown}"
    );
    let text = through.to_string();
    assert!(
        !text.contains("canary") && !text.contains("secret"),
        "{shown}"
    );
    assert!(!text.contains("globex"), "{shown}");
}
