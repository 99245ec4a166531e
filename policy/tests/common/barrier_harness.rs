// The role file, token and runners shared by barrier.rs and leakproof_rules.rs, pulled in with
// `include!` (each test file is its own crate). The including file imports `BTreeMap`,
// `RbacConfig`, `authorize`, `Authorized`, `Denial`, `Dialect`, `Scope` and `Claims`.

include!("rental_schema.rs");

const ROLES: &str = r#"
default_schema: public
roles:
  reader:
    tables:
      customers: [SELECT]
      reservations: [SELECT]
      vehicles: [SELECT]
    columns:
      customers:
        SELECT: [id, tenant_id, name, email]
    filters:
      customers: "tenant_id = {{ token.tenant_id }}"
      reservations: "lower(tenant_id) = {{ token.tenant_id }}"
  writer:
    inherits: reader
    tables:
      reservations: [SELECT, UPDATE, DELETE]
  planner:
    inherits: reader
    explain: true
  booker:
    tables:
      customers: [SELECT]
      reservations: [SELECT, INSERT, UPDATE]
    columns:
      customers:
        SELECT: [id, name]
    filters:
      customers: "tenant_id = {{ token.tenant_id }}"
      reservations: "tenant_id = {{ token.tenant_id }}"
  blind_booker:
    tables:
      reservations: [SELECT, INSERT]
    filters:
      reservations: "tenant_id = {{ token.tenant_id }}"
"#;

fn claims(role: &str) -> Claims {
    Claims {
        role: role.to_string(),
        tenant_id: Some("acme".to_string()),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: BTreeMap::new(),
    }
}

fn run(role: &str, dialect: Dialect, with_schema: bool, sql: &str) -> Result<Authorized, Denial> {
    let cfg = RbacConfig::from_yaml("barrier.yaml", ROLES).expect("roles load");
    let c = claims(role);
    let schema = rental_schema(dialect);
    let scope = Scope {
        config: &cfg,
        role: cfg.role(role).expect("role"),
        claims: &c,
        dialect,
        database: Some("rental"),
        schema: if with_schema {
            &schema
        } else {
            sluice_policy::Schema::empty()
        },
    };
    authorize(&scope, sql)
}

fn pg(role: &str, sql: &str) -> String {
    one(run(role, Dialect::PostgreSql, true, sql))
}

fn my(role: &str, sql: &str) -> String {
    one(run(role, Dialect::MySql, true, sql))
}

fn one(r: Result<Authorized, Denial>) -> String {
    let a = r.unwrap_or_else(|d| panic!("denied: {d}"));
    assert_eq!(a.statements.len(), 1);
    a.statements[0].sql.clone()
}

#[allow(dead_code)] // leakproof_rules.rs does not use it
/// The one checked MySQL statement, whole (its parameters' order, needs and fallback).
fn my_checked(role: &str, sql: &str) -> sluice_policy::CheckedStatement {
    let a = run(role, Dialect::MySql, true, sql).unwrap_or_else(|d| panic!("denied: {d}"));
    assert_eq!(a.statements.len(), 1);
    a.statements.into_iter().next().expect("one statement")
}
