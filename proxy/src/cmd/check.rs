use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::EXIT_INVALID;
use crate::cli::CheckArgs;
use sluice_proxy::files;
use sluice_proxy::schema::{self, SchemaSource};

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
    let Some(url) = a.db else {
        return Ok(ExitCode::SUCCESS);
    };
    let source = SchemaSource::parse(&url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let loaded = runtime
        .block_on(source.load())
        .with_context(|| format!("cannot read the schema of the {source}"))?;
    let findings = schema::lint(&cfg, source.dialect(), source.database(), &loaded);
    println!(
        "checked against the {source} ({} tables and views)",
        loaded.schema.tables.len()
    );
    for f in &findings {
        println!("{f}");
    }
    if findings.is_empty() {
        println!("nothing to report");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} finding(s)", findings.len());
        Ok(ExitCode::from(EXIT_INVALID))
    }
}
