//! The revocation list: jtis of tokens that must stop working before they expire.
//!
//! The list is plain text so operators can edit it, diff it and ship it with ordinary config
//! tooling (many gateways behind a load balancer read the same file). This module only parses
//! text; reading the file is the caller's job. "Reloading" is the caller parsing the new text
//! and swapping the old list for the new one (e.g. behind an `ArcSwap` or `RwLock`); a file that
//! fails to parse should leave the previous list in force rather than revoke nothing.

use std::collections::HashSet;

use crate::claims::is_plausible_jti;

/// A set of revoked jtis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    jtis: HashSet<String>,
}

/// A line of a revocation list that is not a jti. The line's text is deliberately not included:
/// someone may have pasted a secret there by mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revocation list line {line}: {reason}")]
pub struct RevocationError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl RevocationList {
    /// A list that revokes nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses one jti per line. Surrounding whitespace is trimmed; blank lines and lines starting
    /// with `#` are ignored; ` # …` after whitespace is a trailing comment. Any other line must be
    /// a plausible jti (1 to 128 characters of `A-Z a-z 0-9 _ -`), or the whole list is refused:
    /// silently skipping a typo would leave a token working that someone meant to kill.
    pub fn parse(text: &str) -> Result<Self, RevocationError> {
        let mut jtis = HashSet::new();
        for (index, raw) in text.lines().enumerate() {
            let entry = strip_comment(raw).trim();
            if entry.is_empty() {
                continue;
            }
            if !is_plausible_jti(entry) {
                let reason = if entry.starts_with("v4.") || entry.starts_with("v3.") {
                    "this looks like a whole token; write its jti instead \
                     (`sluice token revoke TOKEN` does that)"
                } else {
                    "not a jti (expected 1 to 128 characters of A-Z, a-z, 0-9, `_`, `-`; \
                     comments start with `#` after whitespace)"
                };
                return Err(RevocationError {
                    line: index + 1,
                    reason: reason.into(),
                });
            }
            jtis.insert(entry.to_owned());
        }
        Ok(Self { jtis })
    }

    /// Builds a list from jtis already known to be valid (e.g. from a shared store). Entries that
    /// are not plausible jtis are dropped, since no token carrying them can verify.
    pub fn from_jtis<I, S>(jtis: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let jtis = jtis
            .into_iter()
            .map(Into::into)
            .filter(|j| is_plausible_jti(j))
            .collect();
        Self { jtis }
    }

    pub fn contains(&self, jti: &str) -> bool {
        self.jtis.contains(jti)
    }

    pub fn len(&self) -> usize {
        self.jtis.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jtis.is_empty()
    }
}

/// Drops a whole-line `#` comment, or a `#` comment that follows whitespace.
fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return "";
    }
    let mut previous_is_space = false;
    for (at, c) in trimmed.char_indices() {
        if c == '#' && previous_is_space {
            return &trimmed[..at];
        }
        previous_is_space = c.is_whitespace();
    }
    trimmed
}
