//! Renders statements with Sluice's policy engine as the gateway would, with or without the
//! backend's column types. `integration/bench/barrier.sh` runs it for the "typed" rendering: what
//! the gateway sends once it knows the column types (until the proxy loads a schema, `Gate` builds
//! `Engine::new` and every statement with a condition is fenced), so the benchmark can measure
//! the unfenced path of statements proven leakproof before the loader lands.
//!
//! With a backend URL the engine gets every column of the connected database's tables (PostgreSQL:
//! every schema but the catalogs; MySQL: the URL's database) with its type class: all that the
//! leakproof proof reads. Keys and foreign keys are left out: only writes read them.
//!
//! `cargo run --release -p sluice-integration --example render -- postgres|mysql ROLE_FILE ROLE
//! TENANT [BACKEND_URL]`, statements on stdin, one a line. One line out per statement: the
//! rendered SQL, or `DENIED: <reason>`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

use anyhow::Context;
use mysql_async::prelude::Queryable;
use sluice_policy::roles::{RbacConfig, TableName};
use sluice_policy::schema::{ColumnSchema, TableSchema};
use sluice_policy::{BackendSchemas, Dialect, Engine, Schema, TypeClass};
use sluice_tokens::Claims;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: render postgres|mysql ROLE_FILE ROLE TENANT [BACKEND_URL]";
    let (dialect, role_file, role, tenant, url) = match args.as_slice() {
        [d, f, r, t] => (d, f, r, t, None),
        [d, f, r, t, u] => (d, f, r, t, Some(u.as_str())),
        _ => anyhow::bail!("{usage}"),
    };
    let dialect = match dialect.as_str() {
        "postgres" => Dialect::PostgreSql,
        "mysql" => Dialect::MySql,
        other => anyhow::bail!("{other:?} is not postgres or mysql; {usage}"),
    };
    let text =
        std::fs::read_to_string(role_file).with_context(|| format!("reading {role_file}"))?;
    let config = RbacConfig::from_yaml(role_file, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let claims = Claims {
        role: role.clone(),
        tenant_id: Some(tenant.clone()),
        exp: i64::MAX,
        iat: 0,
        nbf: 0,
        jti: "0".repeat(32),
        label: None,
        extra: BTreeMap::new(),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (schema, database) = match url {
        None => (Schema::default(), None),
        Some(url) => runtime.block_on(load_columns(dialect, url))?,
    };
    // The MySQL door passes its backend's database; without a URL the gateway's is unknown here,
    // so MySQL names must then be unqualified (they are in the benchmark's statements).
    let database = match dialect {
        Dialect::PostgreSql => None,
        Dialect::MySql => database.or_else(|| std::env::var("RENDER_DATABASE").ok()),
    };
    let mut schemas = BackendSchemas::default();
    match dialect {
        Dialect::PostgreSql => schemas.postgres = Arc::new(schema),
        Dialect::MySql => schemas.mysql = Arc::new(schema),
    }
    let engine = Engine::with_schemas(Arc::new(config), schemas, 1 << 20);

    for line in std::io::stdin().lock().lines() {
        let sql = line?;
        if sql.trim().is_empty() {
            continue;
        }
        match &*engine.authorize(&claims, dialect, database.as_deref(), &sql) {
            Ok(a) => {
                let rendered: Vec<&str> = a.statements.iter().map(|s| s.sql.as_str()).collect();
                println!("{}", rendered.join("; "));
            }
            Err(d) => println!("DENIED: {d}"),
        }
    }
    Ok(())
}

/// The columns of the backend's tables with their type classes, and (MySQL) the database.
async fn load_columns(dialect: Dialect, url: &str) -> anyhow::Result<(Schema, Option<String>)> {
    let mut schema = Schema::default();
    let mut add =
        |space: String, table: String, column: String, data_type: String, nullable: bool| {
            let class = match dialect {
                Dialect::PostgreSql => TypeClass::of_postgres(&data_type),
                Dialect::MySql => TypeClass::of_mysql(&data_type),
            };
            let key = TableName {
                schema: Some(space),
                name: table,
            };
            let t: &mut TableSchema = schema.tables.entry(key).or_default();
            t.columns.push(ColumnSchema {
                name: column,
                data_type,
                class,
                nullable,
            });
        };
    match dialect {
        Dialect::PostgreSql => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .with_context(|| format!("connecting to {url}"))?;
            tokio::spawn(connection);
            let rows = client
                .query(
                    "SELECT table_schema::text, table_name::text, column_name::text, \
                     data_type::text, is_nullable = 'YES' FROM information_schema.columns \
                     WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                     ORDER BY table_schema, table_name, ordinal_position",
                    &[],
                )
                .await?;
            for r in rows {
                add(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            }
            Ok((schema, None))
        }
        Dialect::MySql => {
            let opts = mysql_async::Opts::from_url(url).with_context(|| format!("{url:?}"))?;
            let database = opts.db_name().map(str::to_string);
            let mut conn = mysql_async::Conn::new(
                mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false),
            )
            .await
            .with_context(|| format!("connecting to {url}"))?;
            let rows: Vec<(String, String, String, String, String)> = conn
                .query(
                    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE \
                     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                     ORDER BY TABLE_NAME, ORDINAL_POSITION",
                )
                .await?;
            for (space, table, column, data_type, nullable) in rows {
                add(space, table, column, data_type, nullable == "YES");
            }
            conn.disconnect().await?;
            Ok((schema, database))
        }
    }
}
