//! The adversarial suite through the PostgreSQL door: every PostgreSQL case of the policy
//! engine's adversarial suites (policy/tests/adversarial*.rs, included from
//! policy/tests/common/, not retyped) plus attacks only a wire protocol has, run through an
//! in-process gateway against a real, seeded car-rental database with two tenants, with
//! tokio-postgres in the simple protocol (`simple_query`) and the extended protocol (`prepare` +
//! bind + execute), in transaction and in session pool mode.
//!
//! The acceptance: no other tenant's row, no hidden column, no write outside the scope, no side
//! effect. For every case and protocol:
//! - a case the engine denies must come back as an error with the rule's SQLSTATE and the
//!   `[sluice: …]` marker (a refused token counts as a denial for the token family);
//! - every value returned (rows, and the text of errors) is scanned for the markers of
//!   integration/fixtures/adversarial_pg.sql: another tenant's values, hidden columns, tables the
//!   role may not read (`CANARY`, `7770`, `2077-`, and per role `VHIDDEN`/`888`, `XREGION`/`5559`,
//!   `AUDITROW`, `SITEROW`, `TICKETROW`); a token for a tenant with no rows must get no rows;
//! - a direct superuser connection then compares every table with its pristine copy: a change is
//!   allowed only for a statement the engine allowed, on a table and operation the role is
//!   granted, on rows inside the role's filter before and after, in granted columns, with hidden
//!   columns of new rows left NULL, and without copying a marker into a column the role reads;
//!   changed tables are restored. Sequences may only advance for a table the role inserts into;
//!   object counts (pg_class, pg_proc, …), advisory locks, sessions left inside a transaction
//!   and notifications (a listener on every channel the cases name) must not change;
//! - a second client with the same token then gets the same backend (pool size 1) and its
//!   pinned settings (`search_path`, `standard_conforming_strings`, read-only, timeouts, …)
//!   must equal those a fresh backend reports.
//!
//! `the_leak_and_side_effect_detectors_detect` proves each of those checks fails when what it
//! looks for happens (done on a direct connection, around the gateway).
//!
//! Door-specific tests below the case runner, on a hand-driven protocol client where no driver
//! would send the bytes: tokens at the door (the backend password, forged, tampered, wrong
//! version, expired, not yet valid, revoked, unknown role), oversized messages, garbage protocol
//! bytes (before and after authentication), protocol state a client leaves on a pooled backend
//! for the next client (suspended portals, unsynced writes, prepared statements, settings, other
//! tenants' DEALLOCATE/DISCARD), parameter types chosen by the client and the backend's identity,
//! and idle transactions that hold pooled backends.
//!
//! Every test collects all its failures and fails once at the end with the full list; the
//! summary per family, protocol and pool mode is printed (run with `--nocapture` to see it on
//! success). `SLUICE_ADV_ONLY=<part of a case id>` runs only matching cases (ids are
//! `suite/family/name`), `SLUICE_ADV_VERBOSE=1` lists every case run with its outcome.

#![allow(dead_code, unused_macros)]

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as StdError;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sluice_integration::{shared_pg, Gateway, GatewayOptions};
use sluice_policy::roles::{ColumnSet, EffectiveRole, Operation, RbacConfig, TableName};
use sluice_policy::{Dialect, Rule};
use sluice_proxy::pg::PoolMode;
use sluice_tokens::{ClaimValue, Claims, TokenRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::private::BytesMut;
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

// =============================================================================================
// The policy suites' cases, included verbatim
// =============================================================================================

mod suite1 {
    use std::collections::BTreeMap;

    use sluice_policy::{Dialect, Rule};
    use sluice_tokens::{ClaimValue, Claims};

    include!("../../policy/tests/common/adversarial_cases.rs");

    pub(crate) fn export() -> Vec<super::DoorCase> {
        all_cases()
            .into_iter()
            .filter(|c| matches!(c.dialect, Dialect::PostgreSql))
            .map(|c| super::DoorCase {
                suite: "adversarial",
                family: c.family,
                name: c.name.to_string(),
                roles: match c.cfg {
                    Cfg::Main => super::RoleFile::Main,
                    Cfg::Delete => super::RoleFile::Delete,
                },
                role: c.role,
                tenant: match c.tok {
                    Tok::Acme => super::Tenant::Acme,
                    Tok::Tenant(t) => super::Tenant::Other(t),
                    Tok::NoTenant => super::Tenant::Missing,
                    Tok::Region(r) => super::Tenant::AcmeRegion(r),
                },
                sql: c.sql,
                want: match c.expect {
                    // The engine alone decides these without the backend's schema and refuses
                    // them; the door has it and serves them from the scoped catalogs
                    // (allowed, and every value it returns scanned for the markers).
                    _ if super::SERVED_FROM_SCOPED_CATALOGS.contains(&c.name) => {
                        super::Want::Either
                    }
                    Expect::Deny(r) | Expect::DenyMsg(r, _) => super::Want::Deny(Some(r)),
                    Expect::DenyAny => super::Want::Deny(None),
                    Expect::Safe(_) => super::Want::Either,
                    Expect::Sql(_)
                    | Expect::SqlW(..)
                    | Expect::Sqls(_)
                    | Expect::OkN(_)
                    | Expect::Pinned(..) => super::Want::Allow,
                },
                pre: Vec::new(),
            })
            .collect()
    }
}

/// The later suites share a harness; each module includes it and one suite's cases.
macro_rules! harness_suite {
    ($module:ident, $file:literal, $suite:literal, $role_file:expr, [$(($family:literal, $f:ident)),* $(,)?]) => {
        mod $module {
            use std::collections::BTreeMap;

            use sluice_policy::roles::RbacConfig;
            use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
            use sluice_tokens::Claims;

            include!("../../policy/tests/common/adversarial_harness.rs");
            include!($file);

            pub(crate) const ROLE_FILE: &str = ROLES;

            pub(crate) fn export() -> Vec<super::DoorCase> {
                let families: Vec<(&'static str, Vec<Case>)> = vec![$(($family, $f())),*];
                // Every case of the suite is exported (the family list must cover all_cases).
                assert_eq!(
                    families.iter().map(|(_, v)| v.len()).sum::<usize>(),
                    all_cases().len(),
                    "{}: a case function is missing from the door suite's family list",
                    $suite
                );
                families
                    .into_iter()
                    .flat_map(|(family, cases)| cases.into_iter().map(move |c| (family, c)))
                    .filter(|(_, c)| matches!(c.dialect, Dialect::PostgreSql))
                    .map(|(family, c)| super::DoorCase {
                        suite: $suite,
                        family,
                        name: c.name.to_string(),
                        roles: $role_file,
                        role: c.role,
                        tenant: super::Tenant::Acme,
                        sql: c.sql,
                        want: match c.expect {
                            Expect::Deny(r) => super::Want::Deny(Some(r)),
                            Expect::DenyAny => super::Want::Deny(None),
                            Expect::Sql(_) | Expect::Pinned(..) => super::Want::Allow,
                        },
                        pre: Vec::new(),
                    })
                    .collect()
            }
        }
    };
}

harness_suite!(
    suite2,
    "../../policy/tests/common/adversarial2_cases.rs",
    "adversarial2",
    super::RoleFile::Second,
    [
        ("escape", mysql_word_string_differential),
        ("dos", dos),
        ("escape", mysql_delete_using),
        ("leave", function_names),
        ("reach", new_paths),
        ("drivers", drivers),
    ]
);
harness_suite!(
    suite3,
    "../../policy/tests/common/adversarial3_cases.rs",
    "adversarial3",
    super::RoleFile::Third,
    [
        ("escape", pseudo_relations),
        ("escape", write_guard_clauses),
        ("disguise", explain_and_ctes),
        ("escape", pinned_inserts),
        ("parser", literals_and_operators),
    ]
);
harness_suite!(
    suite4,
    "../../policy/tests/common/adversarial4_cases.rs",
    "adversarial4",
    super::RoleFile::Third,
    [
        ("escape", placeholders),
        ("reach", ordinals_and_comparisons),
        ("parser", lookalikes),
        ("parser", kelvin_alias),
    ]
);

const ROLES_MAIN: &str = include_str!("../../policy/tests/fixtures/adversarial_roles.yaml");
const ROLES_DELETE: &str =
    include_str!("../../policy/tests/fixtures/adversarial_roles_delete.yaml");
const SCHEMA: &str = include_str!("../fixtures/adversarial_pg.sql");

/// The role file a case's gateway serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RoleFile {
    /// adversarial_roles.yaml
    Main,
    /// adversarial_roles_delete.yaml
    Delete,
    /// adversarial2_roles.yaml
    Second,
    /// adversarial3_roles.yaml plus agent_kind (adversarial3.rs and adversarial4.rs)
    Third,
}

impl RoleFile {
    const ALL: [RoleFile; 4] = [
        RoleFile::Main,
        RoleFile::Delete,
        RoleFile::Second,
        RoleFile::Third,
    ];
    fn yaml(self) -> &'static str {
        match self {
            RoleFile::Main => ROLES_MAIN,
            RoleFile::Delete => ROLES_DELETE,
            RoleFile::Second => suite2::ROLE_FILE,
            RoleFile::Third => suite4::ROLE_FILE,
        }
    }
}

/// The claims of the case's token (all tokens are for tenant `acme` unless said otherwise).
#[derive(Clone, Debug)]
enum Tenant {
    Acme,
    /// Another tenant value (one that owns no rows, or a claim that tries to be SQL).
    Other(String),
    Missing,
    /// `acme` with this `region` claim.
    AcmeRegion(Option<ClaimValue>),
}

/// What the policy suite asserts for the case.
#[derive(Clone, Debug)]
enum Want {
    /// Denied (by this rule): the door must answer with an error carrying the rule's SQLSTATE.
    Deny(Option<Rule>),
    /// Allowed: the backend runs the rewrite (it may still fail there).
    Allow,
    /// Denied, or allowed without the listed outputs.
    Either,
}

#[derive(Clone, Debug)]
struct DoorCase {
    suite: &'static str,
    family: &'static str,
    name: String,
    roles: RoleFile,
    role: &'static str,
    tenant: Tenant,
    sql: String,
    want: Want,
    /// Statements sent first on the same connection (simple protocol; their results ignored).
    pre: Vec<String>,
}

impl DoorCase {
    fn token_request(&self) -> TokenRequest {
        let (tenant_id, extra) = match &self.tenant {
            Tenant::Acme => (Some("acme".to_string()), BTreeMap::new()),
            Tenant::Other(t) => (Some(t.clone()), BTreeMap::new()),
            Tenant::Missing => (None, BTreeMap::new()),
            Tenant::AcmeRegion(r) => {
                let mut m = BTreeMap::new();
                if let Some(v) = r {
                    m.insert("region".to_string(), v.clone());
                }
                (Some("acme".to_string()), m)
            }
        };
        TokenRequest {
            role: self.role.to_string(),
            tenant_id,
            extra,
            lifetime_secs: 3600,
            label: Some("pg-adversarial".into()),
        }
    }

    /// The claims the gateway binds into filters (for checking the scope of writes).
    fn claims(&self) -> Claims {
        let req = self.token_request();
        Claims {
            role: req.role,
            tenant_id: req.tenant_id,
            exp: 2_000_000_000,
            iat: 1_900_000_000,
            nbf: 1_900_000_000,
            jti: "0123456789abcdef0123456789abcdef".into(),
            label: None,
            extra: req.extra,
        }
    }

    fn id(&self) -> String {
        format!("{}/{}/{}", self.suite, self.family, self.name)
    }
}

// =============================================================================================
// Attacks only a wire protocol has (run like the policy cases, in both protocols and modes)
// =============================================================================================

const RO: &str = "agent_readonly";
const SUP: &str = "agent_support";
const CRM: &str = "agent_crm";

fn door(family: &'static str, name: &str, role: &'static str, sql: &str, want: Want) -> DoorCase {
    DoorCase {
        suite: "door",
        family,
        name: name.to_string(),
        roles: RoleFile::Main,
        role,
        tenant: Tenant::Acme,
        sql: sql.to_string(),
        want,
        pre: Vec::new(),
    }
}

impl DoorCase {
    fn pre(mut self, statements: &[&str]) -> Self {
        self.pre = statements.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// The trick `SET standard_conforming_strings = off` is for: with the setting off, `'x\'` does
/// not end the string, and `OR 1=1` would be read by the backend as part of it … or the other
/// way round. The engine reads with the setting on; the backend must too.
const SCS_TRICK: &str = r"SELECT * FROM customers WHERE name = 'x\' OR 1=1 --'";

fn door_cases() -> Vec<DoorCase> {
    use Want::{Allow, Deny, Either};
    let deny = |r: Rule| Deny(Some(r));
    vec![
        // --- multi-statement strings and SQL-level statement handling
        door("disguise", "multi_select_delete", RO, "SELECT 1; DELETE FROM customers", deny(Rule::ForbiddenOperation)),
        door("disguise", "multi_commit_drop", RO, "SELECT 1; COMMIT; DROP TABLE customers", deny(Rule::ForbiddenOperation)),
        door("disguise", "multi_rollback_ungranted", RO, "SELECT * FROM customers; ROLLBACK; SELECT * FROM payments", deny(Rule::TableNotGranted)),
        door("disguise", "multi_allowed_then_denied_runs_nothing", SUP,
            "UPDATE reservations SET notes = 'multi-1' WHERE id = 1; UPDATE reservations SET price = 0", deny(Rule::ColumnNotGranted)),
        door("disguise", "multi_commit_between_runs_nothing", SUP,
            "UPDATE reservations SET notes = 'multi-2' WHERE id = 2; COMMIT; UPDATE reservations SET internal_score = 0", deny(Rule::ColumnNotGranted)),
        door("disguise", "multi_transaction_block", SUP, "BEGIN; UPDATE reservations SET notes = 'tx-block' WHERE id = 3; COMMIT", Allow),
        door("disguise", "multi_begin_set_role", RO, "BEGIN; SELECT 1; COMMIT; SET ROLE postgres", deny(Rule::SettingNotAllowed)),
        door("disguise", "multi_inside_dollar_string", RO, "SELECT $a$; DELETE FROM customers; $a$", Allow),
        door("disguise", "multi_inside_escape_string", RO, r"SELECT E'\'; DELETE FROM customers; --'", Allow),
        door("disguise", "multi_inside_unicode_string", RO, r"SELECT U&'\0027; DELETE FROM customers; --'", Either),
        door("disguise", "multi_inside_block_comment", RO, "SELECT 1 /*; DELETE FROM customers */", Allow),
        door("disguise", "multi_after_line_comment", RO, "SELECT 1 --\n; DELETE FROM customers", deny(Rule::ForbiddenOperation)),
        door("disguise", "multi_nested_comment_unterminated", RO, "SELECT 1 /* /* */ ; DELETE FROM customers", Either),
        door("disguise", "empty_query", RO, "", Either),
        door("disguise", "only_semicolons", RO, " ; ; ", Either),
        door("disguise", "sql_prepare", RO, "PREPARE p AS SELECT * FROM customers", deny(Rule::StatementNotAllowed)),
        door("disguise", "sql_prepare_execute", RO, "PREPARE q AS SELECT ssn FROM customers; EXECUTE q", Deny(None)),
        door("disguise", "sql_execute_gateway_statement_name", RO, "EXECUTE sluice_0123456789abcdef", deny(Rule::StatementNotAllowed)),
        door("disguise", "sql_deallocate_all", RO, "DEALLOCATE ALL", Either),
        door("disguise", "do_block_write", SUP, "DO $$BEGIN UPDATE customers SET name = 'CANARY-DO'; END$$", Deny(None)),
        door("disguise", "do_language_block", RO, "DO LANGUAGE plpgsql $$BEGIN PERFORM 1; END$$", Deny(None)),
        door("disguise", "call_procedure", SUP, "CALL p()", deny(Rule::StatementNotAllowed)),
        door("disguise", "call_qualified_procedure", CRM, "CALL public.p()", deny(Rule::StatementNotAllowed)),
        door("disguise", "cte_delete", RO, "WITH x AS (DELETE FROM customers RETURNING *) SELECT * FROM x", Deny(None)),
        door("disguise", "explain_analyze_delete", RO, "EXPLAIN ANALYZE DELETE FROM customers", Deny(None)),
        door("disguise", "explain_analyze_json_update", SUP, "EXPLAIN (ANALYZE, FORMAT JSON) UPDATE reservations SET notes = 'e'", Deny(None)),
        door("disguise", "select_into_temp", RO, "SELECT * INTO TEMP t FROM customers", Deny(None)),
        door("disguise", "create_temp_table_as", RO, "CREATE TEMP TABLE t AS SELECT * FROM customers", Deny(None)),
        door("disguise", "declare_cursor_with_hold", RO, "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM customers", Deny(None)),
        door("disguise", "fetch_cursor", RO, "FETCH ALL FROM c", Deny(None)),
        door("disguise", "ro_begin_read_write", RO, "BEGIN READ WRITE", Deny(None)),
        door("disguise", "ro_start_read_write_then_write", RO, "START TRANSACTION READ WRITE; UPDATE reservations SET notes = 'rw'", Deny(None)),
        // --- session, role and search_path changes, set_config, LISTEN, COPY, files, catalogs
        door("leave", "set_role", RO, "SET ROLE postgres", deny(Rule::SettingNotAllowed)),
        door("leave", "set_local_role", RO, "SET LOCAL ROLE postgres", Deny(None)),
        door("leave", "set_role_none", RO, "SET ROLE NONE", Deny(None)),
        door("leave", "set_role_as_setting", RO, "SET role = 'postgres'", Deny(None)),
        door("leave", "reset_role", RO, "RESET ROLE", Deny(None)),
        door("leave", "set_session_authorization_default", RO, "SET SESSION AUTHORIZATION DEFAULT", Deny(None)),
        door("leave", "set_search_path", RO, "SET search_path = evil", deny(Rule::SettingNotAllowed)),
        door("leave", "read_after_denied_search_path", RO, "SELECT * FROM customers", Allow).pre(&["SET search_path = evil, public"]),
        door("leave", "set_search_path_pg_temp", RO, "SET search_path = pg_temp, public", Deny(None)),
        door("leave", "set_search_path_default", RO, "SET search_path TO DEFAULT", Deny(None)),
        door("leave", "set_local_search_path_in_transaction", RO, "SET LOCAL search_path = evil", Deny(None)).pre(&["BEGIN"]),
        door("leave", "set_config_search_path", RO, "SELECT set_config('search_path', 'evil', false)", Deny(None)),
        door("leave", "set_config_role", RO, "SELECT pg_catalog.set_config('role', 'postgres', false)", Deny(None)),
        door("leave", "set_config_scs", RO, "SELECT set_config('standard_conforming_strings', 'off', false)", Deny(None)),
        door("leave", "listen", RO, "LISTEN x", deny(Rule::StatementNotAllowed)),
        door("leave", "notify", RO, "NOTIFY x, 'leak'", deny(Rule::StatementNotAllowed)),
        door("leave", "pg_notify_rows", RO, "SELECT pg_notify('x', email) FROM customers", Deny(None)),
        door("leave", "unlisten", RO, "UNLISTEN *", Either),
        // Driver housekeeping the engine allows: harmless to the next client and to others.
        door("leave", "discard_all", RO, "DISCARD ALL", Either),
        door("leave", "reset_all", RO, "RESET ALL", Either),
        door("leave", "close_all", RO, "CLOSE ALL", Either),
        door("leave", "deallocate_gateway_name", RO, "DEALLOCATE sluice_0123456789abcdef", Either),
        door("leave", "reset_session_authorization", RO, "RESET SESSION AUTHORIZATION", Deny(None)),
        door("leave", "reset_search_path", RO, "RESET search_path", Deny(None)),
        door("leave", "copy_table_to_stdout", RO, "COPY customers TO STDOUT", deny(Rule::StatementNotAllowed)),
        door("leave", "copy_query_to_stdout", RO, "COPY (SELECT * FROM customers) TO STDOUT", Deny(None)),
        door("leave", "copy_from_stdin", CRM, "COPY customers FROM STDIN", Deny(None)),
        door("leave", "copy_to_server_file", RO, "COPY customers TO '/tmp/sluice_adversarial_copy'", Deny(None)),
        door("leave", "copy_from_program", RO, "COPY customers FROM PROGRAM 'touch /tmp/sluice_adversarial_pwned'", Deny(None)),
        door("leave", "lo_import", RO, "SELECT lo_import('/etc/passwd')", Deny(None)),
        door("leave", "pg_ls_dir", RO, "SELECT pg_ls_dir('.')", Deny(None)),
        door("leave", "pg_read_binary_file", RO, "SELECT pg_read_binary_file('/etc/passwd')", Deny(None)),
        door("leave", "alter_system", RO, "ALTER SYSTEM SET log_statement = 'all'", Deny(None)),
        door("leave", "create_extension", RO, "CREATE EXTENSION IF NOT EXISTS dblink", Deny(None)),
        door("leave", "load_library", RO, "LOAD 'auto_explain'", Deny(None)),
        door("leave", "checkpoint", RO, "CHECKPOINT", Deny(None)),
        door("leave", "vacuum_full", RO, "VACUUM FULL customers", Deny(None)),
        door("leave", "terminate_backends", RO, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", Deny(None)),
        door("leave", "pg_stat_activity_queries", RO, "SELECT query FROM pg_stat_activity", Deny(None)),
        door("leave", "current_setting_superuser", RO, "SELECT current_setting('is_superuser')", Deny(None)),
        door("leave", "show_hba_file", RO, "SHOW hba_file", Deny(None)),
        door("leave", "show_search_path", RO, "SHOW search_path", Allow),
        door("leave", "show_is_superuser", RO, "SHOW is_superuser", Either),
        door("leave", "nextval_identity", SUP, "SELECT nextval('reservations_id_seq')", Deny(None)),
        door("leave", "setval", RO, "SELECT setval('s', 100)", Deny(None)),
        door("leave", "lock_table", SUP, "LOCK TABLE reservations IN ACCESS EXCLUSIVE MODE", Deny(None)),
        door("leave", "advisory_lock", RO, "SELECT pg_advisory_lock(42)", Deny(None)),
        door("leave", "advisory_xact_lock", RO, "SELECT pg_try_advisory_xact_lock(42)", Deny(None)),
        door("leave", "current_xact_id", RO, "SELECT pg_current_xact_id()", Deny(None)),
        door("leave", "evil_schema_qualified", RO, "SELECT * FROM evil.customers", deny(Rule::TableNotGranted)),
        // --- parser differentials the pinned settings protect against
        door("parser", "scs_off", RO, "SET standard_conforming_strings = off", deny(Rule::SettingNotAllowed)),
        door("parser", "scs_trick_after_denied_set", RO, SCS_TRICK, Allow).pre(&["SET standard_conforming_strings = off"]),
        door("parser", "scs_on_then_off", RO, "SET standard_conforming_strings = on, off", Either),
        door("parser", "scs_trick_after_on_off", RO, SCS_TRICK, Allow).pre(&["SET standard_conforming_strings = on, off"]),
        door("parser", "scs_trick_after_local_off", RO, SCS_TRICK, Allow).pre(&["BEGIN", "SET LOCAL standard_conforming_strings = off"]),
        door("parser", "scs_trick_after_quoted_off", RO, SCS_TRICK, Allow).pre(&[r#"SET "standard_conforming_strings" = 'off'"#]),
        door("parser", "scs_trick_after_default", RO, SCS_TRICK, Allow).pre(&["SET standard_conforming_strings TO DEFAULT"]),
        door("parser", "scs_trick_after_reset", RO, SCS_TRICK, Allow).pre(&["RESET standard_conforming_strings"]),
        door("parser", "scs_trick_after_reset_all", RO, SCS_TRICK, Allow).pre(&["RESET ALL"]),
        door("parser", "scs_trick_after_set_config", RO, SCS_TRICK, Allow).pre(&["SELECT set_config('standard_conforming_strings', 'off', false)"]),
        door("parser", "scs_trick_in_transaction_after_local_on", RO, SCS_TRICK, Allow).pre(&["BEGIN", "SET LOCAL standard_conforming_strings = on"]),
        door("parser", "escape_string_backslash_quote", RO, r"SELECT * FROM customers WHERE name = E'x\\' OR 1=1 --'", Allow),
        door("parser", "client_encoding_sjis", RO, "SET client_encoding = 'SJIS'", deny(Rule::SettingNotAllowed)),
        door("parser", "set_names_sjis", RO, "SET NAMES 'SJIS'", Deny(None)),
        door("parser", "client_encoding_default", RO, "SET client_encoding TO DEFAULT", Deny(None)),
        door("parser", "dollar_quotes_nested", RO, "SELECT $x$ $y$ ' $y$ $x$", Allow),
        door("parser", "unicode_escaped_identifier", RO, r#"SELECT U&"\0073sn" FROM customers"#, Deny(None)),
        // --- denial of service the door must bound
        door("dos", "statement_timeout_applies", RO, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", Either),
        door("dos", "statement_timeout_after_denied_set", RO, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", Either)
            .pre(&["SET statement_timeout = 0"]),
        door("dos", "idle_in_transaction_timeout_zero", RO, "SET idle_in_transaction_session_timeout = 0", Deny(None)),
        door("dos", "five_way_cross_join", RO, "SELECT count(*) FROM vehicles a, vehicles b, vehicles c, vehicles d, vehicles e", Allow),
        door("dos", "endless_rows", RO, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r", Either),
        // --- writes that try to leave the scope through a real database
        door("escape", "update_other_tenant_by_id", SUP, "UPDATE reservations SET notes = 'hit' WHERE id = 777001", Allow),
        door("escape", "update_returning_every_column", SUP, "UPDATE reservations SET status = status RETURNING *", Allow),
        door("escape", "upsert_into_other_tenant_row", SUP,
            "INSERT INTO reservations (id, notes) VALUES (777001, 'x') ON CONFLICT (id) DO UPDATE SET notes = 'hit' RETURNING *", Allow),
        door("escape", "upsert_excluded_returning_other", SUP,
            "INSERT INTO reservations (id, notes) VALUES (777002, 'x') ON CONFLICT (id) DO UPDATE SET notes = excluded.notes RETURNING *", Allow),
        door("escape", "crm_update_by_other_tenant_email", CRM, "UPDATE customers SET name = 'hit' WHERE email LIKE '%globex%' RETURNING id, name", Allow),
        door("escape", "crm_insert_then_read_back", CRM, "INSERT INTO customers (name, email) VALUES ('New', 'new@acme.example') RETURNING id, tenant_id, name, email", Allow),
        door("escape", "update_from_other_tenant_join", SUP,
            "UPDATE reservations r SET notes = o.notes FROM reservations o WHERE o.id = 777001 RETURNING r.notes", Allow),
    ]
}

// =============================================================================================
// Markers, values and parameters
// =============================================================================================

/// Lower-case markers no result for `role` may contain (see adversarial_pg.sql).
fn forbidden_markers(role: &str) -> Vec<&'static str> {
    let mut m = vec!["canary", "7770", "2077-"];
    if role == "agent_fleet" {
        m.extend(["vhidden", "888"]);
    }
    if role == "agent_region" {
        m.extend(["xregion", "5559"]);
    }
    if role != "agent_janitor" {
        m.push("auditrow");
    }
    if role != "agent_slug" {
        m.push("siterow");
    }
    if role != "agent_kind" {
        m.push("ticketrow");
    }
    m
}

fn find_marker(text: &str, markers: &[&'static str]) -> Option<&'static str> {
    let lower = text.to_lowercase();
    markers.iter().copied().find(|m| lower.contains(m))
}

fn short(s: &str) -> String {
    let s = s.replace('\n', "\\n");
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s
    }
}

/// Any column value in binary format, kept as its type and bytes.
struct RawVal(Option<(Type, Vec<u8>)>);

impl<'a> FromSql<'a> for RawVal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(RawVal(Some((ty.clone(), raw.to_vec()))))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(RawVal(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A binary value as text for scanning: decoded where the type is known, followed by the raw
/// bytes read as UTF-8 (text inside records, arrays and unknown types stays visible).
fn value_text(ty: &Type, raw: &[u8]) -> String {
    let decoded = decode(ty, raw).unwrap_or_default();
    format!("{decoded} \u{1} {}", String::from_utf8_lossy(raw))
}

fn be<const N: usize>(raw: &[u8], at: usize) -> Option<[u8; N]> {
    raw.get(at..at + N)?.try_into().ok()
}

fn decode(ty: &Type, raw: &[u8]) -> Option<String> {
    Some(match ty.oid() {
        16 => (*raw.first()? != 0).to_string(),
        21 => i16::from_be_bytes(be(raw, 0)?).to_string(),
        23 => i32::from_be_bytes(be(raw, 0)?).to_string(),
        20 => i64::from_be_bytes(be(raw, 0)?).to_string(),
        26 => u32::from_be_bytes(be(raw, 0)?).to_string(),
        700 => f32::from_be_bytes(be(raw, 0)?).to_string(),
        701 => f64::from_be_bytes(be(raw, 0)?).to_string(),
        1700 => numeric(raw)?,
        1082 => {
            let (y, m, d) = civil(i32::from_be_bytes(be(raw, 0)?) as i64 + 10_957);
            format!("{y:04}-{m:02}-{d:02}")
        }
        1114 | 1184 => {
            let us = i64::from_be_bytes(be(raw, 0)?);
            let day = us.div_euclid(86_400_000_000);
            let rest = us.rem_euclid(86_400_000_000) / 1_000_000;
            let (y, m, d) = civil(day + 10_957);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                rest / 3600,
                rest / 60 % 60,
                rest % 60
            )
        }
        3802 => String::from_utf8_lossy(raw.get(1..)?).into_owned(),
        2249 => composite(raw)?,
        _ => match ty.kind() {
            Kind::Array(elem) => array(elem, raw)?,
            Kind::Composite(_) => composite(raw)?,
            Kind::Domain(inner) => decode(inner, raw)?,
            _ => String::from_utf8_lossy(raw).into_owned(),
        },
    })
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m as u32, d as u32)
}

fn numeric(raw: &[u8]) -> Option<String> {
    let word = |at: usize| be::<2>(raw, at).map(i16::from_be_bytes);
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i32;
    let sign = word(4)? as u16;
    let dscale = word(6)? as usize;
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|k| word(8 + 2 * k))
        .collect::<Option<_>>()?;
    let digit = |i: i32| {
        if i < 0 {
            0
        } else {
            digits.get(i as usize).copied().unwrap_or(0)
        }
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                s += &digit(i).to_string();
            } else {
                s += &format!("{:04}", digit(i));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac += &format!("{:04}", digit(i));
            i += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s += &frac;
    }
    Some(s)
}

fn composite(raw: &[u8]) -> Option<String> {
    let n = i32::from_be_bytes(be(raw, 0)?);
    let mut at = 4;
    let mut parts = Vec::new();
    for _ in 0..n {
        let oid = u32::from_be_bytes(be(raw, at)?);
        let len = i32::from_be_bytes(be(raw, at + 4)?);
        at += 8;
        if len < 0 {
            parts.push("NULL".to_string());
            continue;
        }
        let bytes = raw.get(at..at + len as usize)?;
        at += len as usize;
        parts.push(match Type::from_oid(oid) {
            Some(t) => decode(&t, bytes).unwrap_or_default(),
            None => String::from_utf8_lossy(bytes).into_owned(),
        });
    }
    Some(format!("({})", parts.join(",")))
}

fn array(elem: &Type, raw: &[u8]) -> Option<String> {
    let ndim = i32::from_be_bytes(be(raw, 0)?);
    let oid = u32::from_be_bytes(be(raw, 8)?);
    let elem = Type::from_oid(oid).unwrap_or_else(|| elem.clone());
    let mut count = 1i64;
    let mut at = 12;
    for _ in 0..ndim {
        count *= i32::from_be_bytes(be(raw, at)?) as i64;
        at += 8;
    }
    if ndim == 0 {
        count = 0;
    }
    let mut parts = Vec::new();
    for _ in 0..count {
        let len = i32::from_be_bytes(be(raw, at)?);
        at += 4;
        if len < 0 {
            parts.push("NULL".to_string());
            continue;
        }
        let bytes = raw.get(at..at + len as usize)?;
        at += len as usize;
        parts.push(decode(&elem, bytes).unwrap_or_default());
    }
    Some(format!("{{{}}}", parts.join(",")))
}

/// A parameter sent in text format whatever its type, so that any placeholder can be bound.
#[derive(Debug)]
struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        self.to_sql(ty, out)
    }
    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }
}

/// Every value [`attack_value`] binds.
const ATTACK_VALUES: &[&str] = &[
    "true",
    "777001",
    "777011.11",
    "2077-07-01",
    "2077-07-01 00:00:00",
    "{1,777001}",
    "{globex}",
    "globex",
];

/// Whether every word of `text` holding `marker` is a value the client sent itself (in its SQL
/// or as a bound parameter).
fn echoes_input(text: &str, marker: &str, sql: &str) -> bool {
    let inputs = format!("{} {}", sql.to_lowercase(), ATTACK_VALUES.join(" "));
    text.to_lowercase()
        .split(|ch: char| !(ch.is_alphanumeric() || "-@._".contains(ch)))
        .filter(|w| w.contains(marker))
        .all(|w| inputs.contains(w))
}

/// What an attacker binds to a placeholder: the other tenant's values.
fn attack_value(ty: &Type) -> TextParam {
    let v = match ty.oid() {
        16 => "true",
        20 | 21 | 23 | 26 => "777001",
        700 | 701 | 1700 => "777011.11",
        1082 => "2077-07-01",
        1114 | 1184 => "2077-07-01 00:00:00",
        _ => match ty.kind() {
            Kind::Array(e) if matches!(e.oid(), 20 | 21 | 23) => "{1,777001}",
            Kind::Array(_) => "{globex}",
            _ => "globex",
        },
    };
    TextParam(Some(v.to_string()))
}

// =============================================================================================
// The environment: one database, one gateway per role file, a direct superuser connection
// =============================================================================================

/// (table name as role files write it, qualified name, pristine copy)
const TABLES: &[(&str, &str, &str)] = &[
    ("customers", "public.customers", "customers"),
    ("vehicles", "public.vehicles", "vehicles"),
    ("reservations", "public.reservations", "reservations"),
    ("payments", "public.payments", "payments"),
    ("audit_log", "public.audit_log", "audit_log"),
    ("sites", "public.sites", "sites"),
    ("tickets", "public.tickets", "tickets"),
    ("evil.customers", "evil.customers", "evil_customers"),
];

/// Channels a listener watches: every name the cases NOTIFY or LISTEN on.
const CHANNELS: &[&str] = &["x", "c", "y", "s", "leak", "sluice", "evil", "ch"];

/// The settings a fresh backend reports, compared for the client after each case.
const SHOW_SQL: &str = "SHOW search_path; SHOW standard_conforming_strings; \
    SHOW default_transaction_read_only; SHOW transaction_read_only; SHOW statement_timeout; \
    SHOW client_encoding; SHOW datestyle; SHOW timezone; SHOW intervalstyle; \
    SHOW extra_float_digits; SHOW bytea_output; SHOW transaction_isolation; \
    SHOW default_transaction_isolation; SHOW application_name";
const SHOW_NAMES: &[&str] = &[
    "search_path",
    "standard_conforming_strings",
    "default_transaction_read_only",
    "transaction_read_only",
    "statement_timeout",
    "client_encoding",
    "datestyle",
    "timezone",
    "intervalstyle",
    "extra_float_digits",
    "bytea_output",
    "transaction_isolation",
    "default_transaction_isolation",
    "application_name",
];

/// Counts of objects no statement may create or drop (this database, plus cluster-wide state).
const STATE_SQL: &str = "SELECT 'pg_class=' || (SELECT count(*) FROM pg_class) \
    || ' pg_namespace=' || (SELECT count(*) FROM pg_namespace) \
    || ' pg_proc=' || (SELECT count(*) FROM pg_proc) \
    || ' pg_type=' || (SELECT count(*) FROM pg_type) \
    || ' pg_trigger=' || (SELECT count(*) FROM pg_trigger) \
    || ' pg_policy=' || (SELECT count(*) FROM pg_policy) \
    || ' pg_extension=' || (SELECT count(*) FROM pg_extension) \
    || ' pg_roles=' || (SELECT count(*) FROM pg_roles) \
    || ' large_objects=' || (SELECT count(*) FROM pg_largeobject_metadata) \
    || ' prepared_xacts=' || (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()) \
    || ' auto_conf=' || (SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf')";

/// Advisory locks held, and sessions of this database that are not idle (other than this one).
const BUSY_SQL: &str = "SELECT \
    (SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
       WHERE l.locktype = 'advisory' AND d.datname = current_database()), \
    (SELECT coalesce(string_agg(state || ': ' || left(query, 120), ' | '), '') FROM pg_stat_activity \
       WHERE datname = current_database() AND pid <> pg_backend_pid() \
       AND backend_type = 'client backend' AND state IS DISTINCT FROM 'idle')";

const ROW_CAP: usize = 2000;
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

fn diff_sql() -> String {
    TABLES
        .iter()
        .map(|(name, qual, copy)| {
            format!(
                "SELECT '{name}', '+', to_jsonb(x)::text FROM (TABLE {qual} EXCEPT ALL TABLE sluice_pristine.{copy}) x \
                 UNION ALL SELECT '{name}', '-', to_jsonb(x)::text FROM (TABLE sluice_pristine.{copy} EXCEPT ALL TABLE {qual}) x"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn direct_client(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("direct connection to the test server");
    tokio::spawn(conn);
    client
}

fn simple_values(msgs: &[SimpleQueryMessage]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .collect()
}

struct Env {
    mode: PoolMode,
    db: String,
    gateways: BTreeMap<RoleFile, Gateway>,
    configs: BTreeMap<RoleFile, RbacConfig>,
    direct: Client,
    listener: Client,
    notifications: tokio::sync::mpsc::UnboundedReceiver<String>,
    state: String,
    sequences: BTreeMap<String, Option<i64>>,
    settings: BTreeMap<(RoleFile, String), Vec<String>>,
    diff_sql: String,
}

impl Env {
    async fn new(mode: PoolMode) -> Env {
        let pg = shared_pg();
        let db = pg.create_unique_database("adv").expect("database");
        pg.exec(&db, SCHEMA).expect("seed the adversarial database");
        let mut gateways = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for file in RoleFile::ALL {
            let gw = Gateway::start_pg(
                &pg.url(&db),
                &db,
                file.yaml(),
                GatewayOptions {
                    pool_mode: mode,
                    // One backend per profile: the next client gets the backend the case used.
                    pool_size: 1,
                    statement_timeout: Duration::from_secs(3),
                    drain_timeout: Duration::from_secs(1),
                    ..Default::default()
                },
            )
            .expect("gateway starts");
            gateways.insert(file, gw);
            configs.insert(
                file,
                RbacConfig::from_yaml("roles.yaml", file.yaml()).expect("role file loads"),
            );
        }
        let direct = direct_client(&pg.url(&db)).await;
        let (listener, mut conn) = tokio_postgres::connect(&pg.url(&db), NoTls)
            .await
            .expect("listener connects");
        let (tx, notifications) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        let _ = tx.send(format!("{}: {}", n.channel(), n.payload()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        });
        let listen: String = CHANNELS.iter().map(|c| format!("LISTEN {c};")).collect();
        listener.batch_execute(&listen).await.expect("LISTEN");
        let mut env = Env {
            mode,
            db,
            gateways,
            configs,
            direct,
            listener,
            notifications,
            state: String::new(),
            sequences: BTreeMap::new(),
            settings: BTreeMap::new(),
            diff_sql: diff_sql(),
        };
        env.state = env.object_state().await;
        env.sequences = env.sequence_values().await;
        assert!(
            env.sequences.values().all(Option::is_none),
            "sequences start unused: {:?}",
            env.sequences
        );
        assert!(env.diffs().await.is_empty(), "tables equal their copies");
        // What a fresh backend of every role's profile reports, before any case ran.
        for file in RoleFile::ALL {
            let roles: Vec<String> = env.configs[&file]
                .role_names()
                .map(str::to_string)
                .collect();
            for role in roles {
                let gw = &env.gateways[&file];
                let token = gw
                    .token_at(&baseline_request(&role), now_unix())
                    .expect("baseline token");
                let values = show_settings(gw, &token)
                    .await
                    .unwrap_or_else(|e| panic!("baseline settings of {role}: {e}"));
                env.settings.insert((file, role), values);
            }
        }
        env
    }

    async fn object_state(&self) -> String {
        let r = self.direct.simple_query(STATE_SQL).await.expect("state");
        simple_values(&r).join("")
    }

    async fn sequence_values(&self) -> BTreeMap<String, Option<i64>> {
        self.direct
            .query(
                "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences",
                &[],
            )
            .await
            .expect("sequences")
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, Option<i64>>(1)))
            .collect()
    }

    async fn diffs(&self) -> Vec<(String, String, serde_json::Value)> {
        self.direct
            .query(self.diff_sql.as_str(), &[])
            .await
            .expect("diff query")
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    serde_json::from_str(&r.get::<_, String>(2)).expect("row json"),
                )
            })
            .collect()
    }

    async fn restore(&self, tables: &BTreeSet<String>) {
        let mut sql = String::from("BEGIN;");
        for (name, qual, copy) in TABLES {
            if tables.contains(*name) {
                sql += &format!(
                    "DELETE FROM {qual}; INSERT INTO {qual} SELECT * FROM sluice_pristine.{copy};"
                );
            }
        }
        sql += "COMMIT;";
        self.direct
            .batch_execute(&sql)
            .await
            .expect("restore tables");
    }

    /// Whether `row` of `table` passes every row filter the role has on it for the case's claims.
    async fn in_scope(
        &self,
        role: &EffectiveRole,
        claims: &Claims,
        table: &str,
        row: &serde_json::Value,
    ) -> Result<bool, String> {
        let Some(grant) = role.tables.get(&TableName {
            schema: None,
            name: table.to_string(),
        }) else {
            return Ok(false);
        };
        if grant.filters.is_empty() {
            return Ok(true);
        }
        let mut conds = Vec::new();
        for f in &grant.filters {
            match f.bind(Dialect::PostgreSql, claims) {
                Ok(e) => conds.push(format!("({e})")),
                Err(e) => return Err(format!("filter does not bind: {e}")),
            }
        }
        let sql = format!(
            "SELECT coalesce({}, false) FROM jsonb_populate_record(NULL::public.{table}, $1::text::jsonb) AS {table}",
            conds.join(" AND ")
        );
        let r = self
            .direct
            .query_one(sql.as_str(), &[&row.to_string()])
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
        Ok(r.get(0))
    }

    /// Checks every changed row against what the case's role may write; restores the tables.
    async fn check_writes(
        &self,
        c: &DoorCase,
        refused: bool,
        diffs: Vec<(String, String, serde_json::Value)>,
    ) -> Vec<String> {
        let mut fails = Vec::new();
        let tables: BTreeSet<String> = diffs.iter().map(|(t, _, _)| t.clone()).collect();
        let describe = |d: &[(String, String, serde_json::Value)]| {
            d.iter()
                .take(6)
                .map(|(t, op, v)| format!("{t} {op}{}", short(&v.to_string())))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if refused {
            fails.push(format!(
                "SIDE EFFECT: a refused statement changed data: {}",
                describe(&diffs)
            ));
            self.restore(&tables).await;
            return fails;
        }
        let cfg = &self.configs[&c.roles];
        let Some(role) = cfg.role(c.role) else {
            fails.push(format!(
                "WRITE by a role the file lacks: {}",
                describe(&diffs)
            ));
            self.restore(&tables).await;
            return fails;
        };
        let claims = c.claims();
        let markers = forbidden_markers(c.role);
        for table in &tables {
            let tn = TableName {
                schema: None,
                name: table.clone(),
            };
            let grant = role.tables.get(&tn);
            let cols = |op: Operation| -> Option<Vec<String>> {
                grant.map(|g| match g.columns_for(op) {
                    ColumnSet::All => Vec::new(),
                    ColumnSet::Only(v) => v,
                })
            };
            let limited = |op: Operation| grant.is_some_and(|g| g.columns.contains_key(&op));
            let readable = |col: &str| {
                role.permits(&tn, Operation::Select)
                    && (!limited(Operation::Select)
                        || cols(Operation::Select)
                            .unwrap_or_default()
                            .iter()
                            .any(|c| c == col))
            };
            let id_of = |v: &serde_json::Value| v.get("id").map(|i| i.to_string());
            let mut removed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            let mut added: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            let mut unkeyed = Vec::new();
            for (t, op, v) in diffs.iter().filter(|(t, _, _)| t == table) {
                let key = id_of(v);
                match (op.as_str(), key) {
                    ("-", Some(k)) if !removed.contains_key(&k) => {
                        removed.insert(k, v.clone());
                    }
                    ("+", Some(k)) if !added.contains_key(&k) => {
                        added.insert(k, v.clone());
                    }
                    _ => unkeyed.push(format!("{t} {op}{v}")),
                }
            }
            if !unkeyed.is_empty() {
                fails.push(format!(
                    "WRITE: rows without a unique id changed in {table}: {}",
                    unkeyed.join("; ")
                ));
            }
            let keys: BTreeSet<&String> = removed.keys().chain(added.keys()).collect();
            for k in keys {
                let (old, new) = (removed.get(k), added.get(k));
                let op = match (old, new) {
                    (Some(_), Some(_)) => Operation::Update,
                    (Some(_), None) => Operation::Delete,
                    _ => Operation::Insert,
                };
                let what = format!("{op:?} of {table} id {k}");
                if !role.permits(&tn, op) {
                    fails.push(format!(
                        "WRITE OUTSIDE THE GRANT: {what} ({} → {})",
                        old.map(|v| short(&v.to_string())).unwrap_or_default(),
                        new.map(|v| short(&v.to_string())).unwrap_or_default()
                    ));
                    continue;
                }
                for (label, row) in [("old", old), ("new", new)] {
                    let Some(row) = row else { continue };
                    match self.in_scope(role, &claims, table, row).await {
                        Ok(true) => {}
                        Ok(false) => fails.push(format!(
                            "WRITE OUTSIDE THE ROW FILTER: {what}, {label} row {}",
                            short(&row.to_string())
                        )),
                        Err(e) => fails.push(format!("{what}: scope check failed: {e}")),
                    }
                }
                if let (Some(o), Some(n)) = (old, new) {
                    let allowed = cols(Operation::Update).unwrap_or_default();
                    let changed: Vec<String> = n
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(col, v)| o.get(col.as_str()) != Some(v))
                        .map(|(col, _)| col.clone())
                        .collect();
                    for col in &changed {
                        if limited(Operation::Update) && !allowed.contains(col) {
                            fails.push(format!(
                                "WRITE OF A COLUMN NOT GRANTED: {what} changed {col}: {} → {}",
                                o.get(col.as_str())
                                    .map(|v| v.to_string())
                                    .unwrap_or_default(),
                                n.get(col.as_str())
                                    .map(|v| v.to_string())
                                    .unwrap_or_default()
                            ));
                        }
                    }
                }
                if let (None, Some(n)) = (old, new) {
                    let insertable = cols(Operation::Insert).unwrap_or_default();
                    for (col, v) in n.as_object().into_iter().flatten() {
                        let pinned = grant.is_some_and(|g| {
                            g.filters
                                .iter()
                                .any(|f| f.pinned_columns().iter().any(|(c, _)| c == col))
                        });
                        if !readable(col)
                            && !v.is_null()
                            && !pinned
                            && col != "id"
                            && (limited(Operation::Insert) && !insertable.contains(col))
                        {
                            fails.push(format!("WRITE OF A HIDDEN COLUMN: {what} set {col} = {v}"));
                        }
                    }
                }
                if let Some(n) = new {
                    for (col, v) in n.as_object().into_iter().flatten() {
                        if !readable(col) {
                            continue;
                        }
                        if let Some(m) = find_marker(&v.to_string(), &markers) {
                            fails.push(format!(
                                "LEAK THROUGH A WRITE: {what} put marker {m:?} into readable column {col}: {}",
                                short(&v.to_string())
                            ));
                        }
                    }
                }
            }
        }
        self.restore(&tables).await;
        fails
    }

    /// Everything a case may have left behind, checked and undone where possible.
    async fn side_effects(&mut self, c: &DoorCase, refused: bool) -> Vec<String> {
        let mut fails = Vec::new();
        let diffs = self.diffs().await;
        if !diffs.is_empty() {
            fails.extend(self.check_writes(c, refused, diffs).await);
        }
        let seqs = self.sequence_values().await;
        let mut restart = Vec::new();
        for (name, value) in &seqs {
            let before = self.sequences.get(name).copied().flatten();
            if *value == before {
                continue;
            }
            restart.push(name.clone());
            let table = name
                .strip_prefix("public.")
                .and_then(|n| n.strip_suffix("_id_seq"))
                .unwrap_or("");
            let may_insert = self.configs[&c.roles].role(c.role).is_some_and(|r| {
                r.permits(
                    &TableName {
                        schema: None,
                        name: table.to_string(),
                    },
                    Operation::Insert,
                )
            });
            if refused || !may_insert {
                fails.push(format!(
                    "SIDE EFFECT: sequence {name} advanced from {before:?} to {value:?}"
                ));
            }
        }
        if !restart.is_empty() {
            let sql: String = restart
                .iter()
                .map(|s| format!("ALTER SEQUENCE {s} RESTART;"))
                .collect();
            self.direct
                .batch_execute(&sql)
                .await
                .expect("restart sequences");
        }
        if seqs.len() != self.sequences.len() {
            fails.push(format!(
                "SIDE EFFECT: sequences {:?} → {:?}",
                self.sequences.keys().collect::<Vec<_>>(),
                seqs.keys().collect::<Vec<_>>()
            ));
        }
        let state = self.object_state().await;
        if state != self.state {
            fails.push(format!(
                "SIDE EFFECT: objects changed: {} → {state}",
                self.state
            ));
            self.state = state;
        }
        // Sessions left busy or holding locks: give a dropped backend a moment to go away.
        let mut busy = (0i64, String::new());
        for _ in 0..30 {
            let r = self.direct.query_one(BUSY_SQL, &[]).await.expect("busy");
            busy = (r.get(0), r.get(1));
            if busy.0 == 0 && busy.1.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if busy.0 != 0 {
            fails.push(format!("SIDE EFFECT: {} advisory lock(s) held", busy.0));
        }
        if !busy.1.is_empty() {
            fails.push(format!(
                "SIDE EFFECT: a backend is left busy after the client left: {}",
                short(&busy.1)
            ));
        }
        self.listener
            .simple_query("SELECT 1")
            .await
            .expect("listener");
        while let Ok(n) = self.notifications.try_recv() {
            fails.push(format!(
                "SIDE EFFECT: notification delivered: {}",
                short(&n)
            ));
        }
        fails
    }
}

fn baseline_request(role: &str) -> TokenRequest {
    let mut extra = BTreeMap::new();
    extra.insert("region".to_string(), ClaimValue::Str("eu".into()));
    TokenRequest {
        role: role.to_string(),
        tenant_id: Some("acme".into()),
        extra,
        lifetime_secs: 3600,
        label: Some("pg-adversarial-baseline".into()),
    }
}

/// The settings the gateway's backend reports to a new client with `token`.
async fn show_settings(gw: &Gateway, token: &str) -> Result<Vec<String>, String> {
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_postgres::connect(&gw.pg_url(token), NoTls),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {}", db_err(&e).message))?;
    let task = tokio::spawn(conn);
    let r = tokio::time::timeout(Duration::from_secs(15), client.simple_query(SHOW_SQL))
        .await
        .map_err(|_| "SHOW timed out".to_string())?
        .map_err(|e| format!("SHOW: {}", db_err(&e).message))?;
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Ok(simple_values(&r))
}

// =============================================================================================
// Running a case
// =============================================================================================

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Simple,
    Extended,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Simple => "simple",
            Proto::Extended => "extended",
        }
    }
}

#[derive(Clone, Debug)]
struct DbErr {
    state: String,
    message: String,
    /// Message, detail and hint: what is scanned for markers.
    text: String,
}

fn db_err(e: &tokio_postgres::Error) -> DbErr {
    match e.as_db_error() {
        Some(d) => DbErr {
            state: d.code().code().to_string(),
            message: d.message().to_string(),
            text: format!(
                "{} {} {}",
                d.message(),
                d.detail().unwrap_or(""),
                d.hint().unwrap_or("")
            ),
        },
        None => DbErr {
            state: "none".into(),
            message: format!("{e:?}"),
            text: String::new(),
        },
    }
}

/// What happened to one case in one protocol.
#[derive(Default, Debug)]
struct Outcome {
    issue_refused: Option<String>,
    connect_refused: Option<DbErr>,
    error: Option<DbErr>,
    rows: Vec<Vec<String>>,
    truncated: bool,
    hung: bool,
}

impl Outcome {
    /// Refused by the token layer or denied by the policy (the gateway's `[sluice: …]` marker).
    fn refused(&self) -> bool {
        self.issue_refused.is_some()
            || self.connect_refused.is_some()
            || self
                .error
                .as_ref()
                .is_some_and(|e| e.message.contains("[sluice:"))
    }

    fn describe(&self) -> String {
        if let Some(e) = &self.issue_refused {
            return format!("token refused at issue: {e}");
        }
        if let Some(e) = &self.connect_refused {
            return format!("connection refused: {} {}", e.state, e.message);
        }
        if self.hung {
            return "no answer within the case timeout".into();
        }
        match &self.error {
            Some(e) => format!(
                "error {} {} (after {} rows)",
                e.state,
                short(&e.message),
                self.rows.len()
            ),
            None => format!(
                "{} rows{}",
                self.rows.len(),
                if self.truncated {
                    " (stopped reading)"
                } else {
                    ""
                }
            ),
        }
    }
}

async fn attack(gw: &Gateway, token: &str, c: &DoorCase, proto: Proto) -> Outcome {
    let mut out = Outcome::default();
    let connected = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_postgres::connect(&gw.pg_url(token), NoTls),
    )
    .await;
    let (client, conn) = match connected {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            out.connect_refused = Some(db_err(&e));
            return out;
        }
        Err(_) => {
            out.hung = true;
            return out;
        }
    };
    let task = tokio::spawn(conn);
    for p in &c.pre {
        let _ = tokio::time::timeout(Duration::from_secs(10), client.simple_query(p)).await;
    }
    let run = async {
        match proto {
            Proto::Simple => run_simple(&client, &c.sql, &mut out).await,
            Proto::Extended => run_extended(&client, &c.sql, &mut out).await,
        }
    };
    if tokio::time::timeout(CASE_TIMEOUT, run).await.is_err() {
        out.hung = true;
    }
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    out
}

async fn run_simple(client: &Client, sql: &str, out: &mut Outcome) {
    let stream = match client.simple_query_raw(sql).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(db_err(&e));
            return;
        }
    };
    futures_util::pin_mut!(stream);
    while let Some(m) = stream.next().await {
        match m {
            Ok(SimpleQueryMessage::Row(r)) => {
                out.rows.push(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect(),
                );
                if out.rows.len() >= ROW_CAP {
                    out.truncated = true;
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                out.error = Some(db_err(&e));
                return;
            }
        }
    }
}

async fn run_extended(client: &Client, sql: &str, out: &mut Outcome) {
    let stmt = match client.prepare(sql).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(db_err(&e));
            return;
        }
    };
    let params: Vec<TextParam> = stmt.params().iter().map(attack_value).collect();
    let stream = match client
        .query_raw(&stmt, params.iter().map(|p| p as &dyn ToSql))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(db_err(&e));
            return;
        }
    };
    futures_util::pin_mut!(stream);
    while let Some(r) = stream.next().await {
        match r {
            Ok(row) => {
                out.rows.push(
                    (0..row.len())
                        .map(|i| match row.try_get::<_, RawVal>(i) {
                            Ok(RawVal(Some((ty, bytes)))) => value_text(&ty, &bytes),
                            Ok(RawVal(None)) => "NULL".to_string(),
                            Err(e) => format!("<undecodable: {e}>"),
                        })
                        .collect(),
                );
                if out.rows.len() >= ROW_CAP {
                    out.truncated = true;
                    return;
                }
            }
            Err(e) => {
                out.error = Some(db_err(&e));
                return;
            }
        }
    }
}

/// Policy cases about the catalogs: refused by the engine alone (its scope has no schema
/// model), served scoped at the door, which has one.
const SERVED_FROM_SCOPED_CATALOGS: &[&str] = &[
    "pg_catalog_table",
    "pg_catalog_unqualified",
    "pg_information_schema",
    "pg_regclass_cast",
    "pg_type_introspection",
];

/// One case in one protocol and pool mode.
struct Record {
    id: String,
    family: &'static str,
    proto: Proto,
    class: &'static str,
    sql: String,
    outcome: String,
    fails: Vec<String>,
    /// Not a failure: the door answered differently from the engine alone.
    note: Option<String>,
}

async fn run_case(env: &mut Env, c: &DoorCase, proto: Proto) -> Record {
    let gw = &env.gateways[&c.roles];
    let mut fails = Vec::new();
    let mut note = None;
    let token = gw.token_at(&c.token_request(), now_unix());
    let outcome = match &token {
        Ok(t) => attack(gw, t, c, proto).await,
        Err(e) => Outcome {
            issue_refused: Some(e.to_string()),
            ..Default::default()
        },
    };
    let refused = outcome.refused();
    // The engine's decision holds at the door.
    match &c.want {
        Want::Deny(rule) => {
            if !refused {
                fails.push(format!(
                    "NOT DENIED: the engine denies this{}, the door answered: {}",
                    rule.map(|r| format!(" ({r:?})")).unwrap_or_default(),
                    outcome.describe()
                ));
            } else if let (Some(r), Some(e)) = (rule, &outcome.error) {
                if e.state != r.sqlstate() {
                    fails.push(format!(
                        "WRONG SQLSTATE: {r:?} is {}, the door sent {} ({})",
                        r.sqlstate(),
                        e.state,
                        short(&e.message)
                    ));
                }
            }
        }
        Want::Allow if refused => {
            note = Some(format!(
                "allowed by the engine alone, refused at the door: {}",
                outcome.describe()
            ))
        }
        _ => {}
    }
    if outcome.hung {
        fails.push(format!("HUNG: {}", outcome.describe()));
    }
    // No marker in anything returned.
    let markers = forbidden_markers(c.role);
    let mut leaks = 0;
    for row in &outcome.rows {
        for v in row {
            if let Some(m) = find_marker(v, &markers) {
                leaks += 1;
                if leaks <= 3 {
                    fails.push(format!("LEAK: a returned value holds {m:?}: {}", short(v)));
                }
            }
        }
    }
    if leaks > 3 {
        fails.push(format!("LEAK: … {} leaking values in all", leaks));
    }
    for e in outcome.error.iter().chain(outcome.connect_refused.iter()) {
        if let Some(m) = find_marker(&e.text, &markers) {
            // PostgreSQL echoes a statement's own values (a duplicate key it tried to insert):
            // that tells the client nothing it did not send.
            if !echoes_input(&e.text, m, &c.sql) {
                fails.push(format!(
                    "LEAK: an error message holds {m:?}: {}",
                    short(&e.text)
                ));
            }
        }
    }
    if matches!(c.tenant, Tenant::Other(_)) && !outcome.rows.is_empty() {
        fails.push(format!(
            "LEAK: a token for a tenant that owns no rows got {} rows, first: {:?}",
            outcome.rows.len(),
            outcome.rows[0]
        ));
    }
    // Nothing left behind in the database.
    fails.extend(env.side_effects(c, refused).await);
    // Nothing left behind for the next client of the same backend.
    if let Ok(t) = &token {
        if outcome.connect_refused.is_none() {
            let gw = &env.gateways[&c.roles];
            match show_settings(gw, t).await {
                Ok(values) => {
                    let base = &env.settings[&(c.roles, c.role.to_string())];
                    for (i, (now, before)) in values.iter().zip(base.iter()).enumerate() {
                        if now != before {
                            fails.push(format!(
                                "SETTING LEAKED to the next client: {} = {now:?} (a fresh backend says {before:?})",
                                SHOW_NAMES.get(i).unwrap_or(&"?")
                            ));
                        }
                    }
                    if values.len() != base.len() {
                        fails.push(format!("settings check: got {values:?}, fresh {base:?}"));
                    }
                }
                Err(e) => fails.push(format!("the next client could not check settings: {e}")),
            }
        }
    }
    let class = if !fails.is_empty() {
        "failed"
    } else if refused {
        "denied"
    } else if outcome.error.is_some() {
        "backend error"
    } else {
        "allowed, clean"
    };
    Record {
        id: c.id(),
        family: c.family,
        proto,
        class,
        sql: c.sql.clone(),
        outcome: outcome.describe(),
        fails,
        note,
    }
}

fn all_door_cases() -> Vec<DoorCase> {
    let mut v = suite1::export();
    v.extend(suite2::export());
    v.extend(suite3::export());
    v.extend(suite4::export());
    v.extend(door_cases());
    let mut seen = BTreeSet::new();
    for c in &v {
        assert!(seen.insert(c.id()), "duplicate case {}", c.id());
    }
    v
}

fn mode_name(mode: PoolMode) -> &'static str {
    match mode {
        PoolMode::Transaction => "transaction",
        PoolMode::Session => "session",
    }
}

async fn run_suite(mode: PoolMode) {
    let started = Instant::now();
    let mut env = Env::new(mode).await;
    let cases = all_door_cases();
    let only = std::env::var("SLUICE_ADV_ONLY").ok();
    let mut records = Vec::new();
    for proto in [Proto::Simple, Proto::Extended] {
        for c in &cases {
            if only.as_deref().is_some_and(|o| !c.id().contains(o)) {
                continue;
            }
            records.push(run_case(&mut env, c, proto).await);
        }
    }
    report(mode_name(mode), &records, started.elapsed());
}

fn report(mode: &str, records: &[Record], took: Duration) {
    let mut table: BTreeMap<(&str, &str), [usize; 5]> = BTreeMap::new();
    for r in records {
        let e = table.entry((r.family, r.proto.name())).or_default();
        e[0] += 1;
        match r.class {
            "denied" => e[1] += 1,
            "backend error" => e[2] += 1,
            "allowed, clean" => e[3] += 1,
            _ => e[4] += 1,
        }
    }
    let mut out = format!(
        "\nPostgreSQL door, {mode} pool mode: {} case runs in {:.1} s\n  {:<9} {:<9} {:>5} {:>7} {:>9} {:>8} {:>7}\n",
        records.len(),
        took.as_secs_f64(),
        "family",
        "protocol",
        "cases",
        "denied",
        "backend",
        "allowed",
        "FAILED"
    );
    for ((family, proto), n) in &table {
        out += &format!(
            "  {family:<9} {proto:<9} {:>5} {:>7} {:>9} {:>8} {:>7}\n",
            n[0], n[1], n[2], n[3], n[4]
        );
    }
    out += "  (denied: refused with the policy's error or at the token; backend: allowed by the engine, \
            failed in PostgreSQL; allowed: ran and returned nothing it must not)\n";
    let notes: Vec<&Record> = records.iter().filter(|r| r.note.is_some()).collect();
    if !notes.is_empty() {
        out += &format!(
            "  {} runs the engine allows were refused at the door:\n",
            notes.len()
        );
        for r in notes.iter().take(40) {
            out += &format!(
                "    {} [{}]: {}\n",
                r.id,
                r.proto.name(),
                r.note.as_deref().unwrap_or("")
            );
        }
    }
    if std::env::var("SLUICE_ADV_VERBOSE").is_ok() {
        for r in records {
            out += &format!(
                "  {:<14} {:<8} {} :: {} :: {}\n",
                r.class,
                r.proto.name(),
                r.id,
                short(&r.sql),
                r.outcome
            );
        }
    }
    println!("{out}");
    let failed: Vec<&Record> = records.iter().filter(|r| !r.fails.is_empty()).collect();
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "{} [{} protocol, {mode} mode]\n    sql:     {}\n    outcome: {}\n    {}",
                    r.id,
                    r.proto.name(),
                    short(&r.sql),
                    r.outcome,
                    r.fails.join("\n    ")
                )
            })
            .collect();
        panic!(
            "{} of {} case runs failed through the PostgreSQL door ({mode} mode):\n\n{}",
            failed.len(),
            records.len(),
            list.join("\n\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adversarial_cases_through_the_door_in_transaction_mode() {
    run_suite(PoolMode::Transaction).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adversarial_cases_through_the_door_in_session_mode() {
    run_suite(PoolMode::Session).await;
}

/// The detectors themselves: each check above must fail when what it looks for happens (done
/// here on a direct superuser connection, around the gateway).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leak_and_side_effect_detectors_detect() {
    let mut env = Env::new(PoolMode::Transaction).await;
    let mut problems = Vec::new();
    let case = |role: &'static str, sql: &str| DoorCase {
        suite: "selftest",
        family: "selftest",
        name: sql.to_string(),
        roles: RoleFile::Main,
        role,
        tenant: Tenant::Acme,
        sql: sql.to_string(),
        want: Want::Allow,
        pre: Vec::new(),
    };
    // Values: text, and binary numbers and dates, of another tenant's row.
    let ro = forbidden_markers(RO);
    for (proto, sql, marker) in [
        (
            Proto::Simple,
            "SELECT * FROM customers WHERE tenant_id = 'globex'",
            "canary",
        ),
        (
            Proto::Extended,
            "SELECT id FROM customers WHERE id = 777002",
            "7770",
        ),
        (
            Proto::Extended,
            "SELECT price FROM reservations WHERE id = 777001",
            "7770",
        ),
        (
            Proto::Extended,
            "SELECT starts_on FROM reservations WHERE id = 777001",
            "2077-",
        ),
        (
            Proto::Extended,
            "SELECT c FROM customers c WHERE id = 1",
            "canary",
        ),
        (
            Proto::Extended,
            "SELECT array_agg(price) FROM reservations",
            "7770",
        ),
        (
            Proto::Extended,
            "SELECT json FROM vehicles WHERE id = 1",
            "vhidden",
        ),
    ] {
        let mut out = Outcome::default();
        match proto {
            Proto::Simple => run_simple(&env.direct, sql, &mut out).await,
            Proto::Extended => run_extended(&env.direct, sql, &mut out).await,
        }
        let markers = if marker == "vhidden" {
            forbidden_markers("agent_fleet")
        } else {
            ro.clone()
        };
        let found: BTreeSet<&str> = out
            .rows
            .iter()
            .flatten()
            .flat_map(|v| {
                let d = decoded_part(v).to_lowercase();
                markers
                    .iter()
                    .copied()
                    .filter(move |m| d.contains(m))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !found.contains(marker) {
            problems.push(format!(
                "{sql}: expected marker {marker}, found {found:?} in {:?}",
                out.rows
            ));
        }
    }
    assert_eq!(
        decode(&Type::NUMERIC, &[0, 2, 0, 1, 0, 0, 0, 2, 0, 77, 0, 12]).as_deref(),
        Some("770012.00")
    );
    // Writes.
    for (role, write, expect) in [
        (
            SUP,
            "UPDATE reservations SET notes = 'x' WHERE id = 777001",
            "OUTSIDE THE ROW FILTER",
        ),
        (
            SUP,
            "UPDATE reservations SET price = 1 WHERE id = 1",
            "COLUMN NOT GRANTED",
        ),
        (
            SUP,
            "UPDATE reservations SET tenant_id = 'globex' WHERE id = 1",
            "OUTSIDE THE ROW FILTER",
        ),
        (
            CRM,
            "UPDATE customers SET name = ssn WHERE id = 1",
            "LEAK THROUGH A WRITE",
        ),
        (
            CRM,
            "INSERT INTO customers (tenant_id, name, ssn) VALUES ('acme', 'n', 'x')",
            "HIDDEN COLUMN",
        ),
        (
            CRM,
            "DELETE FROM customers WHERE id = 2",
            "OUTSIDE THE GRANT",
        ),
        (
            RO,
            "UPDATE vehicles SET model = 'x' WHERE id = 1",
            "OUTSIDE THE GRANT",
        ),
        (RO, "SELECT nextval('s')", "sequence public.s advanced"),
        (RO, "NOTIFY x, 'hello'", "notification"),
        (
            RO,
            "UPDATE evil.customers SET name = 'x'",
            "OUTSIDE THE GRANT",
        ),
    ] {
        env.direct.batch_execute(write).await.expect(write);
        let fails = env.side_effects(&case(role, write), false).await;
        if !fails.iter().any(|f| f.contains(expect)) {
            problems.push(format!("{write}: expected {expect:?}, got {fails:?}"));
        }
        let again = env.side_effects(&case(role, write), false).await;
        if !again.is_empty() {
            problems.push(format!("{write}: not undone: {again:?}"));
        }
    }
    env.direct
        .batch_execute("UPDATE reservations SET notes = 'n' WHERE id = 1")
        .await
        .unwrap();
    let fails = env.side_effects(&case(SUP, "denied"), true).await;
    if !fails
        .iter()
        .any(|f| f.contains("refused statement changed data"))
    {
        problems.push(format!("a write after a refusal went unnoticed: {fails:?}"));
    }
    env.direct
        .batch_execute("CREATE TABLE zz (a int)")
        .await
        .unwrap();
    let fails = env.side_effects(&case(RO, "create"), false).await;
    if !fails.iter().any(|f| f.contains("objects changed")) {
        problems.push(format!("a new table went unnoticed: {fails:?}"));
    }
    env.direct.batch_execute("DROP TABLE zz").await.unwrap();
    env.state = env.object_state().await;
    let (holder, conn) = tokio_postgres::connect(&shared_pg().url(&env.db), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    holder
        .batch_execute("SELECT pg_advisory_lock(7); BEGIN; SELECT 1")
        .await
        .unwrap();
    let fails = env.side_effects(&case(RO, "lock"), false).await;
    for expect in ["advisory lock", "left busy"] {
        if !fails.iter().any(|f| f.contains(expect)) {
            problems.push(format!("{expect} went unnoticed: {fails:?}"));
        }
    }
    drop(holder);
    assert!(
        problems.is_empty(),
        "detectors missed:\n{}",
        problems.join("\n")
    );
}

/// The decoded part of a scanned value (before the raw bytes).
fn decoded_part(v: &str) -> String {
    v.split(" \u{1} ").next().unwrap_or(v).to_string()
}

// =============================================================================================
// Door-specific tests on the raw protocol
// =============================================================================================

/// A hand-driven protocol 3.0 client: for messages and sequences no driver sends.
struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
}

enum Next {
    Msg(u8, Vec<u8>),
    Eof,
    Timeout,
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn startup_packet(db: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for s in ["user", "agent", "database", db] {
        body.extend(cstr(s));
    }
    body.push(0);
    let mut v = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    v.extend(body);
    v
}

fn q(sql: &str) -> Vec<u8> {
    msg(b'Q', &cstr(sql))
}

fn parse(name: &str, sql: &str, types: &[u32]) -> Vec<u8> {
    let mut b = cstr(name);
    b.extend(cstr(sql));
    b.extend((types.len() as i16).to_be_bytes());
    for t in types {
        b.extend(t.to_be_bytes());
    }
    msg(b'P', &b)
}

fn bind(portal: &str, stmt: &str, params: &[Option<&[u8]>]) -> Vec<u8> {
    let mut b = cstr(portal);
    b.extend(cstr(stmt));
    b.extend(0i16.to_be_bytes());
    b.extend((params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            Some(v) => {
                b.extend((v.len() as i32).to_be_bytes());
                b.extend_from_slice(v);
            }
            None => b.extend((-1i32).to_be_bytes()),
        }
    }
    b.extend(0i16.to_be_bytes());
    msg(b'B', &b)
}

fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut b = cstr(portal);
    b.extend(max_rows.to_be_bytes());
    msg(b'E', &b)
}

fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![kind];
    b.extend(cstr(name));
    msg(b'D', &b)
}

fn flush() -> Vec<u8> {
    msg(b'H', &[])
}

fn sync() -> Vec<u8> {
    msg(b'S', &[])
}

/// (SQLSTATE, message) of an ErrorResponse body.
fn error_fields(body: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut message = String::new();
    for field in body.split(|b| *b == 0) {
        if let Some((&t, rest)) = field.split_first() {
            let v = String::from_utf8_lossy(rest).into_owned();
            match t {
                b'C' => code = v,
                b'M' => message = v,
                _ => {}
            }
        }
    }
    (code, message)
}

fn data_row(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let n = i16::from_be_bytes([body[0], body[1]]);
    let mut at = 2;
    for _ in 0..n {
        let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
        at += 4;
        if len < 0 {
            out.push("NULL".into());
        } else {
            out.push(String::from_utf8_lossy(&body[at..at + len as usize]).into_owned());
            at += len as usize;
        }
    }
    out
}

impl Wire {
    async fn open(gw: &Gateway) -> Wire {
        let s = TcpStream::connect(gw.pg_addr).await.expect("TCP connect");
        Wire { s, buf: Vec::new() }
    }

    /// Connects and authenticates with `token`; the error is the server's (SQLSTATE, message).
    async fn login(gw: &Gateway, token: &str) -> Result<Wire, (String, String)> {
        let mut w = Wire::open(gw).await;
        w.send(&startup_packet(&gw.database)).await;
        match w.next(Duration::from_secs(10)).await {
            Next::Msg(b'R', body) if body.get(..4) == Some(&3i32.to_be_bytes()[..]) => {}
            Next::Msg(b'E', body) => return Err(error_fields(&body)),
            _ => return Err(("".into(), "no password request".into())),
        }
        w.send(&msg(b'p', &cstr(token))).await;
        loop {
            match w.next(Duration::from_secs(15)).await {
                Next::Msg(b'Z', _) => return Ok(w),
                Next::Msg(b'E', body) => return Err(error_fields(&body)),
                Next::Msg(_, _) => {}
                Next::Eof => return Err(("".into(), "closed".into())),
                Next::Timeout => return Err(("".into(), "timeout".into())),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> bool {
        self.s.write_all(bytes).await.is_ok()
    }

    async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    let body = self.buf[5..len + 1].to_vec();
                    self.buf.drain(..len + 1);
                    return Next::Msg(tag, body);
                }
            }
            let mut chunk = [0u8; 65536];
            match tokio::time::timeout_at(deadline, self.s.read(&mut chunk)).await {
                Err(_) => return Next::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Next::Eof,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Messages until ReadyForQuery (included), the end of the connection, or `wait`.
    async fn until_ready(&mut self, wait: Duration) -> (Vec<(u8, Vec<u8>)>, &'static str) {
        let mut got = Vec::new();
        loop {
            match self.next(wait).await {
                Next::Msg(t, b) => {
                    let done = t == b'Z';
                    got.push((t, b));
                    if done {
                        return (got, "ready");
                    }
                }
                Next::Eof => return (got, "closed"),
                Next::Timeout => return (got, "timeout"),
            }
        }
    }

    /// Messages until the connection ends or `wait` passes without one.
    async fn drain(&mut self, wait: Duration) -> (Vec<(u8, Vec<u8>)>, &'static str) {
        let mut got = Vec::new();
        loop {
            match self.next(wait).await {
                Next::Msg(t, b) => got.push((t, b)),
                Next::Eof => return (got, "closed"),
                Next::Timeout => return (got, "open"),
            }
        }
    }
}

fn rows_of(msgs: &[(u8, Vec<u8>)]) -> Vec<Vec<String>> {
    msgs.iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| data_row(b))
        .collect()
}

fn errors_of(msgs: &[(u8, Vec<u8>)]) -> Vec<(String, String)> {
    msgs.iter()
        .filter(|(t, _)| *t == b'E')
        .map(|(_, b)| error_fields(b))
        .collect()
}

fn door_gateway(mode: PoolMode, pool_size: usize) -> Gateway {
    door_gateway_with(mode, pool_size, Duration::from_secs(60))
}

fn door_gateway_with(
    mode: PoolMode,
    pool_size: usize,
    idle_transaction_timeout: Duration,
) -> Gateway {
    let pg = shared_pg();
    let db = pg.create_unique_database("advdoor").expect("database");
    pg.exec(&db, SCHEMA).expect("seed");
    Gateway::start_pg(
        &pg.url(&db),
        &db,
        ROLES_MAIN,
        GatewayOptions {
            pool_mode: mode,
            pool_size,
            statement_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(1),
            idle_transaction_timeout,
            ..Default::default()
        },
    )
    .expect("gateway starts")
}

fn tok(gw: &Gateway, role: &str, tenant: &str) -> String {
    gw.token_for(&TokenRequest {
        role: role.into(),
        tenant_id: Some(tenant.into()),
        extra: BTreeMap::new(),
        lifetime_secs: 3600,
        label: Some("pg-adversarial-door".into()),
    })
}

async fn client(gw: &Gateway, token: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(&gw.pg_url(token), NoTls)
        .await
        .expect("connects through the gateway");
    tokio::spawn(conn);
    c
}

/// A fresh connection through the gateway answers `SELECT 1`.
async fn gateway_serves(gw: &Gateway) -> Result<(), String> {
    let t = tok(gw, RO, "acme");
    let (c, conn) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_postgres::connect(&gw.pg_url(&t), NoTls),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {}", db_err(&e).message))?;
    tokio::spawn(conn);
    tokio::time::timeout(Duration::from_secs(15), c.simple_query("SELECT 1"))
        .await
        .map_err(|_| "SELECT 1 timed out".to_string())?
        .map_err(|e| format!("SELECT 1: {}", db_err(&e).message))?;
    Ok(())
}

fn finish(test: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{test}: {} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The token itself, at the door: everything but a current token signed by the gateway's
/// issuer for a role it knows is refused with 28P01 before any statement, and the gateway keeps
/// serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_at_the_door() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = door_gateway(mode, 2);
        let now = now_unix();
        let req = |role: &str, lifetime: i64| TokenRequest {
            role: role.into(),
            tenant_id: Some("acme".into()),
            extra: BTreeMap::new(),
            lifetime_secs: lifetime,
            label: None,
        };
        let good = gw.token_at(&req(RO, 3600), now).unwrap();
        let other_key = sluice_tokens::IssuerKey::generate().unwrap();
        let forged = sluice_tokens::issue(&other_key, &req(RO, 3600), now)
            .unwrap()
            .token;
        let forged_admin = sluice_tokens::issue(&other_key, &req("agent_crm", 3600), now)
            .unwrap()
            .token;
        // Flip one character in the middle of the signed part.
        let tampered = {
            let mut b = good.clone().into_bytes();
            let i = "v4.public.".len() + 20;
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap()
        };
        let revoked = gw.token_at(&req(RO, 3600), now).unwrap();
        gw.revoke(&revoked).unwrap();
        gw.reload().unwrap();
        let rest = good.strip_prefix("v4.public.").unwrap();
        let mut attempts: Vec<(&str, String)> = vec![
            (
                "the backend superuser's name as password",
                "postgres".into(),
            ),
            ("not a token", "not-a-token".into()),
            ("tampered payload", tampered),
            ("signed with another key", forged),
            ("another key, another role", forged_admin),
            ("v4.local", format!("v4.local.{rest}")),
            ("v3.public", format!("v3.public.{rest}")),
            ("v2.public", format!("v2.public.{rest}")),
            ("upper-case header", format!("V4.PUBLIC.{rest}")),
            ("truncated", good[..good.len() - 10].to_string()),
            ("expired", gw.token_at(&req(RO, 60), now - 7200).unwrap()),
            (
                "not yet valid",
                gw.token_at(&req(RO, 7200), now + 3600).unwrap(),
            ),
            ("revoked", revoked),
            (
                "unknown role",
                gw.token_at(&req("agent_root", 3600), now).unwrap(),
            ),
            (
                "role of another role file",
                gw.token_at(&req("agent_cleanup", 3600), now).unwrap(),
            ),
            ("1 MB of garbage", "A".repeat(1 << 20)),
        ];
        attempts.push(("token with SQL after it", format!("{good}' OR '1'='1")));
        for (what, password) in &attempts {
            let r = tokio::time::timeout(
                Duration::from_secs(15),
                tokio_postgres::connect(&gw.pg_url(password), NoTls),
            )
            .await;
            match r {
                Err(_) => problems.push(format!("[{mode:?}] {what}: no answer within 15 s")),
                Ok(Ok(_)) => problems.push(format!("[{mode:?}] {what}: ACCEPTED")),
                Ok(Err(e)) => {
                    let e = db_err(&e);
                    // A huge password may be cut off before authentication: any refusal will
                    // do there; everything else must be a 28P01.
                    if e.state != "28P01" && !what.starts_with("1 MB") {
                        problems.push(format!(
                            "[{mode:?}] {what}: refused with {} {} (want 28P01)",
                            e.state, e.message
                        ));
                    }
                    if e.message
                        .contains(password.get(..40.min(password.len())).unwrap_or(""))
                        && password.len() > 20
                    {
                        problems.push(format!("[{mode:?}] {what}: the refusal echoes the token"));
                    }
                }
            }
        }
        // The empty password (the throwaway superuser's real one), on the raw protocol.
        match Wire::login(&gw, "").await {
            Ok(_) => problems.push(format!("[{mode:?}] empty password: ACCEPTED")),
            Err((code, m)) if code != "28P01" => problems.push(format!(
                "[{mode:?}] empty password: refused with {code:?} {m} (want 28P01)"
            )),
            Err(_) => {}
        }
        // A claim that tries to be SQL can be issued, and is only a value.
        let sqlish = gw
            .token_at(
                &TokenRequest {
                    role: RO.into(),
                    tenant_id: Some("acme' OR '1'='1".into()),
                    extra: BTreeMap::new(),
                    lifetime_secs: 3600,
                    label: None,
                },
                now,
            )
            .unwrap();
        let c = client(&gw, &sqlish).await;
        match c.simple_query("SELECT * FROM customers").await {
            Ok(m) => {
                let n = m
                    .iter()
                    .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                    .count();
                if n != 0 {
                    problems.push(format!(
                        "[{mode:?}] a tenant claim holding SQL read {n} rows"
                    ));
                }
            }
            Err(e) => problems.push(format!("[{mode:?}] SQL-ish claim: {}", db_err(&e).message)),
        }
        // Claims that cannot be safe values are refused when issued.
        for bad in ["acme\n", "acme\0", ""] {
            let r = gw.token_at(
                &TokenRequest {
                    role: RO.into(),
                    tenant_id: Some(bad.into()),
                    extra: BTreeMap::new(),
                    lifetime_secs: 3600,
                    label: None,
                },
                now,
            );
            if r.is_ok() {
                problems.push(format!("[{mode:?}] a token with tenant {bad:?} was issued"));
            }
        }
        if let Err(e) = gateway_serves(&gw).await {
            problems.push(format!("[{mode:?}] the gateway stopped serving: {e}"));
        }
    }
    finish("tokens at the door", problems);
}

/// Oversized protocol messages (a 65 MiB Query, a 65 MiB Bind parameter, a header announcing
/// 1 GiB, a 1 MiB password before authentication) are refused cleanly, the gateway stays up and
/// other sessions keep working; a large message under the limit still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_messages_are_refused_and_the_gateway_stays_up() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = door_gateway(mode, 4);
        let t = tok(&gw, RO, "acme");
        let bystander = client(&gw, &t).await;
        bystander.simple_query("SELECT 1").await.unwrap();
        let big = "x".repeat(65 << 20);

        // 65 MiB simple Query.
        let c = client(&gw, &t).await;
        let started = Instant::now();
        match tokio::time::timeout(
            Duration::from_secs(30),
            c.simple_query(&format!("SELECT '{big}'")),
        )
        .await
        {
            Err(_) => problems.push(format!("[{mode:?}] 65 MiB Query: no answer in 30 s")),
            Ok(Ok(_)) => problems.push(format!("[{mode:?}] 65 MiB Query: ACCEPTED")),
            Ok(Err(e)) => {
                let e = db_err(&e);
                if e.state != "54000" && e.state != "none" {
                    problems.push(format!(
                        "[{mode:?}] 65 MiB Query: refused with {} {}",
                        e.state, e.message
                    ));
                }
            }
        }
        let took = started.elapsed();
        if took > Duration::from_secs(10) {
            problems.push(format!("[{mode:?}] 65 MiB Query: refusal took {took:?}"));
        }
        // 65 MiB Bind parameter.
        let c = client(&gw, &t).await;
        match tokio::time::timeout(
            Duration::from_secs(30),
            c.query("SELECT octet_length($1::text)", &[&big]),
        )
        .await
        {
            Err(_) => problems.push(format!("[{mode:?}] 65 MiB Bind: no answer in 30 s")),
            Ok(Ok(_)) => problems.push(format!("[{mode:?}] 65 MiB Bind: ACCEPTED")),
            Ok(Err(e)) => {
                let e = db_err(&e);
                if e.state != "54000" && e.state != "none" {
                    problems.push(format!(
                        "[{mode:?}] 65 MiB Bind: refused with {} {}",
                        e.state, e.message
                    ));
                }
            }
        }
        drop(big);
        // A header that announces 1 GiB and sends nothing more: refused at once.
        match Wire::login(&gw, &t).await {
            Ok(mut w) => {
                w.send(&[b'Q', 0x40, 0, 0, 0]).await;
                let (got, end) = w.drain(Duration::from_secs(5)).await;
                let errs = errors_of(&got);
                if end != "closed" || !errs.iter().any(|(c, _)| c == "54000") {
                    problems.push(format!(
                        "[{mode:?}] 1 GiB header: connection {end}, errors {errs:?} (want 54000 and close)"
                    ));
                }
            }
            Err(e) => problems.push(format!("[{mode:?}] raw login failed: {e:?}")),
        }
        // 1 MiB password message before authentication.
        {
            let mut w = Wire::open(&gw).await;
            w.send(&startup_packet(&gw.database)).await;
            let _ = w.next(Duration::from_secs(5)).await;
            let sent = w.send(&msg(b'p', &cstr(&"A".repeat(1 << 20)))).await;
            let (got, end) = w.drain(Duration::from_secs(5)).await;
            if end != "closed" {
                problems.push(format!(
                    "[{mode:?}] 1 MiB password: connection left {end} (sent: {sent}, got {:?})",
                    errors_of(&got)
                ));
            }
        }
        // Under the frame limit but over the statement limit: a denial, and the session lives.
        let c = client(&gw, &t).await;
        let two_mib = format!("SELECT 1 -- {}", "y".repeat(2 << 20));
        match c.simple_query(&two_mib).await {
            Ok(_) => problems.push(format!("[{mode:?}] 2 MiB statement: ACCEPTED")),
            Err(e) => {
                let e = db_err(&e);
                if e.state != "0A000" {
                    problems.push(format!(
                        "[{mode:?}] 2 MiB statement: {} {}",
                        e.state, e.message
                    ));
                }
            }
        }
        if let Err(e) = c.simple_query("SELECT 1").await {
            problems.push(format!(
                "[{mode:?}] the session died after a 2 MiB statement: {}",
                db_err(&e).message
            ));
        }
        // A large parameter under the frame limit works.
        let eight = "z".repeat(8 << 20);
        match c.query("SELECT octet_length($1::text)", &[&eight]).await {
            Ok(rows) if rows[0].get::<_, i32>(0) == 8 << 20 => {}
            Ok(rows) => problems.push(format!("[{mode:?}] 8 MiB parameter: {:?}", rows[0])),
            Err(e) => problems.push(format!(
                "[{mode:?}] 8 MiB parameter: {}",
                db_err(&e).message
            )),
        }
        if let Err(e) = bystander.simple_query("SELECT 1").await {
            problems.push(format!(
                "[{mode:?}] another session broke: {}",
                db_err(&e).message
            ));
        }
        if let Err(e) = gateway_serves(&gw).await {
            problems.push(format!("[{mode:?}] the gateway stopped serving: {e}"));
        }
    }
    finish("oversized messages", problems);
}

/// Panics raised while decoding messages (in pgwire, bytes or the proxy) anywhere in this test
/// process, counted by a panic hook installed on first use (the default hook still prints).
fn gateway_panics() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Once;
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info
                .location()
                .map(|l| l.file().to_string())
                .unwrap_or_default();
            if file.contains("pgwire") || file.contains("/bytes-") || file.contains("proxy/src") {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    COUNT.load(Ordering::SeqCst)
}

/// Garbage after (and before) authentication closes that one session, with an error where the
/// protocol has room for one; the gateway and other sessions carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_protocol_bytes_close_only_that_session() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = door_gateway(mode, 4);
        let t = tok(&gw, RO, "acme");
        let bystander = client(&gw, &t).await;
        bystander.simple_query("SELECT 1").await.unwrap();
        // Pseudo-random bytes, the same every run.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut bad_bind = cstr("");
        bad_bind.extend(cstr(""));
        bad_bind.extend(0i16.to_be_bytes());
        bad_bind.extend(1i16.to_be_bytes());
        bad_bind.extend((-5i32).to_be_bytes());
        bad_bind.extend(0i16.to_be_bytes());
        let mut bad_parse = cstr("");
        bad_parse.extend(cstr("SELECT 1"));
        bad_parse.extend(1000i16.to_be_bytes());
        let mut long_param = cstr("");
        long_param.extend(cstr(""));
        long_param.extend(0i16.to_be_bytes());
        long_param.extend(1i16.to_be_bytes());
        long_param.extend(1000i32.to_be_bytes());
        long_param.extend(b"short");
        // (what, bytes, whether it is a well-framed message the gateway must answer with 08P01)
        let after_auth: Vec<(&str, Vec<u8>, bool)> = vec![
            ("unknown message type", msg(b'Z', b"junk"), true),
            ("message type 0", msg(0, b"\0\x03\0\0user\0x\0\0"), true),
            (
                "FunctionCall",
                msg(b'F', &[0, 0, 4, 210, 0, 0, 0, 0, 0, 0]),
                true,
            ),
            ("length below 4", vec![b'Q', 0, 0, 0, 2], false),
            ("negative length", vec![b'Q', 0xff, 0xff, 0xff, 0xf0], false),
            ("Query without its NUL", msg(b'Q', b"SELECT 1"), true),
            (
                "Query with invalid UTF-8",
                msg(b'Q', b"SELECT '\xff\xfe'\0"),
                false,
            ),
            (
                "Bind with a negative parameter length",
                msg(b'B', &bad_bind),
                false,
            ),
            (
                "Bind with a parameter longer than the message",
                msg(b'B', &long_param),
                true,
            ),
            (
                "Parse announcing 1000 types it does not carry",
                msg(b'P', &bad_parse),
                true,
            ),
            ("Execute without its row limit", msg(b'E', &cstr("")), true),
            ("Describe with an empty body", msg(b'D', &[]), true),
            ("Close with an empty body", msg(b'C', &[]), true),
            ("4 KiB of noise", noise.clone(), false),
            ("half a message", q("SELECT 1")[..6].to_vec(), false),
        ];
        for (what, bytes, framed) in &after_auth {
            let panics_before = gateway_panics();
            let mut w = match Wire::login(&gw, &t).await {
                Ok(w) => w,
                Err(e) => {
                    problems.push(format!("[{mode:?}] {what}: login failed: {e:?}"));
                    continue;
                }
            };
            w.send(bytes).await;
            if *what == "half a message" {
                drop(w);
            } else {
                let (got, end) = w.drain(Duration::from_secs(3)).await;
                let errs = errors_of(&got);
                let protocol_error = errs.iter().any(|(c, _)| c == "08P01");
                if *framed && !protocol_error {
                    problems.push(format!(
                        "[{mode:?}] {what}: connection {end} without a protocol error (08P01); errors {errs:?}"
                    ));
                }
                if !protocol_error && end != "closed" {
                    // Still open: it must still be in sync (after a Sync, answer a query).
                    let mut b = sync();
                    b.extend(q("SELECT 42"));
                    w.send(&b).await;
                    let _ = w.until_ready(Duration::from_secs(5)).await;
                    let (got2, end2) = w.until_ready(Duration::from_secs(5)).await;
                    let rows = rows_of(&got2);
                    if end2 != "ready" || rows != vec![vec!["42".to_string()]] {
                        problems.push(format!(
                            "[{mode:?}] {what}: connection left open and out of sync ({end2}, rows {rows:?}, errors {:?})",
                            errors_of(&got2)
                        ));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let panics = gateway_panics() - panics_before;
            if panics > 0 {
                problems.push(format!(
                    "[{mode:?}] {what}: the gateway's session task PANICKED ({panics} panic(s) while \
                     decoding the message; the session ends without an error)"
                ));
            }
            if let Err(e) = bystander.simple_query("SELECT 1").await {
                problems.push(format!(
                    "[{mode:?}] {what}: another session broke: {}",
                    db_err(&e).message
                ));
                break;
            }
        }
        // Messages that are not garbage keep the session: CopyData outside COPY is ignored (as
        // PostgreSQL does), Execute of a portal that does not exist is an error.
        if let Ok(mut w) = Wire::login(&gw, &t).await {
            w.send(&msg(b'd', b"stray copy data")).await;
            w.send(&q("SELECT 7")).await;
            let (got, end) = w.until_ready(Duration::from_secs(5)).await;
            if end != "ready" || rows_of(&got) != vec![vec!["7".to_string()]] {
                problems.push(format!(
                    "[{mode:?}] stray CopyData: {end} {:?}",
                    errors_of(&got)
                ));
            }
            let mut b = execute("nope", 0);
            b.extend(sync());
            w.send(&b).await;
            let (got, end) = w.until_ready(Duration::from_secs(5)).await;
            if end != "ready" || !rows_of(&got).is_empty() || errors_of(&got).is_empty() {
                problems.push(format!(
                    "[{mode:?}] Execute of an unknown portal: {end}, {:?}",
                    errors_of(&got)
                ));
            }
        }
        // Before authentication.
        let mut gss_then_noise = 8i32.to_be_bytes().to_vec();
        gss_then_noise.extend(80_877_104i32.to_be_bytes());
        gss_then_noise.extend(&noise[..64]);
        let mut ssl_then_data = 8i32.to_be_bytes().to_vec();
        ssl_then_data.extend(80_877_103i32.to_be_bytes());
        ssl_then_data.extend(startup_packet(&gw.database));
        let mut v2 = 9i32.to_be_bytes().to_vec();
        v2.extend(0x0002_0000i32.to_be_bytes());
        v2.push(0);
        let mut cancel = 16i32.to_be_bytes().to_vec();
        cancel.extend(80_877_102i32.to_be_bytes());
        cancel.extend(1234i32.to_be_bytes());
        cancel.extend(5678i32.to_be_bytes());
        let before_auth: Vec<(&str, Vec<u8>)> = vec![
            ("noise instead of a startup packet", noise.clone()),
            ("GSSENC request then noise", gss_then_noise),
            ("SSLRequest with data behind it", ssl_then_data),
            ("protocol 2.0", v2),
            ("CancelRequest for nobody", cancel),
            ("a Query before authentication", {
                let mut v = startup_packet(&gw.database);
                v.extend(q("SELECT * FROM customers"));
                v
            }),
        ];
        for (what, bytes) in &before_auth {
            let mut w = Wire::open(&gw).await;
            w.send(bytes).await;
            let (got, end) = w.drain(Duration::from_secs(3)).await;
            let rows = rows_of(&got);
            if !rows.is_empty() || got.iter().any(|(t, _)| *t == b'Z') {
                problems.push(format!(
                    "[{mode:?}] {what}: got past authentication: {rows:?}"
                ));
            }
            if end != "closed"
                && !got.iter().any(|(t, _)| *t == b'R')
                && *what != "GSSENC request then noise"
            {
                problems.push(format!("[{mode:?}] {what}: connection left {end}"));
            }
        }
        if let Err(e) = bystander.simple_query("SELECT 1").await {
            problems.push(format!(
                "[{mode:?}] another session broke: {}",
                db_err(&e).message
            ));
        }
        if let Err(e) = gateway_serves(&gw).await {
            problems.push(format!("[{mode:?}] the gateway stopped serving: {e}"));
        }
    }
    finish("garbage protocol bytes", problems);
}

/// Protocol state a client leaves on a backend must not reach the next client of that backend
/// (pool size 1: the next client of the same profile gets the same backend): portals (a
/// suspended result of another tenant), an unsynced write, prepared statements, settings; and
/// one tenant's housekeeping (DEALLOCATE ALL, DISCARD ALL) must not break another tenant's
/// prepared statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protocol_state_does_not_outlive_its_client() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = door_gateway(mode, 1);
        let pg = shared_pg();
        let direct = direct_client(&pg.url(&gw.database)).await;
        let acme = tok(&gw, RO, "acme");
        let globex = tok(&gw, RO, "globex");

        // 1. A suspended portal (a cursor-style read: Execute with a row limit, then Flush, as
        // node-postgres' pg-cursor does), left by a client that goes away before Sync.
        for portal in ["", "p"] {
            let mut victim = Wire::login(&gw, &acme).await.expect("victim logs in");
            let mut b = parse("", "SELECT id, name, email FROM customers ORDER BY id", &[]);
            b.extend(bind(portal, "", &[]));
            b.extend(execute(portal, 1));
            b.extend(flush());
            victim.send(&b).await;
            let mut first = Vec::new();
            loop {
                match victim.next(Duration::from_secs(5)).await {
                    Next::Msg(b's', _) => break,
                    Next::Msg(b'D', body) => first.push(data_row(&body)),
                    Next::Msg(b'E', body) => {
                        problems.push(format!(
                            "[{mode:?}] victim's cursor read failed: {:?}",
                            error_fields(&body)
                        ));
                        break;
                    }
                    Next::Msg(..) => {}
                    _ => break,
                }
            }
            drop(victim);
            tokio::time::sleep(Duration::from_millis(300)).await;
            // The next client is another tenant. It asks for the rest of the victim's portal.
            let mut thief = match Wire::login(&gw, &globex).await {
                Ok(w) => w,
                Err(e) => {
                    problems.push(format!(
                        "[{mode:?}] the next client could not log in: {e:?}"
                    ));
                    continue;
                }
            };
            let mut b = describe(b'P', portal);
            b.extend(execute(portal, 0));
            b.extend(sync());
            thief.send(&b).await;
            let (got, end) = thief.until_ready(Duration::from_secs(5)).await;
            let rows = rows_of(&got);
            if !rows.is_empty() {
                problems.push(format!(
                    "[{mode:?}] CROSS-TENANT LEAK: a token for tenant globex read {} rows of tenant acme \
                     from the {} portal a disconnected acme client left suspended on the pooled backend \
                     (Execute of a portal the client never bound is forwarded as is), e.g. {:?}",
                    rows.len(),
                    if portal.is_empty() { "unnamed" } else { "named" },
                    rows.first()
                ));
            } else if end != "ready" {
                problems.push(format!(
                    "[{mode:?}] portal probe: {end} {:?}",
                    errors_of(&got)
                ));
            }
            drop(thief);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // 2. An unsynced write of a client that goes away: it must not be committed by the next
        // client's statement.
        {
            let sup = tok(&gw, SUP, "acme");
            let mut writer = Wire::login(&gw, &sup).await.expect("writer logs in");
            let mut b = parse(
                "",
                "UPDATE reservations SET notes = 'unsynced-write' WHERE id = 4",
                &[],
            );
            b.extend(bind("", "", &[]));
            b.extend(execute("", 0));
            b.extend(flush());
            writer.send(&b).await;
            let mut completed = false;
            loop {
                match writer.next(Duration::from_secs(5)).await {
                    Next::Msg(b'C', _) => {
                        completed = true;
                        break;
                    }
                    Next::Msg(b'E', _) | Next::Eof | Next::Timeout => break,
                    Next::Msg(..) => {}
                }
            }
            drop(writer);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let next = client(&gw, &sup).await;
            let _ = next.simple_query("SELECT 1").await;
            drop(next);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let notes: Option<String> = direct
                .query_one("SELECT notes FROM reservations WHERE id = 4", &[])
                .await
                .unwrap()
                .get(0);
            if completed && notes.as_deref() == Some("unsynced-write") {
                problems.push(format!(
                    "[{mode:?}] STATE CROSSES CLIENTS: an UPDATE executed without Sync by a client that then \
                     disconnected was committed by the next client's statement on the same backend \
                     (the backend went back to the pool inside the first client's implicit transaction)"
                ));
            }
            direct
                .batch_execute("UPDATE reservations SET notes = NULL WHERE id = 4")
                .await
                .unwrap();
        }

        // 3. Prepared statements: a name another client prepared means nothing to the next one.
        {
            let mut a = Wire::login(&gw, &acme).await.unwrap();
            let mut b = parse("leak", "SELECT id, email FROM customers", &[]);
            b.extend(sync());
            a.send(&b).await;
            a.until_ready(Duration::from_secs(5)).await;
            drop(a);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut t = Wire::login(&gw, &globex).await.unwrap();
            let mut b = bind("", "leak", &[]);
            b.extend(execute("", 0));
            b.extend(sync());
            t.send(&b).await;
            let (got, _) = t.until_ready(Duration::from_secs(5)).await;
            if !rows_of(&got).is_empty() || !errors_of(&got).iter().any(|(c, _)| c == "26000") {
                problems.push(format!(
                    "[{mode:?}] another client's prepared statement name: rows {:?}, errors {:?} (want 26000)",
                    rows_of(&got),
                    errors_of(&got)
                ));
            }
        }

        // 4. Settings: one client's SETs never show for the next (or a concurrent) client.
        {
            let before = show_settings(&gw, &globex).await;
            let a = client(&gw, &acme).await;
            let _ = a
                .batch_execute(
                    "SET application_name = 'leaky'; SET datestyle = 'SQL, DMY'; SET TIME ZONE 'Asia/Tokyo'; \
                     SET extra_float_digits = 1; SET bytea_output = 'escape'; SET intervalstyle = 'iso_8601'",
                )
                .await;
            if mode == PoolMode::Session {
                drop(a);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let after = show_settings(&gw, &globex).await;
            if before != after {
                problems.push(format!(
                    "[{mode:?}] SETTINGS LEAKED between clients: fresh {before:?}, after another client's SETs {after:?}"
                ));
            }
        }

        // 5. RESET ALL / DISCARD ALL by a client are its own: in transaction mode the gateway
        // replays a client's SETs on each backend it gets, so a reset must end the replay.
        if mode == PoolMode::Transaction {
            let a = client(&gw, &acme).await;
            let _ = a.batch_execute("SET datestyle = 'SQL, DMY'").await;
            for reset in ["RESET ALL", "RESET datestyle", "DISCARD ALL"] {
                let r = a.simple_query(reset).await;
                let now = a
                    .simple_query("SHOW datestyle")
                    .await
                    .map(|m| simple_values(&m));
                if r.is_ok() && now.as_ref().ok() != Some(&vec!["ISO, MDY".to_string()]) {
                    problems.push(format!(
                        "[{mode:?}] after `{reset}` succeeded the client still has datestyle {now:?}"
                    ));
                }
                let _ = a.batch_execute("SET datestyle = 'SQL, DMY'").await;
            }
        }

        // 6. One tenant's DEALLOCATE ALL / DISCARD ALL must not break another tenant's prepared
        // statements on the shared backend (transaction mode shares backends between clients).
        if mode == PoolMode::Transaction {
            for housekeeping in [
                "DEALLOCATE ALL",
                "DISCARD ALL",
                "DEALLOCATE PREPARE ALL",
                "DISCARD PLANS",
            ] {
                // A new client each time: its statements get new backend names.
                let a = client(&gw, &acme).await;
                let stmt = a.prepare("SELECT count(*) FROM customers").await.unwrap();
                a.query(&stmt, &[]).await.unwrap();
                let b = client(&gw, &globex).await;
                let _ = b.simple_query(housekeeping).await;
                drop(b);
                match a.query(&stmt, &[]).await {
                    Ok(rows) if rows[0].get::<_, i64>(0) == 10 => {}
                    Ok(rows) => problems.push(format!(
                        "[{mode:?}] after another tenant's {housekeeping}: acme's statement counted {:?}",
                        rows[0].get::<_, i64>(0)
                    )),
                    Err(e) => problems.push(format!(
                        "[{mode:?}] CROSS-TENANT DENIAL OF SERVICE: after a globex client's `{housekeeping}`, \
                         acme's prepared statement fails: {} {}",
                        db_err(&e).state,
                        db_err(&e).message
                    )),
                }
            }
        }
        if let Err(e) = gateway_serves(&gw).await {
            problems.push(format!("[{mode:?}] the gateway stopped serving: {e}"));
        }
    }
    finish("protocol state between clients", problems);
}

/// Parameter types are the client's to declare in Parse. Declared as reg* types, a placeholder
/// turns an OID into a catalog name (and a name into an existence oracle), which the engine
/// denies as a cast (`'x'::regclass`, `1::oid`): the backend's role name must not come back,
/// nor catalog names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backend_identity_and_catalog_stay_hidden() {
    let mut problems = Vec::new();
    let gw = door_gateway(PoolMode::Transaction, 2);
    let c = client(&gw, &tok(&gw, RO, "acme")).await;
    // OIDs as an attacker would enumerate them (looked up here on a direct connection).
    let direct = direct_client(&shared_pg().url(&gw.database)).await;
    let oid = |sql: &'static str| {
        let direct = &direct;
        async move {
            direct
                .query_one(sql, &[])
                .await
                .unwrap()
                .get::<_, u32>(0)
                .to_string()
        }
    };
    let payments = oid("SELECT 'public.payments'::regclass::oid").await;
    let evil = oid("SELECT 'evil'::regnamespace::oid").await;
    let me = oid("SELECT oid FROM pg_roles WHERE rolname = current_user").await;
    for (ty, value, secret, what) in [
        (Type::REGROLE, me, "postgres", "the backend's role name"),
        (
            Type::REGCLASS,
            payments,
            "payments",
            "the name of a table no role may read",
        ),
        (
            Type::REGNAMESPACE,
            evil,
            "evil",
            "the name of a schema no role may read",
        ),
        (
            Type::REGCLASS,
            "1260".to_string(),
            "pg_authid",
            "a catalog table's name",
        ),
    ] {
        let r = async {
            let stmt = c
                .prepare_typed("SELECT $1::text", std::slice::from_ref(&ty))
                .await?;
            c.query(&stmt, &[&TextParam(Some(value.clone()))]).await
        }
        .await;
        if let Ok(rows) = r {
            let got: String = rows[0].get(0);
            if got == secret {
                problems.push(format!(
                    "CATALOG READ THROUGH A PARAMETER TYPE: Parse(\"SELECT $1::text\", [{ty}]) bound to {value:?} \
                     returned {got:?}: {what}"
                ));
            }
        }
    }
    // The door tells clients is_superuser = off in its ParameterStatus ("who the gateway is on
    // the backend is not the client's business"); SHOW must not tell otherwise.
    if let Ok(m) = c.simple_query("SHOW is_superuser").await {
        let v = simple_values(&m);
        if v != vec!["off".to_string()] {
            problems.push(format!(
                "BACKEND IDENTITY: `SHOW is_superuser` answers {v:?} while the door's ParameterStatus says off"
            ));
        }
    }
    // Existence oracle for relations the role may not read.
    let probe = |name: &'static str| {
        let c = &c;
        async move {
            let stmt = c
                .prepare_typed("SELECT 1 WHERE $1 IS NOT NULL", &[Type::REGCLASS])
                .await?;
            c.query(&stmt, &[&TextParam(Some(name.into()))]).await
        }
    };
    let exists = probe("payments").await.is_ok();
    let missing = probe("no_such_table_here").await.is_ok();
    if exists && !missing {
        problems.push(
            "EXISTENCE ORACLE THROUGH A PARAMETER TYPE: a regclass-typed parameter succeeds for the ungranted \
             table `payments` and fails for a table that does not exist"
                .into(),
        );
    }
    finish("backend identity and catalog", problems);
}

/// Slow or never-finishing clients: a client that opens a transaction and goes quiet holds a
/// pooled backend. As many such connections as the pool is large (one token may open any
/// number) must not lock every other tenant out: the gateway has to bound an idle transaction
/// (PostgreSQL's `idle_in_transaction_session_timeout`, which the policy suite already refuses
/// to let clients turn off, or its own timer).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_transactions_do_not_starve_other_tenants() {
    let mut problems = Vec::new();
    // The backend ends transactions left idle for --idle-transaction-timeout (2 s here), which
    // frees their connections for other clients.
    let gw = door_gateway_with(PoolMode::Transaction, 2, Duration::from_secs(2));
    let acme = tok(&gw, RO, "acme");
    let mut holders = Vec::new();
    for _ in 0..2 {
        let c = client(&gw, &acme).await;
        c.simple_query("BEGIN").await.unwrap();
        holders.push(c);
    }
    let last_begin = Instant::now();
    let other = client(&gw, &tok(&gw, RO, "globex")).await;
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(30), other.simple_query("SELECT 1")).await {
        Ok(Ok(_)) if started.elapsed() < Duration::from_secs(6) => {}
        Ok(Ok(_)) => problems.push(format!(
            "globex waited {:.1} s for a connection held by idle transactions",
            started.elapsed().as_secs_f64()
        )),
        Ok(Err(e)) => problems.push(format!(
            "DENIAL OF SERVICE: two connections of one acme token idling in `BEGIN` lock tenant globex \
             out of a pool of 2: after {:.1} s its SELECT 1 got {} {}",
            started.elapsed().as_secs_f64(),
            db_err(&e).state,
            db_err(&e).message
        )),
        Err(_) => problems.push("DENIAL OF SERVICE: no answer in 30 s".into()),
    }
    // Each holder is idle past the timeout only once 2 s have passed since its BEGIN: on a
    // loaded machine globex can be served by the first holder's freed connection before the
    // second one's time is up.
    let past = last_begin + Duration::from_secs(3);
    if let Some(wait) = past.checked_duration_since(Instant::now()) {
        tokio::time::sleep(wait).await;
    }
    for h in &holders {
        if h.simple_query("SELECT 1").await.is_ok() {
            problems
                .push("a client idle in a transaction past the timeout kept its connection".into());
        }
    }
    drop(holders);
    finish("idle transactions", problems);
}
