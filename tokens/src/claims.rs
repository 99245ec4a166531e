//! The claim model: what a token says, and the rules every claim must satisfy both when a token
//! is issued and when it is verified.
//!
//! The rules are applied on both sides on purpose. Issue-side checks give the operator an early,
//! clear error; verify-side checks mean the gateway never trusts that the issuer checked (an older
//! issuer, a hand-signed token, a bug). Policy filters render claims as SQL literals, so a value
//! that could never be a safe literal is refused before it reaches the policy engine.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::TokenError;

/// Longest string claim value, in bytes. Claims are identifiers and labels, not documents.
pub const MAX_CLAIM_VALUE_LEN: usize = 256;

/// Longest extra claim name, in bytes.
pub const MAX_CLAIM_NAME_LEN: usize = 64;

/// Claim names Sluice gives a fixed meaning (or, for `iss`, `sub`, `aud`, reserves from PASETO's
/// registered claims without using them). Extra claims may not use these names in any letter
/// case, so `{{ token.Role }}` can never be confused with the real role.
pub const RESERVED_CLAIMS: [&str; 10] = [
    "role",
    "tenant_id",
    "exp",
    "iat",
    "nbf",
    "jti",
    "label",
    "iss",
    "sub",
    "aud",
];

/// The value of a caller-defined claim (`--claim K=V`): a string or a 64-bit integer, the two
/// kinds of value a row filter can render as a typed SQL literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Str(String),
    Int(i64),
}

/// The bare value, as it would appear in a `--claim K=V` argument (strings unquoted).
impl fmt::Display for ClaimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimValue::Str(s) => f.write_str(s),
            ClaimValue::Int(i) => write!(f, "{i}"),
        }
    }
}

impl From<&str> for ClaimValue {
    fn from(s: &str) -> Self {
        ClaimValue::Str(s.to_owned())
    }
}

impl From<String> for ClaimValue {
    fn from(s: String) -> Self {
        ClaimValue::Str(s)
    }
}

impl From<i64> for ClaimValue {
    fn from(i: i64) -> Self {
        ClaimValue::Int(i)
    }
}

/// The claims of a Sluice token. Times are unix seconds here and RFC 3339 UTC strings inside the
/// token, as the PASETO spec requires.
///
/// A `Claims` returned by [`crate::Verifier::verify`] has passed every rule of this module; one
/// returned by [`crate::unverified_claims`] has passed the same rules but its *origin* is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The RBAC role whose grants apply.
    pub role: String,
    /// The tenant the token is confined to, rendered into row filters as `{{ token.tenant_id }}`.
    pub tenant_id: Option<String>,
    /// Expiry (exclusive): the token is valid while `now < exp`.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before (inclusive): the token is valid from `now >= nbf`.
    pub nbf: i64,
    /// Unique token id (32 hex characters = 128 random bits); what the revocation list names.
    pub jti: String,
    /// Free-form human label, for audit logs.
    pub label: Option<String>,
    /// Caller-defined claims (`--claim K=V`), readable by policies as `{{ token.K }}`.
    pub extra: BTreeMap<String, ClaimValue>,
}

impl Claims {
    /// The value a policy template `{{ token.NAME }}` reads: `role`, `tenant_id`, `jti`, `label`,
    /// the times `exp`/`iat`/`nbf` (as unix seconds) and extra claims by name. `None` when the
    /// claim is absent, so the policy engine can refuse a filter it cannot fill instead of
    /// rendering something empty.
    pub fn get(&self, name: &str) -> Option<ClaimValue> {
        match name {
            "role" => Some(ClaimValue::Str(self.role.clone())),
            "tenant_id" => self.tenant_id.clone().map(ClaimValue::Str),
            "jti" => Some(ClaimValue::Str(self.jti.clone())),
            "label" => self.label.clone().map(ClaimValue::Str),
            "exp" => Some(ClaimValue::Int(self.exp)),
            "iat" => Some(ClaimValue::Int(self.iat)),
            "nbf" => Some(ClaimValue::Int(self.nbf)),
            _ => self.extra.get(name).cloned(),
        }
    }

    /// The claims as the flat JSON object stored in the token: times as RFC 3339 UTC strings,
    /// extra claims beside the standard ones, absent optional claims left out.
    ///
    /// A time outside years 0000-9999 cannot be written as RFC 3339; [`crate::issue`] refuses
    /// such times, and for hand-built `Claims` this falls back to the bare unix seconds.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), Value::String(self.role.clone()));
        if let Some(t) = &self.tenant_id {
            m.insert("tenant_id".into(), Value::String(t.clone()));
        }
        for (name, t) in [("exp", self.exp), ("iat", self.iat), ("nbf", self.nbf)] {
            let v = rfc3339(t).map_or(Value::from(t), Value::String);
            m.insert(name.into(), v);
        }
        m.insert("jti".into(), Value::String(self.jti.clone()));
        if let Some(l) = &self.label {
            m.insert("label".into(), Value::String(l.clone()));
        }
        for (k, v) in &self.extra {
            let v = match v {
                ClaimValue::Str(s) => Value::String(s.clone()),
                ClaimValue::Int(i) => Value::from(*i),
            };
            m.insert(k.clone(), v);
        }
        Value::Object(m)
    }

    /// Applies every claim rule; used on the issue side before signing.
    pub(crate) fn validate(&self) -> Result<(), TokenError> {
        check_nonempty_string("role", &self.role)?;
        if let Some(t) = &self.tenant_id {
            check_nonempty_string("tenant_id", t)?;
        }
        if let Some(l) = &self.label {
            check_string("label", l)?;
        }
        if !is_plausible_jti(&self.jti) {
            return Err(invalid("jti", JTI_RULE));
        }
        for (claim, t) in [("exp", self.exp), ("iat", self.iat), ("nbf", self.nbf)] {
            if rfc3339(t).is_none() {
                return Err(invalid(claim, "time is outside the years 0000-9999"));
            }
        }
        for (name, value) in &self.extra {
            check_extra_name(name)?;
            if let ClaimValue::Str(s) = value {
                check_string(name, s)?;
            }
        }
        Ok(())
    }

    /// Parses a token payload, refusing anything that is not exactly what Sluice issues: a single
    /// JSON object with unique keys, the required claims with the right types, extra claims that
    /// are strings or integers with identifier names, and only safe values.
    pub(crate) fn from_payload(payload: &[u8]) -> Result<Self, TokenError> {
        let StrictObject(mut fields) = serde_json::from_slice(payload)
            .map_err(|e| TokenError::Malformed(format!("payload is not a JSON object: {e}")))?;

        let role = take_string(&mut fields, "role")?.ok_or(TokenError::MissingClaim("role"))?;
        check_nonempty_string("role", &role)?;
        let tenant_id = take_string(&mut fields, "tenant_id")?;
        if let Some(t) = &tenant_id {
            check_nonempty_string("tenant_id", t)?;
        }
        let label = take_string(&mut fields, "label")?;
        if let Some(l) = &label {
            check_string("label", l)?;
        }
        let jti = take_string(&mut fields, "jti")?.ok_or(TokenError::MissingClaim("jti"))?;
        check_string("jti", &jti)?;
        if !is_plausible_jti(&jti) {
            return Err(invalid("jti", JTI_RULE));
        }
        let exp = take_time(&mut fields, "exp")?;
        let iat = take_time(&mut fields, "iat")?;
        let nbf = take_time(&mut fields, "nbf")?;

        let mut extra = BTreeMap::new();
        for (name, value) in fields {
            check_extra_name(&name)?;
            let value = match value {
                Value::String(s) => {
                    check_string(&name, &s)?;
                    ClaimValue::Str(s)
                }
                Value::Number(n) => match n.as_i64() {
                    Some(i) => ClaimValue::Int(i),
                    None => return Err(invalid(&name, "numbers must be integers that fit i64")),
                },
                Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                    return Err(invalid(&name, "extra claims must be strings or integers"))
                }
            };
            extra.insert(name, value);
        }

        Ok(Claims {
            role,
            tenant_id,
            exp,
            iat,
            nbf,
            jti,
            label,
            extra,
        })
    }
}

const JTI_RULE: &str = "a jti is 1 to 128 characters of A-Z, a-z, 0-9, `_` and `-`";

/// True for strings that can be a token id: 1..=128 characters of `[A-Za-z0-9_-]`. Shared by the
/// verifier and the revocation list, so every token that verifies can also be revoked.
pub(crate) fn is_plausible_jti(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Refuses values that could never be a safe SQL literal: any control character (C0 including
/// NUL, tab, CR and LF; DEL; C1) and anything longer than [`MAX_CLAIM_VALUE_LEN`] bytes.
fn check_string(claim: &str, value: &str) -> Result<(), TokenError> {
    if value.len() > MAX_CLAIM_VALUE_LEN {
        return Err(TokenError::UnsafeClaimValue {
            claim: printable(claim),
            reason: format!(
                "{} bytes long, more than the {MAX_CLAIM_VALUE_LEN} allowed",
                value.len()
            ),
        });
    }
    // `char::is_control` is exactly Unicode category Cc: U+0000-001F and U+007F-009F.
    if let Some((at, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(TokenError::UnsafeClaimValue {
            claim: printable(claim),
            reason: format!("contains control character U+{:04X} at byte {at}", c as u32),
        });
    }
    Ok(())
}

/// `role` and `tenant_id` must also be non-empty: an empty tenant is almost always an unset shell
/// variable (`--tenant-id "$TENANT"`), and a filter `tenant_id = ''` might match real rows.
fn check_nonempty_string(claim: &'static str, value: &str) -> Result<(), TokenError> {
    if value.is_empty() {
        return Err(invalid(claim, "must not be empty"));
    }
    check_string(claim, value)
}

/// Extra claim names must be identifiers (so a policy can name them as `{{ token.NAME }}`) and
/// must not shadow a reserved claim in any letter case.
pub(crate) fn check_extra_name(name: &str) -> Result<(), TokenError> {
    let mut bytes = name.bytes();
    let is_identifier = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !is_identifier || name.len() > MAX_CLAIM_NAME_LEN {
        return Err(invalid(
            name,
            &format!(
                "claim names must match [A-Za-z_][A-Za-z0-9_]* and be at most \
                 {MAX_CLAIM_NAME_LEN} characters"
            ),
        ));
    }
    if RESERVED_CLAIMS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(invalid(
            name,
            "this name is reserved for a standard claim and cannot be an extra claim",
        ));
    }
    Ok(())
}

fn invalid(claim: &str, reason: &str) -> TokenError {
    TokenError::InvalidClaim {
        claim: printable(claim),
        reason: reason.to_owned(),
    }
}

/// Claim names come from untrusted payloads; keep them short and escaped before they reach a log.
fn printable(name: &str) -> String {
    let mut out: String = name.chars().take(MAX_CLAIM_NAME_LEN).collect();
    if out.len() < name.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

fn take_string(
    fields: &mut Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, TokenError> {
    match fields.remove(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(claim, "must be a string")),
    }
}

fn take_time(fields: &mut Map<String, Value>, claim: &'static str) -> Result<i64, TokenError> {
    let s = take_string(fields, claim)?.ok_or(TokenError::MissingClaim(claim))?;
    parse_time(&s).ok_or_else(|| {
        invalid(
            claim,
            "must be an RFC 3339 date-time with whole seconds, e.g. 2026-11-24T21:00:00Z",
        )
    })
}

/// Unix seconds as RFC 3339 UTC (`2026-11-24T21:00:00Z`); `None` outside years 0000-9999.
pub(crate) fn rfc3339(unix: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// For messages: RFC 3339 when possible, otherwise the raw number.
pub(crate) fn format_time(unix: i64) -> String {
    rfc3339(unix).unwrap_or_else(|| format!("unix time {unix}"))
}

/// Parses any RFC 3339 date-time (any UTC offset) to unix seconds. Fractional seconds are
/// refused rather than rounded: Sluice never writes them, and rounding either way would move a
/// validity boundary.
fn parse_time(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    (t.nanosecond() == 0).then(|| t.unix_timestamp())
}

/// A JSON object whose keys are unique. `serde_json` keeps the last of duplicate keys silently;
/// a payload that says `"role"` twice is refused instead, because two parsers (ours and a
/// reviewer's tool) could disagree on which one counts.
pub(crate) struct StrictObject(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor;

        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = StrictObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique keys")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom(format_args!(
                            "duplicate key `{}`",
                            printable(&key)
                        )));
                    }
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }

        deserializer.deserialize_map(StrictVisitor)
    }
}
