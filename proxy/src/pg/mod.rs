//! The PostgreSQL door: a wire-protocol front end that authenticates tokens, checks every
//! statement with the policy engine and forwards the rendered statements over pooled backend
//! connections.
//!
//! Module map: `frame` splits messages; `startup` runs a client's startup and token
//! authentication; `session` handles an authenticated client's messages; `backend` is one
//! privileged backend connection; `pool` shares them; `wire` encodes the messages the gateway
//! writes itself. This door translates and forwards; what is allowed is decided in
//! [`crate::gate`] and the policy crate.

pub(crate) mod backend;
mod conninfo;
pub(crate) mod frame;
pub(crate) mod pool;
mod session;
mod startup;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::door::ClientStream;
pub use backend::BackendTarget;
use pool::Pools;

use crate::audit::Audit;
use crate::gate::Gate;

/// Statement and portal names to what they stand for. Looked up several times per message of
/// the extended protocol, so hashed with foldhash (seeded per process, as the policy crate's
/// caches are: the names are the client's) rather than SipHash.
pub(crate) type NameMap<V> = HashMap<String, V, foldhash::quality::RandomState>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A backend connection serves one client for the client's whole life.
    Session,
    /// A backend connection serves a client for one transaction, then goes back to the pool.
    Transaction,
}

/// The cancel keys handed to clients: backend process id → (secret, the session's slot).
#[derive(Default)]
struct CancelKeys {
    map: HashMap<i32, (i32, std::sync::Weak<CancelSlot>)>,
    /// The size at which ended sessions' keys are next swept out.
    sweep_at: usize,
}

/// Settings of the PostgreSQL door.
pub struct PgDoorConfig {
    pub backend: BackendTarget,
    pub pool_mode: PoolMode,
    pub pool_size: usize,
    pub acquire_timeout: Duration,
    pub default_statement_timeout: Duration,
    pub tls: Arc<rustls::ServerConfig>,
    pub allow_plaintext: bool,
    /// Most client connections at once; more are refused with a clear error.
    pub max_clients: usize,
    /// Session pool mode: most sessions one token may hold at once (each holds a backend
    /// connection). Transaction mode holds none between transactions and does not count them.
    pub max_sessions_per_token: usize,
    /// Run a simple query that is a known family's member as the family's prepared statement
    /// (`--pg-literals-as-text` turns it off).
    pub prepare_families: bool,
}

/// What every session of the door shares.
pub struct PgDoor {
    gate: Arc<Gate>,
    audit: Audit,
    pools: Pools,
    pool_mode: PoolMode,
    default_statement_timeout: Duration,
    idle_transaction_timeout: Duration,
    tls: tokio_rustls::TlsAcceptor,
    allow_plaintext: bool,
    backend_database: String,
    /// ParameterStatus values of the backend, learned from its first connection.
    server_params: RwLock<Option<Vec<(String, String)>>>,
    cancels: Mutex<CancelKeys>,
    clients: Arc<tokio::sync::Semaphore>,
    max_clients: usize,
    /// Open sessions per token, capped in session pool mode (--max-sessions-per-token).
    sessions: Arc<crate::door::TokenSessions>,
    /// Turns true when the gateway shuts down: idle sessions end, busy ones finish first.
    shutdown: watch::Receiver<bool>,
    /// See [`PgDoorConfig::prepare_families`].
    prepare_families: bool,
}

/// The backend a client's CancelRequest goes to, if any, right now.
#[derive(Default)]
pub struct CancelSlot {
    target: Mutex<CancelTarget>,
}

#[derive(Default)]
struct CancelTarget {
    /// The backend connection the session holds: address, process id, secret.
    backend: Option<(SocketAddr, i32, i32)>,
    /// A cancel request was sent toward it since it was set. The request travels on a
    /// connection of its own and may land after the statement it was meant for has ended: the
    /// connection is then never handed to another client, whose statement it would cancel.
    dispatched: bool,
}

impl CancelSlot {
    fn set(&self, addr: SocketAddr, pid: i32, secret: i32) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = CancelTarget {
            backend: Some((addr, pid, secret)),
            dispatched: false,
        };
    }

    /// Forgets the session's backend connection. True when a cancel request was sent toward
    /// it: the connection must be closed, not pooled.
    fn clear(&self) -> bool {
        let mut t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        let dispatched = t.backend.is_some() && t.dispatched;
        *t = CancelTarget::default();
        dispatched
    }

    /// The backend connection to send a cancel request to, marked as sent.
    fn dispatch(&self) -> Option<(SocketAddr, i32, i32)> {
        let mut t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        if t.backend.is_some() {
            t.dispatched = true;
        }
        t.backend
    }
}

impl PgDoor {
    pub fn new(
        config: PgDoorConfig,
        gate: Arc<Gate>,
        audit: Audit,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<PgDoor> {
        tracing::info!(
            "PostgreSQL backend {}:{}: {}",
            config.backend.host,
            config.backend.port,
            config.backend.tls.describe()
        );
        Arc::new(PgDoor {
            gate,
            audit,
            backend_database: config.backend.database.clone(),
            idle_transaction_timeout: config.backend.idle_transaction_timeout,
            pools: Pools::new(config.backend, config.pool_size, config.acquire_timeout),
            pool_mode: config.pool_mode,
            default_statement_timeout: config.default_statement_timeout,
            tls: tokio_rustls::TlsAcceptor::from(config.tls),
            allow_plaintext: config.allow_plaintext,
            server_params: RwLock::new(None),
            cancels: Mutex::new(CancelKeys::default()),
            clients: Arc::new(tokio::sync::Semaphore::new(config.max_clients)),
            max_clients: config.max_clients,
            sessions: crate::door::TokenSessions::new(config.max_sessions_per_token),
            shutdown,
            prepare_families: config.prepare_families,
        })
    }

    /// Accepts clients until `shutdown` turns true, then waits for open sessions to end, at
    /// most `drain`; sessions still open then are closed.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, drain: Duration) {
        let door = self.clone();
        crate::door::serve(
            listener,
            self.shutdown.clone(),
            self.clients.clone(),
            drain,
            "PostgreSQL",
            move |stream, peer, permit| {
                startup::handle(Box::new(startup::Accepted {
                    door: door.clone(),
                    stream,
                    peer,
                    permit,
                }))
            },
        )
        .await;
        self.pools.close();
    }

    /// The backend connection profile a role's sessions use.
    fn profile(&self, role: &sluice_policy::roles::EffectiveRole) -> backend::Profile {
        backend::Profile {
            read_only: !role.can_write(),
            statement_timeout_ms: role
                .statement_timeout
                .unwrap_or(self.default_statement_timeout)
                .as_millis() as u64,
        }
    }

    fn register_cancel(&self, slot: &Arc<CancelSlot>) -> (i32, i32) {
        let mut keys = self.cancels.lock().unwrap_or_else(|p| p.into_inner());
        // Keys of ended sessions are swept when the map has doubled since the last sweep:
        // sweeping at every connect cost each new client a walk over all the others.
        if keys.map.len() >= keys.sweep_at {
            keys.map.retain(|_, (_, w)| w.strong_count() > 0);
            keys.sweep_at = (keys.map.len() * 2).max(64);
        }
        let map = &mut keys.map;
        loop {
            let pid: i32 = rand::random::<i32>() & 0x7fff_ffff;
            if pid != 0 && !map.contains_key(&pid) {
                let secret: i32 = rand::random();
                map.insert(pid, (secret, Arc::downgrade(slot)));
                return (pid, secret);
            }
        }
    }

    /// Forwards a client's CancelRequest to the backend serving it, if the key matches.
    async fn cancel(&self, pid: i32, secret: i32) {
        let target = {
            let keys = self.cancels.lock().unwrap_or_else(|p| p.into_inner());
            keys.map
                .get(&pid)
                .filter(|(s, _)| *s == secret)
                .and_then(|(_, w)| w.upgrade())
                .and_then(|slot| slot.dispatch())
        };
        if let Some((addr, bpid, bsecret)) = target {
            if let Err(e) = self.pools.target().cancel(addr, bpid, bsecret).await {
                tracing::warn!("a client's cancel request did not reach the backend: {e}");
            }
        }
    }
}
