//! PostgreSQL's schema, from `pg_catalog` (PostgreSQL 11 or later), over the door's own backend
//! connection code (same authentication, same pinned settings, read-only).
//!
//! One simple-protocol round trip runs two statements: the fingerprint, then the catalog as one
//! JSON document (every table, partitioned table, view and materialized view outside the
//! system schemas, with columns, indexes and foreign keys), so that the fingerprint is never
//! newer than the model it is stored with.

use std::collections::BTreeSet;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use serde::Deserialize;
use sluice_policy::roles::TableName;
use sluice_policy::schema::{ColumnSchema, ForeignKey, Key, TableSchema};
use sluice_policy::{Schema, TypeClass};

use super::{leading_columns, Loaded, SchemaError, CATALOG_TIMEOUT};
use crate::pg::backend::{BackendConn, BackendError, BackendTarget, Profile, QueryError};

/// The relations in the model: tables (`r`), partitioned tables (`p`), views (`v`) and
/// materialized views (`m`). Foreign tables are left out: what the engine proves about a
/// comparison on a local column need not hold where a foreign data wrapper runs it.
const KINDS: &str = "'r', 'p', 'v', 'm'";

/// Outside the system schemas and the sessions' temporary schemas.
const NAMESPACES: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
    AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

/// A sum of row hashes (order-free) over the catalog rows the model is read from, with their
/// `xmin`: any DDL on a relation in the model rewrites one of them. Index relations count too
/// (a new index is a new pg_class row). Not covered: renaming a type or domain, which changes
/// the type name `format_type` writes but no row read here (a reload picks it up).
fn fingerprint_sql() -> String {
    let rels = format!("c.relkind IN ({KINDS}, 'i', 'I') AND {NAMESPACES}");
    format!(
        "SELECT count(*)::text || '-' || coalesce(sum(('x' || substr(md5(x), 1, 15))::bit(60)::bigint), 0)::text \
         FROM ( \
           SELECT concat_ws(':', 'r', n.nspname, c.relname, c.oid, c.relkind, c.xmin) AS x \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {rels} \
           UNION ALL \
           SELECT concat_ws(':', 'a', a.attrelid, a.attnum, a.xmin) \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE a.attnum > 0 AND {rels} \
           UNION ALL \
           SELECT concat_ws(':', 'c', con.oid, con.xmin) \
             FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {rels} \
         ) AS s"
    )
}

/// The whole model as one JSON array of relations.
///
/// Index columns: each key column's name, or null for an expression (INCLUDE columns left
/// out). Foreign keys: a foreign key to a partitioned table also appears once per partition,
/// as a constraint whose parent is on the same table; those copies are left out.
fn catalog_sql() -> String {
    format!(
        "SELECT coalesce(json_agg(json_build_object( \
           'schema', n.nspname, 'name', c.relname, 'kind', c.relkind, \
           'columns', (SELECT coalesce(json_agg(json_build_array( \
                 a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull) \
                 ORDER BY a.attnum), '[]') \
               FROM pg_catalog.pg_attribute a \
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), \
           'indexes', (SELECT coalesce(json_agg(json_build_object( \
                 'name', ic.relname, 'primary', i.indisprimary, 'unique', i.indisunique, \
                 'columns', (SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]') \
                     FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                     LEFT JOIN pg_catalog.pg_attribute a \
                       ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE k.ord <= i.indnkeyatts)) \
                 ORDER BY ic.relname), '[]') \
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
               WHERE i.indrelid = c.oid), \
           'foreign_keys', (SELECT coalesce(json_agg(json_build_object( \
                 'name', con.conname, \
                 'columns', (SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]') \
                     FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
                     JOIN pg_catalog.pg_attribute a \
                       ON a.attrelid = con.conrelid AND a.attnum = k.attnum), \
                 'ref_schema', rn.nspname, 'ref_table', rc.relname, \
                 'ref_columns', (SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]') \
                     FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) \
                     JOIN pg_catalog.pg_attribute a \
                       ON a.attrelid = con.confrelid AND a.attnum = k.attnum)) \
                 ORDER BY con.conname), '[]') \
               FROM pg_catalog.pg_constraint con \
               JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid \
               JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
               WHERE con.conrelid = c.oid AND con.contype = 'f' \
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p \
                                 WHERE p.oid = con.conparentid AND p.conrelid = con.conrelid)) \
         ) ORDER BY n.nspname, c.relname), '[]')::text \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ({KINDS}) AND {NAMESPACES}"
    )
}

#[derive(Deserialize)]
struct Relation {
    schema: String,
    name: String,
    kind: String,
    /// (name, format_type, nullable)
    columns: Vec<(String, String, bool)>,
    indexes: Vec<Index>,
    foreign_keys: Vec<Reference>,
}

#[derive(Deserialize)]
struct Index {
    name: String,
    primary: bool,
    unique: bool,
    columns: Vec<Option<String>>,
}

#[derive(Deserialize)]
struct Reference {
    name: String,
    columns: Vec<String>,
    ref_schema: String,
    ref_table: String,
    ref_columns: Vec<String>,
}

pub(super) async fn load(target: &BackendTarget) -> Result<Loaded, SchemaError> {
    let sql = format!("{}; {}", fingerprint_sql(), catalog_sql());
    let rows = query(target, &sql).await?;
    let [Some(fingerprint), Some(catalog)] = rows.as_slice() else {
        return Err(SchemaError::Unreadable(format!(
            "expected two values, got {}",
            rows.len()
        )));
    };
    let (schema, views) = model(catalog)?;
    Ok(Loaded {
        schema,
        fingerprint: fingerprint.clone(),
        views,
    })
}

pub(super) async fn fingerprint(target: &BackendTarget) -> Result<String, SchemaError> {
    let rows = query(target, &fingerprint_sql()).await?;
    match rows.into_iter().next() {
        Some(Some(f)) => Ok(f),
        _ => Err(SchemaError::Unreadable("no fingerprint".into())),
    }
}

/// Runs `sql` on a fresh read-only connection and returns the first column of every row.
async fn query(target: &BackendTarget, sql: &str) -> Result<Vec<Option<String>>, SchemaError> {
    let profile = Profile {
        read_only: true,
        statement_timeout_ms: CATALOG_TIMEOUT.as_millis() as u64,
    };
    let mut conn = BackendConn::connect(target, &profile)
        .await
        .map_err(|e| match e {
            BackendError::Tls(m) => SchemaError::Tls(m),
            other if other.is_misconfiguration() => SchemaError::Misconfigured(other.to_string()),
            other => SchemaError::Unreachable(other.to_string()),
        })?;
    let (rows, _) = tokio::time::timeout(
        CATALOG_TIMEOUT + target.connect_timeout,
        conn.query_texts(sql),
    )
    .await
    .map_err(|_| SchemaError::Unreachable("the catalog query did not finish".into()))?
    .map_err(|e| match e {
        QueryError::Server { sqlstate, message } => {
            SchemaError::Refused(format!("{message} ({sqlstate})"))
        }
        QueryError::Backend(e) => SchemaError::Unreachable(e.to_string()),
    })?;
    let mut bye = BytesMut::new();
    frontend::terminate(&mut bye);
    let _ = conn.send(&bye).await;
    Ok(rows)
}

/// The model from the catalog's JSON.
fn model(catalog: &str) -> Result<(Schema, BTreeSet<TableName>), SchemaError> {
    let relations: Vec<Relation> =
        serde_json::from_str(catalog).map_err(|e| SchemaError::Unreadable(e.to_string()))?;
    let mut schema = Schema::default();
    let mut views = BTreeSet::new();
    for r in relations {
        let name = TableName {
            schema: Some(r.schema),
            name: r.name,
        };
        let mut table = TableSchema {
            columns: r
                .columns
                .into_iter()
                .map(|(name, data_type, nullable)| ColumnSchema {
                    class: TypeClass::of_postgres(&data_type),
                    name,
                    data_type,
                    nullable,
                })
                .collect(),
            ..TableSchema::default()
        };
        for i in r.indexes {
            let key = Key {
                name: i.name,
                columns: leading_columns(i.columns),
            };
            if i.primary {
                table.primary_key = key.columns.clone();
            } else if i.unique {
                table.unique.push(key.clone());
            }
            table.indexes.push(key);
        }
        table.foreign_keys = r
            .foreign_keys
            .into_iter()
            .map(|f| ForeignKey {
                name: f.name,
                columns: f.columns,
                references: TableName {
                    schema: Some(f.ref_schema),
                    name: f.ref_table,
                },
                referenced_columns: f.ref_columns,
            })
            .collect();
        if r.kind == "v" || r.kind == "m" {
            views.insert(name.clone());
        }
        schema.tables.insert(name, table);
    }
    Ok((schema, views))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_reads_keys_indexes_and_references() {
        let catalog = r#"[{"schema":"public","name":"r","kind":"r",
            "columns":[["id","integer",false],["tenant_id","character varying(32)",false],
                       ["at","timestamp(3) with time zone",true]],
            "indexes":[{"name":"r_pkey","primary":true,"unique":true,"columns":["id"]},
                       {"name":"r_expr","primary":false,"unique":true,"columns":[null,"tenant_id"]},
                       {"name":"r_t","primary":false,"unique":false,"columns":["tenant_id",null]}],
            "foreign_keys":[{"name":"r_fk","columns":["tenant_id"],"ref_schema":"s",
                             "ref_table":"t","ref_columns":["id"]}]},
            {"schema":"public","name":"v","kind":"v","columns":[["id","integer",true]],
             "indexes":[],"foreign_keys":[]}]"#;
        let (schema, views) = model(catalog).unwrap();
        let r = schema
            .table(&TableName {
                schema: Some("public".into()),
                name: "r".into(),
            })
            .unwrap();
        assert_eq!(r.primary_key, ["id"]);
        assert_eq!(r.columns[2].class, TypeClass::TimestampTz);
        assert!(!r.columns[0].nullable && r.columns[2].nullable);
        assert_eq!(r.unique.len(), 1);
        assert!(r.unique[0].columns.is_empty(), "an expression ends the key");
        assert_eq!(r.indexes[2].columns, ["tenant_id"]);
        assert_eq!(r.foreign_keys[0].references.to_string(), "s.t");
        assert_eq!(views.len(), 1);
    }
}
