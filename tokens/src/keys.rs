//! Ed25519 key pairs in PASERK form (`k4.secret.…`, `k4.public.…`, ids `k4.pid.…`).
//!
//! PASERK rather than raw bytes or PEM because the string says what it is: a public key pasted
//! where the secret key belongs is recognised and named, not misread as another 32 bytes.
//! Loading the strings from files is the caller's job; this module does no I/O.

use std::fmt;

use pasetors::keys::{AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::version4::V4;

use crate::error::{KeyError, TokenError};

const SECRET_PREFIX: &str = "k4.secret";
const PUBLIC_PREFIX: &str = "k4.public";

/// The Ed25519 secret key that signs tokens. Only `sluice token create` needs it; the gateway
/// never should.
#[derive(Clone)]
pub struct IssuerKey {
    secret: AsymmetricSecretKey<V4>,
    public: VerifierKey,
}

impl IssuerKey {
    /// Generates a new key pair from the operating system's random number generator.
    pub fn generate() -> Result<Self, TokenError> {
        let pair = AsymmetricKeyPair::<V4>::generate()
            .map_err(|e| TokenError::Randomness(format!("{e:?}")))?;
        Ok(Self {
            secret: pair.secret,
            public: VerifierKey::new(pair.public),
        })
    }

    /// The secret key as a PASERK string, `k4.secret.…` (what `sluice keygen` writes to
    /// `issuer.key`).
    pub fn to_paserk(&self) -> String {
        paserk(&self.secret)
    }

    /// Parses a `k4.secret.…` PASERK string. Surrounding whitespace (a trailing newline from a
    /// file) is ignored. The embedded public half is checked against the seed.
    pub fn from_paserk(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        check_kind(s, SECRET_PREFIX)?;
        let secret = AsymmetricSecretKey::<V4>::try_from(s).map_err(|e| KeyError::Invalid {
            expected: SECRET_PREFIX,
            reason: format!("{e:?}"),
        })?;
        let public =
            AsymmetricPublicKey::<V4>::try_from(&secret).map_err(|e| KeyError::Invalid {
                expected: SECRET_PREFIX,
                reason: format!("{e:?}"),
            })?;
        Ok(Self {
            secret,
            public: VerifierKey::new(public),
        })
    }

    /// The matching public key, to hand to the gateway.
    pub fn public(&self) -> VerifierKey {
        self.public.clone()
    }

    pub(crate) fn secret(&self) -> &AsymmetricSecretKey<V4> {
        &self.secret
    }
}

/// Never prints the secret, only the id of its public half.
impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.public.kid())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key that verifies tokens, identified by its PASERK id (`kid`).
#[derive(Clone)]
pub struct VerifierKey {
    public: AsymmetricPublicKey<V4>,
    /// Computed once: the verifier compares it against every token's footer.
    kid: String,
}

impl VerifierKey {
    fn new(public: AsymmetricPublicKey<V4>) -> Self {
        let kid = paserk(&Id::from(&public));
        Self { public, kid }
    }

    /// The public key as a PASERK string, `k4.public.…` (what `sluice keygen` writes to
    /// `issuer.pub`).
    pub fn to_paserk(&self) -> String {
        paserk(&self.public)
    }

    /// Parses a `k4.public.…` PASERK string; surrounding whitespace is ignored.
    pub fn from_paserk(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        check_kind(s, PUBLIC_PREFIX)?;
        let public = AsymmetricPublicKey::<V4>::try_from(s).map_err(|e| KeyError::Invalid {
            expected: PUBLIC_PREFIX,
            reason: format!("{e:?}"),
        })?;
        Ok(Self::new(public))
    }

    /// The PASERK id of this key, `k4.pid.…`. Tokens carry it in their footer so that a verifier
    /// holding several keys (during a rotation) knows which one to try; it is a hash of the
    /// public key, so it reveals nothing secret.
    pub fn kid(&self) -> String {
        self.kid.clone()
    }

    pub(crate) fn kid_str(&self) -> &str {
        &self.kid
    }

    pub(crate) fn inner(&self) -> &AsymmetricPublicKey<V4> {
        &self.public
    }
}

impl PartialEq for VerifierKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for VerifierKey {}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn paserk(key: &dyn FormatAsPaserk) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    key.fmt(&mut out)
        .expect("formatting a PASERK into a String");
    out
}

/// Recognises a PASERK of the wrong kind before parsing, so the message can say "this is your
/// public key" instead of "invalid key". Only the short `kN.type` prefix is ever echoed.
fn check_kind(s: &str, expected: &'static str) -> Result<(), KeyError> {
    let mut parts = s.splitn(3, '.');
    let (version, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let found = format!("{version}.{kind}");
    if found == expected {
        return Ok(());
    }
    let looks_like_paserk = version.len() == 2
        && version.starts_with('k')
        && version[1..].chars().all(|c| c.is_ascii_digit())
        && !kind.is_empty()
        && kind.len() <= 16
        && kind.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    if !looks_like_paserk {
        return Err(KeyError::Invalid {
            expected,
            reason: format!("it does not start with `{expected}.`"),
        });
    }
    let hint = match (expected, found.as_str()) {
        (SECRET_PREFIX, PUBLIC_PREFIX) => {
            "this is a public key (issuer.pub); signing tokens needs the secret issuer.key"
        }
        (PUBLIC_PREFIX, SECRET_PREFIX) => {
            "this is the SECRET issuer key; the gateway needs only issuer.pub, \
             and the secret key should not be on the gateway at all"
        }
        _ => "Sluice uses PASETO v4 Ed25519 keys written by `sluice keygen`",
    };
    Err(KeyError::WrongKind {
        expected,
        found,
        hint,
    })
}
