//! The REST door's OpenAPI 3 document, at `GET /rest/v1/` (and `/openapi.json`), cut to the
//! token's scope.
//!
//! The tables and their columns come from the schema model the policy engine decides with
//! (`sluice_policy::catalog::visible_tables`, the same tables the scoped catalogs and MCP's
//! `describe_table` show), for the schema an unqualified name resolves to (the role file's
//! `default_schema`, MySQL's database). From the role (`EffectiveRole`) only what it may use is
//! kept: a table appears when some
//! operation on it is granted and not forbidden; each method appears only for its operation
//! (GET/SELECT, POST/INSERT, PATCH/UPDATE, DELETE/DELETE); each schema lists only the columns
//! that operation may touch (the role's column lists, or every column when it has none). Tables
//! the role names but the database lacks, and schema-qualified grants (the REST path takes a
//! plain name only), are left out.
//!
//! Response types follow what the door returns: on PostgreSQL `row_to_json`'s (numeric as a
//! number), on MySQL the door's typing (integers and floats as numbers, DECIMAL as a string).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};
use sluice_policy::roles::{ColumnSet, EffectiveRole, Operation};
use sluice_policy::{Dialect, TypeClass};

use super::{admit, authenticate, rate_limited, HttpDoor, Peer};

/// The routes of the document (merged into the door's router).
pub(super) fn routes() -> Router<Arc<HttpDoor>> {
    Router::new()
        .route("/rest/v1/", get(document))
        .route("/rest/v1", get(document))
        .route("/openapi.json", get(document))
}

/// One column of a table the role sees.
struct Column {
    name: String,
    data_type: String,
    class: TypeClass,
    nullable: bool,
}

async fn document(
    State(door): State<Arc<HttpDoor>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&door, &headers, peer).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !admit(&door, &caller, 1).await {
        return rate_limited(&caller.role);
    }
    let dialect = door.runner.dialect();
    let Some(schema) = model_columns(&door, &caller.role, dialect) else {
        return super::error(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "PGRST002",
            "the gateway has not read the database's schema yet; retry in a moment",
            None,
            None,
        );
    };
    Json(build(&caller.role, dialect, &schema)).into_response()
}

/// The columns of every table the role sees, in their order, from the schema model the policy
/// engine decides with (`sluice_policy::catalog::visible_tables`: the scoped catalogs and MCP
/// describe the same tables). `None`: the model has not been read.
fn model_columns(
    door: &HttpDoor,
    role: &EffectiveRole,
    dialect: Dialect,
) -> Option<BTreeMap<String, Vec<Column>>> {
    let schemas = door.gate.schemas();
    let schema = schemas.for_dialect(dialect);
    if schema.tables.is_empty() {
        return None;
    }
    let config = door.gate.roles();
    let visible = sluice_policy::catalog::visible_tables(
        &config,
        role,
        dialect,
        Some(door.runner.database()),
        schema,
    );
    Some(
        visible
            .iter()
            .filter(|t| t.key.schema.is_none())
            .map(|t| {
                let columns = t
                    .model
                    .columns
                    .iter()
                    .map(|c| Column {
                        name: c.name.clone(),
                        data_type: c.data_type.to_ascii_lowercase(),
                        class: c.class,
                        nullable: c.nullable,
                    })
                    .collect();
                (t.key.name.clone(), columns)
            })
            .collect(),
    )
}

/// The JSON schema of a column's values as the door returns them.
fn column_schema(dialect: Dialect, c: &Column) -> Value {
    let t = c.data_type.as_str();
    let mut s = match (dialect, c.class) {
        _ if t.starts_with("json") => json!({}),
        (_, TypeClass::Integer) => json!({"type": "integer"}),
        (Dialect::MySql, TypeClass::Float) => json!({"type": "number"}),
        (Dialect::MySql, _) => json!({"type": "string"}),
        (_, TypeClass::Decimal | TypeClass::Float) => json!({"type": "number"}),
        (_, TypeClass::Boolean) => json!({"type": "boolean"}),
        _ if t.ends_with(']') => json!({"type": "array", "items": {}}),
        (_, TypeClass::Date) => json!({"type": "string", "format": "date"}),
        _ => json!({"type": "string"}),
    };
    if c.nullable && s.get("type").is_some() {
        s["nullable"] = json!(true);
    }
    s["description"] = json!(c.data_type);
    s
}

/// The columns of `table` that `op` may touch, in the role's order (or the table's).
fn columns_for<'a>(
    role: &EffectiveRole,
    table: &sluice_policy::roles::TableName,
    op: Operation,
    live: &'a [Column],
) -> Vec<&'a Column> {
    match role.tables.get(table).map(|g| g.columns_for(op)) {
        Some(ColumnSet::Only(names)) => names
            .iter()
            .filter_map(|n| live.iter().find(|c| &c.name == n))
            .collect(),
        _ => live.iter().collect(),
    }
}

fn object(dialect: Dialect, cols: &[&Column]) -> Value {
    let properties: Map<String, Value> = cols
        .iter()
        .map(|c| (c.name.clone(), column_schema(dialect, c)))
        .collect();
    json!({"type": "object", "properties": properties})
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false,
           "description": description, "schema": {"type": "string"}})
}

fn header_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": false,
           "description": description, "schema": {"type": "string"}})
}

/// The errors every operation may answer with, in PostgREST's shape.
fn errors(op: &mut Map<String, Value>) {
    let responses = op["responses"].as_object_mut().expect("responses");
    for (status, what) in [
        (
            "400",
            "a malformed request, or a statement the database refused",
        ),
        ("401", "a missing, expired, revoked or invalid token"),
        ("403", "denied by the policy (the rule is in `details`)"),
        ("404", "no such endpoint"),
        ("429", "over the role's rate limit (see Retry-After)"),
        ("503", "the database cannot be reached"),
    ] {
        responses.insert(status.into(), error_response(what));
    }
}

fn reference(schema: &str) -> String {
    format!("#/components/schemas/{schema}")
}

fn error_response(what: &str) -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    json!({"description": what, "content": {"application/json": {"schema": error}}})
}

/// The document for `role` over the live `schema`.
fn build(role: &EffectiveRole, dialect: Dialect, schema: &BTreeMap<String, Vec<Column>>) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "string", "nullable": true},
            "hint": {"type": "string", "nullable": true},
        }}),
    );
    for table in role.tables.keys() {
        if table.schema.is_some() || sluice_policy::rest::Name::parse(&table.name).is_err() {
            continue;
        }
        let Some(live) = schema.get(&table.name) else {
            continue;
        };
        let name = &table.name;
        let mut item = Map::new();
        let readable = if role.permits(table, Operation::Select) {
            columns_for(role, table, Operation::Select, live)
        } else {
            Vec::new()
        };
        // Filters name readable columns (a filter on another column is denied).
        let mut filters: Vec<Value> = readable
            .iter()
            .map(|c| {
                query_param(
                    &c.name,
                    "a filter in PostgREST's grammar: eq., neq., gt., gte., lt., lte., like., \
                     ilike., in.(…), is., each may follow not.",
                )
            })
            .collect();
        filters.push(query_param("or", "filters joined by OR: (f1,f2,…)"));
        filters.push(query_param("and", "filters joined by AND: (f1,f2,…)"));
        if role.permits(table, Operation::Select) {
            schemas.insert(name.clone(), object(dialect, &readable));
            let mut params = vec![
                query_param("select", "columns to return, `alias:column` renames"),
                query_param("order", "column[.asc|.desc][.nullsfirst|.nullslast], …"),
                json!({"name": "limit", "in": "query", "required": false,
                       "schema": {"type": "integer", "minimum": 0}}),
                json!({"name": "offset", "in": "query", "required": false,
                       "schema": {"type": "integer", "minimum": 0}}),
                header_param("Range", "rows to return, e.g. 0-9"),
                header_param("Prefer", "count=exact: the total in Content-Range"),
            ];
            params.extend(filters.iter().cloned());
            let mut op = json!({
                "summary": format!("Read rows of {name}"),
                "operationId": format!("select_{name}"),
                "tags": [name],
                "parameters": params,
                "responses": {"200": {"description": "the rows", "content": {"application/json": {
                    "schema": {"type": "array", "items": {"$ref": reference(name)}}}}}},
            });
            errors(op.as_object_mut().unwrap());
            op["responses"]["416"] = error_response("a malformed or unsatisfiable Range");
            item.insert("get".into(), op);
        }
        let prefer = header_param(
            "Prefer",
            if sluice_policy::rest::supports_returning(dialect) {
                "return=representation, missing=default"
            } else {
                "missing=default (return=representation is not supported on MySQL)"
            },
        );
        if role.permits(table, Operation::Insert) {
            let cols = columns_for(role, table, Operation::Insert, live);
            let body = object(dialect, &cols);
            schemas.insert(format!("{name}.insert"), body);
            let reference = json!({"$ref": format!("#/components/schemas/{name}.insert")});
            let mut op = json!({
                "summary": format!("Insert rows into {name}"),
                "operationId": format!("insert_{name}"),
                "tags": [name],
                "parameters": [
                    query_param("select", "columns to return with return=representation"),
                    prefer,
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "oneOf": [reference, {"type": "array", "items": reference}]}}}},
                "responses": {"201": {"description": "inserted (Content-Range: */N)"}},
            });
            errors(op.as_object_mut().unwrap());
            item.insert("post".into(), op);
        }
        if role.permits(table, Operation::Update) {
            let cols = columns_for(role, table, Operation::Update, live);
            schemas.insert(format!("{name}.update"), object(dialect, &cols));
            let mut params = vec![prefer.clone()];
            params.extend(filters.iter().cloned());
            let mut op = json!({
                "summary": format!("Update rows of {name} (a filter is required)"),
                "operationId": format!("update_{name}"),
                "tags": [name],
                "parameters": params,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "$ref": format!("#/components/schemas/{name}.update")}}}},
                "responses": {
                    "204": {"description": "updated (Content-Range: */N)"},
                    "200": {"description": "the updated rows (return=representation)"},
                },
            });
            errors(op.as_object_mut().unwrap());
            item.insert("patch".into(), op);
        }
        if role.permits(table, Operation::Delete) {
            let mut params = vec![prefer.clone()];
            params.extend(filters.iter().cloned());
            let mut op = json!({
                "summary": format!("Delete rows of {name} (a filter is required)"),
                "operationId": format!("delete_{name}"),
                "tags": [name],
                "parameters": params,
                "responses": {
                    "204": {"description": "deleted (Content-Range: */N)"},
                    "200": {"description": "the deleted rows (return=representation)"},
                },
            });
            errors(op.as_object_mut().unwrap());
            item.insert("delete".into(), op);
        }
        if !item.is_empty() {
            paths.insert(format!("/{name}"), Value::Object(item));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Sluice REST API",
            "description": format!(
                "PostgREST's grammar through Sluice, cut to the scope of role {}",
                role.name
            ),
            "version": env!("CARGO_PKG_VERSION"),
        },
        "servers": [{"url": "/rest/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    })
}
