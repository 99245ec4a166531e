//! One privileged connection to the PostgreSQL backend: connect, authenticate, pin settings.
//!
//! The session settings that change how SQL is read (`standard_conforming_strings`,
//! `search_path`) and the second gates (`default_transaction_read_only`, `statement_timeout`)
//! are sent in the startup packet. That makes them the session's *reset* values: `RESET ALL`
//! returns to them, and a client cannot change them because the policy engine does not allow
//! SET of any of them.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::frontend;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::frame::{Frame, FrameError, FrameReader};

/// Largest backend message the gateway buffers (a DataRow with a big bytea value).
const BACKEND_FRAME_LIMIT: usize = 256 << 20;

/// Where the backend is and who the gateway is there. Parsed from `--pg-backend`; the password
/// never leaves this struct except into the authentication exchange.
#[derive(Clone)]
pub struct BackendTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Vec<u8>>,
    pub database: String,
    pub connect_timeout: Duration,
    /// The backend ends a transaction left idle this long (a client that holds a pooled
    /// connection in an open transaction and does nothing would otherwise starve the pool).
    pub idle_transaction_timeout: Duration,
}

impl std::fmt::Debug for BackendTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

impl BackendTarget {
    /// Parses a libpq-style URL or key=value string. Errors never echo the input, which holds
    /// the password.
    pub fn parse(url: &str) -> Result<BackendTarget, String> {
        let cfg: tokio_postgres::Config = url.parse().map_err(|_| {
            "the PostgreSQL backend is not a valid connection string; write it as \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                .to_string()
        })?;
        let host = match cfg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(_) => {
                return Err(
                    "the PostgreSQL backend must be reached over TCP (a host name or \
                            address), not a Unix socket"
                        .into(),
                )
            }
            None => "localhost".to_string(),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let user = cfg
            .get_user()
            .ok_or("the PostgreSQL backend connection string names no user")?
            .to_string();
        let database = cfg.get_dbname().unwrap_or(&user).to_string();
        Ok(BackendTarget {
            host,
            port,
            user,
            password: cfg.get_password().map(|p| p.to_vec()),
            database,
            connect_timeout: cfg
                .get_connect_timeout()
                .copied()
                .unwrap_or(Duration::from_secs(10)),
            idle_transaction_timeout: Duration::from_secs(60),
        })
    }
}

/// The settings a pool's connections are opened with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Profile {
    pub read_only: bool,
    pub statement_timeout_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach the PostgreSQL backend at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connecting to the PostgreSQL backend at {0} timed out")]
    ConnectTimeout(String),
    #[error("the PostgreSQL backend refused the gateway's credentials or settings: {0}")]
    Refused(String),
    #[error(
        "the PostgreSQL backend asked for an authentication method Sluice does not support ({0})"
    )]
    UnsupportedAuth(String),
    #[error("the PostgreSQL backend connection failed: {0}")]
    Io(String),
    #[error("the PostgreSQL backend sent an unexpected message during {0}")]
    Protocol(&'static str),
}

impl From<FrameError> for BackendError {
    fn from(e: FrameError) -> Self {
        BackendError::Io(e.to_string())
    }
}

impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        BackendError::Io(e.to_string())
    }
}

/// An authenticated backend connection, idle between statements.
pub struct BackendConn {
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    /// For CancelRequest.
    pub pid: i32,
    pub secret: i32,
    pub addr: std::net::SocketAddr,
    /// ParameterStatus values reported at startup.
    pub params: Vec<(String, String)>,
    /// Statements prepared on this connection: backend name → statement key. The unnamed
    /// statement is the entry for "".
    pub prepared: HashMap<String, std::sync::Arc<super::session::StatementText>>,
    /// Last ReadyForQuery status: b'I', b'T' or b'E'.
    pub status: u8,
    /// A client changed a session setting; `RESET ALL` before the next client.
    pub dirty: bool,
    /// The connection's state is unknown (I/O error, protocol desync): never reuse it.
    pub broken: bool,
    /// Extended-protocol messages were sent since the last Sync: a portal or an uncommitted
    /// implicit transaction may be open. Never hand such a connection to another client.
    pub unsynced: bool,
}

impl BackendConn {
    pub async fn connect(
        target: &BackendTarget,
        profile: &Profile,
    ) -> Result<BackendConn, BackendError> {
        let addr_text = format!("{}:{}", target.host, target.port);
        let stream = tokio::time::timeout(target.connect_timeout, TcpStream::connect(&addr_text))
            .await
            .map_err(|_| BackendError::ConnectTimeout(addr_text.clone()))?
            .map_err(|source| BackendError::Connect {
                addr: addr_text.clone(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let addr = stream.peer_addr()?;
        let (r, w) = stream.into_split();
        let mut conn = BackendConn {
            reader: FrameReader::new(r, BACKEND_FRAME_LIMIT, 16 * 1024),
            writer: w,
            pid: 0,
            secret: 0,
            addr,
            params: Vec::new(),
            prepared: HashMap::new(),
            status: b'I',
            dirty: false,
            broken: false,
            unsynced: false,
        };
        tokio::time::timeout(target.connect_timeout, conn.handshake(target, profile))
            .await
            .map_err(|_| BackendError::ConnectTimeout(addr_text))??;
        Ok(conn)
    }

    async fn handshake(
        &mut self,
        target: &BackendTarget,
        profile: &Profile,
    ) -> Result<(), BackendError> {
        let timeout = profile.statement_timeout_ms.to_string();
        let read_only = if profile.read_only { "on" } else { "off" };
        let idle = target.idle_transaction_timeout.as_millis().to_string();
        let params: [(&str, &str); 9] = [
            ("user", &target.user),
            ("database", &target.database),
            ("application_name", "sluice"),
            ("client_encoding", "UTF8"),
            ("standard_conforming_strings", "on"),
            ("search_path", "public"),
            ("default_transaction_read_only", read_only),
            ("statement_timeout", &timeout),
            ("idle_in_transaction_session_timeout", &idle),
        ];
        let mut buf = BytesMut::new();
        frontend::startup_message(params.iter().copied(), &mut buf)?;
        self.writer.write_all(&buf).await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            let frame = self.reader.next().await?;
            let mut body = frame.body();
            match frame.tag {
                b'R' => {
                    let code = body.get_i32();
                    buf.clear();
                    match code {
                        0 => {}
                        3 => {
                            let pw = self.password(target)?;
                            frontend::password_message(pw, &mut buf)?;
                        }
                        5 => {
                            let pw = self.password(target)?;
                            let mut salt = [0u8; 4];
                            body.copy_to_slice(&mut salt);
                            let hash = postgres_protocol::authentication::md5_hash(
                                target.user.as_bytes(),
                                pw,
                                salt,
                            );
                            frontend::password_message(hash.as_bytes(), &mut buf)?;
                        }
                        10 => {
                            let mechanisms: Vec<&[u8]> =
                                body.split(|b| *b == 0).filter(|m| !m.is_empty()).collect();
                            if !mechanisms.contains(&SCRAM_SHA_256.as_bytes()) {
                                return Err(BackendError::UnsupportedAuth(
                                    "SASL without SCRAM-SHA-256".into(),
                                ));
                            }
                            let pw = self.password(target)?;
                            let s = ScramSha256::new(pw, ChannelBinding::unsupported());
                            frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut buf)?;
                            scram = Some(s);
                        }
                        11 => {
                            let s = scram.as_mut().ok_or(BackendError::Protocol("SASL"))?;
                            s.update(body)
                                .map_err(|e| BackendError::Refused(format!("SCRAM: {e}")))?;
                            frontend::sasl_response(s.message(), &mut buf)?;
                        }
                        12 => {
                            let s = scram.as_mut().ok_or(BackendError::Protocol("SASL"))?;
                            s.finish(body).map_err(|e| {
                                BackendError::Refused(format!(
                                    "the server's SCRAM signature did not verify: {e}"
                                ))
                            })?;
                        }
                        other => {
                            return Err(BackendError::UnsupportedAuth(format!("code {other}")))
                        }
                    }
                    if !buf.is_empty() {
                        self.writer.write_all(&buf).await?;
                    }
                }
                b'S' => {
                    let mut parts = body.split(|b| *b == 0);
                    let name =
                        String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                    let value =
                        String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                    self.params.push((name, value));
                }
                b'K' => {
                    self.pid = body.get_i32();
                    self.secret = if body.remaining() >= 4 {
                        body.get_i32()
                    } else {
                        0
                    };
                }
                b'Z' => {
                    self.status = body.first().copied().unwrap_or(b'I');
                    return Ok(());
                }
                b'E' => return Err(BackendError::Refused(error_message(&frame))),
                b'N' => {}
                _ => return Err(BackendError::Protocol("startup")),
            }
        }
    }

    fn password<'a>(&self, target: &'a BackendTarget) -> Result<&'a [u8], BackendError> {
        target.password.as_deref().ok_or_else(|| {
            BackendError::Refused(
                "the backend asks for a password and --pg-backend has none".into(),
            )
        })
    }

    /// Sends whole messages (`bytes` holds complete frames only).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), BackendError> {
        let mut rest = bytes;
        while rest.len() >= 5 {
            match rest[0] {
                b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => self.unsynced = true,
                b'S' => self.unsynced = false,
                _ => {}
            }
            let len = i32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]).max(4) as usize;
            rest = rest.get(len + 1..).unwrap_or_default();
        }
        if let Err(e) = self.writer.write_all(bytes).await {
            self.broken = true;
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn recv(&mut self) -> Result<Frame, BackendError> {
        match self.reader.next().await {
            Ok(f) => Ok(f),
            Err(e) => {
                self.broken = true;
                Err(e.into())
            }
        }
    }

    /// The next message, for a client: errors and notices with their row-revealing fields
    /// withheld ([`super::wire::redact_backend_report`]).
    pub async fn recv_for_client(&mut self) -> Result<Frame, BackendError> {
        let mut frame = self.recv().await?;
        if matches!(frame.tag, b'E' | b'N') {
            frame.bytes = super::wire::redact_backend_report(&frame.bytes);
        }
        Ok(frame)
    }

    /// Runs `sql` with the simple protocol and discards its results; fails on any error.
    pub async fn run_quietly(&mut self, sql: &str) -> Result<(), BackendError> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf)?;
        self.send(&buf).await?;
        let mut failed = None;
        loop {
            let frame = self.recv().await?;
            match frame.tag {
                b'E' => failed = Some(error_message(&frame)),
                b'Z' => {
                    self.status = frame.body().first().copied().unwrap_or(b'I');
                    return match failed {
                        Some(m) => Err(BackendError::Refused(m)),
                        None => Ok(()),
                    };
                }
                _ => {}
            }
        }
    }

    /// Returns the connection to its pristine session state.
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        // DISCARD ALL also drops prepared statements, temp tables, advisory locks, listeners
        // and cursors, and puts every setting back to its startup (pinned) value.
        self.run_quietly("DISCARD ALL").await?;
        self.prepared.clear();
        self.dirty = false;
        Ok(())
    }
}

/// The `M` (message) field of an ErrorResponse/NoticeResponse frame.
pub fn error_message(frame: &Frame) -> String {
    error_field(frame, b'M').unwrap_or_else(|| "unknown error".to_string())
}

pub fn error_field(frame: &Frame, code: u8) -> Option<String> {
    let mut body = frame.body();
    while let Some((&field, rest)) = body.split_first() {
        if field == 0 {
            break;
        }
        let end = rest.iter().position(|b| *b == 0)?;
        if field == code {
            return Some(String::from_utf8_lossy(&rest[..end]).into_owned());
        }
        body = &rest[end + 1..];
    }
    None
}

/// What a statement run for a non-wire door came to.
#[derive(Debug)]
pub enum QueryError {
    /// The server refused the statement (its SQLSTATE and message); the connection is fine.
    Server {
        sqlstate: String,
        message: String,
    },
    Backend(BackendError),
}

impl From<BackendError> for QueryError {
    fn from(e: BackendError) -> Self {
        QueryError::Backend(e)
    }
}

impl BackendConn {
    /// Runs `sql` with the simple protocol and returns the first column of every row as text
    /// (NULL as `None`) and the row count of the command tag. For the REST and MCP doors, which
    /// run statements the engine rendered and read results as JSON text.
    pub async fn query_texts(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<Option<String>>, u64), QueryError> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).map_err(BackendError::from)?;
        self.send(&buf).await?;
        let (mut rows, mut count, mut failed) = (Vec::new(), 0u64, None);
        loop {
            let frame = self.recv().await?;
            match frame.tag {
                b'D' => {
                    let body = frame.body();
                    // Int16 column count, then Int32 length (-1: NULL) and the bytes.
                    let value = body.get(2..6).and_then(|l| {
                        let len = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
                        (len >= 0).then(|| {
                            body.get(6..6 + len as usize)
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                        })?
                    });
                    rows.push(value);
                }
                b'C' => {
                    let body = frame.body();
                    let tag = String::from_utf8_lossy(&body[..body.len().saturating_sub(1)]);
                    count = tag
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                }
                b'E' => {
                    failed = Some(QueryError::Server {
                        sqlstate: error_field(&frame, b'C').unwrap_or_default(),
                        message: error_message(&frame),
                    })
                }
                b'Z' => {
                    self.status = frame.body().first().copied().unwrap_or(b'I');
                    return match failed {
                        Some(e) => Err(e),
                        None => Ok((rows, count)),
                    };
                }
                _ => {}
            }
        }
    }
}
