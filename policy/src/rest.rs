//! The REST door's pure half: PostgREST's request grammar, read into a typed request, and the
//! SQL syntax tree built from it for the policy engine.
//!
//! A request under `/rest/v1/{table}` never becomes SQL text here. [`parse_query`] reads the
//! query string into [`Params`], [`Range::from_header`] the `Range` header, and
//! [`parse_insert_body`] / [`parse_patch_body`] the JSON body; the builders ([`select`],
//! [`count`], [`insert`], [`update`], [`delete`]) turn them into a sqlparser [`Statement`] whose
//! names are quoted [`Ident`]s and whose values are literal nodes. The door hands that statement
//! to [`crate::authorize_statement`] (or [`crate::Engine::authorize_statement`]), which checks,
//! confines and renders it exactly as it would the same SQL text. Nothing here decides what a
//! token may do: a table or column the role may not use is built like any other and denied by
//! the engine.
//!
//! Decisions:
//! - Filter values are always string literals: `id=eq.5` is `"id" = '5'`, as PostgREST sends
//!   it. PostgreSQL gives an untyped literal the column's type; MySQL and MariaDB compare a
//!   string with a number column as numbers. A number literal would be worse on both:
//!   PostgreSQL has no `text = integer`, and MySQL compares a string column with a number as
//!   numbers (`'5abc' = 5` holds, and the column's index is not used). One consequence on MySQL:
//!   a `BOOLEAN` (`TINYINT(1)`) column is filtered with `eq.1` or `is.true`; `eq.true` compares
//!   it with the string `'true'`, which MySQL reads as 0.
//! - Body values keep their JSON type: strings, numbers (their exact text, so no precision is
//!   lost), booleans and null become the matching literals; nested objects and arrays become
//!   their JSON text, as a string literal.
//! - MySQL: `ilike` is `LOWER(col) LIKE LOWER(value)` (MySQL has no ILIKE); `is.unknown` is
//!   `IS NULL` (MySQL's `IS UNKNOWN` means exactly that, and `IS NULL` reads the same in every
//!   MySQL and MariaDB); `nullsfirst` / `nullslast` add a leading sort key `col IS NULL DESC` /
//!   `col IS NULL ASC`, since MySQL has no `NULLS FIRST/LAST`; an offset without a limit gets
//!   MySQL's "no limit" `LIMIT 18446744073709551615`, since MySQL has no OFFSET alone. Without
//!   `nullsfirst`/`nullslast`, where NULLs sort is the backend's default (PostgreSQL: last when
//!   ascending; MySQL: first).
//! - `*` in `like` / `ilike` patterns is `%`, as in PostgREST.
//! - The query string: `%XX` is a byte and `+` is a space, as in current PostgREST
//!   (`parseQueryReplacePlus True`, and what `URLSearchParams` writes); a plus sign is `%2B`.
//! - Names are plain identifiers ([`Name`]) and always quoted, so they keep their case as in
//!   PostgREST. Embedded resources, JSON paths, casts, aggregates, quoted names, upserts and the
//!   operators beyond `eq … is` are refused with `PGRST127`, naming the feature.
//! - Stricter than PostgREST where reading leniently could widen a request: a parameter that is
//!   not a filter (`id=5`, `id=`, `id`), a repeated `select`/`order`/`limit`/`offset`/`columns`
//!   and an unreadable `limit` are errors rather than ignored.
//! - Bounds: at most [`MAX_CONDITIONS`] filters, [`MAX_LOGIC_DEPTH`] levels of `and`/`or` and
//!   [`MAX_ORDER_TERMS`] sort keys, so that every statement built here stays well inside the
//!   engine's operator and nesting limits (and the tree is shallow to render).
//! - `in.()` (nothing between the parentheses) is the empty list: it matches no row (`FALSE`),
//!   and `not.in.()` every row. `in.("")` is the list holding the empty string.
//! - A POST body array may mix keys: the columns are the union of the keys (first seen first),
//!   and a key an object lacks is NULL, or the column's default with [`Missing::Default`]
//!   (PostgREST's `Prefer: missing=default`). An empty object or array, or a PATCH body with no
//!   key, is an error: there is no statement to build.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::{
    Assignment, AssignmentTarget, BinaryOperator, Delete, Expr, FromTable, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, InTarget, Insert,
    LimitClause, ObjectName, Offset, OffsetRows, OrderBy, OrderByExpr, OrderByKind, OrderByOptions,
    OrderBySort, Parens, Query, Select, SelectFlavor, SelectItem, SetExpr, Statement, TableFactor,
    TableObject, TableWithJoins, UnaryOperator, Update, Value, Values, WildcardAdditionalOptions,
};

use crate::Dialect;

/// Most conditions one request may hold: filters (inside `and`/`or` groups too) and the groups
/// themselves. Each becomes at most three of the operators the engine counts (`NOT`, the
/// comparison, the `AND`/`OR` joining it), so a request stays well under
/// [`crate::MAX_OPERATORS`].
pub const MAX_CONDITIONS: usize = 200;
/// Deepest nesting of `and(…)` / `or(…)` groups; a top-level `or=(…)` is one level.
pub const MAX_LOGIC_DEPTH: usize = 10;
/// Most sort keys in `order=`.
pub const MAX_ORDER_TERMS: usize = 32;
/// Longest name PostgreSQL keeps whole (it cuts longer ones to 63 bytes).
const MAX_NAME_BYTES: usize = 63;
/// MySQL's "no limit", for an offset without a limit.
const MYSQL_NO_LIMIT: &str = "18446744073709551615";

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A request the REST door cannot read, in PostgREST's error shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{message} [{code}]")]
pub struct RestError {
    /// PostgREST's code: `PGRST100` a query string it cannot parse, `PGRST102` a bad body,
    /// `PGRST103` a bad range, `PGRST127` a PostgREST feature Sluice does not implement.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
    pub details: Option<String>,
    /// How to write it.
    pub hint: Option<String>,
}

impl RestError {
    fn new(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> RestError {
        RestError {
            code,
            message: message.into(),
            details: None,
            hint: Some(hint.into()),
        }
    }

    fn query(message: impl Into<String>, hint: impl Into<String>) -> RestError {
        RestError::new("PGRST100", message, hint)
    }

    fn body(message: impl Into<String>, hint: impl Into<String>) -> RestError {
        RestError::new("PGRST102", message, hint)
    }

    fn range(message: impl Into<String>) -> RestError {
        RestError::new(
            "PGRST103",
            message,
            "write the Range header as first-last (0-9) or first- (10-), with first <= last",
        )
    }

    fn unsupported(feature: impl fmt::Display, hint: impl Into<String>) -> RestError {
        RestError::new(
            "PGRST127",
            format!("{feature} not supported by Sluice's REST door"),
            hint,
        )
    }

    /// The HTTP status PostgREST answers this error with.
    pub fn status(&self) -> u16 {
        match self.code {
            "PGRST103" => 416,
            _ => 400,
        }
    }
}

/// A piece of the request, quoted for a message (escaped, and cut if long).
fn shown(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

/// A table or column name: ASCII letters, digits and underscores, not starting with a digit, at
/// most 63 bytes. Rendered quoted, so its case is kept and a reserved word is just a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(s: &str) -> Result<Name, RestError> {
        let mut chars = s.chars();
        let plain = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.len() <= MAX_NAME_BYTES;
        if plain {
            Ok(Name(s.to_string()))
        } else {
            Err(RestError::query(
                format!("{} is not a plain name", shown(s)),
                format!(
                    "names are ASCII letters, digits and underscores, starting with a letter or \
                     an underscore, at most {MAX_NAME_BYTES} bytes"
                ),
            ))
        }
    }

    /// The `{table}` of `/rest/v1/{table}` as it appears in the path (percent-encoded; a `+`
    /// is a plus there).
    pub fn from_path_segment(segment: &str) -> Result<Name, RestError> {
        Name::parse(&percent_decode(segment, false)?)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One item of `select=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    /// `*`
    All,
    /// `column` or `alias:column`
    Column { column: Name, alias: Option<Name> },
}

/// The comparison operators (`eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `like`, `ilike`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    ILike,
}

/// The operand of `is.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Null,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// `op.value`; the value as written (for `like`/`ilike`, `*` not yet turned into `%`).
    Compare(Comparison, String),
    /// `in.(a,b,"c,d")`
    In(Vec<String>),
    /// `is.null|true|false|unknown`
    Is(Truth),
}

/// `column=[not.]op.value`, or the same inside a logic tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: Name,
    pub negated: bool,
    pub predicate: Predicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logic {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Filter(Filter),
    /// `[not.]and(…)` / `[not.]or(…)`, and the `and=`/`or=` parameters.
    Group {
        negated: bool,
        logic: Logic,
        items: Vec<Condition>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

/// One sort key of `order=`: `column[.asc|.desc][.nullsfirst|.nullslast]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub column: Name,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// The query string of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `select=`; `[All]` when absent.
    pub select: Vec<Selected>,
    /// The filters, `and=` and `or=` parameters, in order; all must hold.
    pub filters: Vec<Condition>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// `columns=`: the keys of a POST/PATCH body to use (others are ignored).
    pub columns: Option<Vec<Name>>,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            select: vec![Selected::All],
            filters: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: None,
            columns: None,
        }
    }
}

impl Params {
    /// Whether the request restricts the rows it touches (the door may refuse PATCH and DELETE
    /// without a filter).
    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
    }
}

/// Rows `offset .. offset + limit` of a result (`limit: None`: all that follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub offset: u64,
    pub limit: Option<u64>,
}

impl Range {
    /// The `Range` header: `first-last` (both included) or `first-`.
    pub fn from_header(value: &str) -> Result<Range, RestError> {
        let v = value.trim();
        let Some((first, last)) = v.split_once('-') else {
            return Err(RestError::range(format!(
                "the Range header {} is not a range",
                shown(value)
            )));
        };
        let number = |s: &str| {
            parse_row_count(s).ok_or_else(|| {
                RestError::range(format!(
                    "the Range header {} is not a range of row numbers",
                    shown(value)
                ))
            })
        };
        let first = number(first)?;
        if last.is_empty() {
            return Ok(Range {
                offset: first,
                limit: None,
            });
        }
        let last = number(last)?;
        if last < first {
            return Err(RestError::range(format!(
                "the Range header {} ends before it starts",
                shown(value)
            )));
        }
        Ok(Range {
            offset: first,
            limit: Some((last - first).saturating_add(1).min(i64::MAX as u64)),
        })
    }

    /// The rows both ranges hold (PostgREST intersects `limit`/`offset` with the header). An
    /// empty intersection is `limit: Some(0)`.
    pub fn intersect(self, other: Range) -> Range {
        let offset = self.offset.max(other.offset);
        let end = |r: Range| r.limit.map(|l| r.offset.saturating_add(l));
        let end = match (end(self), end(other)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Range {
            offset,
            limit: end.map(|e| e.saturating_sub(offset)),
        }
    }
}

/// A literal of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// A JSON number, exactly as written.
    Number(String),
    /// A JSON string, or the JSON text of a nested object or array.
    Text(String),
}

/// The rows of a POST body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertRows {
    /// The union of the objects' keys, first seen first (or `columns=` when given).
    pub columns: Vec<Name>,
    /// One entry per object and column; `None` where the object lacks the key.
    pub rows: Vec<Vec<Option<Literal>>>,
}

/// What a POST row lacking a key inserts there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// NULL (PostgREST's default).
    #[default]
    Null,
    /// The column's default (`Prefer: missing=default`).
    Default,
}

// ---------------------------------------------------------------------------------------------
// The query string
// ---------------------------------------------------------------------------------------------

/// Reads a query string (the part after `?`, still percent-encoded).
pub fn parse_query(query: &str) -> Result<Params, RestError> {
    let mut params = Params::default();
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut once = |name: &'static str| {
        if seen.insert(name) {
            Ok(())
        } else {
            Err(RestError::query(
                format!("the parameter `{name}` appears more than once"),
                format!("give `{name}` once"),
            ))
        }
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(raw_key, true)?;
        let value = percent_decode(raw_value, true)?;
        if value.is_empty() {
            return Err(RestError::query(
                format!("the parameter {} has no value", shown(&key)),
                "filter as column=operator.value, e.g. id=eq.5",
            ));
        }
        match key.as_str() {
            "select" => {
                once("select")?;
                params.select = parse_select(&value)?;
            }
            "order" => {
                once("order")?;
                params.order = parse_order(&value)?;
            }
            "limit" => {
                once("limit")?;
                params.limit = Some(parse_limit("limit", &value)?);
            }
            "offset" => {
                once("offset")?;
                params.offset = Some(parse_limit("offset", &value)?);
            }
            "columns" => {
                once("columns")?;
                params.columns = Some(parse_columns(&value)?);
            }
            "on_conflict" => {
                return Err(RestError::unsupported(
                    "upserts (`on_conflict`) are",
                    "insert with POST and change existing rows with PATCH",
                ))
            }
            "and" | "or" | "not.and" | "not.or" => {
                let negated = key.starts_with("not.");
                let logic = if key.ends_with("and") {
                    Logic::And
                } else {
                    Logic::Or
                };
                params
                    .filters
                    .push(parse_logic_param(negated, logic, &value)?);
            }
            _ => {
                let column = parse_field(&key, "a filter")?;
                params
                    .filters
                    .push(Condition::Filter(parse_filter(column, &value)?));
            }
        }
    }
    let conditions: usize = params.filters.iter().map(count_conditions).sum();
    if conditions > MAX_CONDITIONS {
        return Err(RestError::query(
            format!(
                "the request has {conditions} filters and and/or groups, more than the \
                 {MAX_CONDITIONS} Sluice accepts"
            ),
            "split the request, or use in.(…) for many values of one column",
        ));
    }
    Ok(params)
}

fn count_conditions(c: &Condition) -> usize {
    match c {
        Condition::Filter(_) => 1,
        Condition::Group { items, .. } => 1 + items.iter().map(count_conditions).sum::<usize>(),
    }
}

/// `%XX` is a byte; with `plus_is_space`, `+` is a space. The result must be UTF-8 without NUL.
fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, RestError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        return Err(RestError::query(
                            format!(
                                "{} holds a `%` that is not followed by two hex digits",
                                shown(s)
                            ),
                            "percent-encode the query string (a literal % is %25)",
                        ))
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).map_err(|_| {
        RestError::query(
            format!("{} is not UTF-8 once percent-decoded", shown(s)),
            "percent-encode UTF-8 text",
        )
    })?;
    if text.contains('\0') {
        return Err(RestError::query(
            format!("{} holds a NUL character (%00)", shown(s)),
            "no name or value may hold the NUL character",
        ));
    }
    Ok(text)
}

/// A whole number of rows: ASCII digits, at most `i64::MAX` (PostgreSQL's LIMIT is a bigint).
fn parse_row_count(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64)
}

fn parse_limit(name: &str, value: &str) -> Result<u64, RestError> {
    parse_row_count(value).ok_or_else(|| {
        RestError::query(
            format!("`{name}` must be a whole number, not {}", shown(value)),
            format!("e.g. {name}=10 (at most {})", i64::MAX),
        )
    })
}

/// A column as a filter, `select`, `order` or `columns` names it: a plain name, or an error
/// that names the PostgREST feature the text uses.
fn parse_field(s: &str, context: &str) -> Result<Name, RestError> {
    let hint_plain = || format!("name a column of this table in {context}, e.g. id");
    if s.contains("->") {
        return Err(RestError::unsupported(
            format!("JSON paths (`->`, `->>`) in {context} are"),
            hint_plain(),
        ));
    }
    if s.contains("::") {
        return Err(RestError::unsupported(
            format!("casts (`::type`) in {context} are"),
            hint_plain(),
        ));
    }
    if s.contains('(') || s.contains('.') || s.contains('!') {
        return Err(RestError::unsupported(
            format!("embedded resources ({} in {context}) are", shown(s)),
            "request this table's own columns; read other tables with requests of their own",
        ));
    }
    if s.starts_with('"') {
        return Err(RestError::unsupported(
            format!("quoted names ({} in {context}) are", shown(s)),
            "use plain names: ASCII letters, digits and underscores",
        ));
    }
    Name::parse(s)
}

/// Splits at `sep` outside parentheses and double quotes; unbalanced parentheses are an error.
fn split_top_level<'s>(s: &'s str, what: &str) -> Result<Vec<&'s str>, RestError> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0usize, false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    RestError::query(
                        format!("{what} {} closes a parenthesis it never opened", shown(s)),
                        "balance the parentheses",
                    )
                })?
            }
            ',' if !quoted && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || quoted {
        return Err(RestError::query(
            format!("{what} {} leaves a parenthesis or a quote open", shown(s)),
            "balance the parentheses and quotes",
        ));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn parse_select(value: &str) -> Result<Vec<Selected>, RestError> {
    let hint = "select columns as select=id,name, rename as select=new_name:column, or select=*";
    let mut out = Vec::new();
    for item in split_top_level(value, "select")? {
        let item = trim_ws(item);
        if item.is_empty() {
            return Err(RestError::query(
                format!("select {} has an empty item", shown(value)),
                hint,
            ));
        }
        if item == "*" {
            out.push(Selected::All);
            continue;
        }
        if item.ends_with("()") {
            return Err(RestError::unsupported(
                format!("aggregate functions ({} in select) are", shown(item)),
                "select plain columns; ask for the row count with Prefer: count=exact",
            ));
        }
        if item.contains('(') || item.starts_with("..") {
            return Err(RestError::unsupported(
                format!("embedded resources ({} in select) are", shown(item)),
                "select this table's own columns; read other tables with requests of their own",
            ));
        }
        let (alias, field) = match alias_separator(item) {
            Some(i) => (Some(&item[..i]), &item[i + 1..]),
            None => (None, item),
        };
        let alias = alias
            .map(|a| Name::parse(trim_ws(a)).map_err(|e| with_hint(e, hint)))
            .transpose()?;
        let field = trim_ws(field);
        if field == "*" {
            return Err(RestError::query(
                format!("select {}: `*` cannot be renamed", shown(item)),
                hint,
            ));
        }
        let column = parse_field(field, "select")?;
        out.push(Selected::Column { column, alias });
    }
    Ok(out)
}

/// The `:` of `alias:column` (a single colon, not part of `::`).
fn alias_separator(item: &str) -> Option<usize> {
    let b = item.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            if b.get(i + 1) == Some(&b':') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn with_hint(mut e: RestError, hint: &str) -> RestError {
    e.hint = Some(hint.to_string());
    e
}

fn parse_order(value: &str) -> Result<Vec<OrderTerm>, RestError> {
    let hint =
        "order as order=column[.asc|.desc][.nullsfirst|.nullslast], several separated by commas";
    let mut out = Vec::new();
    for term in split_top_level(value, "order")? {
        let term = trim_ws(term);
        if term.is_empty() {
            return Err(RestError::query(
                format!("order {} has an empty item", shown(value)),
                hint,
            ));
        }
        if term.contains('(') {
            return Err(RestError::unsupported(
                format!(
                    "ordering by embedded resources ({} in order) is",
                    shown(term)
                ),
                hint,
            ));
        }
        let mut parts = term.split('.');
        let column = parse_field(parts.next().unwrap_or(""), "order")?;
        let mut direction = None;
        let mut nulls = None;
        for modifier in parts {
            match modifier {
                "asc" | "desc" if direction.is_none() && nulls.is_none() => {
                    direction = Some(if modifier == "asc" {
                        Direction::Asc
                    } else {
                        Direction::Desc
                    })
                }
                "nullsfirst" | "nullslast" if nulls.is_none() => {
                    nulls = Some(if modifier == "nullsfirst" {
                        Nulls::First
                    } else {
                        Nulls::Last
                    })
                }
                _ => {
                    return Err(RestError::query(
                        format!(
                            "order {}: {} is not asc, desc, nullsfirst or nullslast in that place",
                            shown(term),
                            shown(modifier)
                        ),
                        hint,
                    ))
                }
            }
        }
        out.push(OrderTerm {
            column,
            direction,
            nulls,
        });
    }
    if out.len() > MAX_ORDER_TERMS {
        return Err(RestError::query(
            format!(
                "order has {} keys, more than the {MAX_ORDER_TERMS} Sluice accepts",
                out.len()
            ),
            hint,
        ));
    }
    Ok(out)
}

fn parse_columns(value: &str) -> Result<Vec<Name>, RestError> {
    value
        .split(',')
        .map(|c| {
            // PostgREST clients (postgrest-py's bulk insert) quote every name in `columns=`; a
            // quoted plain name is that name. Anything else in quotes is still refused.
            let c = trim_ws(c);
            let unquoted = c
                .strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .filter(|inner| Name::parse(inner).is_ok());
            parse_field(unquoted.unwrap_or(c), "columns")
        })
        .collect()
}

const OPERATORS_HINT: &str =
    "filter as column=[not.]operator.value with eq, neq, gt, gte, lt, lte, like, ilike, in.(a,b) or is.null|true|false|unknown";

/// The value of a top-level filter, `[not.]op.value`: the value is the rest of the text.
fn parse_filter(column: Name, value: &str) -> Result<Filter, RestError> {
    Cursor::new(value).op_expr(column, true)
}

fn parse_logic_param(negated: bool, logic: Logic, value: &str) -> Result<Condition, RestError> {
    let mut cursor = Cursor::new(value);
    cursor.skip_ws();
    let items = cursor.group(1)?;
    cursor.skip_ws();
    if !cursor.at_end() {
        return Err(cursor.error("text after the closing parenthesis"));
    }
    Ok(Condition::Group {
        negated,
        logic,
        items,
    })
}

fn comparison(op: &str) -> Result<Comparison, RestError> {
    Ok(match op {
        "eq" => Comparison::Eq,
        "neq" => Comparison::Neq,
        "gt" => Comparison::Gt,
        "gte" => Comparison::Gte,
        "lt" => Comparison::Lt,
        "lte" => Comparison::Lte,
        "like" => Comparison::Like,
        "ilike" => Comparison::ILike,
        "cs" | "cd" | "ov" | "sl" | "sr" | "nxr" | "nxl" | "adj" | "match" | "imatch"
        | "isdistinct" | "fts" | "plfts" | "phfts" | "wfts" => {
            return Err(RestError::unsupported(
                format!("the operator `{op}` is"),
                OPERATORS_HINT,
            ))
        }
        _ => {
            return Err(RestError::query(
                format!("unknown operator {}", shown(op)),
                OPERATORS_HINT,
            ))
        }
    })
}

/// A hand-written reader for filter values and logic trees, after PostgREST's grammar
/// (`pOpExpr`, `pLogicTree`, `pListVal`, `pQuotedValue`).
struct Cursor<'s> {
    text: &'s str,
    pos: usize,
}

impl<'s> Cursor<'s> {
    fn new(text: &'s str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn rest(&self) -> &'s str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    /// Characters up to (not including) the first of `stops`, or to the end.
    fn take_until(&mut self, stops: &[char]) -> &'s str {
        let rest = self.rest();
        let n = rest.find(stops).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    fn error(&self, what: &str) -> RestError {
        RestError::query(
            format!(
                "failed to parse {}: {what} at character {}",
                shown(self.text),
                self.text[..self.pos].chars().count() + 1
            ),
            "write logic trees as or=(column.operator.value,and(column.operator.value,…)); \
             double-quote values holding , or ) as in name.eq.\"a,b\"",
        )
    }

    /// `(item, item, …)` of a logic tree at nesting `depth`.
    fn group(&mut self, depth: usize) -> Result<Vec<Condition>, RestError> {
        if depth > MAX_LOGIC_DEPTH {
            return Err(RestError::query(
                format!(
                    "the logic tree {} nests deeper than {MAX_LOGIC_DEPTH} levels",
                    shown(self.text)
                ),
                "flatten the and/or groups",
            ));
        }
        if !self.eat("(") {
            return Err(self.error("expected `(`"));
        }
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            items.push(self.tree_item(depth)?);
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some(')') => return Ok(items),
                _ => return Err(self.error("expected `,` or `)`")),
            }
        }
    }

    fn tree_item(&mut self, depth: usize) -> Result<Condition, RestError> {
        for (prefix, negated, logic) in [
            ("not.and(", true, Logic::And),
            ("not.or(", true, Logic::Or),
            ("and(", false, Logic::And),
            ("or(", false, Logic::Or),
        ] {
            if self.rest().starts_with(prefix) {
                self.pos += prefix.len() - 1;
                let items = self.group(depth + 1)?;
                return Ok(Condition::Group {
                    negated,
                    logic,
                    items,
                });
            }
        }
        let field = trim_ws(self.take_until(&['.', ',', '(', ')']));
        if field.is_empty() {
            return Err(self.error("expected a column, `and(` or `or(`"));
        }
        let column = parse_field(field, "a logic tree")?;
        if !self.eat(".") {
            return Err(self.error("expected `.` and an operator after the column"));
        }
        Ok(Condition::Filter(self.op_expr(column, false)?))
    }

    /// `[not.]op.value`. At the top level the value is the rest of the text; in a logic tree
    /// it ends at `,` or `)` unless double-quoted.
    fn op_expr(&mut self, column: Name, top_level: bool) -> Result<Filter, RestError> {
        let negated = self.eat("not.");
        let op_start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let op = &self.text[op_start..self.pos];
        if self.peek() == Some('(') {
            let known = comparison(op).is_ok()
                || matches!(op, "fts" | "plfts" | "phfts" | "wfts" | "in" | "is");
            return Err(if known {
                RestError::unsupported(
                    format!("operator modifiers and languages (`{op}(…)`) are"),
                    OPERATORS_HINT,
                )
            } else {
                RestError::query(format!("unknown operator {}", shown(op)), OPERATORS_HINT)
            });
        }
        if op.is_empty() || !self.eat(".") {
            return Err(if top_level {
                RestError::query(
                    format!(
                        "failed to parse filter {}: expected operator.value",
                        shown(self.text)
                    ),
                    OPERATORS_HINT,
                )
            } else {
                self.error("expected operator.value")
            });
        }
        let predicate = match op {
            "in" => {
                let list = self.list()?;
                if top_level {
                    self.skip_ws();
                    if !self.at_end() {
                        return Err(RestError::query(
                            format!(
                                "failed to parse filter {}: text after the list",
                                shown(self.text)
                            ),
                            "write in.(a,b,\"c,d\")",
                        ));
                    }
                }
                Predicate::In(list)
            }
            "is" => {
                let word = if top_level {
                    let w = self.rest();
                    self.pos = self.text.len();
                    w
                } else {
                    self.take_until(&[',', ')'])
                };
                Predicate::Is(match word.to_ascii_lowercase().as_str() {
                    "null" => Truth::Null,
                    "true" => Truth::True,
                    "false" => Truth::False,
                    "unknown" => Truth::Unknown,
                    _ => {
                        return Err(RestError::query(
                            format!(
                                "is.{} is not is.null, is.true, is.false or is.unknown",
                                shown(word)
                            ),
                            OPERATORS_HINT,
                        ))
                    }
                })
            }
            op => {
                let cmp = comparison(op)?;
                let value = if top_level {
                    let v = self.rest().to_string();
                    self.pos = self.text.len();
                    v
                } else {
                    self.tree_value()
                };
                Predicate::Compare(cmp, value)
            }
        };
        Ok(Filter {
            column,
            negated,
            predicate,
        })
    }

    /// A value inside a logic tree: `"quoted"` (followed by `,` or `)`), `{array}`, or the
    /// text up to `,` or `)`.
    fn tree_value(&mut self) -> String {
        if let Some(q) = self.quoted() {
            return q;
        }
        if self.peek() == Some('{') {
            let rest = self.rest();
            if let Some(end) = rest.find('}') {
                if !rest[1..end].contains('{') {
                    self.pos += end + 1;
                    return rest[..=end].to_string();
                }
            }
        }
        self.take_until(&[',', ')']).to_string()
    }

    /// `"…"` with `\x` standing for `x`, if it is followed by `,`, `)` or the end; otherwise
    /// nothing is consumed.
    fn quoted(&mut self) -> Option<String> {
        let start = self.pos;
        if !self.eat("\"") {
            return None;
        }
        let mut out = String::new();
        loop {
            match self.bump() {
                Some('"') => break,
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => {
                        self.pos = start;
                        return None;
                    }
                },
                Some(c) => out.push(c),
                None => {
                    self.pos = start;
                    return None;
                }
            }
        }
        match self.peek() {
            None | Some(',') | Some(')') => Some(out),
            Some(_) => {
                self.pos = start;
                None
            }
        }
    }

    /// `(a,b,"c,d")`; `()` is the empty list.
    fn list(&mut self) -> Result<Vec<String>, RestError> {
        let error = |c: &Cursor<'_>, what: &str| {
            RestError::query(
                format!("failed to parse the list in {}: {what}", shown(c.text)),
                "write in.(a,b,\"c,d\"): values separated by commas, double-quoted when they hold , or )",
            )
        };
        self.skip_ws();
        if !self.eat("(") {
            return Err(error(self, "expected `(`"));
        }
        self.skip_ws();
        if self.eat(")") {
            return Ok(Vec::new());
        }
        let mut items = Vec::new();
        loop {
            let item = match self.quoted() {
                Some(q) => q,
                None => self.take_until(&[',', ')']).to_string(),
            };
            items.push(item);
            match self.bump() {
                Some(',') => continue,
                Some(')') => break,
                _ => return Err(error(self, "the list is not closed with `)`")),
            }
        }
        Ok(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

/// A JSON object, its keys in order, refusing a key given twice.
struct Object<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Object<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Object<'a>, M::Error> {
                let mut entries: Vec<(String, &'a RawValue)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'a RawValue>()? {
                    if entries.iter().any(|(seen, _)| *seen == k) {
                        return Err(serde::de::Error::custom(format!(
                            "the key {} is given twice",
                            shown(&k)
                        )));
                    }
                    entries.push((k, v));
                }
                Ok(Object(entries))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

const BODY_HINT: &str =
    "send a JSON object whose keys are column names, e.g. {\"notes\": \"late\", \"status\": \"open\"}";

fn json_error(e: serde_json::Error) -> RestError {
    RestError::body(format!("the body is not valid JSON: {e}"), BODY_HINT)
}

fn object<'a>(raw: &'a RawValue, which: &str) -> Result<Object<'a>, RestError> {
    if !raw.get().starts_with('{') {
        return Err(RestError::body(
            format!("{which} is not a JSON object"),
            BODY_HINT,
        ));
    }
    serde_json::from_str::<Object<'a>>(raw.get()).map_err(|e| {
        RestError::body(
            format!("{which} is not a usable JSON object: {e}"),
            BODY_HINT,
        )
    })
}

fn literal(raw: &RawValue, key: &str) -> Result<Literal, RestError> {
    let text = raw.get();
    Ok(match text.as_bytes().first() {
        Some(b'"') => {
            let s: String = serde_json::from_str(text).map_err(json_error)?;
            if s.contains('\0') {
                return Err(RestError::body(
                    format!("the value of {} holds a NUL character", shown(key)),
                    "no value may hold the NUL character (\\u0000)",
                ));
            }
            Literal::Text(s)
        }
        Some(b't') => Literal::Bool(true),
        Some(b'f') => Literal::Bool(false),
        Some(b'n') => Literal::Null,
        // serde_json checked the number's syntax (JSON's: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
        // which PostgreSQL and MySQL read as a numeric literal too.
        Some(b'-' | b'0'..=b'9') => Literal::Number(text.to_string()),
        // An object or an array: its JSON text.
        _ => Literal::Text(text.to_string()),
    })
}

fn keep_key(columns: Option<&[Name]>, key: &Name) -> bool {
    columns.is_none_or(|cs| cs.contains(key))
}

fn body_key(key: &str) -> Result<Name, RestError> {
    Name::parse(key).map_err(|e| RestError {
        code: "PGRST102",
        message: format!("the body's key {}", e.message),
        ..e
    })
}

/// A POST body: one object or an array of objects. `columns`: the `columns=` parameter.
pub fn parse_insert_body(body: &str, columns: Option<&[Name]>) -> Result<InsertRows, RestError> {
    let raw: &RawValue = serde_json::from_str(body).map_err(json_error)?;
    let objects: Vec<Object<'_>> = match raw.get().as_bytes().first() {
        Some(b'{') => vec![object(raw, "the body")?],
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(json_error)?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| object(item, &format!("element {i} of the array")))
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(RestError::body(
                "the body is neither a JSON object nor an array of objects",
                BODY_HINT,
            ))
        }
    };
    let mut names: Vec<Name> = match columns {
        Some(cs) => cs.to_vec(),
        None => Vec::new(),
    };
    let mut keyed: Vec<Vec<(Name, Literal)>> = Vec::with_capacity(objects.len());
    for obj in &objects {
        let mut row = Vec::with_capacity(obj.0.len());
        for (k, v) in &obj.0 {
            let name = body_key(k)?;
            if !keep_key(columns, &name) {
                continue;
            }
            if columns.is_none() && !names.contains(&name) {
                names.push(name.clone());
            }
            row.push((name, literal(v, k)?));
        }
        keyed.push(row);
    }
    if keyed.is_empty() || names.is_empty() {
        return Err(RestError::body(
            "the body has nothing to insert (no object, or no key)",
            BODY_HINT,
        ));
    }
    let rows = keyed
        .into_iter()
        .map(|row| {
            names
                .iter()
                .map(|n| row.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
                .collect()
        })
        .collect();
    Ok(InsertRows {
        columns: names,
        rows,
    })
}

/// A PATCH body: one object, its keys the columns to set. `columns`: the `columns=` parameter.
pub fn parse_patch_body(
    body: &str,
    columns: Option<&[Name]>,
) -> Result<Vec<(Name, Literal)>, RestError> {
    let raw: &RawValue = serde_json::from_str(body).map_err(json_error)?;
    let obj = object(raw, "the body")?;
    let mut set = Vec::with_capacity(obj.0.len());
    for (k, v) in &obj.0 {
        let name = body_key(k)?;
        if keep_key(columns, &name) {
            set.push((name, literal(v, k)?));
        }
    }
    if set.is_empty() {
        return Err(RestError::body("the body sets no column", BODY_HINT));
    }
    Ok(set)
}

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

/// Whether the dialect can return written rows (`RETURNING`, for `Prefer:
/// return=representation`). MySQL cannot; a door reads the rows back itself, or answers without
/// them.
pub fn supports_returning(dialect: Dialect) -> bool {
    match dialect {
        Dialect::PostgreSql => true,
        Dialect::MySql => false,
    }
}

/// GET: `SELECT <select> FROM <table> WHERE <filters> ORDER BY … LIMIT … OFFSET …`, the rows
/// of `limit`/`offset` intersected with `range` (the `Range` header).
pub fn select(dialect: Dialect, table: &Name, params: &Params, range: Option<Range>) -> Statement {
    let b = Build { dialect };
    let select = b.select_body(b.projection(&params.select), table, &params.filters);
    let mut rows = Range {
        offset: params.offset.unwrap_or(0),
        limit: params.limit,
    };
    if let Some(r) = range {
        rows = rows.intersect(r);
    }
    let order = params.order.iter().flat_map(|t| b.order_term(t)).collect();
    Statement::Query(Box::new(query(select, order, b.limit_clause(rows))))
}

/// `Prefer: count=exact`: `SELECT count(*) FROM <table> WHERE <the same filters>`.
pub fn count(dialect: Dialect, table: &Name, params: &Params) -> Statement {
    let b = Build { dialect };
    let count = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("count")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    });
    let select = b.select_body(vec![SelectItem::UnnamedExpr(count)], table, &params.filters);
    Statement::Query(Box::new(query(select, Vec::new(), None)))
}

/// POST: `INSERT INTO <table> (<columns>) VALUES (…), …`, with `RETURNING <returning>` when
/// given (PostgreSQL only; see [`supports_returning`]).
pub fn insert(
    dialect: Dialect,
    table: &Name,
    rows: &InsertRows,
    missing: Missing,
    returning: Option<&[Selected]>,
) -> Result<Statement, RestError> {
    let b = Build { dialect };
    if rows.columns.is_empty() || rows.rows.is_empty() {
        return Err(RestError::body("the body has nothing to insert", BODY_HINT));
    }
    let values = rows
        .rows
        .iter()
        .map(|row| {
            if row.len() != rows.columns.len() {
                return Err(RestError::body(
                    "a row has another number of values than there are columns",
                    BODY_HINT,
                ));
            }
            Ok(Parens::with_empty_span(
                row.iter()
                    .map(|v| match (v, missing) {
                        (Some(l), _) => literal_expr(l),
                        (None, Missing::Null) => Expr::value(Value::Null),
                        // The parser reads VALUES (DEFAULT) as this bare identifier.
                        (None, Missing::Default) => Expr::Identifier(Ident::new("DEFAULT")),
                    })
                    .collect(),
            ))
        })
        .collect::<Result<Vec<_>, RestError>>()?;
    let source = query(
        SetExpr::Values(Values {
            explicit_row: false,
            value_keyword: false,
            rows: values,
        }),
        Vec::new(),
        None,
    );
    Ok(Statement::Insert(Insert {
        insert_token: AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        or: None,
        ignore: false,
        into: true,
        table: TableObject::TableName(b.object_name(table)),
        table_alias: None,
        columns: rows.columns.iter().map(|c| b.object_name(c)).collect(),
        by_name: false,
        overwrite: false,
        source: Some(Box::new(source)),
        assignments: Vec::new(),
        partitioned: None,
        after_columns: Vec::new(),
        overriding: None,
        has_table_keyword: false,
        on: None,
        returning: b.returning(returning)?,
        output: None,
        replace_into: false,
        priority: None,
        insert_alias: None,
        settings: None,
        format_clause: None,
        multi_table_insert_type: None,
        multi_table_into_clauses: Vec::new(),
        multi_table_when_clauses: Vec::new(),
        multi_table_else_clause: None,
    }))
}

/// PATCH: `UPDATE <table> SET <col> = <value>, … WHERE <filters>`.
pub fn update(
    dialect: Dialect,
    table: &Name,
    params: &Params,
    set: &[(Name, Literal)],
    returning: Option<&[Selected]>,
) -> Result<Statement, RestError> {
    let b = Build { dialect };
    no_paging("PATCH", params)?;
    if set.is_empty() {
        return Err(RestError::body("the body sets no column", BODY_HINT));
    }
    let assignments = set
        .iter()
        .map(|(c, v)| Assignment {
            target: AssignmentTarget::ColumnName(b.object_name(c)),
            value: literal_expr(v),
        })
        .collect();
    Ok(Statement::Update(Update {
        update_token: AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        table: b.table(table),
        on_cluster: None,
        assignments,
        from: None,
        selection: b.conjunction(&params.filters),
        returning: b.returning(returning)?,
        output: None,
        or: None,
        order_by: Vec::new(),
        limit: None,
        settings: None,
    }))
}

/// DELETE: `DELETE FROM <table> WHERE <filters>`.
pub fn delete(
    dialect: Dialect,
    table: &Name,
    params: &Params,
    returning: Option<&[Selected]>,
) -> Result<Statement, RestError> {
    let b = Build { dialect };
    no_paging("DELETE", params)?;
    Ok(Statement::Delete(Delete {
        delete_token: AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        tables: Vec::new(),
        from: FromTable::WithFromKeyword(vec![b.table(table)]),
        on_cluster: None,
        using: None,
        selection: b.conjunction(&params.filters),
        returning: b.returning(returning)?,
        output: None,
        order_by: Vec::new(),
        limit: None,
        settings: None,
    }))
}

fn no_paging(method: &str, params: &Params) -> Result<(), RestError> {
    if !params.order.is_empty() || params.limit.is_some() || params.offset.is_some() {
        return Err(RestError::unsupported(
            format!("`order`, `limit` and `offset` on {method} are"),
            format!("select the rows of a {method} with filters only"),
        ));
    }
    Ok(())
}

/// A body literal as a literal node. A negative number is unary minus on the number, as the
/// parser reads `-5`.
fn literal_expr(l: &Literal) -> Expr {
    match l {
        Literal::Null => Expr::value(Value::Null),
        Literal::Bool(b) => Expr::value(Value::Boolean(*b)),
        Literal::Number(n) => match n.strip_prefix('-') {
            Some(abs) => Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: Box::new(Expr::value(Value::Number(abs.to_string(), false))),
            },
            None => Expr::value(Value::Number(n.clone(), false)),
        },
        Literal::Text(s) => text(s),
    }
}

fn text(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

fn query(body: SetExpr, order: Vec<OrderByExpr>, limit_clause: Option<LimitClause>) -> Query {
    Query {
        with: None,
        body: Box::new(body),
        order_by: (!order.is_empty()).then_some(OrderBy {
            kind: OrderByKind::Expressions(order),
            interpolate: None,
        }),
        limit_clause,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

/// Builds nodes for one dialect.
struct Build {
    dialect: Dialect,
}

impl Build {
    fn ident(&self, n: &Name) -> Ident {
        Ident::with_quote(self.dialect.identifier_quote(), n.as_str())
    }

    fn column(&self, n: &Name) -> Expr {
        Expr::Identifier(self.ident(n))
    }

    fn object_name(&self, n: &Name) -> ObjectName {
        ObjectName::from(vec![self.ident(n)])
    }

    fn table(&self, n: &Name) -> TableWithJoins {
        TableWithJoins {
            relation: TableFactor::Table {
                name: self.object_name(n),
                alias: None,
                args: None,
                with_hints: Vec::new(),
                version: None,
                with_ordinality: false,
                partitions: Vec::new(),
                json_path: None,
                sample: None,
                index_directives: Vec::new(),
                inheritance: None,
            },
            joins: Vec::new(),
        }
    }

    fn projection(&self, select: &[Selected]) -> Vec<SelectItem> {
        select
            .iter()
            .map(|s| match s {
                Selected::All => SelectItem::Wildcard(WildcardAdditionalOptions::default()),
                Selected::Column {
                    column,
                    alias: None,
                } => SelectItem::UnnamedExpr(self.column(column)),
                Selected::Column {
                    column,
                    alias: Some(alias),
                } => SelectItem::ExprWithAlias {
                    expr: self.column(column),
                    alias: self.ident(alias),
                },
            })
            .collect()
    }

    fn returning(
        &self,
        returning: Option<&[Selected]>,
    ) -> Result<Option<Vec<SelectItem>>, RestError> {
        match returning {
            None => Ok(None),
            Some(_) if !supports_returning(self.dialect) => Err(RestError::unsupported(
                "returning the written rows (Prefer: return=representation) on MySQL is",
                "use Prefer: return=minimal and read the rows back with GET",
            )),
            Some(select) => Ok(Some(self.projection(select))),
        }
    }

    fn select_body(
        &self,
        projection: Vec<SelectItem>,
        table: &Name,
        filters: &[Condition],
    ) -> SetExpr {
        SetExpr::Select(Box::new(Select {
            select_token: AttachedToken::empty(),
            optimizer_hints: Vec::new(),
            distinct: None,
            select_modifiers: None,
            top: None,
            top_before_distinct: false,
            projection,
            exclude: None,
            into: None,
            from: vec![self.table(table)],
            lateral_views: Vec::new(),
            prewhere: None,
            selection: self.conjunction(filters),
            connect_by: Vec::new(),
            group_by: GroupByExpr::Expressions(Vec::new(), Vec::new()),
            cluster_by: Vec::new(),
            distribute_by: Vec::new(),
            sort_by: Vec::new(),
            having: None,
            named_window: Vec::new(),
            qualify: None,
            window_before_qualify: false,
            value_table_mode: None,
            flavor: SelectFlavor::Standard,
        }))
    }

    /// The top-level filters, all of which must hold.
    fn conjunction(&self, filters: &[Condition]) -> Option<Expr> {
        self.combine(Logic::And, filters)
    }

    /// `a AND b AND …` (left-deep, as the parser builds it); groups inside are parenthesised,
    /// so the tree's meaning does not hang on operator precedence.
    fn combine(&self, logic: Logic, items: &[Condition]) -> Option<Expr> {
        let op = match logic {
            Logic::And => BinaryOperator::And,
            Logic::Or => BinaryOperator::Or,
        };
        items
            .iter()
            .map(|c| match c {
                Condition::Group { negated: false, .. } => {
                    Expr::Nested(Box::new(self.condition(c)))
                }
                _ => self.condition(c),
            })
            .reduce(|left, right| Expr::BinaryOp {
                left: Box::new(left),
                op: op.clone(),
                right: Box::new(right),
            })
    }

    fn condition(&self, c: &Condition) -> Expr {
        match c {
            Condition::Filter(f) => self.filter(f),
            Condition::Group {
                negated,
                logic,
                items,
            } => {
                // A group has at least one item (the grammar is `(item, …)`).
                let inner = self
                    .combine(*logic, items)
                    .unwrap_or(Expr::value(Value::Boolean(matches!(logic, Logic::And))));
                negate(*negated, inner)
            }
        }
    }

    fn filter(&self, f: &Filter) -> Expr {
        let col = self.column(&f.column);
        let e = match &f.predicate {
            Predicate::Compare(cmp, value) => self.compare(*cmp, col, value),
            Predicate::In(values) if values.is_empty() => Expr::value(Value::Boolean(false)),
            Predicate::In(values) => Expr::In {
                expr: Box::new(col),
                target: InTarget::List(values.iter().map(|v| text(v)).collect()),
                negated: false,
                global: false,
            },
            Predicate::Is(t) => match (t, self.dialect) {
                (Truth::Null, _) | (Truth::Unknown, Dialect::MySql) => Expr::IsNull(Box::new(col)),
                (Truth::True, _) => Expr::IsTrue(Box::new(col)),
                (Truth::False, _) => Expr::IsFalse(Box::new(col)),
                (Truth::Unknown, Dialect::PostgreSql) => Expr::IsUnknown(Box::new(col)),
            },
        };
        negate(f.negated, e)
    }

    fn compare(&self, cmp: Comparison, col: Expr, value: &str) -> Expr {
        let binary = |op| Expr::BinaryOp {
            left: Box::new(col.clone()),
            op,
            right: Box::new(text(value)),
        };
        match cmp {
            Comparison::Eq => binary(BinaryOperator::Eq),
            Comparison::Neq => binary(BinaryOperator::NotEq),
            Comparison::Gt => binary(BinaryOperator::Gt),
            Comparison::Gte => binary(BinaryOperator::GtEq),
            Comparison::Lt => binary(BinaryOperator::Lt),
            Comparison::Lte => binary(BinaryOperator::LtEq),
            Comparison::Like => Expr::Like {
                negated: false,
                any: false,
                expr: Box::new(col.clone()),
                pattern: Box::new(text(&value.replace('*', "%"))),
                escape_char: None,
            },
            Comparison::ILike => {
                let pattern = text(&value.replace('*', "%"));
                match self.dialect {
                    Dialect::PostgreSql => Expr::ILike {
                        negated: false,
                        any: false,
                        expr: Box::new(col.clone()),
                        pattern: Box::new(pattern),
                        escape_char: None,
                    },
                    Dialect::MySql => Expr::Like {
                        negated: false,
                        any: false,
                        expr: Box::new(lower(col.clone())),
                        pattern: Box::new(lower(pattern)),
                        escape_char: None,
                    },
                }
            }
        }
    }

    fn order_term(&self, t: &OrderTerm) -> Vec<OrderByExpr> {
        let sort = t.direction.map(|d| match d {
            Direction::Asc => OrderBySort::Asc,
            Direction::Desc => OrderBySort::Desc,
        });
        let nulls_first = t.nulls.map(|n| n == Nulls::First);
        let key = |expr, sort, nulls_first| OrderByExpr {
            expr,
            options: OrderByOptions { sort, nulls_first },
            with_fill: None,
        };
        match (self.dialect, nulls_first) {
            (Dialect::MySql, Some(first)) => vec![
                // `col IS NULL` is 1 for NULLs: descending puts them first.
                key(
                    Expr::IsNull(Box::new(self.column(&t.column))),
                    Some(if first {
                        OrderBySort::Desc
                    } else {
                        OrderBySort::Asc
                    }),
                    None,
                ),
                key(self.column(&t.column), sort, None),
            ],
            _ => vec![key(self.column(&t.column), sort, nulls_first)],
        }
    }

    fn limit_clause(&self, rows: Range) -> Option<LimitClause> {
        let number = |n: u64| Expr::value(Value::Number(n.to_string(), false));
        let offset = (rows.offset > 0).then(|| Offset {
            value: number(rows.offset),
            rows: OffsetRows::None,
        });
        let limit = match (rows.limit, self.dialect, &offset) {
            (Some(l), _, _) => Some(number(l)),
            (None, Dialect::MySql, Some(_)) => Some(Expr::value(Value::Number(
                MYSQL_NO_LIMIT.to_string(),
                false,
            ))),
            (None, _, _) => None,
        };
        if limit.is_none() && offset.is_none() {
            return None;
        }
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by: Vec::new(),
        })
    }
}

fn negate(negated: bool, e: Expr) -> Expr {
    if negated {
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(Expr::Nested(Box::new(e))),
        }
    } else {
        e
    }
}

fn lower(e: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("LOWER")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(e))],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}
