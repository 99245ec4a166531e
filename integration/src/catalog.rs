//! The scoped-catalog fixture: a database whose every hidden name and other tenant's value
//! contains the word `canary` (a hidden column, a hidden table with a foreign key to a granted
//! one, an index and a check constraint on hidden columns, a partial index whose predicate
//! reads one, an enum type only a hidden column uses, comments on hidden objects, and tenant-b's
//! rows), and a role that sees tenant-a's rows of `customers` and `orders` without their
//! `*_canary` columns. A client's whole output through the gateway must not contain `canary`.

use anyhow::Result;

use crate::{MariaDbServer, PgServer};

pub const SCHEMA_PG: &str = include_str!("../fixtures/catalog_pg.sql");
pub const SCHEMA_MARIADB: &str = include_str!("../fixtures/catalog_mariadb.sql");

/// The word every hidden name and value holds.
pub const CANARY: &str = "canary";

/// Role `agent`: tenant-a's customers (SELECT, INSERT, UPDATE; some columns) and orders
/// (SELECT; some columns).
pub const ROLES: &str = r#"
roles:
  agent:
    tables:
      customers: [SELECT, INSERT, UPDATE]
      orders: [SELECT]
    columns:
      customers:
        SELECT: [id, tenant_id, name, email, brand, tags, created_at]
        INSERT: [tenant_id, name, email]
        UPDATE: [name]
      orders:
        SELECT: [id, tenant_id, customer_id, total]
    filters:
      customers: "tenant_id = {{ token.tenant_id }}"
      orders: "tenant_id = {{ token.tenant_id }}"
"#;

/// The role's MariaDB twin (no `tags` column there).
pub const ROLES_MARIADB: &str = r#"
roles:
  agent:
    tables:
      customers: [SELECT, INSERT, UPDATE]
      orders: [SELECT]
    columns:
      customers:
        SELECT: [id, tenant_id, name, email, brand, created_at]
        INSERT: [tenant_id, name, email]
        UPDATE: [name]
      orders:
        SELECT: [id, tenant_id, customer_id, total]
    filters:
      customers: "tenant_id = {{ token.tenant_id }}"
      orders: "tenant_id = {{ token.tenant_id }}"
"#;

/// The tenant the role's tokens are for.
pub const TENANT: &str = "tenant-a";

/// A new database on `server` holding the fixture; returns its name.
pub fn seed_pg(server: &PgServer) -> Result<String> {
    let db = server.create_unique_database("catalog")?;
    server.exec(&db, SCHEMA_PG)?;
    Ok(db)
}

/// A new database on `server` holding the fixture; returns its name.
pub fn seed_mariadb(server: &MariaDbServer) -> Result<String> {
    let db = server.create_unique_database("catalog")?;
    server.exec(&db, SCHEMA_MARIADB)?;
    Ok(db)
}

/// Panics with the offending lines when `output` holds the canary word (any case). One system
/// object holds it too, the description of the `es_IC` collation ("Spanish (Canary Islands)"):
/// a real server shows it, so may the gateway.
pub fn assert_no_canary(what: &str, output: &str) {
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| {
            l.to_lowercase()
                .replace("canary islands", "")
                .contains(CANARY)
        })
        .collect();
    assert!(
        lines.is_empty(),
        "{what}: the output names hidden objects or other tenants' values:\n{}",
        lines.join("\n")
    );
}
