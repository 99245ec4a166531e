//! Which statements may run without a planner fence around their confined tables.
//!
//! PostgreSQL and MySQL merge a derived table into the query around it and evaluate the query's
//! conditions on the base table's rows in an order of their choosing, before or beside the
//! role's filter. An expression evaluated on a row outside the token's scope tells the client
//! something whenever it can raise an error, a warning or take time that depends on that row.
//! The engine therefore fences every confined table (`barrier` in `query.rs`) unless it proves
//! that *every* expression of the statement is leakproof: evaluating it on any row cannot fail,
//! warn, or cost more than a comparison.
//!
//! Proven leakproof, and nothing else:
//! - reading a column, a literal, a parameter, `NULL`;
//! - `=`, `<>`, `<`, `<=`, `>`, `>=`, `IN (…)`, `BETWEEN` between a column and a literal or
//!   parameter (or two columns) whose types convert nothing per row: the column's type class
//!   (from the backend's [`Schema`]) must match the other side's kind (numbers with numeric
//!   columns; strings with text or, on PostgreSQL, any typed column, since PostgreSQL types a
//!   literal when it parses it; PostgreSQL parameters with the classes whose every implicit
//!   conversion succeeds; MySQL parameters with temporal columns in `=`-style comparisons, and
//!   with number and text columns on the condition that the bound value is of the column's
//!   kind: the proof records the condition ([`crate::ParameterNeed`]), the door checks it on
//!   every execution and runs the fenced fallback rendering when a value does not meet it);
//! - `IS [NOT] NULL`, `AND`, `OR`, `NOT` and parentheses of those; as a condition on its own,
//!   a column only if it is boolean (PostgreSQL) or an integer (MySQL, which converts anything
//!   else per row, with a warning);
//! - `count(*)`, `count(col)`, `min(col)`, `max(col)` (aggregates run after every filter).
//!
//! A column is typed only when its name cannot be an alias the statement introduced (select
//! aliases, column lists of aliases and CTEs) and every table of the statement that has a column
//! of that name agrees on its class; a qualified column is typed by its qualifier's table.
//! Anything the proof cannot type is not leakproof: the statement is fenced, which costs
//! planning freedom, never confinement.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint,
    ObjectName, ObjectNamePart, OnConflictAction, OnInsert, Select, SelectItem, Statement,
    TableFactor, TableWithJoins, UnaryOperator, UpdateTableFromKind, Value, Visit, Visitor,
};

use crate::decision::ParameterNeed;
use crate::roles::TableName;
use crate::schema::{Schema, TypeClass};
use crate::Dialect;

/// The proof for one statement: what it names, learnt once, then asked of the whole statement
/// or of one condition.
pub(crate) struct Leakproof<'a> {
    names: Names<'a>,
    /// MySQL: the proof may count on the kind of each bound value (the door checks it at
    /// execute, see [`crate::Parameters`]); what it counted on is kept in `needs`.
    typed_parameters: bool,
    needs: RefCell<BTreeMap<usize, ParameterNeed>>,
}

impl<'a> Leakproof<'a> {
    pub(crate) fn learn(
        stmt: &Statement,
        dialect: Dialect,
        schema: &'a Schema,
        default_schema: &'a str,
        database: Option<&'a str>,
        typed_parameters: bool,
    ) -> Leakproof<'a> {
        let mut names = Names::default_for(dialect, schema, default_schema, database);
        if stmt.visit(&mut names).is_break() {
            // A FROM item the proof does not know: no column can be typed.
            names.unknown_relation = true;
            names.qualifiers.clear();
        }
        Leakproof {
            names,
            typed_parameters,
            needs: RefCell::default(),
        }
    }

    /// What the proofs asked so far counted on, by parameter number.
    pub(crate) fn into_needs(self) -> BTreeMap<usize, ParameterNeed> {
        self.needs.into_inner()
    }

    fn proof(&self) -> Proof<'_, 'a> {
        Proof {
            names: &self.names,
            typed_parameters: self.typed_parameters,
            needs: &self.needs,
        }
    }

    /// Whether every expression of `stmt` is proven leakproof.
    pub(crate) fn statement(&self, stmt: &Statement) -> bool {
        let mut proof = self.proof();
        stmt.visit(&mut proof).is_continue()
    }

    /// Whether `e`, read as a condition, is proven leakproof (every node of it).
    pub(crate) fn condition(&self, e: &Expr) -> bool {
        let mut proof = self.proof();
        proof.condition(e) && e.visit(&mut proof).is_continue()
    }
}

/// What the statement names: its base tables (by alias and by name) and the aliases it makes.
struct Names<'a> {
    dialect: Dialect,
    schema: &'a Schema,
    default_schema: &'a str,
    database: Option<&'a str>,
    /// A reference name (alias, or the table's own name) → the tables it may stand for (`None`:
    /// something that is not a base table of the model: a derived table, a CTE, a table the
    /// model does not hold).
    qualifiers: BTreeMap<String, BTreeSet<Option<TableName>>>,
    /// Every base table of the model the statement names.
    tables: BTreeSet<TableName>,
    /// Column names the statement itself introduces (lower case).
    aliases: BTreeSet<String>,
    /// A relation the model does not hold (or a CTE): unqualified columns cannot be typed.
    unknown_relation: bool,
}

impl<'a> Names<'a> {
    fn default_for(
        dialect: Dialect,
        schema: &'a Schema,
        default_schema: &'a str,
        database: Option<&'a str>,
    ) -> Names<'a> {
        Names {
            dialect,
            schema,
            default_schema,
            database,
            qualifiers: BTreeMap::new(),
            tables: BTreeSet::new(),
            aliases: BTreeSet::new(),
            unknown_relation: false,
        }
    }

    fn norm(&self, i: &Ident) -> String {
        match (self.dialect, i.quote_style) {
            (Dialect::PostgreSql, None) => i.value.to_ascii_lowercase(),
            _ => i.value.clone(),
        }
    }

    fn table_of(&self, name: &ObjectName) -> Option<TableName> {
        let parts: Vec<&Ident> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i),
                ObjectNamePart::Function(_) => None,
            })
            .collect::<Option<_>>()?;
        let (schema, table) = match (self.dialect, parts.as_slice()) {
            (Dialect::PostgreSql, [t]) => (Some(self.default_schema.to_string()), self.norm(t)),
            (Dialect::MySql, [t]) => (self.database.map(str::to_string), self.norm(t)),
            (_, [s, t]) => (Some(self.norm(s)), self.norm(t)),
            _ => return None,
        };
        let key = TableName {
            schema,
            name: table,
        };
        self.schema.table(&key).map(|_| key)
    }

    /// The class of a column reference, when it can be proven.
    fn class_of(&self, parts: &[Ident]) -> Option<TypeClass> {
        let (qualifier, column) = match parts {
            [c] => (None, c),
            [q, c] => (Some(q), c),
            _ => return None,
        };
        let col = column.value.to_lowercase();
        if self.aliases.contains(&col) {
            return None;
        }
        let candidates: Vec<&TableName> = match qualifier {
            Some(q) => {
                let tables = self.qualifiers.get(&self.norm(q))?;
                tables.iter().map(Option::as_ref).collect::<Option<_>>()?
            }
            None => {
                if self.unknown_relation {
                    return None;
                }
                self.tables.iter().collect()
            }
        };
        let mut class = None;
        for t in candidates {
            let Some(c) = self.schema.table(t).and_then(|t| t.column(&column.value)) else {
                if qualifier.is_some() {
                    return None;
                }
                continue;
            };
            match class {
                None => class = Some(c.class),
                Some(k) if k == c.class => {}
                Some(_) => return None,
            }
        }
        class.filter(|c| *c != TypeClass::Other)
    }
}

impl Visitor for Names<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table { name, alias, .. } => {
                let table = self.table_of(name);
                if table.is_none() {
                    self.unknown_relation = true;
                }
                if let Some(t) = &table {
                    self.tables.insert(t.clone());
                }
                let reference = match alias {
                    Some(a) => {
                        for c in &a.columns {
                            self.aliases.insert(c.name.value.to_lowercase());
                        }
                        self.norm(&a.name)
                    }
                    None => match name.0.last() {
                        Some(ObjectNamePart::Identifier(i)) => self.norm(i),
                        _ => return ControlFlow::Break(()),
                    },
                };
                self.qualifiers.entry(reference).or_default().insert(table);
            }
            TableFactor::Derived { alias, .. } | TableFactor::NestedJoin { alias, .. } => {
                if let Some(a) = alias {
                    for c in &a.columns {
                        self.aliases.insert(c.name.value.to_lowercase());
                    }
                    let reference = self.norm(&a.name);
                    self.qualifiers.entry(reference).or_default().insert(None);
                }
            }
            // Every other FROM item is denied by the checker; nothing to prove about it.
            _ => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                // A CTE is read under its name: its columns are the statement's own.
                self.unknown_relation = true;
                let reference = self.norm(&cte.alias.name);
                self.qualifiers.entry(reference).or_default().insert(None);
                for c in &cte.alias.columns {
                    self.aliases.insert(c.name.value.to_lowercase());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        for item in &s.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                self.aliases.insert(alias.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// The second pass: every expression node, and every condition, proven.
struct Proof<'n, 'a> {
    names: &'n Names<'a>,
    typed_parameters: bool,
    needs: &'n RefCell<BTreeMap<usize, ParameterNeed>>,
}

impl Visitor for Proof<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.node(e) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        for c in s.selection.iter().chain(s.having.iter()) {
            self.condition_root(c)?;
        }
        for twj in &s.from {
            self.joins(twj)?;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = tf
        {
            self.joins(table_with_joins)?;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, stmt: &Statement) -> ControlFlow<()> {
        match stmt {
            Statement::Update(u) => {
                self.joins(&u.table)?;
                if let Some(UpdateTableFromKind::AfterSet(f) | UpdateTableFromKind::BeforeSet(f)) =
                    &u.from
                {
                    for twj in f {
                        self.joins(twj)?;
                    }
                }
                if let Some(w) = &u.selection {
                    self.condition_root(w)?;
                }
            }
            Statement::Delete(d) => {
                if let Some(using) = &d.using {
                    for twj in using {
                        self.joins(twj)?;
                    }
                }
                if let Some(w) = &d.selection {
                    self.condition_root(w)?;
                }
            }
            Statement::Insert(i) => {
                if let Some(OnInsert::OnConflict(c)) = &i.on {
                    if let Some(sqlparser::ast::ConflictTarget::Columns {
                        predicate: Some(p),
                        ..
                    }) = &c.conflict_target
                    {
                        self.condition_root(p)?;
                    }
                    if let OnConflictAction::DoUpdate(d) = &c.action {
                        if let Some(w) = &d.selection {
                            self.condition_root(w)?;
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl Proof<'_, '_> {
    fn joins(&self, twj: &TableWithJoins) -> ControlFlow<()> {
        for j in &twj.joins {
            let mut op = j.join_operator.clone();
            let Some(c) = super::query::join_constraint(&mut op) else {
                return ControlFlow::Break(());
            };
            match c {
                JoinConstraint::On(e) => self.condition_root(e)?,
                // USING and NATURAL compare same-named columns: prove them as `a.c = b.c`
                // would be proven only with the tables' types; stay conservative.
                JoinConstraint::Using(_) | JoinConstraint::Natural => return ControlFlow::Break(()),
                JoinConstraint::None => {}
                JoinConstraint::UsingAlias(..) => return ControlFlow::Break(()),
            }
        }
        ControlFlow::Continue(())
    }

    fn condition_root(&self, e: &Expr) -> ControlFlow<()> {
        if self.condition(e) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// An expression in a place the engine reads as true/false.
    fn condition(&self, e: &Expr) -> bool {
        match e {
            Expr::Nested(inner) => self.condition(inner),
            Expr::Identifier(i) => self.column_is_condition(std::slice::from_ref(i)),
            Expr::CompoundIdentifier(parts) => self.column_is_condition(parts),
            Expr::Value(v) => match &v.value {
                Value::Boolean(_) | Value::Null => true,
                Value::Number(..) => self.names.dialect == Dialect::MySql,
                _ => false,
            },
            Expr::BinaryOp { op, .. } => matches!(
                op,
                BinaryOperator::And
                    | BinaryOperator::Or
                    | BinaryOperator::Xor
                    | BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
            ),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                ..
            } => true,
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsNotTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotFalse(_)
            | Expr::In { .. }
            | Expr::Between { .. } => true,
            _ => false,
        }
    }

    fn column_is_condition(&self, parts: &[Ident]) -> bool {
        matches!(
            (self.names.dialect, self.names.class_of(parts)),
            (Dialect::PostgreSql, Some(TypeClass::Boolean))
                | (Dialect::MySql, Some(TypeClass::Integer))
        )
    }

    /// One node of an expression tree, its children being proven on their own visit.
    fn node(&self, e: &Expr) -> bool {
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Nested(_) => true,
            Expr::Value(v) => literal_kind(&v.value).is_some(),
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => self.condition(expr),
                UnaryOperator::Minus | UnaryOperator::Plus => {
                    matches!(operand(expr), Operand::Literal(Kind::Number))
                }
                _ => false,
            },
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::And | BinaryOperator::Or => {
                    self.condition(left) && self.condition(right)
                }
                BinaryOperator::Xor => {
                    self.names.dialect == Dialect::MySql
                        && self.condition(left)
                        && self.condition(right)
                }
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => self.comparable(left, right, Form::Compare),
                _ => false,
            },
            Expr::IsNull(_) | Expr::IsNotNull(_) => true,
            Expr::IsTrue(x) | Expr::IsNotTrue(x) | Expr::IsFalse(x) | Expr::IsNotFalse(x) => {
                self.condition(x)
            }
            Expr::In {
                expr,
                target: sqlparser::ast::InTarget::List(list),
                global: false,
                ..
            } => list.iter().all(|i| self.comparable(expr, i, Form::In)),
            Expr::Between {
                expr, low, high, ..
            } => {
                self.comparable(expr, low, Form::Between)
                    && self.comparable(expr, high, Form::Between)
            }
            Expr::Function(f) => self.aggregate(f),
            _ => false,
        }
    }

    /// `count(*)`, `count(col)`, `min(col)`, `max(col)`: plain, no FILTER, OVER or options.
    fn aggregate(&self, f: &sqlparser::ast::Function) -> bool {
        let name = match f.name.0.as_slice() {
            [ObjectNamePart::Identifier(i)] if i.quote_style.is_none() => {
                i.value.to_ascii_lowercase()
            }
            _ => return false,
        };
        if !matches!(name.as_str(), "count" | "min" | "max")
            || f.filter.is_some()
            || f.over.is_some()
            || f.null_treatment.is_some()
            || !f.within_group.is_empty()
            || !matches!(f.parameters, FunctionArguments::None)
        {
            return false;
        }
        let FunctionArguments::List(list) = &f.args else {
            return false;
        };
        if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
            return false;
        }
        match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] => name == "count",
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(
                Expr::Identifier(_) | Expr::CompoundIdentifier(_),
            ))] => true,
            _ => false,
        }
    }

    /// Whether a literal of kind `k` meets a column of class `class` without a conversion per
    /// row.
    fn literal_fits(&self, class: TypeClass, k: Kind, form: Form) -> bool {
        use TypeClass as T;
        match (self.names.dialect, k) {
            // A parameter takes the column's type unless the client declares another at Parse:
            // `numeric_col = $1` with `$1` declared float8 casts every row to float8, and a
            // value too large fails quoting it. Only classes whose every implicit conversion
            // succeeds.
            (Dialect::PostgreSql, Kind::Parameter(_)) => {
                matches!(class, T::Integer | T::Text | T::Boolean | T::Uuid)
            }
            // The client chooses a parameter's type at execute: a string bound against a number
            // converts lazily (see `constant_fits`), a number against text every row. Temporal
            // columns convert a bound value alike with or without rows. Numbers and text hold
            // when the value is of the column's kind, which the door checks at every execution
            // (it runs the fallback rendering otherwise).
            (Dialect::MySql, Kind::Parameter(n)) => {
                let need = match class {
                    T::Date | T::Timestamp | T::Time if form == Form::Compare => return true,
                    c if c.is_numeric() => ParameterNeed::Number,
                    T::Text => ParameterNeed::Text,
                    _ => return false,
                };
                match n {
                    Some(n) if self.typed_parameters => {
                        self.needs.borrow_mut().insert(n, need);
                        true
                    }
                    _ => false,
                }
            }
            (dialect, k) => constant_fits(dialect, class, k),
        }
    }

    /// Whether comparing `a` with `b` converts nothing per row that could fail or warn.
    fn comparable(&self, a: &Expr, b: &Expr, form: Form) -> bool {
        match (operand(a), operand(b)) {
            (Operand::Column(x), Operand::Column(y)) => {
                match (self.names.class_of(x), self.names.class_of(y)) {
                    (Some(p), Some(q)) => p == q,
                    _ => false,
                }
            }
            (Operand::Column(c), Operand::Literal(k))
            | (Operand::Literal(k), Operand::Column(c)) => match self.names.class_of(c) {
                Some(class) => self.literal_fits(class, k, form),
                None => false,
            },
            // Constants against constants are folded once, whatever they are.
            (Operand::Literal(_), Operand::Literal(_)) => true,
            _ => false,
        }
    }
}

/// Where a comparison is written: MySQL converts differently in each (seen on MariaDB 10.11: a
/// string literal against an integer column converts the literal once in `=` and `IN`, but
/// every row in `BETWEEN` when the bounds' types differ; a parameter in `IN` every row).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    Compare,
    In,
    Between,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Number,
    String,
    /// A string holding a plain number ([`plain_number`]).
    NumericString,
    Boolean,
    Null,
    /// A `$n` or `?` parameter; MySQL's numbered ([`super::render::number_parameters`]).
    Parameter(Option<usize>),
}

enum Operand<'e> {
    Column(&'e [Ident]),
    Literal(Kind),
    Other,
}

fn operand(e: &Expr) -> Operand<'_> {
    match e {
        Expr::Nested(inner) => operand(inner),
        Expr::Identifier(i) => Operand::Column(std::slice::from_ref(i)),
        Expr::CompoundIdentifier(parts) => Operand::Column(parts),
        Expr::Value(v) => literal_kind(&v.value).map_or(Operand::Other, Operand::Literal),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => match operand(expr) {
            Operand::Literal(Kind::Number) => Operand::Literal(Kind::Number),
            _ => Operand::Other,
        },
        _ => Operand::Other,
    }
}

/// `-12`, `3.50`: a string MySQL converts to a number without a warning (no spaces, no
/// exponent, at most 30 digits on each side of the point).
fn plain_number(s: &str) -> bool {
    let digits = |d: &str| (1..=30).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
    let s = s.strip_prefix('-').unwrap_or(s);
    match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    }
}

fn literal_kind(v: &Value) -> Option<Kind> {
    match v {
        Value::Number(..) => Some(Kind::Number),
        Value::SingleQuotedString(s)
        | Value::DoubleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::NationalStringLiteral(s) => Some(if plain_number(s) {
            Kind::NumericString
        } else {
            Kind::String
        }),
        Value::Boolean(_) => Some(Kind::Boolean),
        Value::Null => Some(Kind::Null),
        Value::Placeholder(p) => Some(Kind::Parameter(super::render::parameter_number(p))),
        _ => None,
    }
}

/// Whether a constant of kind `k` meets a column of class `class` without a conversion per row.
fn constant_fits(dialect: Dialect, class: TypeClass, k: Kind) -> bool {
    use TypeClass as T;
    match (dialect, k) {
        (_, Kind::Null) => true,
        (_, Kind::Number) => class.is_numeric(),
        // PostgreSQL gives a quoted literal the column's type when it parses the statement: a
        // bad value fails before any row is read.
        (Dialect::PostgreSql, Kind::String | Kind::NumericString) => class != T::Other,
        (Dialect::PostgreSql, Kind::Boolean) => class == T::Boolean,
        // A string against a number converts lazily, at the first row the comparison meets:
        // its warning tells whether the scan met any row, other tenants' included.
        (Dialect::MySql, Kind::String) => {
            matches!(class, T::Text | T::Date | T::Timestamp | T::Time)
        }
        // Unless it is a plain number, which converts without a warning (a REST filter's
        // value, a client that quotes its numbers).
        (Dialect::MySql, Kind::NumericString) => {
            class.is_numeric() || matches!(class, T::Text | T::Date | T::Timestamp | T::Time)
        }
        (Dialect::MySql, Kind::Boolean) => class == T::Integer,
        (_, Kind::Parameter(_)) => false,
    }
}

/// The first comparison in a role's bound filter (its claims written in) that MySQL would
/// evaluate by converting a column's value per row: a number against a text column, a word
/// against a number column. A filter runs on every row a scan meets, other tenants' included,
/// and each such conversion warns (the warning count is the client's to read), so the engine
/// refuses to run it. Returns the column and the constant, as written.
pub(crate) fn filter_conversion(
    filter: &Expr,
    column_class: impl Fn(&Ident) -> Option<TypeClass>,
) -> Option<(String, String)> {
    let mut found = None;
    let mut check = |col: &Expr, constant: &Expr| {
        let Operand::Literal(k) = operand(constant) else {
            return;
        };
        let Some(c) = column_read(col) else {
            return;
        };
        if let Some(class) = column_class(c) {
            if !constant_fits(Dialect::MySql, class, k) && found.is_none() {
                found = Some((c.value.clone(), constant.to_string()));
            }
        }
    };
    let _ = sqlparser::ast::visit_expressions(filter, |e| {
        match e {
            Expr::BinaryOp {
                left,
                op:
                    BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq,
                right,
            } => {
                check(left, right);
                check(right, left);
            }
            Expr::In {
                expr,
                target: sqlparser::ast::InTarget::List(list),
                ..
            } => list.iter().for_each(|i| check(expr, i)),
            Expr::Between {
                expr, low, high, ..
            } => {
                check(expr, low);
                check(expr, high);
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The column whose value (or whose value passed through a function that keeps its kind:
/// `lower`, `coalesce`, `trim`, …) `e` is.
fn column_read(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Nested(inner) => column_read(inner),
        Expr::Identifier(c) => Some(c),
        Expr::CompoundIdentifier(parts) => parts.last(),
        Expr::Trim { expr, .. } => column_read(expr),
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let keeps_kind = matches!(
                name.as_str(),
                "lower" | "upper" | "lcase" | "ucase" | "ltrim" | "rtrim" | "coalesce" | "ifnull"
            );
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            match list.args.first() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) if keeps_kind => {
                    column_read(arg)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// PostgreSQL estimates the selectivity of a pattern or containment operator with a constant
/// operand by running the operator over the column's statistics (most common values and
/// histogram: every tenant's values), at planning, whatever fences the query has. A pattern
/// whose cost depends on those values (a catastrophic regex) is then a timing channel, and an
/// operator that fails on some value an error one. Under a barrier the constant operand of
/// such an operator is handed to PostgreSQL as a scalar subquery, which the planner does not
/// fold: the estimator sees no constant and uses its default selectivity. The value, and so the
/// answer, is the same.
pub(crate) fn hide_constants_from_estimators(stmt: &mut Statement) {
    use sqlparser::ast::visit_expressions_mut;
    let _ = visit_expressions_mut(stmt, |e| {
        match e {
            Expr::Like { expr, pattern, .. }
            | Expr::ILike { expr, pattern, .. }
            | Expr::SimilarTo { expr, pattern, .. }
                if !constant(expr) =>
            {
                blind(pattern)
            }
            Expr::BinaryOp { left, op, right } if estimates_by_evaluating(op) => {
                // A pattern is text; the operand of a containment operator keeps its type only
                // if the client wrote one (`'…'::jsonb`): an untyped literal or parameter in a
                // subquery would become text and no longer match the operator.
                let pattern = is_pattern(op);
                let typed =
                    |e: &Expr| pattern || matches!(e, Expr::Cast { .. } | Expr::TypedString(_));
                match (constant(left), constant(right)) {
                    (true, false) if typed(left) => blind(left),
                    (false, true) if typed(right) => blind(right),
                    _ => {}
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_pattern(op: &BinaryOperator) -> bool {
    use BinaryOperator as B;
    matches!(
        op,
        B::PGRegexMatch
            | B::PGRegexIMatch
            | B::PGRegexNotMatch
            | B::PGRegexNotIMatch
            | B::PGLikeMatch
            | B::PGILikeMatch
            | B::PGNotLikeMatch
            | B::PGNotILikeMatch
    )
}

fn estimates_by_evaluating(op: &BinaryOperator) -> bool {
    use BinaryOperator as B;
    is_pattern(op)
        || matches!(
            op,
            B::AtArrow
                | B::ArrowAt
                | B::PGOverlap
                | B::AtAt
                | B::AtQuestion
                | B::Question
                | B::QuestionAnd
                | B::QuestionPipe
        )
}

/// A literal, possibly cast or in parentheses.
fn constant(e: &Expr) -> bool {
    match e {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::Cast { expr, .. } | Expr::Nested(expr) => constant(expr),
        _ => false,
    }
}

/// A constant operand becomes `(SELECT <it>)`.
fn blind(e: &mut Box<Expr>) {
    if !constant(e) {
        return;
    }
    let value = std::mem::replace(e.as_mut(), Expr::Value(Value::Null.with_empty_span()));
    let q = super::query::simple_query(vec![SelectItem::UnnamedExpr(value)], vec![], None);
    **e = Expr::Subquery(Box::new(q));
}
