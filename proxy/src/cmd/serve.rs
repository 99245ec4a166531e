use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::cli::ServeArgs;
use crate::files;

/// Validates everything the gateway would load, then reports which doors are not built yet.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let cfg = files::load_roles(&a.rbac_config)?;
    for p in &a.public_key {
        files::load_public_key(p)?;
    }
    if let Some(r) = &a.revocations {
        files::load_revocations(r)?;
    }
    let mut doors = Vec::new();
    if a.pg_listen.is_some() {
        if a.pg_backend.is_none() {
            bail!("--pg-listen needs --pg-backend (or SLUICE_PG_BACKEND), the PostgreSQL server to forward to");
        }
        doors.push("PostgreSQL (--pg-listen)");
    }
    if a.mysql_listen.is_some() {
        if a.mysql_backend.is_none() {
            bail!("--mysql-listen needs --mysql-backend (or SLUICE_MYSQL_BACKEND), the MySQL/MariaDB server to forward to");
        }
        doors.push("MySQL (--mysql-listen)");
    }
    if a.http_listen.is_some() {
        doors.push("REST/MCP (--http-listen)");
    }
    if doors.is_empty() {
        bail!("nothing to serve: give at least one of --pg-listen, --mysql-listen, --http-listen");
    }
    let roles: Vec<&str> = cfg.role_names().collect();
    eprintln!(
        "sluice: configuration ok ({} role(s): {}), but these doors are not built yet in this \
         version: {}. Nothing is listening.",
        roles.len(),
        roles.join(", "),
        doors.join(", ")
    );
    Ok(ExitCode::from(super::EXIT_ERROR))
}
