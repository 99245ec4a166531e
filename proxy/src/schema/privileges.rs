//! Whether the backend account holds the privileges the role file grants: checked at start, so
//! that a role whose every write would fail with "permission denied" stops the start with the
//! grant to add, instead of failing each agent at its first statement.
//!
//! PostgreSQL answers exactly (`has_table_privilege`, which counts role membership). MySQL and
//! MariaDB are read from `information_schema`'s `USER_`, `SCHEMA_` and `TABLE_PRIVILEGES` of the
//! account itself; an account that holds roles is not checked (its grants through roles are not
//! listed there), and the log says so.
//!
//! Does not: check tables the backend lacks (`sluice check --db` reports those), or columns.

use std::collections::BTreeMap;
use std::fmt;

use sluice_policy::roles::{Operation, RbacConfig, TableName};
use sluice_policy::{Dialect, Schema};

/// Each (table as the model names it, operation) some role is granted and not forbidden, with
/// the roles that need it. Only tables the model has.
pub type Needs = BTreeMap<(TableName, Operation), Vec<String>>;

/// A privilege the roles need that the backend account lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPrivilege {
    pub table: TableName,
    pub operation: Operation,
    pub roles: Vec<String>,
}

impl fmt::Display for MissingPrivilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} (granted to {})",
            self.operation.as_str(),
            self.table,
            self.roles.join(", ")
        )
    }
}

/// What the roles of `config` need of the backend account, for the tables `schema` has.
pub fn needs(config: &RbacConfig, dialect: Dialect, database: &str, schema: &Schema) -> Needs {
    let mut needs = Needs::new();
    for name in config.role_names() {
        let Some(role) = config.role(name) else {
            continue;
        };
        for (table, grant) in &role.tables {
            let looked_up = super::model_name(table, dialect, &config.default_schema, database);
            if schema.table(&looked_up).is_none() {
                continue;
            }
            for op in &grant.operations {
                if role.permits(table, *op) {
                    needs
                        .entry((looked_up.clone(), *op))
                        .or_default()
                        .push(role.name.clone());
                }
            }
        }
    }
    needs
}

/// The PostgreSQL query answering, for each need, its index when the account lacks it.
pub(super) fn pg_sql(needs: &Needs) -> String {
    let rows: Vec<String> = needs
        .keys()
        .enumerate()
        .map(|(i, (table, op))| {
            format!(
                "({i}, {}, {}, '{}')",
                pg_literal(table.schema.as_deref().unwrap_or("public")),
                pg_literal(&table.name),
                op.as_str()
            )
        })
        .collect();
    format!(
        "SELECT v.i::text FROM (VALUES {}) AS v(i, s, t, p) \
         WHERE NOT has_table_privilege(quote_ident(v.s) || '.' || quote_ident(v.t), v.p)",
        rows.join(", ")
    )
}

fn pg_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The needs at the indexes the query answered.
pub(super) fn pick(
    needs: &Needs,
    indexes: impl IntoIterator<Item = usize>,
) -> Vec<MissingPrivilege> {
    let all: Vec<_> = needs.iter().collect();
    indexes
        .into_iter()
        .filter_map(|i| all.get(i))
        .map(|((table, operation), roles)| MissingPrivilege {
            table: table.clone(),
            operation: *operation,
            roles: (*roles).clone(),
        })
        .collect()
}

/// The MySQL query: the account's roles (a count), then its privileges at each level as
/// `(level, privilege, schema, table)`.
pub(super) const MYSQL_SQL: &str = "\
    SELECT COUNT(*) FROM information_schema.APPLICABLE_ROLES; \
    SELECT 'global', PRIVILEGE_TYPE, '', '' FROM information_schema.USER_PRIVILEGES \
      WHERE GRANTEE = @sluice_me \
    UNION ALL SELECT 'schema', PRIVILEGE_TYPE, TABLE_SCHEMA, '' \
      FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = @sluice_me \
    UNION ALL SELECT 'table', PRIVILEGE_TYPE, TABLE_SCHEMA, TABLE_NAME \
      FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = @sluice_me";

/// Sets `@sluice_me` to the account as `GRANTEE` writes it: `'user'@'host'`.
pub(super) const MYSQL_ME: &str = "SET @sluice_me = CONCAT('''', \
    SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), \
    '''')";

/// One privilege row of [`MYSQL_SQL`].
pub(super) struct MySqlGrant {
    pub level: String,
    pub privilege: String,
    pub schema: String,
    pub table: String,
}

/// The needs no grant row covers. A schema-level grant's name may hold `LIKE` wildcards
/// (`GRANT … ON \`app\_%\`.*`), as MySQL matches it.
pub(super) fn mysql_missing(needs: &Needs, grants: &[MySqlGrant]) -> Vec<MissingPrivilege> {
    let covered = |table: &TableName, op: Operation| {
        let schema = table.schema.as_deref().unwrap_or_default();
        grants.iter().any(|g| {
            (g.privilege.eq_ignore_ascii_case(op.as_str())
                || g.privilege.eq_ignore_ascii_case("ALL PRIVILEGES"))
                && match g.level.as_str() {
                    "global" => true,
                    "schema" => like(&g.schema, schema),
                    "table" => g.schema == schema && g.table == table.name,
                    _ => false,
                }
        })
    };
    let missing: Vec<usize> = needs
        .keys()
        .enumerate()
        .filter(|(_, (table, op))| !covered(table, *op))
        .map(|(i, _)| i)
        .collect();
    pick(needs, missing)
}

/// SQL `LIKE` with `%`, `_` and `\` escapes.
fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                t.first() == Some(&rest[0]) && go(&rest[1..], &t[1..])
            }
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: &str, name: &str) -> TableName {
        TableName {
            schema: Some(schema.into()),
            name: name.into(),
        }
    }

    fn grant(level: &str, privilege: &str, schema: &str, table: &str) -> MySqlGrant {
        MySqlGrant {
            level: level.into(),
            privilege: privilege.into(),
            schema: schema.into(),
            table: table.into(),
        }
    }

    #[test]
    fn mysql_grants_cover_needs_at_every_level_and_through_schema_wildcards() {
        let mut needs = Needs::new();
        needs.insert(
            (table("rental", "customers"), Operation::Select),
            vec!["r".into()],
        );
        needs.insert(
            (table("rental", "reservations"), Operation::Insert),
            vec!["w".into()],
        );
        needs.insert(
            (table("rental", "reservations"), Operation::Update),
            vec!["w".into()],
        );
        let missing = |grants: &[MySqlGrant]| -> Vec<String> {
            mysql_missing(&needs, grants)
                .iter()
                .map(|m| m.to_string())
                .collect()
        };
        assert_eq!(
            missing(&[
                grant("global", "SELECT", "", ""),
                grant("global", "INSERT", "", ""),
                grant("global", "UPDATE", "", "")
            ]),
            Vec::<String>::new()
        );
        assert_eq!(
            missing(&[
                grant("schema", "SELECT", "rental", ""),
                grant("table", "INSERT", "rental", "reservations")
            ]),
            ["UPDATE on rental.reservations (granted to w)"]
        );
        // `rent\_%` matches rental; `other` does not.
        assert_eq!(
            missing(&[
                grant("schema", "SELECT", "rent%", ""),
                grant("schema", "INSERT", "other", ""),
                grant("schema", "UPDATE", "r_ntal", "")
            ])
            .len(),
            1
        );
        assert!(like("rent\\_al", "rent_al") && !like("rent\\_al", "rental"));
    }

    #[test]
    fn the_postgres_query_quotes_what_the_role_file_names() {
        let mut needs = Needs::new();
        needs.insert(
            (table("public", "o'brien"), Operation::Select),
            vec!["r".into()],
        );
        let sql = pg_sql(&needs);
        assert!(sql.contains("(0, 'public', 'o''brien', 'SELECT')"), "{sql}");
    }
}
