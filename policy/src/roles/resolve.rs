//! From the file as written to one [`EffectiveRole`] per role.
//!
//! Inheritance rules (documented in README):
//! - grants (`tables`) and `functions` add up along the chain;
//! - `filters` add up too: a row must pass every filter of the role and of every role it
//!   inherits, so inheriting can never loosen a row filter;
//! - `forbidden_operations` add up (top level + every role in the chain) and beat any grant;
//! - a role's own `columns` entry for a (table, operation) replaces the inherited one;
//! - `rate_limit`, `max_rows`, `statement_timeout`: the role's own value, else the strictest
//!   of its parents'.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors};
use super::filter::RowFilter;
use super::model::{EffectiveRole, ForbiddenBy, Operation, RateLimit, TableGrant, TableName};
use super::yaml::{At, Key, Names, OneOrMany, RawConfig, RawRole};
use super::RbacConfig;

const MAX_STATEMENT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

struct Errors {
    source_name: String,
    list: Vec<ConfigError>,
}

impl Errors {
    fn at(&mut self, at: At, message: impl Into<String>) {
        self.list.push(ConfigError {
            source_name: self.source_name.clone(),
            line: at.line,
            column: at.column,
            message: message.into(),
        });
    }
}

/// One role's own declarations, checked but not yet combined with its parents'.
struct Declared {
    inherits: Vec<String>,
    tables: BTreeMap<TableName, (At, BTreeSet<Operation>)>,
    columns: BTreeMap<TableName, BTreeMap<Operation, (At, Vec<String>)>>,
    filters: BTreeMap<TableName, (At, RowFilter)>,
    forbidden: BTreeSet<Operation>,
    functions: BTreeSet<String>,
    rate_limit: Option<RateLimit>,
    max_rows: Option<u64>,
    statement_timeout: Option<Duration>,
    explain: Option<bool>,
}

pub(super) fn resolve(source_name: &str, raw: RawConfig) -> Result<RbacConfig, ConfigErrors> {
    let mut errors = Errors {
        source_name: source_name.to_string(),
        list: Vec::new(),
    };
    let global_forbidden = raw
        .forbidden_operations
        .as_ref()
        .map(|names| operations(names, &mut errors, false))
        .unwrap_or_default();
    let default_schema = match &raw.default_schema {
        Some(s) if is_identifier(&s.value) => s.value.clone(),
        Some(s) => {
            errors.at(
                At::of(s),
                format!("default_schema `{}` is not a schema name", s.value),
            );
            String::new()
        }
        None => "public".to_string(),
    };
    if raw.roles.value.is_empty() {
        errors.at(
            At::of(&raw.roles),
            "`roles` is empty; define at least one role",
        );
    }

    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    for (key, role) in &raw.roles.value {
        if !is_identifier(&key.name) {
            errors.at(
                key.at,
                format!("role name `{}` must be letters, digits and `_`", key.name),
            );
        }
        declared.insert(
            key.name.clone(),
            declare(key, role, &default_schema, &mut errors),
        );
    }

    // Parents must exist before cycles can be looked for.
    for (name, d) in &declared {
        for parent in &d.inherits {
            if !declared.contains_key(parent) {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                errors.at(
                    inherits_at(&raw.roles.value, name),
                    format!(
                        "role {name} inherits unknown role `{parent}`; known roles: {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    if !errors.list.is_empty() {
        return Err(ConfigErrors(errors.list));
    }

    let mut resolved: BTreeMap<String, EffectiveRole> = BTreeMap::new();
    for name in declared.keys() {
        let mut stack = Vec::new();
        if let Err(cycle) = resolve_role(
            name,
            &declared,
            &global_forbidden,
            &mut resolved,
            &mut stack,
        ) {
            errors.at(
                inherits_at(&raw.roles.value, &cycle[0]),
                format!("inheritance cycle: {}", cycle.join(" -> ")),
            );
            return Err(ConfigErrors(errors.list));
        }
    }

    // Entries that only make sense against the resolved grants.
    for (name, d) in &declared {
        let role = &resolved[name];
        for (table, ops) in &d.columns {
            for (op, (at, _)) in ops {
                if !role
                    .tables
                    .get(table)
                    .is_some_and(|g| g.operations.contains(op))
                {
                    errors.at(
                        *at,
                        format!(
                            "role {name} limits {op} columns of {table}, but does not grant {op} on {table}; \
                             add it under `tables` or remove the entry"
                        ),
                    );
                }
            }
        }
        for (table, (at, _)) in &d.filters {
            if !role.tables.contains_key(table) {
                errors.at(
                    *at,
                    format!(
                        "role {name} has a filter for {table}, but grants nothing on {table}; \
                         add it under `tables` or remove the filter"
                    ),
                );
            }
        }
    }
    if !errors.list.is_empty() {
        return Err(ConfigErrors(errors.list));
    }
    Ok(RbacConfig {
        default_schema,
        roles: resolved,
    })
}

fn inherits_at(roles: &BTreeMap<Key, serde_saphyr::Spanned<RawRole>>, name: &str) -> At {
    roles
        .iter()
        .find(|(k, _)| k.name == name)
        .map(|(k, r)| r.value.inherits.as_ref().map_or(k.at, At::of))
        .unwrap_or(At { line: 0, column: 0 })
}

fn declare(
    key: &Key,
    role: &serde_saphyr::Spanned<RawRole>,
    default_schema: &str,
    errors: &mut Errors,
) -> Declared {
    let name = &key.name;
    let r = &role.value;
    let inherits = match r.inherits.as_ref().map(|s| &s.value) {
        None => Vec::new(),
        Some(OneOrMany::One(p)) => vec![p.clone()],
        Some(OneOrMany::Many(ps)) => ps.clone(),
    };
    if inherits.iter().any(|p| p == name) {
        errors.at(
            r.inherits.as_ref().map_or(key.at, At::of),
            format!("inheritance cycle: role {name} inherits itself"),
        );
    }

    let mut tables = BTreeMap::new();
    for (tkey, ops) in &r.tables {
        let Some(table) = table_name(tkey, default_schema, errors) else {
            continue;
        };
        let ops = operations(ops, errors, true);
        if tables.insert(table.clone(), (tkey.at, ops)).is_some() {
            errors.at(tkey.at, format!("role {name} lists table {table} twice (with and without its schema?); list it once"));
        }
    }

    let mut columns = BTreeMap::new();
    for (tkey, per_op) in &r.columns {
        let Some(table) = table_name(tkey, default_schema, errors) else {
            continue;
        };
        let mut limits = BTreeMap::new();
        for (okey, cols) in per_op {
            let Some(op) = Operation::parse(&okey.name).filter(|op| op.is_grantable()) else {
                errors.at(
                    okey.at,
                    format!(
                        "`{}` is not an operation with columns; use SELECT, INSERT, UPDATE or DELETE",
                        okey.name
                    ),
                );
                continue;
            };
            if op == Operation::Delete {
                errors.at(
                    okey.at,
                    "DELETE removes whole rows; it takes no column list",
                );
                continue;
            }
            let mut set: Vec<String> = Vec::new();
            for c in &cols.value {
                if is_identifier(&c.value) {
                    if !set.contains(&c.value) {
                        set.push(c.value.clone());
                    }
                } else {
                    errors.at(At::of(c), format!("`{}` is not a column name", c.value));
                }
            }
            limits.insert(op, (okey.at, set));
        }
        if columns.insert(table.clone(), limits).is_some() {
            errors.at(
                tkey.at,
                format!("role {name} lists columns of {table} twice; list them once"),
            );
        }
    }

    let mut filters = BTreeMap::new();
    for (tkey, text) in &r.filters {
        let Some(table) = table_name(tkey, default_schema, errors) else {
            continue;
        };
        match RowFilter::parse(&text.value, &table, name) {
            Ok(f) => {
                if filters.insert(table.clone(), (tkey.at, f)).is_some() {
                    errors.at(
                        tkey.at,
                        format!("role {name} has two filters for {table}; combine them with AND"),
                    );
                }
            }
            Err(msg) => errors.at(At::of(text), format!("filter on {table}: {msg}")),
        }
    }

    let forbidden = r
        .forbidden_operations
        .as_ref()
        .map(|n| operations(n, errors, false))
        .unwrap_or_default();

    let mut functions = BTreeSet::new();
    for f in r.functions.iter().flat_map(|n| n.value.iter()) {
        if is_identifier(&f.value) {
            functions.insert(f.value.to_ascii_lowercase());
        } else {
            errors.at(At::of(f), format!("`{}` is not a function name", f.value));
        }
    }

    let rate_limit = r.rate_limit.as_ref().and_then(|s| {
        RateLimit::parse(&s.value)
            .map_err(|m| errors.at(At::of(s), m))
            .ok()
    });
    let max_rows = r.max_rows.as_ref().and_then(|s| {
        if s.value == 0 {
            errors.at(At::of(s), "max_rows must be at least 1");
            None
        } else {
            Some(s.value)
        }
    });
    let statement_timeout = r.statement_timeout.as_ref().and_then(|s| {
        match humantime::parse_duration(s.value.trim()) {
            Ok(d) if d.is_zero() => {
                errors.at(At::of(s), "statement_timeout must be greater than zero");
                None
            }
            Ok(d) if d > MAX_STATEMENT_TIMEOUT => {
                errors.at(At::of(s), "statement_timeout may be at most 24h");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                errors.at(
                    At::of(s),
                    format!(
                        "statement_timeout `{}` is not a duration ({e}); write e.g. 500ms, 30s or 2m",
                        s.value
                    ),
                );
                None
            }
        }
    });

    Declared {
        inherits,
        tables,
        columns,
        filters,
        forbidden,
        functions,
        rate_limit,
        max_rows,
        statement_timeout,
        explain: r.explain,
    }
}

/// A table as named in the role file, with the default schema dropped: `public.t` and `t` are
/// one table, and must have one entry (else a grant could escape the other's filter).
fn table_name(key: &Key, default_schema: &str, errors: &mut Errors) -> Option<TableName> {
    let t = TableName::parse(&key.name)
        .map_err(|m| errors.at(key.at, m))
        .ok()?;
    Some(match t.schema {
        Some(s) if s == default_schema => TableName {
            schema: None,
            name: t.name,
        },
        _ => t,
    })
}

fn operations(names: &Names, errors: &mut Errors, grant: bool) -> BTreeSet<Operation> {
    let mut ops = BTreeSet::new();
    for n in &names.value {
        match Operation::parse(&n.value) {
            Some(op) if grant && !op.is_grantable() => errors.at(
                At::of(n),
                format!(
                    "{op} cannot be granted; tables take SELECT, INSERT, UPDATE, DELETE \
                     ({op} is never allowed; list it in forbidden_operations to name the rule)"
                ),
            ),
            Some(op) => {
                ops.insert(op);
            }
            None => {
                let expected: Vec<&str> = if grant {
                    Operation::GRANTABLE.iter().map(|o| o.as_str()).collect()
                } else {
                    Operation::ALL.iter().map(|o| o.as_str()).collect()
                };
                errors.at(
                    At::of(n),
                    format!(
                        "unknown operation `{}`; expected one of {}",
                        n.value,
                        expected.join(", ")
                    ),
                );
            }
        }
    }
    ops
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Resolves `name` (and, first, its parents). On a cycle returns the chain that closes it.
fn resolve_role(
    name: &str,
    declared: &BTreeMap<String, Declared>,
    global_forbidden: &BTreeSet<Operation>,
    resolved: &mut BTreeMap<String, EffectiveRole>,
    stack: &mut Vec<String>,
) -> Result<(), Vec<String>> {
    if resolved.contains_key(name) {
        return Ok(());
    }
    if let Some(pos) = stack.iter().position(|s| s == name) {
        let mut cycle = stack[pos..].to_vec();
        cycle.push(name.to_string());
        return Err(cycle);
    }
    stack.push(name.to_string());
    let d = &declared[name];
    for parent in &d.inherits {
        resolve_role(parent, declared, global_forbidden, resolved, stack)?;
    }
    stack.pop();

    let parents: Vec<&EffectiveRole> = d.inherits.iter().map(|p| &resolved[p]).collect();
    let mut ancestors: Vec<String> = Vec::new();
    for p in &parents {
        for a in std::iter::once(&p.name).chain(p.ancestors.iter()) {
            if !ancestors.contains(a) {
                ancestors.push(a.clone());
            }
        }
    }

    let mut tables: BTreeMap<TableName, TableGrant> = BTreeMap::new();
    for p in &parents {
        for (t, g) in &p.tables {
            let entry = tables.entry(t.clone()).or_insert_with(|| TableGrant {
                operations: BTreeSet::new(),
                columns: BTreeMap::new(),
                filters: Vec::new(),
            });
            entry.operations.extend(g.operations.iter().copied());
            for (op, cols) in &g.columns {
                entry
                    .columns
                    .entry(*op)
                    .or_default()
                    .extend(cols.iter().cloned());
            }
            for f in &g.filters {
                if !entry
                    .filters
                    .iter()
                    .any(|e| e.text() == f.text() && e.declared_by() == f.declared_by())
                {
                    entry.filters.push(f.clone());
                }
            }
        }
    }
    // A parent that grants an operation without a column list grants every column: a union
    // with "all" is "all".
    for (t, entry) in tables.iter_mut() {
        let unrestricted: BTreeSet<Operation> = entry
            .operations
            .iter()
            .copied()
            .filter(|op| {
                parents.iter().any(|p| {
                    p.tables
                        .get(t)
                        .is_some_and(|g| g.operations.contains(op) && !g.columns.contains_key(op))
                })
            })
            .collect();
        for op in unrestricted {
            entry.columns.remove(&op);
        }
    }
    for (t, (_, ops)) in &d.tables {
        let entry = tables.entry(t.clone()).or_insert_with(|| TableGrant {
            operations: BTreeSet::new(),
            columns: BTreeMap::new(),
            filters: Vec::new(),
        });
        entry.operations.extend(ops.iter().copied());
    }
    for (t, per_op) in &d.columns {
        if let Some(entry) = tables.get_mut(t) {
            for (op, (_, cols)) in per_op {
                entry.columns.insert(*op, cols.clone());
            }
        }
    }
    for (t, (_, f)) in &d.filters {
        if let Some(entry) = tables.get_mut(t) {
            entry.filters.push(f.clone());
        }
    }

    let mut forbidden: BTreeMap<Operation, ForbiddenBy> = global_forbidden
        .iter()
        .map(|op| (*op, ForbiddenBy::Global))
        .collect();
    for op in &d.forbidden {
        forbidden
            .entry(*op)
            .or_insert_with(|| ForbiddenBy::Role(name.to_string()));
    }
    for p in &parents {
        for (op, by) in &p.forbidden {
            forbidden.entry(*op).or_insert_with(|| by.clone());
        }
    }

    let mut functions = d.functions.clone();
    for p in &parents {
        functions.extend(p.functions.iter().cloned());
    }

    let strictest = |own: Option<u64>, f: &dyn Fn(&EffectiveRole) -> Option<u64>| {
        own.or_else(|| parents.iter().filter_map(|p| f(p)).min())
    };
    let max_rows = strictest(d.max_rows, &|p| p.max_rows);
    let statement_timeout = d
        .statement_timeout
        .or_else(|| parents.iter().filter_map(|p| p.statement_timeout).min());
    let rate_limit = d.rate_limit.or_else(|| {
        parents.iter().filter_map(|p| p.rate_limit).min_by(|a, b| {
            let per_sec = |r: &RateLimit| r.count as f64 / r.per.duration().as_secs_f64();
            per_sec(a).total_cmp(&per_sec(b))
        })
    });

    // EXPLAIN is the role's own choice, or allowed only if every parent allows it.
    let explain = d
        .explain
        .unwrap_or(!parents.is_empty() && parents.iter().all(|p| p.explain));
    let claims_read = tables
        .values()
        .flat_map(|g| g.filters.iter())
        .flat_map(|f| f.claims().iter().cloned())
        .collect();
    resolved.insert(
        name.to_string(),
        EffectiveRole {
            claims_read,
            name: name.to_string(),
            ancestors,
            tables,
            forbidden,
            functions,
            rate_limit,
            max_rows,
            statement_timeout,
            explain,
        },
    );
    Ok(())
}
