//! The backends' schemas, read from their catalogs for the policy engine
//! ([`sluice_policy::Schema`]: tables, column types, keys, foreign keys).
//!
//! Read at start, on reload, and again whenever a cheap fingerprint of the catalog changes
//! (`serve.rs` runs the loop). A backend that cannot be read leaves the engine with what it had
//! (nothing at first): the engine then proves less and denies or fences more, which is safe.
//!
//! `pg.rs` reads PostgreSQL's `pg_catalog` in one query over the door's own connection code;
//! `mysql.rs` reads MySQL's and MariaDB's `information_schema` in one multi-statement round trip;
//! `lint.rs` holds what `sluice check --db` reports about a role file against a loaded schema.
//!
//! Does not: decide anything, or cache anything but the fingerprint of what it last loaded.

mod lint;
mod mysql;
mod pg;
mod privileges;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use sluice_policy::roles::TableName;
use sluice_policy::{Dialect, Schema};

pub use lint::{lint, Finding, FindingKind};
pub use privileges::{needs as privilege_needs, MissingPrivilege, Needs as PrivilegeNeeds};

/// How long one catalog read may run on the backend.
const CATALOG_TIMEOUT: Duration = Duration::from_secs(30);

/// A backend whose schema can be read: `--pg-backend`, `--mysql-backend`, or `check --db`.
#[derive(Clone)]
pub enum SchemaSource {
    Postgres(crate::pg::BackendTarget),
    MySql(crate::mysql::BackendTarget),
}

/// A schema as read, with the fingerprint the catalog had just before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub schema: Schema,
    /// Changes whenever the catalog's tables, columns, indexes or constraints change (and
    /// sometimes when they did not: a rewrite such as TRUNCATE or VACUUM FULL on PostgreSQL).
    pub fingerprint: String,
    /// Which of `schema.tables` are views (they have columns but no keys or indexes of their
    /// own).
    pub views: BTreeSet<TableName>,
}

/// Why a schema could not be read. Never holds the backend's credentials.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The backend cannot be reached (the message says which and why).
    #[error("{0}")]
    Unreachable(String),
    /// The connection cannot be encrypted as the backend URL asks (the server offers no TLS,
    /// or its certificate fails the check): a configuration error, not an outage.
    #[error("{0}")]
    Tls(String),
    /// The backend refused the gateway's credentials or database: a configuration error.
    #[error("{0}")]
    Misconfigured(String),
    #[error("the backend refused the catalog query: {0}")]
    Refused(String),
    #[error("the catalog query's answer is unreadable: {0}")]
    Unreadable(String),
}

impl SchemaSource {
    /// A `postgres://` (or `postgresql://`, or libpq key=value) or `mysql://` connection string.
    /// Errors never echo the input, which holds the password.
    pub fn parse(url: &str) -> anyhow::Result<SchemaSource> {
        if url.trim_start().starts_with("mysql://") {
            Ok(SchemaSource::MySql(crate::mysql::BackendTarget::parse(
                url,
            )?))
        } else {
            Ok(SchemaSource::Postgres(
                crate::pg::BackendTarget::parse(url).map_err(anyhow::Error::msg)?,
            ))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            SchemaSource::Postgres(_) => Dialect::PostgreSql,
            SchemaSource::MySql(_) => Dialect::MySql,
        }
    }

    /// The backend's database (MySQL: the schema of every table in the model).
    pub fn database(&self) -> &str {
        match self {
            SchemaSource::Postgres(t) => &t.database,
            SchemaSource::MySql(t) => &t.database,
        }
    }

    /// Reads the whole schema (and the fingerprint, first, in the same round trip).
    pub async fn load(&self) -> Result<Loaded, SchemaError> {
        match self {
            SchemaSource::Postgres(t) => pg::load(t).await,
            SchemaSource::MySql(t) => mysql::load(t).await,
        }
    }

    /// The privileges of `needs` (see [`privilege_needs`]) the backend account lacks. Empty when
    /// it cannot tell (a MySQL account holding roles: logged).
    pub async fn missing_privileges(
        &self,
        needs: &PrivilegeNeeds,
    ) -> Result<Vec<MissingPrivilege>, SchemaError> {
        if needs.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            SchemaSource::Postgres(t) => pg::missing_privileges(t, needs).await,
            SchemaSource::MySql(t) => mysql::missing_privileges(t, needs).await,
        }
    }

    /// The catalog's fingerprint alone: one small query, to tell whether [`Self::load`] is
    /// worth running again.
    pub async fn fingerprint(&self) -> Result<String, SchemaError> {
        match self {
            SchemaSource::Postgres(t) => pg::fingerprint(t).await,
            SchemaSource::MySql(t) => mysql::fingerprint(t).await,
        }
    }
}

/// `PostgreSQL backend host:port/db`, for logs (never the credentials).
impl fmt::Display for SchemaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaSource::Postgres(t) => {
                write!(f, "PostgreSQL backend {}:{}/{}", t.host, t.port, t.database)
            }
            SchemaSource::MySql(t) => write!(f, "MySQL backend {}", t.display()),
        }
    }
}

impl fmt::Debug for SchemaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What differs between two models, for the log: `+t` added, `-t` gone, `~t` changed (at most
/// `limit` names, then how many more).
pub fn changes(old: &Schema, new: &Schema, limit: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    for (name, table) in &new.tables {
        match old.tables.get(name) {
            None => out.push(format!("+{name}")),
            Some(was) if was != table => out.push(format!("~{name}")),
            Some(_) => {}
        }
    }
    out.extend(
        old.tables
            .keys()
            .filter(|name| !new.tables.contains_key(*name))
            .map(|name| format!("-{name}")),
    );
    let more = out.len().saturating_sub(limit);
    out.truncate(limit);
    if more > 0 {
        out.push(format!("and {more} more"));
    }
    out.join(" ")
}

/// A role file's table name as the model names it: qualified with the default schema
/// (PostgreSQL) or the backend's database (MySQL) when the role file leaves it out.
fn model_name(
    table: &TableName,
    dialect: Dialect,
    default_schema: &str,
    database: &str,
) -> TableName {
    TableName {
        schema: Some(match (&table.schema, dialect) {
            (Some(s), _) => s.clone(),
            (None, Dialect::PostgreSql) => default_schema.to_string(),
            (None, Dialect::MySql) => database.to_string(),
        }),
        name: table.name.clone(),
    }
}

/// The columns of an index up to its first expression: what a lookup by leading columns can
/// use. `None` stands for an expression.
fn leading_columns(parts: impl IntoIterator<Item = Option<String>>) -> Vec<String> {
    parts.into_iter().map_while(|c| c).collect()
}

#[cfg(test)]
mod tests {
    use sluice_policy::schema::TableSchema;

    use super::*;

    #[test]
    fn changes_name_added_changed_and_dropped_tables() {
        let t = |n: &str| TableName {
            schema: Some("public".into()),
            name: n.into(),
        };
        let mut old = Schema::default();
        old.tables.insert(t("kept"), TableSchema::default());
        old.tables.insert(t("altered"), TableSchema::default());
        old.tables.insert(t("dropped"), TableSchema::default());
        let mut new = old.clone();
        new.tables.remove(&t("dropped"));
        new.tables.get_mut(&t("altered")).unwrap().primary_key = vec!["id".into()];
        new.tables.insert(t("added"), TableSchema::default());
        assert_eq!(
            changes(&old, &new, 10),
            "+public.added ~public.altered -public.dropped"
        );
        assert_eq!(changes(&old, &new, 1), "+public.added and 2 more");
    }
}
