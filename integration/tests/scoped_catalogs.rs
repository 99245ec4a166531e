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
             name\tvarchar(80)\tNO\t\t'anon'\t\n\
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
