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
use tokio::sync::mpsc;

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

/// What the writer is sent.
#[derive(Debug)]
enum Line {
    Event(Box<AuditEvent>),
    Statement(Box<StatementLine>),
}

/// Where audit events go: the writer's queue, or nowhere when the audit trail is off.
#[derive(Clone)]
pub struct Audit {
    tx: Option<mpsc::Sender<Line>>,
}

impl Audit {
    /// Opens `path` for appending (standard error if `None`) and starts the writer: one
    /// long-lived blocking thread with a buffered file, so that a statement costs a channel
    /// send, not a trip through the runtime's blocking pool.
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
        let (tx, rx) = mpsc::channel(10_000);
        let task = tokio::task::spawn_blocking(move || write_all(rx, out));
        Ok((Audit { tx: Some(tx) }, task))
    }

    /// No audit trail (`--no-audit`): events are not even built ([`Audit::is_on`]).
    pub fn off() -> (Audit, tokio::task::JoinHandle<()>) {
        (Audit { tx: None }, tokio::spawn(async {}))
    }

    /// Whether events are recorded: callers skip building an event when not.
    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    pub async fn record(&self, event: AuditEvent) {
        self.send(Line::Event(Box::new(event))).await
    }

    /// Records a statement's line (see [`StatementLine`]).
    pub async fn record_statement(&self, line: StatementLine) {
        self.send(Line::Statement(Box::new(line))).await
    }

    async fn send(&self, line: Line) {
        // The writer only stops when every sender is gone, so this cannot fail while `self`
        // lives; an error would mean the writer died, which it reports itself.
        let Some(tx) = &self.tx else { return };
        if let Err(mpsc::error::TrySendError::Full(line)) = tx.try_send(line) {
            // The queue is full: wait for room. Boxed, because a waiting send is large (about
            // a kilobyte) and every session's future would otherwise hold room for one.
            let _ = Box::pin(tx.send(line)).await;
        }
    }
}

/// How long the writer lets events gather before writing them.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

fn write_all(mut rx: mpsc::Receiver<Line>, mut out: Box<dyn Write + Send>) {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(ev) = rx.blocking_recv() {
        // Let a batch gather before writing it. While this thread sleeps, senders only queue:
        // none of them has to wake it, which under load happened for nearly every statement and
        // cost each one a futex call and a context switch. So the writer wakes at most twice
        // per window, whatever the statement rate; a line reaches the file at most
        // BATCH_WINDOW later, and nothing is dropped (the queue is bounded; senders wait).
        std::thread::sleep(BATCH_WINDOW);
        buf.clear();
        push_line(&mut buf, &ev);
        // Drain whatever else is queued so a burst costs one write.
        while let Ok(ev) = rx.try_recv() {
            push_line(&mut buf, &ev);
            if buf.len() > 1 << 20 {
                break;
            }
        }
        let written = out.write_all(&buf).and_then(|()| out.flush());
        if buf.capacity() > 4 << 20 {
            buf = Vec::with_capacity(64 * 1024);
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

fn push_line(buf: &mut Vec<u8>, line: &Line) {
    let start = buf.len();
    let written = match line {
        Line::Event(ev) => serde_json::to_writer(&mut *buf, ev),
        Line::Statement(s) => push_statement(buf, s),
    };
    match written {
        Ok(()) => buf.push(b'\n'),
        // A line cut short must not run into the next one.
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
        push_line(&mut buf, &Line::Statement(Box::new(line)));
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
        push_line(&mut buf, &Line::Statement(Box::new(line)));
        let got: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(got["statement"], "SELECT 1");
    }
}
