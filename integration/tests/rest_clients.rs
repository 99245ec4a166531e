//! A real PostgREST client library through the gateway's REST door: postgrest-py (PyPI
//! `postgrest`, Supabase's client), against PostgreSQL and against MariaDB; and the door's
//! OpenAPI document, validated and cut to the token's scope.
//!
//! `integration/clients/postgrest_check.py` runs with an `agent_support` token for acme and prints
//! a JSON report, checked here with exact values:
//! - confined reads: select with filters (`eq`, `in`, `gte`, `or`, `like`), `order`, `limit`, a
//!   renamed column and `count=exact` see acme's rows only; another tenant's row by id is absent;
//!   a hidden column does not exist for the role (400 with the database's "no such column");
//! - an insert (the tenant comes from the token; another tenant's row: 403
//!   `write_not_confinable`), updates (acme's row: 1 row, globex's: 0 rows, an ungranted column:
//!   403 `column_not_granted`) and a denied delete (403, 42501, `forbidden_operation`), which
//!   leaves the row in place. HTTP statuses are recorded by the script with an httpx hook.
//!
//! postgrest-py asks for `Prefer: return=representation` (RETURNING *) on writes by default.
//! PostgreSQL: RETURNING * is denied (it would return the hidden `internal_score`), so the script
//! names the columns with `.select(...)`. MySQL has no RETURNING (400 PGRST127): the script writes
//! with `returning=ReturnMethod.minimal`. Both outcomes of the plain default are asserted.
//! postgrest-py's bulk insert (a list) sends `columns=` with double-quoted names, which mean those
//! names.
//!
//! The document validates (openapi-spec-validator) and lists only what the token may use
//! (`agent_readonly` vs `agent_support`); schemathesis, run from it with an `agent_support` token,
//! finds no server error (5xx) and no status, content type or body the document does not allow.
//!
//! postgrest-py, openapi-spec-validator and schemathesis are not packaged by Debian:
//! `./scripts/test` installs them from PyPI into the tests' Python environment
//! (`target/test-venv`, see `clients::python`). When one is missing its test fails saying what
//! to install; a client that hangs is killed and fails its test.

use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sluice_integration::clients::{json_report, npm_version, python, require, run};
use sluice_integration::rental::{seed_mariadb, seed_pg, ROLES};
use sluice_integration::{shared_mariadb, shared_pg, Gateway, GatewayOptions};

fn options() -> GatewayOptions {
    GatewayOptions {
        http: true,
        ..Default::default()
    }
}

#[test]
fn postgrest_py_postgres() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, options()).expect("gateway");
    check(&gw, "postgres");
}

#[test]
fn postgrest_py_mariadb() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed mariadb");
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES, options()).expect("gateway");
    check(&gw, "mariadb");
}

fn check(gw: &Gateway, engine: &str) {
    require(
        Command::new(python()).args(["-c", "import postgrest"]),
        "postgrest-py in the tests' Python environment: run ./scripts/test",
    );
    let addr = gw.http_addr.expect("HTTP door");
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut report = json_report(
        Command::new(python()).args([
            "postgrest_check.py",
            &format!("http://{addr}/rest/v1"),
            &token,
            engine,
        ]),
        "postgrest_check.py",
    );
    let shown = format!("{engine}: {report:#}");
    let pg = engine == "postgres";

    // Denials: the status and code exactly, the rule named in the details.
    let mut outcome = |step: &str| {
        let denial = report[step].as_object_mut().expect(step);
        let details = denial.remove("details").unwrap_or(Value::Null);
        let message = denial.remove("message").unwrap_or(Value::Null);
        let outcome = Value::Object(denial.clone());
        report[step] = json!("checked");
        (outcome, details, message)
    };
    for (step, rule) in [
        ("insert_other_tenant", "write_not_confinable"),
        ("update_price", "column_not_granted"),
        ("delete", "forbidden_operation"),
    ] {
        let (got, details, _) = outcome(step);
        assert_eq!(
            got,
            json!({"code": "42501", "status": 403}),
            "{step}: {shown}"
        );
        assert_eq!(
            details,
            json!(format!("[sluice: {rule}]")),
            "{step}: {shown}"
        );
    }
    // A hidden column is not there at all for the role: the engine reads the table through its
    // granted columns, so the database answers "no such column" (400), as for a typo.
    let (got, _, message) = outcome("hidden_column");
    let unknown = if pg { "42703" } else { "1054" };
    assert_eq!(got, json!({"code": unknown, "status": 400}), "{shown}");
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("internal_score")),
        "{shown}"
    );
    // postgrest-py's default write (return=representation without select=): PostgreSQL denies
    // RETURNING * (it would name internal_score); MySQL has no RETURNING.
    let (got, details, _) = outcome("insert_default_return");
    if pg {
        assert_eq!(got, json!({"code": "42501", "status": 403}), "{shown}");
        assert_eq!(details, json!("[sluice: column_not_granted]"), "{shown}");
    } else {
        assert_eq!(got, json!({"code": "PGRST127", "status": 400}), "{shown}");
    }

    let expected = json!({
        "tenants": ["acme"],
        "count_exact": 15,
        "count_page": 3,
        "active_desc": [
            {"id": 12, "status": "active", "notes": null},
            {"id": 8, "status": "active", "notes": "airport pickup"},
        ],
        "in_ids": [{"id": 1}],
        "globex_by_id": [],
        // acme's from 2025-04-01 that are booked or VIP.
        "or_filter": [{"id": 4}, {"id": 7}, {"id": 10}, {"id": 13}],
        "renamed": [{"who": "Alice Smith"}],
        "customers_tenants": ["acme"],
        "hidden_column": "checked",
        "insert_status": 201,
        // return=representation on PostgreSQL only.
        "insert_returned": if pg {
            json!([{"tenant_id": "acme", "notes": "via postgrest-py"}])
        } else {
            json!([])
        },
        "after_insert": [{"tenant_id": "acme", "status": "booked"}],
        "insert_other_tenant": "checked",
        "insert_default_return": "checked",
        // postgrest-py's bulk insert (`columns="a","b"`, quoted names): both rows, acme's.
        "bulk_insert": 201,
        "after_bulk": [
            {"tenant_id": "acme", "notes": "bulk 1"},
            {"tenant_id": "acme", "notes": "bulk 2"},
        ],
        "update_count": 1,
        "update_returned": if pg { json!([{"id": 1, "notes": "patched"}]) } else { json!([]) },
        "after_update": [{"notes": "patched"}],
        "update_other_tenant_count": 0,
        "update_other_tenant_returned": [],
        "update_price": "checked",
        "delete": "checked",
        "after_delete": [{"id": 1}],
    });
    assert_eq!(report, expected, "{shown}");
}

/// postgrest-js (`@supabase/postgrest-js`, what supabase-js wraps) from node against the REST
/// door on PostgreSQL: `.single()` gives one object (and PGRST116 with 406 when the result has
/// not exactly one row: another tenant's row, several rows), `.csv()` gives the rows as CSV text,
/// an insert of acme's row comes back (`return=representation`), and another tenant's row is
/// refused with nothing written. There is no PostgREST here to compare with: every answer is
/// compared with what a direct SQL query on the backend gives for acme's rows.
#[test]
fn postgrest_js_single_and_csv_postgres() {
    require(
        Command::new("node").args(["-e", "require('@supabase/postgrest-js')"]),
        "@supabase/postgrest-js: apt-get install nodejs npm, then `npm ci` in integration/clients",
    );
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, options()).expect("gateway");
    let addr = gw.http_addr.expect("HTTP door");
    let token = gw.token("agent_support", Some("acme"), 600);
    let client = format!(
        "@supabase/postgrest-js {}",
        npm_version("@supabase/postgrest-js")
    );
    let report = json_report(
        Command::new("node").args([
            "postgrest_js_check.js",
            &format!("http://{addr}/rest/v1"),
            &token,
        ]),
        &format!("postgrest_js_check.js ({client})"),
    );
    let shown = format!("{client}: {report:#}");
    assert_eq!(report["client"], json!(client), "{shown}");
    let direct = |sql: &str| direct_json(&pg.url(&db), sql);

    // .single(): the one row as an object, exactly as the database has it.
    let one = direct(
        "SELECT row_to_json(r) FROM (SELECT id, tenant_id, status, notes, starts_on, price          FROM reservations WHERE id = 1) r",
    );
    assert_eq!(report["single"]["status"], json!(200), "{shown}");
    assert_eq!(report["single"]["error"], Value::Null, "{shown}");
    assert_eq!(
        numbers_as_f64(&report["single"]["data"]),
        numbers_as_f64(&one),
        "{shown}"
    );
    // Not exactly one row: PGRST116, 406, as PostgREST answers; nothing of globex's row.
    for (step, rows) in [
        ("single_other_tenant", 0),
        (
            "single_several",
            direct(
                // The seeded rows (ids below 1000): the script inserts a booked row later.
                "SELECT count(*) FROM reservations WHERE tenant_id = 'acme' AND status = 'booked' \
                 AND id < 1000",
            )
            .as_i64()
            .expect("a count"),
        ),
    ] {
        assert!(rows != 1, "{step}: the fixture must not give one row");
        assert_eq!(
            report[step],
            json!({
                "status": 406,
                "data": null,
                "error": {
                    "code": "PGRST116",
                    "message": "JSON object requested, multiple (or no) rows returned",
                    "details": format!("The result contains {rows} rows"),
                },
            }),
            "{step}: {shown}"
        );
    }
    assert_eq!(
        report["maybe_single_none"],
        json!({"status": 200, "data": null, "error": null}),
        "{shown}"
    );

    // .csv(): a header line, then each row; NULL as an empty field.
    for (step, header, rows) in [
        (
            "csv",
            &["id", "status", "notes"][..],
            "SELECT json_agg(json_build_array(id::text, status, notes) ORDER BY id) \
             FROM reservations WHERE tenant_id = 'acme' AND status = 'active'",
        ),
        (
            "csv_customers",
            &["id", "name"][..],
            "SELECT json_agg(json_build_array(id::text, name) ORDER BY id) \
             FROM customers WHERE tenant_id = 'acme' AND id <= 3",
        ),
    ] {
        let expected = csv_of(&direct(rows), header);
        assert_eq!(
            report[step],
            json!({"status": 200, "data": expected, "error": null}),
            "{step}: {shown}"
        );
    }

    // Writes: acme's row comes back (return=representation); another tenant's is refused (403, 42501),
    // alone or in a batch with an acme row, and nothing of either batch is written.
    assert_eq!(
        report["insert"],
        json!({
            "status": 201,
            "data": [{"tenant_id": "acme", "notes": "via postgrest-js", "price": 150.25}],
            "error": null,
        }),
        "{shown}"
    );
    for step in ["insert_other_tenant", "insert_mixed"] {
        assert_eq!(report[step]["status"], json!(403), "{step}: {shown}");
        assert_eq!(
            report[step]["error"]["code"],
            json!("42501"),
            "{step}: {shown}"
        );
        assert_eq!(
            report[step]["error"]["details"],
            json!("[sluice: write_not_confinable]"),
            "{step}: {shown}"
        );
    }
    assert_eq!(
        report["after_insert"]["data"],
        json!([{"tenant_id": "acme", "notes": "via postgrest-js"}]),
        "{shown}"
    );
    assert_eq!(
        direct(
            "SELECT json_agg(json_build_array(tenant_id, notes) ORDER BY id) FROM reservations \
             WHERE notes LIKE 'via postgrest-js%'"
        ),
        json!([["acme", "via postgrest-js"]]),
        "{client}: the rows postgrest-js wrote, on a direct connection"
    );
}

/// The one value of a statement run on the backend directly (a JSON value: `row_to_json`,
/// `json_agg`, a count), as JSON.
fn direct_json(url: &str, sql: &str) -> Value {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connects to the backend");
            tokio::spawn(conn);
            let row = client
                .query_one(&format!("SELECT to_json(({sql}))::text"), &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            serde_json::from_str::<Value>(&row.get::<_, String>(0)).expect("JSON")
        })
    })
    .join()
    .expect("backend reader thread")
}

/// Numbers compared by value (PostgreSQL writes `195.00`, JavaScript `195`).
fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// RFC 4180 CSV of rows (arrays of text or null) under a header: NULL is an empty field, a
/// field holding a comma, a quote or a line break is quoted.
fn csv_of(rows: &Value, header: &[&str]) -> String {
    let field = |v: &Value| match v.as_str() {
        None => String::new(),
        Some(s) if s.contains([',', '"', '\n', '\r']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Some(s) => s.to_string(),
    };
    let mut lines = vec![header.join(",")];
    for row in rows.as_array().expect("rows") {
        let row = row.as_array().expect("a row");
        lines.push(row.iter().map(field).collect::<Vec<_>>().join(","));
    }
    lines.join("\n")
}

/// Fetches the OpenAPI document with a token and validates it with `openapi-spec-validator`;
/// prints `{"status", "document", "invalid"}` (`invalid`: the validator's complaint, or null).
const OPENAPI_CHECK: &str = r#"
import json, sys, urllib.request, urllib.error
from openapi_spec_validator import validate
url, token = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if token else {})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
doc = json.loads(body)
invalid = None
if status == 200:
    try:
        validate(doc)
    except Exception as e:
        invalid = str(e)
print(json.dumps({"status": status, "document": doc, "invalid": invalid}))
"#;

#[test]
fn openapi_document_postgres() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, options()).expect("gateway");
    check_openapi(&gw, "postgres");
}

#[test]
fn openapi_document_mariadb() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed mariadb");
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES, options()).expect("gateway");
    check_openapi(&gw, "mariadb");
}

/// Fetches `path` with `token` (none: no Authorization header), validating a 200's document.
fn openapi(gw: &Gateway, path: &str, token: Option<&str>) -> Value {
    require(
        Command::new(python()).args(["-c", "import openapi_spec_validator"]),
        "openapi-spec-validator in the tests' Python environment: run ./scripts/test",
    );
    let addr = gw.http_addr.expect("HTTP door");
    json_report(
        Command::new(python()).args([
            "-c",
            OPENAPI_CHECK,
            &format!("http://{addr}{path}"),
            token.unwrap_or(""),
        ]),
        "the OpenAPI check",
    )
}

/// The methods of each path, and the properties of each component schema, each sorted.
fn outline(doc: &Value) -> Value {
    let paths: serde_json::Map<String, Value> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(p, item)| {
            let mut methods: Vec<&String> = item.as_object().unwrap().keys().collect();
            methods.sort();
            (p.clone(), json!(methods))
        })
        .collect();
    let schemas: serde_json::Map<String, Value> = doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .iter()
        .filter(|(name, _)| name.as_str() != "Error")
        .map(|(name, s)| {
            let mut props: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
            props.sort();
            (name.clone(), json!(props))
        })
        .collect();
    json!({"paths": paths, "schemas": schemas})
}

fn check_openapi(gw: &Gateway, engine: &str) {
    let readonly = gw.token("agent_readonly", Some("acme"), 600);
    let support = gw.token("agent_support", Some("acme"), 600);

    let none = openapi(gw, "/rest/v1/", None);
    assert_eq!(none["status"], 401, "{engine}: {none:#}");

    let ro = openapi(gw, "/rest/v1/", Some(&readonly));
    assert_eq!(ro["status"], 200, "{engine}: {ro:#}");
    assert_eq!(
        ro["invalid"],
        Value::Null,
        "{engine}: not valid OpenAPI: {ro:#}"
    );
    let same = openapi(gw, "/openapi.json", Some(&readonly));
    assert_eq!(same["document"], ro["document"], "{engine}: /openapi.json");

    let customers = json!(["id", "tenant_id", "name", "email"]);
    let reservations = json!([
        "id",
        "tenant_id",
        "customer_id",
        "vehicle_id",
        "status",
        "notes",
        "starts_on",
        "price"
    ]);
    let sorted = |v: &Value| {
        let mut v: Vec<String> = serde_json::from_value(v.clone()).unwrap();
        v.sort();
        json!(v)
    };
    // Read-only: GET only; hidden columns (customers.ssn, reservations.internal_score) absent.
    assert_eq!(
        outline(&ro["document"]),
        json!({
            "paths": {
                "/customers": ["get"],
                "/reservations": ["get"],
                "/vehicles": ["get"],
            },
            "schemas": {
                "customers": sorted(&customers),
                "reservations": sorted(&reservations),
                "vehicles": ["daily_rate", "id", "make", "model"],
            },
        }),
        "{engine}: {:#}",
        ro["document"]
    );

    // Support: reservations also POST and PATCH (only notes and status settable), never DELETE
    // (forbidden for every role).
    let su = openapi(gw, "/rest/v1/", Some(&support));
    assert_eq!(su["status"], 200, "{engine}: {su:#}");
    assert_eq!(
        su["invalid"],
        Value::Null,
        "{engine}: not valid OpenAPI: {su:#}"
    );
    assert_eq!(
        outline(&su["document"]),
        json!({
            "paths": {
                "/customers": ["get"],
                "/reservations": ["get", "patch", "post"],
                "/vehicles": ["get"],
            },
            "schemas": {
                "customers": sorted(&customers),
                "reservations": sorted(&reservations),
                "reservations.insert": sorted(&json!([
                    "customer_id", "vehicle_id", "status", "notes",
                    "starts_on", "price", "tenant_id",
                ])),
                "reservations.update": ["notes", "status"],
                "vehicles": ["daily_rate", "id", "make", "model"],
            },
        }),
        "{engine}: {:#}",
        su["document"]
    );
    // Types follow what the door returns: price is NUMERIC / DECIMAL.
    let price = &su["document"]["components"]["schemas"]["reservations"]["properties"]["price"];
    let expected = if engine == "postgres" {
        "number"
    } else {
        "string"
    };
    assert_eq!(price["type"], expected, "{engine}: {price}");
    let id = &su["document"]["components"]["schemas"]["reservations"]["properties"]["id"];
    assert_eq!(id["type"], "integer", "{engine}: {id}");
}

#[test]
fn openapi_schemathesis_postgres() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed pg");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, options()).expect("gateway");
    schemathesis(&gw, "postgres");
}

#[test]
fn openapi_schemathesis_mariadb() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed mariadb");
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES, options()).expect("gateway");
    schemathesis(&gw, "mariadb");
}

/// schemathesis, driven by the document an `agent_support` token gets: no server error (5xx) and
/// no response that breaks the document's schema.
fn schemathesis(gw: &Gateway, engine: &str) {
    require(
        Command::new(python()).args(["-c", "import schemathesis"]),
        "schemathesis in the tests' Python environment: run ./scripts/test",
    );
    let addr = gw.http_addr.expect("HTTP door");
    let token = gw.token("agent_support", Some("acme"), 600);
    // schemathesis keeps a cache of failures under its working directory: a throwaway one.
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let output = run(
        Command::new(python())
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .args([
                "-m",
                "schemathesis.cli",
                "run",
                &format!("http://{addr}/openapi.json"),
                "--url",
                &format!("http://{addr}/rest/v1"),
                "-H",
                &format!("Authorization: Bearer {token}"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
                "--max-examples",
                "25",
                "--workers",
                "1",
                "--no-color",
                "--generation-database",
                "none",
            ]),
        &format!("schemathesis ({engine})"),
        &[],
    );
    // schemathesis exits non-zero on any failed check; its summary says how many cases ran.
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains(" passed"), "{engine}: {summary}");
}
