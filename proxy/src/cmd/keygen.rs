use std::process::ExitCode;

use anyhow::{bail, Result};
use sluice_tokens::IssuerKey;

use crate::cli::KeygenArgs;
use sluice_proxy::files;

pub fn run(a: KeygenArgs) -> Result<ExitCode> {
    files::ensure_dir(&a.out_dir)?;
    let secret_path = a.out_dir.join("issuer.key");
    let public_path = a.out_dir.join("issuer.pub");
    for p in [&secret_path, &public_path] {
        if p.exists() {
            bail!(
                "{} already exists; keygen never overwrites keys (tokens signed with them would \
                 stop working). Choose another --out-dir, or move the old keys away first",
                p.display()
            );
        }
    }
    let key = IssuerKey::generate()?;
    let public = key.public();
    files::write_new(&secret_path, &format!("{}\n", key.to_paserk()), 0o600)?;
    files::write_new(&public_path, &format!("{}\n", public.to_paserk()), 0o644)?;
    println!("wrote {} (secret, mode 0600)", secret_path.display());
    println!("wrote {}", public_path.display());
    println!("key id: {}", public.kid());
    Ok(ExitCode::SUCCESS)
}
