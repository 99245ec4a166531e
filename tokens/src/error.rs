//! Why a token or a key was refused.
//!
//! Messages are written for the operator reading a log or the CLI: they say what happened and
//! what to do. What a *client* may be told is [`TokenError::public_reason`], which deliberately
//! collapses every forgery-related cause into "invalid".

use crate::claims::format_time;

/// Why a token could not be issued, decoded or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed PASETO token (bad base64, wrong number of parts, bad footer JSON,
    /// payload that is not a single JSON object with unique keys, ...).
    #[error("malformed token: {0}; pass the token exactly as `sluice token create` printed it")]
    Malformed(String),

    /// Longer than [`crate::MAX_TOKEN_LEN`]; refused before any decoding or cryptography so an
    /// attacker cannot make the gateway spend work on huge inputs.
    #[error(
        "token is {len} bytes, more than the {max} a Sluice token can be; \
         this is not a token issued by `sluice token create`"
    )]
    TooLarge { len: usize, max: usize },

    /// A PASETO token, but not `v4.public` (e.g. `v4.local`, `v3.public`, `v2.public`).
    #[error(
        "token is PASETO `{found}`, but Sluice only accepts `v4.public` tokens; \
         issue one with `sluice token create`"
    )]
    WrongVersionOrPurpose { found: String },

    /// The footer names a key id that is not among the verifier's public keys.
    #[error(
        "token is signed by a key this gateway does not know; issue it with the key whose \
         public half is passed to `sluice serve --public-key`, or add that public key"
    )]
    UnknownKey,

    /// The signature does not match header, payload and footer under the key named by the footer.
    #[error("token signature is invalid: the token was altered or forged; issue a new one")]
    BadSignature,

    /// `now >= exp`.
    #[error("token expired at {}; issue a new one with `sluice token create`", format_time(*exp))]
    Expired { exp: i64 },

    /// `now < nbf`.
    #[error(
        "token is not valid before {}; wait, or check that the issuer's and the gateway's \
         clocks agree",
        format_time(*nbf)
    )]
    NotYetValid { nbf: i64 },

    /// A claim every Sluice token carries is absent.
    #[error("token has no `{0}` claim; it was not issued by `sluice token create`")]
    MissingClaim(&'static str),

    /// A claim has the wrong type or shape, an unusable name, or is reserved.
    #[error("claim `{claim}` is invalid: {reason}")]
    InvalidClaim { claim: String, reason: String },

    /// A claim value that could never be a safe SQL literal (control characters, too long).
    #[error("claim `{claim}` has an unsafe value: {reason}")]
    UnsafeClaimValue { claim: String, reason: String },

    /// The token's `jti` is on the revocation list.
    #[error("token has been revoked; issue a new one with `sluice token create`")]
    Revoked,

    /// The operating system's random number generator failed (key or jti generation).
    #[error("the system random number generator failed: {0}")]
    Randomness(String),

    /// Signing failed inside the cryptographic library (should not happen with a valid key).
    #[error("could not sign the token: {0}")]
    Signing(String),
}

impl TokenError {
    /// What a client may be told about a refused token.
    ///
    /// Only "expired" and "revoked" are specific, because they tell a legitimate holder what to do
    /// and tell a forger nothing. Every other cause is "invalid" so that a client probing with
    /// crafted tokens cannot learn which check it got past (signature, key id, claim rules, ...).
    /// The full [`Display`](std::fmt::Display) text belongs in the gateway's log and audit trail.
    pub fn public_reason(&self) -> &'static str {
        // Exhaustive on purpose: a new variant must be classified here, not default to anything.
        match self {
            TokenError::Expired { .. } => "expired",
            TokenError::Revoked => "revoked",
            TokenError::Malformed(_)
            | TokenError::TooLarge { .. }
            | TokenError::WrongVersionOrPurpose { .. }
            | TokenError::UnknownKey
            | TokenError::BadSignature
            | TokenError::NotYetValid { .. }
            | TokenError::MissingClaim(_)
            | TokenError::InvalidClaim { .. }
            | TokenError::UnsafeClaimValue { .. }
            | TokenError::Randomness(_)
            | TokenError::Signing(_) => "invalid",
        }
    }
}

/// Why a PASERK key string could not be loaded.
///
/// Never contains the key material itself: the input may be a secret key pasted in the wrong place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A recognisable PASERK of another kind, e.g. a public key where the secret key was expected.
    #[error("expected a `{expected}` key but got a `{found}` key; {hint}")]
    WrongKind {
        expected: &'static str,
        found: String,
        hint: &'static str,
    },
    /// Not a valid PASERK of the expected kind at all.
    #[error(
        "not a valid `{expected}` key: {reason}; keys are written by `sluice keygen` \
         (issuer.key holds `k4.secret.…`, issuer.pub holds `k4.public.…`)"
    )]
    Invalid {
        expected: &'static str,
        reason: String,
    },
}
