//! Privileged connections to the MySQL/MariaDB backend: one mysql_async pool per connection
//! profile, each connection with the gateway's pinned settings.
//!
//! Pinned on every connection, after connecting and after every reset (mysql_async's `setup`
//! queries run after both): `sql_mode` (backslash escapes on, as the policy engine's renderer
//! writes strings; `PIPES_AS_CONCAT`, so `||` is concatenation on the backend as it is in the
//! parsed statement; no `ANSI_QUOTES`), `utf8mb4` for the connection, autocommit on, the
//! statement timeout, and `READ ONLY` transactions for roles that cannot write. A connection
//! goes back to its pool with `COM_RESET_CONNECTION`, which ends any transaction the client
//! left open (rolled back) and drops its session state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use tokio::sync::OnceCell;

/// The sql_mode every backend connection runs with. The policy engine's MySQL renderer relies
/// on backslash escapes being on (no `NO_BACKSLASH_ESCAPES`) and double quotes delimiting
/// strings (no `ANSI_QUOTES`).
pub const PINNED_SQL_MODE: &str =
    "PIPES_AS_CONCAT,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// The backend server, from `--mysql-backend`.
#[derive(Clone)]
pub struct BackendTarget {
    opts: Opts,
    pub database: String,
}

impl BackendTarget {
    pub fn parse(url: &str) -> anyhow::Result<BackendTarget> {
        // mysql_async's URL errors can quote the URL, password included: say what is wrong
        // without it.
        let opts = Opts::from_url(url).map_err(|e| {
            let what = match e {
                mysql_async::UrlError::UnsupportedScheme { .. } => {
                    "the scheme must be mysql://".to_string()
                }
                mysql_async::UrlError::InvalidParamValue { param, .. } => {
                    format!("the value of parameter {param} is invalid")
                }
                mysql_async::UrlError::UnknownParameter { param } => {
                    format!("unknown parameter {param}")
                }
                _ => "it is not a valid URL".to_string(),
            };
            anyhow::anyhow!(
                "--mysql-backend: {what}; expected mysql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        })?;
        let database = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .context(
                "--mysql-backend names no database: expected mysql://USER:PASSWORD@HOST:PORT/DATABASE",
            )?
            .to_string();
        Ok(BackendTarget { opts, database })
    }

    /// One connection outside the pools, with the target's own settings (over TCP, as the
    /// pools connect), for a short job: the server's version, the schema.
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, AcquireError> {
        let opts = OptsBuilder::from_opts(self.opts.clone()).prefer_socket(false);
        match tokio::time::timeout(timeout, Conn::new(opts)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(AcquireError::Unreachable(self.display(), e.to_string())),
            Err(_) => Err(AcquireError::Unreachable(
                self.display(),
                format!("no answer within {timeout:?}"),
            )),
        }
    }

    /// `host:port/database`, for messages (never the credentials).
    pub fn display(&self) -> String {
        format!(
            "{}:{}/{}",
            self.opts.ip_or_hostname(),
            self.opts.tcp_port(),
            self.database
        )
    }
}

/// How a backend connection is set up for the sessions that use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Profile {
    pub read_only: bool,
    pub statement_timeout_ms: u64,
    /// The client asked for CLIENT_FOUND_ROWS: UPDATE reports matched rows, not changed rows.
    pub found_rows: bool,
}

/// What the backend server says it is, learned from a first connection.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `SELECT VERSION()`, e.g. `10.11.6-MariaDB-0+deb12u1`.
    pub version: String,
    pub mariadb: bool,
}

pub struct Pools {
    target: BackendTarget,
    size: usize,
    acquire_timeout: Duration,
    pools: Mutex<HashMap<Profile, Pool>>,
    info: OnceCell<ServerInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("the database behind the gateway ({0}) cannot be reached: {1}")]
    Unreachable(String, String),
    #[error("all {0} backend connections are in use (waited {1:?}); try again later")]
    Exhausted(usize, Duration),
}

impl Pools {
    pub fn new(target: BackendTarget, size: usize, acquire_timeout: Duration) -> Pools {
        Pools {
            target,
            size: size.max(1),
            acquire_timeout,
            pools: Mutex::new(HashMap::new()),
            info: OnceCell::new(),
        }
    }

    pub fn database(&self) -> &str {
        &self.target.database
    }

    /// The backend's version and flavour, asked once.
    pub async fn server_info(&self) -> Result<&ServerInfo, AcquireError> {
        self.info
            .get_or_try_init(|| async {
                let fail = |e: mysql_async::Error| {
                    AcquireError::Unreachable(self.target.display(), e.to_string())
                };
                let mut conn = self.target.connect(self.acquire_timeout).await?;
                let version: Option<String> =
                    conn.query_first("SELECT VERSION()").await.map_err(fail)?;
                let _ = conn.disconnect().await;
                let version = version.unwrap_or_default();
                Ok(ServerInfo {
                    mariadb: version.contains("MariaDB"),
                    version,
                })
            })
            .await
    }

    /// A connection set up for `profile`, waiting at most the acquire timeout.
    pub async fn acquire(&self, profile: Profile) -> Result<Conn, AcquireError> {
        let mariadb = self.server_info().await?.mariadb;
        let pool = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools
                .entry(profile)
                .or_insert_with(|| Pool::new(self.profile_opts(profile, mariadb)))
                .clone()
        };
        match tokio::time::timeout(self.acquire_timeout, pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(AcquireError::Unreachable(
                self.target.display(),
                e.to_string(),
            )),
            Err(_) => Err(AcquireError::Exhausted(self.size, self.acquire_timeout)),
        }
    }

    /// Closes every pool's idle connections (shutdown).
    pub async fn close(&self) {
        let pools: Vec<Pool> = {
            let mut map = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, p)| p).collect()
        };
        for p in pools {
            let _ = p.disconnect().await;
        }
    }

    fn base_opts(&self) -> OptsBuilder {
        OptsBuilder::from_opts(self.target.opts.clone())
            .prefer_socket(false)
            // Above the statements a client may hold, so the cache never closes one in use.
            .stmt_cache_size(super::session::MAX_STATEMENTS + 64)
    }

    fn profile_opts(&self, profile: Profile, mariadb: bool) -> OptsBuilder {
        let timeout = if mariadb {
            format!(
                "max_statement_time = {:.3}",
                profile.statement_timeout_ms as f64 / 1000.0
            )
        } else {
            format!("max_execution_time = {}", profile.statement_timeout_ms)
        };
        let setup = vec![
            format!(
                "SET SESSION sql_mode = '{PINNED_SQL_MODE}', SESSION autocommit = 1, SESSION {timeout}"
            ),
            "SET NAMES utf8mb4".to_string(),
            format!(
                "SET SESSION TRANSACTION {}",
                if profile.read_only {
                    "READ ONLY"
                } else {
                    "READ WRITE"
                }
            ),
        ];
        self.base_opts()
            .client_found_rows(profile.found_rows)
            .setup(setup)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(PoolConstraints::new(0, self.size).expect("0 <= size"))
                    .with_reset_connection(true),
            )
    }
}
