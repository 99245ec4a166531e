//! Throwaway PostgreSQL and MariaDB servers, started from the machine's own server programs:
//! for `sluice demo` and the end-to-end tests.
//!
//! Each [`PgServer`] / [`MariaDbServer`] is a private server process with its own data
//! directory in a temp dir, listening on a free `127.0.0.1` port, with a superuser that needs no
//! password (`postgres` / `root`), durability off. Dropping one stops it and removes its
//! directory. When this process runs as root, the servers run as the system users the Debian
//! packages create (`postgres`, `mysql`).
//!
//! The API is blocking, so it can be called from plain code and from inside a tokio runtime alike
//! (the database round trips run on a private runtime on another thread).
//!
//! If a server cannot be started (programs missing, start failure), the call fails with a message
//! that says what is missing and how to install it.
//!
//! Architecture invariant: no server outlives the process that started it. Servers are spawned
//! directly (not daemonised), from one never-ending thread, with a parent-death signal; see
//! `lifetime.rs`. Does not: hold any Sluice logic, or install anything.

mod binaries;
pub mod certs;
mod lifetime;
mod mariadb;
mod pg;
mod process;
mod scratch;

pub use binaries::{mariadb_installed, postgres_installed};
pub use mariadb::MariaDbServer;
pub use pg::PgServer;
pub use scratch::process_scratch_dir;

/// A database name that is unique within this process: `{prefix}_{n}`.
fn unique_database_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Database names are spliced into `CREATE DATABASE`, so only plain identifiers are accepted.
fn check_database_name(name: &str) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    anyhow::ensure!(
        plain,
        "database name {name:?} must be 1-63 ASCII letters, digits or '_', not starting with a digit"
    );
    Ok(())
}
