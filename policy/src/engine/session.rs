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
    // asyncpg turns JIT compilation off on connect.
    "jit",
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
    "jit",
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

    /// `SELECT set_config('TimeZone', 'UTC', false)` (Django),
    /// `SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new` (asyncpg):
    /// a SELECT of nothing but `set_config` and `current_setting` calls on literal names is the
    /// SET it does, checked as one (an allowlisted setting, a literal value; pinned settings
    /// refused), and a door replays it on each backend as it replays a SET. `false`: not that
    /// shape, or no `set_config` in it (an ordinary query then; `current_setting` of a showable
    /// setting is allowed there).
    pub(crate) fn setting_query(&mut self, q: &sqlparser::ast::Query) -> Result<bool, Denial> {
        use sqlparser::ast::{
            FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem, SetExpr,
        };
        if !self.pg()
            || q.with.is_some()
            || q.order_by.is_some()
            || q.limit_clause.is_some()
            || q.fetch.is_some()
            || !q.locks.is_empty()
        {
            return Ok(false);
        }
        let SetExpr::Select(select) = q.body.as_ref() else {
            return Ok(false);
        };
        if !select.from.is_empty()
            || select.selection.is_some()
            || select.having.is_some()
            || select.distinct.is_some()
            || !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
        {
            return Ok(false);
        }
        let mut sets = Vec::new();
        for item in &select.projection {
            let e = match item {
                SelectItem::UnnamedExpr(e) => e,
                SelectItem::ExprWithAlias { expr, alias } => {
                    super::render::check_name(alias)?;
                    expr
                }
                _ => return Ok(false),
            };
            let Expr::Function(f) = e else {
                return Ok(false);
            };
            let name = match self.parts(&f.name)?.as_slice() {
                [n] => self.norm(n),
                [s, n] if self.norm(s) == "pg_catalog" => self.norm(n),
                _ => return Ok(false),
            };
            let FunctionArguments::List(list) = &f.args else {
                return Ok(false);
            };
            if f.over.is_some() || f.filter.is_some() || !list.clauses.is_empty() {
                return Ok(false);
            }
            let args: Vec<&Expr> = list
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect::<Option<_>>()
                .unwrap_or_default();
            let text = |e: &Expr| match e {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            };
            match (name.as_str(), args.as_slice()) {
                ("current_setting", [setting, ..]) if args.len() <= 2 => {
                    if text(setting).is_none() {
                        return Ok(false);
                    }
                }
                ("set_config", [setting, value, local]) => {
                    let (Some(setting), Some(_)) = (text(setting), text(value)) else {
                        return Err(Denial::new(
                            Rule::SettingNotAllowed,
                            "set_config takes a literal setting name and value through Sluice",
                        ));
                    };
                    let local = match local {
                        Expr::Value(v) => match v.value {
                            Value::Boolean(b) => b,
                            _ => return Ok(false),
                        },
                        _ => return Ok(false),
                    };
                    sets.push((setting, (*value).clone(), local));
                }
                _ => return Ok(false),
            }
        }
        if sets.is_empty() {
            return Ok(false);
        }
        for (setting, value, local) in sets {
            let variable = ObjectName::from(vec![Ident::new(setting.to_lowercase())]);
            let scope = local.then_some(ContextModifier::Local);
            self.set_one(scope.as_ref(), &variable, &mut [value])?;
        }
        // What remains: the current_setting calls, each of a showable setting.
        for item in &select.projection {
            if let SelectItem::UnnamedExpr(Expr::Function(f))
            | SelectItem::ExprWithAlias {
                expr: Expr::Function(f),
                ..
            } = item
            {
                self.current_setting_allowed(f)?;
            }
        }
        Ok(true)
    }

    /// `current_setting('<name>' [, missing_ok])` reads an allowlisted setting (as SHOW does);
    /// other calls are not this function's business (`Ok` for them).
    pub(crate) fn current_setting_allowed(
        &self,
        f: &sqlparser::ast::Function,
    ) -> Result<(), Denial> {
        use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
        let name = match self.parts(&f.name)?.as_slice() {
            [n] => self.norm(n),
            [s, n] if self.norm(s) == "pg_catalog" => self.norm(n),
            _ => return Ok(()),
        };
        if name != "current_setting" || !self.pg() {
            return Ok(());
        }
        let setting = match &f.args {
            FunctionArguments::List(l) => match l.args.first() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => {
                    match &v.value {
                        Value::SingleQuotedString(s) => Some(s.to_lowercase()),
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        };
        match setting {
            Some(s) if PG_SHOWABLE.contains(&s.as_str()) => Ok(()),
            Some(s) => Err(Denial::new(
                Rule::SettingNotAllowed,
                format!("current_setting('{s}') is not allowed through Sluice"),
            )),
            None => Err(Denial::new(
                Rule::SettingNotAllowed,
                "current_setting takes a literal setting name through Sluice",
            )),
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
            // The SQL standard's `SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE` too.
            Set::SetTimeZone { value, .. } => match value {
                Expr::Interval(i) if matches!(i.value.as_ref(), Expr::Value(_)) => Ok(()),
                _ => literal_setting("time zone", value),
            },
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
        if self.scope.dialect == Dialect::MySql && name == "sql_mode" {
            return added_sql_modes(values);
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

/// sql_mode flags a client may add to the pinned ones: they make writes stricter or dates
/// checked, and change neither how a statement parses nor what an operator means (unlike
/// ANSI_QUOTES, NO_BACKSLASH_ESCAPES, PIPES_AS_CONCAT, HIGH_NOT_PRECEDENCE, IGNORE_SPACE, …).
const ADDABLE_SQL_MODES: &[&str] = &[
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "NO_ENGINE_SUBSTITUTION",
    "NO_AUTO_CREATE_USER",
    "ONLY_FULL_GROUP_BY",
];

/// `SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')` (MariaDB Connector/J): modes
/// added to the pinned ones, each on [`ADDABLE_SQL_MODES`]. Any other value would replace the
/// pinned modes the engine's rendering relies on.
fn added_sql_modes(values: &[Expr]) -> Result<(), Denial> {
    let refuse = || {
        Denial::new(
            Rule::SettingNotAllowed,
            format!(
                "SET sql_mode: Sluice pins it; only CONCAT(@@sql_mode, ',<modes>') adding {} is allowed",
                ADDABLE_SQL_MODES.join(", ")
            ),
        )
    };
    let [Expr::Function(f)] = values else {
        return Err(refuse());
    };
    if !f.name.to_string().eq_ignore_ascii_case("concat") {
        return Err(refuse());
    }
    let sqlparser::ast::FunctionArguments::List(list) = &f.args else {
        return Err(refuse());
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .filter_map(|a| match a {
            sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(e)) => {
                Some(e)
            }
            _ => None,
        })
        .collect();
    let [Expr::Identifier(current), Expr::Value(added)] = args.as_slice() else {
        return Err(refuse());
    };
    let current = current.value.to_lowercase();
    if list.args.len() != 2 || !["@@sql_mode", "@@session.sql_mode"].contains(&current.as_str()) {
        return Err(refuse());
    }
    let Value::SingleQuotedString(added) = &added.value else {
        return Err(refuse());
    };
    let ok = added
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .all(|m| ADDABLE_SQL_MODES.contains(&m.to_ascii_uppercase().as_str()));
    if ok {
        Ok(())
    } else {
        Err(refuse())
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
