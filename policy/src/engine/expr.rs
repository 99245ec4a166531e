//! Expressions: every variant is walked or denied; functions must be on the allowlist; and,
//! inside writes, every column read of the target table must be readable by the role.

use sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CaseWhen, CharacterLength, DataType, Expr,
    Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, Ident,
    InTarget, Subscript, WindowFrameBound, WindowSpec, WindowType,
};

use super::functions;
use super::render::check_ident;
use super::{construct, Checker};
use crate::decision::{Denial, Rule};
use crate::roles::{ColumnSet, TableName};
use crate::Dialect;

/// While checking the WHERE, SET values and RETURNING of a write: the target's columns the role
/// may read. Unqualified names, and names qualified with the target, must be among them.
/// Applies inside subqueries too, where an unqualified name can bind to the target: columns of
/// other tables there must be written qualified when the target has a column limit.
#[derive(Debug, Clone)]
pub(crate) struct ColumnGuard {
    pub table: TableName,
    /// Names the target can be referred to by (alias or table name).
    pub qualifiers: Vec<String>,
    pub readable: ColumnSet,
}

impl ColumnGuard {
    /// Whether `q` may name the target. Compared without case: stricter than either engine
    /// (MySQL with lower_case_table_names ignores case in table names and aliases).
    pub fn names(&self, q: &Ident) -> bool {
        // Unicode lowercasing: MySQL with lower_case_table_names folds `K` (the Kelvin sign)
        // to `k`, which ASCII-only comparison would miss.
        let q = q.value.to_lowercase();
        self.qualifiers.iter().any(|n| n.to_lowercase() == q)
    }
}

impl Checker<'_> {
    pub(crate) fn expr(&mut self, e: &mut Expr) -> Result<(), Denial> {
        match e {
            Expr::Identifier(i) => self.identifier(i),
            Expr::CompoundIdentifier(parts) => self.compound_identifier(parts),
            Expr::Value(_) => Ok(()),
            Expr::TypedString(t) => {
                // MySQL has typed literals only for DATE, TIME and TIMESTAMP: `json 'a'` is the
                // column `json` with the alias `a` there, which sqlparser reads as a literal.
                if self.scope.dialect == Dialect::MySql
                    && !matches!(
                        t.data_type,
                        DataType::Date | DataType::Time(..) | DataType::Timestamp(..)
                    )
                {
                    return Err(construct(format!(
                        "`{e}` (in MySQL this names a column; write the alias with AS)"
                    )));
                }
                check_type(&t.data_type)
            }
            Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x)
            | Expr::Nested(x)
            | Expr::UnaryOp { expr: x, .. }
            | Expr::IsJson { expr: x, .. }
            | Expr::IsNormalized { expr: x, .. }
            | Expr::Extract { expr: x, .. }
            | Expr::Ceil { expr: x, .. }
            | Expr::Floor { expr: x, .. } => self.expr(x),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b }
            | Expr::AnyOp {
                left: a, right: b, ..
            }
            | Expr::AllOp {
                left: a, right: b, ..
            } => {
                self.expr(a)?;
                self.expr(b)
            }
            Expr::BinaryOp { left, op, right } => {
                // `OPERATOR(pg_catalog.~)` (psql's catalog queries) names a built-in operator
                // in the catalog schema, where no user-defined one can shadow it.
                let builtin = match op {
                    BinaryOperator::PGCustomBinaryOperator(parts) => matches!(
                        parts.as_slice(),
                        [schema, o] if schema == "pg_catalog"
                            && functions::PG_QUALIFIED_OPERATORS.contains(&o.as_str())
                    ),
                    _ => true,
                };
                if !builtin || matches!(op, BinaryOperator::Custom(_)) {
                    return Err(construct(format!("the operator {op}")));
                }
                self.expr(left)?;
                self.expr(right)
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr)?;
                self.expr(pattern)?;
                if let Some(esc) = escape_char {
                    self.expr(esc)?;
                }
                Ok(())
            }
            Expr::RLike { expr, pattern, .. } => {
                self.expr(expr)?;
                self.expr(pattern)
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr)?;
                self.expr(low)?;
                self.expr(high)
            }
            Expr::In {
                expr,
                target,
                global,
                ..
            } => {
                if *global {
                    return Err(construct("GLOBAL IN"));
                }
                self.expr(expr)?;
                match target {
                    InTarget::List(list) => self.exprs(list),
                    InTarget::Subquery(q) => self.query(q),
                    InTarget::Unnest(_) | InTarget::Table { .. } => {
                        Err(construct("IN UNNEST/IN table"))
                    }
                }
            }
            Expr::Cast {
                expr,
                data_type,
                format,
                ..
            } => {
                if format.is_some() {
                    return Err(construct("CAST … FORMAT"));
                }
                if let Some(alias) = oid_alias(self.scope.dialect, data_type) {
                    self.expr(expr)?;
                    let guarded = self.catalog_cast(expr, alias)?;
                    *e = guarded;
                    return Ok(());
                }
                check_type(data_type)?;
                // `x::regclass::text`: the name of the (guarded) OID, shown as text.
                let shown = is_text(data_type)
                    .then(|| super::catalog::display_alias(self.scope.dialect, expr))
                    .flatten();
                self.expr(expr)?;
                if let Some(alias) = shown {
                    let oid = std::mem::replace(
                        expr.as_mut(),
                        Expr::Value(sqlparser::ast::Value::Null.with_empty_span()),
                    );
                    **expr = super::catalog::display_name(oid, alias)?;
                }
                Ok(())
            }
            Expr::Convert {
                expr,
                data_type,
                styles,
                is_try,
                ..
            } => {
                if *is_try || !styles.is_empty() {
                    return Err(construct("TRY_CONVERT / CONVERT styles"));
                }
                if let Some(t) = data_type {
                    check_type(t)?;
                }
                self.expr(expr)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr)?;
                if let Some(x) = substring_from {
                    self.expr(x)?;
                }
                if let Some(x) = substring_for {
                    self.expr(x)?;
                }
                Ok(())
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr)?;
                if let Some(x) = trim_what {
                    self.expr(x)?;
                }
                if let Some(xs) = trim_characters {
                    self.exprs(xs)?;
                }
                Ok(())
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr)?;
                self.expr(overlay_what)?;
                self.expr(overlay_from)?;
                if let Some(x) = overlay_for {
                    self.expr(x)?;
                }
                Ok(())
            }
            Expr::Collate { expr, collation } => {
                self.parts(collation)?;
                self.expr(expr)
            }
            Expr::Prefixed { prefix, value } => {
                // MySQL character-set introducers: _utf8mb4'…', _binary'…'. Only real ones: to
                // MySQL, `_price 'p'` is the column `_price` with the alias `p`.
                let introducer = functions::MYSQL_INTRODUCERS
                    .contains(&prefix.value.to_ascii_lowercase().as_str());
                if self.scope.dialect != Dialect::MySql
                    || prefix.quote_style.is_some()
                    || !introducer
                {
                    return Err(construct(format!(
                        "`{e}` (in MySQL this names a column; write the alias with AS)"
                    )));
                }
                check_ident(prefix)?;
                self.expr(value)
            }
            Expr::Function(f) => match self.catalog_call(f)? {
                Some(guarded) => {
                    *e = guarded;
                    Ok(())
                }
                None => self.function(f),
            },
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    self.expr(o)?;
                }
                for CaseWhen { condition, result } in conditions {
                    self.expr(condition)?;
                    self.expr(result)?;
                }
                if let Some(x) = else_result {
                    self.expr(x)?;
                }
                Ok(())
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                for set in sets {
                    self.exprs(set)?;
                }
                Ok(())
            }
            Expr::Tuple(xs) => self.exprs(xs),
            Expr::Array(a) => self.exprs(&mut a.elem),
            Expr::Interval(i) => self.expr(&mut i.value),
            Expr::CompoundFieldAccess { root, access_chain } => {
                // `con.conkey[1]`: sqlparser reads the column's name as a field of `con`; it is
                // the column `con.conkey`, subscripted (PostgreSQL reads a field only in
                // parentheses: `(x).f`). The name is checked as any column name.
                let names = access_chain
                    .iter()
                    .take_while(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
                    .count();
                if names > 0 {
                    if let Expr::Identifier(first) = root.as_ref() {
                        let mut parts = vec![first.clone()];
                        for a in access_chain.drain(..names) {
                            if let AccessExpr::Dot(Expr::Identifier(i)) = a {
                                parts.push(i);
                            }
                        }
                        **root = Expr::CompoundIdentifier(parts);
                    }
                }
                self.expr(root)?;
                for a in access_chain {
                    match a {
                        // A field of a composite value the query may read whole anyway (the
                        // root is walked like any expression): PgJDBC's
                        // `(information_schema._pg_expandarray(i.indkey)).n`. A plain name only.
                        AccessExpr::Dot(Expr::Identifier(field))
                            if self.scope.dialect == Dialect::PostgreSql =>
                        {
                            check_ident(field)?
                        }
                        AccessExpr::Dot(_) => return Err(construct("field access with `.`")),
                        AccessExpr::Subscript(Subscript::Index { index }) => self.expr(index)?,
                        AccessExpr::Subscript(Subscript::Slice {
                            lower_bound,
                            upper_bound,
                            stride,
                        }) => {
                            for x in [lower_bound, upper_bound, stride].into_iter().flatten() {
                                self.expr(x)?;
                            }
                        }
                    }
                }
                Ok(())
            }
            Expr::JsonAccess { .. }
            | Expr::Struct { .. }
            | Expr::Named { .. }
            | Expr::Dictionary(_)
            | Expr::Map(_)
            | Expr::MatchAgainst { .. }
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
            | Expr::OuterJoin(_)
            | Expr::Prior(_)
            | Expr::Lambda(_)
            | Expr::MemberOf(_) => Err(construct(format!("the expression `{e}`"))),
        }
    }

    pub(crate) fn exprs(&mut self, xs: &mut [Expr]) -> Result<(), Denial> {
        for x in xs {
            self.expr(x)?;
        }
        Ok(())
    }

    fn identifier(&mut self, i: &Ident) -> Result<(), Denial> {
        check_ident(i)?;
        // Keywords that sqlparser reads as names but the engine evaluates as functions naming
        // the backend's account (gateway rule 1).
        if i.quote_style.is_none() {
            let lower = i.value.to_lowercase();
            let account = match self.scope.dialect {
                Dialect::PostgreSql => functions::PG_ACCOUNT_KEYWORDS.contains(&lower.as_str()),
                Dialect::MySql => functions::MYSQL_ACCOUNT_KEYWORDS.contains(&lower.as_str()),
            };
            if account {
                return Err(Denial::new(
                    Rule::FunctionNotAllowed,
                    format!(
                        "{} names the gateway's database account and is not allowed",
                        i.value
                    ),
                ));
            }
        }
        if self.scope.dialect == Dialect::MySql
            && i.quote_style.is_none()
            && i.value.starts_with('@')
        {
            return system_variable(&i.value);
        }
        self.guard_column(None, i)
    }

    fn compound_identifier(&mut self, parts: &mut Vec<Ident>) -> Result<(), Denial> {
        for p in parts.iter() {
            check_ident(p)?;
        }
        if self.catalog_column_qualifier(parts) {
            parts.remove(0);
        }
        match parts.as_slice() {
            [q, c]
                if self.scope.dialect == Dialect::MySql
                    && q.quote_style.is_none()
                    && q.value.starts_with('@') =>
            {
                system_variable(&format!("{}.{}", q.value, c.value))
            }
            [q, c] => self.guard_column(Some(q), c),
            _ => Err(construct(format!(
                "the name {} (refer to columns as column or table.column)",
                parts
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(".")
            ))),
        }
    }

    /// `t.*` of a write's target (`to_json(c.*)`, `SELECT c.*` in a subquery) is every column,
    /// readable or not.
    pub(crate) fn guard_wildcard(&self, name: &sqlparser::ast::ObjectName) -> Result<(), Denial> {
        let parts = self.parts(name)?;
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let Some(last) = parts.last() else {
            return Ok(());
        };
        if guard.names(last) && guard.readable != ColumnSet::All {
            return Err(Denial::new(
                Rule::ColumnNotGranted,
                format!(
                    "{name}.* would read columns of {} that role {} may not read; name the columns",
                    guard.table,
                    self.role().name
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn guard_column(
        &self,
        qualifier: Option<&Ident>,
        column: &Ident,
    ) -> Result<(), Denial> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        if let Some(q) = qualifier {
            if !guard.names(q) {
                return Ok(());
            }
        }
        let readable = match &guard.readable {
            ColumnSet::All => true,
            ColumnSet::Only(cols) => cols.iter().any(|c| self.column_is(c, column)),
        };
        if readable {
            Ok(())
        } else {
            Err(Denial::new(
                Rule::ColumnNotGranted,
                format!(
                    "role {} may not read column {} of {} (columns read by a write must be \
                     readable; qualify other tables' columns in subqueries)",
                    self.role().name,
                    column.value,
                    guard.table
                ),
            ))
        }
    }

    fn function(&mut self, f: &mut Function) -> Result<(), Denial> {
        // current_setting of a setting SHOW may read (checked on the call as written).
        self.current_setting_allowed(f)?;
        let Function {
            name,
            uses_odbc_syntax,
            parameters,
            args,
            within_group,
            filter,
            null_treatment: _,
            over,
        } = f;
        let parts = self.parts(name)?;
        // Quoted names keep their case in PostgreSQL: `"LOWER"` is not `lower`.
        let folded = |i: &Ident| match self.scope.dialect {
            Dialect::PostgreSql => self.norm(i),
            Dialect::MySql => i.value.to_lowercase(),
        };
        // information_schema's helpers resolve by their qualified name only, never through the
        // search_path, so they are not on the allowlist of bare names.
        let mut information_schema_helper = false;
        let fname = match parts.as_slice() {
            [single] => folded(single),
            [schema, single]
                if self.scope.dialect == Dialect::PostgreSql
                    && self.norm(schema) == "information_schema"
                    && functions::PG_INFORMATION_SCHEMA.contains(&folded(single).as_str()) =>
            {
                information_schema_helper = true;
                folded(single)
            }
            // SQLAlchemy and others call `pg_catalog.version()`: the catalog schema is where
            // the built-ins live anyway, and the allowlist still applies.
            [schema, single]
                if self.scope.dialect == Dialect::PostgreSql
                    && self.norm(schema) == "pg_catalog" =>
            {
                folded(single)
            }
            _ => {
                return Err(Denial::new(
                    Rule::FunctionNotAllowed,
                    format!("function {name} is not allowed through Sluice (schema-qualified)"),
                ))
            }
        };
        // MySQL's VALUES(col) in ON DUPLICATE KEY UPDATE is the value the INSERT proposed.
        let proposed_value = fname == "values" && self.in_duplicate_key_update;
        // current_setting of a setting SHOW may read.
        let reads_setting = fname == "current_setting" && self.scope.dialect == Dialect::PostgreSql;
        if !proposed_value
            && !reads_setting
            && !information_schema_helper
            && !functions::allowed(self.scope.dialect, &fname)
            && !self.role().functions.contains(&fname)
        {
            return Err(Denial::new(
                Rule::FunctionNotAllowed,
                format!(
                    "function {fname} is not allowed for role {} (not on Sluice's allowlist nor in the role's `functions`)",
                    self.role().name
                ),
            ));
        }
        if *uses_odbc_syntax || !matches!(parameters, FunctionArguments::None) {
            return Err(construct(format!("this form of call to {fname}")));
        }
        if fname == "last_insert_id"
            && !matches!(args, FunctionArguments::None)
            && !matches!(args, FunctionArguments::List(l) if l.args.is_empty())
        {
            // LAST_INSERT_ID(x) sets connection state that outlives the statement.
            return Err(Denial::new(
                Rule::FunctionNotAllowed,
                "LAST_INSERT_ID(expr) sets connection state; use LAST_INSERT_ID()",
            ));
        }
        match args {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(q) if fname == "array" => self.query(q)?,
            FunctionArguments::Subquery(_) => {
                return Err(construct(format!("{fname}(SELECT …) without parentheses")))
            }
            FunctionArguments::List(list) => {
                for a in list.args.iter_mut() {
                    let arg = match a {
                        FunctionArg::Unnamed(arg) => arg,
                        FunctionArg::Named { name, arg, .. } => {
                            check_ident(name)?;
                            arg
                        }
                        FunctionArg::ExprNamed { .. } => {
                            return Err(construct("expression-named arguments"))
                        }
                    };
                    match arg {
                        FunctionArgExpr::Expr(e) => self.expr(e)?,
                        FunctionArgExpr::Wildcard => {}
                        FunctionArgExpr::WildcardWithOptions(_) => {
                            return Err(construct("* with options in a function call"))
                        }
                        FunctionArgExpr::QualifiedWildcard(n) => self.guard_wildcard(n)?,
                    }
                }
                for c in list.clauses.iter_mut() {
                    match c {
                        FunctionArgumentClause::OrderBy(exprs) => self.order_by_exprs(exprs)?,
                        FunctionArgumentClause::IgnoreOrRespectNulls(_)
                        | FunctionArgumentClause::Separator(_) => {}
                        _ => return Err(construct(format!("this clause in a call to {fname}"))),
                    }
                }
            }
        }
        self.order_by_exprs(within_group)?;
        if let Some(x) = filter {
            self.expr(x)?;
        }
        match over {
            None => Ok(()),
            Some(WindowType::NamedWindow(i)) => check_ident(i),
            Some(WindowType::WindowSpec(spec)) => self.window_spec(spec),
        }
    }

    /// A call of a catalog function (`engine/catalog.rs`): its arguments checked, and the call
    /// guarded so it can only name what the role may see. `None`: not a catalog function.
    fn catalog_call(&mut self, f: &mut Function) -> Result<Option<Expr>, Denial> {
        if self.scope.dialect == Dialect::MySql {
            return Ok(self.mysql_account(f));
        }
        let parts = self.parts(&f.name)?;
        let name = match parts.as_slice() {
            [single] => self.norm(single),
            [schema, single] if self.norm(schema) == "pg_catalog" => self.norm(single),
            _ => return Ok(None),
        };
        if !functions::CATALOG_FUNCTIONS.contains(&name.as_str()) {
            return Ok(None);
        }
        if f.uses_odbc_syntax
            || !matches!(f.parameters, FunctionArguments::None)
            || !f.within_group.is_empty()
            || f.filter.is_some()
            || f.over.is_some()
        {
            return Err(construct(format!("this form of call to {name}")));
        }
        match &mut f.args {
            FunctionArguments::List(list) => {
                for a in list.args.iter_mut() {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => self.expr(e)?,
                        _ => return Err(construct(format!("this form of call to {name}"))),
                    }
                }
            }
            _ => return Err(construct(format!("this form of call to {name}"))),
        }
        match self.catalog_function(&name, f) {
            Some(guarded) => guarded.map(Some),
            None => Err(Denial::new(
                Rule::FunctionNotAllowed,
                format!("this call of {name} is not allowed through Sluice (check its arguments)"),
            )),
        }
    }

    /// MySQL's `USER()`, `CURRENT_USER()`, `SESSION_USER()`, `SYSTEM_USER()`: the client's account
    /// at the gateway, its role (`<role>@sluice`), never the backend's account (the mariadb
    /// CLI's `status` asks for it).
    fn mysql_account(&self, f: &Function) -> Option<Expr> {
        let name = f.name.to_string().to_lowercase();
        let no_args = match &f.args {
            FunctionArguments::None => true,
            FunctionArguments::List(l) => l.args.is_empty(),
            FunctionArguments::Subquery(_) => false,
        };
        (["user", "current_user", "session_user", "system_user"].contains(&name.as_str())
            && no_args
            && f.over.is_none())
        .then(|| {
            Expr::Value(
                sqlparser::ast::Value::SingleQuotedString(format!("{}@sluice", self.role().name))
                    .with_empty_span(),
            )
        })
    }

    pub(crate) fn window_spec(&mut self, spec: &mut WindowSpec) -> Result<(), Denial> {
        if let Some(n) = &spec.window_name {
            check_ident(n)?;
        }
        self.exprs(&mut spec.partition_by)?;
        self.order_by_exprs(&mut spec.order_by)?;
        if let Some(frame) = &mut spec.window_frame {
            let bounds = std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut());
            for b in bounds {
                match b {
                    WindowFrameBound::CurrentRow => {}
                    WindowFrameBound::Preceding(x) | WindowFrameBound::Following(x) => {
                        if let Some(x) = x {
                            self.expr(x)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// MySQL `@@name` reads of harmless server variables (drivers read them on connect); user
/// variables (`@x`) are denied: with pooled backend connections they would leak between clients.
fn system_variable(name: &str) -> Result<(), Denial> {
    let Some(var) = name.strip_prefix("@@") else {
        return Err(construct(format!("the user variable {name}")));
    };
    let var = var.to_lowercase();
    let var = var
        .strip_prefix("session.")
        .or_else(|| var.strip_prefix("local."))
        .or_else(|| var.strip_prefix("global."))
        .unwrap_or(&var);
    if functions::READABLE_MYSQL_VARIABLES.contains(&var) {
        Ok(())
    } else {
        Err(Denial::new(
            Rule::SettingNotAllowed,
            format!("reading the server variable @@{var} is not allowed through Sluice"),
        ))
    }
}

const MAX_PADDED_LENGTH: u64 = 65_535;

/// Whether a cast target is a string type a name can be shown as.
fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Text | DataType::Varchar(_) | DataType::CharacterVarying(_) => true,
        DataType::Custom(name, m) if m.is_empty() => {
            let n = name.to_string().to_lowercase();
            ["text", "name", "pg_catalog.text", "pg_catalog.name"].contains(&n.as_str())
        }
        _ => false,
    }
}

/// The OID alias type a cast converts to (`regclass`, `pg_catalog.regtype`, …), if any: such a
/// cast is a catalog lookup, guarded by `engine/catalog.rs`.
pub(crate) fn oid_alias(dialect: Dialect, t: &DataType) -> Option<&'static str> {
    if dialect != Dialect::PostgreSql {
        return None;
    }
    let name = match t {
        DataType::Regclass => return Some("regclass"),
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            name.to_string().to_lowercase()
        }
        _ => return None,
    };
    let bare = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    functions::OID_ALIASES.iter().find(|a| **a == bare).copied()
}

/// Types only convert values, except those that look names up in the catalog (`regclass` and
/// friends), run user-defined input functions (custom types outside a short list), or belong to
/// other engines. Every variant is listed, so a type a future sqlparser adds is refused until
/// someone decides otherwise.
fn check_type(t: &DataType) -> Result<(), Denial> {
    match t {
        DataType::Regclass => Err(construct("casts to regclass")),
        // Fixed-length types pad every value to their length: the caller would pick the size of
        // what the backend allocates.
        DataType::Character(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::Char(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::Bit(Some(length))
        | DataType::FixedString(length)
            if *length > MAX_PADDED_LENGTH =>
        {
            Err(construct(format!(
                "the type {t} (fixed-length types longer than {MAX_PADDED_LENGTH})"
            )))
        }
        DataType::Custom(name, _) => {
            let n = name.to_string().to_lowercase();
            // Built-in types written with their schema, as catalog queries do.
            let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
            if functions::CUSTOM_TYPES.contains(&n)
                || (name.0.len() == 2
                    && crate::TypeClass::of_postgres(n) != crate::TypeClass::Other)
            {
                Ok(())
            } else {
                Err(construct(format!("the type {name}")))
            }
        }
        DataType::Array(ArrayElemTypeDef::AngleBracket(inner))
        | DataType::Array(ArrayElemTypeDef::SquareBracket(inner, _))
        | DataType::Array(ArrayElemTypeDef::Parenthesis(inner))
        | DataType::Array(ArrayElemTypeDef::ParenthesisNotNull(inner)) => check_type(inner),
        DataType::Array(ArrayElemTypeDef::None) => Ok(()),
        DataType::Array(ArrayElemTypeDef::Qualified(..)) => Err(construct(format!("the type {t}"))),
        // Built-in scalar types: converting to them reads no catalog and runs no user code.
        DataType::Character(..)
        | DataType::Char(..)
        | DataType::CharacterVarying(..)
        | DataType::CharVarying(..)
        | DataType::Varchar(..)
        | DataType::Nvarchar(..)
        | DataType::Uuid
        | DataType::CharacterLargeObject(..)
        | DataType::CharLargeObject(..)
        | DataType::Clob(..)
        | DataType::Binary(..)
        | DataType::Varbinary(..)
        | DataType::Blob(..)
        | DataType::TinyBlob
        | DataType::MediumBlob
        | DataType::LongBlob
        | DataType::Bytes(..)
        | DataType::Numeric(..)
        | DataType::Decimal(..)
        | DataType::DecimalUnsigned(..)
        | DataType::BigNumeric(..)
        | DataType::BigDecimal(..)
        | DataType::Dec(..)
        | DataType::DecUnsigned(..)
        | DataType::Float(..)
        | DataType::FloatUnsigned(..)
        | DataType::TinyInt(..)
        | DataType::TinyIntUnsigned(..)
        | DataType::UTinyInt
        | DataType::Int2(..)
        | DataType::Int2Unsigned(..)
        | DataType::SmallInt(..)
        | DataType::SmallIntUnsigned(..)
        | DataType::USmallInt
        | DataType::MediumInt(..)
        | DataType::MediumIntUnsigned(..)
        | DataType::Int(..)
        | DataType::Int4(..)
        | DataType::Int8(..)
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Int128
        | DataType::Int256
        | DataType::Integer(..)
        | DataType::IntUnsigned(..)
        | DataType::Int4Unsigned(..)
        | DataType::IntegerUnsigned(..)
        | DataType::HugeInt
        | DataType::UHugeInt
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::UInt128
        | DataType::UInt256
        | DataType::BigInt(..)
        | DataType::BigIntUnsigned(..)
        | DataType::UBigInt
        | DataType::Int8Unsigned(..)
        | DataType::Signed
        | DataType::SignedInteger
        | DataType::Unsigned
        | DataType::UnsignedInteger
        | DataType::Float4
        | DataType::Float32
        | DataType::Float64
        | DataType::Real
        | DataType::RealUnsigned
        | DataType::Float8
        | DataType::Double(..)
        | DataType::DoubleUnsigned(..)
        | DataType::DoublePrecision
        | DataType::DoublePrecisionUnsigned
        | DataType::Zerofill(..)
        | DataType::Bool
        | DataType::Boolean
        | DataType::Date
        | DataType::Date32
        | DataType::Time(..)
        | DataType::Datetime(..)
        | DataType::Datetime64(..)
        | DataType::Timestamp(..)
        | DataType::TimestampNtz(..)
        | DataType::Interval { .. }
        | DataType::JSON
        | DataType::JSONB
        | DataType::Text
        | DataType::TinyText
        | DataType::MediumText
        | DataType::LongText
        | DataType::String(..)
        | DataType::FixedString(..)
        | DataType::Bytea
        | DataType::Bit(..)
        | DataType::BitVarying(..)
        | DataType::VarBit(..)
        | DataType::TsVector
        | DataType::TsQuery => Ok(()),
        DataType::Table(..)
        | DataType::NamedTable { .. }
        | DataType::Collate(..)
        | DataType::Map(..)
        | DataType::Tuple(..)
        | DataType::Nested(..)
        | DataType::Object(..)
        | DataType::Enum(..)
        | DataType::Set(..)
        | DataType::Struct(..)
        | DataType::Union(..)
        | DataType::Nullable(..)
        | DataType::LowCardinality(..)
        | DataType::Unspecified
        | DataType::Trigger
        | DataType::AnyType
        | DataType::GeometricType(..) => Err(construct(format!("the type {t}"))),
    }
}
