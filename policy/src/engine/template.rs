//! Statement families: one decision for all the texts that differ only in their literals.
//!
//! A client that writes its values inline (psql, `pgbench -M simple`, sysbench's text mode, most
//! ORMs' unprepared paths) sends a new text for every row it asks about, and each new text misses
//! the exact-text decision cache: a full parse, check, rewrite and rendering. Such texts come in
//! families: the same tokens, with other string and number literals. The engine decides a family
//! once, on its *masked* form (each literal replaced by a marker string), and turns out each
//! member's decision from the family's rendered SQL by writing the member's literals, with the
//! engine's own literal writer, where the markers are.
//!
//! Why this is as safe as the full path:
//! - One lexer. The family key is sqlparser's own token stream of the input (what the parser
//!   reads), whitespace and comments included, with only the literal tokens replaced, and each
//!   literal's kind (string or number); members of a family are token for token alike but for
//!   literal values, and a family decided on a string never answers a number in its place
//!   (`AS 'x'` is a name to MySQL, `AS 5` a syntax error).
//! - The decision is made on markers, so it cannot depend on a literal's value: it is the
//!   decision a prepared statement with a parameter in that place gets, which must be safe for
//!   any value. The engine's value-dependent checks (a pinned column's INSERT value must equal
//!   the claim, a SET value must be on a list) fail on a marker or are not of a family's kind,
//!   so those inputs are always decided in full.
//! - A family is adopted only if the full path, run on the first member seen, gives exactly what
//!   the family gives for that member: the same rendered text, kind, tables and write flag.
//!   Otherwise the family is remembered as one whose texts are each decided in full.
//! - Only queries, INSERT, UPDATE and DELETE form families.
//! - Each marker must appear exactly once in the family's rendering, as a whole quoted literal;
//!   anything else refuses the family. A marker the parser read as a name rather than a value
//!   (a MySQL alias or collation written as a string, an `EXTRACT('year' …)` field) would skip
//!   the checks on names; the renderer refuses every name holding the reserved prefix, so such
//!   a family is never formed. Input holding the reserved prefix never gets this far,
//!   and no family is made where the full path's output holds it (a claim's value).
//! - Numbers are masked only in plain decimal form (digits, an optional fraction, an optional
//!   exponent), which the full path also writes verbatim.

use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

use super::render::{quote_literal, RESERVED_PREFIX};
use super::{authorize_token_stream, Scope, MAX_SQL_BYTES};
use crate::decision::{Authorized, CheckedStatement, Denial, StatementKind};
use crate::Dialect;

const MARKER: &str = "__sluice_m";

/// A literal taken out of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    /// A single-quoted string's value (as the tokenizer read it).
    Str(String),
    /// A plain decimal number's text.
    Num(String),
}

/// An input with its literals taken out.
#[derive(Debug)]
pub(crate) struct Masked {
    /// The family key: the input's tokens with each literal replaced by its marker. The cache
    /// takes them for its key and hands them back to [`Family::decide`].
    pub tokens: Vec<Token>,
    spans: Vec<Span>,
    pub literals: Vec<Literal>,
}

/// Takes the literals out of `sql`. `None`: the input has no literal, has parameters, does not
/// tokenize, or is one the engine refuses outright; the full path decides it.
pub(crate) fn mask(dialect: Dialect, sql: &str) -> Option<Masked> {
    if sql.len() > MAX_SQL_BYTES || sql.contains(RESERVED_PREFIX) {
        return None;
    }
    let input = Tokenizer::new(dialect.parser_dialect(), sql)
        .tokenize_with_location()
        .ok()?;
    let mut tokens = Vec::with_capacity(input.len());
    let mut spans = Vec::with_capacity(input.len());
    let mut literals = Vec::new();
    for TokenWithSpan { token, span } in input {
        let literal = match token {
            Token::Placeholder(_) => return None,
            Token::SingleQuotedString(s) => Literal::Str(s),
            Token::Number(n, false) if plain_decimal(&n) => Literal::Num(n),
            other => {
                tokens.push(other);
                spans.push(span);
                continue;
            }
        };
        tokens.push(Token::SingleQuotedString(format!(
            "{MARKER}{}__",
            literals.len()
        )));
        spans.push(span);
        literals.push(literal);
    }
    (!literals.is_empty()).then_some(Masked {
        tokens,
        spans,
        literals,
    })
}

/// Digits, optionally `.digits`, optionally an exponent: the numbers written back verbatim.
fn plain_decimal(n: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match n.find(['e', 'E']) {
        Some(i) => (&n[..i], Some(&n[i + 1..])),
        None => (n, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    n.len() <= 64 && mantissa_ok && exponent_ok
}

/// A family's decision: the checked statements, their text cut at the markers.
#[derive(Debug)]
pub(crate) struct Family {
    statements: Vec<(Vec<Part>, CheckedStatement)>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Literal(usize),
}

impl Family {
    /// Decides the family of `masked`, given the full path's decision for the input it was
    /// taken from. `None`: the input's texts are to be decided each in full.
    pub(crate) fn decide(
        scope: &Scope<'_>,
        tokens: &[Token],
        masked: &Masked,
        full: &Result<Authorized, Denial>,
    ) -> Option<Family> {
        let full = full.as_ref().ok()?;
        let family_kind = |s: &CheckedStatement| {
            matches!(
                s.kind,
                StatementKind::Query
                    | StatementKind::Insert
                    | StatementKind::Update
                    | StatementKind::Delete
            )
        };
        if !full.statements.iter().all(family_kind) {
            return None;
        }
        // The input cannot hold the reserved prefix, so in the full path's output only a claim
        // can: such a rendering could hold text that reads as a marker. No family then.
        if full
            .statements
            .iter()
            .any(|s| s.sql.contains(RESERVED_PREFIX))
        {
            return None;
        }
        let tokens = tokens
            .iter()
            .zip(&masked.spans)
            .map(|(t, s)| TokenWithSpan::new(t.clone(), *s))
            .collect();
        let decided = authorize_token_stream(scope, tokens).ok()?;
        let family = Family::cut(decided, masked.literals.len())?;
        let same = family.instantiate(scope.dialect, &masked.literals).as_ref() == Some(full);
        same.then_some(family)
    }

    /// Cuts each statement's text at the markers; every marker must appear exactly once, as a
    /// whole quoted literal.
    fn cut(decided: Authorized, literals: usize) -> Option<Family> {
        let mut seen = vec![false; literals];
        let mut statements = Vec::with_capacity(decided.statements.len());
        for mut checked in decided.statements {
            let sql = std::mem::take(&mut checked.sql);
            let mut parts = Vec::new();
            let mut rest = sql.as_str();
            let opening = format!("'{MARKER}");
            while let Some(pos) = rest.find(&opening) {
                let after = &rest[pos + opening.len()..];
                let end = after.find("__'")?;
                let n: usize = after[..end].parse().ok()?;
                if n >= literals || std::mem::replace(&mut seen[n], true) {
                    return None;
                }
                parts.push(Part::Text(rest[..pos].to_string()));
                parts.push(Part::Literal(n));
                rest = &after[end + 3..];
            }
            parts.push(Part::Text(rest.to_string()));
            let stray = parts
                .iter()
                .any(|p| matches!(p, Part::Text(t) if t.contains(RESERVED_PREFIX)));
            if stray {
                return None;
            }
            statements.push((parts, checked));
        }
        seen.iter().all(|s| *s).then_some(Family { statements })
    }

    /// The decision for the member of the family whose literals are `literals`. `None` only
    /// if `literals` is not of this family (too few): the caller decides the text in full.
    pub(crate) fn instantiate(&self, dialect: Dialect, literals: &[Literal]) -> Option<Authorized> {
        let statements = self
            .statements
            .iter()
            .map(|(parts, checked)| {
                let mut sql = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => sql.push_str(t),
                        Part::Literal(n) => match literals.get(*n)? {
                            Literal::Str(s) => sql.push_str(&quote_literal(dialect, "", s)),
                            Literal::Num(n) => sql.push_str(n),
                        },
                    }
                }
                Some(CheckedStatement {
                    sql,
                    ..checked.clone()
                })
            })
            .collect::<Option<_>>()?;
        Some(Authorized { statements })
    }

    /// Roughly how many bytes the family holds (for the cache's weigher).
    pub(crate) fn weight(&self) -> usize {
        self.statements
            .iter()
            .flat_map(|(parts, _)| parts)
            .map(|p| match p {
                Part::Text(t) => t.len() + 32,
                Part::Literal(_) => 32,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::{mask, plain_decimal, Family, Literal};
    use crate::decision::{Authorized, CheckedStatement, StatementKind};
    use crate::Dialect;

    #[test]
    fn masking_takes_out_strings_and_plain_numbers_only() {
        let m = mask(
            Dialect::PostgreSql,
            "SELECT a FROM t WHERE b = 'x''y' AND c > 4.5 AND d = E'z' AND e = 0x1F",
        )
        .unwrap();
        assert_eq!(
            m.literals,
            vec![Literal::Str("x'y".into()), Literal::Num("4.5".into())]
        );
        // Parameters, the reserved prefix, and input without literals are left to the full path.
        assert!(mask(
            Dialect::PostgreSql,
            "SELECT a FROM t WHERE b = $1 AND c = 'x'"
        )
        .is_none());
        assert!(mask(Dialect::MySql, "SELECT a FROM t WHERE b = ? AND c = 'x'").is_none());
        assert!(mask(Dialect::PostgreSql, "SELECT '__sluice_m0__'").is_none());
        assert!(mask(Dialect::PostgreSql, "SELECT a FROM t").is_none());
    }

    fn statement(sql: &str) -> CheckedStatement {
        CheckedStatement {
            sql: sql.into(),
            kind: StatementKind::Query,
            touches: vec![],
            writes: false,
            deallocate: None,
            discards_all: false,
            resets_all: false,
            parameters: Default::default(),
        }
    }

    #[test]
    fn a_marker_must_appear_exactly_once_as_a_whole_literal() {
        let cut = |sqls: &[&str], n| {
            Family::cut(
                Authorized {
                    statements: sqls.iter().map(|s| statement(s)).collect(),
                },
                n,
            )
        };
        let ok = cut(&["SELECT '__sluice_m1__', '__sluice_m0__'"], 2).unwrap();
        let lits = [Literal::Str("a'b".into()), Literal::Num("7".into())];
        let got = ok.instantiate(Dialect::PostgreSql, &lits).unwrap();
        assert_eq!(got.statements[0].sql, "SELECT 7, 'a''b'");
        assert!(ok.instantiate(Dialect::PostgreSql, &lits[..1]).is_none());
        // Twice, missing, out of range, inside a longer literal, or a stray prefix: refused.
        assert!(cut(&["SELECT '__sluice_m0__', '__sluice_m0__'"], 1).is_none());
        assert!(cut(&["SELECT '__sluice_m0__'", "SELECT '__sluice_m0__'"], 1).is_none());
        assert!(cut(&["SELECT 1"], 1).is_none());
        assert!(cut(&["SELECT '__sluice_m1__'"], 1).is_none());
        assert!(cut(&["SELECT '__sluice_m0__x'"], 1).is_none());
        assert!(cut(&["SELECT '__sluice_m0__', '__sluice_lit_3__'"], 1).is_none());
    }

    #[test]
    fn plain_decimals() {
        for ok in ["0", "42", "3.14", "1e5", "1E+5", "2.5e-3"] {
            assert!(plain_decimal(ok), "{ok}");
        }
        for no in [
            "", ".5", "5.", "1e", "1e+", "0x1F", "1_000", "١٢", "1.2.3", "e5",
        ] {
            assert!(!plain_decimal(no), "{no}");
        }
    }
}
