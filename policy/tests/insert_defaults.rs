//! `DEFAULT` in an INSERT's VALUES (issue 16): drizzle-orm names every column of its table and
//! writes `DEFAULT` for each one it has no value for, the identity key included, which a role
//! limited to some INSERT columns may not name. A column given `DEFAULT` in every row is a
//! column left out: it is taken out of the statement, which is then the one the role may send.
//! A value in any row is a write of the column and stays refused; `DEFAULT` in the pinned tenant
//! column is the claim.

use std::collections::BTreeMap;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;

include!("common/rental_schema.rs");

const ROLES: &str = r#"
default_schema: public
roles:
  support:
    tables:
      customers: [SELECT]
      reservations: [SELECT, INSERT]
    columns:
      reservations:
        SELECT: [id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price]
        INSERT: [tenant_id, customer_id, vehicle_id, status, notes, starts_on, price]
    filters:
      customers: "tenant_id = {{ token.tenant_id }}"
      reservations: "tenant_id = {{ token.tenant_id }}"
"#;

fn run(dialect: Dialect, sql: &str) -> Result<Authorized, Denial> {
    let cfg = RbacConfig::from_yaml("defaults.yaml", ROLES).expect("roles load");
    let claims = Claims {
        role: "support".to_string(),
        tenant_id: Some("acme".to_string()),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: BTreeMap::new(),
    };
    let schema = rental_schema(dialect);
    let scope = Scope {
        config: &cfg,
        role: cfg.role("support").expect("role"),
        claims: &claims,
        dialect,
        database: Some("rental"),
        schema: &schema,
    };
    authorize(&scope, sql)
}

/// The rendering, and the parameters (from 0) the door must check against the claim.
fn allowed(dialect: Dialect, sql: &str) -> (String, Vec<usize>) {
    let a = run(dialect, sql).unwrap_or_else(|d| panic!("{sql}: denied: {d}"));
    assert_eq!(a.statements.len(), 1);
    let s = &a.statements[0];
    (
        s.sql.clone(),
        s.parameters.pinned.iter().map(|p| p.parameter).collect(),
    )
}

fn denied(dialect: Dialect, sql: &str) -> Rule {
    run(dialect, sql)
        .err()
        .unwrap_or_else(|| panic!("{sql} was allowed"))
        .rule
}

/// drizzle-orm's INSERT, as it sends it through node-postgres.
const DRIZZLE: &str = r#"insert into "reservations" ("id", "tenant_id", "customer_id", "vehicle_id", "status", "notes", "starts_on", "price") values (default, $1, $2, $3, $4, $5, $6, $7) returning "id", "tenant_id", "customer_id", "vehicle_id", "status", "notes", "starts_on", "price""#;

#[test]
fn default_in_a_column_the_role_may_not_insert_is_a_column_left_out() {
    let (sql, pinned) = allowed(Dialect::PostgreSql, DRIZZLE);
    assert_eq!(
        sql,
        concat!(
            r#"INSERT INTO "public"."reservations" ("tenant_id", "customer_id", "vehicle_id", "status", "notes", "starts_on", "price") "#,
            r#"VALUES ($1, CASE WHEN ($2) IN (SELECT "id" FROM (SELECT * FROM "public"."customers" WHERE (tenant_id = 'acme')) AS r) OR ($2) IS NULL THEN ($2) "#,
            r#"ELSE CAST((SELECT 'sluice: reservations.customer_id must reference a customers row this token can read; nothing was written') AS BIGINT) END, $3, $4, $5, $6, $7) "#,
            r#"RETURNING "id", "tenant_id", "customer_id", "vehicle_id", "status", "notes", "starts_on", "price""#
        )
    );
    // The tenant is still the bound value the door checks.
    assert_eq!(pinned, [0]);
    // Several rows, the hidden column too, and either dialect.
    let (sql, _) = allowed(
        Dialect::PostgreSql,
        "INSERT INTO reservations (id, notes, internal_score, tenant_id) VALUES (DEFAULT, 'a', DEFAULT, 'acme'), (default, 'b', DEFAULT, 'acme')",
    );
    assert_eq!(
        sql,
        r#"INSERT INTO "public"."reservations" (notes, tenant_id) VALUES ('a', 'acme'), ('b', 'acme')"#
    );
    let (sql, _) = allowed(
        Dialect::MySql,
        "INSERT INTO reservations (id, notes, tenant_id) VALUES (DEFAULT, 'a', ?)",
    );
    assert_eq!(
        sql,
        "INSERT INTO `rental`.`reservations` (notes, tenant_id) VALUES ('a', ?)"
    );
}

#[test]
fn default_in_the_pinned_column_is_the_claim_and_in_a_granted_column_stays() {
    let (sql, pinned) = allowed(
        Dialect::PostgreSql,
        r#"insert into "reservations" ("id", "tenant_id", "status", "notes") values (default, default, $1, default)"#,
    );
    assert_eq!(
        sql,
        r#"INSERT INTO "public"."reservations" ("tenant_id", "status", "notes") VALUES ('acme', $1, default)"#
    );
    assert_eq!(pinned, Vec::<usize>::new());
}

#[test]
fn a_value_in_any_row_of_a_column_the_role_may_not_insert_is_refused() {
    for sql in [
        // A value in one row of several.
        "INSERT INTO reservations (id, notes, tenant_id) VALUES (DEFAULT, 'a', 'acme'), (7, 'b', 'acme')",
        "INSERT INTO reservations (internal_score, notes, tenant_id) VALUES (DEFAULT, 'a', 'acme'), ($1, 'b', 'acme')",
        // A quoted "default" is a column reference, not the keyword.
        r#"INSERT INTO reservations (id, notes, tenant_id) VALUES ("default", 'a', 'acme')"#,
        // DEFAULT inside an expression, or a source that is not a plain VALUES list.
        "INSERT INTO reservations (id, notes, tenant_id) VALUES ((DEFAULT), 'a', 'acme')",
        "INSERT INTO reservations (id, notes, tenant_id) SELECT id, notes, tenant_id FROM reservations",
        "INSERT INTO reservations (id, notes, tenant_id) VALUES (DEFAULT, 'a', 'acme') ORDER BY 1",
        // Every named column left out: nothing the role may write.
        "INSERT INTO reservations (id, internal_score) VALUES (DEFAULT, DEFAULT)",
    ] {
        let rule = denied(Dialect::PostgreSql, sql);
        assert!(
            matches!(rule, Rule::ColumnNotGranted | Rule::ConstructNotAllowed),
            "{sql}: {rule:?}"
        );
    }
}

#[test]
fn rows_mixing_tenants_stay_refused_with_defaults_left_out() {
    assert_eq!(
        denied(
            Dialect::PostgreSql,
            "INSERT INTO reservations (id, tenant_id, notes) VALUES (DEFAULT, 'acme', 'a'), (DEFAULT, 'globex', 'b')",
        ),
        Rule::WriteNotConfinable
    );
    // Bound: both parameters are checked at Bind.
    let (_, pinned) = allowed(
        Dialect::PostgreSql,
        "INSERT INTO reservations (id, tenant_id, notes) VALUES (DEFAULT, $1, 'a'), (DEFAULT, $2, 'b')",
    );
    assert_eq!(pinned, [0, 1]);
}

/// The same rule on MySQL, as Sequelize sends it: ORMs name an auto-increment key in every INSERT
/// and give it `DEFAULT` (Sequelize: `INSERT INTO reservations (id, tenant_id, …) VALUES (DEFAULT,
/// ?, …)`), which writes what leaving the column out writes. Such a column is left out of the
/// rendering; any other value for it, or `DEFAULT` in only some rows, stays refused
/// (`column_not_granted`), and so does a statement that would be left with no column.
mod sequelize_auto_increment_key {
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
                "INSERT INTO reservations (id, notes) SELECT id, notes FROM reservations"
                    .to_string(),
                // Nothing would be left.
                "INSERT INTO reservations (id) VALUES (DEFAULT)".to_string(),
            ] {
                not_granted(dialect, &sql);
            }
        }
    }
}
