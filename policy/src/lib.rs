//! Sluice's policy engine: the role model and, later, the check-and-rewrite of SQL statements.
//!
//! Architecture invariant: this crate does no I/O. It never opens a file, a socket or a database
//! connection; callers hand it text (a role file's contents, a SQL statement) and claims, and it
//! hands back values (an [`roles::RbacConfig`], a decision).

pub mod roles;
