//! authorize + render of a 3-table join with two filtered tables: uncached, through the
//! Engine's cache (the same text again), and as a new member of a known statement family (the
//! same join with a new literal each time, as clients that write values inline send it). The
//! cached and family cases go through `Engine::authorize_as` with a session's `Principal`, the
//! path the wire doors take; `authorize_3_table_join_cached_by_claims` is the same lookup
//! through `Engine::authorize`, which makes the principal from the claims each call (REST, MCP).
//!
//! Baselines measured in the same run: sqlparser alone parsing the input, and parsing the
//! engine's output (the renderer's round-trip proof parses every uncached output once more, see
//! `policy/src/engine/render.rs`). After criterion's report, a summary prints each case's
//! median and its ratio to the input's bare parse, so the engine's own share can be read apart
//! from the parser's on whatever machine runs it.
//!
//! `cargo bench -p sluice-policy --bench authorize`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Engine, Scope};
use sluice_tokens::Claims;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

// The allocator the `sluice` binary runs the engine with (proxy/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROLES: &str = include_str!("../../examples/roles.yaml");
const JOIN: &str = "SELECT r.id, r.status, c.name, v.model FROM reservations r \
    JOIN customers c ON c.id = r.customer_id JOIN vehicles v ON v.id = r.vehicle_id \
    WHERE r.status = 'open' AND v.daily_rate > 40 ORDER BY r.id LIMIT 50";

struct Fixture {
    cfg: Arc<RbacConfig>,
    claims: Claims,
    /// The engine's rendering of JOIN for the fixture's token.
    rendered: String,
}

impl Fixture {
    fn new() -> Self {
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
        let mut f = Fixture {
            cfg,
            claims,
            rendered: String::new(),
        };
        let out = authorize(&f.scope(), JOIN).expect("the benchmark's join is allowed");
        f.rendered = out.statements[0].sql.clone();
        f
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            config: &self.cfg,
            role: self.cfg.role("agent_support").unwrap(),
            claims: &self.claims,
            dialect: Dialect::PostgreSql,
            database: None,
            schema: sluice_policy::Schema::empty(),
        }
    }
}

/// A named case: a closure run once per iteration.
type Case<'f> = (&'static str, Box<dyn FnMut() + 'f>);

/// The cases; the first is the baseline of the ratios.
fn cases(f: &Fixture) -> Vec<Case<'_>> {
    let scope = f.scope();
    let engine = Engine::new(f.cfg.clone(), 64 << 20);
    let engine = Arc::new(engine);
    let family = engine.clone();
    let by_claims = engine.clone();
    let mut principal = engine.principal(Arc::new(f.claims.clone()), Dialect::PostgreSql, None);
    let mut family_principal = principal.clone();
    // Members of the join's family, made before timing: each call decides a text it has not
    // decided before (members are not cached by text, so the ring's reuse changes nothing).
    let members: Vec<String> = (0..4096)
        .map(|n| JOIN.replace("> 40", &format!("> {}", 1000 + n)))
        .collect();
    let mut n = 0usize;
    let cases: Vec<Case<'_>> = vec![
        (
            "baseline_parse_input",
            Box::new(|| {
                black_box(Parser::parse_sql(&PostgreSqlDialect {}, black_box(JOIN)).unwrap());
            }),
        ),
        (
            "baseline_parse_output",
            Box::new(|| {
                black_box(
                    Parser::parse_sql(&PostgreSqlDialect {}, black_box(&f.rendered)).unwrap(),
                );
            }),
        ),
        (
            "authorize_3_table_join_uncached",
            Box::new(move || {
                black_box(authorize(&scope, black_box(JOIN)).unwrap());
            }),
        ),
        (
            "authorize_3_table_join_cached",
            Box::new(move || {
                let out = engine.authorize_as(&mut principal, black_box(JOIN));
                assert!(out.is_ok());
            }),
        ),
        (
            "authorize_3_table_join_cached_by_claims",
            Box::new(move || {
                let out =
                    by_claims.authorize(&f.claims, Dialect::PostgreSql, None, black_box(JOIN));
                assert!(out.is_ok());
            }),
        ),
        (
            "authorize_3_table_join_family_member",
            Box::new(move || {
                n = (n + 1) % members.len();
                let out = family.authorize_as(&mut family_principal, black_box(&members[n]));
                assert!(out.is_ok());
            }),
        ),
    ];
    cases
}

/// Median time per iteration of `run`, over `samples` timed batches of `batch` iterations.
fn median(run: &mut dyn FnMut(), batch: u32, samples: usize) -> Duration {
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                run();
            }
            start.elapsed() / batch
        })
        .collect();
    times.sort();
    times[samples / 2]
}

fn main() {
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    for (name, mut run) in cases(&fixture) {
        criterion.bench_function(name, |b| b.iter(&mut run));
    }
    criterion.final_summary();

    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only the smoke run
    // above (one iteration each) is wanted.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("\nsummary: median per call (31 batches of 200 calls each, after criterion's runs)");
    let mut baseline = None;
    for (name, mut run) in cases(&fixture) {
        for _ in 0..200 {
            run(); // warm-up, and fills the caches for the cached cases
        }
        let m = median(&mut run, 200, 31);
        let base = *baseline.get_or_insert(m);
        println!(
            "  {name:<40} {:>10.2} µs  {:>6.2}x the input's bare parse",
            m.as_secs_f64() * 1e6,
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
    println!(
        "  targets (issue 18): family member < 3 µs, cached < 0.3 µs; the input's bare parse \
         alone is the floor of the uncached case"
    );
}
