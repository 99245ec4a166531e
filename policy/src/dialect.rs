use serde::Serialize;
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};

/// The SQL dialect of a door's backend: decides how text is parsed and how names resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    PostgreSql,
    MySql,
}

impl Dialect {
    pub(crate) fn parser_dialect(self) -> &'static dyn sqlparser::dialect::Dialect {
        match self {
            Dialect::PostgreSql => &PostgreSqlDialect {},
            Dialect::MySql => &MySqlDialect {},
        }
    }

    /// The quote character for identifiers the engine writes itself.
    pub(crate) fn identifier_quote(self) -> char {
        match self {
            Dialect::PostgreSql => '"',
            Dialect::MySql => '`',
        }
    }
}
