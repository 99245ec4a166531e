//! Real Python clients discovering the scoped-catalog fixture (`integration/src/catalog.rs`)
//! through the gateway, against real PostgreSQL and MariaDB: SQLAlchemy 2's reflection with
//! psycopg 3, psycopg2, asyncpg and PyMySQL; asyncpg's type introspection for enum and array
//! results; psycopg 3's `TypeInfo`/`EnumInfo`; Django's `inspectdb`.
//!
//! Each client program (`integration/clients/*_catalog_check.py`) prints a JSON report. The
//! report made through the gateway with an `agent` token for tenant-a must hold exactly the
//! granted tables and their visible columns, the keys, foreign keys and indexes that read only
//! visible columns, and tenant-a's rows; where the values come from the database (types,
//! defaults, index options) it must equal the same program's report on a direct connection to
//! the backend, cut to what the role sees. Every client's whole output (stdout and stderr) is
//! scanned for the fixture's canary word. A client that is not installed fails its test.

use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sluice_integration::catalog::{
    assert_no_canary, seed_mariadb, seed_pg, ROLES, ROLES_MARIADB, TENANT,
};
use sluice_integration::clients::{
    python, require_python, run, PythonModule, ASYNCPG, DJANGO, PSYCOPG, PSYCOPG2, PYMYSQL,
    SQLALCHEMY,
};
use sluice_integration::{shared_mariadb, shared_pg, Gateway, GatewayOptions};

const TABLES: [&str; 2] = ["customers", "orders"];
const CUSTOMERS_PG: [&str; 7] = [
    "id",
    "tenant_id",
    "name",
    "email",
    "brand",
    "tags",
    "created_at",
];
const CUSTOMERS_MARIADB: [&str; 6] = ["id", "tenant_id", "name", "email", "brand", "created_at"];
const ORDERS: [&str; 4] = ["id", "tenant_id", "customer_id", "total"];

/// Runs `script` with `args` and returns its JSON report, after scanning its whole output for
/// the canary when `through_gateway`.
fn report(modules: &[&PythonModule], script: &str, args: &[&str], through_gateway: bool) -> Value {
    require_python(modules);
    let what = format!("{script} {}", args.first().unwrap_or(&""));
    let output = run(
        Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::null()),
        &what,
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if through_gateway {
        assert_no_canary(&what, &format!("{stdout}\n{stderr}"));
    }
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{what} did not print a JSON report ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}")
    })
}

/// The objects of the JSON list `list` whose `key` is one of `names`, in `list`'s order.
fn only(list: &Value, key: &str, names: &[&str]) -> Value {
    let list = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    Value::Array(
        list.iter()
            .filter(|o| o[key].as_str().is_some_and(|n| names.contains(&n)))
            .cloned()
            .collect(),
    )
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The direct report's rows of `table` that are tenant-a's, cut to the `visible` columns.
fn tenant_rows(direct: &Value, table: &str, visible: &[&str]) -> Value {
    let columns: Vec<&str> = direct["autoload"][table]
        .as_array()
        .expect("the direct connection loads the table")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let rows = direct["rows"][table].as_array().expect("rows");
    Value::Array(
        rows.iter()
            .filter(|r| r[at("tenant_id")] == json!(TENANT))
            .map(|r| Value::Array(visible.iter().map(|c| r[at(c)].clone()).collect()))
            .collect(),
    )
}

struct Pg {
    gw: Gateway,
    db: String,
    token: String,
}

impl Pg {
    fn start() -> Pg {
        let pg = shared_pg();
        let db = seed_pg(pg).expect("seed");
        let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default())
            .expect("gateway starts");
        let token = gw.token("agent", Some(TENANT), 3600);
        Pg { gw, db, token }
    }

    fn direct_url(&self) -> String {
        shared_pg().url(&self.db)
    }

    fn direct_dsn(&self) -> String {
        let pg = shared_pg();
        format!(
            "host={} port={} user=postgres dbname={} sslmode=disable",
            pg.host(),
            pg.port(),
            self.db
        )
    }
}

/// SQLAlchemy's reflection of the fixture through the PostgreSQL door with `driver`, checked
/// exactly and against a direct connection.
fn sqlalchemy_pg(driver: &str, module: &PythonModule) {
    let f = Pg::start();
    let modules = [&SQLALCHEMY, module];
    let script = "sqlalchemy_catalog_check.py";
    let direct = report(&modules, script, &[driver, &f.direct_url()], false);
    let got = report(&modules, script, &[driver, &f.gw.pg_url(&f.token)], true);
    let shown = format!("{got:#}");

    // What the direct connection shows, so the cuts below are cuts of something.
    assert_eq!(
        direct["tables"],
        json!(["customers", "orders", "vault_canary"])
    );
    assert_eq!(got["tables"], json!(TABLES), "{shown}");
    assert_eq!(got["views"], json!([]), "{shown}");

    let columns = &got["columns"];
    assert_eq!(
        names(&columns["customers"], "name"),
        CUSTOMERS_PG,
        "{shown}"
    );
    assert_eq!(names(&columns["orders"], "name"), ORDERS, "{shown}");
    // Types, nullability, defaults (the serial's nextval, 'anon', now()) and comments as the
    // backend has them.
    assert_eq!(
        columns["customers"],
        only(&direct["columns"]["customers"], "name", &CUSTOMERS_PG),
        "{shown}"
    );
    assert_eq!(
        columns["orders"],
        only(&direct["columns"]["orders"], "name", &ORDERS),
        "{shown}"
    );

    for t in TABLES {
        assert_eq!(got["pk"][t], direct["pk"][t], "{shown}");
    }
    assert_eq!(
        got["pk"]["customers"]["constrained_columns"],
        json!(["id"]),
        "{shown}"
    );
    assert_eq!(
        got["pk"]["customers"]["name"],
        json!("customers_pkey"),
        "{shown}"
    );

    // orders → customers is visible; vault_canary's foreign key to customers is not (the canary
    // scan covers every other place it could appear).
    assert_eq!(got["fks"]["customers"], json!([]), "{shown}");
    assert_eq!(got["fks"]["orders"], direct["fks"]["orders"], "{shown}");
    assert_eq!(
        names(&got["fks"]["orders"], "name"),
        ["orders_customer_id_fkey"],
        "{shown}"
    );
    assert_eq!(
        got["fks"]["orders"][0]["referred_table"],
        json!("customers")
    );
    assert_eq!(
        got["fks"]["orders"][0]["constrained_columns"],
        json!(["customer_id"])
    );

    // Indexes on hidden columns, and the partial unique index whose predicate reads one, are
    // not shown.
    assert_eq!(
        names(&direct["indexes"]["customers"], "name"),
        [
            "customers_email_when",
            "customers_ssn_canary_idx",
            "customers_tenant"
        ]
    );
    assert_eq!(
        got["indexes"]["customers"],
        only(
            &direct["indexes"]["customers"],
            "name",
            &["customers_tenant"]
        ),
        "{shown}"
    );
    assert_eq!(
        got["indexes"]["orders"],
        only(&direct["indexes"]["orders"], "name", &["orders_customer"]),
        "{shown}"
    );
    assert_eq!(
        got["unique"],
        json!({"customers": [], "orders": []}),
        "{shown}"
    );
    assert_eq!(
        got["checks"]["orders"],
        only(&direct["checks"]["orders"], "name", &["orders_total_check"]),
        "{shown}"
    );
    // customers_brand_check reads brand and tenant_id, both visible.
    assert_eq!(
        got["checks"]["customers"],
        only(
            &direct["checks"]["customers"],
            "name",
            &["customers_brand_check"]
        ),
        "{shown}"
    );
    assert_eq!(
        got["comment"],
        json!({"customers": {"text": "customers of a tenant"}, "orders": {"text": null}}),
        "{shown}"
    );

    assert_eq!(
        got["autoload"],
        json!({"customers": CUSTOMERS_PG, "orders": ORDERS}),
        "{shown}"
    );
    let customers = tenant_rows(&direct, "customers", &CUSTOMERS_PG);
    assert_eq!(got["rows"]["customers"], customers, "{shown}");
    assert_eq!(
        customers[0].as_array().map(|r| r[..6].to_vec()),
        Some(vec![
            json!(1),
            json!("tenant-a"),
            json!("Alice"),
            json!("alice@a.example"),
            json!("visa"),
            json!([1, 2])
        ])
    );
    assert_eq!(
        got["rows"]["orders"],
        json!([[1, "tenant-a", 1, "10.50"]]),
        "{shown}"
    );
}

#[test]
fn sqlalchemy_psycopg() {
    sqlalchemy_pg("psycopg", &PSYCOPG);
}

#[test]
fn sqlalchemy_psycopg2() {
    sqlalchemy_pg("psycopg2", &PSYCOPG2);
}

#[test]
fn sqlalchemy_asyncpg() {
    sqlalchemy_pg("asyncpg", &ASYNCPG);
}

#[test]
fn sqlalchemy_pymysql() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed");
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES_MARIADB, GatewayOptions::default())
        .expect("gateway starts");
    let token = gw.token("agent", Some(TENANT), 3600);
    let modules = [&SQLALCHEMY, &PYMYSQL];
    let script = "sqlalchemy_catalog_check.py";
    let direct = report(&modules, script, &["pymysql", &my.url(&db)], false);
    let got = report(&modules, script, &["pymysql", &gw.mysql_url(&token)], true);
    let shown = format!("{got:#}");

    assert_eq!(
        direct["tables"],
        json!(["customers", "orders", "vault_canary"])
    );
    assert_eq!(got["tables"], json!(TABLES), "{shown}");
    assert_eq!(got["views"], json!([]), "{shown}");
    let columns = &got["columns"];
    assert_eq!(
        names(&columns["customers"], "name"),
        CUSTOMERS_MARIADB,
        "{shown}"
    );
    assert_eq!(names(&columns["orders"], "name"), ORDERS, "{shown}");
    assert_eq!(
        columns["customers"],
        only(&direct["columns"]["customers"], "name", &CUSTOMERS_MARIADB),
        "{shown}"
    );
    assert_eq!(
        columns["orders"],
        only(&direct["columns"]["orders"], "name", &ORDERS),
        "{shown}"
    );
    for t in TABLES {
        assert_eq!(got["pk"][t], direct["pk"][t], "{shown}");
        assert_eq!(
            got["pk"][t]["constrained_columns"],
            json!(["id"]),
            "{shown}"
        );
    }
    assert_eq!(got["fks"]["customers"], json!([]), "{shown}");
    assert_eq!(got["fks"]["orders"], direct["fks"]["orders"], "{shown}");
    assert_eq!(
        names(&got["fks"]["orders"], "name"),
        ["orders_customer"],
        "{shown}"
    );
    // The unique key on email is visible (MariaDB has no partial index).
    assert_eq!(
        got["unique"],
        direct["unique"]
            .as_object()
            .map(|u| json!({
        "customers": u["customers"], "orders": u["orders"]}))
            .unwrap(),
        "{shown}"
    );
    assert_eq!(
        names(&got["unique"]["customers"], "name"),
        ["customers_email"],
        "{shown}"
    );
    assert_eq!(
        names(&direct["indexes"]["customers"], "name"),
        [
            "customers_email",
            "customers_name_canary",
            "customers_ssn_canary_idx",
            "customers_tenant"
        ]
    );
    assert_eq!(
        got["indexes"]["customers"],
        only(
            &direct["indexes"]["customers"],
            "name",
            &["customers_email", "customers_tenant"]
        ),
        "{shown}"
    );
    assert_eq!(
        got["indexes"]["orders"], direct["indexes"]["orders"],
        "{shown}"
    );
    assert_eq!(
        got["autoload"],
        json!({"customers": CUSTOMERS_MARIADB, "orders": ORDERS}),
        "{shown}"
    );
    let customers = tenant_rows(&direct, "customers", &CUSTOMERS_MARIADB);
    assert_eq!(got["rows"]["customers"], customers, "{shown}");
    assert_eq!(
        got["rows"]["orders"],
        json!([[1, "tenant-a", 1, "10.50"]]),
        "{shown}"
    );
}

/// asyncpg has no codec for the enum `card_brand` or for `int4[]` until it has introspected
/// them in pg_catalog; through the gateway that works on the scoped catalog.
#[test]
fn asyncpg_enum_and_array_results() {
    let f = Pg::start();
    let got = report(
        &[&ASYNCPG],
        "asyncpg_catalog_check.py",
        &[&f.gw.pg_url(&f.token)],
        true,
    );
    assert_eq!(
        got,
        json!({
            "rows": [[1, "visa", [1, 2]]],
            "by_brand": [1],
            "types": [
                ["brand", "card_brand", "scalar", "public"],
                ["tags", "int4[]", "array", "pg_catalog"],
            ],
        }),
        "{got:#}"
    );
}

/// psycopg 3 finds the enum a visible column uses, with its labels and OIDs as the backend has
/// them, and does not find the one only a hidden column uses.
#[test]
fn psycopg_type_info() {
    let f = Pg::start();
    let script = "psycopg_catalog_check.py";
    let direct = report(&[&PSYCOPG], script, &[&f.direct_dsn()], false);
    let got = report(&[&PSYCOPG], script, &[&f.gw.pg_dsn(&f.token)], true);
    let shown = format!("{got:#}");
    assert_eq!(direct["type hidden"]["name"], json!("kind_canary"));
    assert_eq!(got["type visible"], direct["type visible"], "{shown}");
    assert_eq!(got["type visible"]["name"], json!("card_brand"), "{shown}");
    assert_eq!(got["enum visible"], direct["enum visible"], "{shown}");
    assert_eq!(
        got["enum visible"]["labels"],
        json!(["visa", "amex"]),
        "{shown}"
    );
    assert_eq!(got["int4[]"], direct["int4[]"], "{shown}");
    assert_eq!(got["registered"], json!(["Card_Brand", "visa"]), "{shown}");
    for missing in ["type hidden", "enum hidden", "type missing", "enum missing"] {
        assert_eq!(got[missing], Value::Null, "{missing}: {shown}");
    }
}

/// Django's `inspectdb` writes models for the granted tables with their visible columns only.
#[test]
fn django_inspectdb() {
    let f = Pg::start();
    let pg = shared_pg();
    let script = "django_catalog_check.py";
    let modules = [&DJANGO, &PSYCOPG];
    let port = pg.port().to_string();
    let direct = report(
        &modules,
        script,
        &[pg.host(), &port, &f.db, "postgres", ""],
        false,
    );
    let gw_port = f.gw.pg_addr.port().to_string();
    let gw_host = f.gw.pg_addr.ip().to_string();
    let got = report(
        &modules,
        script,
        &[&gw_host, &gw_port, &f.db, "agent", &f.token],
        true,
    );
    let shown = got["output"].as_str().unwrap_or_default();
    assert_eq!(direct["driver"], json!("psycopg"));
    assert_eq!(got["driver"], json!("psycopg"));
    // Django names a primary key `id` only when it is not the default; a foreign key by its
    // relation (`customer`).
    assert_eq!(
        direct["models"],
        json!({
            "customers": ["tenant_id", "name", "email", "brand", "tags", "created_at",
                          "ssn_canary", "kind_canary"],
            "orders": ["tenant_id", "customer", "total", "margin_canary"],
            "vault_canary": ["id", "customer", "payload"],
        })
    );
    assert_eq!(
        got["models"],
        json!({
            "customers": ["tenant_id", "name", "email", "brand", "tags", "created_at"],
            "orders": ["tenant_id", "customer", "total"],
        }),
        "{shown}"
    );
    // Each visible field is written as on the direct connection, except email: its unique index
    // is partial on a hidden column, so it is not shown and email is not unique.
    let direct_out = direct["output"].as_str().unwrap();
    for line in shown.lines().filter(|l| l.contains(" = models.")) {
        let expected = if line.trim_start().starts_with("email =") {
            line.replace("TextField(", "TextField(unique=True, ")
        } else {
            line.to_string()
        };
        assert!(
            direct_out.lines().any(|l| l == expected),
            "{line:?} is not on the direct connection's output:\n{direct_out}"
        );
    }
    assert!(shown.contains("customer = models.ForeignKey(Customers, models.DO_NOTHING)"));
    assert!(shown.contains("db_table_comment = 'customers of a tenant'"));
}
