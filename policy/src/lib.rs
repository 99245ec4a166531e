//! Sluice's policy engine: the role model, and the check-and-rewrite of every SQL statement.
//!
//! Entry points: [`roles::RbacConfig::from_yaml`] loads a role file; [`authorize`] turns a SQL
//! text into the statements to run (rendered from the checked, rewritten AST) or a [`Denial`];
//! [`authorize_statement`] does the same for a statement a door built as a syntax tree (the
//! REST door's requests, built by [`rest`]); [`Engine`] adds a decision cache in front of them.
//!
//! Architecture invariant: this crate does no I/O. It never opens a file, a socket or a database
//! connection; callers hand it text and claims, and it hands back values.

mod cache;
mod decision;
mod dialect;
mod engine;
/// The system catalog relations the engine serves scoped (`engine/catalog.rs`): the schema
/// loaders read their column lists.
pub mod catalog {
    pub use crate::engine::catalog::{visible_tables, VisibleTable, MYSQL_SERVED, PG_SERVED};
}
pub mod rest;
pub mod roles;
pub mod schema;

pub use cache::{BackendSchemas, Engine, EngineStats, Principal};
pub use decision::{
    Authorized, Bindable, CheckedStatement, DeallocateTarget, Denial, LiteralType, ParameterNeed,
    Parameters, PinnedParameter, Rule, StatementKind,
};
pub use dialect::{placeholder_count, Dialect};
pub use engine::{
    authorize, authorize_statement, pg_parameter_type_allowed, Scope, MAX_OPERATORS, MAX_SQL_BYTES,
};
pub use schema::{Schema, TypeClass};
