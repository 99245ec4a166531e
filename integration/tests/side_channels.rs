//! Side channels through the row filter (gateway.md, threat catalogue: "Side channels"): a
//! confined table must be a barrier, so that no client expression that can fail, warn or take
//! data-dependent time runs on another tenant's row.
//!
//! Every probe is run twice by an acme token, once with SQL that is true (or fails) on globex's
//! data and once with SQL that is false (or harmless), through every door that accepts SQL
//! (PostgreSQL simple and extended protocol, MySQL text and prepared protocol, the MCP `query`
//! tool on both engines), for every row-filter shape of `side_channel::SHAPES` (one role each).
//! The client must see the same thing both times: the same success or failure, error code and
//! text (PostgreSQL detail, hint and context included), rows, row counts, notices, MySQL warning
//! count and info string; the true run may not take a second longer; and no globex value may
//! appear in anything the client sees. A write must leave the database as it was (read directly
//! after every write case; restored if it changed). `What` names the channel a case aims at;
//! every case is checked on all of them. The catastrophic-regex probes, which take seconds when
//! they leak, run through one door (and the planner-statistics one for one shape).
//!
//! The fixtures (schema, canaries, roles, door clients) are in `integration/src/side_channel.rs`.
//! The test collects every failure (case × door × shape) and fails once at the end, after
//! printing a summary (`--nocapture` shows it on success too). `SLUICE_SIDE_ONLY=<part of a case
//! name>` runs only matching cases.

use std::time::Duration;

use sluice_integration::side_channel::{
    canaries_in, Agent, Bind, Door, Engine, Observed, Seen, Site, SHAPES,
};
use sluice_integration::{shared_mariadb, shared_pg};

/// The channel a case aims at (all are checked).
#[derive(Clone, Copy)]
enum What {
    /// An error, or its text quoting a value.
    Error,
    /// The MySQL warning count.
    Warnings,
    /// The MySQL UPDATE info string.
    Info,
    /// Rows and row counts.
    Rows,
    /// A write through a foreign key to another tenant's row.
    ForeignKey,
    /// Run time.
    Timing,
    /// EXPLAIN (refusing it passes). The true run's literal is replaced by the false run's
    /// before comparing, as the plan quotes it.
    Plan(&'static str, &'static str),
}

struct Case {
    name: &'static str,
    engine: Engine,
    /// `None`: every door of the engine.
    doors: Option<&'static [Door]>,
    /// `None`: every shape.
    shapes: Option<&'static [&'static str]>,
    what: What,
    /// True on (or failing on) globex's rows.
    yes: &'static str,
    /// False everywhere (or harmless).
    no: &'static str,
    writes: bool,
    /// Values bound to the `?`s of both runs (MySQL prepared statements only).
    binds: &'static [Bind],
}

/// Longest a true run may take beyond the false run.
const SLOWER: Duration = Duration::from_secs(1);

const fn pg(name: &'static str, what: What, yes: &'static str, no: &'static str) -> Case {
    Case {
        name,
        engine: Engine::Pg,
        doors: None,
        shapes: None,
        what,
        yes,
        no,
        writes: false,
        binds: &[],
    }
}

const fn my(name: &'static str, what: What, yes: &'static str, no: &'static str) -> Case {
    Case {
        name,
        engine: Engine::My,
        doors: None,
        shapes: None,
        what,
        yes,
        no,
        writes: false,
        binds: &[],
    }
}

impl Case {
    const fn writing(mut self) -> Case {
        self.writes = true;
        self
    }

    const fn through(mut self, doors: &'static [Door]) -> Case {
        self.doors = Some(doors);
        self
    }

    /// Runs through MySQL prepared statements with `binds` bound.
    const fn bound(mut self, binds: &'static [Bind]) -> Case {
        self.binds = binds;
        self.doors = Some(&[Door::MyPrepared]);
        self
    }

    const fn only(mut self, shapes: &'static [&'static str]) -> Case {
        self.shapes = Some(shapes);
        self
    }
}

/// Customer 11 (`Gxyzzy Canary`) is globex's only G name; globex's notes and emails fail every
/// cast, customer 12's notes are an invalid regex; acme's notes, emails and every `memo` are
/// NULL. PostgreSQL orders a scan's conditions by estimated cost (ties keep their order, and a
/// filter that is an equality with a constant is appended last), so each family has a probe as
/// cheap as one function call where one exists.
fn cases() -> Vec<Case> {
    use What::*;
    vec![
        // ---- PostgreSQL: errors that quote a value, or error-or-not ---------------------------
        pg("pg/regexp_like flags from a column", Error,
            "SELECT id FROM customers WHERE regexp_like('a', 'a', notes)",
            "SELECT id FROM customers WHERE regexp_like('a', 'a', memo)"),
        pg("pg/regexp_like flags from a guarded column", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND regexp_like('a', 'a', name)",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND regexp_like('a', 'a', name)"),
        pg("pg/~ pattern from a column", Error,
            "SELECT id FROM customers WHERE 'a' ~ notes",
            "SELECT id FROM customers WHERE 'a' ~ memo"),
        pg("pg/~ pattern built from a guarded column", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND 'a' ~ (name || '(')",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND 'a' ~ (name || '(')"),
        pg("pg/::bool", Error,
            "SELECT id FROM customers WHERE notes::bool",
            "SELECT id FROM customers WHERE memo::bool"),
        pg("pg/::bool guarded by LIKE", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND name::bool",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND name::bool"),
        pg("pg/::inet", Error,
            "SELECT count(*) FROM customers WHERE email::inet IS NOT NULL",
            "SELECT count(*) FROM customers WHERE memo::inet IS NOT NULL"),
        pg("pg/::numeric", Error,
            "SELECT id FROM customers WHERE notes::numeric IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE memo::numeric IS NULL ORDER BY id"),
        pg("pg/::date", Error,
            "SELECT id FROM customers WHERE notes::date IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE memo::date IS NULL ORDER BY id"),
        pg("pg/::json", Error,
            "SELECT id FROM customers WHERE notes::json IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE memo::json IS NULL ORDER BY id"),
        pg("pg/::json guarded by LIKE", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND name::json IS NULL",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND name::json IS NULL"),
        pg("pg/::int[]", Error,
            "SELECT id FROM customers WHERE notes::int[] IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE memo::int[] IS NULL ORDER BY id"),
        pg("pg/('{'||name||'}')::int[]", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND ('{' || name || '}')::int[] IS NULL",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND ('{' || name || '}')::int[] IS NULL"),
        pg("pg/bigint overflow", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND 9223372036854775807 + id > 0",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND 9223372036854775807 + id > 0"),
        pg("pg/bigint overflow under CASE", Error,
            "SELECT id FROM customers WHERE CASE WHEN name LIKE 'G%' THEN 9223372036854775807 + id ELSE 0 END > 0",
            "SELECT id FROM customers WHERE CASE WHEN name LIKE 'Q%' THEN 9223372036854775807 + id ELSE 0 END > 0"),
        pg("pg/division by zero", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND id / 0 > 0",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND id / 0 > 0"),
        pg("pg/division by zero under CASE", Error,
            "SELECT id FROM customers WHERE 1 / CASE WHEN name LIKE 'G%' THEN 0 ELSE 1 END = 1 ORDER BY id",
            "SELECT id FROM customers WHERE 1 / CASE WHEN name LIKE 'Q%' THEN 0 ELSE 1 END = 1 ORDER BY id"),
        // ---- PostgreSQL: other positions ----------------------------------------------------
        pg("pg/JOIN ... ON", Error,
            "SELECT r.id FROM reservations r JOIN customers c ON c.id = r.customer_id AND regexp_like('a', 'a', c.notes)",
            "SELECT r.id FROM reservations r JOIN customers c ON c.id = r.customer_id AND regexp_like('a', 'a', c.memo)"),
        pg("pg/IN (subquery)", Error,
            "SELECT count(*) FROM reservations WHERE customer_id IN (SELECT id FROM customers WHERE regexp_like('a', 'a', notes))",
            "SELECT count(*) FROM reservations WHERE customer_id IN (SELECT id FROM customers WHERE regexp_like('a', 'a', memo))"),
        pg("pg/EXISTS", Error,
            "SELECT EXISTS (SELECT 1 FROM customers WHERE name LIKE 'G%' AND name::bool)",
            "SELECT EXISTS (SELECT 1 FROM customers WHERE name LIKE 'Q%' AND name::bool)"),
        pg("pg/CTE", Error,
            "WITH c AS (SELECT id, notes, memo FROM customers) SELECT id FROM c WHERE regexp_like('a', 'a', notes)",
            "WITH c AS (SELECT id, notes, memo FROM customers) SELECT id FROM c WHERE regexp_like('a', 'a', memo)"),
        pg("pg/UNION", Error,
            "SELECT id FROM customers WHERE regexp_like('a', 'a', notes) UNION ALL SELECT 0",
            "SELECT id FROM customers WHERE regexp_like('a', 'a', memo) UNION ALL SELECT 0"),
        pg("pg/UPDATE ... WHERE", Error,
            "UPDATE reservations SET status = status WHERE regexp_like('a', 'a', notes)",
            "UPDATE reservations SET status = status WHERE regexp_like('a', 'a', memo)").writing(),
        pg("pg/UPDATE ... WHERE (subquery)", Error,
            "UPDATE reservations SET status = status WHERE customer_id IN (SELECT id FROM customers WHERE regexp_like('a', 'a', notes))",
            "UPDATE reservations SET status = status WHERE customer_id IN (SELECT id FROM customers WHERE regexp_like('a', 'a', memo))").writing(),
        pg("pg/INSERT ... SELECT", Error,
            "INSERT INTO visits (customer_id, code) SELECT id, 'x' FROM customers WHERE regexp_like('a', 'a', notes)",
            "INSERT INTO visits (customer_id, code) SELECT id, 'x' FROM customers WHERE regexp_like('a', 'a', memo)").writing(),
        // ---- PostgreSQL: counts, plans, foreign keys, time ----------------------------------
        pg("pg/row count", Rows,
            "SELECT count(*) FROM customers WHERE name LIKE 'G%'",
            "SELECT count(*) FROM customers WHERE name LIKE 'Q%'"),
        pg("pg/UPDATE row count", Rows,
            "UPDATE reservations SET status = status WHERE customer_id = 11",
            "UPDATE reservations SET status = status WHERE customer_id = 999").writing(),
        pg("pg/EXPLAIN estimates", Plan("'Gxyzzy-hold'", "'Qxyzzy-hold'"),
            "EXPLAIN SELECT id FROM reservations WHERE status = 'Gxyzzy-hold'",
            "EXPLAIN SELECT id FROM reservations WHERE status = 'Qxyzzy-hold'"),
        pg("pg/INSERT referencing another tenant's row", ForeignKey,
            "INSERT INTO visits (customer_id, code) VALUES (11, 'x')",
            "INSERT INTO visits (customer_id, code) VALUES (999, 'x')").writing(),
        pg("pg/UPDATE referencing another tenant's row", ForeignKey,
            "UPDATE reservations SET customer_id = 11 WHERE id = 1",
            "UPDATE reservations SET customer_id = 999 WHERE id = 1").writing(),
        pg("pg/catastrophic regex", Timing,
            r"SELECT count(*) FROM customers WHERE regexp_like(notes, '^G[a-z]{5}(a+)(a+)\1\2\1\2$')",
            r"SELECT count(*) FROM customers WHERE regexp_like(notes, '^Q[a-z]{5}(a+)(a+)\1\2\1\2$')")
            .through(&[Door::PgSimple]),
        // The planner estimates `~` by matching the pattern against the column's most common
        // values, globex's too, whatever the plan then evaluates (`id < 0` comes first, so no
        // row is matched). The shape does not matter: one shape.
        pg("pg/catastrophic regex against planner statistics", Timing,
            r"SELECT count(*) FROM reservations WHERE id < 0 AND notes ~ '^G[a-z]{5}(a+)(a+)\1\2\1\2$'",
            r"SELECT count(*) FROM reservations WHERE id < 0 AND notes ~ '^Q[a-z]{5}(a+)(a+)\1\2\1\2$'")
            .through(&[Door::PgSimple])
            .only(&["eq"]),
        // ---- MariaDB: bound values of another kind than the column's --------------------------
        // The engine proves `col = ?` leakproof on the condition that the value is of the
        // column's kind; a string bound against a number (or a number against text) converts
        // per row, with a warning for each row it cannot convert. The door must notice and run
        // the fenced rendering.
        my("my/bound string against a number column", Warnings,
            "SELECT id FROM customers WHERE name = 'Gxyzzy Canary' AND id > ?",
            "SELECT id FROM customers WHERE name = 'Qxyzzy Nobody' AND id > ?")
            .bound(&[Bind::Str("abc")]),
        my("my/bound number against a text column", Warnings,
            "SELECT id FROM customers WHERE name = 'Gxyzzy Canary' AND email = ?",
            "SELECT id FROM customers WHERE name = 'Qxyzzy Nobody' AND email = ?")
            .bound(&[Bind::Int(0)]),
        my("my/bound double against a text column, moved into a fence", Warnings,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND email = ?",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND email = ?")
            .bound(&[Bind::Double(0.5)]),
        my("my/bound integer as a string, moved into a fence", Warnings,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND id = ? AND CAST(notes AS SIGNED) = 0",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND id = ? AND CAST(notes AS SIGNED) = 0")
            .bound(&[Bind::Str("11")]),
        // A plain number in a string converts without a warning: proven, left unfenced.
        my("my/plain number in a string against a number column", Warnings,
            "SELECT id FROM customers WHERE name = 'Gxyzzy Canary' AND id > '-5' AND id IN ('1', 2.5)",
            "SELECT id FROM customers WHERE name = 'Qxyzzy Nobody' AND id > '-5' AND id IN ('1', 2.5)"),
        // ---- MariaDB: warnings and errors ---------------------------------------------------
        my("my/CAST AS SIGNED", Warnings,
            "SELECT id FROM customers WHERE CAST(notes AS SIGNED) = 0",
            "SELECT id FROM customers WHERE CAST(memo AS SIGNED) = 0"),
        my("my/CAST AS SIGNED guarded by LIKE", Warnings,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND CAST(name AS SIGNED) = 0",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND CAST(name AS SIGNED) = 0"),
        my("my/CAST AS DATE", Warnings,
            "SELECT id FROM customers WHERE CAST(notes AS DATE) IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE CAST(memo AS DATE) IS NULL ORDER BY id"),
        my("my/STR_TO_DATE", Warnings,
            "SELECT id FROM customers WHERE STR_TO_DATE(notes, '%Y-%m-%d') IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE STR_TO_DATE(memo, '%Y-%m-%d') IS NULL ORDER BY id"),
        my("my/JSON_EXTRACT", Warnings,
            "SELECT id FROM customers WHERE JSON_EXTRACT(notes, '$.a') IS NULL ORDER BY id",
            "SELECT id FROM customers WHERE JSON_EXTRACT(memo, '$.a') IS NULL ORDER BY id"),
        my("my/REGEXP pattern from a column", Error,
            "SELECT id FROM customers WHERE 'a' REGEXP notes",
            "SELECT id FROM customers WHERE 'a' REGEXP memo"),
        my("my/BIGINT overflow", Error,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND 9223372036854775807 + id > 0",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND 9223372036854775807 + id > 0"),
        my("my/BIGINT overflow under CASE", Error,
            "SELECT id FROM customers WHERE CASE WHEN name LIKE 'G%' THEN 9223372036854775807 + id ELSE 0 END > 0",
            "SELECT id FROM customers WHERE CASE WHEN name LIKE 'Q%' THEN 9223372036854775807 + id ELSE 0 END > 0"),
        my("my/division by zero", Warnings,
            "SELECT id FROM customers WHERE name LIKE 'G%' AND id / 0 = 1",
            "SELECT id FROM customers WHERE name LIKE 'Q%' AND id / 0 = 1"),
        my("my/division by zero under CASE", Warnings,
            "SELECT id FROM customers WHERE CASE WHEN name LIKE 'G%' THEN id / 0 ELSE 1 END = 1 ORDER BY id",
            "SELECT id FROM customers WHERE CASE WHEN name LIKE 'Q%' THEN id / 0 ELSE 1 END = 1 ORDER BY id"),
        // ---- MariaDB: other positions -------------------------------------------------------
        my("my/JOIN ... ON", Warnings,
            "SELECT r.id FROM reservations r JOIN customers c ON c.id = r.customer_id AND CAST(c.notes AS SIGNED) = 0",
            "SELECT r.id FROM reservations r JOIN customers c ON c.id = r.customer_id AND CAST(c.memo AS SIGNED) = 0"),
        my("my/IN (subquery)", Warnings,
            "SELECT count(*) FROM reservations WHERE customer_id IN (SELECT id FROM customers WHERE CAST(notes AS SIGNED) = 0)",
            "SELECT count(*) FROM reservations WHERE customer_id IN (SELECT id FROM customers WHERE CAST(memo AS SIGNED) = 0)"),
        my("my/CTE", Warnings,
            "WITH c AS (SELECT id, notes, memo FROM customers) SELECT id FROM c WHERE CAST(notes AS SIGNED) = 0",
            "WITH c AS (SELECT id, notes, memo FROM customers) SELECT id FROM c WHERE CAST(memo AS SIGNED) = 0"),
        my("my/UNION", Warnings,
            "SELECT id FROM customers WHERE CAST(notes AS SIGNED) = 0 UNION ALL SELECT 0",
            "SELECT id FROM customers WHERE CAST(memo AS SIGNED) = 0 UNION ALL SELECT 0"),
        my("my/INSERT ... SELECT (strict mode)", Error,
            "INSERT INTO visits (customer_id, code) SELECT id, 'x' FROM customers WHERE CAST(notes AS SIGNED) = 0",
            "INSERT INTO visits (customer_id, code) SELECT id, 'x' FROM customers WHERE CAST(memo AS SIGNED) = 0").writing(),
        my("my/INSERT ... SELECT date (strict mode)", Error,
            "INSERT INTO visits (customer_id, code) SELECT id, 'x' FROM customers WHERE STR_TO_DATE(notes, '%Y-%m-%d') IS NOT NULL",
            "INSERT INTO visits (customer_id, code) SELECT id, 'x' FROM customers WHERE STR_TO_DATE(memo, '%Y-%m-%d') IS NOT NULL").writing(),
        my("my/UPDATE ... WHERE", Error,
            "UPDATE reservations SET status = status WHERE CAST(notes AS SIGNED) = 0",
            "UPDATE reservations SET status = status WHERE CAST(memo AS SIGNED) = 0").writing(),
        // `id + 0`: not an index lookup per outer row (MariaDB's unique_subquery reads only the
        // ids the outer rows ask for), so the subquery scans customers.
        my("my/UPDATE ... WHERE (subquery, strict mode)", Error,
            "UPDATE reservations SET status = status WHERE customer_id IN (SELECT id + 0 FROM customers WHERE CAST(notes AS SIGNED) = 0)",
            "UPDATE reservations SET status = status WHERE customer_id IN (SELECT id + 0 FROM customers WHERE CAST(memo AS SIGNED) = 0)").writing(),
        my("my/UPDATE info string warnings", Info,
            "UPDATE reservations SET status = status WHERE (SELECT count(*) FROM customers WHERE CAST(notes AS CHAR(2)) = 'x') > 0",
            "UPDATE reservations SET status = status WHERE (SELECT count(*) FROM customers WHERE CAST(memo AS CHAR(2)) = 'x') > 0").writing(),
        my("my/UPDATE ... WHERE EXISTS", Info,
            "UPDATE reservations SET status = status WHERE EXISTS (SELECT 1 FROM customers WHERE CAST(notes AS SIGNED) = 0)",
            "UPDATE reservations SET status = status WHERE EXISTS (SELECT 1 FROM customers WHERE CAST(memo AS SIGNED) = 0)").writing(),
        my("my/UPDATE ... JOIN", Error,
            "UPDATE reservations r JOIN customers c ON c.id = r.customer_id SET r.status = r.status WHERE CAST(c.notes AS SIGNED) = 0",
            "UPDATE reservations r JOIN customers c ON c.id = r.customer_id SET r.status = r.status WHERE CAST(c.memo AS SIGNED) = 0").writing(),
        // Red team: an IN list that mixes a number and a string is proven leakproof (each item
        // alone fits an integer column), but MariaDB then compares every row as a number and
        // converts the string once per row scanned, with a warning each time, before the filter.
        // Red team: a string literal against an integer column is proven leakproof ("converted
        // once"), but MariaDB converts it lazily, at the first row the comparison meets: the
        // warning count says whether the scan met any row, another tenant's included.
        my("my/redteam string literal against an integer column (id range)", Warnings,
            "SELECT id FROM reservations WHERE id BETWEEN 11 AND 20 AND tenant_no = 'x'",
            "SELECT id FROM reservations WHERE id BETWEEN 500 AND 510 AND tenant_no = 'x'"),
        my("my/redteam string literal against an integer column (indexed value)", Warnings,
            "SELECT id FROM reservations WHERE status = 'Gxyzzy-hold' AND tenant_no = 'x'",
            "SELECT id FROM reservations WHERE status = 'Qxyzzy-hold' AND tenant_no = 'x'"),
        my("my/redteam IN list mixing a number and a string (id range)", Warnings,
            "SELECT id FROM customers WHERE id BETWEEN 11 AND 13 AND id IN (0, 'x')",
            "SELECT id FROM customers WHERE id BETWEEN 14 AND 16 AND id IN (0, 'x')"),
        my("my/redteam IN list mixing a number and a string (indexed value)", Warnings,
            "SELECT id FROM reservations WHERE status = 'Gxyzzy-hold' AND id IN (0, 'x')",
            "SELECT id FROM reservations WHERE status = 'Qxyzzy-hold' AND id IN (0, 'x')"),
        // ---- MariaDB: counts, plans, foreign keys, time -------------------------------------
        my("my/row count", Rows,
            "SELECT count(*) FROM customers WHERE name LIKE 'G%'",
            "SELECT count(*) FROM customers WHERE name LIKE 'Q%'"),
        my("my/UPDATE row count", Info,
            "UPDATE reservations SET status = status WHERE customer_id = 11",
            "UPDATE reservations SET status = status WHERE customer_id = 999").writing(),
        my("my/EXPLAIN estimates", Plan("'Gxyzzy-hold'", "'Qxyzzy-hold'"),
            "EXPLAIN SELECT id FROM reservations WHERE status = 'Gxyzzy-hold'",
            "EXPLAIN SELECT id FROM reservations WHERE status = 'Qxyzzy-hold'"),
        my("my/INSERT referencing another tenant's row", ForeignKey,
            "INSERT INTO visits (customer_id, code) VALUES (11, 'x')",
            "INSERT INTO visits (customer_id, code) VALUES (999, 'x')").writing(),
        my("my/UPDATE referencing another tenant's row", ForeignKey,
            "UPDATE reservations SET customer_id = 11 WHERE id = 1",
            "UPDATE reservations SET customer_id = 999 WHERE id = 1").writing(),
        my("my/catastrophic regex", Timing,
            r"SELECT count(*) FROM customers WHERE notes REGEXP '^G[a-z]{5}(a+)(a+)\\1\\2\\1\\2$'",
            r"SELECT count(*) FROM customers WHERE notes REGEXP '^Q[a-z]{5}(a+)(a+)\\1\\2\\1\\2$'")
            .through(&[Door::MyText]),
    ]
}

/// What differs between the two runs, which canaries either showed, and whether the true run
/// took longer.
fn problems(case: &Case, yes: &Observed, no: &Observed) -> Vec<String> {
    let mut y = yes.seen.clone();
    if let What::Plan(from, to) = case.what {
        for v in y.rows.iter_mut().flatten() {
            *v = v.replace(from, to);
        }
    }
    let n = &no.seen;
    let fields = [
        (
            "outcome",
            format!("{:?}", y.error),
            format!("{:?}", n.error),
        ),
        ("rows", format!("{:?}", y.rows), format!("{:?}", n.rows)),
        (
            "row count",
            format!("{:?}", y.affected),
            format!("{:?}", n.affected),
        ),
        (
            "warnings",
            format!("{:?}", y.warnings),
            format!("{:?}", n.warnings),
        ),
        ("info", format!("{:?}", y.info), format!("{:?}", n.info)),
        (
            "notices",
            format!("{:?}", y.notices),
            format!("{:?}", n.notices),
        ),
    ];
    let mut out: Vec<String> = fields
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(field, a, b)| format!("{field}: true run {}; false run {}", cut(&a), cut(&b)))
        .collect();
    for (run, seen, sql) in [("true", &yes.seen, case.yes), ("false", &no.seen, case.no)] {
        let found = canaries_in(seen, sql);
        if !found.is_empty() {
            out.push(format!(
                "{run} run shows {found:?}: {}",
                cut(&format!("{seen:?}"))
            ));
        }
    }
    if yes.elapsed > no.elapsed + SLOWER {
        out.push(format!(
            "timing: true run {:?}, false run {:?}",
            yes.elapsed, no.elapsed
        ));
    }
    out
}

fn cut(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn denied(seen: &Seen) -> bool {
    seen.error
        .as_deref()
        .is_some_and(|e| e.contains("[sluice: "))
}

#[derive(Default)]
struct Tally {
    checks: usize,
    /// Checks whose two runs the engine both denied.
    denied: usize,
    /// `case [door, shape]` and what went wrong.
    failures: Vec<(String, Vec<String>)>,
}

async fn run_engine(site: &Site, cases: &[&Case], tally: &mut Tally) {
    let verbose = std::env::var_os("SLUICE_SIDE_VERBOSE").is_some();
    let baseline = site.contents().await.expect("read the seeded tables");
    for shape in SHAPES {
        let mut agent = Agent::connect(site, shape).await.unwrap_or_else(|e| {
            panic!(
                "{:?}: cannot connect as shape_{}: {e:#}",
                site.engine, shape.name
            )
        });
        for case in cases {
            if case.shapes.is_some_and(|s| !s.contains(&shape.name)) {
                continue;
            }
            for &door in case.doors.unwrap_or(Door::all(site.engine)) {
                let check = format!("{} [{door:?}, {}]", case.name, shape.name);
                // The false run first: a cold cache slows the first run, never the true one.
                let no = agent.run_bound(door, case.no, case.binds).await;
                let yes = agent.run_bound(door, case.yes, case.binds).await;
                if verbose {
                    println!(
                        "{check} false: {} ({:?}) | true: {} ({:?})",
                        cut(&format!("{:?}", no.seen)),
                        no.elapsed,
                        cut(&format!("{:?}", yes.seen)),
                        yes.elapsed
                    );
                }
                tally.checks += 1;
                if denied(&yes.seen) && denied(&no.seen) {
                    tally.denied += 1;
                }
                let mut found = problems(case, &yes, &no);
                if case.writes && site.contents().await.expect("read the tables") != baseline {
                    found.push("the database changed".into());
                    site.reseed().expect("restore the seeded rows");
                }
                if !found.is_empty() {
                    tally.failures.push((check, found));
                }
            }
        }
    }
}

#[test]
fn a_probe_sees_the_same_whether_or_not_another_tenants_rows_match() {
    let only = std::env::var("SLUICE_SIDE_ONLY").ok();
    let cases = cases();
    for c in &cases {
        assert_ne!(c.yes, c.no, "{}: the two runs must differ", c.name);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut tally = Tally::default();
    let mut probes = 0;
    for engine in [Engine::Pg, Engine::My] {
        let selected: Vec<&Case> = cases
            .iter()
            .filter(|c| c.engine == engine)
            .filter(|c| only.as_deref().is_none_or(|o| c.name.contains(o)))
            .collect();
        if selected.is_empty() {
            continue;
        }
        probes += selected.len();
        let site = match engine {
            Engine::Pg => Site::start_pg(shared_pg()),
            Engine::My => Site::start_mariadb(shared_mariadb()),
        }
        .unwrap_or_else(|e| panic!("{engine:?}: cannot start the site: {e:#}"));
        runtime.block_on(run_engine(&site, &selected, &mut tally));
    }
    for (check, found) in &tally.failures {
        println!("{check}:");
        for f in found {
            println!("    {f}");
        }
    }
    // One line per probe: where it fails.
    let mut by_probe: Vec<(&str, Vec<&str>)> = Vec::new();
    for (check, _) in &tally.failures {
        let (name, at) = check.split_once(" [").unwrap_or((check, ""));
        let at = at.trim_end_matches(']');
        match by_probe.iter_mut().find(|(n, _)| *n == name) {
            Some((_, ats)) => ats.push(at),
            None => by_probe.push((name, vec![at])),
        }
    }
    println!(
        "side-channel suite: {} cases, {} failing ({probes} probes × doors × filter shapes; {} \
         cases denied by the engine in both runs)",
        tally.checks,
        tally.failures.len(),
        tally.denied
    );
    for (name, ats) in &by_probe {
        println!("  FAIL {name} ({}): {}", ats.len(), ats.join("; "));
    }
    assert!(
        tally.failures.is_empty(),
        "{} of {} side-channel cases failing (see above)",
        tally.failures.len(),
        tally.checks
    );
}
