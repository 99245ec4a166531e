//! Statement kinds: what is allowed at all, fail closed.

use sqlparser::ast::{DescribeAlias, Expr, Ident, Select, SelectItem, SetExpr, Statement};

use super::{construct, Checker};
use crate::decision::{Denial, Rule, StatementKind};
use crate::roles::Operation;
use crate::Dialect;

impl Checker<'_> {
    pub(crate) fn statement(&mut self, stmt: &mut Statement) -> Result<StatementKind, Denial> {
        match stmt {
            Statement::Query(q) => {
                if self.setting_query(q)? {
                    return Ok(StatementKind::Set);
                }
                let names = match self.scope.dialect {
                    Dialect::MySql => client_column_names(&mut q.body),
                    Dialect::PostgreSql => Vec::new(),
                };
                self.query(q)?;
                keep_column_names(&mut q.body, names);
                Ok(StatementKind::Query)
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                self.write_statement(stmt)
            }
            Statement::Explain {
                describe_alias,
                analyze,
                verbose: _,
                query_plan,
                estimate,
                statement,
                format: _,
                options,
            } => {
                let analyzes = *analyze
                    || options.iter().flatten().any(|o| {
                        let n = o.name.value.to_lowercase();
                        n == "analyze" || n == "analyse"
                    });
                if analyzes {
                    return Err(Denial::new(
                        Rule::StatementNotAllowed,
                        "EXPLAIN ANALYZE runs the statement; use EXPLAIN without ANALYZE",
                    ));
                }
                if !self.role().explain {
                    return Err(Denial::new(
                        Rule::StatementNotAllowed,
                        format!(
                            "EXPLAIN is not allowed for role {}: a plan's row estimates are computed over every tenant's rows; \
                             the role file can allow it with `explain: true`",
                            self.role().name
                        ),
                    ));
                }
                if *query_plan || *estimate || !matches!(describe_alias, DescribeAlias::Explain) {
                    return Err(construct("this form of EXPLAIN"));
                }
                match statement.as_mut() {
                    Statement::Query(_)
                    | Statement::Insert(_)
                    | Statement::Update(_)
                    | Statement::Delete(_) => {
                        self.statement(statement)?;
                        // EXPLAIN without ANALYZE plans the statement but runs nothing.
                        self.writes = false;
                        Ok(StatementKind::Explain)
                    }
                    other => Err(construct(format!("EXPLAIN of {}", first_words(other)))),
                }
            }
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::Deallocate { .. }
            | Statement::Reset(_)
            | Statement::Discard { .. }
            | Statement::Close { .. }
            | Statement::UNLISTEN { .. } => self.session_statement(stmt),
            Statement::Drop { .. }
            | Statement::DropFunction(..)
            | Statement::DropDomain(..)
            | Statement::DropProcedure { .. }
            | Statement::DropSecret { .. }
            | Statement::DropPolicy(..)
            | Statement::DropTrigger(..)
            | Statement::DropExtension(..) => self.never(Operation::Drop, stmt),
            Statement::Truncate(_) => self.never(Operation::Truncate, stmt),
            Statement::AlterTable(_)
            | Statement::AlterSchema(_)
            | Statement::AlterIndex { .. }
            | Statement::AlterView { .. }
            | Statement::AlterType(_)
            | Statement::AlterRole { .. }
            | Statement::AlterPolicy(..) => self.never(Operation::Alter, stmt),
            Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::CreateRole(_)
            | Statement::CreateSchema { .. }
            | Statement::CreateDatabase { .. }
            | Statement::CreateFunction(_)
            | Statement::CreateProcedure { .. }
            | Statement::CreateTrigger(_)
            | Statement::CreateExtension(..)
            | Statement::CreateSequence { .. }
            | Statement::CreateType { .. }
            | Statement::CreateDomain(_)
            | Statement::CreatePolicy(..)
            | Statement::CreateUser(_) => self.never(Operation::Create, stmt),
            Statement::Grant(_) | Statement::GrantRole(_) => self.never(Operation::Grant, stmt),
            Statement::Revoke(_) | Statement::RevokeRole(_) => self.never(Operation::Revoke, stmt),
            Statement::Copy { .. } => self.never(Operation::Copy, stmt),
            Statement::Call(_) => self.never(Operation::Call, stmt),
            Statement::Lock(_) | Statement::LockTables { .. } => self.never(Operation::Lock, stmt),
            // Everything else (PREPARE/EXECUTE in SQL, DO, LISTEN/NOTIFY, LOAD DATA,
            // VACUUM/ANALYZE, KILL, USE, SHOW of catalogs, …) and any statement
            // kind a future sqlparser adds: denied until someone decides otherwise.
            other => Err(Denial::new(
                Rule::StatementNotAllowed,
                format!(
                    "{} statements are not allowed through Sluice",
                    first_words(other)
                ),
            )),
        }
    }

    /// Statements that never run through Sluice; the rule named is the operator's
    /// `forbidden_operations` entry when there is one.
    fn never(&self, op: Operation, stmt: &Statement) -> Result<StatementKind, Denial> {
        match self.role().forbidden.get(&op) {
            Some(by) => Err(Denial::new(
                Rule::ForbiddenOperation,
                format!("{op} is forbidden by {by}"),
            )),
            None => Err(Denial::new(
                Rule::StatementNotAllowed,
                format!(
                    "{} statements are not allowed through Sluice",
                    first_words(stmt)
                ),
            )),
        }
    }
}

/// The leading keywords of a statement, for messages (`CREATE TABLE`, `LISTEN`).
pub(crate) fn first_words(stmt: &Statement) -> String {
    let text = stmt.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(2)
        .collect();
    if words.is_empty() {
        "these".to_string()
    } else {
        words.join(" ")
    }
}

/// The SELECT whose select list names a query's result columns.
fn first_select(body: &mut SetExpr) -> Option<&mut Select> {
    match body {
        SetExpr::Select(s) => Some(s),
        SetExpr::SetOperation { left, .. } => first_select(left),
        SetExpr::Query(q) => first_select(&mut q.body),
        _ => None,
    }
}

/// MySQL names an unaliased result column after the text of its expression as received; after
/// rewriting, that text would be the confined subquery (its filter, tenant and database). The
/// expression as the client wrote it, before rewriting, becomes the alias. It is sqlparser's
/// normalised text (`price*2` is named `price * 2`): the parser's spans are not precise enough
/// to cut the client's exact text out of the input.
fn client_column_names(body: &mut SetExpr) -> Vec<Option<String>> {
    first_select(body).map_or_else(Vec::new, |s| {
        s.projection
            .iter()
            .map(|item| match item {
                SelectItem::UnnamedExpr(e)
                    if !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) =>
                {
                    Some(e.to_string())
                }
                _ => None,
            })
            .collect()
    })
}

fn keep_column_names(body: &mut SetExpr, names: Vec<Option<String>>) {
    let Some(select) = first_select(body) else {
        return;
    };
    for (item, name) in select.projection.iter_mut().zip(names) {
        let Some(name) = name else { continue };
        let writable = name.len() <= super::render::max_identifier_bytes(Dialect::MySql)
            && !name
                .chars()
                .any(|c| matches!(c, '`' | '\'' | '"' | '\\') || c.is_control());
        if let SelectItem::UnnamedExpr(e) = item {
            if writable && e.to_string() != name {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::with_quote('`', name),
                };
            }
        }
    }
}
