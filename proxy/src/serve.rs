//! The gateway runtime: load everything, open the doors, reload on request, drain on shutdown.
//!
//! Used by `sluice serve` and, in-process, by the end-to-end tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use sluice_tokens::{RevocationList, Verifier};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::Audit;
use crate::files;
use crate::gate::Gate;
use crate::pg::{BackendTarget, PgDoor, PgDoorConfig, PoolMode};

/// How often the revocation list file is checked for changes.
const REVOCATION_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub rbac_config: PathBuf,
    pub public_keys: Vec<PathBuf>,
    pub revocations: Option<PathBuf>,
    pub pg_listen: Option<SocketAddr>,
    /// Connection string of the PostgreSQL backend (holds the password: never logged).
    pub pg_backend: Option<String>,
    pub mysql_listen: Option<SocketAddr>,
    /// Where the REST API listens.
    pub http_listen: Option<SocketAddr>,
    /// Which backend the REST API serves when both are configured: `postgres` or `mysql`.
    pub http_backend: Option<String>,
    /// Connection URL of the MySQL/MariaDB backend (holds the password: never logged).
    pub mysql_backend: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub allow_plaintext: bool,
    pub audit_log: Option<PathBuf>,
    pub pool_mode: PoolMode,
    pub pool_size: usize,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// Transactions left idle this long are ended by the backend.
    pub idle_transaction_timeout: Duration,
    pub drain_timeout: Duration,
    pub max_clients: usize,
    /// MySQL door: most sessions one token may hold at once.
    pub max_sessions_per_token: usize,
}

impl ServeConfig {
    /// Defaults for everything but the files and addresses.
    pub fn new(rbac_config: PathBuf, public_keys: Vec<PathBuf>) -> ServeConfig {
        ServeConfig {
            rbac_config,
            public_keys,
            revocations: None,
            pg_listen: None,
            pg_backend: None,
            mysql_listen: None,
            http_listen: None,
            http_backend: None,
            mysql_backend: None,
            tls_cert: None,
            tls_key: None,
            allow_plaintext: false,
            audit_log: None,
            pool_mode: PoolMode::Transaction,
            pool_size: 16,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            idle_transaction_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            max_clients: 20_000,
            max_sessions_per_token: 8,
        }
    }
}

/// A started gateway.
pub struct Running {
    pub pg_addr: Option<SocketAddr>,
    pub mysql_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub gate: Arc<Gate>,
    config: ServeConfig,
    shutdown: watch::Sender<bool>,
    doors: Vec<JoinHandle<()>>,
    watcher: Option<JoinHandle<()>>,
    audit_task: JoinHandle<()>,
}

/// The gate of a configuration: its role file, public keys and revocation list, loaded and
/// checked. Shared by `serve` and `sluice mcp stdio`.
pub fn load_gate(config: &ServeConfig) -> Result<Gate> {
    let roles = files::load_roles(&config.rbac_config)?;
    let mut keys = Vec::new();
    for p in &config.public_keys {
        keys.push(files::load_public_key(p)?);
    }
    anyhow::ensure!(
        !keys.is_empty(),
        "no public key given: pass --public-key FILE"
    );
    let revocations = match &config.revocations {
        Some(p) => files::load_revocations(p)?,
        None => RevocationList::empty(),
    };
    Ok(Gate::new(Verifier::new(keys), roles, revocations))
}

/// Opens the configuration's audit log (standard error without one).
pub async fn open_audit(config: &ServeConfig) -> Result<(Audit, JoinHandle<()>)> {
    Audit::open(config.audit_log.as_deref())
        .await
        .with_context(|| {
            format!(
                "cannot open the audit log {}",
                config
                    .audit_log
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        })
}

/// The backend the HTTP door (REST and MCP) and `sluice mcp stdio` run statements on:
/// `--pg-backend` or `--mysql-backend`, or the one `--http-backend` names when both are given.
/// `user` names what needs it in errors (`--http-listen`, `sluice mcp stdio`).
pub fn http_runner(config: &ServeConfig, user: &str) -> Result<crate::http::Runner> {
    Ok(
        match (
            config.http_backend.as_deref(),
            config.pg_backend.as_deref(),
            config.mysql_backend.as_deref(),
        ) {
            (Some("postgres") | None, Some(url), None) | (Some("postgres"), Some(url), _) => {
                let mut target = BackendTarget::parse(url).map_err(anyhow::Error::msg)?;
                target.idle_transaction_timeout = config.idle_transaction_timeout;
                crate::http::Runner::postgres(target, config.pool_size, config.acquire_timeout)
            }
            (Some("mysql") | None, None, Some(url)) | (Some("mysql"), _, Some(url)) => {
                crate::http::Runner::mysql(
                    crate::mysql::BackendTarget::parse(url)?,
                    config.pool_size,
                    config.acquire_timeout,
                )
            }
            (None, Some(_), Some(_)) => anyhow::bail!(
                "{user}: both --pg-backend and --mysql-backend are set; say which one the REST API and MCP serve with --http-backend postgres|mysql"
            ),
            (Some(other), _, _) if other != "postgres" && other != "mysql" => anyhow::bail!(
                "--http-backend {other}: expected postgres or mysql"
            ),
            _ => anyhow::bail!(
                "{user} needs a backend: --pg-backend or --mysql-backend (matching --http-backend)"
            ),
        },
    )
}

/// Loads and checks every file, binds every listener, and starts serving.
pub async fn start(config: ServeConfig) -> Result<Running> {
    let gate = Arc::new(load_gate(&config)?);
    let (audit, audit_task) = open_audit(&config).await?;
    let tls = crate::tls::server_config(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
    let (shutdown, shutdown_rx) = watch::channel(false);

    let mut doors = Vec::new();
    let mut pg_addr = None;
    if let Some(listen) = config.pg_listen {
        let backend = config.pg_backend.as_deref().context(
            "--pg-listen needs --pg-backend (or SLUICE_PG_BACKEND), the PostgreSQL server to forward to",
        )?;
        let mut backend = BackendTarget::parse(backend).map_err(anyhow::Error::msg)?;
        backend.idle_transaction_timeout = config.idle_transaction_timeout;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (--pg-listen)"))?;
        pg_addr = Some(listener.local_addr()?);
        let door = PgDoor::new(
            PgDoorConfig {
                backend,
                pool_mode: config.pool_mode,
                pool_size: config.pool_size,
                acquire_timeout: config.acquire_timeout,
                default_statement_timeout: config.statement_timeout,
                tls: tls.clone(),
                allow_plaintext: config.allow_plaintext,
                max_clients: config.max_clients,
                max_sessions_per_token: config.max_sessions_per_token,
            },
            gate.clone(),
            audit.clone(),
            shutdown_rx.clone(),
        );
        doors.push(tokio::spawn(door.serve(listener, config.drain_timeout)));
    }
    let mut mysql_addr = None;
    if let Some(listen) = config.mysql_listen {
        let backend = config.mysql_backend.as_deref().context(
            "--mysql-listen needs --mysql-backend (or SLUICE_MYSQL_BACKEND), the MySQL/MariaDB server to forward to",
        )?;
        let backend = crate::mysql::BackendTarget::parse(backend)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (--mysql-listen)"))?;
        mysql_addr = Some(listener.local_addr()?);
        let door = crate::mysql::MyDoor::new(
            crate::mysql::MyDoorConfig {
                backend,
                pool_size: config.pool_size,
                acquire_timeout: config.acquire_timeout,
                default_statement_timeout: config.statement_timeout,
                tls: tls.clone(),
                allow_plaintext: config.allow_plaintext,
                max_clients: config.max_clients,
                idle_transaction_timeout: config.idle_transaction_timeout,
                max_sessions_per_token: config.max_sessions_per_token,
            },
            gate.clone(),
            audit.clone(),
            shutdown_rx.clone(),
        );
        doors.push(tokio::spawn(door.serve(listener, config.drain_timeout)));
    }
    let mut http_addr = None;
    if let Some(listen) = config.http_listen {
        let runner = http_runner(&config, "--http-listen")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (--http-listen)"))?;
        http_addr = Some(listener.local_addr()?);
        let door = crate::http::HttpDoor::new(
            crate::http::HttpDoorConfig {
                runner,
                default_statement_timeout: config.statement_timeout,
                tls: tls.clone(),
                allow_plaintext: config.allow_plaintext,
                max_clients: config.max_clients,
            },
            gate.clone(),
            audit.clone(),
            shutdown_rx.clone(),
        );
        doors.push(tokio::spawn(door.serve(listener, config.drain_timeout)));
    }
    anyhow::ensure!(
        !doors.is_empty(),
        "nothing to serve: give --pg-listen, --mysql-listen or --http-listen"
    );
    let watcher = config
        .revocations
        .clone()
        .map(|path| tokio::spawn(watch_revocations(path, gate.clone(), shutdown_rx.clone())));
    drop(audit);
    Ok(Running {
        pg_addr,
        mysql_addr,
        http_addr,
        gate,
        config,
        shutdown,
        doors,
        watcher,
        audit_task,
    })
}

impl Running {
    /// Re-reads the role file and the revocation list. On an error, the old ones stay in force
    /// and the error says what is wrong with the new file.
    pub fn reload(&self) -> Result<()> {
        let roles = files::load_roles(&self.config.rbac_config)?;
        let revocations = match &self.config.revocations {
            Some(p) => Some(files::load_revocations(p)?),
            None => None,
        };
        self.gate.replace_roles(roles);
        if let Some(r) = revocations {
            self.gate.replace_revocations(r);
        }
        Ok(())
    }

    /// Stops accepting, lets open sessions finish (up to the drain timeout), then returns once
    /// every audit line is written.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for d in self.doors {
            let _ = d.await;
        }
        if let Some(w) = self.watcher {
            w.abort();
        }
        // Every Audit sender lives in a door; with the doors gone the writer drains and ends.
        let _ = self.audit_task.await;
    }
}

/// Polls the revocation list and swaps in a new one when the file changes. A file that
/// cannot be read or parsed keeps the previous list in force and is reported.
pub(crate) async fn watch_revocations(
    path: PathBuf,
    gate: Arc<Gate>,
    mut shutdown: watch::Receiver<bool>,
) {
    let stamp = |p: &PathBuf| -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    let mut last = stamp(&path);
    let mut last_text = std::fs::read_to_string(&path).ok();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REVOCATION_POLL) => {}
            _ = shutdown.changed() => return,
        }
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        // The text is compared too: a rewrite within the file system's timestamp resolution
        // that keeps the size still changes the text.
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(
                    "cannot read the revocation list {}: {e}; the previous list stays in force",
                    path.display()
                );
                continue;
            }
        };
        if last_text.as_deref() == Some(text.as_str()) {
            continue;
        }
        match RevocationList::parse(&text) {
            Ok(list) => {
                tracing::info!("revocation list reloaded: {} entries", list.len());
                gate.replace_revocations(list);
                last_text = Some(text);
            }
            Err(e) => tracing::error!(
                "the revocation list {} is invalid ({e}); the previous list stays in force",
                path.display()
            ),
        }
    }
}
