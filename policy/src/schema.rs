//! The backend's schema, as a value: tables, their columns and types, keys and foreign keys.
//!
//! The proxy reads it from the database at start, on reload and on change (`proxy/src/schema/`)
//! and hands it to the engine with the role file; the engine never asks the database anything.
//! The engine uses it to prove expressions leakproof (a comparison is leakproof only between
//! values of one type class, so no conversion can fail or warn on a row: see
//! `engine/leakproof.rs`) and for the rule that a write may only reference rows in scope
//! (foreign keys). A table the model does not hold is not an error: what the engine cannot prove
//! about it is treated as unsafe (its tables are fenced, its writes refused where a proof is
//! needed).

use std::collections::BTreeMap;

use crate::roles::TableName;

/// What the engine knows of the backend's tables, keyed by schema-qualified name (PostgreSQL:
/// the schema; MySQL: the database).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<TableName, TableSchema>,
    /// PostgreSQL: the OID of each schema (namespace) holding a table of the model.
    pub namespaces: BTreeMap<String, u32>,
    /// The columns, in order, of the system catalog relations the engine serves confined
    /// (`engine/catalog.rs`), as this backend has them. A catalog relation missing here is
    /// refused: its rows cannot be projected with its statistics masked.
    pub catalogs: BTreeMap<TableName, Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSchema {
    /// In the table's order.
    pub columns: Vec<ColumnSchema>,
    pub primary_key: Vec<String>,
    /// Unique constraints and unique indexes other than the primary key, partial ones and ones
    /// on expressions included: a write can collide on each of them, but one that lists fewer
    /// columns than it constrains does not prove those columns identify a row.
    pub unique: Vec<Key>,
    /// Every index, unique or not (the primary key's too).
    pub indexes: Vec<Key>,
    pub foreign_keys: Vec<ForeignKey>,
    /// What the scoped catalogs need beyond the engine's model.
    pub catalog: TableCatalog,
}

/// What the catalogs say of a table beyond what the engine proves with: the backend's
/// identifiers and definitions, so that the scoped catalogs (`engine/catalog.rs`) can show a
/// role exactly its tables, columns, keys and defaults and nothing that names a hidden one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCatalog {
    /// PostgreSQL: the table's OID (0 on MySQL).
    pub oid: u32,
    /// PostgreSQL: the OIDs of the table's row type and of that type's array type.
    pub row_types: Vec<u32>,
    /// MySQL: `BASE TABLE` or `VIEW`; PostgreSQL: the relkind letter.
    pub kind: String,
    /// Per column, in the table's order (one entry per column of the model).
    pub columns: Vec<ColumnCatalog>,
    pub indexes: Vec<IndexCatalog>,
    pub constraints: Vec<ConstraintCatalog>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnCatalog {
    /// PostgreSQL's attnum; MySQL's ordinal position.
    pub number: i32,
    /// PostgreSQL: the column's type and the types it is made of or gives (array, element,
    /// domain base, range subtype), every one with an OID at or above 16384 being a user type
    /// the catalogs show when the column is visible.
    pub type_oids: Vec<u32>,
    /// MySQL: the full column type (`int(10) unsigned`).
    pub column_type: String,
    pub default: Option<DefaultCatalog>,
    /// MySQL: `EXTRA` (`auto_increment`, `on update current_timestamp()`, …).
    pub extra: String,
}

/// A column's default (or generation) expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultCatalog {
    /// PostgreSQL: the pg_attrdef OID (0 on MySQL).
    pub oid: u32,
    /// The expression as the backend shows it.
    pub text: String,
    /// Every column of the table the expression reads.
    pub uses: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexCatalog {
    pub oid: u32,
    pub name: String,
    pub primary: bool,
    pub unique: bool,
    /// Key columns in order; `None` for an expression.
    pub columns: Vec<Option<String>>,
    /// Every column the index reads: key, INCLUDE, expression and predicate columns. An index
    /// is shown only when each is visible.
    pub uses: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConstraintCatalog {
    /// PostgreSQL: the pg_constraint OID (0 on MySQL).
    pub oid: u32,
    pub name: String,
    /// `p` primary key, `u` unique, `f` foreign key, `c` check, `x` exclusion.
    pub kind: char,
    /// Every column of the table the constraint names or reads. A check constraint whose
    /// columns are not known lists every column of the table.
    pub uses: Vec<String>,
    /// A foreign key's table and the columns of it that it names.
    pub references: Option<(TableName, Vec<String>)>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    /// The backend's name of the type (`integer`, `character varying(80)`, `int(11)`, …).
    pub data_type: String,
    pub class: TypeClass,
    pub nullable: bool,
}

/// A named list of columns: an index, or a unique constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    /// The key's columns in order, up to its first expression (empty for a key that starts
    /// with one, or is on expressions only). PostgreSQL's INCLUDE columns are not key columns.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references: TableName,
    pub referenced_columns: Vec<String>,
}

/// Types grouped so that comparing two values of one class converts nothing that could fail or
/// warn. `Other` is never proven safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum TypeClass {
    /// Whole numbers (smallint … bigint, MySQL's unsigned and YEAR too).
    Integer,
    /// numeric / decimal.
    Decimal,
    /// real, double precision, float.
    Float,
    /// char, varchar, text (MySQL's enum and set compare as strings too).
    Text,
    Date,
    /// timestamp, datetime (with or without time zone: each its own class on PostgreSQL).
    Timestamp,
    TimestampTz,
    Time,
    Boolean,
    Uuid,
    Other,
}

impl TypeClass {
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            TypeClass::Integer | TypeClass::Decimal | TypeClass::Float
        )
    }

    /// Classifies a PostgreSQL type by its `format_type` name (`integer`, `character
    /// varying(20)`, `timestamp with time zone`, …) or its internal name (`int4`, `varchar`).
    pub fn of_postgres(type_name: &str) -> TypeClass {
        let t = type_name.trim().to_ascii_lowercase();
        // An array's name ends in `[]` after its element's modifier (`numeric(8,2)[]`).
        if t.ends_with(']') {
            return TypeClass::Other;
        }
        // `format_type` writes a modifier inside the name, before a time zone: `timestamp(3)
        // with time zone`, `time(0) without time zone`. Drop it wherever it is.
        let mut unmodified = String::with_capacity(t.len());
        let mut depth = 0usize;
        for c in t.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                c if depth == 0 => unmodified.push(c),
                _ => {}
            }
        }
        let base = unmodified.split_whitespace().collect::<Vec<_>>().join(" ");
        match base.as_str() {
            "smallint" | "integer" | "bigint" | "int2" | "int4" | "int8" | "int" => {
                TypeClass::Integer
            }
            "numeric" | "decimal" => TypeClass::Decimal,
            "real" | "double precision" | "float4" | "float8" => TypeClass::Float,
            "text" | "character varying" | "varchar" | "character" | "char" | "bpchar" | "name"
            | "citext" => TypeClass::Text,
            "date" => TypeClass::Date,
            "timestamp without time zone" | "timestamp" => TypeClass::Timestamp,
            "timestamp with time zone" | "timestamptz" => TypeClass::TimestampTz,
            "time without time zone" | "time" => TypeClass::Time,
            "boolean" | "bool" => TypeClass::Boolean,
            "uuid" => TypeClass::Uuid,
            _ => TypeClass::Other,
        }
    }

    /// Classifies a MySQL/MariaDB type by `information_schema.COLUMNS.DATA_TYPE` (`int`,
    /// `varchar`, `datetime`, …).
    pub fn of_mysql(data_type: &str) -> TypeClass {
        let t = data_type.trim().to_ascii_lowercase();
        let base = t.split(['(', ' ']).next().unwrap_or("");
        match base {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                TypeClass::Integer
            }
            "decimal" | "numeric" | "dec" | "fixed" => TypeClass::Decimal,
            "float" | "double" | "real" => TypeClass::Float,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
            | "set" => TypeClass::Text,
            "date" => TypeClass::Date,
            "datetime" | "timestamp" => TypeClass::Timestamp,
            "time" => TypeClass::Time,
            _ => TypeClass::Other,
        }
    }
}

impl Schema {
    /// The model with no tables: the engine proves nothing from it (every table is fenced
    /// whenever a statement holds an expression that is not leakproof without types).
    pub fn empty() -> &'static Schema {
        static EMPTY: Schema = Schema {
            tables: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            catalogs: BTreeMap::new(),
        };
        &EMPTY
    }

    pub fn table(&self, name: &TableName) -> Option<&TableSchema> {
        self.tables.get(name)
    }
}

impl TableSchema {
    /// The column of that name, matched as the backend does for unquoted names: PostgreSQL
    /// folds to lower case (and stores lower case), MySQL ignores case in column names.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        if let Some(c) = self.columns.iter().find(|c| c.name == name) {
            return Some(c);
        }
        let mut folded = self
            .columns
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(name));
        match (folded.next(), folded.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TypeClass;

    #[test]
    fn postgres_modifiers_do_not_hide_the_time_zone_or_the_array() {
        let cases = [
            ("integer", TypeClass::Integer),
            ("character varying(32)", TypeClass::Text),
            ("numeric(8,2)", TypeClass::Decimal),
            ("timestamp(3) with time zone", TypeClass::TimestampTz),
            ("timestamp(3) without time zone", TypeClass::Timestamp),
            ("timestamp with time zone", TypeClass::TimestampTz),
            ("time(0) with time zone", TypeClass::Other),
            ("time(0) without time zone", TypeClass::Time),
            ("numeric(8,2)[]", TypeClass::Other),
            ("character varying(20)[]", TypeClass::Other),
            ("text[]", TypeClass::Other),
            ("integer[][]", TypeClass::Other),
            ("bit varying(5)", TypeClass::Other),
            ("interval(3)", TypeClass::Other),
        ];
        for (name, class) in cases {
            assert_eq!(TypeClass::of_postgres(name), class, "{name}");
        }
    }
}
