//! What `sluice check --db` reports: the covert channels a role's writes open on the schema as
//! it is, which confinement cannot close (row-level security shares them) but the schema can.
//!
//! - A unique key (the primary key too) that leaves out a column the role's row filter reads:
//!   a write that sets the key's columns collides with other tenants' rows, and the
//!   duplicate-key error (or the row ON CONFLICT DO NOTHING skips) tells the agent which values
//!   they hold.
//! - A filtered table the role may UPDATE or DELETE (SELECT … FOR UPDATE needs UPDATE) with no
//!   index that starts with a column the filter reads: the write scans every tenant's rows, and
//!   waits on, locks or conflicts with them.
//!
//! And, so that a table is never skipped silently, role tables the database does not have and
//! filter columns the table does not have.

use std::fmt;

use sluice_policy::roles::{
    ColumnSet, EffectiveRole, Operation, RbacConfig, TableGrant, TableName,
};
use sluice_policy::schema::TableSchema;
use sluice_policy::Dialect;

use super::Loaded;

/// One thing `sluice check --db` reports about one role and table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub role: String,
    /// As the role file names it.
    pub table: TableName,
    pub dialect: Dialect,
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// The database has no such table (`looked_up`: the name it was looked up as).
    MissingTable { looked_up: TableName },
    /// A row filter reads a column the table does not have.
    MissingFilterColumn { column: String },
    /// A unique key the role can write that leaves out columns its filters read.
    KeyProbe {
        /// The index's or constraint's name.
        key: String,
        primary: bool,
        columns: Vec<String>,
        /// Filter columns the key leaves out.
        missing: Vec<String>,
        /// The key's columns the role may write, with the operation.
        writes: Vec<(Operation, Vec<String>)>,
    },
    /// UPDATE or DELETE on a filtered table that no index confines to the filter's rows.
    UnindexedFilter {
        filter_columns: Vec<String>,
        operations: Vec<Operation>,
    },
}

/// Every finding for every role of `config` against `loaded` (read from a backend of `dialect`
/// whose database is `database`), by role and table.
pub fn lint(
    config: &RbacConfig,
    dialect: Dialect,
    database: &str,
    loaded: &Loaded,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for name in config.role_names() {
        let Some(role) = config.role(name) else {
            continue;
        };
        for (table, grant) in &role.tables {
            let looked_up = super::model_name(table, dialect, &config.default_schema, database);
            let finding = |kind| Finding {
                role: role.name.clone(),
                table: table.clone(),
                dialect,
                kind,
            };
            let Some(schema) = loaded.schema.table(&looked_up) else {
                out.push(finding(FindingKind::MissingTable { looked_up }));
                continue;
            };
            let mut filter_columns: Vec<String> = Vec::new();
            for f in &grant.filters {
                for c in f.columns() {
                    match schema.column(c) {
                        Some(col) if !filter_columns.contains(&col.name) => {
                            filter_columns.push(col.name.clone())
                        }
                        Some(_) => {}
                        None => out.push(finding(FindingKind::MissingFilterColumn {
                            column: c.clone(),
                        })),
                    }
                }
            }
            if filter_columns.is_empty() || loaded.views.contains(&looked_up) {
                continue;
            }
            out.extend(
                key_probes(role, table, grant, schema, &filter_columns, dialect)
                    .into_iter()
                    .map(finding),
            );
            let operations: Vec<Operation> = [Operation::Update, Operation::Delete]
                .into_iter()
                .filter(|op| role.permits(table, *op))
                .collect();
            let indexed = schema.indexes.iter().any(|i| {
                i.columns
                    .first()
                    .is_some_and(|c| filter_columns.contains(c))
            });
            if !operations.is_empty() && !indexed {
                out.push(finding(FindingKind::UnindexedFilter {
                    filter_columns: filter_columns.clone(),
                    operations,
                }));
            }
        }
    }
    out
}

fn key_probes(
    role: &EffectiveRole,
    table: &TableName,
    grant: &TableGrant,
    schema: &TableSchema,
    filter_columns: &[String],
    dialect: Dialect,
) -> Vec<FindingKind> {
    let primary = (!schema.primary_key.is_empty()).then(|| {
        let name = schema
            .indexes
            .iter()
            .find(|i| i.columns == schema.primary_key)
            .map_or_else(|| "PRIMARY".to_string(), |i| i.name.clone());
        (name, true, &schema.primary_key)
    });
    let unique = schema
        .unique
        .iter()
        .map(|k| (k.name.clone(), false, &k.columns));
    let mut out = Vec::new();
    for (key, primary, columns) in primary.into_iter().chain(unique) {
        let missing: Vec<String> = filter_columns
            .iter()
            .filter(|c| !columns.contains(c))
            .cloned()
            .collect();
        if missing.is_empty() {
            continue;
        }
        let writes: Vec<(Operation, Vec<String>)> = [Operation::Insert, Operation::Update]
            .into_iter()
            .filter(|op| role.permits(table, *op))
            .filter_map(|op| {
                let writable: Vec<String> = columns
                    .iter()
                    .filter(|c| match grant.columns_for(op) {
                        ColumnSet::All => true,
                        ColumnSet::Only(allowed) => {
                            allowed.iter().any(|a| same_column(dialect, a, c))
                        }
                    })
                    .cloned()
                    .collect();
                // A key on expressions lists no column: any write may set what it indexes.
                (columns.is_empty() || !writable.is_empty()).then_some((op, writable))
            })
            .collect();
        if writes.is_empty() {
            continue;
        }
        out.push(FindingKind::KeyProbe {
            key,
            primary,
            columns: columns.clone(),
            missing,
            writes,
        });
    }
    out
}

/// A column the role file names, as the backend compares it to a catalog name.
fn same_column(dialect: Dialect, configured: &str, catalog: &str) -> bool {
    match dialect {
        Dialect::PostgreSql => configured == catalog,
        Dialect::MySql => configured.to_lowercase() == catalog.to_lowercase(),
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "role {}, table {}: ", self.role, self.table)?;
        let list = |v: &[String]| v.join(", ");
        match &self.kind {
            FindingKind::MissingTable { looked_up } => write!(
                f,
                "the database has no table {looked_up}, so every statement on it fails; \
                 fix the name in the role file or create the table"
            ),
            FindingKind::MissingFilterColumn { column } => write!(
                f,
                "the row filter reads column {column}, which the table does not have, so every \
                 statement on it fails; fix the filter"
            ),
            FindingKind::KeyProbe {
                key,
                primary,
                columns,
                missing,
                writes,
            } => {
                let what = if *primary {
                    "primary key"
                } else {
                    "unique key"
                };
                let shown = if columns.is_empty() {
                    "(on expressions)".to_string()
                } else {
                    format!("({})", list(columns))
                };
                let how: Vec<String> = writes
                    .iter()
                    .map(|(op, cols)| {
                        if cols.is_empty() {
                            op.to_string()
                        } else {
                            format!("{op} of {}", list(cols))
                        }
                    })
                    .collect();
                let inserts = writes.iter().any(|(op, _)| *op == Operation::Insert);
                let signal = match (self.dialect, inserts) {
                    (Dialect::PostgreSql, true) => {
                        "a duplicate-key error (23505; INSERT … ON CONFLICT DO NOTHING skips the \
                         row instead, and says so in its row count)"
                    }
                    (Dialect::PostgreSql, false) => "a duplicate-key error (23505)",
                    (Dialect::MySql, _) => "a duplicate-key error (1062)",
                };
                let writable: Vec<&String> = writes.iter().flat_map(|(_, c)| c).collect();
                let keep_out = if writable.is_empty() {
                    String::new()
                } else {
                    let mut w: Vec<String> = writable.into_iter().cloned().collect();
                    w.sort();
                    w.dedup();
                    format!(", or leave {} out of the role's write columns", list(&w))
                };
                write!(
                    f,
                    "{what} {key} {shown} leaves out {}, which the row filter reads: an {} that \
                     collides with another tenant's row gets {signal}, so an agent can learn \
                     which key values other tenants hold; add {} to the key{keep_out}",
                    list(missing),
                    how.join(" or "),
                    list(missing),
                )
            }
            FindingKind::UnindexedFilter {
                filter_columns,
                operations,
            } => {
                let ops: Vec<&str> = operations
                    .iter()
                    .map(|o| match o {
                        Operation::Update => "an UPDATE",
                        Operation::Delete => "a DELETE",
                        other => other.as_str(),
                    })
                    .collect();
                let effect = match self.dialect {
                    Dialect::PostgreSql => {
                        "it reads every tenant's rows, so its time grows with their data, and \
                         under SERIALIZABLE it conflicts with their writes (40001)"
                    }
                    Dialect::MySql => {
                        "InnoDB locks every row it scans (REPEATABLE READ), so an agent's write \
                         waits on and blocks other tenants' rows (lock waits, 1205 timeouts, \
                         1213 deadlocks)"
                    }
                };
                // SELECT … FOR UPDATE needs UPDATE on the table.
                let locking = if operations.contains(&Operation::Update) {
                    " (or SELECT … FOR UPDATE)"
                } else {
                    ""
                };
                let first = &filter_columns[0];
                write!(
                    f,
                    "no index starts with {}, which the row filter reads, so {}{locking} scans \
                     the whole table: {effect}; index {first} (CREATE INDEX ON {} ({first}))",
                    filter_columns.join(" or "),
                    ops.join(" or "),
                    self.table,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sluice_policy::schema::{ColumnSchema, Key, TableSchema};
    use sluice_policy::{Schema, TypeClass};

    use super::*;

    fn table(columns: &[&str]) -> TableSchema {
        TableSchema {
            columns: columns
                .iter()
                .map(|c| ColumnSchema {
                    name: c.to_string(),
                    data_type: "text".into(),
                    class: TypeClass::Text,
                    nullable: false,
                })
                .collect(),
            ..TableSchema::default()
        }
    }

    fn key(name: &str, columns: &[&str]) -> Key {
        Key {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn loaded(tables: Vec<(&str, TableSchema)>) -> Loaded {
        Loaded {
            schema: Schema {
                tables: tables
                    .into_iter()
                    .map(|(n, t)| {
                        (
                            TableName {
                                schema: Some("public".into()),
                                name: n.into(),
                            },
                            t,
                        )
                    })
                    .collect(),
                ..Schema::default()
            },
            fingerprint: String::new(),
            views: BTreeSet::new(),
        }
    }

    const ROLES: &str = r#"
roles:
  writer:
    tables:
      orders: [SELECT, INSERT, UPDATE]
      notes: [SELECT, UPDATE, DELETE]
      ghosts: [SELECT]
    columns:
      orders:
        INSERT: [tenant_id, code, total]
        UPDATE: [total]
    filters:
      orders: "tenant_id = {{ token.tenant_id }}"
      notes: "tenant_id = {{ token.tenant_id }} AND owner = {{ token.user }}"
  reader:
    tables:
      orders: [SELECT]
    filters:
      orders: "tenant_id = {{ token.tenant_id }}"
"#;

    #[test]
    fn keys_without_the_filter_columns_and_unindexed_writes_are_found() {
        let config = RbacConfig::from_yaml("roles.yaml", ROLES).unwrap();
        let mut orders = table(&["id", "tenant_id", "code", "total"]);
        orders.primary_key = vec!["id".into()];
        orders.unique = vec![
            key("orders_code_key", &["code"]),
            key("orders_t_code", &["tenant_id", "code"]),
        ];
        orders.indexes = vec![
            key("orders_pkey", &["id"]),
            key("orders_t_code", &["tenant_id", "code"]),
        ];
        let mut notes = table(&["id", "tenant_id", "body"]);
        notes.indexes = vec![key("notes_body", &["body"])];
        let loaded = loaded(vec![("orders", orders), ("notes", notes)]);
        let findings = lint(&config, Dialect::PostgreSql, "app", &loaded);
        let kinds: Vec<String> = findings
            .iter()
            .map(|f| format!("{} {} {:?}", f.role, f.table, f.kind))
            .collect();
        // ghosts: not in the database.
        assert!(
            matches!(&findings[0].kind, FindingKind::MissingTable { .. }),
            "{kinds:#?}"
        );
        // notes: the filter reads `owner`, which the table lacks; no index starts with tenant_id.
        assert!(
            matches!(&findings[1].kind, FindingKind::MissingFilterColumn { column } if column == "owner"),
            "{kinds:#?}"
        );
        assert!(
            matches!(&findings[2].kind, FindingKind::UnindexedFilter { filter_columns, operations }
            if filter_columns == &["tenant_id"] && operations == &[Operation::Update, Operation::Delete]),
            "{kinds:#?}"
        );
        // orders: the primary key (id) cannot be written by the role: not a probe. The unique
        // key on code is written by INSERT; (tenant_id, code) holds the filter's column.
        assert!(
            matches!(&findings[3].kind, FindingKind::KeyProbe { key, writes, missing, .. }
            if key == "orders_code_key" && missing == &["tenant_id"]
               && writes == &[(Operation::Insert, vec!["code".to_string()])]),
            "{kinds:#?}"
        );
        assert_eq!(findings.len(), 4, "{kinds:#?}");
        let line = findings[3].to_string();
        assert!(
            line.contains(
                "role writer, table orders: unique key orders_code_key (code) leaves out tenant_id"
            ),
            "{line}"
        );
        assert!(line.contains("INSERT of code"), "{line}");
        assert!(line.contains("23505"), "{line}");
        assert!(findings[2]
            .to_string()
            .contains("CREATE INDEX ON notes (tenant_id)"));
    }
}
