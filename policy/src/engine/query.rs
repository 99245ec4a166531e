//! Queries: CTE scopes, set operations, SELECT clauses, and the confinement of every table
//! reference (gateway rule 4): a table with a row filter or a column limit is replaced by a
//! derived table that projects only the role's SELECT columns and keeps only its rows, under
//! the reference's alias (or the table's own name), so the rest of the query reads it as before.

use sqlparser::ast::Spanned;
use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, GroupByWithModifier, Ident, Join, JoinConstraint, JoinOperator,
    LimitClause, NamedWindowDefinition, NamedWindowExpr, ObjectName, ObjectNamePart, Offset,
    OrderBy, OrderByExpr, OrderByKind, Query, Select, SelectFlavor, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, SetOperator, TableAlias, TableFactor, TableWithJoins,
    Values, WildcardAdditionalOptions,
};
use sqlparser::tokenizer::Span;

use super::names::ResolvedTable;
use super::render::{check_ident, check_name};
use super::{construct, Checker};
use crate::decision::{Denial, Rule};
use crate::roles::{ColumnSet, Operation, TableGrant};
use crate::Dialect;

impl Checker<'_> {
    pub(crate) fn query(&mut self, q: &mut Query) -> Result<(), Denial> {
        let Query {
            with,
            body,
            order_by,
            limit_clause,
            fetch,
            locks,
            for_clause,
            settings,
            format_clause,
            pipe_operators,
        } = q;
        if for_clause.is_some() || settings.is_some() || format_clause.is_some() {
            return Err(construct("FOR XML/JSON, SETTINGS and FORMAT clauses"));
        }
        if !pipe_operators.is_empty() {
            return Err(construct("pipe operators"));
        }
        let outer_locking = self.locking;
        if !locks.is_empty() {
            // SELECT … FOR UPDATE/SHARE takes row locks: it needs UPDATE on what it reads.
            self.locking = true;
        }
        self.ctes.push(Vec::new());
        // A FROM item of this query's own SELECTs gets conjuncts only from its own SELECT's
        // frame; whatever this query holds outside a SELECT (a write in a CTE) gets none.
        self.pushdown.push(std::collections::BTreeMap::new());
        let result = (|| {
            // A CTE body sees the CTEs before it, and itself under RECURSIVE. MySQL resolves a
            // later CTE's name in a body to the table of that name; PostgreSQL to the CTE.
            // Treating it as the table is right for MySQL and only over-checks for PostgreSQL.
            if let Some(with) = with {
                let recursive = with.recursive;
                for cte in &mut with.cte_tables {
                    if cte.from.is_some() {
                        return Err(construct("CTE … FROM"));
                    }
                    check_name(&cte.alias.name)?;
                    let name = self.norm(&cte.alias.name);
                    if recursive {
                        self.ctes.last_mut().expect("pushed").push(name.clone());
                    }
                    self.query(&mut cte.query)?;
                    if !recursive {
                        self.ctes.last_mut().expect("pushed").push(name);
                    }
                }
            }
            self.set_expr(body)?;
            if let Some(OrderBy { kind, interpolate }) = order_by {
                if interpolate.is_some() {
                    return Err(construct("ORDER BY … INTERPOLATE"));
                }
                match kind {
                    OrderByKind::Expressions(exprs) => self.order_by_exprs(exprs)?,
                    OrderByKind::All(_) => return Err(construct("ORDER BY ALL")),
                }
            }
            match limit_clause {
                None => {}
                Some(LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                }) => {
                    if !limit_by.is_empty() {
                        return Err(construct("LIMIT … BY"));
                    }
                    // sqlparser also reads `OFFSET … LIMIT …` and writes it as `LIMIT … OFFSET …`.
                    // MySQL has only the second order; with `?` parameters, bound by position,
                    // the rewrite would swap the client's values, so the first is refused there.
                    if let (Dialect::MySql, Some(l), Some(o)) =
                        (self.scope.dialect, &limit, &offset)
                    {
                        let (l, o) = (l.span().start, o.value.span().start);
                        if o < l && o != sqlparser::tokenizer::Location::empty() {
                            return Err(Denial::new(
                                Rule::SyntaxError,
                                "syntax error: OFFSET before LIMIT; MySQL reads LIMIT n OFFSET m (or LIMIT m, n)",
                            ));
                        }
                    }
                    if let Some(l) = limit {
                        self.expr(l)?;
                    }
                    if let Some(Offset { value, .. }) = offset {
                        self.expr(value)?;
                    }
                }
                Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                    self.expr(offset)?;
                    self.expr(limit)?;
                }
            }
            if let Some(f) = fetch {
                if let Some(q) = &mut f.quantity {
                    self.expr(q)?;
                }
            }
            Ok(())
        })();
        self.ctes.pop();
        self.pushdown.pop();
        self.locking = outer_locking;
        result
    }

    pub(crate) fn order_by_exprs(&mut self, exprs: &mut [OrderByExpr]) -> Result<(), Denial> {
        for o in exprs {
            if o.with_fill.is_some() {
                return Err(construct("ORDER BY … WITH FILL"));
            }
            self.expr(&mut o.expr)?;
        }
        Ok(())
    }

    fn set_expr(&mut self, body: &mut SetExpr) -> Result<(), Denial> {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation {
                left, op, right, ..
            } => {
                match op {
                    SetOperator::Union | SetOperator::Except | SetOperator::Intersect => {}
                    SetOperator::Minus => return Err(construct("MINUS")),
                }
                self.set_expr(left)?;
                self.set_expr(right)
            }
            SetExpr::Values(Values { rows, .. }) => {
                for row in rows.iter_mut() {
                    for e in row.iter_mut() {
                        self.expr(e)?;
                    }
                }
                Ok(())
            }
            // Data-modifying CTEs (`WITH d AS (DELETE … RETURNING …)`) are checked as the
            // writes they are.
            SetExpr::Insert(stmt) | SetExpr::Update(stmt) | SetExpr::Delete(stmt) => {
                if self.scope.dialect != Dialect::PostgreSql {
                    return Err(construct("a write inside a query"));
                }
                self.write_statement(stmt).map(|_| ())
            }
            SetExpr::Merge(_) => Err(Denial::new(
                Rule::StatementNotAllowed,
                "MERGE is not allowed through Sluice; use INSERT or UPDATE",
            )),
            SetExpr::Table(_) => Err(construct("TABLE t (write SELECT * FROM t)")),
        }
    }

    fn select(&mut self, s: &mut Select) -> Result<(), Denial> {
        if self.provably_empty(s) {
            let mut typed = super::catalog::typed_parameters(s);
            for cast in typed.iter_mut() {
                self.expr(cast)?;
            }
            *s = super::catalog::empty_select(&s.projection, typed)?;
            return Ok(());
        }
        let Select {
            select_token: _,
            optimizer_hints,
            distinct,
            select_modifiers,
            top,
            top_before_distinct: _,
            projection,
            exclude,
            into,
            from,
            lateral_views,
            prewhere,
            selection,
            connect_by,
            group_by,
            cluster_by,
            distribute_by,
            sort_by,
            having,
            named_window,
            qualify,
            window_before_qualify: _,
            value_table_mode,
            flavor,
        } = s;
        if into.is_some() {
            return Err(Denial::new(
                Rule::StatementNotAllowed,
                "SELECT … INTO is not allowed through Sluice (it creates tables or writes files)",
            ));
        }
        if !optimizer_hints.is_empty() {
            return Err(construct("optimizer hints (/*+ … */)"));
        }
        if select_modifiers.is_some() {
            return Err(construct(
                "SELECT modifiers (HIGH_PRIORITY, SQL_CALC_FOUND_ROWS, …)",
            ));
        }
        if top.is_some()
            || exclude.is_some()
            || !lateral_views.is_empty()
            || prewhere.is_some()
            || !connect_by.is_empty()
            || !cluster_by.is_empty()
            || !distribute_by.is_empty()
            || !sort_by.is_empty()
            || qualify.is_some()
            || value_table_mode.is_some()
            || !matches!(flavor, SelectFlavor::Standard)
        {
            return Err(construct("this SELECT clause"));
        }
        let frame = if self.barrier {
            self.pushdown_plan(from, selection)
        } else {
            std::collections::BTreeMap::new()
        };
        self.pushdown.push(frame);
        let walked = from
            .iter_mut()
            .try_for_each(|twj| self.table_with_joins(twj));
        self.pushdown.pop();
        walked?;
        match distinct {
            None | Some(Distinct::Distinct) | Some(Distinct::All) => {}
            Some(Distinct::On(exprs)) => {
                for e in exprs {
                    self.expr(e)?;
                }
            }
        }
        for item in projection.iter_mut() {
            self.select_item(item)?;
        }
        if let Some(w) = selection {
            self.expr(w)?;
        }
        match group_by {
            GroupByExpr::All(_) => {}
            GroupByExpr::Expressions(exprs, modifiers) => {
                for e in exprs {
                    self.expr(e)?;
                }
                for m in modifiers {
                    match m {
                        GroupByWithModifier::Rollup | GroupByWithModifier::Cube => {}
                        GroupByWithModifier::GroupingSets(e) => self.expr(e)?,
                        GroupByWithModifier::Totals => return Err(construct("WITH TOTALS")),
                    }
                }
            }
        }
        if let Some(h) = having {
            self.expr(h)?;
        }
        for NamedWindowDefinition(name, def) in named_window.iter_mut() {
            check_ident(name)?;
            match def {
                NamedWindowExpr::NamedWindow(i) => check_ident(i)?,
                NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec)?,
            }
        }
        Ok(())
    }

    pub(crate) fn select_item(&mut self, item: &mut SelectItem) -> Result<(), Denial> {
        // A cast to an OID alias type (or a lookup by name) is answered as an OID; in a column
        // of the statement's own result, shown to the client, it is the object's name, as text
        // (`engine/catalog.rs`). Deeper (a subquery, a CTE) it stays an OID.
        let shown = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
                if self.ctes.len() == 1 =>
            {
                super::catalog::display_alias(self.scope.dialect, e)
            }
            _ => None,
        };
        if let (Some(alias), SelectItem::UnnamedExpr(e)) = (shown, &*item) {
            // PostgreSQL names such a column after the type or the function.
            let name = match e {
                Expr::Function(f) => f.name.0.last().map(|p| p.to_string()).unwrap_or_default(),
                _ => alias.to_string(),
            };
            *item = SelectItem::ExprWithAlias {
                expr: e.clone(),
                alias: Ident::with_quote('"', name),
            };
        }
        match item {
            SelectItem::UnnamedExpr(e) => self.expr(e),
            SelectItem::ExprWithAlias { expr, alias } => {
                check_name(alias)?;
                self.expr(expr)?;
                if let Some(alias) = shown {
                    let oid = std::mem::replace(
                        expr,
                        Expr::Value(sqlparser::ast::Value::Null.with_empty_span()),
                    );
                    *expr = super::catalog::display_name(oid, alias)?;
                }
                Ok(())
            }
            SelectItem::Wildcard(opts) => self.plain_wildcard(opts),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), opts) => {
                self.guard_wildcard(n)?;
                self.plain_wildcard(opts)
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(_), _)
            | SelectItem::ExprWithAliases { .. } => Err(construct("this select item")),
        }
    }

    fn plain_wildcard(&self, opts: &WildcardAdditionalOptions) -> Result<(), Denial> {
        let WildcardAdditionalOptions {
            wildcard_token: _,
            opt_ilike,
            opt_exclude,
            opt_except,
            opt_replace,
            opt_rename,
            opt_alias,
        } = opts;
        if opt_ilike.is_some()
            || opt_exclude.is_some()
            || opt_except.is_some()
            || opt_replace.is_some()
            || opt_rename.is_some()
            || opt_alias.is_some()
        {
            return Err(construct("* with ILIKE/EXCLUDE/EXCEPT/REPLACE/RENAME"));
        }
        Ok(())
    }

    pub(crate) fn table_with_joins(&mut self, twj: &mut TableWithJoins) -> Result<(), Denial> {
        self.table_factor(&mut twj.relation)?;
        for join in twj.joins.iter_mut() {
            self.join(join)?;
        }
        Ok(())
    }

    pub(crate) fn join(&mut self, join: &mut Join) -> Result<(), Denial> {
        if join.global {
            return Err(construct("GLOBAL JOIN"));
        }
        self.table_factor(&mut join.relation)?;
        let Some(constraint) = join_constraint(&mut join.join_operator) else {
            return Err(construct("this kind of join"));
        };
        match constraint {
            JoinConstraint::On(e) => self.expr(e),
            // USING (c) reads column c of both sides, the target of a write included.
            JoinConstraint::Using(cols) => {
                for c in cols {
                    match self.parts(c)?.as_slice() {
                        [col] => self.guard_column(None, col)?,
                        _ => return Err(construct(format!("USING ({c})"))),
                    }
                }
                Ok(())
            }
            // NATURAL joins on every column the two sides share, hidden ones included.
            JoinConstraint::Natural => match &self.guard {
                Some(g) if g.readable != ColumnSet::All => Err(Denial::new(
                    Rule::ColumnNotGranted,
                    format!(
                        "NATURAL JOIN in a write on {} could compare columns role {} may not read; use ON",
                        g.table,
                        self.role().name
                    ),
                )),
                _ => Ok(()),
            },
            JoinConstraint::None => Ok(()),
            JoinConstraint::UsingAlias(..) => Err(construct("USING … AS")),
        }
    }

    pub(crate) fn table_factor(&mut self, tf: &mut TableFactor) -> Result<(), Denial> {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_directives: _,
                inheritance,
            } => {
                if let Some(table_args) = args {
                    // A few set-returning functions whose rows come from their arguments alone.
                    let known = match name.0.as_slice() {
                        [ObjectNamePart::Identifier(f)] => Some(f),
                        [ObjectNamePart::Identifier(s), ObjectNamePart::Identifier(f)]
                            if self.norm(s) == "pg_catalog" =>
                        {
                            Some(f)
                        }
                        _ => None,
                    }
                    .filter(|f| {
                        self.scope.dialect == Dialect::PostgreSql
                            && (["unnest", "current_schema", "current_schemas"]
                                .contains(&self.norm(f).as_str())
                                || (self.norm(f) == "generate_series"
                                    && short_literal_series(&table_args.args)))
                    });
                    if known.is_none() || table_args.settings.is_some() {
                        return Err(Denial::new(
                            Rule::FunctionNotAllowed,
                            format!("table function {name}(…) is not allowed through Sluice"),
                        ));
                    }
                    if let Some(a) = alias.as_ref() {
                        check_alias(a)?;
                    }
                    for a in table_args.args.iter_mut() {
                        match a {
                            sqlparser::ast::FunctionArg::Unnamed(
                                sqlparser::ast::FunctionArgExpr::Expr(e),
                            ) => self.expr(e)?,
                            _ => return Err(construct(format!("this call of {name}"))),
                        }
                    }
                    if !with_hints.is_empty()
                        || version.is_some()
                        || !partitions.is_empty()
                        || json_path.is_some()
                        || sample.is_some()
                        || inheritance.is_some()
                    {
                        return Err(construct(format!("this form of table reference ({name})")));
                    }
                    return Ok(());
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || inheritance.is_some()
                {
                    return Err(construct(format!("this form of table reference ({name})")));
                }
                if let Some(a) = alias.as_ref() {
                    check_alias(a)?;
                }
                if self.is_cte(name) || self.is_dual(name, alias.as_ref()) {
                    return Ok(());
                }
                if let Some(source) = self.catalog_source(name) {
                    if self.locking {
                        return Err(Denial::new(
                            Rule::StatementNotAllowed,
                            format!("{name} is a catalog: it cannot be locked FOR UPDATE/SHARE"),
                        ));
                    }
                    let alias = match (alias.take(), name.0.last()) {
                        (Some(a), _) => a,
                        (None, Some(ObjectNamePart::Identifier(i))) => TableAlias {
                            explicit: true,
                            name: i.clone(),
                            columns: vec![],
                            at: None,
                        },
                        (None, _) => return Err(construct(format!("the name {name}"))),
                    };
                    *tf = TableFactor::Derived {
                        lateral: false,
                        subquery: Box::new(source?),
                        alias: Some(alias),
                        sample: None,
                    };
                    return Ok(());
                }
                let resolved = self.resolve_table(name)?;
                self.require(&resolved.key, Operation::Select)?;
                if self.locking {
                    self.require(&resolved.key, Operation::Update)?;
                }
                let alias = alias.take().unwrap_or_else(|| implicit_alias(&resolved));
                let reference = self.norm(&alias.name);
                let mut pushed = match self.pushdown.last_mut() {
                    Some(frame) if self.barrier => frame.remove(&reference).unwrap_or_default(),
                    _ => Vec::new(),
                };
                for conjunct in pushed.iter_mut() {
                    self.expr(conjunct)?;
                    unqualify(conjunct);
                }
                let grant = &self.role().tables[&resolved.key];
                *tf = match self.confined_source(&resolved, grant, pushed)? {
                    Some(subquery) => TableFactor::Derived {
                        lateral: false,
                        subquery: Box::new(subquery),
                        alias: Some(alias),
                        sample: None,
                    },
                    None => plain_table(resolved.rendered, Some(alias)),
                };
                Ok(())
            }
            TableFactor::Derived {
                lateral: _,
                subquery,
                alias,
                sample,
            } => {
                if sample.is_some() {
                    return Err(construct("TABLESAMPLE"));
                }
                if let Some(a) = alias {
                    check_alias(a)?;
                }
                self.query(subquery)
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if let Some(a) = alias {
                    check_alias(a)?;
                }
                self.table_with_joins(table_with_joins)
            }
            TableFactor::Function { name, .. } => Err(Denial::new(
                Rule::FunctionNotAllowed,
                format!("table function {name}(…) is not allowed through Sluice"),
            )),
            // PostgreSQL's `unnest(a) WITH ORDINALITY AS t (x, n)` (Django's constraint
            // introspection): rows from its arguments alone, as the table function form above.
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: _,
            } if self.scope.dialect == Dialect::PostgreSql => {
                if let Some(a) = alias {
                    check_alias(a)?;
                }
                self.exprs(array_exprs)
            }
            TableFactor::TableFunction { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::JsonTable { .. }
            | TableFactor::OpenJsonTable { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. }
            | TableFactor::UnpivotExpr { .. }
            | TableFactor::MatchRecognize { .. }
            | TableFactor::XmlTable { .. }
            | TableFactor::SemanticView { .. } => Err(construct(
                "this kind of FROM item (table functions, UNNEST, PIVOT, …)",
            )),
        }
    }

    /// The derived table that stands for `table` in this role's reads, or `None` when the role
    /// sees the whole table (every row, every column).
    ///
    /// Under a barrier (the statement holds an expression not proven leakproof) the derived
    /// table is fenced, so that the planner neither merges it into the query around it nor
    /// pushes that query's conditions into it: PostgreSQL does neither for a subquery with
    /// OFFSET (`is_simple_subquery`, `subquery_is_pushdown_safe`), MariaDB and MySQL
    /// materialize a derived table with LIMIT and push no condition into it. Only the role's
    /// filters and the `pushed` conjuncts (proven leakproof, reading only this table's visible
    /// columns) run on the table's rows; everything else the client wrote runs on the rows the
    /// fence lets out.
    pub(crate) fn confined_source(
        &self,
        table: &ResolvedTable,
        grant: &TableGrant,
        pushed: Vec<Expr>,
    ) -> Result<Option<Query>, Denial> {
        let columns = grant.columns_for(Operation::Select);
        if columns == ColumnSet::All && grant.filters.is_empty() {
            debug_assert!(
                pushed.is_empty(),
                "conjuncts are pushed only into confined tables"
            );
            return Ok(None);
        }
        let projection = match &columns {
            ColumnSet::All => vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())],
            ColumnSet::Only(cols) => cols
                .iter()
                .map(|c| SelectItem::UnnamedExpr(Expr::Identifier(self.quoted(c))))
                .collect(),
        };
        let mut selection = self.bound_filters(table, grant)?;
        for conjunct in pushed {
            selection = Some(and(selection, Expr::Nested(Box::new(conjunct))));
        }
        let mut query = simple_query(
            projection,
            vec![TableWithJoins {
                relation: plain_table(table.rendered.clone(), None),
                joins: vec![],
            }],
            selection,
        );
        if self.barrier {
            query.limit_clause = Some(fence(self.scope.dialect));
        }
        Ok(Some(query))
    }

    /// Which of a SELECT's WHERE conjuncts move into the fenced derived table of a FROM item:
    /// those proven leakproof that read only that item's visible columns, when the item is not
    /// on the nullable side of an outer join (there a condition on its rows means something
    /// else inside the join than above it). Moved conjuncts are taken out of `selection`.
    fn pushdown_plan(
        &self,
        from: &[TableWithJoins],
        selection: &mut Option<Expr>,
    ) -> std::collections::BTreeMap<String, Vec<Expr>> {
        let mut frame = std::collections::BTreeMap::new();
        let Some(proof) = &self.proof else {
            return frame;
        };
        if selection.is_none() {
            return frame;
        }
        let mut eligible: std::collections::BTreeMap<String, (ResolvedTable, ColumnSet)> =
            std::collections::BTreeMap::new();
        for twj in from {
            let outer_after = |k: usize| {
                twj.joins[k..].iter().any(|j| {
                    matches!(
                        j.join_operator,
                        JoinOperator::Right(_)
                            | JoinOperator::RightOuter(_)
                            | JoinOperator::FullOuter(_)
                    )
                })
            };
            if !outer_after(0) {
                self.pushdown_target(&twj.relation, &mut eligible);
            }
            for (k, j) in twj.joins.iter().enumerate() {
                let inner = matches!(
                    j.join_operator,
                    JoinOperator::Join(_)
                        | JoinOperator::Inner(_)
                        | JoinOperator::CrossJoin(_)
                        | JoinOperator::StraightJoin(_)
                );
                if inner && !outer_after(k + 1) {
                    self.pushdown_target(&j.relation, &mut eligible);
                }
            }
        }
        if eligible.is_empty() {
            return frame;
        }
        let only = (from.len() == 1 && from[0].joins.is_empty())
            .then(|| eligible.keys().next().cloned())
            .flatten();
        let mut kept = Vec::new();
        for conjunct in conjuncts(selection.take().expect("checked above")) {
            // A MySQL `?` may move: the rendering says which parameter each `?` takes.
            let target = proof
                .condition(&conjunct)
                .then(|| self.sole_reference(&conjunct, only.as_deref(), &eligible))
                .flatten();
            match target {
                Some(reference) => frame
                    .entry(reference)
                    .or_insert_with(Vec::new)
                    .push(conjunct),
                None => kept.push(conjunct),
            }
        }
        *selection = kept.into_iter().fold(None, |acc, c| Some(and(acc, c)));
        frame
    }

    fn pushdown_target(
        &self,
        tf: &TableFactor,
        eligible: &mut std::collections::BTreeMap<String, (ResolvedTable, ColumnSet)>,
    ) {
        let TableFactor::Table {
            name, alias, args, ..
        } = tf
        else {
            return;
        };
        if args.is_some()
            || alias.as_ref().is_some_and(|a| !a.columns.is_empty())
            || self.is_cte(name)
            || self.is_dual(name, alias.as_ref())
        {
            return;
        }
        let Ok(resolved) = self.resolve_table(name) else {
            return;
        };
        let Some(grant) = self.role().tables.get(&resolved.key) else {
            return;
        };
        let columns = grant.columns_for(Operation::Select);
        if columns == ColumnSet::All && grant.filters.is_empty() {
            return;
        }
        let reference = match alias {
            Some(a) => self.norm(&a.name),
            None => self.norm(&resolved.bare),
        };
        eligible.insert(reference, (resolved, columns));
    }

    /// The one FROM item every column of `e` belongs to, if each column is visible there.
    fn sole_reference(
        &self,
        e: &Expr,
        only: Option<&str>,
        eligible: &std::collections::BTreeMap<String, (ResolvedTable, ColumnSet)>,
    ) -> Option<String> {
        let mut found: Option<String> = None;
        let mut ok = true;
        let _ = sqlparser::ast::visit_expressions(e, |x| {
            let (reference, column) = match x {
                Expr::Identifier(c) => (only.map(str::to_string), c),
                Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                    [q, c] => (Some(self.norm(q)), c),
                    _ => (None, &parts[0]),
                },
                _ => return std::ops::ControlFlow::Continue(()),
            };
            let visible = reference
                .as_ref()
                .and_then(|r| eligible.get(r))
                .is_some_and(|(t, cols)| self.visible_column(t, cols, column));
            match (&found, reference) {
                (_, Some(r)) if visible && found.as_ref().is_none_or(|f| *f == r) => {
                    found = Some(r)
                }
                _ => {
                    ok = false;
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        found.filter(|_| ok)
    }

    /// Whether `column` names a column of `t` the role may read (a column the backend's
    /// schema holds, when the role reads every column).
    fn visible_column(&self, t: &ResolvedTable, cols: &ColumnSet, column: &Ident) -> bool {
        match cols {
            ColumnSet::Only(cols) => cols.iter().any(|c| self.column_is(c, column)),
            ColumnSet::All => t
                .qualified()
                .and_then(|key| self.scope.schema.table(&key))
                .and_then(|s| s.column(&self.norm(column)))
                .is_some(),
        }
    }

    /// The role's filters on a table, bound to the token's claims and AND-ed, each in
    /// parentheses so no operator precedence can join them to anything else.
    pub(crate) fn bound_filters(
        &self,
        table: &ResolvedTable,
        grant: &TableGrant,
    ) -> Result<Option<Expr>, Denial> {
        let mut out: Option<Expr> = None;
        let schema = table.qualified().and_then(|k| self.scope.schema.table(&k));
        for f in &grant.filters {
            let e = f
                .bind(self.scope.dialect, self.scope.claims)
                .map_err(|e| Denial::new(Rule::ClaimInvalid, e.to_string()))?;
            if let (Dialect::MySql, Some(schema)) = (self.scope.dialect, schema) {
                let class = |c: &Ident| schema.column(&c.value).map(|c| c.class);
                if let Some((column, constant)) = super::leakproof::filter_conversion(&e, class) {
                    return Err(Denial::new(
                        Rule::ClaimInvalid,
                        format!(
                            "the role's filter on {} compares {column} with {constant}, which MySQL converts on every row it reads, other tenants' too (a warning per row, which the client sees); make both sides the same kind in the role file or the token's claims (quote a number compared with a text column)",
                            table.key
                        ),
                    ));
                }
            }
            let e = Expr::Nested(Box::new(e));
            out = Some(match out {
                None => e,
                Some(prev) => Expr::BinaryOp {
                    left: Box::new(prev),
                    op: sqlparser::ast::BinaryOperator::And,
                    right: Box::new(e),
                },
            });
        }
        Ok(out)
    }
}

/// The constraint of a join the engine understands (inner, outer, cross, straight), or `None`
/// for every other kind, listed so that a new sqlparser variant is a decision, not a default.
pub(crate) fn join_constraint(op: &mut JoinOperator) -> Option<&mut JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        JoinOperator::Semi(_)
        | JoinOperator::LeftSemi(_)
        | JoinOperator::RightSemi(_)
        | JoinOperator::Anti(_)
        | JoinOperator::LeftAnti(_)
        | JoinOperator::RightAnti(_)
        | JoinOperator::CrossApply
        | JoinOperator::OuterApply
        | JoinOperator::AsOf { .. }
        | JoinOperator::ArrayJoin
        | JoinOperator::LeftArrayJoin
        | JoinOperator::InnerArrayJoin => None,
    }
}

/// The fence of a confined derived table: PostgreSQL `OFFSET 0`, MySQL/MariaDB a LIMIT no
/// table reaches (its largest value).
fn fence(dialect: Dialect) -> LimitClause {
    let number = |n: &str| {
        Expr::Value(sqlparser::ast::Value::Number(n.to_string(), false).with_empty_span())
    };
    match dialect {
        Dialect::PostgreSql => LimitClause::LimitOffset {
            limit: None,
            offset: Some(Offset {
                value: number("0"),
                rows: sqlparser::ast::OffsetRows::None,
            }),
            limit_by: vec![],
        },
        Dialect::MySql => LimitClause::LimitOffset {
            limit: Some(number("18446744073709551615")),
            offset: None,
            limit_by: vec![],
        },
    }
}

pub(crate) fn and(left: Option<Expr>, right: Expr) -> Expr {
    match left {
        None => right,
        Some(l) => Expr::BinaryOp {
            left: Box::new(l),
            op: sqlparser::ast::BinaryOperator::And,
            right: Box::new(right),
        },
    }
}

/// The top-level AND-ed parts of a condition (parentheses around a whole AND opened).
pub(crate) fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            let mut v = conjuncts(*left);
            v.extend(conjuncts(*right));
            v
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: sqlparser::ast::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner)
        }
        other => vec![other],
    }
}

/// `c.col` → `col`: a pushed conjunct reads the one table of its derived table.
fn unqualify(e: &mut Expr) {
    let _ = sqlparser::ast::visit_expressions_mut(e, |x| {
        if let Expr::CompoundIdentifier(parts) = x {
            if let Some(last) = parts.pop() {
                *x = Expr::Identifier(last);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

fn check_alias(a: &TableAlias) -> Result<(), Denial> {
    check_name(&a.name)?;
    for c in &a.columns {
        check_ident(&c.name)?;
    }
    Ok(())
}

fn implicit_alias(t: &ResolvedTable) -> TableAlias {
    TableAlias {
        explicit: true,
        name: Ident {
            value: t.bare.value.clone(),
            quote_style: t.bare.quote_style,
            span: Span::empty(),
        },
        columns: vec![],
        at: None,
    }
}

pub(crate) fn plain_table(name: ObjectName, alias: Option<TableAlias>) -> TableFactor {
    TableFactor::Table {
        name,
        alias,
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_directives: vec![],
        inheritance: None,
    }
}

pub(crate) fn simple_query(
    projection: Vec<SelectItem>,
    from: Vec<TableWithJoins>,
    selection: Option<Expr>,
) -> Query {
    let select = Select {
        select_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        optimizer_hints: vec![],
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection,
        exclude: None,
        into: None,
        from,
        lateral_views: vec![],
        prewhere: None,
        selection,
        connect_by: vec![],
        group_by: GroupByExpr::Expressions(vec![], vec![]),
        cluster_by: vec![],
        distribute_by: vec![],
        sort_by: vec![],
        having: None,
        named_window: vec![],
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    };
    Query {
        with: None,
        body: Box::new(SetExpr::Select(Box::new(select))),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }
}

/// The most rows a `generate_series` of literal bounds may make in a FROM list.
const MAX_LITERAL_SERIES: i64 = 1024;

/// `generate_series(<int>, <int>)` with at most [`MAX_LITERAL_SERIES`] rows: PgJDBC's
/// `generate_series(1, 32) pos(n)` over index key positions (getImportedKeys). Its size is in
/// the statement, unlike a series whose bounds the backend computes (which stays denied: one
/// cheap call could make it allocate without limit).
fn short_literal_series(args: &[sqlparser::ast::FunctionArg]) -> bool {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr};
    let bound = |a: &FunctionArg| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => match &v.value {
            sqlparser::ast::Value::Number(n, false) => n.parse::<i64>().ok(),
            _ => None,
        },
        _ => None,
    };
    match args {
        [start, end] => matches!(
            (bound(start), bound(end)),
            (Some(a), Some(b)) if b.saturating_sub(a) < MAX_LITERAL_SERIES
        ),
        _ => false,
    }
}
