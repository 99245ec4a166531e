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

use super::render::{push_quoted, RESERVED_PREFIX};
use super::{authorize_token_stream, Scope, MAX_SQL_BYTES};
use crate::decision::{Authorized, CheckedStatement, Denial, LiteralType, StatementKind};
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

impl Literal {
    /// What a family key records of a literal besides its place: a string, an integer, a
    /// fraction or an exponent form. A family decided on one kind never answers another
    /// (`AS 'x'` is a name to MySQL, `AS 5` a syntax error).
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Literal::Str(_) => 0,
            Literal::Num(n) if n.contains(['e', 'E']) => 3,
            Literal::Num(n) if n.contains('.') => 2,
            Literal::Num(_) => 1,
        }
    }
}

/// An input with its literals taken out.
#[derive(Debug)]
pub(crate) struct Masked {
    /// The family key's text part; the cache takes it for its key and hands it back to
    /// [`Family::decide`].
    pub shape: Shape,
    /// For [`Shape::Tokens`]: where each token was.
    spans: Vec<Span>,
    pub literals: Vec<Literal>,
}

/// An input with each literal replaced by its marker: the family key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// The input's text, from the one-pass scan ([`scan`]): each literal's bytes replaced by a
    /// quoted marker, everything else byte for byte.
    Text(String),
    /// sqlparser's tokens, for input the scan declines (comments, backslashes, dollar quotes,
    /// prefixed strings, exponents, parameters).
    Tokens(Vec<Token>),
}

/// Takes the literals out of `sql`. `None`: the input has no literal, has parameters, does not
/// tokenize, or is one the engine refuses outright; the full path decides it.
pub(crate) fn mask(dialect: Dialect, sql: &str) -> Option<Masked> {
    if sql.len() > MAX_SQL_BYTES || sql.contains(RESERVED_PREFIX) {
        return None;
    }
    match scan(sql) {
        Scan::Masked(text, literals) => Some(Masked {
            shape: Shape::Text(text),
            spans: Vec::new(),
            literals,
        }),
        Scan::NoLiterals => None,
        Scan::Declined => mask_tokens(dialect, sql),
    }
}

/// What the one-pass scan made of an input.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// The text with markers, and the literals.
    Masked(String, Vec<Literal>),
    NoLiterals,
    /// Something the scan does not read itself: sqlparser's tokenizer masks it.
    Declined,
}

/// The one-pass scan: finds the single-quoted strings and plain numbers of an input without
/// building sqlparser's token vector (the part of a family member's cost that mattered).
///
/// It reads only the plainest SQL and declines the rest, so that where it finds a literal,
/// sqlparser's lexer finds the same one in every dialect: any backslash (an escape in MySQL's
/// strings), `$` (dollar quotes, parameters), `?` (MySQL's parameters), `#`, `--` and `/*`
/// (comments), a quote right after a letter, digit or `_` (`E'…'`, `X'…'`, `_utf8'…'`), a
/// number touching a letter, `_`, `.` or `$` (`1e5`, `0x1F`, `1_000`, `.5`, `t.1`), and any
/// quote left open. Double-quoted and backquoted names are copied as they are (a `'` inside
/// one is not a literal).
///
/// That the scan and the lexer agree is also checked, not only argued: a family is formed from
/// its first member only when sqlparser's tokens of the member, masked, equal sqlparser's
/// tokens of the scan's text ([`Family::decide`]). Every later member has the same text
/// between its literals, and literals of the same kinds (a string without backslashes, an
/// integer, a fraction), so the lexer reads it the same way.
fn scan(sql: &str) -> Scan {
    // A backslash anywhere (an escape in MySQL's strings and names) is left to the lexer.
    if sql.contains('\\') {
        return Scan::Declined;
    }
    let b = sql.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut out = String::with_capacity(sql.len() + 16);
    let mut literals = Vec::new();
    let mut copied = 0; // b[..copied] is in `out`
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'$' | b'?' | b'#' => return Scan::Declined,
            b'-' if b.get(i + 1) == Some(&b'-') => return Scan::Declined,
            b'/' if b.get(i + 1) == Some(&b'*') => return Scan::Declined,
            b'"' | b'`' => {
                // A quoted name, copied: to its closing quote, a doubled quote inside it.
                let mut j = i + 1;
                loop {
                    match b[j.min(b.len())..].iter().position(|x| *x == c) {
                        None => return Scan::Declined,
                        Some(k) if b.get(j + k + 1) == Some(&c) => j += k + 2,
                        Some(k) => {
                            j += k + 1;
                            break;
                        }
                    }
                }
                i = j;
            }
            b'\'' => {
                if i > 0 && word(b[i - 1]) {
                    return Scan::Declined;
                }
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    let Some(k) = b[j.min(b.len())..].iter().position(|x| *x == b'\'') else {
                        return Scan::Declined;
                    };
                    value.push_str(&sql[j..j + k]);
                    if b.get(j + k + 1) == Some(&b'\'') {
                        value.push('\'');
                        j += k + 2;
                    } else {
                        j += k + 1;
                        break;
                    }
                }
                if b.get(j).is_some_and(|x| word(*x)) {
                    return Scan::Declined;
                }
                out.push_str(&sql[copied..i]);
                push_marker(&mut out, literals.len());
                literals.push(Literal::Str(value));
                copied = j;
                i = j;
            }
            b'0'..=b'9' if i > 0 && (word(b[i - 1]) || b[i - 1] == b'.') => {
                // Part of a name (`t1`): copied with it.
                i += 1;
            }
            b'0'..=b'9' => {
                let digits = |mut j: usize| {
                    while b.get(j).is_some_and(u8::is_ascii_digit) {
                        j += 1;
                    }
                    j
                };
                let mut j = digits(i);
                if b.get(j) == Some(&b'.') {
                    let k = digits(j + 1);
                    if k == j + 1 {
                        return Scan::Declined; // `5.` or `5.x`
                    }
                    j = k;
                }
                if b.get(j).is_some_and(|x| word(*x) || *x == b'.') || j - i > 64 {
                    return Scan::Declined;
                }
                out.push_str(&sql[copied..i]);
                push_marker(&mut out, literals.len());
                literals.push(Literal::Num(sql[i..j].to_string()));
                copied = j;
                i = j;
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) && (i == 0 || !word(b[i - 1])) => {
                return Scan::Declined; // `.5`
            }
            _ => i += 1,
        }
    }
    if literals.is_empty() {
        return Scan::NoLiterals;
    }
    out.push_str(&sql[copied..]);
    Scan::Masked(out, literals)
}

fn push_marker(out: &mut String, n: usize) {
    use std::fmt::Write;
    let _ = write!(out, "'{MARKER}{n}__'");
}

/// Masking by sqlparser's tokenizer: what the engine does for input the scan declines, and
/// what checks the scan when a family is formed.
fn mask_tokens(dialect: Dialect, sql: &str) -> Option<Masked> {
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
        shape: Shape::Tokens(tokens),
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
    /// About how long a member's rendering is (its text parts, and room for literals).
    length_hint: usize,
    /// PostgreSQL, one query whose every literal may be a parameter: its prepared form.
    bindable: Option<BindTemplate>,
}

/// A family's one statement as a prepared statement's text (see [`crate::Bindable`]).
#[derive(Debug)]
struct BindTemplate {
    sql: std::sync::Arc<str>,
    id: u64,
    /// How many parameters: `$n` is the input's n-th literal.
    literals: usize,
}

/// What PostgreSQL reads as the current moment in a date or time constant's text.
const TIME_WORDS: [&str; 4] = ["now", "today", "tomorrow", "yesterday"];

/// Most literals a prepared form binds: an input with more (a long `IN` list) stays text, so
/// that one statement's plan on a pooled connection stays small.
const MAX_BOUND_LITERALS: usize = 64;

/// The family's tokens with each marker a parameter (`$1` for the first literal).
fn with_parameters(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    tokens
        .iter()
        .map(|t| match &t.token {
            Token::SingleQuotedString(s) => match marker_number(s) {
                Some(n) => TokenWithSpan::new(Token::Placeholder(format!("${}", n + 1)), t.span),
                None => t.clone(),
            },
            _ => t.clone(),
        })
        .collect()
}

/// The number of a marker's text (`__sluice_m3__` is 3).
fn marker_number(s: &str) -> Option<usize> {
    s.strip_prefix(MARKER)?.strip_suffix("__")?.parse().ok()
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
        sql: &str,
        shape: &Shape,
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
        let tokens = match shape {
            Shape::Tokens(tokens) => tokens
                .iter()
                .zip(&masked.spans)
                .map(|(t, s)| TokenWithSpan::new(t.clone(), *s))
                .collect(),
            Shape::Text(text) => {
                // The scan must find what sqlparser's lexer finds in this member: the same
                // tokens around the literals, and the same literals.
                let lexed = mask_tokens(scope.dialect, sql)?;
                let tokens = Tokenizer::new(scope.dialect.parser_dialect(), text)
                    .tokenize_with_location()
                    .ok()?;
                let same = matches!(&lexed.shape, Shape::Tokens(t) if t.len() == tokens.len()
                        && t.iter().zip(&tokens).all(|(a, b)| *a == b.token))
                    && lexed.literals == masked.literals;
                if !same {
                    return None;
                }
                tokens
            }
        };
        let as_parameters = (scope.dialect == Dialect::PostgreSql
            && masked.literals.len() <= MAX_BOUND_LITERALS)
            .then(|| with_parameters(&tokens));
        let decided = authorize_token_stream(scope, tokens).ok()?;
        let places = match (scope.dialect, decided.statements.as_slice()) {
            (Dialect::PostgreSql, [one]) if one.kind == StatementKind::Query => {
                literals_in_value_places(&one.sql)
            }
            _ => None,
        };
        let mut family = Family::cut(decided, masked.literals.len())?;
        if let (Some(places), Some(tokens)) = (places, as_parameters) {
            family.bindable = family.bind_template(scope, &places, tokens);
        }
        let mut checked = family.instantiate(scope.dialect, &masked.literals)?;
        checked
            .statements
            .iter_mut()
            .for_each(|s| s.bindable = None);
        (checked == *full).then_some(family)
    }

    /// The prepared form of the family's one statement: made when each literal is in `places`
    /// and the engine, deciding the input with a parameter for each literal (`tokens`, as a
    /// client's Parse would send it), renders exactly the family's statement with those
    /// parameters where its literals are. So the form is what the engine allows a prepared
    /// statement: its proof that the agent's conditions may run beside the role's filter holds
    /// for parameters (whose type a client may declare) and not only for literals (typed where
    /// the server parses them); where it does not, the renderings differ (a fence) and the
    /// family stays text.
    fn bind_template(
        &self,
        scope: &Scope<'_>,
        places: &[usize],
        tokens: Vec<TokenWithSpan>,
    ) -> Option<BindTemplate> {
        let [(parts, family)] = self.statements.as_slice() else {
            return None;
        };
        let mut sql = String::with_capacity(self.length_hint);
        let mut literals = 0;
        for part in parts {
            match part {
                Part::Text(t) => sql.push_str(t),
                Part::Literal(n) if places.contains(n) => {
                    literals += 1;
                    sql.push_str(&format!("${}", n + 1));
                }
                Part::Literal(_) => return None,
            }
        }
        // A constant the server reads as the current time is read once when a statement is
        // prepared (`'today'` would stay the day of the Parse); as text it is read each time.
        let lexed = Tokenizer::new(Dialect::PostgreSql.parser_dialect(), &sql)
            .tokenize()
            .ok()?;
        let moving = lexed.iter().any(|t| {
            let text = t.to_string().to_ascii_lowercase();
            !matches!(t, Token::Word(_)) && TIME_WORDS.iter().any(|w| text.contains(w))
        });
        if moving {
            return None;
        }
        let prepared = authorize_token_stream(scope, tokens).ok()?;
        let same = match prepared.statements.as_slice() {
            [p] => {
                p.sql == sql
                    && p.kind == family.kind
                    && p.touches == family.touches
                    && p.writes == family.writes
                    && p.parameters == crate::decision::Parameters::default()
            }
            _ => false,
        };
        if !same {
            return None;
        }
        let id = {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            sql.hash(&mut h);
            h.finish()
        };
        Some(BindTemplate {
            sql: sql.into(),
            id,
            literals,
        })
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
        let length_hint = statements
            .iter()
            .flat_map(|(parts, _)| parts)
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Literal(_) => 16,
            })
            .sum::<usize>()
            .max(64);
        seen.iter().all(|s| *s).then_some(Family {
            statements,
            length_hint,
            bindable: None,
        })
    }

    /// The decision for the member of the family whose literals are `literals`. `None` only
    /// if `literals` is not of this family (too few): the caller decides the text in full.
    pub(crate) fn instantiate(&self, dialect: Dialect, literals: &[Literal]) -> Option<Authorized> {
        let statements = self
            .statements
            .iter()
            .map(|(parts, checked)| {
                let mut sql = String::with_capacity(self.length_hint);
                for part in parts {
                    match part {
                        Part::Text(t) => sql.push_str(t),
                        Part::Literal(n) => match literals.get(*n)? {
                            Literal::Str(s) => push_quoted(&mut sql, dialect, s),
                            Literal::Num(n) => sql.push_str(n),
                        },
                    }
                }
                Some(CheckedStatement {
                    sql,
                    bindable: self.bindable(literals),
                    ..checked.clone()
                })
            })
            .collect::<Option<_>>()?;
        Some(Authorized { statements })
    }

    /// The member's prepared form: the family's template and the member's literals as values.
    /// `None` for a string with a backslash (which a server reading strings the old way would
    /// take for an escape in the text, and not in a value).
    fn bindable(&self, literals: &[Literal]) -> Option<crate::Bindable> {
        let template = self.bindable.as_ref()?;
        if literals.len() != template.literals {
            return None;
        }
        let values = literals
            .iter()
            .map(|literal| {
                Some(match literal {
                    Literal::Str(s) if s.contains('\\') => return None,
                    Literal::Str(s) => (LiteralType::Unknown, s.clone()),
                    Literal::Num(n) => (number_type(n), n.clone()),
                })
            })
            .collect::<Option<_>>()?;
        Some(crate::Bindable {
            template: template.sql.clone(),
            id: template.id,
            values,
        })
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

/// The type PostgreSQL's parser gives a plain decimal literal: an integer is `int4` if it fits,
/// else `int8` if it fits, else `numeric`, as is every fraction and exponent form.
fn number_type(n: &str) -> LiteralType {
    if n.bytes().all(|b| b.is_ascii_digit()) {
        if n.parse::<i32>().is_ok() {
            return LiteralType::Int4;
        }
        if n.parse::<i64>().is_ok() {
            return LiteralType::Int8;
        }
    }
    LiteralType::Numeric
}

/// The literals (by marker number) of a family's rendering `sql` that stand where a parameter
/// is read exactly as the literal is: a direct operand of a comparison, `IN` list or `BETWEEN`
/// whose other operand is a column, in a WHERE or JOIN … ON condition (of the statement, its
/// derived tables, CTEs, set operations and subqueries in those conditions), through AND, OR,
/// NOT and parentheses only. Nowhere else: the select list, GROUP BY, HAVING and ORDER BY match
/// expressions with each other (`GROUP BY a = 'x'` with `SELECT a = 'x'`), which two
/// parameters would not. `None` if `sql` does not parse as one query.
fn literals_in_value_places(sql: &str) -> Option<Vec<usize>> {
    use sqlparser::ast::Statement;
    let statements =
        sqlparser::parser::Parser::parse_sql(Dialect::PostgreSql.parser_dialect(), sql).ok()?;
    let [Statement::Query(q)] = statements.as_slice() else {
        return None;
    };
    let mut places = Vec::new();
    places_in_query(q, &mut places);
    Some(places)
}

fn places_in_query(q: &sqlparser::ast::Query, places: &mut Vec<usize>) {
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            places_in_query(&cte.query, places);
        }
    }
    places_in_set_expr(&q.body, places);
}

fn places_in_set_expr(body: &sqlparser::ast::SetExpr, places: &mut Vec<usize>) {
    use sqlparser::ast::SetExpr;
    match body {
        SetExpr::Select(select) => {
            for twj in &select.from {
                places_in_from(twj, places);
            }
            if let Some(w) = &select.selection {
                places_in_condition(w, places);
            }
        }
        SetExpr::Query(q) => places_in_query(q, places),
        SetExpr::SetOperation { left, right, .. } => {
            places_in_set_expr(left, places);
            places_in_set_expr(right, places);
        }
        _ => {}
    }
}

fn places_in_from(twj: &sqlparser::ast::TableWithJoins, places: &mut Vec<usize>) {
    use sqlparser::ast::JoinConstraint;
    places_in_table(&twj.relation, places);
    for j in &twj.joins {
        places_in_table(&j.relation, places);
        let mut op = j.join_operator.clone();
        if let Some(JoinConstraint::On(e)) = super::query::join_constraint(&mut op) {
            places_in_condition(e, places);
        }
    }
}

fn places_in_table(t: &sqlparser::ast::TableFactor, places: &mut Vec<usize>) {
    use sqlparser::ast::TableFactor;
    match t {
        TableFactor::Derived { subquery, .. } => places_in_query(subquery, places),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => places_in_from(table_with_joins, places),
        _ => {}
    }
}

fn places_in_condition(e: &sqlparser::ast::Expr, places: &mut Vec<usize>) {
    use sqlparser::ast::{BinaryOperator as B, Expr, UnaryOperator, Value};
    let marker = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => marker_number(s),
            _ => None,
        },
        _ => None,
    };
    let column = |e: &Expr| matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
    match e {
        Expr::BinaryOp {
            left,
            op: B::And | B::Or,
            right,
        } => {
            places_in_condition(left, places);
            places_in_condition(right, places);
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        }
        | Expr::Nested(expr) => places_in_condition(expr, places),
        Expr::BinaryOp {
            left,
            op: B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq,
            right,
        } => match (marker(left), marker(right)) {
            (Some(n), None) if column(right) => places.push(n),
            (None, Some(n)) if column(left) => places.push(n),
            _ => {}
        },
        Expr::In {
            expr,
            target: sqlparser::ast::InTarget::List(list),
            global: false,
            ..
        } if column(expr) => places.extend(list.iter().filter_map(marker)),
        Expr::Between {
            expr, low, high, ..
        } if column(expr) => {
            places.extend(marker(low));
            places.extend(marker(high));
        }
        Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => {
            places_in_query(subquery, places)
        }
        Expr::In {
            target: sqlparser::ast::InTarget::Subquery(subquery),
            ..
        } => places_in_query(subquery, places),
        _ => {}
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
            bindable: None,
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
    fn the_scan_reads_plain_sql_and_declines_the_rest() {
        use super::{scan, Scan};
        let masked = |sql: &str| match scan(sql) {
            Scan::Masked(text, lits) => (text, lits),
            other => panic!("{sql}: {other:?}"),
        };
        let (text, lits) =
            masked("SELECT a1, \"x'y\" FROM t WHERE b = 'it''s' AND c > 4.5 AND d=7");
        assert_eq!(
            text,
            "SELECT a1, \"x'y\" FROM t WHERE b = '__sluice_m0__' AND c > '__sluice_m1__' AND d='__sluice_m2__'"
        );
        assert_eq!(
            lits,
            vec![
                Literal::Str("it's".into()),
                Literal::Num("4.5".into()),
                Literal::Num("7".into())
            ]
        );
        assert_eq!(scan("SELECT a FROM t1"), Scan::NoLiterals);
        for declined in [
            "SELECT 'a\\'b'",
            "SELECT 'a\\'",
            "SELECT \"a\\\"",
            "SELECT E'x'",
            "SELECT _utf8'x'",
            "SELECT X'1F'",
            "SELECT 1 -- c",
            "SELECT /* 'x' */ 1",
            "SELECT 1 # c",
            "SELECT $1",
            "SELECT $$x$$",
            "SELECT ?",
            "SELECT 1e5",
            "SELECT 0x1F",
            "SELECT 1_000",
            "SELECT .5",
            "SELECT 5.",
            "SELECT 'open",
            "SELECT \"open",
            "SELECT 'a'b",
        ] {
            assert_eq!(scan(declined), Scan::Declined, "{declined}");
        }
    }

    /// The property the families' safety rests on: two inputs the scan gives the same text and
    /// literal kinds, one of which sqlparser's lexer reads as the scan does, are read by the
    /// lexer token for token alike but for the literals' values. Checked on random inputs
    /// built from SQL's awkward pieces, in both dialects.
    #[test]
    fn inputs_of_one_scanned_shape_lex_alike() {
        use super::{mask_tokens, scan, Scan, Shape};
        let pieces = [
            "SELECT ",
            "a",
            "t1",
            " ",
            "\n",
            "'x'",
            "'it''s'",
            "''",
            "'\"'",
            "'`'",
            "\"q'\"",
            "\"a\"\"b\"",
            "`b'`",
            "42",
            "4.5",
            "007",
            ".",
            ",",
            "=",
            "-",
            "+",
            "(",
            ")",
            "E",
            "e",
            "N",
            "_",
            "x",
            "::",
            ":",
            ";",
            "'",
            "\"",
            "`",
            "1",
            "é",
            "'é'",
            "[",
            "]",
            "@",
            "&",
            "|",
            "<>",
            "!",
            "~",
            "%",
            "*",
            "/",
            "U&",
            "B",
            "0",
            "9",
            "\\",
            "\\'",
            "$",
            "$$",
            "--",
            "/*",
            "*/",
            "#",
            "?",
            "\u{a0}",
            "`--",
            "5@",
            "t.5",
            "?|",
            "@>",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for _ in 0..40_000 {
            let n = 1 + next() % 12;
            let sql: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let Scan::Masked(text, lits) = scan(&sql) else {
                continue;
            };
            for dialect in [Dialect::PostgreSql, Dialect::MySql] {
                let pd = dialect.parser_dialect();
                let Some(lexed) = mask_tokens(dialect, &sql) else {
                    continue;
                };
                let Ok(shape_tokens) = sqlparser::tokenizer::Tokenizer::new(pd, &text).tokenize()
                else {
                    continue;
                };
                let Shape::Tokens(tokens) = &lexed.shape else {
                    unreachable!()
                };
                if *tokens != shape_tokens || lexed.literals != lits {
                    continue; // a family is not formed from this input
                }
                // Another member: the same text, other literals of the same kinds.
                let mut member = String::new();
                let mut new_lits = Vec::new();
                let mut rest = text.as_str();
                while let Some(pos) = rest.find("'__sluice_m") {
                    member.push_str(&rest[..pos]);
                    let after = &rest[pos + 11..];
                    let end = after.find("__'").unwrap();
                    let i: usize = after[..end].parse().unwrap();
                    let lit = match &lits[i] {
                        Literal::Str(_) => {
                            let v = [
                                "", "''", "x y", "\"", "`", "é", "--", "/*", "$1", "?", "a''b",
                                "\\", "x\\", "\\''",
                            ][(next() % 14) as usize];
                            member.push('\'');
                            member.push_str(v);
                            member.push('\'');
                            Literal::Str(v.replace("''", "'"))
                        }
                        Literal::Num(old) => {
                            let v = if old.contains('.') { "12.50" } else { "9001" };
                            member.push_str(v);
                            Literal::Num(v.into())
                        }
                    };
                    new_lits.push(lit);
                    rest = &after[end + 3..];
                }
                member.push_str(rest);
                // A member the scan reads otherwise (declines, or gives another text) is not
                // decided by this family.
                match scan(&member) {
                    Scan::Masked(t, l) if t == text => {
                        assert_eq!(l, new_lits, "{sql:?} -> {member:?}")
                    }
                    _ => continue,
                }
                let relexed = mask_tokens(dialect, &member)
                    .unwrap_or_else(|| panic!("{dialect:?}: {sql:?} -> {member:?} does not lex"));
                assert_eq!(
                    &relexed.shape, &lexed.shape,
                    "{dialect:?}: {sql:?} -> {member:?}"
                );
                assert_eq!(
                    relexed.literals, new_lits,
                    "{dialect:?}: {sql:?} -> {member:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} inputs were checked");
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
