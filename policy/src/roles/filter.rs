//! Row filters: `filters: { table: "tenant_id = {{ token.tenant_id }}" }`.
//!
//! A filter is parsed once, at load, into an expression AST for each SQL dialect. Each
//! `{{ token.NAME }}` placeholder becomes a reserved identifier in that AST, and binding a token
//! replaces the identifier node with a literal node holding the claim's value. The claim is
//! never pasted into SQL text, so no claim value can change the meaning of the filter
//! (gateway rule 5: claims are values, never SQL).

use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;

use serde::Serialize;
use sluice_tokens::{ClaimValue, Claims};
use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, BinaryOperator, Expr, Ident, UnaryOperator, Value,
    Visit, Visitor,
};
use sqlparser::parser::Parser;

use super::model::TableName;
use crate::Dialect;

/// Prefix of the identifier a placeholder is turned into while parsing. Role files may not use
/// it themselves, so every identifier with it is one of ours.
const PLACEHOLDER_PREFIX: &str = "__sluice_claim_";

/// Longest claim value the engine turns into a literal (the token crate enforces the same).
pub const MAX_CLAIM_BYTES: usize = 256;

/// Why a filter could not be bound to a token's claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("the token has no `{claim}` claim, which the row filter on {table} needs")]
    MissingClaim { claim: String, table: String },
    #[error("the token's `{claim}` claim cannot be used as a SQL value: {reason}")]
    UnsafeClaim { claim: String, reason: String },
    #[error("the row filter on {table} is not valid {dialect:?} SQL: {reason}")]
    NotInDialect {
        table: String,
        dialect: Dialect,
        reason: String,
    },
}

/// A parsed row filter.
#[derive(Debug, Clone)]
pub struct RowFilter {
    text: String,
    table: TableName,
    declared_by: String,
    /// Claim names by placeholder index.
    placeholders: Vec<String>,
    claims: BTreeSet<String>,
    postgres: Result<Expr, String>,
    mysql: Result<Expr, String>,
    /// Columns the filter fixes by equality to a claim (`col = {{ token.c }}` in its top-level
    /// conjunction): INSERTs default them to the claim and must not set anything else.
    pinned: Vec<(String, String)>,
    /// Column names the filter reads.
    columns: BTreeSet<String>,
    /// Whether the whole filter is a conjunction of such pins (then an INSERT that sets the
    /// pinned columns to the claims is known to write a row inside the filter).
    pins_only: bool,
}

impl Serialize for RowFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RowFilter", 3)?;
        st.serialize_field("filter", &self.text)?;
        st.serialize_field("declared_by", &self.declared_by)?;
        st.serialize_field("claims", &self.claims)?;
        st.end()
    }
}

impl RowFilter {
    /// Parses a filter as written in a role file. The error is a message for the user.
    pub(crate) fn parse(text: &str, table: &TableName, declared_by: &str) -> Result<Self, String> {
        if text.contains(PLACEHOLDER_PREFIX) {
            return Err(format!(
                "filters may not contain `{PLACEHOLDER_PREFIX}` (reserved for claim placeholders)"
            ));
        }
        let (sql, placeholders) = substitute_placeholders(text)?;
        let postgres = parse_condition(&sql, Dialect::PostgreSql, table, &placeholders);
        // MySQL reads `||` as OR (default sql_mode), sqlparser as concatenation: such a filter
        // would mean something else on the engine than what was checked, so it has no MySQL form.
        let mysql = parse_condition(&sql, Dialect::MySql, table, &placeholders).and_then(|e| {
            let mut concat = false;
            let _ = visit_expressions(&e, |x| {
                if matches!(
                    x,
                    Expr::BinaryOp {
                        op: BinaryOperator::StringConcat,
                        ..
                    }
                ) {
                    concat = true;
                }
                ControlFlow::<()>::Continue(())
            });
            if concat {
                Err(
                    "`||` means OR in MySQL; use CONCAT() in filters for MySQL backends"
                        .to_string(),
                )
            } else {
                Ok(e)
            }
        });
        let columns = match (&postgres, &mysql) {
            (Ok(e), _) | (Err(_), Ok(e)) => column_names(e),
            (Err(_), Err(_)) => BTreeSet::new(),
        };
        let (pinned, pins_only) = match (&postgres, &mysql) {
            (Err(pg), Err(_)) => return Err(pg.clone()),
            (Ok(e), _) | (Err(_), Ok(e)) => {
                let pinned = pinned_columns(e, &placeholders);
                let only = conjunct_count(e) == pinned.len();
                (pinned, only)
            }
        };
        Ok(RowFilter {
            text: text.to_string(),
            table: table.clone(),
            declared_by: declared_by.to_string(),
            claims: placeholders.iter().cloned().collect(),
            placeholders,
            postgres,
            mysql,
            pinned,
            pins_only,
            columns,
        })
    }

    /// The filter as the user wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The role whose `filters` entry this is.
    pub fn declared_by(&self) -> &str {
        &self.declared_by
    }

    /// Claim names the filter reads.
    pub fn claims(&self) -> &BTreeSet<String> {
        &self.claims
    }

    /// `(column, claim)` pairs the filter pins by equality.
    pub fn pinned_columns(&self) -> &[(String, String)] {
        &self.pinned
    }

    /// Column names the filter reads (as written).
    pub fn columns(&self) -> &BTreeSet<String> {
        &self.columns
    }

    /// Whether the filter is nothing but `column = {{ token.claim }}` conjuncts.
    pub fn pins_only(&self) -> bool {
        self.pins_only
    }

    /// The filter as an expression over the table's columns (unqualified), with every
    /// placeholder replaced by a literal node holding the claim's value.
    pub fn bind(&self, dialect: Dialect, claims: &Claims) -> Result<Expr, BindError> {
        let template = match dialect {
            Dialect::PostgreSql => &self.postgres,
            Dialect::MySql => &self.mysql,
        };
        let mut expr = template.clone().map_err(|reason| BindError::NotInDialect {
            table: self.table.to_string(),
            dialect,
            reason,
        })?;
        let mut values = Vec::with_capacity(self.placeholders.len());
        for name in &self.placeholders {
            let value = claims.get(name).ok_or_else(|| BindError::MissingClaim {
                claim: name.clone(),
                table: self.table.to_string(),
            })?;
            values.push(claim_literal(name, &value)?);
        }
        let _ = visit_expressions_mut(&mut expr, |e| {
            if let Some(i) = placeholder_index(e) {
                *e = values[i].clone();
            }
            ControlFlow::<()>::Continue(())
        });
        Ok(expr)
    }
}

/// Turns a claim value into a literal AST node, refusing values that could never be a safe
/// SQL literal (the token crate refuses them at issue and verify; this is the check at use).
pub fn claim_literal(name: &str, value: &ClaimValue) -> Result<Expr, BindError> {
    match value {
        ClaimValue::Int(i) => Ok(Expr::value(Value::Number(i.to_string(), false))),
        ClaimValue::Str(s) => {
            let unsafe_reason = if s.len() > MAX_CLAIM_BYTES {
                Some(format!("longer than {MAX_CLAIM_BYTES} bytes"))
            } else if s.chars().any(char::is_control) {
                Some("contains a control character".to_string())
            } else {
                None
            };
            match unsafe_reason {
                Some(reason) => Err(BindError::UnsafeClaim {
                    claim: name.to_string(),
                    reason,
                }),
                None => Ok(Expr::value(Value::SingleQuotedString(s.clone()))),
            }
        }
    }
}

fn placeholder_index(e: &Expr) -> Option<usize> {
    match e {
        Expr::Identifier(Ident {
            value,
            quote_style: None,
            ..
        }) => value.strip_prefix(PLACEHOLDER_PREFIX)?.parse().ok(),
        _ => None,
    }
}

/// Replaces each `{{ token.NAME }}` by a reserved identifier; returns the SQL and the claim
/// name of each placeholder by index.
fn substitute_placeholders(text: &str) -> Result<(String, Vec<String>), String> {
    let mut sql = String::with_capacity(text.len());
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        sql.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("`{{` without a closing `}}`; write placeholders as {{ token.NAME }}")?;
        let inner = after[..end].trim();
        let name = inner
            .strip_prefix("token.")
            .filter(|n| {
                !n.is_empty()
                    && n.len() <= 64
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.starts_with(|c: char| c.is_ascii_digit())
            })
            .ok_or_else(|| {
                format!(
                    "`{{{{ {inner} }}}}` is not a claim placeholder; write {{{{ token.NAME }}}}"
                )
            })?;
        sql.push_str(&format!(" {PLACEHOLDER_PREFIX}{} ", names.len()));
        names.push(name.to_string());
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("`}}` without an opening `{{`".to_string());
    }
    sql.push_str(rest);
    Ok((sql, names))
}

fn parse_condition(
    sql: &str,
    dialect: Dialect,
    table: &TableName,
    placeholders: &[String],
) -> Result<Expr, String> {
    let mut parser = Parser::new(dialect.parser_dialect())
        .try_with_sql(sql)
        .map_err(|e| format!("filter does not parse: {e}"))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| format!("filter does not parse: {e}"))?;
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(format!(
            "filter has text after the condition (`{}`); a filter is one boolean condition",
            parser.peek_token().token
        ));
    }
    if !is_condition(&expr) {
        return Err(format!(
            "filter `{expr}` is not a boolean condition; write e.g. `tenant_id = {{{{ token.tenant_id }}}}`"
        ));
    }
    if contains_query(&expr) {
        return Err(
            "filters may not contain subqueries (they would read tables unconfined)".to_string(),
        );
    }
    let mut problem: Option<String> = None;
    let mut seen = vec![false; placeholders.len()];
    let _ = visit_expressions(&expr, |e| {
        if let Some(i) = placeholder_index(e) {
            if let Some(s) = seen.get_mut(i) {
                *s = true;
            }
        }
        let bad = match e {
            Expr::CompoundIdentifier(parts) => {
                let qualifier_ok = parts.len() == 2 && parts[0].value == table.name;
                (!qualifier_ok).then(|| {
                    format!(
                        "filter refers to `{e}`; refer to columns of {table} by their bare name"
                    )
                })
            }
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                Some("filters may not contain bind parameters; use {{ token.NAME }}".to_string())
            }
            _ => None,
        };
        match bad {
            Some(msg) => {
                problem = Some(msg);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    });
    if let Some(msg) = problem {
        return Err(msg);
    }
    if seen.iter().any(|s| !s) {
        return Err(
            "a {{ token.NAME }} placeholder is inside quotes or otherwise not a value of its own; \
             write it bare, e.g. `tenant_id = {{ token.tenant_id }}`"
                .to_string(),
        );
    }
    // Qualified references to the table itself are made bare: the filter is evaluated inside a
    // derived table over that one table.
    let mut expr = expr;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::CompoundIdentifier(parts) = e {
            *e = Expr::Identifier(parts[1].clone());
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(expr)
}

fn contains_query(e: &Expr) -> bool {
    struct FindQuery;
    impl Visitor for FindQuery {
        type Break = ();
        fn pre_visit_query(&mut self, _: &sqlparser::ast::Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    e.visit(&mut FindQuery).is_break()
}

/// Whether an expression is shaped like a boolean condition (type checking is the engine's;
/// this catches `tenant_id` or `'acme'` written where a condition belongs).
fn is_condition(e: &Expr) -> bool {
    use BinaryOperator as B;
    match e {
        Expr::Nested(inner) => is_condition(inner),
        Expr::BinaryOp { op, left, right } => match op {
            B::And | B::Or | B::Xor => is_condition(left) && is_condition(right),
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Spaceship => true,
            _ => false,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => is_condition(expr),
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. } => true,
        Expr::Value(v) => matches!(v.value, Value::Boolean(_)),
        _ => false,
    }
}

fn column_names(e: &Expr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = visit_expressions(e, |x| {
        if let Expr::Identifier(i) = x {
            if placeholder_index(x).is_none() {
                out.insert(folded(i));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// A column name as SQL reads it: unquoted names fold to lower case (ASCII, as PostgreSQL does;
/// MySQL compares column names without case anyway).
fn folded(i: &Ident) -> String {
    match i.quote_style {
        None => i.value.to_ascii_lowercase(),
        Some(_) => i.value.clone(),
    }
}

fn conjunct_count(e: &Expr) -> usize {
    match e {
        Expr::Nested(inner) => conjunct_count(inner),
        Expr::BinaryOp {
            op: BinaryOperator::And,
            left,
            right,
        } => conjunct_count(left) + conjunct_count(right),
        _ => 1,
    }
}

fn pinned_columns(e: &Expr, placeholders: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect_pins(e, placeholders, &mut out);
    out
}

fn collect_pins(e: &Expr, placeholders: &[String], out: &mut Vec<(String, String)>) {
    match e {
        Expr::Nested(inner) => collect_pins(inner, placeholders, out),
        Expr::BinaryOp {
            op: BinaryOperator::And,
            left,
            right,
        } => {
            collect_pins(left, placeholders, out);
            collect_pins(right, placeholders, out);
        }
        Expr::BinaryOp {
            op: BinaryOperator::Eq,
            left,
            right,
        } => {
            let pair = match (left.as_ref(), right.as_ref()) {
                (Expr::Identifier(col), p) | (p, Expr::Identifier(col)) => {
                    placeholder_index(p).map(|i| (col, i))
                }
                _ => None,
            };
            if let Some((col, i)) = pair {
                if placeholder_index(&Expr::Identifier(col.clone())).is_none() {
                    out.push((folded(col), placeholders[i].clone()));
                }
            }
        }
        _ => {}
    }
}

impl fmt::Display for RowFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
