//! `DEFAULT` for a column the role may not INSERT (issue 16): ORMs name an auto-increment key in
//! every INSERT and give it `DEFAULT` (Sequelize: `INSERT INTO reservations (id, tenant_id, …)
//! VALUES (DEFAULT, ?, …)`), which writes what leaving the column out writes. Such a column is
//! left out of the rendering; any other value for it, or `DEFAULT` in only some rows, stays
//! refused (`column_not_granted`), and so does a statement that would be left with no column.

use std::collections::BTreeMap;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;

const ROLES: &str = r#"
roles:
  booker:
    tables:
      reservations: [SELECT, INSERT]
    columns:
      reservations:
        INSERT: [tenant_id, notes, status]
    filters:
      reservations: "tenant_id = {{ token.tenant_id }}"
"#;

fn run(dialect: Dialect, sql: &str) -> Result<Authorized, Denial> {
    let cfg = RbacConfig::from_yaml("insert_defaults.yaml", ROLES).expect("roles load");
    let claims = Claims {
        role: "booker".to_string(),
        tenant_id: Some("acme".to_string()),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: BTreeMap::new(),
    };
    let scope = Scope {
        config: &cfg,
        role: cfg.role("booker").expect("role"),
        claims: &claims,
        dialect,
        database: Some("rental"),
        schema: sluice_policy::Schema::empty(),
    };
    authorize(&scope, sql)
}

fn rendered(dialect: Dialect, sql: &str) -> (String, Vec<usize>) {
    let a = run(dialect, sql).unwrap_or_else(|d| panic!("{sql}: {d}"));
    assert_eq!(a.statements.len(), 1);
    let s = &a.statements[0];
    (
        s.sql.clone(),
        s.parameters.pinned.iter().map(|p| p.parameter).collect(),
    )
}

fn not_granted(dialect: Dialect, sql: &str) {
    let d = run(dialect, sql)
        .err()
        .unwrap_or_else(|| panic!("{sql} was allowed"));
    assert_eq!(d.rule, Rule::ColumnNotGranted, "{sql}: {d}");
}

#[test]
fn default_in_an_ungranted_column_is_left_out() {
    // Sequelize on MySQL: the tenant bound, still checked at execute (parameter 0).
    let (sql, pinned) = rendered(
        Dialect::MySql,
        "INSERT INTO `reservations` (`id`,`tenant_id`,`notes`) VALUES (DEFAULT,?,?);",
    );
    assert_eq!(
        sql,
        "INSERT INTO `rental`.`reservations` (`tenant_id`, `notes`) VALUES (?, ?)"
    );
    assert_eq!(pinned, [0]);
    // Sequelize on PostgreSQL, several rows.
    let (sql, pinned) = rendered(
        Dialect::PostgreSql,
        r#"INSERT INTO "reservations" ("id","notes","status") VALUES (DEFAULT,$1,$2),(DEFAULT,$3,$4)"#,
    );
    assert!(!sql.contains("\"id\"") && !sql.contains("DEFAULT"), "{sql}");
    assert!(sql.contains("'acme'"), "the tenant is filled in: {sql}");
    assert!(pinned.is_empty());
}

#[test]
fn any_other_value_in_an_ungranted_column_is_refused() {
    for dialect in [Dialect::MySql, Dialect::PostgreSql] {
        let p = if dialect == Dialect::MySql { "?" } else { "$1" };
        for sql in [
            format!("INSERT INTO reservations (id, notes) VALUES ({p}, 'x')"),
            "INSERT INTO reservations (id, notes) VALUES (5, 'x')".to_string(),
            "INSERT INTO reservations (id, notes) VALUES (NULL, 'x')".to_string(),
            // DEFAULT in only some rows.
            "INSERT INTO reservations (id, notes) VALUES (DEFAULT, 'x'), (7, 'y')".to_string(),
            // A quoted name is a column, not the keyword.
            "INSERT INTO reservations (id, notes) VALUES (\"DEFAULT\", 'x')".to_string(),
            // Not a VALUES source.
            "INSERT INTO reservations (id, notes) SELECT id, notes FROM reservations".to_string(),
            // Nothing would be left.
            "INSERT INTO reservations (id) VALUES (DEFAULT)".to_string(),
        ] {
            not_granted(dialect, &sql);
        }
    }
}
