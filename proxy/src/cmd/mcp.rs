use std::process::ExitCode;

use anyhow::Result;
use sluice_proxy::serve::ServeConfig;

use crate::cli::McpStdioArgs;

/// `sluice mcp stdio`: one token's MCP tools on standard input and output. Standard output
/// carries the protocol only; logs and (without --audit-log) audit lines go to standard error.
pub fn stdio(a: McpStdioArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // Standard input is the protocol's, so the token cannot come from there (no `-`).
    let token = a.token.trim().to_string();
    let mut config = ServeConfig::new(a.rbac_config, a.public_key);
    config.revocations = a.revocations;
    config.pg_backend = a.pg_backend;
    config.mysql_backend = a.mysql_backend;
    config.http_backend = a.http_backend;
    config.audit_log = a.audit_log;
    config.pool_size = a.pool_size as usize;
    config.statement_timeout = a.statement_timeout;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(sluice_proxy::http::mcp::stdio(config, &token))?;
    Ok(ExitCode::SUCCESS)
}
