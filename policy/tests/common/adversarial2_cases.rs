// The cases of adversarial2.rs with their role file and role names. Pulled in with `include!`
// by adversarial2.rs and by the PostgreSQL-door suite integration/tests/pg_adversarial.rs
// (which runs the PostgreSQL cases through the gateway against a real database), after
// common/adversarial_harness.rs (its macros and builders; it reads `ROLES` and `ROLES_FILE`).

const ROLES: &str = include_str!("../fixtures/adversarial2_roles.yaml");

const RO: &str = "agent_readonly";
const ED: &str = "agent_editor";
const JAN: &str = "agent_janitor";
const CAT: &str = "agent_catalog";
const FLEET: &str = "agent_fleet";

const ROLES_FILE: &str = "adversarial2_roles.yaml";

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/// MySQL reads `<word> '<string>'` in a select list as a column and its alias (`SELECT col 'a'`
/// is valid MySQL). sqlparser reads it as ONE value when the word is a charset introducer
/// (anything starting with `_`) or a built-in type name (`json`, `text`, `uuid`, …). The engine
/// then sees a literal and never runs the write guard over the column, so a correlated
/// `(SELECT <hidden column> 'a')` reads the write target's hidden column.
/// Verified on MariaDB 10.11 (see the report): every allowed rewrite below read the column.
fn mysql_word_string_differential() -> Vec<Case> {
    vec![
        // Was a bypass (high), fixed: `_price 'p'` is the hidden column `_price` to MariaDB/MySQL (a `_name`
        // that is not a character set is an identifier), a `Prefixed` literal to the engine.
        // Verified: the rewrite below wrote vehicle 1's hidden `_price` (41000) into `model`.
        my("my_introducer_copies_hidden_column", FLEET,
            "UPDATE vehicles SET model = (SELECT _price 'p') WHERE id = 1",
            Deny(Rule::ConstructNotAllowed)),
        // Was a bypass (high), fixed: MariaDB's DELETE … RETURNING hands the hidden column straight back
        // (verified: returned 52000).
        my("my_introducer_delete_returning_hidden", FLEET,
            "DELETE FROM vehicles WHERE id = 2 RETURNING (SELECT _price 'a')",
            Deny(Rule::ConstructNotAllowed)),
        // Was a bypass (high), fixed: same, as a boolean oracle in a multi-table UPDATE (the joined copy is a
        // derived table without `_price`, so the name binds to the target). Verified: only
        // vehicle 2 (price 52000) became 'hit'.
        my("my_introducer_oracle_multi_table_update", FLEET,
            "UPDATE vehicles v JOIN vehicles w ON w.id = v.id SET v.model = 'hit' WHERE '52000' = (SELECT _price 'x')",
            Deny(Rule::ConstructNotAllowed)),
        // Not a bypass where the target's columns are all readable (agent_editor on
        // reservations) and the joined table is a derived table.
        my("my_introducer_readable_target_is_fine", ED,
            "UPDATE reservations r JOIN customers c ON c.id = r.customer_id SET r.notes = 'hit' WHERE '1' = (SELECT _x 'x')",
            // `_x` is no character set: to MySQL this is the column `_x`, so it is refused.
            Deny(Rule::ConstructNotAllowed)),
        // Was a bypass (high), fixed: a hidden column named like a type: sqlparser reads `json 'a'` as the typed
        // literal JSON 'a' (TypedString), MySQL as column `json` aliased 'a'. Verified: the
        // rewrite `… SET model = (SELECT JSON 'a')` wrote the hidden `json` value into `model`.
        my("my_typed_string_copies_hidden_json", FLEET,
            "UPDATE vehicles SET model = (SELECT json 'a') WHERE id = 1",
            Deny(Rule::ConstructNotAllowed)),
        // Was a bypass (high), fixed: same through ON DUPLICATE KEY UPDATE (allowed: the table has no filter),
        // which reads the EXISTING row. Verified on MariaDB.
        my("my_typed_string_odku_reads_existing_row", FLEET,
            "INSERT INTO vehicles (id, model) VALUES (1, 'x') ON DUPLICATE KEY UPDATE model = (SELECT json 'a')",
            Deny(Rule::ConstructNotAllowed)),
        // Was a bypass (high), fixed: `text`, `uuid`, `blob`, `bit`, `int`, `decimal`, `signed`, `nvarchar`,
        // `string`, `bytes`, `datetime`, … all behave the same; `text` and `uuid` verified.
        my("my_typed_string_text_oracle_delete", FLEET,
            "DELETE FROM vehicles WHERE (SELECT text 'a') LIKE 'secret%'",
            Deny(Rule::ConstructNotAllowed)),
        my("my_typed_string_uuid_multi_table", FLEET,
            "UPDATE vehicles v JOIN vehicles w ON w.id = v.id SET v.model = (SELECT uuid 'a')",
            Deny(Rule::ConstructNotAllowed)),
        // Double-quoted alias: MySQL's second string form, rendered back as '…'.
        my("my_typed_string_double_quoted_alias", FLEET,
            r#"UPDATE vehicles SET model = (SELECT json "a") WHERE id = 1"#,
            Deny(Rule::ConstructNotAllowed)),
        // What MySQL itself reads as literals stays allowed: DATE/TIME/TIMESTAMP '…' and real
        // character set introducers.
        my("my_date_literal_is_a_literal", FLEET,
            "UPDATE vehicles SET model = (SELECT DATE '2024-01-01') WHERE id = 1",
            Sql("UPDATE `rental`.`vehicles` SET model = (SELECT DATE '2024-01-01') WHERE id = 1")),
        my("my_real_introducer_is_a_literal", FLEET,
            "UPDATE vehicles SET model = _utf8mb4'x' WHERE id = 1",
            Sql("UPDATE `rental`.`vehicles` SET model = _utf8mb4 'x' WHERE id = 1")),
        // PostgreSQL has no string aliases: `json 'a'` is a typed literal there too. Safe.
        pg("pg_typed_string_is_a_literal", FLEET,
            "UPDATE vehicles SET model = (SELECT json 'a') WHERE id = 1",
            Sql(r#"UPDATE "public"."vehicles" SET model = (SELECT JSON 'a') WHERE id = 1"#)),
        // The plain spelling is guarded (the differential is the only way around the guard).
        my("my_plain_hidden_column_guarded", FLEET,
            "UPDATE vehicles SET model = (SELECT price) WHERE id = 1",
            Deny(Rule::ColumnNotGranted)),
    ]
}

/// Denial of service: the allowlist says it leaves out "functions whose output size a caller
/// picks (repeat, lpad, rpad, space, generate_series: one cheap call can make the backend
/// allocate a gigabyte)". Two allowed PostgreSQL functions do exactly that.
fn dos() -> Vec<Case> {
    vec![
        // BUG (medium): format's width is caller-picked: PostgreSQL 15 built a 999,999,999-byte
        // string for this (5.4 s, ~1 GiB of backend memory per call; the result is then sent).
        pg(
            "pg_format_width_allocates_a_gigabyte",
            RO,
            "SELECT format('%999999999s', 'x')",
            DenyAny,
        )
        .bug(),
        pg(
            "pg_format_width_star_argument",
            RO,
            "SELECT format('%*s', 999999999, 'x')",
            DenyAny,
        )
        .bug(),
        // BUG (medium): replace() multiplies: nine nested calls ask for 10 GB; PostgreSQL 15
        // grew its buffer to 1 GiB and then failed with "out of memory".
        pg(
            "pg_nested_replace_grows_exponentially",
            RO,
            format!(
                "SELECT {}'aaaaaaaaaa'{}",
                "replace(".repeat(9),
                ", 'a', 'aaaaaaaaaa')".repeat(9)
            ),
            DenyAny,
        )
        .bug(),
    ]
}

/// MySQL multi-table DELETE (`DELETE FROM t USING …`): the names after FROM are ALIASES into
/// the USING list, not tables.
fn mysql_delete_using() -> Vec<Case> {
    vec![
        // Was wrong (low), fixed by denying MySQL's DELETE … USING: the engine checks DELETE on `audit_log` and reads
        // `vehicles` (SELECT only), but to MySQL the target `audit_log` names the USING entry
        // `vehicles AS audit_log`: the statement means "delete every vehicle". The raw statement
        // did delete every row of `vehicles` on MariaDB 10.11. Only the engine's habit of
        // rendering the target database-qualified (`rental`.`audit_log`) saves it: MySQL and
        // MariaDB refuse to match a qualified name to an alias ("Unknown table … in MULTI
        // DELETE"). Safety rests on that server rule; the decision's `touches` is wrong.
        my(
            "my_delete_using_alias_names_other_table",
            JAN,
            "DELETE FROM audit_log USING vehicles AS audit_log",
            DenyAny,
        ),
        // Side effect of the same rendering: every allowed MySQL DELETE … USING fails on
        // MariaDB (the engine aliases every USING table, and a qualified target never matches
        // an alias). Asserting today's output; it is a functional bug, not a bypass.
        my(
            "my_delete_using_rendering_never_runs",
            JAN,
            "DELETE FROM audit_log USING audit_log JOIN vehicles v ON v.id = audit_log.id",
            Deny(Rule::ConstructNotAllowed),
        ),
        // PostgreSQL: the same text is an error ("table name specified more than once").
        pg(
            "pg_delete_using_alias_is_an_error_there",
            JAN,
            "DELETE FROM audit_log USING vehicles AS audit_log",
            Sql(r#"DELETE FROM "public"."audit_log" USING "public"."vehicles" AS audit_log"#),
        ),
    ]
}

/// Function names: quoted names are case-sensitive in PostgreSQL.
fn function_names() -> Vec<Case> {
    vec![
        // BUG (low, needs a function the attacker cannot create): `"LOWER"` is not `lower` to
        // PostgreSQL (quoted names keep case), but the allowlist lowercases every name. A
        // database that has a user-defined "LOWER"/"Count"/… function (SECURITY DEFINER, or
        // one that reads other tables) hands it to every agent.
        pg(
            "pg_quoted_uppercase_function_is_another_function",
            RO,
            r#"SELECT "LOWER"(name) FROM customers"#,
            Deny(Rule::FunctionNotAllowed),
        )
        .bug(),
        // BUG (low): same for the schema: `"PG_CATALOG"` is a different schema from pg_catalog.
        pg(
            "pg_quoted_uppercase_catalog_is_another_schema",
            RO,
            r#"SELECT "PG_CATALOG".version()"#,
            Deny(Rule::FunctionNotAllowed),
        )
        .bug(),
        pg(
            "pg_catalog_folded_unquoted_ok",
            RO,
            "SELECT PG_CATALOG.VERSION()",
            Sql("SELECT PG_CATALOG.VERSION()"),
        ),
        pg(
            "pg_catalog_non_allowlisted_denied",
            RO,
            "SELECT pg_catalog.pg_read_file('/etc/passwd')",
            Deny(Rule::FunctionNotAllowed),
        ),
        pg(
            // current_setting reads what SHOW may read (search_path is showable).
            "pg_catalog_current_setting_showable",
            RO,
            "SELECT pg_catalog.current_setting('search_path')",
            Sql("SELECT pg_catalog.current_setting('search_path')"),
        ),
        pg(
            "pg_other_schema_denied",
            RO,
            "SELECT public.version()",
            Deny(Rule::FunctionNotAllowed),
        ),
        my(
            "my_pg_catalog_is_postgres_only",
            RO,
            "SELECT pg_catalog.version()",
            Deny(Rule::FunctionNotAllowed),
        ),
    ]
}

/// Regression guards over the new paths (all pass today).
fn new_paths() -> Vec<Case> {
    vec![
        // ARRAY(subquery) is walked like any subquery: confined, and under the write guard.
        pg("pg_array_subquery_in_any", RO,
            "SELECT * FROM vehicles WHERE id = ANY(ARRAY(SELECT id FROM customers))",
            Sql(concat!(r#"SELECT * FROM "public"."vehicles" AS vehicles WHERE id = ANY(ARRAY(SELECT id FROM "#, pcf!(), " AS customers))"))),
        pg("pg_array_subquery_locking_needs_update", RO,
            "SELECT ARRAY(SELECT id FROM customers FOR UPDATE)", Deny(Rule::TableNotGranted)),
        pg("pg_array_subquery_write_guard", FLEET,
            "UPDATE vehicles v SET model = 'x' WHERE ARRAY(SELECT v.price) IS NOT NULL",
            Deny(Rule::ColumnNotGranted)),
        pg("pg_array_subquery_whole_row_in_write", FLEET,
            "UPDATE vehicles v SET model = ARRAY(SELECT json_agg(v.*))::text",
            Deny(Rule::ColumnNotGranted)),
        // MySQL multi-table UPDATE.
        my("my_multi_update_set_joined_alias_denied", ED,
            "UPDATE reservations r JOIN reservations r2 ON r2.id = r.id SET r2.notes = 'x'",
            Deny(Rule::ConstructNotAllowed)),
        my("my_multi_update_tenant_move_denied", ED,
            "UPDATE reservations r JOIN vehicles v ON v.id = r.vehicle_id SET r.tenant_id = 'globex'",
            Deny(Rule::WriteNotConfinable)),
        my("my_multi_update_target_alias_reuses_joined_name", ED,
            "UPDATE reservations AS r JOIN vehicles AS reservations ON true SET r.notes = 'x'",
            Sql("UPDATE `rental`.`reservations` AS r JOIN `rental`.`vehicles` AS reservations ON true SET r.notes = 'x' WHERE (r.tenant_id = 'acme')")),
        my("my_multi_update_nested_join_confined", ED,
            "UPDATE reservations r JOIN (reservations r2 JOIN vehicles v ON true) ON true SET r.notes = 'x'",
            Sql(concat!("UPDATE `rental`.`reservations` r JOIN (", mr!(), " r2 JOIN `rental`.`vehicles` v ON true) ON true SET r.notes = 'x' WHERE (r.tenant_id = 'acme')"))),
        my("my_multi_update_hidden_of_joined_does_not_exist", ED,
            "UPDATE reservations r JOIN customers c ON c.id = r.customer_id SET r.notes = c.ssn",
            Sql(r#"UPDATE `rental`.`reservations` r JOIN (SELECT `id`, `tenant_id`, `name`, `email` FROM `rental`.`customers` WHERE (tenant_id = 'acme') LIMIT 18446744073709551615) c ON CASE WHEN (r.tenant_id = 'acme') THEN (c.id = r.customer_id) END SET r.notes = c.ssn WHERE (r.tenant_id = 'acme')"#)),
        my("my_multi_update_parenthesized_target", ED,
            "UPDATE (reservations r JOIN vehicles v ON true) SET r.notes = 'x'",
            Deny(Rule::ConstructNotAllowed)),
        // Filtered column set to the token's own value (all-columns UPDATE grant).
        pg("pg_editor_tenant_to_own_value", ED,
            "UPDATE reservations SET tenant_id = 'acme', notes = 'x' WHERE id = 1",
            Sql(r#"UPDATE "public"."reservations" SET tenant_id = 'acme', notes = 'x' WHERE (reservations.tenant_id = 'acme') AND CASE WHEN (reservations.tenant_id = 'acme') THEN (id = 1) END"#)),
        pg("pg_editor_tenant_move_denied", ED,
            "UPDATE reservations SET tenant_id = 'globex' WHERE id = 1", Deny(Rule::WriteNotConfinable)),
        pg("pg_editor_tenant_quoted_upper_loosely_denied", ED,
            r#"UPDATE reservations SET "TENANT_ID" = 'globex' WHERE id = 1"#, Deny(Rule::WriteNotConfinable)),
        // MariaDB compares column names by case only (not accents): `tenánt_id` and
        // `tenant_ıd` are unknown columns there (verified), so no fold gap.
        my("my_editor_accented_tenant_is_another_column", ED,
            "UPDATE reservations SET tenánt_id = 'globex' WHERE id = 1",
            Sql(r#"UPDATE `rental`.`reservations` SET tenánt_id = 'globex' WHERE (reservations.tenant_id = 'acme') AND CASE WHEN (reservations.tenant_id = 'acme') THEN (id = 1) END"#)),
        // DUAL.
        my("my_select_star_from_dual", RO, "SELECT * FROM DUAL", Sql("SELECT * FROM DUAL")),
        my("my_db_qualified_dual_is_a_table", RO, "SELECT 1 FROM rental.dual", Deny(Rule::TableNotGranted)),
        pg("pg_dual_is_a_table", RO, "SELECT 1 FROM dual", Deny(Rule::TableNotGranted)),
        // MySQL `$name` is an identifier (MariaDB: column `$pin`), and the engine guards it.
        my("my_dollar_identifier_guarded", FLEET,
            "UPDATE vehicles SET model = (SELECT $pin) WHERE id = 1", Deny(Rule::ColumnNotGranted)),
        // Separator values are swapped for placeholders and re-quoted (no sqlparser quoting).
        my("my_group_concat_separator_backslash", RO,
            r"SELECT GROUP_CONCAT(id SEPARATOR 'a\\') FROM vehicles",
            Sql(r"SELECT GROUP_CONCAT(id SEPARATOR 'a\\') FROM `rental`.`vehicles` AS vehicles")),
        // Type-modifier strings are rendered by sqlparser's own quoting helper (not the
        // placeholder layer); the round trip catches the mis-quoted rendering.
        pg("pg_type_modifier_backslash_quote", RO,
            r"SELECT CAST(1 AS inet('\''), x ')) FROM vehicles", Deny(Rule::ConstructNotAllowed)),
    ]
}

/// Common driver / ORM statements.
fn drivers() -> Vec<Case> {
    vec![
        // FALSE DENIAL: the MySQL/MariaDB upsert every ORM emits for an unfiltered table
        // (SQLAlchemy `on_duplicate_key_update`, Django `bulk_create(update_conflicts=True)` on
        // MariaDB, Rails `upsert_all`): `VALUES(col)` is the row being inserted, not a function
        // with side effects, and MariaDB has no `AS new` alias form (also denied here).
        my("my_odku_values_function", CAT,
            "INSERT INTO vehicles (id, model) VALUES (1, 'x') ON DUPLICATE KEY UPDATE model = VALUES(model)",
            Sql("INSERT INTO `rental`.`vehicles` (id, model) VALUES (1, 'x') ON DUPLICATE KEY UPDATE model = VALUES(model)")).false_denial(),
        pg("pg_upsert_excluded", CAT,
            "INSERT INTO vehicles (id, model) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET model = EXCLUDED.model",
            Sql(r#"INSERT INTO "public"."vehicles" (id, model) VALUES (1, 'x') ON CONFLICT(id) DO UPDATE SET model = EXCLUDED.model"#)),
        // FALSE DENIAL: psycopg/asyncpg/SQLAlchemy send `= ANY(%s)` with an array, but ORMs
        // and hand-written agent SQL equally often unnest a bound array.
        pg("pg_unnest_bound_array", RO,
            "SELECT * FROM vehicles WHERE id IN (SELECT unnest($1::int[]))",
            Sql(r#"SELECT * FROM "public"."vehicles" AS vehicles WHERE id IN (SELECT unnest($1::INT[]))"#)).false_denial(),
        pg("pg_django_update_subquery", ED,
            r#"UPDATE "reservations" SET "notes" = 'x' WHERE "reservations"."id" IN (SELECT U0."id" FROM "reservations" U0 WHERE U0."status" = 'new')"#,
            Sql(r#"UPDATE "public"."reservations" SET "notes" = 'x' WHERE ("reservations".tenant_id = 'acme') AND CASE WHEN ("reservations".tenant_id = 'acme') THEN ("reservations"."id" IN (SELECT U0."id" FROM (SELECT * FROM "public"."reservations" WHERE (tenant_id = 'acme') OFFSET 0) U0 WHERE U0."status" = 'new')) END"#)),
        pg("pg_django_select_for_update_of", ED,
            r#"SELECT "reservations"."id" FROM "reservations" WHERE "reservations"."id" = 1 LIMIT 1 FOR UPDATE OF "reservations""#,
            Sql(concat!(r#"SELECT "reservations"."id" FROM "#, prf!(), r#" AS "reservations" WHERE "reservations"."id" = 1 LIMIT 1 FOR UPDATE OF "reservations""#))),
        pg("pg_insert_returning_pinned", ED,
            "INSERT INTO reservations (id, notes) VALUES (DEFAULT, 'x') RETURNING id",
            Sql(r#"INSERT INTO "public"."reservations" (id, notes, "tenant_id") VALUES (DEFAULT, 'x', 'acme') RETURNING id"#)),
        my("my_mariadb_insert_returning_pinned", ED,
            "INSERT INTO reservations (notes) VALUES ('x') RETURNING id",
            Sql("INSERT INTO `rental`.`reservations` (notes, `tenant_id`) VALUES ('x', 'acme') RETURNING id")),
        pg("pg_rails_client_min_messages", RO, "SET client_min_messages TO 'warning'",
            Sql("SET client_min_messages = 'warning'")),
        pg("pg_rails_intervalstyle", RO, "SET intervalstyle = iso_8601", Sql("SET intervalstyle = iso_8601")),
        pg("pg_show_transaction_read_only", RO, "SHOW transaction_read_only", Sql("SHOW transaction_read_only")),
        my("my_django_count_alias", RO, "SELECT COUNT(*) AS `__count` FROM `vehicles`",
            Sql("SELECT COUNT(*) AS `__count` FROM `rental`.`vehicles` AS `vehicles`")),
        my("my_autocommit_off_word", RO, "SET @@session.autocommit = OFF", Sql("SET @@session.autocommit = OFF")),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(mysql_word_string_differential());
    v.extend(dos());
    v.extend(mysql_delete_using());
    v.extend(function_names());
    v.extend(new_paths());
    v.extend(drivers());
    v
}
