//! The allowlists: functions without side effects and without access outside the query's own
//! rows. Anything not listed here (or in a role's `functions`) is denied: sleeps, file, network
//! and large-object functions, sequences, settings, admin and signal functions, catalog
//! lookups, functions that run SQL given as text (`query_to_xml`), user-defined functions, and
//! functions whose output size a caller picks (`repeat`, `lpad`, `rpad`, `space`,
//! `generate_series`, PostgreSQL's `format` (widths) and `replace`/`regexp_replace` (nested,
//! they grow geometrically): one cheap call can make the backend allocate a gigabyte; MySQL caps
//! string results at max_allowed_packet, so its `replace` stays). A role can allow
//! more with `functions:`. MySQL's LAST_INSERT_ID(), FOUND_ROWS() and ROW_COUNT() are left out
//! too: they read what the previous statement on the backend connection left, and backend
//! connections are shared between clients.

use crate::Dialect;

const COMMON: &[&str] = &[
    // aggregates
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bit_and",
    "bit_or",
    "bit_xor",
    // window functions
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // null handling and comparison
    "coalesce",
    "nullif",
    "greatest",
    "least",
    // strings
    "lower",
    "upper",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "substr",
    "substring",
    "trim",
    "ltrim",
    "rtrim",
    "concat",
    "concat_ws",
    "left",
    "right",
    "reverse",
    "ascii",
    "chr",
    "md5",
    "position",
    // numbers
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "mod",
    "power",
    "pow",
    "sqrt",
    "exp",
    "ln",
    "log",
    "log10",
    "log2",
    "sign",
    "pi",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "cot",
    "trunc",
    "truncate",
    "div",
    // dates and times
    "now",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "extract",
];

const POSTGRES: &[&str] = &[
    // Releases the session's advisory locks, which it cannot hold (the lock functions are not
    // allowed): drivers call it when returning a connection to their pool.
    "pg_advisory_unlock_all",
    "unnest",
    // The subscripts of an array, like unnest a function of its argument alone (SQLAlchemy's
    // key reflection numbers index columns with it).
    "generate_subscripts",
    "array",
    "pg_encoding_to_char",
    "array_lower",
    "current_schemas",
    "version",
    "current_schema",
    "current_database",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_slope",
    "regr_intercept",
    "btrim",
    "initcap",
    "strpos",
    "split_part",
    "starts_with",
    "translate",
    "to_hex",
    "regexp_match",
    "regexp_like",
    "quote_literal",
    "quote_ident",
    "encode",
    "decode",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_number",
    "date_trunc",
    "date_part",
    "age",
    "make_date",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "isfinite",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timezone",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "to_json",
    "to_jsonb",
    "row_to_json",
    "json_extract_path",
    "jsonb_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path_text",
    "json_array_length",
    "jsonb_array_length",
    "json_typeof",
    "jsonb_typeof",
    "jsonb_pretty",
    "jsonb_strip_nulls",
    "json_strip_nulls",
    "jsonb_set",
    "jsonb_insert",
    "array_length",
    "array_position",
    "array_positions",
    "array_to_string",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_remove",
    "array_replace",
    "cardinality",
    "array_lower",
    "array_upper",
    "array_ndims",
    "array_dims",
    "width_bucket",
    "scale",
    "cbrt",
    "factorial",
    "gcd",
    "lcm",
    "num_nonnulls",
    "num_nulls",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "gen_random_uuid",
    "random",
    "uuid_generate_v4",
    "date_bin",
    "to_tsvector",
    "to_tsquery",
    "plainto_tsquery",
    "websearch_to_tsquery",
    "ts_rank",
    "lower_inc",
    "upper_inc",
    "isempty",
    "range_merge",
];

const MYSQL: &[&str] = &[
    "replace",
    "group_concat",
    "json_arrayagg",
    "json_objectagg",
    "std",
    "lcase",
    "ucase",
    "mid",
    "locate",
    "instr",
    "field",
    "elt",
    "find_in_set",
    "format",
    "hex",
    "unhex",
    "strcmp",
    "substring_index",
    "soundex",
    "char",
    "ord",
    "quote",
    "regexp_replace",
    "regexp_instr",
    "regexp_substr",
    "rand",
    "crc32",
    "sha1",
    "sha2",
    "conv",
    "bin",
    "oct",
    "if",
    "ifnull",
    "isnull",
    "curdate",
    "curtime",
    "sysdate",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "date",
    "time",
    "timestamp",
    "year",
    "month",
    "day",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "week",
    "weekday",
    "weekofyear",
    "yearweek",
    "hour",
    "minute",
    "second",
    "microsecond",
    "quarter",
    "monthname",
    "dayname",
    "last_day",
    "makedate",
    "maketime",
    "date_format",
    "time_format",
    "str_to_date",
    "date_add",
    "date_sub",
    "adddate",
    "subdate",
    "addtime",
    "subtime",
    "datediff",
    "timediff",
    "timestampadd",
    "timestampdiff",
    "to_days",
    "from_days",
    "to_seconds",
    "unix_timestamp",
    "from_unixtime",
    "sec_to_time",
    "time_to_sec",
    "period_add",
    "period_diff",
    "convert_tz",
    "json_extract",
    "json_unquote",
    "json_object",
    "json_array",
    "json_length",
    "json_contains",
    "json_contains_path",
    "json_keys",
    "json_valid",
    "json_type",
    "json_depth",
    "json_quote",
    "json_search",
    "json_value",
    "json_set",
    "json_insert",
    "json_replace",
    "json_remove",
    "json_merge_patch",
    "json_merge_preserve",
    "uuid",
    "database",
    "version",
];

/// Custom (non-built-in to sqlparser) type names that casts may use.
pub(crate) const CUSTOM_TYPES: &[&str] = &[
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "money",
    "tsvector",
    "tsquery",
    "citext",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    // catalog column types (plain values; the OID alias types are guarded apart)
    "oid",
    "name",
    "text",
    "bool",
    "\"char\"",
    "int2vector",
    "oidvector",
    "json",
    "jsonb",
];

/// Catalog functions: allowed only through `engine/catalog.rs`, which guards their arguments
/// (an identifier passes only when it is a visible object's) or their answers.
pub(crate) const CATALOG_FUNCTIONS: &[&str] = &[
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_expr",
    "format_type",
    "pg_table_is_visible",
    "pg_type_is_visible",
    "pg_relation_is_publishable",
    "pg_get_partkeydef",
    "col_description",
    "obj_description",
    "pg_get_function_result",
    "pg_get_function_arguments",
    "pg_get_function_identity_arguments",
    "to_regclass",
    "to_regtype",
    "to_regnamespace",
    "to_regproc",
    "to_regprocedure",
    "pg_get_userbyid",
    "pg_partition_ancestors",
    // Definitions of objects the catalogs never show but built-in ones: NULL for the rest.
    "pg_get_statisticsobjdef_columns",
    "pg_get_statisticsobjdef",
    "pg_get_triggerdef",
    "pg_get_ruledef",
    "pg_get_viewdef",
    "pg_get_functiondef",
];

/// Built-in PostgreSQL operators a query may name schema-qualified, `OPERATOR(pg_catalog.~)`.
pub(crate) const PG_QUALIFIED_OPERATORS: &[&str] = &[
    "=", "<>", "!=", "<", ">", "<=", ">=", "~", "!~", "~*", "!~*", "~~", "!~~", "~~*", "!~~*",
    "||", "+", "-", "*", "/",
];

/// PostgreSQL's OID alias types: a cast to one looks a name up in the catalog.
pub(crate) const OID_ALIASES: &[&str] = &[
    "regclass",
    "regtype",
    "regnamespace",
    "regproc",
    "regprocedure",
    "regoper",
    "regoperator",
    "regcollation",
    "regconfig",
    "regdictionary",
    "regrole",
];

/// MySQL server variables drivers read on connect (`SELECT @@version_comment`, …).
pub(crate) const READABLE_MYSQL_VARIABLES: &[&str] = &[
    "version",
    "version_comment",
    "auto_increment_increment",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "character_set_server",
    "collation_connection",
    "collation_server",
    "max_allowed_packet",
    "sql_mode",
    "time_zone",
    "system_time_zone",
    "transaction_isolation",
    "tx_isolation",
    "transaction_read_only",
    "tx_read_only",
    "autocommit",
    "lower_case_table_names",
    "net_buffer_length",
    "net_write_timeout",
    "wait_timeout",
    "interactive_timeout",
    "license",
    "init_connect",
    "query_cache_size",
    "query_cache_type",
    "performance_schema",
    "have_query_cache",
    "max_execution_time",
    "max_statement_time",
    "sql_select_limit",
];

pub(crate) fn allowed(dialect: Dialect, name: &str) -> bool {
    COMMON.contains(&name)
        || match dialect {
            Dialect::PostgreSql => POSTGRES.contains(&name),
            Dialect::MySql => MYSQL.contains(&name),
        }
}

/// information_schema's helper functions a query may call, schema-qualified: PgJDBC's
/// `getPrimaryKeys` and `getIndexInfo` expand `pg_index.indkey` with `_pg_expandarray`, an SQL
/// function of its argument alone (the array's elements with their positions).
pub(crate) const PG_INFORMATION_SCHEMA: &[&str] = &["_pg_expandarray"];

/// Keywords sqlparser reads as bare names that the engine evaluates as the session's account.
pub(crate) const PG_ACCOUNT_KEYWORDS: &[&str] = &[
    "current_user",
    "current_role",
    "session_user",
    "system_user",
    "user",
];
pub(crate) const MYSQL_ACCOUNT_KEYWORDS: &[&str] = &["current_user", "current_role"];

/// MySQL character-set introducers (`_utf8mb4'…'`); any other `_word 'x'` is a column and an
/// alias to MySQL.
pub(crate) const MYSQL_INTRODUCERS: &[&str] = &[
    "_utf8mb4", "_utf8mb3", "_utf8", "_binary", "_latin1", "_ascii",
];

/// PostgreSQL types a client may declare for a statement's parameters (by OID), and their
/// arrays. A declared type is a cast the engine never sees: `SELECT $1::text` with `$1`
/// declared `regclass` turns a number into a table name (a catalog lookup the engine denies when
/// written as a cast). So only plain data types pass, and 0 (let the server infer).
const PG_PARAMETER_TYPES: &[u32] = &[
    0,    // unspecified
    16,   // bool
    17,   // bytea
    18,   // char
    20,   // int8
    21,   // int2
    23,   // int4
    25,   // text
    114,  // json
    142,  // xml
    650,  // cidr
    700,  // float4
    701,  // float8
    705,  // unknown
    774,  // macaddr8
    829,  // macaddr
    869,  // inet
    1042, // bpchar
    1043, // varchar
    1082, // date
    1083, // time
    1114, // timestamp
    1184, // timestamptz
    1186, // interval
    1266, // timetz
    1560, // bit
    1562, // varbit
    1700, // numeric
    2950, // uuid
    3802, // jsonb
    // arrays of the above
    1000, 1001, 1002, 1016, 1005, 1007, 1009, 199, 143, 651, 1021, 1022, 775, 1040, 1041, 1014,
    1015, 1182, 1183, 1115, 1185, 1187, 1270, 1561, 1563, 1231, 2951, 3807,
];

/// Whether a client may declare a statement parameter of this PostgreSQL type OID.
pub fn pg_parameter_type_allowed(oid: u32) -> bool {
    PG_PARAMETER_TYPES.contains(&oid)
}
