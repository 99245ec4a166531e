//! The schema model the policy engine decides with, as read from real backends: what the loader
//! reads from PostgreSQL's and MariaDB's catalogs (types, type classes, keys, indexes,
//! references), that the gateway keeps it current (a fingerprint that changes with DDL and not
//! with data; a refresh and a reload after ALTER TABLE), that an unreachable or silent backend
//! at start neither stops nor holds up the gateway and is retried, and what `sluice check --db`
//! reports (`sluice_proxy::schema::lint`; the command itself is tested in proxy/tests/cli.rs).

use std::time::{Duration, Instant};

use sluice_integration::rental::{self, seed_mariadb_with_keys, seed_pg, seed_pg_with_keys};
use sluice_integration::{shared_mariadb, shared_pg, Gateway, GatewayOptions, PgServer};
use sluice_policy::roles::{Operation, RbacConfig, TableName};
use sluice_policy::schema::{Key, TableSchema};
use sluice_policy::{Dialect, Schema, TypeClass};
use sluice_proxy::schema::{self, FindingKind, SchemaSource};

fn name(schema: &str, table: &str) -> TableName {
    TableName {
        schema: Some(schema.to_string()),
        name: table.to_string(),
    }
}

fn table<'a>(model: &'a Schema, schema: &str, t: &str) -> &'a TableSchema {
    model.table(&name(schema, t)).unwrap_or_else(|| {
        let names: Vec<String> = model.tables.keys().map(|k| k.to_string()).collect();
        panic!("no table {schema}.{t} in the model; it has {names:?}")
    })
}

/// (name, type name, class, nullable) of every column, in order.
fn columns(t: &TableSchema) -> Vec<(&str, &str, TypeClass, bool)> {
    t.columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str(), c.class, c.nullable))
        .collect()
}

fn key<'a>(keys: &'a [Key], name: &str) -> &'a Key {
    keys.iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("no key {name} in {keys:?}"))
}

async fn load(url: &str) -> schema::Loaded {
    SchemaSource::parse(url)
        .unwrap()
        .load()
        .await
        .unwrap_or_else(|e| panic!("the schema did not load: {e}"))
}

/// Polls `f` until it holds, or fails after `limit`.
async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn postgres_model_of_the_rental_database() {
    let pg = shared_pg();
    let db = seed_pg_with_keys(pg).unwrap();
    let loaded = load(&pg.url(&db)).await;
    let model = &loaded.schema;

    let reservations = table(model, "public", "reservations");
    use TypeClass::*;
    assert_eq!(
        columns(reservations),
        [
            ("id", "integer", Integer, false),
            ("tenant_id", "character varying(32)", Text, false),
            ("customer_id", "integer", Integer, false),
            ("vehicle_id", "integer", Integer, false),
            ("status", "character varying(20)", Text, false),
            ("notes", "character varying(500)", Text, true),
            ("starts_on", "date", Date, false),
            ("price", "numeric(10,2)", Decimal, false),
            ("internal_score", "integer", Integer, true),
            ("code", "character varying(12)", Text, true),
        ]
    );
    assert_eq!(reservations.primary_key, ["id"]);
    assert_eq!(reservations.unique.len(), 1, "{:?}", reservations.unique);
    assert_eq!(
        key(&reservations.unique, "reservations_code_key").columns,
        ["code"]
    );
    // Every index, the primary key's too; INCLUDE columns are not key columns.
    assert_eq!(
        key(&reservations.indexes, "reservations_pkey").columns,
        ["id"]
    );
    assert_eq!(
        key(&reservations.indexes, "reservations_tenant_starts").columns,
        ["tenant_id", "starts_on"]
    );
    assert_eq!(reservations.indexes.len(), 3, "{:?}", reservations.indexes);
    let fks: Vec<(&str, Vec<String>, String, Vec<String>)> = reservations
        .foreign_keys
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.columns.clone(),
                f.references.to_string(),
                f.referenced_columns.clone(),
            )
        })
        .collect();
    assert_eq!(
        fks,
        [
            (
                "reservations_customer_fk",
                vec!["customer_id".to_string()],
                "public.customers".to_string(),
                vec!["id".to_string()]
            ),
            (
                "reservations_vehicle_fk",
                vec!["vehicle_id".to_string()],
                "public.vehicles".to_string(),
                vec!["id".to_string()]
            ),
        ]
    );

    let customers = table(model, "public", "customers");
    assert_eq!(customers.primary_key, ["id"]);
    assert_eq!(
        key(&customers.unique, "customers_tenant_email").columns,
        ["tenant_id", "email"]
    );
    // A unique index on an expression: no columns, but a unique key all the same.
    assert!(key(&customers.unique, "customers_ssn_lower")
        .columns
        .is_empty());
    assert_eq!(
        columns(table(model, "public", "vehicles"))[3],
        ("daily_rate", "numeric(8,2)", Decimal, false)
    );

    // Views are in the model (columns only) and known as views.
    let view = table(model, "public", "open_reservations");
    assert_eq!(view.columns.len(), 3);
    assert!(view.primary_key.is_empty() && view.indexes.is_empty());
    assert_eq!(
        loaded
            .views
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>(),
        ["public.open_reservations"]
    );

    // Another schema: a partitioned table and its partition, the dropped column gone, the
    // modifier of timestamptz(3) not hiding its time zone, arrays never a scalar class.
    for t in ["invoices", "invoices_acme"] {
        let invoices = table(model, "billing", t);
        assert_eq!(
            columns(invoices),
            [
                ("tenant_id", "character varying(32)", Text, false),
                ("no", "integer", Integer, false),
                ("issued", "timestamp(3) with time zone", TimestampTz, true),
                ("tags", "text[]", Other, true),
            ],
            "{t}"
        );
        assert_eq!(invoices.primary_key, ["tenant_id", "no"], "{t}");
    }
    // A reference to a partitioned table is one foreign key (PostgreSQL also keeps a copy per
    // partition, which the model leaves out), its columns in the constraint's order.
    let lines = table(model, "billing", "invoice_lines");
    assert_eq!(lines.foreign_keys.len(), 1, "{:?}", lines.foreign_keys);
    let fk = &lines.foreign_keys[0];
    assert_eq!(fk.name, "invoice_lines_invoice_fk");
    assert_eq!(fk.columns, ["tenant_id", "invoice_no"]);
    assert_eq!(fk.references, name("billing", "invoices"));
    assert_eq!(fk.referenced_columns, ["tenant_id", "no"]);

    // Nothing from the system schemas.
    let schemas: std::collections::BTreeSet<&str> = model
        .tables
        .keys()
        .filter_map(|k| k.schema.as_deref())
        .collect();
    assert_eq!(
        schemas.into_iter().collect::<Vec<_>>(),
        ["billing", "public"]
    );
    assert_eq!(model.tables.len(), 7);
}

#[tokio::test]
async fn mariadb_model_of_the_rental_database() {
    let my = shared_mariadb();
    let db = seed_mariadb_with_keys(my).unwrap();
    let loaded = load(&my.url(&db)).await;
    let model = &loaded.schema;

    let reservations = table(model, &db, "reservations");
    use TypeClass::*;
    let cols = columns(reservations);
    assert_eq!(cols.len(), 10, "{cols:?}");
    assert_eq!(cols[0].0, "id");
    assert!(cols[0].1.starts_with("int"), "{cols:?}");
    assert_eq!((cols[0].2, cols[0].3), (Integer, false));
    assert_eq!(cols[1], ("tenant_id", "varchar(32)", Text, false));
    assert_eq!(cols[5], ("notes", "varchar(500)", Text, true));
    assert_eq!(cols[6], ("starts_on", "date", Date, false));
    assert_eq!(cols[7], ("price", "decimal(10,2)", Decimal, false));
    assert_eq!(cols[9], ("code", "varchar(12)", Text, true));
    assert_eq!(reservations.primary_key, ["id"]);
    assert_eq!(reservations.unique.len(), 1, "{:?}", reservations.unique);
    assert_eq!(
        key(&reservations.unique, "reservations_code_key").columns,
        ["code"]
    );
    assert_eq!(key(&reservations.indexes, "PRIMARY").columns, ["id"]);
    assert_eq!(
        key(&reservations.indexes, "reservations_tenant_starts").columns,
        ["tenant_id", "starts_on"]
    );
    let fk = reservations
        .foreign_keys
        .iter()
        .find(|f| f.name == "reservations_customer_fk")
        .expect("the customer reference");
    assert_eq!(fk.columns, ["customer_id"]);
    assert_eq!(fk.references, name(&db, "customers"));
    assert_eq!(fk.referenced_columns, ["id"]);
    assert_eq!(reservations.foreign_keys.len(), 2);

    let customers = table(model, &db, "customers");
    assert_eq!(
        key(&customers.unique, "customers_tenant_email").columns,
        ["tenant_id", "email"]
    );

    let invoices = table(model, &db, "invoices");
    let cols = columns(invoices);
    assert!(cols[1].1.contains("unsigned"), "{cols:?}");
    assert_eq!(cols[1].2, Integer);
    assert_eq!(cols[2], ("issued", "datetime(3)", Timestamp, true));
    assert_eq!(cols[3], ("state", "enum('draft','sent')", Text, false));
    assert_eq!(invoices.primary_key, ["tenant_id", "no"]);
    let lines = table(model, &db, "invoice_lines");
    assert_eq!(lines.foreign_keys.len(), 1);
    assert_eq!(lines.foreign_keys[0].columns, ["tenant_id", "invoice_no"]);
    assert_eq!(
        lines.foreign_keys[0].referenced_columns,
        ["tenant_id", "no"]
    );
    assert_eq!(lines.foreign_keys[0].references, name(&db, "invoices"));

    // The view is in, the sequence is not; nothing from another database.
    assert!(loaded.views.contains(&name(&db, "open_reservations")));
    assert!(model.table(&name(&db, "invoice_numbers")).is_none());
    assert!(model
        .tables
        .keys()
        .all(|k| k.schema.as_deref() == Some(db.as_str())));
    assert_eq!(model.tables.len(), 6);
}

#[tokio::test]
async fn the_fingerprint_changes_with_ddl_and_not_with_data() {
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    let my = shared_mariadb();
    let mydb = rental::seed_mariadb(my).unwrap();
    for (source, run) in [
        (
            SchemaSource::parse(&pg.url(&db)).unwrap(),
            Box::new(|sql: &str| pg.exec(&db, sql).unwrap()) as Box<dyn Fn(&str)>,
        ),
        (
            SchemaSource::parse(&my.url(&mydb)).unwrap(),
            Box::new(|sql: &str| my.exec(&mydb, sql).unwrap()),
        ),
    ] {
        let before = source.load().await.unwrap();
        assert_eq!(
            source.fingerprint().await.unwrap(),
            before.fingerprint,
            "{source}"
        );
        run(
            "INSERT INTO vehicles (make, model, daily_rate) VALUES ('Seat', 'Ibiza', 31); \
             UPDATE customers SET email = 'x@acme.example' WHERE id = 3; \
             DELETE FROM reservations WHERE id = 1",
        );
        assert_eq!(
            source.fingerprint().await.unwrap(),
            before.fingerprint,
            "{source}: data changed, the schema did not"
        );
        run("ALTER TABLE vehicles ADD COLUMN seats INT");
        let after = source.load().await.unwrap();
        assert_ne!(after.fingerprint, before.fingerprint, "{source}");
        assert_eq!(
            source.fingerprint().await.unwrap(),
            after.fingerprint,
            "{source}"
        );
        let vehicles = after
            .schema
            .tables
            .iter()
            .find(|(k, _)| k.name == "vehicles")
            .unwrap()
            .1;
        assert_eq!(vehicles.columns.last().unwrap().name, "seats", "{source}");
        for ddl in [
            "CREATE INDEX vehicles_make ON vehicles (make)",
            "ALTER TABLE vehicles ADD CONSTRAINT vehicles_model_key UNIQUE (model)",
        ] {
            let was = source.fingerprint().await.unwrap();
            run(ddl);
            assert_ne!(source.fingerprint().await.unwrap(), was, "{source}: {ddl}");
        }
    }
}

/// A gateway whose refresh runs every 200 ms.
fn quick_refresh() -> GatewayOptions {
    GatewayOptions {
        schema_refresh: Duration::from_millis(200),
        ..GatewayOptions::default()
    }
}

fn has_column(model: &Schema, table: &str, column: &str) -> bool {
    model
        .tables
        .iter()
        .any(|(k, t)| k.name == table && t.column(column).is_some())
}

#[tokio::test]
async fn the_gateway_reads_the_schema_at_start_and_follows_alter_table() {
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    let gw = Gateway::start_pg(&pg.url(&db), &db, rental::ROLES, quick_refresh()).unwrap();
    let gate = gw.gate();
    // Read before start returned.
    let reservations = gate
        .schemas()
        .postgres
        .table(&name("public", "reservations"))
        .cloned()
        .expect("the schema is read at start");
    assert_eq!(reservations.primary_key, ["id"]);
    assert!(gate.schemas().mysql.tables.is_empty());

    let generation = gate.generation();
    pg.exec(&db, "ALTER TABLE reservations ADD COLUMN flagged BOOLEAN")
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "the new column in the model",
        || has_column(&gate.schemas().postgres, "reservations", "flagged"),
    )
    .await;
    assert!(
        gate.generation() > generation,
        "a new schema is a new generation"
    );
    let class = gate.schemas().postgres.tables[&name("public", "reservations")]
        .column("flagged")
        .unwrap()
        .class;
    assert_eq!(class, TypeClass::Boolean);

    // No change, no new engine: the refresh compares fingerprints, then models.
    let settled = gate.generation();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        gate.generation(),
        settled,
        "an unchanged schema was swapped in again"
    );

    // Statements still run, under the new engine.
    let token = gw.token("agent_readonly", Some("acme"), 300);
    let client = gw.client(&token).await;
    let rows = client
        .query("SELECT count(*) FROM reservations", &[])
        .await
        .unwrap();
    assert!(rows[0].get::<_, i64>(0) > 0);
}

#[tokio::test]
async fn a_reload_reads_the_schema_again() {
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    let opts = GatewayOptions {
        schema_refresh: Duration::from_secs(3600),
        ..GatewayOptions::default()
    };
    let gw = Gateway::start_pg(&pg.url(&db), &db, rental::ROLES, opts).unwrap();
    let gate = gw.gate();
    pg.exec(&db, "ALTER TABLE customers ADD COLUMN vip BOOLEAN")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !has_column(&gate.schemas().postgres, "customers", "vip"),
        "no refresh within the hour"
    );
    gw.reload().unwrap();
    eventually(Duration::from_secs(20), "the column after a reload", || {
        has_column(&gate.schemas().postgres, "customers", "vip")
    })
    .await;
}

#[tokio::test]
async fn the_mysql_door_reads_and_refreshes_the_schema() {
    let my = shared_mariadb();
    let db = rental::seed_mariadb(my).unwrap();
    let gw = Gateway::start_mysql(&my.url(&db), &db, rental::ROLES, quick_refresh()).unwrap();
    let gate = gw.gate();
    let customers = gate.schemas().mysql.tables[&name(&db, "customers")].clone();
    assert_eq!(customers.primary_key, ["id"]);
    assert!(gate.schemas().postgres.tables.is_empty());
    my.exec(&db, "ALTER TABLE customers ADD COLUMN joined DATETIME")
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "the new column in the model",
        || has_column(&gate.schemas().mysql, "customers", "joined"),
    )
    .await;
}

#[tokio::test]
async fn with_no_wait_an_unreachable_backend_at_start_neither_stops_the_gateway_nor_stays_unknown()
{
    // A server of its own: this test stops it.
    let pg = PgServer::start().unwrap();
    let db = seed_pg(&pg).unwrap();
    pg.stop().unwrap();
    let opts = GatewayOptions {
        schema_refresh: Duration::from_secs(2),
        no_wait: true,
        ..GatewayOptions::default()
    };
    let started = Instant::now();
    let gw = Gateway::start_pg(&pg.url(&db), &db, rental::ROLES, opts).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a refused connection must not hold up the start ({:?})",
        started.elapsed()
    );
    let gate = gw.gate();
    assert!(
        gate.schemas().postgres.tables.is_empty(),
        "nothing to read yet"
    );

    pg.restart().unwrap();
    eventually(
        Duration::from_secs(30),
        "the schema once the backend is up",
        || {
            gate.schemas()
                .postgres
                .table(&name("public", "reservations"))
                .is_some()
        },
    )
    .await;
    let token = gw.token("agent_readonly", Some("acme"), 300);
    let client = gw.client(&token).await;
    client.query("SELECT id FROM vehicles", &[]).await.unwrap();
}

#[tokio::test]
async fn with_no_wait_a_silent_backend_at_start_holds_up_the_start_a_few_seconds_at_most() {
    // Accepts connections and never answers (a backend behind a black hole).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/rental?connect_timeout=60");
    let started = Instant::now();
    let opts = GatewayOptions {
        no_wait: true,
        ..GatewayOptions::default()
    };
    let gw = Gateway::start_pg(&url, "rental", rental::ROLES, opts).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "start waited {took:?}");
    assert!(gw.gate().schemas().postgres.tables.is_empty());
}

const CHECK_ROLES: &str = r#"
forbidden_operations: [DROP, TRUNCATE]
roles:
  agent_readonly:
    tables:
      reservations: [SELECT]
      customers: [SELECT]
    filters:
      reservations: "tenant_id = {{ token.tenant_id }}"
      customers: "tenant_id = {{ token.tenant_id }}"
  agent_support:
    inherits: agent_readonly
    tables:
      reservations: [SELECT, UPDATE, INSERT]
    columns:
      reservations:
        UPDATE: [notes, status]
        INSERT: [customer_id, vehicle_id, status, notes, starts_on, price, tenant_id]
  agent_booking:
    inherits: agent_readonly
    tables:
      reservations: [SELECT, INSERT, UPDATE]
      customers: [SELECT, UPDATE, DELETE]
    columns:
      reservations:
        INSERT: [tenant_id, customer_id, vehicle_id, status, starts_on, price, code]
        UPDATE: [status]
      customers:
        UPDATE: [email]
"#;

fn summary(findings: &[schema::Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let what = match &f.kind {
                FindingKind::KeyProbe { key, writes, .. } => {
                    let ops: Vec<&str> = writes.iter().map(|(op, _)| op.as_str()).collect();
                    format!("key {key} by {}", ops.join("+"))
                }
                FindingKind::UnindexedFilter { operations, .. } => {
                    let ops: Vec<&str> = operations.iter().map(|op| op.as_str()).collect();
                    format!("unindexed {}", ops.join("+"))
                }
                other => format!("{other:?}"),
            };
            format!("{} {}: {what}", f.role, f.table)
        })
        .collect()
}

#[tokio::test]
async fn check_finds_probeable_keys_and_unindexed_filtered_writes() {
    let config = RbacConfig::from_yaml("roles.yaml", CHECK_ROLES).unwrap();
    let pg = shared_pg();

    // The plain rental database: primary keys only, and no index on tenant_id.
    let plain = seed_pg(pg).unwrap();
    let loaded = load(&pg.url(&plain)).await;
    let findings = schema::lint(&config, Dialect::PostgreSql, &plain, &loaded);
    assert_eq!(
        summary(&findings),
        [
            "agent_booking customers: unindexed UPDATE+DELETE",
            "agent_booking reservations: unindexed UPDATE",
            "agent_support reservations: unindexed UPDATE",
        ]
    );

    // With keys: reservations.code is unique across tenants and agent_booking inserts it;
    // customers' unique index on lower(ssn) collides on any write; (tenant_id, email) and the
    // primary keys (which no role writes) do not; tenant_id now leads an index on both tables.
    let keyed = seed_pg_with_keys(pg).unwrap();
    let loaded = load(&pg.url(&keyed)).await;
    let findings = schema::lint(&config, Dialect::PostgreSql, &keyed, &loaded);
    assert_eq!(
        summary(&findings),
        [
            "agent_booking customers: key customers_ssn_lower by UPDATE",
            "agent_booking reservations: key reservations_code_key by INSERT",
        ]
    );
    let FindingKind::KeyProbe {
        missing, writes, ..
    } = &findings[1].kind
    else {
        unreachable!()
    };
    assert_eq!(missing, &["tenant_id"]);
    assert_eq!(writes, &[(Operation::Insert, vec!["code".to_string()])]);
    let line = findings[1].to_string();
    assert!(
        line.starts_with(
            "role agent_booking, table reservations: unique key reservations_code_key (code) \
             leaves out tenant_id"
        ),
        "{line}"
    );
    assert!(
        line.contains("23505") && line.contains("add tenant_id to the key"),
        "{line}"
    );

    let my = shared_mariadb();
    let mydb = seed_mariadb_with_keys(my).unwrap();
    let loaded = load(&my.url(&mydb)).await;
    let findings = schema::lint(&config, Dialect::MySql, &mydb, &loaded);
    assert_eq!(
        summary(&findings),
        ["agent_booking reservations: key reservations_code_key by INSERT"]
    );
    assert!(findings[0].to_string().contains("1062"));
}
