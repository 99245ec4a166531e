//! The confinement barrier (gateway rule 4): no expression the client wrote runs on a row outside
//! the token's scope unless it is proven leakproof. With the backend's schema the engine proves
//! plain comparisons leakproof and leaves the planner free; anything else fences every confined
//! table (PostgreSQL `OFFSET 0`, MySQL a LIMIT no table reaches), moves the leakproof conjuncts
//! of a table inside its fence, and guards the conditions of a write with `CASE WHEN (filter)`.
//! Each test here fails on the engine before the barrier (commit 2afdd08), which rendered every
//! statement unfenced and unguarded.

use std::collections::BTreeMap;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, ParameterNeed, Rule, Scope};
use sluice_tokens::Claims;

include!("common/barrier_harness.rs");

const PC: &str = r#"(SELECT "id", "tenant_id", "name", "email" FROM "public"."customers" WHERE (tenant_id = 'acme')"#;
const MC: &str = r#"(SELECT `id`, `tenant_id`, `name`, `email` FROM `rental`.`customers` WHERE (tenant_id = 'acme')"#;

#[test]
fn leakproof_statements_leave_the_planner_free() {
    // Comparisons of typed columns with literals, parameters and each other, IN, BETWEEN,
    // IS NULL, AND/OR/NOT, count/min/max: nothing here can fail, warn or take time on a row.
    for sql in [
        "SELECT id, name FROM customers WHERE id = 5",
        "SELECT id FROM customers WHERE id = $1 AND name <> 'x'",
        "SELECT id FROM customers WHERE id IN (1, 2, 3) OR email IS NULL",
        "SELECT id FROM customers WHERE id BETWEEN 1 AND 9 ORDER BY id LIMIT 20",
        "SELECT count(*), max(name) FROM customers WHERE NOT (id < 3)",
        "SELECT r.id, c.name FROM reservations r JOIN customers c ON c.id = r.customer_id WHERE r.id = 7",
        "SELECT id FROM reservations WHERE starts_on >= '2026-01-01' AND price > 10.5",
    ] {
        let out = pg("reader", sql);
        assert!(!out.contains("OFFSET 0"), "{sql} → {out}");
        assert!(out.contains(PC) || out.contains("lower(tenant_id) = 'acme')"), "{out}");
    }
    let out = my(
        "reader",
        "SELECT id FROM customers WHERE id = 5 AND name = 'x'",
    );
    assert_eq!(
        out,
        format!("SELECT id FROM {MC}) AS customers WHERE id = 5 AND name = 'x'")
    );
    // MySQL: the client types a `?` at execute, and a string against a number converts at
    // the first row met (a warning that says whether any row was scanned). The rendering is
    // unfenced on the condition that the value is a number, which the door checks at each
    // execution; for any other value it runs the fenced fallback.
    let c = my_checked(
        "reader",
        "SELECT id FROM customers WHERE id = ? AND name = 'x'",
    );
    assert_eq!(
        c.sql,
        format!("SELECT id FROM {MC}) AS customers WHERE id = ? AND name = 'x'")
    );
    assert_eq!(c.parameters.order, [0]);
    assert_eq!(c.parameters.needs, [ParameterNeed::Number]);
    let (fallback, order) = *c.parameters.fallback.expect("a fallback");
    assert!(
        fallback.contains("LIMIT 18446744073709551615)"),
        "{fallback}"
    );
    assert_eq!(order, [0]);
    // Nothing confined: nothing to count on, no fallback.
    let c = my_checked("reader", "SELECT id FROM vehicles WHERE id = ?");
    assert!(c.parameters.needs.is_empty() && c.parameters.fallback.is_none());
}

#[test]
fn a_condition_that_can_fail_fences_every_confined_table() {
    // The issue's probes: a cast, a regex with flags from a column, a MySQL cast of a CASE.
    assert_eq!(
        pg("reader", "SELECT id FROM customers WHERE name::bool"),
        format!("SELECT id FROM {PC} OFFSET 0) AS customers WHERE name::BOOL")
    );
    assert_eq!(
        pg(
            "reader",
            "SELECT id FROM customers WHERE regexp_like('a', 'a', name)"
        ),
        format!("SELECT id FROM {PC} OFFSET 0) AS customers WHERE regexp_like('a', 'a', name)")
    );
    assert_eq!(
        my(
            "reader",
            "SELECT id FROM customers WHERE CAST(CASE WHEN name LIKE 'X%' THEN name ELSE '1' END AS SIGNED) = 1"
        ),
        format!("SELECT id FROM {MC} LIMIT 18446744073709551615) AS customers WHERE CAST(CASE WHEN name LIKE 'X%' THEN name ELSE '1' END AS SIGNED) = 1")
    );
    // A number against a text column converts every row in MySQL (a warning per row).
    assert!(my("reader", "SELECT id FROM customers WHERE name = 5")
        .contains("LIMIT 18446744073709551615)"));
    // A MySQL parameter against a text column: the client may bind a number, so the
    // unfenced rendering needs a string and the fenced one takes anything else.
    let c = my_checked("reader", "SELECT id FROM customers WHERE name = ?");
    assert!(!c.sql.contains("LIMIT"), "{}", c.sql);
    assert_eq!(c.parameters.needs, [ParameterNeed::Text]);
    assert!(c
        .parameters
        .fallback
        .expect("a fallback")
        .0
        .contains("LIMIT 18446744073709551615)"));
    // Against a column of no class the proof handles, nothing is counted on: fenced.
    let c = my_checked("reader", "SELECT id FROM customers WHERE name REGEXP ?");
    assert!(c.sql.contains("LIMIT 18446744073709551615)"), "{}", c.sql);
    assert!(c.parameters.fallback.is_none());
    // A renamed column cannot be typed by its new name.
    assert!(pg(
        "reader",
        "SELECT * FROM (SELECT name AS id FROM customers) s WHERE id = 5"
    )
    .contains("OFFSET 0"));
}

#[test]
fn leakproof_conjuncts_move_inside_the_fence_so_indexes_still_serve() {
    assert_eq!(
        pg(
            "reader",
            "SELECT id FROM customers WHERE id = 5 AND name::bool"
        ),
        format!("SELECT id FROM {PC} AND (id = 5) OFFSET 0) AS customers WHERE name::BOOL")
    );
    // Qualified conjuncts move into their own table; a join condition stays above the fences.
    assert_eq!(
        pg(
            "reader",
            "SELECT r.id FROM reservations r JOIN customers c ON c.id = r.customer_id WHERE r.id = 7 AND c.name ~ 'x'"
        ),
        r#"SELECT r.id FROM (SELECT * FROM "public"."reservations" WHERE (lower(tenant_id) = 'acme') AND (id = 7) OFFSET 0) r JOIN (SELECT "id", "tenant_id", "name", "email" FROM "public"."customers" WHERE (tenant_id = 'acme') OFFSET 0) c ON c.id = r.customer_id WHERE c.name ~ (SELECT 'x')"#
    );
    // Never into the nullable side of an outer join, never a hidden column.
    let out = pg(
        "reader",
        "SELECT r.id FROM reservations r LEFT JOIN customers c ON c.id = r.customer_id WHERE c.id IS NULL AND r.notes::int > 0",
    );
    assert!(
        out.contains("WHERE c.id IS NULL AND r.notes::INT > 0"),
        "{out}"
    );
    let out = pg(
        "reader",
        "SELECT id FROM customers WHERE ssn = 'x' AND name::bool",
    );
    assert!(
        out.contains("OFFSET 0) AS customers WHERE ssn = 'x' AND name::BOOL"),
        "{out}"
    );
}

#[test]
fn write_conditions_run_behind_the_filter() {
    assert_eq!(
        pg(
            "writer",
            "UPDATE reservations SET status = 'x' WHERE id = 3 AND notes::bool"
        ),
        r#"UPDATE "public"."reservations" SET status = 'x' WHERE (lower(reservations.tenant_id) = 'acme') AND (id = 3) AND CASE WHEN (lower(reservations.tenant_id) = 'acme') THEN (notes::BOOL) END"#
    );
    assert_eq!(
        my("writer", "DELETE FROM reservations WHERE notes REGEXP '(a+)+$'"),
        "DELETE FROM `rental`.`reservations` WHERE (lower(reservations.tenant_id) = 'acme') AND CASE WHEN (lower(reservations.tenant_id) = 'acme') THEN (notes REGEXP '(a+)+$') END"
    );
    // Leakproof writes keep the plain form.
    assert_eq!(
        pg(
            "writer",
            "UPDATE reservations SET status = 'x' WHERE id = 3"
        ),
        r#"UPDATE "public"."reservations" SET status = 'x' WHERE (lower(reservations.tenant_id) = 'acme') AND (id = 3)"#
    );
}

#[test]
fn without_a_schema_nothing_is_proven() {
    let out = one(run(
        "reader",
        Dialect::PostgreSql,
        false,
        "SELECT id FROM customers WHERE id = 5",
    ));
    assert!(out.contains("OFFSET 0"), "{out}");
}

#[test]
fn explain_needs_the_roles_consent() {
    let d = run(
        "reader",
        Dialect::PostgreSql,
        true,
        "EXPLAIN SELECT * FROM customers",
    )
    .unwrap_err();
    assert_eq!(d.rule, Rule::StatementNotAllowed);
    assert!(d.message.contains("explain: true"), "{}", d.message);
    assert!(pg("planner", "EXPLAIN SELECT * FROM customers").starts_with("EXPLAIN SELECT"));
}

#[test]
fn a_write_references_only_rows_in_scope() {
    let visible = r#"(SELECT "id" FROM (SELECT "id", "name" FROM "public"."customers" WHERE (tenant_id = 'acme')) AS r)"#;
    // PostgreSQL: an integer key refused by a cast whose error quotes what happened.
    let refused = "CAST((SELECT 'sluice: reservations.customer_id must reference a customers row this token can read; nothing was written') AS BIGINT)";
    assert_eq!(
        pg(
            "booker",
            "INSERT INTO reservations (customer_id, status) VALUES (1, 'new'), ($1, 'new')"
        ),
        format!(
            r#"INSERT INTO "public"."reservations" (customer_id, status, "tenant_id") VALUES (CASE WHEN (1) IN {visible} OR (1) IS NULL THEN (1) ELSE {refused} END, 'new', 'acme'), (CASE WHEN ($1) IN {visible} OR ($1) IS NULL THEN ($1) ELSE {refused} END, 'new', 'acme')"#
        )
    );
    let out = pg(
        "booker",
        "UPDATE reservations SET customer_id = 7 WHERE id = 3",
    );
    assert!(
        out.contains(&format!(
            "SET customer_id = CASE WHEN (7) IN {visible} OR (7) IS NULL THEN"
        )),
        "{out}"
    );
    // MySQL writes the client's value once: its `?` are numbered by position.
    let out = my(
        "booker",
        "INSERT INTO reservations (customer_id, status) VALUES (?, ?)",
    );
    assert_eq!(out.matches('?').count(), 2, "{out}");
    assert!(out.contains("FROM (SELECT (?) AS v) AS x"), "{out}");
    assert!(
        out.contains("ELSE (SELECT x.v UNION ALL SELECT x.v) END"),
        "{out}"
    );
    // A role that cannot read customers at all may reference none of them.
    let out = pg(
        "blind_booker",
        "INSERT INTO reservations (customer_id) VALUES (1)",
    );
    assert!(
        out.contains(r#"CASE WHEN (1) IN (SELECT "id" FROM "public"."customers" WHERE false) OR (1) IS NULL THEN (1) ELSE"#),
        "{out}"
    );
    // Columns that are not foreign keys into a confined table are not touched.
    assert!(!pg("booker", "INSERT INTO reservations (vehicle_id) VALUES (1)").contains("CASE"));
    // A form the check cannot follow is refused, not let through.
    let d = run(
        "booker",
        Dialect::PostgreSql,
        true,
        "INSERT INTO reservations (customer_id) SELECT 1 UNION SELECT 2",
    )
    .unwrap_err();
    assert_eq!(d.rule, Rule::WriteNotConfinable);
}

#[test]
fn mysql_parameters_bind_to_their_places_wherever_the_rewrite_moves_them() {
    // `?` are bound by position: when a proven condition holding one moves (out of the guard
    // of a write, into a fenced derived table), the rendering says which of the client's
    // parameters each `?` of its text takes.
    let c = my_checked(
        "writer",
        "UPDATE reservations SET status = ? WHERE notes REGEXP ? AND id = ?",
    );
    assert_eq!(
        c.sql,
        "UPDATE `rental`.`reservations` SET status = ? WHERE (lower(reservations.tenant_id) = 'acme') AND (id = ?) AND CASE WHEN (lower(reservations.tenant_id) = 'acme') THEN (notes REGEXP ?) END"
    );
    assert_eq!(c.parameters.order, [0, 2, 1]);
    assert_eq!(
        c.parameters.needs,
        [
            ParameterNeed::Any,
            ParameterNeed::Any,
            ParameterNeed::Number
        ]
    );
    // For a value that is not a number, `id = ?` is not proven and stays behind the guard.
    let (fallback, order) = *c.parameters.fallback.expect("a fallback");
    assert_eq!(
        fallback,
        "UPDATE `rental`.`reservations` SET status = ? WHERE (lower(reservations.tenant_id) = 'acme') AND CASE WHEN (lower(reservations.tenant_id) = 'acme') THEN (notes REGEXP ? AND id = ?) END"
    );
    assert_eq!(order, [0, 1, 2]);
    // A conjunct moved into the first table's fence comes before a join condition's `?`.
    let c = my_checked(
        "reader",
        "SELECT c.id FROM customers c JOIN reservations r ON r.customer_id = c.id AND r.status = ? WHERE c.id = ? AND c.name REGEXP 'x'",
    );
    assert!(
        c.sql
            .contains("AND (id = ?) LIMIT 18446744073709551615) c JOIN"),
        "{}",
        c.sql
    );
    assert!(c.sql.contains("r.status = ?"), "{}", c.sql);
    assert_eq!(c.parameters.order, [1, 0]);
    let (fallback, order) = *c.parameters.fallback.expect("a fallback");
    assert!(
        fallback.contains("r.status = ? WHERE c.id = ?"),
        "{fallback}"
    );
    assert_eq!(order, [0, 1]);
    // Literal text that looks like a numbered parameter is refused before parsing.
    assert!(run("reader", Dialect::MySql, true, "SELECT '__sluice_p0__'").is_err());
    // On PostgreSQL `$n` can move, so the proven part stays a plain condition.
    let out = pg(
        "writer",
        "UPDATE reservations SET status = $1 WHERE notes ~ $2 AND id = $3",
    );
    assert!(out.contains("AND (id = $3) AND CASE WHEN"), "{out}");
}
