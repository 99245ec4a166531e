//! Sluice's I/O half: the wire doors, backend pools, audit trail and the `serve` runtime. The
//! `sluice` binary is a thin CLI over this library.
//!
//! Architecture invariant: doors translate and forward; every decision (token valid? statement
//! allowed? rewritten to what?) is made by [`gate::Gate`], which asks the policy crate.

pub mod audit;
pub mod backend_tls;
pub mod door;
pub mod files;
pub mod gate;
pub mod http;
pub mod mysql;
pub mod pg;
pub mod schema;
pub mod serve;
pub mod tls;

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
