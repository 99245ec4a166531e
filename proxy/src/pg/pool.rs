//! Pools of backend connections, one per [`Profile`] (read-only or not, statement timeout).
//!
//! A pool is a stack of idle connections and a semaphore with one permit per connection it may
//! have open. Taking a connection when one is idle is a lock, a pop and a readiness check, with
//! nothing awaited: in transaction mode that is once per transaction, so it is on the hot path.
//! Waiting for a permit, connecting and resetting a connection are the slow paths, each in a box
//! of its own, so that a session's message handler does not carry their state (it is copied into
//! a new box for every client message).
//!
//! A connection goes back to its pool only through [`Pools::release`], and only when it is
//! idle and clean; a [`Pooled`] dropped any other way (a session torn down mid-reply) closes its
//! connection. The next client never inherits a reply meant for another.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::backend::{BackendConn, BackendError, BackendTarget, Profile};
use super::wire::PgError;

/// How long a pooled connection's reset (`DISCARD ALL`, after a client changed a setting) may
/// take before the connection is closed instead.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

struct Pool {
    target: Arc<BackendTarget>,
    profile: Profile,
    /// Idle connections, the most recently used on top (it is the warmest on the server).
    /// Boxed: a connection moves between here and a [`Pooled`] (which must stay small, it is
    /// part of every session) without being copied or allocated again.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<BackendConn>>>,
    /// One permit per connection in use or being opened. An idle connection holds none, and a
    /// new one is opened only when none is idle, so the open connections never outnumber the
    /// permits.
    permits: Arc<Semaphore>,
}

impl Pool {
    fn pop_idle(&self) -> Option<Box<BackendConn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

/// A connection taken from a pool: it holds the pool's permit until it is released or dropped.
pub struct Pooled {
    conn: Option<Box<BackendConn>>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Pooled {
    type Target = BackendConn;
    fn deref(&self) -> &BackendConn {
        self.conn
            .as_deref()
            .expect("a pooled connection is present until it is given back")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut BackendConn {
        self.conn
            .as_deref_mut()
            .expect("a pooled connection is present until it is given back")
    }
}

/// Whether the gateway left a connection idle and clean: synced, outside a transaction, with
/// nothing unread. Only such a connection goes back to its pool.
fn idle_and_clean(conn: &BackendConn) -> bool {
    !conn.broken && !conn.unsynced && conn.status == b'I' && conn.reader.buffered() == 0
}

/// Whether an idle connection may serve the next client as it is (a reset aside): still idle
/// and clean, and not closed by the server.
fn reusable(conn: &mut BackendConn) -> bool {
    // An idle connection has nothing to read. If it has (the server's goodbye after a restart)
    // or is closed, it is dead: better found here than by a client's statement.
    idle_and_clean(conn) && conn.reader.get_mut().is_quiet()
}

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("no backend connection became free within {0:?} (all {1} in use); try again or raise --pool-size")]
    Timeout(Duration, usize),
    #[error("the gateway is shutting down; reconnect to another instance or after its restart")]
    Closed,
    #[error("{0}")]
    Backend(BackendError),
}

impl AcquireError {
    /// What the client is told; `fatal` at startup, where the connection then ends. A shutdown
    /// always ends the session (57P01, as an idle session is told); a full pool in a session
    /// is an error the client may retry.
    pub fn client_error(self, fatal: bool) -> PgError {
        match self {
            AcquireError::Backend(b) => b.client_error(fatal),
            AcquireError::Closed => PgError::fatal("57P01", AcquireError::Closed.to_string()),
            timeout if fatal => PgError::fatal("53300", timeout.to_string()),
            timeout => PgError::error("53300", timeout.to_string()),
        }
    }
}

pub struct Pools {
    target: Arc<BackendTarget>,
    size: usize,
    acquire_timeout: Duration,
    pools: Mutex<HashMap<Profile, Arc<Pool>>>,
    closed: AtomicBool,
}

impl Pools {
    pub fn new(target: BackendTarget, size: usize, acquire_timeout: Duration) -> Pools {
        Pools {
            target: Arc::new(target),
            size,
            acquire_timeout,
            pools: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        }
    }

    fn pool(&self, profile: &Profile) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get(profile) {
            return pool.clone();
        }
        pools
            .entry(profile.clone())
            .or_insert_with(|| {
                Arc::new(Pool {
                    target: self.target.clone(),
                    profile: profile.clone(),
                    idle: Mutex::new(Vec::new()),
                    permits: Arc::new(Semaphore::new(self.size)),
                })
            })
            .clone()
    }

    /// A connection for `profile`: an idle one when there is one, else a new one while the pool
    /// has room, else the first one given back within the acquire timeout.
    pub async fn acquire(&self, profile: &Profile) -> Result<Pooled, AcquireError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AcquireError::Closed);
        }
        let pool = self.pool(profile);
        let permit = match pool.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(AcquireError::Closed),
            Err(TryAcquireError::NoPermits) => {
                let wait = tokio::time::timeout(
                    self.acquire_timeout,
                    pool.permits.clone().acquire_owned(),
                );
                match Box::pin(wait).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(AcquireError::Closed),
                    Err(_) => return Err(AcquireError::Timeout(self.acquire_timeout, self.size)),
                }
            }
        };
        while let Some(mut conn) = pool.pop_idle() {
            if !reusable(&mut conn) {
                continue; // dropped: closed, and its place is the permit held
            }
            if conn.dirty {
                let reset = tokio::time::timeout(RESET_TIMEOUT, conn.reset());
                if !matches!(Box::pin(reset).await, Ok(Ok(()))) {
                    continue;
                }
            }
            return Ok(Pooled {
                conn: Some(conn),
                pool,
                _permit: permit,
            });
        }
        // BackendConn::connect times its TCP connect and its startup apart; the whole is held
        // to the connect timeout too.
        let target = &pool.target;
        let connect = tokio::time::timeout(
            target.connect_timeout,
            BackendConn::connect(target, &pool.profile),
        );
        let conn = match Box::pin(connect).await {
            Ok(conn) => conn.map_err(AcquireError::Backend)?,
            Err(_) => {
                return Err(AcquireError::Backend(BackendError::ConnectTimeout(
                    format!("{}:{}", target.host, target.port),
                )))
            }
        };
        Ok(Pooled {
            conn: Some(Box::new(conn)),
            pool,
            _permit: permit,
        })
    }

    /// Gives a connection back to its pool. One that is not idle and clean is closed instead,
    /// as is one whose pool was closed.
    pub fn release(mut conn: Pooled) {
        let Some(c) = conn.conn.take() else {
            return;
        };
        if !idle_and_clean(&c) {
            return;
        }
        // Checked under the idle stack's lock, which `close` holds while it closes the pool: a
        // connection is never pushed after the stack was emptied for good.
        let mut idle = conn.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if conn.pool.permits.is_closed() {
            return;
        }
        idle.push(c);
        drop(idle);
        // The permit is released after the push (fields drop after the body), so a client
        // that was waiting for it finds the connection idle.
    }

    pub fn target(&self) -> &BackendTarget {
        &self.target
    }

    /// Closes every pool: idle connections are closed, waiting and later acquires fail with
    /// [`AcquireError::Closed`], and connections in use are closed when given back.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        for p in pools.values() {
            let mut idle = p.idle.lock().unwrap_or_else(|p| p.into_inner());
            p.permits.close();
            idle.clear();
        }
    }
}
