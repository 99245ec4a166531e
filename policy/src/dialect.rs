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

/// How many `?` placeholders `sql` holds (outside strings, quoted names and comments), as the
/// dialect's tokenizer reads it; `usize::MAX` when it does not tokenize. A door that binds
/// positional parameters compares this with what the rendered statement holds.
pub fn placeholder_count(dialect: Dialect, sql: &str) -> usize {
    use sqlparser::tokenizer::{Token, Tokenizer};
    match Tokenizer::new(dialect.parser_dialect(), sql).tokenize() {
        Ok(tokens) => tokens
            .iter()
            .filter(|t| matches!(t, Token::Placeholder(p) if p == "?"))
            .count(),
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_counted_outside_strings_and_comments() {
        let sql = "SELECT ?, '?', `?`, \"?\" /* ? */ FROM t WHERE a = ? -- ?\n AND b = ?";
        assert_eq!(placeholder_count(Dialect::MySql, sql), 3);
        assert_eq!(placeholder_count(Dialect::MySql, "SELECT 1"), 0);
        assert_eq!(
            placeholder_count(Dialect::MySql, "SELECT 'unterminated"),
            usize::MAX
        );
    }
}
