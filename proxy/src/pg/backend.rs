//! One privileged connection to the PostgreSQL backend: connect, authenticate, pin settings.
//!
//! The session settings that change how SQL is read (`standard_conforming_strings`,
//! `search_path`) and the second gates (`default_transaction_read_only`, `statement_timeout`)
//! are sent in the startup packet. That makes them the session's *reset* values: `RESET ALL`
//! returns to them, and a client cannot change them because the policy engine does not allow
//! SET of any of them.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::frontend;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::frame::{Frame, FrameError, FrameReader};
use crate::backend_tls::{self, Verify};

/// Largest backend message the gateway buffers (a DataRow with a big bytea value).
const BACKEND_FRAME_LIMIT: usize = 256 << 20;

/// The URL parameters the gateway honours; every other one is refused at start.
const SUPPORTED_PARAMETERS: &str =
    "host, port, user, password, dbname, connect_timeout, sslmode, sslrootcert";

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
    /// How connections are encrypted (`sslmode`, `sslrootcert`).
    pub tls: BackendTls,
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS if the server accepts it; plaintext only when it answers the SSLRequest with `N`.
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow is not supported (it tries plaintext first); \
                     use prefer, require, verify-ca or verify-full"
                        .into(),
                )
            }
            _ => {
                return Err(
                    "sslmode must be disable, prefer, require, verify-ca or verify-full".into(),
                )
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS a backend connection is opened with, decided and loaded when the URL is parsed.
#[derive(Clone)]
pub struct BackendTls {
    pub mode: SslMode,
    /// `None` with `sslmode=disable`.
    config: Option<Arc<rustls::ClientConfig>>,
    /// The name the certificate is checked against (and sent as SNI): the URL's host. `None`
    /// when the host is no valid DNS name, which only modes that check no name accept.
    server_name: Option<ServerName<'static>>,
    /// `prefer` fell back to plaintext once already (said in the log once, not per connection).
    fell_back: Arc<std::sync::atomic::AtomicBool>,
}

impl BackendTls {
    /// libpq's rules: the default mode is `prefer`; a root certificate makes every mode that
    /// encrypts check the chain (so `require` with `sslrootcert` is `verify-ca`, as in libpq);
    /// `verify-ca` and `verify-full` need one. Unlike libpq, the gateway never looks for
    /// `~/.postgresql/root.crt`: the URL names the file it trusts.
    fn new(mode: SslMode, rootcert: Option<&str>, host: &str) -> Result<BackendTls, String> {
        let server_name = ServerName::try_from(host.to_string()).ok();
        if mode == SslMode::Disable {
            if rootcert.is_some() {
                return Err(
                    "sslrootcert is given but sslmode=disable never uses it; remove one \
                            of them"
                        .into(),
                );
            }
            return Ok(BackendTls {
                mode,
                config: None,
                server_name,
                fell_back: Default::default(),
            });
        }
        let roots = match rootcert {
            Some("system") => {
                return Err(
                    "sslrootcert=system is not supported; give the system's CA bundle \
                            as a file, e.g. sslrootcert=/etc/ssl/certs/ca-certificates.crt"
                        .into(),
                )
            }
            Some(path) => Some(backend_tls::load_roots("sslrootcert", path)?),
            None => None,
        };
        let verify = match (mode, roots) {
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(format!(
                    "sslmode={} needs sslrootcert=FILE: the CA certificate (PEM) that signed \
                     the server's certificate (for a publicly signed one, the system's bundle, \
                     e.g. /etc/ssl/certs/ca-certificates.crt)",
                    mode.name()
                ))
            }
            (SslMode::VerifyFull, Some(roots)) => {
                if server_name.is_none() {
                    return Err(
                        "sslmode=verify-full needs a host that is a DNS name or an IP address"
                            .into(),
                    );
                }
                Verify::ChainAndName(roots)
            }
            (_, Some(roots)) => Verify::Chain(roots),
            (_, None) => Verify::Nothing,
        };
        Ok(BackendTls {
            mode,
            config: Some(backend_tls::client_config(&verify)?),
            server_name,
            fell_back: Default::default(),
        })
    }

    /// What the mode protects against, for the log.
    pub fn describe(&self) -> &'static str {
        match (&self.config, self.mode) {
            (None, _) => "plaintext (sslmode=disable)",
            (Some(_), SslMode::Prefer) => "TLS if the server offers it (sslmode=prefer)",
            (Some(_), SslMode::Require) => "TLS (sslmode=require)",
            (Some(_), SslMode::VerifyCa) => "TLS, certificate chain checked (sslmode=verify-ca)",
            (Some(_), SslMode::VerifyFull) => {
                "TLS, certificate chain and host name checked (sslmode=verify-full)"
            }
            (Some(_), SslMode::Disable) => "plaintext",
        }
    }

    /// Asks the server for TLS on a fresh connection and runs the handshake, or (`disable`, or
    /// `prefer` and the server declines) leaves it plain.
    async fn negotiate(&self, mut stream: TcpStream) -> Result<Stream, BackendError> {
        let Some(config) = &self.config else {
            return Ok(Stream::Plain(stream));
        };
        let addr = stream.peer_addr()?;
        let mut request = BytesMut::new();
        frontend::ssl_request(&mut request);
        stream.write_all(&request).await?;
        // Exactly one byte: anything the server (or a man in the middle) sends after it must
        // reach the TLS handshake, never the protocol (CVE-2021-23222).
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await?;
        match answer[0] {
            b'S' => {}
            b'N' if self.mode == SslMode::Prefer => {
                if !self
                    .fell_back
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        "the PostgreSQL backend at {addr} does not accept TLS, so its \
                         connections are in plaintext (sslmode=prefer; require or verify-full \
                         would refuse)"
                    );
                }
                return Ok(Stream::Plain(stream));
            }
            b'N' => {
                return Err(BackendError::Tls(format!(
                    "the PostgreSQL backend at {addr} does not accept TLS connections (it \
                     answered the SSLRequest with N), and sslmode={} requires TLS; turn on ssl \
                     in the server's configuration, or change sslmode",
                    self.mode.name()
                )))
            }
            _ => return Err(BackendError::Protocol("the TLS request")),
        }
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::IpAddress(addr.ip().into()),
        };
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, stream)
            .await
            .map_err(|e| {
                let why = match backend_tls::tls_cause(&e) {
                    Some(cause) => backend_tls::explain(cause, "sslrootcert"),
                    None => e.to_string(),
                };
                BackendError::Tls(format!(
                    "the TLS handshake with the PostgreSQL backend at {addr} failed \
                     (sslmode={}): {why}",
                    self.mode.name()
                ))
            })?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

impl std::fmt::Debug for BackendTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}?sslmode={}",
            self.user,
            self.host,
            self.port,
            self.database,
            self.tls.mode.name()
        )
    }
}

impl BackendTarget {
    /// Parses a libpq-style URL or key=value string. Every parameter is honoured or refused
    /// (the error names it and the supported ones); none is ignored. Errors never echo the
    /// input, which holds the password.
    pub fn parse(url: &str) -> Result<BackendTarget, String> {
        let params = super::conninfo::parse(url).map_err(|e| {
            format!(
                "the PostgreSQL backend is not a valid connection string ({e}); write it as \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE"
            )
        })?;
        let (mut host, mut port, mut user, mut password, mut database) =
            (None, None, None, None, None);
        let mut connect_timeout = Duration::from_secs(10);
        let (mut sslmode, mut sslrootcert) = (SslMode::Prefer, None);
        for (key, value) in params {
            match key.as_str() {
                "host" => host = Some(value),
                "port" => port = Some(value),
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => database = Some(value),
                "connect_timeout" => {
                    connect_timeout = match value.trim().parse::<u64>() {
                        Ok(n) if n > 0 => Duration::from_secs(n),
                        _ => {
                            return Err("connect_timeout must be a whole number of seconds, \
                                        more than 0"
                                .into())
                        }
                    }
                }
                "sslmode" => sslmode = SslMode::parse(&value)?,
                "sslrootcert" => sslrootcert = Some(value),
                other => return Err(refusal(other)),
            }
        }
        let host = match host.filter(|h| !h.is_empty()) {
            None => "localhost".to_string(),
            Some(h) if h.contains(',') => {
                return Err(
                    "the PostgreSQL backend names several hosts; Sluice connects to \
                            one: give a single host"
                        .into(),
                )
            }
            Some(h) if h.starts_with('/') || h.starts_with('@') => {
                return Err(
                    "the PostgreSQL backend must be reached over TCP (a host name or \
                            address), not a Unix socket"
                        .into(),
                )
            }
            Some(h) => h,
        };
        let port = match port.as_deref().map(str::trim) {
            None | Some("") => 5432,
            Some(p) => p
                .parse()
                .map_err(|_| "the port must be a number from 1 to 65535".to_string())?,
        };
        let user = user
            .filter(|u| !u.is_empty())
            .ok_or("the PostgreSQL backend connection string names no user")?;
        let database = database.filter(|d| !d.is_empty()).unwrap_or(user.clone());
        let tls = BackendTls::new(sslmode, sslrootcert.as_deref(), &host)?;
        Ok(BackendTarget {
            host,
            port,
            user,
            password: password.map(String::into_bytes),
            database,
            connect_timeout,
            idle_transaction_timeout: Duration::from_secs(60),
            tls,
        })
    }

    /// Tells the backend to cancel what connection `pid` runs, as libpq does: on a connection
    /// of its own to the same server, encrypted as the backend connections are.
    pub async fn cancel(
        &self,
        addr: SocketAddr,
        pid: i32,
        secret: i32,
    ) -> Result<(), BackendError> {
        let send = async {
            let stream = TcpStream::connect(addr).await?;
            let mut buf = BytesMut::new();
            frontend::cancel_request(pid, secret, &mut buf);
            match self.tls.negotiate(stream).await? {
                Stream::Plain(mut s) => s.write_all(&buf).await?,
                Stream::Tls(mut s) => {
                    s.write_all(&buf).await?;
                    s.shutdown().await?;
                }
            }
            Ok(())
        };
        tokio::time::timeout(self.connect_timeout, send)
            .await
            .map_err(|_| BackendError::ConnectTimeout(addr.to_string()))?
    }
}

/// Why a URL parameter is refused, and what to do instead.
fn refusal(key: &str) -> String {
    let why = match key {
        "sslcert" | "sslkey" | "sslpassword" | "sslcertmode" => {
            "client certificates are not supported (the gateway authenticates with the URL's \
             password, over TLS with sslmode)"
        }
        "sslcrl" | "sslcrldir" => "certificate revocation lists are not supported",
        "sslsni"
        | "sslnegotiation"
        | "sslcompression"
        | "ssl_min_protocol_version"
        | "ssl_max_protocol_version" => {
            "the gateway's TLS is fixed: TLS 1.2 or 1.3 after an SSLRequest, SNI sent for host \
             names"
        }
        "ssl" => "write sslmode=require (or verify-full) instead",
        "application_name" | "fallback_application_name" | "options" | "client_encoding" => {
            "the gateway sets its own session parameters (application_name=sluice, UTF8, \
             pinned settings); roles set statement timeouts"
        }
        "hostaddr" => "give the address as host",
        "target_session_attrs" | "load_balance_hosts" => {
            "Sluice connects to a single host; give one"
        }
        "channel_binding" | "require_auth" | "gssencmode" | "krbsrvname" | "gsslib"
        | "gssdelegation" => {
            "the gateway authenticates with a password (cleartext, MD5 or SCRAM-SHA-256)"
        }
        "service" | "passfile" | "requirepeer" => {
            "the connection string must hold everything the gateway uses"
        }
        "keepalives"
        | "keepalives_idle"
        | "keepalives_interval"
        | "keepalives_count"
        | "tcp_user_timeout"
        | "replication" => "it is not supported",
        _ => "it is not a parameter Sluice knows",
    };
    format!(
        "the PostgreSQL backend's parameter `{}` is refused: {why}; remove it. Supported \
         parameters: {SUPPORTED_PARAMETERS}",
        super::conninfo::printable(key)
    )
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
    /// TLS as `sslmode` asks for cannot be had: a configuration error, not an outage.
    #[error("{0}")]
    Tls(String),
    /// The server is up but takes no connection now (too many, starting, shutting down).
    #[error("the PostgreSQL backend takes no connection now: {0}")]
    Busy(String),
    #[error("the PostgreSQL backend connection failed: {0}")]
    Io(String),
    #[error("the PostgreSQL backend sent an unexpected message during {0}")]
    Protocol(&'static str),
}

impl BackendError {
    /// Whether the gateway's configuration is at fault (credentials, database, privileges,
    /// TLS, authentication method), which retrying does not mend; otherwise the backend is
    /// down or busy.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            BackendError::Refused(_) | BackendError::UnsupportedAuth(_) | BackendError::Tls(_)
        )
    }

    /// What a client is told when no backend connection can be had: whether retrying helps or
    /// the gateway's operator must act, and never the backend's address, account or words
    /// (the gateway's log has them: this logs the whole error).
    pub fn client_error(&self, fatal: bool) -> super::wire::PgError {
        tracing::warn!("PostgreSQL door: no backend connection: {self}");
        let new = |code, message: &str| {
            if fatal {
                super::wire::PgError::fatal(code, message)
            } else {
                super::wire::PgError::error(code, message)
            }
        };
        if self.is_misconfiguration() {
            new(
                "08004",
                "the gateway cannot open a connection to the database behind it: its configuration is wrong",
            )
            .hint("this is not mended by retrying: tell the gateway's operator, whose log names the cause")
        } else {
            new("08006", "the database behind the gateway is unavailable")
                .hint("retry later; the gateway reconnects when the database is back")
        }
    }
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

/// A backend connection after the TLS negotiation.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The reading half of a backend connection. Plaintext keeps tokio's owned halves (no lock
/// between reader and writer); a TLS stream is one rustls state, split behind tokio's lock.
pub enum BackendRead {
    Plain(OwnedReadHalf),
    Tls(tokio::io::ReadHalf<tokio_rustls::client::TlsStream<TcpStream>>),
}

pub enum BackendWrite {
    Plain(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    fn split(self) -> (BackendRead, BackendWrite) {
        match self {
            Stream::Plain(s) => {
                let (r, w) = s.into_split();
                (BackendRead::Plain(r), BackendWrite::Plain(w))
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (BackendRead::Tls(r), BackendWrite::Tls(w))
            }
        }
    }
}

impl BackendRead {
    /// True when nothing can be read now and the connection is open: what an idle connection
    /// looks like. Reads (and loses) whatever is there otherwise.
    pub fn is_quiet(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match self {
            BackendRead::Plain(r) => matches!(
                r.try_read(&mut probe),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            ),
            BackendRead::Tls(r) => {
                // TLS records that carry no data (session tickets) are consumed and leave it
                // pending; data, an alert or the end of the stream do not.
                let mut buf = ReadBuf::new(&mut probe);
                let mut cx = Context::from_waker(std::task::Waker::noop());
                Pin::new(r).poll_read(&mut cx, &mut buf).is_pending()
            }
        }
    }
}

impl AsyncRead for BackendRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            BackendRead::Plain(r) => Pin::new(r).poll_read(cx, buf),
            BackendRead::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl BackendWrite {
    /// Writes all of `bytes` onto the socket (a TLS stream is flushed: rustls may otherwise
    /// keep records back).
    async fn send_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            BackendWrite::Plain(w) => w.write_all(bytes).await,
            BackendWrite::Tls(w) => {
                w.write_all(bytes).await?;
                w.flush().await
            }
        }
    }
}

/// An authenticated backend connection, idle between statements.
pub struct BackendConn {
    pub reader: FrameReader<BackendRead>,
    pub writer: BackendWrite,
    /// Whether the connection is encrypted (`prefer` may have ended in plaintext).
    pub tls: bool,
    /// For CancelRequest.
    pub pid: i32,
    pub secret: i32,
    pub addr: std::net::SocketAddr,
    /// ParameterStatus values reported at startup.
    pub params: Vec<(String, String)>,
    /// Statements prepared on this connection: backend name → statement key. The unnamed
    /// statement is the entry for "".
    pub prepared: super::NameMap<std::sync::Arc<super::session::StatementText>>,
    /// Statements still prepared on the server that are not to be used again (one whose run
    /// failed: after a table change the server refuses a cached plan whose result changed):
    /// closed before the name is prepared anew.
    pub stale: Vec<String>,
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
        let start = async {
            let stream = target.tls.negotiate(stream).await?;
            let tls = matches!(stream, Stream::Tls(_));
            let (r, w) = stream.split();
            let mut conn = BackendConn {
                reader: FrameReader::new(r, BACKEND_FRAME_LIMIT, 16 * 1024),
                writer: w,
                tls,
                pid: 0,
                secret: 0,
                addr,
                params: Vec::new(),
                prepared: super::NameMap::default(),
                stale: Vec::new(),
                status: b'I',
                dirty: false,
                broken: false,
                unsynced: false,
            };
            conn.handshake(target, profile).await?;
            Ok::<_, BackendError>(conn)
        };
        tokio::time::timeout(target.connect_timeout, start)
            .await
            .map_err(|_| BackendError::ConnectTimeout(addr_text))?
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
        self.writer.send_all(&buf).await?;
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
                        self.writer.send_all(&buf).await?;
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
                b'E' => {
                    // Too many connections, starting up or shutting down: an outage. Anything
                    // else at startup (credentials, database, privileges) is the URL's fault.
                    let code = error_field(&frame, b'C').unwrap_or_default();
                    let message = error_message(&frame);
                    return Err(
                        if code.starts_with("53")
                            || code.starts_with("57P")
                            || code.starts_with("08")
                        {
                            BackendError::Busy(message)
                        } else {
                            BackendError::Refused(message)
                        },
                    );
                }
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
        if let Err(e) = self.writer.send_all(bytes).await {
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
        self.stale.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        let Err(e) = BackendTarget::parse(url) else {
            panic!("{url} was accepted")
        };
        assert!(!e.contains("hunter2"), "{e}");
        e
    }

    #[test]
    fn sslmode_defaults_to_prefer_and_is_read_in_both_forms() {
        let t = BackendTarget::parse("postgres://u:hunter2@h:6/d").unwrap();
        assert_eq!(
            (t.tls.mode, t.port, t.database.as_str()),
            (SslMode::Prefer, 6, "d")
        );
        assert_eq!(t.password.as_deref(), Some(&b"hunter2"[..]));
        let t = BackendTarget::parse("host=h user=u sslmode=require connect_timeout=3").unwrap();
        assert_eq!(t.tls.mode, SslMode::Require);
        assert_eq!(t.connect_timeout, Duration::from_secs(3));
        assert_eq!(t.database, "u");
        let t = BackendTarget::parse("postgresql://u@h/d?sslmode=disable").unwrap();
        assert!(t.tls.config.is_none());
    }

    #[test]
    fn every_parameter_is_honoured_or_refused_by_name() {
        for (param, why) in [
            ("sslcert=/c", "client certificates"),
            ("options=-csearch_path%3Dx", "session parameters"),
            ("application_name=x", "session parameters"),
            ("target_session_attrs=any", "single host"),
            ("sslmod=require", "not a parameter Sluice knows"),
            ("channel_binding=require", "authenticates with a password"),
        ] {
            let e = refused(&format!("postgres://u:hunter2@h/d?{param}"));
            let name = param.split('=').next().unwrap();
            assert!(e.contains(&format!("`{name}`")) && e.contains(why), "{e}");
            assert!(e.contains("Supported parameters: host, port"), "{e}");
        }
        assert!(refused("postgres://u:hunter2@h1,h2/d").contains("several hosts"));
        assert!(refused("postgres://u:hunter2@%2Ftmp/d").contains("Unix socket"));
        assert!(refused("postgres://u:hunter2@h/d?sslmode=verify-ca").contains("sslrootcert=FILE"));
        assert!(refused("postgres://u:hunter2@h/d?sslmode=on").contains("sslmode must be"));
        assert!(refused("postgres://u:hunter2@h/d?sslrootcert=system").contains("ca-certificates"));
        assert!(refused("postgres://u:hunter2@h/d?connect_timeout=0").contains("connect_timeout"));
        assert!(refused("user=u password='hunter2").contains("closing quote"));
    }
}
