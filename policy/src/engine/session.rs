//! Transaction control, and the session statements real drivers send on connect.
//!
//! Allowed settings are an explicit allowlist per dialect (what psql, psycopg, asyncpg, JDBC,
//! node-pg, PyMySQL, mysql_async and the mysql CLI send). Settings that change how SQL is parsed
//! or resolved (`standard_conforming_strings`, `sql_mode`, `search_path`, `role`,
//! `session_authorization`, character sets other than UTF-8) are denied: the doors pin them.
//! Roles that cannot write get `START TRANSACTION READ ONLY` whatever they asked for.

use sqlparser::ast::{
    BeginTransactionKind, CloseCursor, ContextModifier, DiscardObject, Expr, Ident, ObjectName,
    Reset, Set, ShowStatementFilter, Statement, TransactionAccessMode, TransactionMode, Value,
};

use super::render::check_ident;
use super::{construct, Checker};
use crate::decision::{DeallocateTarget, Denial, Rule, StatementKind};
use crate::Dialect;

const PG_SETTABLE: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "timezone",
    "time zone",
    "extra_float_digits",
    "client_min_messages",
    "bytea_output",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "escape_string_warning",
    "standard_conforming_strings",
];

pub(crate) const PG_SHOWABLE: &[&str] = &[
    "server_version",
    "server_version_num",
    "server_encoding",
    "client_encoding",
    "application_name",
    "datestyle",
    "intervalstyle",
    "timezone",
    "time zone",
    "standard_conforming_strings",
    "integer_datetimes",
    "transaction isolation level",
    "transaction_isolation",
    "default_transaction_isolation",
    "transaction_read_only",
    "default_transaction_read_only",
    "max_identifier_length",
    // A compile-time constant (preset); PgJDBC reads it before getImportedKeys/getIndexInfo.
    "max_index_keys",
    "extra_float_digits",
    "bytea_output",
    "lc_collate",
    "lc_ctype",
    "search_path",
    "statement_timeout",
];

const MYSQL_SETTABLE: &[&str] = &[
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "time_zone",
    "net_write_timeout",
    "net_read_timeout",
    "wait_timeout",
    "interactive_timeout",
    "sql_select_limit",
    "transaction_isolation",
    "tx_isolation",
    "session_track_schema",
    "session_track_system_variables",
    "session_track_state_change",
];

/// Values of encoding settings that keep the backend reading UTF-8, as the engine parses.
const UTF8: &[&str] = &["utf8", "utf-8", "unicode", "utf8mb4", "utf8mb3", "null"];

impl Checker<'_> {
    pub(crate) fn session_statement(
        &mut self,
        stmt: &mut Statement,
    ) -> Result<StatementKind, Denial> {
        match stmt {
            Statement::StartTransaction {
                modes,
                begin,
                transaction,
                modifier,
                statements,
                exception,
                has_end_keyword,
            } => {
                if modifier.is_some()
                    || !statements.is_empty()
                    || exception.is_some()
                    || *has_end_keyword
                {
                    return Err(construct("this form of BEGIN"));
                }
                self.transaction_modes(modes)?;
                if !self.role().can_write()
                    && !modes.iter().any(|m| {
                        matches!(
                            m,
                            TransactionMode::AccessMode(TransactionAccessMode::ReadOnly)
                        )
                    })
                {
                    modes.push(TransactionMode::AccessMode(TransactionAccessMode::ReadOnly));
                }
                // MySQL's BEGIN takes no modes: `START TRANSACTION READ ONLY` there. PostgreSQL
                // keeps the client's form, whose command tag drivers check (PgJDBC expects
                // `BEGIN` for the BEGIN it sent).
                if self.scope.dialect == crate::Dialect::MySql {
                    *begin = false;
                    *transaction = Some(BeginTransactionKind::Transaction);
                }
                Ok(StatementKind::Begin)
            }
            Statement::Commit { modifier, .. } => {
                if modifier.is_some() {
                    return Err(construct("this form of COMMIT"));
                }
                Ok(StatementKind::Commit)
            }
            Statement::Rollback { savepoint, .. } => {
                if let Some(s) = savepoint {
                    check_ident(s)?;
                }
                Ok(StatementKind::Rollback)
            }
            Statement::Savepoint { name } | Statement::ReleaseSavepoint { name } => {
                check_ident(name)?;
                Ok(StatementKind::Savepoint)
            }
            Statement::Set(set) => self.set(set).map(|()| StatementKind::Set),
            Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" ");
                let showable = match self.scope.dialect {
                    Dialect::PostgreSql => PG_SHOWABLE.contains(&name.as_str()),
                    Dialect::MySql => false,
                };
                if !showable {
                    return Err(Denial::new(
                        Rule::SettingNotAllowed,
                        format!("SHOW {name} is not allowed through Sluice"),
                    ));
                }
                Ok(StatementKind::Show)
            }
            Statement::ShowVariables {
                filter,
                global,
                session: _,
            } => {
                // MySQL `SHOW [SESSION] VARIABLES LIKE 'name'` for a readable variable only.
                let name = match filter {
                    Some(ShowStatementFilter::Like(pattern)) => pattern.to_lowercase(),
                    _ => String::new(),
                };
                if *global
                    || self.scope.dialect != Dialect::MySql
                    || !super::functions::READABLE_MYSQL_VARIABLES.contains(&name.as_str())
                {
                    return Err(Denial::new(
                        Rule::SettingNotAllowed,
                        "SHOW VARIABLES is allowed only as SHOW VARIABLES LIKE '<name>' for a harmless variable",
                    ));
                }
                Ok(StatementKind::Show)
            }
            // Driver housekeeping (psycopg's statement cache, asyncpg's and others' pool
            // reset). PostgreSQL only: in MySQL `DEALLOCATE PREPARE` is SQL-level PREPARE.
            Statement::Deallocate { name, prepare: _ } if self.pg() => {
                check_ident(name)?;
                self.deallocate = Some(
                    if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                        DeallocateTarget::All
                    } else {
                        DeallocateTarget::Name(name.value.clone())
                    },
                );
                Ok(StatementKind::Deallocate)
            }
            Statement::Reset(r) if self.pg() => match &r.reset {
                Reset::ALL => {
                    self.resets_all = true;
                    Ok(StatementKind::Reset)
                }
                Reset::ConfigurationParameter(name) => {
                    let name = self
                        .parts(name)?
                        .iter()
                        .map(|p| p.value.to_lowercase())
                        .collect::<Vec<_>>()
                        .join(".");
                    if PG_SETTABLE.contains(&name.as_str()) {
                        Ok(StatementKind::Reset)
                    } else {
                        Err(Denial::new(
                            Rule::SettingNotAllowed,
                            format!("RESET {name} is not allowed through Sluice"),
                        ))
                    }
                }
                Reset::SessionAuthorization => Err(Denial::new(
                    Rule::SettingNotAllowed,
                    "changing the role or session authorization is not allowed through Sluice",
                )),
            },
            Statement::Discard { object_type } if self.pg() => {
                self.discards_all = matches!(object_type, DiscardObject::ALL);
                Ok(StatementKind::Discard)
            }
            Statement::Close {
                cursor: CloseCursor::All,
            } if self.pg() => Ok(StatementKind::Housekeeping),
            Statement::UNLISTEN { channel }
                if self.pg() && channel.value == "*" && channel.quote_style.is_none() =>
            {
                Ok(StatementKind::Housekeeping)
            }
            Statement::Deallocate { .. }
            | Statement::Reset(_)
            | Statement::Discard { .. }
            | Statement::Close { .. }
            | Statement::UNLISTEN { .. } => Err(Denial::new(
                Rule::StatementNotAllowed,
                format!("{stmt} is not allowed through Sluice"),
            )),
            other => Err(construct(format!("the statement {other}"))),
        }
    }

    fn pg(&self) -> bool {
        self.scope.dialect == Dialect::PostgreSql
    }

    fn transaction_modes(&self, modes: &[TransactionMode]) -> Result<(), Denial> {
        for m in modes {
            if let TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) = m {
                if !self.role().can_write() {
                    return Err(Denial::new(
                        Rule::StatementNotAllowed,
                        format!(
                            "role {} cannot write; its transactions are READ ONLY",
                            self.role().name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn set(&mut self, set: &mut Set) -> Result<(), Denial> {
        match set {
            Set::SingleAssignment {
                scope,
                hivevar,
                variable,
                values,
            } => {
                if *hivevar {
                    return Err(construct("SET hivevar"));
                }
                self.set_one(scope.as_ref(), variable, values)
            }
            Set::MultipleAssignments { assignments } => {
                for a in assignments.iter_mut() {
                    self.set_one(
                        a.scope.as_ref(),
                        &a.name,
                        std::slice::from_mut(&mut a.value),
                    )?;
                }
                Ok(())
            }
            Set::SetTimeZone { value, .. } => literal_setting("time zone", value),
            Set::SetNames {
                charset_name,
                collation_name: _,
            } => {
                if UTF8.contains(&charset_name.value.to_lowercase().as_str()) {
                    Ok(())
                } else {
                    Err(Denial::new(
                        Rule::SettingNotAllowed,
                        format!("SET NAMES {charset_name}: only UTF-8 character sets are allowed"),
                    ))
                }
            }
            Set::SetTransaction {
                modes,
                snapshot,
                session: _,
            } => {
                if snapshot.is_some() {
                    return Err(construct("SET TRANSACTION SNAPSHOT"));
                }
                self.transaction_modes(modes)
            }
            Set::SetRole { .. } | Set::SetSessionAuthorization(_) => Err(Denial::new(
                Rule::SettingNotAllowed,
                "changing the role or session authorization is not allowed through Sluice",
            )),
            Set::ParenthesizedAssignments { .. }
            | Set::SetSessionParam(_)
            | Set::SetNamesDefault {} => Err(Denial::new(
                Rule::SettingNotAllowed,
                format!("{set} is not allowed through Sluice"),
            )),
        }
    }

    fn set_one(
        &mut self,
        scope: Option<&ContextModifier>,
        variable: &ObjectName,
        values: &mut [Expr],
    ) -> Result<(), Denial> {
        if matches!(scope, Some(ContextModifier::Global)) {
            return Err(Denial::new(
                Rule::SettingNotAllowed,
                "SET GLOBAL is not allowed through Sluice",
            ));
        }
        let parts = self.parts(variable)?;
        let raw: Vec<String> = parts.iter().map(|p| p.value.to_lowercase()).collect();
        let mut name = raw.join(".");
        for prefix in ["@@session.", "@@local.", "@@", "session.", "local."] {
            if let Some(rest) = name.strip_prefix(prefix) {
                name = rest.to_string();
                break;
            }
        }
        if name.starts_with('@')
            || raw
                .first()
                .is_some_and(|r| r.starts_with('@') && !r.starts_with("@@"))
        {
            return Err(Denial::new(
                Rule::SettingNotAllowed,
                "user variables are not allowed through Sluice (backend connections are shared)",
            ));
        }
        let allowed = match self.scope.dialect {
            Dialect::PostgreSql => PG_SETTABLE.contains(&name.as_str()),
            Dialect::MySql => MYSQL_SETTABLE.contains(&name.as_str()),
        };
        if !allowed {
            return Err(Denial::new(
                Rule::SettingNotAllowed,
                format!("SET {name} is not allowed through Sluice"),
            ));
        }
        for v in values.iter() {
            literal_setting(&name, v)?;
        }
        let first = values.first().map(setting_text).unwrap_or_default();
        let pinned_value_ok = match name.as_str() {
            "client_encoding"
            | "character_set_client"
            | "character_set_connection"
            | "character_set_results" => {
                UTF8.contains(&first.as_str())
                    || first == "binary" && name == "character_set_results"
            }
            "standard_conforming_strings" => first == "on" || first == "true",
            "collation_connection" => first.starts_with("utf8"),
            // DEBUG and LOG messages would show the client the gateway's rewritten SQL and the
            // backend's internals.
            "client_min_messages" => {
                ["notice", "warning", "error"].contains(&first.to_lowercase().as_str())
            }
            _ => true,
        };
        if !pinned_value_ok {
            return Err(Denial::new(
                Rule::SettingNotAllowed,
                format!("SET {name} = {first}: Sluice pins this setting"),
            ));
        }
        Ok(())
    }
}

/// A setting's value must be a literal or a bare word (`SET datestyle TO ISO, MDY`).
fn literal_setting(name: &str, e: &Expr) -> Result<(), Denial> {
    match e {
        Expr::Value(_) | Expr::Identifier(_) => Ok(()),
        Expr::UnaryOp { expr, .. } if matches!(expr.as_ref(), Expr::Value(_)) => Ok(()),
        _ => Err(Denial::new(
            Rule::SettingNotAllowed,
            format!("SET {name} takes a literal value, not `{e}`"),
        )),
    }
}

fn setting_text(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.to_lowercase(),
            Value::Null => "null".to_string(),
            other => other.to_string().to_lowercase(),
        },
        Expr::Identifier(Ident { value, .. }) => value.to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}
