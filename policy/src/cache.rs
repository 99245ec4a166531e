//! The decision cache: a repeated statement from the same role with the same bound claims costs
//! a hash lookup.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use moka::sync::Cache;
use sluice_tokens::Claims;
use sqlparser::ast::Statement;

use crate::decision::{Authorized, Denial};
use crate::engine::template::{self, Family, Shape};
use crate::engine::{authorize, several_statements, statement_text, Scope};
use crate::roles::RbacConfig;
use crate::schema::Schema;
use crate::Dialect;

/// Whose decision: two requests that agree on all of it get the same rewriting of a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Who {
    role: String,
    /// The claims the role's filters read, as `name=value`.
    claims: Vec<String>,
    dialect: Dialect,
    database: Option<String>,
}

/// A decision by exact text: whose (a [`Who`] interned in the engine) and the text. Looked up
/// through [`KeyView`] with the caller's `&str`, so a hit copies nothing.
#[derive(Debug, PartialEq, Eq)]
struct Key {
    who: u64,
    sql: Box<str>,
}

/// A [`Key`] or a borrowed `(who, text)`: what the cache hashes and compares.
trait KeyView {
    fn parts(&self) -> (u64, &str);
}

impl KeyView for Key {
    fn parts(&self) -> (u64, &str) {
        (self.who, &self.sql)
    }
}

impl KeyView for (u64, &str) {
    fn parts(&self) -> (u64, &str) {
        (self.0, self.1)
    }
}

impl Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.parts().hash(h)
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.parts().hash(h)
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl<'a> Borrow<dyn KeyView + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// A statement family (see [`crate::engine::template`]): the input with its literals masked,
/// and each literal's kind, so that a family decided on strings never answers a member with a
/// number in the same place, or the other way round.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FamilyKey {
    who: u64,
    shape: Shape,
    kinds: Vec<u8>,
}

/// Whose statements a session sends, interned in the engine that decides them: the token's
/// claims, the dialect and the database, and the [`Who`] they make. A door makes one per
/// session ([`Engine::principal`]) and hands it to [`Engine::authorize_as`] with each
/// statement, so that a statement costs no rebuilding of its cache keys. It holds the claims
/// it was made from, so it cannot be used with another token's.
#[derive(Debug, Clone)]
pub struct Principal {
    claims: Arc<Claims>,
    dialect: Dialect,
    database: Option<String>,
    /// The engine the ids below belong to ([`Engine`]'s `id`): another engine (after a reload)
    /// makes them again.
    engine: u64,
    /// The interned [`Who`]; `None` when the role does not exist in that engine's role file.
    who: Option<u64>,
    /// The family of the last statement decided from one, with its decision (that engine's,
    /// like the ids): a session sending one statement with other literals each time finds the
    /// next member's family here, not in the family cache.
    last_family: Option<(FamilyKey, Arc<Option<Family>>)>,
    /// The last statement was answered from a family because the exact-text cache did not
    /// know its text: the session is sending one statement with other literals each time, so
    /// the next text is tried against the remembered family before the exact-text cache,
    /// whose lookup would only miss again. A text the exact-text cache knows is then answered
    /// from its family: as [`authorize`] answers it, or more strictly (a family decides its
    /// string literals as words, so it may keep a fence that the full path, proving a
    /// particular value leakproof, drops), never less.
    members_streak: bool,
}

/// The bytes a family holds, its key's included: what the family cache weighs it by.
fn family_weight(key: &FamilyKey, family: &Option<Family>) -> usize {
    let tokens = match &key.shape {
        Shape::Text(t) => t.len(),
        Shape::Tokens(t) => t.len() * std::mem::size_of_val(&t[0]) * 2,
    };
    tokens + family.as_ref().map_or(0, Family::weight) + 256
}

/// The most a [`Principal`] keeps of its last family: the family cache's bound does not cover
/// what sessions hold, so one whose statements are large remembers nothing.
const MAX_REMEMBERED_FAMILY_BYTES: usize = 4 << 10;

impl Principal {
    /// Remembers `family` as the last one, unless it is too large to keep per session.
    fn remember(&mut self, key: &FamilyKey, family: &Arc<Option<Family>>) {
        self.last_family = (family.is_some()
            && family_weight(key, family) <= MAX_REMEMBERED_FAMILY_BYTES)
            .then(|| (key.clone(), family.clone()));
    }

    /// A family member decided from `family` (remembered or found in the family cache).
    fn answered_from(&mut self, key: &FamilyKey, family: &Arc<Option<Family>>, remembered: bool) {
        if !remembered {
            self.remember(key, family);
        }
        self.members_streak = self.last_family.is_some();
    }
}

/// The family key of a masked input (its shape taken out of it: the key holds it now).
fn family_key_of(who: u64, mut masked: template::Masked) -> (FamilyKey, template::Masked) {
    let key = FamilyKey {
        who,
        kinds: masked
            .literals
            .iter()
            .map(template::Literal::kind)
            .collect(),
        shape: std::mem::replace(&mut masked.shape, Shape::Text(String::new())),
    };
    (key, masked)
}

/// Ids of engines, so that a [`Principal`] made by one is never read by another.
static ENGINES: AtomicU64 = AtomicU64::new(1);

type Decision = Arc<Result<Authorized, Denial>>;

/// The caches' hash: keyed with a random seed per process, like std's SipHash (the keys are
/// client SQL, so collisions must not be choosable), and several times faster on the long keys
/// (whole statements, token lists) that every lookup hashes.
type Hasher = foldhash::quality::RandomState;

/// The policy engine with its caches. Built once per loaded role file; a reload builds a new
/// one (and so new, empty caches).
pub struct Engine {
    id: u64,
    config: Arc<RbacConfig>,
    /// The backends' schemas the decisions were made with; a new schema means a new engine.
    schemas: BackendSchemas,
    /// Decisions by exact text.
    cache: Cache<Key, Decision, Hasher>,
    /// Decisions by statement family; `None`: the family's texts are each decided in full.
    families: Cache<FamilyKey, Arc<Option<Family>>, Hasher>,
    family_hits: AtomicU64,
    /// Each [`Who`] seen, and its id in the keys above. Ids are never reused: a `Who` evicted
    /// here gets a new id when it comes back, and its old entries are never read again.
    whos: Cache<Who, u64, Hasher>,
    next_who: AtomicU64,
}

/// What the engine knows of each backend's tables: one model per dialect, since a PostgreSQL
/// schema and a MySQL database may share a name.
#[derive(Debug, Clone, Default)]
pub struct BackendSchemas {
    pub postgres: Arc<Schema>,
    pub mysql: Arc<Schema>,
}

impl BackendSchemas {
    pub fn for_dialect(&self, dialect: Dialect) -> &Schema {
        match dialect {
            Dialect::PostgreSql => &self.postgres,
            Dialect::MySql => &self.mysql,
        }
    }
}

/// Counters of an [`Engine`] since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Texts decided from a statement family's decision (not parsed themselves).
    pub family_hits: u64,
}

impl Engine {
    /// `capacity_bytes`: how much the caches may hold in all (SQL texts, rendered outputs and
    /// token lists: three quarters for decisions by text, a quarter for families); entries are
    /// weighed by their size, so a few huge statements cannot pin a lot of memory.
    pub fn new(config: Arc<RbacConfig>, capacity_bytes: u64) -> Engine {
        Engine::with_schemas(config, BackendSchemas::default(), capacity_bytes)
    }

    /// An engine that decides with what `schemas` say of the backends' tables (column types
    /// for leakproofness, foreign keys for writes). [`Engine::new`] knows no table.
    pub fn with_schemas(
        config: Arc<RbacConfig>,
        schemas: BackendSchemas,
        capacity_bytes: u64,
    ) -> Engine {
        let families_bytes = capacity_bytes / 4;
        Engine {
            id: ENGINES.fetch_add(1, Ordering::Relaxed),
            config,
            schemas,
            cache: Cache::builder()
                .max_capacity(capacity_bytes - families_bytes)
                .weigher(|key: &Key, value: &Decision| {
                    let out = match &**value {
                        Ok(a) => a.statements.iter().map(|s| s.sql.len()).sum(),
                        Err(d) => d.message.len(),
                    };
                    u32::try_from(key.sql.len() + out + 256).unwrap_or(u32::MAX)
                })
                .build_with_hasher(Hasher::default()),
            families: Cache::builder()
                .max_capacity(families_bytes)
                .weigher(|key: &FamilyKey, value: &Arc<Option<Family>>| {
                    u32::try_from(family_weight(key, value)).unwrap_or(u32::MAX)
                })
                .build_with_hasher(Hasher::default()),
            family_hits: AtomicU64::new(0),
            whos: Cache::builder()
                .max_capacity(100_000)
                .build_with_hasher(Hasher::default()),
            next_who: AtomicU64::new(1),
        }
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            family_hits: self.family_hits.load(Ordering::Relaxed),
        }
    }

    pub fn config(&self) -> &RbacConfig {
        &self.config
    }

    pub fn schemas(&self) -> &BackendSchemas {
        &self.schemas
    }

    /// [`authorize`] for the role named in the claims, cached. A role that does not exist is a
    /// denial, never a default. A door that decides many statements for one token makes a
    /// [`Principal`] once and calls [`Engine::authorize_as`].
    pub fn authorize(
        &self,
        claims: &Claims,
        dialect: Dialect,
        database: Option<&str>,
        sql: &str,
    ) -> Decision {
        let mut principal = self.principal(Arc::new(claims.clone()), dialect, database);
        self.authorize_as(&mut principal, sql)
    }

    /// Whose statements: see [`Principal`].
    pub fn principal(
        &self,
        claims: Arc<Claims>,
        dialect: Dialect,
        database: Option<&str>,
    ) -> Principal {
        let mut p = Principal {
            claims,
            dialect,
            database: database.map(str::to_string),
            engine: 0,
            who: None,
            last_family: None,
            members_streak: false,
        };
        self.intern(&mut p);
        p
    }

    /// Makes `p`'s ids this engine's.
    fn intern(&self, p: &mut Principal) {
        p.engine = self.id;
        p.last_family = None;
        p.members_streak = false;
        p.who = self.config.role(&p.claims.role).map(|role| {
            let who = Who {
                role: role.name.clone(),
                claims: role
                    .required_claims()
                    .iter()
                    .map(|c| match p.claims.get(c) {
                        Some(v) => format!("{c}={v:?}"),
                        None => format!("{c}#missing"),
                    })
                    .collect(),
                dialect: p.dialect,
                database: p.database.clone(),
            };
            self.whos
                .get_with(who, || self.next_who.fetch_add(1, Ordering::Relaxed))
        });
    }

    /// [`authorize`] for a principal, cached.
    ///
    /// A text seen before costs a hash lookup. A new text of a known statement family (the
    /// same statement with other literals) costs a scan of its bytes and the writing of its
    /// literals into the family's checked rendering; see [`crate::engine::template`]. In a run
    /// of such texts (the last one missed the exact-text cache and was a member of the family
    /// the principal remembers), the remembered family is asked before the exact-text cache.
    pub fn authorize_as(&self, p: &mut Principal, sql: &str) -> Decision {
        if p.engine != self.id {
            self.intern(p);
        }
        let role = p
            .who
            .and_then(|who| Some((who, self.config.role(&p.claims.role)?)));
        let Some((who, role)) = role else {
            return Arc::new(Err(Denial::new(
                crate::Rule::ClaimInvalid,
                format!(
                    "the token's role `{}` does not exist in the gateway's role file",
                    p.claims.role
                ),
            )));
        };
        let dialect = p.dialect;
        let scope = Scope {
            config: &self.config,
            role,
            claims: &p.claims,
            dialect,
            database: p.database.as_deref(),
            schema: self.schemas.for_dialect(dialect),
        };
        // Input the engine refuses for its size is not worth a cache entry of that size.
        if sql.len() > crate::MAX_SQL_BYTES {
            return Arc::new(authorize(&scope, sql));
        }
        // Within a run of members of the remembered family, that family is tried first.
        // `masked` is `None` until the input has been masked.
        let mut masked = None;
        if p.members_streak {
            let tried = masked.insert(template::mask(dialect, sql).map(|m| family_key_of(who, m)));
            if let (Some((family_key, masked)), Some((key, family))) = (&*tried, &p.last_family) {
                if key == family_key {
                    if let Some(authorized) = family
                        .as_ref()
                        .as_ref()
                        .and_then(|f| f.instantiate(dialect, &masked.literals))
                    {
                        self.family_hits.fetch_add(1, Ordering::Relaxed);
                        return Arc::new(Ok(authorized));
                    }
                }
            }
        }
        if let Some(hit) = self.cache.get(&(who, sql) as &dyn KeyView) {
            p.members_streak = false;
            return hit;
        }
        p.members_streak = false;
        let key = || Key {
            who,
            sql: sql.into(),
        };
        let masked =
            masked.unwrap_or_else(|| template::mask(dialect, sql).map(|m| family_key_of(who, m)));
        let Some((family_key, masked)) = masked else {
            return self
                .cache
                .get_with(key(), || Arc::new(authorize(&scope, sql)));
        };
        let (known, remembered) = match &p.last_family {
            Some((key, family)) if *key == family_key => (Some(family.clone()), true),
            _ => (self.families.get(&family_key), false),
        };
        match known {
            // A member of a known family is not cached by its text: its decision costs little,
            // and the cache would fill with one entry per literal value.
            Some(family) => {
                if let Some(authorized) = family
                    .as_ref()
                    .as_ref()
                    .and_then(|f| f.instantiate(dialect, &masked.literals))
                {
                    self.family_hits.fetch_add(1, Ordering::Relaxed);
                    p.answered_from(&family_key, &family, remembered);
                    return Arc::new(Ok(authorized));
                }
                self.cache
                    .get_with(key(), || Arc::new(authorize(&scope, sql)))
            }
            None => {
                let full = Arc::new(authorize(&scope, sql));
                let family = Arc::new(Family::decide(
                    &scope,
                    sql,
                    &family_key.shape,
                    &masked,
                    &full,
                ));
                p.remember(&family_key, &family);
                self.families.insert(family_key, family);
                self.cache.insert(key(), full.clone());
                full
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A session remembers a small statement's family, and not a large one's: what sessions
    /// hold is outside the family cache's bound.
    #[test]
    fn only_small_families_are_remembered() {
        let roles = include_str!("../../examples/roles.yaml");
        let engine = Engine::new(
            Arc::new(RbacConfig::from_yaml("roles.yaml", roles).unwrap()),
            1 << 20,
        );
        let claims = Claims {
            role: "agent_readonly".into(),
            tenant_id: Some("acme".into()),
            exp: i64::MAX / 2,
            iat: 0,
            nbf: 0,
            jti: "0123456789abcdef0123456789abcdef".into(),
            label: None,
            extra: Default::default(),
        };
        let mut p = engine.principal(Arc::new(claims), Dialect::PostgreSql, None);
        let small = |n: u32| format!("SELECT * FROM reservations WHERE id = {n}");
        let large = |n: u32| {
            let list: Vec<String> = (0..600).map(|i| (i + n).to_string()).collect();
            format!(
                "SELECT * FROM reservations WHERE id IN ({})",
                list.join(", ")
            )
        };
        for n in [1, 2] {
            assert!(engine.authorize_as(&mut p, &small(n)).is_ok());
        }
        assert!(p.last_family.is_some(), "a small family is remembered");
        for n in [1, 2] {
            assert!(engine.authorize_as(&mut p, &large(n)).is_ok());
        }
        assert_eq!(
            engine.stats().family_hits,
            2,
            "both second members came from families"
        );
        assert!(p.last_family.is_none(), "a large family is not");
    }
}
