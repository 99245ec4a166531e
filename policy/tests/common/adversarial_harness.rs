// The case harness shared by adversarial2.rs and adversarial3.rs, pulled in with `include!`
// (each test file is its own crate). The including file defines `ROLES` (the role file's text)
// and `ROLES_FILE` (its name, for error messages).
include!("allowed_as.rs");
const PG: Dialect = Dialect::PostgreSql;
const MY: Dialect = Dialect::MySql;

#[allow(unused_macros)]
macro_rules! pc {
    () => {
        r#"(SELECT "id", "tenant_id", "name", "email" FROM "public"."customers" WHERE (tenant_id = 'acme'))"#
    };
}
#[allow(unused_macros)]
macro_rules! pr {
    () => {
        r#"(SELECT * FROM "public"."reservations" WHERE (tenant_id = 'acme'))"#
    };
}
#[allow(unused_macros)]
macro_rules! mc {
    () => {
        r#"(SELECT `id`, `tenant_id`, `name`, `email` FROM `rental`.`customers` WHERE (tenant_id = 'acme'))"#
    };
}
#[allow(unused_macros)]
macro_rules! mr {
    () => {
        r#"(SELECT * FROM `rental`.`reservations` WHERE (tenant_id = 'acme'))"#
    };
}

#[derive(Clone, Debug)]
enum Expect {
    /// Denied by this rule.
    Deny(Rule),
    /// Denied, by whichever rule.
    DenyAny,
    /// Allowed; one statement, exactly this SQL.
    Sql(&'static str),
    /// Allowed; exactly this SQL, and these parameters (counted from 0) are written into pinned
    /// columns: the door runs it only when each holds the token's value.
    #[allow(dead_code)] // adversarial4 uses it; adversarial2 and 3 do not
    Pinned(&'static str, &'static [usize]),
}
use Expect::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mark {
    Ok,
    Bug,
    FalseDenial,
}

#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    role: &'static str,
    dialect: Dialect,
    sql: String,
    expect: Expect,
    mark: Mark,
}

impl Case {
    fn bug(mut self) -> Self {
        self.mark = Mark::Bug;
        self
    }
    fn false_denial(mut self) -> Self {
        self.mark = Mark::FalseDenial;
        self
    }
}
/// The same derived tables fenced, as the engine renders them in a statement that holds an
/// expression not proven leakproof (the planner may neither merge them nor push conditions in).
#[allow(unused_macros)]
macro_rules! pcf {
    () => {
        r#"(SELECT "id", "tenant_id", "name", "email" FROM "public"."customers" WHERE (tenant_id = 'acme') OFFSET 0)"#
    };
}
#[allow(unused_macros)]
macro_rules! prf {
    () => {
        r#"(SELECT * FROM "public"."reservations" WHERE (tenant_id = 'acme') OFFSET 0)"#
    };
}
#[allow(unused_macros)]
macro_rules! mcf {
    () => {
        r#"(SELECT `id`, `tenant_id`, `name`, `email` FROM `rental`.`customers` WHERE (tenant_id = 'acme') LIMIT 18446744073709551615)"#
    };
}
#[allow(unused_macros)]
macro_rules! mrf {
    () => {
        r#"(SELECT * FROM `rental`.`reservations` WHERE (tenant_id = 'acme') LIMIT 18446744073709551615)"#
    };
}

fn case(
    name: &'static str,
    role: &'static str,
    d: Dialect,
    sql: impl Into<String>,
    e: Expect,
) -> Case {
    Case {
        name,
        role,
        dialect: d,
        sql: sql.into(),
        expect: e,
        mark: Mark::Ok,
    }
}
fn pg(name: &'static str, role: &'static str, sql: impl Into<String>, e: Expect) -> Case {
    case(name, role, PG, sql, e)
}
fn my(name: &'static str, role: &'static str, sql: impl Into<String>, e: Expect) -> Case {
    case(name, role, MY, sql, e)
}

fn config() -> RbacConfig {
    RbacConfig::from_yaml(ROLES_FILE, ROLES).expect("role file loads")
}

pub(crate) fn claims(role: &str) -> Claims {
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

fn run(cfg: &RbacConfig, role: &str, dialect: Dialect, sql: &str) -> Result<Authorized, Denial> {
    let claims = claims(role);
    let scope = Scope {
        config: cfg,
        role: cfg.role(role).unwrap_or_else(|| panic!("no role {role}")),
        claims: &claims,
        dialect,
        database: Some("rental"),
        schema: sluice_policy::Schema::empty(),
    };
    authorize(&scope, sql)
}

fn describe(r: &Result<Authorized, Denial>) -> String {
    match r {
        Ok(a) => format!(
            "ALLOWED: {}",
            a.statements
                .iter()
                .map(|s| {
                    let pinned: Vec<usize> =
                        s.parameters.pinned.iter().map(|p| p.parameter).collect();
                    format!("{} [writes={}, pinned={pinned:?}]", s.sql, s.writes)
                })
                .collect::<Vec<_>>()
                .join(" ;; ")
        ),
        Err(d) => format!("DENIED {:?}: {}", d.rule, d.message),
    }
}

fn check(c: &Case, r: &Result<Authorized, Denial>) -> bool {
    match (&c.expect, r) {
        (Deny(rule), Err(d)) => d.rule == *rule,
        (DenyAny, Err(_)) => true,
        (Sql(sql), Ok(a)) => allowed_as(a, sql, &[]),
        (Pinned(sql, params), Ok(a)) => allowed_as(a, sql, params),
        _ => false,
    }
}

fn short(s: &str) -> String {
    if s.len() > 700 {
        let mut end = 700;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s.to_string()
    }
}

/// Runs every case and fails with a readable list of the ones that do not hold.
fn assert_cases_hold(cases: &[Case]) {
    let cfg = config();
    let mut failures = Vec::new();
    for c in cases {
        let r = run(&cfg, c.role, c.dialect, &c.sql);
        if !check(c, &r) {
            let tag = match c.mark {
                Mark::Ok => "",
                Mark::Bug => "[BUG] ",
                Mark::FalseDenial => "[FALSE DENIAL] ",
            };
            failures.push((
                c.mark,
                format!(
                    "{tag}{} [{} {:?}]\n    sql:      {}\n    expected: {:?}\n    got:      {}",
                    c.name,
                    c.role,
                    c.dialect,
                    short(&c.sql),
                    c.expect,
                    short(&describe(&r))
                ),
            ));
        }
    }
    let count = |m: Mark| failures.iter().filter(|(k, _)| *k == m).count();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed ({} marked BUG, {} FALSE DENIAL, {} unmarked):\n\n{}",
        failures.len(),
        cases.len(),
        count(Mark::Bug),
        count(Mark::FalseDenial),
        count(Mark::Ok),
        failures
            .iter()
            .map(|(_, f)| f.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Case names identify failures: they must be unique.
fn assert_unique_names(cases: Vec<Case>) {
    let mut seen = std::collections::BTreeSet::new();
    for c in cases {
        assert!(seen.insert(c.name), "duplicate case name {}", c.name);
    }
}

/// Every allowed output of an unmarked case parses back and is allowed again.
fn assert_outputs_reauthorize(cases: &[Case]) {
    let cfg = config();
    for c in cases.iter().filter(|c| c.mark == Mark::Ok) {
        let Ok(a) = run(&cfg, c.role, c.dialect, &c.sql) else {
            continue;
        };
        for s in &a.statements {
            let again = run(&cfg, c.role, c.dialect, &s.sql);
            assert!(
                again.is_ok(),
                "{}: output not re-authorized: {}\n  {}",
                c.name,
                s.sql,
                describe(&again)
            );
        }
    }
}
