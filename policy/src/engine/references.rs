//! Writes reference only rows in scope.
//!
//! The database checks a foreign key with the gateway's privileges: an INSERT or UPDATE that
//! sets `reservations.customer_id` to another tenant's customer succeeds (and points a row of
//! this tenant at theirs), and one that sets a value nobody holds fails: an existence oracle,
//! which also waits on the other tenant's lock of that row. So every value a write gives a
//! foreign-key column whose referenced table the role sees only in part (a row filter or a
//! column limit) is checked, in the same statement, against the role's own view of that table:
//!
//! `CASE WHEN (v) IN (SELECT "id" FROM <confined customers>) OR (v) IS NULL THEN (v)
//!  ELSE (SELECT (v) UNION ALL SELECT (v)) END`
//!
//! A value outside the view makes the statement fail (a scalar subquery with two rows:
//! PostgreSQL 21000, MySQL 1242) before any row is written or any foreign-key check (and its
//! lock) runs; the doors say what happened. `v` is evaluated outside the subquery, so none of
//! its names can be captured by it. MySQL numbers its `?` parameters by position, so there `v`
//! is written once, as a derived table the check reads: `(SELECT CASE WHEN x.v IS NULL OR x.v
//! IN (…) THEN x.v ELSE (SELECT x.v UNION ALL SELECT x.v) END FROM (SELECT (v) AS v) AS x)`.
//! A table the role may not read at all has no row this role may reference: only NULL passes
//! (its check reads the table `WHERE FALSE`, which gives the value its type and reads nothing).
//! Composite foreign keys into a confined table are refused (not checked).

use super::names::ResolvedTable;
use super::query::simple_query;
use super::Checker;
use crate::decision::{Denial, Rule};
use crate::roles::{ColumnSet, Operation};
use crate::Dialect;
use sqlparser::ast::{
    Expr, Ident, ObjectName, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, TableAlias,
    TableFactor, TableWithJoins,
};

/// The check of one foreign-key column of a write's target.
pub(crate) struct ReferenceCheck {
    /// The target's column, as the role file and the schema spell it.
    pub column: String,
    /// What a client is told when the value is refused (PostgreSQL, where the refusal can
    /// carry it: see [`refusal`]).
    message: String,
    /// The referencing column's type class.
    class: crate::schema::TypeClass,
    /// The referenced column of the rows the role sees (of none, `WHERE FALSE`, when the role
    /// may not read the table: the query still gives the value its type).
    visible: Query,
}

impl Checker<'_> {
    /// The checks a write into `t` needs for the columns it sets, by position in `columns`.
    pub(crate) fn reference_checks(
        &self,
        t: &ResolvedTable,
        columns: &[Ident],
    ) -> Result<Vec<(usize, ReferenceCheck)>, Denial> {
        let Some(table) = t.qualified().and_then(|k| self.scope.schema.table(&k)) else {
            return Ok(Vec::new());
        };
        let mut checks = Vec::new();
        for fk in &table.foreign_keys {
            let positions: Vec<Option<usize>> = fk
                .columns
                .iter()
                .map(|c| columns.iter().position(|n| self.column_is(c, n)))
                .collect();
            if positions.iter().all(Option::is_none) {
                continue;
            }
            let referenced = self.resolve_table(&referenced_name(&fk.references, self))?;
            let grant = self
                .scope
                .role
                .permits(&referenced.key, Operation::Select)
                .then(|| self.scope.role.tables.get(&referenced.key))
                .flatten();
            let confined = match grant {
                None => true,
                Some(g) => {
                    g.columns_for(Operation::Select) != ColumnSet::All || !g.filters.is_empty()
                }
            };
            if !confined {
                continue;
            }
            let ([column], [refcol], [Some(k)]) = (
                fk.columns.as_slice(),
                fk.referenced_columns.as_slice(),
                positions.as_slice(),
            ) else {
                return Err(Denial::new(
                    Rule::WriteNotConfinable,
                    format!(
                        "the foreign key {} of {} spans several columns into {}, which role {} sees only in part; \
                         Sluice cannot check that such a reference stays in scope",
                        fk.name, t.key, referenced.key, self.scope.role.name
                    ),
                ));
            };
            let visible = match grant {
                None => simple_query(
                    vec![SelectItem::UnnamedExpr(Expr::Identifier(
                        self.quoted(refcol),
                    ))],
                    vec![TableWithJoins {
                        relation: super::query::plain_table(referenced.rendered.clone(), None),
                        joins: vec![],
                    }],
                    Some(Expr::Value(
                        sqlparser::ast::Value::Boolean(false).with_empty_span(),
                    )),
                ),
                Some(g) => {
                    let readable = match g.columns_for(Operation::Select) {
                        ColumnSet::All => true,
                        ColumnSet::Only(cols) => cols.iter().any(|c| c == refcol),
                    };
                    if !readable {
                        return Err(Denial::new(
                            Rule::ColumnNotGranted,
                            format!(
                                "{}.{column} references {}.{refcol}, which role {} may not read; \
                                 Sluice cannot check that the reference stays in scope",
                                t.key, referenced.key, self.scope.role.name
                            ),
                        ));
                    }
                    let source = self
                        .confined_source(&referenced, g, Vec::new())?
                        .expect("a confined table has a derived table");
                    let alias = TableAlias {
                        explicit: true,
                        name: Ident::new("r"),
                        columns: vec![],
                        at: None,
                    };
                    simple_query(
                        vec![SelectItem::UnnamedExpr(Expr::Identifier(
                            self.quoted(refcol),
                        ))],
                        vec![TableWithJoins {
                            relation: TableFactor::Derived {
                                lateral: false,
                                subquery: Box::new(source),
                                alias: Some(alias),
                                sample: None,
                            },
                            joins: vec![],
                        }],
                        None,
                    )
                }
            };
            let class = table
                .column(column)
                .map_or(crate::schema::TypeClass::Other, |c| c.class);
            checks.push((
                *k,
                ReferenceCheck {
                    message: format!(
                        "sluice: {}.{column} must reference a {} row this token can read; nothing was written",
                        t.key, referenced.key
                    ),
                    column: column.clone(),
                    class,
                    visible,
                },
            ));
        }
        Ok(checks)
    }

    /// The value a write gives a column at `k` of a VALUES row or a SELECT list, checked.
    pub(crate) fn check_references_in(
        &self,
        body: &mut SetExpr,
        checks: &[(usize, ReferenceCheck)],
    ) -> Result<(), Denial> {
        match body {
            SetExpr::Values(v) => {
                for row in v.rows.iter_mut() {
                    for (k, check) in checks {
                        let Some(cell) = row.get_mut(*k) else {
                            return Err(super::construct("a VALUES row of another width"));
                        };
                        if is_default(cell) {
                            continue;
                        }
                        let v = std::mem::replace(cell, Expr::Value(sqlparser::ast::Value::Null.with_empty_span()));
                        *cell = self.checked_reference(v, check)?;
                    }
                }
                Ok(())
            }
            SetExpr::Select(s) => {
                for (k, check) in checks {
                    match s.projection.get_mut(*k) {
                        Some(SelectItem::UnnamedExpr(e)) | Some(SelectItem::ExprWithAlias { expr: e, .. }) => {
                            let v = std::mem::replace(e, Expr::Value(sqlparser::ast::Value::Null.with_empty_span()));
                            *e = self.checked_reference(v, check)?;
                        }
                        _ => {
                            return Err(Denial::new(
                                Rule::WriteNotConfinable,
                                format!(
                                    "the source of this INSERT sets {} with `*`; name the value so Sluice can check that it references a row in scope",
                                    check.column
                                ),
                            ))
                        }
                    }
                }
                Ok(())
            }
            SetExpr::Query(q) if q.limit_clause.is_none() && q.order_by.is_none() && q.with.is_none() => {
                self.check_references_in(&mut q.body, checks)
            }
            _ => Err(Denial::new(
                Rule::WriteNotConfinable,
                format!(
                    "this INSERT's source sets {} in a form Sluice cannot check row by row (a set operation or a nested query); \
                     write it as VALUES or a plain SELECT",
                    checks.iter().map(|(_, c)| c.column.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// `v` checked against the rows the role may reference. On PostgreSQL the check reads
    /// `v` three times, so a value that could differ between readings (a function such as
    /// `random()`, a subquery) is refused: the value checked must be the value written.
    pub(crate) fn checked_reference(
        &self,
        v: Expr,
        check: &ReferenceCheck,
    ) -> Result<Expr, Denial> {
        if self.scope.dialect == Dialect::PostgreSql {
            let varies = sqlparser::ast::visit_expressions(&v, |e| match e {
                Expr::Function(_)
                | Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::In {
                    target: sqlparser::ast::InTarget::Subquery(_),
                    ..
                } => std::ops::ControlFlow::Break(()),
                _ => std::ops::ControlFlow::Continue(()),
            })
            .is_break();
            if varies {
                return Err(Denial::new(
                    Rule::WriteNotConfinable,
                    format!(
                        "the value of {} must be a literal, a parameter or a column (not a function or subquery) so Sluice can check that it references a row in scope",
                        check.column
                    ),
                ));
            }
        }
        Ok(self.checked_reference_unchecked(v, check))
    }

    fn checked_reference_unchecked(&self, v: Expr, check: &ReferenceCheck) -> Expr {
        match self.scope.dialect {
            Dialect::PostgreSql => guard(v, check, Dialect::PostgreSql),
            Dialect::MySql => {
                let x = Expr::CompoundIdentifier(vec![Ident::new("x"), Ident::new("v")]);
                let body = guard(x, check, Dialect::MySql);
                let inner = simple_query(
                    vec![SelectItem::ExprWithAlias {
                        expr: nested(v),
                        alias: Ident::new("v"),
                    }],
                    vec![],
                    None,
                );
                let outer = simple_query(
                    vec![SelectItem::UnnamedExpr(body)],
                    vec![TableWithJoins {
                        relation: TableFactor::Derived {
                            lateral: false,
                            subquery: Box::new(inner),
                            alias: Some(TableAlias {
                                explicit: true,
                                name: Ident::new("x"),
                                columns: vec![],
                                at: None,
                            }),
                            sample: None,
                        },
                        joins: vec![],
                    }],
                    None,
                );
                Expr::Subquery(Box::new(outer))
            }
        }
    }
}

/// `CASE WHEN (v) IN (visible) OR (v) IS NULL THEN (v) ELSE <two rows> END`, with `v` read
/// as `at`.
fn guard(at: Expr, check: &ReferenceCheck, dialect: Dialect) -> Expr {
    // IN first: PostgreSQL types an undeclared parameter from its first use.
    let condition = Expr::BinaryOp {
        left: Box::new(Expr::In {
            expr: Box::new(nested(at.clone())),
            target: sqlparser::ast::InTarget::Subquery(Box::new(check.visible.clone())),
            negated: false,
            global: false,
        }),
        op: sqlparser::ast::BinaryOperator::Or,
        right: Box::new(Expr::IsNull(Box::new(nested(at.clone())))),
    };
    let refused = refusal(at.clone(), check, dialect);
    Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![sqlparser::ast::CaseWhen {
            condition,
            result: nested(at),
        }],
        else_result: Some(Box::new(refused)),
    }
}

/// An expression that fails when evaluated. On PostgreSQL, for a whole-number or uuid column,
/// a cast of the message that cannot succeed: its error quotes the message (22P02). The
/// message is a scalar subquery so that the planner cannot fold the cast, and fail, before
/// the branch is taken. Elsewhere: a scalar subquery of two rows (PostgreSQL 21000, MySQL
/// 1242), which fails for any type in any sql_mode.
fn refusal(at: Expr, check: &ReferenceCheck, dialect: Dialect) -> Expr {
    use crate::schema::TypeClass;
    let cast_to = match (dialect, check.class) {
        (Dialect::PostgreSql, TypeClass::Integer) => Some(sqlparser::ast::DataType::BigInt(None)),
        (Dialect::PostgreSql, TypeClass::Uuid) => Some(sqlparser::ast::DataType::Uuid),
        _ => None,
    };
    if let Some(data_type) = cast_to {
        let message = Expr::Value(
            sqlparser::ast::Value::SingleQuotedString(check.message.clone()).with_empty_span(),
        );
        return Expr::Cast {
            kind: sqlparser::ast::CastKind::Cast,
            expr: Box::new(Expr::Subquery(Box::new(simple_query(
                vec![SelectItem::UnnamedExpr(message)],
                vec![],
                None,
            )))),
            data_type,
            format: None,
        };
    }
    let one = |e: Expr| SetExpr::Select(Box::new(select_of(e)));
    let two_rows = Query {
        body: Box::new(SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            left: Box::new(one(nested(at.clone()))),
            right: Box::new(one(nested(at))),
        }),
        ..simple_query(vec![], vec![], None)
    };
    Expr::Subquery(Box::new(two_rows))
}

/// `DEFAULT` in a VALUES row: the column's default, not a value the client wrote.
fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

fn select_of(e: Expr) -> sqlparser::ast::Select {
    let q = simple_query(vec![SelectItem::UnnamedExpr(e)], vec![], None);
    match *q.body {
        SetExpr::Select(s) => *s,
        _ => unreachable!("simple_query builds a SELECT"),
    }
}

fn nested(e: Expr) -> Expr {
    match e {
        e @ (Expr::Nested(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => e,
        e => Expr::Nested(Box::new(e)),
    }
}

/// The referenced table's name as the client could have written it, for name resolution.
fn referenced_name(t: &crate::roles::TableName, c: &Checker<'_>) -> ObjectName {
    let mut parts = Vec::new();
    if let Some(s) = &t.schema {
        parts.push(c.quoted(s));
    }
    parts.push(c.quoted(&t.name));
    ObjectName::from(parts)
}
