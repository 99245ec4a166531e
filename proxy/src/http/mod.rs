//! The HTTP door: health endpoints, the REST API (PostgREST's query grammar) and the MCP server
//! on `--http-listen`, in front of the PostgreSQL or the MySQL backend.
//!
//! Every request carries its token (`Authorization: Bearer …`), verified on every request
//! (signature, times, revocation) and counted against the role's rate limit. A request becomes a
//! SQL syntax tree (`sluice_policy::rest`), never text put together here; the policy engine
//! checks and confines it like any statement of the wire doors, and the backend runs what the
//! engine rendered. No rule lives in this door.
//!
//! Routes: `/healthz`, `/readyz`, reads (`GET /rest/v1/{table}`, `Prefer: count=exact`,
//! `Range`), writes (POST, PATCH and DELETE with filters; `Prefer: return=representation` on
//! PostgreSQL, `missing=default`), the OpenAPI document (`openapi.rs`) and MCP at `/mcp`
//! (`mcp.rs`).
//!
//! TLS and plaintext share the listener: a connection whose first byte opens a TLS handshake is
//! served over TLS; plaintext (which carries the token in clear) only from loopback peers unless
//! `--allow-plaintext`.

pub mod mcp;
mod openapi;
mod run;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use hyper_util::rt::TokioIo;
use serde_json::json;
use sluice_policy::rest::{self, Name, Range, RestError};
use sluice_policy::roles::EffectiveRole;
use sluice_policy::Denial;
use sluice_tokens::Claims;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use run::Runner;

use crate::audit::{audited_sql, Audit, AuditEvent};
use crate::gate::Gate;

/// A client must send its request head within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// Settings of the HTTP door.
pub struct HttpDoorConfig {
    pub runner: Runner,
    pub default_statement_timeout: Duration,
    pub tls: Arc<rustls::ServerConfig>,
    pub allow_plaintext: bool,
    pub max_clients: usize,
}

pub struct HttpDoor {
    gate: Arc<Gate>,
    audit: Audit,
    runner: Runner,
    default_statement_timeout: Duration,
    tls: tokio_rustls::TlsAcceptor,
    allow_plaintext: bool,
    clients: Arc<tokio::sync::Semaphore>,
    shutdown: watch::Receiver<bool>,
}

#[derive(Clone, Copy)]
struct Peer(SocketAddr);

impl HttpDoor {
    pub fn new(
        config: HttpDoorConfig,
        gate: Arc<Gate>,
        audit: Audit,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<HttpDoor> {
        Arc::new(HttpDoor {
            gate,
            audit,
            runner: config.runner,
            default_statement_timeout: config.default_statement_timeout,
            tls: tokio_rustls::TlsAcceptor::from(config.tls),
            allow_plaintext: config.allow_plaintext,
            clients: Arc::new(tokio::sync::Semaphore::new(config.max_clients)),
            shutdown,
        })
    }

    fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
            .route("/readyz", get(ready))
            .nest_service("/mcp", mcp::service(self))
            .merge(openapi::routes())
            .route(
                "/rest/v1/{table}",
                get(read_table)
                    .post(insert_rows)
                    .patch(update_rows)
                    .delete(delete_rows),
            )
            .fallback(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    "PGRST125",
                    "no such endpoint",
                    None,
                    Some("the REST API is under /rest/v1/{table}".into()),
                )
            })
            .with_state(self.clone())
    }

    /// Accepts clients until shutdown, then drains (see [`crate::door::serve`]).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, drain: Duration) {
        let router = self.router();
        let door = self.clone();
        crate::door::serve(
            listener,
            self.shutdown.clone(),
            self.clients.clone(),
            drain,
            "HTTP",
            move |stream, peer, permit| {
                let door = door.clone();
                let router = router.clone().layer(Extension(Peer(peer)));
                async move {
                    if permit.is_some() {
                        door.connection(stream, peer, router).await;
                    }
                }
            },
        )
        .await;
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr, router: Router) {
        let mut first = [0u8; 1];
        let tls = match tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut first)).await {
            Ok(Ok(1)) => first[0] == 0x16,
            _ => return,
        };
        let service = hyper_util::service::TowerToHyperService::new(router);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        if tls {
            let Ok(Ok(stream)) =
                tokio::time::timeout(HEADER_TIMEOUT, self.tls.accept(stream)).await
            else {
                return;
            };
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        } else if self.allow_plaintext || peer.ip().is_loopback() {
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        } else {
            use tokio::io::AsyncWriteExt;
            let body = r#"{"code":"PGRST301","message":"this gateway takes tokens only over TLS from non-loopback clients","details":null,"hint":"use https://, or run the gateway with --allow-plaintext"}"#;
            let mut stream = stream;
            let _ = stream
                .write_all(
                    format!(
                        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    }

    fn profile_of(&self, role: &EffectiveRole) -> run::Profile {
        run::Profile {
            read_only: !role.can_write(),
            statement_timeout_ms: role
                .statement_timeout
                .unwrap_or(self.default_statement_timeout)
                .as_millis() as u64,
        }
    }
}

/// An authenticated request's token and role.
struct Caller {
    claims: Claims,
    role: Arc<EffectiveRole>,
    peer: String,
}

/// `/readyz`: the backend answers.
async fn ready(State(door): State<Arc<HttpDoor>>) -> Response {
    match door.runner.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!("HTTP door: backend not ready: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                "the database behind the gateway cannot be reached",
                None,
                Some("try again later".into()),
            )
        }
    }
}

/// GET /rest/v1/{table}
async fn read_table(
    State(door): State<Arc<HttpDoor>>,
    Extension(peer): Extension<Peer>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&door, &headers, peer).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let dialect = door.runner.dialect();
    let request = (|| {
        let table = Name::from_path_segment(&table)?;
        let params = rest::parse_query(query.as_deref().unwrap_or(""))?;
        let range = headers
            .get(header::RANGE)
            .map(|v| Range::from_header(v.to_str().unwrap_or("")))
            .transpose()?;
        Ok::<_, RestError>((table, params, range))
    })();
    let (table, params, range) = match request {
        Ok(r) => r,
        Err(e) => return rest_error(&e),
    };
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let want_count = prefer.split(',').any(|p| p.trim() == "count=exact");
    if !admit(&door, &caller, 1 + usize::from(want_count)).await {
        return rate_limited(&caller.role);
    }
    let accept = match Accept::of(&headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let what = format!("GET /rest/v1/{table}?{}", query.as_deref().unwrap_or(""));
    let select = rest::select(dialect, &table, &params, range);
    let rows = match door.run(&caller, &what, select).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let mut response = match accept {
        Accept::Array => Json(serde_json::Value::Array(rows.clone())).into_response(),
        Accept::Object => match rows.as_slice() {
            [one] => (
                [(
                    header::CONTENT_TYPE,
                    "application/vnd.pgrst.object+json; charset=utf-8",
                )],
                one.to_string(),
            )
                .into_response(),
            _ => {
                return error(
                    StatusCode::NOT_ACCEPTABLE,
                    "PGRST116",
                    "JSON object requested, multiple (or no) rows returned",
                    Some(format!("The result contains {} rows", rows.len())),
                    None,
                )
            }
        },
        Accept::Csv => {
            let order = door.column_order(&caller.role, table.as_str());
            (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                csv(&rows, &order),
            )
                .into_response()
        }
    };
    let offset = params.offset.unwrap_or(0) + range.map_or(0, |r| r.offset);
    let total = if want_count {
        match door
            .run(&caller, &what, rest::count(dialect, &table, &params))
            .await
        {
            Ok(count) => count
                .first()
                .and_then(|row| row.as_object())
                .and_then(|o| o.values().next())
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .map(|n| n.to_string()),
            Err(r) => return r,
        }
    } else {
        None
    };
    let shown = if rows.is_empty() {
        "*".to_string()
    } else {
        format!("{}-{}", offset, offset + rows.len() as u64 - 1)
    };
    let content_range = format!("{shown}/{}", total.as_deref().unwrap_or("*"));
    if let Ok(v) = HeaderValue::from_str(&content_range) {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    response
}

/// What a read's `Accept` header asks for (PostgREST's media types; supabase-js's `.single()`
/// and `.csv()`).
enum Accept {
    /// `application/json`, `*/*` or none: an array of objects.
    Array,
    /// `application/vnd.pgrst.object+json`: the one row as an object (406 otherwise).
    Object,
    /// `text/csv`: a header line and one line per row.
    Csv,
}

impl Accept {
    /// The media type asked for, or the 406 response to send.
    #[allow(clippy::result_large_err)] // the error is the response itself, sent at once
    fn of(headers: &HeaderMap) -> Result<Accept, Response> {
        let Some(value) = headers.get(header::ACCEPT) else {
            return Ok(Accept::Array);
        };
        let value = value.to_str().unwrap_or("");
        for media in value.split(',') {
            let media = media
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match media.as_str() {
                "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                    return Ok(Accept::Object)
                }
                "text/csv" => return Ok(Accept::Csv),
                "application/json" | "*/*" | "application/*" | "" => return Ok(Accept::Array),
                _ => {}
            }
        }
        Err(error(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST107",
            &format!("None of these media types are available: {value}"),
            None,
            None,
        ))
    }
}

/// Rows as CSV (RFC 4180): a header line of the columns in `order` (then any others, by
/// name), NULL as an empty field, text quoted when it holds a comma, a quote or a line break.
fn csv(rows: &[serde_json::Value], order: &[String]) -> String {
    let mut columns: Vec<String> = Vec::new();
    if let Some(first) = rows.first().and_then(|r| r.as_object()) {
        columns.extend(order.iter().filter(|c| first.contains_key(*c)).cloned());
        columns.extend(first.keys().filter(|k| !order.contains(k)).cloned());
    }
    let field = |v: Option<&serde_json::Value>| -> String {
        let text = match v {
            None | Some(serde_json::Value::Null) => return String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = columns
        .iter()
        .map(|c| field(Some(&serde_json::Value::String(c.clone()))))
        .collect::<Vec<_>>()
        .join(",");
    for row in rows {
        out.push('\n');
        let line: Vec<String> = columns.iter().map(|c| field(row.get(c))).collect();
        out.push_str(&line.join(","));
    }
    out
}

/// The parts of a write request: caller, table, query string, and what `Prefer` asks.
struct WriteRequest {
    caller: Caller,
    table: Name,
    params: rest::Params,
    representation: bool,
    missing: rest::Missing,
    what: String,
}

async fn write_request(
    door: &Arc<HttpDoor>,
    method: &str,
    peer: Peer,
    table: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<WriteRequest, Response> {
    let caller = authenticate(door, headers, peer).await?;
    let table = Name::from_path_segment(table).map_err(|e| rest_error(&e))?;
    let params = rest::parse_query(query.unwrap_or("")).map_err(|e| rest_error(&e))?;
    let prefer: Vec<String> = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .collect();
    let representation = prefer.iter().any(|p| p == "return=representation");
    if representation && !rest::supports_returning(door.runner.dialect()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "PGRST127",
            "Prefer: return=representation is not supported on a MySQL backend (it has no RETURNING)",
            None,
            Some("send the write without it and read the rows back with GET".into()),
        ));
    }
    let missing = if prefer.iter().any(|p| p == "missing=default") {
        rest::Missing::Default
    } else {
        rest::Missing::Null
    };
    if method != "POST" && !params.has_filters() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "PGRST106",
            &format!("{method} without a filter would touch every row; Sluice refuses it"),
            None,
            Some("add a filter, e.g. ?id=eq.42".into()),
        ));
    }
    if !admit(door, &caller, 1).await {
        return Err(rate_limited(&caller.role));
    }
    let what = format!("{method} /rest/v1/{table}?{}", query.unwrap_or(""));
    Ok(WriteRequest {
        caller,
        table,
        params,
        representation,
        missing,
        what,
    })
}

/// POST /rest/v1/{table}: insert one object or an array of objects.
async fn insert_rows(
    State(door): State<Arc<HttpDoor>>,
    Extension(peer): Extension<Peer>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req = match write_request(&door, "POST", peer, &table, query.as_deref(), &headers).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return bad_body("the body is not UTF-8");
    };
    let returning = req.representation.then_some(req.params.select.as_slice());
    let stmt = rest::parse_insert_body(body, req.params.columns.as_deref()).and_then(|rows| {
        rest::insert(
            door.runner.dialect(),
            &req.table,
            &rows,
            req.missing,
            returning,
        )
    });
    write(&door, &req, stmt, StatusCode::CREATED).await
}

/// PATCH /rest/v1/{table}?filters: update the filtered rows with the body's keys.
async fn update_rows(
    State(door): State<Arc<HttpDoor>>,
    Extension(peer): Extension<Peer>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req = match write_request(&door, "PATCH", peer, &table, query.as_deref(), &headers).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return bad_body("the body is not UTF-8");
    };
    let returning = req.representation.then_some(req.params.select.as_slice());
    let stmt = rest::parse_patch_body(body, req.params.columns.as_deref()).and_then(|set| {
        rest::update(
            door.runner.dialect(),
            &req.table,
            &req.params,
            &set,
            returning,
        )
    });
    write(&door, &req, stmt, StatusCode::OK).await
}

/// DELETE /rest/v1/{table}?filters
async fn delete_rows(
    State(door): State<Arc<HttpDoor>>,
    Extension(peer): Extension<Peer>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let req = match write_request(&door, "DELETE", peer, &table, query.as_deref(), &headers).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let returning = req.representation.then_some(req.params.select.as_slice());
    let stmt = rest::delete(door.runner.dialect(), &req.table, &req.params, returning);
    write(&door, &req, stmt, StatusCode::OK).await
}

fn bad_body(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "PGRST102",
        message,
        None,
        Some("send a JSON object (or, for POST, an array of objects)".into()),
    )
}

/// Authorizes and runs a write; 201/200 with the rows when they were asked for, else 201/204.
async fn write(
    door: &HttpDoor,
    req: &WriteRequest,
    stmt: Result<sqlparser::ast::Statement, RestError>,
    with_rows: StatusCode,
) -> Response {
    let stmt = match stmt {
        Ok(s) => s,
        Err(e) => return rest_error(&e),
    };
    let decision = door.gate.authorize_statement(
        &req.caller.claims,
        door.runner.dialect(),
        Some(door.runner.database()),
        stmt,
    );
    let statement = match &*decision {
        Ok(a) => match a.statements.as_slice() {
            [one] => one,
            _ => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "PGRST000",
                    "the engine answered a REST request with several statements",
                    None,
                    None,
                )
            }
        },
        Err(d) => {
            door.audit_denied(&req.caller, &req.what, d).await;
            return denied(d);
        }
    };
    let started = Instant::now();
    let ran = door
        .runner
        .write(
            door.profile_of(&req.caller.role),
            &statement.sql,
            req.representation,
        )
        .await;
    let mut ev = door.event(&req.caller, if ran.is_ok() { "allow" } else { "error" });
    ev.statement = Some(audited_sql(&req.what));
    ev.rendered = Some(audited_sql(&statement.sql));
    ev.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    match ran {
        Ok((count, rows)) => {
            ev.rows = Some(count);
            door.audit.record(ev).await;
            let mut response = if req.representation {
                (with_rows, Json(serde_json::Value::Array(rows))).into_response()
            } else if with_rows == StatusCode::CREATED {
                StatusCode::CREATED.into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            };
            if let Ok(v) = HeaderValue::from_str(&format!("*/{count}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            response
        }
        Err(e) => {
            ev.reason = Some(e.to_string());
            door.audit.record(ev).await;
            e.response()
        }
    }
}

impl HttpDoor {
    /// Authorizes a statement the door built and runs what the engine rendered; the rows as JSON
    /// objects, or the error response (denials are 403).
    async fn run(
        &self,
        caller: &Caller,
        what: &str,
        stmt: sqlparser::ast::Statement,
    ) -> Result<Vec<serde_json::Value>, Response> {
        let dialect = self.runner.dialect();
        let decision = self.gate.authorize_statement(
            &caller.claims,
            dialect,
            Some(self.runner.database()),
            stmt,
        );
        let authorized = match &*decision {
            Ok(a) => a,
            Err(d) => {
                self.audit_denied(caller, what, d).await;
                return Err(denied(d));
            }
        };
        let [statement] = authorized.statements.as_slice() else {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PGRST000",
                "the engine answered a REST request with several statements",
                None,
                None,
            ));
        };
        let started = Instant::now();
        let profile = self.profile_of(&caller.role);
        let ran = self
            .runner
            .rows(profile, &statement.sql, caller.role.max_rows)
            .await;
        let mut ev = self.event(caller, if ran.is_ok() { "allow" } else { "error" });
        ev.statement = Some(audited_sql(what));
        ev.rendered = Some(audited_sql(&statement.sql));
        ev.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        match ran {
            Ok(rows) => {
                ev.rows = Some(rows.len() as u64);
                self.audit.record(ev).await;
                Ok(rows)
            }
            Err(e) => {
                ev.reason = Some(e.to_string());
                self.audit.record(ev).await;
                Err(e.response())
            }
        }
    }

    /// The columns of a table the role sees, in the table's order (for CSV headers).
    fn column_order(&self, role: &EffectiveRole, table: &str) -> Vec<String> {
        let schemas = self.gate.schemas();
        let config = self.gate.roles();
        let dialect = self.runner.dialect();
        sluice_policy::catalog::visible_tables(
            &config,
            role,
            dialect,
            Some(self.runner.database()),
            schemas.for_dialect(dialect),
        )
        .into_iter()
        .find(|t| t.key.schema.is_none() && t.key.name == table)
        .map(|t| t.columns.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
    }

    fn event(&self, caller: &Caller, decision: &'static str) -> AuditEvent {
        AuditEvent::statement("rest", &caller.peer, "-", &caller.claims, decision)
    }

    async fn audit_denied(&self, caller: &Caller, what: &str, d: &Denial) {
        let mut ev = self.event(caller, "deny");
        ev.statement = Some(audited_sql(what));
        ev.rule = Some(d.rule.id().to_string());
        ev.reason = Some(d.message.clone());
        self.audit.record(ev).await;
    }
}

impl HttpDoor {
    /// The request's bearer token, verified (signature, times, revocation, a role that exists),
    /// or the public reason it is refused (`missing`, `expired`, `revoked`, `invalid`). A token
    /// that was presented and refused is audited under `door`.
    pub(crate) async fn verify_bearer(
        &self,
        headers: &HeaderMap,
        peer: &str,
        door: &'static str,
    ) -> Result<(Claims, Arc<EffectiveRole>), &'static str> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or("missing")?;
        let verified = self
            .gate
            .authenticate(token, crate::now_unix())
            .map_err(|refused| refused.reason)
            .and_then(|claims| match self.gate.role(&claims) {
                Some(role) => Ok((claims, role)),
                None => Err("invalid"),
            });
        if let Err(reason) = verified {
            let mut ev = AuditEvent::connect(door, peer, "-");
            ev.decision = "deny";
            ev.rule = Some("token".into());
            ev.reason = Some(reason.into());
            self.audit.record(ev).await;
        }
        verified
    }
}

/// The bearer token of a request, verified; 401 without a valid one.
async fn authenticate(
    door: &HttpDoor,
    headers: &HeaderMap,
    peer: Peer,
) -> Result<Caller, Response> {
    let peer = peer.0.to_string();
    match door.verify_bearer(headers, &peer, "rest").await {
        Ok((claims, role)) => Ok(Caller { claims, role, peer }),
        Err(reason) => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "PGRST301",
                &format!("token {reason}"),
                None,
                Some("send a current Sluice token as `Authorization: Bearer <token>`".into()),
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Err(r)
        }
    }
}

async fn admit(door: &HttpDoor, caller: &Caller, n: usize) -> bool {
    match door.gate.admit(&caller.claims, &caller.role, n) {
        Ok(()) => true,
        Err(limited) => {
            let mut ev = door.event(caller, "deny");
            ev.rule = Some("rate_limit".into());
            ev.reason = Some(limited.to_string());
            door.audit.record(ev).await;
            false
        }
    }
}

fn rate_limited(role: &EffectiveRole) -> Response {
    let retry = role
        .rate_limit
        .map(|l| (l.per.duration().as_secs_f64() / f64::from(l.count.max(1))).ceil() as u64)
        .unwrap_or(1)
        .max(1);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "PGRST429",
        &format!("rate limit exceeded for role {}", role.name),
        None,
        Some(format!("wait {retry} s and retry")),
    );
    if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn denied(d: &Denial) -> Response {
    error(
        StatusCode::FORBIDDEN,
        d.sqlstate(),
        &d.message,
        Some(format!("[sluice: {}]", d.rule.id())),
        None,
    )
}

fn rest_error(e: &RestError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(e)).into_response()
}

/// An error in PostgREST's shape: `code`, `message`, `details`, `hint`.
fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Option<String>,
    hint: Option<String>,
) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "details": details, "hint": hint})),
    )
        .into_response()
}
