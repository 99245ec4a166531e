//! The decision cache: a repeated statement from the same role with the same bound claims costs
//! a hash lookup.

use std::sync::Arc;

use moka::sync::Cache;
use sluice_tokens::Claims;
use sqlparser::ast::Statement;

use crate::decision::{Authorized, Denial};
use crate::engine::{authorize, several_statements, statement_text, Scope};
use crate::roles::RbacConfig;
use crate::Dialect;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    role: String,
    /// The claims the role's filters read, as `name=value`: two tokens that agree on them get
    /// the same rewriting.
    claims: Vec<String>,
    dialect: Dialect,
    database: Option<String>,
    sql: String,
}

/// The policy engine with its cache. Built once per loaded role file; a reload builds a new one
/// (and so a new, empty cache).
pub struct Engine {
    config: Arc<RbacConfig>,
    cache: Cache<Key, Arc<Result<Authorized, Denial>>>,
}

impl Engine {
    /// `capacity_bytes`: how much SQL text (inputs and rendered outputs) the cache may hold;
    /// entries are weighed by their size, so a few huge statements cannot pin a lot of memory.
    pub fn new(config: Arc<RbacConfig>, capacity_bytes: u64) -> Engine {
        Engine {
            config,
            cache: Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|key: &Key, value: &Arc<Result<Authorized, Denial>>| {
                    let out = match &**value {
                        Ok(a) => a.statements.iter().map(|s| s.sql.len()).sum(),
                        Err(d) => d.message.len(),
                    };
                    u32::try_from(key.sql.len() + out + 256).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    pub fn config(&self) -> &RbacConfig {
        &self.config
    }

    /// [`authorize`] for the role named in the claims, cached. A role that does not exist is a
    /// denial, never a default.
    pub fn authorize(
        &self,
        claims: &Claims,
        dialect: Dialect,
        database: Option<&str>,
        sql: &str,
    ) -> Arc<Result<Authorized, Denial>> {
        let Some(role) = self.config.role(&claims.role) else {
            return Arc::new(Err(Denial::new(
                crate::Rule::ClaimInvalid,
                format!(
                    "the token's role `{}` does not exist in the gateway's role file",
                    claims.role
                ),
            )));
        };
        // Input the engine refuses for its size is not worth a cache entry of that size.
        if sql.len() > crate::MAX_SQL_BYTES {
            let scope = Scope {
                config: &self.config,
                role,
                claims,
                dialect,
                database,
            };
            return Arc::new(authorize(&scope, sql));
        }
        let key = Key {
            role: role.name.clone(),
            claims: role
                .required_claims()
                .iter()
                .map(|c| match claims.get(c) {
                    Some(v) => format!("{c}={v:?}"),
                    None => format!("{c}#missing"),
                })
                .collect(),
            dialect,
            database: database.map(str::to_string),
            sql: sql.to_string(),
        };
        self.cache.get_with(key, || {
            let scope = Scope {
                config: &self.config,
                role,
                claims,
                dialect,
                database,
            };
            Arc::new(authorize(&scope, sql))
        })
    }

    /// [`crate::authorize_statement`] for the role named in the claims: the statement is
    /// rendered, and its text decided (and cached) as [`Engine::authorize`] decides any text.
    pub fn authorize_statement(
        &self,
        claims: &Claims,
        dialect: Dialect,
        database: Option<&str>,
        stmt: Statement,
    ) -> Arc<Result<Authorized, Denial>> {
        let sql = match statement_text(stmt, dialect) {
            Ok(sql) => sql,
            Err(denial) => return Arc::new(Err(denial)),
        };
        let decided = self.authorize(claims, dialect, database, &sql);
        match &*decided {
            Ok(a) => match several_statements(a) {
                Some(denial) => Arc::new(Err(denial)),
                None => decided,
            },
            Err(_) => decided,
        }
    }
}
