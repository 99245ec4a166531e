// The cases of adversarial3.rs with their role file and role names. Pulled in with `include!`
// by adversarial3.rs and by the PostgreSQL-door suite integration/tests/pg_adversarial.rs
// (which runs the PostgreSQL cases through the gateway against a real database), after
// common/adversarial_harness.rs (its macros and builders; it reads `ROLES` and `ROLES_FILE`).

const ROLES: &str = include_str!("../fixtures/adversarial3_roles.yaml");

const RO: &str = "agent_readonly";
const ED: &str = "agent_editor";
const SLUG: &str = "agent_slug";
const FLEET: &str = "agent_fleet";

const ROLES_FILE: &str = "adversarial3_roles.yaml";

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/// PostgreSQL 18 gives RETURNING two pseudo-relations, `old` and `new`, that name the write's
/// target row before and after the change. The guard treats any qualifier other than the
/// target's alias as "another table" and lets `old.<hidden>` through.
fn pseudo_relations() -> Vec<Case> {
    vec![
        // BUG (high on PostgreSQL >= 18): `old.price` is the target's hidden column. PG 15
        // (verified here) rejects it ("missing FROM-clause entry for table old"); PG 18 returns
        // the value, so agent_fleet reads every vehicle's hidden price with a no-op UPDATE.
        pg("pg18_update_returning_old_hidden", FLEET,
            "UPDATE vehicles v SET model = model RETURNING old.price",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (high on PG >= 18): same through `new`.
        pg("pg18_update_returning_new_hidden", FLEET,
            "UPDATE vehicles SET model = model RETURNING new.price",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (high on PG >= 18): DELETE … RETURNING old.<hidden>.
        pg("pg18_delete_returning_old_hidden", FLEET,
            "DELETE FROM vehicles WHERE id = 1 RETURNING old.price",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (high on PG >= 18): an upsert that hits an existing row returns its hidden column.
        pg("pg18_upsert_returning_old_hidden", FLEET,
            "INSERT INTO vehicles (id, model) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET model = 'y' RETURNING old.price",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (high on PG >= 18): inside a scalar subquery of RETURNING.
        pg("pg18_returning_subquery_old_hidden", FLEET,
            "UPDATE vehicles SET model = model RETURNING (SELECT old.price)",
            Deny(Rule::ColumnNotGranted)).bug(),
        // Guards that hold: bare `old` (whole row) and `old.*` are refused.
        pg("pg18_returning_old_whole_row", FLEET,
            "UPDATE vehicles v SET model = 'x' RETURNING to_json(old)", Deny(Rule::ColumnNotGranted)),
        pg("pg18_returning_old_star", FLEET,
            "UPDATE vehicles v SET model = 'x' RETURNING old.*", Deny(Rule::ColumnNotGranted)),
        // BUG (low): `excluded` is the proposed row, which holds the hidden columns' DEFAULTs and
        // whatever BEFORE INSERT triggers put there. Verified on PG 15: with `price DEFAULT 41000`
        // and a trigger setting `secret`, the rewrite copied "from-trigger/41000" into `model`.
        pg("pg_excluded_hidden_column", FLEET,
            "INSERT INTO vehicles (id, model) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET model = excluded.price",
            Deny(Rule::ColumnNotGranted)).bug(),
        // The conflict target's index predicate only picks an arbiter index; it reads no row.
        pg("pg_on_conflict_index_predicate_ok", FLEET,
            "INSERT INTO vehicles (id, model) VALUES (1, 'x') ON CONFLICT (id) WHERE price > 0 DO NOTHING",
            Sql(r#"INSERT INTO "public"."vehicles" (id, model) VALUES (1, 'x') ON CONFLICT(id) WHERE price > 0 DO NOTHING"#)),
        // A target alias spelled like a readable column: PostgreSQL binds the column first, so
        // `to_json(model)` is the column, not the whole row (safe as long as the role file lists
        // only columns that exist).
        pg("pg_alias_named_like_column_binds_column", FLEET,
            "UPDATE vehicles AS model SET model = 'x' RETURNING to_json(model)",
            Sql(r#"UPDATE "public"."vehicles" AS model SET model = 'x' RETURNING to_json(model)"#)),
    ]
}

/// Window functions, ORDER BY, GROUP BY and named windows that name the write target.
fn write_guard_clauses() -> Vec<Case> {
    vec![
        pg("pg_returning_window_partition_hidden", FLEET,
            "UPDATE vehicles v SET model = 'x' RETURNING (SELECT count(*) OVER (PARTITION BY price))",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_returning_group_by_outer_hidden", FLEET,
            "UPDATE vehicles v SET model = 'x' RETURNING (SELECT 1 FROM vehicles w GROUP BY v.price)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_returning_agg_order_by_outer_hidden", FLEET,
            "UPDATE vehicles v SET model = 'x' RETURNING (SELECT string_agg(w.model, ',' ORDER BY v.price) FROM vehicles w)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_where_named_window_outer_hidden", FLEET,
            "UPDATE vehicles v SET model = 'x' WHERE id IN (SELECT w.id FROM vehicles w WINDOW x AS (ORDER BY v.price))",
            Deny(Rule::ColumnNotGranted)),
        // Derived-table column aliases rename only the confined columns.
        pg("pg_update_from_alias_column_list", FLEET,
            "UPDATE vehicles SET model = s.x FROM vehicles AS s(a, x) WHERE vehicles.id = s.a",
            Sql(r#"UPDATE "public"."vehicles" SET model = s.x FROM (SELECT "id", "model" FROM "public"."vehicles" OFFSET 0) AS s (a, x) WHERE vehicles.id = s.a"#)),
        pg("pg_update_from_lateral_outer_hidden", FLEET,
            "UPDATE vehicles v SET model = s.m FROM LATERAL (SELECT v.price AS m) s",
            Deny(Rule::ColumnNotGranted)),
        // Executable comments are read by sqlparser like MySQL reads them, and guarded.
        my("my_exec_comment_returning_hidden", FLEET,
            "DELETE FROM vehicles WHERE id = 2 RETURNING /*!99999 price, */ id",
            Deny(Rule::ColumnNotGranted)),
        // `1e5price` is the number 1e5 with the alias `price` to sqlparser and is rendered with
        // AS, so MySQL never sees the name as a column.
        my("my_number_glued_alias_rendered_with_as", FLEET,
            "UPDATE vehicles SET model = (SELECT 1e5price) WHERE id = 1",
            Sql("UPDATE `rental`.`vehicles` SET model = (SELECT 1e5 AS price) WHERE id = 1")),
        // Number-looking names MySQL reads as identifiers are guarded as columns.
        my("my_digit_dot_name_guarded", FLEET,
            "UPDATE vehicles SET model = 'x' WHERE 1.price = 1", Deny(Rule::ColumnNotGranted)),
        my("my_bad_binary_literal_is_a_name", FLEET,
            "UPDATE vehicles SET model = 'x' WHERE 0b12 = 1", Deny(Rule::ColumnNotGranted)),
        my("my_multi_update_alias_case_set", ED,
            "UPDATE reservations AS r JOIN (SELECT 1 AS id) AS R ON true SET R.notes = 'x'",
            Deny(Rule::ConstructNotAllowed)),
    ]
}

/// EXPLAIN and data-modifying CTEs.
fn explain_and_ctes() -> Vec<Case> {
    vec![
        pg("pg_explain_analyse_option_spelling", ED,
            "EXPLAIN (ANALYSE) UPDATE reservations SET notes = 'x'", Deny(Rule::StatementNotAllowed)),
        pg("pg_explain_quoted_analyze_option", ED,
            r#"EXPLAIN (FORMAT JSON, "analyze") UPDATE reservations SET notes = 'x'"#,
            Deny(Rule::StatementNotAllowed)),
        pg("pg_explain_analyze_then_off", ED,
            "EXPLAIN (ANALYZE, ANALYZE off) SELECT 1", Deny(Rule::StatementNotAllowed)),
        pg("pg_explain_write_guarded", FLEET,
            "EXPLAIN UPDATE vehicles SET model = 'x' WHERE price > 10", Deny(Rule::ColumnNotGranted)),
        pg("pg_explain_cte_write_needs_grant", ED,
            "EXPLAIN WITH d AS (DELETE FROM reservations RETURNING id) SELECT * FROM d",
            Deny(Rule::TableNotGranted)),
        pg("pg_cte_update_returning_hidden", FLEET,
            "WITH d AS (UPDATE vehicles SET model = 'x' RETURNING price) SELECT * FROM d",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_cte_update_returning_star", FLEET,
            "WITH d AS (UPDATE vehicles SET model = 'x' RETURNING *) SELECT * FROM d",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_cte_update_filtered_confined", ED,
            "WITH d AS (UPDATE reservations SET notes = 'x' WHERE id = 1 RETURNING id) SELECT * FROM d",
            Sql(r#"WITH d AS (UPDATE "public"."reservations" SET notes = 'x' WHERE (reservations.tenant_id = 'acme') AND CASE WHEN (reservations.tenant_id = 'acme') THEN (id = 1) END RETURNING id) SELECT * FROM d"#)),
    ]
}

/// INSERT … SELECT / VALUES with pinned columns.
fn pinned_inserts() -> Vec<Case> {
    vec![
        my("my_insert_select_union_pins_every_leg", ED,
            "INSERT INTO reservations (notes) SELECT notes FROM reservations UNION SELECT 'x'",
            Sql(concat!("INSERT INTO `rental`.`reservations` (notes, `tenant_id`) SELECT notes, 'acme' FROM ",
                "(SELECT * FROM `rental`.`reservations` WHERE (tenant_id = 'acme')) AS reservations UNION SELECT 'x', 'acme'"))),
        pg("pg_insert_union_parenthesized_leg_pinned", ED,
            "INSERT INTO reservations (notes) SELECT notes FROM reservations UNION ALL (SELECT 'x' ORDER BY 1 LIMIT 1)",
            Sql(concat!(r#"INSERT INTO "public"."reservations" (notes, "tenant_id") SELECT notes, 'acme' FROM "#,
                r#"(SELECT * FROM "public"."reservations" WHERE (tenant_id = 'acme')) AS reservations UNION ALL (SELECT 'x', 'acme' ORDER BY 1 LIMIT 1)"#))),
        pg("pg_insert_parenthesized_values_pinned_given", ED,
            "INSERT INTO reservations (id, tenant_id) (VALUES (1, 'globex'))",
            Deny(Rule::WriteNotConfinable)),
        // The top-level row-length check misses parenthesized VALUES, but the extra value only
        // makes the row too long: PostgreSQL 15 refuses it ("INSERT has more expressions than
        // target columns", verified). Asserting today's output.
        pg("pg_insert_parenthesized_values_too_long", ED,
            "INSERT INTO reservations (id) (VALUES (1, 'globex'))",
            // One column, two values: denied (the backend would reject the rewrite anyway).
            Deny(Rule::ConstructNotAllowed)),
        // MySQL "acme" is a string; rendered single-quoted.
        my("my_pinned_double_quoted_value", ED,
            r#"INSERT INTO reservations (tenant_id, notes) VALUES ("acme", 'n')"#,
            Sql("INSERT INTO `rental`.`reservations` (tenant_id, notes) VALUES ('acme', 'n')")),
        my("my_pinned_concat_refused", ED,
            "UPDATE reservations SET tenant_id = 'acme' || 'x'", Deny(Rule::WriteNotConfinable)),
        my("my_pinned_adjacent_strings_refused", ED,
            "INSERT INTO reservations (tenant_id, notes) VALUES ('acme' 'x', 'n')",
            Deny(Rule::WriteNotConfinable)),
        my("my_pinned_introducer_refused", ED,
            "INSERT INTO reservations (tenant_id, notes) VALUES (_utf8mb4'acme', 'n')",
            Deny(Rule::WriteNotConfinable)),
        my("my_tenant_set_twice_case", ED,
            "UPDATE reservations SET `tenant_id` = 'acme', tenant_ID = 'globex'",
            Deny(Rule::WriteNotConfinable)),
    ]
}

/// Literal forms, operators, casts and dialect meaning.
fn literals_and_operators() -> Vec<Case> {
    // 90 × a 10 MiB blank-padded char: a 1.9 KB statement.
    let pad = vec!["'x'::CHAR(10485760)"; 90].join(", ");
    vec![
        // BUG (medium, DoS): `char(n)` pads to n characters (max 10485760), so a cast is an
        // allocation of a size the caller picks, like `lpad`/`repeat`/`format('%999999999s')`,
        // which the allowlist leaves out for that reason. Verified on PG 15: this 1.9 KB
        // statement, reading no table, drove one backend to ~3 GB RSS (result 943718400).
        pg("pg_char_cast_padding_allocates_gigabytes", RO,
            format!("SELECT octet_length(array_to_string(ARRAY[{pad}], ''))"),
            DenyAny).bug(),
        // BUG (medium, DoS): same with bit(n) (up to 83886080 bits = 10 MiB per value).
        pg("pg_bit_cast_padding", RO,
            "SELECT B'1'::BIT(83886080)", DenyAny).bug(),
        // BUG (config-dependent, high impact): a row filter written with `||` means
        // concatenation to sqlparser and PostgreSQL but logical OR to MySQL/MariaDB (default
        // sql_mode): `slug = 'acme' || '-1'` is `(slug = 'acme') OR '-1'`, and '-1' is true,
        // so the derived table keeps every tenant's rows. The engine renders it unchanged.
        my("my_filter_pipes_mean_or", SLUG, "SELECT * FROM sites", DenyAny).bug(),
        pg("pg_filter_pipes_concat_ok", SLUG, "SELECT * FROM sites",
            Sql(r#"SELECT * FROM (SELECT * FROM "public"."sites" WHERE (slug = 'acme' || '-1')) AS sites"#)),
        // Executable comments: sqlparser reads the body, so `ssn` is a name of the confined
        // derived table (which has no such column) — no differential.
        my("my_exec_comment_read_as_sql", RO,
            "SELECT id /*! , ssn */ FROM customers",
            Sql("SELECT id, ssn FROM (SELECT `id`, `tenant_id`, `name`, `email` FROM `rental`.`customers` WHERE (tenant_id = 'acme')) AS customers")),
        pg("pg_unicode_escaped_identifier_denied", RO,
            r#"SELECT U&"\0073sn" FROM customers"#, Deny(Rule::ConstructNotAllowed)),
        pg("pg_escape_and_dollar_strings_rendered_plain", RO,
            r"SELECT E'\'' AS q, $a$b$a$ AS d", Sql("SELECT '''' AS q, 'b' AS d")),
        pg("pg_operator_syntax_denied", RO,
            "SELECT 1 OPERATOR(public.+) 1", Deny(Rule::ConstructNotAllowed)),
        pg("pg_operator_syntax_builtin", RO,
            "SELECT 1 OPERATOR(pg_catalog.+) 1", Sql("SELECT 1 OPERATOR(pg_catalog.+) 1")),
        pg("pg_cast_regproc_denied", RO, "SELECT 'now'::regproc", Deny(Rule::TableNotGranted)),
        pg("pg_cast_xml_denied", RO, "SELECT '<a/>'::xml", Deny(Rule::ConstructNotAllowed)),
        pg("pg_cast_quoted_regclass_denied", RO, r#"SELECT 'pg_authid'::"regclass""#, Deny(Rule::ConstructNotAllowed)),
        pg("pg_cast_qualified_regclass_denied", RO, "SELECT 'pg_authid'::pg_catalog.regclass", Deny(Rule::TableNotGranted)),
        pg("pg_lateral_outer_hidden_does_not_exist", RO,
            "SELECT * FROM customers c, LATERAL (SELECT c.ssn) s",
            Sql(r#"SELECT * FROM (SELECT "id", "tenant_id", "name", "email" FROM "public"."customers" WHERE (tenant_id = 'acme')) c, LATERAL (SELECT c.ssn) s"#)),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(pseudo_relations());
    v.extend(write_guard_clauses());
    v.extend(explain_and_ctes());
    v.extend(pinned_inserts());
    v.extend(literals_and_operators());
    v
}
