//! authorize + render of a 3-table join with two filtered tables: uncached, through the
//! Engine's cache (the same text again), and as a new member of a known statement family (the
//! same join with a new literal each time, as clients that write values inline send it).
//! `cargo bench -p sluice-policy`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Engine, Scope};
use sluice_tokens::Claims;

// The allocator the `sluice` binary runs the engine with (proxy/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROLES: &str = include_str!("../../examples/roles.yaml");
const JOIN: &str = "SELECT r.id, r.status, c.name, v.model FROM reservations r \
    JOIN customers c ON c.id = r.customer_id JOIN vehicles v ON v.id = r.vehicle_id \
    WHERE r.status = 'open' AND v.daily_rate > 40 ORDER BY r.id LIMIT 50";

fn bench(c: &mut Criterion) {
    let cfg = Arc::new(RbacConfig::from_yaml("roles.yaml", ROLES).unwrap());
    let claims = Claims {
        role: "agent_support".into(),
        tenant_id: Some("acme-rentals".into()),
        exp: i64::MAX / 2,
        iat: 0,
        nbf: 0,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    };
    let scope = Scope {
        config: &cfg,
        role: cfg.role("agent_support").unwrap(),
        claims: &claims,
        dialect: Dialect::PostgreSql,
        database: None,
    };
    assert!(authorize(&scope, JOIN).is_ok());
    c.bench_function("authorize_3_table_join_uncached", |b| {
        b.iter(|| authorize(&scope, std::hint::black_box(JOIN)).unwrap())
    });
    let engine = Engine::new(cfg.clone(), 64 << 20);
    c.bench_function("authorize_3_table_join_cached", |b| {
        b.iter(|| {
            engine.authorize(
                &claims,
                Dialect::PostgreSql,
                None,
                std::hint::black_box(JOIN),
            )
        })
    });
    let mut n = 0u64;
    c.bench_function("authorize_3_table_join_family_member", |b| {
        b.iter(|| {
            n += 1;
            let sql = JOIN.replace("> 40", &format!("> {n}"));
            engine.authorize(
                &claims,
                Dialect::PostgreSql,
                None,
                std::hint::black_box(&sql),
            )
        })
    });
    assert!(
        engine.stats().family_hits > 0,
        "the family path was not taken"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
