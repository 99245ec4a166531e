//! The role file as written: serde structs that keep each value's location, so that every later
//! check can point at the line and column it is about.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::error::{ConfigError, ConfigErrors};

/// Where a value stands in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    pub line: u64,
    pub column: u64,
}

impl At {
    pub fn of<T>(s: &Spanned<T>) -> At {
        At {
            line: s.referenced.line(),
            column: s.referenced.column(),
        }
    }
}

/// A mapping key with its location; ordered and compared by name only.
#[derive(Debug, Clone)]
pub(super) struct Key {
    pub name: String,
    pub at: At,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<String>::deserialize(d)?;
        Ok(Key {
            at: At::of(&s),
            name: s.value,
        })
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name.cmp(&other.name)
    }
}

pub(super) type Names = Spanned<Vec<Spanned<String>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub forbidden_operations: Option<Names>,
    #[serde(default)]
    pub default_schema: Option<Spanned<String>>,
    pub roles: Spanned<BTreeMap<Key, Spanned<RawRole>>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    #[serde(default)]
    #[allow(dead_code)] // documentation for humans; read by nobody
    pub description: Option<String>,
    #[serde(default)]
    pub inherits: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub tables: BTreeMap<Key, Names>,
    #[serde(default)]
    pub columns: BTreeMap<Key, BTreeMap<Key, Names>>,
    #[serde(default)]
    pub filters: BTreeMap<Key, Spanned<String>>,
    #[serde(default)]
    pub rate_limit: Option<Spanned<String>>,
    #[serde(default)]
    pub max_rows: Option<Spanned<u64>>,
    #[serde(default)]
    pub statement_timeout: Option<Spanned<String>>,
    /// `explain: true` lets the role run EXPLAIN (without ANALYZE). A plan's row estimates come
    /// from statistics over every row of a table, other tenants' included.
    #[serde(default)]
    pub explain: Option<bool>,
    #[serde(default)]
    pub forbidden_operations: Option<Names>,
    #[serde(default)]
    pub functions: Option<Names>,
}

pub(super) fn parse(source_name: &str, text: &str) -> Result<RawConfig, ConfigErrors> {
    if text.trim().is_empty() {
        return Err(ConfigErrors(vec![ConfigError {
            source_name: source_name.to_string(),
            line: 0,
            column: 0,
            message: "the role file is empty; it needs at least a `roles:` mapping".to_string(),
        }]));
    }
    serde_saphyr::from_str::<RawConfig>(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let plain = e.without_snippet().to_string();
        // The library prefixes "line L column C: "; we print our own `file:line:col:`.
        let message = plain
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("line ") || head.starts_with("error"))
            .map_or(plain.clone(), |(_, rest)| rest.to_string());
        ConfigErrors(vec![ConfigError {
            source_name: source_name.to_string(),
            line,
            column,
            message,
        }])
    })
}
