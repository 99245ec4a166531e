//! `cargo run -p sluice-policy --example authorize -- ROLE TENANT DIALECT SQL`: print what the
//! engine does with a statement under the seed role file (a debugging aid).
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Scope};
use sluice_tokens::Claims;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let yaml =
        std::fs::read_to_string(std::env::var("ROLES").unwrap_or("examples/roles.yaml".into()))
            .unwrap();
    let cfg = RbacConfig::from_yaml("roles.yaml", &yaml).unwrap();
    let role = cfg.role(&args[1]).expect("role");
    let claims = Claims {
        role: args[1].clone(),
        tenant_id: Some(args[2].clone()),
        exp: 0,
        iat: 0,
        nbf: 0,
        jti: "x".into(),
        label: None,
        extra: Default::default(),
    };
    let dialect = if args[3] == "mysql" {
        Dialect::MySql
    } else {
        Dialect::PostgreSql
    };
    let scope = Scope {
        config: &cfg,
        role,
        claims: &claims,
        dialect,
        database: Some("rental"),
        schema: sluice_policy::Schema::empty(),
    };
    match authorize(&scope, &args[4]) {
        Ok(a) => {
            for s in a.statements {
                println!(
                    "{:?} writes={} {}\n  touches={:?}",
                    s.kind, s.writes, s.sql, s.touches
                )
            }
        }
        Err(d) => println!(
            "DENIED {}: {} ({} / {})",
            d.rule,
            d.message,
            d.sqlstate(),
            d.mysql_code()
        ),
    }
}
