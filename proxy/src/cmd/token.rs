use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use sluice_tokens::{ClaimValue, RevocationList, TokenRequest, Verifier};

use super::{now_unix, EXIT_INVALID};
use crate::cli::{CreateArgs, InspectArgs, OutputFormat, RevokeArgs};
use sluice_proxy::files;

pub fn create(a: CreateArgs) -> Result<ExitCode> {
    if a.expires_in > a.max_lifetime {
        bail!(
            "--expires-in {} is longer than the maximum lifetime {}; short-lived tokens are the \
             point. Issue a shorter one, or raise --max-lifetime deliberately",
            humantime::format_duration(a.expires_in),
            humantime::format_duration(a.max_lifetime)
        );
    }
    if a.expires_in.as_secs() == 0 {
        bail!("--expires-in must be at least one second");
    }
    let mut extra = BTreeMap::new();
    for kv in &a.claims {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--claim `{kv}` is not KEY=VALUE"))?;
        // Only a canonical integer becomes one: `zip=01234` stays the string "01234".
        let value = match v.parse::<i64>() {
            Ok(i) if i.to_string() == v => ClaimValue::Int(i),
            _ => ClaimValue::Str(v.to_string()),
        };
        if extra.insert(k.to_string(), value).is_some() {
            bail!("--claim `{k}` is given twice");
        }
    }
    let req = TokenRequest {
        role: a.role.clone(),
        tenant_id: a.tenant_id.clone(),
        extra,
        lifetime_secs: a.expires_in.as_secs() as i64,
        label: a.label.clone(),
    };
    if let Some(path) = &a.rbac_config {
        let cfg = files::load_roles(path)?;
        let Some(role) = cfg.role(&a.role) else {
            let names: Vec<&str> = cfg.role_names().collect();
            bail!(
                "role `{}` does not exist in {}; roles: {}",
                a.role,
                path.display(),
                names.join(", ")
            );
        };
        let missing: Vec<String> = role
            .required_claims()
            .iter()
            .filter(|c| match c.as_str() {
                "tenant_id" => req.tenant_id.is_none(),
                other => !req.extra.contains_key(other),
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            let how: Vec<String> = missing
                .iter()
                .map(|c| match c.as_str() {
                    "tenant_id" => "--tenant-id T".to_string(),
                    other => format!("--claim {other}=V"),
                })
                .collect();
            bail!(
                "role `{}` filters rows by the claim(s) {}, which this token would not carry; \
                 add {}",
                a.role,
                missing.join(", "),
                how.join(" ")
            );
        }
    }
    let key = files::load_issuer_key(&a.key)?;
    let issued = sluice_tokens::issue(&key, &req, now_unix())?;
    match a.format {
        OutputFormat::Token => println!("{}", issued.token),
        OutputFormat::Json => {
            let out = json!({ "claims": issued.claims.to_json(), "token": issued.token });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        OutputFormat::Dsn => {
            let base = a.dsn_base.as_deref().ok_or_else(|| {
                anyhow!(
                    "--format dsn needs --dsn-base, e.g. postgresql://agent@127.0.0.1:6432/rental"
                )
            })?;
            println!("{}", dsn_with_password(base, &issued.token)?);
        }
        OutputFormat::Mcp => {
            println!(
                "{}",
                serde_json::to_string_pretty(&mcp_config(&a.mcp_url, &issued.token)?)?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An MCP client configuration for the gateway's Streamable HTTP endpoint, in the
/// `mcpServers` shape most clients read (Claude Desktop and Code, Cursor, …).
pub(super) fn mcp_config(url: &str, token: &str) -> Result<serde_json::Value> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!(
            "--mcp-url `{url}` is not an http:// or https:// URL, e.g. http://127.0.0.1:8080/mcp"
        );
    }
    Ok(json!({
        "mcpServers": {
            "sluice": {
                "type": "http",
                "url": url,
                "headers": { "Authorization": format!("Bearer {token}") },
            }
        }
    }))
}

/// Puts `password` into the user-info part of a `scheme://[user[:pass]@]host…` URL.
fn dsn_with_password(base: &str, password: &str) -> Result<String> {
    let (scheme, rest) = base.split_once("://").ok_or_else(|| {
        anyhow!("--dsn-base `{base}` is not a URL like postgresql://agent@host:6432/db")
    })?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (userinfo.split(':').next().unwrap_or("agent"), host),
        None => ("agent", authority),
    };
    if host.is_empty() {
        bail!("--dsn-base `{base}` has no host");
    }
    let user = if user.is_empty() { "agent" } else { user };
    Ok(format!(
        "{scheme}://{user}:{}@{host}{tail}",
        percent_encode(password)
    ))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn inspect(a: InspectArgs) -> Result<ExitCode> {
    let token = files::token_arg(&a.token)?;
    let now = now_unix();
    let claims =
        sluice_tokens::unverified_claims(&token).context("this is not a readable Sluice token")?;
    let kid = sluice_tokens::unverified_kid(&token).ok();

    let signature = if a.public_key.is_empty() {
        Err("not checked: give --public-key to check the signature".to_string())
    } else {
        let mut keys = Vec::new();
        for p in &a.public_key {
            keys.push(files::load_public_key(p)?);
        }
        Verifier::new(keys)
            .verify_signature_only(&token)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let time = sluice_tokens::check_times(&claims, now).map_err(|e| e.to_string());
    let revocation = match &a.revocations {
        None => Err("not checked: give --revocations to check the revocation list".to_string()),
        Some(path) => {
            let list: RevocationList = files::load_revocations(path)?;
            if list.contains(&claims.jti) {
                Err(format!(
                    "revoked: jti {} is in {}",
                    claims.jti,
                    path.display()
                ))
            } else {
                Ok(())
            }
        }
    };
    let valid = signature.is_ok() && time.is_ok() && revocation.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let out = json!({
        "claims": claims.to_json(),
        "kid": kid,
        "checks": {
            "signature": show(&signature),
            "time": show(&time),
            "revocation": show(&revocation),
        },
        "valid": valid,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}

pub fn revoke(a: RevokeArgs) -> Result<ExitCode> {
    let input = files::token_arg(&a.token_or_jti)?;
    let jti = sluice_tokens::jti_of(&input).context("cannot find a jti to revoke")?;
    if files::append_revocation(&a.revocations, &jti)? {
        println!("revoked jti {jti} in {}", a.revocations.display());
    } else {
        println!(
            "jti {jti} was already revoked in {}",
            a.revocations.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{dsn_with_password, mcp_config};

    #[test]
    fn mcp_config_carries_the_url_and_the_token() {
        let c = mcp_config("https://gw.example:8443/mcp", "v4.public.abc").unwrap();
        assert_eq!(
            c["mcpServers"]["sluice"]["url"],
            "https://gw.example:8443/mcp"
        );
        assert_eq!(
            c["mcpServers"]["sluice"]["headers"]["Authorization"],
            "Bearer v4.public.abc"
        );
        assert!(mcp_config("gw:8080/mcp", "t").is_err());
    }

    #[test]
    fn dsn_puts_the_token_in_the_password() {
        assert_eq!(
            dsn_with_password("postgresql://agent@127.0.0.1:6432/rental", "v4.public.abc").unwrap(),
            "postgresql://agent:v4.public.abc@127.0.0.1:6432/rental"
        );
        assert_eq!(
            dsn_with_password("mysql://bob:old@h:6033/db?ssl-mode=REQUIRED", "t").unwrap(),
            "mysql://bob:t@h:6033/db?ssl-mode=REQUIRED"
        );
        assert_eq!(
            dsn_with_password("postgres://h:6432", "a/b").unwrap(),
            "postgres://agent:a%2Fb@h:6432"
        );
        assert!(dsn_with_password("nonsense", "t").is_err());
    }
}
