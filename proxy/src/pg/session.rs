//! One authenticated client session: every message the client sends, checked and translated,
//! and every backend reply, forwarded.
//!
//! Client messages are handled in batches that end at Sync, Query or Flush. Each message either
//! goes to the backend (translated: statement names mapped, SQL replaced by the rendered,
//! checked SQL) or is answered by the gateway itself (a denial, a ParseComplete for a statement
//! the backend already has). [`Expect`] keeps, in order, what the client must see for each
//! message, so that gateway answers and backend answers reach the client in the order the
//! protocol promises.
//!
//! A denial behaves like an error the server raised at that point: when a backend is held (a
//! transaction is open or replies are pending), a statement that fails to parse is sent in the
//! denied statement's place, so that the backend aborts the transaction exactly as PostgreSQL
//! would, and its error is replaced by the denial.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Parse};
use pgwire::messages::{DecodeContext, Message, ProtocolVersion};
use sluice_policy::roles::EffectiveRole;
use sluice_policy::{Authorized, DeallocateTarget, Denial, Dialect, StatementKind};
use sluice_tokens::Claims;

use super::backend::{error_field, Profile};
use super::frame::{Frame, FrameError, FrameReader};
use super::pool::{Pooled, Pools};
use super::wire::{self, PgError};
use super::{CancelSlot, ClientStream, PgDoor, PoolMode};
use crate::audit::{SessionLines, StatementLine};

/// Text sent to the backend in a denied statement's place: it fails in the parser, so it runs
/// nothing, and the error it raises aborts the transaction like a real error would.
const FAILING_SQL: &str = "sluice denied this statement";
/// Above this many statements prepared on one backend connection, it is reset before reuse.
const MAX_PREPARED_PER_BACKEND: usize = 1000;
/// A client that reads nothing for this long while results wait is disconnected.
/// Flush output to the client once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;

pub struct ClientInfo {
    /// Shared with the session's principal in the policy engine.
    pub claims: Arc<Claims>,
    pub user: String,
    pub peer: String,
}

/// A statement the client prepared, as checked.
#[derive(Clone)]
struct Prepared {
    client_sql: Arc<str>,
    text: Arc<StatementText>,
    backend_name: String,
    generation: u64,
    /// A DEALLOCATE, run by the gateway itself at Execute.
    local: Option<DeallocateTarget>,
    /// What running it does to the session (applied when it completes).
    effect: Option<Effect>,
    /// Parameters written into columns the role's filter pins: checked at every Bind.
    pinned: Arc<[sluice_policy::PinnedParameter]>,
}

/// What a statement does to the session beyond its result, applied when the server reports it
/// done (a statement the server refused changes nothing).
#[derive(Clone, Debug)]
enum Effect {
    /// A SET or RESET of one setting: replayed on each backend in transaction mode.
    Set(String),
    /// RESET ALL: back to the pinned values; nothing to replay.
    ResetAll,
    /// DISCARD ALL: also drops the prepared statements of the client and of the backend.
    DiscardAll,
}

impl Effect {
    fn of(s: &sluice_policy::CheckedStatement) -> Option<Effect> {
        match s.kind {
            StatementKind::Reset if s.resets_all => Some(Effect::ResetAll),
            StatementKind::Set | StatementKind::Reset => Some(Effect::Set(s.sql.clone())),
            StatementKind::Discard if s.discards_all => Some(Effect::DiscardAll),
            _ => None,
        }
    }
}

/// What a backend connection is asked to prepare: the rendered SQL and the parameter types.
#[derive(PartialEq, Eq, Debug)]
pub struct StatementText {
    pub sql: String,
    pub param_types: Vec<u32>,
}

#[derive(Clone)]
struct StatementLog {
    client_sql: Arc<str>,
    rendered: Arc<str>,
    local: Option<DeallocateTarget>,
    effect: Option<Effect>,
    /// Rows a portal has returned so far (max_rows holds across Executes of one portal).
    rows: u64,
    /// The roles' generation the statement was checked under: a portal bound before a role
    /// change is checked again before it runs (a suspended portal could otherwise go on
    /// returning what the role no longer grants).
    generation: u64,
}

/// What the client must see next, in order.
enum Expect {
    /// Gateway-made bytes, sent when reached.
    Synth(BytesMut),
    ParseComplete {
        forward: bool,
        name: String,
    },
    /// The portal the Bind creates: forgotten again if the server refuses the Bind.
    BindComplete(String),
    CloseComplete {
        forward: bool,
    },
    DescribeStatement,
    DescribePortal,
    Execute(Running),
    /// ReadyForQuery for the client's Sync.
    Sync,
    /// A simple query: everything until ReadyForQuery.
    Simple(Running),
    /// The failing statement sent for a denial: its error becomes the denial.
    Denied(PgError),
    /// A query the gateway runs for itself: swallowed until ReadyForQuery.
    Quiet,
    /// No reply: marks where the client's Parse of this statement name took effect. Skipped
    /// after an error (the server skips the Parse too), the statement was never created.
    Created(String),
}

/// Most SETs a client's session keeps for replay in transaction mode.
const MAX_SESSION_SETS: usize = 64;
/// Most statements one client may keep prepared.
const MAX_CLIENT_STATEMENTS: usize = 10_000;
/// Longest statement or portal name (PostgreSQL's identifier limit).
const MAX_NAME_BYTES: usize = 63;
/// Queued for the backend beyond this, the gateway sends it and collects the replies before
/// reading more from the client.
const MAX_UNSENT_BYTES: usize = 1 << 20;
/// Replies owed beyond this: the same.
const MAX_PENDING_REPLIES: usize = 1000;

struct Running {
    log: StatementLog,
    started: Instant,
    rows: u64,
    cap: Option<u64>,
    /// The portal an Execute reads, to carry its row count to the next Execute.
    portal: Option<String>,
    /// One entry per statement still to complete, in order.
    effects: VecDeque<Option<Effect>>,
    /// Rows the server sent for this request (all result sets), for the audit line.
    total_rows: u64,
    /// The audit line is written (one per request, at its end or at its error).
    audited: bool,
    /// A simple query sent as its family's prepared statement ([`Session::run_prepared_form`]),
    /// by its backend name: its BindComplete and NoData are not the client's.
    prepared_form: Option<String>,
    /// The prepared form runs outside a transaction block and has answered nothing yet: if the
    /// server refuses its cached plan (0A000, a table changed under it), the statement is run
    /// as text instead, as if the form had not been tried.
    retry_as_text: bool,
}

pub struct Session {
    door: Arc<PgDoor>,
    client: FrameReader<ClientStream>,
    out: BytesMut,
    info: ClientInfo,
    role: Arc<EffectiveRole>,
    role_generation: u64,
    cancel: Arc<CancelSlot>,
    statements: super::NameMap<Prepared>,
    portals: super::NameMap<StatementLog>,
    backend: Option<Pooled>,
    to_backend: BytesMut,
    expect: VecDeque<Expect>,
    /// An error happened in this extended-protocol batch: skip messages until Sync.
    failed: bool,
    /// Settings the client SET, replayed on each backend it gets in transaction mode.
    session_sets: Vec<String>,
    /// The client changed a setting that changes how PostgreSQL reads a constant
    /// ([`reads_constants`]: DateStyle, TimeZone, …), at startup or with SET or `set_config`,
    /// since the session began or last reset them all: its simple queries run as text. A
    /// prepared form's constants are read once, when it is prepared, under the settings of
    /// that moment, so forms are prepared and run only under the backend's own settings.
    settings_changed: bool,
    hasher: std::hash::RandomState,
    /// The token's principal in the policy engine (see [`sluice_policy::Principal`]).
    principal: sluice_policy::Principal,
    /// The session's audit lines (who sent them, written once).
    lines: SessionLines,
}

enum Waited {
    Client(Result<Frame, FrameError>),
    Shutdown,
    Backend,
    IdleTimeout,
}

/// Why a session ends.
pub enum End {
    /// The client said Terminate or closed the connection.
    Client,
    /// The gateway ended it (token refused, protocol violation, backend lost); the client was
    /// told why.
    Gateway(String),
}

impl Session {
    pub fn new(
        door: Arc<PgDoor>,
        client: FrameReader<ClientStream>,
        info: ClientInfo,
        role: Arc<EffectiveRole>,
        cancel: Arc<CancelSlot>,
        backend: Option<Pooled>,
    ) -> Session {
        let role_generation = door.gate.generation();
        let principal = door
            .gate
            .principal(info.claims.clone(), Dialect::PostgreSql, None);
        Session {
            door,
            client,
            out: BytesMut::new(),
            info,
            role,
            role_generation,
            cancel,
            statements: super::NameMap::default(),
            portals: super::NameMap::default(),
            backend,
            to_backend: BytesMut::new(),
            expect: VecDeque::new(),
            failed: false,
            session_sets: Vec::new(),
            settings_changed: false,
            hasher: std::hash::RandomState::new(),
            principal,
            lines: SessionLines::default(),
        }
    }

    /// Settings from the startup packet, already checked as SETs: replayed on every backend
    /// connection the session gets, as the client's own SETs are.
    pub fn start_with_settings(&mut self, sets: Vec<String>) {
        self.settings_changed = sets.iter().any(|s| reads_constants(s));
        self.session_sets = sets;
        // Session pool mode: the backend is already held, and no later acquire replays them.
        if let Some(mut conn) = self.backend.take() {
            self.replay_session_sets(&mut conn);
            self.backend = Some(conn);
        }
    }

    /// Queues the session's settings for a backend connection it has just got, one query each
    /// (so that one the server now refuses does not undo the others).
    fn replay_session_sets(&mut self, conn: &mut Pooled) {
        for sql in &self.session_sets {
            encode_query(sql, &mut self.to_backend);
            self.expect.push_back(Expect::Quiet);
        }
        if !self.session_sets.is_empty() {
            conn.prepared.remove("");
            conn.dirty = true;
        }
    }

    pub fn door(&self) -> &Arc<PgDoor> {
        &self.door
    }

    /// Who the client is (for the disconnect line).
    pub fn info(&self) -> &ClientInfo {
        &self.info
    }

    /// Serves the client until the session ends; then its backend connection goes back to
    /// the pool.
    ///
    /// An idle client costs what this loop holds while it waits, for as long as the client
    /// stays connected: the wait of a session that holds nothing (no backend, no reply owed)
    /// is the small one of [`Session::wait_idle`], and everything else (the fuller wait, the
    /// message handlers, the writes) is boxed and freed when it is done. This is what lets one
    /// gateway hold many idle clients.
    pub async fn run(&mut self) -> End {
        // Anything queued for the client before the first wait, and the buffers let go.
        let mut end = Box::pin(self.send_owed()).await;
        while end.is_none() {
            let waited = if self.backend.is_none() && self.expect.is_empty() {
                self.wait_idle().await
            } else {
                Box::pin(self.wait_for_client()).await
            };
            end = Box::pin(self.turn(waited)).await;
        }
        if let Some(mut b) = self.backend.take() {
            // Replies still owed (the client left mid-batch): the connection's state is unknown.
            if !self.expect.is_empty() || !self.to_backend.is_empty() {
                b.broken = true;
            }
            self.give_back(b);
        }
        end.unwrap_or(End::Client)
    }

    /// Gives the session's backend connection back to its pool. One a cancel request was sent
    /// toward is closed instead: the request may still be on its way, and would cancel the
    /// next client's statement.
    fn give_back(&mut self, mut b: Pooled) {
        if self.cancel.clear() {
            b.broken = true;
        }
        Pools::release(b);
    }

    /// Writes what the client is owed, then lets go of the buffers: an idle session holds none
    /// (they are taken again, at their first use, by the next statement). `Some` when the
    /// session has ended.
    async fn send_owed(&mut self) -> Option<End> {
        if let Err(e) = self.flush_client().await {
            return Some(End::Gateway(format!("client write failed: {e}")));
        }
        if self.to_backend.is_empty() && self.to_backend.capacity() > 0 {
            self.to_backend = BytesMut::new();
        }
        if self.out.capacity() > 0 {
            self.out = BytesMut::new();
        }
        None
    }

    /// The wait of a session that holds nothing: the client's next message, or the shutdown.
    async fn wait_idle(&mut self) -> Waited {
        let mut shutdown = self.door.shutdown.clone();
        tokio::select! {
            f = self.client.next_idle() => Waited::Client(f),
            _ = shutdown.wait_for(|down| *down) => Waited::Shutdown,
        }
    }

    /// What the wait brought, handled, and what that owes the client sent. `Some` when the
    /// session has ended.
    async fn turn(&mut self, waited: Waited) -> Option<End> {
        if let Some(end) = self.answer(waited).await {
            return Some(end);
        }
        self.send_owed().await
    }

    /// What the wait brought, handled. `Some` when the session has ended.
    async fn answer(&mut self, waited: Waited) -> Option<End> {
        let next = match waited {
            Waited::Client(f) => f,
            Waited::Shutdown => {
                return Some(self.fatal(PgError::fatal("57P01", "the gateway is shutting down")
                    .hint("reconnect: another gateway instance, or this one after its restart, will serve you")).await);
            }
            Waited::IdleTimeout => {
                return Some(
                    self.fatal(
                        PgError::fatal(
                            "25P03",
                            "the session sat idle in the middle of a batch (no Sync) for longer than the idle-transaction timeout",
                        )
                        .hint("end each batch with Sync"),
                    )
                    .await,
                );
            }
            Waited::Backend => return self.backend_spoke().await.err(),
        };
        let frame = match next {
            Ok(f) => f,
            Err(FrameError::Closed) => return Some(End::Client),
            Err(FrameError::TooLarge { len, limit }) => {
                return Some(
                    self.fatal(
                        PgError::fatal(
                            "54000",
                            format!(
                            "message of {len} bytes exceeds the gateway's limit of {limit} bytes"
                        ),
                        )
                        .hint("send smaller statements or parameters"),
                    )
                    .await,
                )
            }
            Err(e) => return Some(End::Gateway(format!("client read failed: {e}"))),
        };
        if frame.tag == b'X' {
            return Some(End::Client);
        }
        let mut result = self.handle(frame).await;
        if result.is_ok()
            && (self.to_backend.len() > MAX_UNSENT_BYTES || self.expect.len() > MAX_PENDING_REPLIES)
        {
            result = self.settle().await;
        }
        match result {
            Err(e) if e.severity == "FATAL" => Some(self.fatal(e).await),
            // Non-fatal errors raised outside a batch's flow are already queued.
            _ => None,
        }
    }

    /// Waits for the client's next message. Meanwhile a shutdown ends an idle session, and a
    /// held backend that speaks unprompted (a notice, or its goodbye when it ends an idle
    /// transaction) is heard at once rather than at the client's next statement.
    async fn wait_for_client(&mut self) -> Waited {
        let idle = self.backend.as_ref().is_none_or(|b| b.status == b'I') && self.expect.is_empty();
        let mut shutdown = self.door.shutdown.clone();
        let client = &mut self.client;
        let backend = self.backend.as_mut().filter(|_| self.expect.is_empty());
        let watch_backend = backend.is_some();
        // A batch flushed but not synced holds its backend, and the server's idle-transaction
        // timer does not run (it starts at ReadyForQuery): the gateway keeps that time itself.
        let unsynced = backend.as_ref().is_some_and(|b| b.unsynced);
        let idle_limit = self.door.idle_transaction_timeout;
        tokio::select! {
            f = client.next_idle() => Waited::Client(f),
            _ = async { let _ = shutdown.wait_for(|down| *down).await; }, if idle => Waited::Shutdown,
            // A real read, not a readiness wait: readiness can stay set after the last reply
            // was read, and then the session would block on a backend with nothing to say.
            _ = async {
                match backend {
                    Some(b) if b.reader.buffered() == 0 => { let _ = b.reader.fill().await; }
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }, if watch_backend => Waited::Backend,
            _ = tokio::time::sleep(idle_limit), if unsynced => Waited::IdleTimeout,
        }
    }

    /// The held backend sent something while no reply was expected.
    async fn backend_spoke(&mut self) -> Result<(), End> {
        let Some(b) = self.backend.as_mut() else {
            return Ok(());
        };
        match b.recv_for_client().await {
            Ok(frame) if matches!(frame.tag, b'N' | b'A') => {
                self.out.extend_from_slice(&frame.bytes);
                Ok(())
            }
            Ok(frame) if frame.tag == b'S' => {
                self.parameter_status(&frame);
                Ok(())
            }
            Ok(frame) if frame.tag == b'E' => {
                // A FATAL from the backend (idle transaction timeout, administrator shutdown):
                // the client learns why, and the session ends with the backend's.
                b.broken = true;
                self.out.extend_from_slice(&frame.bytes);
                let _ = self.flush_client().await;
                Err(End::Gateway(format!(
                    "the backend ended the connection: {}",
                    super::backend::error_message(&frame)
                )))
            }
            Ok(_) => Err(self
                .fatal(PgError::fatal(
                    "08P01",
                    "the database sent a message the gateway did not expect; the session is closed",
                ))
                .await),
            Err(e) => Err(self.fatal(backend_lost(e)).await),
        }
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), PgError> {
        match frame.tag {
            b'Q' => self.on_query(frame).await,
            b'P' => self.on_parse(frame).await,
            b'B' => self.on_bind(frame).await,
            b'D' => self.on_describe(frame).await,
            b'E' => self.on_execute(frame).await,
            b'C' => self.on_close(frame).await,
            b'H' => self.on_flush().await,
            b'S' => self.on_sync().await,
            b'd' | b'c' | b'f' => Ok(()), // COPY data outside COPY: PostgreSQL ignores it too
            other => Err(PgError::fatal(
                "08P01",
                format!(
                    "unexpected message type {:?} from the client",
                    other as char
                ),
            )),
        }
    }

    async fn fatal(&mut self, e: PgError) -> End {
        if let Some(b) = self.backend.as_mut() {
            b.broken = true;
        }
        e.encode(&mut self.out);
        let _ = self.flush_client().await;
        End::Gateway(e.message)
    }

    // ---- per-statement checks -------------------------------------------------------------

    /// The token is still valid and its role still exists (refreshing the role after a
    /// reload). A refused token ends the session.
    fn check_token(&mut self) -> Result<(), PgError> {
        let gate = &self.door.gate;
        gate.recheck(&self.info.claims, crate::now_unix())
            .map_err(|r| {
                PgError::fatal("28P01", format!("token refused: {}", r.reason))
                    .hint("get a new token and reconnect")
            })?;
        if gate.generation() != self.role_generation {
            match gate.role(&self.info.claims) {
                Some(role) => {
                    self.role = role;
                    self.role_generation = gate.generation();
                    self.recheck_session_sets();
                }
                None => {
                    return Err(PgError::fatal(
                        "28P01",
                        format!(
                            "token refused: role {} no longer exists",
                            self.info.claims.role
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Counts `n` statements against the token's rate limit.
    fn count(&self, n: usize) -> Result<(), PgError> {
        self.door
            .gate
            .admit(&self.info.claims, &self.role, n)
            .map_err(|r| PgError::error("53400", r.to_string()))
    }

    /// Statement and portal names: PostgreSQL's identifier length at most.
    fn check_name(&self, name: &str) -> Result<(), PgError> {
        if name.len() > MAX_NAME_BYTES {
            return Err(PgError::error(
                "42622",
                format!("statement and portal names are limited to {MAX_NAME_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    fn authorize(&mut self, sql: &str) -> (Arc<Result<Authorized, Denial>>, u64) {
        self.door.gate.authorize_as(&mut self.principal, sql)
    }

    fn profile(&self) -> Profile {
        self.door.profile(&self.role)
    }

    // ---- simple query ---------------------------------------------------------------------

    async fn on_query(&mut self, frame: Frame) -> Result<(), PgError> {
        // Messages before this Query that were not synced (a Flush-style batch) run first, as
        // the server runs them; if one failed, the server skips this Query too.
        self.settle().await?;
        if self.failed {
            return Ok(());
        }
        let query = decode_query(&frame)?;
        self.check_token()?;
        let (decision, _) = self.authorize(&query);
        let weight = match &*decision {
            Ok(auth) => auth.statements.len().max(1),
            Err(_) => 1,
        };
        if let Err(e) = self.count(weight) {
            self.audit_denied(&query, None, &e.message).await;
            self.deny_simple(e).await;
            return self.drive().await;
        }
        match &*decision {
            Err(denial) => {
                self.audit_denied(&query, Some(denial), &denial.message)
                    .await;
                self.deny_simple(denial_error(denial)).await;
            }
            Ok(auth) if auth.statements.is_empty() => {
                let status = self.backend.as_ref().map_or(b'I', |b| b.status);
                self.synth(|out| {
                    wire::empty_query(out);
                    wire::ready(out, status);
                });
            }
            Ok(auth)
                if auth
                    .statements
                    .iter()
                    .any(|s| s.kind == StatementKind::Deallocate) =>
            {
                if auth
                    .statements
                    .iter()
                    .all(|s| s.kind == StatementKind::Deallocate)
                {
                    self.deallocate(&auth.statements);
                } else {
                    let e = PgError::error(
                        "0A000",
                        "DEALLOCATE must be sent on its own, not with other statements",
                    );
                    self.deny_simple(e).await;
                }
            }
            Ok(auth) => {
                let rendered: Arc<str> = match auth.statements.as_slice() {
                    [one] => Arc::from(one.sql.as_str()),
                    several => Arc::from(
                        several
                            .iter()
                            .map(|s| s.sql.as_str())
                            .collect::<Vec<_>>()
                            .join(";\n"),
                    ),
                };
                if let Err(e) = self.ensure_backend().await {
                    self.deny_simple(e).await;
                    return self.drive().await;
                }
                // A member of a known family, its literals all compared with columns, runs as
                // the family's prepared statement (outside a failed transaction, where the
                // Parse would fail for that reason alone): the server plans it once.
                let bindable = match auth.statements.as_slice() {
                    [one] if self.door.prepare_families && !self.settings_changed => {
                        one.bindable.as_ref()
                    }
                    _ => None,
                }
                .filter(|_| self.backend.as_ref().is_some_and(|b| b.status != b'E'));
                let prepared_form = match bindable {
                    Some(b) => Some(self.run_prepared_form(b)),
                    None => {
                        encode_query(&rendered, &mut self.to_backend);
                        if let Some(b) = self.backend.as_mut() {
                            // A simple query destroys the unnamed statement.
                            b.prepared.remove("");
                        }
                        None
                    }
                };
                // A simple query destroys the unnamed statement and portal (the prepared form's
                // own run replaces the backend's unnamed portal).
                self.statements.remove("");
                self.portals.remove("");
                let log = StatementLog {
                    client_sql: Arc::from(query),
                    rendered,
                    local: None,
                    effect: None,
                    rows: 0,
                    generation: self.role_generation,
                };
                let effects = auth.statements.iter().map(Effect::of).collect();
                let mut run = self.running(log, None, effects);
                // Not within a transaction block, nor after a flushed batch not yet synced (an
                // implicit transaction the refusal would have rolled back).
                run.retry_as_text = prepared_form.is_some()
                    && self
                        .backend
                        .as_ref()
                        .is_some_and(|b| b.status == b'I' && !b.unsynced);
                run.prepared_form = prepared_form;
                self.expect.push_back(Expect::Simple(run));
            }
        }
        self.drive().await
    }

    /// Queues a simple query's statement as its family's prepared statement: Parse (once per
    /// backend connection), then Bind of the literals as text values, Describe, Execute and
    /// Sync. The client sees what the simple query would have sent: the BindComplete and a
    /// NoData are swallowed (see [`Running::prepared_form`]).
    /// Returns the statement's backend name.
    fn run_prepared_form(&mut self, b: &sluice_policy::Bindable) -> String {
        let types = || b.values.iter().map(|(t, _)| t.pg_oid());
        let id = types().fold(b.id, |h, t| h.rotate_left(5) ^ u64::from(t));
        let name = format!("sluice_f{id:016x}");
        self.prepare_text(
            &name,
            |t| *t.sql == *b.template && t.param_types.iter().copied().eq(types()),
            || {
                Arc::new(StatementText {
                    sql: b.template.to_string(),
                    param_types: types().collect(),
                })
            },
            false,
        );
        let out = &mut self.to_backend;
        // Written here rather than through pgwire's messages, which would copy every value
        // into a buffer of its own. Bind: unnamed portal, the statement, no parameter formats
        // (text), the values, no result formats (text).
        let values: usize = b.values.iter().map(|(_, v)| 4 + v.len()).sum();
        let len = 4 + 1 + name.len() + 1 + 2 + 2 + values + 2;
        out.reserve(len + 1 + 6 + 10 + 5);
        out.put_u8(b'B');
        out.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
        out.put_u8(0);
        out.put_slice(name.as_bytes());
        out.put_u8(0);
        out.put_i16(0);
        out.put_i16(i16::try_from(b.values.len()).unwrap_or(i16::MAX));
        for (_, v) in &b.values {
            out.put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
            out.put_slice(v.as_bytes());
        }
        out.put_i16(0);
        // Describe the unnamed portal (its RowDescription is the simple query's).
        out.put_u8(b'D');
        out.put_i32(6);
        out.put_u8(b'P');
        out.put_u8(0);
        // Execute it, all rows.
        out.put_u8(b'E');
        out.put_i32(9);
        out.put_u8(0);
        out.put_i32(0);
        out.put_u8(b'S');
        out.put_i32(4);
        name
    }

    /// Sends what is queued with a Flush and collects every reply owed, so that what comes
    /// next starts from a known state.
    async fn settle(&mut self) -> Result<(), PgError> {
        if self.expect.is_empty() && self.to_backend.is_empty() {
            return Ok(());
        }
        if self.backend.is_some() {
            self.to_backend.put_u8(b'H');
            self.to_backend.put_i32(4);
        }
        self.drive().await
    }

    /// DEALLOCATE names the client's statements, which live in the gateway: answered here,
    /// never sent to a backend (whose statement names are the gateway's).
    fn deallocate(&mut self, statements: &[sluice_policy::CheckedStatement]) {
        let mut out = BytesMut::new();
        for target in statements.iter().filter_map(|s| s.deallocate.as_ref()) {
            match self.deallocate_one(target) {
                Ok(tag) => wire::command_complete(&mut out, tag),
                Err(e) => {
                    e.encode(&mut out);
                    break;
                }
            }
        }
        wire::ready(&mut out, self.backend.as_ref().map_or(b'I', |b| b.status));
        self.expect.push_back(Expect::Synth(out));
    }

    /// Forgets the client's statement(s); the command tag PostgreSQL would send.
    fn deallocate_one(&mut self, target: &DeallocateTarget) -> Result<&'static str, PgError> {
        match target {
            DeallocateTarget::All => {
                self.statements.clear();
                Ok("DEALLOCATE ALL")
            }
            DeallocateTarget::Name(name) if self.statements.remove(name).is_some() => {
                Ok("DEALLOCATE")
            }
            DeallocateTarget::Name(name) => Err(PgError::error(
                "26000",
                format!("prepared statement \"{name}\" does not exist"),
            )),
        }
    }

    /// Queues gateway-made replies, in order with the backend's.
    fn synth(&mut self, write: impl FnOnce(&mut BytesMut)) {
        let mut out = BytesMut::new();
        write(&mut out);
        self.expect.push_back(Expect::Synth(out));
    }

    /// After a role change, the settings replayed on each backend (transaction mode) are
    /// checked again: one the role no longer allows is dropped, with a notice, so that it
    /// cannot reach backends of the new profile (a READ WRITE on a now read-only role's pool).
    fn recheck_session_sets(&mut self) {
        let sets = std::mem::take(&mut self.session_sets);
        for sql in sets {
            let still = matches!(&*self.authorize(&sql).0,
                Ok(auth) if auth.statements.len() == 1 && auth.statements[0].sql == sql);
            if still {
                self.session_sets.push(sql);
            } else {
                wire::notice(
                    &mut self.out,
                    "01000",
                    &format!("a role change withdrew this session's setting `{sql}`; it is no longer applied"),
                );
            }
        }
    }

    /// Applies what a completed statement did to the session.
    fn apply_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Set(sql) => {
                self.settings_changed |= reads_constants(&sql);
                if self.door.pool_mode == PoolMode::Transaction {
                    self.session_sets.retain(|s| *s != sql);
                    if self.session_sets.len() >= MAX_SESSION_SETS {
                        self.session_sets.remove(0);
                    }
                    self.session_sets.push(sql);
                }
            }
            Effect::ResetAll => {
                self.session_sets.clear();
                self.settings_changed = false;
            }
            Effect::DiscardAll => {
                self.session_sets.clear();
                self.settings_changed = false;
                self.statements.clear();
                if let Some(b) = self.backend.as_mut() {
                    b.prepared.clear();
                }
            }
        }
        if let Some(b) = self.backend.as_mut() {
            b.dirty = true;
        }
    }

    async fn deny_simple(&mut self, e: PgError) {
        if self.backend.is_some() {
            let mut buf = BytesMut::new();
            encode_query(FAILING_SQL, &mut buf);
            self.to_backend.extend_from_slice(&buf);
            self.expect.push_back(Expect::Denied(e));
            // The ReadyForQuery of the failing query ends the client's query.
            self.expect.push_back(Expect::Sync);
        } else {
            let mut out = BytesMut::new();
            e.encode(&mut out);
            wire::ready(&mut out, b'I');
            self.expect.push_back(Expect::Synth(out));
        }
    }

    fn running(
        &self,
        log: StatementLog,
        portal: Option<String>,
        effects: VecDeque<Option<Effect>>,
    ) -> Running {
        Running {
            rows: log.rows,
            log,
            started: Instant::now(),
            cap: self.role.max_rows,
            portal,
            effects,
            total_rows: 0,
            audited: false,
            prepared_form: None,
            retry_as_text: false,
        }
    }

    // ---- extended query -------------------------------------------------------------------

    async fn on_parse(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.failed {
            return Ok(());
        }
        let parse = decode::<Parse>(frame)?;
        let name = parse.name.clone().unwrap_or_default();
        self.check_token()?;
        if let Err(e) = self.check_name(&name) {
            return self.deny_extended(e).await;
        }
        if !self.statements.contains_key(&name) && self.statements.len() >= MAX_CLIENT_STATEMENTS {
            let e = PgError::error(
                "54000",
                format!("this session already holds {MAX_CLIENT_STATEMENTS} prepared statements"),
            )
            .hint("close (DEALLOCATE) statements you no longer use");
            return self.deny_extended(e).await;
        }
        if let Some(oid) = parse
            .type_oids
            .iter()
            .find(|oid| !sluice_policy::pg_parameter_type_allowed(**oid))
        {
            let denial = Denial::new(
                sluice_policy::Rule::ConstructNotAllowed,
                format!(
                    "parameters declared with type OID {oid} are not allowed through Sluice; \
                     declare plain data types (text, numbers, dates, json, uuid, bytea, arrays \
                     of them) or leave the type unspecified"
                ),
            );
            self.audit_denied(&parse.query, Some(&denial), &denial.message)
                .await;
            return self.deny_extended(denial_error(&denial)).await;
        }
        let (decision, generation) = self.authorize(&parse.query);
        let auth = match &*decision {
            Err(denial) => {
                self.audit_denied(&parse.query, Some(denial), &denial.message)
                    .await;
                return self.deny_extended(denial_error(denial)).await;
            }
            Ok(auth) => auth,
        };
        if auth.statements.len() > 1 {
            let e = PgError::error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            );
            return self.deny_extended(e).await;
        }
        if !name.is_empty() && self.statements.contains_key(&name) {
            let e = PgError::error(
                "42P05",
                format!("prepared statement \"{name}\" already exists"),
            );
            return self.deny_extended(e).await;
        }
        let rendered = auth
            .statements
            .first()
            .map(|s| s.sql.clone())
            .unwrap_or_default();
        let local = auth.statements.first().and_then(|s| s.deallocate.clone());
        if auth.statements.first().map(|s| s.kind) == Some(StatementKind::Discard) {
            let e = PgError::error("0A000", "DISCARD is supported as a simple query only");
            return self.deny_extended(e).await;
        }
        let effect = auth.statements.first().and_then(Effect::of);
        let pinned: Arc<[sluice_policy::PinnedParameter]> = auth
            .statements
            .first()
            .map(|s| s.parameters.pinned.clone())
            .unwrap_or_default()
            .into();
        let text = Arc::new(StatementText {
            sql: rendered,
            param_types: parse.type_oids.clone(),
        });
        let backend_name = if name.is_empty() {
            String::new()
        } else {
            let mut h = self.hasher.build_hasher();
            h.write(text.sql.as_bytes());
            for t in &text.param_types {
                h.write_u32(*t);
            }
            format!("sluice_{:016x}", h.finish())
        };
        let prepared = Prepared {
            client_sql: Arc::from(parse.query.as_str()),
            text,
            backend_name,
            generation,
            local,
            effect,
            pinned,
        };
        if prepared.local.is_some() {
            self.synth(|out| wire::bodyless(out, b'1'));
        } else {
            if let Err(e) = self.ensure_backend().await {
                return self.deny_extended(e).await;
            }
            self.prepare_on_backend(&prepared, true);
        }
        self.statements.insert(name.clone(), prepared);
        self.expect.push_back(Expect::Created(name));
        Ok(())
    }

    /// Makes sure the held backend has `p` prepared under its backend name, sending a Parse if
    /// not. `for_client`: the client sent this Parse and must see a ParseComplete for it.
    fn prepare_on_backend(&mut self, p: &Prepared, for_client: bool) {
        // The same text is most often the same allocation (the statement's own): no compare.
        self.prepare_text(
            &p.backend_name,
            |t| std::ptr::eq(t, &*p.text) || *t == *p.text,
            || p.text.clone(),
            for_client,
        );
    }

    /// Makes sure the held backend has a statement prepared as `name` whose text passes
    /// `same`, sending a Parse of `text()` if not. `for_client`: the client sent this Parse
    /// and must see a ParseComplete for it.
    fn prepare_text(
        &mut self,
        name: &str,
        same: impl FnOnce(&StatementText) -> bool,
        text: impl FnOnce() -> Arc<StatementText>,
        for_client: bool,
    ) {
        let Some(b) = self.backend.as_mut() else {
            return;
        };
        if let Some(i) = b.stale.iter().position(|n| n == name) {
            b.stale.swap_remove(i);
            encode_close(b'S', name, &mut self.to_backend);
            self.expect
                .push_back(Expect::CloseComplete { forward: false });
        }
        let have = b.prepared.get(name);
        if have.is_some_and(|t| same(t)) {
            if for_client {
                let mut out = BytesMut::new();
                wire::bodyless(&mut out, b'1');
                self.expect.push_back(Expect::Synth(out));
            }
            return;
        }
        if have.is_some() && !name.is_empty() {
            // Same name, other text (a hash collision): replace it.
            encode_close(b'S', name, &mut self.to_backend);
            self.expect
                .push_back(Expect::CloseComplete { forward: false });
        }
        let text = text();
        encode_parse(name, &text, &mut self.to_backend);
        b.prepared.insert(name.to_string(), text);
        if b.prepared.len() > MAX_PREPARED_PER_BACKEND {
            b.dirty = true;
        }
        self.expect.push_back(Expect::ParseComplete {
            forward: for_client,
            name: name.to_string(),
        });
    }

    /// The client's statement `name`, re-checked if the roles changed since it was prepared.
    fn statement(&mut self, name: &str) -> Result<Prepared, PgError> {
        let Some(p) = self.statements.get(name).cloned() else {
            return Err(PgError::error(
                "26000",
                format!("prepared statement \"{name}\" does not exist"),
            ));
        };
        if p.generation == self.door.gate.generation() {
            return Ok(p);
        }
        let (decision, generation) = self.authorize(&p.client_sql);
        match &*decision {
            Ok(auth) if auth.statements.len() <= 1 => {
                let sql = auth
                    .statements
                    .first()
                    .map(|s| s.sql.clone())
                    .unwrap_or_default();
                let pinned = auth
                    .statements
                    .first()
                    .map(|s| &s.parameters.pinned[..])
                    .unwrap_or_default();
                if sql != p.text.sql || pinned != &p.pinned[..] {
                    // The role change rewrites this statement differently: the old text must
                    // not run. The client prepares it again.
                    self.statements.remove(name);
                    return Err(PgError::error(
                        "26000",
                        format!("prepared statement \"{name}\" was invalidated by a role change; prepare it again"),
                    ));
                }
                let mut p = p;
                p.generation = generation;
                self.statements.insert(name.to_string(), p.clone());
                Ok(p)
            }
            Ok(_) => Err(PgError::error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )),
            Err(denial) => {
                self.statements.remove(name);
                Err(denial_error(denial))
            }
        }
    }

    /// A portal bound before the roles changed runs only if its statement is still allowed
    /// and rewritten to the very text it was bound with; otherwise it is closed and refused.
    fn portal_still_allowed(&mut self, name: &str, log: &StatementLog) -> Result<(), PgError> {
        let current = self.door.gate.generation();
        if log.generation == current || log.local.is_some() {
            return Ok(());
        }
        let (decision, generation) = self.authorize(&log.client_sql);
        let same = match &*decision {
            Ok(auth) => {
                auth.statements.len() == 1 && auth.statements[0].sql.as_str() == &*log.rendered
            }
            Err(_) => false,
        };
        if same {
            if let Some(p) = self.portals.get_mut(name) {
                p.generation = generation;
            }
            return Ok(());
        }
        // The server's portal stays until the transaction ends; the client can no longer
        // reach it through the gateway.
        self.portals.remove(name);
        Err(match &*decision {
            Err(denial) => denial_error(denial),
            Ok(_) => PgError::error(
                "34000",
                format!("portal \"{name}\" was invalidated by a role change; bind it again"),
            ),
        })
    }

    async fn on_bind(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.failed {
            return Ok(());
        }
        let mut bind = decode::<Bind>(frame)?;
        let name = bind.statement_name.clone().unwrap_or_default();
        let portal = bind.portal_name.clone().unwrap_or_default();
        if let Err(e) = self.check_name(&portal) {
            return self.deny_extended(e).await;
        }
        // PostgreSQL refuses to bind a named portal that exists, and keeps the old one: the
        // gateway refuses it itself, so its record of the portal (what it runs, its effect on
        // the session, its row count) stays the server's. Forwarded, the failed Bind would
        // leave the record describing a portal that never came to be.
        if !portal.is_empty() && self.portals.contains_key(&portal) {
            return self
                .deny_extended(PgError::error(
                    "42P03",
                    format!("cursor \"{portal}\" already exists"),
                ))
                .await;
        }
        let p = match self.statement(&name) {
            Ok(p) => p,
            Err(e) => return self.deny_extended(e).await,
        };
        // A value written into a column the role's filter pins must be the token's, decided on
        // this Bind's own values.
        if let Some(pin) = p
            .pinned
            .iter()
            .find(|pin| !bound_value_holds(pin, &bind, &p.text.param_types))
        {
            let denial = pin.refusal();
            self.audit_denied(&p.client_sql, Some(&denial), &denial.message)
                .await;
            return self.deny_extended(denial_error(&denial)).await;
        }
        if p.local.is_some() {
            self.portals.insert(
                bind.portal_name.clone().unwrap_or_default(),
                StatementLog {
                    client_sql: p.client_sql.clone(),
                    rendered: Arc::from(""),
                    local: p.local.clone(),
                    effect: None,
                    rows: 0,
                    generation: p.generation,
                },
            );
            self.synth(|out| wire::bodyless(out, b'2'));
            return Ok(());
        }
        if let Err(e) = self.ensure_backend().await {
            return self.deny_extended(e).await;
        }
        self.prepare_on_backend(&p, false);
        bind.statement_name = Some(p.backend_name.clone());
        wire::encode(&bind, &mut self.to_backend);
        self.portals.insert(
            bind.portal_name.clone().unwrap_or_default(),
            StatementLog {
                client_sql: p.client_sql.clone(),
                rendered: Arc::from(p.text.sql.as_str()),
                local: p.local.clone(),
                effect: p.effect.clone(),
                rows: 0,
                generation: p.generation,
            },
        );
        self.expect.push_back(Expect::BindComplete(portal));
        Ok(())
    }

    async fn on_describe(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.failed {
            return Ok(());
        }
        let mut d = decode::<Describe>(frame)?;
        if d.target_type == b'S' {
            let name = d.name.clone().unwrap_or_default();
            let p = match self.statement(&name) {
                Ok(p) => p,
                Err(e) => return self.deny_extended(e).await,
            };
            if p.local.is_some() {
                // No parameters, no rows.
                self.synth(|out| {
                    out.put_u8(b't');
                    out.put_i32(6);
                    out.put_i16(0);
                    wire::bodyless(out, b'n');
                });
                return Ok(());
            }
            if let Err(e) = self.ensure_backend().await {
                return self.deny_extended(e).await;
            }
            self.prepare_on_backend(&p, false);
            d.name = Some(p.backend_name.clone());
            wire::encode(&d, &mut self.to_backend);
            self.expect.push_back(Expect::DescribeStatement);
        } else if let Some(portal) = self.portals.get(d.name.as_deref().unwrap_or_default()) {
            if portal.local.is_some() {
                self.synth(|out| wire::bodyless(out, b'n'));
                return Ok(());
            }
            if let Err(e) = self.ensure_backend().await {
                return self.deny_extended(e).await;
            }
            wire::encode(&d, &mut self.to_backend);
            self.expect.push_back(Expect::DescribePortal);
        } else {
            let name = d.name.clone().unwrap_or_default();
            return self.deny_extended(no_portal(&name)).await;
        }
        Ok(())
    }

    async fn on_execute(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.failed {
            return Ok(());
        }
        let ex = decode::<Execute>(frame)?;
        // A statement still running ahead of this one in the same pipeline may take any time:
        // let it finish, so that the token is checked right before this one runs.
        if self.expect.iter().any(|e| matches!(e, Expect::Execute(_))) {
            self.settle().await?;
            if self.failed {
                return Ok(());
            }
        }
        let portal = ex.name.clone().unwrap_or_default();
        // Only portals this client bound: a name that reached the backend otherwise could be a
        // portal left there by someone else.
        let Some(log) = self.portals.get(&portal).cloned() else {
            return self.deny_extended(no_portal(&portal)).await;
        };
        self.check_token()?;
        if let Err(e) = self.portal_still_allowed(&portal, &log) {
            self.audit_denied(&log.client_sql, None, &e.message).await;
            return self.deny_extended(e).await;
        }
        if let Err(e) = self.count(1) {
            self.audit_denied(&log.client_sql, None, &e.message).await;
            return self.deny_extended(e).await;
        }
        if let Some(target) = log.local.clone() {
            return match self.deallocate_one(&target) {
                Ok(tag) => {
                    self.synth(|out| wire::command_complete(out, tag));
                    Ok(())
                }
                Err(e) => self.deny_extended(e).await,
            };
        }
        if let Err(e) = self.ensure_backend().await {
            return self.deny_extended(e).await;
        }
        wire::encode(&ex, &mut self.to_backend);
        let effects = VecDeque::from([log.effect.clone()]);
        let run = self.running(log, Some(portal), effects);
        self.expect.push_back(Expect::Execute(run));
        Ok(())
    }

    async fn on_close(&mut self, frame: Frame) -> Result<(), PgError> {
        if self.failed {
            return Ok(());
        }
        let c = decode::<Close>(frame)?;
        let name = c.name.clone().unwrap_or_default();
        if c.target_type == b'S' {
            // The backend keeps its copy: another client may use the same statement, and the
            // connection is reset when it holds too many.
            self.statements.remove(&name);
            let mut out = BytesMut::new();
            wire::bodyless(&mut out, b'3');
            self.expect.push_back(Expect::Synth(out));
        } else {
            // Closing a portal that does not exist is not an error in PostgreSQL; one this
            // client did not bind is never closed on the backend.
            if self.portals.remove(&name).is_some() && self.backend.is_some() {
                wire::encode(&c, &mut self.to_backend);
                self.expect
                    .push_back(Expect::CloseComplete { forward: true });
            } else {
                let mut out = BytesMut::new();
                wire::bodyless(&mut out, b'3');
                self.expect.push_back(Expect::Synth(out));
            }
        }
        Ok(())
    }

    async fn on_flush(&mut self) -> Result<(), PgError> {
        if self.backend.is_some() {
            self.to_backend.put_u8(b'H');
            self.to_backend.put_i32(4);
        }
        self.drive().await
    }

    async fn on_sync(&mut self) -> Result<(), PgError> {
        self.failed = false;
        if self.backend.is_some() {
            self.to_backend.put_u8(b'S');
            self.to_backend.put_i32(4);
            self.expect.push_back(Expect::Sync);
        } else {
            let mut out = BytesMut::new();
            wire::ready(&mut out, b'I');
            self.expect.push_back(Expect::Synth(out));
        }
        self.drive().await
    }

    /// A denial inside an extended-protocol batch: report it in order and skip until Sync.
    async fn deny_extended(&mut self, e: PgError) -> Result<(), PgError> {
        self.failed = true;
        if self.backend.is_some() {
            let failing = Arc::new(StatementText {
                sql: FAILING_SQL.to_string(),
                param_types: Vec::new(),
            });
            encode_parse("", &failing, &mut self.to_backend);
            if let Some(b) = self.backend.as_mut() {
                b.prepared.remove("");
            }
            self.expect.push_back(Expect::Denied(e));
        } else {
            let mut out = BytesMut::new();
            e.encode(&mut out);
            self.expect.push_back(Expect::Synth(out));
        }
        Ok(())
    }

    // ---- backend ---------------------------------------------------------------------------

    async fn ensure_backend(&mut self) -> Result<(), PgError> {
        if self.backend.is_some() {
            return Ok(());
        }
        let mut conn = self
            .door
            .pools
            .acquire(&self.profile())
            .await
            .map_err(|e| e.client_error(false))?;
        self.cancel.set(conn.addr, conn.pid, conn.secret);
        self.replay_session_sets(&mut conn);
        self.backend = Some(conn);
        Ok(())
    }

    /// Sends what is queued for the backend and forwards replies until every expected reply
    /// has arrived.
    async fn drive(&mut self) -> Result<(), PgError> {
        loop {
            // Replies can queue more (a reset when a session's connection is released).
            if !self.to_backend.is_empty() {
                let Some(b) = self.backend.as_mut() else {
                    return Err(PgError::fatal(
                        "XX000",
                        "internal error: messages queued without a backend",
                    ));
                };
                if let Err(e) = b.send(&self.to_backend).await {
                    return Err(backend_lost(e));
                }
                self.to_backend.clear();
            }
            self.emit_synthesized();
            if self.expect.is_empty() {
                break;
            }
            if self.out.len() >= FLUSH_AT {
                self.flush_client()
                    .await
                    .map_err(|e| PgError::fatal("08006", e.to_string()))?;
            }
            let Some(b) = self.backend.as_mut() else {
                return Err(PgError::fatal(
                    "XX000",
                    "internal error: a reply is expected without a backend",
                ));
            };
            // Flush before blocking on the backend so the client sees rows while a long
            // statement runs.
            if b.reader.buffered() == 0 && !self.out.is_empty() {
                self.flush_client()
                    .await
                    .map_err(|e| PgError::fatal("08006", e.to_string()))?;
            }
            let b = self.backend.as_mut().expect("checked above");
            let frame = match b.recv_for_client().await {
                Ok(f) => f,
                Err(e) => return Err(backend_lost(e)),
            };
            self.on_backend(frame).await?;
        }
        if self.out.capacity() > 1 << 20 {
            let _ = self.flush_client().await;
            self.out = BytesMut::new();
        }
        Ok(())
    }

    fn emit_synthesized(&mut self) {
        while let Some(Expect::Synth(_) | Expect::Created(_)) = self.expect.front() {
            if let Some(Expect::Synth(bytes)) = self.expect.pop_front() {
                self.out.extend_from_slice(&bytes);
            }
        }
    }

    async fn on_backend(&mut self, frame: Frame) -> Result<(), PgError> {
        let desync = || {
            PgError::fatal(
                "08P01",
                "the database sent a reply the gateway did not expect; the session is closed",
            )
        };
        match frame.tag {
            // Asynchronous messages: pass through.
            b'N' | b'A' => {
                if !matches!(self.expect.front(), Some(Expect::Quiet)) {
                    self.out.extend_from_slice(&frame.bytes);
                }
                return Ok(());
            }
            b'S' => {
                if !matches!(self.expect.front(), Some(Expect::Quiet)) {
                    self.parameter_status(&frame);
                }
                return Ok(());
            }
            _ => {}
        }
        let Some(head) = self.expect.front_mut() else {
            return Err(desync());
        };
        match (frame.tag, head) {
            (b'1', Expect::ParseComplete { forward, .. }) => {
                if *forward {
                    self.out.extend_from_slice(&frame.bytes);
                }
                self.expect.pop_front();
            }
            (b'2', Expect::BindComplete(_)) => {
                self.out.extend_from_slice(&frame.bytes);
                self.expect.pop_front();
            }
            (b'3', Expect::CloseComplete { forward }) => {
                if *forward {
                    self.out.extend_from_slice(&frame.bytes);
                }
                self.expect.pop_front();
            }
            (b't', Expect::DescribeStatement) => self.out.extend_from_slice(&frame.bytes),
            (b'T' | b'n', Expect::DescribeStatement | Expect::DescribePortal) => {
                self.out.extend_from_slice(&frame.bytes);
                self.expect.pop_front();
            }
            (b'T', Expect::Simple(run)) => {
                run.rows = 0;
                run.retry_as_text = false;
                self.out.extend_from_slice(&frame.bytes);
            }
            (b'2' | b'n', Expect::Simple(run)) if run.prepared_form.is_some() => {}
            (b'D', Expect::Execute(run) | Expect::Simple(run)) => {
                run.rows += 1;
                run.total_rows += 1;
                if run.cap.is_none_or(|cap| run.rows <= cap) {
                    self.out.extend_from_slice(&frame.bytes);
                }
            }
            (b'C', Expect::Execute(run) | Expect::Simple(run)) => {
                match run.cap.filter(|cap| run.rows > *cap) {
                    Some(cap) => {
                        wire::notice(
                            &mut self.out,
                            "01000",
                            &format!(
                                "the result had {} rows; role {} returns at most {cap} (max_rows), the rest were dropped",
                                run.rows, self.role.name
                            ),
                        );
                        wire::command_complete(&mut self.out, &capped_tag(&frame, cap));
                    }
                    None => self.out.extend_from_slice(&frame.bytes),
                }
                // The next result set of a simple query counts from zero.
                let effect = run.effects.pop_front().flatten();
                // A simple query's audit line is written at its ReadyForQuery, once.
                let done = matches!(self.expect.front(), Some(Expect::Execute(_)));
                if done {
                    self.audit_done(None).await;
                }
                if let Some(Expect::Simple(run)) = self.expect.front_mut() {
                    run.rows = 0;
                }
                if let Some(effect) = effect {
                    self.apply_effect(effect);
                }
                if done {
                    self.finish_execute(0);
                }
            }
            (b'I', Expect::Execute(_)) => {
                self.out.extend_from_slice(&frame.bytes);
                self.audit_done(None).await;
                self.finish_execute(0);
            }
            (b's', Expect::Execute(run)) => {
                // The portal stays open: its rows so far count against max_rows next time.
                let rows = run.rows;
                self.out.extend_from_slice(&frame.bytes);
                self.audit_done(None).await;
                self.finish_execute(rows);
            }
            (b'I', Expect::Simple(_)) => self.out.extend_from_slice(&frame.bytes),
            (b'T' | b'D' | b'C' | b'I' | b'E', Expect::Quiet) => {
                if frame.tag == b'E' {
                    tracing::warn!(
                        "replaying a client's session settings failed: {}",
                        super::backend::error_message(&frame)
                    );
                }
            }
            (b'E', _) => self.on_backend_error(frame).await,
            (b'Z', Expect::Sync | Expect::Simple(_) | Expect::Quiet) => {
                let quiet = matches!(self.expect.front(), Some(Expect::Quiet));
                let status = frame.body().first().copied().unwrap_or(b'E');
                if let Some(Expect::Simple(run)) = self.expect.front_mut() {
                    if std::mem::take(&mut run.retry_as_text) {
                        // The prepared form's plan was refused: the statement runs as text.
                        run.prepared_form = None;
                        encode_query(&run.log.rendered, &mut self.to_backend);
                        if let Some(b) = self.backend.as_mut() {
                            b.prepared.remove("");
                            b.status = status;
                        }
                        return Ok(());
                    }
                    self.audit_done(None).await;
                }
                self.expect.pop_front();
                if !quiet {
                    self.out.extend_from_slice(&frame.bytes);
                }
                if let Some(b) = self.backend.as_mut() {
                    b.status = status;
                }
                self.maybe_release();
            }
            (b'G' | b'H' | b'W', _) => {
                return Err(PgError::fatal(
                    "0A000",
                    "COPY is not allowed through Sluice",
                ));
            }
            _ => return Err(desync()),
        }
        Ok(())
    }

    async fn on_backend_error(&mut self, frame: Frame) {
        match self.expect.front() {
            Some(Expect::Denied(e)) => {
                let e = e.clone();
                e.encode(&mut self.out);
                self.expect.pop_front();
            }
            Some(Expect::Simple(_)) => {
                let refused = error_field(&frame, b'C').as_deref() == Some("0A000");
                let (retry, form) = match self.expect.front_mut() {
                    Some(Expect::Simple(run)) => {
                        run.retry_as_text &= refused;
                        (run.retry_as_text, run.prepared_form.clone())
                    }
                    _ => (false, None),
                };
                // A prepared form that failed is not used again on this connection: after a
                // table change the server refuses its cached plan at every run.
                if let Some(name) = form {
                    if let Some(b) = self.backend.as_mut() {
                        if b.prepared.remove(&name).is_some() {
                            b.stale.push(name);
                            if b.stale.len() > MAX_PREPARED_PER_BACKEND {
                                b.dirty = true;
                            }
                        }
                    }
                }
                if retry {
                    // Nothing of it reaches the client: the statement runs again as text at
                    // this ReadyForQuery.
                    return;
                }
                self.out.extend_from_slice(&frame.bytes);
                self.audit_done(Some(&frame)).await;
                // The simple query stays the head until its ReadyForQuery.
                if let Some(Expect::Simple(run)) = self.expect.front_mut() {
                    run.cap = None;
                }
                return;
            }
            Some(Expect::ParseComplete { name, .. }) => {
                let name = name.clone();
                if let Some(b) = self.backend.as_mut() {
                    b.prepared.remove(&name);
                }
                self.out.extend_from_slice(&frame.bytes);
                self.expect.pop_front();
                // The Parse of a simple query's prepared form: the query failed, and is not
                // run again.
                if let Some(Expect::Simple(_)) = self.expect.front() {
                    self.audit_done(Some(&frame)).await;
                    if let Some(Expect::Simple(run)) = self.expect.front_mut() {
                        run.cap = None;
                        run.retry_as_text = false;
                    }
                    return;
                }
            }
            Some(Expect::BindComplete(portal)) => {
                let portal = portal.clone();
                self.portals.remove(&portal);
                self.out.extend_from_slice(&frame.bytes);
                self.expect.pop_front();
            }
            Some(Expect::Execute(_)) => {
                self.out.extend_from_slice(&frame.bytes);
                self.audit_done(Some(&frame)).await;
                self.expect.pop_front();
            }
            // An error at Sync itself (a deferred constraint failing at the implicit commit):
            // its ReadyForQuery follows.
            Some(Expect::Sync) => {
                self.out.extend_from_slice(&frame.bytes);
                return;
            }
            _ => {
                self.out.extend_from_slice(&frame.bytes);
                self.expect.pop_front();
            }
        }
        // The backend skips everything until Sync; so do the replies the client waits for. A
        // Parse it skipped prepared nothing.
        while let Some(head) = self.expect.front() {
            if matches!(head, Expect::Sync | Expect::Simple(_)) {
                break;
            }
            match self.expect.pop_front() {
                Some(Expect::ParseComplete { name, .. }) => {
                    if let Some(b) = self.backend.as_mut() {
                        b.prepared.remove(&name);
                    }
                }
                Some(Expect::Created(name)) => {
                    self.statements.remove(&name);
                }
                // A Bind the server skipped created no portal.
                Some(Expect::BindComplete(portal)) => {
                    self.portals.remove(&portal);
                }
                _ => {}
            }
        }
        // No Sync of the client's ahead (the batch was flushed, not synced): the server skips
        // the client's messages until its Sync, and so does the gateway.
        if self.expect.is_empty() {
            self.failed = true;
        }
    }

    /// Pops a completed Execute; `rows` is what its portal has returned so far, kept when the
    /// portal was suspended (0 once it is done).
    fn finish_execute(&mut self, rows: u64) {
        if let Some(Expect::Execute(run)) = self.expect.pop_front() {
            if let Some(portal) = run.portal.and_then(|p| self.portals.get_mut(&p)) {
                portal.rows = rows;
            }
        }
    }

    fn parameter_status(&mut self, frame: &Frame) {
        let name_end = frame.body().iter().position(|b| *b == 0).unwrap_or(0);
        let name = &frame.body()[..name_end];
        // Who the gateway is on the backend is not the client's business.
        if name == b"session_authorization" || name == b"is_superuser" {
            return;
        }
        self.out.extend_from_slice(&frame.bytes);
    }

    /// In transaction mode, a backend goes back to the pool as soon as it is idle.
    fn maybe_release(&mut self) {
        if !self.expect.is_empty() {
            return;
        }
        let idle = self
            .backend
            .as_ref()
            .is_some_and(|b| b.status == b'I' && !b.unsynced);
        if !idle {
            return;
        }
        // Outside a transaction no portal survives on the server.
        self.portals.clear();
        match self.door.pool_mode {
            PoolMode::Transaction => {
                if let Some(b) = self.backend.take() {
                    self.give_back(b);
                }
            }
            PoolMode::Session => {
                // A session's own connection is never recycled: reset it here when it holds
                // too many prepared statements (they are prepared again on use).
                if let Some(b) = self.backend.as_mut() {
                    if b.prepared.len() > MAX_PREPARED_PER_BACKEND {
                        b.prepared.clear();
                        encode_query("DEALLOCATE ALL", &mut self.to_backend);
                        self.expect.push_back(Expect::Quiet);
                    }
                }
            }
        }
    }

    async fn flush_client(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        crate::door::write_to_client(self.client.get_mut(), &self.out).await?;
        self.out.clear();
        Ok(())
    }

    // ---- audit ----------------------------------------------------------------------------

    /// A statement line of this session (see [`StatementLine`]); `None` when the audit trail
    /// is off.
    fn line(&self, decision: &'static str, statement: Arc<str>) -> Option<StatementLine> {
        let info = &self.info;
        self.lines.line(
            &self.door.audit,
            "postgres",
            &info.peer,
            &info.user,
            &info.claims,
            decision,
            statement,
        )
    }

    async fn audit_denied(&self, sql: &str, denial: Option<&Denial>, reason: &str) {
        let Some(mut line) = self.line("deny", Arc::from(sql)) else {
            return;
        };
        line.rule = Some(denial.map_or("rate_limit".to_string(), |d| d.rule.id().to_string()));
        line.reason = Some(reason.to_string());
        self.door.audit.record_statement(line).await;
    }

    async fn audit_done(&mut self, error: Option<&Frame>) {
        let run = match self.expect.front_mut() {
            Some(Expect::Execute(r)) | Some(Expect::Simple(r)) if !r.audited => r,
            _ => return,
        };
        run.audited = true;
        let (client_sql, rendered, rows, started) = (
            run.log.client_sql.clone(),
            run.log.rendered.clone(),
            run.total_rows,
            run.started,
        );
        let decision = if error.is_some() { "error" } else { "allow" };
        let Some(mut line) = self.line(decision, client_sql) else {
            return;
        };
        line.rendered = Some(rendered);
        line.rows = Some(rows);
        line.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        if let Some(f) = error {
            line.reason = Some(format!(
                "{}: {}",
                error_field(f, b'C').unwrap_or_default(),
                super::backend::error_message(f)
            ));
        }
        self.door.audit.record_statement(line).await;
    }
}

/// Whether the value a Bind gives a pinned column's parameter is exactly the claim. Text is
/// compared as sent; binary is read by the parameter's declared type or, undeclared, by the
/// column's (integers, text, uuid); anything else is not the claim (bind it as text).
fn bound_value_holds(pin: &sluice_policy::PinnedParameter, bind: &Bind, declared: &[u32]) -> bool {
    use sluice_policy::schema::TypeClass;
    let Some(Some(value)) = bind.parameters.get(pin.parameter) else {
        return false; // absent or NULL
    };
    let format = match bind.parameter_format_codes.as_slice() {
        [] => 0,
        [one] => *one,
        many => many.get(pin.parameter).copied().unwrap_or(-1),
    };
    let oid = declared.get(pin.parameter).copied().unwrap_or(0);
    if format == 0 {
        // The backend reads text by the declared type, and a type whose input changes the text
        // writes another value than the one compared: 'acme' declared bytea lands in a varchar
        // column as '\x61636d65', declared name is cut at 63 bytes. Only types that keep the
        // claim's text as it is.
        let keeps = match oid {
            0 | 705 | 25 | 1043 => true,
            // An integer type keeps only an integer's canonical text ('0123' would be 123,
            // which is another value in a text column). bpchar is left out: its cast to the
            // column's type drops trailing spaces.
            20 | 21 | 23 => std::str::from_utf8(value.as_ref())
                .ok()
                .and_then(|t| t.parse::<i64>().ok().map(|n| n.to_string() == t))
                .unwrap_or(false),
            2950 => pin.class == Some(TypeClass::Uuid),
            _ => false,
        };
        return keeps && pin.holds_text(value);
    }
    if format != 1 {
        return false;
    }
    let kind = match oid {
        20 | 21 | 23 => Some(TypeClass::Integer),
        25 | 1043 | 1042 | 19 => Some(TypeClass::Text),
        2950 => Some(TypeClass::Uuid),
        0 => pin.class,
        _ => None,
    };
    match kind {
        Some(TypeClass::Integer) => {
            let v: Option<i128> = match value.len() {
                2 => Some(i16::from_be_bytes([value[0], value[1]]).into()),
                4 => Some(i32::from_be_bytes(value[..4].try_into().expect("4 bytes")).into()),
                8 => Some(i64::from_be_bytes(value[..8].try_into().expect("8 bytes")).into()),
                _ => None,
            };
            v.is_some_and(|v| pin.holds_integer(v))
        }
        Some(TypeClass::Text) => pin.holds_text(value),
        Some(TypeClass::Uuid) if value.len() == 16 => {
            let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
            let text = format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            );
            pin.holds_text(text.as_bytes())
        }
        _ => false,
    }
}

/// Whether a setting statement (SET, RESET, `set_config`, as checked) may change how PostgreSQL
/// reads a constant when it parses a statement: date and time styles and zones, money's
/// locale, string escapes, array input, `= NULL`. Read from its text, so a value that merely
/// mentions one of these names counts too.
fn reads_constants(sql: &str) -> bool {
    const SETTINGS: [&str; 9] = [
        "datestyle",
        "timezone",
        "time zone",
        "intervalstyle",
        "lc_monetary",
        "standard_conforming_strings",
        "backslash_quote",
        "array_nulls",
        "transform_null_equals",
    ];
    let sql = sql.to_ascii_lowercase();
    SETTINGS.iter().any(|s| sql.contains(s))
}

fn denial_error(d: &Denial) -> PgError {
    PgError::error(
        d.sqlstate(),
        format!("{} [sluice: {}]", d.message, d.rule.id()),
    )
}

/// A command tag with its row count replaced by `cap` (`SELECT 10` → `SELECT 3`,
/// `INSERT 0 10` → `INSERT 0 3`).
fn capped_tag(frame: &Frame, cap: u64) -> String {
    let body = frame.body();
    let tag = String::from_utf8_lossy(&body[..body.len().saturating_sub(1)]);
    match tag.rsplit_once(' ') {
        Some((command, _)) => format!("{command} {cap}"),
        None => format!("{tag} {cap}"),
    }
}

fn no_portal(name: &str) -> PgError {
    PgError::error("34000", format!("portal \"{name}\" does not exist"))
}

fn backend_lost(e: super::backend::BackendError) -> PgError {
    tracing::warn!("PostgreSQL door: lost a backend connection: {e}");
    PgError::fatal(
        "08006",
        "lost the connection to the database behind the gateway",
    )
    .hint("reconnect; the gateway opens a new backend connection")
}

fn decode<M: Message>(frame: Frame) -> Result<M, PgError> {
    let tag = frame.tag;
    let mut bytes = frame.bytes;
    // pgwire's decoders trust the counts and lengths inside a message body (a parameter count
    // larger than the body, say) and panic on such input: `well_formed` checks them first. The
    // panic guard stays as a second line, should a decoder fail on something the check passes.
    if !super::frame::well_formed(tag, &bytes[5..]) {
        return Err(PgError::fatal(
            "08P01",
            format!("malformed {:?} message from the client", tag as char),
        ));
    }
    let ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        M::decode(&mut bytes, &ctx).map(|m| (m, bytes.is_empty()))
    }));
    match decoded {
        Ok(Ok((Some(m), true))) => Ok(m),
        _ => Err(PgError::fatal(
            "08P01",
            format!("malformed {:?} message from the client", tag as char),
        )),
    }
}

/// The text of a Query message: one NUL-terminated string filling the body (read as pgwire
/// reads it, invalid UTF-8 replaced).
fn decode_query(frame: &Frame) -> Result<String, PgError> {
    match frame.body().split_last() {
        Some((0, text)) if !text.contains(&0) => Ok(String::from_utf8_lossy(text).into_owned()),
        _ => Err(PgError::fatal(
            "08P01",
            "malformed 'Q' message from the client",
        )),
    }
}

fn encode_query(sql: &str, out: &mut BytesMut) {
    out.reserve(sql.len() + 6);
    out.put_u8(b'Q');
    out.put_i32(i32::try_from(sql.len() + 5).unwrap_or(i32::MAX));
    out.put_slice(sql.as_bytes());
    out.put_u8(0);
}

fn encode_parse(name: &str, text: &StatementText, out: &mut BytesMut) {
    let name = if name.is_empty() {
        None
    } else {
        Some(name.to_string())
    };
    wire::encode(
        &Parse::new(name, text.sql.clone(), text.param_types.clone()),
        out,
    );
}

fn encode_close(kind: u8, name: &str, out: &mut BytesMut) {
    wire::encode(&Close::new(kind, Some(name.to_string())), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async method returns, without calling it.
    fn future_size<A, B, F: std::future::Future>(_: impl Fn(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every client message is handled in a new box holding `turn`'s future, which is copied
    /// into it whole: its size is paid per message (issue 18). It was 6.2 KiB while taking a
    /// pooled connection carried deadpool's waiting state; the pool's waits are now boxed
    /// where they happen (`pool.rs`).
    #[test]
    fn a_message_handler_is_small() {
        let turn = future_size(Session::turn);
        assert!(
            turn <= 2048,
            "a client message's handler future is {turn} bytes"
        );
    }

    fn pin() -> sluice_policy::PinnedParameter {
        sluice_policy::PinnedParameter {
            parameter: 0,
            table: "reservations".into(),
            column: "tenant_id".into(),
            value: sluice_tokens::ClaimValue::Str("acme".into()),
            class: Some(sluice_policy::schema::TypeClass::Text),
        }
    }

    fn text_bind(value: &str) -> Bind {
        Bind::new(
            None,
            None,
            vec![0],
            vec![Some(bytes::Bytes::from(value.to_string()))],
            vec![],
        )
    }

    #[test]
    fn a_text_value_counts_only_under_a_type_that_keeps_its_text() {
        for oid in [0, 705, 25, 1043] {
            assert!(
                bound_value_holds(&pin(), &text_bind("acme"), &[oid]),
                "{oid}"
            );
        }
        assert!(bound_value_holds(&pin(), &text_bind("acme"), &[]));
        // bytea, name, json, tsvector, citext-like others: the backend would write other text.
        for oid in [17, 19, 114, 3614, 790] {
            assert!(
                !bound_value_holds(&pin(), &text_bind("acme"), &[oid]),
                "{oid}"
            );
        }
        assert!(!bound_value_holds(&pin(), &text_bind("globex"), &[25]));
        // bpchar drops trailing spaces on its way into the column.
        assert!(!bound_value_holds(&pin(), &text_bind("acme"), &[1042]));
        // An integer type keeps only an integer's canonical text.
        let mut number = pin();
        number.value = sluice_tokens::ClaimValue::Str("0123".into());
        assert!(!bound_value_holds(&number, &text_bind("0123"), &[23]));
        assert!(bound_value_holds(&number, &text_bind("0123"), &[25]));
        number.value = sluice_tokens::ClaimValue::Str("123".into());
        assert!(bound_value_holds(&number, &text_bind("123"), &[23]));
    }
}
