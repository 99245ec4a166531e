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
use mysql_async::consts::MariadbCapabilities;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};
use tokio::sync::OnceCell;

/// The sql_mode every backend connection runs with. The policy engine's MySQL renderer relies
/// on backslash escapes being on (no `NO_BACKSLASH_ESCAPES`) and double quotes delimiting
/// strings (no `ANSI_QUOTES`).
pub const PINNED_SQL_MODE: &str =
    "PIPES_AS_CONCAT,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// The URL parameters the gateway honours; every other one is refused at start.
const SUPPORTED_PARAMETERS: &str = "ssl-mode, ssl-ca";

/// The backend server, from `--mysql-backend`.
#[derive(Clone)]
pub struct BackendTarget {
    /// Without TLS options: [`BackendTarget::opts`] adds them.
    opts: Opts,
    pub database: String,
    pub tls: BackendTls,
}

/// MySQL's `ssl-mode`, as its clients read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disabled,
    /// TLS if the server offers it (its greeting carries CLIENT_SSL), plaintext otherwise.
    Preferred,
    Required,
    /// The certificate chains to `ssl-ca`. With mysql_async 0.37.1 the host name is checked
    /// too, as under VERIFY_IDENTITY: its option to skip that check has no effect with
    /// rustls 0.23 (blackbeam/mysql_async#404, fixed upstream after 0.37.1). That fails
    /// closed: a certificate that does not name the host is refused.
    VerifyCa,
    VerifyIdentity,
}

impl SslMode {
    fn name(self) -> &'static str {
        match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Preferred => "PREFERRED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// The TLS backend connections are opened with, decided (and the CA file read) at parse.
#[derive(Clone)]
pub struct BackendTls {
    pub mode: SslMode,
    /// mysql_async's options for a TLS connection; `None` with DISABLED.
    ssl: Option<Box<SslOpts>>,
}

impl BackendTls {
    /// MySQL's client rules: the default is PREFERRED, or VERIFY_CA when `ssl-ca` is given;
    /// VERIFY_CA and VERIFY_IDENTITY need `ssl-ca`; `ssl-ca` with a mode that would not check
    /// it is refused rather than ignored.
    fn new(mode: Option<SslMode>, ca: Option<&str>) -> Result<BackendTls, String> {
        let mode = mode.unwrap_or(if ca.is_some() {
            SslMode::VerifyCa
        } else {
            SslMode::Preferred
        });
        let ssl = match (mode, ca) {
            (SslMode::Disabled | SslMode::Preferred | SslMode::Required, Some(_)) => {
                return Err(format!(
                    "ssl-ca is given but ssl-mode={} does not check the server's certificate; \
                     write ssl-mode=VERIFY_IDENTITY (or VERIFY_CA) to have it checked, or \
                     remove ssl-ca",
                    mode.name()
                ))
            }
            (SslMode::VerifyCa | SslMode::VerifyIdentity, None) => {
                return Err(format!(
                    "ssl-mode={} needs ssl-ca=FILE: the CA certificate (PEM) that signed the \
                     server's certificate",
                    mode.name()
                ))
            }
            (SslMode::Disabled, None) => None,
            // No certificate is checked; the built-in roots stay only because mysql_async
            // refuses to build its verifier with none.
            (SslMode::Preferred | SslMode::Required, None) => {
                Some(SslOpts::default().with_danger_accept_invalid_certs(true))
            }
            (SslMode::VerifyCa | SslMode::VerifyIdentity, Some(path)) => {
                // Read (and checked) now, so that a bad file stops the start; mysql_async
                // gets the bytes.
                crate::backend_tls::load_roots("ssl-ca", path)?;
                let pem = std::fs::read(path)
                    .map_err(|e| format!("ssl-ca={path}: cannot read the file: {e}"))?;
                Some(
                    SslOpts::default()
                        .with_root_certs(vec![pem.into()])
                        .with_disable_built_in_roots(true)
                        .with_danger_skip_domain_validation(mode == SslMode::VerifyCa),
                )
            }
        };
        Ok(BackendTls {
            mode,
            ssl: ssl.map(Box::new),
        })
    }
}

impl BackendTarget {
    /// Parses `mysql://USER:PASSWORD@HOST:PORT/DATABASE?ssl-mode=…&ssl-ca=…`. Every parameter
    /// is honoured or refused (the error names it and the supported ones); none is ignored.
    /// Errors never echo the URL, which holds the password.
    pub fn parse(url: &str) -> anyhow::Result<BackendTarget> {
        const EXPECTED: &str = "expected mysql://USER:PASSWORD@HOST:PORT/DATABASE?ssl-mode=MODE";
        let mut parsed = url::Url::parse(url.trim())
            .map_err(|_| anyhow::anyhow!("--mysql-backend: it is not a valid URL; {EXPECTED}"))?;
        let (mut mode, mut ca) = (None, None);
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "ssl-mode" => {
                    mode = Some(match value.to_ascii_uppercase().as_str() {
                        "DISABLED" => SslMode::Disabled,
                        "PREFERRED" => SslMode::Preferred,
                        "REQUIRED" => SslMode::Required,
                        "VERIFY_CA" => SslMode::VerifyCa,
                        "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
                        _ => anyhow::bail!(
                            "--mysql-backend: ssl-mode must be DISABLED, PREFERRED, REQUIRED, \
                             VERIFY_CA or VERIFY_IDENTITY"
                        ),
                    })
                }
                "ssl-ca" => ca = Some(value.into_owned()),
                other => anyhow::bail!("--mysql-backend: {}", refusal(other)),
            }
        }
        let tls = BackendTls::new(mode, ca.as_deref())
            .map_err(|e| anyhow::anyhow!("--mysql-backend: {e}"))?;
        parsed.set_query(None);
        // mysql_async's URL errors can quote the URL, password included: say what is wrong
        // without it.
        let opts = Opts::from_url(parsed.as_str()).map_err(|e| {
            let what = match e {
                mysql_async::UrlError::UnsupportedScheme { .. } => {
                    "the scheme must be mysql://".to_string()
                }
                _ => "it is not a valid URL".to_string(),
            };
            anyhow::anyhow!("--mysql-backend: {what}; {EXPECTED}")
        })?;
        let database = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .context(
                "--mysql-backend names no database: expected mysql://USER:PASSWORD@HOST:PORT/DATABASE",
            )?
            .to_string();
        // mysql_async builds its rustls configuration with the process's default provider:
        // make it the gateway's (ring), whatever else the build enables.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(BackendTarget {
            opts,
            database,
            tls,
        })
    }

    /// The target's options, over TCP, encrypted or not.
    fn opts(&self, tls: bool) -> OptsBuilder {
        let ssl = if tls {
            self.tls.ssl.as_deref().cloned()
        } else {
            None
        };
        OptsBuilder::from_opts(self.opts.clone())
            .prefer_socket(false)
            .ssl_opts(ssl)
    }

    /// One connection outside the pools, with the target's own settings (over TCP, as the
    /// pools connect), for a short job: the server's version, the schema.
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, AcquireError> {
        Ok(self.connect_and_tell(timeout).await?.0)
    }

    /// A connection, and whether it is encrypted. PREFERRED tries TLS first and falls back to
    /// plaintext only when the server's greeting does not offer TLS.
    async fn connect_and_tell(&self, timeout: Duration) -> Result<(Conn, bool), AcquireError> {
        let attempt = |tls: bool| async move {
            match tokio::time::timeout(timeout, Conn::new(self.opts(tls))).await {
                Ok(r) => r.map_err(Some),
                Err(_) => Err(None),
            }
        };
        let tls = self.tls.ssl.is_some();
        let outcome = match attempt(tls).await {
            Err(Some(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            ))) if self.tls.mode == SslMode::Preferred => {
                return attempt(false)
                    .await
                    .map(|c| (c, false))
                    .map_err(|e| self.failure(e));
            }
            other => other,
        };
        outcome.map(|c| (c, tls)).map_err(|e| self.failure(e))
    }

    /// What a failed connection attempt means (`None`: it timed out).
    fn failure(&self, e: Option<mysql_async::Error>) -> AcquireError {
        let Some(e) = e else {
            return AcquireError::Unreachable(self.display(), "no answer in time".into());
        };
        if let mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) = e {
            return AcquireError::Tls(format!(
                "the MySQL backend at {} does not offer TLS, and ssl-mode={} requires it; set \
                 the server's ssl_cert and ssl_key, or change ssl-mode",
                self.display(),
                self.tls.mode.name()
            ));
        }
        if let Some(cause) = crate::backend_tls::tls_cause(&e) {
            return AcquireError::Tls(format!(
                "the TLS handshake with the MySQL backend at {} failed (ssl-mode={}): {}",
                self.display(),
                self.tls.mode.name(),
                crate::backend_tls::explain(cause, "ssl-ca")
            ));
        }
        // Access denied (1044, 1045, 1698), unknown database (1049): the URL is wrong.
        if let mysql_async::Error::Server(s) = &e {
            if matches!(s.code, 1044 | 1045 | 1049 | 1698) {
                return AcquireError::Refused(self.display(), e.to_string());
            }
        }
        AcquireError::Unreachable(self.display(), e.to_string())
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

/// Why a URL parameter is refused, and what to do instead.
fn refusal(key: &str) -> String {
    let why = match key {
        "require_ssl" | "verify_ca" | "verify_identity" | "built_in_roots" | "sslmode"
        | "ssl_mode" | "ssl_ca" => "write the TLS settings as ssl-mode=MODE and ssl-ca=FILE",
        "ssl-cert" | "ssl-key" => {
            "client certificates are not supported (the gateway authenticates with the URL's \
             password)"
        }
        "socket" | "prefer_socket" => "the gateway connects over TCP only",
        "pool_min"
        | "pool_max"
        | "inactive_connection_ttl"
        | "ttl_check_interval"
        | "conn_ttl"
        | "abs_conn_ttl"
        | "abs_conn_ttl_jitter"
        | "reset_connection"
        | "stmt_cache_size" => "the gateway sizes and resets its pools itself (--pool-size)",
        "client_found_rows" | "wait_timeout" => {
            "the gateway sets its backend sessions itself (per client and role)"
        }
        _ => "it is not a parameter Sluice supports",
    };
    let key = if key.len() <= 40 && key.chars().all(|c| c.is_ascii_graphic()) {
        key
    } else {
        "(a parameter whose name is not a plain word)"
    };
    format!(
        "the parameter `{key}` is refused: {why}; remove it. Supported parameters: \
         {SUPPORTED_PARAMETERS}"
    )
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
    /// Whether the first connection was encrypted: the pools' connections are opened alike.
    pub tls: bool,
    /// Whether the first connection negotiated MariaDB's extended column metadata (the
    /// server offered it; the pools' connections ask alike), which the door then offers its
    /// clients and forwards.
    pub extended_metadata: bool,
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
    /// TLS as `ssl-mode` asks for cannot be had: a configuration error, not an outage.
    #[error("{0}")]
    Tls(String),
    /// The server refused the gateway's account or database (access denied, unknown
    /// database): a configuration error, not an outage.
    #[error("the MySQL backend at {0} refused the gateway's credentials or database: {1}")]
    Refused(String, String),
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
                let (mut conn, tls) = self.target.connect_and_tell(self.acquire_timeout).await?;
                let version: Option<String> =
                    conn.query_first("SELECT VERSION()").await.map_err(fail)?;
                let extended_metadata = conn
                    .mariadb_capabilities()
                    .contains(MariadbCapabilities::MARIADB_CLIENT_EXTENDED_METADATA);
                let _ = conn.disconnect().await;
                let version = version.unwrap_or_default();
                if tls {
                    tracing::info!(
                        "MySQL backend {}: connections are encrypted (ssl-mode={})",
                        self.target.display(),
                        self.target.tls.mode.name()
                    );
                } else if self.target.tls.mode == SslMode::Preferred {
                    tracing::warn!(
                        "MySQL backend {}: the server offers no TLS, so connections are in                          plaintext (ssl-mode=PREFERRED; REQUIRED or VERIFY_IDENTITY would refuse)",
                        self.target.display()
                    );
                }
                Ok(ServerInfo {
                    mariadb: version.contains("MariaDB"),
                    version,
                    tls,
                    extended_metadata,
                })
            })
            .await
    }

    /// A connection set up for `profile`, waiting at most the acquire timeout.
    pub async fn acquire(&self, profile: Profile) -> Result<Conn, AcquireError> {
        let info = self.server_info().await?;
        let (mariadb, tls) = (info.mariadb, info.tls);
        let pool = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools
                .entry(profile)
                .or_insert_with(|| Pool::new(self.profile_opts(profile, mariadb, tls)))
                .clone()
        };
        match tokio::time::timeout(self.acquire_timeout, pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.target.failure(Some(e))),
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

    fn base_opts(&self, tls: bool) -> OptsBuilder {
        self.target
            .opts(tls)
            // Above the statements a client may hold, so the cache never closes one in use.
            .stmt_cache_size(super::session::MAX_STATEMENTS + 64)
    }

    fn profile_opts(&self, profile: Profile, mariadb: bool, tls: bool) -> OptsBuilder {
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
        self.base_opts(tls)
            .client_found_rows(profile.found_rows)
            .setup(setup)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(PoolConstraints::new(0, self.size).expect("0 <= size"))
                    .with_reset_connection(true),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        let e = match BackendTarget::parse(url) {
            Ok(_) => panic!("{url} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(!e.contains("hunter2"), "{e}");
        e
    }

    #[test]
    fn ssl_mode_defaults_to_preferred_and_is_read() {
        let t = BackendTarget::parse("mysql://u:hunter2@h:3307/d").unwrap();
        assert_eq!(t.tls.mode, SslMode::Preferred);
        assert_eq!(t.display(), "h:3307/d");
        let t = BackendTarget::parse("mysql://u:hunter2@h/d?ssl-mode=disabled").unwrap();
        assert_eq!(t.tls.mode, SslMode::Disabled);
        assert!(t.tls.ssl.is_none());
        let t = BackendTarget::parse("mysql://u:hunter2@h/d?ssl-mode=REQUIRED").unwrap();
        assert_eq!(t.tls.mode, SslMode::Required);
    }

    #[test]
    fn every_parameter_is_honoured_or_refused_by_name() {
        for param in [
            "prefer_socket=false",
            "require_ssl=true",
            "pool_max=3",
            "nonsense=1",
        ] {
            let e = refused(&format!("mysql://u:hunter2@h/d?{param}"));
            let name = param.split('=').next().unwrap();
            assert!(e.contains(&format!("`{name}`")), "{e}");
            assert!(e.contains("Supported parameters: ssl-mode, ssl-ca"), "{e}");
        }
        assert!(refused("mysql://u:hunter2@h/d?ssl-mode=VERIFY_CA").contains("needs ssl-ca"));
        assert!(
            refused("mysql://u:hunter2@h/d?ssl-mode=REQUIRED&ssl-ca=/x").contains("does not check")
        );
        assert!(refused("mysql://u:hunter2@h/d?ssl-ca=/nonexistent").contains("cannot read"));
        assert!(refused("postgres://u:hunter2@h/d").contains("mysql://"));
    }
}
