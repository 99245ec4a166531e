//! The MySQL door: MySQL and MariaDB clients authenticate with a token, every statement goes
//! through the policy engine (MySQL dialect), and the rendered statements run over pooled
//! backend connections (mysql_async).
//!
//! Module map: `packet` frames the client's packets and writes OK/ERR/EOF; `handshake` runs the
//! connection phase up to the token; `session` handles an authenticated client's commands and
//! relays the backend's results; `backend` holds the pools with their pinned settings.
//!
//! A client holds one backend connection for its whole session (session pooling): MySQL
//! session state (prepared statements, `SET` values, `autocommit`, open transactions) lives on
//! the connection, and the connection is reset when the client leaves. This door translates
//! and forwards; what is allowed is decided in [`crate::gate`] and the policy crate.

pub(crate) mod backend;
mod handshake;
mod packet;
mod session;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use backend::{BackendTarget, PINNED_SQL_MODE};
use backend::{Pools, Profile};

use crate::audit::{Audit, AuditEvent};
use crate::door::{ClientStream, TokenSessions};
use crate::gate::Gate;
use packet::PacketIo;

/// Largest packet a client may send before it is authenticated.
const PRE_AUTH_LIMIT: usize = 16 * 1024;
/// A client must get through the connection phase (greeting to token) within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest packet (statement, parameters) an authenticated client may send.
const PACKET_LIMIT: usize = 64 << 20;

/// Settings of the MySQL door.
pub struct MyDoorConfig {
    pub backend: BackendTarget,
    /// Backend connections per profile; each client session holds one.
    pub pool_size: usize,
    pub acquire_timeout: Duration,
    pub default_statement_timeout: Duration,
    pub tls: Arc<rustls::ServerConfig>,
    pub allow_plaintext: bool,
    pub max_clients: usize,
    /// A transaction idle this long is rolled back and its session closed.
    pub idle_transaction_timeout: Duration,
    /// Most sessions one token may hold at once (each holds a backend connection).
    pub max_sessions_per_token: usize,
}

/// What every session of the door shares.
pub struct MyDoor {
    gate: Arc<Gate>,
    audit: Audit,
    pools: Pools,
    default_statement_timeout: Duration,
    tls: tokio_rustls::TlsAcceptor,
    allow_plaintext: bool,
    clients: Arc<tokio::sync::Semaphore>,
    max_clients: usize,
    next_connection_id: AtomicU32,
    idle_transaction_timeout: Duration,
    /// Open sessions per token, capped (--max-sessions-per-token).
    sessions: Arc<TokenSessions>,
    shutdown: watch::Receiver<bool>,
}

impl MyDoor {
    pub fn new(
        config: MyDoorConfig,
        gate: Arc<Gate>,
        audit: Audit,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<MyDoor> {
        Arc::new(MyDoor {
            gate,
            audit,
            pools: Pools::new(config.backend, config.pool_size, config.acquire_timeout),
            default_statement_timeout: config.default_statement_timeout,
            tls: tokio_rustls::TlsAcceptor::from(config.tls),
            allow_plaintext: config.allow_plaintext,
            clients: Arc::new(tokio::sync::Semaphore::new(config.max_clients)),
            max_clients: config.max_clients,
            next_connection_id: AtomicU32::new(1),
            idle_transaction_timeout: config.idle_transaction_timeout,
            sessions: TokenSessions::new(config.max_sessions_per_token),
            shutdown,
        })
    }

    /// Accepts clients until shutdown, then drains (see [`crate::door::serve`]).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, drain: Duration) {
        let door = self.clone();
        crate::door::serve(
            listener,
            self.shutdown.clone(),
            self.clients.clone(),
            drain,
            "MySQL",
            move |stream, peer, permit| {
                let door = door.clone();
                async move {
                    match permit {
                        Some(_permit) => door.client(stream, peer).await,
                        None => door.refuse_full(stream).await,
                    }
                }
            },
        )
        .await;
        self.pools.close().await;
    }

    /// The backend connection profile of a role's sessions.
    fn profile(&self, role: &sluice_policy::roles::EffectiveRole, found_rows: bool) -> Profile {
        Profile {
            read_only: !role.can_write(),
            statement_timeout_ms: role
                .statement_timeout
                .unwrap_or(self.default_statement_timeout)
                .as_millis() as u64,
            found_rows,
        }
    }

    async fn refuse_full(&self, stream: TcpStream) {
        let mut io = PacketIo::new(ClientStream::Plain(stream), PRE_AUTH_LIMIT);
        io.write(&packet::err_packet(
            1040,
            "08004",
            &format!(
                "too many connections: this gateway serves at most {} clients at once (--max-clients); try again later",
                self.max_clients
            ),
        ));
        let _ = io.flush().await;
    }

    /// One client, from the greeting to the end of its session.
    async fn client(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let connection_id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let mut io = PacketIo::new(ClientStream::Plain(stream), PRE_AUTH_LIMIT);
        let (version, mariadb_ext) = match self.pools.server_info().await {
            Ok(info) => (
                greeting_version(info),
                if info.extended_metadata {
                    handshake::MARIADB_CLIENT_EXTENDED_METADATA
                } else {
                    0
                },
            ),
            Err(e) => {
                // The details (host, backend user) are for the operator, not the client.
                tracing::error!("MySQL door: {e}");
                io.write(&packet::err_packet(
                    2003,
                    "HY000",
                    "the database behind the gateway cannot be reached; try again later",
                ));
                let _ = io.flush().await;
                return;
            }
        };
        let hello = handshake::hello(
            io,
            peer,
            connection_id,
            &version,
            mariadb_ext,
            &self.tls,
            self.allow_plaintext,
        );
        let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, hello).await {
            Err(_) => {
                tracing::debug!("MySQL client {peer} did not finish the handshake in time");
                return;
            }
            Ok(Ok(h)) => h,
            Ok(Err(handshake::HandshakeEnd::Gone(why))) => {
                tracing::debug!("MySQL client {peer} left during the handshake: {why}");
                return;
            }
            Ok(Err(handshake::HandshakeEnd::Refused(why))) => {
                tracing::debug!("MySQL client {peer} refused: {why}");
                return;
            }
        };
        let handshake::Hello {
            mut io,
            capabilities,
            extended_metadata,
            user,
            database,
            token,
        } = hello;
        let peer_text = peer.to_string();
        let connect_event = AuditEvent::connect("mysql", &peer_text, &user);
        let claims = match self.gate.authenticate(&token, crate::now_unix()) {
            Ok(c) => c,
            Err(refused) => {
                let mut ev = connect_event;
                ev.decision = "deny";
                ev.rule = Some("token".into());
                ev.reason = Some(refused.reason.into());
                self.audit.record(ev).await;
                handshake::refuse_token(&mut io, refused.reason).await;
                return;
            }
        };
        drop(token);
        let connect_event = connect_event.with_claims(&claims);
        let refuse = |mut ev: AuditEvent, rule: &str, reason: &str| {
            ev.decision = "deny";
            ev.rule = Some(rule.to_string());
            ev.reason = Some(reason.to_string());
            ev
        };
        let Some(role) = self.gate.role(&claims) else {
            self.audit
                .record(refuse(connect_event, "token", "invalid: role gone"))
                .await;
            handshake::refuse_token(&mut io, "invalid").await;
            return;
        };
        let Some(_slot) = self.sessions.open(&claims.jti) else {
            let message = self.sessions.refusal();
            self.audit
                .record(refuse(connect_event, "sessions_per_token", &message))
                .await;
            handshake::refuse(&mut io, 1040, "08004", &message).await;
            return;
        };
        if let Some(db) = &database {
            if db != self.pools.database() {
                let message = format!(
                    "access denied to database '{db}': this gateway serves only '{}'",
                    self.pools.database()
                );
                self.audit
                    .record(refuse(connect_event, "database", &message))
                    .await;
                handshake::refuse(&mut io, 1044, "42000", &message).await;
                return;
            }
        }
        let profile = self.profile(&role, capabilities & handshake::CLIENT_FOUND_ROWS != 0);
        let conn = match self.pools.acquire(profile).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("MySQL door: {e}");
                let (code, message) = match e {
                    backend::AcquireError::Exhausted(..) => (1040, e.to_string()),
                    backend::AcquireError::Unreachable(..) => (
                        2003,
                        "the database behind the gateway cannot be reached; try again later"
                            .to_string(),
                    ),
                    // Not mended by retrying; the gateway's log names the cause.
                    backend::AcquireError::Tls(_) | backend::AcquireError::Refused(..) => (
                        2003,
                        "the gateway cannot open a connection to the database behind it: its \
                         configuration is wrong; tell the gateway's operator"
                            .to_string(),
                    ),
                };
                self.audit
                    .record(refuse(connect_event, "backend", &message))
                    .await;
                handshake::refuse(&mut io, code, "08004", &message).await;
                return;
            }
        };
        self.audit.record(connect_event.clone()).await;
        io.limit = PACKET_LIMIT;
        let info = session::SessionInfo {
            peer: peer_text,
            user,
            claims,
            capabilities,
            extended_metadata,
        };
        let disconnect = session::run(self.clone(), io, info, role, conn).await;
        let mut ev = connect_event;
        ev.time = crate::audit::now_rfc3339();
        ev.event = "disconnect";
        ev.reason = disconnect;
        self.audit.record(ev).await;
    }
}

/// The version the greeting shows: the backend's, as the backend itself would show it (MariaDB
/// prefixes `5.5.5-` for old clients), marked as coming through Sluice.
fn greeting_version(info: &backend::ServerInfo) -> String {
    if info.mariadb && !info.version.starts_with("5.5.5-") {
        format!("5.5.5-{}-sluice", info.version)
    } else {
        format!("{}-sluice", info.version)
    }
}
