//! Statement kinds: what is allowed at all, fail closed.

use sqlparser::ast::{DescribeAlias, Statement};

use super::{construct, Checker};
use crate::decision::{Denial, Rule, StatementKind};
use crate::roles::Operation;

impl Checker<'_> {
    pub(crate) fn statement(&mut self, stmt: &mut Statement) -> Result<StatementKind, Denial> {
        match stmt {
            Statement::Query(q) => self.query(q).map(|()| StatementKind::Query),
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
            | Statement::ShowVariables { .. } => self.session_statement(stmt),
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
            // Everything else (PREPARE/EXECUTE/DEALLOCATE in SQL, DO, LISTEN/NOTIFY, LOAD DATA,
            // VACUUM/ANALYZE, KILL, USE, DISCARD, RESET, SHOW of catalogs, …) and any statement
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
