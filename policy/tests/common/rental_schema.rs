// The car-rental schema (examples/rental/schema_*.sql plus the adversarial
// fixture's extra columns) as the proxy would load it, for tests of what the engine proves with
// a schema. Pulled in with `include!`; the including file imports `sluice_policy::Dialect`.

/// The rental tables under PostgreSQL's `public` schema or MySQL's `rental` database.
#[allow(dead_code)]
fn rental_schema(dialect: Dialect) -> sluice_policy::Schema {
    use sluice_policy::schema::{ColumnSchema, ForeignKey, Key, Schema, TableSchema, TypeClass};
    use sluice_policy::roles::TableName;
    let space = match dialect {
        Dialect::PostgreSql => "public",
        Dialect::MySql => "rental",
    };
    let name = |t: &str| TableName {
        schema: Some(space.to_string()),
        name: t.to_string(),
    };
    let col = |n: &str, t: &str, class: TypeClass| ColumnSchema {
        name: n.to_string(),
        data_type: t.to_string(),
        class,
        nullable: n != "id",
    };
    let key = |n: &str, cols: &[&str]| Key {
        name: n.to_string(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
    };
    use TypeClass::*;
    let mut s = Schema::default();
    s.tables.insert(
        name("customers"),
        TableSchema {
            columns: vec![
                col("id", "integer", Integer),
                col("tenant_id", "varchar(32)", Text),
                col("name", "varchar(100)", Text),
                col("email", "varchar(200)", Text),
                col("ssn", "varchar(11)", Text),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![key("customers_pkey", &["id"])],
            foreign_keys: vec![],
            ..TableSchema::default()
        },
    );
    s.tables.insert(
        name("vehicles"),
        TableSchema {
            columns: vec![
                col("id", "integer", Integer),
                col("make", "varchar(50)", Text),
                col("model", "varchar(50)", Text),
                col("daily_rate", "numeric(8,2)", Decimal),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![key("vehicles_pkey", &["id"])],
            foreign_keys: vec![],
            ..TableSchema::default()
        },
    );
    s.tables.insert(
        name("reservations"),
        TableSchema {
            columns: vec![
                col("id", "integer", Integer),
                col("tenant_id", "varchar(32)", Text),
                col("customer_id", "integer", Integer),
                col("vehicle_id", "integer", Integer),
                col("status", "varchar(20)", Text),
                col("notes", "varchar(500)", Text),
                col("starts_on", "date", Date),
                col("price", "numeric(10,2)", Decimal),
                col("internal_score", "integer", Integer),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![key("reservations_pkey", &["id"])],
            foreign_keys: vec![ForeignKey {
                name: "reservations_customer_id_fkey".into(),
                columns: vec!["customer_id".into()],
                references: name("customers"),
                referenced_columns: vec!["id".into()],
            }],
            ..TableSchema::default()
        },
    );
    s
}
