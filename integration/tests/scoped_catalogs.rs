//! Scoped catalogs (`policy/src/engine/catalog.rs`): what schema discovery through the gateway
//! shows, and what it must never show.
//!
//! The fixture (`sluice_integration::catalog`) names every hidden object and every other
//! tenant's value with the word `canary`. The tests:
//! - drive psql's `\dt`, `\d`, `\d+`, `\dn` and `\l` through the gateway and compare each with
//!   the same command on a direct connection: equal line for line once the direct output's
//!   lines naming hidden objects are dropped (owners and other databases aside, which the
//!   gateway does not show);
//! - drive the mariadb CLI's SHOW statements with exact expected rows;
//! - read every served catalog relation whole, on both engines, and find no canary;
//! - attack: catalog functions called with hidden objects' OIDs (taken from a direct
//!   connection), regclass/regtype casts and lookups of hidden names, joins of catalogs with
//!   data tables, conditions that would fail on hidden catalog rows, statistics, writes and
//!   locks on catalogs, catalogs that are not served.

use std::process::{Command, Stdio};

use sluice_integration::catalog::{self, assert_no_canary, TENANT};
use sluice_integration::clients::{require, run};
use sluice_integration::{shared_mariadb, shared_pg, Gateway, GatewayOptions};

fn pg_gateway() -> (Gateway, String) {
    let pg = shared_pg();
    let db = catalog::seed_pg(pg).expect("fixture");
    let gw = Gateway::start_pg(&pg.url(&db), &db, catalog::ROLES, GatewayOptions::default())
        .expect("gateway starts");
    (gw, db)
}

fn mariadb_gateway() -> (Gateway, String) {
    let my = shared_mariadb();
    let db = catalog::seed_mariadb(my).expect("fixture");
    let gw = Gateway::start_mysql(
        &my.url(&db),
        &db,
        catalog::ROLES_MARIADB,
        GatewayOptions::default(),
    )
    .expect("gateway starts");
    (gw, db)
}

/// psql's unaligned output of one backslash command.
fn psql(dsn: &str, command: &str) -> String {
    let out = run(
        Command::new("psql")
            .stdin(Stdio::null())
            .arg(dsn)
            .args(["-X", "-A", "-F", "|", "-c", command]),
        &format!("psql {command}"),
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "psql {command}: {err}");
    text
}

/// Drops the field at `index` (0-based) of every `|`-separated line (psql's Owner column).
fn without_field(text: &str, index: usize) -> String {
    text.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split('|').collect();
            if f.len() > index {
                f.remove(index);
            }
            f.join("|") + "\n"
        })
        .collect()
}

/// The direct output with the lines naming hidden objects dropped, and psql's row count
/// adjusted to the rows kept.
fn visible_part(direct: &str) -> String {
    let kept: Vec<&str> = direct
        .lines()
        .filter(|l| !l.to_lowercase().contains(catalog::CANARY))
        .collect();
    let dropped_rows = direct.lines().count() - kept.len();
    kept.iter()
        .map(
            |l| match l.strip_prefix('(').and_then(|r| r.strip_suffix(" rows)")) {
                Some(n) if dropped_rows > 0 => {
                    let n: usize = n.parse().expect("a row count");
                    let left = n - dropped_rows;
                    if left == 1 {
                        "(1 row)".to_string()
                    } else {
                        format!("({left} rows)")
                    }
                }
                _ => l.to_string(),
            },
        )
        .map(|l| l + "\n")
        .collect()
}

/// The text of a simple query's rows, one line per row, fields separated by `|`.
fn rows_text(messages: &[tokio_postgres::SimpleQueryMessage]) -> String {
    let mut text = String::new();
    for m in messages {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            for i in 0..r.len() {
                text.push_str(r.get(i).unwrap_or("NULL"));
                text.push('|');
            }
            text.push('\n');
        }
    }
    text
}

#[test]
fn psql_describes_exactly_the_scope() {
    require(
        Command::new("psql").arg("--version"),
        "psql: apt-get install postgresql-client",
    );
    let (gw, db) = pg_gateway();
    let token = gw.token("agent", Some(TENANT), 3600);
    let through = gw.pg_dsn(&token);
    let direct = shared_pg().url(&db);

    // \dt: the granted tables, as the direct listing shows them (owners are withheld).
    let dt = psql(&through, r"\dt");
    assert_no_canary(r"\dt", &dt);
    assert_eq!(
        without_field(&dt, 3),
        visible_part(&without_field(&psql(&direct, r"\dt"), 3)),
        r"\dt through the gateway"
    );
    assert!(dt.contains("public|customers|table|") && dt.contains("public|orders|table|"));

    // \d and \d+: columns, defaults, indexes, checks, foreign keys both ways, comments, as
    // the direct output without the hidden ones.
    for command in [
        r"\d customers",
        r"\d orders",
        r"\d+ customers",
        r"\d+ orders",
    ] {
        let through_out = psql(&through, command);
        assert_no_canary(command, &through_out);
        assert_eq!(
            through_out,
            visible_part(&psql(&direct, command)),
            "{command} through the gateway"
        );
    }
    let d = psql(&through, r"\d customers");
    for expected in [
        "customers_pkey",
        "customers_tenant",
        "orders_customer_id_fkey",
        "card_brand",
        "nextval('customers_id_seq'::regclass)",
    ] {
        assert!(d.contains(expected), "{expected} in \\d customers:\n{d}");
    }

    // A table the role may not see is not there at all.
    let out = Command::new("psql")
        .stdin(Stdio::null())
        .arg(&through)
        .args(["-X", "-A", "-c", r"\d vault_canary"])
        .output()
        .expect("psql runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("Did not find any relation named"),
        "\\d of an ungranted table: {all}"
    );

    // \dn: the schemas holding granted tables (owners withheld); \l: this database only.
    let dn = psql(&through, r"\dn");
    assert_eq!(
        without_field(&dn, 1),
        "List of schemas\nName\npublic\n(1 row)\n"
    );
    let l = psql(&through, r"\l");
    let rows: Vec<&str> = l.lines().filter(|r| r.contains('|')).skip(1).collect();
    assert_eq!(rows.len(), 1, "\\l lists this database only: {l}");
    assert!(rows[0].starts_with(&format!("{db}|")), "{l}");
    let direct_l = psql(&direct, r"\l");
    let direct_row = direct_l
        .lines()
        .find(|r| r.starts_with(&format!("{db}|")))
        .expect("the database in the direct \\l");
    assert_eq!(
        without_field(rows[0], 1),
        without_field(&without_field(direct_row, 1), 6)
            .trim_end()
            .to_string()
            + "|\n",
        "\\l's row (owner and access privileges withheld)"
    );
}

/// Every served relation read whole, as text.
const PG_CATALOGS: &[&str] = &[
    "pg_catalog.pg_class",
    "pg_catalog.pg_attribute",
    "pg_catalog.pg_namespace",
    "pg_catalog.pg_type",
    "pg_catalog.pg_index",
    "pg_catalog.pg_constraint",
    "pg_catalog.pg_attrdef",
    "pg_catalog.pg_description",
    "pg_catalog.pg_enum",
    "pg_catalog.pg_range",
    "pg_catalog.pg_inherits",
    "pg_catalog.pg_database",
    "pg_catalog.pg_settings",
    "pg_catalog.pg_policy",
    "pg_catalog.pg_trigger",
    "pg_catalog.pg_depend",
    "pg_catalog.pg_roles",
    "information_schema.tables",
    "information_schema.columns",
    "information_schema.schemata",
    "information_schema.table_constraints",
    "information_schema.key_column_usage",
    "information_schema.referential_constraints",
    "information_schema.constraint_column_usage",
    "information_schema.check_constraints",
];

#[tokio::test]
async fn every_pg_catalog_read_whole_shows_nothing_hidden() {
    let (gw, _db) = pg_gateway();
    let client = gw.client(&gw.token("agent", Some(TENANT), 3600)).await;
    for relation in PG_CATALOGS {
        let rows = client
            .simple_query(&format!("SELECT * FROM {relation}"))
            .await
            .unwrap_or_else(|e| panic!("{relation}: {}", sluice_integration::db_message(&e)));
        assert_no_canary(relation, &rows_text(&rows));
    }
    // What the catalogs do show: the granted tables, their visible columns, the visible type.
    let names = |sql: &'static str| {
        let client = &client;
        async move {
            let mut v: Vec<String> = client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {}", sluice_integration::db_message(&e)))
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(
        names("SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'").await,
        ["customers", "orders"]
    );
    assert_eq!(
        names("SELECT attname::text FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attnum > 0").await,
        ["brand", "created_at", "email", "id", "name", "tags", "tenant_id"]
    );
    assert_eq!(
        names("SELECT typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND typtype = 'e'").await,
        ["card_brand"]
    );
    assert_eq!(
        names(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'orders'"
        )
        .await,
        ["customer_id", "id", "tenant_id", "total"]
    );
    // Statistics are withheld: no row count, no page count.
    let row = client
        .query_one(
            "SELECT reltuples::float8, relpages FROM pg_class WHERE relname = 'customers'",
            &[],
        )
        .await
        .expect("pg_class");
    assert_eq!((row.get::<_, f64>(0), row.get::<_, i32>(1)), (-1.0, 0));
}

#[tokio::test]
async fn pg_catalog_attacks_find_nothing_hidden() {
    let (gw, db) = pg_gateway();
    let client = gw.client(&gw.token("agent", Some(TENANT), 3600)).await;
    // The hidden objects' OIDs, read directly.
    let direct = tokio_postgres::connect(&shared_pg().url(&db), tokio_postgres::NoTls)
        .await
        .expect("direct connection");
    tokio::spawn(direct.1);
    let oid = |sql: &'static str| {
        let direct = &direct.0;
        async move {
            direct
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get::<_, u32>(0)
        }
    };
    let hidden_index = oid("SELECT 'customers_ssn_canary_idx'::regclass::oid").await;
    let partial_index = oid("SELECT 'customers_email_when'::regclass::oid").await;
    let hidden_table = oid("SELECT 'vault_canary'::regclass::oid").await;
    let customers = oid("SELECT 'customers'::regclass::oid").await;
    let hidden_type = oid("SELECT 'kind_canary'::regtype::oid").await;
    let hidden_check =
        oid("SELECT oid FROM pg_constraint WHERE conname = 'orders_margin_canary_check'").await;
    let hidden_fk = oid(
        "SELECT oid FROM pg_constraint WHERE conrelid = 'vault_canary'::regclass AND contype = 'f'",
    )
    .await;
    let ssn_attnum = direct
        .0
        .query_one(
            "SELECT attnum FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'ssn_canary'",
            &[],
        )
        .await
        .expect("attnum")
        .get::<_, i16>(0);

    // Each answers NULL (or no row): never a hidden name, definition or comment.
    let nulls = [
        format!("SELECT pg_get_indexdef({hidden_index})"),
        format!("SELECT pg_get_indexdef({partial_index})"),
        format!("SELECT pg_get_indexdef({hidden_index}, 1, true)"),
        format!("SELECT pg_get_constraintdef({hidden_check})"),
        format!("SELECT pg_get_constraintdef({hidden_fk})"),
        format!("SELECT {hidden_table}::regclass::text"),
        format!("SELECT '{hidden_table}'::regclass::text"),
        format!("SELECT {hidden_type}::regtype::text"),
        format!("SELECT format_type({hidden_type}, -1)"),
        format!("SELECT col_description({customers}, {ssn_attnum})"),
        format!("SELECT obj_description({hidden_table}, 'pg_class')"),
        format!("SELECT pg_get_viewdef({hidden_table})"),
        format!("SELECT pg_table_is_visible({hidden_table})::text"),
        "SELECT to_regclass('vault_canary')::text".to_string(),
        "SELECT to_regclass('public.customers_ssn_canary_idx')::text".to_string(),
        "SELECT to_regtype('kind_canary')::text".to_string(),
        "SELECT pg_get_userbyid(10)::text".to_string(),
    ];
    for sql in &nulls {
        let row = client
            .query_one(sql.as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", sluice_integration::db_message(&e)));
        assert_eq!(row.get::<_, Option<String>>(0), None, "{sql}");
    }
    // An expression deparsed against another table cannot print that table's hidden columns
    // (customers_brand_check reads column 5, which in orders is margin_canary).
    let orders = oid("SELECT 'orders'::regclass::oid").await;
    for table in [customers, orders] {
        let rows = client
            .simple_query(&format!(
                "SELECT pg_get_expr(adbin, {table}) FROM pg_attrdef UNION ALL SELECT pg_get_expr(conbin, {table}) FROM pg_constraint"
            ))
            .await
            .expect("pg_get_expr");
        assert_no_canary(
            "pg_get_expr on other tables' expressions",
            &rows_text(&rows),
        );
    }
    // The fence: the client's conditions never run on hidden catalog rows, so neither an error
    // nor its message can tell whether one exists. (The divisor is not a constant, which
    // PostgreSQL would fold, and fail on, before reading any row.)
    for sql in [
        "SELECT relname FROM pg_class WHERE CASE WHEN relname LIKE '%canary%' THEN 1 / (length(relname) - length(relname)) ELSE 0 END = 0",
        "SELECT attname FROM pg_attribute WHERE CASE WHEN attname LIKE '%canary%' THEN 1 / (length(attname) - length(attname)) ELSE 0 END = 0",
        "SELECT typname FROM pg_type WHERE CASE WHEN typname LIKE '%canary%' THEN 1 / (length(typname) - length(typname)) ELSE 0 END = 0",
        "SELECT conname FROM pg_constraint WHERE CASE WHEN conname LIKE '%canary%' THEN 1 / (length(conname) - length(conname)) ELSE 0 END = 0",
        "SELECT column_name FROM information_schema.columns WHERE CASE WHEN column_name LIKE '%canary%' THEN 1 / (length(column_name) - length(column_name)) ELSE 0 END = 0",
    ] {
        let rows = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", sluice_integration::db_message(&e)));
        assert_no_canary(sql, &rows_text(&rows));
    }

    // Names written as literals must name what the role sees; refused like any other name.
    for (sql, written) in [
        ("SELECT 'vault_canary'::regclass", "vault_canary"),
        (
            "SELECT 'customers_ssn_canary_idx'::regclass",
            "customers_ssn_canary_idx",
        ),
        ("SELECT 'kind_canary'::regtype", "kind_canary"),
        (
            "SELECT pg_get_indexdef('customers_ssn_canary_idx'::regclass)",
            "customers_ssn_canary_idx",
        ),
    ] {
        let e = client.simple_query(sql).await.expect_err(sql);
        let message = sluice_integration::db_message(&e);
        assert_eq!(
            sluice_integration::sqlstate(&e),
            "42501",
            "{sql}: {message}"
        );
        // The message may repeat what the client wrote, nothing more.
        assert_no_canary(sql, &message.replace(written, "<written>"));
    }
    // A name bound as a parameter is turned into an OID first: a hidden name and a missing
    // one fail alike (no existence oracle).
    let bound = |name: &'static str| {
        let client = &client;
        async move {
            let e = client
                .query("SELECT $1::text::regclass::text", &[&name])
                .await
                .expect_err("a name is not an OID");
            sluice_integration::db_message(&e).replace(name, "<name>")
        }
    };
    assert_eq!(bound("vault_canary").await, bound("no_such_table").await);

    // The client's conditions run on visible catalog rows only: an error names none else.
    let e = client
        .simple_query("SELECT relname FROM pg_class WHERE relname::text::int = 1")
        .await
        .expect_err("names are not numbers");
    assert_no_canary(
        "a failing condition on pg_class",
        &sluice_integration::db_message(&e),
    );
    // A catalog joined with a data table: still confined on both sides.
    let rows = client
        .simple_query("SELECT c.relname, x.name, x.tenant_id FROM pg_class c JOIN customers x ON true WHERE c.relnamespace = 'public'::regnamespace")
        .await
        .expect("catalog join");
    let text = rows_text(&rows);
    assert_no_canary("a catalog joined with customers", &text);
    assert!(!text.contains("tenant-b"), "{text}");

    // Statistics, activity, accounts, sizes: not served.
    for sql in [
        "SELECT * FROM pg_stats",
        "SELECT * FROM pg_statistic",
        "SELECT * FROM pg_stat_user_tables",
        "SELECT * FROM pg_authid",
        "SELECT * FROM pg_stat_activity",
        "SELECT * FROM pg_statistic_ext_data",
        "SELECT pg_relation_size('customers')",
        "SELECT pg_total_relation_size('customers'::regclass)",
        "SELECT * FROM pg_class FOR UPDATE",
        "UPDATE pg_class SET relname = 'x'",
        "DELETE FROM pg_description",
        "INSERT INTO pg_description VALUES (1, 1, 0, 'x')",
    ] {
        let e = client.simple_query(sql).await.expect_err(sql);
        assert!(
            sluice_integration::sqlstate(&e) == "42501"
                || sluice_integration::sqlstate(&e) == "0A000",
            "{sql}: {}",
            sluice_integration::db_message(&e)
        );
    }
}

/// The mariadb CLI's output of one statement, tab-separated, with a header line.
fn mariadb_cli(gw: &Gateway, token: &str, db: &str, sql: &str) -> String {
    let addr = gw.mysql_addr.expect("the MySQL door");
    let out = run(
        Command::new("mariadb").stdin(Stdio::null()).args([
            "-h",
            &addr.ip().to_string(),
            "-P",
            &addr.port().to_string(),
            "-u",
            "agent",
            &format!("--password={token}"),
            "--ssl=0",
            "--batch",
            db,
            "-e",
            sql,
        ]),
        &format!("mariadb {sql}"),
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "mariadb {sql}: {err}");
    text
}

#[test]
fn mariadb_cli_show_statements_show_exactly_the_scope() {
    require(
        Command::new("mariadb").arg("--version"),
        "the mariadb client: apt-get install mariadb-client",
    );
    let (gw, db) = mariadb_gateway();
    let token = gw.token("agent", Some(TENANT), 3600);
    let cases: Vec<(&str, String)> = vec![
        (
            "SHOW TABLES",
            format!("Tables_in_{db}\ncustomers\norders\n"),
        ),
        (
            "SHOW FULL TABLES",
            format!("Tables_in_{db}\tTable_type\ncustomers\tBASE TABLE\norders\tBASE TABLE\n"),
        ),
        (
            "DESCRIBE customers",
            "Field\tType\tNull\tKey\tDefault\tExtra\n\
             id\tint(11)\tNO\tPRI\tNULL\tauto_increment\n\
             tenant_id\tvarchar(32)\tNO\tMUL\tNULL\t\n\
             name\tvarchar(80)\tNO\t\tanon\t\n\
             email\tvarchar(120)\tYES\tUNI\tNULL\t\n\
             brand\tenum('visa','amex')\tYES\t\tNULL\t\n\
             created_at\tdatetime\tNO\t\tcurrent_timestamp()\t\n"
                .to_string(),
        ),
        (
            "SHOW COLUMNS FROM orders",
            "Field\tType\tNull\tKey\tDefault\tExtra\n\
             id\tint(11)\tNO\tPRI\tNULL\tauto_increment\n\
             tenant_id\tvarchar(32)\tNO\t\tNULL\t\n\
             customer_id\tint(11)\tNO\tMUL\tNULL\t\n\
             total\tdecimal(10,2)\tNO\t\tNULL\t\n"
                .to_string(),
        ),
        (
            "SHOW DATABASES",
            format!("Database\n{db}\ninformation_schema\n"),
        ),
    ];
    for (sql, expected) in &cases {
        let out = mariadb_cli(&gw, &token, &db, sql);
        assert_no_canary(sql, &out);
        assert_eq!(&out, expected, "{sql}");
    }
    let index = mariadb_cli(&gw, &token, &db, "SHOW INDEX FROM customers");
    assert_no_canary("SHOW INDEX", &index);
    let keys: Vec<(&str, &str)> = index
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[2], f[4])
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("PRIMARY", "id"),
            ("customers_email", "email"),
            ("customers_tenant", "tenant_id")
        ]
    );
    let create = mariadb_cli(&gw, &token, &db, "SHOW CREATE TABLE orders");
    assert_no_canary("SHOW CREATE TABLE", &create);
    for expected in [
        r"`total` decimal(10,2) NOT NULL",
        r"PRIMARY KEY (`id`)",
        r"CONSTRAINT `orders_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`)",
    ] {
        assert!(create.contains(expected), "{expected} in {create}");
    }
    // An ungranted table: refused like any statement naming it, or empty like a missing one.
    let addr = gw.mysql_addr.expect("the MySQL door");
    let out = Command::new("mariadb")
        .stdin(Stdio::null())
        .args([
            "-h",
            &addr.ip().to_string(),
            "-P",
            &addr.port().to_string(),
            "-u",
            "agent",
            &format!("--password={token}"),
            "--ssl=0",
            "--batch",
            &db,
            "-e",
            "SHOW CREATE TABLE vault_canary; SHOW COLUMNS FROM vault_canary; SHOW INDEX FROM vault_canary",
        ])
        .output()
        .expect("mariadb runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1142"), "{text}");
    assert_no_canary(
        "SHOW of an ungranted table",
        &text.replace("vault_canary", "<the name the client wrote>"),
    );
}

const MYSQL_CATALOGS: &[&str] = &[
    "TABLES",
    "COLUMNS",
    "STATISTICS",
    "KEY_COLUMN_USAGE",
    "REFERENTIAL_CONSTRAINTS",
    "TABLE_CONSTRAINTS",
    "CHECK_CONSTRAINTS",
    "SCHEMATA",
    "VIEWS",
];

#[tokio::test]
async fn every_mysql_catalog_read_whole_shows_nothing_hidden() {
    use mysql_async::prelude::Queryable;
    let (gw, db) = mariadb_gateway();
    let mut conn = gw.mysql_conn(&gw.token("agent", Some(TENANT), 3600)).await;
    for relation in MYSQL_CATALOGS {
        let rows: Vec<mysql_async::Row> = conn
            .query(format!("SELECT * FROM information_schema.{relation}"))
            .await
            .unwrap_or_else(|e| panic!("{relation}: {e}"));
        let text = format!("{rows:?}");
        assert_no_canary(relation, &String::from_utf8_lossy(text.as_bytes()));
        // Row values come as bytes in the debug form; decode them too.
        for r in &rows {
            for i in 0..r.len() {
                if let Some(mysql_async::Value::Bytes(b)) = r.as_ref(i) {
                    assert_no_canary(relation, &String::from_utf8_lossy(b));
                }
            }
        }
    }
    let tables: Vec<String> = conn
        .query("SELECT TABLE_NAME FROM information_schema.TABLES ORDER BY 1")
        .await
        .expect("tables");
    assert_eq!(tables, ["customers", "orders"]);
    let stats: Vec<(Option<u64>, Option<u64>, Option<u64>)> = conn
        .query("SELECT TABLE_ROWS, DATA_LENGTH, AUTO_INCREMENT FROM information_schema.TABLES")
        .await
        .expect("statistics");
    assert!(stats.iter().all(|s| *s == (None, None, None)), "{stats:?}");
    let cardinality: Vec<Option<i64>> = conn
        .query("SELECT CARDINALITY FROM information_schema.STATISTICS")
        .await
        .expect("cardinality");
    assert!(cardinality.iter().all(Option::is_none));
    // Not served, or not this gateway's database.
    for sql in [
        "SELECT * FROM information_schema.PROCESSLIST".to_string(),
        "SELECT * FROM information_schema.USER_PRIVILEGES".to_string(),
        "SELECT * FROM information_schema.INNODB_SYS_TABLES".to_string(),
        "SELECT * FROM mysql.user".to_string(),
        "SHOW TABLES FROM mysql".to_string(),
        format!("SHOW INDEX FROM customers FROM {db}_other"),
        "SHOW CREATE VIEW customers".to_string(),
        "SELECT * FROM information_schema.TABLES FOR UPDATE".to_string(),
    ] {
        let r: Result<Vec<mysql_async::Row>, _> = conn.query(&sql).await;
        let e = r.expect_err(&sql);
        assert_no_canary(&sql, &e.to_string());
    }
    // The client's conditions run on visible rows only.
    let r: Result<Vec<mysql_async::Row>, _> = conn
        .query(
            "SELECT TABLE_NAME FROM information_schema.COLUMNS WHERE COLUMN_NAME LIKE '%canary%'",
        )
        .await;
    assert_eq!(r.expect("a condition").len(), 0);
}

// ---------------------------------------------------------------------------------------------
// RED-TEAM (catalog-redteam): attacks that currently get through. Each test fails on the code it
// was written against; the comment above it says what leaks and what would fix it.
// ---------------------------------------------------------------------------------------------

/// The hidden objects' OIDs on the fixture database, read directly: (vault_canary,
/// customers_ssn_canary_idx, orders_margin_canary_check, kind_canary).
async fn red_hidden_oids(db: &str) -> (u32, u32, u32, u32) {
    let direct = tokio_postgres::connect(&shared_pg().url(db), tokio_postgres::NoTls)
        .await
        .expect("direct connection");
    tokio::spawn(direct.1);
    let row = direct
        .0
        .query_one(
            "SELECT 'vault_canary'::regclass::oid, 'customers_ssn_canary_idx'::regclass::oid, \
             (SELECT oid FROM pg_constraint WHERE conname = 'orders_margin_canary_check'), \
             'kind_canary'::regtype::oid",
            &[],
        )
        .await
        .expect("hidden OIDs");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

// RED-TEAM: a catalog guard evaluates the client's argument more than once. `catalog_cast`
// renders `(CASE WHEN a::oid < 16384 OR a::oid IN (…) THEN a::oid END)::regclass` and
// `catalog_function` renders `CASE WHEN (a)::oid < 16384 OR … THEN f(a) END`, with `a` (the
// client's expression) copied into each place as a tree. A volatile argument (`random()`,
// `clock_timestamp()`, both allowlisted; or a subquery ordered by one) takes one value in the
// check and another in the call: `CASE WHEN random() < 0.5 THEN 0 ELSE <hidden oid> END` passes
// the check as 0 (a built-in) and reaches the call as the hidden OID about a quarter of the time.
// Over the rows of any catalog this prints the hidden table's name, the hidden index's
// definition (naming the hidden column), the hidden check's definition and the hidden enum type.
// The attacker needs no OID from outside: visible OIDs (pg_class) show the range to sweep.
// Fix: evaluate the argument once, e.g. `(SELECT CASE WHEN x < 16384 OR x IN (…) THEN f(x) END
// FROM (SELECT (a)::oid AS x OFFSET 0) AS s)` (OFFSET 0 keeps PostgreSQL from inlining the
// volatile expression back into each use), or refuse volatile functions (and subqueries) in
// the arguments of catalog functions and OID-alias casts.
#[tokio::test]
async fn red_team_volatile_argument_passes_the_guard_as_one_oid_and_runs_as_another() {
    let (gw, db) = pg_gateway();
    let client = gw.client(&gw.token("agent", Some(TENANT), 3600)).await;
    let (table, index, check, kind) = red_hidden_oids(&db).await;
    let pick = |oid: u32| format!("CASE WHEN random() < 0.5 THEN 0 ELSE {oid} END");
    for sql in [
        format!(
            "SELECT DISTINCT ({})::regclass::text FROM pg_attribute",
            pick(table)
        ),
        format!(
            "SELECT DISTINCT pg_get_indexdef({}) FROM pg_attribute",
            pick(index)
        ),
        format!(
            "SELECT DISTINCT pg_get_constraintdef({}) FROM pg_attribute",
            pick(check)
        ),
        format!(
            "SELECT DISTINCT format_type({}, -1) FROM pg_attribute",
            pick(kind)
        ),
    ] {
        let rows = client
            .simple_query(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", sluice_integration::db_message(&e)));
        assert_no_canary(&sql, &rows_text(&rows));
    }
}

// RED-TEAM: an untyped string literal meets a reg* value and PostgreSQL reads the literal with
// regclass's (regtype's, regproc's) input function: a catalog lookup the engine never sees as a
// cast. The guarded cast `1259::regclass` (pg_class, a built-in) is allowed and has type
// regclass; a literal beside it in a UNION, COALESCE, CASE, VALUES, ARRAY or IN list is coerced
// to regclass (a plain comparison is not: `=` resolves to oid's operator): `'<oid>'` prints the relation's name, `'<name>'` errors when no such
// relation exists and not when one does (an existence oracle). Served catalog columns are
// reg*-typed too (pg_type.typinput…, pg_operator.oprcode, pg_proc.prosupport, pg_am.amhandler,
// pg_range.rngcanonical: regproc), so `SELECT typinput … UNION ALL SELECT '<oid or name>'`
// names any function or probes for a hidden one, with no cast at all. A parameter in the
// literal's place is inferred regclass the same way (`… UNION ALL SELECT $1`).
// Fix: never let a reg*-typed expression reach the client's expressions: render the guarded
// casts as their text (`…::regclass::text`) or keep them `oid` and name objects through a
// guarded function; mask the served catalogs' reg* columns as `oid` (`typinput::oid AS
// typinput`); or refuse untyped literals and parameters that meet a reg* expression.
#[tokio::test]
async fn red_team_untyped_literal_coerced_to_regclass_is_an_unguarded_lookup() {
    let (gw, db) = pg_gateway();
    let client = gw.client(&gw.token("agent", Some(TENANT), 3600)).await;
    let (table, _, _, kind) = red_hidden_oids(&db).await;
    for sql in [
        format!("SELECT 1259::regclass UNION ALL SELECT '{table}'"),
        format!("SELECT COALESCE(NULL::regclass, '{table}')::text"),
        format!("SELECT CASE WHEN true THEN '{table}' ELSE 1259::regclass END::text"),
        format!("SELECT 23::regtype UNION ALL SELECT '{kind}'"),
    ] {
        let rows = client
            .simple_query(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", sluice_integration::db_message(&e)));
        assert_no_canary(&sql, &rows_text(&rows));
    }
    // An existence oracle: a hidden relation and a missing one must answer alike.
    let probe = |name: &'static str| {
        let client = &client;
        async move {
            match client
                .simple_query(&format!("SELECT 1259::regclass UNION ALL SELECT '{name}'"))
                .await
            {
                // The literal comes back as the client wrote it (text, no lookup).
                Ok(rows) => format!("ok: {}", rows_text(&rows).replace(name, "<name>")),
                Err(e) => format!(
                    "error: {}",
                    sluice_integration::db_message(&e).replace(name, "<name>")
                ),
            }
        }
    };
    assert_eq!(probe("vault_canary").await, probe("no_such_table").await);
    // The same through an IN list (PostgreSQL resolves the list and the left side to one type),
    // also what the REST door writes for `?col=in.(…)`.
    let listed = |name: &'static str| {
        let client = &client;
        async move {
            match client
                .simple_query(&format!(
                    "SELECT count(*) FROM pg_class WHERE oid::regclass IN ('{name}', 'customers')"
                ))
                .await
            {
                Ok(rows) => format!("ok: {}", rows_text(&rows)),
                Err(e) => format!(
                    "error: {}",
                    sluice_integration::db_message(&e).replace(name, "<name>")
                ),
            }
        }
    };
    assert_eq!(listed("vault_canary").await, listed("no_such_table").await);
}

// RED-TEAM: MariaDB's DEFAULT (expression) may read other columns, and the MySQL schema loader
// records a non-generated default as reading none (`uses: Vec::new()`), so a visible column
// whose default reads a hidden one prints the hidden column's name in
// information_schema.COLUMNS.COLUMN_DEFAULT (not masked there), SHOW COLUMNS, DESCRIBE and
// SHOW CREATE TABLE (`show_create_table` writes `DEFAULT …` without looking at `uses` at all).
// Fix: treat a MySQL default like a generated column's expression (shown only with the whole
// table, or when its text names no hidden column), mask COLUMN_DEFAULT with the same rule as
// PostgreSQL's column_default, and check `uses` in show_create_table.
#[tokio::test]
async fn red_team_mariadb_default_expression_names_a_hidden_column() {
    use mysql_async::prelude::Queryable;
    let my = shared_mariadb();
    let db = catalog::seed_mariadb(my).expect("fixture");
    my.exec(
        &db,
        "ALTER TABLE customers ALTER COLUMN email SET DEFAULT (concat(ssn_canary, '@x'))",
    )
    .expect("a default reading a hidden column");
    let gw = Gateway::start_mysql(
        &my.url(&db),
        &db,
        catalog::ROLES_MARIADB,
        GatewayOptions::default(),
    )
    .expect("gateway starts");
    let mut conn = gw.mysql_conn(&gw.token("agent", Some(TENANT), 3600)).await;
    for sql in [
        "SELECT COLUMN_NAME, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_NAME = 'customers'",
        "SHOW COLUMNS FROM customers",
        "DESCRIBE customers",
        "SHOW CREATE TABLE customers",
    ] {
        let rows: Vec<mysql_async::Row> = conn
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        for r in &rows {
            for i in 0..r.len() {
                if let Some(mysql_async::Value::Bytes(b)) = r.as_ref(i) {
                    assert_no_canary(sql, &String::from_utf8_lossy(b));
                }
            }
        }
    }
}

// RED-TEAM: MariaDB compares information_schema names case-insensitively (utf8mb3_general_ci),
// while table names are case-sensitive on Linux (lower_case_table_names = 0). The MySQL catalog
// filters match names with `TABLE_NAME IN ('customers', …)` and `(TABLE_NAME, COLUMN_NAME) IN
// ((…))`, so an ungranted table `CUSTOMERS` beside the granted `customers` shows in
// information_schema.TABLES, .COLUMNS, .STATISTICS, SHOW TABLES, and mixed into SHOW COLUMNS /
// DESCRIBE / SHOW INDEX of the granted table: its existence, comment, column comments, types
// and defaults.
// Fix: compare names in the MySQL filters with a binary collation (`TABLE_NAME COLLATE
// utf8mb3_bin IN (…)`, or `BINARY TABLE_NAME`) unless the server folds table-name case.
#[tokio::test]
async fn red_team_mariadb_catalog_filter_ignores_case_of_table_names() {
    use mysql_async::prelude::Queryable;
    let my = shared_mariadb();
    let db = catalog::seed_mariadb(my).expect("fixture");
    my.exec(
        &db,
        "CREATE TABLE CUSTOMERS (id int, name varchar(10) COMMENT 'column_canary') COMMENT 'table_canary'",
    )
    .expect("a table whose name differs from a granted one only in case");
    let gw = Gateway::start_mysql(
        &my.url(&db),
        &db,
        catalog::ROLES_MARIADB,
        GatewayOptions::default(),
    )
    .expect("gateway starts");
    let mut conn = gw.mysql_conn(&gw.token("agent", Some(TENANT), 3600)).await;
    let tables: Vec<String> = conn
        .query("SELECT TABLE_NAME FROM information_schema.TABLES ORDER BY 1")
        .await
        .expect("tables");
    assert_eq!(tables, ["customers", "orders"], "information_schema.TABLES");
    let shown: Vec<String> = conn.query("SHOW TABLES").await.expect("SHOW TABLES");
    assert_eq!(shown, ["customers", "orders"], "SHOW TABLES");
    for sql in [
        "SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES",
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS",
    ] {
        let rows: Vec<mysql_async::Row> = conn
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        for r in &rows {
            for i in 0..r.len() {
                if let Some(mysql_async::Value::Bytes(b)) = r.as_ref(i) {
                    assert_no_canary(sql, &String::from_utf8_lossy(b));
                }
            }
        }
    }
}

// RED-TEAM (low): `catalog_cast` checks a regclass literal with sqlparser's
// `parse_object_name`, which stops at the first token that cannot continue a name and does not
// require the end of the string; PostgreSQL's regclass input reads the whole string as one name
// (`SplitIdentifierString`: anything but `.`, `"` and spaces). `'customers-canary'::regclass`
// is checked as `customers` (granted) and looked up as "customers-canary": an existence oracle
// (and the OID and name) for every relation whose name is a granted table's name followed by a
// character such as `-`, `/`, `,`, `[`, `+`.
// Fix: refuse the literal unless the parser consumed all of it (next token EOF), and render
// the name the engine resolved (quoted, schema-qualified) instead of the client's string.
#[tokio::test]
async fn red_team_regclass_literal_checked_on_a_prefix_of_the_name() {
    let pg = shared_pg();
    let db = catalog::seed_pg(pg).expect("fixture");
    pg.exec(&db, "CREATE TABLE \"customers-canary\" (x int)")
        .expect("a hidden table whose name starts with a granted one's");
    let gw = Gateway::start_pg(&pg.url(&db), &db, catalog::ROLES, GatewayOptions::default())
        .expect("gateway starts");
    let client = gw.client(&gw.token("agent", Some(TENANT), 3600)).await;
    let probe = |name: &'static str| {
        let client = &client;
        async move {
            match client
                .simple_query(&format!("SELECT '{name}'::regclass::oid"))
                .await
            {
                Ok(rows) => format!("ok ({} rows)", rows.len()),
                Err(e) => format!(
                    "error: {}",
                    sluice_integration::db_message(&e).replace(name, "<name>")
                ),
            }
        }
    };
    assert_eq!(
        probe("customers-canary").await,
        probe("customers-nothing").await,
        "a hidden relation and a missing one must answer alike"
    );
}

// RED-TEAM (low): pg_class shows counts that include hidden objects: `relnatts` counts the
// hidden columns (customers: 9 with 7 visible; orders: 5 with 4 visible) and `relchecks` the
// hidden check constraints (orders: 2 with 1 visible), so the client learns that hidden columns
// and checks exist and how many. (Attnum gaps in pg_attribute tell the hidden columns'
// positions too; that one is harder to mask without breaking clients that loop over attnums.)
// Fix: mask `relchecks` with the count of visible checks per table, and `relnatts` with the
// highest visible attnum (or the visible count), as `reltuples` is masked.
#[tokio::test]
async fn red_team_pg_class_counts_hidden_columns_and_checks() {
    let (gw, _db) = pg_gateway();
    let client = gw.client(&gw.token("agent", Some(TENANT), 3600)).await;
    for (table, visible_columns, visible_checks) in [("customers", 7i16, 1i16), ("orders", 4, 1)] {
        let rows = client
            .simple_query(&format!(
                "SELECT relnatts, relchecks FROM pg_class WHERE relname = '{table}'"
            ))
            .await
            .expect("pg_class");
        assert_eq!(
            rows_text(&rows),
            format!("{visible_columns}|{visible_checks}|\n"),
            "{table}: relnatts and relchecks count hidden columns and checks"
        );
    }
}
