// The cases of adversarial4.rs with their role file and role names. Pulled in with `include!`
// by adversarial4.rs and by the PostgreSQL-door suite integration/tests/pg_adversarial.rs
// (which runs the PostgreSQL cases through the gateway against a real database), after
// common/adversarial_harness.rs (its macros and builders; it reads `ROLES` and `ROLES_FILE`).

/// The third suite's roles plus `agent_kind`, whose row filter reads a column with a `k` in its
/// name (MariaDB folds U+212A KELVIN SIGN to `k` when it matches column names: verified on
/// MariaDB 10.11, `SELECT \`\u{212A}ind\` FROM t` reads column `kind`).
const ROLES: &str = concat!(
    include_str!("../fixtures/adversarial3_roles.yaml"),
    r#"
  agent_kind:
    tables:
      tickets: [SELECT, UPDATE, INSERT, DELETE]
    filters:
      tickets: "workspace_key = {{ token.tenant_id }}"
"#
);

const RO: &str = "agent_readonly";
const ED: &str = "agent_editor";
const SLUG: &str = "agent_slug";
const FLEET: &str = "agent_fleet";
const KIND: &str = "agent_kind";

const ROLES_FILE: &str = "adversarial3_roles.yaml";

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/// Prepared-statement placeholders stand only where a value may. They must not satisfy a pinned
/// column, change a filter column, or slip a pinned session setting.
fn placeholders() -> Vec<Case> {
    vec![
        // A placeholder in a pinned column is allowed only as a pinned parameter: the door runs
        // the statement only when its value is the token's (checked at every Bind/Execute).
        pg("pg_insert_pinned_placeholder", ED,
            "INSERT INTO reservations (id, tenant_id) VALUES (1, $1)",
            Pinned(r#"INSERT INTO "public"."reservations" (id, tenant_id) VALUES (1, $1)"#, &[0])),
        my("my_insert_pinned_placeholder", ED,
            "INSERT INTO reservations (id, tenant_id) VALUES (?, ?)",
            Pinned("INSERT INTO `rental`.`reservations` (id, tenant_id) VALUES (?, ?)", &[1])),
        pg("pg_insert_select_pinned_placeholder", ED,
            "INSERT INTO reservations (id, tenant_id) SELECT $1, $2",
            Pinned(r#"INSERT INTO "public"."reservations" (id, tenant_id) SELECT $1, $2"#, &[1])),
        pg("pg_update_filter_col_placeholder", ED,
            "UPDATE reservations SET tenant_id = $1",
            Pinned(r#"UPDATE "public"."reservations" SET tenant_id = $1 WHERE (reservations.tenant_id = 'acme')"#, &[0])),
        pg("pg_upsert_filter_col_placeholder", ED,
            "INSERT INTO reservations (id, tenant_id) VALUES (1, 'acme') ON CONFLICT (id) DO UPDATE SET tenant_id = $1",
            Pinned(r#"INSERT INTO "public"."reservations" (id, tenant_id) VALUES (1, 'acme') ON CONFLICT(id) DO UPDATE SET tenant_id = $1 WHERE (reservations.tenant_id = 'acme')"#, &[0])),
        // Still refused: a placeholder inside an expression, a parameter of another kind.
        pg("pg_update_filter_col_placeholder_expression", ED,
            "UPDATE reservations SET tenant_id = coalesce($1, 'acme')",
            Deny(Rule::WriteNotConfinable)),
        // Values stay values; the tenant pin is still appended.
        pg("pg_insert_value_placeholder", ED,
            "INSERT INTO reservations (id) VALUES ($1)",
            Sql(r#"INSERT INTO "public"."reservations" (id, "tenant_id") VALUES ($1, 'acme')"#)),
        pg("pg_update_value_placeholders", ED,
            "UPDATE reservations SET notes = $1 WHERE id = $2",
            Sql(r#"UPDATE "public"."reservations" SET notes = $1 WHERE (reservations.tenant_id = 'acme') AND CASE WHEN (reservations.tenant_id = 'acme') THEN (id = $2) END"#)),
        // Positional `?` keep their order: the filter (no placeholders) goes first in WHERE.
        my("my_update_value_placeholders", FLEET,
            "UPDATE vehicles SET model = ? WHERE id = ?",
            Sql("UPDATE `rental`.`vehicles` SET model = ? WHERE id = ?")),
        // A `?` inside a string stays a string; one inside a comment is dropped with it.
        my("my_question_in_string_and_comment", RO,
            "SELECT * FROM customers WHERE name = '?' /* ? */ AND id = ?",
            Sql(concat!("SELECT * FROM ", mcf!(), " AS customers WHERE name = '?' AND id = ?"))),
        pg("pg_placeholder_in_filter_column_comparison", RO,
            "SELECT * FROM customers WHERE tenant_id = $1",
            Sql(concat!("SELECT * FROM ", pcf!(), " AS customers WHERE tenant_id = $1"))),
        pg("pg_order_by_placeholder", RO,
            "SELECT * FROM customers ORDER BY $1",
            Sql(concat!("SELECT * FROM ", pc!(), " AS customers ORDER BY $1"))),
        // MySQL reads `$price` as a column name: the write guard sees it as one.
        my("my_dollar_name_is_a_column_in_write", FLEET,
            "UPDATE vehicles SET model = 'x' WHERE $price > 0",
            Deny(Rule::ColumnNotGranted)),
        my("my_user_variable_not_placeholder", RO,
            "SELECT @ssn FROM customers",
            Deny(Rule::ConstructNotAllowed)),
        // Pinned session settings refuse a placeholder value (it could be anything).
        pg("pg_set_client_encoding_placeholder", RO,
            "SET client_encoding = $1",
            Deny(Rule::SettingNotAllowed)),
        my("my_set_charset_client_placeholder", RO,
            "SET character_set_client = ?",
            Deny(Rule::SettingNotAllowed)),
        my("my_set_sql_mode_placeholder", RO,
            "SET sql_mode = ?",
            Deny(Rule::SettingNotAllowed)),
        pg("pg_set_search_path_placeholder", RO,
            "SET search_path = $1",
            Deny(Rule::SettingNotAllowed)),
        my("my_execute_using_placeholder", RO,
            "EXECUTE p USING ?",
            Deny(Rule::StatementNotAllowed)),
    ]
}

/// Ordinals, NATURAL JOIN and null-safe comparisons over confined tables and write targets.
fn ordinals_and_comparisons() -> Vec<Case> {
    vec![
        // Ordinals count the outer select list, which only sees allowed columns (position 5 of
        // `*` does not exist: the backend errors rather than sorting by ssn).
        pg("pg_order_by_ordinal_past_allowed", RO,
            "SELECT * FROM customers ORDER BY 5",
            Sql(concat!("SELECT * FROM ", pc!(), " AS customers ORDER BY 5"))),
        pg("pg_group_by_rollup_ordinals", RO,
            "SELECT * FROM customers GROUP BY ROLLUP (1,2)",
            Sql(concat!("SELECT * FROM ", pcf!(), " AS customers GROUP BY ROLLUP (1, 2)"))),
        pg("pg_having_hidden_after_ordinal_group", RO,
            "SELECT count(*) FROM customers GROUP BY 1 HAVING max(ssn) > '0'",
            Sql(concat!("SELECT count(*) FROM ", pcf!(), " AS customers GROUP BY 1 HAVING max(ssn) > '0'"))),
        // MySQL UPDATE … ORDER BY <hidden> LIMIT 1 would pick a row by the hidden column.
        my("my_update_order_by_hidden", FLEET,
            "UPDATE vehicles SET model = 'x' ORDER BY price LIMIT 1",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_natural_join_self_confined", RO,
            "SELECT * FROM customers NATURAL JOIN customers",
            Sql(concat!("SELECT * FROM ", pcf!(), " AS customers NATURAL JOIN ", pcf!(), " AS customers"))),
        pg("pg_write_subquery_natural_join_target", FLEET,
            "UPDATE vehicles SET model = 'a' WHERE id IN (SELECT id FROM vehicles v2 NATURAL JOIN vehicles)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_is_distinct_from_hidden", FLEET,
            "UPDATE vehicles SET model = model WHERE (price IS DISTINCT FROM 5)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_delete_is_not_distinct_from_hidden", FLEET,
            "DELETE FROM vehicles WHERE price IS NOT DISTINCT FROM 5",
            Deny(Rule::ColumnNotGranted)),
        my("my_write_null_safe_eq_hidden", FLEET,
            "UPDATE vehicles SET model = model WHERE price <=> 5",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_whole_row_is_distinct", FLEET,
            "UPDATE vehicles SET model = 'a' WHERE vehicles IS DISTINCT FROM NULL",
            Deny(Rule::ColumnNotGranted)),
        // Window frames and FILTER in a write's subquery read the target's hidden column.
        pg("pg_write_window_frame_offset_hidden", FLEET,
            "UPDATE vehicles SET model = (SELECT sum(id) OVER (ORDER BY id RANGE BETWEEN price PRECEDING AND CURRENT ROW) LIMIT 1)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_aggregate_filter_hidden", FLEET,
            "UPDATE vehicles SET model = (SELECT count(*) FILTER (WHERE price > 5))",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_values_row_hidden", FLEET,
            "UPDATE vehicles SET model = 'a' WHERE (SELECT max(x) FROM (VALUES (price)) t(x)) > 5",
            Deny(Rule::ColumnNotGranted)),
        // A derived table whose column list renames `price` away: the bare name reaches the target.
        pg("pg_write_derived_column_list_renames", FLEET,
            "DELETE FROM vehicles WHERE EXISTS (SELECT 1 FROM (SELECT 1 AS price, 2 AS y) t(x) WHERE price > 5)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_cte_column_list_renames", FLEET,
            "DELETE FROM vehicles WHERE EXISTS (WITH c(x) AS (SELECT 1 AS price) SELECT 1 FROM c WHERE price > 5)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_union_second_branch_name", FLEET,
            "DELETE FROM vehicles WHERE EXISTS (SELECT 1 FROM (SELECT 1 AS x UNION SELECT 2 AS price) t WHERE price > 5)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_confined_self_in_subquery", FLEET,
            "DELETE FROM vehicles WHERE EXISTS (SELECT 1 FROM vehicles v2 WHERE price > 5)",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_composite_field_of_target", FLEET,
            "UPDATE vehicles v SET model = 'x' WHERE (v).price > 5",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_write_three_part_name", FLEET,
            "UPDATE vehicles SET model = 'x' WHERE public.vehicles.price > 5",
            Deny(Rule::ConstructNotAllowed)),
        my("my_write_three_part_name_in_subquery", FLEET,
            "UPDATE vehicles SET model = 'x' WHERE EXISTS (SELECT 1 FROM (SELECT 1 AS x) t WHERE rental.vehicles.price > 5)",
            Deny(Rule::ConstructNotAllowed)),
        pg("pg_write_json_exists_hidden", FLEET,
            "UPDATE vehicles SET model = 'a' WHERE JSON_EXISTS(price, '$')",
            DenyAny),
        pg("pg_json_object_hidden", RO,
            "SELECT JSON_OBJECT('a': ssn) FROM customers",
            DenyAny),
    ]
}

/// Look-alike identifiers: zero-width, case-folding, fullwidth and dotted letters.
fn lookalikes() -> Vec<Case> {
    vec![
        pg(
            "pg_zero_width_table",
            RO,
            "SELECT * FROM \"custome\u{200B}rs\"",
            Deny(Rule::TableNotGranted),
        ),
        pg(
            "pg_zero_width_hidden_in_write",
            FLEET,
            "UPDATE vehicles SET model = 'a' WHERE \"pri\u{200B}ce\" = 5",
            Deny(Rule::ColumnNotGranted),
        ),
        my(
            "my_fullwidth_hidden_in_write",
            FLEET,
            "UPDATE vehicles SET model = 'a' WHERE `\u{FF30}\u{FF32}\u{FF29}\u{FF23}\u{FF25}` = 5",
            Deny(Rule::ColumnNotGranted),
        ),
        my(
            "my_nfd_hidden_in_write",
            FLEET,
            "UPDATE vehicles SET model = 'a' WHERE `pric\u{0065}\u{0301}` = 5",
            Deny(Rule::ColumnNotGranted),
        ),
        my(
            "my_dotted_i_update_column",
            FLEET,
            "UPDATE vehicles SET `pr\u{0130}ce` = 0",
            Deny(Rule::ColumnNotGranted),
        ),
        // MariaDB matches U+212A KELVIN SIGN to `k` in column names: SET of the filter column
        // spelled with it must be refused like the plain spelling.
        my(
            "my_kelvin_sign_filter_column_update",
            KIND,
            "UPDATE tickets SET `workspace_\u{212A}ey` = 'evil'",
            Deny(Rule::WriteNotConfinable),
        ),
        my(
            "my_kelvin_sign_filter_column_update_upper",
            KIND,
            "UPDATE tickets SET `WORKSPACE_\u{212A}EY` = 'evil' WHERE id = 1",
            Deny(Rule::WriteNotConfinable),
        ),
        my(
            "my_kelvin_sign_filter_column_qualified",
            KIND,
            "UPDATE tickets t SET t.`workspace_\u{212A}ey` = 'evil'",
            Deny(Rule::WriteNotConfinable),
        ),
        my(
            "my_kelvin_sign_pinned_insert",
            KIND,
            "INSERT INTO tickets (id, `workspace_\u{212A}ey`) VALUES (1, 'evil')",
            Deny(Rule::WriteNotConfinable),
        ),
    ]
}

/// MariaDB with lower_case_table_names=1 (the default on Windows and macOS, often set on Linux)
/// compares table aliases with a Unicode case-insensitive collation that folds U+212A KELVIN
/// SIGN to `k`. The write guard matches the target's alias with `eq_ignore_ascii_case`
/// (expr.rs), so `` `K`.price `` (Kelvin sign) counts as "another table" and is let through.
fn kelvin_alias() -> Vec<Case> {
    vec![
        // BUG (high on MariaDB with lower_case_table_names=1): verified on MariaDB 10.11.19 with
        // the rendered output: `UPDATE `rental`.`vehicles` k SET model = 'x' WHERE `K`.price > 5`
        // changed only the row with price 10, not the one with price 3. agent_fleet may read
        // `model`, so it binary-searches every vehicle's hidden price by changed rows.
        my("my_kelvin_alias_hidden_in_update_where", FLEET,
            "UPDATE vehicles k SET model = 'x' WHERE `\u{212A}`.price > 5",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (same): inside a subquery the qualifier reaches the outer target (verified: only
        // the price-10 row changed).
        my("my_kelvin_alias_hidden_in_update_subquery", FLEET,
            "UPDATE vehicles k SET model = 'x' WHERE EXISTS (SELECT 1 FROM (SELECT 1 AS x) t WHERE `\u{212A}`.price > 5)",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (same, direct read): verified on MariaDB 10.11.19, lower_case_table_names=1: the
        // rendered `UPDATE `rental`.`vehicles` k SET model = `K`.price` set model to 10 and 3,
        // each row's hidden price, which agent_fleet then SELECTs.
        my("my_kelvin_alias_hidden_in_set_value", FLEET,
            "UPDATE vehicles k SET model = `\u{212A}`.price",
            Deny(Rule::ColumnNotGranted)).bug(),
        // BUG (same): two-letter alias.
        my("my_kelvin_alias_double", FLEET,
            "UPDATE vehicles kk SET model = 'x' WHERE `\u{212A}\u{212A}`.price > 5",
            Deny(Rule::ColumnNotGranted)).bug(),
        // Plain ASCII case already holds.
        my("my_upper_alias_hidden_in_update", FLEET,
            "UPDATE vehicles k SET model = 'x' WHERE `K`.price > 5",
            Deny(Rule::ColumnNotGranted)),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(placeholders());
    v.extend(ordinals_and_comparisons());
    v.extend(lookalikes());
    v.extend(kelvin_alias());
    v
}
