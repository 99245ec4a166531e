//! The seeded car-rental database the end-to-end suites run against: two tenants (`acme`,
//! `globex`), hidden columns `customers.ssn` and `reservations.internal_score`.

use anyhow::Result;

use crate::{MariaDbServer, PgServer};

pub const SCHEMA_PG: &str = include_str!("../../examples/rental/schema_pg.sql");
pub const SCHEMA_MARIADB: &str = include_str!("../../examples/rental/schema_mariadb.sql");
pub const DATA: &str = include_str!("../../examples/rental/data.sql");
/// Keys, references, indexes, a view and more tables on top of the seeded database (the rental
/// schema itself has primary keys only): what the schema model and `sluice check --db` read.
pub const KEYS_PG: &str = include_str!("../fixtures/rental_keys_pg.sql");
pub const KEYS_MARIADB: &str = include_str!("../fixtures/rental_keys_mariadb.sql");

/// mission.md's roles, with column limits that hide `customers.ssn` and
/// `reservations.internal_score`, INSERT for the support role, and a role with no tenant filter
/// for vehicles only.
pub const ROLES: &str = r#"
forbidden_operations: [DELETE, DROP, TRUNCATE]
roles:
  agent_readonly:
    tables:
      reservations: [SELECT]
      vehicles: [SELECT]
      customers: [SELECT]
    columns:
      customers:
        SELECT: [id, tenant_id, name, email]
      reservations:
        SELECT: [id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price]
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
  agent_capped:
    inherits: agent_readonly
    max_rows: 3
  agent_limited:
    inherits: agent_readonly
    rate_limit: 5/min
  agent_slow:
    inherits: agent_readonly
    statement_timeout: 1s
    functions: [pg_sleep]
"#;

/// Creates a fresh, seeded rental database on `server` and returns its name.
pub fn seed_pg(server: &PgServer) -> Result<String> {
    let db = server.create_unique_database("rental")?;
    server.exec(&db, SCHEMA_PG)?;
    server.exec(&db, DATA)?;
    Ok(db)
}

/// Creates a fresh, seeded rental database on a MariaDB `server` and returns its name.
pub fn seed_mariadb(server: &MariaDbServer) -> Result<String> {
    let db = server.create_unique_database("rental")?;
    server.exec(&db, SCHEMA_MARIADB)?;
    server.exec(&db, DATA)?;
    Ok(db)
}

/// [`seed_pg`], then [`KEYS_PG`].
pub fn seed_pg_with_keys(server: &PgServer) -> Result<String> {
    let db = seed_pg(server)?;
    server.exec(&db, KEYS_PG)?;
    Ok(db)
}

/// [`seed_mariadb`], then [`KEYS_MARIADB`].
pub fn seed_mariadb_with_keys(server: &MariaDbServer) -> Result<String> {
    let db = seed_mariadb(server)?;
    server.exec(&db, KEYS_MARIADB)?;
    Ok(db)
}
