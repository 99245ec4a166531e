//! Review finding (statement families): a string literal and a plain number share one family
//! key (both are masked to the same string marker), so a member whose literal is of the other
//! kind is answered from the family even where the full path refuses that text.
//!
//! Invariant (ARCHITECTURE.md): "A statement family answers only what the full path answers."

#[path = "common/prepared_form.rs"]
mod prepared_form;

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Engine, Scope};
use sluice_tokens::Claims;

const ROLES: &str = include_str!("fixtures/adversarial_roles.yaml");

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

/// Seeds the family with `seed`, then asks the engine about `member`; the answer must be the
/// full path's answer for `member`.
fn member_agrees(dialect: Dialect, seed: &str, member: &str) -> Result<(), String> {
    let cfg = Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap());
    let engine = Engine::new(cfg.clone(), 64 << 20);
    let c = claims("agent_readonly");
    let db = (dialect == Dialect::MySql).then_some("rental");
    assert!(
        engine.authorize(&c, dialect, db, seed).is_ok(),
        "seed must be allowed"
    );
    let from_family = engine.authorize(&c, dialect, db, member);
    // The same, from the family a session's principal remembers of its last statement.
    let session_engine = Engine::new(cfg.clone(), 64 << 20);
    let mut principal = session_engine.principal(Arc::new(c.clone()), dialect, db);
    assert!(session_engine.authorize_as(&mut principal, seed).is_ok());
    let from_remembered = session_engine.authorize_as(&mut principal, member);
    // And inside a run of the seed's members (when a sibling is answered from the family,
    // the remembered family is asked before anything else).
    let from_run = run_then(dialect, seed, &sibling(seed), member);
    let scope = Scope {
        config: &cfg,
        role: cfg.role("agent_readonly").unwrap(),
        claims: &c,
        dialect,
        database: db,
        schema: sluice_policy::Schema::empty(),
    };
    let full = authorize(&scope, member);
    let mut forms = 0;
    let [from_family, from_remembered, from_run] = [from_family, from_remembered, from_run]
        .map(|d| prepared_form::without_prepared_forms(&d, &mut forms));
    let [from_family, from_remembered, from_run] = [from_family?, from_remembered?, from_run?];
    if from_family == full && from_remembered == full && from_run == full {
        Ok(())
    } else {
        Err(format!(
            "{dialect:?} {member}\n  engine: {from_family:?}\n  remembered: {from_remembered:?}\n  in a run: {from_run:?}\n  full:   {full:?}"
        ))
    }
}

/// Another member of `seed`'s family: its first string literal changed.
fn sibling(seed: &str) -> String {
    let sibling = ["'x'", "'a'", "'year'"]
        .iter()
        .find(|l| seed.contains(**l))
        .map(|l| seed.replacen(l, "'z'", 1))
        .unwrap_or_default();
    assert!(!sibling.is_empty(), "no sibling for {seed}");
    sibling
}

/// `seed`, `sibling` and `member` asked in turn by one session, and the answer for `member`.
/// When the sibling is answered from the seed's family, a run of its members starts, and the
/// remembered family is asked first for `member`.
fn run_then(
    dialect: Dialect,
    seed: &str,
    sibling: &str,
    member: &str,
) -> Arc<Result<sluice_policy::Authorized, sluice_policy::Denial>> {
    let cfg = Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap());
    let engine = Engine::new(cfg, 64 << 20);
    let db = (dialect == Dialect::MySql).then_some("rental");
    let mut principal = engine.principal(Arc::new(claims("agent_readonly")), dialect, db);
    assert!(engine.authorize_as(&mut principal, seed).is_ok());
    assert!(engine.authorize_as(&mut principal, sibling).is_ok());
    engine.authorize_as(&mut principal, member)
}

#[test]
fn a_number_in_a_string_only_position_is_not_answered_by_the_family() {
    let cases = [
        // MySQL string column alias; the full path: "Expected: an identifier after AS, found: 5".
        (
            Dialect::MySql,
            "SELECT id AS 'x' FROM reservations",
            "SELECT id AS 5 FROM reservations",
        ),
        // MySQL collation name written as a string.
        (
            Dialect::MySql,
            "SELECT id FROM reservations WHERE status = 'a' COLLATE 'utf8mb4_bin'",
            "SELECT id FROM reservations WHERE status = 'a' COLLATE 5",
        ),
        // PostgreSQL EXTRACT with a quoted field.
        (
            Dialect::PostgreSql,
            "SELECT EXTRACT('year' FROM now()) FROM reservations",
            "SELECT EXTRACT(5 FROM now()) FROM reservations",
        ),
        // MySQL string concatenation with an empty double-quoted string: the full path reads
        // `5 ""` as 5 with the alias "", the family drops the alias.
        (
            Dialect::MySql,
            "SELECT 'a' \"\" FROM reservations",
            "SELECT 5 \"\" FROM reservations",
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(d, seed, member)| member_agrees(*d, seed, member).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same key, same kind: a MySQL string column alias is an identifier to the full path,
/// which refuses quotes, backslashes, control characters and over-long names in identifiers
/// (`check_ident`, `max_identifier_bytes`); the family checked only its marker.
#[test]
fn identifier_checks_apply_to_family_members_written_as_string_aliases() {
    let seed = "SELECT id AS 'x' FROM reservations";
    let long = format!("SELECT id AS '{}' FROM reservations", "a".repeat(300));
    let members = [
        "SELECT id AS 'a''b' FROM reservations",
        r"SELECT id AS 'a\\b' FROM reservations",
        "SELECT id AS 'a\nb' FROM reservations",
        long.as_str(),
    ];
    let failures: Vec<String> = members
        .iter()
        .filter_map(|m| member_agrees(Dialect::MySql, seed, m).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
