use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::filter::RowFilter;

/// What a statement does to a table, as named in `tables`, `columns` and
/// `forbidden_operations`. Only the first four can be granted; the rest exist so that a role
/// file can name them in `forbidden_operations` (they are never allowed anyway, but a forbidden
/// entry makes the denial name the rule the operator wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Drop,
    Truncate,
    Alter,
    Create,
    Grant,
    Revoke,
    Copy,
    Call,
    Lock,
}

impl Operation {
    pub const ALL: [Operation; 13] = [
        Operation::Select,
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
        Operation::Drop,
        Operation::Truncate,
        Operation::Alter,
        Operation::Create,
        Operation::Grant,
        Operation::Revoke,
        Operation::Copy,
        Operation::Call,
        Operation::Lock,
    ];
    pub const GRANTABLE: [Operation; 4] = [
        Operation::Select,
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
    ];

    pub fn is_grantable(self) -> bool {
        Self::GRANTABLE.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "SELECT",
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Drop => "DROP",
            Operation::Truncate => "TRUNCATE",
            Operation::Alter => "ALTER",
            Operation::Create => "CREATE",
            Operation::Grant => "GRANT",
            Operation::Revoke => "REVOKE",
            Operation::Copy => "COPY",
            Operation::Call => "CALL",
            Operation::Lock => "LOCK",
        }
    }

    /// Parses an operation name as written in a role file (case-insensitive).
    pub fn parse(s: &str) -> Option<Operation> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the operation changes data or schema: scopes without any of these run read-only.
    pub fn writes(self) -> bool {
        self != Operation::Select
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table as named in a role file: `name` or `schema.name`, matched exactly (case-sensitive)
/// against the name the engine resolves from a statement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn parse(s: &str) -> Result<TableName, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.len() <= 63
                && p.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        };
        match parts.as_slice() {
            [name] if valid(name) => Ok(TableName {
                schema: None,
                name: name.to_string(),
            }),
            [schema, name] if valid(schema) && valid(name) => Ok(TableName {
                schema: Some(schema.to_string()),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "`{s}` is not a table name; write `table` or `schema.table` (letters, digits, `_`)"
            )),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Which columns an operation may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnSet {
    /// No `columns` entry: every column of the table.
    All,
    /// Only these, in the role file's order (which is the order `SELECT *` returns them in).
    Only(Vec<String>),
}

/// What a role may do with one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableGrant {
    /// Granted operations (only grantable ones), before `forbidden_operations` is applied.
    pub operations: BTreeSet<Operation>,
    /// Column limits per operation; an operation without an entry may touch every column.
    pub columns: BTreeMap<Operation, Vec<String>>,
    /// Row filters, all of which a row must pass (inheritance adds filters, never removes them).
    pub filters: Vec<RowFilter>,
}

impl TableGrant {
    pub fn columns_for(&self, op: Operation) -> ColumnSet {
        match self.columns.get(&op) {
            Some(cols) => ColumnSet::Only(cols.clone()),
            None => ColumnSet::All,
        }
    }
}

/// Where a forbidden operation comes from, for the denial message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForbiddenBy {
    /// The top-level `forbidden_operations`.
    Global,
    /// A role's own `forbidden_operations` (this role or one it inherits).
    Role(String),
}

impl fmt::Display for ForbiddenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForbiddenBy::Global => f.write_str("forbidden_operations"),
            ForbiddenBy::Role(r) => write!(f, "forbidden_operations of role {r}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RatePeriod {
    Second,
    Minute,
    Hour,
}

impl RatePeriod {
    pub fn duration(self) -> Duration {
        match self {
            RatePeriod::Second => Duration::from_secs(1),
            RatePeriod::Minute => Duration::from_secs(60),
            RatePeriod::Hour => Duration::from_secs(3600),
        }
    }
}

/// `rate_limit: N/sec|min|hour`: at most `count` statements per period, per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub count: u32,
    pub per: RatePeriod,
}

impl RateLimit {
    pub fn parse(s: &str) -> Result<RateLimit, String> {
        let err =
            || format!("rate_limit `{s}` is not of the form N/sec, N/min or N/hour (e.g. 200/min)");
        let (n, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if count == 0 {
            return Err(format!(
                "rate_limit `{s}` allows nothing; remove the role instead, or give N >= 1"
            ));
        }
        let per = match unit.trim() {
            "sec" | "second" | "s" => RatePeriod::Second,
            "min" | "minute" | "m" => RatePeriod::Minute,
            "hour" | "h" => RatePeriod::Hour,
            _ => return Err(err()),
        };
        Ok(RateLimit { count, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per {
            RatePeriod::Second => "sec",
            RatePeriod::Minute => "min",
            RatePeriod::Hour => "hour",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// A role after inheritance: everything the engine needs to decide, with nothing left to look
/// up. Built only by [`super::RbacConfig::from_yaml`].
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveRole {
    pub name: String,
    /// Roles this one inherits from, nearest first, each once.
    pub ancestors: Vec<String>,
    pub tables: BTreeMap<TableName, TableGrant>,
    /// Operations no statement of this role may perform, whatever `tables` says.
    pub forbidden: BTreeMap<Operation, ForbiddenBy>,
    /// Functions allowed beyond the engine's built-in allowlist (lower-case names).
    pub functions: BTreeSet<String>,
    pub rate_limit: Option<RateLimit>,
    pub max_rows: Option<u64>,
    #[serde(serialize_with = "serialize_duration")]
    pub statement_timeout: Option<Duration>,
    /// Whether the role may run EXPLAIN (role file `explain: true`): a plan's row estimates are
    /// computed from statistics over every tenant's rows.
    pub explain: bool,
    /// The claims this role's filters read, computed once at load (the decision cache keys on
    /// them for every statement).
    #[serde(skip)]
    pub(crate) claims_read: BTreeSet<String>,
}

fn serialize_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
        None => s.serialize_none(),
    }
}

impl EffectiveRole {
    /// Whether `op` on `table` is granted and not forbidden.
    pub fn permits(&self, table: &TableName, op: Operation) -> bool {
        !self.forbidden.contains_key(&op)
            && self
                .tables
                .get(table)
                .is_some_and(|g| g.operations.contains(&op))
    }

    /// Whether any statement of this role could change data: if not, the doors run its
    /// statements in read-only transactions.
    pub fn can_write(&self) -> bool {
        self.tables.iter().any(|(t, g)| {
            g.operations
                .iter()
                .any(|op| op.writes() && self.permits(t, *op))
        })
    }

    /// Every claim that this role's filters read (`{{ token.NAME }}`): a token without one of
    /// them could never run a statement on the filtered table, so issuing it is refused.
    pub fn required_claims(&self) -> &BTreeSet<String> {
        &self.claims_read
    }

    /// A human-readable account of the resolved role, for `sluice check --explain`.
    pub fn explain(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "role {}", self.name);
        if !self.ancestors.is_empty() {
            let _ = writeln!(out, "  inherits: {}", self.ancestors.join(", "));
        }
        let _ = writeln!(
            out,
            "  can write: {}",
            if self.can_write() {
                "yes"
            } else {
                "no (statements run read-only)"
            }
        );
        let _ = writeln!(out, "  tables:");
        for (table, grant) in &self.tables {
            let _ = writeln!(out, "    {table}:");
            for op in &grant.operations {
                let cols = match grant.columns.get(op) {
                    Some(c) => c.join(", "),
                    None => "all columns".to_string(),
                };
                match self.forbidden.get(op) {
                    Some(by) => {
                        let _ = writeln!(out, "      {op}: DENIED (forbidden by {by})");
                    }
                    None => {
                        let _ = writeln!(out, "      {op}: {cols}");
                    }
                }
            }
            for f in &grant.filters {
                let _ = writeln!(
                    out,
                    "      rows where: {} (from role {})",
                    f.text(),
                    f.declared_by()
                );
            }
        }
        if !self.forbidden.is_empty() {
            let denied: Vec<String> = self
                .forbidden
                .iter()
                .map(|(op, by)| format!("{op} ({by})"))
                .collect();
            let _ = writeln!(out, "  forbidden: {}", denied.join(", "));
        }
        if !self.functions.is_empty() {
            let f: Vec<&str> = self.functions.iter().map(String::as_str).collect();
            let _ = writeln!(out, "  extra functions: {}", f.join(", "));
        }
        let claims = self.required_claims();
        if !claims.is_empty() {
            let c: Vec<&str> = claims.iter().map(String::as_str).collect();
            let _ = writeln!(out, "  token claims required: {}", c.join(", "));
        }
        if let Some(r) = self.rate_limit {
            let _ = writeln!(out, "  rate limit: {r}");
        }
        if let Some(m) = self.max_rows {
            let _ = writeln!(out, "  max rows: {m}");
        }
        if let Some(t) = self.statement_timeout {
            let _ = writeln!(
                out,
                "  statement timeout: {}",
                humantime::format_duration(t)
            );
        }
        out
    }
}
