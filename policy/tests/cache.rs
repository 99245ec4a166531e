//! The decision cache must never hand one token's rewriting to another: the key holds the role,
//! the claims the role's filters read, the dialect and the database.

#[path = "common/prepared_form.rs"]
mod prepared_form;

use std::sync::Arc;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{Dialect, Engine, Rule};
use sluice_tokens::{ClaimValue, Claims};

const ROLES: &str = include_str!("../../examples/roles.yaml");

fn claims(role: &str, tenant: Option<&str>) -> Claims {
    Claims {
        role: role.into(),
        tenant_id: tenant.map(str::to_string),
        exp: i64::MAX / 2,
        iat: 0,
        nbf: 0,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    }
}

#[test]
fn tenants_never_share_a_cached_rewrite() {
    let engine = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        1 << 20,
    );
    let sql = "SELECT * FROM reservations";
    let acme = engine.authorize(
        &claims("agent_readonly", Some("acme")),
        Dialect::PostgreSql,
        None,
        sql,
    );
    let globex = engine.authorize(
        &claims("agent_readonly", Some("globex")),
        Dialect::PostgreSql,
        None,
        sql,
    );
    let acme_sql = &acme.as_ref().as_ref().unwrap().statements[0].sql;
    let globex_sql = &globex.as_ref().as_ref().unwrap().statements[0].sql;
    assert!(acme_sql.contains("'acme'"), "{acme_sql}");
    assert!(globex_sql.contains("'globex'"), "{globex_sql}");
    // Same claims again: the very same cached decision.
    let again = engine.authorize(
        &claims("agent_readonly", Some("acme")),
        Dialect::PostgreSql,
        None,
        sql,
    );
    assert!(Arc::ptr_eq(&acme, &again));
    // A claim the filters do not read does not split the cache; one they read does.
    let mut other_label = claims("agent_readonly", Some("acme"));
    other_label.label = Some("another run".into());
    other_label
        .extra
        .insert("team".into(), ClaimValue::Str("ops".into()));
    assert!(Arc::ptr_eq(
        &acme,
        &engine.authorize(&other_label, Dialect::PostgreSql, None, sql)
    ));
}

#[test]
fn roles_dialects_and_databases_never_share() {
    let engine = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        1 << 20,
    );
    let sql = "UPDATE reservations SET notes = 'x'";
    let ro = engine.authorize(
        &claims("agent_readonly", Some("acme")),
        Dialect::PostgreSql,
        None,
        sql,
    );
    assert_eq!(
        ro.as_ref().as_ref().unwrap_err().rule,
        Rule::TableNotGranted
    );
    let support = engine.authorize(
        &claims("agent_support", Some("acme")),
        Dialect::PostgreSql,
        None,
        sql,
    );
    assert!(support.as_ref().is_ok());
    let my1 = engine.authorize(
        &claims("agent_support", Some("acme")),
        Dialect::MySql,
        Some("a"),
        sql,
    );
    let my2 = engine.authorize(
        &claims("agent_support", Some("acme")),
        Dialect::MySql,
        Some("b"),
        sql,
    );
    let s1 = &my1.as_ref().as_ref().unwrap().statements[0].sql;
    let s2 = &my2.as_ref().as_ref().unwrap().statements[0].sql;
    assert!(
        s1.contains("`a`.`reservations`") && s2.contains("`b`.`reservations`"),
        "{s1} {s2}"
    );
}

#[test]
fn an_unknown_role_or_missing_claim_is_a_denial() {
    let engine = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        1 << 20,
    );
    let d = engine.authorize(
        &claims("agent_admin", Some("acme")),
        Dialect::PostgreSql,
        None,
        "SELECT 1",
    );
    let d = d.as_ref().as_ref().unwrap_err();
    assert_eq!(d.rule, Rule::ClaimInvalid);
    assert!(d.message.contains("agent_admin"), "{}", d.message);
    let d = engine.authorize(
        &claims("agent_readonly", None),
        Dialect::PostgreSql,
        None,
        "SELECT * FROM reservations",
    );
    let d = d.as_ref().as_ref().unwrap_err();
    assert_eq!(d.rule, Rule::ClaimInvalid);
    assert!(d.message.contains("tenant_id"), "{}", d.message);
    // Tables without filters still work for that token.
    let ok = engine.authorize(
        &claims("agent_readonly", None),
        Dialect::PostgreSql,
        None,
        "SELECT * FROM vehicles",
    );
    assert!(ok.as_ref().is_ok());
}

/// A session's principal remembers the family of its last statement; after a reload (a new
/// engine, whose interned ids start over) it must not answer with the old role file's filter.
#[test]
fn a_principal_forgets_its_remembered_family_with_the_engine() {
    let old = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        1 << 20,
    );
    let reloaded = ROLES.replace(
        "reservations: \"tenant_id = {{ token.tenant_id }}\"",
        "reservations: \"tenant_id = {{ token.tenant_id }} AND id > 100\"",
    );
    assert_ne!(reloaded, ROLES, "the fixture's filter moved");
    let new = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", &reloaded).unwrap()),
        1 << 20,
    );
    let claims = Arc::new(claims("agent_readonly", Some("acme")));
    let mut principal = old.principal(claims, Dialect::PostgreSql, None);
    for id in [1, 2] {
        let sql = format!("SELECT * FROM reservations WHERE id = {id}");
        let d = old.authorize_as(&mut principal, &sql);
        assert!(!d.as_ref().as_ref().unwrap().statements[0]
            .sql
            .contains("id > 100"));
    }
    assert_eq!(
        old.stats().family_hits,
        1,
        "the second text came from the family"
    );
    let d = new.authorize_as(&mut principal, "SELECT * FROM reservations WHERE id = 3");
    let sql = &d.as_ref().as_ref().unwrap().statements[0].sql;
    assert!(
        sql.contains("id > 100"),
        "the reloaded filter applies: {sql}"
    );
}

/// In a run of one statement's members (each text new, the family known), the remembered
/// family answers before the exact-text cache is asked, a text that cache knows included, and
/// answers it as the cache would; a text that is no member of it ends the run.
#[test]
fn a_run_of_members_asks_the_remembered_family_first() {
    let engine = Engine::new(
        Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap()),
        1 << 20,
    );
    let claims = Arc::new(claims("agent_readonly", Some("acme")));
    let mut principal = engine.principal(claims, Dialect::PostgreSql, None);
    let first = "SELECT * FROM reservations WHERE id = 1";
    // Forms the family, and caches the text's decision.
    let cached = engine.authorize_as(&mut principal, first);
    assert!(cached.is_ok(), "{cached:?}");
    engine.authorize_as(&mut principal, "SELECT * FROM reservations WHERE id = 2");
    assert_eq!(
        engine.stats().family_hits,
        1,
        "a new member came from the family"
    );
    // The run is on: the known text is answered from the remembered family, and alike.
    let again = engine.authorize_as(&mut principal, first);
    assert_eq!(
        engine.stats().family_hits,
        2,
        "the remembered family answered before the exact-text cache"
    );
    let mut forms = 0;
    assert_eq!(
        prepared_form::without_prepared_forms(&again, &mut forms).unwrap(),
        *cached,
        "the family answers as the exact-text cache does"
    );
    assert_eq!(forms, 1, "the family's answer has its prepared form");
    // A text without literals has no family: the run ends, and the known text is the exact-text
    // cache's again.
    engine.authorize_as(&mut principal, "SELECT * FROM reservations");
    let from_cache = engine.authorize_as(&mut principal, first);
    assert_eq!(
        engine.stats().family_hits,
        2,
        "the exact-text cache answered"
    );
    assert!(
        Arc::ptr_eq(&from_cache, &cached),
        "the cached decision itself"
    );
}
