//! The files the CLI and the gateway read and write: keys, role files, revocation lists.
//! Every error names the file and says what to do.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use sluice_policy::roles::RbacConfig;
use sluice_tokens::{IssuerKey, RevocationList, VerifierKey};

pub fn read_text(path: &Path, what: &str) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub fn load_issuer_key(path: &Path) -> Result<IssuerKey> {
    let meta = fs::metadata(path).with_context(|| {
        format!(
            "cannot read issuer key {}; create one with `sluice keygen`",
            path.display()
        )
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "issuer key {} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    let text = read_text(path, "issuer key")?;
    IssuerKey::from_paserk(text.trim()).with_context(|| {
        format!(
            "{} is not an issuer key written by `sluice keygen`",
            path.display()
        )
    })
}

pub fn load_public_key(path: &Path) -> Result<VerifierKey> {
    let text = read_text(path, "public key")?;
    VerifierKey::from_paserk(text.trim()).with_context(|| {
        format!(
            "{} is not a public key written by `sluice keygen` (issuer.pub)",
            path.display()
        )
    })
}

pub fn load_roles(path: &Path) -> Result<RbacConfig> {
    let text = read_text(path, "role file")?;
    RbacConfig::from_yaml(&path.display().to_string(), &text)
        .map_err(|e| anyhow::anyhow!("invalid role file:\n{e}"))
}

/// A missing revocation file is an empty list (nothing revoked yet); an unreadable or malformed
/// one is an error, never silently empty.
pub fn load_revocations(path: &Path) -> Result<RevocationList> {
    match fs::read_to_string(path) {
        Ok(text) => RevocationList::parse(&text)
            .with_context(|| format!("invalid revocation list {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RevocationList::empty()),
        Err(e) => Err(e).with_context(|| format!("cannot read revocation list {}", path.display())),
    }
}

/// Writes a new file that must not exist yet, with the given mode.
pub fn write_new(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Appends `jti` to a revocation list unless it is already there. Returns whether it added it.
///
/// Two revokes at once must not lose a line or write a duplicate: the read-check-append runs
/// under an exclusive lock on the file itself.
pub fn append_revocation(path: &Path, jti: &str) -> Result<bool> {
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .with_context(|| format!("cannot open revocation list {}", path.display()))?;
    f.lock()
        .with_context(|| format!("cannot lock revocation list {}", path.display()))?;
    let mut text = String::new();
    f.read_to_string(&mut text)
        .with_context(|| format!("cannot read revocation list {}", path.display()))?;
    let list = RevocationList::parse(&text).with_context(|| {
        format!(
            "invalid revocation list {}; fix it before adding to it",
            path.display()
        )
    })?;
    if list.contains(jti) {
        return Ok(false);
    }
    let mut line = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        line.push('\n');
    }
    line.push_str(jti);
    line.push('\n');
    f.write_all(line.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write revocation list {}", path.display()))?;
    Ok(true)
}

/// A token given on the command line, or `-` for standard input (keeps it out of `ps`).
pub fn token_arg(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the token from standard input")?;
        Ok(s.trim().to_string())
    } else {
        Ok(arg.trim().to_string())
    }
}

pub fn ensure_dir(path: &Path) -> Result<()> {
    if !path.exists() {
        fs::create_dir_all(path)
            .with_context(|| format!("cannot create directory {}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot set permissions on {}", path.display()))?;
    } else if !path.is_dir() {
        bail!("{} exists and is not a directory", path.display());
    }
    Ok(())
}
