//! Which PostgreSQL statements the engine also gives as a prepared statement (a family
//! member's `bindable`), and what that form holds: only literals that a parameter stands for
//! exactly (an operand of a comparison, `IN` or `BETWEEN` with a column), each with the type
//! PostgreSQL's parser gives the literal; anything else keeps the text alone.

#[path = "common/prepared_form.rs"]
mod prepared_form;

use std::sync::Arc;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{BackendSchemas, Bindable, Dialect, Engine, LiteralType};
use sluice_tokens::Claims;

include!("common/rental_schema.rs");

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
    form_with(BackendSchemas::default(), dialect, seed, member)
}

/// [`form`] with an engine that knows the backends' tables (column types for its proofs).
fn form_with(
    schemas: BackendSchemas,
    dialect: Dialect,
    seed: &str,
    member: &str,
) -> Option<Bindable> {
    let engine = Engine::with_schemas(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        schemas,
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
        // Expressions matched with each other (GROUP BY and the select list, DISTINCT and
        // ORDER BY, HAVING): two parameters are not the same expression as two equal
        // literals are.
        (
            "SELECT status = 'active' AS a, count(*) FROM reservations GROUP BY status = 'active'",
            "SELECT status = 'booked' AS a, count(*) FROM reservations GROUP BY status = 'booked'",
        ),
        (
            "SELECT DISTINCT id > 3 AS a FROM reservations ORDER BY id > 3",
            "SELECT DISTINCT id > 4 AS a FROM reservations ORDER BY id > 4",
        ),
        (
            "SELECT status FROM reservations WHERE id > 1 GROUP BY status HAVING count(id) > 2",
            "SELECT status FROM reservations WHERE id > 2 GROUP BY status HAVING count(id) > 3",
        ),
        // A constant read as the current moment, which a prepared statement reads once.
        (
            "SELECT id FROM reservations WHERE starts_on <= E'today' AND id > 1",
            "SELECT id FROM reservations WHERE starts_on <= E'today' AND id > 2",
        ),
        (
            "SELECT id FROM reservations WHERE starts_on <= $$now$$ AND id > 1",
            "SELECT id FROM reservations WHERE starts_on <= $$now$$ AND id > 2",
        ),
        // Inside anything but AND, OR, NOT and parentheses.
        (
            "SELECT id FROM reservations WHERE CASE WHEN id = 1 THEN true ELSE false END",
            "SELECT id FROM reservations WHERE CASE WHEN id = 2 THEN true ELSE false END",
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
    // More literals than a prepared form binds (a long IN list): the text alone.
    let list = |from: usize| {
        let values: Vec<String> = (from..from + 65).map(|i| i.to_string()).collect();
        format!(
            "SELECT id FROM reservations WHERE id IN ({})",
            values.join(", ")
        )
    };
    assert_eq!(form(Dialect::PostgreSql, &list(0), &list(1)), None);
    assert!(
        form(
            Dialect::PostgreSql,
            &list(0).replacen("0, ", "", 1),
            &list(1).replacen("1, ", "", 1)
        )
        .is_some(),
        "64 literals are bound"
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

/// The engine drops the planner fence around a confined table only where it proves that the
/// agent's conditions cannot fail or warn on a row outside the token's scope; a literal is
/// typed where the server parses it, a parameter may be typed by the client and converted per
/// row (a numeric value against a numeric or float column, in a generic plan). A family whose
/// literals are proven but whose parameters are not keeps the text: its prepared form would run
/// unfenced what the engine would fence for a prepared statement.
#[test]
fn a_prepared_form_is_what_the_engine_allows_a_prepared_statement() {
    let schemas = || BackendSchemas {
        postgres: Arc::new(rental_schema(Dialect::PostgreSql)),
        mysql: Arc::new(rental_schema(Dialect::MySql)),
    };
    // An integer column: the proof holds for a parameter too, and the form is unfenced.
    let b = form_with(
        schemas(),
        Dialect::PostgreSql,
        "SELECT id FROM reservations WHERE id = 1",
        "SELECT id FROM reservations WHERE id = 2",
    )
    .expect("a prepared form");
    assert!(!b.template.contains("OFFSET 0"), "{}", b.template);
    // A numeric column: a literal fits it as the server reads it, a parameter need not.
    assert_eq!(
        form_with(
            schemas(),
            Dialect::PostgreSql,
            "SELECT id FROM reservations WHERE price < 100.5",
            "SELECT id FROM reservations WHERE price < 70.25",
        ),
        None
    );
}
