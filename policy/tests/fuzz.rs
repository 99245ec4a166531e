//! Property-based fuzzing of `authorize` for both dialects.
//!
//! Inputs are built from SQL fragments (keywords, names of granted and ungranted tables,
//! literals full of quotes and backslashes, comments, operators) and from mutations of real
//! attack strings, plus arbitrary text. Properties:
//! - `authorize` never panics;
//! - every allowed output re-parses in the same dialect;
//! - re-authorizing an output is allowed, touches the same tables with the same operations,
//!   and for a role without filters or column limits gives back the same text (a fixpoint);
//! - the barrier: without a schema nothing is proven leakproof, so an output may leave a
//!   confined table unfenced, or a confined write's condition unguarded, only when the input
//!   evaluates nothing (columns, literals, parameters and count/min/max alone).
//!
//! Case count: `PROPTEST_CASES` (default 3000 per property here; CI runs the default).

use proptest::prelude::*;
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Scope};
use sluice_tokens::Claims;
use sqlparser::parser::Parser;

const ROLES: &str = r#"
forbidden_operations: [DROP, TRUNCATE]
roles:
  confined:
    tables:
      reservations: [SELECT, UPDATE, INSERT, DELETE]
      customers: [SELECT]
      vehicles: [SELECT]
    columns:
      customers: { SELECT: [id, tenant_id, name] }
      reservations: { UPDATE: [notes, status] }
    filters:
      reservations: "tenant_id = {{ token.tenant_id }}"
      customers: "tenant_id = {{ token.tenant_id }} AND deleted = false"
  open:
    tables:
      reservations: [SELECT, UPDATE, INSERT, DELETE]
      vehicles: [SELECT, INSERT]
"#;

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "*",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "USING (id)",
    "UNION",
    "UNION ALL",
    "INTERSECT",
    "EXCEPT",
    "WITH",
    "RECURSIVE",
    "AS",
    "(",
    ")",
    ",",
    ";",
    "reservations",
    "customers",
    "vehicles",
    "secrets",
    "pg_catalog.pg_class",
    "r",
    "c",
    "t",
    "\"reservations\"",
    "`reservations`",
    "public.reservations",
    "rental.reservations",
    "information_schema.tables",
    "mysql.user",
    "id",
    "tenant_id",
    "ssn",
    "notes",
    "r.ssn",
    "1",
    "0",
    "'acme'",
    "'it''s'",
    "'a\\'b'",
    "'\\\\'",
    "E'\\x41'",
    "$$dollar$$",
    "$q$x$q$",
    "U&'\\0041'",
    "X'41'",
    "N'n'",
    "_utf8mb4'x'",
    "NULL",
    "TRUE",
    "=",
    "<>",
    "<",
    ">",
    "+",
    "-",
    "||",
    "LIKE",
    "IN",
    "EXISTS",
    "BETWEEN",
    "IS NULL",
    "CASE WHEN 1=1 THEN 1 ELSE 0 END",
    "count(*)",
    "row_to_json(r)",
    "pg_sleep(10)",
    "sleep(10)",
    "benchmark(1000, md5('x'))",
    "load_file('/etc/passwd')",
    "lower(name)",
    "coalesce(notes, '')",
    "GROUP BY",
    "ORDER BY",
    "LIMIT 10",
    "OFFSET 5",
    "HAVING",
    "DISTINCT",
    "FOR UPDATE",
    "INSERT INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "RETURNING",
    "RETURNING *",
    "ON CONFLICT (id) DO UPDATE SET notes = 'x'",
    "ON DUPLICATE KEY UPDATE notes = 'x'",
    "/* c */",
    "-- c\n",
    "/*! DROP TABLE x */",
    "#c\n",
    "@@version",
    "@x",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SET search_path = x",
    "SET NAMES utf8mb4",
    "EXPLAIN",
    "ANALYZE",
    "DROP TABLE",
    "TRUNCATE",
    "COPY",
    "CALL",
    "DO $$ BEGIN END $$",
    "LATERAL",
    "INTO OUTFILE '/tmp/x'",
    "?",
    "$1",
    "::text",
    "::regclass",
    "CAST(",
    "AS int)",
];

const SEEDS: &[&str] = &[
    "SELECT * FROM reservations r JOIN customers c ON c.id = r.customer_id WHERE r.id = 1",
    "WITH reservations AS (SELECT * FROM reservations) SELECT * FROM reservations",
    "UPDATE reservations SET notes = 'x' WHERE id IN (SELECT id FROM customers)",
    "INSERT INTO reservations (id, notes) VALUES (1, 'a\\'b')",
    "SELECT 1 AS \"a\"\"b\" FROM vehicles WHERE 'x' = $$y$$",
    "SELECT (SELECT ssn FROM customers LIMIT 1), row_to_json(r) FROM reservations r",
    "DELETE FROM reservations WHERE tenant_id = 'other' OR 1=1 RETURNING *",
    "SELECT * FROM vehicles UNION SELECT * FROM reservations; COMMIT; DROP TABLE vehicles",
];

fn claims() -> Claims {
    Claims {
        role: "confined".into(),
        tenant_id: Some("acme".into()),
        exp: i64::MAX / 2,
        iat: 0,
        nbf: 0,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    }
}

fn sql_input() -> impl Strategy<Value = String> {
    let from_fragments =
        prop::collection::vec(prop::sample::select(FRAGMENTS), 1..24).prop_map(|v| v.join(" "));
    let mutated = (
        prop::sample::select(SEEDS),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(FRAGMENTS),
            ),
            0..4,
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(seed, inserts, cut)| {
            let mut words: Vec<String> = seed.split(' ').map(str::to_string).collect();
            for (at, frag) in inserts {
                let i = at.index(words.len() + 1);
                words.insert(i, frag.to_string());
            }
            let keep = cut
                .index(words.len() + 1)
                .max(words.len().saturating_sub(1));
            words.truncate(keep.max(1));
            words.join(" ")
        });
    prop_oneof![4 => from_fragments, 4 => mutated, 1 => ".{0,64}"]
}

fn check(role: &str, dialect: Dialect, sql: &str) -> Result<(), TestCaseError> {
    let cfg = RbacConfig::from_yaml("fuzz.yaml", ROLES).unwrap();
    let mut c = claims();
    c.role = role.to_string();
    let scope = Scope {
        config: &cfg,
        role: cfg.role(role).unwrap(),
        claims: &c,
        dialect,
        database: Some("rental"),
        schema: sluice_policy::Schema::empty(),
    };
    let Ok(first) = authorize(&scope, sql) else {
        return Ok(());
    };
    let evaluates = evaluates_something(dialect, sql);
    for stmt in &first.statements {
        if role == "confined" && evaluates {
            let out = Parser::parse_sql(parser_dialect(dialect), &stmt.sql)
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            for s in &out {
                prop_assert!(
                    !has_unfenced_confined_table(s),
                    "a confined table runs unfenced under an expression not proven leakproof: {sql:?} -> {:?}",
                    stmt.sql
                );
                prop_assert!(
                    !has_unguarded_write_condition(s),
                    "a confined write's condition runs unguarded: {sql:?} -> {:?}",
                    stmt.sql
                );
            }
        }
        let reparsed = Parser::parse_sql(parser_dialect(dialect), &stmt.sql);
        prop_assert!(
            reparsed.is_ok(),
            "output does not re-parse: {sql:?} -> {:?}: {:?}",
            stmt.sql,
            reparsed.err()
        );
        // Rendering is stable: what the output parses to renders to the output again.
        let rerendered: Vec<String> = reparsed.unwrap().iter().map(|s| s.to_string()).collect();
        if !stmt.sql.contains('\'') {
            prop_assert_eq!(
                rerendered.join("; "),
                stmt.sql.clone(),
                "unstable rendering of {:?}",
                sql
            );
        }
        let again = authorize(&scope, &stmt.sql);
        prop_assert!(
            again.is_ok(),
            "output is denied when re-authorized: {sql:?} -> {:?}: {:?}",
            stmt.sql,
            again.err()
        );
        let again = again.unwrap();
        prop_assert_eq!(again.statements.len(), 1);
        prop_assert_eq!(
            &again.statements[0].touches,
            &stmt.touches,
            "{:?} -> {:?}",
            sql,
            stmt.sql
        );
        if role == "open" {
            prop_assert_eq!(
                &again.statements[0].sql,
                &stmt.sql,
                "not a fixpoint for {:?}",
                sql
            );
        }
    }
    Ok(())
}

/// Whether the input holds an expression that evaluates something on a row (anything but a
/// column, a literal, a parameter, parentheses, and count/min/max of a column or `*`).
fn evaluates_something(dialect: Dialect, sql: &str) -> bool {
    use sqlparser::ast::{
        visit_expressions, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    };
    let Ok(stmts) = Parser::parse_sql(parser_dialect(dialect), sql) else {
        return true;
    };
    visit_expressions(&stmts, |e| {
        let plain = match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) | Expr::Nested(_) => true,
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                matches!(name.as_str(), "count" | "min" | "max")
                    && matches!(&f.args, FunctionArguments::List(l) if l.args.iter().all(|a| matches!(
                        a,
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard)
                            | FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(_) | Expr::CompoundIdentifier(_)))
                    )))
            }
            _ => false,
        };
        if plain {
            std::ops::ControlFlow::Continue(())
        } else {
            std::ops::ControlFlow::Break(())
        }
    })
    .is_break()
}

/// A derived table over a confined base table (its WHERE holds the role's filter) without the
/// fence (`OFFSET 0` / `LIMIT 18446744073709551615`).
fn has_unfenced_confined_table(s: &sqlparser::ast::Statement) -> bool {
    use sqlparser::ast::{Query, SetExpr, Visit, Visitor};
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> std::ops::ControlFlow<()> {
            if let SetExpr::Select(sel) = q.body.as_ref() {
                let confined_base = sel.from.len() == 1
                    && sel.from[0].joins.is_empty()
                    && sel
                        .selection
                        .as_ref()
                        .is_some_and(|w| w.to_string().contains("tenant_id = 'acme'"))
                    && {
                        let f = sel.from[0].relation.to_string();
                        f.contains("\"reservations\"")
                            || f.contains("\"customers\"")
                            || f.contains("`reservations`")
                            || f.contains("`customers`")
                    };
                if confined_base && q.limit_clause.is_none() {
                    self.0 = true;
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = s.visit(&mut f);
    f.0
}

/// An UPDATE or DELETE of the confined `reservations` whose WHERE holds more than the role's
/// filter, with no `CASE WHEN` guard.
fn has_unguarded_write_condition(s: &sqlparser::ast::Statement) -> bool {
    use sqlparser::ast::Statement;
    let (target, selection) = match s {
        Statement::Update(u) => (u.table.relation.to_string(), u.selection.as_ref()),
        Statement::Delete(d) => (format!("{d}"), d.selection.as_ref()),
        _ => return false,
    };
    if !target.contains("reservations") {
        return false;
    }
    let Some(w) = selection else { return false };
    let w = w.to_string();
    let more_than_filter = !w.ends_with("tenant_id = 'acme')") || w.matches(" AND ").count() > 0;
    more_than_filter && !w.contains("CASE WHEN")
}

fn parser_dialect(d: Dialect) -> &'static dyn sqlparser::dialect::Dialect {
    match d {
        Dialect::PostgreSql => &sqlparser::dialect::PostgreSqlDialect {},
        Dialect::MySql => &sqlparser::dialect::MySqlDialect {},
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(3000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn postgres_confined(sql in sql_input()) { check("confined", Dialect::PostgreSql, &sql)?; }

    #[test]
    fn mysql_confined(sql in sql_input()) { check("confined", Dialect::MySql, &sql)?; }

    #[test]
    fn postgres_open(sql in sql_input()) { check("open", Dialect::PostgreSql, &sql)?; }

    #[test]
    fn mysql_open(sql in sql_input()) { check("open", Dialect::MySql, &sql)?; }
}

/// Deep nesting is a syntax error, not a stack overflow.
#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let cfg = RbacConfig::from_yaml("fuzz.yaml", ROLES).unwrap();
    let c = claims();
    for dialect in [Dialect::PostgreSql, Dialect::MySql] {
        let scope = Scope {
            config: &cfg,
            role: cfg.role("confined").unwrap(),
            claims: &c,
            dialect,
            database: None,
            schema: sluice_policy::Schema::empty(),
        };
        for depth in [100, 10_000] {
            let sql = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
            assert!(authorize(&scope, &sql).is_err());
            let sql = format!(
                "SELECT * FROM {}reservations{}",
                "(SELECT * FROM ".repeat(depth),
                ") AS x".repeat(depth)
            );
            assert!(authorize(&scope, &sql).is_err());
        }
        let big = format!("SELECT '{}'", "x".repeat(2 << 20));
        assert_eq!(
            authorize(&scope, &big).unwrap_err().rule,
            sluice_policy::Rule::ConstructNotAllowed
        );
    }
}

/// The longest chains the engine accepts (just under its operator bound) are walked, rendered
/// and dropped on a 2 MiB stack, the default of test threads and of tokio's workers, even in a
/// debug build.
#[test]
fn the_longest_accepted_chains_fit_a_small_stack() {
    let n = sluice_policy::MAX_OPERATORS - 10;
    let inputs = [
        format!("SELECT 1{}", "+1".repeat(n)),
        format!(
            "SELECT * FROM vehicles WHERE {}",
            vec!["id = 1"; n / 2].join(" AND ")
        ),
        vec!["SELECT id FROM vehicles"; n / 4].join(" UNION ALL "),
        format!("SELECT {}1", "- ".repeat(n)),
        format!(
            "SELECT * FROM reservations WHERE {}",
            vec!["(id = 1 OR notes LIKE 'x')"; n / 4].join(" AND ")
        ),
    ];
    for dialect in [Dialect::PostgreSql, Dialect::MySql] {
        for sql in inputs.clone() {
            let handle = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let cfg = RbacConfig::from_yaml("fuzz.yaml", ROLES).unwrap();
                    let c = claims();
                    let scope = Scope {
                        config: &cfg,
                        role: cfg.role("confined").unwrap(),
                        claims: &c,
                        dialect,
                        database: None,
                        schema: sluice_policy::Schema::empty(),
                    };
                    let _ = authorize(&scope, &sql);
                })
                .unwrap();
            assert!(handle.join().is_ok());
        }
    }
    let over = format!("SELECT 1{}", "+1".repeat(sluice_policy::MAX_OPERATORS + 1));
    let cfg = RbacConfig::from_yaml("fuzz.yaml", ROLES).unwrap();
    let c = claims();
    let scope = Scope {
        config: &cfg,
        role: cfg.role("confined").unwrap(),
        claims: &c,
        dialect: Dialect::PostgreSql,
        database: None,
        schema: sluice_policy::Schema::empty(),
    };
    assert_eq!(
        authorize(&scope, &over).unwrap_err().rule,
        sluice_policy::Rule::ConstructNotAllowed
    );
}

/// Every minimal failing input the fuzzer has found, kept as fixed cases.
#[test]
fn fuzz_regressions() {
    let found = [
        "WITH reservations AS (SELECT * FROM reservations) SELECT '\\\\' * FROM",
        "DELETE FROM reservations WHERE SELECT = tenant_id = 'other' OR 1=1 RETURNING WHERE",
        "DELETE FROM reservations EXISTS WHERE tenant_id = 'other' OR 1=1 RETURNING WHERE",
        "INSERT INTO reservations (id, notes) VALUES (1, reservations , 'a\\'b')",
        "DELETE FROM reservations NULL WHERE tenant_id = 'other' OR 1=1 RETURNING SELECT",
        "DELETE FROM reservations @@version WHERE tenant_id = 'other' OR 1=1 RETURNING reservations",
        "INSERT INTO reservations (id, notes) SELECT VALUES = (1, 'a\\'b')",
    ];
    for sql in found {
        for role in ["confined", "open"] {
            for dialect in [Dialect::PostgreSql, Dialect::MySql] {
                check(role, dialect, sql)
                    .unwrap_or_else(|e| panic!("{role} {dialect:?} {sql}: {e}"));
            }
        }
    }
}
