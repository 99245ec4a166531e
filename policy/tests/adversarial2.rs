//! Second adversarial pass over the policy engine, after the changes that followed the first
//! suite (CTE scoping, ASCII folding, loose filter-column matching, write guard over joins,
//! MySQL multi-table UPDATE, `FROM DUAL`, `pg_catalog.` functions, `ARRAY(subquery)`,
//! `version()`/`current_schema()`, reserved-word aliases, the render round trip, the operator
//! bound and the big stack). Cases already in adversarial.rs / review_regressions.rs are not
//! repeated.
//!
//! Each case asserts the SAFE expectation: a denial with its Rule, or the exact safe rewrite.
//! Cases marked `// BUG:` were bypasses or wrong behaviour found by this pass; they were fixed
//! and stay as regression cases (a failing one fails the test).
//! Cases marked `// FALSE DENIAL:` assert what a common driver/ORM query SHOULD get; they fail
//! today too and are counted separately.
//!
//! Role file: tests/fixtures/adversarial2_roles.yaml.

use std::collections::BTreeMap;
use std::process::Command;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;

include!("common/adversarial_harness.rs");
include!("common/adversarial2_cases.rs");

// ---------------------------------------------------------------------------------------------
// Crashes: inputs that count as "shallow" (few operators, little parenthesis nesting) and so
// run on the CALLER's stack, but still build a tree as deep as sqlparser's recursion limit.
// ---------------------------------------------------------------------------------------------

const CHILD_ENV: &str = "SLUICE_ADVERSARIAL2_DEEP_CHILD";

/// `CASE WHEN CASE WHEN … END` nests without a single parenthesis or counted operator.
fn case_chain(k: usize) -> String {
    format!(
        "SELECT {}true{}",
        "CASE WHEN ".repeat(k),
        " THEN 1 END".repeat(k)
    )
}

fn shallow_looking_deep_inputs() -> Vec<(&'static str, Dialect, String)> {
    vec![
        ("pg_case_chain_44", PG, case_chain(44)),
        ("my_case_chain_44", MY, case_chain(44)),
        (
            "pg_case_chain_in_update_where",
            PG,
            format!(
                "UPDATE reservations SET notes = 'x' WHERE {}true{} = 1",
                "CASE WHEN ".repeat(40),
                " THEN 1 END".repeat(40)
            ),
        ),
    ]
}

#[test]
fn dos_shallow_looking_child() {
    let Ok(which) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (_, d, sql) = shallow_looking_deep_inputs()
        .into_iter()
        .find(|(n, _, _)| *n == which)
        .expect("known input");
    // A tokio worker's stack.
    let stack = std::env::var("SLUICE_ADVERSARIAL2_STACK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 << 20);
    let handle = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let cfg = config();
            let r = run(&cfg, ED, d, &sql);
            println!("{d:?}: {}", short(&describe(&r)));
        })
        .unwrap();
    handle.join().unwrap();
}

// Guard (passes today): CASE nesting is neither an "operator" nor a parenthesis, so `measure`
// calls a 44-deep CASE chain (the deepest sqlparser's limit lets through) shallow and authorize()
// runs it on the caller's stack. Measured in a debug build: fine on 512 KiB, overflows on
// 256 KiB, so a 2 MiB tokio worker has a ~4x margin. Kept as a regression test, since the
// margin rests on sqlparser's frame sizes and the recursion limit, not on `measure`.
// (SLUICE_ADVERSARIAL2_STACK=<bytes> runs the child on another stack size.)
#[test]
fn dos_shallow_looking_deep_inputs_do_not_crash_the_process() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut crashed = Vec::new();
    for (name, _, sql) in shallow_looking_deep_inputs() {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "dos_shallow_looking_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, name)
            .output()
            .unwrap();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = if stderr.contains("overflowed its stack") {
                "stack overflow".to_string()
            } else {
                format!("{:?}", out.status)
            };
            crashed.push(format!("{name} ({} bytes of SQL): {why}", sql.len()));
        }
    }
    assert!(
        crashed.is_empty(),
        "[BUG] authorize() crashes a 2 MiB-stack thread on inputs it thinks are shallow:\n  {}",
        crashed.join("\n  ")
    );
}

#[test]
fn case_names_are_unique() {
    assert_unique_names(all_cases());
}

#[test]
fn adversarial2_cases() {
    assert_cases_hold(&all_cases());
}

/// Every allowed output of an unmarked case parses back and is allowed again.
#[test]
fn allowed_outputs_reauthorize() {
    assert_outputs_reauthorize(&all_cases());
}
