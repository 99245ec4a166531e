// One check shared by the adversarial harnesses (adversarial.rs and adversarial_harness.rs),
// pulled in with `include!`.

/// Whether `a` is one statement rendered as `sql` whose pinned parameters (counted from 0) are
/// exactly `pinned` (none for a plain `Sql` expectation).
#[allow(dead_code)]
fn allowed_as(a: &sluice_policy::Authorized, sql: &str, pinned: &[usize]) -> bool {
    a.statements.len() == 1
        && a.statements[0].sql == sql
        && a.statements[0]
            .parameters
            .pinned
            .iter()
            .map(|p| p.parameter)
            .eq(pinned.iter().copied())
}
