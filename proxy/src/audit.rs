//! The audit trail: one JSON line per decision, written in order by one task.
//!
//! Lines never hold the token or backend credentials: an event is built from claims (jti,
//! label, role, tenant) and statements, never from the password message or the backend URL.
//! Sending waits when the writer falls behind, so no event is dropped.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// RFC 3339, UTC.
    pub time: String,
    pub door: &'static str,
    pub peer: String,
    pub user: String,
    pub jti: String,
    pub label: Option<String>,
    pub role: String,
    pub tenant: Option<String>,
    /// `connect`, `statement`, `disconnect`.
    pub event: &'static str,
    /// What the client sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// What the backend ran (rendered from the checked AST).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<String>,
    /// `allow`, `deny` or `error` (allowed, but the backend reported an error).
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

impl AuditEvent {
    /// A `connect` event at `door` from `peer`, allowed until the caller says otherwise; the
    /// token's fields are filled in with [`AuditEvent::with_claims`] once it is verified.
    pub fn connect(door: &'static str, peer: &str, user: &str) -> AuditEvent {
        AuditEvent {
            time: now_rfc3339(),
            door,
            peer: peer.to_string(),
            user: user.to_string(),
            jti: String::new(),
            label: None,
            role: String::new(),
            tenant: None,
            event: "connect",
            statement: None,
            rendered: None,
            decision: "allow",
            rule: None,
            reason: None,
            rows: None,
            duration_ms: None,
        }
    }

    /// A `statement` event of a session whose token carried `claims`.
    pub fn statement(
        door: &'static str,
        peer: &str,
        user: &str,
        claims: &sluice_tokens::Claims,
        decision: &'static str,
    ) -> AuditEvent {
        let mut ev = AuditEvent::connect(door, peer, user).with_claims(claims);
        ev.event = "statement";
        ev.decision = decision;
        ev
    }

    pub fn with_claims(mut self, claims: &sluice_tokens::Claims) -> AuditEvent {
        self.jti = claims.jti.clone();
        self.label = claims.label.clone();
        self.role = claims.role.clone();
        self.tenant = claims.tenant_id.clone();
        self
    }
}

/// A statement's line from a wire session, made without copying: the session's identity was
/// written as JSON once ([`Identity`]), the texts are the session's own shared strings, and the
/// writer thread formats the time, escapes the texts and cuts long ones.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub time: SystemTime,
    pub identity: Identity,
    /// `statement`, or `prepare` (MySQL's COM_STMT_PREPARE).
    pub event: &'static str,
    /// `allow`, `deny` or `error`.
    pub decision: &'static str,
    pub statement: Arc<str>,
    pub rendered: Option<Arc<str>>,
    pub rule: Option<String>,
    pub reason: Option<String>,
    pub rows: Option<u64>,
    pub duration_ms: Option<f64>,
}

/// The fields of a session's lines that do not change from statement to statement (door,
/// peer, user, and the token's jti, label, role and tenant), as JSON members.
#[derive(Debug, Clone)]
pub struct Identity(Arc<str>);

impl Identity {
    pub fn new(
        door: &'static str,
        peer: &str,
        user: &str,
        claims: &sluice_tokens::Claims,
    ) -> Identity {
        #[derive(Serialize)]
        struct Fields<'a> {
            door: &'a str,
            peer: &'a str,
            user: &'a str,
            jti: &'a str,
            label: Option<&'a str>,
            role: &'a str,
            tenant: Option<&'a str>,
        }
        let json = serde_json::to_string(&Fields {
            door,
            peer,
            user,
            jti: &claims.jti,
            label: claims.label.as_deref(),
            role: &claims.role,
            tenant: claims.tenant_id.as_deref(),
        })
        .unwrap_or_else(|_| "{}".into());
        // The members without the braces, to be written between `time` and `event`.
        let members = json
            .strip_prefix('{')
            .and_then(|j| j.strip_suffix('}'))
            .unwrap_or("");
        Identity(Arc::from(members))
    }
}

/// A wire session's statement lines: the session's [`Identity`], written at its first line
/// (an idle session that never runs a statement holds none).
#[derive(Default)]
pub struct SessionLines {
    identity: std::sync::OnceLock<Identity>,
}

impl SessionLines {
    /// A line for `statement` with `decision`, the rest of it empty; `None` when the audit
    /// trail is off (the caller then builds nothing).
    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &self,
        audit: &Audit,
        door: &'static str,
        peer: &str,
        user: &str,
        claims: &sluice_tokens::Claims,
        decision: &'static str,
        statement: Arc<str>,
    ) -> Option<StatementLine> {
        if !audit.is_on() {
            return None;
        }
        let identity = self
            .identity
            .get_or_init(|| Identity::new(door, peer, user, claims));
        Some(StatementLine {
            time: SystemTime::now(),
            identity: identity.clone(),
            event: "statement",
            decision,
            statement,
            rendered: None,
            rule: None,
            reason: None,
            rows: None,
            duration_ms: None,
        })
    }
}

/// Where audit lines go: a shared buffer a writer thread empties, or nowhere when the audit
/// trail is off.
///
/// A line is written as JSON into the buffer by the task that records it, and the writer
/// swaps the buffer for an empty one and writes it out. Nothing crosses threads per line: no
/// queue node, no allocation freed on the other thread, no wake-up (the writer is woken by
/// the first line into an empty buffer only). What the audit trail costs a statement is
/// mostly the writer's wake-ups, which [`BATCH_WINDOW`] bounds.
#[derive(Clone)]
pub struct Audit {
    tx: Option<Arc<Sender>>,
}

/// The recording side; when the last clone of an [`Audit`] is gone, the writer writes what is
/// left and stops.
struct Sender {
    shared: Arc<Shared>,
}

struct Shared {
    state: std::sync::Mutex<State>,
    /// The writer waits here for a first line.
    wake: std::sync::Condvar,
    /// Senders wait here for room when the buffer is full.
    room: tokio::sync::Notify,
    /// [`AuditWatch::wait_written`] waits here for the writer to write a batch.
    written: std::sync::Condvar,
}

#[derive(Default)]
struct State {
    /// Lines not yet taken by the writer, in the order they were recorded.
    buf: Vec<u8>,
    writer_waiting: bool,
    closed: bool,
    /// Bytes of lines ever appended, and ever handed to the file (written or failed).
    appended_bytes: u64,
    written_bytes: u64,
}

/// Sees whether what was recorded has reached the file, without being a recording side (the
/// writer still ends when the last [`Audit`] is gone).
#[derive(Clone)]
pub struct AuditWatch {
    shared: Option<Arc<Shared>>,
}

impl AuditWatch {
    /// Waits until every line recorded before the call has been handed to the file, at most
    /// `limit`; `false` if that did not happen in time. At once without an audit trail.
    pub fn wait_written(&self, limit: std::time::Duration) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let deadline = std::time::Instant::now() + limit;
        let mut state = shared.lock();
        let target = state.appended_bytes;
        while state.written_bytes < target {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                return false;
            };
            state = shared
                .written
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// Most bytes of lines waiting for the writer; a sender past it waits for the writer to take
/// them, so a slow disk slows statements down rather than losing lines or filling memory.
const MAX_QUEUED_BYTES: usize = 8 << 20;

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl Audit {
    /// Opens `path` for appending (standard error if `None`) and starts the writer: one
    /// long-lived blocking thread, so that a statement costs formatting its line, not a trip
    /// through the runtime's blocking pool.
    pub async fn open(
        path: Option<&Path>,
    ) -> std::io::Result<(Audit, tokio::task::JoinHandle<()>)> {
        let out: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            None => Box::new(std::io::stderr()),
        };
        let shared = Arc::new(Shared {
            state: Default::default(),
            wake: std::sync::Condvar::new(),
            room: tokio::sync::Notify::new(),
            written: std::sync::Condvar::new(),
        });
        let writer = shared.clone();
        let task = tokio::task::spawn_blocking(move || write_all(&writer, out));
        Ok((
            Audit {
                tx: Some(Arc::new(Sender { shared })),
            },
            task,
        ))
    }

    /// No audit trail (`--no-audit`): events are not even built ([`Audit::is_on`]).
    pub fn off() -> (Audit, tokio::task::JoinHandle<()>) {
        (Audit { tx: None }, tokio::spawn(async {}))
    }

    /// A handle that sees when recorded lines reach the file (the test harness reads the log
    /// through it).
    pub fn watch(&self) -> AuditWatch {
        AuditWatch {
            shared: self.tx.as_ref().map(|tx| tx.shared.clone()),
        }
    }

    /// Whether events are recorded: callers skip building an event when not.
    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    pub async fn record(&self, event: AuditEvent) {
        self.append(|buf| serde_json::to_writer(buf, &event)).await
    }

    /// Records a statement's line (see [`StatementLine`]).
    pub async fn record_statement(&self, line: StatementLine) {
        self.append(|buf| push_statement(buf, &line)).await
    }

    /// Writes one line into the shared buffer with `write`, waiting for room first when the
    /// buffer is full.
    async fn append(&self, write: impl Fn(&mut Vec<u8>) -> serde_json::Result<()>) {
        let Some(tx) = &self.tx else { return };
        let shared = &*tx.shared;
        if shared.try_append(&write) {
            return;
        }
        // Full: wait for the writer to take the buffer. Boxed, so that a session's future
        // holds no room for a wait that almost never happens.
        Box::pin(async {
            loop {
                // Registered before the check: a swap after the check still wakes this.
                let room = shared.room.notified();
                if shared.try_append(&write) {
                    return;
                }
                room.await;
            }
        })
        .await
    }
}

impl Shared {
    /// Appends a line unless the buffer is full; wakes the writer if it waits for one.
    fn try_append(&self, write: &impl Fn(&mut Vec<u8>) -> serde_json::Result<()>) -> bool {
        let mut state = self.lock();
        if state.buf.len() >= MAX_QUEUED_BYTES {
            return false;
        }
        let before = state.buf.len();
        push_line(&mut state.buf, write);
        state.appended_bytes += (state.buf.len() - before) as u64;
        if state.writer_waiting {
            state.writer_waiting = false;
            drop(state);
            self.wake.notify_one();
        }
        true
    }
}

/// How long the writer lets lines gather before writing them: a line reaches the file at most
/// this much later, and a crash of the gateway loses at most this much of the trail. Each
/// wake-up of the writer costs the statements running meanwhile more than its own work (it
/// competes with them for the cores): with pgbench -S at 16 clients on two cores, a 2 ms
/// window cost 5.8 µs of the gateway's CPU per statement over --no-audit, 20 ms cost 1.1.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(20);

/// The writer thread: waits for a first line, lets a batch gather for [`BATCH_WINDOW`], takes
/// the buffer (leaving its emptied predecessor in its place) and writes it. While it sleeps or
/// writes, senders only append: none of them wakes it, so it wakes at most twice per window
/// whatever the statement rate, and a line reaches the file at most a window later. It ends
/// when every sender is gone and the buffer is written.
fn write_all(shared: &Shared, mut out: Box<dyn Write + Send>) {
    let mut batch = Vec::new();
    loop {
        {
            let mut state = shared.lock();
            while state.buf.is_empty() && !state.closed {
                state.writer_waiting = true;
                state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.buf.is_empty() {
                return; // closed, and everything written
            }
            let closed = state.closed;
            drop(state);
            if !closed {
                std::thread::sleep(BATCH_WINDOW);
            }
            std::mem::swap(&mut shared.lock().buf, &mut batch);
        }
        shared.room.notify_waiters();
        let written = out.write_all(&batch).and_then(|()| out.flush());
        shared.lock().written_bytes += batch.len() as u64;
        shared.written.notify_all();
        batch.clear();
        if batch.capacity() > 4 << 20 {
            batch = Vec::new();
        }
        if let Err(e) = written {
            eprintln!(
                "sluice: error: cannot write the audit log: {e}; audit events are being lost"
            );
        }
    }
}

/// Longest statement text an audit line holds; longer text is cut and its full length noted, so
/// one client cannot fill the audit log's disk at network speed.
pub const MAX_AUDITED_SQL: usize = 8 * 1024;

/// `sql`, cut to [`MAX_AUDITED_SQL`] bytes (at a character boundary) with its length noted.
pub fn audited_sql(sql: &str) -> String {
    audited(sql).into_owned()
}

fn audited(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.len() <= MAX_AUDITED_SQL {
        return sql.into();
    }
    let mut end = MAX_AUDITED_SQL;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut: {} bytes in all]", &sql[..end], sql.len()).into()
}

/// One line written by `write`, ended by a newline; a line that could not be written whole is
/// taken back, so that it cannot run into the next one.
fn push_line(buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) {
    let start = buf.len();
    match write(buf) {
        Ok(()) => buf.push(b'\n'),
        Err(_) => buf.truncate(start),
    }
}

/// A statement line, with the members an [`AuditEvent`] of the same statement has, in its
/// order.
fn push_statement(buf: &mut Vec<u8>, s: &StatementLine) -> serde_json::Result<()> {
    use serde_json::to_writer as json;
    let time = humantime::format_rfc3339_millis(s.time);
    buf.extend_from_slice(b"{\"time\":\"");
    let _ = write!(buf, "{time}");
    buf.push(b'"');
    if !s.identity.0.is_empty() {
        buf.push(b',');
        buf.extend_from_slice(s.identity.0.as_bytes());
    }
    buf.extend_from_slice(b",\"event\":");
    json(&mut *buf, s.event)?;
    buf.extend_from_slice(b",\"statement\":");
    json(&mut *buf, &audited(&s.statement))?;
    if let Some(r) = &s.rendered {
        buf.extend_from_slice(b",\"rendered\":");
        json(&mut *buf, &audited(r))?;
    }
    buf.extend_from_slice(b",\"decision\":");
    json(&mut *buf, s.decision)?;
    if let Some(rule) = &s.rule {
        buf.extend_from_slice(b",\"rule\":");
        json(&mut *buf, rule)?;
    }
    if let Some(reason) = &s.reason {
        buf.extend_from_slice(b",\"reason\":");
        json(&mut *buf, reason)?;
    }
    if let Some(rows) = s.rows {
        let _ = write!(buf, ",\"rows\":{rows}");
    }
    if let Some(ms) = s.duration_ms {
        buf.extend_from_slice(b",\"duration_ms\":");
        json(&mut *buf, &ms)?;
    }
    buf.push(b'}');
    Ok(())
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement line has the members an [`AuditEvent`] of the same statement has, with the
    /// texts escaped and cut as [`audited_sql`] cuts them.
    #[test]
    fn a_statement_line_reads_as_the_event_it_stands_for() {
        let claims = sluice_tokens::Claims {
            role: "agent".into(),
            tenant_id: Some("acme \"quoted\"".into()),
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: "j1".into(),
            label: None,
            extra: Default::default(),
        };
        let long = format!("SELECT '{}'", "x".repeat(MAX_AUDITED_SQL));
        let line = StatementLine {
            time: std::time::UNIX_EPOCH,
            identity: Identity::new("postgres", "127.0.0.1:5", "u\n", &claims),
            event: "statement",
            decision: "error",
            statement: Arc::from("SELECT 'a\"b'\n"),
            rendered: Some(Arc::from(long.as_str())),
            rule: None,
            reason: Some("42P01: nope".into()),
            rows: Some(3),
            duration_ms: Some(1.5),
        };
        let mut buf = Vec::new();
        push_line(&mut buf, |b| push_statement(b, &line));
        assert_eq!(buf.last(), Some(&b'\n'));
        let got: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        let mut want = AuditEvent::statement("postgres", "127.0.0.1:5", "u\n", &claims, "error");
        want.time = "1970-01-01T00:00:00.000Z".into();
        want.statement = Some("SELECT 'a\"b'\n".into());
        want.rendered = Some(audited_sql(&long));
        want.reason = Some("42P01: nope".into());
        want.rows = Some(3);
        want.duration_ms = Some(1.5);
        assert_eq!(got, serde_json::to_value(&want).unwrap());
        let keys: Vec<_> = got.as_object().unwrap().keys().cloned().collect();
        assert!(keys.contains(&"label".to_string()), "{keys:?}");
    }

    /// A line whose identity holds no members is still one JSON object.
    #[test]
    fn a_line_without_identity_members_is_still_json() {
        let line = StatementLine {
            time: std::time::UNIX_EPOCH,
            identity: Identity(Arc::from("")),
            event: "statement",
            decision: "allow",
            statement: Arc::from("SELECT 1"),
            rendered: None,
            rule: None,
            reason: None,
            rows: None,
            duration_ms: None,
        };
        let mut buf = Vec::new();
        push_line(&mut buf, |b| push_statement(b, &line));
        let got: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(got["statement"], "SELECT 1");
    }

    /// Lines past the buffer's limit wait for the writer instead of being dropped: every line
    /// recorded reaches the file whole, each sender's in the order it recorded them, and the
    /// writer ends once every sender is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_buffer_slows_senders_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (audit, writer) = Audit::open(Some(&path)).await.unwrap();
        let claims = sluice_tokens::Claims {
            role: "agent".into(),
            tenant_id: None,
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: "j".into(),
            label: None,
            extra: Default::default(),
        };
        let identity = Identity::new("postgres", "peer", "user", &claims);
        // 4 senders x 1,500 lines of 8 KiB: 48 MiB, six times the buffer's limit.
        let padding = "x".repeat(MAX_AUDITED_SQL - 16);
        let senders: Vec<_> = (0..4)
            .map(|sender| {
                let (audit, identity, padding) = (audit.clone(), identity.clone(), padding.clone());
                tokio::spawn(async move {
                    for n in 0..1_500 {
                        let line = StatementLine {
                            time: SystemTime::now(),
                            identity: identity.clone(),
                            event: "statement",
                            decision: "allow",
                            statement: Arc::from(format!("{sender} {n} {padding}")),
                            rendered: None,
                            rule: None,
                            reason: None,
                            rows: None,
                            duration_ms: None,
                        };
                        audit.record_statement(line).await;
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        drop(audit);
        tokio::time::timeout(std::time::Duration::from_secs(30), writer)
            .await
            .expect("the writer ends when every sender is gone")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut next = [0u32; 4];
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines");
            let statement = v["statement"].as_str().unwrap();
            let mut words = statement.split(' ');
            let sender: usize = words.next().unwrap().parse().unwrap();
            let n: u32 = words.next().unwrap().parse().unwrap();
            assert_eq!(
                n, next[sender],
                "sender {sender}'s lines out of order or missing"
            );
            next[sender] += 1;
        }
        assert_eq!(next, [1_500; 4], "every line written");
    }

    /// A watch sees every line recorded before its wait in the file once the wait returns,
    /// although the writer writes each batch a window after its first line.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_waits_until_recorded_lines_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (audit, writer) = Audit::open(Some(&path)).await.unwrap();
        let watch = audit.watch();
        for round in 1..=3 {
            audit
                .record(AuditEvent::connect("postgres", "peer", "user"))
                .await;
            assert!(watch.wait_written(std::time::Duration::from_secs(10)));
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            assert_eq!(lines, round, "every recorded line is in the file");
        }
        drop(audit);
        writer.await.unwrap();
        assert!(
            watch.wait_written(std::time::Duration::ZERO),
            "nothing is left to wait for once the writer is gone"
        );
    }
}
