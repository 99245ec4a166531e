//! Scoped catalogs seen by real clients of the JVM, node and the command line: knex (with pg and
//! with mysql2), PgJDBC and MariaDB Connector/J (`DatabaseMetaData`), and the mariadb CLI's SHOW
//! statements, through the gateway against the scoped-catalog fixture (`sluice_integration::
//! catalog`): role `agent`, tenant-a, which sees `customers` and `orders` without their
//! `*_canary` columns and never `vault_canary`.
//!
//! Each test checks exact values (table lists, column lists, key columns) and scans the client's
//! whole output (stdout and stderr) for the canary word that every hidden name and other
//! tenant's value holds. A client that is not installed fails its test with what to install.
//!
//! The Java program (`clients/JdbcCatalogCheck.java`) is compiled with javac at test time into
//! a scratch directory, against Debian's driver jars (`libpostgresql-jdbc-java`,
//! `libmariadb-java`; `scripts/test` installs them). MariaDB Connector/J 2.7 needs one
//! connection option through the gateway's MySQL door:
//! - `useSsl=false`: on a plain loopback connection the door asks for `mysql_clear_password`
//!   (the token is the password), which Connector/J refuses without TLS unless told that the
//!   connection is plain on purpose;
//! - nothing else: its set-up statement `set autocommit=1, sql_mode =
//!   concat(@@sql_mode,',STRICT_TRANS_TABLES')` is accepted (a mode that changes no parsing may
//!   be added to the pinned ones).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};
use sluice_integration::catalog::{
    assert_no_canary, seed_mariadb, seed_pg, ROLES, ROLES_MARIADB, TENANT,
};
use sluice_integration::clients::{clients_dir, require, run};
use sluice_integration::{process_scratch_dir, shared_mariadb, shared_pg, Gateway, GatewayOptions};

/// Debian's PgJDBC jar (`apt-get install libpostgresql-jdbc-java`).
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";
/// Debian's MariaDB Connector/J jar (`apt-get install libmariadb-java`).
const MARIADB_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

/// A gateway with the PostgreSQL door in front of a freshly seeded fixture database.
fn pg_gateway() -> (Gateway, String) {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seeds the catalog fixture");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default())
        .expect("gateway starts");
    let token = gw.token("agent", Some(TENANT), 3600);
    (gw, token)
}

/// A gateway with the MySQL door in front of a freshly seeded fixture database.
fn mariadb_gateway() -> (Gateway, String) {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seeds the catalog fixture");
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES_MARIADB, GatewayOptions::default())
        .expect("gateway starts");
    let token = gw.token("agent", Some(TENANT), 3600);
    (gw, token)
}

/// The whole output of a client run, for the canary scan.
fn whole_output(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a client program that prints one JSON report, scans all it printed for canaries, and
/// returns the report.
fn checked_report(cmd: &mut Command, what: &str) -> Value {
    let output = run(cmd.stdin(Stdio::null()), what, &[]);
    assert_no_canary(what, &whole_output(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} did not print a JSON report ({e})\n{}",
            whole_output(&output)
        )
    })
}

// --- knex --------------------------------------------------------------------------------------

fn require_knex() {
    require(
        Command::new("node").args(["-e", "require('knex'); require('pg'); require('mysql2')"]),
        "knex: apt-get install nodejs npm, then `npm ci` in integration/clients",
    );
}

/// What knex reports on either backend, apart from column types.
fn assert_knex_common(report: &Value) {
    let shown = format!("{report:#}");
    assert_eq!(report["has_customers"], json!(true), "{shown}");
    assert_eq!(report["has_orders"], json!(true), "{shown}");
    assert_eq!(report["has_vault"], json!(false), "{shown}");
    assert_eq!(report["has_email"], json!(true), "{shown}");
    assert_eq!(report["has_ssn"], json!(false), "{shown}");
    assert_eq!(report["vault"], json!([]), "{shown}");
    assert_eq!(report["names"], json!(["Alice"]), "{shown}");
}

/// knex with pg: hasTable / hasColumn / columnInfo read information_schema.tables and columns.
#[test]
fn knex_pg() {
    require_knex();
    let (gw, token) = pg_gateway();
    let report = checked_report(
        Command::new("node")
            .arg("knex_catalog_check.js")
            .arg("pg")
            .arg(gw.pg_url(&token)),
        "knex (pg)",
    );
    assert_knex_common(&report);
    let shown = format!("{report:#}");
    // [name, type, nullable, default], by name.
    assert_eq!(
        report["customers"],
        json!([
            ["brand", "USER-DEFINED", true, null],
            ["created_at", "timestamp with time zone", false, "now()"],
            ["email", "text", true, null],
            [
                "id",
                "integer",
                false,
                "nextval('customers_id_seq'::regclass)"
            ],
            ["name", "text", false, "'anon'::text"],
            ["tags", "ARRAY", true, null],
            ["tenant_id", "text", false, null],
        ]),
        "{shown}"
    );
    assert_eq!(
        report["orders"],
        json!([
            ["customer_id", "integer", false, null],
            ["id", "integer", false, "nextval('orders_id_seq'::regclass)"],
            ["tenant_id", "text", false, null],
            ["total", "numeric", false, null],
        ]),
        "{shown}"
    );
}

/// knex with mysql2: the same through the MySQL door (information_schema.TABLES / COLUMNS).
#[test]
fn knex_mysql2() {
    require_knex();
    let (gw, token) = mariadb_gateway();
    let report = checked_report(
        Command::new("node")
            .arg("knex_catalog_check.js")
            .arg("mysql2")
            .arg(gw.mysql_url(&token)),
        "knex (mysql2)",
    );
    assert_knex_common(&report);
    let shown = format!("{report:#}");
    assert_eq!(
        report["customers"],
        json!([
            ["brand", "enum", true, null],
            ["created_at", "datetime", false, "current_timestamp()"],
            ["email", "varchar", true, null],
            ["id", "int", false, null],
            ["name", "varchar", false, "'anon'"],
            ["tenant_id", "varchar", false, null],
        ]),
        "{shown}"
    );
    assert_eq!(
        report["orders"],
        json!([
            ["customer_id", "int", false, null],
            ["id", "int", false, null],
            ["tenant_id", "varchar", false, null],
            ["total", "decimal", false, null],
        ]),
        "{shown}"
    );
}

// --- JDBC --------------------------------------------------------------------------------------

/// The directory holding `JdbcCatalogCheck.class`, compiled once per test process.
fn jdbc_classes() -> &'static PathBuf {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        require(
            Command::new("javac").arg("-version"),
            "a JDK: apt-get install default-jdk-headless",
        );
        let dir = process_scratch_dir("jdbc").expect("a scratch directory");
        run(
            Command::new("javac")
                .arg("-d")
                .arg(&dir)
                .arg(clients_dir().join("JdbcCatalogCheck.java"))
                .stdin(Stdio::null()),
            "javac JdbcCatalogCheck.java",
            &[],
        );
        dir
    })
}

fn require_jar(jar: &str, package: &str) {
    assert!(
        std::path::Path::new(jar).exists(),
        "client missing: install {package}: apt-get install {package} (provides {jar}; \
         ./scripts/test installs the clients when missing)"
    );
}

/// Runs JdbcCatalogCheck with `jar` on the class path.
fn jdbc_report(jar: &str, url: &str, token: &str, schema: &str, what: &str) -> Value {
    let classes = jdbc_classes();
    checked_report(
        Command::new("java")
            .arg("-cp")
            .arg(format!("{}:{jar}", classes.display()))
            .arg("JdbcCatalogCheck")
            .args([url, "agent", token, schema]),
        what,
    )
}

/// What both drivers must report, apart from the column lists.
fn assert_jdbc_common(report: &Value) {
    let shown = format!("{report:#}");
    assert_eq!(report["tables"], json!(["customers", "orders"]), "{shown}");
    assert_eq!(
        report["primary_keys"],
        json!({"customers": ["id"], "orders": ["id"]}),
        "{shown}"
    );
    assert_eq!(
        report["orders_imported_keys"],
        json!([["customer_id", "customers", "id"]]),
        "{shown}"
    );
    // vault_canary's key to customers is not shown: the table is not granted.
    assert_eq!(
        report["customers_exported_keys"],
        json!([["orders", "customer_id"]]),
        "{shown}"
    );
    assert_eq!(report["vault_columns"], json!([]), "{shown}");
    assert_eq!(report["names"], json!(["Alice"]), "{shown}");
}

/// PgJDBC's getTables / getColumns / getPrimaryKeys / getImportedKeys / getExportedKeys /
/// getIndexInfo.
#[test]
fn pgjdbc_database_metadata() {
    require_jar(PGJDBC_JAR, "libpostgresql-jdbc-java");
    let (gw, token) = pg_gateway();
    let url = format!(
        "jdbc:postgresql://{}:{}/{}?sslmode=disable",
        gw.pg_addr.ip(),
        gw.pg_addr.port(),
        gw.database
    );
    let report = jdbc_report(PGJDBC_JAR, &url, &token, "public", "PgJDBC");
    assert_eq!(report["driver"], json!("PostgreSQL JDBC Driver"));
    assert_jdbc_common(&report);
    // Not customers_ssn_canary_idx (a hidden column), nor customers_email_when (a unique index
    // on email whose predicate reads ssn_canary).
    assert_eq!(
        report["customers_indexes"],
        json!([["customers_pkey", "id"], ["customers_tenant", "tenant_id"]]),
        "{report:#}"
    );
    assert_eq!(
        report["columns"],
        json!({
            "customers": ["id", "tenant_id", "name", "email", "brand", "tags", "created_at"],
            "orders": ["id", "tenant_id", "customer_id", "total"],
        }),
        "{report:#}"
    );
}

/// MariaDB Connector/J's getTables / getColumns / getPrimaryKeys / getImportedKeys /
/// getExportedKeys / getIndexInfo (information_schema), with the options the module comment
/// explains.
#[test]
fn mariadb_connector_j_database_metadata() {
    require_jar(MARIADB_JAR, "libmariadb-java");
    let (gw, token) = mariadb_gateway();
    let addr = gw.mysql_addr.expect("a MySQL door");
    let url = format!(
        "jdbc:mariadb://{}:{}/{}?useSsl=false",
        addr.ip(),
        addr.port(),
        gw.database
    );
    let report = jdbc_report(
        MARIADB_JAR,
        &url,
        &token,
        &gw.database,
        "MariaDB Connector/J",
    );
    assert_eq!(report["driver"], json!("MariaDB Connector/J"));
    assert_jdbc_common(&report);
    // Not customers_ssn_canary_idx nor customers_name_canary (name, ssn_canary).
    assert_eq!(
        report["customers_indexes"],
        json!([
            ["customers_email", "email"],
            ["PRIMARY", "id"],
            ["customers_tenant", "tenant_id"]
        ]),
        "{report:#}"
    );
    assert_eq!(
        report["columns"],
        json!({
            "customers": ["id", "tenant_id", "name", "email", "brand", "created_at"],
            "orders": ["id", "tenant_id", "customer_id", "total"],
        }),
        "{report:#}"
    );
}

// --- the mariadb CLI ---------------------------------------------------------------------------

/// The installed MariaDB command-line client (`mariadb`, or `mysql` on older systems).
fn mariadb_cli() -> &'static str {
    ["mariadb", "mysql"]
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
        })
}

/// A SHOW statement's answer in `--batch` mode: the header, then the rows, tab-separated.
#[derive(Debug, PartialEq)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Runs `sql` with the CLI (`connection` options after `--no-defaults`), scans its whole output
/// for canaries when `scan`, and parses the answer.
fn cli_table(connection: &[String], sql: &str, scan: bool) -> Table {
    let cli = mariadb_cli();
    let output = run(
        Command::new(cli)
            // First: the machine's option files must not change the client's settings.
            .arg("--no-defaults")
            .args(connection)
            .args(["--batch", "-e", sql])
            .stdin(Stdio::null()),
        &format!("{cli} -e {sql:?}"),
        &[],
    );
    if scan {
        assert_no_canary(&format!("the mariadb CLI: {sql}"), &whole_output(&output));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout
        .lines()
        .map(|l| l.split('\t').map(String::from).collect());
    Table {
        header: lines.next().unwrap_or_default(),
        rows: lines.collect(),
    }
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// `SHOW TABLES`, `DESCRIBE`, `SHOW FULL COLUMNS`, `SHOW INDEX` and `SHOW CREATE TABLE` through
/// the gateway: exactly the visible parts; the same shape as a direct connection's answer.
#[test]
fn mariadb_cli_show_statements() {
    let (gw, token) = mariadb_gateway();
    let addr = gw.mysql_addr.expect("a MySQL door");
    let my = shared_mariadb();
    let through = vec![
        format!("--host={}", addr.ip()),
        format!("--port={}", addr.port()),
        "--user=agent".to_string(),
        format!("--password={token}"),
        format!("--database={}", gw.database),
        // The 10.11 client asks for TLS whenever the server offers it: plain needs --skip-ssl.
        "--skip-ssl".to_string(),
    ];
    let direct = vec![
        format!("--host={}", my.host()),
        format!("--port={}", my.port()),
        "--user=root".to_string(),
        format!("--database={}", gw.database),
        "--skip-ssl".to_string(),
    ];
    let both = |sql: &str| {
        (
            cli_table(&through, sql, true),
            cli_table(&direct, sql, false),
        )
    };
    // The direct answer's rows that hold nothing hidden.
    let visible = |t: &Table| -> Vec<Vec<String>> {
        t.rows
            .iter()
            .filter(|r| !r.iter().any(|v| v.to_lowercase().contains("canary")))
            .cloned()
            .collect()
    };

    let (gateway, backend) = both("SHOW TABLES");
    let db = &gw.database;
    assert_eq!(gateway.header, vec![format!("Tables_in_{db}")]);
    assert_eq!(gateway.header, backend.header);
    assert_eq!(gateway.rows, strings(&[&["customers"], &["orders"]]));
    assert_eq!(gateway.rows, visible(&backend));

    let (gateway, backend) = both("DESCRIBE customers");
    assert_eq!(gateway.header, backend.header);
    let described = strings(&[
        &["id", "int(11)", "NO", "PRI", "NULL", "auto_increment"],
        &["tenant_id", "varchar(32)", "NO", "MUL", "NULL", ""],
        // MariaDB shows `MUL` for name: it leads customers_name_canary (name, ssn_canary),
        // an index on a hidden column, which the role does not see.
        &["name", "varchar(80)", "NO", "", "anon", ""],
        &["email", "varchar(120)", "YES", "UNI", "NULL", ""],
        &["brand", "enum('visa','amex')", "YES", "", "NULL", ""],
        &[
            "created_at",
            "datetime",
            "NO",
            "",
            "current_timestamp()",
            "",
        ],
    ]);
    assert_eq!(gateway.rows, described);
    let mut expected_direct = described.clone();
    expected_direct[2][3] = "MUL".into();
    assert_eq!(visible(&backend), expected_direct);

    let (gateway, backend) = both("SHOW FULL COLUMNS FROM customers");
    assert_eq!(gateway.header, backend.header);
    // Field, Type, Collation, Null, Key, Default, Extra, Privileges, Comment: the privileges
    // are the role's, not the backend account's.
    let ci = "utf8mb4_general_ci";
    assert_eq!(
        gateway.rows,
        strings(&[
            &[
                "id",
                "int(11)",
                "NULL",
                "NO",
                "PRI",
                "NULL",
                "auto_increment",
                "select",
                ""
            ],
            &[
                "tenant_id",
                "varchar(32)",
                ci,
                "NO",
                "MUL",
                "NULL",
                "",
                "select,insert",
                ""
            ],
            &[
                "name",
                "varchar(80)",
                ci,
                "NO",
                "",
                "anon",
                "",
                "select,insert,update",
                ""
            ],
            &[
                "email",
                "varchar(120)",
                ci,
                "YES",
                "UNI",
                "NULL",
                "",
                "select,insert",
                ""
            ],
            &[
                "brand",
                "enum('visa','amex')",
                ci,
                "YES",
                "",
                "NULL",
                "",
                "select",
                ""
            ],
            &[
                "created_at",
                "datetime",
                "NULL",
                "NO",
                "",
                "current_timestamp()",
                "",
                "select",
                ""
            ],
        ])
    );
    let fields = |rows: &[Vec<String>]| rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>();
    assert_eq!(fields(&gateway.rows), fields(&visible(&backend)));

    let (gateway, backend) = both("SHOW INDEX FROM customers");
    // MariaDB 10.6+ adds `Ignored` after Index_comment; the gateway's answer (from
    // information_schema.STATISTICS) stops at Index_comment.
    let header = [
        "Table",
        "Non_unique",
        "Key_name",
        "Seq_in_index",
        "Column_name",
        "Collation",
        "Cardinality",
        "Sub_part",
        "Packed",
        "Null",
        "Index_type",
        "Comment",
        "Index_comment",
    ];
    assert_eq!(gateway.header, header);
    assert_eq!(backend.header[..header.len()], header);
    // Cardinality is a statistic: withheld.
    assert_eq!(
        gateway.rows,
        strings(&[
            &[
                "customers",
                "0",
                "PRIMARY",
                "1",
                "id",
                "A",
                "NULL",
                "NULL",
                "NULL",
                "",
                "BTREE",
                "",
                ""
            ],
            &[
                "customers",
                "0",
                "customers_email",
                "1",
                "email",
                "A",
                "NULL",
                "NULL",
                "NULL",
                "YES",
                "BTREE",
                "",
                ""
            ],
            &[
                "customers",
                "1",
                "customers_tenant",
                "1",
                "tenant_id",
                "A",
                "NULL",
                "NULL",
                "NULL",
                "",
                "BTREE",
                "",
                ""
            ],
        ])
    );
    let keys = |rows: &[Vec<String>]| {
        rows.iter()
            .map(|r| (r[2].clone(), r[4].clone()))
            .collect::<Vec<_>>()
    };
    // The direct answer also lists customers_name_canary's first column (name): the index is
    // hidden as a whole because its second column is.
    let direct_keys: Vec<_> = keys(&visible(&backend))
        .into_iter()
        .filter(|(k, _)| k != "customers_name_canary")
        .collect();
    assert_eq!(keys(&gateway.rows), direct_keys);

    let (gateway, backend) = both("SHOW CREATE TABLE customers");
    assert_eq!(gateway.header, ["Table", "Create Table"]);
    assert_eq!(gateway.header, backend.header);
    assert_eq!(gateway.rows.len(), 1, "{gateway:?}");
    assert_eq!(gateway.rows[0][0], "customers");
    let definition = [
        "CREATE TABLE `customers` (",
        "  `id` int(11) NOT NULL AUTO_INCREMENT,",
        "  `tenant_id` varchar(32) NOT NULL,",
        "  `name` varchar(80) NOT NULL DEFAULT 'anon',",
        "  `email` varchar(120) DEFAULT NULL,",
        "  `brand` enum('visa','amex') DEFAULT NULL,",
        "  `created_at` datetime NOT NULL DEFAULT current_timestamp(),",
        "  PRIMARY KEY (`id`),",
        "  UNIQUE KEY `customers_email` (`email`),",
        "  KEY `customers_tenant` (`tenant_id`)",
        ")",
    ]
    .join("\\n");
    assert_eq!(gateway.rows[0][1], definition);
    // Every line of the gateway's definition (but its last, where the backend's table options
    // follow) is one of the backend's own.
    let backend_lines: Vec<&str> = backend.rows[0][1].split("\\n").collect();
    for line in definition.split("\\n").filter(|l| *l != ")") {
        let line = line.trim_end_matches(',');
        assert!(
            backend_lines
                .iter()
                .any(|b| b.trim_end_matches(',') == line),
            "{line:?} is not in the backend's definition {backend_lines:?}"
        );
    }
}
