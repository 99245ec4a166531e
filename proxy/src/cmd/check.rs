use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::cli::CheckArgs;
use sluice_proxy::files;

pub fn run(a: CheckArgs) -> Result<ExitCode> {
    let cfg = files::load_roles(&a.rbac_config)?;
    match a.explain {
        None => {
            let names: Vec<&str> = cfg.role_names().collect();
            println!(
                "{}: ok, {} role(s): {}",
                a.rbac_config.display(),
                names.len(),
                names.join(", ")
            );
        }
        Some(role) => {
            let Some(r) = cfg.role(&role) else {
                let names: Vec<&str> = cfg.role_names().collect();
                bail!(
                    "no role `{role}` in {}; roles: {}",
                    a.rbac_config.display(),
                    names.join(", ")
                );
            };
            print!("{}", r.explain());
        }
    }
    Ok(ExitCode::SUCCESS)
}
