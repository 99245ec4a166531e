// A statement's prepared form (`CheckedStatement::bindable`) must be the statement itself: its
// template, with each value written back as the literal it came from, is the statement's text.
// Decisions are compared without it once that holds (the full path makes none).

/// `decision` with every prepared form checked against its statement and then dropped; `Err`
/// names a prepared form that is not its statement. `forms` counts the forms seen.
pub fn without_prepared_forms(
    decision: &Result<sluice_policy::Authorized, sluice_policy::Denial>,
    forms: &mut u64,
) -> Result<Result<sluice_policy::Authorized, sluice_policy::Denial>, String> {
    let mut decision = decision.clone();
    if let Ok(a) = &mut decision {
        for s in &mut a.statements {
            if let Some(b) = s.bindable.take() {
                *forms += 1;
                let written = written_out(&b);
                if written != s.sql {
                    return Err(format!(
                        "prepared form {:?} with {:?} writes out as\n  {written}\nnot as the statement\n  {}",
                        b.template, b.values, s.sql
                    ));
                }
            }
        }
    }
    Ok(decision)
}

/// The template with `$n` replaced by the n-th value as a literal.
pub fn written_out(b: &sluice_policy::Bindable) -> String {
    let mut out = String::new();
    let mut rest = &*b.template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let digits = rest[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = rest[i + 1..i + 1 + digits].parse::<usize>() else {
            out.push('$');
            rest = &rest[i + 1..];
            continue;
        };
        match &b.values[n - 1] {
            (sluice_policy::LiteralType::Unknown, s) => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
            }
            (_, number) => out.push_str(number),
        }
        rest = &rest[i + 1 + digits..];
    }
    out.push_str(rest);
    out
}
