//! Bypasses found in review, each with the role file that made it possible.

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Rule, Scope};
use sluice_tokens::Claims;

fn run(
    yaml: &str,
    role: &str,
    dialect: Dialect,
    sql: &str,
) -> Result<String, sluice_policy::Denial> {
    let cfg = RbacConfig::from_yaml("r.yaml", yaml)
        .map_err(|e| panic!("{e}"))
        .unwrap();
    let claims = Claims {
        role: role.into(),
        tenant_id: Some("acme".into()),
        exp: i64::MAX / 2,
        iat: 0,
        nbf: 0,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    };
    let scope = Scope {
        config: &cfg,
        role: cfg.role(role).unwrap(),
        claims: &claims,
        dialect,
        database: Some("rental"),
        schema: sluice_policy::Schema::empty(),
    };
    authorize(&scope, sql).map(|a| {
        a.statements
            .into_iter()
            .map(|s| s.sql)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// A filter written in capitals still protects its column (PostgreSQL folds `TENANT_ID`).
#[test]
fn capitalised_filter_columns_are_protected() {
    let yaml = "roles:\n  r:\n    tables: { orders: [SELECT, UPDATE, INSERT] }\n    filters: { orders: \"TENANT_ID = {{ token.tenant_id }}\" }\n";
    for dialect in [Dialect::PostgreSql, Dialect::MySql] {
        let err = run(
            yaml,
            "r",
            dialect,
            "UPDATE orders SET tenant_id = 'globex' WHERE id = 1",
        )
        .unwrap_err();
        assert_eq!(err.rule, Rule::WriteNotConfinable, "{err}");
        let err = run(
            yaml,
            "r",
            dialect,
            "INSERT INTO orders (id, tenant_id) VALUES (1, 'globex')",
        )
        .unwrap_err();
        assert_eq!(err.rule, Rule::WriteNotConfinable, "{err}");
        let ok = run(yaml, "r", dialect, "INSERT INTO orders (id) VALUES (1)").unwrap();
        assert!(
            ok.contains("tenant_id")
                && ok.contains("'acme'")
                && !ok.contains("TENANT_ID`")
                && !ok.contains("\"TENANT_ID\""),
            "{ok}"
        );
    }
    let yaml = "roles:\n  r:\n    tables: { t2: [SELECT, UPDATE] }\n    filters: { t2: \"mandant_ä = {{ token.tenant_id }}\" }\n";
    let err = run(
        yaml,
        "r",
        Dialect::MySql,
        "UPDATE t2 SET MANDANT_Ä = 'globex' WHERE id = 1",
    )
    .unwrap_err();
    assert_eq!(err.rule, Rule::WriteNotConfinable, "{err}");
}

/// `public.t` and `t` are one table: naming it both ways cannot drop a filter.
#[test]
fn one_table_two_spellings_cannot_drop_a_filter() {
    let yaml = "roles:\n  base:\n    tables: { reservations: [SELECT] }\n    filters: { reservations: \"tenant_id = {{ token.tenant_id }}\" }\n  child:\n    inherits: base\n    tables: { public.reservations: [SELECT, UPDATE] }\n";
    let out = run(
        yaml,
        "child",
        Dialect::PostgreSql,
        "SELECT * FROM reservations",
    )
    .unwrap();
    assert!(out.contains("WHERE (tenant_id = 'acme')"), "{out}");
    let out = run(
        yaml,
        "child",
        Dialect::PostgreSql,
        "UPDATE reservations SET notes = 'x'",
    )
    .unwrap();
    assert!(out.contains("(reservations.tenant_id = 'acme')"), "{out}");
    // Listed twice in one role: a load error.
    let twice = "roles:\n  r:\n    tables:\n      reservations: [SELECT]\n      public.reservations: [SELECT, UPDATE]\n";
    let err = RbacConfig::from_yaml("r.yaml", twice)
        .unwrap_err()
        .to_string();
    assert!(err.contains("twice"), "{err}");
    // MySQL: the database name is known only to the engine; both spellings in a role deny.
    let my = "roles:\n  base:\n    tables: { reservations: [SELECT] }\n    filters: { reservations: \"tenant_id = {{ token.tenant_id }}\" }\n  child:\n    inherits: base\n    tables: { rental.reservations: [SELECT] }\n";
    let err = run(my, "child", Dialect::MySql, "SELECT * FROM reservations").unwrap_err();
    assert_eq!(err.rule, Rule::TableNotGranted, "{err}");
}

/// PostgreSQL folds only ASCII: a CTE `ärzte` does not hide the table `Ärzte`.
#[test]
fn non_ascii_capitals_do_not_fold() {
    let yaml = "roles:\n  r:\n    tables: { Ärzte: [SELECT] }\n    filters: { Ärzte: \"tenant_id = {{ token.tenant_id }}\" }\n";
    let out = run(
        yaml,
        "r",
        Dialect::PostgreSql,
        "WITH ärzte AS (SELECT 1 AS x) SELECT * FROM Ärzte",
    )
    .unwrap();
    assert!(out.contains("WHERE (tenant_id = 'acme')"), "{out}");
}

/// USING and NATURAL in a write read the target's columns too.
#[test]
fn using_and_natural_joins_in_writes_are_guarded() {
    let yaml = "roles:\n  crm:\n    tables: { customers: [SELECT, UPDATE] }\n    columns: { customers: { SELECT: [id, name], UPDATE: [name] } }\n";
    let err = run(yaml, "crm", Dialect::MySql, "UPDATE customers JOIN (SELECT 1 AS id, '555' AS phone) x USING (id, phone) SET customers.name = customers.name").unwrap_err();
    assert_eq!(err.rule, Rule::ColumnNotGranted, "{err}");
    let err = run(
        yaml,
        "crm",
        Dialect::MySql,
        "UPDATE customers NATURAL JOIN (SELECT 1 AS id, '555' AS phone) x SET customers.name = 'n'",
    )
    .unwrap_err();
    assert_eq!(err.rule, Rule::ColumnNotGranted, "{err}");
    run(
        yaml,
        "crm",
        Dialect::MySql,
        "UPDATE customers JOIN (SELECT 1 AS id) x USING (id) SET customers.name = 'n'",
    )
    .unwrap();
}

#[test]
fn connection_state_functions_and_foreign_collations_are_denied() {
    let yaml = "roles:\n  r:\n    tables: { t: [SELECT] }\n";
    for sql in [
        "SELECT LAST_INSERT_ID()",
        "SELECT FOUND_ROWS()",
        "SELECT ROW_COUNT()",
    ] {
        assert_eq!(
            run(yaml, "r", Dialect::MySql, sql).unwrap_err().rule,
            Rule::FunctionNotAllowed,
            "{sql}"
        );
    }
    assert_eq!(
        run(
            yaml,
            "r",
            Dialect::MySql,
            "SET collation_connection = 'big5_chinese_ci'"
        )
        .unwrap_err()
        .rule,
        Rule::SettingNotAllowed
    );
    run(
        yaml,
        "r",
        Dialect::MySql,
        "SET collation_connection = 'utf8mb4_general_ci'",
    )
    .unwrap();
}

/// MySQL has only `LIMIT n OFFSET m`; sqlparser also reads `OFFSET m LIMIT n` and writes it the
/// other way round, which with `?` parameters (bound by position) would swap the client's
/// values. The reversed order is refused in MySQL; PostgreSQL, which takes both orders and
/// numbers its parameters, keeps it.
#[test]
fn mysql_offset_before_limit_is_refused_rather_than_reordered() {
    let yaml = "roles:\n  r:\n    tables: { orders: [SELECT] }\n";
    for sql in [
        "SELECT id FROM orders WHERE id > ? OFFSET ? LIMIT ?",
        "SELECT id FROM orders OFFSET 5 LIMIT 10",
        "SELECT id FROM orders WHERE id IN (SELECT id FROM orders OFFSET ? LIMIT ?)",
    ] {
        let err = run(yaml, "r", Dialect::MySql, sql).unwrap_err();
        assert_eq!(err.rule, Rule::SyntaxError, "{sql}: {err}");
        assert!(err.message.contains("LIMIT n OFFSET m"), "{err}");
    }
    for (sql, tail) in [
        (
            "SELECT id FROM orders WHERE id > ? LIMIT ? OFFSET ?",
            " WHERE id > ? LIMIT ? OFFSET ?",
        ),
        ("SELECT id FROM orders LIMIT ?, ?", " LIMIT ?, ?"),
    ] {
        let out = run(yaml, "r", Dialect::MySql, sql).unwrap();
        assert!(out.ends_with(tail), "{sql} -> {out}");
    }
    let out = run(
        yaml,
        "r",
        Dialect::PostgreSql,
        "SELECT id FROM orders OFFSET $1 LIMIT $2",
    )
    .unwrap();
    assert!(out.ends_with(" LIMIT $2 OFFSET $1"), "{out}");
}
