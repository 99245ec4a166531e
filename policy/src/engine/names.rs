//! Table names as the backend resolves them.
//!
//! PostgreSQL folds unquoted identifiers to lower case and resolves unqualified names through
//! `search_path`; the engine resolves them to the role file's `default_schema` and renders every
//! table it lets through schema-qualified, so the backend's search_path cannot make a name mean
//! something else. MySQL names are taken as written (case-sensitive, as on Linux), and a
//! database-qualified name must name the backend's database.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use super::render::check_ident;
use super::{construct, Checker};
use crate::decision::{Denial, Rule};
use crate::roles::TableName;
use crate::Dialect;

/// A table reference that is not a CTE.
pub(crate) struct ResolvedTable {
    /// The name to look grants up by (the role file's spelling when it has one).
    pub key: TableName,
    /// The schema-qualified name to render.
    pub rendered: ObjectName,
    /// The last part as the user wrote it: the implicit alias of the reference.
    pub bare: Ident,
}

impl ResolvedTable {
    /// The name the backend's schema model keys the table by (schema- or database-qualified).
    pub fn qualified(&self) -> Option<TableName> {
        let parts: Vec<&Ident> = self
            .rendered
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i),
                ObjectNamePart::Function(_) => None,
            })
            .collect::<Option<_>>()?;
        match parts.as_slice() {
            [s, n] => Some(TableName {
                schema: Some(s.value.clone()),
                name: n.value.clone(),
            }),
            [n] => Some(TableName {
                schema: None,
                name: n.value.clone(),
            }),
            _ => None,
        }
    }
}

impl Checker<'_> {
    /// An identifier as the backend compares it.
    pub(crate) fn norm(&self, ident: &Ident) -> String {
        match (self.scope.dialect, ident.quote_style) {
            // PostgreSQL folds only ASCII letters in UTF-8 databases (`Ärzte` stays `Ärzte`).
            (Dialect::PostgreSql, None) => ident.value.to_ascii_lowercase(),
            _ => ident.value.clone(),
        }
    }

    /// Whether a column named in the role file is the column `used` refers to (MySQL column
    /// names ignore case, Unicode case included).
    pub(crate) fn column_is(&self, configured: &str, used: &Ident) -> bool {
        match self.scope.dialect {
            Dialect::PostgreSql => configured == self.norm(used),
            Dialect::MySql => configured.to_lowercase() == used.value.to_lowercase(),
        }
    }

    /// Whether `used` might be the column `configured`: a loose match (any case) for checks
    /// where matching too much only denies.
    pub(crate) fn column_may_be(configured: &str, used: &Ident) -> bool {
        configured.to_lowercase() == used.value.to_lowercase()
    }

    pub(crate) fn quoted(&self, name: &str) -> Ident {
        Ident::with_quote(self.scope.dialect.identifier_quote(), name)
    }

    pub(crate) fn parts<'n>(&self, name: &'n ObjectName) -> Result<Vec<&'n Ident>, Denial> {
        name.0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => check_ident(i).map(|()| i),
                ObjectNamePart::Function(_) => Err(construct(format!("the name {name}"))),
            })
            .collect()
    }

    /// MySQL's `FROM DUAL`: no table at all.
    pub(crate) fn is_dual(
        &self,
        name: &ObjectName,
        alias: Option<&sqlparser::ast::TableAlias>,
    ) -> bool {
        self.scope.dialect == Dialect::MySql
            && alias.is_none()
            && matches!(name.0.as_slice(), [ObjectNamePart::Identifier(i)]
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("dual"))
    }

    /// Whether a one-part name refers to a CTE in scope.
    pub(crate) fn is_cte(&self, name: &ObjectName) -> bool {
        match name.0.as_slice() {
            [ObjectNamePart::Identifier(i)] => {
                let n = self.norm(i);
                self.ctes.iter().any(|scope| scope.contains(&n))
            }
            _ => false,
        }
    }

    pub(crate) fn resolve_table(&self, name: &ObjectName) -> Result<ResolvedTable, Denial> {
        let parts = self.parts(name)?;
        let default_schema = &self.scope.config.default_schema;
        let (schema, table, bare) = match (self.scope.dialect, parts.as_slice()) {
            (Dialect::PostgreSql, [t]) => (Some(default_schema.clone()), self.norm(t), *t),
            (Dialect::PostgreSql, [s, t]) => (Some(self.norm(s)), self.norm(t), *t),
            (Dialect::MySql, [t]) => (self.scope.database.map(str::to_string), self.norm(t), *t),
            (Dialect::MySql, [d, t]) => {
                let db = self.norm(d);
                if self.scope.database != Some(db.as_str()) {
                    return Err(Denial::new(
                        Rule::TableNotGranted,
                        format!("{name} is in database {db}, which is not this gateway's database"),
                    ));
                }
                (Some(db), self.norm(t), *t)
            }
            _ => {
                return Err(construct(format!(
                    "the name {name} (use table or schema.table)"
                )))
            }
        };
        let unqualified_default = match self.scope.dialect {
            Dialect::PostgreSql => schema.as_deref() == Some(default_schema.as_str()),
            Dialect::MySql => schema.as_deref() == self.scope.database,
        };
        let qualified = TableName {
            schema: schema.clone(),
            name: table.clone(),
        };
        let short = TableName {
            schema: None,
            name: table.clone(),
        };
        let tables = &self.role().tables;
        // A role file may name a default-schema table with or without its schema, but not both
        // ways in one role: two entries would be two sets of grants and filters for one table.
        if unqualified_default && tables.contains_key(&qualified) && tables.contains_key(&short) {
            return Err(Denial::new(
                Rule::TableNotGranted,
                format!(
                    "the role file names table {short} both as `{short}` and `{qualified}` for role {}; \
                     use one spelling",
                    self.role().name
                ),
            ));
        }
        let key = if unqualified_default && !tables.contains_key(&qualified) {
            short
        } else {
            qualified
        };
        let rendered = match &schema {
            Some(s) => ObjectName::from(vec![self.quoted(s), self.quoted(&table)]),
            None => ObjectName::from(vec![self.quoted(&table)]),
        };
        Ok(ResolvedTable {
            key,
            rendered,
            bare: bare.clone(),
        })
    }
}
