//! End-to-end test fixtures: throwaway PostgreSQL and MariaDB servers (the `sluice-throwaway`
//! crate, which `sluice demo` uses too), the gateway, and the client programs.
//!
//! Tests never use the machine's own database services (which may or may not run on
//! 5432/3306). Each [`PgServer`] / [`MariaDbServer`] is a private server process with its own
//! data directory in a temp dir, listening on a free `127.0.0.1` port, with a superuser that
//! needs no password (`postgres` / `root`).
//!
//! Most tests should use [`shared_pg`] / [`shared_mariadb`]: one server per test binary, started
//! on first use, and create their own database with [`PgServer::create_unique_database`] so tests
//! stay independent. Tests that stop or break the backend start their own server.
//!
//! The API is blocking, so it can be called from plain `#[test]`s and from inside
//! `#[tokio::test]`s alike (the database round trips run on a private runtime on another thread).
//!
//! If a server cannot be started (binaries missing, start failure), the call fails with a message
//! that says what is missing and how to install it; tests fail rather than skip.
//!
//! [`Gateway`] starts a Sluice gateway in-process in front of such a server, with its own keys,
//! role file, revocation list and audit log. This crate holds no Sluice logic of its own.
//!
//! Architecture invariant: no server outlives the test process. Servers are spawned directly (not
//! daemonised), from one never-ending thread, with a parent-death signal; see `lifetime.rs`.

pub mod catalog;
pub mod clients;
mod gateway;
pub mod raw;
pub mod rental;
pub mod side_channel;

pub use sluice_throwaway::{certs, process_scratch_dir, MariaDbServer, PgServer};

use std::sync::OnceLock;

pub use gateway::{db_message, pg_gateway_pids, sqlstate, Gateway, GatewayOptions};

/// The PostgreSQL server shared by all tests of this test binary, started on first use.
///
/// Panics (failing the test) with the start error, e.g. when PostgreSQL is not installed.
pub fn shared_pg() -> &'static PgServer {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    // The error is kept so that every test using the server fails fast with the same message
    // instead of each one retrying a start that takes up to a minute to time out.
    let server = SERVER.get_or_init(|| PgServer::start().map_err(|e| format!("{e:#}")));
    match server {
        Ok(server) => server,
        Err(e) => panic!("the shared PostgreSQL test server could not be started: {e}"),
    }
}

/// The MariaDB server shared by all tests of this test binary, started on first use.
///
/// Panics (failing the test) with the start error, e.g. when MariaDB is not installed.
pub fn shared_mariadb() -> &'static MariaDbServer {
    static SERVER: OnceLock<Result<MariaDbServer, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| MariaDbServer::start().map_err(|e| format!("{e:#}")));
    match server {
        Ok(server) => server,
        Err(e) => panic!("the shared MariaDB test server could not be started: {e}"),
    }
}

/// The `sluice` binary next to the running test's executable (`<target>/<profile>/deps/…`), or
/// `$SLUICE_BIN`. `cargo test --workspace` (./scripts/test) builds it; a test binary run alone
/// needs `cargo build -p sluice-proxy --bin sluice` first, and fails saying so.
pub fn sluice_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        return std::path::PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a target directory")
        .join("sluice");
    assert!(
        bin.exists(),
        "{} not found: `cargo test --workspace` (./scripts/test) builds it; alone, run `cargo \
         build -p sluice-proxy --bin sluice` first, or set SLUICE_BIN",
        bin.display()
    );
    bin
}
