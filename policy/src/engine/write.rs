//! INSERT, UPDATE and DELETE.
//!
//! The target of a write cannot be replaced by a derived table, so it is confined in place:
//! UPDATE and DELETE get the role's filters AND-ed (in parentheses, qualified with the target)
//! into WHERE; SET columns must be in the role's UPDATE columns, and columns a filter reads
//! cannot be changed except to the token's own value; INSERT columns must be in the INSERT
//! columns, and columns a filter pins to a claim are filled with the claim or must equal it.
//! Every column a write reads from its target (WHERE, SET values, RETURNING) must be readable.
//! Reads from other tables (FROM, USING, subqueries, INSERT … SELECT) are confined as reads.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sluice_tokens::ClaimValue;
use sqlparser::ast::{
    visit_expressions_mut, Assignment, AssignmentTarget, BinaryOperator, CastKind, ConflictTarget,
    DataType, Delete, DoUpdate, Expr, FromTable, Ident, Insert, ObjectName, OnConflict,
    OnConflictAction, OnInsert, SelectItem, SetExpr, Statement, TableAlias, TableFactor,
    TableObject, Update, UpdateTableFromKind, Value,
};

use super::expr::ColumnGuard;
use super::names::ResolvedTable;
use super::query::{and, conjuncts};
use super::render::{check_ident, check_name};
use super::{construct, Checker};
use crate::decision::{Denial, Rule, StatementKind};
use crate::roles::{claim_literal, ColumnSet, Operation, TableGrant};
use crate::schema::TypeClass;

impl Checker<'_> {
    pub(crate) fn write_statement(
        &mut self,
        stmt: &mut Statement,
    ) -> Result<StatementKind, Denial> {
        match stmt {
            Statement::Insert(i) => self.insert(i).map(|()| StatementKind::Insert),
            Statement::Update(u) => self.update(u).map(|()| StatementKind::Update),
            Statement::Delete(d) => self.delete(d).map(|()| StatementKind::Delete),
            other => Err(construct(format!("the statement {other}"))),
        }
    }

    fn write_target(&mut self, name: &ObjectName, op: Operation) -> Result<ResolvedTable, Denial> {
        if self.is_cte(name) {
            return Err(construct(format!("{op} on the CTE {name}")));
        }
        let resolved = self.resolve_table(name)?;
        self.require(&resolved.key, op)?;
        Ok(resolved)
    }

    fn grant(&self, t: &ResolvedTable) -> &TableGrant {
        &self.scope.role.tables[&t.key]
    }

    /// What a write may read of its target.
    fn readable(&self, t: &ResolvedTable) -> ColumnSet {
        if self.scope.role.permits(&t.key, Operation::Select) {
            self.grant(t).columns_for(Operation::Select)
        } else {
            ColumnSet::Only(Vec::new())
        }
    }

    fn with_guard<T>(
        &mut self,
        guard: ColumnGuard,
        f: impl FnOnce(&mut Self) -> Result<T, Denial>,
    ) -> Result<T, Denial> {
        let outer = self.guard.replace(guard);
        let r = f(self);
        self.guard = outer;
        r
    }

    fn guard_for(&self, t: &ResolvedTable, qualifier: &Ident) -> ColumnGuard {
        // Besides its own name, a write's target row is `old` and `new` in RETURNING
        // (PostgreSQL 18), and the proposed row is `excluded` in ON CONFLICT DO UPDATE (it holds
        // defaults and trigger-set values of columns the role may not read).
        let mut qualifiers = vec![self.norm(qualifier)];
        if self.scope.dialect == crate::Dialect::PostgreSql {
            qualifiers.extend(["old", "new", "excluded"].map(str::to_string));
        }
        ColumnGuard {
            table: t.key.clone(),
            qualifiers,
            readable: self.readable(t),
        }
    }

    fn returning(&mut self, t: &ResolvedTable, items: &mut [SelectItem]) -> Result<(), Denial> {
        for item in items.iter_mut() {
            let star = matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            );
            if star && self.readable(t) != ColumnSet::All {
                return Err(Denial::new(
                    Rule::ColumnNotGranted,
                    format!(
                        "RETURNING * would return columns of {} that role {} may not read; name the columns",
                        t.key, self.scope.role.name
                    ),
                ));
            }
            self.select_item(item)?;
        }
        Ok(())
    }

    /// Checks the SET list of an UPDATE (or ON CONFLICT / ON DUPLICATE KEY UPDATE).
    fn assignments(
        &mut self,
        t: &ResolvedTable,
        qualifier: &Ident,
        assignments: &mut [Assignment],
    ) -> Result<(), Denial> {
        let grant = self.grant(t);
        let updatable = grant.columns_for(Operation::Update);
        let filtered: BTreeSet<String> = grant
            .filters
            .iter()
            .flat_map(|f| f.columns().iter().cloned())
            .collect();
        let pins = pins(grant);
        for a in assignments.iter_mut() {
            let targets: Vec<&ObjectName> = match &a.target {
                AssignmentTarget::ColumnName(n) => vec![n],
                AssignmentTarget::Tuple(ns) => ns.iter().collect(),
            };
            for target in targets {
                let column = self.assigned_column(target, qualifier)?;
                let allowed = match &updatable {
                    ColumnSet::All => true,
                    ColumnSet::Only(cols) => cols.iter().any(|c| self.column_is(c, &column)),
                };
                if !allowed {
                    return Err(Denial::new(
                        Rule::ColumnNotGranted,
                        format!(
                            "role {} may not UPDATE column {} of {}",
                            self.scope.role.name, column.value, t.key
                        ),
                    ));
                }
                if filtered.iter().any(|c| Self::column_may_be(c, &column)) {
                    let pinned_to = pins
                        .iter()
                        .find(|(c, _)| self.column_is(c, &column))
                        .and_then(|(_, claim)| self.scope.claims.get(claim));
                    let same = match (&a.target, pinned_to) {
                        (AssignmentTarget::ColumnName(_), Some(v)) => {
                            let class = self.column_class(t, &column.value);
                            match pinned_value(&a.value, &v, class, self.scope.dialect) {
                                Pinned::Literal => true,
                                Pinned::Parameter(i) => {
                                    self.pin(i, t, &column.value, &v);
                                    true
                                }
                                Pinned::Other => false,
                            }
                        }
                        _ => false,
                    };
                    if !same {
                        return Err(Denial::new(
                            Rule::WriteNotConfinable,
                            format!(
                                "column {} of {} is read by the role's row filter; changing it could move rows out of the role's scope",
                                column.value, t.key
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn assigned_column(&self, target: &ObjectName, qualifier: &Ident) -> Result<Ident, Denial> {
        let parts = self.parts(target)?;
        match parts.as_slice() {
            [c] => Ok((*c).clone()),
            [q, c] if self.norm(q) == self.norm(qualifier) => Ok((*c).clone()),
            _ => Err(construct(format!("assigning to {target}"))),
        }
    }

    fn update(&mut self, u: &mut Update) -> Result<(), Denial> {
        let Update {
            update_token: _,
            optimizer_hints,
            table,
            on_cluster,
            assignments,
            from,
            selection,
            returning,
            output,
            or,
            order_by,
            limit,
            settings,
        } = u;
        if !optimizer_hints.is_empty()
            || on_cluster.is_some()
            || output.is_some()
            || or.is_some()
            || settings.is_some()
        {
            return Err(construct("this form of UPDATE"));
        }
        // MySQL's multi-table UPDATE (`UPDATE t JOIN u ON … SET t.c = …`): the first table is
        // the target, the joined ones are reads (confined as such), and every SET column must
        // be qualified with the target so that no joined table is written.
        let multi_table = !table.joins.is_empty();
        if multi_table && self.scope.dialect != crate::Dialect::MySql {
            return Err(construct("multi-table UPDATE"));
        }
        let (name, alias) = single_target(&mut table.relation, "UPDATE")?;
        let t = self.write_target(name, Operation::Update)?;
        let qualifier = alias
            .as_ref()
            .map_or_else(|| t.bare.clone(), |a| a.name.clone());
        if multi_table {
            for a in assignments.iter() {
                let targets: Vec<&ObjectName> = match &a.target {
                    AssignmentTarget::ColumnName(n) => vec![n],
                    AssignmentTarget::Tuple(ns) => ns.iter().collect(),
                };
                for n in targets {
                    let parts = self.parts(n)?;
                    let qualified =
                        matches!(parts.as_slice(), [q, _] if self.norm(q) == self.norm(&qualifier));
                    if !qualified {
                        return Err(construct(format!(
                            "SET {n} in a multi-table UPDATE (qualify it with {qualifier})"
                        )));
                    }
                }
            }
        }
        if let Some(UpdateTableFromKind::BeforeSet(_)) = from {
            return Err(construct("UPDATE FROM … SET"));
        }
        self.assignments(&t, &qualifier, assignments)?;
        let guard = self.guard_for(&t, &qualifier);
        // Joined and FROM tables are walked under the guard too: their ON conditions and
        // LATERAL subqueries can name the target.
        self.with_guard(guard, |c| {
            for j in table.joins.iter_mut() {
                c.join(j)?;
            }
            if let Some(UpdateTableFromKind::AfterSet(tables)) = from.as_mut() {
                for twj in tables.iter_mut() {
                    c.table_with_joins(twj)?;
                }
            }
            for a in assignments.iter_mut() {
                c.expr(&mut a.value)?;
            }
            c.target_reads(&t, selection, returning, order_by, limit)
        })?;
        self.check_assigned_references(&t, &qualifier, assignments)?;
        self.guard_joins(&t, &qualifier, &mut table.joins)?;
        self.confine_where(&t, &qualifier, selection)?;
        *name = t.rendered.clone();
        Ok(())
    }

    fn delete(&mut self, d: &mut Delete) -> Result<(), Denial> {
        let Delete {
            delete_token: _,
            optimizer_hints,
            tables,
            from,
            on_cluster,
            using,
            selection,
            returning,
            output,
            order_by,
            limit,
            settings,
        } = d;
        if !optimizer_hints.is_empty()
            || !tables.is_empty()
            || on_cluster.is_some()
            || output.is_some()
            || settings.is_some()
        {
            return Err(construct("this form of DELETE (multi-table or with hints)"));
        }
        let targets = match from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
        };
        let [target] = targets.as_mut_slice() else {
            return Err(construct("DELETE from several tables"));
        };
        if !target.joins.is_empty() {
            return Err(construct("multi-table DELETE"));
        }
        let (name, alias) = single_target(&mut target.relation, "DELETE")?;
        let t = self.write_target(name, Operation::Delete)?;
        let qualifier = alias
            .as_ref()
            .map_or_else(|| t.bare.clone(), |a| a.name.clone());
        if using.is_some() && self.scope.dialect == crate::Dialect::MySql {
            // In MySQL's DELETE … USING the target names an entry of USING, which may be an
            // alias of another table.
            return Err(construct(
                "DELETE … USING (write DELETE … WHERE … IN (SELECT …))",
            ));
        }
        let guard = self.guard_for(&t, &qualifier);
        self.with_guard(guard, |c| {
            if let Some(tables) = using.as_mut() {
                for twj in tables.iter_mut() {
                    c.table_with_joins(twj)?;
                }
            }
            c.target_reads(&t, selection, returning, order_by, limit)
        })?;
        self.confine_where(&t, &qualifier, selection)?;
        *name = t.rendered.clone();
        Ok(())
    }

    /// The clauses of an UPDATE or DELETE that read its target (walked under the guard).
    fn target_reads(
        &mut self,
        t: &ResolvedTable,
        selection: &mut Option<Expr>,
        returning: &mut Option<Vec<SelectItem>>,
        order_by: &mut [sqlparser::ast::OrderByExpr],
        limit: &mut Option<Expr>,
    ) -> Result<(), Denial> {
        if let Some(w) = selection.as_mut() {
            self.expr(w)?;
        }
        if let Some(items) = returning.as_mut() {
            self.returning(t, items)?;
        }
        self.order_by_exprs(order_by)?;
        if let Some(l) = limit.as_mut() {
            self.expr(l)?;
        }
        Ok(())
    }

    /// `WHERE <user's condition>` becomes `WHERE (filter) AND (<user's condition>)`.
    ///
    /// The target of a write cannot be fenced, and the database evaluates the conjuncts of a
    /// WHERE in an order of its own. Under a barrier (the statement holds an expression not
    /// proven leakproof) the user's conjuncts that are not proven leakproof run behind a guard
    /// whose order both engines keep: `(filter) AND <leakproof parts> AND CASE WHEN (filter)
    /// THEN (<the rest>) END`, so they are never evaluated on a row outside the scope, and the
    /// leakproof parts stay plain conditions that an index can serve.
    fn confine_where(
        &self,
        t: &ResolvedTable,
        qualifier: &Ident,
        selection: &mut Option<Expr>,
    ) -> Result<(), Denial> {
        let Some(filter) = self.bound_filters(t, self.grant(t))? else {
            return Ok(());
        };
        let filter = qualify(filter, qualifier);
        *selection = Some(match selection.take() {
            None => filter,
            Some(w) if !self.barrier => Expr::BinaryOp {
                left: Box::new(filter),
                op: BinaryOperator::And,
                right: Box::new(Expr::Nested(Box::new(w))),
            },
            Some(w) => {
                let proven = |c: &Expr| self.proof.as_ref().is_some_and(|p| p.condition(c));
                let all = conjuncts(w);
                // A MySQL `?` may move: the rendering says which parameter each `?` takes.
                let (plain, guarded): (Vec<Expr>, Vec<Expr>) =
                    all.into_iter().partition(|c| proven(c));
                let mut out = filter.clone();
                for p in plain {
                    out = and(Some(out), Expr::Nested(Box::new(p)));
                }
                if let Some(rest) = guarded.into_iter().fold(None, |acc, c| Some(and(acc, c))) {
                    out = and(Some(out), guarded_by(filter, rest));
                }
                out
            }
        });
        Ok(())
    }

    /// The values a SET list gives foreign-key columns, checked against the rows in scope
    /// (`references.rs`).
    fn check_assigned_references(
        &self,
        t: &ResolvedTable,
        qualifier: &Ident,
        assignments: &mut [Assignment],
    ) -> Result<(), Denial> {
        let mut columns = Vec::with_capacity(assignments.len());
        for a in assignments.iter() {
            columns.push(match &a.target {
                AssignmentTarget::ColumnName(n) => self.assigned_column(n, qualifier)?,
                AssignmentTarget::Tuple(_) => Ident::new(""),
            });
        }
        let checks = self.reference_checks(t, &columns)?;
        for (k, check) in &checks {
            if matches!(assignments[*k].target, AssignmentTarget::Tuple(_)) {
                return Err(Denial::new(
                    Rule::WriteNotConfinable,
                    format!("set {} on its own (not in a tuple) so Sluice can check that it references a row in scope", check.column),
                ));
            }
            let v = std::mem::replace(
                &mut assignments[*k].value,
                Expr::Value(Value::Null.with_empty_span()),
            );
            assignments[*k].value = self.checked_reference(v, check)?;
        }
        // A tuple target naming a checked column is refused above only if the column was
        // found; look inside tuples too.
        for a in assignments.iter() {
            if let AssignmentTarget::Tuple(ns) = &a.target {
                let inner: Vec<Ident> = ns
                    .iter()
                    .map(|n| self.assigned_column(n, qualifier))
                    .collect::<Result<_, _>>()?;
                if let Some((_, check)) = self.reference_checks(t, &inner)?.first() {
                    return Err(Denial::new(
                        Rule::WriteNotConfinable,
                        format!("set {} on its own (not in a tuple) so Sluice can check that it references a row in scope", check.column),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Under a barrier, the ON conditions of a multi-table UPDATE's joins read the target's
    /// rows before any WHERE: each runs behind the target's filter.
    fn guard_joins(
        &self,
        t: &ResolvedTable,
        qualifier: &Ident,
        joins: &mut [sqlparser::ast::Join],
    ) -> Result<(), Denial> {
        if !self.barrier {
            return Ok(());
        }
        let Some(filter) = self.bound_filters(t, self.grant(t))? else {
            return Ok(());
        };
        let filter = qualify(filter, qualifier);
        for j in joins {
            use sqlparser::ast::JoinConstraint as C;
            let Some(c) = super::query::join_constraint(&mut j.join_operator) else {
                return Err(construct("this kind of join in an UPDATE"));
            };
            match c {
                C::On(e) => {
                    let on = std::mem::replace(e, Expr::Value(Value::Null.with_empty_span()));
                    *e = guarded_by(filter.clone(), on);
                }
                C::None => {}
                C::Using(_) | C::Natural | C::UsingAlias(..) => {
                    return Err(construct(
                        "USING or NATURAL in a multi-table UPDATE whose conditions are not proven leakproof (write the join with ON)",
                    ))
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, i: &mut Insert) -> Result<(), Denial> {
        let Insert {
            insert_token: _,
            optimizer_hints,
            or,
            ignore: _,
            into: _,
            table,
            table_alias,
            columns,
            by_name,
            overwrite,
            source,
            assignments,
            partitioned,
            after_columns,
            overriding,
            has_table_keyword,
            on,
            returning,
            output,
            replace_into,
            priority,
            insert_alias,
            settings,
            format_clause,
            multi_table_insert_type,
            multi_table_into_clauses,
            multi_table_when_clauses,
            multi_table_else_clause,
        } = i;
        if multi_table_insert_type.is_some()
            || !multi_table_into_clauses.is_empty()
            || !multi_table_when_clauses.is_empty()
            || multi_table_else_clause.is_some()
        {
            return Err(construct("multi-table INSERT"));
        }
        if !optimizer_hints.is_empty()
            || or.is_some()
            || *by_name
            || *overwrite
            || partitioned.is_some()
            || !after_columns.is_empty()
            || overriding.is_some()
            || *has_table_keyword
            || output.is_some()
            || priority.is_some()
            || insert_alias.is_some()
            || settings.is_some()
            || format_clause.is_some()
        {
            return Err(construct("this form of INSERT"));
        }
        if !assignments.is_empty() {
            return Err(construct(
                "INSERT … SET (write INSERT … (columns) VALUES …)",
            ));
        }
        let TableObject::TableName(name) = table else {
            return Err(construct("INSERT into a table function"));
        };
        let t = self.write_target(name, Operation::Insert)?;
        if *replace_into {
            self.require(&t.key, Operation::Update)
                .and_then(|()| self.require(&t.key, Operation::Delete))
                .map_err(|d| {
                    Denial::new(
                        d.rule,
                        format!("REPLACE deletes and rewrites rows: {}", d.message),
                    )
                })?;
            if !self.grant(&t).filters.is_empty() {
                return Err(Denial::new(
                    Rule::WriteNotConfinable,
                    format!("REPLACE into {} could delete rows outside the role's filter; use INSERT … ON DUPLICATE KEY UPDATE or UPDATE", t.key),
                ));
            }
        }
        if let Some(a) = table_alias {
            check_name(&a.alias)?;
        }
        let qualifier = table_alias
            .as_ref()
            .map_or_else(|| t.bare.clone(), |a| a.alias.clone());
        let grant = self.grant(&t);
        let insertable = grant.columns_for(Operation::Insert);
        if let Some(f) = grant.filters.iter().find(|f| !f.pins_only()) {
            return Err(Denial::new(
                Rule::WriteNotConfinable,
                format!(
                    "rows inserted into {} must satisfy its row filter `{}`, which Sluice cannot check before the insert",
                    t.key,
                    f.text()
                ),
            ));
        }
        let pins = pins(grant);
        if columns.is_empty() && (insertable != ColumnSet::All || !pins.is_empty()) {
            return Err(Denial::new(
                Rule::WriteNotConfinable,
                format!("INSERT into {} must name its columns", t.key),
            ));
        }
        let mut named: Vec<Ident> = Vec::with_capacity(columns.len());
        let mut unset: Vec<usize> = Vec::new();
        for (k, c) in columns.iter().enumerate() {
            let parts = self.parts(c)?;
            let [col] = parts.as_slice() else {
                return Err(construct(format!("the column name {c}")));
            };
            let allowed = match &insertable {
                ColumnSet::All => true,
                ColumnSet::Only(cols) => cols.iter().any(|x| self.column_is(x, col)),
            };
            // A column given `DEFAULT` in every row is a column left out (drizzle-orm names
            // every column of its table, the identity key too): dropped below, so the statement
            // is the one the role may send. A value in any row is a write of the column.
            if !allowed && only_defaults_at(source.as_deref(), k) {
                unset.push(k);
                continue;
            }
            if !allowed {
                return Err(Denial::new(
                    Rule::ColumnNotGranted,
                    format!(
                        "role {} may not INSERT column {} of {}",
                        self.scope.role.name, col.value, t.key
                    ),
                ));
            }
            named.push((*col).clone());
        }
        if let Some(q) = source.as_deref() {
            if !columns.is_empty() && !width_may_be(&q.body, columns.len()) {
                return Err(construct(format!(
                    "INSERT with {} columns and a source of another width",
                    columns.len()
                )));
            }
        }
        if let Some(&first) = unset.first() {
            if named.is_empty() {
                return Err(Denial::new(
                    Rule::ColumnNotGranted,
                    format!(
                        "role {} may not INSERT column {} of {}",
                        self.scope.role.name, columns[first], t.key
                    ),
                ));
            }
            drop_columns(columns, source.as_deref_mut(), &unset);
        }
        // Pinned columns: given ones must hold the claim, missing ones get it.
        let mut missing: Vec<(String, Expr)> = Vec::new();
        for (col, claim) in &pins {
            let value = self.scope.claims.get(claim).ok_or_else(|| {
                Denial::new(
                    Rule::ClaimInvalid,
                    format!(
                        "the token has no `{claim}` claim, which the row filter on {} needs",
                        t.key
                    ),
                )
            })?;
            let literal = claim_literal(claim, &value)
                .map_err(|e| Denial::new(Rule::ClaimInvalid, e.to_string()))?;
            match named.iter().position(|n| self.column_is(col, n)) {
                Some(k) => {
                    fill_defaults(source.as_deref_mut(), k, &literal);
                    self.check_pinned_values(source.as_deref(), k, col, &value, &t)?
                }
                None => missing.push((col.clone(), literal)),
            }
        }
        match source.as_deref_mut() {
            None if !missing.is_empty() => {
                return Err(Denial::new(
                    Rule::WriteNotConfinable,
                    format!(
                        "INSERT … DEFAULT VALUES into {} cannot set its pinned columns",
                        t.key
                    ),
                ))
            }
            None => {}
            Some(q) => {
                self.query(q)?;
                // Without a column list the source sets every column, in the table's order.
                let set: Vec<Ident> = if named.is_empty() {
                    t.qualified()
                        .and_then(|k| self.scope.schema.table(&k))
                        .map(|s| s.columns.iter().map(|c| self.quoted(&c.name)).collect())
                        .unwrap_or_default()
                } else {
                    named.clone()
                };
                let checks = self.reference_checks(&t, &set)?;
                if !checks.is_empty() {
                    if named.is_empty() {
                        return Err(Denial::new(
                            Rule::WriteNotConfinable,
                            format!("INSERT into {} must name its columns (it sets a foreign key Sluice checks)", t.key),
                        ));
                    }
                    self.check_references_in(&mut q.body, &checks)?;
                }
                if !missing.is_empty() {
                    let values: Vec<Expr> = missing.iter().map(|(_, v)| v.clone()).collect();
                    add_columns(&mut q.body, &values)?;
                    for (col, _) in &missing {
                        columns.push(ObjectName::from(vec![self.quoted(col)]));
                    }
                }
            }
        }
        match on {
            None => {}
            Some(OnInsert::OnConflict(OnConflict {
                conflict_target,
                action,
            })) => {
                match conflict_target {
                    None => {}
                    Some(ConflictTarget::Columns { columns, predicate }) => {
                        for c in columns.iter() {
                            check_ident(c)?;
                        }
                        if let Some(p) = predicate {
                            self.expr(p)?;
                        }
                    }
                    Some(ConflictTarget::OnConstraint(n)) => {
                        self.parts(n)?;
                    }
                }
                if let OnConflictAction::DoUpdate(DoUpdate {
                    assignments,
                    selection,
                }) = action
                {
                    // The conflicting row may belong to anyone: the update is confined like
                    // any UPDATE.
                    self.require(&t.key, Operation::Update)?;
                    self.assignments(&t, &qualifier, assignments)?;
                    let guard = self.guard_for(&t, &qualifier);
                    self.with_guard(guard, |c| {
                        for a in assignments.iter_mut() {
                            c.expr(&mut a.value)?;
                        }
                        if let Some(w) = selection.as_mut() {
                            c.expr(w)?;
                        }
                        Ok(())
                    })?;
                    self.check_assigned_references(&t, &qualifier, assignments)?;
                    self.confine_where(&t, &qualifier, selection)?;
                }
            }
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                self.require(&t.key, Operation::Update)?;
                if !self.grant(&t).filters.is_empty() {
                    return Err(Denial::new(
                        Rule::WriteNotConfinable,
                        format!(
                            "ON DUPLICATE KEY UPDATE on {} could update a row outside the role's filter; use UPDATE",
                            t.key
                        ),
                    ));
                }
                self.assignments(&t, &qualifier, assignments)?;
                let guard = self.guard_for(&t, &qualifier);
                self.in_duplicate_key_update = true;
                let walked = self.with_guard(guard, |c| {
                    for a in assignments.iter_mut() {
                        c.expr(&mut a.value)?;
                    }
                    Ok(())
                });
                self.in_duplicate_key_update = false;
                walked?;
                self.check_assigned_references(&t, &qualifier, assignments)?;
            }
            Some(_) => return Err(construct("this ON clause of INSERT")),
        }
        if let Some(items) = returning.as_mut() {
            let guard = self.guard_for(&t, &qualifier);
            self.with_guard(guard, |c| c.returning(&t, items))?;
        }
        *name = t.rendered.clone();
        Ok(())
    }

    /// A pinned column given explicitly: every row the source produces must hold exactly the
    /// claim there (each VALUES row, or the select list of each SELECT, with no `*` before it).
    fn check_pinned_values(
        &mut self,
        source: Option<&sqlparser::ast::Query>,
        k: usize,
        col: &str,
        claim: &ClaimValue,
        t: &ResolvedTable,
    ) -> Result<(), Denial> {
        let refuse = || {
            Denial::new(
                Rule::WriteNotConfinable,
                format!(
                    "column {col} of {} must be the token's value {claim}; leave it out and Sluice fills it in",
                    t.key
                ),
            )
        };
        let mut parameters = Vec::new();
        let class = self.column_class(t, col);
        match source {
            Some(q)
                if pinned_in(
                    &q.body,
                    k,
                    claim,
                    class,
                    self.scope.dialect,
                    &mut parameters,
                ) =>
            {
                for i in parameters {
                    self.pin(i, t, col, claim);
                }
                Ok(())
            }
            _ => Err(refuse()),
        }
    }

    /// Records that parameter `i` is written into the pinned `column`: the door checks its
    /// value against the claim on every execution.
    fn pin(&mut self, i: usize, t: &ResolvedTable, column: &str, claim: &ClaimValue) {
        let p = crate::decision::PinnedParameter {
            parameter: i,
            table: t.key.to_string(),
            column: column.to_string(),
            value: claim.clone(),
            class: self.column_class(t, column),
        };
        if !self.pinned.contains(&p) {
            self.pinned.push(p);
        }
    }

    /// The type class of `column` of `t`, when the schema is known.
    fn column_class(&self, t: &ResolvedTable, column: &str) -> Option<TypeClass> {
        t.qualified()
            .and_then(|k| self.scope.schema.table(&k))
            .and_then(|s| s.column(column))
            .map(|c| c.class)
    }
}

/// `CASE WHEN (filter) THEN (condition) END`: both engines evaluate a CASE's branches in
/// order and only the branch taken (PostgreSQL folds constants in every branch at planning,
/// which reads no row).
fn guarded_by(filter: Expr, condition: Expr) -> Expr {
    Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![sqlparser::ast::CaseWhen {
            condition: filter,
            result: Expr::Nested(Box::new(condition)),
        }],
        else_result: None,
    }
}

fn single_target<'t>(
    relation: &'t mut TableFactor,
    what: &str,
) -> Result<(&'t mut ObjectName, Option<TableAlias>), Denial> {
    match relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            with_hints,
            version: None,
            with_ordinality: false,
            partitions,
            json_path: None,
            sample: None,
            index_directives: _,
            inheritance: None,
        } if with_hints.is_empty() && partitions.is_empty() => {
            if let Some(a) = alias.as_ref() {
                check_name(&a.name)?;
                if !a.columns.is_empty() {
                    return Err(construct("column aliases on a write target"));
                }
            }
            Ok((name, alias.clone()))
        }
        _ => Err(construct(format!("this {what} target"))),
    }
}

fn pins(grant: &TableGrant) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in &grant.filters {
        for p in f.pinned_columns() {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    }
    out
}

/// Whether `body` may produce rows of `n` values: false when a VALUES row or a select list
/// without `*` has another length.
fn width_may_be(body: &SetExpr, n: usize) -> bool {
    match body {
        SetExpr::Values(v) => v.rows.iter().all(|row| row.len() == n),
        SetExpr::Select(s) => {
            let star = s.projection.iter().any(|i| {
                matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            });
            star || s.projection.len() == n
        }
        SetExpr::SetOperation { left, right, .. } => {
            width_may_be(left, n) && width_may_be(right, n)
        }
        SetExpr::Query(q) => width_may_be(&q.body, n),
        SetExpr::Insert(_)
        | SetExpr::Update(_)
        | SetExpr::Delete(_)
        | SetExpr::Merge(_)
        | SetExpr::Table(_) => true,
    }
}

/// Whether every row `body` produces holds exactly the claim at position `k`.
fn pinned_in(
    body: &SetExpr,
    k: usize,
    claim: &ClaimValue,
    class: Option<TypeClass>,
    dialect: crate::Dialect,
    parameters: &mut Vec<usize>,
) -> bool {
    let mut holds = |e: &Expr| match pinned_value(e, claim, class, dialect) {
        Pinned::Literal => true,
        Pinned::Parameter(i) => {
            parameters.push(i);
            true
        }
        Pinned::Other => false,
    };
    match body {
        SetExpr::Values(values) => values
            .rows
            .iter()
            .all(|row| row.get(k).is_some_and(&mut holds)),
        SetExpr::Select(s) => {
            let before_plain = s.projection.iter().take(k).all(|i| {
                matches!(
                    i,
                    SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                )
            });
            before_plain
                && match s.projection.get(k) {
                    Some(SelectItem::UnnamedExpr(e))
                    | Some(SelectItem::ExprWithAlias { expr: e, .. }) => holds(e),
                    _ => false,
                }
        }
        SetExpr::SetOperation { left, right, .. } => {
            pinned_in(left, k, claim, class, dialect, parameters)
                && pinned_in(right, k, claim, class, dialect, parameters)
        }
        SetExpr::Query(q) => pinned_in(&q.body, k, claim, class, dialect, parameters),
        SetExpr::Insert(_)
        | SetExpr::Update(_)
        | SetExpr::Delete(_)
        | SetExpr::Merge(_)
        | SetExpr::Table(_) => false,
    }
}

/// What a value written into a pinned column is.
enum Pinned {
    /// A literal holding exactly the claim's value.
    Literal,
    /// A parameter (counted from 0), whose value the door checks at every execution.
    Parameter(usize),
    Other,
}

/// `class` is the pinned column's type class, when the schema is known.
fn pinned_value(
    e: &Expr,
    claim: &ClaimValue,
    class: Option<TypeClass>,
    dialect: crate::Dialect,
) -> Pinned {
    // SQLAlchemy casts every parameter it binds on PostgreSQL (`$1::VARCHAR`, `$1::INTEGER`).
    // A cast to a type of the column's own class, holding the claim's kind, leaves the value
    // the door checked as it is; and the door reads a binary value by that same class (the type
    // the backend infers for `$1` is the cast's). A length or a precision could change the value
    // (`varchar(2)` cuts it), so only the bare type is accepted.
    if let Expr::Cast {
        kind: CastKind::DoubleColon | CastKind::Cast,
        expr,
        data_type,
        format: None,
    } = e
    {
        let same_class = match (claim, cast_class(data_type)) {
            (ClaimValue::Str(_), Some(TypeClass::Text)) => class == Some(TypeClass::Text),
            (ClaimValue::Int(_), Some(TypeClass::Integer)) => class == Some(TypeClass::Integer),
            _ => false,
        };
        return match (
            same_class,
            dialect,
            pinned_value(expr, claim, class, dialect),
        ) {
            (true, crate::Dialect::PostgreSql, Pinned::Parameter(i)) => Pinned::Parameter(i),
            _ => Pinned::Other,
        };
    }
    if let Expr::Value(v) = e {
        if let Value::Placeholder(p) = &v.value {
            return match super::render::parameter_index(dialect, p) {
                Some(i) => Pinned::Parameter(i),
                None => Pinned::Other,
            };
        }
    }
    if literal_equals(e, claim) {
        Pinned::Literal
    } else {
        Pinned::Other
    }
}

/// The class of a bare PostgreSQL string or integer type a pinned parameter may be cast to.
fn cast_class(t: &DataType) -> Option<TypeClass> {
    match t {
        DataType::Text
        | DataType::Varchar(None)
        | DataType::CharacterVarying(None)
        | DataType::CharVarying(None) => Some(TypeClass::Text),
        DataType::SmallInt(None)
        | DataType::Int(None)
        | DataType::Integer(None)
        | DataType::BigInt(None)
        | DataType::Int2(None)
        | DataType::Int4(None)
        | DataType::Int8(None) => Some(TypeClass::Integer),
        _ => None,
    }
}

/// Whether `source` is a plain VALUES list whose every row holds a bare `DEFAULT` at `k`.
fn only_defaults_at(source: Option<&sqlparser::ast::Query>, k: usize) -> bool {
    let Some(q) = source else { return false };
    let plain = q.with.is_none()
        && q.order_by.is_none()
        && q.limit_clause.is_none()
        && q.fetch.is_none()
        && q.locks.is_empty()
        && q.for_clause.is_none()
        && q.settings.is_none()
        && q.format_clause.is_none()
        && q.pipe_operators.is_empty();
    let SetExpr::Values(values) = q.body.as_ref() else {
        return false;
    };
    plain
        && !values.rows.is_empty()
        && values.rows.iter().all(|row| {
            matches!(row.get(k), Some(Expr::Identifier(i))
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
        })
}

/// Takes the columns at `unset` (ascending positions, each `DEFAULT` in every VALUES row: see
/// [`only_defaults_at`]) out of the column list and the rows.
fn drop_columns(
    columns: &mut Vec<ObjectName>,
    source: Option<&mut sqlparser::ast::Query>,
    unset: &[usize],
) {
    for &k in unset.iter().rev() {
        columns.remove(k);
    }
    if let Some(SetExpr::Values(values)) = source.map(|q| q.body.as_mut()) {
        for row in values.rows.iter_mut() {
            for &k in unset.iter().rev() {
                if k < row.len() {
                    row.remove(k);
                }
            }
        }
    }
}

/// `DEFAULT` written for a pinned column in a VALUES row is the claim: the value the column's
/// filter requires, filled in as Sluice fills in a column left out (drizzle-orm writes
/// `DEFAULT` for every column it has no value for).
fn fill_defaults(source: Option<&mut sqlparser::ast::Query>, k: usize, literal: &Expr) {
    let Some(q) = source else { return };
    if let SetExpr::Values(values) = q.body.as_mut() {
        for cell in values.rows.iter_mut().filter_map(|row| row.get_mut(k)) {
            let default = matches!(cell, Expr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
            if default {
                *cell = literal.clone();
            }
        }
    }
}

/// Whether `e` is a literal holding exactly the claim's value.
fn literal_equals(e: &Expr, claim: &ClaimValue) -> bool {
    let Expr::Value(v) = e else { return false };
    match (&v.value, claim) {
        (
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s),
            ClaimValue::Str(c),
        ) => s == c,
        (Value::Number(n, false), ClaimValue::Int(i)) => *n == i.to_string(),
        (Value::SingleQuotedString(s), ClaimValue::Int(i)) => *s == i.to_string(),
        _ => false,
    }
}

/// Qualifies the bare column names of a bound filter with the write target.
fn qualify(mut e: Expr, q: &Ident) -> Expr {
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::Identifier(c) = x {
            *x = Expr::CompoundIdentifier(vec![q.clone(), c.clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// Appends the pinned columns' claim values to every row an INSERT's source produces: to each
/// VALUES row, or to the select list of each SELECT (no wrapping query, so the engine still
/// infers the types of the source's literals from the target columns).
fn add_columns(body: &mut SetExpr, values: &[Expr]) -> Result<(), Denial> {
    match body {
        SetExpr::Values(v) => {
            for row in v.rows.iter_mut() {
                row.extend(values.iter().cloned());
            }
            Ok(())
        }
        SetExpr::Select(s) => {
            s.projection
                .extend(values.iter().cloned().map(SelectItem::UnnamedExpr));
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            add_columns(left, values)?;
            add_columns(right, values)
        }
        SetExpr::Query(q) => add_columns(&mut q.body, values),
        SetExpr::Insert(_)
        | SetExpr::Update(_)
        | SetExpr::Delete(_)
        | SetExpr::Merge(_)
        | SetExpr::Table(_) => Err(Denial::new(
            Rule::WriteNotConfinable,
            "Sluice cannot add the pinned columns to this INSERT source",
        )),
    }
}
