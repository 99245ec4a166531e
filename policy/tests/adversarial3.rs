#![allow(unused_macros, dead_code)] // shared case-building helpers, not all used by every family
//! Third adversarial pass over the policy engine (after adversarial.rs, adversarial2.rs and
//! review_regressions.rs). Angles: pseudo-relations PostgreSQL adds to writes (`old`/`new` in
//! RETURNING, `excluded`), caller-sized casts, dialect meaning of `||` in row filters, numeric
//! and literal forms, executable comments, EXPLAIN options, data-modifying CTEs, INSERT … SELECT
//! with pinned columns over set operations, derived-table column aliases.
//!
//! Each case asserts the SAFE expectation. Cases marked `// BUG:` currently FAIL.
//!
//! Role file: tests/fixtures/adversarial3_roles.yaml.

use std::collections::BTreeMap;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;

include!("common/adversarial_harness.rs");
include!("common/adversarial3_cases.rs");

#[test]
fn case_names_are_unique() {
    assert_unique_names(all_cases());
}

#[test]
fn adversarial3_cases() {
    assert_cases_hold(&all_cases());
}

/// Every allowed output of an unmarked case parses back and is allowed again.
#[test]
fn allowed_outputs_reauthorize() {
    assert_outputs_reauthorize(&all_cases());
}
