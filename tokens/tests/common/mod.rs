//! Shared fixtures: a fixed clock, keys, and a way to sign hand-built payloads with pasetors
//! directly so that tests can put things in a token that `issue` would refuse.
#![allow(dead_code)]

use std::collections::BTreeMap;

use pasetors::keys::AsymmetricSecretKey;
use pasetors::version4::{PublicToken, V4};
use sluice_tokens::{ClaimValue, IssuerKey, RevocationList, TokenRequest, Verifier};

/// 2026-11-24T20:00:00Z
pub const NOW: i64 = 1_795_550_400;
pub const HOUR: i64 = 3600;

pub fn key() -> IssuerKey {
    IssuerKey::generate().expect("key generation")
}

pub fn verifier_for(key: &IssuerKey) -> Verifier {
    Verifier::new([key.public()])
}

pub fn no_revocations() -> RevocationList {
    RevocationList::default()
}

pub fn request(role: &str) -> TokenRequest {
    TokenRequest {
        role: role.into(),
        tenant_id: Some("acme-rentals".into()),
        extra: BTreeMap::new(),
        lifetime_secs: HOUR,
        label: None,
    }
}

pub fn request_with_extra(extra: &[(&str, ClaimValue)]) -> TokenRequest {
    let mut req = request("agent_readonly");
    req.extra = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    req
}

/// Signs `payload` as-is under `key`, with a correct `{"kid":…}` footer.
pub fn sign_raw(key: &IssuerKey, payload: &str) -> String {
    let footer = format!(r#"{{"kid":"{}"}}"#, key.public().kid());
    sign_raw_with_footer(key, payload, &footer)
}

pub fn sign_raw_with_footer(key: &IssuerKey, payload: &str, footer: &str) -> String {
    let secret = AsymmetricSecretKey::<V4>::try_from(key.to_paserk().as_str()).unwrap();
    PublicToken::sign(&secret, payload.as_bytes(), Some(footer.as_bytes()), None).unwrap()
}

/// A payload exactly like one `issue` writes at `NOW` for one hour, with `fields` replacing or
/// adding members (a `None` value removes the member).
pub fn payload_with(fields: &[(&str, Option<serde_json::Value>)]) -> String {
    let mut m = serde_json::json!({
        "role": "agent_readonly",
        "tenant_id": "acme-rentals",
        "exp": "2026-11-24T21:00:00Z",
        "iat": "2026-11-24T20:00:00Z",
        "nbf": "2026-11-24T20:00:00Z",
        "jti": "0123456789abcdef0123456789abcdef",
    });
    let obj = m.as_object_mut().unwrap();
    for (k, v) in fields {
        match v {
            Some(v) => {
                obj.insert(k.to_string(), v.clone());
            }
            None => {
                obj.remove(*k);
            }
        }
    }
    m.to_string()
}

/// The parts of a token: `v4`, `public`, payload+signature, footer.
pub fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}
