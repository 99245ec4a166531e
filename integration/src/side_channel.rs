//! The side-channel acceptance suite's fixtures (`integration/tests/side_channels.rs`): a small
//! two-tenant database whose other tenant (`globex`) holds canary values made to fail casts,
//! regexes, JSON and date parsing, one role per row-filter shape, and a client for each door
//! that records everything a client can observe of one statement ([`Seen`]): rows, row counts,
//! error code and text (with PostgreSQL's detail, hint and context), notices, MySQL warning
//! counts and info strings, and how long it took.
//!
//! The token's tenant is `acme` (`tenant_no` 1). Every acme value that a probe reads (`notes`,
//! `email`, `memo`) is NULL, and no acme name starts with G or Q, so a probe evaluated on acme
//! rows only is harmless; whatever it does differently between a run that is true on globex's
//! data and one that is false can only come from globex's rows.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{AsyncMessage, NoTls, SimpleQueryMessage};

use crate::{Gateway, GatewayOptions, MariaDbServer, PgServer};

/// Which database a case runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Engine {
    Pg,
    My,
}

/// A door that accepts SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Door {
    /// PostgreSQL simple protocol (`simple_query`).
    PgSimple,
    /// PostgreSQL extended protocol (`prepare` + `query`/`execute`).
    PgExtended,
    /// MySQL text protocol (COM_QUERY).
    MyText,
    /// MySQL prepared statements (COM_STMT_PREPARE + COM_STMT_EXECUTE).
    MyPrepared,
    /// The MCP `query` tool over Streamable HTTP.
    Mcp,
}

impl Door {
    pub fn all(engine: Engine) -> &'static [Door] {
        match engine {
            Engine::Pg => &[Door::PgSimple, Door::PgExtended, Door::Mcp],
            Engine::My => &[Door::MyText, Door::MyPrepared, Door::Mcp],
        }
    }
}

/// A row-filter shape: one role of the suite's role file, applied to `customers` and
/// `reservations`. `visits` (the INSERT target) keeps a filter that pins `tenant_id`, which
/// INSERT needs.
pub struct Shape {
    pub name: &'static str,
    pub filter: &'static str,
}

/// The shapes a role may write. `lower()` costs more than an equality, so PostgreSQL's planner
/// orders cheaper client conditions before it.
pub const SHAPES: &[Shape] = &[
    Shape {
        name: "eq",
        filter: "tenant_id = {{ token.tenant_id }}",
    },
    Shape {
        name: "lower",
        filter: "lower(tenant_id) = {{ token.tenant_id }}",
    },
    Shape {
        name: "in",
        filter: "tenant_id IN ({{ token.tenant_id }}, 'nobody')",
    },
    Shape {
        name: "or",
        filter: "tenant_id = {{ token.tenant_id }} OR tenant_id = 'nobody'",
    },
    Shape {
        name: "coalesce",
        filter: "coalesce(tenant_id, '') = {{ token.tenant_id }}",
    },
    Shape {
        name: "and",
        filter: "tenant_id = {{ token.tenant_id }} AND id > 0",
    },
    Shape {
        name: "numeric",
        filter: "tenant_no = {{ token.tenant_no }}",
    },
    // A mistake a role author can make: a numeric claim against a text column. MySQL would
    // convert every row the filter reads, other tenants' too, each with a warning; the engine
    // refuses the filter there. PostgreSQL refuses `text = integer` before reading a row.
    Shape {
        name: "text_vs_number",
        filter: "lower(tenant_id) = {{ token.tenant_no }}",
    },
];

/// One role per shape, named `shape_<name>`.
pub fn roles() -> String {
    let mut out = String::from("forbidden_operations: [DELETE, DROP, TRUNCATE]\nroles:\n");
    for s in SHAPES {
        out.push_str(&format!(
            "  shape_{name}:
    tables:
      customers: [SELECT]
      reservations: [SELECT, UPDATE]
      visits: [SELECT, INSERT]
    columns:
      reservations:
        UPDATE: [status, notes, customer_id]
      visits:
        INSERT: [customer_id, code]
    filters:
      customers: \"{f}\"
      reservations: \"{f}\"
      visits: \"tenant_id = {{{{ token.tenant_id }}}}\"
",
            name = s.name,
            f = s.filter
        ));
    }
    out
}

/// Values of globex's that must never reach an acme client. A case whose own SQL contains one
/// (a guessed value) is not scanned for it.
pub const CANARIES: &[&str] = &[
    "xyzzy",
    "globex",
    "Gxyzzy Canary",
    "gxyzzy@globex.example",
    "Gxyzzy-note",
    "Gxyzzy-res",
    "Gxyzzy-hold",
];

/// The length of the run of `a` in customer 13's notes: long enough that the timing probe's
/// regex (`(a+)(a+)\1\2\1\2$`, which cannot match a run whose length is not a multiple of 3)
/// takes about two seconds on one row. PostgreSQL's and MariaDB's regex engines differ in speed.
fn slow_run(engine: Engine) -> usize {
    match engine {
        Engine::Pg => 1009,
        Engine::My => 2003,
    }
}

const SCHEMA_PG: &str = "
CREATE TABLE customers (
    id        INT PRIMARY KEY,
    tenant_id VARCHAR(32) NOT NULL,
    tenant_no INT NOT NULL,
    name      VARCHAR(100) NOT NULL,
    email     VARCHAR(200),
    notes     VARCHAR(3000),
    memo      VARCHAR(200)
) WITH (autovacuum_enabled = false);
CREATE TABLE reservations (
    id          INT PRIMARY KEY,
    tenant_id   VARCHAR(32) NOT NULL,
    tenant_no   INT NOT NULL,
    customer_id INT NOT NULL REFERENCES customers (id),
    status      VARCHAR(20) NOT NULL,
    notes       VARCHAR(3000),
    memo        VARCHAR(200)
) WITH (autovacuum_enabled = false);
CREATE INDEX reservations_status ON reservations (status);
CREATE TABLE visits (
    id          INT GENERATED BY DEFAULT AS IDENTITY (START WITH 1000) PRIMARY KEY,
    tenant_id   VARCHAR(32) NOT NULL,
    customer_id INT NOT NULL REFERENCES customers (id),
    code        VARCHAR(4)
);
";

/// Tenant columns compare in binary (ARCHITECTURE.md: a case-insensitive collation would let
/// `'ACME'` match).
const SCHEMA_MARIADB: &str = "
CREATE TABLE customers (
    id        INT PRIMARY KEY,
    tenant_id VARCHAR(32) COLLATE utf8mb4_bin NOT NULL,
    tenant_no INT NOT NULL,
    name      VARCHAR(100) NOT NULL,
    email     VARCHAR(200),
    notes     VARCHAR(3000),
    memo      VARCHAR(200)
) ENGINE=InnoDB;
CREATE TABLE reservations (
    id          INT PRIMARY KEY,
    tenant_id   VARCHAR(32) COLLATE utf8mb4_bin NOT NULL,
    tenant_no   INT NOT NULL,
    customer_id INT NOT NULL,
    status      VARCHAR(20) NOT NULL,
    notes       VARCHAR(3000),
    memo        VARCHAR(200),
    KEY reservations_status (status),
    FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB;
CREATE TABLE visits (
    id          INT AUTO_INCREMENT PRIMARY KEY,
    tenant_id   VARCHAR(32) COLLATE utf8mb4_bin NOT NULL,
    customer_id INT NOT NULL,
    code        VARCHAR(4),
    FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB AUTO_INCREMENT=1000;
";

/// The run of `a` in half of globex's reservation notes: a value common enough to be one of
/// PostgreSQL's most common values, which the planner matches a regex operator against while
/// estimating its selectivity (shorter than the customer's run: the planner matches it several
/// times).
const SLOW_STATISTICS_RUN: usize = 1000;

/// The rows, portable between the engines. Customer 11 is globex's G-named canary, 12 holds an
/// invalid regex, 13 the timing probe's long run; globex's 400 reservations share a status and
/// half of them a long note, so that statistics and index dives see them.
fn data(engine: Engine) -> String {
    let mut sql = String::from(
        "INSERT INTO customers (id, tenant_id, tenant_no, name, email, notes, memo) VALUES
 (1, 'acme', 1, 'Alice Able', NULL, NULL, NULL),
 (2, 'acme', 1, 'Bob Baker', NULL, NULL, NULL),
 (3, 'acme', 1, 'Carol Cole', NULL, NULL, NULL),
 (4, 'acme', 1, 'Dave Dane', NULL, NULL, NULL),
 (5, 'acme', 1, 'Erin Eads', NULL, NULL, NULL),
 (11, 'globex', 2, 'Gxyzzy Canary', 'gxyzzy@globex.example', 'Gxyzzy-note', NULL),
 (12, 'globex', 2, 'Hxyzzy Hill', NULL, 'Gxyzzy((', NULL),\n",
    );
    sql.push_str(&format!(
        " (13, 'globex', 2, 'Ixyzzy Slow', NULL, concat('Gxyzzy', repeat('a', {})), NULL);\n",
        slow_run(engine)
    ));
    sql.push_str(
        "INSERT INTO reservations (id, tenant_id, tenant_no, customer_id, status, notes, memo) VALUES
 (1, 'acme', 1, 1, 'booked', NULL, NULL),
 (2, 'acme', 1, 2, 'active', NULL, NULL),
 (3, 'acme', 1, 3, 'booked', NULL, NULL),
 (4, 'acme', 1, 4, 'returned', NULL, NULL),
 (5, 'acme', 1, 5, 'booked', NULL, NULL),
 (6, 'acme', 1, 1, 'active', NULL, NULL)",
    );
    for id in 11..411 {
        let notes = if id % 2 == 0 {
            format!("concat('Gxyzzy', repeat('a', {SLOW_STATISTICS_RUN}))")
        } else {
            "'Gxyzzy-res'".to_string()
        };
        sql.push_str(&format!(
            ",\n ({id}, 'globex', 2, {}, 'Gxyzzy-hold', {notes}, NULL)",
            11 + id % 3
        ));
    }
    sql.push_str(";\nINSERT INTO visits (id, tenant_id, customer_id, code) VALUES (1, 'acme', 1, 'A1'), (2, 'globex', 11, 'G1');\n");
    if engine == Engine::Pg {
        sql.push_str("ANALYZE customers; ANALYZE reservations; ANALYZE visits;\n");
    }
    sql
}

const EMPTY: &str = "DELETE FROM visits; DELETE FROM reservations; DELETE FROM customers;\n";

/// A seeded database and a gateway in front of it with the MCP door open, one per engine.
pub struct Site {
    pub engine: Engine,
    pub gateway: Gateway,
    server: Server,
}

enum Server {
    Pg(&'static PgServer),
    My(&'static MariaDbServer),
}

impl Site {
    pub fn start_pg(server: &'static PgServer) -> Result<Site> {
        let db = server.create_unique_database("side_channels")?;
        server.exec(&db, SCHEMA_PG)?;
        server.exec(&db, &data(Engine::Pg))?;
        let gateway = Gateway::start_pg(&server.url(&db), &db, &roles(), options())?;
        Ok(Site {
            engine: Engine::Pg,
            gateway,
            server: Server::Pg(server),
        })
    }

    pub fn start_mariadb(server: &'static MariaDbServer) -> Result<Site> {
        let db = server.create_unique_database("side_channels")?;
        server.exec(&db, SCHEMA_MARIADB)?;
        server.exec(&db, &data(Engine::My))?;
        let gateway = Gateway::start_mysql(&server.url(&db), &db, &roles(), options())?;
        Ok(Site {
            engine: Engine::My,
            gateway,
            server: Server::My(server),
        })
    }

    /// Puts the seeded rows back (after a write that should not have happened).
    pub fn reseed(&self) -> Result<()> {
        let db = &self.gateway.database;
        let sql = format!("{EMPTY}{}", data(self.engine));
        match self.server {
            Server::Pg(pg) => pg.exec(db, &format!("BEGIN; {sql} COMMIT;")),
            Server::My(my) => my.exec(db, &format!("START TRANSACTION; {sql} COMMIT;")),
        }
    }

    /// Every row of every table, read directly as the superuser.
    pub async fn contents(&self) -> Result<String> {
        let db = &self.gateway.database;
        let tables = ["customers", "reservations", "visits"]
            .map(|t| format!("SELECT * FROM {t} ORDER BY id"));
        let mut seen = Vec::new();
        match self.server {
            Server::Pg(pg) => {
                let mut c = PgAgent::connect(&pg.url(db)).await?;
                for sql in &tables {
                    seen.push(c.simple(sql).await);
                }
            }
            Server::My(my) => {
                let mut c = mysql_async::Conn::from_url(my.url(db)).await?;
                for sql in &tables {
                    seen.push(my_text(&mut c, sql).await);
                }
                c.disconnect().await?;
            }
        }
        Ok(format!("{seen:?}"))
    }

    /// A token of the shape's role for acme.
    pub fn token(&self, shape: &Shape) -> String {
        let mut extra = BTreeMap::new();
        extra.insert("tenant_no".to_string(), sluice_tokens::ClaimValue::Int(1));
        self.gateway.token_for(&sluice_tokens::TokenRequest {
            role: format!("shape_{}", shape.name),
            tenant_id: Some("acme".into()),
            extra,
            lifetime_secs: 3600,
            label: Some("side-channels".into()),
        })
    }
}

fn options() -> GatewayOptions {
    GatewayOptions {
        http: true,
        ..Default::default()
    }
}

/// Everything a client observes of one statement, except time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    /// SQLSTATE or MySQL code and the full text (PostgreSQL: with detail, hint, context).
    pub error: Option<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows affected (PostgreSQL command tag, MySQL OK packet, MCP `affected_rows`).
    pub affected: Option<u64>,
    /// MySQL: the warning count of the final OK/EOF packet.
    pub warnings: Option<u16>,
    /// MySQL: the OK packet's info string (`Rows matched: … Warnings: …`).
    pub info: Option<String>,
    /// PostgreSQL notices (severity, code, message, detail, hint).
    pub notices: Vec<String>,
}

/// A statement's [`Seen`] and its duration.
pub struct Observed {
    pub seen: Seen,
    pub elapsed: Duration,
}

/// The connections of one token, one per door.
pub struct Agent {
    pg: Option<PgAgent>,
    my: Option<mysql_async::Conn>,
    mcp: (SocketAddr, String),
}

impl Agent {
    pub async fn connect(site: &Site, shape: &Shape) -> Result<Agent> {
        let token = site.token(shape);
        let gw = &site.gateway;
        let (pg, my) = match site.engine {
            Engine::Pg => (Some(PgAgent::connect(&gw.pg_url(&token)).await?), None),
            Engine::My => (
                None,
                Some(mysql_async::Conn::new(gw.mysql_opts(&token)).await?),
            ),
        };
        let http = gw.http_addr.context("the HTTP door is open")?;
        Ok(Agent {
            pg,
            my,
            mcp: (http, token),
        })
    }

    /// Runs `sql` through `door` and records what the client sees.
    pub async fn run(&mut self, door: Door, sql: &str) -> Observed {
        self.run_bound(door, sql, &[]).await
    }

    /// [`Agent::run`] with values bound to the statement's parameters (MySQL prepared
    /// statements only).
    pub async fn run_bound(&mut self, door: Door, sql: &str, binds: &[Bind]) -> Observed {
        assert!(
            binds.is_empty() || door == Door::MyPrepared,
            "values are bound only through MySQL prepared statements"
        );
        let started = Instant::now();
        let seen = match door {
            Door::PgSimple => self.pg().simple(sql).await,
            Door::PgExtended => self.pg().extended(sql).await,
            Door::MyText => my_text(self.my(), sql).await,
            Door::MyPrepared => my_prepared(self.my(), sql, binds).await,
            Door::Mcp => mcp_query(self.mcp.0, &self.mcp.1, sql).await,
        };
        Observed {
            seen,
            elapsed: started.elapsed(),
        }
    }

    fn pg(&mut self) -> &mut PgAgent {
        self.pg
            .as_mut()
            .expect("a PostgreSQL door on a PostgreSQL site")
    }

    fn my(&mut self) -> &mut mysql_async::Conn {
        self.my.as_mut().expect("a MySQL door on a MariaDB site")
    }
}

/// A tokio-postgres client whose notices are kept.
struct PgAgent {
    client: tokio_postgres::Client,
    notices: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl PgAgent {
    async fn connect(url: &str) -> Result<PgAgent> {
        let (client, mut conn) = tokio_postgres::connect(url, NoTls).await?;
        let (tx, notices) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(m)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                if let AsyncMessage::Notice(n) = m {
                    let _ = tx.send(format!(
                        "{} {} {} detail={:?} hint={:?} where={:?}",
                        n.severity(),
                        n.code().code(),
                        n.message(),
                        n.detail(),
                        n.hint(),
                        n.where_()
                    ));
                }
            }
        });
        Ok(PgAgent { client, notices })
    }

    async fn simple(&mut self, sql: &str) -> Seen {
        let mut seen = Seen::default();
        match self.client.simple_query(sql).await {
            Ok(messages) => {
                for m in messages {
                    match m {
                        SimpleQueryMessage::Row(r) => seen
                            .rows
                            .push((0..r.len()).map(|i| format!("{:?}", r.get(i))).collect()),
                        SimpleQueryMessage::CommandComplete(n) => seen.affected = Some(n),
                        _ => {}
                    }
                }
            }
            Err(e) => seen.error = Some(pg_error(&e)),
        }
        self.take_notices(&mut seen);
        seen
    }

    async fn extended(&mut self, sql: &str) -> Seen {
        let mut seen = Seen::default();
        let result = async {
            let stmt = self.client.prepare(sql).await?;
            if stmt.columns().is_empty() {
                seen.affected = Some(self.client.execute(&stmt, &[]).await?);
            } else {
                for row in self.client.query(&stmt, &[]).await? {
                    seen.rows.push(
                        (0..row.len())
                            .map(|i| match row.try_get::<_, AnyValue>(i) {
                                Ok(v) => v.0,
                                Err(e) => format!("<undecodable: {e}>"),
                            })
                            .collect(),
                    );
                }
            }
            Ok::<_, tokio_postgres::Error>(())
        }
        .await;
        if let Err(e) = result {
            seen.error = Some(pg_error(&e));
        }
        self.take_notices(&mut seen);
        seen
    }

    fn take_notices(&mut self, seen: &mut Seen) {
        while let Ok(n) = self.notices.try_recv() {
            seen.notices.push(n);
        }
    }
}

fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!(
            "{} {} detail={:?} hint={:?} where={:?}",
            d.code().code(),
            d.message(),
            d.detail(),
            d.hint(),
            d.where_()
        ),
        None => format!("client error: {e}"),
    }
}

/// Any column value of the extended protocol, as the bytes the server sent (binary format),
/// shown as text where they are UTF-8.
struct AnyValue(String);

impl<'a> FromSql<'a> for AnyValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue(match std::str::from_utf8(raw) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("{raw:?}"),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue("NULL".into()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

async fn my_text(conn: &mut mysql_async::Conn, sql: &str) -> Seen {
    let mut seen = Seen::default();
    let result = async {
        let mut r = conn.query_iter(sql).await?;
        let rows: Vec<mysql_async::Row> = r.collect().await?;
        seen.rows = rows.into_iter().map(my_row).collect();
        seen.affected = Some(r.affected_rows());
        seen.warnings = Some(r.warnings());
        seen.info = Some(r.info().into_owned());
        r.drop_result().await
    }
    .await;
    if let Err(e) = result {
        seen.error = Some(my_error(&e));
    }
    seen
}

/// A value bound to a MySQL prepared statement's `?`, with the type the client sends it as.
#[derive(Clone, Copy, Debug)]
pub enum Bind {
    /// MYSQL_TYPE_VAR_STRING.
    Str(&'static str),
    /// MYSQL_TYPE_LONGLONG.
    Int(i64),
    /// MYSQL_TYPE_DOUBLE.
    Double(f64),
}

async fn my_prepared(conn: &mut mysql_async::Conn, sql: &str, binds: &[Bind]) -> Seen {
    let mut seen = Seen::default();
    let params = if binds.is_empty() {
        mysql_async::Params::Empty
    } else {
        mysql_async::Params::Positional(
            binds
                .iter()
                .map(|b| match *b {
                    Bind::Str(s) => mysql_async::Value::Bytes(s.as_bytes().to_vec()),
                    Bind::Int(i) => mysql_async::Value::Int(i),
                    Bind::Double(d) => mysql_async::Value::Double(d),
                })
                .collect(),
        )
    };
    let result = async {
        let mut r = conn.exec_iter(sql, params).await?;
        let rows: Vec<mysql_async::Row> = r.collect().await?;
        seen.rows = rows.into_iter().map(my_row).collect();
        seen.affected = Some(r.affected_rows());
        seen.warnings = Some(r.warnings());
        seen.info = Some(r.info().into_owned());
        r.drop_result().await
    }
    .await;
    if let Err(e) = result {
        seen.error = Some(my_error(&e));
    }
    seen
}

fn my_row(row: mysql_async::Row) -> Vec<String> {
    row.unwrap_raw()
        .into_iter()
        .map(|v| match v {
            Some(mysql_async::Value::Bytes(b)) => format!("{:?}", String::from_utf8_lossy(&b)),
            other => format!("{other:?}"),
        })
        .collect()
}

fn my_error(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} {}: {}", s.code, s.state, s.message),
        other => format!("client error: {other}"),
    }
}

/// One `tools/call` of `query` over Streamable HTTP, stateless (no `initialize`: the door keeps
/// no MCP session, and rmcp serves a request that names a known protocol version directly).
async fn mcp_query(addr: SocketAddr, token: &str, sql: &str) -> Seen {
    let mut seen = Seen::default();
    let body = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "query", "arguments": {"sql": sql}},
    })
    .to_string();
    let reply = match http_post(addr, token, &body).await {
        Ok(r) => r,
        Err(e) => {
            seen.error = Some(format!("client error: {e:#}"));
            return seen;
        }
    };
    let result = &reply["result"];
    if result.is_null() {
        seen.error = Some(format!("protocol error: {reply}"));
        return seen;
    }
    if result["isError"] == json!(true) {
        seen.error = Some(
            result["content"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
        );
        return seen;
    }
    let structured = &result["structuredContent"];
    if let Some(rows) = structured["rows"].as_array() {
        seen.rows = rows.iter().map(|r| vec![r.to_string()]).collect();
    }
    seen.affected = structured["affected_rows"].as_u64();
    seen
}

async fn http_post(addr: SocketAddr, token: &str, body: &str) -> Result<Value> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST /mcp HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         authorization: Bearer {token}\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\nmcp-protocol-version: 2025-11-25\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("an HTTP response")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).with_context(|| format!("a JSON-RPC reply, not {head}\n\n{body}"))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The canaries found in `seen` (case-insensitive), except those `sql` itself contains.
pub fn canaries_in(seen: &Seen, sql: &str) -> Vec<&'static str> {
    let shown = format!("{seen:?}").to_lowercase();
    let sql = sql.to_lowercase();
    CANARIES
        .iter()
        .copied()
        .filter(|c| {
            let c = c.to_lowercase();
            !sql.contains(&c) && shown.contains(&c)
        })
        .collect()
}
