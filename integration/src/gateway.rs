//! A Sluice gateway started in-process for a test, with its own keys, role file, revocation
//! list and audit log in a temp dir.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_proxy::pg::PoolMode;
use sluice_proxy::serve::{self, Running, ServeConfig};
use sluice_tokens::{IssuerKey, TokenRequest};

/// What a test may change about the gateway it starts.
#[derive(Clone)]
pub struct GatewayOptions {
    pub pool_mode: PoolMode,
    pub pool_size: usize,
    pub statement_timeout: Duration,
    pub drain_timeout: Duration,
    pub idle_transaction_timeout: Duration,
    /// Where the PostgreSQL door listens (port 0: any free port).
    pub pg_listen: std::net::SocketAddr,
    /// Where the MySQL door listens (port 0: any free port).
    pub mysql_listen: std::net::SocketAddr,
    pub allow_plaintext: bool,
    /// MySQL door: most sessions one token may hold at once.
    pub max_sessions_per_token: usize,
    /// Also open the HTTP door (REST), in front of the same backend.
    pub http: bool,
    /// How often the backend's catalog is checked for schema changes.
    pub schema_refresh: Duration,
    /// Listen at once when the backend is down at start (`serve --no-wait`); by default the
    /// start waits for it.
    pub no_wait: bool,
    /// Most client connections per door (`--max-clients`).
    pub max_clients: usize,
    /// How long a statement waits for a free backend connection (`ServeConfig::acquire_timeout`;
    /// the binary waits 10 s).
    pub acquire_timeout: Duration,
    /// PostgreSQL door: every simple query as text (`--pg-literals-as-text`).
    pub pg_literals_as_text: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            pool_mode: PoolMode::Transaction,
            pool_size: 4,
            statement_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            idle_transaction_timeout: Duration::from_secs(60),
            pg_listen: "127.0.0.1:0".parse().expect("an address"),
            mysql_listen: "127.0.0.1:0".parse().expect("an address"),
            allow_plaintext: false,
            max_sessions_per_token: 8,
            http: false,
            schema_refresh: Duration::from_secs(30),
            no_wait: false,
            max_clients: 20_000,
            acquire_timeout: Duration::from_secs(10),
            pg_literals_as_text: false,
        }
    }
}

/// A running gateway. Dropping it shuts it down.
pub struct Gateway {
    /// Where the PostgreSQL door listens (gateways started with [`Gateway::start_pg`]).
    pub pg_addr: SocketAddr,
    /// Where the MySQL door listens (gateways started with [`Gateway::start_mysql`]).
    pub mysql_addr: Option<SocketAddr>,
    /// Where the HTTP door listens (with `GatewayOptions::http`).
    pub http_addr: Option<SocketAddr>,
    /// The backend database the gateway serves (clients must name it).
    pub database: String,
    dir: tempfile::TempDir,
    key: IssuerKey,
    running: Mutex<Option<Running>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Gateway {
    /// Starts a gateway in front of `backend_url` (a `postgres://` URL) with `roles` as its role
    /// file.
    pub fn start_pg(
        backend_url: &str,
        database: &str,
        roles: &str,
        opts: GatewayOptions,
    ) -> Result<Gateway> {
        Gateway::start(Backend::Pg(backend_url), database, roles, opts)
    }

    /// Starts a gateway with only the MySQL door, in front of `backend_url` (a `mysql://` URL,
    /// such as [`crate::MariaDbServer::url`]) with `roles` as its role file.
    pub fn start_mysql(
        backend_url: &str,
        database: &str,
        roles: &str,
        opts: GatewayOptions,
    ) -> Result<Gateway> {
        Gateway::start(Backend::MySql(backend_url), database, roles, opts)
    }

    fn start(
        backend: Backend<'_>,
        database: &str,
        roles: &str,
        opts: GatewayOptions,
    ) -> Result<Gateway> {
        let dir = tempfile::tempdir()?;
        let key = IssuerKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let pub_path = dir.path().join("issuer.pub");
        std::fs::write(&pub_path, format!("{}\n", key.public().to_paserk()))?;
        let roles_path = dir.path().join("roles.yaml");
        std::fs::write(&roles_path, roles)?;
        let revocations = dir.path().join("revoked.txt");
        std::fs::write(&revocations, "")?;
        let mut config = ServeConfig::new(roles_path, vec![pub_path]);
        config.revocations = Some(revocations);
        config.wait_for_backends = !opts.no_wait;
        match backend {
            Backend::Pg(url) => {
                config.pg_listen = Some(opts.pg_listen);
                config.pg_backend = Some(url.to_string());
            }
            Backend::MySql(url) => {
                config.mysql_listen = Some(opts.mysql_listen);
                config.mysql_backend = Some(url.to_string());
            }
        }
        config.allow_plaintext = opts.allow_plaintext;
        config.max_clients = opts.max_clients;
        config.max_sessions_per_token = opts.max_sessions_per_token;
        if opts.http {
            config.http_listen = Some("127.0.0.1:0".parse().expect("an address"));
        }
        config.audit_log = Some(dir.path().join("audit.jsonl"));
        config.pool_mode = opts.pool_mode;
        config.pool_size = opts.pool_size;
        config.statement_timeout = opts.statement_timeout;
        config.drain_timeout = opts.drain_timeout;
        config.acquire_timeout = opts.acquire_timeout;
        config.idle_transaction_timeout = opts.idle_transaction_timeout;
        config.schema_refresh = opts.schema_refresh;
        config.pg_literals_as_text = opts.pg_literals_as_text;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let running = match off_runtime(|| runtime.block_on(serve::start(config))) {
            Ok(running) => running,
            Err(e) => {
                // A runtime may not be dropped inside a test's own async runtime.
                off_runtime(|| drop(runtime));
                return Err(e.context("the gateway did not start"));
            }
        };
        Ok(Gateway {
            // A MySQL-only gateway has no PostgreSQL door; its pg_addr is never connected to.
            pg_addr: running
                .pg_addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            mysql_addr: running.mysql_addr,
            http_addr: running.http_addr,
            database: database.to_string(),
            dir,
            key,
            running: Mutex::new(Some(running)),
            runtime: Some(runtime),
        })
    }

    /// A token for `role` and `tenant`, valid for `lifetime_secs`.
    pub fn token(&self, role: &str, tenant: Option<&str>, lifetime_secs: i64) -> String {
        self.token_for(&TokenRequest {
            role: role.to_string(),
            tenant_id: tenant.map(str::to_string),
            extra: Default::default(),
            lifetime_secs,
            label: Some("integration-test".into()),
        })
    }

    pub fn token_for(&self, req: &TokenRequest) -> String {
        sluice_tokens::issue(&self.key, req, sluice_proxy::now_unix())
            .expect("the test's token request is valid")
            .token
    }

    /// A token signed as of `now` (unix seconds: in the past for an expired token, in the future
    /// for one not yet valid), or the issuer's reason for refusing the request.
    pub fn token_at(
        &self,
        req: &TokenRequest,
        now: i64,
    ) -> Result<String, sluice_tokens::TokenError> {
        sluice_tokens::issue(&self.key, req, now).map(|t| t.token)
    }

    /// A connection string for the gateway with `token` as password (no TLS: loopback).
    pub fn pg_url(&self, token: &str) -> String {
        format!(
            "postgres://agent:{token}@{}:{}/{}?sslmode=disable",
            self.pg_addr.ip(),
            self.pg_addr.port(),
            self.database
        )
    }

    /// libpq key=value form, for clients that prefer it.
    pub fn pg_dsn(&self, token: &str) -> String {
        format!(
            "host={} port={} user=agent password={token} dbname={} sslmode=disable",
            self.pg_addr.ip(),
            self.pg_addr.port(),
            self.database
        )
    }

    /// A `mysql://` URL for the gateway's MySQL door with `token` as password (no TLS:
    /// loopback, so the token goes as a clear-text password, which mysql_async sends only when
    /// told to; see README).
    pub fn mysql_url(&self, token: &str) -> String {
        let addr = self.mysql_addr.expect("a gateway started with start_mysql");
        format!(
            "mysql://agent:{token}@{}:{}/{}?enable_cleartext_plugin=true&prefer_socket=false",
            addr.ip(),
            addr.port(),
            self.database
        )
    }

    /// Appends the token's jti to the revocation list file (as `sluice token revoke` does).
    pub fn revoke(&self, token: &str) -> Result<()> {
        let jti = sluice_tokens::jti_of(token).map_err(|e| anyhow::anyhow!("{e}"))?;
        sluice_proxy::files::append_revocation(&self.revocations_path(), &jti)?;
        Ok(())
    }

    pub fn revocations_path(&self) -> PathBuf {
        self.dir.path().join("revoked.txt")
    }

    pub fn roles_path(&self) -> PathBuf {
        self.dir.path().join("roles.yaml")
    }

    /// The gateway's gate: what it decides with (its schemas, its generation).
    pub fn gate(&self) -> std::sync::Arc<sluice_proxy::gate::Gate> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.as_ref().expect("the gateway runs").gate.clone()
    }

    /// Re-reads roles and revocations, and asks for the backend's schema to be read again, as
    /// SIGHUP does.
    pub fn reload(&self) -> Result<()> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.as_ref().context("gateway stopped")?.reload()
    }

    /// Every audit line recorded so far, parsed.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.audit_text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// The raw audit log text: every line recorded so far (the writer batches lines, so this
    /// waits for it to write what was recorded before the call).
    pub fn audit_text(&self) -> String {
        if let Some(running) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            assert!(
                running.wait_audit_written(Duration::from_secs(10)),
                "the audit writer did not write the recorded lines within 10 s"
            );
        }
        std::fs::read_to_string(self.dir.path().join("audit.jsonl")).unwrap_or_default()
    }

    /// Stops accepting and drains, as SIGTERM does.
    pub fn shutdown(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(r), Some(rt)) = (running, self.runtime.as_ref()) {
            off_runtime(|| rt.block_on(r.shutdown()));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(rt) = self.runtime.take() {
            off_runtime(|| rt.shutdown_timeout(Duration::from_secs(1)));
        }
    }
}

enum Backend<'a> {
    Pg(&'a str),
    MySql(&'a str),
}

/// Runs `f` on a thread of its own: the gateway's runtime may not be driven or dropped from
/// inside a test's own async runtime.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("gateway thread panicked"))
}

impl Gateway {
    /// A tokio-postgres client connected through the gateway with `token`; panics (failing the
    /// test) if the connection is refused.
    pub async fn client(&self, token: &str) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.pg_url(token), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect through the gateway: {}", db_message(&e)));
        tokio::spawn(conn);
        client
    }
}

impl Gateway {
    /// A mysql_async connection through the gateway's MySQL door with `token`; panics (failing
    /// the test) if the connection is refused.
    pub async fn mysql_conn(&self, token: &str) -> mysql_async::Conn {
        mysql_async::Conn::new(self.mysql_opts(token))
            .await
            .unwrap_or_else(|e| panic!("cannot connect through the gateway's MySQL door: {e}"))
    }

    /// The mysql_async options for the gateway's MySQL door with `token`: exactly what a user
    /// would put in a DSN (see README).
    pub fn mysql_opts(&self, token: &str) -> mysql_async::Opts {
        mysql_async::Opts::from_url(&self.mysql_url(token)).expect("a valid mysql:// URL")
    }
}

/// The server's message of a tokio-postgres error (its Display says only "db error").
/// The server pids of the gateway's connections to `db` (its `application_name` is `sluice`),
/// read over a direct superuser connection.
pub async fn pg_gateway_pids(pg: &sluice_throwaway::PgServer, db: &str) -> Vec<i32> {
    let (client, conn) = tokio_postgres::connect(&pg.url(db), tokio_postgres::NoTls)
        .await
        .expect("a direct superuser connection");
    tokio::spawn(conn);
    client
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name = 'sluice' AND datname = $1 ORDER BY pid",
            &[&db],
        )
        .await
        .expect("pg_stat_activity")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

pub fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// The SQLSTATE of a tokio-postgres error, or a text saying there is none.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {e}"))
}
