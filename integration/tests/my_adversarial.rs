//! The adversarial suite through the MySQL door: every MySQL case of the policy engine's
//! adversarial suites (policy/tests/adversarial*.rs, included from policy/tests/common/, not
//! retyped) plus MySQL's and MariaDB's own tricks, run through an in-process gateway against a
//! real, seeded car-rental MariaDB database with two tenants, with mysql_async in the text
//! protocol (`query_iter`) and the prepared protocol (`prep` + `exec_iter`).
//!
//! The database is named `rental`, as the policy suites' MySQL expectations are, so that
//! database-qualified names mean to the door what they mean there. Its schema and canaries are
//! integration/fixtures/adversarial_mariadb.sql (also a database `other` and an account
//! `canary_spy`, which a database-qualified name, `USE` or COM_INIT_DB would reach).
//!
//! The acceptance: no other tenant's row, no hidden column, no write outside the scope, no side
//! effect. For every case and protocol:
//! - a case the engine denies (asked directly, with the same role file, claims and database)
//!   must come back as a MySQL error with the rule's code (`Rule::mysql_code`) and `[sluice: `
//!   in its message (a refused token counts as a denial for the token family); a case of this
//!   file marked as an attack the engine must deny fails if the engine allows it;
//! - every value returned (rows of every result set, binary values decoded) and the text of every
//!   error is scanned for the fixture's markers (`CANARY`, `7770`, `2077-`, and per role
//!   `VHIDDEN`/`888`, `XREGION`/`5559`, `6610`, `AUDITROW`, `SITEROW`, `TICKETROW`); a token for a
//!   tenant with no rows must get no rows;
//! - a direct root connection then compares every table (and `other`'s) with its pristine copy:
//!   a change is allowed only for a statement the engine allowed, on a table and operation the
//!   role is granted, on rows inside the role's filter before and after, in granted columns,
//!   without copying a marker into a column the role reads; changed tables are restored.
//!   AUTO_INCREMENT may only advance for a table the role inserts into, the sequence `s` never;
//!   objects (tables, routines, triggers, events, views, databases, accounts, grants, plugins,
//!   UDFs, servers), global variables, files the cases name, prepared XA transactions, metadata
//!   and user locks, open transactions and running statements of other sessions, `FLUSH STATUS`,
//!   and an idle root session (`{victim}`, the target of KILL) must be as before;
//! - a second client with the same token then gets the same backend (pool size 1: the door pins
//!   one backend connection per client session and pools it after) and must see the settings a
//!   fresh backend of its profile reports (`@@sql_mode`, `@@autocommit`, `@@tx_read_only`,
//!   `@@max_statement_time`, character sets, time zone, isolation, `@@sql_select_limit`, …,
//!   `DATABASE()`), and its row counts of every table it reads must equal root's count of the
//!   rows its filters keep (a temporary table left behind would shadow a table).
//!
//! User variables cannot be read through the door (the engine denies `@x` everywhere) nor by root
//! (they are per session), so for them the suite checks that every way to set one is refused.
//!
//! `the_leak_and_side_effect_detectors_detect` proves each of those checks fails when what it
//! looks for happens (done on direct connections, around the gateway; it needs no door).
//! `door_cases_are_decided_as_expected_by_the_engine` checks this file's own attacks against the
//! engine alone.
//!
//! Door-specific tests below the case runner: tokens at the door (the backend's root login,
//! forged, tampered, wrong version, expired, not yet valid, revoked, unknown role), `SET
//! autocommit = 0` + a write + disconnect (nothing may be committed by the next client of the
//! pooled backend), protocol commands no driver sends for you (COM_INIT_DB, COM_FIELD_LIST,
//! COM_PROCESS_KILL, COM_CHANGE_USER, COM_STMT_EXECUTE of statements the client never prepared,
//! …, and a GBK client character set in the handshake with a multibyte trick), and SHUTDOWN on a
//! private server.
//!
//! Every test collects all its failures and fails once at the end with the full list; the
//! summary per family and protocol is printed (run with `--nocapture` to see it on success).
//! `SLUICE_ADV_ONLY=<part of a case id>` runs only matching cases (ids are
//! `suite/family/name`), `SLUICE_ADV_VERBOSE=1` lists every case run with its outcome.
//! The tests of this file run one at a time (they share one MariaDB server and compare its
//! global state).

#![allow(dead_code, unused_macros)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, Value};
use sluice_integration::{shared_mariadb, Gateway, GatewayOptions, MariaDbServer};
use sluice_policy::roles::{ColumnSet, EffectiveRole, Operation, RbacConfig, TableName};
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::{ClaimValue, Claims, TokenRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
            .filter(|c| matches!(c.dialect, Dialect::MySql))
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
                ..super::DoorCase::default()
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
                    .filter(|(_, c)| matches!(c.dialect, Dialect::MySql))
                    .map(|(family, c)| super::DoorCase {
                        suite: $suite,
                        family,
                        name: c.name.to_string(),
                        roles: $role_file,
                        role: c.role,
                        sql: c.sql,
                        want: match c.expect {
                            Expect::Deny(r) => super::Want::Deny(Some(r)),
                            Expect::DenyAny => super::Want::Deny(None),
                            Expect::Sql(_) | Expect::Pinned(..) => super::Want::Allow,
                        },
                        ..super::DoorCase::default()
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
const SCHEMA: &str = include_str!("../fixtures/adversarial_mariadb.sql");

/// The database of the case suite: the name the policy suites' MySQL expectations use.
const DB: &str = "rental";
/// A file on the server's machine whose text is a marker (LOAD_FILE, LOAD DATA read it).
/// The file the LOAD_FILE/LOAD DATA cases name, in a scratch directory removed when the tests
/// end (the MariaDB test server, run by the same user, could read it).
fn canary_file_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        sluice_integration::process_scratch_dir("my-adversarial")
            .expect("a scratch directory")
            .join("canary.txt")
            .to_string_lossy()
            .into_owned()
    })
}
const CANARY_FILE_TEXT: &str =
    "-777100\tacme\tCANARY-FILE name\tCANARY-FILE@example\tCANARY-FILE-SSN\n";
/// Files the cases ask the server to write (INTO OUTFILE / DUMPFILE).
const OUT_FILES: &[&str] = &["/tmp/sluice_my_adv_out", "/tmp/sluice_my_adv_dump"];

/// The role file a case's gateway serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum RoleFile {
    /// adversarial_roles.yaml
    #[default]
    Main,
    /// adversarial_roles_delete.yaml
    Delete,
    /// adversarial2_roles.yaml
    Second,
    /// adversarial3_roles.yaml plus agent_kind (adversarial3.rs and adversarial4.rs)
    Third,
    /// integration/src/rental.rs's ROLES: mission.md's roles, `reservations.internal_score`
    /// hidden.
    Rental,
}

impl RoleFile {
    const ALL: [RoleFile; 5] = [
        RoleFile::Main,
        RoleFile::Delete,
        RoleFile::Second,
        RoleFile::Third,
        RoleFile::Rental,
    ];
    fn yaml(self) -> &'static str {
        match self {
            RoleFile::Main => ROLES_MAIN,
            RoleFile::Delete => ROLES_DELETE,
            RoleFile::Second => suite2::ROLE_FILE,
            RoleFile::Third => suite4::ROLE_FILE,
            RoleFile::Rental => sluice_integration::rental::ROLES,
        }
    }
}

/// The claims of the case's token (all tokens are for tenant `acme` unless said otherwise).
#[derive(Clone, Debug, Default)]
enum Tenant {
    #[default]
    Acme,
    /// Another tenant value (one that owns no rows, or a claim that tries to be SQL).
    Other(String),
    Missing,
    /// `acme` with this `region` claim.
    AcmeRegion(Option<ClaimValue>),
}

/// What is expected of the case.
#[derive(Clone, Debug, Default)]
enum Want {
    /// Denied (by this rule): the door must answer with an error carrying the rule's code.
    Deny(Option<Rule>),
    /// Allowed: the backend runs the rewrite (it may still fail there).
    Allow,
    /// Denied, or allowed and harmless.
    #[default]
    Either,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Text,
    Prepared,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Text => "text",
            Proto::Prepared => "prepared",
        }
    }
}

#[derive(Clone, Debug, Default)]
struct DoorCase {
    suite: &'static str,
    family: &'static str,
    name: String,
    roles: RoleFile,
    role: &'static str,
    tenant: Tenant,
    /// `{victim}` stands for the connection id of an idle root session (a KILL target).
    sql: String,
    /// Sent instead of `sql` when set (bytes that are not UTF-8).
    bytes: Option<Vec<u8>>,
    want: Want,
    /// Statements sent first on the same connection (text protocol; their results ignored).
    pre: Vec<String>,
    /// Values bound in the prepared protocol (default: -777001, another tenant's id, for each).
    params: Option<Vec<Value>>,
    /// Run in this protocol only.
    only: Option<Proto>,
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
            label: Some("my-adversarial".into()),
        }
    }

    /// The claims the gateway binds into filters.
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

    fn pre(mut self, statements: &[&str]) -> Self {
        self.pre = statements.iter().map(|s| s.to_string()).collect();
        self
    }

    fn params(mut self, values: Vec<Value>) -> Self {
        self.params = Some(values);
        self.only = Some(Proto::Prepared);
        self
    }

    fn bytes(mut self, b: &[u8]) -> Self {
        self.bytes = Some(b.to_vec());
        self
    }

    fn file(mut self, f: RoleFile) -> Self {
        self.roles = f;
        self
    }
}

// =============================================================================================
// MySQL's and MariaDB's own tricks (run like the policy cases, in both protocols)
// =============================================================================================

const RO: &str = "agent_readonly";
const SUP: &str = "agent_support";
const CRM: &str = "agent_crm";

fn door(family: &'static str, name: &str, role: &'static str, sql: &str, want: Want) -> DoorCase {
    DoorCase {
        suite: "door",
        family,
        name: name.to_string(),
        role,
        sql: sql.to_string(),
        want,
        ..DoorCase::default()
    }
}

/// With backslash escapes off, `'x\'` would end at the second quote: the engine reads with them
/// on, and the backend must too whatever the client asked.
const SLASH_TRICK: &str = r"SELECT name FROM customers WHERE name = 'x\' OR 1=1 -- '";

/// The multibyte trick. To the engine (UTF-8) the first literal is `丁\` and the second is text.
/// The engine writes the first back as '丁\\'. A backend reading GBK or SJIS takes the last byte
/// of 丁 (0x81) and the first backslash as one character, so the second backslash escapes the
/// quote, the literal runs on to the next quote, and `UNION SELECT ssn …` becomes SQL.
const GBK_TRICK: &str = r"SELECT name FROM customers WHERE name = '丁\\' AND name = ' UNION SELECT ssn FROM rental.customers -- '";
/// The same for Big5 (両 ends in a Big5 lead byte).
const BIG5_TRICK: &str = r"SELECT name FROM customers WHERE name = '両\\' AND name = ' UNION SELECT ssn FROM rental.customers -- '";

fn door_cases() -> Vec<DoorCase> {
    use Want::{Allow, Deny, Either};
    let deny = |r: Rule| Deny(Some(r));
    let d = || Deny(None);
    let canary_file = |sql: &str| sql.replace("CANARY_FILE", canary_file_path());
    vec![
        // --- executable comments: MySQL runs what is inside; the engine must not lose it
        door("parser", "exec_comment_adds_hidden_column", RO, "SELECT 1 /*! , ssn */ FROM customers", Either),
        door("parser", "exec_comment_versioned_union", RO, "SELECT id, name FROM customers /*!50000 UNION SELECT id, ssn FROM customers */", Either),
        door("parser", "exec_comment_mariadb_union", RO, "SELECT id, name FROM customers /*M!100000 UNION SELECT id, ssn FROM customers */", Either),
        door("parser", "exec_comment_future_version", RO, "SELECT name /*!99999 , ssn */ FROM customers", Either),
        door("parser", "exec_comment_whole_statement_delete", RO, "/*!50000 DELETE FROM customers */", Either),
        door("parser", "exec_comment_hides_second_statement", RO, "SELECT 1 /*!; DELETE FROM customers */", Either),
        door("parser", "exec_comment_unterminated", RO, "SELECT name FROM customers /*! UNION SELECT ssn FROM customers", Either),
        door("parser", "exec_comment_widens_where", RO, "SELECT name FROM customers WHERE id = 1 /*! OR 1=1 */", Either),
        door("parser", "exec_comment_swaps_table", RO, "SELECT * FROM /*! payments, */ customers", Either),
        door("parser", "exec_comment_in_update", SUP, "UPDATE reservations SET notes = 'exec' /*! , price = 0 */ WHERE id = 1", Either),
        door("parser", "exec_comment_in_update_other_tenant", SUP, "UPDATE reservations SET notes = 'exec' WHERE id = 1 /*! OR id = -777001 */", Either),
        door("parser", "optimizer_hint_comment", RO, "SELECT /*+ MAX_EXECUTION_TIME(1) */ name FROM customers", Either),
        // --- backslash escapes aimed at ending a literal early
        door("parser", "backslash_quote_ends_nothing", RO, SLASH_TRICK, Allow),
        door("parser", "backslash_backslash_then_or", RO, r"SELECT name FROM customers WHERE name = 'x\\' OR 1=1 -- '", Allow),
        door("parser", "backslash_hides_statement", RO, r"SELECT 'a\'; DELETE FROM customers; -- '", Allow),
        door("parser", "backslash_double_quoted", RO, r#"SELECT "a\"; DELETE FROM customers; -- ""#, Allow),
        door("parser", "backslash_specials", RO, r"SELECT name FROM customers WHERE name IN ('\Z', '\0', '\%', '\_', '\b', '\n', '\t', '\r', '\\')", Allow),
        door("parser", "backslash_z_before_quote", RO, r"SELECT name FROM customers WHERE name = '\Z\' OR 1=1 -- '", Allow),
        door("parser", "backslash_pair_then_union", RO, r"SELECT name FROM customers WHERE name = '\\' UNION SELECT ssn FROM customers WHERE '\\' = '\\'", Either),
        door("parser", "backslash_in_introducer", RO, r"SELECT name FROM customers WHERE name = _latin1'x\' OR 1=1 -- '", Either),
        door("parser", "backslash_in_national", RO, r"SELECT name FROM customers WHERE name = N'x\' OR 1=1 #'", Either),
        door("parser", "hex_literal_quote", RO, "SELECT name FROM customers WHERE name = X'27' OR 1=1", Allow),
        door("parser", "backslash_after_denied_no_backslash_escapes", RO, SLASH_TRICK, Allow).pre(&["SET sql_mode = 'NO_BACKSLASH_ESCAPES'"]),
        door("parser", "backslash_after_denied_session_sql_mode", RO, SLASH_TRICK, Allow).pre(&["SET @@session.sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'"]),
        door("parser", "backslash_in_set_statement_for", RO, r"SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT name FROM customers WHERE name = 'x\' OR 1=1 -- '", d()),
        // --- multibyte client character sets
        door("parser", "gbk_trick_plain", RO, GBK_TRICK, Allow),
        door("parser", "gbk_trick_after_set_names", RO, GBK_TRICK, Allow).pre(&["SET NAMES gbk"]),
        door("parser", "gbk_trick_after_character_set_client", RO, GBK_TRICK, Allow).pre(&["SET character_set_client = gbk"]),
        door("parser", "gbk_trick_after_character_set", RO, GBK_TRICK, Allow).pre(&["SET CHARACTER SET gbk"]),
        door("parser", "gbk_trick_after_session_variable", RO, GBK_TRICK, Allow).pre(&["SET @@session.character_set_client = 'gbk'"]),
        door("parser", "sjis_trick_after_set_names", RO, GBK_TRICK, Allow).pre(&["SET NAMES sjis"]),
        door("parser", "big5_trick_after_set_names", RO, BIG5_TRICK, Allow).pre(&["SET NAMES big5"]),
        door("parser", "gbk_raw_bytes_not_utf8", RO, "SELECT name FROM customers WHERE name = '<0xbf>\\' OR 1=1 -- '", Either)
            .bytes(b"SELECT name FROM customers WHERE name = '\xbf\\' OR 1=1 -- '")
            .pre(&["SET NAMES gbk"]),
        door("parser", "invalid_utf8_in_comment", RO, "SELECT name FROM customers /* <0xff> */ WHERE id = 1", Either)
            .bytes(b"SELECT name FROM customers /* \xff */ WHERE id = 1"),
        // --- sql_mode and other settings that change parsing or the second gate
        door("leave", "set_sql_mode", RO, "SET sql_mode = 'NO_BACKSLASH_ESCAPES'", deny(Rule::SettingNotAllowed)),
        door("leave", "set_session_sql_mode", RO, "SET @@session.sql_mode = 'ANSI_QUOTES'", deny(Rule::SettingNotAllowed)),
        door("leave", "set_session_keyword_sql_mode", RO, "SET SESSION sql_mode = ''", d()),
        door("leave", "set_sql_mode_assign_operator", RO, "SET @@sql_mode := 'PIPES_AS_CONCAT'", d()),
        door("leave", "set_global_sql_mode", RO, "SET GLOBAL sql_mode = ''", d()),
        door("leave", "set_sql_mode_default", RO, "SET sql_mode = DEFAULT", d()),
        door("leave", "set_local_sql_mode", RO, "SET LOCAL sql_mode = 'ANSI'", d()),
        door("leave", "set_sql_mode_second_of_two", RO, "SET autocommit = 1, sql_mode = 'ANSI_QUOTES'", d()),
        door("leave", "set_statement_for", RO, "SET STATEMENT max_statement_time = 0 FOR SELECT COUNT(*) FROM customers", d()),
        door("leave", "set_max_statement_time", RO, "SET max_statement_time = 0", d()),
        door("leave", "set_session_max_statement_time", RO, "SET @@session.max_statement_time = 1000", d()),
        door("leave", "set_tx_read_only_off", RO, "SET SESSION tx_read_only = 0", d()),
        door("leave", "set_transaction_read_write", RO, "SET TRANSACTION READ WRITE", d()),
        door("leave", "set_names_gbk", RO, "SET NAMES gbk", deny(Rule::SettingNotAllowed)),
        door("leave", "set_names_sjis_quoted", RO, "SET NAMES 'sjis'", d()),
        door("leave", "set_character_set_gbk", RO, "SET CHARACTER SET gbk", d()),
        door("leave", "set_character_set_client_gbk", RO, "SET character_set_client = gbk", d()),
        door("leave", "set_session_character_set_client_big5", RO, "SET @@session.character_set_client = 'big5'", d()),
        door("leave", "set_character_set_connection_gbk", RO, "SET character_set_connection = gbk", d()),
        door("leave", "set_collation_connection_gbk", RO, "SET collation_connection = gbk_chinese_ci", d()),
        door("leave", "set_password", RO, "SET PASSWORD = PASSWORD('x')", d()),
        door("leave", "set_password_for_root", RO, "SET PASSWORD FOR root@localhost = PASSWORD('x')", d()),
        door("leave", "set_role", RO, "SET ROLE admin", d()),
        door("leave", "set_sql_log_bin", RO, "SET sql_log_bin = 0", d()),
        door("leave", "set_foreign_key_checks", SUP, "SET foreign_key_checks = 0", d()),
        door("leave", "set_insert_id", SUP, "SET insert_id = -777001", d()),
        door("leave", "set_pseudo_thread_id", RO, "SET pseudo_thread_id = 1", d()),
        // Allowed settings: they must not outlive the session (checked by the next client).
        door("leave", "set_time_zone", RO, "SET time_zone = '+05:00'", Either),
        door("leave", "set_sql_select_limit", RO, "SET sql_select_limit = 1", Either),
        door("leave", "set_isolation_read_uncommitted", RO, "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", Either),
        door("leave", "set_autocommit_off", RO, "SET autocommit = 0", Either),
        door("leave", "set_character_set_results_latin1", RO, "SET character_set_results = latin1", Either),
        door("leave", "set_names_binary", RO, "SET NAMES binary", Either),
        door("leave", "set_wait_timeout", RO, "SET wait_timeout = 1", Either),
        // --- double-quoted strings, ANSI_QUOTES, || as OR
        door("parser", "double_quoted_is_a_string", RO, r#"SELECT "ssn" FROM customers"#, Either),
        door("parser", "double_quoted_after_denied_ansi_quotes", RO, r#"SELECT "ssn" FROM customers"#, Either).pre(&["SET sql_mode = 'ANSI_QUOTES'"]),
        door("parser", "double_quoted_or_true", RO, r#"SELECT name FROM customers WHERE name = "x" OR "1" = "1""#, Allow),
        door("parser", "double_quoted_table_name", RO, r#"SELECT * FROM "payments""#, Either),
        door("parser", "pipes_are_or", RO, "SELECT name FROM customers WHERE tenant_id = 'globex' || 1 = 1", Allow),
        door("parser", "pipes_after_denied_pipes_as_concat", RO, "SELECT name FROM customers WHERE tenant_id = 'glob' || 'ex'", Either).pre(&["SET sql_mode = 'PIPES_AS_CONCAT'"]),
        door("parser", "and_and_or_or", RO, "SELECT name FROM customers WHERE tenant_id = 'globex' && 1 = 1 || 1 = 1", Either),
        // --- user variables: none may be set or read
        door("leave", "user_variable_set", RO, "SET @x = 1", d()),
        door("leave", "user_variable_set_from_hidden", RO, "SET @x = (SELECT ssn FROM customers LIMIT 1)", d()),
        door("leave", "user_variable_assign_in_select", RO, "SELECT @x := ssn FROM customers", d()),
        door("leave", "user_variable_assign_readable", RO, "SELECT @x := name FROM customers", d()),
        door("leave", "user_variable_read", RO, "SELECT @x", d()),
        door("leave", "user_variable_in_filter_position", RO, "SELECT * FROM customers WHERE tenant_id = @t", d()).pre(&["SET @t = 'globex'"]),
        door("leave", "user_variable_select_into", RO, "SELECT name INTO @n FROM customers LIMIT 1", d()),
        door("leave", "user_variable_double_at_unknown", RO, "SET @@x = 1", d()),
        door("leave", "system_variable_secure_file_priv", RO, "SELECT @@secure_file_priv", d()),
        door("leave", "system_variable_datadir", RO, "SELECT @@datadir", d()),
        door("leave", "system_variable_global", RO, "SELECT @@global.sql_mode", Either),
        door("leave", "system_variable_session", RO, "SELECT @@session.sql_mode", Either),
        // --- comments
        door("parser", "hash_comment_hides_delete", RO, "SELECT 1 # ; DELETE FROM customers", Allow),
        door("parser", "hash_comment_then_newline_delete", RO, "SELECT 1 #\n; DELETE FROM customers", deny(Rule::ForbiddenOperation)),
        door("parser", "dash_dash_space_comment", RO, "SELECT 1 -- ; DELETE FROM customers", Allow),
        door("parser", "dash_dash_without_space_is_minus", RO, "SELECT 1--1", Allow),
        door("parser", "dash_dash_newline_delete", RO, "SELECT 1 --\n; DELETE FROM customers", d()),
        door("parser", "dash_dash_tab", RO, "SELECT 1 --\t; DELETE FROM customers", Either),
        door("parser", "block_comment_hides_delete", RO, "SELECT 1 /* ; DELETE FROM customers */", Allow),
        door("parser", "block_comments_do_not_nest", RO, "SELECT 1 /* /* */ ; DELETE FROM customers", d()),
        door("parser", "block_comment_unterminated", RO, "SELECT 1 /* ; DELETE FROM customers", Either),
        door("parser", "hash_inside_string", RO, "SELECT name FROM customers WHERE name = '#' OR 1=1", Allow),
        door("parser", "comment_between_database_and_table", RO, "SELECT * FROM other/**/.customers", d()),
        // --- USE and database-qualified names of other databases
        door("leave", "use_other_database", RO, "USE other", d()),
        door("leave", "use_mysql", RO, "USE mysql", d()),
        door("leave", "use_information_schema", RO, "USE information_schema", d()),
        door("leave", "use_backticked", RO, "USE `other`", d()),
        door("leave", "read_after_denied_use", RO, "SELECT * FROM customers", Allow).pre(&["USE other"]),
        door("leave", "write_after_denied_use", SUP, "UPDATE reservations SET notes = 'after-use' WHERE id = 1", Allow).pre(&["USE other"]),
        door("leave", "mysql_user", RO, "SELECT * FROM mysql.user", deny(Rule::TableNotGranted)),
        door("leave", "mysql_user_columns", RO, "SELECT User, Host, Password FROM mysql.user", d()),
        door("leave", "mysql_global_priv", RO, "SELECT * FROM mysql.global_priv", d()),
        door("leave", "mysql_proc", RO, "SELECT body FROM mysql.proc", d()),
        // The scoped information_schema (engine/catalog.rs): served, its answers scanned.
        door("leave", "information_schema_tables", RO, "SELECT table_schema, table_name FROM information_schema.tables", Either),
        door("leave", "information_schema_upper", RO, "SELECT * FROM INFORMATION_SCHEMA.TABLES", Either),
        door("leave", "information_schema_columns", RO, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()", Either),
        door("leave", "information_schema_routines", RO, "SELECT routine_definition FROM information_schema.routines", d()),
        door("leave", "information_schema_processlist", RO, "SELECT info FROM information_schema.processlist", d()),
        door("leave", "information_schema_user_variables", RO, "SELECT * FROM information_schema.user_variables", d()),
        door("leave", "performance_schema_threads", RO, "SELECT * FROM performance_schema.threads", d()),
        door("leave", "other_database", RO, "SELECT * FROM other.customers", deny(Rule::TableNotGranted)),
        door("leave", "other_database_backticked", RO, "SELECT * FROM `other`.`customers`", d()),
        door("leave", "other_database_join", RO, "SELECT c.name, o.ssn FROM customers c JOIN other.customers o ON o.id = c.id", d()),
        door("leave", "other_database_subquery", RO, "SELECT name FROM customers WHERE id IN (SELECT id FROM other.customers)", d()),
        door("leave", "other_database_update", SUP, "UPDATE other.reservations SET notes = 'hit'", d()),
        door("leave", "other_database_insert_select", SUP, "INSERT INTO reservations (notes) SELECT ssn FROM other.customers", d()),
        door("leave", "same_database_ungranted", RO, "SELECT * FROM rental.payments", d()),
        door("leave", "canary_vault", RO, "SELECT * FROM canary_vault", d()),
        door("leave", "pristine_copy", RO, "SELECT * FROM sluice_pristine_customers", d()),
        door("leave", "stored_function", RO, "SELECT leak_ssn()", d()),
        door("leave", "stored_function_qualified", RO, "SELECT rental.leak_ssn()", d()),
        door("leave", "sequence_nextval", RO, "SELECT NEXTVAL(s)", d()),
        door("leave", "sequence_next_value_for", RO, "SELECT NEXT VALUE FOR s", d()),
        door("leave", "sequence_setval", RO, "SELECT SETVAL(s, 100)", d()),
        door("leave", "sequence_as_table", RO, "SELECT * FROM s", d()),
        // --- SHOW (schema discovery is served from the scoped catalogs: allowed, and every
        // value it returns is scanned for the markers like any other answer)
        door("leave", "show_databases", RO, "SHOW DATABASES", Either),
        door("leave", "show_tables_from_other", RO, "SHOW TABLES FROM other", d()),
        door("leave", "show_full_tables", RO, "SHOW FULL TABLES", Either),
        door("leave", "show_columns", RO, "SHOW COLUMNS FROM customers", Either),
        door("leave", "show_columns_of_ungranted", RO, "SHOW COLUMNS FROM payments", Either),
        door("leave", "show_create_table", RO, "SHOW CREATE TABLE customers", Either),
        door("leave", "show_create_procedure", RO, "SHOW CREATE PROCEDURE p", d()),
        door("leave", "show_create_function", RO, "SHOW CREATE FUNCTION leak_ssn", d()),
        door("leave", "show_procedure_code", RO, "SHOW PROCEDURE CODE p", d()),
        door("leave", "show_grants", RO, "SHOW GRANTS", d()),
        door("leave", "show_grants_for_spy", RO, "SHOW GRANTS FOR 'canary_spy'@'localhost'", d()),
        door("leave", "show_create_user", RO, "SHOW CREATE USER root", d()),
        door("leave", "show_full_processlist", RO, "SHOW FULL PROCESSLIST", d()),
        door("leave", "show_variables", RO, "SHOW VARIABLES", Either),
        door("leave", "show_global_variables_secure_file_priv", RO, "SHOW GLOBAL VARIABLES LIKE 'secure_file_priv'", Either),
        door("leave", "show_variables_where", RO, "SHOW VARIABLES WHERE Variable_name = 'datadir'", Either),
        door("leave", "show_session_variables_like", RO, "SHOW SESSION VARIABLES LIKE 'character_set_client'", Either),
        door("leave", "show_global_status", RO, "SHOW GLOBAL STATUS", Either),
        door("leave", "show_engine_innodb_status", RO, "SHOW ENGINE INNODB STATUS", d()),
        door("leave", "show_table_status", RO, "SHOW TABLE STATUS", d()),
        door("leave", "show_index_of_ungranted", RO, "SHOW INDEX FROM payments", Either),
        door("leave", "show_open_tables", RO, "SHOW OPEN TABLES", d()),
        door("leave", "show_triggers", RO, "SHOW TRIGGERS", d()),
        door("leave", "show_errors", RO, "SHOW ERRORS", Either),
        door("leave", "show_privileges", RO, "SHOW PRIVILEGES", Either),
        door("leave", "show_binlog_events", RO, "SHOW BINLOG EVENTS", d()),
        door("leave", "show_master_status", RO, "SHOW MASTER STATUS", d()),
        door("leave", "show_explain_for_victim", RO, "SHOW EXPLAIN FOR {victim}", d()),
        door("leave", "show_plugins", RO, "SHOW PLUGINS", Either),
        door("leave", "describe_table", RO, "DESCRIBE customers", Either),
        door("leave", "describe_ungranted", RO, "DESC payments", Either),
        // --- multi-statement input: nothing of it runs when any part is denied
        door("disguise", "multi_select_delete", RO, "SELECT 1; DELETE FROM customers", deny(Rule::ForbiddenOperation)),
        door("disguise", "multi_allowed_then_denied_runs_nothing", SUP,
            "UPDATE reservations SET notes = 'multi-1' WHERE id = 1; UPDATE reservations SET price = 0", deny(Rule::ColumnNotGranted)),
        door("disguise", "multi_commit_between_runs_nothing", SUP,
            "UPDATE reservations SET notes = 'multi-2' WHERE id = 2; COMMIT; UPDATE reservations SET tenant_id = 'globex'", d()),
        door("disguise", "multi_denied_last_of_three", SUP,
            "UPDATE reservations SET notes = 'multi-3' WHERE id = 3; SELECT 1; SELECT LOAD_FILE('/etc/passwd')", d()),
        door("disguise", "multi_transaction_block", SUP, "START TRANSACTION; UPDATE reservations SET notes = 'tx-block' WHERE id = 3; COMMIT", Allow),
        door("disguise", "multi_set_mode_then_read", RO, r#"SET sql_mode = 'ANSI_QUOTES'; SELECT "ssn" FROM customers"#, d()),
        door("disguise", "multi_inside_string", RO, "SELECT 'a; DELETE FROM customers'", Allow),
        door("disguise", "multi_trailing_semicolons", RO, "SELECT 1;;;", Either),
        door("disguise", "empty_query", RO, "", Either),
        door("disguise", "only_semicolons", RO, " ; ; ", Either),
        door("disguise", "only_comment", RO, "/* nothing */", Either),
        // --- SQL-level PREPARE / EXECUTE
        door("disguise", "sql_prepare_from_string", RO, "PREPARE s FROM 'SELECT ssn FROM customers'", d()),
        door("disguise", "sql_prepare_from_variable", RO, "PREPARE s FROM @q", d()),
        door("disguise", "sql_prepare_then_execute", RO, "PREPARE s FROM 'SELECT ssn FROM customers'; EXECUTE s", d()),
        door("disguise", "sql_execute_after_denied_prepare", RO, "EXECUTE s", d()).pre(&["PREPARE s FROM 'SELECT ssn FROM customers'"]),
        door("disguise", "execute_immediate", RO, "EXECUTE IMMEDIATE 'SELECT ssn FROM customers'", d()),
        door("disguise", "execute_immediate_concat", RO, "EXECUTE IMMEDIATE CONCAT('SELECT ssn ', 'FROM customers')", d()),
        door("disguise", "execute_immediate_using", SUP, "EXECUTE IMMEDIATE 'UPDATE reservations SET price = ?' USING 0", d()),
        door("disguise", "deallocate_prepare", RO, "DEALLOCATE PREPARE s", d()),
        door("disguise", "drop_prepare", RO, "DROP PREPARE s", d()),
        // --- locks, KILL, FLUSH and other server-level statements
        door("leave", "get_lock", RO, "SELECT GET_LOCK('sluice_adv', 0)", deny(Rule::FunctionNotAllowed)),
        door("leave", "get_lock_in_where", RO, "SELECT name FROM customers WHERE GET_LOCK('sluice_adv', 0) = 1", d()),
        door("leave", "is_used_lock", RO, "SELECT IS_USED_LOCK('sluice_adv')", d()),
        door("leave", "release_all_locks", RO, "SELECT RELEASE_ALL_LOCKS()", d()),
        door("leave", "do_get_lock", RO, "DO GET_LOCK('sluice_adv', 0)", d()),
        door("leave", "kill_victim", RO, "KILL {victim}", d()),
        door("leave", "kill_connection_victim", RO, "KILL CONNECTION {victim}", d()),
        door("leave", "kill_query_victim", RO, "KILL QUERY {victim}", d()),
        door("leave", "kill_hard_victim", RO, "KILL HARD {victim}", d()),
        door("leave", "kill_user_root", RO, "KILL USER root", d()),
        door("leave", "kill_query_id", RO, "KILL QUERY ID 1", d()),
        door("leave", "flush_tables", RO, "FLUSH TABLES", d()),
        door("leave", "flush_tables_with_read_lock", RO, "FLUSH TABLES WITH READ LOCK", d()),
        door("leave", "flush_privileges", RO, "FLUSH PRIVILEGES", d()),
        door("leave", "flush_status", RO, "FLUSH STATUS", d()),
        door("leave", "flush_logs", RO, "FLUSH LOGS", d()),
        door("leave", "reset_query_cache", RO, "RESET QUERY CACHE", d()),
        door("leave", "backup_lock", RO, "BACKUP LOCK customers", d()),
        door("leave", "backup_stage", RO, "BACKUP STAGE START", d()),
        door("leave", "analyze_table", RO, "ANALYZE TABLE customers", d()),
        door("leave", "optimize_table", SUP, "OPTIMIZE TABLE reservations", d()),
        door("leave", "checksum_ungranted", RO, "CHECKSUM TABLE payments", d()),
        door("leave", "install_soname", RO, "INSTALL SONAME 'ha_blackhole'", d()),
        door("leave", "create_user", RO, "CREATE USER evil IDENTIFIED BY 'x'", d()),
        door("leave", "grant_all", RO, "GRANT ALL ON *.* TO canary_spy@localhost", d()),
        door("leave", "create_event", RO, "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO UPDATE customers SET name = 'CANARY'", d()),
        door("leave", "create_trigger", SUP, "CREATE TRIGGER t BEFORE UPDATE ON reservations FOR EACH ROW SET NEW.price = 0", d()),
        door("leave", "create_view", RO, "CREATE VIEW v AS SELECT * FROM customers", d()),
        door("leave", "create_database", RO, "CREATE DATABASE evil", d()),
        door("leave", "alter_table", SUP, "ALTER TABLE reservations ADD COLUMN x INT", d()),
        door("leave", "rename_table", SUP, "RENAME TABLE reservations TO r2", d()),
        // --- temporary tables (one named like a table would shadow it for the backend's next
        // client), LOCK TABLES, XA, DO, CALL, compound statements
        door("disguise", "create_temporary_table_shadow", RO,
            "CREATE TEMPORARY TABLE customers (id INT, tenant_id VARCHAR(32), name VARCHAR(200), email VARCHAR(200))", d()),
        door("disguise", "create_temporary_table_as_select", RO, "CREATE TEMPORARY TABLE t AS SELECT * FROM customers", d()),
        door("disguise", "create_temporary_table_like", RO, "CREATE TEMPORARY TABLE t LIKE customers", d()),
        door("disguise", "read_after_denied_temporary_shadow", RO, "SELECT * FROM customers", Allow)
            .pre(&["CREATE TEMPORARY TABLE customers SELECT 1 AS id, 'acme' AS tenant_id, 'CANARY-shadow' AS name, 'x' AS email"]),
        door("leave", "lock_tables_write", SUP, "LOCK TABLES reservations WRITE", d()),
        door("leave", "lock_tables_alias", RO, "LOCK TABLES customers AS c READ", d()),
        door("leave", "lock_tables_other_database", RO, "LOCK TABLES other.customers WRITE", d()),
        door("leave", "unlock_tables", RO, "UNLOCK TABLES", Either),
        door("disguise", "xa_start", SUP, "XA START 'sluice_adv'", d()),
        door("disguise", "xa_prepared_write_survives_disconnect", SUP,
            "XA START 'sluice_adv2'; UPDATE reservations SET notes = 'xa' WHERE id = 1; XA END 'sluice_adv2'; XA PREPARE 'sluice_adv2'", d()),
        door("disguise", "xa_recover", RO, "XA RECOVER", d()),
        door("disguise", "xa_commit", RO, "XA COMMIT 'sluice_adv'", d()),
        door("disguise", "do_subquery", RO, "DO (SELECT COUNT(*) FROM customers)", d()),
        door("disguise", "do_sleep_lower_case", RO, "do sleep(5)", d()),
        door("disguise", "call_procedure", SUP, "CALL p()", deny(Rule::StatementNotAllowed)),
        door("disguise", "call_qualified", SUP, "CALL rental.p()", d()),
        door("disguise", "call_other_database", SUP, "CALL other.p()", d()),
        door("disguise", "call_without_parentheses", SUP, "CALL p", d()),
        door("disguise", "compound_statement", SUP, "BEGIN NOT ATOMIC UPDATE customers SET name = 'CANARY-compound'; END", d()),
        door("disguise", "select_for_update_then_disconnect", SUP, "SELECT id FROM reservations FOR UPDATE", Either).pre(&["START TRANSACTION"]),
        // --- HANDLER reads tables around any filter
        door("leave", "handler_open", RO, "HANDLER customers OPEN", d()),
        door("leave", "handler_open_and_read", RO, "HANDLER customers OPEN; HANDLER customers READ FIRST", d()),
        door("leave", "handler_read_after_denied_open", RO, "HANDLER customers READ FIRST", d()).pre(&["HANDLER customers OPEN"]),
        door("leave", "handler_read_index", RO, "HANDLER c READ `PRIMARY` FIRST", d()).pre(&["HANDLER customers OPEN AS c"]),
        door("leave", "handler_ungranted", RO, "HANDLER payments OPEN", d()),
        door("leave", "handler_close", RO, "HANDLER customers CLOSE", d()),
        // --- files
        door("leave", "load_file_canary", RO, &canary_file("SELECT LOAD_FILE('CANARY_FILE')"), deny(Rule::FunctionNotAllowed)),
        door("leave", "load_file_passwd", RO, "SELECT LOAD_FILE('/etc/passwd')", d()),
        door("leave", "load_file_in_where", RO, &canary_file("SELECT name FROM customers WHERE LOAD_FILE('CANARY_FILE') IS NOT NULL"), d()),
        door("leave", "load_file_backticked", RO, &canary_file("SELECT `LOAD_FILE`('CANARY_FILE')"), d()),
        door("leave", "load_file_hex", RO, &canary_file("SELECT HEX(LOAD_FILE('CANARY_FILE'))"), d()),
        door("leave", "into_outfile", RO, "SELECT * FROM customers INTO OUTFILE '/tmp/sluice_my_adv_out'", d()),
        door("leave", "into_outfile_before_from", RO, "SELECT name INTO OUTFILE '/tmp/sluice_my_adv_out' FROM customers", d()),
        door("leave", "into_dumpfile", RO, "SELECT name FROM customers LIMIT 1 INTO DUMPFILE '/tmp/sluice_my_adv_dump'", d()),
        door("leave", "into_outfile_after_union", RO, "SELECT 1 UNION SELECT 2 INTO OUTFILE '/tmp/sluice_my_adv_out'", d()),
        door("leave", "load_data_infile", CRM, &canary_file("LOAD DATA INFILE 'CANARY_FILE' INTO TABLE customers"), d()),
        door("leave", "load_data_local_infile", CRM, &canary_file("LOAD DATA LOCAL INFILE 'CANARY_FILE' INTO TABLE customers"), d()),
        door("leave", "load_xml_infile", CRM, &canary_file("LOAD XML INFILE 'CANARY_FILE' INTO TABLE customers"), d()),
        // --- denial of service
        door("dos", "sleep", RO, "SELECT SLEEP(5)", deny(Rule::FunctionNotAllowed)),
        door("dos", "sleep_in_where", RO, "SELECT name FROM customers WHERE SLEEP(1) = 0", d()),
        door("dos", "sleep_backticked", RO, "SELECT `sleep`(5)", d()),
        door("dos", "benchmark", RO, "SELECT BENCHMARK(100000000, SHA2('x', 512))", d()),
        door("dos", "benchmark_lower_case", RO, "select benchmark(100000000, md5('x'))", d()),
        door("dos", "statement_timeout_applies", RO,
            "SELECT COUNT(*) FROM vehicles a, vehicles b, vehicles c, vehicles d, vehicles e, vehicles f, vehicles g, vehicles h, vehicles i", Either),
        door("dos", "recursive_cte_count", RO, "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r", Either),
        door("dos", "statement_timeout_after_denied_set", RO,
            "SELECT COUNT(*) FROM vehicles a, vehicles b, vehicles c, vehicles d, vehicles e, vehicles f, vehicles g, vehicles h, vehicles i", Either)
            .pre(&["SET max_statement_time = 0"]),
        // --- writes that try to leave the scope through a real database
        door("escape", "update_other_tenant_by_id", SUP, "UPDATE reservations SET notes = 'hit' WHERE id = -777001", Allow),
        door("escape", "odku_on_other_tenant_row", SUP,
            "INSERT INTO reservations (id, notes) VALUES (-777001, 'x') ON DUPLICATE KEY UPDATE notes = 'hit'", Either),
        door("escape", "replace_other_tenant_row", SUP, "REPLACE INTO reservations (id, notes) VALUES (-777002, 'x')", Either),
        door("escape", "insert_ignore_other_tenant_id", SUP, "INSERT IGNORE INTO reservations (id, notes) VALUES (-777003, 'x')", Either),
        door("escape", "crm_update_by_other_tenant_email", CRM, "UPDATE customers SET name = 'hit' WHERE email LIKE '%globex%'", Allow),
        door("escape", "crm_insert", CRM, "INSERT INTO customers (name, email) VALUES ('New', 'new@acme.example')", Allow),
        door("escape", "crm_insert_returning", CRM,
            "INSERT INTO customers (name, email) VALUES ('New2', 'new2@acme.example') RETURNING id, tenant_id, name, email", Either),
        door("escape", "update_join_copies_other_tenant", SUP,
            "UPDATE reservations r JOIN reservations o ON o.id = -777001 SET r.notes = o.notes", Either),
        door("escape", "delete_returning_hidden", CRM, "DELETE FROM customers WHERE id = 1 RETURNING ssn", d()),
        door("escape", "update_limit_other_tenant_order", SUP, "UPDATE reservations SET notes = 'lim' ORDER BY id LIMIT 1", Either),
        // --- prepared-statement parameters: values, never SQL
        door("reach", "param_other_tenant_id", RO, "SELECT name FROM customers WHERE id = ?", Allow).params(vec![Value::Int(-777001)]),
        door("reach", "param_other_tenant_value", RO, "SELECT name FROM customers WHERE tenant_id = ?", Allow).params(vec![Value::from("globex")]),
        door("reach", "param_sql_text", RO, "SELECT name FROM customers WHERE name = ?", Allow).params(vec![Value::from("x' OR '1'='1")]),
        door("reach", "param_backslash_text", RO, "SELECT name FROM customers WHERE name = ? OR name = ?", Allow)
            .params(vec![Value::from("x\\"), Value::from(" OR 1=1 -- ")]),
        door("reach", "param_gbk_bytes", RO, "SELECT name FROM customers WHERE name = ?", Allow)
            .params(vec![Value::Bytes(b"\xbf\\' OR 1=1 -- ".to_vec())]),
        door("escape", "param_update_other_tenant", SUP, "UPDATE reservations SET notes = ? WHERE id = ?", Allow)
            .params(vec![Value::from("param"), Value::Int(-777001)]),
        // --- the mission's role file: reservations.internal_score is hidden
        door("reach", "rental_star_hides_score", RO, "SELECT * FROM reservations", Allow).file(RoleFile::Rental),
        door("reach", "rental_score_named", RO, "SELECT internal_score FROM reservations", Either).file(RoleFile::Rental),
        door("reach", "rental_score_oracle", RO, "SELECT id FROM reservations WHERE internal_score > 661005", Either).file(RoleFile::Rental),
        door("reach", "rental_score_json", RO, "SELECT JSON_OBJECT('s', internal_score) FROM reservations", Either).file(RoleFile::Rental),
        door("reach", "rental_score_exec_comment", RO, "SELECT id /*!, internal_score */ FROM reservations", Either).file(RoleFile::Rental),
        door("reach", "rental_score_whole_row", RO, "SELECT JSON_ARRAYAGG(JSON_OBJECT('r', r.id, 's', r.internal_score)) FROM reservations r", Either).file(RoleFile::Rental),
        door("reach", "rental_ssn_star", RO, "SELECT * FROM customers", Allow).file(RoleFile::Rental),
        door("escape", "rental_support_insert", SUP,
            "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price, tenant_id) VALUES (1, 1, 'booked', 'new', '2025-09-01', 10.00, 'acme')",
            Either).file(RoleFile::Rental),
        door("escape", "rental_support_insert_score", SUP,
            "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price, tenant_id, internal_score) VALUES (1, 1, 'booked', 'new', '2025-09-01', 10.00, 'acme', 1)",
            d()).file(RoleFile::Rental),
        door("escape", "rental_support_update_score", SUP, "UPDATE reservations SET internal_score = 0", d()).file(RoleFile::Rental),
        door("escape", "rental_support_copies_score", SUP, "UPDATE reservations SET notes = internal_score WHERE id = 1", d()).file(RoleFile::Rental),
    ]
}

// =============================================================================================
// Markers and values
// =============================================================================================

/// Lower-case markers no result for `role` of `file` may contain (see adversarial_mariadb.sql).
fn forbidden_markers(file: RoleFile, role: &str) -> Vec<&'static str> {
    let mut m = vec!["canary", "7770", "2077-"];
    if role == "agent_fleet" {
        m.extend(["vhidden", "888"]);
    }
    if role == "agent_region" {
        m.extend(["xregion", "5559"]);
    }
    if file == RoleFile::Rental {
        m.push("6610");
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

/// Every value the prepared protocol binds by default.
const ATTACK_VALUES: &[&str] = &["-777001"];

/// Whether every word of `text` holding `marker` is a value the client sent itself (in its SQL
/// or as a bound parameter): MariaDB echoes a statement's own values (a duplicate key it tried to
/// insert), and a write may store them; that tells the client nothing it did not send.
fn echoes_input(text: &str, marker: &str, sql: &str) -> bool {
    let inputs = format!("{} {}", sql.to_lowercase(), ATTACK_VALUES.join(" "));
    text.to_lowercase()
        .split(|ch: char| !(ch.is_alphanumeric() || "-@._".contains(ch)))
        .filter(|w| w.contains(marker))
        .all(|w| inputs.contains(w))
}

/// A value as text for scanning (dates as `YYYY-MM-DD …`, so the date marker matches in both
/// protocols).
fn value_text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Date(y, m, d, h, mi, s, us) => {
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
        Value::Time(neg, days, h, mi, s, us) => format!(
            "{}{days} {h:02}:{mi:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" }
        ),
    }
}

fn row_texts(row: Row) -> Vec<String> {
    row.unwrap().iter().map(value_text).collect()
}

// =============================================================================================
// Connections
// =============================================================================================

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Root on the test server, on its TCP port (never the server's socket).
fn root_opts(server: &MariaDbServer, db: &str) -> Opts {
    OptsBuilder::from_opts(Opts::from_url(&server.url(db)).expect("server URL"))
        .prefer_socket(false)
        .into()
}

async fn root_conn(server: &MariaDbServer, db: &str) -> Conn {
    Conn::new(root_opts(server, db))
        .await
        .expect("direct root connection to the test server")
}

/// Text-protocol rows as optional strings (for root's bookkeeping queries).
async fn rows_of(conn: &mut Conn, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let rows: Vec<Row> = conn.query(sql).await.map_err(|e| format!("{sql}: {e}"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    Value::NULL => None,
                    v => Some(value_text(&v)),
                })
                .collect()
        })
        .collect())
}

#[derive(Clone, Debug)]
struct MyErr {
    code: u16,
    state: String,
    message: String,
}

fn my_err(e: &mysql_async::Error) -> MyErr {
    match e {
        mysql_async::Error::Server(s) => MyErr {
            code: s.code,
            state: s.state.clone(),
            message: s.message.clone(),
        },
        other => MyErr {
            code: 0,
            state: "none".into(),
            message: other.to_string(),
        },
    }
}

/// What happened to one case in one protocol.
#[derive(Default, Debug)]
struct Outcome {
    issue_refused: Option<String>,
    connect_refused: Option<MyErr>,
    errors: Vec<MyErr>,
    rows: Vec<Vec<String>>,
    truncated: bool,
    hung: bool,
}

impl Outcome {
    fn error(&self) -> Option<&MyErr> {
        self.errors.first()
    }

    /// Refused by the token layer or denied by the policy (the gateway's `[sluice: …]` marker).
    fn refused(&self) -> bool {
        self.issue_refused.is_some()
            || self.connect_refused.is_some()
            || self
                .error()
                .is_some_and(|e| e.message.contains("[sluice: "))
    }

    fn describe(&self) -> String {
        if let Some(e) = &self.issue_refused {
            return format!("token refused at issue: {e}");
        }
        if let Some(e) = &self.connect_refused {
            return format!("connection refused: {} {}", e.code, short(&e.message));
        }
        if self.hung {
            return format!(
                "no answer within the case timeout (after {} rows)",
                self.rows.len()
            );
        }
        match self.error() {
            Some(e) => format!(
                "error {} ({}) {} (after {} rows)",
                e.code,
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

const ROW_CAP: usize = 2000;
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// Reads every row of every result set of `r` (up to [`ROW_CAP`]).
async fn drain<P: mysql_async::prelude::Protocol>(
    r: &mut mysql_async::QueryResult<'_, 'static, P>,
    out: &mut Outcome,
) {
    let mut empty_sets = 0;
    loop {
        match r.next().await {
            Ok(Some(row)) => {
                out.rows.push(row_texts(row));
                if out.rows.len() >= ROW_CAP {
                    out.truncated = true;
                    return;
                }
            }
            Ok(None) => {
                if r.is_empty() {
                    return;
                }
                empty_sets += 1;
                if empty_sets > 10_000 {
                    return;
                }
            }
            Err(e) => {
                out.errors.push(my_err(&e));
                return;
            }
        }
    }
}

async fn run_text(conn: &mut Conn, q: &[u8], out: &mut Outcome) {
    match conn.query_iter(q.to_vec()).await {
        Ok(mut r) => drain(&mut r, out).await,
        Err(e) => out.errors.push(my_err(&e)),
    }
}

async fn run_prepared(conn: &mut Conn, q: &[u8], params: Option<&[Value]>, out: &mut Outcome) {
    let stmt = match conn.prep(q.to_vec()).await {
        Ok(s) => s,
        Err(e) => {
            out.errors.push(my_err(&e));
            return;
        }
    };
    let n = stmt.num_params() as usize;
    let values: Vec<Value> = match params {
        Some(p) => p.to_vec(),
        None => vec![Value::Int(-777001); n],
    };
    let params = if values.is_empty() {
        Params::Empty
    } else {
        Params::Positional(values)
    };
    match conn.exec_iter(stmt, params).await {
        Ok(mut r) => drain(&mut r, out).await,
        Err(e) => out.errors.push(my_err(&e)),
    }
}

async fn open(gw: &Gateway, token: &str) -> Result<Conn, MyErr> {
    match tokio::time::timeout(Duration::from_secs(15), Conn::new(gw.mysql_opts(token))).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(my_err(&e)),
        Err(_) => Err(MyErr {
            code: 0,
            state: "none".into(),
            message: "connect timed out".into(),
        }),
    }
}

async fn close(conn: Conn) {
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.disconnect()).await;
}

async fn attack(gw: &Gateway, token: &str, c: &DoorCase, sql: &[u8], proto: Proto) -> Outcome {
    let mut out = Outcome::default();
    let mut conn = match open(gw, token).await {
        Ok(c) => c,
        Err(e) if e.message == "connect timed out" => {
            out.hung = true;
            return out;
        }
        Err(e) => {
            out.connect_refused = Some(e);
            return out;
        }
    };
    for p in &c.pre {
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.query_drop(p.as_str())).await;
    }
    let finished = tokio::time::timeout(CASE_TIMEOUT, async {
        match proto {
            Proto::Text => run_text(&mut conn, sql, &mut out).await,
            Proto::Prepared => run_prepared(&mut conn, sql, c.params.as_deref(), &mut out).await,
        }
    })
    .await;
    if finished.is_err() {
        out.hung = true;
    }
    if out.truncated || out.hung {
        // A result left unread: drop the connection rather than read to its end.
        drop(conn);
    } else {
        close(conn).await;
    }
    out
}

// =============================================================================================
// The environment: one database, one gateway per role file, direct root connections
// =============================================================================================

/// (table name as role files write it, qualified name, pristine copy), in database `{db}`.
fn tables(db: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = [
        "customers",
        "vehicles",
        "reservations",
        "payments",
        "audit_log",
        "sites",
        "tickets",
        "canary_vault",
    ]
    .iter()
    .map(|t| {
        (
            t.to_string(),
            format!("`{db}`.`{t}`"),
            format!("`{db}`.`sluice_pristine_{t}`"),
        )
    })
    .collect();
    for t in ["customers", "reservations"] {
        v.push((
            format!("other.{t}"),
            format!("`other`.`{t}`"),
            format!("`other`.`sluice_pristine_{t}`"),
        ));
    }
    v
}

/// What a client reads of the server's settings; compared, for the next client of the same
/// backend, with what a fresh backend of the profile reports.
const SETTINGS_SQL: &str =
    "SELECT @@sql_mode, @@autocommit, @@tx_read_only, @@max_statement_time, \
    @@character_set_client, @@character_set_connection, @@character_set_results, \
    @@collation_connection, @@time_zone, @@tx_isolation, @@sql_select_limit, @@wait_timeout, \
    @@interactive_timeout, @@net_write_timeout, DATABASE()";
const SETTINGS_NAMES: &[&str] = &[
    "sql_mode",
    "autocommit",
    "tx_read_only",
    "max_statement_time",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "time_zone",
    "tx_isolation",
    "sql_select_limit",
    "wait_timeout",
    "interactive_timeout",
    "net_write_timeout",
    "DATABASE()",
];

/// Counts of objects no statement may create or drop, and global settings none may change.
const STATE_SQL: &str = "SELECT CONCAT_WS(' ', \
    CONCAT('tables=', (SELECT COUNT(*) FROM information_schema.TABLES)), \
    CONCAT('routines=', (SELECT COUNT(*) FROM information_schema.ROUTINES)), \
    CONCAT('triggers=', (SELECT COUNT(*) FROM information_schema.TRIGGERS)), \
    CONCAT('events=', (SELECT COUNT(*) FROM information_schema.EVENTS)), \
    CONCAT('views=', (SELECT COUNT(*) FROM information_schema.VIEWS)), \
    CONCAT('databases=', (SELECT COUNT(*) FROM information_schema.SCHEMATA)), \
    CONCAT('accounts=', (SELECT COUNT(*) FROM mysql.global_priv)), \
    CONCAT('account_privs=', (SELECT MD5(GROUP_CONCAT(CONCAT(User, '@', Host, Priv) ORDER BY User, Host)) FROM mysql.global_priv)), \
    CONCAT('db_grants=', (SELECT COUNT(*) FROM mysql.db)), \
    CONCAT('table_grants=', (SELECT COUNT(*) FROM mysql.tables_priv)), \
    CONCAT('roles=', (SELECT COUNT(*) FROM mysql.roles_mapping)), \
    CONCAT('servers=', (SELECT COUNT(*) FROM mysql.servers)), \
    CONCAT('udfs=', (SELECT COUNT(*) FROM mysql.func)), \
    CONCAT('plugins=', (SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_STATUS = 'ACTIVE')), \
    CONCAT('global.sql_mode=', @@GLOBAL.sql_mode), \
    CONCAT('global.max_statement_time=', @@GLOBAL.max_statement_time), \
    CONCAT('global.read_only=', @@GLOBAL.read_only), \
    CONCAT('global.general_log=', @@GLOBAL.general_log), \
    CONCAT('global.local_infile=', @@GLOBAL.local_infile), \
    CONCAT('global.event_scheduler=', @@GLOBAL.event_scheduler), \
    CONCAT('global.character_set_client=', @@GLOBAL.character_set_client), \
    CONCAT('global.time_zone=', @@GLOBAL.time_zone), \
    CONCAT('global.autocommit=', @@GLOBAL.autocommit))";

/// What other sessions hold or run: metadata and user locks, open transactions, statements.
const BUSY_SQL: &str =
    "SELECT CONCAT('lock: thread ', THREAD_ID, ' ', LOCK_MODE, ' ', LOCK_TYPE, ' ', \
        COALESCE(TABLE_SCHEMA, ''), '.', COALESCE(TABLE_NAME, '')) \
      FROM information_schema.METADATA_LOCK_INFO WHERE THREAD_ID <> CONNECTION_ID() \
    UNION ALL SELECT CONCAT('transaction: thread ', trx_mysql_thread_id, ' ', trx_state, ' ', \
        COALESCE(LEFT(trx_query, 120), '')) \
      FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID() \
    UNION ALL SELECT CONCAT('running: thread ', ID, ' ', COMMAND, ' ', COALESCE(STATE, ''), ' ', \
        COALESCE(LEFT(INFO, 120), '')) \
      FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
        AND COMMAND NOT IN ('Sleep', 'Daemon') AND USER <> 'system user'";

const FLUSH_SQL: &str = "SELECT \
    (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') - \
    (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME_SINCE_FLUSH_STATUS')";

type Diff = (String, char, serde_json::Value);

struct Env {
    server: &'static MariaDbServer,
    db: String,
    gateways: BTreeMap<RoleFile, Gateway>,
    configs: BTreeMap<RoleFile, RbacConfig>,
    direct: Conn,
    /// An idle root session: the target of the KILL cases.
    victim: Conn,
    victim_id: u32,
    state: String,
    autoinc: BTreeMap<String, String>,
    sequence: String,
    flush_offset: i64,
    settings: BTreeMap<(RoleFile, String), Vec<String>>,
    /// Rows the last case changed (before they were restored).
    last_changed: usize,
}

/// The tests of this file share one server and compare its global state: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Env {
    /// Seeds `db` (created here; `None`: a unique name) and starts a gateway per role file.
    async fn new(db: Option<&str>, files: &[RoleFile]) -> Env {
        let server = shared_mariadb();
        let db = match db {
            Some(name) => {
                server.create_database(name).expect("create the database");
                name.to_string()
            }
            None => server.create_unique_database("advmy").expect("database"),
        };
        server
            .exec(&db, SCHEMA)
            .expect("seed the adversarial database");
        std::fs::write(canary_file_path(), CANARY_FILE_TEXT).expect("write the canary file");
        for f in OUT_FILES {
            let _ = std::fs::remove_file(f);
        }
        let mut direct = root_conn(server, &db).await;
        // Metadata and user locks of other sessions are visible only through this plugin.
        let have: Vec<Row> = direct
            .query(
                "SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'",
            )
            .await
            .unwrap();
        if have.is_empty() {
            direct
                .query_drop("INSTALL SONAME 'metadata_lock_info'")
                .await
                .expect("install metadata_lock_info");
        }
        let victim = root_conn(server, &db).await;
        let victim_id = victim.id();
        let mut gateways = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for &file in files {
            let gw = Gateway::start_mysql(
                &server.url(&db),
                &db,
                file.yaml(),
                GatewayOptions {
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
        let mut env = Env {
            server,
            db,
            gateways,
            configs,
            direct,
            victim,
            victim_id,
            state: String::new(),
            autoinc: BTreeMap::new(),
            sequence: String::new(),
            flush_offset: 0,
            settings: BTreeMap::new(),
            last_changed: 0,
        };
        // FLUSH STATUS is seen as a jump in `Uptime - Uptime_since_flush_status`, which a server
        // younger than a few seconds cannot show.
        loop {
            let up = env.direct_rows("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'").await;
            if up[0][0]
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                >= 4
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        env.state = env.object_state().await;
        env.autoinc = env.autoinc_values().await;
        env.sequence = env.sequence_value().await;
        env.flush_offset = env.flush_offset().await;
        assert!(env.diffs().await.is_empty(), "tables equal their copies");
        // What a fresh backend of every role's profile reports, before any case ran.
        for &file in files {
            let roles: Vec<String> = env.configs[&file]
                .role_names()
                .map(str::to_string)
                .collect();
            for role in roles {
                let gw = &env.gateways[&file];
                let token = gw
                    .token_at(&baseline_request(&role), now_unix())
                    .expect("baseline token");
                let probe = next_client_probe(gw, &token, None)
                    .await
                    .unwrap_or_else(|e| panic!("baseline settings of {role} ({file:?}): {e}"));
                env.settings.insert((file, role), probe.settings);
            }
        }
        env
    }

    async fn direct_rows(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        rows_of(&mut self.direct, sql)
            .await
            .unwrap_or_else(|e| panic!("root query failed: {e}"))
    }

    async fn object_state(&mut self) -> String {
        let r = self.direct_rows(STATE_SQL).await;
        r[0][0].clone().unwrap_or_default()
    }

    async fn autoinc_values(&mut self) -> BTreeMap<String, String> {
        let sql = format!(
            "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), AUTO_INCREMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA IN ('{}', 'other') AND AUTO_INCREMENT IS NOT NULL",
            self.db
        );
        self.direct_rows(&sql)
            .await
            .into_iter()
            .map(|r| {
                (
                    r[0].clone().unwrap_or_default(),
                    r[1].clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn sequence_value(&mut self) -> String {
        let sql = format!("SELECT next_not_cached_value FROM `{}`.s", self.db);
        self.direct_rows(&sql).await[0][0]
            .clone()
            .unwrap_or_default()
    }

    async fn flush_offset(&mut self) -> i64 {
        let r = self.direct_rows(FLUSH_SQL).await;
        r[0][0]
            .as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as i64
    }

    /// Every row of `qual` as a JSON object of text values.
    async fn table_rows(&mut self, qual: &str) -> Vec<serde_json::Value> {
        let rows: Vec<Row> = self
            .direct
            .query(format!("SELECT * FROM {qual}"))
            .await
            .unwrap_or_else(|e| panic!("reading {qual}: {e}"));
        rows.into_iter()
            .map(|r| {
                let names: Vec<String> = r
                    .columns_ref()
                    .iter()
                    .map(|c| c.name_str().into_owned())
                    .collect();
                let mut obj = serde_json::Map::new();
                for (name, v) in names.into_iter().zip(r.unwrap()) {
                    obj.insert(
                        name,
                        match v {
                            Value::NULL => serde_json::Value::Null,
                            v => serde_json::Value::String(value_text(&v)),
                        },
                    );
                }
                serde_json::Value::Object(obj)
            })
            .collect()
    }

    async fn diffs(&mut self) -> Vec<Diff> {
        let mut out = Vec::new();
        for (name, qual, copy) in tables(&self.db) {
            let live = self.table_rows(&qual).await;
            let pristine = self.table_rows(&copy).await;
            let count = |rows: &[serde_json::Value]| {
                let mut m: BTreeMap<String, (usize, serde_json::Value)> = BTreeMap::new();
                for r in rows {
                    m.entry(r.to_string()).or_insert((0, r.clone())).0 += 1;
                }
                m
            };
            let (l, p) = (count(&live), count(&pristine));
            for (k, (n, v)) in &l {
                let before = p.get(k).map(|x| x.0).unwrap_or(0);
                for _ in before..*n {
                    out.push((name.clone(), '+', v.clone()));
                }
            }
            for (k, (n, v)) in &p {
                let after = l.get(k).map(|x| x.0).unwrap_or(0);
                for _ in after..*n {
                    out.push((name.clone(), '-', v.clone()));
                }
            }
        }
        out
    }

    async fn restore(&mut self, changed: &BTreeSet<String>) {
        let mut sql = String::from("START TRANSACTION;");
        for (name, qual, copy) in tables(&self.db) {
            if changed.contains(&name) {
                sql += &format!("DELETE FROM {qual}; INSERT INTO {qual} SELECT * FROM {copy};");
            }
        }
        sql += "COMMIT;";
        self.direct.query_drop(sql).await.expect("restore tables");
    }

    /// Whether row `id` of `table` (the live row, or its pristine copy) passes every row filter
    /// the role has on it for `claims`.
    async fn in_scope(
        &mut self,
        role: &EffectiveRole,
        claims: &Claims,
        table: &str,
        id: &str,
        pristine: bool,
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
        let id: i64 = id
            .trim_matches('"')
            .parse()
            .map_err(|_| format!("id {id} is not a number"))?;
        let mut conds = Vec::new();
        for f in &grant.filters {
            match f.bind(Dialect::MySql, claims) {
                Ok(e) => conds.push(format!("({e})")),
                Err(e) => return Err(format!("filter does not bind: {e}")),
            }
        }
        let source = if pristine {
            format!("`{}`.`sluice_pristine_{table}`", self.db)
        } else {
            format!("`{}`.`{table}`", self.db)
        };
        let sql = format!(
            "SELECT COALESCE({}, FALSE) FROM {source} AS `{table}` WHERE id = {id}",
            conds.join(" AND ")
        );
        let r = rows_of(&mut self.direct, &sql).await?;
        Ok(r.first()
            .and_then(|row| row[0].as_deref())
            .is_some_and(|v| v == "1"))
    }

    /// Checks every changed row against what the case's role may write; restores the tables.
    async fn check_writes(
        &mut self,
        c: &DoorCase,
        sql: &str,
        refused: bool,
        diffs: Vec<Diff>,
    ) -> Vec<String> {
        let mut fails = Vec::new();
        let changed: BTreeSet<String> = diffs.iter().map(|(t, _, _)| t.clone()).collect();
        let describe = |d: &[Diff]| {
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
            self.restore(&changed).await;
            return fails;
        }
        let cfg = self.configs[&c.roles].clone();
        let Some(role) = cfg.role(c.role) else {
            fails.push(format!(
                "WRITE by a role the file lacks: {}",
                describe(&diffs)
            ));
            self.restore(&changed).await;
            return fails;
        };
        let claims = c.claims();
        let markers = forbidden_markers(c.roles, c.role);
        for table in &changed {
            let tn = match table.split_once('.') {
                Some((schema, name)) => TableName {
                    schema: Some(schema.to_string()),
                    name: name.to_string(),
                },
                None => TableName {
                    schema: None,
                    name: table.clone(),
                },
            };
            let grant = role.tables.get(&tn);
            let cols = |op: Operation| -> Vec<String> {
                grant
                    .map(|g| match g.columns_for(op) {
                        ColumnSet::All => Vec::new(),
                        ColumnSet::Only(v) => v,
                    })
                    .unwrap_or_default()
            };
            let limited = |op: Operation| grant.is_some_and(|g| g.columns.contains_key(&op));
            let readable = |col: &str| {
                role.permits(&tn, Operation::Select)
                    && (!limited(Operation::Select)
                        || cols(Operation::Select).iter().any(|c| c == col))
            };
            let id_of = |v: &serde_json::Value| v.get("id").map(|i| i.to_string());
            let mut removed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            let mut added: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            let mut unkeyed = Vec::new();
            for (t, op, v) in diffs.iter().filter(|(t, _, _)| t == table) {
                match (*op, id_of(v)) {
                    ('-', Some(k)) if !removed.contains_key(&k) => {
                        removed.insert(k, v.clone());
                    }
                    ('+', Some(k)) if !added.contains_key(&k) => {
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
            let keys: BTreeSet<String> = removed.keys().chain(added.keys()).cloned().collect();
            for k in keys {
                let (old, new) = (removed.get(&k), added.get(&k));
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
                for (label, row, pristine) in [("old", old, true), ("new", new, false)] {
                    if row.is_none() {
                        continue;
                    }
                    match self.in_scope(role, &claims, table, &k, pristine).await {
                        Ok(true) => {}
                        Ok(false) => fails.push(format!(
                            "WRITE OUTSIDE THE ROW FILTER: {what}, {label} row {}",
                            short(&row.map(|r| r.to_string()).unwrap_or_default())
                        )),
                        Err(e) => fails.push(format!("{what}: scope check failed: {e}")),
                    }
                }
                if let (Some(o), Some(n)) = (old, new) {
                    let allowed = cols(Operation::Update);
                    for (col, v) in n.as_object().into_iter().flatten() {
                        if o.get(col.as_str()) != Some(v)
                            && limited(Operation::Update)
                            && !allowed.contains(col)
                        {
                            fails.push(format!(
                                "WRITE OF A COLUMN NOT GRANTED: {what} changed {col}: {} → {v}",
                                o.get(col.as_str())
                                    .map(|v| v.to_string())
                                    .unwrap_or_default()
                            ));
                        }
                    }
                }
                if let (None, Some(n)) = (old, new) {
                    let insertable = cols(Operation::Insert);
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
                        let text = v.as_str().unwrap_or_default();
                        if let Some(m) = find_marker(text, &markers) {
                            if !echoes_input(text, m, sql) {
                                fails.push(format!(
                                    "LEAK THROUGH A WRITE: {what} put marker {m:?} into readable column {col}: {}",
                                    short(text)
                                ));
                            }
                        }
                    }
                }
            }
        }
        self.restore(&changed).await;
        fails
    }

    /// Everything a case may have left behind, checked and undone where possible.
    async fn side_effects(&mut self, c: &DoorCase, sql: &str, refused: bool) -> Vec<String> {
        let mut fails = Vec::new();
        // Sessions killed: root's own, and the idle victim.
        if self.direct.ping().await.is_err() {
            fails.push("SIDE EFFECT: the suite's own root session was killed".into());
            self.direct = root_conn(self.server, &self.db).await;
        }
        if self.victim.query_drop("SELECT 1").await.is_err() {
            fails.push(format!(
                "SIDE EFFECT: another session (root, id {}) was killed",
                self.victim_id
            ));
            self.victim = root_conn(self.server, &self.db).await;
            self.victim_id = self.victim.id();
        }
        // Sessions left busy or holding locks: give a dropped backend a moment to go away.
        let mut busy = Vec::new();
        for _ in 0..30 {
            busy = self.direct_rows(BUSY_SQL).await;
            busy.retain(|r| {
                !r[0]
                    .as_deref()
                    .unwrap_or("")
                    .contains(&format!("thread {} ", self.victim_id))
            });
            if busy.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for b in busy.iter().take(5) {
            fails.push(format!(
                "SIDE EFFECT: another session is left busy or holding a lock: {}",
                short(b[0].as_deref().unwrap_or(""))
            ));
        }
        let xa = self.direct_rows("XA RECOVER FORMAT = 'SQL'").await;
        for r in &xa {
            let xid = r.get(3).cloned().flatten().unwrap_or_default();
            fails.push(format!(
                "SIDE EFFECT: a prepared XA transaction survives its session: {xid}"
            ));
            let _ = self.direct.query_drop(format!("XA ROLLBACK {xid}")).await;
        }
        let diffs = self.diffs().await;
        self.last_changed = diffs.len();
        if !diffs.is_empty() {
            fails.extend(self.check_writes(c, sql, refused, diffs).await);
        }
        let autoinc = self.autoinc_values().await;
        for (table, value) in &autoinc {
            let before = self.autoinc.get(table).cloned().unwrap_or_default();
            if *value == before {
                continue;
            }
            let name = table
                .strip_prefix(&format!("{}.", self.db))
                .unwrap_or(table);
            let may_insert = self.configs[&c.roles].role(c.role).is_some_and(|r| {
                r.permits(
                    &TableName {
                        schema: None,
                        name: name.to_string(),
                    },
                    Operation::Insert,
                )
            });
            if refused || !may_insert {
                fails.push(format!(
                    "SIDE EFFECT: AUTO_INCREMENT of {table} advanced from {before} to {value}"
                ));
            }
            let (schema, t) = table.split_once('.').unwrap_or(("", table));
            let _ = self
                .direct
                .query_drop(format!(
                    "ALTER TABLE `{schema}`.`{t}` AUTO_INCREMENT = {before}"
                ))
                .await;
        }
        let seq = self.sequence_value().await;
        if seq != self.sequence {
            fails.push(format!(
                "SIDE EFFECT: sequence s advanced from {} to {seq}",
                self.sequence
            ));
            let db = self.db.clone();
            let _ = self
                .direct
                .query_drop(format!("ALTER SEQUENCE `{db}`.s RESTART"))
                .await;
            self.sequence = self.sequence_value().await;
        }
        let state = self.object_state().await;
        if state != self.state {
            fails.push(format!(
                "SIDE EFFECT: objects or global settings changed: {} → {state}",
                self.state
            ));
            self.state = state;
        }
        let offset = self.flush_offset().await;
        if (offset - self.flush_offset).abs() > 1 {
            fails.push("SIDE EFFECT: the server's status counters were flushed".into());
            self.flush_offset = offset;
        }
        for f in OUT_FILES {
            if std::fs::metadata(f).is_ok() {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                fails.push(format!(
                    "SIDE EFFECT: the server wrote the file {f}: {}",
                    short(&text)
                ));
                let _ = std::fs::remove_file(f);
            }
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
        label: Some("my-adversarial-baseline".into()),
    }
}

/// What the next client of a backend sees.
struct Probe {
    settings: Vec<String>,
    /// Row counts of the role's readable tables, when the shadow query ran.
    counts: Option<Vec<String>>,
}

/// Connects with `token`, reads the settings, and (given a query) the row counts it sees.
async fn next_client_probe(
    gw: &Gateway,
    token: &str,
    count_sql: Option<&str>,
) -> Result<Probe, String> {
    let mut conn = open(gw, token)
        .await
        .map_err(|e| format!("connect: {} {}", e.code, e.message))?;
    let settings =
        tokio::time::timeout(Duration::from_secs(15), conn.query::<Row, _>(SETTINGS_SQL))
            .await
            .map_err(|_| "settings query timed out".to_string())?
            .map_err(|e| format!("settings query: {e}"))?;
    let settings = settings
        .into_iter()
        .next()
        .map(row_texts)
        .ok_or("settings query returned no row")?;
    let mut counts = None;
    if let Some(sql) = count_sql {
        if let Ok(Ok(rows)) =
            tokio::time::timeout(Duration::from_secs(15), conn.query::<Row, _>(sql)).await
        {
            counts = rows.into_iter().next().map(row_texts);
        }
    }
    close(conn).await;
    Ok(Probe { settings, counts })
}

/// The tables `role` may read (unqualified), sorted.
fn readable_tables(role: &EffectiveRole) -> Vec<String> {
    let mut v: Vec<String> = role
        .tables
        .keys()
        .filter(|t| t.schema.is_none() && role.permits(t, Operation::Select))
        .map(|t| t.name.clone())
        .collect();
    v.sort();
    v
}

/// The count query a client sends (`None`: the role reads nothing) and what root counts for the
/// same claims (`None`: a filter does not bind, so the door refuses the query anyway).
fn shadow_queries(
    db: &str,
    role: &EffectiveRole,
    claims: &Claims,
) -> Option<(String, Option<String>)> {
    let tables = readable_tables(role);
    if tables.is_empty() {
        return None;
    }
    let client = format!(
        "SELECT {}",
        tables
            .iter()
            .map(|t| format!("(SELECT COUNT(*) FROM {t})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut parts = Vec::new();
    for t in &tables {
        let grant = &role.tables[&TableName {
            schema: None,
            name: t.clone(),
        }];
        let mut conds = vec!["TRUE".to_string()];
        for f in &grant.filters {
            match f.bind(Dialect::MySql, claims) {
                Ok(e) => conds.push(format!("({e})")),
                Err(_) => return Some((client, None)),
            }
        }
        parts.push(format!(
            "(SELECT COUNT(*) FROM `{db}`.`{t}` WHERE {})",
            conds.join(" AND ")
        ));
    }
    Some((client, Some(format!("SELECT {}", parts.join(", ")))))
}

// =============================================================================================
// Running a case
// =============================================================================================

/// One case in one protocol.
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

/// Policy cases about the catalogs: refused by the engine alone (its scope has no schema
/// model), served scoped at the door, which has one.
const SERVED_FROM_SCOPED_CATALOGS: &[&str] = &[
    "my_explain_table",
    "my_show_tables",
    "my_information_schema",
    "my_show_create_table",
    "my_show_databases",
];

/// The engine's own decision on `sql` for the case's role and claims (`None`: the role file
/// has no such role, or the input is not text).
fn engine_decision(
    cfg: &RbacConfig,
    c: &DoorCase,
    sql: &str,
    schema: &sluice_policy::Schema,
) -> Option<Result<Authorized, Denial>> {
    if c.bytes.is_some() {
        return None;
    }
    let role = cfg.role(c.role)?;
    let claims = c.claims();
    let scope = Scope {
        config: cfg,
        role,
        claims: &claims,
        dialect: Dialect::MySql,
        database: Some(DB),
        schema,
    };
    Some(authorize(&scope, sql))
}

async fn run_case(env: &mut Env, c: &DoorCase, proto: Proto) -> Record {
    let sql = c.sql.replace("{victim}", &env.victim_id.to_string());
    let bytes = c.bytes.clone().unwrap_or_else(|| sql.as_bytes().to_vec());
    let mut fails = Vec::new();
    let mut note = None;
    let gw = &env.gateways[&c.roles];
    // The engine with the schema the gateway decides with (the scoped catalogs need it).
    let schemas = gw.gate().schemas();
    let decision = engine_decision(&env.configs[&c.roles], c, &sql, &schemas.mysql);
    let token = gw.token_at(&c.token_request(), now_unix());
    let outcome = match &token {
        Ok(t) => attack(gw, t, c, &bytes, proto).await,
        Err(e) => Outcome {
            issue_refused: Some(e.to_string()),
            ..Default::default()
        },
    };
    let refused = outcome.refused();
    let engine_denial = match &decision {
        Some(Err(d)) => Some(d.rule),
        _ => None,
    };
    // The engine's decision holds at the door.
    if let Some(rule) = engine_denial {
        if !refused {
            fails.push(format!(
                "NOT DENIED: the engine denies this ({rule:?}), the door answered: {}",
                outcome.describe()
            ));
        } else if let Some(e) = outcome.error() {
            if e.code != rule.mysql_code() {
                fails.push(format!(
                    "WRONG ERROR CODE: {rule:?} is {}, the door sent {} ({})",
                    rule.mysql_code(),
                    e.code,
                    short(&e.message)
                ));
            }
        }
    }
    match (&c.want, &decision) {
        (Want::Deny(rule), Some(Ok(_))) => fails.push(format!(
            "ENGINE ALLOWS AN ATTACK: expected a denial{}, the engine allows it",
            rule.map(|r| format!(" ({r:?})")).unwrap_or_default()
        )),
        (Want::Deny(Some(want)), Some(Err(d))) if d.rule != *want && c.suite == "door" => fails
            .push(format!(
                "ENGINE RULE: expected {want:?}, the engine denies with {:?}: {}",
                d.rule, d.message
            )),
        (Want::Deny(_), None) if !refused => fails.push(format!(
            "NOT DENIED: expected a denial, the door answered: {}",
            outcome.describe()
        )),
        (Want::Allow, Some(Ok(_))) if refused => {
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
    let markers = forbidden_markers(c.roles, c.role);
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
        fails.push(format!("LEAK: … {leaks} leaking values in all"));
    }
    for e in outcome.errors.iter().chain(outcome.connect_refused.iter()) {
        if let Some(m) = find_marker(&e.message, &markers) {
            if !echoes_input(&e.message, m, &sql) {
                fails.push(format!(
                    "LEAK: an error message holds {m:?}: {}",
                    short(&e.message)
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
    fails.extend(env.side_effects(c, &sql, refused).await);
    // Nothing left behind for the next client of the same backend.
    if let Ok(t) = &token {
        if outcome.connect_refused.is_none() {
            let cfg = &env.configs[&c.roles];
            let shadow = cfg
                .role(c.role)
                .and_then(|r| shadow_queries(&env.db, r, &c.claims()));
            let expected = match &shadow {
                Some((_, Some(root_sql))) => rows_of(&mut env.direct, root_sql)
                    .await
                    .ok()
                    .and_then(|r| r.into_iter().next())
                    .map(|r| {
                        r.into_iter()
                            .map(Option::unwrap_or_default)
                            .collect::<Vec<_>>()
                    }),
                _ => None,
            };
            let gw = &env.gateways[&c.roles];
            match next_client_probe(gw, t, shadow.as_ref().map(|(q, _)| q.as_str())).await {
                Ok(probe) => {
                    if let Some(base) = env.settings.get(&(c.roles, c.role.to_string())) {
                        for (i, (now, before)) in probe.settings.iter().zip(base).enumerate() {
                            if now != before {
                                fails.push(format!(
                                    "SETTING LEAKED to the next client: {} = {now:?} (a fresh backend says {before:?})",
                                    SETTINGS_NAMES.get(i).unwrap_or(&"?")
                                ));
                            }
                        }
                    }
                    // A role filter the door refuses for this token (a claim of another kind
                    // than its column, which MySQL would convert on every row) refuses the
                    // next client's counts too.
                    let filter_refused = refused
                        && outcome
                            .error()
                            .is_some_and(|e| e.message.contains("[sluice: claim_invalid]"));
                    if expected.is_some() && probe.counts.is_none() && !filter_refused {
                        fails.push(
                            "the next client's row counts (allowed by the engine) did not come back"
                                .to_string(),
                        );
                    }
                    if let (Some(got), Some(want)) = (&probe.counts, &expected) {
                        if got != want {
                            fails.push(format!(
                                "STATE LEAKED to the next client: its row counts {got:?} of {:?} differ from root's {want:?} \
                                 (a temporary table or session state shadows a table)",
                                cfg.role(c.role).map(readable_tables).unwrap_or_default()
                            ));
                        }
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
    } else if outcome.error().is_some() {
        "backend error"
    } else {
        "allowed, clean"
    };
    Record {
        id: c.id(),
        family: c.family,
        proto,
        class,
        sql: match &c.bytes {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => sql,
        },
        outcome: match env.last_changed {
            0 => outcome.describe(),
            n => format!(
                "{}; {n} table rows changed (checked, restored)",
                outcome.describe()
            ),
        },
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

fn report(title: &str, records: &[Record], took: Duration) {
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
        "\n{title}: {} case runs in {:.1} s\n  {:<9} {:<9} {:>5} {:>7} {:>9} {:>8} {:>7}\n",
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
            failed in MariaDB; allowed: ran and returned nothing it must not)\n";
    let notes: Vec<&Record> = records.iter().filter(|r| r.note.is_some()).collect();
    if !notes.is_empty() {
        out += &format!(
            "  {} runs the engine allows were refused at the door:\n",
            notes.len()
        );
        for r in notes.iter().take(60) {
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
                    "{} [{} protocol]\n    sql:     {}\n    outcome: {}\n    {}",
                    r.id,
                    r.proto.name(),
                    short(&r.sql),
                    r.outcome,
                    r.fails.join("\n    ")
                )
            })
            .collect();
        panic!(
            "{} of {} case runs failed through the MySQL door:\n\n{}",
            failed.len(),
            records.len(),
            list.join("\n\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adversarial_cases_through_the_door() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::new(Some(DB), &RoleFile::ALL).await;
    let cases = all_door_cases();
    let only = std::env::var("SLUICE_ADV_ONLY").ok();
    let mut records = Vec::new();
    for proto in [Proto::Text, Proto::Prepared] {
        for c in &cases {
            if only.as_deref().is_some_and(|o| !c.id().contains(o)) {
                continue;
            }
            if c.only.is_some_and(|p| p != proto) {
                continue;
            }
            records.push(run_case(&mut env, c, proto).await);
        }
    }
    let mut per_suite: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &cases {
        *per_suite.entry(c.suite).or_default() += 1;
    }
    println!("cases per suite: {per_suite:?}");
    report("MySQL door", &records, started.elapsed());
}

/// This file's own attacks against the engine alone (no database, no door): every case marked
/// as a denial is denied (with the rule given, where one is).
#[test]
fn door_cases_are_decided_as_expected_by_the_engine() {
    let configs: BTreeMap<RoleFile, RbacConfig> = RoleFile::ALL
        .iter()
        .map(|&f| (f, RbacConfig::from_yaml("roles.yaml", f.yaml()).unwrap()))
        .collect();
    let mut problems = Vec::new();
    let verbose = std::env::var("SLUICE_ADV_VERBOSE").is_ok();
    for c in door_cases() {
        let sql = c.sql.replace("{victim}", "12345");
        let Some(d) = engine_decision(&configs[&c.roles], &c, &sql, sluice_policy::Schema::empty())
        else {
            continue;
        };
        if verbose {
            println!(
                "{} :: {} :: {}",
                c.id(),
                sql,
                match &d {
                    Ok(a) => format!(
                        "ALLOWED {}",
                        a.statements
                            .iter()
                            .map(|s| s.sql.clone())
                            .collect::<Vec<_>>()
                            .join(" ;; ")
                    ),
                    Err(e) => format!("DENIED {:?} {}", e.rule, e.message),
                }
            );
        }
        match (&c.want, &d) {
            (Want::Deny(_), Ok(a)) => problems.push(format!(
                "{}: the engine allows `{}` → {:?}",
                c.id(),
                sql,
                a.statements.iter().map(|s| &s.sql).collect::<Vec<_>>()
            )),
            (Want::Deny(Some(r)), Err(e)) if e.rule != *r => problems.push(format!(
                "{}: `{}` denied by {:?}, expected {r:?}: {}",
                c.id(),
                sql,
                e.rule,
                e.message
            )),
            _ => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{} door case(s) the engine decides otherwise:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The detectors themselves: each check above must fail when what it looks for happens (done
/// here on direct root connections, around the gateway; no door needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leak_and_side_effect_detectors_detect() {
    let _serial = SERIAL.lock().await;
    let mut env = Env::new(None, &[]).await;
    env.configs.insert(
        RoleFile::Main,
        RbacConfig::from_yaml("roles.yaml", ROLES_MAIN).unwrap(),
    );
    env.configs.insert(
        RoleFile::Rental,
        RbacConfig::from_yaml("roles.yaml", RoleFile::Rental.yaml()).unwrap(),
    );
    let db = env.db.clone();
    let mut problems = Vec::new();
    let case = |role: &'static str, sql: &str| DoorCase {
        suite: "selftest",
        family: "selftest",
        name: sql.to_string(),
        role,
        sql: sql.to_string(),
        want: Want::Allow,
        ..DoorCase::default()
    };
    // Values in both protocols: text, and binary integers, decimals and dates, of another
    // tenant's row; hidden columns; tables and files no role reads.
    let canary_sql = format!("SELECT LOAD_FILE('{}')", canary_file_path());
    let scans: Vec<(Proto, String, RoleFile, &str, &str)> = vec![
        (
            Proto::Text,
            "SELECT * FROM customers WHERE tenant_id = 'globex'".into(),
            RoleFile::Main,
            RO,
            "canary",
        ),
        (
            Proto::Prepared,
            "SELECT id FROM customers WHERE id = -777002".into(),
            RoleFile::Main,
            RO,
            "7770",
        ),
        (
            Proto::Prepared,
            "SELECT price FROM reservations WHERE id = -777001".into(),
            RoleFile::Main,
            RO,
            "7770",
        ),
        (
            Proto::Prepared,
            "SELECT starts_on FROM reservations WHERE id = ?".into(),
            RoleFile::Main,
            RO,
            "2077-",
        ),
        (
            Proto::Text,
            "SELECT starts_on FROM reservations WHERE id = -777001".into(),
            RoleFile::Main,
            RO,
            "2077-",
        ),
        (
            Proto::Prepared,
            "SELECT json FROM vehicles WHERE id = 1".into(),
            RoleFile::Main,
            "agent_fleet",
            "vhidden",
        ),
        (
            Proto::Prepared,
            "SELECT internal_score FROM reservations WHERE id = 1".into(),
            RoleFile::Rental,
            RO,
            "6610",
        ),
        (
            Proto::Text,
            "SELECT notes FROM reservations WHERE id = 15".into(),
            RoleFile::Main,
            "agent_region",
            "xregion",
        ),
        (
            Proto::Text,
            canary_sql.clone(),
            RoleFile::Main,
            RO,
            "canary",
        ),
        (
            Proto::Text,
            "SELECT User FROM mysql.user".into(),
            RoleFile::Main,
            RO,
            "canary",
        ),
        (
            Proto::Text,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
                .into(),
            RoleFile::Main,
            RO,
            "canary",
        ),
        (
            Proto::Text,
            "SELECT * FROM other.customers".into(),
            RoleFile::Main,
            RO,
            "canary",
        ),
        (
            Proto::Text,
            "HANDLER customers OPEN; HANDLER customers READ FIRST; HANDLER customers CLOSE".into(),
            RoleFile::Main,
            RO,
            "7770",
        ),
        (
            Proto::Text,
            "SELECT leak_ssn()".into(),
            RoleFile::Main,
            RO,
            "canary",
        ),
    ];
    for (proto, sql, file, role, marker) in &scans {
        let mut out = Outcome::default();
        match proto {
            Proto::Text => run_text(&mut env.direct, sql.as_bytes(), &mut out).await,
            Proto::Prepared => run_prepared(&mut env.direct, sql.as_bytes(), None, &mut out).await,
        }
        let markers = forbidden_markers(*file, role);
        let found: BTreeSet<&str> = out
            .rows
            .iter()
            .flatten()
            .filter(|v| markers.contains(marker) && v.to_lowercase().contains(marker))
            .map(|_| *marker)
            .collect();
        if !found.contains(marker) {
            problems.push(format!(
                "{sql} [{}]: expected marker {marker}, rows {:?}, errors {:?}",
                proto.name(),
                out.rows,
                out.errors
            ));
        }
    }
    // The multibyte trick does what it is built to do, on a backend reading GBK.
    {
        let mut gbk = root_conn(env.server, &db).await;
        gbk.query_drop("SET NAMES gbk").await.unwrap();
        let rendered = "SELECT name FROM customers WHERE name = '丁\\\\' AND name = ' UNION SELECT ssn FROM rental.customers -- '"
            .replace("rental.", &format!("{db}."));
        let mut out = Outcome::default();
        run_text(&mut gbk, rendered.as_bytes(), &mut out).await;
        if !out.rows.iter().flatten().any(|v| v.contains("CANARY-SSN")) {
            problems.push(format!(
                "the GBK trick does not reach ssn on a GBK connection: rows {:?}, errors {:?}",
                out.rows, out.errors
            ));
        }
        close(gbk).await;
    }
    // Errors: an error message that carries a hidden value.
    {
        let mut out = Outcome::default();
        run_text(
            &mut env.direct,
            b"SELECT EXTRACTVALUE(1, CONCAT(0x5c, (SELECT ssn FROM customers WHERE id = 1)))",
            &mut out,
        )
        .await;
        let markers = forbidden_markers(RoleFile::Main, RO);
        let caught = out.errors.iter().any(|e| {
            find_marker(&e.message, &markers)
                .is_some_and(|m| !echoes_input(&e.message, m, "SELECT 1"))
        });
        if !caught {
            problems.push(format!(
                "an error carrying ssn went unnoticed: {:?}",
                out.errors
            ));
        }
    }
    // Writes.
    let writes: Vec<(&'static str, RoleFile, String, &str)> = vec![
        (
            SUP,
            RoleFile::Main,
            "UPDATE reservations SET notes = 'x' WHERE id = -777001".into(),
            "OUTSIDE THE ROW FILTER",
        ),
        (
            SUP,
            RoleFile::Main,
            "UPDATE reservations SET price = 1 WHERE id = 1".into(),
            "COLUMN NOT GRANTED",
        ),
        (
            SUP,
            RoleFile::Main,
            "UPDATE reservations SET tenant_id = 'globex' WHERE id = 1".into(),
            "OUTSIDE THE ROW FILTER",
        ),
        (
            CRM,
            RoleFile::Main,
            "UPDATE customers SET name = ssn WHERE id = 1".into(),
            "LEAK THROUGH A WRITE",
        ),
        (
            CRM,
            RoleFile::Main,
            "INSERT INTO customers (tenant_id, name, ssn) VALUES ('acme', 'n', 'x')".into(),
            "HIDDEN COLUMN",
        ),
        (
            CRM,
            RoleFile::Main,
            "DELETE FROM customers WHERE id = 2".into(),
            "OUTSIDE THE GRANT",
        ),
        (
            RO,
            RoleFile::Main,
            "UPDATE vehicles SET model = 'x' WHERE id = 1".into(),
            "OUTSIDE THE GRANT",
        ),
        (
            RO,
            RoleFile::Main,
            "INSERT INTO vehicles (model) VALUES ('m')".into(),
            "AUTO_INCREMENT",
        ),
        (
            SUP,
            RoleFile::Rental,
            "UPDATE reservations SET notes = internal_score WHERE id = 1".into(),
            "LEAK THROUGH A WRITE",
        ),
        (
            RO,
            RoleFile::Main,
            "UPDATE other.customers SET name = 'x'".into(),
            "OUTSIDE THE GRANT",
        ),
        (
            RO,
            RoleFile::Main,
            "SELECT NEXTVAL(s)".into(),
            "sequence s advanced",
        ),
        (
            RO,
            RoleFile::Main,
            format!(
                "LOAD DATA INFILE '{}' INTO TABLE customers",
                canary_file_path()
            ),
            "OUTSIDE THE GRANT",
        ),
        (
            RO,
            RoleFile::Main,
            "SELECT 1 INTO OUTFILE '/tmp/sluice_my_adv_out'".into(),
            "wrote the file",
        ),
        (RO, RoleFile::Main, "CALL p()".into(), "OUTSIDE THE GRANT"),
        (
            RO,
            RoleFile::Main,
            "CREATE TABLE zz (a INT)".into(),
            "objects or global settings changed",
        ),
        (
            RO,
            RoleFile::Main,
            "DROP TABLE zz".into(),
            "objects or global settings changed",
        ),
        (
            RO,
            RoleFile::Main,
            "FLUSH STATUS".into(),
            "status counters were flushed",
        ),
        (RO, RoleFile::Main, "KILL {victim}".into(), "was killed"),
    ];
    for (role, file, write, expect) in &writes {
        let write = write.replace("{victim}", &env.victim_id.to_string());
        env.direct.query_drop(write.as_str()).await.expect(&write);
        let c = case(role, &write).file(*file);
        let fails = env.side_effects(&c, &write, false).await;
        if !fails.iter().any(|f| f.contains(expect)) {
            problems.push(format!("{write}: expected {expect:?}, got {fails:?}"));
        }
        let again = env.side_effects(&c, &write, false).await;
        if !again.is_empty() {
            problems.push(format!("{write}: not undone: {again:?}"));
        }
    }
    env.direct
        .query_drop("UPDATE reservations SET notes = 'n' WHERE id = 1")
        .await
        .unwrap();
    let fails = env.side_effects(&case(SUP, "denied"), "denied", true).await;
    if !fails
        .iter()
        .any(|f| f.contains("refused statement changed data"))
    {
        problems.push(format!("a write after a refusal went unnoticed: {fails:?}"));
    }
    // Locks, transactions and prepared XA transactions of another session.
    {
        let mut holder = root_conn(env.server, &db).await;
        holder
            .query_drop("SELECT GET_LOCK('sluice_selftest', 0)")
            .await
            .unwrap();
        let fails = env.side_effects(&case(RO, "lock"), "lock", false).await;
        if !fails.iter().any(|f| f.contains("holding a lock")) {
            problems.push(format!("a user lock went unnoticed: {fails:?}"));
        }
        holder
            .query_drop("SELECT RELEASE_ALL_LOCKS()")
            .await
            .unwrap();
        holder
            .query_drop("START TRANSACTION; SELECT id FROM reservations WHERE id = 1 FOR UPDATE")
            .await
            .unwrap();
        let fails = env.side_effects(&case(RO, "trx"), "trx", false).await;
        if !fails.iter().any(|f| f.contains("transaction: thread")) {
            problems.push(format!("an open transaction went unnoticed: {fails:?}"));
        }
        holder.query_drop("ROLLBACK").await.unwrap();
        holder
            .query_drop("LOCK TABLES customers READ")
            .await
            .unwrap();
        let fails = env
            .side_effects(&case(RO, "lock tables"), "lock tables", false)
            .await;
        if !fails.iter().any(|f| f.contains("holding a lock")) {
            problems.push(format!("LOCK TABLES went unnoticed: {fails:?}"));
        }
        holder.query_drop("UNLOCK TABLES").await.unwrap();
        holder
            .query_drop(
                "XA START 'sluice_selftest'; UPDATE other.reservations SET notes = notes WHERE id = 1; \
                 XA END 'sluice_selftest'; XA PREPARE 'sluice_selftest'",
            )
            .await
            .unwrap();
        drop(holder);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let fails = env.side_effects(&case(RO, "xa"), "xa", false).await;
        if !fails.iter().any(|f| f.contains("XA transaction survives")) {
            problems.push(format!(
                "a prepared XA transaction went unnoticed: {fails:?}"
            ));
        }
        let again = env.side_effects(&case(RO, "xa"), "xa", false).await;
        if !again.is_empty() {
            problems.push(format!("the XA transaction was not rolled back: {again:?}"));
        }
    }
    // The next client's checks: a changed setting, and a temporary table that shadows a table.
    {
        let mut conn = root_conn(env.server, &db).await;
        let base = conn
            .query::<Row, _>(SETTINGS_SQL)
            .await
            .unwrap()
            .into_iter()
            .next()
            .map(row_texts)
            .unwrap();
        conn.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+05:00'")
            .await
            .unwrap();
        let now = conn
            .query::<Row, _>(SETTINGS_SQL)
            .await
            .unwrap()
            .into_iter()
            .next()
            .map(row_texts)
            .unwrap();
        let changed: Vec<&str> = base
            .iter()
            .zip(&now)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| SETTINGS_NAMES[i])
            .collect();
        if changed != ["sql_mode", "time_zone"] {
            problems.push(format!(
                "the settings probe saw {changed:?} change (want sql_mode, time_zone): {base:?} → {now:?}"
            ));
        }
        let cfg = env.configs[&RoleFile::Main].clone();
        let role = cfg.role(RO).unwrap();
        let claims = case(RO, "x").claims();
        let (client_sql, root_sql) = shadow_queries(&db, role, &claims).unwrap();
        let root_sql = root_sql.unwrap();
        let want = rows_of(&mut env.direct, &root_sql).await.unwrap();
        // The client's query runs confined at the door; here the same counts, confined by hand.
        let confined =
            client_sql.replace("FROM customers", "FROM customers WHERE tenant_id = 'acme'");
        let confined = confined.replace(
            "FROM reservations",
            "FROM reservations WHERE tenant_id = 'acme'",
        );
        let plain = rows_of(&mut conn, &confined).await.unwrap();
        if plain != want {
            problems.push(format!(
                "the count probe disagrees with root without a shadow: {plain:?} vs {want:?}"
            ));
        }
        conn.query_drop(
            "CREATE TEMPORARY TABLE customers (id INT, tenant_id VARCHAR(32), name VARCHAR(200), email VARCHAR(200))",
        )
        .await
        .unwrap();
        let shadowed = rows_of(&mut conn, &confined).await.unwrap();
        if shadowed == want {
            problems.push(format!(
                "a temporary table shadowing customers went unnoticed by the count probe: {shadowed:?}"
            ));
        }
        close(conn).await;
    }
    assert!(
        problems.is_empty(),
        "detectors missed:\n{}",
        problems.join("\n")
    );
}

// =============================================================================================
// Door-specific tests
// =============================================================================================

fn door_gateway(server: &MariaDbServer, pool_size: usize) -> Gateway {
    let db = server
        .create_unique_database("advmydoor")
        .expect("database");
    server.exec(&db, SCHEMA).expect("seed");
    Gateway::start_mysql(
        &server.url(&db),
        &db,
        ROLES_MAIN,
        GatewayOptions {
            pool_size,
            statement_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(1),
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
        label: Some("my-adversarial-door".into()),
    })
}

/// A fresh connection through the gateway answers `SELECT 1`.
async fn gateway_serves(gw: &Gateway) -> Result<(), String> {
    let t = tok(gw, RO, "acme");
    let mut c = open(gw, &t)
        .await
        .map_err(|e| format!("connect: {} {}", e.code, e.message))?;
    tokio::time::timeout(Duration::from_secs(15), c.query_drop("SELECT 1"))
        .await
        .map_err(|_| "SELECT 1 timed out".to_string())?
        .map_err(|e| format!("SELECT 1: {e}"))?;
    close(c).await;
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
/// issuer for a role it knows is refused with 1045 before any statement, with a reason that does
/// not help a forger (`invalid`, and only `expired` / `revoked` besides), and the gateway keeps
/// serving. The backend's own login (root, empty password) is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_at_the_door() {
    let _serial = SERIAL.lock().await;
    let mut problems = Vec::new();
    let server = shared_mariadb();
    let gw = door_gateway(server, 2);
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
    let forged_crm = sluice_tokens::issue(&other_key, &req(CRM, 3600), now)
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
    // (what, user, password, the only reason word the refusal may give)
    let attempts: Vec<(&str, &str, String, &str)> = vec![
        (
            "the backend's root login (empty password)",
            "root",
            String::new(),
            "invalid",
        ),
        (
            "root with the token's user name",
            "agent",
            String::new(),
            "invalid",
        ),
        ("not a token", "agent", "not-a-token".into(), "invalid"),
        ("tampered payload", "agent", tampered, "invalid"),
        ("signed with another key", "agent", forged, "invalid"),
        ("another key, another role", "agent", forged_crm, "invalid"),
        ("v4.local", "agent", format!("v4.local.{rest}"), "invalid"),
        ("v3.public", "agent", format!("v3.public.{rest}"), "invalid"),
        (
            "upper-case header",
            "agent",
            format!("V4.PUBLIC.{rest}"),
            "invalid",
        ),
        (
            "truncated",
            "agent",
            good[..good.len() - 10].to_string(),
            "invalid",
        ),
        (
            "not yet valid",
            "agent",
            gw.token_at(&req(RO, 7200), now + 3600).unwrap(),
            "invalid",
        ),
        (
            "unknown role",
            "agent",
            gw.token_at(&req("agent_root", 3600), now).unwrap(),
            "invalid",
        ),
        (
            "role of another role file",
            "agent",
            gw.token_at(&req("agent_cleanup", 3600), now).unwrap(),
            "invalid",
        ),
        (
            "token with SQL after it",
            "agent",
            format!("{good}' OR '1'='1"),
            "invalid",
        ),
        (
            "expired",
            "agent",
            gw.token_at(&req(RO, 60), now - 7200).unwrap(),
            "expired",
        ),
        ("revoked", "agent", revoked.clone(), "revoked"),
    ];
    let forger_words = [
        "signature",
        "key",
        "kid",
        "paserk",
        "base64",
        "decode",
        "utf",
        "claim",
        "version",
        "purpose",
        "footer",
        "nbf",
        "not yet",
        "role",
        "agent_",
        "parse",
        "json",
    ];
    let mut invalid_messages = BTreeSet::new();
    for (what, user, password, reason) in &attempts {
        let opts: Opts = OptsBuilder::from_opts(gw.mysql_opts(&good))
            .user(Some(*user))
            .pass(Some(password.clone()))
            .into();
        let r = tokio::time::timeout(Duration::from_secs(15), Conn::new(opts)).await;
        match r {
            Err(_) => problems.push(format!("{what}: no answer within 15 s")),
            Ok(Ok(c)) => {
                problems.push(format!("{what}: ACCEPTED"));
                drop(c);
            }
            Ok(Err(e)) => {
                let e = my_err(&e);
                if e.code != 1045 {
                    problems.push(format!(
                        "{what}: refused with {} {} (want 1045)",
                        e.code, e.message
                    ));
                }
                let lower = e.message.to_lowercase();
                if password.len() > 20 && e.message.contains(&password[..40.min(password.len())]) {
                    problems.push(format!(
                        "{what}: the refusal echoes the token: {}",
                        e.message
                    ));
                }
                for w in forger_words {
                    if lower.contains(w) {
                        problems.push(format!(
                            "{what}: the refusal tells a forger {w:?}: {}",
                            e.message
                        ));
                    }
                }
                for other in ["invalid", "expired", "revoked"] {
                    if other != *reason && lower.contains(other) {
                        problems.push(format!("{what}: the refusal says {other:?}: {}", e.message));
                    }
                }
                // An empty password is no forgery: saying so tells nothing about the checks.
                if *reason == "invalid" && e.code == 1045 && !password.is_empty() {
                    invalid_messages.insert(e.message.clone());
                }
            }
        }
    }
    if invalid_messages.len() > 1 {
        problems.push(format!(
            "refusals of invalid tokens differ (a forger learns which check failed): {invalid_messages:?}"
        ));
    }
    // The backend's root login on the raw protocol: empty password, as mysql_clear_password
    // and as an empty native-password answer.
    for plugin in ["mysql_clear_password", "mysql_native_password"] {
        match RawMy::connect(gw.mysql_addr.unwrap(), "root", b"", Some(&gw.database), 45, plugin).await {
            Ok(_) => problems.push(format!("raw root login with an empty password ({plugin}): ACCEPTED")),
            Err((code, m)) if code != 1045 => problems.push(format!(
                "raw root login with an empty password ({plugin}): refused with {code} {m} (want 1045)"
            )),
            Err(_) => {}
        }
    }
    // A revoked token stops working on an open session.
    {
        let t = gw.token_at(&req(RO, 3600), now).unwrap();
        match open(&gw, &t).await {
            Ok(mut c) => {
                c.query_drop("SELECT 1").await.unwrap();
                gw.revoke(&t).unwrap();
                gw.reload().unwrap();
                match c.query::<Row, _>("SELECT id FROM customers").await {
                    Ok(rows) => problems.push(format!(
                        "a revoked token kept working on its open session ({} rows)",
                        rows.len()
                    )),
                    Err(e) => {
                        let e = my_err(&e);
                        if !e.message.to_lowercase().contains("revoked") {
                            problems.push(format!(
                                "a revoked token on an open session: {} {} (want the reason `revoked`)",
                                e.code, e.message
                            ));
                        }
                    }
                }
                drop(c);
            }
            Err(e) => problems.push(format!(
                "a good token was refused: {} {}",
                e.code, e.message
            )),
        }
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
    match open(&gw, &sqlish).await {
        Ok(mut c) => match c.query::<Row, _>("SELECT * FROM customers").await {
            Ok(rows) if !rows.is_empty() => problems.push(format!(
                "a tenant claim holding SQL read {} rows",
                rows.len()
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("SQL-ish claim: {e}")),
        },
        Err(e) => problems.push(format!("SQL-ish claim refused at connect: {}", e.message)),
    }
    if let Err(e) = gateway_serves(&gw).await {
        problems.push(format!("the gateway stopped serving: {e}"));
    }
    finish("tokens at the door", problems);
}

/// `SET autocommit = 0`, a write, and the client goes away (politely or not): nothing of it may
/// be committed by the next client of the pooled backend, in either protocol. The same for an
/// open `START TRANSACTION`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uncommitted_writes_die_with_their_session() {
    let _serial = SERIAL.lock().await;
    let mut problems = Vec::new();
    let server = shared_mariadb();
    let gw = door_gateway(server, 1);
    let mut direct = root_conn(server, &gw.database).await;
    let sup = tok(&gw, SUP, "acme");
    let mut n = 0;
    for opening in ["SET autocommit = 0", "START TRANSACTION", "BEGIN"] {
        for proto in [Proto::Text, Proto::Prepared] {
            for polite in [true, false] {
                n += 1;
                let mark = format!("uncommitted-{n}");
                let what = format!(
                    "`{opening}` + UPDATE [{}], {}",
                    proto.name(),
                    if polite {
                        "COM_QUIT"
                    } else {
                        "connection dropped"
                    }
                );
                let mut c = match open(&gw, &sup).await {
                    Ok(c) => c,
                    Err(e) => {
                        problems.push(format!("{what}: connect: {} {}", e.code, e.message));
                        continue;
                    }
                };
                if let Err(e) = c.query_drop(opening).await {
                    problems.push(format!(
                        "{what}: `{opening}` refused: {e} (nothing to test)"
                    ));
                    continue;
                }
                let update = format!("UPDATE reservations SET notes = '{mark}' WHERE id = 4");
                let r = match proto {
                    Proto::Text => c.query_drop(update.as_str()).await,
                    Proto::Prepared => c.exec_drop(update.as_str(), ()).await,
                };
                if let Err(e) = r {
                    problems.push(format!("{what}: the UPDATE failed: {e}"));
                }
                if polite {
                    close(c).await;
                } else {
                    drop(c);
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                // The next client of the same backend commits whatever it is given.
                match open(&gw, &sup).await {
                    Ok(mut next) => {
                        let ac: Option<Row> =
                            next.query_first("SELECT @@autocommit").await.ok().flatten();
                        let ac = ac.map(row_texts).unwrap_or_default();
                        if ac != ["1"] {
                            problems.push(format!(
                                "{what}: SETTING LEAKED: the next client has @@autocommit = {ac:?}"
                            ));
                        }
                        let _ = next.query_drop("COMMIT").await;
                        let _ = next.query_drop("SELECT 1").await;
                        close(next).await;
                    }
                    Err(e) => {
                        problems.push(format!("{what}: the next client: {} {}", e.code, e.message))
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                let notes: Option<Option<String>> = direct
                    .query_first("SELECT notes FROM reservations WHERE id = 4")
                    .await
                    .unwrap();
                if notes.flatten().as_deref() == Some(mark.as_str()) {
                    problems.push(format!(
                        "STATE CROSSES CLIENTS: {what}: the first client's uncommitted write was committed \
                         by the next client of the pooled backend"
                    ));
                }
                direct
                    .query_drop("UPDATE reservations SET notes = NULL WHERE id = 4")
                    .await
                    .unwrap();
                let open_trx: Vec<Row> = direct
                    .query("SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID()")
                    .await
                    .unwrap();
                if !open_trx.is_empty() {
                    problems.push(format!("{what}: a transaction is still open on the backend after both clients left"));
                }
            }
        }
    }
    if let Err(e) = gateway_serves(&gw).await {
        problems.push(format!("the gateway stopped serving: {e}"));
    }
    finish("uncommitted writes", problems);
}

// ---------------------------------------------------------------------------------------------
// A hand-driven MySQL protocol client, for what no driver sends
// ---------------------------------------------------------------------------------------------

const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_LONG_FLAG: u32 = 4;
const CLIENT_CONNECT_WITH_DB: u32 = 8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_MULTI_STATEMENTS: u32 = 0x10000;
const CLIENT_MULTI_RESULTS: u32 = 0x20000;
const CLIENT_PLUGIN_AUTH: u32 = 0x80000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x200000;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

struct RawMy {
    s: TcpStream,
    buf: Vec<u8>,
    seq: u8,
}

/// A command's answer: everything received, decoded as far as needed.
#[derive(Debug, Default)]
struct RawReply {
    ok: bool,
    error: Option<(u16, String)>,
    rows: Vec<Vec<Option<String>>>,
    /// Every payload received, as text (what is scanned for markers).
    text: String,
    closed: bool,
    timed_out: bool,
}

fn lenenc(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    *at += 1;
    let n = match first {
        0..=0xfa => first as u64,
        0xfc => {
            let v = u16::from_le_bytes(b.get(*at..*at + 2)?.try_into().ok()?) as u64;
            *at += 2;
            v
        }
        0xfd => {
            let mut x = [0u8; 4];
            x[..3].copy_from_slice(b.get(*at..*at + 3)?);
            *at += 3;
            u32::from_le_bytes(x) as u64
        }
        0xfe => {
            let v = u64::from_le_bytes(b.get(*at..*at + 8)?.try_into().ok()?);
            *at += 8;
            v
        }
        _ => return None,
    };
    Some(n)
}

fn err_packet(p: &[u8]) -> (u16, String) {
    let code = u16::from_le_bytes([
        p.get(1).copied().unwrap_or(0),
        p.get(2).copied().unwrap_or(0),
    ]);
    let msg = if p.get(3) == Some(&b'#') {
        p.get(9..).unwrap_or_default()
    } else {
        p.get(3..).unwrap_or_default()
    };
    (code, String::from_utf8_lossy(msg).into_owned())
}

fn is_eof(p: &[u8]) -> bool {
    p.first() == Some(&0xfe) && p.len() < 9
}

impl RawMy {
    async fn read(&mut self, wait: Duration) -> Result<Vec<u8>, &'static str> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], 0]) as usize;
                if self.buf.len() >= 4 + len {
                    self.seq = self.buf[3].wrapping_add(1);
                    let p = self.buf[4..4 + len].to_vec();
                    self.buf.drain(..4 + len);
                    return Ok(p);
                }
            }
            let mut chunk = [0u8; 65536];
            match tokio::time::timeout_at(deadline, self.s.read(&mut chunk)).await {
                Err(_) => return Err("timeout"),
                Ok(Ok(0)) | Ok(Err(_)) => return Err("closed"),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn write(&mut self, payload: &[u8]) -> bool {
        let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        p.push(self.seq);
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.s.write_all(&p).await.is_ok()
    }

    /// Logs in as `user` with `password`, announcing `plugin` and the client character set
    /// `collation` (45: utf8mb4_general_ci, 28: gbk_chinese_ci). The error is the server's
    /// (code, message).
    async fn connect(
        addr: std::net::SocketAddr,
        user: &str,
        password: &[u8],
        db: Option<&str>,
        collation: u8,
        plugin: &str,
    ) -> Result<RawMy, (u16, String)> {
        let s = TcpStream::connect(addr)
            .await
            .map_err(|e| (0, format!("TCP connect: {e}")))?;
        let mut w = RawMy {
            s,
            buf: Vec::new(),
            seq: 0,
        };
        let greeting = w
            .read(Duration::from_secs(10))
            .await
            .map_err(|e| (0, format!("no greeting: {e}")))?;
        if greeting.first() == Some(&0xff) {
            return Err(err_packet(&greeting));
        }
        let mut caps = CLIENT_LONG_PASSWORD
            | CLIENT_LONG_FLAG
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_MULTI_STATEMENTS
            | CLIENT_MULTI_RESULTS
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
        if db.is_some() {
            caps |= CLIENT_CONNECT_WITH_DB;
        }
        let auth: Vec<u8> = if plugin == "mysql_clear_password" {
            let mut a = password.to_vec();
            a.push(0);
            a
        } else {
            Vec::new()
        };
        let mut p = caps.to_le_bytes().to_vec();
        p.extend((16u32 << 20).to_le_bytes());
        p.push(collation);
        p.extend([0u8; 23]);
        p.extend(user.as_bytes());
        p.push(0);
        // Tokens are longer than 250 bytes: the length goes length-encoded.
        if auth.len() < 251 {
            p.push(auth.len() as u8);
        } else {
            p.push(0xfc);
            p.extend((auth.len() as u16).to_le_bytes());
        }
        p.extend(&auth);
        if let Some(db) = db {
            p.extend(db.as_bytes());
            p.push(0);
        }
        p.extend(plugin.as_bytes());
        p.push(0);
        w.write(&p).await;
        loop {
            let r = w
                .read(Duration::from_secs(15))
                .await
                .map_err(|e| (0, format!("login: {e}")))?;
            match r.first() {
                Some(0x00) => return Ok(w),
                Some(0xff) => return Err(err_packet(&r)),
                Some(0xfe) => {
                    // Auth switch: answer the plugin asked for.
                    let name_end = r[1..].iter().position(|b| *b == 0).unwrap_or(r.len() - 1) + 1;
                    let asked = String::from_utf8_lossy(&r[1..name_end]).into_owned();
                    let mut a = Vec::new();
                    if asked == "mysql_clear_password" {
                        a.extend_from_slice(password);
                        a.push(0);
                    } else if !password.is_empty() {
                        return Err((0, format!("cannot answer auth plugin {asked}")));
                    }
                    w.write(&a).await;
                }
                Some(0x01) => {}
                _ => return Err((0, format!("unexpected login packet {r:?}"))),
            }
        }
    }

    /// Sends one command and reads its answer (result sets, OK, ERR, or whatever comes until
    /// `wait` passes without a packet).
    async fn command(&mut self, cmd: u8, body: &[u8], wait: Duration) -> RawReply {
        self.seq = 0;
        let mut p = vec![cmd];
        p.extend_from_slice(body);
        let mut reply = RawReply::default();
        if !self.write(&p).await {
            reply.closed = true;
            return reply;
        }
        loop {
            let first = match self.read(wait).await {
                Ok(p) => p,
                Err(e) => {
                    reply.closed = e == "closed";
                    reply.timed_out = e == "timeout";
                    return reply;
                }
            };
            reply.text += &String::from_utf8_lossy(&first);
            reply.text.push(' ');
            match first.first() {
                Some(0x00) => {
                    let mut at = 1;
                    let _ = lenenc(&first, &mut at);
                    let _ = lenenc(&first, &mut at);
                    let status = first
                        .get(at..at + 2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]))
                        .unwrap_or(0);
                    reply.ok = true;
                    if status & SERVER_MORE_RESULTS_EXISTS == 0 {
                        return reply;
                    }
                    continue;
                }
                Some(0xff) => {
                    reply.error = Some(err_packet(&first));
                    return reply;
                }
                Some(0xfb) => {
                    // LOCAL INFILE request: decline with an empty packet.
                    self.write(&[]).await;
                    continue;
                }
                _ if is_eof(&first) => return reply,
                _ => {}
            }
            // A result set: column count, column definitions, EOF, rows, EOF.
            let mut at = 0;
            let ncols = lenenc(&first, &mut at).unwrap_or(0) as usize;
            let status;
            let mut phase = 0; // 0: definitions, 1: rows
            loop {
                let pk = match self.read(wait).await {
                    Ok(p) => p,
                    Err(e) => {
                        reply.closed = e == "closed";
                        reply.timed_out = e == "timeout";
                        return reply;
                    }
                };
                reply.text += &String::from_utf8_lossy(&pk);
                reply.text.push(' ');
                if pk.first() == Some(&0xff) {
                    reply.error = Some(err_packet(&pk));
                    return reply;
                }
                if is_eof(&pk) {
                    if phase == 0 {
                        phase = 1;
                        continue;
                    }
                    status = pk
                        .get(3..5)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]))
                        .unwrap_or(0);
                    break;
                }
                if phase == 0 {
                    continue;
                }
                let mut at = 0;
                let mut row = Vec::new();
                for _ in 0..ncols {
                    if pk.get(at) == Some(&0xfb) {
                        at += 1;
                        row.push(None);
                        continue;
                    }
                    let n = lenenc(&pk, &mut at).unwrap_or(0) as usize;
                    row.push(Some(
                        String::from_utf8_lossy(pk.get(at..at + n).unwrap_or_default())
                            .into_owned(),
                    ));
                    at += n;
                }
                reply.rows.push(row);
            }
            if status & SERVER_MORE_RESULTS_EXISTS == 0 {
                return reply;
            }
        }
    }

    async fn query(&mut self, sql: &[u8]) -> RawReply {
        self.command(0x03, sql, Duration::from_secs(10)).await
    }
}

/// Protocol commands a client can send on its own, through the door: none may reach another
/// database, another session, the server's process list, or another client's prepared statement;
/// a GBK client character set announced in the handshake must not change how the backend reads
/// the rendered SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protocol_commands_at_the_door() {
    let _serial = SERIAL.lock().await;
    let mut env = Env::new(None, &[RoleFile::Main]).await;
    let db = env.db.clone();
    let mut problems = Vec::new();
    let addr = env.gateways[&RoleFile::Main].mysql_addr.unwrap();
    let markers = forbidden_markers(RoleFile::Main, RO);
    let token = tok(&env.gateways[&RoleFile::Main], RO, "acme");
    // The attacking client's tenant owns no rows: every row or marker it sees is a leak.
    let intruder = tok(&env.gateways[&RoleFile::Main], RO, "initech");
    let cmd_case = |name: &str| DoorCase {
        suite: "wire",
        family: "wire",
        name: name.to_string(),
        role: RO,
        sql: name.to_string(),
        want: Want::Deny(None),
        ..DoorCase::default()
    };

    // Another client's prepared statement on the (pool size 1) backend: acme prepares, leaves.
    {
        let gw = &env.gateways[&RoleFile::Main];
        let mut a = open(gw, &token).await.expect("acme connects");
        let stmt = a
            .prep("SELECT id, name, email FROM customers")
            .await
            .unwrap();
        let _: Vec<Row> = a.exec(&stmt, ()).await.unwrap();
        close(a).await;
    }

    let victim = env.victim_id;
    let mut change_user = b"root\0\0".to_vec();
    change_user.extend(db.as_bytes());
    change_user.push(0);
    change_user.extend(45u16.to_le_bytes());
    change_user.extend(b"mysql_native_password\0");
    let commands: Vec<(&str, u8, Vec<u8>)> = vec![
        ("COM_INIT_DB other", 0x02, b"other".to_vec()),
        ("COM_INIT_DB mysql", 0x02, b"mysql".to_vec()),
        ("COM_FIELD_LIST payments", 0x04, b"payments\0".to_vec()),
        ("COM_FIELD_LIST customers", 0x04, b"customers\0".to_vec()),
        ("COM_CREATE_DB", 0x05, b"evil".to_vec()),
        ("COM_DROP_DB other", 0x06, b"other".to_vec()),
        ("COM_REFRESH", 0x07, vec![0x01 | 0x04]),
        ("COM_STATISTICS", 0x09, vec![]),
        ("COM_PROCESS_INFO", 0x0a, vec![]),
        (
            "COM_PROCESS_KILL victim",
            0x0c,
            victim.to_le_bytes().to_vec(),
        ),
        ("COM_DEBUG", 0x0d, vec![]),
        ("COM_CHANGE_USER root", 0x11, change_user),
        ("COM_BINLOG_DUMP", 0x12, {
            let mut b = 4u32.to_le_bytes().to_vec();
            b.extend([0, 0]);
            b.extend(1u32.to_le_bytes());
            b
        }),
        ("COM_TABLE_DUMP", 0x13, b"\x05other\x09customers".to_vec()),
        (
            "COM_STMT_EXECUTE id 1",
            0x17,
            [
                1u32.to_le_bytes().to_vec(),
                vec![0],
                1u32.to_le_bytes().to_vec(),
            ]
            .concat(),
        ),
        (
            "COM_STMT_EXECUTE id 2",
            0x17,
            [
                2u32.to_le_bytes().to_vec(),
                vec![0],
                1u32.to_le_bytes().to_vec(),
            ]
            .concat(),
        ),
        (
            "COM_STMT_FETCH id 1",
            0x1c,
            [1u32.to_le_bytes().to_vec(), 100u32.to_le_bytes().to_vec()].concat(),
        ),
        ("COM_STMT_RESET id 1", 0x1a, 1u32.to_le_bytes().to_vec()),
        ("COM_SET_OPTION multi-statements off", 0x1b, vec![1, 0]),
        ("COM_RESET_CONNECTION", 0x1f, vec![]),
        ("unknown command 0xee", 0xee, b"x".to_vec()),
    ];
    for (what, cmd, body) in &commands {
        let mut w = match RawMy::connect(
            addr,
            "agent",
            intruder.as_bytes(),
            Some(&db),
            45,
            "mysql_clear_password",
        )
        .await
        {
            Ok(w) => w,
            Err(e) => {
                problems.push(format!("{what}: login failed: {e:?}"));
                continue;
            }
        };
        let reply = w.command(*cmd, body, Duration::from_secs(3)).await;
        if let Some(m) = find_marker(&reply.text, &markers) {
            problems.push(format!(
                "LEAK: {what} answered with {m:?}: {}",
                short(&reply.text)
            ));
        }
        if !reply.rows.is_empty() && what.starts_with("COM_STMT") {
            problems.push(format!(
                "CROSS-CLIENT STATEMENT: {what} by another tenant's client returned {} rows of a statement it never prepared: {:?}",
                reply.rows.len(),
                reply.rows.first()
            ));
        }
        let dangerous = !matches!(*cmd, 0x09 | 0x1b | 0x1f | 0x1a);
        if dangerous && reply.ok && reply.error.is_none() {
            problems.push(format!(
                "{what}: the door answered OK (want an error): {}",
                short(&reply.text)
            ));
        }
        // Whatever the command did, the session must still be confined.
        if !reply.closed {
            let after = w.query(b"SELECT * FROM customers; SELECT DATABASE()").await;
            if let Some(m) = find_marker(&after.text, &markers) {
                problems.push(format!(
                    "LEAK after {what}: a plain SELECT answered with {m:?}: {}",
                    short(&after.text)
                ));
            }
            if after.rows.iter().any(|r| r.len() > 1) {
                problems.push(format!(
                    "LEAK after {what}: a token for a tenant without rows read {} customer rows",
                    after.rows.iter().filter(|r| r.len() > 1).count()
                ));
            }
            if after.rows.is_empty() && after.error.is_none() && !after.ok {
                problems.push(format!(
                    "after {what}: the session did not answer: {}",
                    short(&after.text)
                ));
            }
        }
        drop(w);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let c = cmd_case(what);
        for f in env.side_effects(&c, what, true).await {
            problems.push(format!("{what}: {f}"));
        }
    }

    // Naming another database at login.
    for other in ["other", "mysql", "information_schema"] {
        match RawMy::connect(
            addr,
            "agent",
            token.as_bytes(),
            Some(other),
            45,
            "mysql_clear_password",
        )
        .await
        {
            Ok(mut w) => {
                let r = w.query(b"SELECT * FROM customers; SELECT DATABASE()").await;
                if let Some(m) = find_marker(&r.text, &markers) {
                    problems.push(format!(
                        "LEAK: logged in naming database {other}, `SELECT * FROM customers` answered with {m:?}: {}",
                        short(&r.text)
                    ));
                }
            }
            Err((code, _)) if code != 0 => {}
            Err(e) => problems.push(format!("login naming database {other}: {e:?}")),
        }
    }

    // A GBK client character set in the handshake: the backend must keep reading UTF-8.
    for (collation, name) in [(28u8, "gbk_chinese_ci"), (13u8, "sjis_japanese_ci")] {
        let trick = GBK_TRICK.replace("rental.", &format!("{db}."));
        match RawMy::connect(
            addr,
            "agent",
            token.as_bytes(),
            Some(&db),
            collation,
            "mysql_clear_password",
        )
        .await
        {
            Ok(mut w) => {
                let r = w.query(trick.as_bytes()).await;
                if let Some(m) = find_marker(&r.text, &markers) {
                    problems.push(format!(
                        "LEAK: with {name} announced in the handshake the multibyte trick answered with {m:?}: {}",
                        short(&r.text)
                    ));
                }
                let cs = w
                    .query(b"SELECT @@character_set_client, @@character_set_connection")
                    .await;
                if cs.rows.first().is_some_and(|r| {
                    r.iter()
                        .any(|v| v.as_deref().is_some_and(|v| !v.starts_with("utf8")))
                }) {
                    problems.push(format!(
                        "the handshake's {name} reached the backend: {:?}",
                        cs.rows
                    ));
                }
            }
            Err(e) => problems.push(format!("login announcing {name}: {e:?}")),
        }
        let c = cmd_case(name);
        for f in env.side_effects(&c, name, false).await {
            problems.push(format!("handshake {name}: {f}"));
        }
    }
    if let Err(e) = gateway_serves(&env.gateways[&RoleFile::Main]).await {
        problems.push(format!("the gateway stopped serving: {e}"));
    }
    finish("protocol commands at the door", problems);
}

/// SHUTDOWN (the statement and COM_SHUTDOWN) through the door, on a private server: the backend
/// must stay up and the gateway keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_through_the_door_leaves_the_backend_up() {
    let _serial = SERIAL.lock().await;
    let mut problems = Vec::new();
    let server = MariaDbServer::start().expect("a private MariaDB server");
    let gw = door_gateway(&server, 2);
    let t = tok(&gw, RO, "acme");
    for sql in [
        "SHUTDOWN",
        "SHUTDOWN WAIT FOR ALL SLAVES",
        "shutdown",
        "/*!SHUTDOWN*/",
    ] {
        for proto in [Proto::Text, Proto::Prepared] {
            let c = DoorCase {
                role: RO,
                sql: sql.into(),
                ..DoorCase::default()
            };
            let out = attack(&gw, &t, &c, sql.as_bytes(), proto).await;
            if !out.refused() && sql != "/*!SHUTDOWN*/" {
                problems.push(format!(
                    "`{sql}` [{}]: not denied: {}",
                    proto.name(),
                    out.describe()
                ));
            }
        }
    }
    match RawMy::connect(
        gw.mysql_addr.unwrap(),
        "agent",
        t.as_bytes(),
        Some(&gw.database),
        45,
        "mysql_clear_password",
    )
    .await
    {
        Ok(mut w) => {
            let r = w.command(0x08, &[0], Duration::from_secs(3)).await;
            if r.ok {
                problems.push("COM_SHUTDOWN: the door answered OK".into());
            }
        }
        Err(e) => problems.push(format!("raw login: {e:?}")),
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    match tokio::time::timeout(
        Duration::from_secs(10),
        Conn::new(root_opts(&server, &gw.database)),
    )
    .await
    {
        Ok(Ok(c)) => close(c).await,
        other => problems.push(format!(
            "THE BACKEND WENT DOWN after SHUTDOWN through the door: {:?}",
            other.map(|r| r.map(|_| ()))
        )),
    }
    if let Err(e) = gateway_serves(&gw).await {
        problems.push(format!("the gateway stopped serving: {e}"));
    }
    finish("shutdown", problems);
}

/// COM_STMT_EXECUTE packets no driver sends: parameter types mysql_common cannot decode (it
/// panics on the server-internal TIMESTAMP2/DATETIME2/TIME2 and on unknown types), truncated
/// values and bitmaps, an execute before types were ever sent. Each is refused with an error and
/// the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_execute_packets_are_refused_and_the_session_goes_on() {
    let _serial = SERIAL.lock().await;
    let my = shared_mariadb();
    let db = sluice_integration::rental::seed_mariadb(my).expect("seed");
    let gw = Gateway::start_mysql(
        &my.url(&db),
        &db,
        sluice_integration::rental::ROLES,
        GatewayOptions::default(),
    )
    .expect("gateway");
    let token = gw.token(RO, Some("acme"), 600);
    let mut w = RawMy::connect(
        gw.mysql_addr.unwrap(),
        "agent",
        token.as_bytes(),
        Some(&db),
        45,
        "mysql_clear_password",
    )
    .await
    .expect("login");
    // Prepare `SELECT ? AS v` and read the statement id off the PREPARE_OK packet.
    w.seq = 0;
    w.write(b"\x16SELECT ? AS v").await;
    let ok = w
        .read(Duration::from_secs(10))
        .await
        .expect("prepare answer");
    assert_eq!(ok.first(), Some(&0x00), "{ok:?}");
    let id = u32::from_le_bytes(ok[1..5].try_into().unwrap());
    // The parameter and column definitions (each followed by an EOF: no DEPRECATE_EOF).
    while w.read(Duration::from_millis(300)).await.is_ok() {}

    let head = |bound: bool, types: &[u8]| {
        let mut p = id.to_le_bytes().to_vec();
        p.push(0); // flags
        p.extend(1u32.to_le_bytes()); // iteration count
        p.push(0); // null bitmap
        p.push(u8::from(bound));
        p.extend_from_slice(types);
        p
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no types ever sent", head(false, &[])),
        ("TIMESTAMP2", [head(true, &[0x11, 0]), vec![0; 8]].concat()),
        ("DATETIME2", [head(true, &[0x12, 0]), vec![0; 8]].concat()),
        ("TIME2", [head(true, &[0x13, 0]), vec![0; 8]].concat()),
        ("TYPED_ARRAY", [head(true, &[0x14, 0]), vec![0; 8]].concat()),
        ("type 0xF3", [head(true, &[0xf3, 0]), vec![0; 8]].concat()),
        ("type 0x99", [head(true, &[0x99, 0]), vec![0; 8]].concat()),
        (
            "LONGLONG cut short",
            [head(true, &[0x08, 0]), vec![1, 2]].concat(),
        ),
        (
            "string length past the end",
            [head(true, &[0xfd, 0]), vec![0xfc, 0xff, 0xff, b'x']].concat(),
        ),
        (
            "no bitmap",
            id.to_le_bytes()
                .iter()
                .copied()
                .chain([0, 1, 0, 0, 0])
                .collect(),
        ),
    ];
    let mut problems = Vec::new();
    for (name, body) in cases {
        let reply = w.command(0x17, &body, Duration::from_secs(5)).await;
        if reply.closed || reply.timed_out {
            problems.push(format!("{name}: the session ended ({reply:?})"));
            break;
        }
        match &reply.error {
            Some((code, _)) if *code == 1210 || *code == 1835 => {}
            other => problems.push(format!("{name}: expected error 1210, got {other:?}")),
        }
        let one = w.query(b"SELECT 1").await;
        if one.rows != vec![vec![Some("1".to_string())]] {
            problems.push(format!("{name}: the session no longer answers ({one:?})"));
            break;
        }
    }
    // A well-formed execute still works.
    let mut good = head(true, &[0xfd, 0]);
    good.extend([2, b'o', b'k']);
    let reply = w.command(0x17, &good, Duration::from_secs(5)).await;
    if reply.error.is_some() || reply.closed {
        problems.push(format!("a good execute failed: {reply:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A raw client logged in through the door as `agent` with `token` (mysql_clear_password,
/// utf8mb4).
async fn agent_login(gw: &Gateway, token: &str) -> RawMy {
    let addr = gw.mysql_addr.expect("a MySQL door");
    RawMy::connect(
        addr,
        "agent",
        token.as_bytes(),
        Some(&gw.database),
        45,
        "mysql_clear_password",
    )
    .await
    .expect("login")
}

/// A client that goes away in the middle of a large result leaves the rest of its rows on their
/// way from the backend: the gateway must read them to the end (or discard the connection)
/// before the connection serves anyone else, whose answer they would otherwise become. With one
/// backend connection, the next client of the same profile gets whatever the pool has.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_gone_mid_result_leaves_no_rows_to_the_next_session() {
    let _serial = SERIAL.lock().await;
    let server = shared_mariadb();
    let gw = door_gateway(server, 1);
    let mut direct = root_conn(server, &gw.database).await;
    // 16 MiB of rows: more than the sockets between the gateway and the client hold, so the
    // gateway is still reading the backend's rows when the client goes.
    let blob = "x".repeat(64 * 1024);
    for batch in 0..16 {
        let values: Vec<String> = (0..16)
            .map(|i| format!("('bulk', 'bulk-{}', '{blob}')", batch * 16 + i))
            .collect();
        direct
            .query_drop(format!(
                "INSERT INTO vehicles (make, model, json) VALUES {}",
                values.join(", ")
            ))
            .await
            .expect("bulk rows");
    }
    let want: Vec<(i64, String)> = direct
        .query("SELECT id, model FROM vehicles WHERE model = 'bulk-7'")
        .await
        .unwrap();
    assert_eq!(want.len(), 1);
    let token = tok(&gw, RO, "acme");
    let mut problems = Vec::new();
    for round in 1..=3 {
        let mut w = agent_login(&gw, &token).await;
        w.seq = 0;
        assert!(w.write(b"\x03SELECT id, json FROM vehicles").await);
        let first = w.read(Duration::from_secs(10)).await.expect("a reply");
        assert_ne!(first.first(), Some(&0xff), "{}", err_packet(&first).1);
        // Gone, with megabytes of the result unread.
        drop(w);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut next = match open(&gw, &token).await {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!(
                    "round {round}: the next client cannot connect: {e:?}"
                ));
                continue;
            }
        };
        let sql = "SELECT id, model FROM vehicles WHERE model = 'bulk-7'";
        let text: Result<Vec<(i64, String)>, _> =
            tokio::time::timeout(Duration::from_secs(15), next.query(sql))
                .await
                .unwrap_or_else(|_| Err(mysql_async::Error::Other("timed out".into())));
        match text {
            Ok(rows) if rows == want => {}
            other => problems.push(format!("round {round}: text: {other:?}, want {want:?}")),
        }
        let prepared: Result<Vec<(i64, String)>, _> =
            tokio::time::timeout(Duration::from_secs(15), next.exec(sql, ()))
                .await
                .unwrap_or_else(|_| Err(mysql_async::Error::Other("timed out".into())));
        match prepared {
            Ok(rows) if rows == want => {}
            other => problems.push(format!("round {round}: prepared: {other:?}, want {want:?}")),
        }
        close(next).await;
    }
    finish(
        "a_client_gone_mid_result_leaves_no_rows_to_the_next_session",
        problems,
    );
}

// ---- raw result framing for clients without CLIENT_DEPRECATE_EOF ----------------------------

async fn read_definitions(w: &mut RawMy, n: usize, problems: &mut Vec<String>, what: &str) {
    if n == 0 {
        return;
    }
    for _ in 0..n {
        if let Err(e) = w.read(Duration::from_secs(10)).await {
            problems.push(format!("{what}: definition: {e}"));
            return;
        }
    }
    match w.read(Duration::from_secs(10)).await {
        Ok(p) if is_eof(&p) => {}
        other => problems.push(format!("{what}: no EOF after definitions: {other:?}")),
    }
}

/// Reads a binary result set (an old client: EOF after the definitions and at the end).
/// Returns the rows' count, or None on a framing problem (recorded).
async fn read_binary_result(
    w: &mut RawMy,
    problems: &mut Vec<String>,
    what: &str,
) -> Option<usize> {
    let first = match w.read(Duration::from_secs(10)).await {
        Ok(p) => p,
        Err(e) => {
            problems.push(format!("{what}: no reply: {e}"));
            return None;
        }
    };
    if first.first() == Some(&0xff) {
        problems.push(format!("{what}: error {:?}", err_packet(&first)));
        return None;
    }
    let mut at = 0;
    let n = lenenc(&first, &mut at).unwrap_or(0) as usize;
    if first.len() != at {
        problems.push(format!(
            "{what}: column count packet has extra bytes: {first:?}"
        ));
    }
    read_definitions(w, n, problems, what).await;
    let mut rows = 0;
    loop {
        let p = match w.read(Duration::from_secs(10)).await {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{what}: row: {e}"));
                return None;
            }
        };
        if is_eof(&p) {
            let status = u16::from_le_bytes([p[3], p[4]]);
            if status & SERVER_MORE_RESULTS_EXISTS != 0 {
                problems.push(format!("{what}: MORE_RESULTS in the final EOF"));
            }
            return Some(rows);
        }
        if p.first() != Some(&0x00) {
            problems.push(format!(
                "{what}: binary row without 0x00 header: {:?}",
                &p[..p.len().min(16)]
            ));
            return None;
        }
        rows += 1;
    }
}

/// A client without CLIENT_DEPRECATE_EOF (EOF packets after definitions and at the end) gets
/// well-framed results in both protocols, executions that the backend answers without metadata
/// (MARIADB_CLIENT_CACHE_METADATA) included, and a multi-statement query in its form; the
/// session stays in step afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_eof_clients_get_well_framed_results_in_both_protocols() {
    let _serial = SERIAL.lock().await;
    let server = shared_mariadb();
    let gw = door_gateway(server, 1);
    let token = tok(&gw, RO, "acme");
    let mut problems = Vec::new();
    let sql = "SELECT id, model FROM vehicles";
    let want: Vec<(i64, String)> = {
        let mut c = open(&gw, &token).await.expect("open");
        let v = c.query(sql).await.expect("via mysql_async");
        close(c).await;
        v
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut w = agent_login(&gw, &token).await;
    // Text.
    let r = w.query(sql.as_bytes()).await;
    if r.error.is_some() || r.rows.len() != want.len() {
        problems.push(format!(
            "text: {:?} rows {} want {}",
            r.error,
            r.rows.len(),
            want.len()
        ));
    }
    // Multi-statement.
    let r = w.query(format!("{sql}; SELECT 1").as_bytes()).await;
    if r.error.is_some() || r.rows.len() != want.len() + 1 {
        problems.push(format!(
            "multi: {:?} rows {} want {}",
            r.error,
            r.rows.len(),
            want.len() + 1
        ));
    }
    // Prepared, executed several times (the backend may skip the metadata after the first).
    w.seq = 0;
    let mut p = vec![0x16];
    p.extend_from_slice(sql.as_bytes());
    w.write(&p).await;
    let ok = w
        .read(Duration::from_secs(10))
        .await
        .expect("prepare reply");
    assert_eq!(ok.first(), Some(&0x00), "{:?}", err_packet(&ok));
    let id = [ok[1], ok[2], ok[3], ok[4]];
    let cols = u16::from_le_bytes([ok[5], ok[6]]) as usize;
    let params = u16::from_le_bytes([ok[7], ok[8]]) as usize;
    read_definitions(&mut w, params, &mut problems, "prepare params").await;
    read_definitions(&mut w, cols, &mut problems, "prepare columns").await;
    for round in 0..4 {
        w.seq = 0;
        let mut e = vec![0x17];
        e.extend_from_slice(&id);
        e.push(0);
        e.extend_from_slice(&1u32.to_le_bytes());
        w.write(&e).await;
        let what = format!("execute {round}");
        match read_binary_result(&mut w, &mut problems, &what).await {
            Some(n) if n == want.len() => {}
            other => problems.push(format!("{what}: rows {other:?} want {}", want.len())),
        }
    }
    let r = w.query(b"SELECT 1").await;
    if r.rows != vec![vec![Some("1".to_string())]] {
        problems.push(format!("after: SELECT 1 gave {r:?}"));
    }
    finish(
        "old_eof_clients_get_well_framed_results_in_both_protocols",
        problems,
    );
}
