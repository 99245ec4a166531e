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
use std::collections::BTreeMap;

use sluice_policy::schema::{
    ColumnCatalog, ColumnSchema, ConstraintCatalog, DefaultCatalog, ForeignKey, IndexCatalog, Key,
    TableSchema,
};
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

/// The whole model as one JSON document: the relations (with columns, indexes, constraints,
/// defaults and the OIDs the scoped catalogs filter by), the schemas' OIDs, and the column
/// lists of the catalog relations the engine serves.
///
/// Index columns: each key column's name, or null for an expression (INCLUDE columns left
/// out); `uses`: every column the index reads (key, INCLUDE, and from `pg_depend` the columns of
/// its expressions and predicate). Foreign keys: a foreign key to a partitioned table also
/// appears once per partition, as a constraint whose parent is on the same table; those copies
/// are left out. A column's `types`: its type with the array, element, domain base and range
/// subtype types it is made of.
#[allow(clippy::format_in_format_args)]
fn catalog_sql() -> String {
    let served = sluice_policy::catalog::PG_SERVED
        .iter()
        .map(|(s, n)| format!("('{s}', '{n}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let names = |rel: &str, nums: &str| {
        format!(
            "(SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]') \
               FROM unnest({nums}) WITH ORDINALITY AS k(attnum, ord) \
               JOIN pg_catalog.pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.attnum)"
        )
    };
    let depends = |class: &str, obj: &str| {
        format!(
            "SELECT dp.refobjsubid FROM pg_catalog.pg_depend dp \
             WHERE dp.classid = '{class}'::pg_catalog.regclass AND dp.objid = {obj} \
               AND dp.refobjid = c.oid AND dp.refobjsubid > 0"
        )
    };
    format!(
        "SELECT json_build_object('relations', (SELECT coalesce(json_agg(json_build_object( \
           'schema', n.nspname, 'name', c.relname, 'kind', c.relkind, 'oid', c.oid::int8, \
           'row_types', json_build_array(c.reltype::int8, (SELECT t.typarray::int8 FROM pg_catalog.pg_type t WHERE t.oid = c.reltype)), \
           'columns', (SELECT coalesce(json_agg(json_build_array( \
                 a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, a.attnum, \
                 (SELECT coalesce(json_agg(DISTINCT x::int8), '[]') FROM pg_catalog.pg_type t \
                    LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid, \
                    LATERAL (VALUES (t.oid), (t.typarray), (t.typelem), (t.typbasetype), (r.rngsubtype)) AS v(x) \
                  WHERE t.oid = a.atttypid AND x IS NOT NULL AND x <> 0), \
                 (SELECT json_build_object('oid', d.oid::int8, 'text', pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                    'uses', {uses_default}) \
                  FROM pg_catalog.pg_attrdef d WHERE d.adrelid = c.oid AND d.adnum = a.attnum)) \
                 ORDER BY a.attnum), '[]') \
               FROM pg_catalog.pg_attribute a \
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), \
           'indexes', (SELECT coalesce(json_agg(json_build_object( \
                 'oid', i.indexrelid::int8, 'name', ic.relname, 'primary', i.indisprimary, 'unique', i.indisunique, \
                 'columns', (SELECT coalesce(json_agg(a.attname ORDER BY k.ord), '[]') \
                     FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                     LEFT JOIN pg_catalog.pg_attribute a \
                       ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE k.ord <= i.indnkeyatts), \
                 'uses', {uses_index}) \
                 ORDER BY ic.relname), '[]') \
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
               WHERE i.indrelid = c.oid), \
           'constraints', (SELECT coalesce(json_agg(json_build_object( \
                 'oid', con.oid::int8, 'name', con.conname, 'kind', con.contype, \
                 'columns', {own_columns}, 'uses', {uses_constraint}, \
                 'ref_schema', rn.nspname, 'ref_table', rc.relname, \
                 'ref_columns', {ref_columns}) \
                 ORDER BY con.conname), '[]') \
               FROM pg_catalog.pg_constraint con \
               LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid \
               LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
               WHERE con.conrelid = c.oid \
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p \
                                 WHERE p.oid = con.conparentid AND p.conrelid = con.conrelid)) \
         ) ORDER BY n.nspname, c.relname), '[]') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ({KINDS}) AND {NAMESPACES}), \
         'namespaces', (SELECT coalesce(json_object_agg(n.nspname, n.oid::int8), '{{}}') \
           FROM pg_catalog.pg_namespace n WHERE {NAMESPACES}), \
         'catalogs', (SELECT coalesce(json_object_agg(n.nspname || '.' || c.relname, \
             (SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a \
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)), '{{}}') \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE (n.nspname, c.relname) IN ({served})))::text",
        uses_default = format!(
            "(SELECT coalesce(json_agg(DISTINCT ua.attname), '[]') FROM pg_catalog.pg_attribute ua \
              WHERE ua.attrelid = c.oid AND ua.attnum IN ({}))",
            depends("pg_catalog.pg_attrdef", "d.oid")
        ),
        uses_index = format!(
            "(SELECT coalesce(json_agg(DISTINCT ua.attname), '[]') FROM pg_catalog.pg_attribute ua \
              WHERE ua.attrelid = c.oid AND (ua.attnum = ANY (i.indkey::int2[]) OR ua.attnum IN ({})))",
            depends("pg_catalog.pg_class", "i.indexrelid")
        ),
        uses_constraint = format!(
            "(SELECT coalesce(json_agg(DISTINCT ua.attname), '[]') FROM pg_catalog.pg_attribute ua \
              WHERE ua.attrelid = c.oid AND (ua.attnum = ANY (con.conkey) OR ua.attnum IN ({})))",
            depends("pg_catalog.pg_constraint", "con.oid")
        ),
        ref_columns = names("con.confrelid", "con.confkey"),
        own_columns = names("con.conrelid", "con.conkey"),
    )
}

#[derive(Deserialize)]
struct Catalog {
    relations: Vec<Relation>,
    namespaces: BTreeMap<String, u32>,
    catalogs: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Relation {
    schema: String,
    name: String,
    kind: String,
    #[serde(default)]
    oid: u32,
    #[serde(default)]
    row_types: Vec<Option<u32>>,
    /// (name, format_type, nullable, attnum, type OIDs, default)
    columns: Vec<Column>,
    indexes: Vec<Index>,
    constraints: Vec<Constraint>,
}

/// (name, format_type, nullable, attnum, type OIDs, default)
type Column = (String, String, bool, i32, Vec<u32>, Option<DefaultExpr>);

#[derive(Deserialize)]
struct DefaultExpr {
    oid: u32,
    text: Option<String>,
    uses: Vec<String>,
}

#[derive(Deserialize)]
struct Index {
    oid: u32,
    name: String,
    primary: bool,
    unique: bool,
    columns: Vec<Option<String>>,
    uses: Vec<String>,
}

#[derive(Deserialize)]
struct Constraint {
    oid: u32,
    name: String,
    kind: String,
    columns: Vec<String>,
    uses: Vec<String>,
    ref_schema: Option<String>,
    ref_table: Option<String>,
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

pub(super) async fn missing_privileges(
    target: &BackendTarget,
    needs: &super::PrivilegeNeeds,
) -> Result<Vec<super::MissingPrivilege>, SchemaError> {
    let rows = query(target, &super::privileges::pg_sql(needs)).await?;
    let indexes = rows
        .into_iter()
        .map(|r| r.and_then(|i| i.parse::<usize>().ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| SchemaError::Unreadable("the privilege check's answer".into()))?;
    Ok(super::privileges::pick(needs, indexes))
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
    let catalog: Catalog =
        serde_json::from_str(catalog).map_err(|e| SchemaError::Unreadable(e.to_string()))?;
    let mut schema = Schema {
        namespaces: catalog.namespaces,
        catalogs: catalog
            .catalogs
            .into_iter()
            .filter_map(|(k, v)| {
                let (s, n) = k.split_once('.')?;
                Some((
                    TableName {
                        schema: Some(s.to_string()),
                        name: n.to_string(),
                    },
                    v,
                ))
            })
            .collect(),
        ..Schema::default()
    };
    let mut views = BTreeSet::new();
    for r in catalog.relations {
        let name = TableName {
            schema: Some(r.schema),
            name: r.name,
        };
        let mut table = TableSchema::default();
        table.catalog.oid = r.oid;
        table.catalog.kind = r.kind.clone();
        table.catalog.row_types = r.row_types.into_iter().flatten().collect();
        for (name, data_type, nullable, number, type_oids, default) in r.columns {
            table.catalog.columns.push(ColumnCatalog {
                number,
                type_oids,
                default: default.map(|d| DefaultCatalog {
                    oid: d.oid,
                    text: d.text.unwrap_or_default(),
                    uses: d.uses,
                }),
                ..ColumnCatalog::default()
            });
            table.columns.push(ColumnSchema {
                class: TypeClass::of_postgres(&data_type),
                name,
                data_type,
                nullable,
            });
        }
        for i in r.indexes {
            let key = Key {
                name: i.name.clone(),
                columns: leading_columns(i.columns.clone()),
            };
            if i.primary {
                table.primary_key = key.columns.clone();
            } else if i.unique {
                table.unique.push(key.clone());
            }
            table.indexes.push(key);
            table.catalog.indexes.push(IndexCatalog {
                oid: i.oid,
                name: i.name,
                primary: i.primary,
                unique: i.unique,
                columns: i.columns,
                uses: i.uses,
            });
        }
        for c in r.constraints {
            let references = match (c.ref_schema, c.ref_table) {
                (Some(s), Some(t)) => Some(TableName {
                    schema: Some(s),
                    name: t,
                }),
                _ => None,
            };
            if c.kind == "f" {
                if let Some(to) = &references {
                    table.foreign_keys.push(ForeignKey {
                        name: c.name.clone(),
                        columns: c.columns.clone(),
                        references: to.clone(),
                        referenced_columns: c.ref_columns.clone(),
                    });
                }
            }
            table.catalog.constraints.push(ConstraintCatalog {
                oid: c.oid,
                name: c.name,
                kind: c.kind.chars().next().unwrap_or('?'),
                uses: c.uses,
                references: references.map(|t| (t, c.ref_columns)),
            });
        }
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
        let catalog = r#"{"relations":[{"schema":"public","name":"r","kind":"r","oid":16400,
            "row_types":[16402,16401],
            "columns":[["id","integer",false,1,[23,1007],null],
                       ["tenant_id","character varying(32)",false,2,[1043,1015],
                        {"oid":16410,"text":"'a'::character varying","uses":[]}],
                       ["at","timestamp(3) with time zone",true,3,[1184,1185],null]],
            "indexes":[{"oid":16403,"name":"r_pkey","primary":true,"unique":true,"columns":["id"],"uses":["id"]},
                       {"oid":16404,"name":"r_expr","primary":false,"unique":true,"columns":[null,"tenant_id"],"uses":["at","tenant_id"]},
                       {"oid":16405,"name":"r_t","primary":false,"unique":false,"columns":["tenant_id",null],"uses":["tenant_id"]}],
            "constraints":[{"oid":16406,"name":"r_fk","kind":"f","columns":["tenant_id"],"uses":["tenant_id"],
                            "ref_schema":"s","ref_table":"t","ref_columns":["id"]},
                           {"oid":16407,"name":"r_pkey","kind":"p","columns":["id"],"uses":["id"],
                            "ref_schema":null,"ref_table":null,"ref_columns":[]}]},
            {"schema":"public","name":"v","kind":"v","oid":16420,"row_types":[16422,16421],
             "columns":[["id","integer",true,1,[23],null]],"indexes":[],"constraints":[]}],
            "namespaces":{"public":2200},
            "catalogs":{"pg_catalog.pg_class":["oid","relname"]}}"#;
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
        // What the scoped catalogs filter by.
        assert_eq!(r.catalog.oid, 16400);
        assert_eq!(r.catalog.columns[1].number, 2);
        assert_eq!(
            r.catalog.columns[1].default.as_ref().map(|d| d.oid),
            Some(16410)
        );
        assert_eq!(r.catalog.indexes[1].uses, ["at", "tenant_id"]);
        assert_eq!(r.catalog.constraints.len(), 2);
        assert_eq!(schema.namespaces["public"], 2200);
        assert_eq!(schema.catalogs.len(), 1);
    }
}
