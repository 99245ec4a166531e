use std::process::ExitCode;

use anyhow::Result;
use sluice_proxy::pg::PoolMode as DoorPoolMode;
use sluice_proxy::serve::{self, ServeConfig};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::{PoolMode, ServeArgs};

/// Runs the gateway until SIGTERM/SIGINT; SIGHUP reloads roles, revocations and the backends'
/// schemas.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut config = ServeConfig::new(a.rbac_config, a.public_key);
    config.revocations = a.revocations;
    config.pg_listen = a.pg_listen;
    config.pg_backend = a.pg_backend;
    config.mysql_listen = a.mysql_listen;
    config.mysql_backend = a.mysql_backend;
    config.http_listen = a.http_listen;
    config.http_backend = a.http_backend;
    config.tls_cert = a.tls_cert;
    config.tls_key = a.tls_key;
    config.allow_plaintext = a.allow_plaintext;
    config.audit_log = a.audit_log;
    config.audit_off = a.no_audit;
    config.pool_mode = match a.pool_mode {
        PoolMode::Session => DoorPoolMode::Session,
        PoolMode::Transaction => DoorPoolMode::Transaction,
    };
    config.pool_size = a.pool_size as usize;
    config.statement_timeout = a.statement_timeout;
    config.drain_timeout = a.drain_timeout;
    config.idle_transaction_timeout = a.idle_transaction_timeout;
    config.max_clients = a.max_clients;
    config.max_sessions_per_token = a.max_sessions_per_token;
    config.pg_literals_as_text = a.pg_literals_as_text;
    anyhow::ensure!(
        !a.schema_refresh.is_zero(),
        "--schema-refresh must be longer than zero, e.g. 30s"
    );
    config.schema_refresh = a.schema_refresh;
    config.wait_for_backends = !a.no_wait;
    if config.pg_listen.is_none() && config.mysql_listen.is_none() && config.http_listen.is_none() {
        anyhow::bail!(
            "nothing to serve: give --pg-listen (and --pg-backend), --mysql-listen (and --mysql-backend) or --http-listen"
        );
    }

    let threads = match a.worker_threads {
        Some(n) => {
            anyhow::ensure!(n >= 1, "--worker-threads must be at least 1");
            n
        }
        None => sluice_proxy::serve::default_worker_threads(),
    };
    let runtime = sluice_proxy::serve::runtime(threads)?;
    runtime.block_on(async move {
        let running = serve::start(config).await?;
        let mut ready = String::from("sluice ready:");
        if let Some(addr) = running.pg_addr {
            ready.push_str(&format!(" postgres={addr}"));
        }
        if let Some(addr) = running.mysql_addr {
            ready.push_str(&format!(" mysql={addr}"));
        }
        if let Some(addr) = running.http_addr {
            ready.push_str(&format!(" http={addr}"));
        }
        println!("{ready}");
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => match running.reload() {
                    Ok(()) => tracing::info!("roles and revocations reloaded; reading the backends' schemas again"),
                    Err(e) => tracing::error!("reload failed, the previous configuration stays in force: {e:#}"),
                },
            }
        }
        tracing::info!("shutting down: no new connections; waiting for open sessions");
        running.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
