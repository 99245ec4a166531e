//! Which PostgreSQL statements the engine also gives as a prepared statement (a family
//! member's `bindable`), and what that form holds: only literals that a parameter stands for
//! exactly (an operand of a comparison, `IN` or `BETWEEN` with a column), each with the type
//! PostgreSQL's parser gives the literal; anything else keeps the text alone.

#[path = "common/prepared_form.rs"]
mod prepared_form;

use std::sync::Arc;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{Bindable, Dialect, Engine, LiteralType};
use sluice_tokens::Claims;

const ROLES: &str = include_str!("../../examples/roles.yaml");

fn claims() -> Claims {
    Claims {
        role: "agent_readonly".into(),
        tenant_id: Some("acme".into()),
        exp: i64::MAX / 2,
        iat: 0,
        nbf: 0,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    }
}

/// `seed` forms the family; `member`'s answer comes from it. The member's prepared form, after
/// checking that it writes out as the member's statement.
fn form(dialect: Dialect, seed: &str, member: &str) -> Option<Bindable> {
    let engine = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        1 << 20,
    );
    let db = (dialect == Dialect::MySql).then_some("rental");
    let mut p = engine.principal(Arc::new(claims()), dialect, db);
    let first = engine.authorize_as(&mut p, seed);
    assert!(first.is_ok(), "{seed}: {first:?}");
    assert!(
        first.as_ref().as_ref().unwrap().statements[0]
            .bindable
            .is_none(),
        "the full path makes no prepared form"
    );
    let d = engine.authorize_as(&mut p, member);
    assert_eq!(
        engine.stats().family_hits,
        1,
        "{member} came from the family"
    );
    let a = d.as_ref().as_ref().expect("allowed");
    let mut forms = 0;
    let _checked = prepared_form::without_prepared_forms(&d, &mut forms).unwrap();
    a.statements[0].bindable.clone()
}

#[test]
fn comparisons_with_columns_become_parameters_typed_as_the_literals() {
    let b = form(
        Dialect::PostgreSql,
        "SELECT * FROM reservations WHERE id = 1 AND status IN ('a', 'b') AND id BETWEEN 1 AND 9",
        "SELECT * FROM reservations WHERE id = 3000000000 AND status IN ('x', 'it''s') AND id BETWEEN 7 AND 99999999999999999999",
    )
    .expect("a prepared form");
    assert!(
        b.template.contains("id = $1")
            && b.template.contains("status IN ($2, $3)")
            && b.template.contains("BETWEEN $4 AND $5"),
        "{}",
        b.template
    );
    assert!(
        b.template.contains("'acme'"),
        "the claim stays a literal of the text: {}",
        b.template
    );
    assert_eq!(
        b.values,
        vec![
            (LiteralType::Int8, "3000000000".into()),
            (LiteralType::Unknown, "x".into()),
            (LiteralType::Unknown, "it's".into()),
            (LiteralType::Int4, "7".into()),
            (LiteralType::Numeric, "99999999999999999999".into()),
        ]
    );
    let b = form(
        Dialect::PostgreSql,
        "SELECT id FROM reservations WHERE 1.5 < id",
        "SELECT id FROM reservations WHERE 2.25 < id",
    )
    .expect("a prepared form");
    assert_eq!(b.values, vec![(LiteralType::Numeric, "2.25".into())]);
    // One template for the family: the same name for every member.
    let again = form(
        Dialect::PostgreSql,
        "SELECT id FROM reservations WHERE 1.5 < id",
        "SELECT id FROM reservations WHERE 7.5 < id",
    )
    .unwrap();
    assert_eq!((again.id, again.template), (b.id, b.template));
}

#[test]
fn a_literal_anywhere_else_keeps_the_statement_a_text() {
    for (seed, member) in [
        // An ordinal: `ORDER BY $1` would sort by a constant.
        (
            "SELECT id, status FROM reservations WHERE id = 1 ORDER BY 1",
            "SELECT id, status FROM reservations WHERE id = 2 ORDER BY 2",
        ),
        // A typed literal: `DATE $1` is no SQL.
        (
            "SELECT id FROM reservations WHERE starts_at > DATE '2020-01-01'",
            "SELECT id FROM reservations WHERE starts_at > DATE '2021-01-01'",
        ),
        // A select-list constant: its type would be the parameter's, text.
        (
            "SELECT 5, id FROM reservations",
            "SELECT 6, id FROM reservations",
        ),
        // An operand of arithmetic, a cast, LIMIT.
        (
            "SELECT id FROM reservations WHERE id + 1 = 2",
            "SELECT id FROM reservations WHERE id + 1 = 3",
        ),
        (
            "SELECT id FROM reservations WHERE status = '1'::text",
            "SELECT id FROM reservations WHERE status = '2'::text",
        ),
        (
            "SELECT id FROM reservations WHERE id = 1 LIMIT 5",
            "SELECT id FROM reservations WHERE id = 2 LIMIT 6",
        ),
        // Two literals compared with each other: no column types them.
        (
            "SELECT id FROM reservations WHERE 'a' = 'b'",
            "SELECT id FROM reservations WHERE 'c' = 'd'",
        ),
    ] {
        assert_eq!(form(Dialect::PostgreSql, seed, member), None, "{member}");
    }
    // A string with a backslash: the text alone.
    assert_eq!(
        form(
            Dialect::PostgreSql,
            "SELECT id FROM reservations WHERE status = 'a\\c'",
            "SELECT id FROM reservations WHERE status = 'a\\b'",
        ),
        None
    );
    // MySQL: never (its door does not prepare texts).
    assert_eq!(
        form(
            Dialect::MySql,
            "SELECT id FROM reservations WHERE id = 1",
            "SELECT id FROM reservations WHERE id = 2",
        ),
        None
    );
}
