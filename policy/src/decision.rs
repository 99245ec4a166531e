//! What the engine answers: the statements to run, or a denial that names its rule.

use std::fmt;

use serde::Serialize;

use crate::roles::{Operation, TableName};

/// An input the engine allows: one entry per statement of the input, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorized {
    pub statements: Vec<CheckedStatement>,
}

impl Authorized {
    /// Whether any statement can change data.
    pub fn writes(&self) -> bool {
        self.statements.iter().any(|s| s.writes)
    }
}

/// One checked statement, rendered from the rewritten AST. `sql` is what the backend runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedStatement {
    pub sql: String,
    pub kind: StatementKind,
    /// Every (table, operation) the statement needs, each once, sorted.
    pub touches: Vec<(TableName, Operation)>,
    /// Whether the statement can change data (INSERT/UPDATE/DELETE, data-modifying CTEs).
    pub writes: bool,
    /// For [`StatementKind::Deallocate`]: which prepared statement(s).
    pub deallocate: Option<DeallocateTarget>,
    /// For [`StatementKind::Discard`]: `DISCARD ALL`.
    pub discards_all: bool,
    /// For [`StatementKind::Reset`]: `RESET ALL`.
    pub resets_all: bool,
    /// MySQL `?` parameters: where each of `sql`'s goes, and what the values must be for `sql`
    /// to be the statement that runs. Empty for statements without `?` and for PostgreSQL.
    pub parameters: Parameters,
    /// PostgreSQL: the same statement as a prepared statement's text and values, for a door
    /// that would rather have the server plan it once (see [`Bindable`]). Only a member of a
    /// statement family has one.
    #[serde(skip)]
    pub bindable: Option<Bindable>,
}

/// A checked PostgreSQL statement written with its input's literals as parameters: `template`
/// is `sql` with each literal the client wrote replaced by `$1`, `$2`, … and `values` holds
/// them, each with the type PostgreSQL's parser gives that literal, so that the server reads
/// the prepared statement into the very query tree it reads `sql` into, with parameters where
/// `sql` has constants. Made only where that holds by construction: every literal is an
/// operand of a comparison (`=`, `<>`, `<`, `<=`, `>`, `>=`, `IN`, `BETWEEN`) with a column, a
/// place where an untyped string parameter is typed as an untyped string literal is (by the
/// column) and a number keeps its literal's type; never a name, an ordinal (`ORDER BY 1`), a
/// typed literal (`DATE '…'`) or an operand of anything else. The decision is the family's,
/// which was made for any value in those places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bindable {
    pub template: std::sync::Arc<str>,
    /// A hash of `template`: a name for it that costs nothing per statement. Two templates may
    /// share one; a door compares the texts before it reuses a prepared statement.
    pub id: u64,
    /// `$1`'s value first, as text.
    pub values: Vec<(LiteralType, String)>,
}

/// The type PostgreSQL's parser gives a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralType {
    /// A quoted string: typed by where it stands (a parameter of unspecified type is too).
    Unknown,
    /// An integer that fits in 32 bits.
    Int4,
    /// An integer that fits in 64 bits but not 32.
    Int8,
    /// Any other number: a larger integer, a fraction, an exponent form.
    Numeric,
}

impl LiteralType {
    /// The type OID to declare for a parameter of this type (0: unspecified).
    pub fn pg_oid(self) -> u32 {
        match self {
            LiteralType::Unknown => 0,
            LiteralType::Int4 => 23,
            LiteralType::Int8 => 20,
            LiteralType::Numeric => 1700,
        }
    }
}

/// How a MySQL statement's `?` parameters reach the backend.
///
/// The rewrite may move a condition that holds a `?` (into a confined table's fenced derived
/// table, ahead of conditions that stay outside it), so the rendered statement's `?`s are not
/// always in the client's order: `order[i]` is the client's parameter (counted from 0) that the
/// rendered statement's `i`-th `?` takes.
///
/// A MySQL client chooses each parameter's type when it executes, and how MySQL compares a
/// value with a column depends on it (a string against a number column converts per row and
/// warns on the rows it cannot convert: a channel). The engine proves the rendering in `sql`
/// leakproof on the condition that each parameter's value has the kind in `needs`; the door
/// checks the values at every execution and runs `fallback` (the rendering proven for any
/// value: every confined table fenced) when one does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parameters {
    pub order: Vec<usize>,
    /// Per client parameter: what its value must be for `sql` to run. Empty: nothing needed.
    pub needs: Vec<ParameterNeed>,
    /// The rendering for values that do not meet `needs`, with its own order. `None` when
    /// `needs` asks nothing.
    pub fallback: Option<Box<(String, Vec<usize>)>>,
    /// Parameters written into a column the role's filter pins (INSERT values, UPDATE SET):
    /// the door runs the statement only if each such value is the token's, and refuses it
    /// otherwise, before anything is sent (both renderings). PostgreSQL and MySQL alike.
    pub pinned: Vec<PinnedParameter>,
}

/// A parameter whose value must be the token's claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedParameter {
    /// The client's parameter, counted from 0 (`$1` is 0).
    pub parameter: usize,
    /// The table and column it is written into, for the refusal's message.
    pub table: String,
    pub column: String,
    /// The value it must hold.
    pub value: sluice_tokens::ClaimValue,
    /// The column's type class, when the schema is known: how a PostgreSQL door reads a value
    /// sent in binary without a declared type.
    pub class: Option<crate::schema::TypeClass>,
}

impl PinnedParameter {
    /// Whether a value sent as text is exactly the claim.
    pub fn holds_text(&self, text: &[u8]) -> bool {
        match &self.value {
            sluice_tokens::ClaimValue::Str(s) => text == s.as_bytes(),
            sluice_tokens::ClaimValue::Int(i) => text == i.to_string().as_bytes(),
        }
    }

    /// Whether an integer value is the claim.
    pub fn holds_integer(&self, v: i128) -> bool {
        matches!(self.value, sluice_tokens::ClaimValue::Int(i) if i128::from(i) == v)
    }

    /// The refusal when a value is not the claim: nothing is run.
    pub fn refusal(&self) -> Denial {
        Denial::new(
            Rule::WriteNotConfinable,
            format!(
                "parameter {} (counted from 1) is written into column {} of {}, which must hold the token's value {}; bind that value (or leave the column out and Sluice fills it in); nothing was written",
                self.parameter + 1,
                self.column,
                self.table,
                self.value
            ),
        )
    }
}

/// What a bound value must be for a rendering that counted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterNeed {
    /// Anything.
    Any,
    /// NULL or a number (an integer, or a finite float): compared with a number column
    /// without a conversion that could warn.
    Number,
    /// NULL or a string of valid UTF-8: compared with a text column without converting the
    /// column's values.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Query,
    Insert,
    Update,
    Delete,
    Explain,
    /// BEGIN / START TRANSACTION
    Begin,
    Commit,
    Rollback,
    Savepoint,
    /// SET of an allowlisted session setting
    Set,
    /// SHOW of an allowlisted setting
    Show,
    /// PostgreSQL `DEALLOCATE name | ALL`: forgets the client's prepared statements. Never sent
    /// to the backend: a door keeps the client's statements and answers it itself
    /// (`CheckedStatement::deallocate` says which).
    Deallocate,
    /// PostgreSQL `RESET ALL` / `RESET <settable>`: back to the gateway's pinned values.
    Reset,
    /// PostgreSQL `DISCARD ALL | PLANS | TEMP | SEQUENCES`. DISCARD ALL also drops the
    /// backend's prepared statements; a door must know.
    Discard,
    /// PostgreSQL `CLOSE ALL` and `UNLISTEN *`: housekeeping that drivers send when returning a
    /// connection to their pool; no-ops through Sluice (cursors and LISTEN are denied).
    Housekeeping,
}

/// What a `DEALLOCATE` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeallocateTarget {
    All,
    Name(String),
}

/// The rule that denied a statement. `id()` is stable: audit logs and clients may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The text does not parse in the backend's dialect.
    SyntaxError,
    /// A statement kind Sluice never forwards (DDL, COPY, CALL, PREPARE, LISTEN, …).
    StatementNotAllowed,
    /// An operation listed in `forbidden_operations`.
    ForbiddenOperation,
    /// A table the role has no grant for (or not for this operation).
    TableNotGranted,
    /// A column outside the role's column list for the operation.
    ColumnNotGranted,
    /// A function outside the allowlist and the role's `functions`.
    FunctionNotAllowed,
    /// A SQL construct the engine does not positively understand (fail closed).
    ConstructNotAllowed,
    /// A write whose effect Sluice cannot confine to the role's rows.
    WriteNotConfinable,
    /// A session setting outside the allowlist.
    SettingNotAllowed,
    /// The token lacks a claim (or has an unusable one) that a row filter needs.
    ClaimInvalid,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::SyntaxError => "syntax_error",
            Rule::StatementNotAllowed => "statement_not_allowed",
            Rule::ForbiddenOperation => "forbidden_operation",
            Rule::TableNotGranted => "table_not_granted",
            Rule::ColumnNotGranted => "column_not_granted",
            Rule::FunctionNotAllowed => "function_not_allowed",
            Rule::ConstructNotAllowed => "construct_not_allowed",
            Rule::WriteNotConfinable => "write_not_confinable",
            Rule::SettingNotAllowed => "setting_not_allowed",
            Rule::ClaimInvalid => "claim_invalid",
        }
    }

    /// The PostgreSQL SQLSTATE a door reports.
    pub fn sqlstate(self) -> &'static str {
        match self {
            Rule::SyntaxError => "42601",
            Rule::ConstructNotAllowed => "0A000",
            Rule::StatementNotAllowed
            | Rule::ForbiddenOperation
            | Rule::TableNotGranted
            | Rule::ColumnNotGranted
            | Rule::FunctionNotAllowed
            | Rule::WriteNotConfinable
            | Rule::SettingNotAllowed
            | Rule::ClaimInvalid => "42501",
        }
    }

    /// The MySQL error code a door reports.
    pub fn mysql_code(self) -> u16 {
        match self {
            Rule::SyntaxError => 1064, // ER_PARSE_ERROR
            Rule::TableNotGranted | Rule::ForbiddenOperation | Rule::WriteNotConfinable => 1142, // ER_TABLEACCESS_DENIED_ERROR
            Rule::ColumnNotGranted => 1143, // ER_COLUMNACCESS_DENIED_ERROR
            Rule::FunctionNotAllowed => 1370, // ER_PROCACCESS_DENIED_ERROR
            Rule::ConstructNotAllowed => 1235, // ER_NOT_SUPPORTED_YET
            Rule::StatementNotAllowed | Rule::SettingNotAllowed | Rule::ClaimInvalid => 1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Why an input was refused. Nothing of a denied input runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} [{rule}]")]
pub struct Denial {
    pub rule: Rule,
    pub message: String,
}

impl Denial {
    pub fn new(rule: Rule, message: impl Into<String>) -> Denial {
        Denial {
            rule,
            message: message.into(),
        }
    }
    pub fn sqlstate(&self) -> &'static str {
        self.rule.sqlstate()
    }
    pub fn mysql_code(&self) -> u16 {
        self.rule.mysql_code()
    }
}
