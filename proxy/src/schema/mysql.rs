//! MySQL's and MariaDB's schema: the backend's database only, from `information_schema`, in one
//! multi-statement round trip (fingerprint first, then columns, indexes and foreign keys).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use sluice_policy::roles::TableName;
use sluice_policy::schema::{
    ColumnCatalog, ColumnSchema, ConstraintCatalog, DefaultCatalog, ForeignKey, IndexCatalog, Key,
};
use sluice_policy::{Schema, TypeClass};

use super::{leading_columns, Loaded, SchemaError, CATALOG_TIMEOUT};
use crate::mysql::backend::{AcquireError, BackendTarget};

/// How long connecting may take (PostgreSQL's default, which its URL can change).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Tables, system-versioned tables and views; not MariaDB's sequences.
const TABLE_TYPES: &str = "('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW')";

/// A sum of row hashes (order-free) over what the model is read from. Each hash is 60 bits of
/// an MD5, summed as integers so the sum is exact.
fn fingerprint_sql() -> String {
    format!(
        "SELECT CONCAT(COUNT(*), '-', \
                COALESCE(SUM(CAST(CONV(SUBSTR(MD5(x), 1, 15), 16, 10) AS UNSIGNED)), 0)) \
         FROM ( \
           SELECT CONCAT_WS(':', 't', TABLE_NAME, TABLE_TYPE) AS x FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN {TABLE_TYPES} \
           UNION ALL \
           SELECT CONCAT_WS(':', 'c', TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, \
                            IS_NULLABLE) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() \
           UNION ALL \
           SELECT CONCAT_WS(':', 'i', TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, \
                            COALESCE(COLUMN_NAME, '(expression)')) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() \
           UNION ALL \
           SELECT CONCAT_WS(':', 'f', TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, \
                            REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME) \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
         ) AS s"
    )
}

fn catalog_sql() -> String {
    format!(
        "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE, \
                t.TABLE_TYPE, c.ORDINAL_POSITION, \
                COALESCE(NULLIF(c.GENERATION_EXPRESSION, ''), c.COLUMN_DEFAULT), c.EXTRA \
         FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
           ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
         WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE IN {TABLE_TYPES} \
         ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION; \
         SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX; \
         SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, \
                k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
           ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME \
          AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION; \
         SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS \
         WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_TYPE = 'CHECK' \
         ORDER BY TABLE_NAME, CONSTRAINT_NAME; \
         SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME IN ({served}) \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
        served = sluice_policy::catalog::MYSQL_SERVED
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(super) async fn load(target: &BackendTarget) -> Result<Loaded, SchemaError> {
    let sql = format!("{}; {}", fingerprint_sql(), catalog_sql());
    let sets = query(target, &sql, 6).await?;
    let [fingerprint, columns, statistics, references, checks, catalogs] = &sets[..] else {
        return Err(SchemaError::Unreadable(format!(
            "expected six result sets, got {}",
            sets.len()
        )));
    };
    let fingerprint = fingerprint
        .first()
        .and_then(|r| text(r, 0))
        .ok_or_else(|| SchemaError::Unreadable("no fingerprint".into()))?;
    let (mut schema, views) = model(&target.database, columns, statistics, references)?;
    catalog(&mut schema, &target.database, checks, catalogs);
    Ok(Loaded {
        schema,
        fingerprint,
        views,
    })
}

pub(super) async fn fingerprint(target: &BackendTarget) -> Result<String, SchemaError> {
    let sets = query(target, &fingerprint_sql(), 1).await?;
    sets.first()
        .and_then(|rows| rows.first())
        .and_then(|r| text(r, 0))
        .ok_or_else(|| SchemaError::Unreadable("no fingerprint".into()))
}

pub(super) async fn missing_privileges(
    target: &BackendTarget,
    needs: &super::PrivilegeNeeds,
) -> Result<Vec<super::MissingPrivilege>, SchemaError> {
    use super::privileges::{mysql_missing, MySqlGrant, MYSQL_ME, MYSQL_SQL};
    let sets = query(target, &format!("{MYSQL_ME}; {MYSQL_SQL}"), 3).await?;
    // The SET's own (empty) result may or may not come back as a set: the last two are ours.
    let [.., roles, grants] = &sets[..] else {
        return Err(SchemaError::Unreadable(format!(
            "the privilege check gave {} result sets",
            sets.len()
        )));
    };
    let holds_roles = roles
        .first()
        .and_then(|r| text(r, 0))
        .is_some_and(|n| n != "0");
    if holds_roles {
        tracing::info!(
            "the MySQL backend account holds roles, whose grants information_schema does not \
             list: the role file's privileges are not checked at start"
        );
        return Ok(Vec::new());
    }
    let grants: Vec<MySqlGrant> = grants
        .iter()
        .map(|r| MySqlGrant {
            level: text(r, 0).unwrap_or_default(),
            privilege: text(r, 1).unwrap_or_default(),
            schema: text(r, 2).unwrap_or_default(),
            table: text(r, 3).unwrap_or_default(),
        })
        .collect();
    Ok(mysql_missing(needs, &grants))
}

/// Runs `sql` (`sets` statements) on a fresh connection and returns each result set's rows.
async fn query(
    target: &BackendTarget,
    sql: &str,
    sets: usize,
) -> Result<Vec<Vec<Row>>, SchemaError> {
    let mut conn = target.connect(CONNECT_TIMEOUT).await.map_err(|e| match e {
        AcquireError::Tls(m) => SchemaError::Tls(m),
        refused @ AcquireError::Refused(..) => SchemaError::Misconfigured(refused.to_string()),
        other => SchemaError::Unreachable(other.to_string()),
    })?;
    let read = async {
        let mut result = conn.query_iter(sql).await?;
        let mut out = Vec::with_capacity(sets);
        while !result.is_empty() {
            out.push(result.collect::<Row>().await?);
        }
        Ok::<_, mysql_async::Error>(out)
    };
    let out = tokio::time::timeout(CATALOG_TIMEOUT, read)
        .await
        .map_err(|_| SchemaError::Unreachable("the catalog query did not finish".into()))?
        .map_err(|e| match e {
            mysql_async::Error::Server(s) => {
                SchemaError::Refused(format!("{} ({})", s.message, s.code))
            }
            other => SchemaError::Unreachable(other.to_string()),
        })?;
    let _ = conn.disconnect().await;
    Ok(out)
}

/// A value as text (information_schema sends names as strings, positions as numbers).
fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(n) => Some(n.to_string()),
        Value::UInt(n) => Some(n.to_string()),
        _ => None,
    }
}

fn model(
    database: &str,
    columns: &[Row],
    statistics: &[Row],
    references: &[Row],
) -> Result<(Schema, BTreeSet<TableName>), SchemaError> {
    let name = |table: String| TableName {
        schema: Some(database.to_string()),
        name: table,
    };
    let missing = |what: &str| SchemaError::Unreadable(format!("a row without {what}"));
    let mut schema = Schema::default();
    let mut views = BTreeSet::new();
    for r in columns {
        let table = name(text(r, 0).ok_or_else(|| missing("TABLE_NAME"))?);
        let data_type = text(r, 2).unwrap_or_default();
        if text(r, 5).as_deref() == Some("VIEW") {
            views.insert(table.clone());
        }
        let t = schema.tables.entry(table).or_default();
        t.catalog.kind = text(r, 5).unwrap_or_default();
        let extra = text(r, 8).unwrap_or_default();
        t.catalog.columns.push(ColumnCatalog {
            number: text(r, 6).and_then(|n| n.parse().ok()).unwrap_or(0),
            column_type: text(r, 3).unwrap_or_default(),
            // Which columns the expression reads is worked out below, with every column known.
            default: text(r, 7).map(|d| DefaultCatalog {
                oid: 0,
                text: d,
                uses: Vec::new(),
            }),
            extra,
            ..ColumnCatalog::default()
        });
        t.columns.push(ColumnSchema {
            name: text(r, 1).ok_or_else(|| missing("COLUMN_NAME"))?,
            class: TypeClass::of_mysql(&data_type),
            data_type: text(r, 3).unwrap_or(data_type),
            nullable: text(r, 4).as_deref() == Some("YES"),
        });
    }
    // Index parts in order, grouped by table and index: (unique, [column or expression]).
    type Parts = (bool, Vec<Option<String>>);
    let mut indexes: BTreeMap<(String, String), Parts> = BTreeMap::new();
    for r in statistics {
        let table = text(r, 0).ok_or_else(|| missing("TABLE_NAME"))?;
        let index = text(r, 1).ok_or_else(|| missing("INDEX_NAME"))?;
        let unique = text(r, 2).as_deref() == Some("0");
        indexes
            .entry((table, index))
            .or_insert((unique, Vec::new()))
            .1
            .push(text(r, 3));
    }
    for ((table, index), (unique, parts)) in indexes {
        let Some(t) = schema.tables.get_mut(&name(table)) else {
            continue;
        };
        t.catalog.indexes.push(IndexCatalog {
            oid: 0,
            name: index.clone(),
            primary: index == "PRIMARY",
            unique,
            uses: if parts.iter().all(Option::is_some) {
                parts.iter().flatten().cloned().collect()
            } else {
                Vec::new()
            },
            columns: parts.clone(),
        });
        if index == "PRIMARY" || unique {
            t.catalog.constraints.push(ConstraintCatalog {
                oid: 0,
                name: index.clone(),
                kind: if index == "PRIMARY" { 'p' } else { 'u' },
                uses: parts.iter().flatten().cloned().collect(),
                references: None,
            });
        }
        let key = Key {
            columns: leading_columns(parts),
            name: index,
        };
        if key.name == "PRIMARY" {
            t.primary_key = key.columns.clone();
        } else if unique {
            t.unique.push(key.clone());
        }
        t.indexes.push(key);
    }
    // Rows come ordered by table, constraint and position: a new constraint starts a new key.
    for r in references {
        let table = name(text(r, 0).ok_or_else(|| missing("TABLE_NAME"))?);
        let constraint = text(r, 1).ok_or_else(|| missing("CONSTRAINT_NAME"))?;
        let Some(t) = schema.tables.get_mut(&table) else {
            continue;
        };
        let references = TableName {
            schema: text(r, 3),
            name: text(r, 4).ok_or_else(|| missing("REFERENCED_TABLE_NAME"))?,
        };
        let same = t.foreign_keys.last().is_some_and(|f| f.name == constraint);
        if !same {
            t.foreign_keys.push(ForeignKey {
                name: constraint,
                columns: Vec::new(),
                references,
                referenced_columns: Vec::new(),
            });
        }
        let fk = t.foreign_keys.last_mut().expect("pushed above");
        fk.columns
            .push(text(r, 2).ok_or_else(|| missing("COLUMN_NAME"))?);
        fk.referenced_columns
            .push(text(r, 5).ok_or_else(|| missing("REFERENCED_COLUMN_NAME"))?);
    }
    for t in schema.tables.values_mut() {
        // A default or generation expression may read other columns (MariaDB allows both);
        // information_schema does not list them, so every column whose name the text holds
        // counts as read (too many only hides an expression).
        let all: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        for c in &mut t.catalog.columns {
            if let Some(d) = &mut c.default {
                let text = d.text.to_lowercase();
                d.uses = all
                    .iter()
                    .filter(|n| text.contains(&n.to_lowercase()))
                    .cloned()
                    .collect();
            }
        }
        for f in &t.foreign_keys {
            t.catalog.constraints.push(ConstraintCatalog {
                oid: 0,
                name: f.name.clone(),
                kind: 'f',
                uses: f.columns.clone(),
                references: Some((f.references.clone(), f.referenced_columns.clone())),
            });
        }
    }
    Ok((schema, views))
}

/// Check constraints (their columns are not listed, so each reads every column of its table)
/// and the served catalogs' column lists.
fn catalog(schema: &mut Schema, database: &str, checks: &[Row], catalogs: &[Row]) {
    for r in checks {
        let (Some(table), Some(name)) = (text(r, 0), text(r, 1)) else {
            continue;
        };
        let key = TableName {
            schema: Some(database.to_string()),
            name: table,
        };
        if let Some(t) = schema.tables.get_mut(&key) {
            let uses = t.columns.iter().map(|c| c.name.clone()).collect();
            t.catalog.constraints.push(ConstraintCatalog {
                oid: 0,
                name,
                kind: 'c',
                uses,
                references: None,
            });
        }
    }
    for r in catalogs {
        let (Some(table), Some(column)) = (text(r, 0), text(r, 1)) else {
            continue;
        };
        schema
            .catalogs
            .entry(TableName {
                schema: Some("information_schema".into()),
                name: table.to_ascii_uppercase(),
            })
            .or_default()
            .push(column);
    }
}
