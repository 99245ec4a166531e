//! Issuing and verifying tokens: the PASETO envelope around [`Claims`].
//!
//! A token is `v4.public.<payload+signature>.<footer>`, the footer being `{"kid":"k4.pid.…"}`.
//! Verification goes cheapest and most general first: size, header, encoding, key id, signature,
//! then claim rules, then time and revocation. Nothing from the payload is looked at before the
//! signature has been checked, except by [`unverified_claims`], which says so in its name.

use std::collections::BTreeMap;

use pasetors::token::UntrustedToken;
use pasetors::version4::{PublicToken, V4};
use pasetors::Public;
use serde_json::{Map, Value};

use crate::claims::{is_plausible_jti, ClaimValue, Claims, StrictObject};
use crate::error::TokenError;
use crate::keys::{IssuerKey, VerifierKey};
use crate::revocation::RevocationList;

/// Tokens longer than this are refused before any decoding or cryptography. A Sluice token with
/// a label and a handful of extra claims is well under 2 KiB; a DSN password field or a bearer
/// header has no business carrying more.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

const HEADER: &str = "v4.public.";

/// What `sluice token create` asks for. Times are chosen by [`issue`], not by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub role: String,
    pub tenant_id: Option<String>,
    /// Caller-defined claims (`--claim K=V`).
    pub extra: BTreeMap<String, ClaimValue>,
    /// Seconds from `now` until expiry; must be positive.
    pub lifetime_secs: i64,
    pub label: Option<String>,
}

/// A freshly signed token and the claims it carries (for the CLI to print `jti` and expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

/// Signs a new token valid from `now` (unix seconds) for `req.lifetime_secs` seconds.
///
/// `iat` and `nbf` are both `now`; `jti` is 128 random bits, hex-encoded. Every claim rule the
/// verifier applies is applied here first, so an operator learns about an unusable claim at
/// issue time rather than from a gateway refusing the token later.
pub fn issue(key: &IssuerKey, req: &TokenRequest, now: i64) -> Result<IssuedToken, TokenError> {
    if req.lifetime_secs <= 0 {
        return Err(TokenError::InvalidClaim {
            claim: "exp".into(),
            reason: format!(
                "lifetime must be positive, got {} seconds",
                req.lifetime_secs
            ),
        });
    }
    let exp = now
        .checked_add(req.lifetime_secs)
        .ok_or_else(|| TokenError::InvalidClaim {
            claim: "exp".into(),
            reason: "lifetime is too large".into(),
        })?;
    let claims = Claims {
        role: req.role.clone(),
        tenant_id: req.tenant_id.clone(),
        exp,
        iat: now,
        nbf: now,
        jti: new_jti()?,
        label: req.label.clone(),
        extra: req.extra.clone(),
    };
    claims.validate()?;

    let payload = serde_json::to_vec(&claims.to_json())
        .map_err(|e| TokenError::Signing(format!("could not encode claims: {e}")))?;
    let footer = footer_for(&key.public().kid());
    let token = PublicToken::sign(key.secret(), &payload, Some(&footer), None)
        .map_err(|e| TokenError::Signing(format!("{e:?}")))?;
    // Never hand out a token that every gateway would refuse.
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    Ok(IssuedToken { token, claims })
}

/// The public keys a gateway accepts, looked up by the token footer's key id.
///
/// Holding several keys is how keys rotate: add the new public key, start issuing with the new
/// secret key, and drop the old public key once the last token it signed has expired.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: Vec<VerifierKey>,
}

impl Verifier {
    pub fn new(keys: impl IntoIterator<Item = VerifierKey>) -> Self {
        let mut verifier = Self::default();
        for key in keys {
            verifier.add_key(key);
        }
        verifier
    }

    /// Adds a key; adding one that is already present changes nothing.
    pub fn add_key(&mut self, key: VerifierKey) {
        if !self.keys.iter().any(|k| k.kid_str() == key.kid_str()) {
            self.keys.push(key);
        }
    }

    /// The ids (`k4.pid.…`) of the keys this verifier accepts, for startup logs.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(VerifierKey::kid).collect()
    }

    /// Full verification, what the gateway runs at connect and (through [`check_times`] and the
    /// revocation list) on every statement: envelope, key, signature, claim rules, `nbf`/`exp`
    /// against `now` (unix seconds), and the revocation list.
    pub fn verify(
        &self,
        token: &str,
        now: i64,
        revoked: &RevocationList,
    ) -> Result<Claims, TokenError> {
        let claims = self.verify_signature_only(token)?;
        check_times(&claims, now)?;
        if revoked.contains(&claims.jti) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Envelope, key, signature and claim rules, but not time or revocation. For `sluice token
    /// inspect`, which reports each check on its own line; the gateway must use [`Self::verify`].
    pub fn verify_signature_only(&self, token: &str) -> Result<Claims, TokenError> {
        let untrusted = parse_envelope(token)?;
        let kid = kid_from_footer(untrusted.untrusted_footer())?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid_str() == kid)
            .ok_or(TokenError::UnknownKey)?;
        // The footer is covered by the signature, so a footer edited to name another known key
        // fails here rather than selecting that key successfully.
        let trusted = PublicToken::verify(key.inner(), &untrusted, None, None)
            .map_err(|_| TokenError::BadSignature)?;
        Claims::from_payload(trusted.payload().as_bytes())
    }
}

/// Checks `nbf <= now < exp`, with no clock-skew allowance: tokens live minutes to hours, and a
/// gateway whose clock is off should be fixed rather than accommodated. `exp` is exclusive, so a
/// token issued for 60 s at `t` works at `t + 59` and not at `t + 60`.
///
/// The gateway calls this on every statement of an open session, so a token that expires
/// mid-session stops working.
pub fn check_times(claims: &Claims, now: i64) -> Result<(), TokenError> {
    if now < claims.nbf {
        return Err(TokenError::NotYetValid { nbf: claims.nbf });
    }
    if now >= claims.exp {
        return Err(TokenError::Expired { exp: claims.exp });
    }
    Ok(())
}

/// Decodes a token's claims **without checking its signature or key**.
///
/// UNTRUSTED: anyone can write any claims into a token-shaped string. Use only to show a token
/// to a human (`sluice token inspect` without a public key) or to find the `jti` to revoke,
/// never to grant anything. The claim rules are applied, so what is shown is at least
/// well-formed; time and revocation are not checked.
pub fn unverified_claims(token: &str) -> Result<Claims, TokenError> {
    let untrusted = parse_envelope(token)?;
    Claims::from_payload(untrusted.untrusted_payload())
}

/// The key id (`k4.pid.…`) named in a token's footer, **unverified**: for `sluice token inspect`
/// to say which key a token claims to be signed by when the verifier does not know it.
pub fn unverified_kid(token: &str) -> Result<String, TokenError> {
    let untrusted = parse_envelope(token)?;
    kid_from_footer(untrusted.untrusted_footer())
}

/// The `jti` to revoke, given either a whole token or a bare jti (`sluice token revoke
/// TOKEN|JTI`). A token's signature is not checked: revoking cannot grant anything, and the
/// operator may not have the public key at hand.
pub fn jti_of(token_or_jti: &str) -> Result<String, TokenError> {
    let s = token_or_jti.trim();
    if is_plausible_jti(s) {
        return Ok(s.to_owned());
    }
    if s.contains('.') {
        return unverified_claims(s).map(|c| c.jti);
    }
    Err(TokenError::InvalidClaim {
        claim: "jti".into(),
        reason: "neither a token nor a jti (1 to 128 characters of A-Z, a-z, 0-9, `_`, `-`)".into(),
    })
}

/// Size, header and base64 checks; everything here is cheap and happens before any crypto.
fn parse_envelope(token: &str) -> Result<UntrustedToken<Public, V4>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    if !token.starts_with(HEADER) {
        return Err(match paseto_header(token) {
            Some(found) => TokenError::WrongVersionOrPurpose { found },
            None => TokenError::Malformed("it does not start with `v4.public.`".into()),
        });
    }
    UntrustedToken::<Public, V4>::try_from(token)
        .map_err(|e| TokenError::Malformed(format!("not a valid v4.public token ({e:?})")))
}

/// `Some("v3.public")` for a token that looks like another PASETO version or purpose. Only a
/// short, plain prefix is ever echoed back, since the input is attacker-controlled.
fn paseto_header(token: &str) -> Option<String> {
    let mut parts = token.splitn(3, '.');
    let (version, purpose) = (parts.next()?, parts.next()?);
    parts.next()?;
    let version_ok = version.len() >= 2
        && version.len() <= 4
        && version.starts_with('v')
        && version[1..].bytes().all(|b| b.is_ascii_digit());
    let purpose_ok =
        (1..=16).contains(&purpose.len()) && purpose.bytes().all(|b| b.is_ascii_lowercase());
    (version_ok && purpose_ok).then(|| format!("{version}.{purpose}"))
}

fn footer_for(kid: &str) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("kid".into(), Value::String(kid.to_owned()));
    serde_json::to_vec(&Value::Object(m)).expect("encoding a string map cannot fail")
}

/// The footer must be exactly `{"kid":"…"}`: Sluice never writes anything else there.
fn kid_from_footer(footer: &[u8]) -> Result<String, TokenError> {
    if footer.is_empty() {
        return Err(TokenError::Malformed(
            "it has no footer naming its signing key (kid)".into(),
        ));
    }
    let malformed = || TokenError::Malformed("its footer is not {\"kid\":\"k4.pid.…\"}".into());
    let StrictObject(m) = serde_json::from_slice(footer).map_err(|_| malformed())?;
    if m.len() != 1 {
        return Err(malformed());
    }
    match m.get("kid") {
        Some(Value::String(kid)) if kid.starts_with("k4.pid.") && kid.len() <= 64 => {
            Ok(kid.clone())
        }
        _ => Err(malformed()),
    }
}

/// 128 random bits, hex-encoded: unguessable, and safe in a file, a log line or a URL.
fn new_jti() -> Result<String, TokenError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Randomness(e.to_string()))?;
    Ok(hex::encode(bytes))
}
