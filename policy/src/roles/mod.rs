//! Roles: the YAML the user writes (`roles.yaml`), checked at load and resolved into one
//! [`EffectiveRole`] per role that the engine uses as is.
//!
//! Loading is strict: unknown keys, unknown operations, filters that do not parse as boolean SQL
//! conditions and malformed limits are errors that name the file, line and column. A role file
//! that loads is one whose every entry means something.

mod error;
mod filter;
mod model;
mod resolve;
mod yaml;

pub use error::{ConfigError, ConfigErrors};
pub use filter::{claim_literal, BindError, RowFilter};
pub use model::{
    ColumnSet, EffectiveRole, ForbiddenBy, Operation, RateLimit, RatePeriod, TableGrant, TableName,
};

use std::collections::BTreeMap;

/// A loaded, validated and resolved role configuration.
#[derive(Debug, Clone)]
pub struct RbacConfig {
    /// Schema that unqualified PostgreSQL table names resolve to (default `public`).
    pub default_schema: String,
    roles: BTreeMap<String, EffectiveRole>,
}

impl RbacConfig {
    /// Parses and resolves a role file. `source_name` (usually the file path) is only used in
    /// error messages.
    pub fn from_yaml(source_name: &str, text: &str) -> Result<Self, ConfigErrors> {
        let raw = yaml::parse(source_name, text)?;
        resolve::resolve(source_name, raw)
    }

    /// The resolved role of that name, if it exists.
    pub fn role(&self, name: &str) -> Option<&EffectiveRole> {
        self.roles.get(name)
    }

    /// All role names, sorted.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}
