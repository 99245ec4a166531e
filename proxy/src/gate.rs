//! What every door shares: token verification, the revocation list, the policy engine and the
//! per-token rate limits. Doors call [`Gate`]; they never decide anything themselves.
//!
//! Roles, revocations and the backends' schemas can be replaced while sessions run (SIGHUP, the
//! revocation watcher, the schema refresh). Each statement reads the current ones, so a reload
//! applies to the next statement of every open session.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sluice_policy::roles::{EffectiveRole, RbacConfig};
use sluice_policy::{Authorized, BackendSchemas, Denial, Dialect, Engine, Principal, Schema};
use sluice_tokens::{Claims, RevocationList, TokenError, Verifier};

/// What the policy engine's caches may hold in all (decisions by text and statement families).
const DECISION_CACHE_BYTES: u64 = 64 << 20;

pub struct Gate {
    verifier: Verifier,
    revocations: RwLock<Arc<RevocationList>>,
    engine: RwLock<Arc<Engine>>,
    /// What the engine is built from; held while a new engine is built, so that a role reload
    /// and a schema refresh at the same time both take effect.
    engine_inputs: Mutex<(Arc<RbacConfig>, BackendSchemas)>,
    /// The roles of the current role file, shared by every session that uses them.
    roles: RwLock<Arc<HashMap<String, Arc<EffectiveRole>>>>,
    generation: AtomicU64,
    limits: moka::sync::Cache<String, Arc<DefaultDirectRateLimiter>>,
}

/// Why a token stopped working mid-session or was refused at connect.
#[derive(Debug, Clone)]
pub struct TokenRefused {
    pub reason: &'static str,
}

impl std::fmt::Display for TokenRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token refused: {}", self.reason)
    }
}

impl From<TokenError> for TokenRefused {
    fn from(e: TokenError) -> Self {
        TokenRefused {
            reason: e.public_reason(),
        }
    }
}

/// A statement over the role's `rate_limit`.
#[derive(Debug, Clone)]
pub struct RateLimited {
    pub role: String,
    pub limit: String,
}

impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rate limit exceeded: role {} allows {} statements per token; wait and retry",
            self.role, self.limit
        )
    }
}

impl Gate {
    /// A gate that knows no table of either backend yet ([`Gate::replace_schema`] tells it).
    pub fn new(verifier: Verifier, roles: RbacConfig, revocations: RevocationList) -> Gate {
        let roles = Arc::new(roles);
        let schemas = BackendSchemas::default();
        Gate {
            verifier,
            revocations: RwLock::new(Arc::new(revocations)),
            roles: RwLock::new(Arc::new(shared_roles(&roles))),
            engine: RwLock::new(Arc::new(Engine::with_schemas(
                roles.clone(),
                schemas.clone(),
                DECISION_CACHE_BYTES,
            ))),
            engine_inputs: Mutex::new((roles, schemas)),
            generation: AtomicU64::new(1),
            limits: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// Verifies a token presented at connect: signature, times, revocation, and a role that
    /// exists in the current role file.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<Claims, TokenRefused> {
        let revocations = self.revocations();
        let claims = self.verifier.verify(token.trim(), now, &revocations)?;
        if self.engine().config().role(&claims.role).is_none() {
            return Err(TokenRefused { reason: "invalid" });
        }
        Ok(claims)
    }

    /// The per-statement check: the token has not expired and has not been revoked since.
    pub fn recheck(&self, claims: &Claims, now: i64) -> Result<(), TokenRefused> {
        sluice_tokens::check_times(claims, now)?;
        if self.revocations().contains(&claims.jti) {
            return Err(TokenRefused { reason: "revoked" });
        }
        Ok(())
    }

    /// Checks and rewrites `sql` under the current role file. The generation tells a caller
    /// that cached the answer whether the roles changed since.
    pub fn authorize(
        &self,
        claims: &Claims,
        dialect: Dialect,
        database: Option<&str>,
        sql: &str,
    ) -> (Arc<Result<Authorized, Denial>>, u64) {
        let generation = self.generation();
        (
            self.engine().authorize(claims, dialect, database, sql),
            generation,
        )
    }

    /// Whose statements a session sends: made once per session, handed to
    /// [`Gate::authorize_as`] with each statement (the engine's cache keys for the token are
    /// then made once, not per statement).
    pub fn principal(
        &self,
        claims: Arc<Claims>,
        dialect: Dialect,
        database: Option<&str>,
    ) -> Principal {
        self.engine().principal(claims, dialect, database)
    }

    /// [`Gate::authorize`] for a session's principal (made again by the engine after a reload).
    pub fn authorize_as(
        &self,
        principal: &mut Principal,
        sql: &str,
    ) -> (Arc<Result<Authorized, Denial>>, u64) {
        let generation = self.generation();
        (self.engine().authorize_as(principal, sql), generation)
    }

    /// As [`Gate::authorize`], for a statement a door built as a syntax tree (REST, MCP).
    pub fn authorize_statement(
        &self,
        claims: &Claims,
        dialect: Dialect,
        database: Option<&str>,
        stmt: sqlparser::ast::Statement,
    ) -> Arc<Result<Authorized, Denial>> {
        self.engine()
            .authorize_statement(claims, dialect, database, stmt)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The role the claims name, under the current role file.
    pub fn role(&self, claims: &Claims) -> Option<Arc<EffectiveRole>> {
        self.roles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&claims.role)
            .cloned()
    }

    /// Counts `n` statements against the token's rate limit.
    pub fn admit(
        &self,
        claims: &Claims,
        role: &EffectiveRole,
        n: usize,
    ) -> Result<(), RateLimited> {
        let Some(limit) = role.rate_limit else {
            return Ok(());
        };
        let key = format!(
            "{}\0{}\0{}",
            claims.jti,
            limit.count,
            limit.per.duration().as_secs()
        );
        let limiter = self.limits.get_with(key, || {
            let count = NonZeroU32::new(limit.count.max(1)).unwrap_or(NonZeroU32::MIN);
            let period = limit.per.duration() / count.get();
            let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
                .expect("a positive period")
                .allow_burst(count);
            Arc::new(RateLimiter::direct(quota))
        });
        let n =
            NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX).max(1)).unwrap_or(NonZeroU32::MIN);
        // More statements at once than the burst allows can never pass.
        let admitted = matches!(limiter.check_n(n), Ok(Ok(())));
        admitted.then_some(()).ok_or_else(|| RateLimited {
            role: role.name.clone(),
            limit: format!(
                "{} per {}",
                limit.count,
                humantime::format_duration(limit.per.duration())
            ),
        })
    }

    pub fn replace_roles(&self, roles: RbacConfig) {
        let mut inputs = self.engine_inputs.lock().unwrap_or_else(|p| p.into_inner());
        *self.roles.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(shared_roles(&roles));
        inputs.0 = Arc::new(roles);
        self.rebuild_engine(&inputs);
    }

    /// Replaces what the engine knows of one backend's tables. Like a role reload, this starts
    /// a new engine (empty caches) and a new generation, so prepared statements are checked
    /// again before they next run.
    pub fn replace_schema(&self, dialect: Dialect, schema: Arc<Schema>) {
        let mut inputs = self.engine_inputs.lock().unwrap_or_else(|p| p.into_inner());
        match dialect {
            Dialect::PostgreSql => inputs.1.postgres = schema,
            Dialect::MySql => inputs.1.mysql = schema,
        }
        self.rebuild_engine(&inputs);
    }

    /// The role file the engine currently decides with.
    pub fn roles(&self) -> Arc<RbacConfig> {
        self.engine_inputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// What the engine currently knows of the backends' tables.
    pub fn schemas(&self) -> BackendSchemas {
        self.engine().schemas().clone()
    }

    fn rebuild_engine(&self, (roles, schemas): &(Arc<RbacConfig>, BackendSchemas)) {
        let engine = Engine::with_schemas(roles.clone(), schemas.clone(), DECISION_CACHE_BYTES);
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(engine);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn replace_revocations(&self, list: RevocationList) {
        *self.revocations.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
    }

    fn revocations(&self) -> Arc<RevocationList> {
        self.revocations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn shared_roles(config: &RbacConfig) -> HashMap<String, Arc<EffectiveRole>> {
    config
        .role_names()
        .filter_map(|n| config.role(n).map(|r| (n.to_string(), Arc::new(r.clone()))))
        .collect()
}
