//! The MCP door: the Model Context Protocol on the official Rust SDK (`rmcp`), at `/mcp` on the
//! HTTP door (Streamable HTTP) and on standard input and output (`sluice mcp stdio`).
//!
//! A token is shown only the tools its role allows, computed from the role on every
//! `tools/list`: `list_tables`, `describe_table`, `select_{table}` for each readable table,
//! `insert_{table}` / `update_{table}` / `delete_{table}` for each granted and not forbidden
//! write (their input schemas list only the columns the role may set), and `query` (SQL) when
//! the role may read anything. The list is a courtesy to the agent, not the gate: a call names a
//! tool, the door builds the statement the tool stands for as a syntax tree
//! (`sluice_policy::rest`, the REST door's builders; never SQL text) and the policy engine
//! decides and confines it. A call to a tool the list does not show (`delete_reservations` for a
//! role that may not DELETE) is built the same way and denied by the engine, naming its rule.
//!
//! Every call re-checks the token (expiry, revocation), counts against the role's rate limit and
//! writes one audit line (`door: "mcp"`, `statement: "tool <name> <arguments>"`, the rendered
//! SQL, the decision). Results are structured content (`{"rows": [...]}` or
//! `{"affected_rows": n}`) with its JSON text as the text rendering. A denial, a rate limit, a
//! bad argument or a statement the database refused is a tool error (`isError: true`) whose
//! text says why; denials end in `[sluice: rule_id]`.
//!
//! Over HTTP the service is stateless (rmcp's `legacy_session_mode: false`, JSON responses): no
//! MCP session outlives a request, every POST carries its own bearer token, checked by
//! [`authenticate`] in front of rmcp (401 without a valid one), and the handler reads that
//! request's token from the request. A token therefore never acts through a session another
//! token opened. Over stdio the token is fixed when the process starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sluice_policy::rest::{self, Missing, Name, Params, Selected};
use sluice_policy::roles::{ColumnSet, EffectiveRole, Operation, TableName};
use sluice_policy::{Authorized, Denial, Dialect, StatementKind};
use sluice_tokens::Claims;
use sqlparser::ast::Statement;
use tokio::sync::watch;

use super::run::{self, RunError, Runner};
use super::{HttpDoor, Peer};
use crate::audit::{audited_sql, Audit, AuditEvent};
use crate::gate::Gate;
use crate::serve::ServeConfig;

const DOOR: &str = "mcp";
/// The JSON-RPC error code of a refused token (from the range JSON-RPC leaves to servers).
const UNAUTHORIZED: i32 = -32001;

/// What the tools run on: the gate, the audit trail and a backend. The HTTP door is one; `sluice
/// mcp stdio` builds a [`Standalone`] one.
trait Backend: Send + Sync + 'static {
    fn gate(&self) -> &Gate;
    fn audit(&self) -> &Audit;
    fn runner(&self) -> &Runner;
    fn profile(&self, role: &EffectiveRole) -> run::Profile;
}

impl Backend for HttpDoor {
    fn gate(&self) -> &Gate {
        &self.gate
    }
    fn audit(&self) -> &Audit {
        &self.audit
    }
    fn runner(&self) -> &Runner {
        &self.runner
    }
    fn profile(&self, role: &EffectiveRole) -> run::Profile {
        self.profile_of(role)
    }
}

/// `sluice mcp stdio`'s backend: the same parts as the HTTP door's, without a listener.
struct Standalone {
    gate: Arc<Gate>,
    audit: Audit,
    runner: Runner,
    default_statement_timeout: Duration,
}

impl Backend for Standalone {
    fn gate(&self) -> &Gate {
        &self.gate
    }
    fn audit(&self) -> &Audit {
        &self.audit
    }
    fn runner(&self) -> &Runner {
        &self.runner
    }
    fn profile(&self, role: &EffectiveRole) -> run::Profile {
        run::Profile {
            read_only: !role.can_write(),
            statement_timeout_ms: role
                .statement_timeout
                .unwrap_or(self.default_statement_timeout)
                .as_millis() as u64,
        }
    }
}

/// The verified token of a request (HTTP: put into the request by [`authenticate`]) or of the
/// process (stdio).
#[derive(Clone)]
struct Agent {
    claims: Claims,
    peer: String,
}

/// The MCP server of one token (stdio) or of each request's token (HTTP).
#[derive(Clone)]
struct McpServer {
    backend: Arc<dyn Backend>,
    /// stdio: the token given at start. HTTP: `None`, each request's own.
    bound: Option<Agent>,
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP and stdio
// ---------------------------------------------------------------------------------------------

/// The `/mcp` service of the HTTP door: bearer authentication in front of rmcp's Streamable HTTP
/// server, stateless.
pub(super) fn service(door: &Arc<HttpDoor>) -> Router {
    let backend: Arc<dyn Backend> = door.clone();
    // No Host allowlist: it guards unauthenticated local servers against DNS rebinding, and
    // every request here must carry a token, which a rebinding page does not have.
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts();
    let mcp = StreamableHttpService::new(
        move || {
            Ok(McpServer {
                backend: backend.clone(),
                bound: None,
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .fallback_service(mcp)
        .layer(axum::middleware::from_fn_with_state(
            door.clone(),
            authenticate,
        ))
}

/// Every request to `/mcp` carries a valid token (`Authorization: Bearer …`): verified here
/// (signature, times, revocation, a role that exists) and handed to the MCP handler with the
/// request; 401 otherwise.
async fn authenticate(
    State(door): State<Arc<HttpDoor>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.to_string())
        .unwrap_or_else(|| "-".into());
    match door.verify_bearer(request.headers(), &peer, DOOR).await {
        Ok((claims, _)) => {
            request.extensions_mut().insert(Agent { claims, peer });
            next.run(request).await
        }
        Err(reason) => {
            // A JSON-RPC error as the body, so that MCP clients show the reason (they read a
            // JSON-RPC error from a non-2xx answer); the id is unknown before the body is read.
            let body = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {
                    "code": UNAUTHORIZED,
                    "message": format!(
                        "token {reason}: send a current Sluice token as `Authorization: Bearer <token>`"
                    ),
                },
            });
            let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

/// `sluice mcp stdio`: serves one token's tools on standard input and output until the client
/// closes standard input. The token is verified first; the revocation list is watched as the
/// gateway watches it, so a token revoked while the process runs stops working.
pub async fn stdio(config: ServeConfig, token: &str) -> anyhow::Result<()> {
    let gate = Arc::new(crate::serve::load_gate(&config)?);
    let claims = gate
        .authenticate(token, crate::now_unix())
        .map_err(|refused| {
            anyhow::anyhow!(
                "the token is {}: issue a new one with `sluice token create` (and check \
                 --public-key, --rbac-config and --revocations)",
                refused.reason
            )
        })?;
    let runner = crate::serve::http_runner(&config, "sluice mcp stdio")?;
    let (audit, audit_task) = crate::serve::open_audit(&config).await?;
    let (stop, stop_rx) = watch::channel(false);
    let schemas = crate::serve::start_schemas(&config, gate.clone(), stop_rx.clone()).await?;
    let watcher = config
        .revocations
        .clone()
        .map(|path| tokio::spawn(crate::serve::watch_revocations(path, gate.clone(), stop_rx)));
    let server = McpServer {
        backend: Arc::new(Standalone {
            gate,
            audit,
            runner,
            default_statement_timeout: config.statement_timeout,
        }),
        bound: Some(Agent {
            claims,
            peer: "stdio".into(),
        }),
    };
    let served = match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => running
            .waiting()
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    let _ = stop.send(true);
    if let Some(w) = watcher {
        let _ = w.await;
    }
    if let Some(t) = schemas.task {
        t.abort();
    }
    // The last Audit sender went with the server: the writer drains and ends.
    let _ = tokio::time::timeout(Duration::from_secs(5), audit_task).await;
    served.context("MCP over stdio")
}

// ---------------------------------------------------------------------------------------------
// The handler
// ---------------------------------------------------------------------------------------------

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("sluice", env!("CARGO_PKG_VERSION"))
                    .with_title("Sluice database gateway"),
            )
            .with_instructions(
                "A database behind Sluice, a gateway that confines every statement to this \
                 token's role: its tables, columns and rows. The tools listed are the ones the \
                 role allows. Start with list_tables and describe_table. A denial names the \
                 rule that denied it as [sluice: rule].",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let agent = self.agent(&context)?;
        let gate = self.backend.gate();
        gate.recheck(&agent.claims, crate::now_unix())
            .map_err(|r| McpError::invalid_request(format!("token {}", r.reason), None))?;
        let role = gate
            .role(&agent.claims)
            .ok_or_else(|| McpError::invalid_request("token invalid", None))?;
        Ok(ListToolsResult::with_all_items(tools(
            &role,
            self.backend.runner().dialect(),
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let agent = self.agent(&context)?;
        let arguments = request.arguments.unwrap_or_default();
        Ok(self.call(&agent, &request.name, arguments).await.into())
    }
}

impl McpServer {
    fn agent(&self, context: &RequestContext<RoleServer>) -> Result<Agent, McpError> {
        if let Some(agent) = &self.bound {
            return Ok(agent.clone());
        }
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Agent>())
            .cloned()
            // Cannot happen behind `authenticate`; refuse rather than serve without a token.
            .ok_or_else(|| McpError::invalid_request("no verified token with this request", None))
    }

    /// `f` over the tables the role sees in the schema model (the scoped catalogs' and the
    /// OpenAPI document's), or the reason there are none to describe yet.
    fn with_visible<T>(
        &self,
        role: &EffectiveRole,
        f: impl FnOnce(&[sluice_policy::catalog::VisibleTable<'_>]) -> Result<T, String>,
    ) -> Result<T, String> {
        let gate = self.backend.gate();
        let runner = self.backend.runner();
        let schemas = gate.schemas();
        let schema = schemas.for_dialect(runner.dialect());
        if schema.tables.is_empty() {
            return Err(
                "the gateway has not read the database's schema yet; retry in a moment".into(),
            );
        }
        let config = gate.roles();
        let visible = sluice_policy::catalog::visible_tables(
            &config,
            role,
            runner.dialect(),
            Some(runner.database()),
            schema,
        );
        f(&visible)
    }

    /// One tool call: token, rate limit, the tool, the audit line.
    async fn call(&self, agent: &Agent, name: &str, arguments: JsonObject) -> CallToolResult {
        let gate = self.backend.gate();
        let mut call = Call {
            server: self,
            agent,
            what: audited_sql(&format!("tool {name} {}", Value::Object(arguments.clone()))),
        };
        if let Err(refused) = gate.recheck(&agent.claims, crate::now_unix()) {
            return call
                .refuse(
                    "token",
                    format!("token {}: ask for a new token", refused.reason),
                )
                .await;
        }
        let Some(role) = gate.role(&agent.claims) else {
            return call
                .refuse("token", "token invalid: its role no longer exists".into())
                .await;
        };
        if let Err(limited) = gate.admit(&agent.claims, &role, 1) {
            return call.refuse("rate_limit", limited.to_string()).await;
        }
        let dialect = self.backend.runner().dialect();
        let outcome = match ToolKind::parse(name) {
            Some(ToolKind::ListTables) => self.with_visible(&role, |v| Ok(list_tables(&role, v))),
            Some(ToolKind::DescribeTable) => {
                self.with_visible(&role, |v| describe_table(&role, v, arguments))
            }
            Some(ToolKind::Query) => {
                return match args::<QueryArgs>(arguments) {
                    Ok(a) => call.query(&role, &a.sql).await,
                    Err(e) => call.bad_request(e).await,
                }
            }
            Some(ToolKind::Table(op, table)) => match build(dialect, op, &table, arguments) {
                Ok(stmt) => return call.statement(&role, stmt).await,
                Err(e) => Err(e),
            },
            None => Err(format!(
                "there is no tool {name:?}; tools/list shows this token's tools"
            )),
        };
        match outcome {
            Ok(value) => {
                call.record("allow", |_| {}).await;
                CallToolResult::structured(value)
            }
            Err(e) => call.bad_request(e).await,
        }
    }
}

/// A tool call being answered: what it was, for the audit line.
struct Call<'a> {
    server: &'a McpServer,
    agent: &'a Agent,
    what: String,
}

impl Call<'_> {
    async fn record(&mut self, decision: &'static str, fill: impl FnOnce(&mut AuditEvent)) {
        let mut ev =
            AuditEvent::statement(DOOR, &self.agent.peer, "-", &self.agent.claims, decision);
        ev.statement = Some(std::mem::take(&mut self.what));
        fill(&mut ev);
        self.server.backend.audit().record(ev).await;
    }

    /// A call refused before any statement: token or rate limit.
    async fn refuse(&mut self, rule: &'static str, reason: String) -> CallToolResult {
        let text = format!("{reason} [sluice: {rule}]");
        self.record("deny", |ev| {
            ev.rule = Some(rule.into());
            ev.reason = Some(reason);
        })
        .await;
        tool_error(text)
    }

    async fn bad_request(&mut self, message: String) -> CallToolResult {
        let text = format!("invalid arguments: {message}");
        self.record("error", |ev| ev.reason = Some(text.clone()))
            .await;
        tool_error(text)
    }

    async fn denied(&mut self, d: &Denial) -> CallToolResult {
        self.record("deny", |ev| {
            ev.rule = Some(d.rule.id().to_string());
            ev.reason = Some(d.message.clone());
        })
        .await;
        tool_error(format!("{} [sluice: {}]", d.message, d.rule.id()))
    }

    /// A statement a tool built: authorized by the engine, run as it rendered it.
    async fn statement(&mut self, role: &EffectiveRole, stmt: Statement) -> CallToolResult {
        let backend = &self.server.backend;
        let runner = backend.runner();
        let decision = backend.gate().authorize_statement(
            &self.agent.claims,
            runner.dialect(),
            Some(runner.database()),
            stmt,
        );
        self.execute(role, &decision).await
    }

    /// `query`: SQL text through the engine.
    async fn query(&mut self, role: &EffectiveRole, sql: &str) -> CallToolResult {
        let backend = &self.server.backend;
        let runner = backend.runner();
        let (decision, _) = backend.gate().authorize(
            &self.agent.claims,
            runner.dialect(),
            Some(runner.database()),
            sql,
        );
        self.execute(role, &decision).await
    }

    /// Acts on the engine's answer: a denial, or one statement to run.
    async fn execute(
        &mut self,
        role: &EffectiveRole,
        decision: &Result<Authorized, Denial>,
    ) -> CallToolResult {
        let authorized = match decision {
            Ok(a) => a,
            Err(d) => return self.denied(d).await,
        };
        let [statement] = authorized.statements.as_slice() else {
            return self
                .bad_request("a call runs one statement; send them one by one".into())
                .await;
        };
        let writes = match statement.kind {
            StatementKind::Query => false,
            StatementKind::Insert | StatementKind::Update | StatementKind::Delete => true,
            // Each call runs on whichever pooled connection is free: a transaction or a session
            // setting would not outlive the call.
            StatementKind::Explain
            | StatementKind::Begin
            | StatementKind::Commit
            | StatementKind::Rollback
            | StatementKind::Savepoint
            | StatementKind::Set
            | StatementKind::Show
            | StatementKind::Deallocate
            | StatementKind::Reset
            | StatementKind::Discard
            | StatementKind::Housekeeping => {
                return self
                    .bad_request(format!(
                        "a call runs SELECT, INSERT, UPDATE or DELETE; a {:?} statement has no \
                         meaning here (each call runs on its own)",
                        statement.kind
                    ))
                    .await
            }
        };
        self.run(role, &statement.sql, writes).await
    }

    async fn run(&mut self, role: &EffectiveRole, sql: &str, writes: bool) -> CallToolResult {
        let backend = &self.server.backend;
        let profile = backend.profile(role);
        let started = Instant::now();
        let ran = if writes {
            backend
                .runner()
                .write(profile, sql, false)
                .await
                .map(|(n, _)| (n, json!({ "affected_rows": n })))
        } else {
            backend
                .runner()
                .rows(profile, sql, role.max_rows)
                .await
                .map(|rows| (rows.len() as u64, json!({ "rows": rows })))
        };
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        match ran {
            Ok((n, value)) => {
                self.record("allow", |ev| {
                    ev.rendered = Some(audited_sql(sql));
                    ev.rows = Some(n);
                    ev.duration_ms = Some(elapsed);
                })
                .await;
                CallToolResult::structured(value)
            }
            Err(e) => {
                let shown = match &e {
                    RunError::Server(code, message) => {
                        format!("the database refused the statement: {message} ({code})")
                    }
                    RunError::Unavailable(_) => {
                        "the database behind the gateway cannot be reached; try again later".into()
                    }
                };
                self.record("error", |ev| {
                    ev.rendered = Some(audited_sql(sql));
                    ev.reason = Some(e.to_string());
                    ev.duration_ms = Some(elapsed);
                })
                .await;
                tool_error(shown)
            }
        }
    }
}

fn tool_error(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

// ---------------------------------------------------------------------------------------------
// Tools: names, schemas, arguments
// ---------------------------------------------------------------------------------------------

/// What a tool name stands for.
enum ToolKind {
    ListTables,
    DescribeTable,
    Query,
    /// `{select|insert|update|delete}_{table}`
    Table(Operation, Name),
}

impl ToolKind {
    fn parse(name: &str) -> Option<ToolKind> {
        match name {
            "list_tables" => return Some(ToolKind::ListTables),
            "describe_table" => return Some(ToolKind::DescribeTable),
            "query" => return Some(ToolKind::Query),
            _ => {}
        }
        let (op, table) = name.split_once('_')?;
        let op = match op {
            "select" => Operation::Select,
            "insert" => Operation::Insert,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            _ => return None,
        };
        Some(ToolKind::Table(op, Name::parse(table).ok()?))
    }
}

/// The role's tables that tools can name: those of the default schema (the builders name
/// tables without a schema) whose names are plain names. Others are reachable through `query`.
fn tool_tables(role: &EffectiveRole) -> impl Iterator<Item = (&TableName, Name)> {
    role.tables.keys().filter_map(|t| {
        if t.schema.is_some() {
            return None;
        }
        Name::parse(&t.name).ok().map(|n| (t, n))
    })
}

/// The tools a role may use, in a stable order.
fn tools(role: &EffectiveRole, dialect: Dialect) -> Vec<Tool> {
    let read_only = !role.can_write();
    let readable: Vec<(&TableName, Name)> = tool_tables(role)
        .filter(|(t, _)| role.permits(t, Operation::Select))
        .collect();
    let mut out = vec![
        Tool::new(
            "list_tables",
            "The tables this token may use, with the operations it may perform on each.",
            object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_raw_output_schema(object(json!({
            "type": "object",
            "properties": {"tables": {"type": "array", "items": {"type": "object"}}},
            "required": ["tables"],
        })))
        .annotate(reading("List tables")),
        Tool::new(
            "describe_table",
            "The columns this token may read, insert and update in a table, from its role \
             (\"all\" when the role does not limit them), and whether its rows are filtered.",
            object(json!({
                "type": "object",
                "properties": {"table": {
                    "type": "string",
                    "enum": tool_tables(role).map(|(_, n)| n.to_string()).collect::<Vec<_>>(),
                }},
                "required": ["table"],
                "additionalProperties": false,
            })),
        )
        .with_raw_output_schema(object(json!({"type": "object"})))
        .annotate(reading("Describe a table")),
    ];
    for (table, name) in tool_tables(role) {
        let grant = &role.tables[table];
        for op in Operation::GRANTABLE {
            if !role.permits(table, op) {
                continue;
            }
            let columns = grant.columns_for(op);
            out.push(match op {
                Operation::Select => select_tool(&name, &columns),
                Operation::Insert => insert_tool(&name, &columns),
                Operation::Update => update_tool(&name, &columns),
                Operation::Delete => delete_tool(&name),
                _ => continue,
            });
        }
    }
    if !readable.is_empty() {
        let may_destroy = tool_tables(role)
            .any(|(t, _)| role.permits(t, Operation::Update) || role.permits(t, Operation::Delete));
        let dialect_name = match dialect {
            Dialect::PostgreSql => "PostgreSQL",
            Dialect::MySql => "MySQL",
        };
        let mut annotations = ToolAnnotations::with_title("Run SQL")
            .read_only(read_only)
            .open_world(false);
        if read_only {
            annotations = annotations.idempotent(true);
        } else {
            annotations = annotations.destructive(may_destroy).idempotent(false);
        }
        out.push(
            Tool::new(
                "query",
                format!(
                    "Run one SQL statement ({dialect_name} dialect). It is checked and confined \
                     to this token's tables, columns and rows before it runs{}; a denial names \
                     its rule. Reads return rows, writes the number of rows they changed.",
                    if read_only {
                        " (this token may only read)"
                    } else {
                        ""
                    }
                ),
                object(json!({
                    "type": "object",
                    "properties": {"sql": {"type": "string", "description": "One SQL statement"}},
                    "required": ["sql"],
                    "additionalProperties": false,
                })),
            )
            .with_raw_output_schema(object(json!({
                "type": "object",
                "properties": {
                    "rows": {"type": "array", "items": {"type": "object"}},
                    "affected_rows": {"type": "integer"},
                },
            })))
            .annotate(annotations),
        );
    }
    out
}

fn reading(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(Map::new()),
    }
}

const FILTER_HELP: &str = "Conditions every row must meet, in PostgREST's syntax: column → \
    \"operator.value\", e.g. {\"status\": \"eq.active\", \"price\": \"gt.100\", \"id\": \
    \"in.(1,2,3)\", \"notes\": \"is.null\"}. Operators: eq, neq, gt, gte, lt, lte, like, ilike \
    (* is the wildcard), in.(…), is.null|true|false; not. before any of them negates it. A list \
    of strings gives several conditions on one column. \"or\": \"(status.eq.active,price.lt.50)\" \
    for alternatives (also \"and\", \"not.or\", \"not.and\"). Values are compared as text, as in \
    PostgREST.";

fn filter_schema() -> Value {
    json!({
        "type": "object",
        "description": FILTER_HELP,
        "additionalProperties": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ],
        },
    })
}

/// Any JSON value a column may be set to; objects and arrays are stored as their JSON text.
fn value_schema() -> Value {
    json!({"type": ["string", "number", "boolean", "null", "object", "array"]})
}

/// An object whose keys are `columns` (any key when the role does not limit them).
fn columns_object(columns: &ColumnSet, min: usize) -> Value {
    match columns {
        ColumnSet::Only(cols) => json!({
            "type": "object",
            "properties": cols
                .iter()
                .map(|c| (c.clone(), value_schema()))
                .collect::<Map<String, Value>>(),
            "additionalProperties": false,
            "minProperties": min,
        }),
        ColumnSet::All => json!({
            "type": "object",
            "additionalProperties": value_schema(),
            "minProperties": min,
        }),
    }
}

fn select_tool(table: &Name, columns: &ColumnSet) -> Tool {
    let column = match columns {
        ColumnSet::Only(cols) => json!({"type": "string", "enum": cols}),
        ColumnSet::All => json!({"type": "string"}),
    };
    Tool::new(
        format!("select_{table}"),
        format!(
            "Read rows of {table}: only the rows and columns this token may see. Without \
             `columns`, every column it may read."
        ),
        object(json!({
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": column, "minItems": 1,
                            "description": "The columns to return"},
                "filter": filter_schema(),
                "order": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "Sort keys: column[.asc|.desc][.nullsfirst|.nullslast], e.g. \"starts_on.desc\" or [\"status\", \"id.desc\"]",
                },
                "limit": {"type": "integer", "minimum": 0, "description": "At most this many rows"},
                "offset": {"type": "integer", "minimum": 0, "description": "Skip this many rows first"},
            },
            "additionalProperties": false,
        })),
    )
    .with_raw_output_schema(object(json!({
        "type": "object",
        "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
        "required": ["rows"],
    })))
    .annotate(reading(&format!("Read {table}")))
}

fn affected_schema() -> Arc<JsonObject> {
    object(json!({
        "type": "object",
        "properties": {"affected_rows": {"type": "integer", "minimum": 0}},
        "required": ["affected_rows"],
    }))
}

fn insert_tool(table: &Name, columns: &ColumnSet) -> Tool {
    Tool::new(
        format!("insert_{table}"),
        format!(
            "Insert rows into {table}. Each row sets only columns this token may insert; a \
             column a row leaves out gets its default. Returns the number of rows inserted."
        ),
        object(json!({
            "type": "object",
            "properties": {
                "rows": {"type": "array", "items": columns_object(columns, 1), "minItems": 1},
            },
            "required": ["rows"],
            "additionalProperties": false,
        })),
    )
    .with_raw_output_schema(affected_schema())
    .annotate(
        ToolAnnotations::with_title(format!("Insert into {table}"))
            .read_only(false)
            .destructive(false)
            .idempotent(false)
            .open_world(false),
    )
}

fn update_tool(table: &Name, columns: &ColumnSet) -> Tool {
    Tool::new(
        format!("update_{table}"),
        format!(
            "Change columns of the rows of {table} that match `filter` (required), among the \
             rows this token may change. `set` names only columns it may update. Returns the \
             number of rows changed."
        ),
        object(json!({
            "type": "object",
            "properties": {
                "set": columns_object(columns, 1),
                "filter": with_min_properties(filter_schema()),
            },
            "required": ["set", "filter"],
            "additionalProperties": false,
        })),
    )
    .with_raw_output_schema(affected_schema())
    .annotate(
        ToolAnnotations::with_title(format!("Update {table}"))
            .read_only(false)
            .destructive(true)
            .idempotent(true)
            .open_world(false),
    )
}

fn delete_tool(table: &Name) -> Tool {
    Tool::new(
        format!("delete_{table}"),
        format!(
            "Delete the rows of {table} that match `filter` (required), among the rows this \
             token may delete. Returns the number of rows deleted."
        ),
        object(json!({
            "type": "object",
            "properties": {"filter": with_min_properties(filter_schema())},
            "required": ["filter"],
            "additionalProperties": false,
        })),
    )
    .with_raw_output_schema(affected_schema())
    .annotate(
        ToolAnnotations::with_title(format!("Delete from {table}"))
            .read_only(false)
            .destructive(true)
            .idempotent(true)
            .open_world(false),
    )
}

fn with_min_properties(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("minProperties".into(), json!(1));
    }
    schema
}

/// `list_tables`: the tables the role sees (granted, and in the database), with what it may
/// do on each.
fn list_tables(
    role: &EffectiveRole,
    visible: &[sluice_policy::catalog::VisibleTable<'_>],
) -> Value {
    let tables: Vec<Value> = visible
        .iter()
        .map(|v| {
            let t = v.key;
            let operations: Vec<&str> = Operation::GRANTABLE
                .into_iter()
                .filter(|op| role.permits(t, *op))
                .map(Operation::as_str)
                .collect();
            let tools: Vec<String> = match (t.schema.is_none(), Name::parse(&t.name)) {
                (true, Ok(n)) => Operation::GRANTABLE
                    .into_iter()
                    .filter(|op| role.permits(t, *op))
                    .map(|op| format!("{}_{n}", op.as_str().to_ascii_lowercase()))
                    .collect(),
                _ => Vec::new(),
            };
            json!({"table": t.to_string(), "operations": operations, "tools": tools})
        })
        .collect();
    json!({ "tables": tables })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribeArgs {
    table: String,
}

/// `describe_table`: the columns the role may use per operation, with their types, from the
/// schema model; the primary key when the role sees all of it.
fn describe_table(
    role: &EffectiveRole,
    visible: &[sluice_policy::catalog::VisibleTable<'_>],
    arguments: JsonObject,
) -> Result<Value, String> {
    let a: DescribeArgs = args(arguments)?;
    let Some(v) = visible
        .iter()
        .find(|v| v.key.schema.is_none() && v.key.name == a.table || v.key.to_string() == a.table)
    else {
        return Err(format!(
            "this token has no table {:?}; list_tables shows its tables",
            a.table
        ));
    };
    let table = v.key;
    let mut operations = Map::new();
    for op in Operation::GRANTABLE {
        if !role.permits(table, op) {
            continue;
        }
        let columns = match (op, v.grant.columns_for(op)) {
            (Operation::Delete, _) => Value::Null,
            (_, ColumnSet::All) => json!(v.columns),
            (_, ColumnSet::Only(cols)) => json!(cols
                .iter()
                .filter(|c| v.columns.contains(&c.as_str()))
                .collect::<Vec<_>>()),
        };
        operations.insert(op.as_str().into(), json!({ "columns": columns }));
    }
    let types: Map<String, Value> = v
        .model
        .columns
        .iter()
        .filter(|c| v.columns.contains(&c.name.as_str()))
        .map(|c| {
            (
                c.name.clone(),
                json!({"type": c.data_type, "nullable": c.nullable}),
            )
        })
        .collect();
    let key = &v.model.primary_key;
    let primary_key = (!key.is_empty() && key.iter().all(|k| v.columns.contains(&k.as_str())))
        .then(|| json!(key));
    Ok(json!({
        "table": table.to_string(),
        "operations": operations,
        "columns": types,
        "primary_key": primary_key,
        "rows_filtered": !v.grant.filters.is_empty(),
    }))
}

fn args<T: for<'de> Deserialize<'de>>(arguments: JsonObject) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments)).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    sql: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectArgs {
    columns: Option<Vec<String>>,
    #[serde(default)]
    filter: Map<String, Value>,
    order: Option<OneOrMany>,
    limit: Option<u64>,
    offset: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InsertArgs {
    rows: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    set: Map<String, Value>,
    filter: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    filter: Map<String, Value>,
}

/// The statement a table tool stands for, built by the REST door's builders.
fn build(
    dialect: Dialect,
    op: Operation,
    table: &Name,
    arguments: JsonObject,
) -> Result<Statement, String> {
    let rest = |e: rest::RestError| match &e.hint {
        Some(hint) => format!("{} ({hint})", e.message),
        None => e.message,
    };
    match op {
        Operation::Select => {
            let a: SelectArgs = args(arguments)?;
            let order = a.order.map(|o| o.into_vec().join(","));
            let mut params = params(&a.filter, order.as_deref())?;
            if let Some(columns) = a.columns {
                if columns.is_empty() {
                    return Err("`columns` names no column; leave it out for every column".into());
                }
                params.select = columns
                    .iter()
                    .map(|c| {
                        Name::parse(c).map(|column| Selected::Column {
                            column,
                            alias: None,
                        })
                    })
                    .collect::<Result<_, _>>()
                    .map_err(rest)?;
            }
            for (what, n) in [("limit", a.limit), ("offset", a.offset)] {
                if n.is_some_and(|n| n > i64::MAX as u64) {
                    return Err(format!("`{what}` is larger than {}", i64::MAX));
                }
            }
            params.limit = a.limit;
            params.offset = a.offset;
            Ok(rest::select(dialect, table, &params, None))
        }
        Operation::Insert => {
            let a: InsertArgs = args(arguments)?;
            let body = serde_json::to_string(&a.rows).map_err(|e| e.to_string())?;
            let rows = rest::parse_insert_body(&body, None).map_err(rest)?;
            rest::insert(dialect, table, &rows, Missing::Default, None).map_err(rest)
        }
        Operation::Update => {
            let a: UpdateArgs = args(arguments)?;
            let params = required_filter(&a.filter)?;
            let body = serde_json::to_string(&a.set).map_err(|e| e.to_string())?;
            let set = rest::parse_patch_body(&body, None).map_err(rest)?;
            rest::update(dialect, table, &params, &set, None).map_err(rest)
        }
        Operation::Delete => {
            let a: DeleteArgs = args(arguments)?;
            let params = required_filter(&a.filter)?;
            rest::delete(dialect, table, &params, None).map_err(rest)
        }
        other => Err(format!("no tool does {other}")),
    }
}

/// The filter of an update or delete: without one the tool would touch every row the token may
/// reach, which an agent rarely means.
fn required_filter(filter: &Map<String, Value>) -> Result<Params, String> {
    if filter.is_empty() {
        return Err("`filter` is required and must name at least one condition".into());
    }
    params(filter, None)
}

/// Query-string parameters of PostgREST's grammar that a filter key must not be.
const NOT_FILTERS: [&str; 6] = [
    "select",
    "order",
    "limit",
    "offset",
    "columns",
    "on_conflict",
];

/// A `filter` object (and `order`) read with PostgREST's grammar: each condition becomes a
/// `key=value` pair of a query string for [`rest::parse_query`], percent-encoded so that no
/// character of a key or value can start another pair.
fn params(filter: &Map<String, Value>, order: Option<&str>) -> Result<Params, String> {
    let mut pairs = Vec::new();
    for (key, value) in filter {
        if NOT_FILTERS.contains(&key.as_str()) {
            return Err(format!(
                "{key:?} cannot be a filter key (it is a parameter of PostgREST's grammar)"
            ));
        }
        let values = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| {
                        format!("filter {key:?}: each condition is a string like \"eq.5\"")
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(format!(
                    "filter {key:?}: write each condition as a string like \"eq.5\""
                ))
            }
        };
        for v in values {
            pairs.push(format!("{}={}", encode(key), encode(v)));
        }
    }
    if let Some(order) = order {
        pairs.push(format!("order={}", encode(order)));
    }
    rest::parse_query(&pairs.join("&")).map_err(|e| match &e.hint {
        Some(hint) => format!("{} ({hint})", e.message),
        None => e.message,
    })
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_policy::rest::{Comparison, Condition, Predicate};

    #[test]
    fn filters_keep_their_text_whole() {
        let mut filter = Map::new();
        filter.insert("notes".into(), json!("eq.a&b=c+d%"));
        filter.insert("id".into(), json!(["gt.1", "lt.9"]));
        let p = params(&filter, Some("id.desc")).unwrap();
        assert_eq!(p.filters.len(), 3);
        let values: Vec<String> = p
            .filters
            .iter()
            .map(|c| match c {
                Condition::Filter(f) => match &f.predicate {
                    Predicate::Compare(Comparison::Eq | Comparison::Gt | Comparison::Lt, v) => {
                        format!("{}={v}", f.column)
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, ["id=1", "id=9", "notes=a&b=c+d%"]);
        assert_eq!(p.order.len(), 1);
    }

    #[test]
    fn parameters_are_not_filters() {
        let mut filter = Map::new();
        filter.insert("limit".into(), json!("eq.1"));
        assert!(params(&filter, None).is_err());
        let mut filter = Map::new();
        filter.insert("id".into(), json!(5));
        assert!(params(&filter, None).is_err());
    }

    #[test]
    fn tool_names() {
        assert!(matches!(
            ToolKind::parse("select_reservations"),
            Some(ToolKind::Table(Operation::Select, n)) if n.as_str() == "reservations"
        ));
        assert!(matches!(
            ToolKind::parse("delete_a_b"),
            Some(ToolKind::Table(Operation::Delete, n)) if n.as_str() == "a_b"
        ));
        assert!(ToolKind::parse("drop_reservations").is_none());
        assert!(ToolKind::parse("select_a.b").is_none());
        assert!(matches!(ToolKind::parse("query"), Some(ToolKind::Query)));
    }
}
