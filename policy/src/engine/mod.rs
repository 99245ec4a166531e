//! The check-and-rewrite of SQL statements.
//!
//! [`authorize`] parses the input with sqlparser in the backend's dialect, walks every
//! statement, denies whatever it does not positively understand and allow, rewrites what it
//! allows so that it is confined to the role's rows and columns, and renders the result.
//!
//! The walk is written against sqlparser's AST by hand: every statement, query, table factor and
//! expression variant is either listed as allowed (and its children walked) or denied. Structs
//! whose fields could carry data-access (Query, Select, Insert, Update, Delete) are destructured
//! without `..`, so a field added by a sqlparser upgrade stops the build until someone decides
//! what it means. Enums end in a deny arm: a new variant is denied until someone allows it.
//!
//! Module map: `statement` dispatches statement kinds; `query` walks queries and confines table
//! references; `expr` walks expressions and checks functions; `write` handles INSERT, UPDATE and
//! DELETE; `session` the allowlisted SET/SHOW/transaction statements; `names` resolves table
//! names; `render` turns the checked AST back into SQL faithfully; `functions` holds the
//! allowlists.

pub(crate) mod catalog;
mod expr;
mod functions;
mod leakproof;

pub use functions::pg_parameter_type_allowed;
mod names;
mod query;
mod references;
mod render;
mod session;
mod statement;
pub(crate) mod template;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use sluice_tokens::Claims;
use sqlparser::ast::Statement;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::decision::{Authorized, CheckedStatement, Denial, ParameterNeed, Rule};
use crate::roles::{EffectiveRole, Operation, RbacConfig, TableName};
use crate::Dialect;

/// Longest SQL text the engine parses; longer input is denied before parsing.
pub const MAX_SQL_BYTES: usize = 1 << 20;
/// Most operators and keywords one input may hold. sqlparser builds chains such as
/// `1+1+…` or `a AND b AND …` as left-deep trees without counting them against its nesting
/// limit, and walking, rendering and even dropping such a tree recurses once per link: a long
/// enough chain overflows the stack and kills the process. Counting tokens before parsing bounds
/// the depth of every tree the engine ever builds. Lists (`IN (…)`, VALUES rows, select lists)
/// are flat and do not count.
pub const MAX_OPERATORS: usize = 1000;
/// Deepest nesting the parser accepts (sqlparser's recursion limit); deeper input is a syntax
/// error rather than a stack overflow.
const MAX_NESTING: usize = 48;

/// Who is asking, and against which backend.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub config: &'a RbacConfig,
    pub role: &'a EffectiveRole,
    pub claims: &'a Claims,
    pub dialect: Dialect,
    /// MySQL: the backend's database. Database-qualified names must name it. Ignored for
    /// PostgreSQL, whose unqualified names resolve to the role file's `default_schema`.
    pub database: Option<&'a str>,
    /// The backend's tables, column types and keys ([`crate::Schema::empty`] when unknown).
    pub schema: &'a crate::Schema,
}

/// Checks and rewrites `sql`. Multi-statement input is allowed only if every statement is: a
/// denial of any part denies the whole input, so nothing of it runs.
pub fn authorize(scope: &Scope<'_>, sql: &str) -> Result<Authorized, Denial> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Denial::new(
            Rule::ConstructNotAllowed,
            format!(
                "the statement is {} bytes, more than the {MAX_SQL_BYTES} Sluice accepts",
                sql.len()
            ),
        ));
    }
    if sql.contains(render::RESERVED_PREFIX) {
        return Err(Denial::new(
            Rule::ConstructNotAllowed,
            format!(
                "`{}` is reserved by Sluice and may not appear in SQL",
                render::RESERVED_PREFIX
            ),
        ));
    }
    let dialect = scope.dialect.parser_dialect();
    let mut tokens = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(|e| Denial::new(Rule::SyntaxError, format!("syntax error: {e}")))?;
    if scope.dialect == Dialect::MySql {
        render::number_parameters(&mut tokens);
    }
    authorize_token_stream(scope, tokens)
}

/// The part of [`authorize`] after tokenizing: bounds, parse, checks, rewrite, rendering.
/// [`template`] runs it on an input's tokens with the literals swapped for markers.
fn authorize_token_stream(
    scope: &Scope<'_>,
    tokens: Vec<TokenWithSpan>,
) -> Result<Authorized, Denial> {
    let shape = measure(&tokens);
    if shape.operators > MAX_OPERATORS {
        return Err(Denial::new(
            Rule::ConstructNotAllowed,
            format!(
                "the input has {} operators, more than the {MAX_OPERATORS} Sluice accepts in one request; split it",
                shape.operators
            ),
        ));
    }
    // Parsing, walking, rendering and dropping a tree all recurse once per level. A shallow input
    // runs on the caller's stack; one that could build a deep tree (long operator chains, deep
    // nesting) runs on a stack of its own, sized for the deepest tree the bounds allow, so no
    // input can overflow the caller's (a 2 MiB tokio worker's) stack.
    if shape.operators <= SHALLOW_OPERATORS && shape.nesting <= SHALLOW_NESTING {
        authorize_tokens(scope, tokens)
    } else {
        stacker::grow(DEEP_STACK_BYTES, || authorize_tokens(scope, tokens))
    }
}

/// Checks and rewrites a statement that a door built as a syntax tree rather than received as
/// text (the REST door builds every request this way, see [`crate::rest`]). The answer is the
/// one [`authorize`] gives for the statement's text: one checked statement, or a denial.
///
/// The tree is rendered by the engine's renderer (which writes every literal itself, never
/// through sqlparser's `Display`, and proves that the text reads back to itself), and that text
/// then takes the very path of [`authorize`]: size, reserved prefix, operator count and nesting
/// measured on its tokens, parsing, the checks, the rewrite and the final rendering.
///
/// Why not check the tree directly and measure its operators and depth on the AST: it would
/// not be simpler, and it would be less safe.
/// - The limits are defined on tokens and on the parser's recursion limit. A second definition
///   on the tree would have to agree with them node kind by node kind and stay in step with
///   sqlparser upgrades, and sqlparser's visitor does not even see every recursive node (a chain
///   of set operations, say), so a measuring walk could itself recurse without bound.
/// - What is checked must be what runs. A tree built by hand can mean something other than its
///   text: a missing `Nested` around an `OR` under an `AND` changes the grouping once rendered,
///   a `Value::Number` can hold any text. The renderer's round-trip proof compares texts, not
///   trees, so it would not notice. Parsing the text again makes the checked tree the one the
///   backend will read.
///
/// The cost is one more rendering and parse per request.
pub fn authorize_statement(scope: &Scope<'_>, stmt: Statement) -> Result<Authorized, Denial> {
    let sql = statement_text(stmt, scope.dialect)?;
    let authorized = authorize(scope, &sql)?;
    match several_statements(&authorized) {
        Some(denial) => Err(denial),
        None => Ok(authorized),
    }
}

/// The text of a statement a door built, rendered by the engine's renderer. Rendering (and
/// dropping) a tree recurses once per level. The door's builder bounds the depth of its trees
/// (`rest` to a few dozen levels), and this still runs on a stack of its own, as deep input
/// does in [`authorize`], so that the caller's stack (a tokio worker's 2 MiB) never depends on
/// it; the extra stack costs about 10 µs.
pub(crate) fn statement_text(stmt: Statement, dialect: Dialect) -> Result<String, Denial> {
    stacker::grow(DEEP_STACK_BYTES, move || {
        let mut stmt = stmt;
        render::render(&mut stmt, dialect)
    })
}

/// A built statement must read back as exactly one statement.
pub(crate) fn several_statements(authorized: &Authorized) -> Option<Denial> {
    (authorized.statements.len() != 1)
        .then(|| construct("a built statement whose text reads as several statements"))
}

const SHALLOW_OPERATORS: usize = 32;
const SHALLOW_NESTING: usize = 6;
const DEEP_STACK_BYTES: usize = 64 << 20;

fn authorize_tokens(scope: &Scope<'_>, tokens: Vec<TokenWithSpan>) -> Result<Authorized, Denial> {
    let statements = Parser::new(scope.dialect.parser_dialect())
        .with_recursion_limit(MAX_NESTING)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| Denial::new(Rule::SyntaxError, format!("syntax error: {e}")))?;
    let mut checked = Vec::with_capacity(statements.len());
    for stmt in statements {
        checked.push(check_statement(scope, stmt)?);
    }
    Ok(Authorized {
        statements: checked,
    })
}

/// Checks, rewrites and renders one statement.
///
/// A MySQL statement with `?` parameters is checked twice when the proof counted on the kind of
/// a bound value (a number against a number column, a string against a text column): once on
/// that condition, once for any value (the fallback the door runs when a value does not meet
/// it). See [`crate::Parameters`].
fn check_statement(scope: &Scope<'_>, stmt: Statement) -> Result<CheckedStatement, Denial> {
    let stmt = match catalog::show_as_query(scope, &stmt) {
        Some(query) => query?,
        None => stmt,
    };
    let typed = scope.dialect == Dialect::MySql && render::has_parameters(&stmt);
    let original = typed.then(|| stmt.clone());
    let (mut checked, needs) = check_once(scope, stmt, typed)?;
    if let (Some(original), false) = (original, needs.is_empty()) {
        let (fallback, _) = check_once(scope, original, false)?;
        if fallback.sql != checked.sql {
            let n = checked.parameters.order.iter().max().map_or(0, |m| m + 1);
            let mut dense = vec![ParameterNeed::Any; n];
            for (i, need) in needs {
                if let Some(slot) = dense.get_mut(i) {
                    *slot = need;
                }
            }
            checked.parameters.needs = dense;
            checked.parameters.fallback = Some(Box::new((fallback.sql, fallback.parameters.order)));
        }
    }
    Ok(checked)
}

/// One check of a statement. `typed`: the proof may count on the kind of each bound value,
/// and returns what it counted on.
fn check_once(
    scope: &Scope<'_>,
    mut stmt: Statement,
    typed: bool,
) -> Result<(CheckedStatement, BTreeMap<usize, ParameterNeed>), Denial> {
    let mut checker = Checker::new(scope);
    let proof = leakproof::Leakproof::learn(
        &stmt,
        scope.dialect,
        scope.schema,
        &scope.config.default_schema,
        scope.database,
        typed,
    );
    // Only a table the role sees in part needs a barrier: of a table it sees whole,
    // nothing is hidden (its statistics included).
    checker.barrier = checker.names_confined_table(&stmt) && !proof.statement(&stmt);
    checker.proof = Some(proof);
    let kind = checker.statement(&mut stmt)?;
    if checker.barrier && scope.dialect == Dialect::PostgreSql {
        leakproof::hide_constants_from_estimators(&mut stmt);
    }
    let (sql, order) = render::render_with_parameters(&mut stmt, scope.dialect)?;
    let needs = checker
        .proof
        .take()
        .map(leakproof::Leakproof::into_needs)
        .unwrap_or_default();
    Ok((
        CheckedStatement {
            sql,
            kind,
            touches: checker.touches.into_iter().collect(),
            writes: checker.writes,
            deallocate: checker.deallocate,
            discards_all: checker.discards_all,
            resets_all: checker.resets_all,
            parameters: crate::decision::Parameters {
                order,
                pinned: checker.pinned,
                ..Default::default()
            },
            bindable: None,
        },
        needs,
    ))
}

/// The state of one statement's walk.
pub(crate) struct Checker<'s> {
    scope: &'s Scope<'s>,
    touches: BTreeSet<(TableName, Operation)>,
    writes: bool,
    /// Names of the CTEs visible at this point, innermost last (normalised).
    ctes: Vec<Vec<String>>,
    /// Set while walking a query with FOR UPDATE/SHARE: its tables need UPDATE too.
    locking: bool,
    /// Set while walking the parts of a write that read its target.
    guard: Option<expr::ColumnGuard>,
    /// Set while walking the SET list of ON DUPLICATE KEY UPDATE.
    in_duplicate_key_update: bool,
    deallocate: Option<crate::decision::DeallocateTarget>,
    discards_all: bool,
    resets_all: bool,
    /// Set when the statement holds an expression not proven leakproof: every confined table
    /// is then fenced, so that nothing but the role's filter and proven-leakproof conditions
    /// ever runs on a row outside the scope (`leakproof.rs`, `query.rs`).
    barrier: bool,
    proof: Option<leakproof::Leakproof<'s>>,
    /// Per SELECT being walked (innermost last): leakproof WHERE conjuncts to move into the
    /// fenced derived table of a FROM item, by the item's reference name.
    pushdown: Vec<std::collections::BTreeMap<String, Vec<sqlparser::ast::Expr>>>,
    /// Parameters written into pinned columns (`write.rs`), checked by the door.
    pinned: Vec<crate::decision::PinnedParameter>,
}

impl<'s> Checker<'s> {
    fn new(scope: &'s Scope<'s>) -> Self {
        Checker {
            scope,
            touches: BTreeSet::new(),
            writes: false,
            ctes: Vec::new(),
            locking: false,
            guard: None,
            in_duplicate_key_update: false,
            deallocate: None,
            discards_all: false,
            resets_all: false,
            barrier: true,
            proof: None,
            pushdown: Vec::new(),
            pinned: Vec::new(),
        }
    }

    /// Whether `stmt` names a table (or something the engine cannot resolve, which may be one)
    /// that the role sees only in part: a row filter or a column limit.
    fn names_confined_table(&self, stmt: &Statement) -> bool {
        let mut confined = false;
        let _ = sqlparser::ast::visit_relations(stmt, |name| {
            let partial = match self.resolve_table(name) {
                Ok(t) => match self.role().tables.get(&t.key) {
                    Some(g) => {
                        g.columns_for(Operation::Select) != crate::roles::ColumnSet::All
                            || !g.filters.is_empty()
                    }
                    // Not granted: the statement is denied, or it is a CTE's name.
                    None => true,
                },
                Err(_) => true,
            };
            confined |= partial;
            if partial {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        });
        confined
    }

    fn role(&self) -> &'s EffectiveRole {
        self.scope.role
    }

    /// Requires `op` on `table`: forbidden operations first (their rule names the operator's
    /// deny), then grants.
    fn require(&mut self, table: &TableName, op: Operation) -> Result<(), Denial> {
        if let Some(by) = self.role().forbidden.get(&op) {
            return Err(Denial::new(
                Rule::ForbiddenOperation,
                format!("{op} on {table} is forbidden by {by}"),
            ));
        }
        let granted = self
            .role()
            .tables
            .get(table)
            .is_some_and(|g| g.operations.contains(&op));
        if !granted {
            let role = &self.role().name;
            let msg = match self.role().tables.get(table) {
                Some(_) => format!("role {role} may not {op} on table {table}"),
                None => format!("role {role} has no access to table {table}"),
            };
            return Err(Denial::new(Rule::TableNotGranted, msg));
        }
        self.touches.insert((table.clone(), op));
        if op.writes() {
            self.writes = true;
        }
        Ok(())
    }
}

pub(crate) fn construct(what: impl std::fmt::Display) -> Denial {
    Denial::new(
        Rule::ConstructNotAllowed,
        format!("{what} is not allowed through Sluice"),
    )
}

struct Shape {
    operators: usize,
    nesting: usize,
}

/// How many tree-deepening tokens an input holds, and how deeply its parentheses nest.
fn measure(tokens: &[TokenWithSpan]) -> Shape {
    use sqlparser::keywords::Keyword as K;
    let operators = tokens
        .iter()
        .filter(|t| match &t.token {
            Token::Word(w) => matches!(
                w.keyword,
                K::AND
                    | K::OR
                    | K::XOR
                    | K::NOT
                    | K::UNION
                    | K::INTERSECT
                    | K::EXCEPT
                    | K::MINUS
                    | K::LIKE
                    | K::ILIKE
                    | K::RLIKE
                    | K::REGEXP
                    | K::SIMILAR
                    | K::BETWEEN
                    | K::IS
                    | K::IN
                    | K::COLLATE
                    | K::AT
                    | K::DIV
                    | K::MOD
                    | K::CASE
            ),
            Token::EOF
            | Token::Whitespace(_)
            | Token::Comma
            | Token::Period
            | Token::LParen
            | Token::RParen
            | Token::SemiColon
            | Token::Number(..)
            | Token::Placeholder(_) => false,
            // Every other token is an operator or a literal; literals are counted too, which only
            // makes the bound stricter for inputs that are mostly operators and literals.
            _ => !is_literal(&t.token),
        })
        .count();
    let mut depth = 0usize;
    let mut nesting = 0usize;
    for t in tokens {
        match t.token {
            Token::LParen => {
                depth += 1;
                nesting = nesting.max(depth);
            }
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Shape { operators, nesting }
}

fn is_literal(t: &Token) -> bool {
    matches!(
        t,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
    )
}
