//! Statement families (`Engine::authorize` deciding a new text from the decision for another text
//! with other literals) must give exactly what the full path gives for every text.
//!
//! Every case of the four adversarial suites, both dialects, is taken as the first member of a
//! family; then members with other literals (quotes, backslashes, Unicode, the tenant's own
//! value, another tenant's, numbers of other forms, the reserved prefix) go through the same
//! engine, and each answer must equal `authorize` on that text, denial or rewrite alike. A
//! generated part does the same with random literal values. The test also asserts that families
//! were actually used (the engine's counter), so it cannot pass by never taking the path.

#![allow(dead_code, unused_macros)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Engine, Principal, Scope};
use sluice_tokens::Claims;
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::tokenizer::{Token, Tokenizer};

#[path = "common/prepared_form.rs"]
mod prepared_form;

/// One input of a suite: which role file, role and claims, and the text.
struct Input {
    roles: &'static str,
    role: &'static str,
    claims: Claims,
    dialect: Dialect,
    sql: String,
}

mod suite1 {
    use std::collections::BTreeMap;

    use sluice_policy::{Dialect, Rule};
    use sluice_tokens::{ClaimValue, Claims};

    include!("common/adversarial_cases.rs");

    pub(crate) fn export() -> Vec<super::Input> {
        all_cases()
            .into_iter()
            .map(|c| super::Input {
                roles: match c.cfg {
                    Cfg::Main => include_str!("fixtures/adversarial_roles.yaml"),
                    Cfg::Delete => include_str!("fixtures/adversarial_roles_delete.yaml"),
                },
                role: c.role,
                claims: c.tok.claims(c.role),
                dialect: c.dialect,
                sql: c.sql,
            })
            .collect()
    }
}

macro_rules! harness_suite {
    ($module:ident, $file:literal) => {
        mod $module {
            use std::collections::BTreeMap;

            use sluice_policy::roles::RbacConfig;
            use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
            use sluice_tokens::Claims;

            include!("common/adversarial_harness.rs");
            include!($file);

            pub(crate) fn export() -> Vec<super::Input> {
                all_cases()
                    .into_iter()
                    .map(|c| super::Input {
                        roles: ROLES,
                        role: c.role,
                        claims: claims(c.role),
                        dialect: c.dialect,
                        sql: c.sql,
                    })
                    .collect()
            }
        }
    };
}

harness_suite!(suite2, "common/adversarial2_cases.rs");
harness_suite!(suite3, "common/adversarial3_cases.rs");
harness_suite!(suite4, "common/adversarial4_cases.rs");

fn all_inputs() -> Vec<Input> {
    let mut v = suite1::export();
    v.extend(suite2::export());
    v.extend(suite3::export());
    v.extend(suite4::export());
    v.extend(workload_inputs());
    v
}

/// The statements benchmarks and ORMs send with inline values, on the suites' schema.
fn workload_inputs() -> Vec<Input> {
    let roles = include_str!("fixtures/adversarial_roles.yaml");
    let mk = |role: &'static str, dialect, sql: &str| Input {
        roles,
        role,
        // The shared harness's claims: tenant `acme`, no extra claims.
        claims: suite2::claims(role),
        dialect,
        sql: sql.to_string(),
    };
    let mut v = Vec::new();
    for d in [Dialect::PostgreSql, Dialect::MySql] {
        for sql in [
            "SELECT id, status FROM reservations WHERE id = 42",
            "SELECT c.name, r.status FROM reservations r JOIN customers c ON c.id = r.customer_id WHERE r.id BETWEEN 10 AND 20 ORDER BY c.name LIMIT 5",
            "SELECT count(*) FROM customers WHERE name LIKE 'A%' OR email = 'x@example.com'",
            "UPDATE reservations SET status = 'closed' WHERE id = 7",
            "INSERT INTO reservations (id, customer_id, status) VALUES (9, 3, 'open')",
            "INSERT INTO reservations (tenant_id, id, status) VALUES ('acme', 9, 'open')",
            "SELECT id FROM reservations WHERE status IN ('open', 'late') AND id > 3.5e2",
            "BEGIN; SELECT id FROM reservations WHERE id = 1; COMMIT",
            "SELECT id FROM reservations WHERE id = 1; SELECT name FROM customers WHERE id = 2",
            "SET application_name = 'x'",
        ] {
            for role in ["agent_support", "agent_readonly", "agent_crm"] {
                v.push(mk(role, d, sql));
            }
        }
    }
    v
}

/// Writes a string literal as the input's dialect reads it back to exactly `s`.
fn quote(dialect: Dialect, s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match (c, dialect) {
            ('\'', _) => out.push_str("''"),
            ('\\', Dialect::MySql) => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `sql` with its string and number literals replaced in turn by `strings` and `numbers`
/// (cycled). `None` if it does not tokenize or holds no literal.
fn with_literals(
    dialect: Dialect,
    sql: &str,
    strings: &[&str],
    numbers: &[&str],
) -> Option<String> {
    let tokens = match dialect {
        Dialect::PostgreSql => Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize(),
        Dialect::MySql => Tokenizer::new(&MySqlDialect {}, sql).tokenize(),
    }
    .ok()?;
    let (mut s, mut n, mut out) = (0, 0, String::new());
    for t in &tokens {
        match t {
            Token::SingleQuotedString(_) => {
                out.push_str(&quote(dialect, strings[s % strings.len()]));
                s += 1;
            }
            Token::Number(_, false) => {
                out.push_str(numbers[n % numbers.len()]);
                n += 1;
            }
            other => out.push_str(&other.to_string()),
        }
    }
    (s + n > 0).then_some(out)
}

const STRINGS: &[&[&str]] = &[
    &["acme"],
    &["other-tenant"],
    &["", "x"],
    &["o'neil", "back\\slash'"],
    &["\\' OR 1=1 --", "' OR '1'='1"],
    &["ünïcødé ✓", "$$", "$1"],
    &["__sluice_m0__"],
    &["'__sluice_m1__'", "a"],
    &["%", "_"],
];
const NUMBERS: &[&[&str]] = &[
    &["1"],
    &["0", "99999999999999999999"],
    &["3.25", "1e3"],
    &["7"],
];

struct Engines {
    by_roles: BTreeMap<&'static str, (Arc<RbacConfig>, Engine)>,
    /// One principal per role file, role, claims and dialect, kept across inputs as a session
    /// keeps its own: its remembered family is then tried for every next text, and must
    /// answer only the texts of that family.
    principals: BTreeMap<String, Principal>,
    /// Answers that came with a prepared form (each checked to be its statement).
    forms: u64,
}

impl Engines {
    fn new() -> Engines {
        Engines {
            by_roles: BTreeMap::new(),
            principals: BTreeMap::new(),
            forms: 0,
        }
    }

    /// Checks that the engine (with its families) and the full path agree on `sql`; `Ok(true)`
    /// if they allow it.
    fn agree(&mut self, input: &Input, sql: &str) -> Result<bool, String> {
        let (cfg, engine) = self.by_roles.entry(input.roles).or_insert_with(|| {
            let cfg = Arc::new(RbacConfig::from_yaml("roles.yaml", input.roles).unwrap());
            let engine = Engine::new(cfg.clone(), 64 << 20);
            (cfg, engine)
        });
        let database = (input.dialect == Dialect::MySql).then_some("rental");
        let who = format!(
            "{:p} {} {:?} {:?}",
            input.roles, input.role, input.claims, input.dialect
        );
        let principal = self.principals.entry(who).or_insert_with(|| {
            engine.principal(Arc::new(input.claims.clone()), input.dialect, database)
        });
        let from_engine = engine.authorize_as(principal, sql);
        let scope = Scope {
            config: cfg,
            role: cfg.role(input.role).unwrap(),
            claims: &input.claims,
            dialect: input.dialect,
            database,
            schema: sluice_policy::Schema::empty(),
        };
        let full = authorize(&scope, sql);
        let from_engine = prepared_form::without_prepared_forms(&from_engine, &mut self.forms)?;
        if from_engine == full {
            Ok(full.is_ok())
        } else {
            Err(format!(
                "{:?} {} as {}:\n  engine: {:?}\n  full:   {:?}",
                input.dialect, sql, input.role, from_engine, full
            ))
        }
    }

    fn family_hits(&self) -> u64 {
        self.by_roles
            .values()
            .map(|(_, e)| e.stats().family_hits)
            .sum()
    }
}

#[test]
fn every_member_of_a_family_gets_the_full_paths_decision() {
    let inputs = all_inputs();
    let mut engines = Engines::new();
    let mut failures = Vec::new();
    let (mut members, mut eligible) = (0, std::collections::HashSet::new());
    for input in &inputs {
        let allowed = match engines.agree(input, &input.sql) {
            Err(e) => {
                failures.push(e);
                false
            }
            Ok(allowed) => allowed,
        };
        for strings in STRINGS {
            for numbers in NUMBERS {
                if let Some(sql) = with_literals(input.dialect, &input.sql, strings, numbers) {
                    members += 1;
                    if allowed && !sql.contains("__sluice") && sql != input.sql {
                        let who = (input.roles, input.role, input.dialect == Dialect::MySql);
                        eligible.insert((who, sql.clone()));
                    }
                    if let Err(e) = engines.agree(input, &sql) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    let hits = engines.family_hits();
    let eligible = eligible.len() as u64;
    println!(
        "{} inputs, {members} other members ({eligible} distinct new texts of allowed \
         inputs, without the reserved prefix), {hits} decided from a family",
        inputs.len()
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "{} answers came with a prepared form, each written out as its statement",
        engines.forms
    );
    assert!(
        engines.forms > 100,
        "only {} answers came with a prepared form: the path is not exercised",
        engines.forms
    );
    assert!(
        hits * 10 > eligible * 8,
        "only {hits} of {eligible} eligible decisions came from a family: the path is not exercised"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_literals_get_the_full_paths_decision(
        which in 0usize..10_000,
        strings in proptest::collection::vec(".{0,12}", 1..4),
        numbers in proptest::collection::vec("[0-9]{1,12}(\\.[0-9]{1,4})?", 1..4),
    ) {
        thread_local! {
            static STATE: std::cell::RefCell<(Vec<Input>, Engines)> =
                std::cell::RefCell::new((all_inputs(), Engines::new()));
        }
        STATE.with(|state| {
            let (inputs, engines) = &mut *state.borrow_mut();
            let input = &inputs[which % inputs.len()];
            // The original first, so that the family is decided from it.
            engines.agree(input, &input.sql).map_err(TestCaseError::fail)?;
            let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
            let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
            if let Some(sql) = with_literals(input.dialect, &input.sql, &strings, &numbers) {
                engines.agree(input, &sql).map_err(TestCaseError::fail)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
