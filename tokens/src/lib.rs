//! Sluice's tokens: issue, verify and revoke short-lived PASETO `v4.public` (Ed25519) tokens.
//!
//! An agent never sees a database password; it gets a token that names a role, optionally a
//! tenant and other claims, and an expiry. The gateway verifies it with the issuer's public key
//! on connect and re-checks time and revocation on every statement.
//!
//! Code map:
//! - [`keys`] holds [`IssuerKey`] (secret, signs) and [`VerifierKey`] (public, verifies), as PASERK
//!   strings.
//! - [`claims`] holds [`Claims`] and [`ClaimValue`], and the rules every claim obeys at issue *and*
//!   at verify (no control characters, at most 256 bytes, identifier names, ...).
//! - [`token`] holds [`issue`], [`Verifier`], [`check_times`], and the explicitly untrusted
//!   [`unverified_claims`] for inspection.
//! - [`revocation`] holds [`RevocationList`], parsed from plain text.
//! - [`error`] holds [`TokenError`] (with [`TokenError::public_reason`], what a client may be told)
//!   and [`KeyError`].
//!
//! Architecture invariant: this crate does no I/O and reads no clock. Key strings, revocation
//! list text and the current time (unix seconds) are passed in by the caller, so every rule here
//! is tested without files, sleeps or network.
//!
//! Architecture invariant: cryptography and PASERK encoding are `pasetors`'; only the claim
//! model and its validation are written here.

pub mod claims;
pub mod error;
pub mod keys;
pub mod revocation;
pub mod token;

pub use claims::{ClaimValue, Claims, MAX_CLAIM_NAME_LEN, MAX_CLAIM_VALUE_LEN, RESERVED_CLAIMS};
pub use error::{KeyError, TokenError};
pub use keys::{IssuerKey, VerifierKey};
pub use revocation::{RevocationError, RevocationList};
pub use token::{
    check_times, issue, jti_of, unverified_claims, unverified_kid, IssuedToken, TokenRequest,
    Verifier, MAX_TOKEN_LEN,
};
