//! What real drivers send on connect and around transactions must pass; settings that change
//! how SQL is parsed or resolved must not. Sources: psql (nothing beyond startup parameters),
//! psycopg 3 (BEGIN/COMMIT), JDBC (`SET extra_float_digits = 3`, `SET application_name`,
//! `SET SESSION CHARACTERISTICS`), asyncpg/node-pg (BEGIN, SET/SHOW of formats), PyMySQL
//! (`SET AUTOCOMMIT = 0`, `SET NAMES`), the mysql CLI (`select @@version_comment limit 1`,
//! `SELECT DATABASE()`), mysql_async/JDBC for MySQL (`SELECT @@max_allowed_packet`, …).

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Rule, Scope, StatementKind};
use sluice_tokens::Claims;

const ROLES: &str = "roles:\n  reader:\n    tables: { t: [SELECT] }\n  writer:\n    tables: { t: [SELECT, UPDATE] }\n";

fn run(
    role: &str,
    dialect: Dialect,
    sql: &str,
) -> Result<Vec<(StatementKind, String)>, sluice_policy::Denial> {
    authorize_as(role, dialect, sql)
        .map(|a| a.statements.into_iter().map(|s| (s.kind, s.sql)).collect())
}

fn authorize_as(
    role: &str,
    dialect: Dialect,
    sql: &str,
) -> Result<sluice_policy::Authorized, sluice_policy::Denial> {
    let cfg = RbacConfig::from_yaml("r.yaml", ROLES).unwrap();
    let claims = Claims {
        role: role.into(),
        tenant_id: None,
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
    authorize(&scope, sql)
}

#[test]
fn driver_statements_pass() {
    let pg = [
        "SET extra_float_digits = 3",
        "SET application_name = 'PostgreSQL JDBC Driver'",
        "SET DateStyle = 'ISO'",
        "SET datestyle TO ISO, MDY",
        "SET TIME ZONE 'UTC'",
        "SET timezone = 'Europe/Paris'",
        "SET client_encoding = 'UTF8'",
        "SET client_min_messages = warning",
        "SET bytea_output = 'hex'",
        "SET intervalstyle = 'iso_8601'",
        "SET standard_conforming_strings = on",
        "SHOW transaction isolation level",
        "SHOW server_version",
        "SHOW TIME ZONE",
        "BEGIN",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "START TRANSACTION READ ONLY",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT sp1",
        "RELEASE SAVEPOINT sp1",
        "ROLLBACK TO SAVEPOINT sp1",
        "SELECT 1",
        "SELECT version()",
        "select pg_catalog.version()",
        "select current_schema()",
    ];
    for sql in pg {
        run("reader", Dialect::PostgreSql, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let my = [
        "SET NAMES utf8mb4",
        "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
        "SET AUTOCOMMIT = 0",
        "SET autocommit=1",
        "SET character_set_results = NULL",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET time_zone = '+00:00'",
        "select @@version_comment limit 1",
        "SELECT @@max_allowed_packet, @@session.auto_increment_increment, @@wait_timeout",
        "SELECT DATABASE()",
        "SELECT VERSION()",
        "SHOW VARIABLES LIKE 'sql_mode'",
        "START TRANSACTION",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
    ];
    for sql in my {
        run("reader", Dialect::MySql, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[test]
fn settings_that_change_parsing_or_identity_are_denied() {
    let pg = [
        ("SET search_path = evil, public", Rule::SettingNotAllowed),
        ("SET search_path TO DEFAULT", Rule::SettingNotAllowed),
        (
            "SET standard_conforming_strings = off",
            Rule::SettingNotAllowed,
        ),
        ("SET client_encoding = 'SJIS'", Rule::SettingNotAllowed),
        ("SET ROLE postgres", Rule::SettingNotAllowed),
        ("RESET ROLE", Rule::SettingNotAllowed),
        (
            "SET SESSION AUTHORIZATION postgres",
            Rule::SettingNotAllowed,
        ),
        ("SET row_security = off", Rule::SettingNotAllowed),
        ("SET statement_timeout = 0", Rule::SettingNotAllowed),
        (
            "SET default_transaction_read_only = off",
            Rule::SettingNotAllowed,
        ),
        ("SET LOCAL search_path = x", Rule::SettingNotAllowed),
        (
            "SET application_name = (SELECT 'x')",
            Rule::SettingNotAllowed,
        ),
        (
            "SELECT set_config('search_path', 'evil', false)",
            Rule::SettingNotAllowed,
        ),
        (
            "SELECT current_setting('hba_file')",
            Rule::SettingNotAllowed,
        ),
        ("SHOW ALL", Rule::SettingNotAllowed),
        ("SHOW hba_file", Rule::SettingNotAllowed),
        // RESET ALL and DISCARD ALL return to the pinned values: see
        // driver_housekeeping_passes_and_nothing_wider.
        ("RESET search_path", Rule::SettingNotAllowed),
        ("SET client_min_messages = debug5", Rule::SettingNotAllowed),
        ("SET client_min_messages TO log", Rule::SettingNotAllowed),
    ];
    for (sql, rule) in pg {
        let err = run("writer", Dialect::PostgreSql, sql).expect_err(sql);
        assert_eq!(err.rule, rule, "{sql}: {err}");
    }
    let my = [
        ("SET sql_mode = ''", Rule::SettingNotAllowed),
        (
            "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
            Rule::SettingNotAllowed,
        ),
        ("SET @@sql_mode = 'ANSI_QUOTES'", Rule::SettingNotAllowed),
        ("SET GLOBAL max_connections = 1", Rule::SettingNotAllowed),
        ("SET NAMES gbk", Rule::SettingNotAllowed),
        ("SET character_set_client = 'big5'", Rule::SettingNotAllowed),
        ("SET @x = 1", Rule::SettingNotAllowed),
        ("SELECT @x", Rule::ConstructNotAllowed),
        ("SELECT @@datadir", Rule::SettingNotAllowed),
        ("SELECT @@global.secure_file_priv", Rule::SettingNotAllowed),
        ("SHOW VARIABLES", Rule::SettingNotAllowed),
        (
            "SHOW GLOBAL VARIABLES LIKE 'version'",
            Rule::SettingNotAllowed,
        ),
        ("SHOW VARIABLES LIKE '%'", Rule::SettingNotAllowed),
        ("USE mysql", Rule::StatementNotAllowed),
    ];
    for (sql, rule) in my {
        let err = run("writer", Dialect::MySql, sql).expect_err(sql);
        assert_eq!(err.rule, rule, "{sql}: {err}");
    }
}

#[test]
fn read_only_roles_get_read_only_transactions() {
    // PostgreSQL keeps the client's form (its command tag is what drivers check: PgJDBC wants
    // `BEGIN` back for its BEGIN); MySQL's BEGIN takes no modes, so it becomes START TRANSACTION.
    for (dialect, begin, read_only, plain) in [
        (Dialect::PostgreSql, "BEGIN", "BEGIN READ ONLY", "BEGIN"),
        (
            Dialect::PostgreSql,
            "START TRANSACTION",
            "START TRANSACTION READ ONLY",
            "START TRANSACTION",
        ),
        (
            Dialect::MySql,
            "BEGIN",
            "START TRANSACTION READ ONLY",
            "START TRANSACTION",
        ),
        (
            Dialect::MySql,
            "START TRANSACTION",
            "START TRANSACTION READ ONLY",
            "START TRANSACTION",
        ),
    ] {
        let out = run("reader", dialect, begin).unwrap();
        assert_eq!(out, vec![(StatementKind::Begin, read_only.to_string())]);
        let out = run("writer", dialect, begin).unwrap();
        assert_eq!(out, vec![(StatementKind::Begin, plain.to_string())]);
        let err = run("reader", dialect, "START TRANSACTION READ WRITE").unwrap_err();
        assert_eq!(err.rule, Rule::StatementNotAllowed);
        let err = run("reader", dialect, "SET SESSION TRANSACTION READ WRITE").unwrap_err();
        assert_eq!(err.rule, Rule::StatementNotAllowed, "{err}");
    }
    let out = run(
        "reader",
        Dialect::PostgreSql,
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
    )
    .unwrap();
    assert_eq!(out[0].1, "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY");
}

/// Driver housekeeping: psycopg's statement cache (`DEALLOCATE`), the pool-reset batches of
/// asyncpg and others (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`),
/// `DISCARD ALL`. Harmless through Sluice, and nothing wider than that passes.
#[test]
fn driver_housekeeping_passes_and_nothing_wider() {
    use sluice_policy::DeallocateTarget;
    let pg = |sql: &str| authorize_as("reader", Dialect::PostgreSql, sql);

    let d = pg("DEALLOCATE ALL").unwrap();
    assert_eq!(d.statements[0].kind, StatementKind::Deallocate);
    assert_eq!(d.statements[0].deallocate, Some(DeallocateTarget::All));
    let d = pg("DEALLOCATE PREPARE _pg3_7").unwrap();
    assert_eq!(
        d.statements[0].deallocate,
        Some(DeallocateTarget::Name("_pg3_7".into()))
    );
    let d = pg(r#"DEALLOCATE "ALL""#).unwrap();
    assert_eq!(
        d.statements[0].deallocate,
        Some(DeallocateTarget::Name("ALL".into()))
    );

    let reset =
        pg("SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;").unwrap();
    let kinds: Vec<_> = reset.statements.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            StatementKind::Query,
            StatementKind::Housekeeping,
            StatementKind::Housekeeping,
            StatementKind::Reset
        ]
    );
    let discard = pg("DISCARD ALL").unwrap();
    assert_eq!(discard.statements[0].kind, StatementKind::Discard);
    assert!(discard.statements[0].discards_all);
    assert!(!pg("DISCARD PLANS").unwrap().statements[0].discards_all);
    assert!(pg("RESET ALL").unwrap().statements[0].resets_all);
    assert!(!pg("RESET client_min_messages").unwrap().statements[0].resets_all);
    assert_eq!(
        pg("RESET client_min_messages").unwrap().statements[0].kind,
        StatementKind::Reset
    );

    for (sql, rule) in [
        ("RESET SESSION AUTHORIZATION", Rule::SettingNotAllowed),
        ("RESET role", Rule::SettingNotAllowed),
        ("RESET search_path", Rule::SettingNotAllowed),
        ("CLOSE some_cursor", Rule::StatementNotAllowed),
        ("UNLISTEN chan", Rule::StatementNotAllowed),
        ("SELECT pg_advisory_lock(1)", Rule::FunctionNotAllowed),
    ] {
        let d = pg(sql).expect_err(sql);
        assert_eq!(d.rule, rule, "{sql}: {d}");
    }
    // MySQL: DEALLOCATE PREPARE is SQL-level PREPARE, never allowed.
    assert!(authorize_as("reader", Dialect::MySql, "DEALLOCATE PREPARE s").is_err());
}
