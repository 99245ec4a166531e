//! Runs what the engine rendered for an HTTP request on the backend, and reads the rows as JSON
//! objects. The pools are the wire doors' own (their pinned settings, their reset), a set of
//! pools of the HTTP door's own.
//!
//! PostgreSQL: the rendered query is read through `row_to_json` (as PostgREST does), so every
//! value is JSON the way PostgreSQL writes it. MySQL: rows come as text and are typed by their
//! column definitions (integers and floats as numbers, JSON columns as JSON, DECIMAL as a string
//! so that no digit is lost, binary strings as hex-free UTF-8 where valid, else base64).

use std::time::Duration;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde_json::{Map, Value as Json};
use sluice_policy::Dialect;

use crate::mysql::backend as my;
use crate::pg::backend as pg;
use crate::pg::pool as pgpool;

/// The connection settings of a role's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Profile {
    pub read_only: bool,
    pub statement_timeout_ms: u64,
}

/// The backend an HTTP door runs statements on.
pub enum Runner {
    Pg(pgpool::Pools, String),
    MySql(my::Pools),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The database refused the statement: (code, message).
    #[error("the database refused the statement: {1} ({0})")]
    Server(String, String),
    #[error("the database behind the gateway cannot be reached: {0}")]
    Unavailable(String),
}

impl RunError {
    pub fn response(&self) -> axum::response::Response {
        use axum::http::StatusCode;
        match self {
            RunError::Server(code, message) => {
                super::error(StatusCode::BAD_REQUEST, code, message, None, None)
            }
            RunError::Unavailable(_) => super::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                "the database behind the gateway cannot be reached",
                None,
                Some("try again later".into()),
            ),
        }
    }
}

impl Runner {
    pub fn postgres(target: pg::BackendTarget, size: usize, acquire: Duration) -> Runner {
        let database = target.database.clone();
        Runner::Pg(pgpool::Pools::new(target, size, acquire), database)
    }

    pub fn mysql(target: my::BackendTarget, size: usize, acquire: Duration) -> Runner {
        Runner::MySql(my::Pools::new(target, size, acquire))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Runner::Pg(..) => Dialect::PostgreSql,
            Runner::MySql(_) => Dialect::MySql,
        }
    }

    pub fn database(&self) -> &str {
        match self {
            Runner::Pg(_, db) => db,
            Runner::MySql(p) => p.database(),
        }
    }

    /// The backend answers a trivial query.
    pub async fn ping(&self) -> Result<(), RunError> {
        let profile = Profile {
            read_only: true,
            statement_timeout_ms: 5_000,
        };
        self.rows(profile, "SELECT 1", None).await.map(|_| ())
    }

    /// Runs one rendered query and returns its rows (at most `max_rows`) as JSON objects.
    pub async fn rows(
        &self,
        profile: Profile,
        sql: &str,
        max_rows: Option<u64>,
    ) -> Result<Vec<Json>, RunError> {
        match self {
            Runner::Pg(pools, _) => pg_rows(pools, profile, sql, max_rows).await,
            Runner::MySql(pools) => my_rows(pools, profile, sql, max_rows).await,
        }
    }
}

impl Runner {
    /// Runs one rendered write; its row count, and with `returning` (PostgreSQL: the statement
    /// has a RETURNING clause) the rows it returned as JSON objects.
    pub async fn write(
        &self,
        profile: Profile,
        sql: &str,
        returning: bool,
    ) -> Result<(u64, Vec<Json>), RunError> {
        match self {
            // A data-modifying statement cannot be a derived table; a CTE reads its RETURNING
            // rows as JSON.
            Runner::Pg(pools, _) if returning => {
                let text = format!(
                    "WITH _sluice AS ({sql}) SELECT row_to_json(_sluice)::text FROM _sluice"
                );
                let rows = pg_json(pools, profile, &text).await?;
                Ok((rows.len() as u64, rows))
            }
            Runner::Pg(pools, _) => {
                let mut conn = pg_conn(pools, profile).await?;
                let ran = conn.query_texts(sql).await;
                pgpool::Pools::release(conn);
                Ok((ran.map_err(pg_error)?.1, Vec::new()))
            }
            Runner::MySql(pools) => {
                let mut conn = my_conn(pools, profile).await?;
                conn.query_drop(sql).await.map_err(my_error)?;
                Ok((conn.affected_rows(), Vec::new()))
            }
        }
    }
}

async fn pg_conn(pools: &pgpool::Pools, p: Profile) -> Result<pgpool::Pooled, RunError> {
    let profile = pg::Profile {
        read_only: p.read_only,
        statement_timeout_ms: p.statement_timeout_ms,
    };
    pools
        .acquire(&profile)
        .await
        .map_err(|e| RunError::Unavailable(e.to_string()))
}

async fn my_conn(pools: &my::Pools, p: Profile) -> Result<mysql_async::Conn, RunError> {
    let profile = my::Profile {
        read_only: p.read_only,
        statement_timeout_ms: p.statement_timeout_ms,
        found_rows: false,
    };
    pools
        .acquire(profile)
        .await
        .map_err(|e| RunError::Unavailable(e.to_string()))
}

/// Runs `text` and reads its first column of every row as a JSON value.
async fn pg_json(
    pools: &pgpool::Pools,
    profile: Profile,
    text: &str,
) -> Result<Vec<Json>, RunError> {
    let mut conn = pg_conn(pools, profile).await?;
    let ran = conn.query_texts(text).await;
    pgpool::Pools::release(conn);
    let (texts, _) = ran.map_err(pg_error)?;
    texts
        .into_iter()
        .map(|t| {
            serde_json::from_str(t.as_deref().unwrap_or("null"))
                .map_err(|e| RunError::Unavailable(format!("unreadable row: {e}")))
        })
        .collect()
}

fn pg_error(e: pg::QueryError) -> RunError {
    match e {
        pg::QueryError::Server { sqlstate, message } => RunError::Server(sqlstate, message),
        pg::QueryError::Backend(e) => RunError::Unavailable(e.to_string()),
    }
}

async fn pg_rows(
    pools: &pgpool::Pools,
    profile: Profile,
    sql: &str,
    max_rows: Option<u64>,
) -> Result<Vec<Json>, RunError> {
    // The engine's output is one complete query; reading it through a derived table changes
    // which columns come back (all of them, as one JSON object per row), not which rows.
    let limit = max_rows.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let text = format!("SELECT row_to_json(_sluice)::text FROM ({sql}) AS _sluice{limit}");
    pg_json(pools, profile, &text).await
}

async fn my_rows(
    pools: &my::Pools,
    profile: Profile,
    sql: &str,
    max_rows: Option<u64>,
) -> Result<Vec<Json>, RunError> {
    let mut conn = my_conn(pools, profile).await?;
    let mut result = conn.query_iter(sql).await.map_err(my_error)?;
    let columns = result.columns().unwrap_or_default();
    let mut rows = Vec::new();
    while let Some(row) = result.next().await.map_err(my_error)? {
        if max_rows.is_some_and(|m| rows.len() as u64 >= m) {
            continue;
        }
        let mut object = Map::new();
        for (c, v) in columns.iter().zip(row.unwrap_raw()) {
            object.insert(
                c.name_str().into_owned(),
                my_json(c, v.unwrap_or(Value::NULL)),
            );
        }
        rows.push(Json::Object(object));
    }
    Ok(rows)
}

fn my_error(e: mysql_async::Error) -> RunError {
    match e {
        mysql_async::Error::Server(s) => RunError::Server(s.code.to_string(), s.message),
        other => RunError::Unavailable(other.to_string()),
    }
}

/// A text-protocol value as JSON, by its column's type.
fn my_json(c: &mysql_async::Column, v: Value) -> Json {
    let Value::Bytes(bytes) = v else {
        return Json::Null;
    };
    let text = || String::from_utf8_lossy(&bytes).into_owned();
    match c.column_type() {
        ColumnType::MYSQL_TYPE_TINY
        | ColumnType::MYSQL_TYPE_SHORT
        | ColumnType::MYSQL_TYPE_INT24
        | ColumnType::MYSQL_TYPE_LONG
        | ColumnType::MYSQL_TYPE_LONGLONG
        | ColumnType::MYSQL_TYPE_YEAR => {
            let t = text();
            if c.flags().contains(ColumnFlags::UNSIGNED_FLAG) {
                t.parse::<u64>().map(Json::from).unwrap_or(Json::String(t))
            } else {
                t.parse::<i64>().map(Json::from).unwrap_or(Json::String(t))
            }
        }
        ColumnType::MYSQL_TYPE_FLOAT | ColumnType::MYSQL_TYPE_DOUBLE => {
            let t = text();
            t.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Json::Number)
                .unwrap_or(Json::String(t))
        }
        ColumnType::MYSQL_TYPE_JSON => {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Json::String(text()))
        }
        _ => Json::String(text()),
    }
}
