//! Where authorize time goes: `cargo run --release -p sluice-policy --example profile_authorize`.
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Scope};
use sluice_tokens::Claims;
use std::time::Instant;
const JOIN: &str = "SELECT r.id, r.status, c.name, v.model FROM reservations r JOIN customers c ON c.id = r.customer_id JOIN vehicles v ON v.id = r.vehicle_id WHERE r.status = 'open' AND v.daily_rate > 40 ORDER BY r.id LIMIT 50";
fn median(mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn main() {
    let cfg = RbacConfig::from_yaml("r", include_str!("../../examples/roles.yaml")).unwrap();
    let c = Claims {
        role: "agent_support".into(),
        tenant_id: Some("acme".into()),
        exp: 0,
        iat: 0,
        nbf: 0,
        jti: "x".into(),
        label: None,
        extra: Default::default(),
    };
    let s = Scope {
        config: &cfg,
        role: cfg.role("agent_support").unwrap(),
        claims: &c,
        dialect: Dialect::PostgreSql,
        database: None,
        schema: sluice_policy::Schema::empty(),
    };
    let d = sqlparser::dialect::PostgreSqlDialect {};
    println!(
        "tokenize         {:.1} us",
        median(|| {
            sqlparser::tokenizer::Tokenizer::new(&d, JOIN)
                .tokenize_with_location()
                .unwrap();
        })
    );
    let toks = sqlparser::tokenizer::Tokenizer::new(&d, JOIN)
        .tokenize_with_location()
        .unwrap();
    println!(
        "parse tokens     {:.1} us",
        median(|| {
            sqlparser::parser::Parser::new(&d)
                .with_tokens_with_locations(toks.clone())
                .parse_statements()
                .unwrap();
        })
    );
    let g = sqlparser::dialect::GenericDialect {};
    println!(
        "parse generic    {:.1} us",
        median(|| {
            sqlparser::parser::Parser::parse_sql(&g, JOIN).unwrap();
        })
    );
    println!(
        "parse            {:.1} us",
        median(|| {
            sqlparser::parser::Parser::parse_sql(&d, JOIN).unwrap();
        })
    );
    let stmt = sqlparser::parser::Parser::parse_sql(&d, JOIN).unwrap();
    println!(
        "display          {:.1} us",
        median(|| {
            let _ = stmt[0].to_string();
        })
    );
    println!(
        "clone            {:.1} us",
        median(|| {
            let _ = stmt.clone();
        })
    );
    let out = authorize(&s, JOIN).unwrap().statements[0].sql.clone();
    println!(
        "parse output     {:.1} us",
        median(|| {
            sqlparser::parser::Parser::parse_sql(&d, &out).unwrap();
        })
    );
    println!(
        "authorize        {:.1} us",
        median(|| {
            authorize(&s, JOIN).unwrap();
        })
    );
    println!(
        "authorize SELECT 1 {:.1} us",
        median(|| {
            authorize(&s, "SELECT 1").unwrap();
        })
    );
}
