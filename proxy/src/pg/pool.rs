//! Pools of backend connections, one per [`Profile`] (read-only or not, statement timeout).
//!
//! deadpool does the bookkeeping (size, waiting, timeouts); this module says how a connection
//! is made and when one may be handed to the next client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult, Timeouts};

use super::backend::{BackendConn, BackendError, BackendTarget, Profile};

pub struct Connector {
    target: Arc<BackendTarget>,
    profile: Profile,
}

impl managed::Manager for Connector {
    /// Boxed: a session holding a connection then holds a pointer, and a session without one
    /// (every idle client in transaction mode) does not carry a connection's worth of space.
    type Type = Box<BackendConn>;
    type Error = BackendError;

    async fn create(&self) -> Result<Box<BackendConn>, BackendError> {
        Ok(Box::new(
            BackendConn::connect(&self.target, &self.profile).await?,
        ))
    }

    async fn recycle(
        &self,
        conn: &mut Box<BackendConn>,
        _: &Metrics,
    ) -> RecycleResult<BackendError> {
        if conn.broken || conn.unsynced || conn.status != b'I' || conn.reader.buffered() != 0 {
            return Err(RecycleError::message("connection not idle"));
        }
        // An idle connection has nothing to read. If it has (the server's goodbye after a
        // restart) or is closed, it is dead: better found here than by a client's statement.
        if !conn.reader.get_mut().is_quiet() {
            return Err(RecycleError::message("connection closed by the server"));
        }
        if conn.dirty {
            conn.reset().await.map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

pub type Pooled = Object<Connector>;

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("no backend connection became free within {0:?} (all {1} in use); try again or raise --pool-size")]
    Timeout(Duration, usize),
    #[error("{0}")]
    Backend(BackendError),
}

pub struct Pools {
    target: Arc<BackendTarget>,
    size: usize,
    acquire_timeout: Duration,
    pools: Mutex<HashMap<Profile, managed::Pool<Connector>>>,
}

impl Pools {
    pub fn new(target: BackendTarget, size: usize, acquire_timeout: Duration) -> Pools {
        Pools {
            target: Arc::new(target),
            size,
            acquire_timeout,
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn pool(&self, profile: &Profile) -> managed::Pool<Connector> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(profile.clone())
            .or_insert_with(|| {
                managed::Pool::builder(Connector {
                    target: self.target.clone(),
                    profile: profile.clone(),
                })
                .max_size(self.size)
                .runtime(deadpool::Runtime::Tokio1)
                .build()
                .expect("a pool with a runtime always builds")
            })
            .clone()
    }

    pub async fn acquire(&self, profile: &Profile) -> Result<Pooled, AcquireError> {
        let pool = self.pool(profile);
        let timeouts = Timeouts {
            wait: Some(self.acquire_timeout),
            create: Some(self.target.connect_timeout),
            recycle: Some(Duration::from_secs(5)),
        };
        match pool.timeout_get(&timeouts).await {
            Ok(conn) => Ok(conn),
            Err(managed::PoolError::Backend(e)) => Err(AcquireError::Backend(e)),
            Err(managed::PoolError::Timeout(managed::TimeoutType::Wait)) => {
                Err(AcquireError::Timeout(self.acquire_timeout, self.size))
            }
            Err(managed::PoolError::Timeout(_)) => Err(AcquireError::Backend(
                BackendError::ConnectTimeout(format!("{}:{}", self.target.host, self.target.port)),
            )),
            Err(
                managed::PoolError::PostCreateHook(_)
                | managed::PoolError::Closed
                | managed::PoolError::NoRuntimeSpecified,
            ) => Err(AcquireError::Backend(BackendError::Protocol("pool setup"))),
        }
    }

    /// Gives a connection back. One that is not idle and clean is closed instead.
    pub fn release(conn: Pooled) {
        if conn.broken || conn.unsynced || conn.status != b'I' || conn.reader.buffered() != 0 {
            drop(Object::take(conn));
        }
    }

    pub fn target(&self) -> &BackendTarget {
        &self.target
    }

    pub fn close(&self) {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        for p in pools.values() {
            p.close();
        }
    }
}
