//! An authenticated MySQL client's commands.
//!
//! Every COM_QUERY and COM_STMT_PREPARE goes through the policy engine; every COM_QUERY and
//! COM_STMT_EXECUTE re-checks the token (expiry, revocation), the rate limit and, when the role
//! file changed since a statement was prepared, authorizes it again. The backend runs only the
//! rendered statements, each as a raw exchange on the session's backend connection
//! ([`relay_response`]): the server's column definitions and rows go to the client as they came,
//! in either protocol, and the door writes only the column count, the end of the column list and
//! the terminator, in the client's form.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use mysql_async::consts::{ColumnFlags, ColumnType, MariadbCapabilities, StatusFlags};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Statement, Value};
use mysql_common::constants::MAX_PAYLOAD_LEN;
use mysql_common::io::{ParseBuf, ReadMysqlExt};
use mysql_common::packets::{ComStmtExecuteRequestBuilder, ComStmtSendLongData};
use mysql_common::proto::{MyDeserialize, MySerialize};
use mysql_common::value::{BinValue, ValueDeserializer};
use sluice_policy::roles::EffectiveRole;
use sluice_policy::{
    Authorized, Denial, Dialect, ParameterNeed, Parameters, PinnedParameter, StatementKind,
};
use sluice_tokens::Claims;

use super::handshake::{CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS};
use super::packet::{
    self, err_packet, put_lenenc_bytes, put_lenenc_int, PacketError, PacketIo,
    SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS,
};
use super::MyDoor;
use crate::audit::{AuditEvent, SessionLines, StatementLine};

/// Prepared statements one client may hold at once (the backend pool's statement cache is
/// sized above it, so it never closes a statement a client still holds).
pub const MAX_STATEMENTS: usize = 1_000;
/// SQL text (the client's and the rendered) all of a client's prepared statements may hold.
const MAX_PREPARED_BYTES: usize = 16 << 20;
/// COM_STMT_SEND_LONG_DATA bytes a client may hold across all its statements.
const MAX_LONG_DATA_BYTES: usize = 64 << 20;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_PING: u8 = 0x0e;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1a;
const COM_SET_OPTION: u8 = 0x1b;
const COM_STMT_FETCH: u8 = 0x1c;
const COM_RESET_CONNECTION: u8 = 0x1f;

pub struct SessionInfo {
    pub peer: String,
    pub user: String,
    pub claims: Claims,
    pub capabilities: u32,
    /// The client negotiated MariaDB's extended column metadata: column definitions carry the
    /// block the backend sent.
    pub extended_metadata: bool,
}

/// A statement the client prepared.
struct Prepared {
    client_sql: Arc<str>,
    rendered: Arc<str>,
    /// Which client parameter each `?` of `rendered` takes, what the values must be for
    /// `rendered` to run, and the rendering that runs otherwise ([`Parameters`]).
    parameters: Arc<Parameters>,
    /// How many parameters the client binds (its statement's `?`s).
    params: u16,
    /// The role-file generation it was authorized under.
    generation: u64,
    backend: Statement,
    /// The fallback rendering, prepared on the backend the first time a value needs it.
    fallback: Option<Statement>,
    /// Parameter types from the last execute that sent them.
    types: Option<Vec<(ColumnType, ColumnFlags)>>,
    long_data: HashMap<u16, Vec<u8>>,
    /// Long data was refused for being over the session's budget: the next execute fails
    /// rather than run with a truncated value.
    long_data_overflow: bool,
}

impl Prepared {
    fn bytes(&self) -> usize {
        self.client_sql.len()
            + self.rendered.len()
            + self.parameters.fallback.as_ref().map_or(0, |f| f.0.len())
    }
    fn long_data_bytes(&self) -> usize {
        self.long_data.values().map(Vec::len).sum()
    }
}

/// Why a session ends early.
enum End {
    /// The client is gone or broke the protocol.
    Client(String),
    /// The backend connection failed; the client was told.
    Backend(String),
    /// The token stopped working; the client was told.
    Token(String),
    Shutdown,
}

impl End {
    fn describe(&self) -> String {
        match self {
            End::Client(why) => format!("client: {why}"),
            End::Backend(why) => format!("backend: {why}"),
            End::Token(why) => format!("token {why}"),
            End::Shutdown => "gateway shutting down".into(),
        }
    }
}

impl From<PacketError> for End {
    fn from(e: PacketError) -> Self {
        End::Client(e.to_string())
    }
}

impl From<std::io::Error> for End {
    fn from(e: std::io::Error) -> Self {
        End::Client(e.to_string())
    }
}

/// What running one statement on the backend came to.
enum Ran {
    Done {
        rows: u64,
    },
    /// COM_STMT_PREPARE: prepared on the backend.
    Prepared,
    /// The backend refused it (the client got the ERR packet).
    Failed(String),
}

struct Session {
    door: Arc<MyDoor>,
    io: PacketIo,
    info: SessionInfo,
    role: Arc<EffectiveRole>,
    conn: Conn,
    prepared: HashMap<u32, Prepared>,
    next_id: u32,
    in_transaction: bool,
    /// The role-file generation `role` was read under.
    role_generation: u64,
    /// The token's principal in the policy engine (see [`sluice_policy::Principal`]).
    principal: sluice_policy::Principal,
    /// The session's audit lines (who sent them, written once).
    lines: SessionLines,
}

/// Serves the client until it quits; returns why the session ended, for the audit line.
pub async fn run(
    door: Arc<MyDoor>,
    io: PacketIo,
    info: SessionInfo,
    role: Arc<EffectiveRole>,
    conn: Conn,
) -> Option<String> {
    let role_generation = door.gate.generation();
    let principal = door.gate.principal(
        Arc::new(info.claims.clone()),
        Dialect::MySql,
        Some(door.pools.database()),
    );
    let mut s = Session {
        door,
        io,
        info,
        role,
        conn,
        prepared: HashMap::new(),
        next_id: 1,
        in_transaction: false,
        role_generation,
        principal,
        lines: SessionLines::default(),
    };
    s.io.write(&packet::ok_packet(
        &packet::Ok {
            status: SERVER_STATUS_AUTOCOMMIT,
            ..Default::default()
        },
        0x00,
    ));
    let end = match s.io.flush().await {
        Ok(()) => s.serve().await,
        Err(e) => Err(End::Client(e.to_string())),
    };
    // The connection goes back to its pool (reset there); a broken one is dropped by it.
    drop(s.conn);
    end.err().map(|e| e.describe())
}

impl Session {
    async fn serve(&mut self) -> Result<(), End> {
        // One wait for the shutdown for the whole session, polled again at each command
        // rather than made anew (which would register and unregister a waiter every time).
        let mut shutdown = self.door.shutdown.clone();
        let mut shutdown = std::pin::pin!(async move {
            let _ = shutdown.wait_for(|down| *down).await;
        });
        let idle_limit = self.door.idle_transaction_timeout;
        loop {
            self.io.seq = 0;
            // The timer starts when it is first polled: only inside a transaction.
            let idle = async { tokio::time::sleep(idle_limit).await };
            let packet = tokio::select! {
                p = self.io.read() => p,
                _ = &mut shutdown, if !self.in_transaction => {
                    self.io.write(&err_packet(1053, "08S01", "the gateway is shutting down; reconnect later"));
                    let _ = self.io.flush().await;
                    return Err(End::Shutdown);
                }
                // A transaction left open holds its locks and its backend connection: ended
                // (rolled back when the connection is reset) after the idle limit.
                _ = idle, if self.in_transaction => {
                    let message = format!(
                        "the transaction was idle for more than {}; the gateway rolled it back and closed the session (--idle-transaction-timeout)",
                        humantime::format_duration(idle_limit)
                    );
                    self.io.write(&err_packet(1205, "HY000", &message));
                    let _ = self.io.flush().await;
                    return Err(End::Client("idle in transaction".into()));
                }
            };
            let packet = match packet {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(PacketError::TooLarge(got, limit)) => {
                    self.io.write(&err_packet(
                        1153,
                        "08S01",
                        &format!("got a packet of {got} bytes or more; the gateway's limit is {limit} bytes"),
                    ));
                    let _ = self.io.flush().await;
                    return Err(End::Client("packet too large".into()));
                }
                Err(e) => return Err(e.into()),
            };
            let Some((&command, body)) = packet.split_first() else {
                return Err(End::Client("empty packet".into()));
            };
            if command == COM_QUIT {
                return Ok(());
            }
            // Every command, pings included, finds the token still valid: a revoked token
            // cannot keep a session (and its backend connection) alive.
            self.recheck_token().await?;
            match command {
                COM_QUIT => return Ok(()),
                COM_QUERY => self.query(body).await?,
                COM_STMT_PREPARE => self.prepare(body).await?,
                COM_STMT_EXECUTE => self.execute(body).await?,
                COM_STMT_SEND_LONG_DATA => {
                    self.long_data(body);
                    continue; // no response
                }
                COM_STMT_CLOSE => {
                    if let Some(id) = read_u32(body) {
                        self.prepared.remove(&id);
                    }
                    continue; // no response
                }
                COM_STMT_RESET => match read_u32(body).and_then(|id| self.prepared.get_mut(&id)) {
                    Some(p) => {
                        p.long_data.clear();
                        self.ok(0, 0, 0);
                    }
                    None => self.unknown_statement(body, "mysqld_stmt_reset"),
                },
                COM_PING => self.ok(0, 0, 0),
                COM_INIT_DB => self.init_db(body),
                COM_SET_OPTION => match body {
                    [0, 0] => {
                        self.info.capabilities |= CLIENT_MULTI_STATEMENTS;
                        self.eof();
                    }
                    [1, 0] => {
                        self.info.capabilities &= !CLIENT_MULTI_STATEMENTS;
                        self.eof();
                    }
                    _ => self.error(1047, "08S01", "unknown COM_SET_OPTION value"),
                },
                COM_RESET_CONNECTION => {
                    self.prepared.clear();
                    match self.conn.reset().await {
                        Ok(true) => {
                            self.in_transaction = false;
                            self.ok(0, 0, 0);
                        }
                        Ok(false) => {
                            self.error(1047, "08S01", "the database behind the gateway cannot reset connections; reconnect instead");
                            let _ = self.io.flush().await;
                            return Err(End::Backend("COM_RESET_CONNECTION unsupported".into()));
                        }
                        Err(e) => return Err(self.backend_lost(&e).await),
                    }
                }
                COM_STMT_FETCH => self.error(
                    1235,
                    "42000",
                    "cursors (COM_STMT_FETCH) are not supported through Sluice; execute without a cursor",
                ),
                COM_FIELD_LIST => self.error(
                    1227,
                    "42000",
                    "COM_FIELD_LIST is not allowed through Sluice; select the columns you need",
                ),
                other => self.error(
                    1047,
                    "08S01",
                    &format!("command 0x{other:02x} is not supported through Sluice"),
                ),
            }
            self.io.flush().await?;
        }
    }

    // ---- COM_QUERY ------------------------------------------------------------------------

    async fn query(&mut self, body: &[u8]) -> Result<(), End> {
        let Ok(sql) = std::str::from_utf8(body) else {
            self.error(
                1064,
                "42000",
                "the statement is not valid UTF-8 [sluice: syntax_error]",
            );
            return Ok(());
        };
        let (decision, _) = self.door.gate.authorize_as(&mut self.principal, sql);
        let authorized = match &*decision {
            Ok(a) => a,
            Err(d) => {
                self.deny(sql, d).await;
                return Ok(());
            }
        };
        if authorized.statements.is_empty() {
            self.error(1065, "42000", "query was empty");
            return Ok(());
        }
        if let Err(message) = self.runnable(authorized) {
            self.error(1064, "42000", &message);
            self.audit_refused(sql, "protocol", &message).await;
            return Ok(());
        }
        if authorized.statements.len() > 1 && self.info.capabilities & CLIENT_MULTI_STATEMENTS == 0
        {
            let message = "several statements in one query need the client's multi-statement option (CLIENT_MULTI_STATEMENTS); send them one at a time";
            self.error(1064, "42000", message);
            self.audit_refused(sql, "protocol", message).await;
            return Ok(());
        }
        if !self.admit(sql, authorized.statements.len()).await {
            return Ok(());
        }
        let n = authorized.statements.len();
        for (i, st) in authorized.statements.iter().enumerate() {
            if i > 0 {
                // A token revoked while a batch runs stops the rest of it.
                self.recheck_token().await?;
            }
            let started = Instant::now();
            let more = i + 1 < n;
            let ran = self.run_text(&st.sql, more).await;
            if !self.audited(sql, &st.sql, ran, started).await? {
                break;
            }
        }
        Ok(())
    }

    /// Statement kinds this door can run (the PostgreSQL-only kinds never come from the MySQL
    /// dialect; should one, it is refused rather than guessed at).
    fn runnable(&self, a: &Authorized) -> Result<(), String> {
        if a.statements.is_empty() {
            return Err("the query is empty".into());
        }
        for st in &a.statements {
            if matches!(
                st.kind,
                StatementKind::Deallocate
                    | StatementKind::Reset
                    | StatementKind::Discard
                    | StatementKind::Housekeeping
            ) {
                return Err(format!(
                    "{:?} statements are not supported through the MySQL door",
                    st.kind
                ));
            }
        }
        Ok(())
    }

    /// Runs one rendered statement in the text protocol and writes its result.
    async fn run_text(&mut self, sql: &str, more: bool) -> Result<Ran, End> {
        let (form, cap) = (self.column_form(), self.role.max_rows);
        let command = Command::Query(sql);
        let streamed = relay_response(&mut self.io, &mut self.conn, command, form, cap).await;
        self.streamed(streamed, more).await
    }

    /// Writes the end of a result (EOF/OK terminator) or the OK packet of a statement without
    /// rows, with the backend's status, and notes whether a transaction is open.
    fn finish(&mut self, had_rows: bool, more: bool) {
        let (mut ok, status) = match self.conn.last_ok_packet() {
            Some(p) => (
                packet::Ok {
                    affected_rows: p.affected_rows(),
                    last_insert_id: p.last_insert_id().unwrap_or(0),
                    status: p.status_flags().bits(),
                    warnings: p.warnings(),
                    info: p.info_ref().map(<[u8]>::to_vec).unwrap_or_default(),
                },
                p.status_flags().bits(),
            ),
            None => (packet::Ok::default(), SERVER_STATUS_AUTOCOMMIT),
        };
        self.in_transaction = status & SERVER_STATUS_IN_TRANS != 0;
        ok.status = (status & !SERVER_MORE_RESULTS_EXISTS)
            | if more { SERVER_MORE_RESULTS_EXISTS } else { 0 };
        if had_rows {
            if self.deprecate_eof() {
                ok.affected_rows = 0;
                ok.last_insert_id = 0;
                ok.info.clear();
                self.io.write(&packet::ok_packet(&ok, 0xFE));
            } else {
                self.io.write(&packet::eof_packet(ok.status, ok.warnings));
            }
        } else {
            self.io.write(&packet::ok_packet(&ok, 0x00));
        }
    }

    // ---- prepared statements --------------------------------------------------------------

    async fn prepare(&mut self, body: &[u8]) -> Result<(), End> {
        let Ok(sql) = std::str::from_utf8(body) else {
            self.error(
                1064,
                "42000",
                "the statement is not valid UTF-8 [sluice: syntax_error]",
            );
            return Ok(());
        };
        let held: usize = self.prepared.values().map(Prepared::bytes).sum();
        if self.prepared.len() >= MAX_STATEMENTS || held + 2 * sql.len() > MAX_PREPARED_BYTES {
            self.error(
                1461,
                "42000",
                &format!("this session holds {} prepared statements ({held} bytes of SQL); Sluice allows {MAX_STATEMENTS} and {MAX_PREPARED_BYTES} bytes: close some (COM_STMT_CLOSE)", self.prepared.len()),
            );
            return Ok(());
        }
        let (decision, generation) = self.door.gate.authorize_as(&mut self.principal, sql);
        let (rendered, parameters) = match &*decision {
            Ok(a) => {
                if let Err(message) = self.runnable(a) {
                    self.error(1064, "42000", &message);
                    self.audit_refused(sql, "protocol", &message).await;
                    return Ok(());
                }
                if a.statements.len() != 1 {
                    let message = "a prepared statement must hold exactly one statement";
                    self.error(1064, "42000", message);
                    self.audit_refused(sql, "protocol", message).await;
                    return Ok(());
                }
                (
                    a.statements[0].sql.clone(),
                    Arc::new(a.statements[0].parameters.clone()),
                )
            }
            Err(d) => {
                self.deny(sql, d).await;
                return Ok(());
            }
        };
        let started = Instant::now();
        let backend = match self.conn.prep(rendered.as_str()).await {
            Ok(s) => s,
            Err(e) => {
                let ran = self.backend_failed(e).await;
                self.audited(sql, &rendered, ran, started).await?;
                return Ok(());
            }
        };
        // Every `?` of the rendering takes one of the client's parameters, and each of the
        // client's is taken; should that ever not hold, the values would bind to the wrong
        // places: refuse instead.
        let n = count_placeholders(sql);
        if !binds_every_parameter(&parameters.order, n, backend.num_params())
            || parameters
                .fallback
                .as_ref()
                .is_some_and(|f| !binds_every_parameter(&f.1, n, f.1.len() as u16))
        {
            let message = "the statement's parameters cannot be confined as written [sluice: construct_not_allowed]";
            self.error(1235, "42000", message);
            self.audit_refused(sql, "construct_not_allowed", message)
                .await;
            return Ok(());
        }
        self.audited(sql, &rendered, Ok(Ran::Prepared), started)
            .await?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let form = self.column_form();
        let mut b = vec![0x00];
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&backend.num_columns().to_le_bytes());
        b.extend_from_slice(&(n as u16).to_le_bytes());
        b.push(0);
        b.extend_from_slice(&0u16.to_le_bytes());
        self.io.write(&b);
        // Parameter definitions in the client's order.
        let params: Vec<Column> = (0..n)
            .filter_map(|j| {
                let at = parameters.order.iter().position(|&i| i == j)?;
                backend.params().get(at).cloned()
            })
            .collect();
        for defs in [&params[..], &backend.columns()[..]] {
            if defs.is_empty() {
                continue;
            }
            for c in defs {
                self.io.write_with(|b| column_definition(b, c, form));
            }
            if !form.deprecate_eof {
                self.io
                    .write(&packet::eof_packet(SERVER_STATUS_AUTOCOMMIT, 0));
            }
        }
        self.prepared.insert(
            id,
            Prepared {
                client_sql: sql.into(),
                rendered: rendered.into(),
                parameters,
                params: n as u16,
                generation,
                backend,
                fallback: None,
                types: None,
                long_data: HashMap::new(),
                long_data_overflow: false,
            },
        );
        Ok(())
    }

    fn long_data(&mut self, body: &[u8]) {
        if body.len() < 6 {
            return;
        }
        let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        let param = u16::from_le_bytes([body[4], body[5]]);
        let held: usize = self.prepared.values().map(Prepared::long_data_bytes).sum();
        if let Some(p) = self.prepared.get_mut(&id) {
            if param < p.params {
                if held + body.len() - 6 <= MAX_LONG_DATA_BYTES {
                    p.long_data
                        .entry(param)
                        .or_default()
                        .extend_from_slice(&body[6..]);
                } else {
                    // COM_STMT_SEND_LONG_DATA has no reply: the next execute reports it rather
                    // than run with a truncated value.
                    p.long_data.clear();
                    p.long_data_overflow = true;
                }
            }
        }
    }

    async fn execute(&mut self, body: &[u8]) -> Result<(), End> {
        let Some(id) = read_u32(body) else {
            self.error(1835, "08S01", "malformed COM_STMT_EXECUTE packet");
            return Ok(());
        };
        if !self.prepared.contains_key(&id) {
            self.unknown_statement(body, "mysqld_stmt_execute");
            return Ok(());
        }
        let params = self.decode_params(id, body);
        // Long data belongs to one execution, whatever becomes of it.
        let overflow = self.prepared.get_mut(&id).is_some_and(|p| {
            p.long_data.clear();
            std::mem::take(&mut p.long_data_overflow)
        });
        let params = match params {
            Ok(_) if overflow => {
                self.error(
                    1153,
                    "08S01",
                    &format!("the parameters sent as long data exceed the {MAX_LONG_DATA_BYTES} bytes a session may hold; send smaller values"),
                );
                return Ok(());
            }
            Ok(p) => p,
            Err(message) => {
                self.error(1210, "HY000", &message);
                return Ok(());
            }
        };
        if !self.reauthorize(id).await? {
            return Ok(());
        }
        let client_sql = self.prepared[&id].client_sql.clone();
        if !self.admit(&client_sql, 1).await {
            return Ok(());
        }
        // A value written into a column the role's filter pins must be the token's.
        let parameters = self.prepared[&id].parameters.clone();
        if let Some(p) = parameters
            .pinned
            .iter()
            .find(|p| !params.get(p.parameter).is_some_and(|v| pinned_holds(p, v)))
        {
            self.deny(&client_sql, &p.refusal()).await;
            return Ok(());
        }
        let started = Instant::now();
        let (rendered, stmt, params) = match self.rendering_for(id, params).await {
            Ok(chosen) => chosen,
            Err((rendered, ran)) => {
                self.audited(&client_sql, &rendered, ran, started).await?;
                return Ok(());
            }
        };
        let ran = self.run_binary(&stmt, params).await;
        self.audited(&client_sql, &rendered, ran, started).await?;
        Ok(())
    }

    /// The rendering to run for these values, with the values in its `?` order: the prepared
    /// one when every value is of the kind its proof counted on, else the fallback (prepared on
    /// the backend the first time it is needed). The decision is made on each execution's own
    /// values.
    async fn rendering_for(
        &mut self,
        id: u32,
        mut params: Vec<Value>,
    ) -> Result<(Arc<str>, Statement, Vec<Value>), (Arc<str>, Result<Ran, End>)> {
        let p = &self.prepared[&id];
        let parameters = p.parameters.clone();
        if meet_needs(&parameters.needs, &mut params) {
            let params = in_order(&parameters.order, params);
            return Ok((p.rendered.clone(), p.backend.clone(), params));
        }
        let Some((sql, order)) = parameters.fallback.as_deref() else {
            // The engine sets needs only with a fallback; never run a rendering whose
            // condition does not hold.
            let message = "internal error: a bound value does not fit the checked statement and there is no other rendering; please report it";
            let rendered = p.rendered.clone();
            self.error(1235, "42000", message);
            return Err((rendered, Ok(Ran::Failed(message.into()))));
        };
        let sql: Arc<str> = sql.as_str().into();
        let stmt = match p.fallback.clone() {
            Some(stmt) => stmt,
            None => {
                let stmt = match self.conn.prep(&*sql).await {
                    Ok(stmt) => stmt,
                    Err(e) => return Err((sql, self.backend_failed(e).await)),
                };
                if usize::from(stmt.num_params()) != order.len() {
                    let message = "the statement's parameters cannot be confined as written [sluice: construct_not_allowed]";
                    self.error(1235, "42000", message);
                    return Err((sql, Ok(Ran::Failed(message.into()))));
                }
                if let Some(p) = self.prepared.get_mut(&id) {
                    p.fallback = Some(stmt.clone());
                }
                stmt
            }
        };
        Ok((sql, stmt, in_order(order, params)))
    }

    /// A statement prepared under an older role file is authorized again. If its rewrite is
    /// still the same it runs; if the rewrite changed or it is denied now, it is refused: the
    /// client's column metadata came from the old rewrite, so it must prepare it again.
    async fn reauthorize(&mut self, id: u32) -> Result<bool, End> {
        let generation = self.door.gate.generation();
        let p = &self.prepared[&id];
        if p.generation == generation {
            return Ok(true);
        }
        let client_sql = p.client_sql.clone();
        let (decision, generation) = self
            .door
            .gate
            .authorize_as(&mut self.principal, &client_sql);
        let same = match &*decision {
            Ok(a) => {
                a.statements.len() == 1
                    && self.runnable(a).is_ok()
                    && *a.statements[0].sql == *self.prepared[&id].rendered
                    && a.statements[0].parameters == *self.prepared[&id].parameters
            }
            Err(d) => {
                self.deny(&client_sql, d).await;
                return Ok(false);
            }
        };
        if !same {
            let message =
                "the role file changed what this prepared statement does; prepare it again";
            self.error(1615, "HY000", message);
            self.audit_refused(&client_sql, "reprepare", message).await;
            return Ok(false);
        }
        if let Some(p) = self.prepared.get_mut(&id) {
            p.generation = generation;
        }
        Ok(true)
    }

    /// The parameters of a COM_STMT_EXECUTE, decoded with the types the client declared.
    fn decode_params(&mut self, id: u32, body: &[u8]) -> Result<Vec<Value>, String> {
        let p = self.prepared.get_mut(&id).expect("checked by the caller");
        let n = usize::from(p.params);
        let malformed = || "malformed COM_STMT_EXECUTE packet".to_string();
        // id (4), flags (1), iteration count (4)
        let rest = body.get(9..).ok_or_else(malformed)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let bitmap_len = n.div_ceil(8);
        let bitmap = rest.get(..bitmap_len).ok_or_else(malformed)?;
        let bound = *rest.get(bitmap_len).ok_or_else(malformed)?;
        let mut at = bitmap_len + 1;
        if bound == 1 {
            let raw = rest.get(at..at + 2 * n).ok_or_else(malformed)?;
            let mut types = Vec::with_capacity(n);
            for pair in raw.chunks_exact(2) {
                let t = ColumnType::try_from(pair[0])
                    .ok()
                    .filter(|t| parameter_type_supported(*t))
                    .ok_or_else(|| format!("parameter type {} is not supported", pair[0]))?;
                let flags = if pair[1] & 0x80 != 0 {
                    ColumnFlags::UNSIGNED_FLAG
                } else {
                    ColumnFlags::empty()
                };
                types.push((t, flags));
            }
            p.types = Some(types);
            at += 2 * n;
        }
        let types = p
            .types
            .as_ref()
            .ok_or("the first execution of a statement must send its parameter types")?;
        let mut buf = ParseBuf(rest.get(at..).ok_or_else(malformed)?);
        let mut values = Vec::with_capacity(n);
        for (i, &(t, flags)) in types.iter().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                values.push(Value::NULL);
            } else if let Some(data) = p.long_data.get(&(i as u16)) {
                values.push(Value::Bytes(data.clone()));
            } else {
                let v = ValueDeserializer::<BinValue>::deserialize((t, flags), &mut buf)
                    .map_err(|_| malformed())?;
                values.push(match v.0 {
                    // mysql_common reads unsigned integers that fit an i64 as signed; they must
                    // reach the backend as unsigned, as the client declared them.
                    Value::Int(x) if flags.contains(ColumnFlags::UNSIGNED_FLAG) => {
                        Value::UInt(x as u64)
                    }
                    other => other,
                });
            }
        }
        Ok(values)
    }

    /// Runs a prepared statement and writes its result in the binary protocol.
    async fn run_binary(&mut self, stmt: &Statement, params: Vec<Value>) -> Result<Ran, End> {
        let (form, cap) = (self.column_form(), self.role.max_rows);
        let command = Command::Execute(stmt, &params);
        let streamed = relay_response(&mut self.io, &mut self.conn, command, form, cap).await;
        self.streamed(streamed, false).await
    }

    /// What streaming a result came to: the end of the result written, or the error handled.
    async fn streamed(&mut self, streamed: Streamed, more: bool) -> Result<Ran, End> {
        match streamed {
            Streamed::Done { had_rows, rows } => {
                self.finish(had_rows, more);
                Ok(Ran::Done { rows })
            }
            Streamed::Backend(e) => self.backend_failed(e).await,
            Streamed::Client(e) => Err(e.into()),
        }
    }

    // ---- small commands -------------------------------------------------------------------

    fn init_db(&mut self, body: &[u8]) {
        let db = String::from_utf8_lossy(body);
        if db == self.door.pools.database() {
            self.ok(0, 0, 0);
        } else {
            self.error(
                1044,
                "42000",
                &format!(
                    "access denied to database '{db}': this gateway serves only '{}'",
                    self.door.pools.database()
                ),
            );
        }
    }

    fn unknown_statement(&mut self, body: &[u8], what: &str) {
        let id = read_u32(body).unwrap_or(0);
        self.error(
            1243,
            "HY000",
            &format!("unknown prepared statement handler ({id}) given to {what}"),
        );
    }

    // ---- checks ---------------------------------------------------------------------------

    /// The token still works; if not, the client is told and the session ends.
    /// Also picks up a reloaded role file: the session's role (max_rows, rate_limit, …) is the
    /// current one, and a session whose role is gone ends.
    async fn recheck_token(&mut self) -> Result<(), End> {
        let gate = &self.door.gate;
        let checked = gate
            .recheck(&self.info.claims, crate::now_unix())
            .and_then(|()| {
                let generation = gate.generation();
                if generation != self.role_generation {
                    match gate.role(&self.info.claims) {
                        Some(role) => {
                            self.role = role;
                            self.role_generation = generation;
                        }
                        None => return Err(crate::gate::TokenRefused { reason: "invalid" }),
                    }
                }
                Ok(())
            });
        match checked {
            Ok(()) => Ok(()),
            Err(refused) => {
                self.error(
                    1045,
                    "28000",
                    &format!(
                        "access denied: token {}; connect again with a current Sluice token",
                        refused.reason
                    ),
                );
                let _ = self.io.flush().await;
                let mut ev = self.event("deny");
                ev.rule = Some("token".into());
                ev.reason = Some(refused.reason.into());
                self.door.audit.record(ev).await;
                Err(End::Token(refused.reason.to_string()))
            }
        }
    }

    /// Counts `n` statements against the token's rate limit; refuses (and says so) when over.
    async fn admit(&mut self, sql: &str, n: usize) -> bool {
        match self.door.gate.admit(&self.info.claims, &self.role, n) {
            Ok(()) => true,
            Err(limited) => {
                let message = limited.to_string();
                self.error(1226, "42000", &message);
                self.audit_refused(sql, "rate_limit", &message).await;
                false
            }
        }
    }

    // ---- replies ---------------------------------------------------------------------------

    fn deprecate_eof(&self) -> bool {
        self.info.capabilities & CLIENT_DEPRECATE_EOF != 0
    }

    fn column_form(&self) -> ColumnForm {
        ColumnForm {
            deprecate_eof: self.deprecate_eof(),
            extended_metadata: self.info.extended_metadata,
        }
    }

    fn status(&self) -> u16 {
        let mut s = SERVER_STATUS_AUTOCOMMIT;
        if let Some(p) = self.conn.last_ok_packet() {
            s = p.status_flags().bits() & !SERVER_MORE_RESULTS_EXISTS;
        }
        s
    }

    fn ok(&mut self, affected: u64, last_id: u64, warnings: u16) {
        let ok = packet::Ok {
            affected_rows: affected,
            last_insert_id: last_id,
            status: self.status(),
            warnings,
            info: Vec::new(),
        };
        self.io.write(&packet::ok_packet(&ok, 0x00));
    }

    fn eof(&mut self) {
        let status = self.status();
        if self.deprecate_eof() {
            let ok = packet::Ok {
                status,
                ..Default::default()
            };
            self.io.write(&packet::ok_packet(&ok, 0xFE));
        } else {
            self.io.write(&packet::eof_packet(status, 0));
        }
    }

    fn error(&mut self, code: u16, state: &str, message: &str) {
        self.io.write(&err_packet(code, state, message));
    }

    /// A denial: the policy's code and message, and an audit line. The session goes on.
    async fn deny(&mut self, sql: &str, d: &Denial) {
        self.error(
            d.mysql_code(),
            "42000",
            &format!("{} [sluice: {}]", d.message, d.rule.id()),
        );
        self.audit_refused(sql, d.rule.id(), &d.message).await;
    }

    /// An error from the backend: a server error goes to the client as it is and the session
    /// goes on; anything else means the backend connection is gone.
    async fn backend_failed(&mut self, e: mysql_async::Error) -> Result<Ran, End> {
        match e {
            mysql_async::Error::Server(s) => {
                self.error(s.code, &s.state, &client_message(s.code, &s.message));
                // A failed statement inside a transaction leaves it open.
                Ok(Ran::Failed(format!(
                    "{} ({}): {}",
                    s.code, s.state, s.message
                )))
            }
            // Refused by mysql_async before anything was sent: the connection is as it was.
            mysql_async::Error::Driver(
                d @ (mysql_async::DriverError::StmtParamsMismatch { .. }
                | mysql_async::DriverError::StmtParamsNumberExceedsLimit { .. }),
            ) => {
                let message = format!("incorrect arguments to the prepared statement: {d}");
                self.error(1210, "HY000", &message);
                Ok(Ran::Failed(message))
            }
            // Any other driver error leaves the connection in an unknown state: it is not used
            // again (mysql_async's pool drops a connection that failed so).
            other => Err(self.backend_lost(&other).await),
        }
    }

    async fn backend_lost(&mut self, e: &mysql_async::Error) -> End {
        tracing::warn!("MySQL door: lost a backend connection: {e}");
        self.error(
            2013,
            "HY000",
            "lost the connection to the database behind the gateway; reconnect",
        );
        let _ = self.io.flush().await;
        End::Backend(e.to_string())
    }

    // ---- audit -----------------------------------------------------------------------------

    fn event(&self, decision: &'static str) -> AuditEvent {
        AuditEvent::statement(
            "mysql",
            &self.info.peer,
            &self.info.user,
            &self.info.claims,
            decision,
        )
    }

    /// A statement line of this session (see [`StatementLine`]); `None` when the audit trail
    /// is off.
    fn line(&self, decision: &'static str, statement: &str) -> Option<StatementLine> {
        let info = &self.info;
        self.lines.line(
            &self.door.audit,
            "mysql",
            &info.peer,
            &info.user,
            &info.claims,
            decision,
            Arc::from(statement),
        )
    }

    async fn audit_refused(&self, sql: &str, rule: &str, reason: &str) {
        let Some(mut line) = self.line("deny", sql) else {
            return;
        };
        line.rule = Some(rule.to_string());
        line.reason = Some(reason.to_string());
        self.door.audit.record_statement(line).await;
    }

    /// Audits what became of a statement the engine allowed, on every path (the session may be
    /// ending: the line is written first). Returns whether the statement succeeded.
    async fn audited(
        &self,
        client_sql: &str,
        rendered: &str,
        ran: Result<Ran, End>,
        started: Instant,
    ) -> Result<bool, End> {
        let decision = match &ran {
            Ok(Ran::Done { .. } | Ran::Prepared) => "allow",
            Ok(Ran::Failed(_)) | Err(_) => "error",
        };
        let mut line = self.line(decision, client_sql);
        if let Some(line) = line.as_mut() {
            if matches!(ran, Ok(Ran::Prepared)) {
                line.event = "prepare";
            }
            line.rendered = Some(Arc::from(rendered));
            line.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (ok, rows, reason) = match ran {
            Ok(Ran::Done { rows }) => (Ok(true), Some(rows), None),
            Ok(Ran::Prepared) => (Ok(true), None, None),
            Ok(Ran::Failed(reason)) => (Ok(false), None, Some(reason)),
            Err(end) => {
                let reason = format!("session ended: {}", end.describe());
                (Err(end), None, Some(reason))
            }
        };
        if let Some(mut line) = line {
            line.rows = rows;
            line.reason = reason;
            self.door.audit.record_statement(line).await;
        }
        ok
    }
}

/// Parameter types a client may declare: those mysql_common's binary decoder reads (it panics on
/// the others, such as the server-internal TIMESTAMP2/DATETIME2/TIME2), and that mean a value.
fn parameter_type_supported(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_STRING
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_SET
            | MYSQL_TYPE_ENUM
            | MYSQL_TYPE_DECIMAL
            | MYSQL_TYPE_NEWDECIMAL
            | MYSQL_TYPE_BIT
            | MYSQL_TYPE_GEOMETRY
            | MYSQL_TYPE_JSON
            | MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_YEAR
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_FLOAT
            | MYSQL_TYPE_DOUBLE
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_DATE
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_TIME
            | MYSQL_TYPE_NULL
    )
}

/// Whether `order` (which client parameter each `?` of a rendering takes) binds `placeholders`
/// `?`s, each to one of the client's `n` parameters, and takes every one of them.
fn binds_every_parameter(order: &[usize], n: usize, placeholders: u16) -> bool {
    let mut taken = vec![false; n];
    for &i in order {
        match taken.get_mut(i) {
            Some(t) => *t = true,
            None => return false,
        }
    }
    order.len() == usize::from(placeholders) && taken.iter().all(|t| *t)
}

/// Whether each value is of the kind the rendering's proof counted on ([`ParameterNeed`]); if
/// so, an integer sent as a string is turned into the integer (the same comparison, with no
/// conversion left to the server). Values are left as they came otherwise.
fn meet_needs(needs: &[ParameterNeed], params: &mut [Value]) -> bool {
    if needs.is_empty() {
        return true;
    }
    let met = |need: ParameterNeed, v: &Value| match (need, v) {
        (ParameterNeed::Any, _) | (_, Value::NULL) => true,
        (ParameterNeed::Number, Value::Int(_) | Value::UInt(_)) => true,
        (ParameterNeed::Number, Value::Float(f)) => f.is_finite(),
        (ParameterNeed::Number, Value::Double(f)) => f.is_finite(),
        (ParameterNeed::Number, Value::Bytes(b)) => integer_text(b).is_some(),
        (ParameterNeed::Text, Value::Bytes(b)) => std::str::from_utf8(b).is_ok(),
        _ => false,
    };
    let all = params
        .iter()
        .enumerate()
        .all(|(i, v)| met(needs.get(i).copied().unwrap_or(ParameterNeed::Any), v));
    if !all {
        return false;
    }
    for (v, need) in params.iter_mut().zip(needs) {
        if let (ParameterNeed::Number, Value::Bytes(b)) = (need, &*v) {
            *v = integer_text(b).expect("checked above");
        }
    }
    true
}

/// A string that is a plain integer (`-12`, `007`; no spaces, signs only in front), as the
/// integer value: MySQL compares it with a number column exactly as the string.
fn integer_text(b: &[u8]) -> Option<Value> {
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let text = std::str::from_utf8(b).ok()?;
    let text = text.strip_prefix('+').unwrap_or(text);
    text.parse::<i64>()
        .map(Value::Int)
        .ok()
        .or_else(|| text.parse::<u64>().map(Value::UInt).ok())
}

/// Whether a bound value is exactly the claim a pinned column must hold.
fn pinned_holds(p: &PinnedParameter, v: &Value) -> bool {
    match v {
        Value::Bytes(b) => p.holds_text(b),
        Value::Int(i) => p.holds_integer(i128::from(*i)),
        Value::UInt(u) => p.holds_integer(i128::from(*u)),
        _ => false,
    }
}

/// The values in a rendering's `?` order.
fn in_order(order: &[usize], params: Vec<Value>) -> Vec<Value> {
    if order.iter().enumerate().all(|(k, &i)| k == i) && order.len() == params.len() {
        return params;
    }
    order.iter().map(|&i| params[i].clone()).collect()
}

fn read_u32(body: &[u8]) -> Option<u32> {
    let b = body.get(..4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// How streaming one result ended.
enum Streamed {
    /// The response read to its end (at most `max_rows` rows written); the terminator is
    /// still to write.
    Done {
        had_rows: bool,
        rows: u64,
    },
    Backend(mysql_async::Error),
    Client(std::io::Error),
}

/// What a raw exchange runs: a text query, or a prepared statement's execution (whose
/// metadata the server may leave out, MariaDB's MARIADB_CLIENT_CACHE_METADATA, when the
/// statement's cached columns still hold).
enum Command<'a> {
    Query(&'a str),
    Execute(&'a Statement, &'a [Value]),
}

/// Runs one command on the backend and writes its response to the client: the column count,
/// the server's column definitions and rows as the server sent them (rows are not decoded,
/// so what the client gets is byte for byte what the checked statement returned; at most
/// `cap` are written, the rest read and dropped), and the client's form of the end of the
/// column list. Results after the first (a procedure's) are read and dropped, as is the
/// terminator, which [`Session::finish`] writes from the connection's last OK packet. While
/// the response is read the backend connection counts as broken (mysql_async's raw exchange):
/// a session that ends midway never hands a half-read connection back to the pool.
async fn relay_response(
    io: &mut PacketIo,
    conn: &mut Conn,
    command: Command<'_>,
    form: ColumnForm,
    cap: Option<u64>,
) -> Streamed {
    let sent = match command {
        Command::Query(sql) => {
            conn.raw_command(|b| {
                b.push(COM_QUERY);
                b.extend_from_slice(sql.as_bytes());
            })
            .await
        }
        Command::Execute(stmt, params) => send_execute(conn, stmt, params).await,
    };
    if let Err(e) = sent {
        return Streamed::Backend(e);
    }
    let stmt = match command {
        Command::Execute(stmt, _) => Some(stmt),
        Command::Query(_) => None,
    };
    let mut rows = 0u64;
    // A client gone mid-result: the rest of the response is still read (and dropped) before
    // the session ends, so the connection goes back to its pool in step and the pool's size
    // keeps bounding the statements running on the server. Discarded instead, it would free
    // its slot while the server still ran the abandoned statement.
    let first = match read_result(io, conn, stmt, Some((form, cap, &mut rows))).await {
        Ok(had_rows) => Ok(had_rows),
        Err(Streamed::Client(e)) => Err(e),
        Err(s) => return s,
    };
    // A procedure's further results: read to the end, not sent (the client sees one).
    while conn.last_ok_packet().is_some_and(|ok| {
        ok.status_flags()
            .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
    }) {
        if let Err(s) = read_result(io, conn, stmt, None).await {
            return s;
        }
    }
    match first {
        Ok(had_rows) => Streamed::Done { had_rows, rows },
        Err(e) => Streamed::Client(e),
    }
}

/// Sends a COM_STMT_EXECUTE with `params` (values too large for one packet go first as long
/// data, as mysql_async sends them).
async fn send_execute(
    conn: &mut Conn,
    stmt: &Statement,
    params: &[Value],
) -> Result<(), mysql_async::Error> {
    if params.len() != usize::from(stmt.num_params()) {
        return Err(mysql_async::DriverError::StmtParamsMismatch {
            required: stmt.num_params(),
            supplied: params.len(),
        }
        .into());
    }
    let (request, as_long_data) = ComStmtExecuteRequestBuilder::new(stmt.id()).build(params);
    if as_long_data {
        for (i, value) in params.iter().enumerate() {
            let Value::Bytes(bytes) = value else { continue };
            let chunks = bytes.chunks(MAX_PAYLOAD_LEN - 6);
            let empty = bytes.is_empty().then_some(&[][..]);
            for chunk in chunks.chain(empty) {
                let long = ComStmtSendLongData::new(stmt.id(), i as u16, chunk);
                // No response: the execution that follows starts the exchange proper.
                conn.raw_command(|b| long.serialize(b)).await?;
            }
        }
    }
    conn.raw_command(|b| request.serialize(b)).await
}

/// Reads one statement's response (an OK packet, or a result set to its terminator) and,
/// with `to_client`, writes the result set's head and rows to the client. Whether it had a
/// result set.
async fn read_result(
    io: &mut PacketIo,
    conn: &mut Conn,
    stmt: Option<&Statement>,
    mut to_client: Option<(ColumnForm, Option<u64>, &mut u64)>,
) -> Result<bool, Streamed> {
    let backend = |e| Streamed::Backend(e);
    let first = conn.raw_read().await.map_err(backend)?;
    match first.first() {
        Some(0x00) => {
            conn.raw_end(&first, false).map_err(backend)?;
            return Ok(false);
        }
        // LOAD DATA LOCAL INFILE: the gateway sends no client files. The connection stays
        // marked broken (the server waits for the file) and is discarded.
        Some(0xFB) => {
            return Err(Streamed::Backend(
                mysql_async::LocalInfileError::NoHandler.into(),
            ))
        }
        _ => {}
    }
    let mut head = &first[..];
    let count = head
        .read_lenenc_int()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| malformed("a result set's column count"))?;
    let extended_metadata = conn
        .mariadb_capabilities()
        .contains(MariadbCapabilities::MARIADB_CLIENT_EXTENDED_METADATA);
    // After an execution's column count, MariaDB says whether the definitions follow.
    let skipped = stmt.is_some()
        && conn
            .mariadb_capabilities()
            .contains(MariadbCapabilities::MARIADB_CLIENT_CACHE_METADATA)
        && head.first() == Some(&0x00);
    if let Some((form, _, _)) = &to_client {
        io.write_with(|b| put_lenenc_int(b, count as u64));
        if skipped {
            let columns = stmt.map(Statement::columns).unwrap_or_default();
            if columns.len() != count {
                return Err(malformed("the statement's cached columns"));
            }
            for c in columns.iter() {
                io.write_with(|b| column_definition(b, c, *form));
            }
        }
    }
    if !skipped {
        let mut parsed = Vec::new();
        for _ in 0..count {
            let def = conn.raw_read().await.map_err(backend)?;
            // A statement keeps its latest metadata, for executions that skip it.
            let needs_parse = to_client.as_ref().is_some_and(|(form, _, _)| {
                stmt.is_some() || form.extended_metadata != extended_metadata
            });
            if needs_parse {
                let column: Column = ParseBuf(&def)
                    .parse(())
                    .map_err(|_| malformed("a column definition"))?;
                if let Some((form, _, _)) = &to_client {
                    if form.extended_metadata == extended_metadata {
                        io.write(&def);
                    } else {
                        io.write_with(|b| column_definition(b, &column, *form));
                    }
                }
                parsed.push(column);
            } else if to_client.is_some() {
                io.write(&def);
            }
        }
        if let (Some(stmt), true) = (stmt, to_client.is_some()) {
            stmt.update_columns_metadata(parsed);
        }
        if !conn.deprecates_eof() {
            conn.raw_read().await.map_err(backend)?; // the EOF after the definitions
        }
    }
    if let Some((form, _, _)) = &to_client {
        if !form.deprecate_eof {
            io.write(&packet::eof_packet(SERVER_STATUS_AUTOCOMMIT, 0));
        }
    }
    let deprecate_eof = conn.deprecates_eof();
    let mut gone = None;
    loop {
        let p = conn.raw_read().await.map_err(backend)?;
        let terminator = p.first() == Some(&0xFE)
            && if deprecate_eof {
                p.len() < MAX_PAYLOAD_LEN
            } else {
                p.len() < 8
            };
        if terminator {
            conn.raw_end(&p, true).map_err(backend)?;
            return match gone {
                Some(e) => Err(Streamed::Client(e)),
                None => Ok(true),
            };
        }
        let Some((_, cap, rows)) = to_client.as_mut() else {
            continue;
        };
        if gone.is_some() || cap.is_some_and(|c| **rows >= c) {
            continue; // read, not sent: the client is gone, or the role's max_rows
        }
        **rows += 1;
        io.write(&p);
        if let Err(e) = io.flush_if_full().await {
            gone = Some(e);
        }
    }
}

/// A response the gateway cannot follow: the connection is in an unknown state, so it is
/// not used again (it stays marked broken) and the session ends.
fn malformed(what: &str) -> Streamed {
    Streamed::Backend(mysql_async::Error::Other(
        format!("the backend sent {what} the gateway cannot read").into(),
    ))
}

/// What the client's capabilities make of column definitions and the end of their list.
#[derive(Clone, Copy)]
struct ColumnForm {
    /// No EOF packet after the definitions (CLIENT_DEPRECATE_EOF).
    deprecate_eof: bool,
    /// Each definition carries MariaDB's extended metadata block.
    extended_metadata: bool,
}

/// A column definition packet (protocol 4.1), from the backend's column. Written here because
/// mysql_common 0.37's `Column` serializer puts the column length before the character set,
/// the reverse of the protocol (its deserializer reads them the right way round), which would
/// hand clients the length as the character set. MariaDB's extended metadata block (the data
/// type's name and format, e.g. `format=json`, which mysql2 and Connector/J read to decode
/// JSON and UUID columns) is the backend's own, from the patched mysql_common (third_party/):
/// it says what the server's result says of its columns, nothing of the tables behind them.
fn column_definition(b: &mut Vec<u8>, c: &Column, form: ColumnForm) {
    put_lenenc_bytes(b, b"def");
    put_lenenc_bytes(b, c.schema_ref());
    put_lenenc_bytes(b, c.table_ref());
    put_lenenc_bytes(b, c.org_table_ref());
    put_lenenc_bytes(b, c.name_ref());
    put_lenenc_bytes(b, c.org_name_ref());
    if form.extended_metadata {
        put_lenenc_bytes(b, c.extended_metadata_ref());
    }
    b.push(0x0c);
    b.extend_from_slice(&c.character_set().to_le_bytes());
    b.extend_from_slice(&c.column_length().to_le_bytes());
    b.push(c.column_type() as u8);
    b.extend_from_slice(&c.flags().bits().to_le_bytes());
    b.push(c.decimals());
    b.extend_from_slice(&[0, 0]);
}

/// `?` placeholders in MySQL text, outside strings, quoted names and comments.
fn count_placeholders(sql: &str) -> usize {
    sluice_policy::placeholder_count(Dialect::MySql, sql)
}

/// A backend error's message as the client may see it. MariaDB and MySQL quote the whole
/// conflicting key in a duplicate-key error (`Duplicate entry '1-s1' for key 'ah'`), and a
/// unique key may hold a column the role cannot read: the key's value is withheld, its name
/// kept. Every other message passes as it is.
fn client_message(code: u16, message: &str) -> String {
    // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME.
    if !matches!(code, 1062 | 1586) {
        return message.to_string();
    }
    match message.rfind(" for key ") {
        Some(at) => format!(
            "Duplicate entry (value withheld by Sluice){}",
            &message[at..]
        ),
        None => "Duplicate entry (value withheld by Sluice)".to_string(),
    }
}

#[cfg(test)]
mod message_tests {
    use super::client_message;

    #[test]
    fn duplicate_key_values_are_withheld_and_other_messages_kept() {
        // As MariaDB 10.11 writes it for a unique key (a, hidden).
        assert_eq!(
            client_message(1062, "Duplicate entry '1-s1' for key 'ah'"),
            "Duplicate entry (value withheld by Sluice) for key 'ah'"
        );
        // A value holding the separator: only what follows the last one is kept.
        assert_eq!(
            client_message(1062, "Duplicate entry 'v for key z' for key 'k'"),
            "Duplicate entry (value withheld by Sluice) for key 'k'"
        );
        assert!(!client_message(1586, "Duplicate entry 'secret' somewhere").contains("secret"));
        assert_eq!(
            client_message(1048, "Column 'status' cannot be null"),
            "Column 'status' cannot be null"
        );
    }
}

#[cfg(test)]
mod column_definition_tests {
    use super::{column_definition, ColumnForm};
    use mysql_async::Column;
    use mysql_common::io::ParseBuf;
    use mysql_common::proto::MyDeserialize;

    /// A column definition as MariaDB 10.11 sends it for `SELECT body FROM documents` (a JSON
    /// column), with or without the extended metadata block (`\x01\x04json`: format json).
    fn server_packet(extended: Option<&[u8]>) -> Vec<u8> {
        let mut p = Vec::new();
        for field in [
            &b"def"[..],
            b"db",
            b"documents",
            b"documents",
            b"body",
            b"body",
        ] {
            super::put_lenenc_bytes(&mut p, field);
        }
        if let Some(block) = extended {
            super::put_lenenc_bytes(&mut p, block);
        }
        p.push(0x0c);
        p.extend_from_slice(&45u16.to_le_bytes()); // utf8mb4_general_ci
        p.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        p.push(0xFC); // BLOB (LONGTEXT)
        p.extend_from_slice(&0x0090u16.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&[0, 0]);
        p
    }

    fn written(c: &Column, extended_metadata: bool) -> Vec<u8> {
        let mut b = Vec::new();
        let form = ColumnForm {
            deprecate_eof: true,
            extended_metadata,
        };
        column_definition(&mut b, c, form);
        b
    }

    #[test]
    fn the_servers_column_definition_goes_to_the_client_as_it_came() {
        let with = server_packet(Some(b"\x01\x04json"));
        let without = server_packet(None);
        let c = Column::deserialize((), &mut ParseBuf(&with)).expect("parses");
        assert_eq!(c.extended_metadata_ref(), b"\x01\x04json");
        assert_eq!(c.org_name_ref(), b"body");
        assert_eq!(c.character_set(), 45);
        // A client that negotiated extended metadata gets the server's bytes; one that did not
        // gets the definition without the block.
        assert_eq!(written(&c, true), with);
        assert_eq!(written(&c, false), without);
        // A definition without the block (a connection without the capability, or a column
        // without extended type information) is read as before, and written with an empty one.
        let c = Column::deserialize((), &mut ParseBuf(&without)).expect("parses");
        assert_eq!(c.extended_metadata_ref(), b"");
        assert_eq!(written(&c, false), without);
        assert_eq!(written(&c, true), server_packet(Some(b"")));
    }
}
