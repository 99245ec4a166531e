//! The role file: the seed example, inheritance, and every kind of mistake a user can make,
//! each reported at its line and column.

use std::collections::BTreeSet;

use sluice_policy::roles::{
    ColumnSet, ConfigErrors, ForbiddenBy, Operation, RateLimit, RatePeriod, RbacConfig, TableName,
};
use sluice_policy::Dialect;
use sluice_tokens::{ClaimValue, Claims};

const SEED: &str = include_str!("../../examples/roles.yaml");

fn t(name: &str) -> TableName {
    TableName::parse(name).unwrap()
}

fn load(yaml: &str) -> Result<RbacConfig, ConfigErrors> {
    RbacConfig::from_yaml("roles.yaml", yaml)
}

fn claims(tenant: &str) -> Claims {
    Claims {
        role: "agent_support".into(),
        tenant_id: Some(tenant.into()),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    }
}

#[test]
fn seed_example_parses_and_resolves() {
    let cfg = load(SEED).expect("seed example loads");
    assert_eq!(
        cfg.role_names().collect::<Vec<_>>(),
        ["agent_readonly", "agent_support"]
    );

    let ro = cfg.role("agent_readonly").unwrap();
    assert!(ro.permits(&t("reservations"), Operation::Select));
    assert!(!ro.permits(&t("reservations"), Operation::Update));
    assert!(!ro.can_write());
    assert_eq!(
        ro.rate_limit,
        Some(RateLimit {
            count: 200,
            per: RatePeriod::Minute
        })
    );
    assert_eq!(
        *ro.required_claims(),
        BTreeSet::from(["tenant_id".to_string()])
    );

    let support = cfg.role("agent_support").unwrap();
    assert_eq!(support.ancestors, ["agent_readonly"]);
    assert!(support.can_write());
    let res = &support.tables[&t("reservations")];
    assert_eq!(
        res.operations,
        BTreeSet::from([Operation::Select, Operation::Update])
    );
    assert_eq!(
        res.columns_for(Operation::Update),
        ColumnSet::Only(vec!["notes".into(), "status".into()])
    );
    assert_eq!(res.columns_for(Operation::Select), ColumnSet::All);
    // Inherits agent_readonly's filters.
    assert_eq!(res.filters.len(), 1);
    assert_eq!(res.filters[0].text(), "tenant_id = {{ token.tenant_id }}");
    assert_eq!(res.filters[0].declared_by(), "agent_readonly");
    assert_eq!(support.tables[&t("customers")].filters.len(), 1);
    assert!(support.tables[&t("vehicles")].filters.is_empty());
    // Inherits the rate limit, and the global deny.
    assert_eq!(support.rate_limit, ro.rate_limit);
    for op in [Operation::Delete, Operation::Drop, Operation::Truncate] {
        assert_eq!(support.forbidden.get(&op), Some(&ForbiddenBy::Global));
    }
    assert!(!support.permits(&t("reservations"), Operation::Delete));

    let explain = support.explain();
    assert!(explain.contains("UPDATE: notes, status"), "{explain}");
    assert!(
        explain.contains("rows where: tenant_id = {{ token.tenant_id }}"),
        "{explain}"
    );
    assert!(
        explain.contains("token claims required: tenant_id"),
        "{explain}"
    );
}

#[test]
fn filter_binds_claims_as_literal_nodes() {
    let cfg = load(SEED).unwrap();
    let f = &cfg.role("agent_support").unwrap().tables[&t("reservations")].filters[0];
    assert_eq!(
        f.pinned_columns(),
        [("tenant_id".to_string(), "tenant_id".to_string())]
    );
    let expr = f
        .bind(Dialect::PostgreSql, &claims("acme-rentals"))
        .unwrap();
    assert_eq!(expr.to_string(), "tenant_id = 'acme-rentals'");
    // A claim that tries to be SQL stays one string literal.
    let expr = f.bind(Dialect::MySql, &claims("x' OR '1'='1")).unwrap();
    assert_eq!(expr.to_string(), "tenant_id = 'x'' OR ''1''=''1'");
    // Control characters are refused at use.
    let err = f.bind(Dialect::PostgreSql, &claims("a\u{0}b")).unwrap_err();
    assert!(err.to_string().contains("control character"), "{err}");
    // A missing claim is an error, not an empty filter.
    let mut c = claims("x");
    c.tenant_id = None;
    let err = f.bind(Dialect::PostgreSql, &c).unwrap_err();
    assert!(err.to_string().contains("no `tenant_id` claim"), "{err}");
}

#[test]
fn integer_and_extra_claims_bind() {
    let cfg = load(
        "roles:\n  r:\n    tables:\n      orders: [SELECT]\n    filters:\n      orders: \"region_id = {{ token.region }} AND (archived = false OR orders.owner = {{token.tenant_id}})\"\n",
    )
    .unwrap();
    let f = &cfg.role("r").unwrap().tables[&t("orders")].filters[0];
    let mut c = claims("acme");
    c.extra.insert("region".into(), ClaimValue::Int(7));
    assert_eq!(
        f.bind(Dialect::PostgreSql, &c).unwrap().to_string(),
        "region_id = 7 AND (archived = false OR owner = 'acme')"
    );
    assert_eq!(
        f.claims().iter().cloned().collect::<Vec<_>>(),
        ["region", "tenant_id"]
    );
}

#[test]
fn a_grant_of_a_forbidden_operation_is_still_denied() {
    let cfg = load(
        "forbidden_operations: [DELETE]\nroles:\n  base:\n    tables:\n      t: [SELECT]\n    forbidden_operations: [UPDATE]\n  child:\n    inherits: base\n    tables:\n      t: [SELECT, UPDATE, DELETE]\n",
    )
    .unwrap();
    let child = cfg.role("child").unwrap();
    assert!(child.tables[&t("t")]
        .operations
        .contains(&Operation::Delete));
    assert!(!child.permits(&t("t"), Operation::Delete));
    assert!(!child.permits(&t("t"), Operation::Update));
    assert!(child.permits(&t("t"), Operation::Select));
    assert!(!child.can_write());
    assert_eq!(child.forbidden[&Operation::Delete], ForbiddenBy::Global);
    assert_eq!(
        child.forbidden[&Operation::Update],
        ForbiddenBy::Role("base".into())
    );
    assert!(child
        .explain()
        .contains("DELETE: DENIED (forbidden by forbidden_operations)"));
}

#[test]
fn multi_level_inheritance_accumulates_filters_and_takes_strictest_limits() {
    let cfg = load(
        r#"roles:
  a:
    tables: { t: [SELECT] }
    filters: { t: "tenant_id = {{ token.tenant_id }}" }
    max_rows: 100
    statement_timeout: 10s
  b:
    inherits: a
    tables: { u: [SELECT, INSERT] }
    filters: { t: "deleted = false" }
    max_rows: 1000
  c:
    inherits: [b]
    tables: { t: [UPDATE] }
    columns: { t: { UPDATE: [notes] } }
"#,
    )
    .unwrap();
    let c = cfg.role("c").unwrap();
    assert_eq!(c.ancestors, ["b", "a"]);
    let texts: Vec<&str> = c.tables[&t("t")].filters.iter().map(|f| f.text()).collect();
    assert_eq!(
        texts,
        ["tenant_id = {{ token.tenant_id }}", "deleted = false"]
    );
    assert_eq!(c.max_rows, Some(1000)); // b's own value, inherited by c
    assert_eq!(
        c.statement_timeout,
        Some(std::time::Duration::from_secs(10))
    );
    assert!(c.permits(&t("u"), Operation::Insert));
    assert_eq!(
        c.tables[&t("t")].columns_for(Operation::Update),
        ColumnSet::Only(vec!["notes".into()])
    );
}

/// Each malformed file must fail with exactly this location and a message containing the text.
#[test]
fn malformed_configs_name_line_and_column() {
    let cases: &[(&str, &str, (u64, u64), &str)] = &[
        (
            "unknown top-level key",
            "roles:\n  r:\n    tables: { t: [SELECT] }\nrolez: {}\n",
            (4, 1),
            "unknown field `rolez`",
        ),
        (
            "unknown role key",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filter: {}\n",
            (4, 5),
            "unknown field `filter`",
        ),
        (
            "misspelled operation",
            "roles:\n  r:\n    tables:\n      t: [SELECT, DELTE]\n",
            (4, 19),
            "unknown operation `DELTE`",
        ),
        (
            "ungrantable operation",
            "roles:\n  r:\n    tables:\n      t: [DROP]\n",
            (4, 11),
            "DROP cannot be granted",
        ),
        (
            "unknown forbidden operation",
            "forbidden_operations: [DELETE, NUKE]\nroles:\n  r:\n    tables: { t: [SELECT] }\n",
            (1, 32),
            "unknown operation `NUKE`",
        ),
        (
            "filter that does not parse",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      t: \"tenant_id = = 1\"\n",
            (5, 10),
            "filter does not parse",
        ),
        (
            "filter that is not a condition",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      t: \"tenant_id\"\n",
            (5, 10),
            "not a boolean condition",
        ),
        (
            "placeholder inside quotes",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      t: \"tenant_id = '{{ token.tenant_id }}'\"\n",
            (5, 10),
            "inside quotes",
        ),
        (
            "placeholder of something other than the token",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      t: \"tenant_id = {{ env.HOME }}\"\n",
            (5, 10),
            "is not a claim placeholder",
        ),
        (
            "filter with a subquery",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      t: \"id IN (SELECT id FROM other)\"\n",
            (5, 10),
            "may not contain subqueries",
        ),
        (
            "filter with two statements",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      t: \"a = 1; DROP TABLE t\"\n",
            (5, 10),
            "text after the condition",
        ),
        (
            "bad rate limit",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    rate_limit: 200/fortnight\n",
            (4, 17),
            "rate_limit `200/fortnight`",
        ),
        (
            "zero rate limit",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    rate_limit: 0/min\n",
            (4, 17),
            "allows nothing",
        ),
        (
            "negative max_rows",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    max_rows: -5\n",
            (4, 15),
            "invalid u64",
        ),
        (
            "zero max_rows",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    max_rows: 0\n",
            (4, 15),
            "at least 1",
        ),
        (
            "bad statement timeout",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    statement_timeout: soon\n",
            (4, 24),
            "not a duration",
        ),
        (
            "unknown parent",
            "roles:\n  r:\n    inherits: nobody\n    tables: { t: [SELECT] }\n",
            (3, 15),
            "inherits unknown role `nobody`",
        ),
        (
            "columns for an ungranted operation",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    columns:\n      t:\n        UPDATE: [a]\n",
            (6, 9),
            "does not grant UPDATE on t",
        ),
        (
            "filter for an ungranted table",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n    filters:\n      u: \"a = 1\"\n",
            (5, 7),
            "grants nothing on u",
        ),
        (
            "duplicate role",
            "roles:\n  r:\n    tables: { t: [SELECT] }\n  r:\n    tables: { t: [SELECT] }\n",
            (4, 3),
            "duplicate mapping key",
        ),
        (
            "tables is not a mapping",
            "roles:\n  r:\n    tables: [t]\n",
            (3, 13),
            "mapping",
        ),
        (
            "bad table name",
            "roles:\n  r:\n    tables:\n      a.b.c: [SELECT]\n",
            (4, 7),
            "is not a table name",
        ),
    ];
    assert!(cases.len() >= 12);
    for (what, yaml, (line, column), needle) in cases {
        let errs = match load(yaml) {
            Ok(_) => panic!("{what}: loaded but should have failed"),
            Err(e) => e,
        };
        let e = errs.first();
        assert_eq!(
            (e.line, e.column),
            (*line, *column),
            "{what}: wrong location in `{errs}`"
        );
        assert!(
            e.message.contains(needle),
            "{what}: `{errs}` lacks `{needle}`"
        );
        assert!(
            errs.to_string()
                .starts_with(&format!("roles.yaml:{line}:{column}: ")),
            "{what}: {errs}"
        );
    }
}

#[test]
fn cycles_are_errors() {
    for (yaml, chain) in [
        (
            "roles:\n  a:\n    inherits: b\n  b:\n    inherits: c\n  c:\n    inherits: a\n",
            "a -> b -> c -> a",
        ),
        ("roles:\n  a:\n    inherits: [a]\n", "inherits itself"),
    ] {
        let err = load(yaml).unwrap_err().to_string();
        assert!(err.contains("inheritance cycle"), "{err}");
        assert!(err.contains(chain), "{err}");
        assert!(err.starts_with("roles.yaml:3:"), "{err}");
    }
}

#[test]
fn all_semantic_errors_are_reported_at_once() {
    let errs =
        load("roles:\n  r:\n    tables:\n      t: [SELEKT, UPDAT]\n    max_rows: 0\n").unwrap_err();
    assert_eq!(errs.0.len(), 3, "{errs}");
}

#[test]
fn empty_file_is_an_error() {
    let err = load("  \n").unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = load("roles: {}\n").unwrap_err().to_string();
    assert!(err.contains("define at least one role"), "{err}");
}
