//! The gateway runtime: load everything, open the doors, reload on request, drain on shutdown.
//!
//! Used by `sluice serve` and, in-process, by the end-to-end tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use sluice_tokens::{RevocationList, Verifier};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::audit::Audit;
use crate::files;
use crate::gate::Gate;
use crate::pg::{BackendTarget, PgDoor, PgDoorConfig, PoolMode};
use crate::schema::{Loaded, SchemaError, SchemaSource};

/// How often the revocation list file is checked for changes.
const REVOCATION_POLL: Duration = Duration::from_millis(500);

/// How long one read of a backend's schema may take at start before it counts as no answer.
const SCHEMA_START_WAIT: Duration = Duration::from_secs(5);

/// The longest pause between two attempts to reach a backend that is down at start.
const START_RETRY_MAX: Duration = Duration::from_secs(5);

/// The first retry of a schema that could not be read; each next one waits twice as long, up
/// to the refresh interval.
const SCHEMA_FIRST_RETRY: Duration = Duration::from_secs(1);

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
    /// No audit trail at all (`--no-audit`); `audit_log` is then unused.
    pub audit_off: bool,
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
    /// How often the backends' catalogs are checked for schema changes (a fingerprint query;
    /// the schema is read again only when it changed).
    pub schema_refresh: Duration,
    /// Whether start waits for a backend that is down (with a progress line per attempt)
    /// before it listens; `false` (`--no-wait`) listens at once and reads its schema in the
    /// background.
    pub wait_for_backends: bool,
    /// PostgreSQL door: send every simple query as text (`--pg-literals-as-text`), never as
    /// its statement family's prepared statement.
    pub pg_literals_as_text: bool,
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
            audit_off: false,
            pool_mode: PoolMode::Transaction,
            pool_size: 16,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            idle_transaction_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            max_clients: 20_000,
            max_sessions_per_token: 8,
            schema_refresh: Duration::from_secs(30),
            wait_for_backends: true,
            pg_literals_as_text: false,
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
    schemas: SchemaWatch,
    audit_task: JoinHandle<()>,
    audit: crate::audit::AuditWatch,
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
    if config.audit_off {
        anyhow::ensure!(
            config.audit_log.is_none(),
            "an audit log file was given with the audit trail off; give one or the other"
        );
        tracing::warn!(
            "the audit log is off (--no-audit): no statement, denial or connection is recorded"
        );
        return Ok(Audit::off());
    }
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

/// Loads and checks every file, reads the backends' schemas (waiting at most a few seconds),
/// binds every listener, and starts serving.
pub async fn start(config: ServeConfig) -> Result<Running> {
    let gate = Arc::new(load_gate(&config)?);
    let (audit, audit_task) = open_audit(&config).await?;
    let tls = crate::tls::server_config(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let schemas = start_schemas(&config, gate.clone(), shutdown_rx.clone()).await?;

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
                prepare_families: !config.pg_literals_as_text,
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
    let audit_watch = audit.watch();
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
        schemas,
        audit_task,
        audit: audit_watch,
    })
}

impl Running {
    /// Waits until every audit line recorded so far is in the file (at most `limit`; `false`
    /// if not by then): the writer batches lines, so a line reaches the file a little after its
    /// statement.
    pub fn wait_audit_written(&self, limit: std::time::Duration) -> bool {
        self.audit.wait_written(limit)
    }

    /// Re-reads the role file and the revocation list, and asks for the backends' schemas to be
    /// read again (in the background: a slow backend does not hold up the roles; the refresh
    /// logs what changed). On an error, the old roles and revocations stay in force and the
    /// error says what is wrong with the new file.
    pub fn reload(&self) -> Result<()> {
        self.schemas.reload.notify_one();
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
        if let Some(t) = self.schemas.task {
            t.abort();
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

/// The background refresh of the backends' schemas: its task, and the way to ask it for a
/// full read now.
pub(crate) struct SchemaWatch {
    pub(crate) reload: Arc<Notify>,
    pub(crate) task: Option<JoinHandle<()>>,
}

/// The schema of every backend the configuration names, read before serving, then kept current
/// by a background task.
///
/// A backend that is down at start delays the start until it answers ([`first_read`]), unless
/// `wait_for_backends` is off: then the doors behave as they always do towards an unreachable
/// backend, the engine decides without that schema (it proves less, so it denies or fences
/// more), and the read is retried in the background. A misconfigured backend stops the start.
pub(crate) async fn start_schemas(
    config: &ServeConfig,
    gate: Arc<Gate>,
    shutdown: watch::Receiver<bool>,
) -> Result<SchemaWatch> {
    let mut sources = Vec::new();
    if let Some(url) = &config.pg_backend {
        let target = BackendTarget::parse(url).map_err(anyhow::Error::msg)?;
        sources.push(SchemaSource::Postgres(target));
    }
    if let Some(url) = &config.mysql_backend {
        sources.push(SchemaSource::MySql(crate::mysql::BackendTarget::parse(
            url,
        )?));
    }
    let reload = Arc::new(Notify::new());
    if sources.is_empty() {
        return Ok(SchemaWatch { reload, task: None });
    }
    // Read at once (each in a task of its own), then waited for in order.
    let wait = config.wait_for_backends;
    let reads: Vec<_> = sources
        .iter()
        .map(|source| tokio::spawn(first_read(source.clone(), wait)))
        .collect();
    let mut known = Vec::new();
    for (source, read) in sources.iter().zip(reads) {
        // A backend that is down may come back; one that refuses the gateway's credentials or
        // database, or cannot be encrypted as its URL asks, is misconfigured, and serving would
        // only fail every client.
        let loaded = read.await.ok().transpose().map_err(|why| {
            anyhow::anyhow!(
                "the {source} cannot be connected to as its URL asks, so the gateway does not \
                 start: {why}"
            )
        })?;
        let loaded = loaded.flatten();
        if let Some(loaded) = &loaded {
            check_privileges(source, &gate, &loaded.schema).await?;
        }
        known.push(loaded.map(|loaded| {
            gate.replace_schema(source.dialect(), Arc::new(loaded.schema));
            loaded.fingerprint
        }));
    }
    let task = tokio::spawn(watch_schemas(
        sources.into_iter().zip(known).collect(),
        gate,
        config.schema_refresh,
        reload.clone(),
        shutdown,
    ));
    Ok(SchemaWatch {
        reload,
        task: Some(task),
    })
}

/// Fails the start when the backend account lacks a privilege the role file grants on a table
/// the backend has: each such statement would fail with "permission denied" at the server. A
/// check that cannot run is logged, not fatal.
async fn check_privileges(
    source: &SchemaSource,
    gate: &Gate,
    schema: &sluice_policy::Schema,
) -> Result<()> {
    let needs =
        crate::schema::privilege_needs(&gate.roles(), source.dialect(), source.database(), schema);
    match source.missing_privileges(&needs).await {
        Ok(missing) if missing.is_empty() => Ok(()),
        Ok(missing) => {
            let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
            let first = &missing[0];
            anyhow::bail!(
                "the account the gateway uses on the {source} lacks privileges the role file \
                 grants, so the gateway does not start: {}. Grant them to the account the \
                 backend URL names (e.g. GRANT {} ON {} TO <that account>), or take them out of \
                 the role file",
                list.join("; "),
                first.operation.as_str(),
                first.table
            )
        }
        Err(e) => {
            tracing::warn!(
                "cannot check the privileges of the gateway's account on the {source} against \
                 the role file ({e}); statements the account may not run will fail at the server"
            );
            Ok(())
        }
    }
}

/// The first read of a backend's schema at start. A backend that is down (or does not answer)
/// is waited for, with a progress line per attempt, when `wait`; otherwise it is left to the
/// background refresh. A backend that refuses the gateway's account, database or encryption is
/// misconfigured: `Err` with the reason, and the start fails.
async fn first_read(source: SchemaSource, wait: bool) -> Result<Option<Loaded>, String> {
    let started = std::time::Instant::now();
    let mut pause = SCHEMA_FIRST_RETRY;
    loop {
        let why = match tokio::time::timeout(SCHEMA_START_WAIT, source.load()).await {
            Ok(Ok(loaded)) => {
                tracing::info!(
                    "schema of the {source}: {} tables and views, read in {} ms",
                    loaded.schema.tables.len(),
                    started.elapsed().as_millis()
                );
                return Ok(Some(loaded));
            }
            Ok(Err(SchemaError::Tls(why) | SchemaError::Misconfigured(why))) => return Err(why),
            // The backend answers but will not give its catalog: waiting will not change that.
            Ok(Err(e @ (SchemaError::Refused(_) | SchemaError::Unreadable(_)))) => {
                schema_unknown(&source, &e.to_string());
                return Ok(None);
            }
            Ok(Err(SchemaError::Unreachable(why))) => why,
            Err(_) => format!("no answer within {SCHEMA_START_WAIT:?}"),
        };
        if !wait {
            schema_unknown(&source, &why);
            return Ok(None);
        }
        tracing::warn!(
            "waiting for the {source} ({why}); the gateway listens once it answers (waited {} s \
             so far; --no-wait listens at once)",
            started.elapsed().as_secs()
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(START_RETRY_MAX);
    }
}

fn schema_unknown(source: &SchemaSource, why: &str) {
    tracing::warn!(
        "the schema of the {source} is unknown ({why}); until it can be read the policy engine \
         decides without it (more conservatively: more statements fenced or denied), and it is \
         retried in the background"
    );
}

/// Keeps the gate's schemas current: every `interval`, each backend's fingerprint is compared
/// with the one of the schema in force, and the schema is read again only when it differs (and
/// swapped in only when the model differs: a table rewrite changes the fingerprint, not the
/// model). A backend whose schema is unknown is retried sooner, with a growing wait. `reload`
/// asks for a full read of every backend now. A backend that cannot be read keeps the schema
/// last read from it.
async fn watch_schemas(
    mut sources: Vec<(SchemaSource, Option<String>)>,
    gate: Arc<Gate>,
    interval: Duration,
    reload: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut retry = SCHEMA_FIRST_RETRY.min(interval);
    // A schema unknown at start was reported then.
    let mut failing: Vec<bool> = sources.iter().map(|(_, f)| f.is_none()).collect();
    loop {
        let unknown = sources.iter().any(|(_, f)| f.is_none());
        let wait = if unknown { retry } else { interval };
        let forced = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = reload.notified() => true,
            _ = shutdown.changed() => return,
        };
        retry = if unknown {
            (retry * 2).min(interval)
        } else {
            SCHEMA_FIRST_RETRY.min(interval)
        };
        for ((source, known), failing) in sources.iter_mut().zip(failing.iter_mut()) {
            let was_known = known.is_some();
            let outcome = refresh_schema(source, known, forced, &gate).await;
            match outcome {
                Ok(()) => {
                    // A first read says so itself.
                    if std::mem::take(failing) && was_known {
                        tracing::info!("the schema of the {source} can be checked again");
                    }
                }
                Err(e) => {
                    // Said once per outage, not at every retry.
                    if !std::mem::replace(failing, true) {
                        match known {
                            Some(_) => tracing::warn!(
                                "cannot check the schema of the {source} ({e}); the schema read \
                                 before stays in force, and the check is retried"
                            ),
                            None => schema_unknown(source, &e.to_string()),
                        }
                    }
                }
            }
        }
    }
}

/// One check of one backend: reads the schema when it is unknown, forced, or its fingerprint
/// changed, and swaps it in when the model changed.
async fn refresh_schema(
    source: &SchemaSource,
    known: &mut Option<String>,
    forced: bool,
    gate: &Gate,
) -> Result<(), crate::schema::SchemaError> {
    if let (Some(fingerprint), false) = (known.as_deref(), forced) {
        if source.fingerprint().await? == fingerprint {
            return Ok(());
        }
    }
    let loaded = source.load().await?;
    let was_unknown = known.is_none();
    *known = Some(loaded.fingerprint);
    let current = gate.schemas();
    let current = current.for_dialect(source.dialect());
    if was_unknown {
        tracing::info!(
            "schema of the {source} read: {} tables and views",
            loaded.schema.tables.len()
        );
    } else if *current == loaded.schema {
        return Ok(());
    } else {
        tracing::info!(
            "schema of the {source} changed ({}); prepared statements are checked again before \
             they next run",
            crate::schema::changes(current, &loaded.schema, 10)
        );
    }
    gate.replace_schema(source.dialect(), Arc::new(loaded.schema));
    Ok(())
}

/// Half the CPU cores, at least one. Measured with pgbench on two cores shared with the
/// database and the clients (integration/bench/pgbench.sh): one thread spent 29 µs of CPU per
/// select-only statement where two spent 40, the difference being threads waking each other
/// and contending for the cores; a gateway's work per statement is small enough that half the
/// cores still serve far more statements than a database behind it answers.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// The gateway's runtime for `threads` threads. One thread gets tokio's current-thread
/// scheduler, which runs the tasks, the timers and the sockets' readiness on that thread with
/// no hand-offs between threads: against the multi-thread scheduler with one worker it served
/// pgbench -S at 16 clients 12-14 % more transactions for 1-2 µs less CPU each
/// (integration/bench/pgbench.sh).
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().build()
}
