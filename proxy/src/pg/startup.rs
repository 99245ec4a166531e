//! A client's first messages: TLS negotiation, the startup packet, and authentication with the
//! token as the password.
//!
//! The password is asked for in cleartext (inside TLS): the gateway verifies a signed token, it
//! stores no password, so SCRAM, which proves knowledge of a stored secret, cannot apply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, ParameterStatus, PasswordMessageFamily, SecretKey,
};
use pgwire::messages::{DecodeContext, Message, ProtocolVersion};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::frame::{FrameError, FrameReader};
use super::session::{ClientInfo, End, Session};
use super::wire::{self, PgError};
use super::{CancelSlot, ClientStream, PgDoor, PoolMode};
use crate::audit::AuditEvent;
use crate::door::TokenSession;

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
/// Largest startup packet accepted (PostgreSQL's own limit).
const STARTUP_LIMIT: usize = 10_000;
/// Largest message from an authenticated client: statements are at most 1 MiB, parameters may
/// be larger (bytea).
const CLIENT_FRAME_LIMIT: usize = 64 << 20;
/// Largest message before authentication (the password message carrying the token).
const AUTH_FRAME_LIMIT: usize = 16 * 1024;
/// A client has this long from connecting to being authenticated.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

async fn refuse_full(mut stream: TcpStream, max: usize) {
    let mut out = BytesMut::new();
    PgError::fatal(
        "53300",
        format!("the gateway already serves {max} client connections"),
    )
    .hint("close idle connections or try again later")
    .encode(&mut out);
    let _ = stream.write_all(&out).await;
}

/// A client the door has just accepted, with its place under the door's client limit (`None`:
/// the door is full, and the client is refused).
pub struct Accepted {
    pub door: Arc<PgDoor>,
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// Serves one client from its first byte to its disconnect line.
///
/// Everything but the session's own loop is boxed, and freed when it is done: the task's
/// future, which an idle client holds for as long as it stays connected, is then only as large
/// as the session's idle wait (see [`Session::run`]), not as the startup's or the ending's
/// state, nor does it keep a copy of what the door handed over.
pub async fn handle(accepted: Box<Accepted>) {
    let Some(mut opened) = Box::pin(open(accepted)).await else {
        return;
    };
    let end = opened.session.run().await;
    Box::pin(close(opened, end)).await;
}

/// The startup, within [`STARTUP_TIMEOUT`]: the authenticated client, or `None` when it did not
/// get that far (it was told why, if it could be).
async fn open(accepted: Box<Accepted>) -> Started {
    let Accepted {
        door,
        stream,
        peer,
        permit,
    } = *accepted;
    let Some(permit) = permit else {
        refuse_full(stream, door.max_clients).await;
        return None;
    };
    match tokio::time::timeout(STARTUP_TIMEOUT, startup(&door, stream, peer, permit)).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(msg)) => {
            tracing::debug!(%peer, "startup failed: {msg}");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "startup timed out");
            None
        }
    }
}

/// The session has ended: its place under the token's cap is freed, the disconnect line is
/// queued, then its place under the door's client limit is freed.
async fn close(opened: Box<Opened>, end: End) {
    // The token's place is free before the disconnect line says the session ended.
    let Opened {
        session,
        token_session,
        permit,
    } = *opened;
    drop(token_session);
    let door = session.door().clone();
    let info = session.info();
    let mut ev = AuditEvent::connect("postgres", &info.peer, &info.user).with_claims(&info.claims);
    // The client's socket closes with the session; its place under the door's limit is held
    // until the disconnect line is queued, as the MySQL door does, so the limit counts every
    // client the gateway still spends anything on.
    drop(session);
    ev.event = "disconnect";
    if let End::Gateway(reason) = end {
        ev.reason = Some(reason);
    }
    door.audit.record(ev).await;
    drop(permit);
}

/// An authenticated client: the session and its places under the door's client limit and the
/// token's session cap (session mode), held until the session ends. Boxed in [`Started`]: the
/// session task's own future then holds a pointer, not the session.
struct Opened {
    session: Session,
    token_session: Option<TokenSession>,
    permit: OwnedSemaphorePermit,
}

type Started = Option<Box<Opened>>;

async fn startup(
    door: &Arc<PgDoor>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) -> Result<Started, String> {
    let mut reader = FrameReader::new(ClientStream::Plain(stream), AUTH_FRAME_LIMIT, 512);
    let mut packet;
    loop {
        packet = reader
            .next_startup(STARTUP_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        let code = (&packet[4..8]).get_i32();
        match code {
            SSL_REQUEST => {
                if reader.get_mut().is_tls() {
                    return Err("SSLRequest inside TLS".into());
                }
                if reader.buffered() != 0 {
                    // Bytes sent after SSLRequest but before the handshake would be read as if
                    // they came through TLS (CVE-2021-23214): refuse.
                    return Err("data after SSLRequest before the TLS handshake".into());
                }
                let (stream, _) = reader.into_parts();
                let ClientStream::Plain(mut tcp) = stream else {
                    return Err("unreachable: plain stream expected".into());
                };
                tcp.write_all(b"S").await.map_err(|e| e.to_string())?;
                let tls = door
                    .tls
                    // PostgreSQL clients wait for the server's answer before TLS; bytes sent
                    // ahead were refused above (CVE-2021-23214), so nothing is replayed.
                    .accept(crate::door::Rewind::new(bytes::Bytes::new(), tcp))
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                reader = FrameReader::new(ClientStream::Tls(Box::new(tls)), AUTH_FRAME_LIMIT, 512);
            }
            GSSENC_REQUEST => {
                reader
                    .get_mut()
                    .write_all(b"N")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            CANCEL_REQUEST if packet.len() == 16 => {
                let mut body = &packet[8..];
                let pid = body.get_i32();
                let secret = body.get_i32();
                door.cancel(pid, secret).await;
                return Ok(None);
            }
            _ => break,
        }
    }

    let ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    let startup = match pgwire::messages::startup::Startup::decode(&mut packet, &ctx) {
        Ok(Some(s)) => s,
        _ => {
            let e = PgError::fatal(
                "08P01",
                "unsupported frontend protocol or malformed startup packet",
            )
            .hint("connect with a PostgreSQL client that speaks protocol 3.0");
            return refuse(&mut reader, e).await;
        }
    };
    let user = startup.parameters.get("user").cloned().unwrap_or_default();
    let database = startup
        .parameters
        .get("database")
        .cloned()
        .unwrap_or_else(|| user.clone());
    let peer_text = peer.to_string();

    if database != door.backend_database {
        let e = PgError::fatal(
            "3D000",
            format!(
                "database \"{database}\" is not served here; this gateway serves \"{}\"",
                door.backend_database
            ),
        )
        .hint(format!("connect with dbname={}", door.backend_database));
        return refuse(&mut reader, e).await;
    }
    if !reader.get_mut().is_tls() && !peer.ip().is_loopback() && !door.allow_plaintext {
        let e = PgError::fatal(
            "28000",
            "the gateway accepts tokens from other hosts only over TLS",
        )
        .hint("connect with sslmode=require (or start the gateway with --allow-plaintext)");
        return refuse(&mut reader, e).await;
    }

    // Ask for the token.
    let mut out = BytesMut::new();
    wire::encode(&Authentication::CleartextPassword, &mut out);
    write(&mut reader, &out).await?;
    let frame = match reader.next().await {
        Ok(f) if f.tag == b'p' => f,
        Ok(_) => {
            let e = PgError::fatal("08P01", "expected a password message");
            return refuse(&mut reader, e).await;
        }
        Err(FrameError::Closed) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut bytes = frame.bytes;
    if !super::frame::well_formed(b'p', &bytes[5..]) {
        let e = PgError::fatal("08P01", "malformed password message");
        return refuse(&mut reader, e).await;
    }
    let token = match PasswordMessageFamily::decode(&mut bytes, &ctx)
        .ok()
        .flatten()
        .and_then(|p| p.into_password().ok())
    {
        Some(p) => p.password,
        None => {
            let e = PgError::fatal("08P01", "malformed password message");
            return refuse(&mut reader, e).await;
        }
    };

    let mut connect_event = AuditEvent::connect("postgres", &peer_text, &user);
    let claims = match door.gate.authenticate(&token, crate::now_unix()) {
        Ok(c) => c,
        Err(refused) => {
            connect_event.decision = "deny";
            connect_event.rule = Some("token".into());
            connect_event.reason = Some(refused.reason.into());
            door.audit.record(connect_event).await;
            let e = PgError::fatal(
                "28P01",
                format!("password authentication failed: token {}", refused.reason),
            )
            .hint("the password must be a current Sluice token (sluice token create)");
            return refuse(&mut reader, e).await;
        }
    };
    drop(token);
    let connect_event = connect_event.with_claims(&claims);
    let Some(role) = door.gate.role(&claims) else {
        let e = PgError::fatal("28P01", "password authentication failed: token invalid");
        return refuse(&mut reader, e).await;
    };
    let settings = match startup_settings(door, &claims, &startup.parameters) {
        Ok(s) => s,
        Err(e) => {
            let mut ev = connect_event;
            ev.decision = "deny";
            ev.rule = Some("setting_not_allowed".into());
            ev.reason = Some(e.message.clone());
            door.audit.record(ev).await;
            return refuse(&mut reader, e).await;
        }
    };

    // In session mode the client holds a backend connection for its whole life: one token may
    // hold only so many (the MySQL door counts the same way).
    let token_session = match door.pool_mode {
        PoolMode::Transaction => None,
        PoolMode::Session => match door.sessions.open(&claims.jti) {
            Some(s) => Some(s),
            None => {
                let message = door.sessions.refusal();
                let mut ev = connect_event;
                ev.decision = "deny";
                ev.rule = Some("sessions_per_token".into());
                ev.reason = Some(message.clone());
                door.audit.record(ev).await;
                let e = PgError::fatal("53300", message)
                    .hint("each session holds a database connection in session pool mode");
                return refuse(&mut reader, e).await;
            }
        },
    };

    let slot = Arc::new(CancelSlot::default());
    let (pid, secret) = door.register_cancel(&slot);

    // The backend's parameters are learned from a real connection; in session mode that
    // connection is the client's for its life.
    let mut held = None;
    let known = door
        .server_params
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let params = match known {
        Some(p) if door.pool_mode == PoolMode::Transaction => p,
        _ => {
            let profile = door.profile(&role);
            match door.pools.acquire(&profile).await {
                Ok(conn) => {
                    let p = conn.params.clone();
                    *door
                        .server_params
                        .write()
                        .unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
                    if door.pool_mode == PoolMode::Session {
                        slot.set(conn.addr, conn.pid, conn.secret);
                        held = Some(conn);
                    } else {
                        super::pool::Pools::release(conn);
                    }
                    p
                }
                Err(e) => return refuse(&mut reader, e.client_error(true)).await,
            }
        }
    };

    out.clear();
    wire::encode(&Authentication::Ok, &mut out);
    for (name, value) in &params {
        let value = match name.as_str() {
            "session_authorization" => user.clone(),
            "is_superuser" => "off".to_string(),
            "application_name" => startup
                .parameters
                .get("application_name")
                .cloned()
                .unwrap_or_default(),
            _ => value.clone(),
        };
        wire::encode(&ParameterStatus::new(name.clone(), value), &mut out);
    }
    wire::encode(&BackendKeyData::new(pid, SecretKey::I32(secret)), &mut out);
    wire::ready(&mut out, b'I');
    write(&mut reader, &out).await?;

    door.audit.record(connect_event).await;
    reader.set_limit(CLIENT_FRAME_LIMIT);
    let info = ClientInfo {
        claims: Arc::new(claims),
        user,
        peer: peer_text,
    };
    let mut session = Session::new(door.clone(), reader, info, role, slot, held);
    session.start_with_settings(settings);
    Ok(Some(Box::new(Opened {
        session,
        token_session,
        permit,
    })))
}

/// Startup parameters other than `user`, `database` and `application_name` (PgJDBC's
/// `DateStyle`, `TimeZone`, `extra_float_digits`, `client_encoding`; libpq's
/// `options=-c name=value`): each is checked as the `SET` it is and, allowed, replayed on every
/// backend connection the session gets, like a SET the client sends. One the engine refuses
/// refuses the connection, naming it: a setting is never silently dropped.
fn startup_settings(
    door: &PgDoor,
    claims: &sluice_tokens::Claims,
    parameters: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<String>, PgError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in parameters {
        match name.as_str() {
            "user" | "database" | "application_name" => {}
            "options" => pairs.extend(command_line_options(value)?),
            _ => pairs.push((name.clone(), value.clone())),
        }
    }
    let mut sets = Vec::new();
    for (name, value) in pairs {
        // asyncpg sends `client_encoding` as `'utf-8'`, quotes included (PostgreSQL reads
        // encoding names ignoring punctuation): the value inside the quotes is the setting.
        let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(inner) if !inner.contains('\'') => inner.to_string(),
            _ => value,
        };
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let refused = |why: String| {
            PgError::fatal(
                "42501",
                format!("the startup parameter {name}={value} is refused: {why}"),
            )
            .hint("leave it out of the connection string, or set it with SET after connecting")
        };
        if !plain {
            return Err(refused("not a setting name".into()));
        }
        let sql = format!("SET {name} = '{}'", value.replace('\'', "''"));
        let (decision, _) =
            door.gate
                .authorize(claims, sluice_policy::Dialect::PostgreSql, None, &sql);
        match decision.as_ref() {
            Ok(a)
                if a.statements.len() == 1
                    && a.statements[0].kind == sluice_policy::StatementKind::Set =>
            {
                sets.push(a.statements[0].sql.clone())
            }
            Ok(_) => return Err(refused("not a setting".into())),
            Err(denial) => return Err(refused(denial.message.clone())),
        }
    }
    Ok(sets)
}

/// libpq's `options` (`-c name=value`, `--name=value`, space-separated, `\` escaping a
/// character) as name/value pairs; anything else is refused.
fn command_line_options(options: &str) -> Result<Vec<(String, String)>, PgError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut pairs = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words.next()
        } else if let Some(rest) = w.strip_prefix("-c") {
            Some(rest.to_string())
        } else {
            w.strip_prefix("--").map(str::to_string)
        };
        match setting.as_deref().and_then(|s| s.split_once('=')) {
            Some((name, value)) => pairs.push((name.replace('-', "_"), value.to_string())),
            None => {
                return Err(PgError::fatal(
                    "42501",
                    format!(
                    "the startup option {w:?} is refused: only -c name=value settings are accepted"
                ),
                )
                .hint("write options=-c name=value, or SET the setting after connecting"))
            }
        }
    }
    Ok(pairs)
}

async fn write(reader: &mut FrameReader<ClientStream>, bytes: &[u8]) -> Result<(), String> {
    let s = reader.get_mut();
    s.write_all(bytes).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())
}

async fn refuse(reader: &mut FrameReader<ClientStream>, e: PgError) -> Result<Started, String> {
    let mut out = BytesMut::new();
    e.encode(&mut out);
    let _ = write(reader, &out).await;
    Err(e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async function returns, without calling it.
    fn future_size<A, F: std::future::Future>(_: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An idle client's memory is what its task and its session hold for as long as it stays
    /// connected (issue 18: 10,000 idle clients in under 48 MB). The task's future is only the
    /// session loop's idle wait (it was 2.6 KiB when the startup, the message handlers and the
    /// door's hand-over lived in it), and the session does not carry a backend connection's
    /// worth of space while it holds none.
    #[test]
    fn an_idle_client_holds_little() {
        let task = future_size(handle);
        assert!(task <= 384, "a client's task future is {task} bytes");
        let opened = std::mem::size_of::<Opened>();
        assert!(opened <= 640, "a client's session is {opened} bytes");
    }
}
