//! Scoped catalogs: the system catalogs clients read to discover the schema, confined to the
//! role's scope like any table (gateway rule 4), through the same walk.
//!
//! A FROM item naming a served catalog relation (`pg_catalog.pg_class`,
//! `information_schema.COLUMNS`, …) becomes a fenced derived table over the relation with a
//! built-in filter computed from the role and the backend's schema model: a relation shows only
//! when the role is granted an operation on it, a column only when one of the role's operations
//! may name it, an index, constraint or default only when every column it reads is visible (a
//! foreign key also needs its table and columns visible), a user type only when a visible column
//! or table uses it. System objects (PostgreSQL OIDs below 16384: built-in types, functions,
//! the catalogs themselves) show as a real server shows them. Statistics are masked
//! (`reltuples`, `TABLE_ROWS`, `CARDINALITY`, sizes, update times), and catalogs that hold
//! only statistics or definitions the role could not see through are served empty or refused.
//!
//! The catalog functions that turn an identifier into a name or a definition
//! (`pg_get_indexdef`, `format_type`, `col_description`, casts to `regclass`, …) get their
//! identifier only when it is a visible object's (otherwise NULL), and lookups by name
//! (`to_regclass`, `to_regtype`) answer only with visible objects. MySQL's SHOW statements are
//! rewritten into queries of `information_schema` (and so confined by the same filters);
//! `SHOW CREATE TABLE` is written from the model.
//!
//! The fence matters here as anywhere: without it a client's condition (`relname::int = 1`)
//! would run on hidden catalog rows and its error would name them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, ObjectNamePart,
    Query, Statement, Value,
};
use sqlparser::parser::Parser;

use super::render::quote_literal;
use super::{construct, Checker};
use crate::decision::{Denial, Rule};
use crate::roles::{ColumnSet, EffectiveRole, Operation, RbacConfig, TableGrant, TableName};
use crate::schema::{ConstraintCatalog, IndexCatalog, TableSchema};
use crate::Dialect;

/// PostgreSQL's first OID for objects made after `initdb`: everything below is built in.
const FIRST_NORMAL_OID: u32 = 16384;

/// The PostgreSQL catalog relations served, as (schema, name).
pub const PG_SERVED: &[(&str, &str)] = &[
    ("pg_catalog", "pg_class"),
    ("pg_catalog", "pg_attribute"),
    ("pg_catalog", "pg_namespace"),
    ("pg_catalog", "pg_type"),
    ("pg_catalog", "pg_index"),
    ("pg_catalog", "pg_constraint"),
    ("pg_catalog", "pg_attrdef"),
    ("pg_catalog", "pg_description"),
    ("pg_catalog", "pg_enum"),
    ("pg_catalog", "pg_range"),
    ("pg_catalog", "pg_proc"),
    ("pg_catalog", "pg_am"),
    ("pg_catalog", "pg_collation"),
    ("pg_catalog", "pg_inherits"),
    ("pg_catalog", "pg_database"),
    ("pg_catalog", "pg_settings"),
    ("pg_catalog", "pg_operator"),
    ("pg_catalog", "pg_opclass"),
    ("pg_catalog", "pg_tablespace"),
    ("pg_catalog", "pg_language"),
    ("pg_catalog", "pg_extension"),
    ("pg_catalog", "pg_partitioned_table"),
    // Served empty: policies, triggers, rules, statistics objects, publications, sequences and
    // dependencies hold expressions or names the role cannot be shown piecemeal.
    ("pg_catalog", "pg_policy"),
    ("pg_catalog", "pg_trigger"),
    ("pg_catalog", "pg_rewrite"),
    ("pg_catalog", "pg_statistic_ext"),
    ("pg_catalog", "pg_publication"),
    ("pg_catalog", "pg_publication_rel"),
    ("pg_catalog", "pg_publication_namespace"),
    ("pg_catalog", "pg_sequence"),
    ("pg_catalog", "pg_depend"),
    ("pg_catalog", "pg_foreign_table"),
    ("pg_catalog", "pg_roles"),
    ("pg_catalog", "pg_user"),
    ("information_schema", "tables"),
    ("information_schema", "columns"),
    ("information_schema", "views"),
    ("information_schema", "schemata"),
    ("information_schema", "table_constraints"),
    ("information_schema", "key_column_usage"),
    ("information_schema", "referential_constraints"),
    ("information_schema", "constraint_column_usage"),
    ("information_schema", "check_constraints"),
];

/// The MySQL `information_schema` tables served (by their upper-case names).
pub const MYSQL_SERVED: &[&str] = &[
    "TABLES",
    "COLUMNS",
    "STATISTICS",
    "KEY_COLUMN_USAGE",
    "REFERENTIAL_CONSTRAINTS",
    "TABLE_CONSTRAINTS",
    "CHECK_CONSTRAINTS",
    "SCHEMATA",
    "VIEWS",
    "CHARACTER_SETS",
    "COLLATIONS",
    "ENGINES",
];

const EMPTY_PG: &[&str] = &[
    "pg_policy",
    "pg_trigger",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_sequence",
    "pg_depend",
    "pg_foreign_table",
    // Database accounts: the backend's, none of the client's business.
    "pg_roles",
    "pg_user",
];

/// One granted table the model holds, with what of it the role may see.
pub struct VisibleTable<'s> {
    /// The table's schema-qualified (PostgreSQL) or database-qualified (MySQL) name.
    pub name: TableName,
    /// The name the role file grants it by.
    pub key: &'s TableName,
    pub model: &'s TableSchema,
    /// The visible columns, in the table's order: those some operation of the role may name.
    pub columns: Vec<&'s str>,
    pub grant: &'s TableGrant,
}

/// The tables `role` sees in the backend's `schema` and, of each, the columns one of its
/// operations may name: what the scoped catalogs show, and what the REST door's OpenAPI
/// document and the MCP door's `list_tables`/`describe_table` describe. A granted table the
/// model does not hold (missing, or the schema not read yet) is not there.
pub fn visible_tables<'s>(
    config: &RbacConfig,
    role: &'s EffectiveRole,
    dialect: Dialect,
    database: Option<&str>,
    schema: &'s crate::Schema,
) -> Vec<VisibleTable<'s>> {
    let mut tables = Vec::new();
    for (key, grant) in &role.tables {
        let name = TableName {
            schema: Some(match (&key.schema, dialect) {
                (Some(s), _) => s.clone(),
                (None, Dialect::PostgreSql) => config.default_schema.clone(),
                (None, Dialect::MySql) => match database {
                    Some(d) => d.to_string(),
                    None => continue,
                },
            }),
            name: key.name.clone(),
        };
        let Some(model) = schema.table(&name) else {
            continue;
        };
        let operations: Vec<Operation> = grant
            .operations
            .iter()
            .copied()
            .filter(|op| role.permits(key, *op))
            .collect();
        if operations.is_empty() {
            continue;
        }
        let sets: Vec<ColumnSet> = operations.iter().map(|op| grant.columns_for(*op)).collect();
        let columns = model
            .columns
            .iter()
            .filter(|c| {
                sets.iter().any(|s| match s {
                    ColumnSet::All => true,
                    ColumnSet::Only(cols) => cols.iter().any(|n| match dialect {
                        Dialect::PostgreSql => *n == c.name,
                        Dialect::MySql => n.to_lowercase() == c.name.to_lowercase(),
                    }),
                })
            })
            .map(|c| c.name.as_str())
            .collect();
        tables.push(VisibleTable {
            name,
            key,
            model,
            columns,
            grant,
        });
    }
    tables
}

impl VisibleTable<'_> {
    fn shows(&self, column: &str) -> bool {
        self.columns.contains(&column)
    }

    fn shows_all(&self, columns: &[String]) -> bool {
        columns.iter().all(|c| self.shows(c))
    }

    pub fn indexes(&self) -> impl Iterator<Item = &IndexCatalog> {
        self.model
            .catalog
            .indexes
            .iter()
            .filter(|i| !i.uses.is_empty() && self.shows_all(&i.uses))
    }
}

/// What of the backend's schema the role may see.
pub(crate) struct Visible<'s> {
    pub tables: Vec<VisibleTable<'s>>,
    /// Constraint names (schema, name) that more than one table of the model uses: the
    /// information_schema views that name a constraint without its table cannot tell them
    /// apart, so they show neither.
    ambiguous: BTreeSet<(String, String)>,
}

impl<'s> Visible<'s> {
    pub fn table(&self, name: &TableName) -> Option<&VisibleTable<'s>> {
        self.tables.iter().find(|t| t.name == *name)
    }

    pub fn constraints<'a>(
        &'a self,
        t: &'a VisibleTable<'s>,
    ) -> impl Iterator<Item = &'a ConstraintCatalog> + 'a {
        t.model.catalog.constraints.iter().filter(move |c| {
            t.shows_all(&c.uses)
                && c.references
                    .as_ref()
                    .is_none_or(|(r, cols)| self.table(r).is_some_and(|rt| rt.shows_all(cols)))
        })
    }

    fn unambiguous(&self, t: &VisibleTable<'_>, constraint: &str) -> bool {
        !self.ambiguous.contains(&(
            t.name.schema.clone().unwrap_or_default(),
            constraint.to_string(),
        ))
    }

    fn relation_oids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.tables.iter().map(|t| t.model.catalog.oid).collect();
        v.extend(self.index_oids());
        v
    }

    fn table_oids(&self) -> Vec<u32> {
        self.tables.iter().map(|t| t.model.catalog.oid).collect()
    }

    fn index_oids(&self) -> Vec<u32> {
        self.tables
            .iter()
            .flat_map(|t| t.indexes().map(|i| i.oid))
            .collect()
    }

    fn constraint_oids(&self) -> Vec<u32> {
        self.tables
            .iter()
            .flat_map(|t| self.constraints(t).map(|c| c.oid))
            .collect()
    }

    fn type_oids(&self) -> Vec<u32> {
        let mut v = BTreeSet::new();
        for t in &self.tables {
            v.extend(t.model.catalog.row_types.iter().copied());
            for (c, cat) in t.model.columns.iter().zip(&t.model.catalog.columns) {
                if t.shows(&c.name) {
                    v.extend(cat.type_oids.iter().copied());
                }
            }
        }
        v.into_iter().filter(|o| *o >= FIRST_NORMAL_OID).collect()
    }

    fn namespace_oids(&self, schema: &crate::Schema) -> Vec<u32> {
        let v: BTreeSet<u32> = self
            .tables
            .iter()
            .filter_map(|t| t.name.schema.as_ref())
            .filter_map(|s| schema.namespaces.get(s).copied())
            .collect();
        v.into_iter().collect()
    }

    fn default_oids(&self) -> Vec<u32> {
        let mut v = Vec::new();
        for t in &self.tables {
            for (c, cat) in t.model.columns.iter().zip(&t.model.catalog.columns) {
                if let Some(d) = &cat.default {
                    if t.shows(&c.name) && t.shows_all(&d.uses) {
                        v.push(d.oid);
                    }
                }
            }
        }
        v
    }

    /// (table OID, attnum) of every visible column.
    fn attributes(&self) -> Vec<(u32, i32)> {
        let mut v = Vec::new();
        for t in &self.tables {
            for (c, cat) in t.model.columns.iter().zip(&t.model.catalog.columns) {
                if t.shows(&c.name) {
                    v.push((t.model.catalog.oid, cat.number));
                }
            }
        }
        v
    }
}

impl<'s> Checker<'s> {
    /// What the role may see of the model.
    pub(crate) fn visible(&self) -> Visible<'s> {
        let scope = self.scope;
        let tables = visible_tables(
            scope.config,
            scope.role,
            scope.dialect,
            scope.database,
            scope.schema,
        );
        let mut seen = BTreeSet::new();
        let mut ambiguous = BTreeSet::new();
        for (name, t) in &scope.schema.tables {
            for c in &t.catalog.constraints {
                let k = (name.schema.clone().unwrap_or_default(), c.name.clone());
                if !seen.insert(k.clone()) {
                    ambiguous.insert(k);
                }
            }
        }
        Visible { tables, ambiguous }
    }

    /// Whether a FROM item names a system catalog relation, and if it does, the fenced derived
    /// table that stands for it (or the refusal of a catalog that is not served).
    pub(crate) fn catalog_source(&self, name: &ObjectName) -> Option<Result<Query, Denial>> {
        let parts: Vec<&sqlparser::ast::Ident> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i),
                ObjectNamePart::Function(_) => None,
            })
            .collect::<Option<_>>()?;
        match self.scope.dialect {
            Dialect::PostgreSql => {
                let (schema, relation) = match parts.as_slice() {
                    [s, r] => (self.norm(s), self.norm(r)),
                    // pg_catalog is searched before any schema of the search_path.
                    [r] => {
                        let r = self.norm(r);
                        if !pg_served("pg_catalog", &r) {
                            return None;
                        }
                        ("pg_catalog".to_string(), r)
                    }
                    _ => return None,
                };
                if schema != "pg_catalog" && schema != "information_schema" {
                    return None;
                }
                Some(self.pg_catalog_source(&schema, &relation))
            }
            Dialect::MySql => match parts.as_slice() {
                [d, t] if d.value.eq_ignore_ascii_case("information_schema") => {
                    Some(self.mysql_catalog_source(&t.value.to_ascii_uppercase()))
                }
                [t] if self
                    .scope
                    .database
                    .is_some_and(|d| d.eq_ignore_ascii_case("information_schema"))
                    && !t.value.is_empty() =>
                {
                    Some(self.mysql_catalog_source(&t.value.to_ascii_uppercase()))
                }
                _ => None,
            },
        }
    }

    /// Whether a column reference is `schema.relation.column` of a served PostgreSQL catalog
    /// (SQLAlchemy writes `pg_catalog.pg_class.oid`). Its FROM item became a derived table
    /// aliased by the relation's name, so the reference is written `relation.column` and then
    /// checked as if the client had written that.
    pub(crate) fn catalog_column_qualifier(&self, parts: &[sqlparser::ast::Ident]) -> bool {
        match parts {
            [s, r, _] if self.scope.dialect == Dialect::PostgreSql => {
                let (s, r) = (self.norm(s), self.norm(r));
                pg_served(&s, &r)
            }
            _ => false,
        }
    }

    /// Whether `name` names a served PostgreSQL catalog (`pg_class`, `pg_catalog.pg_class`,
    /// `information_schema.columns`).
    fn served_catalog_name(&self, name: &ObjectName) -> bool {
        let parts: Option<Vec<String>> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(self.norm(i)),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        match parts.as_deref() {
            Some([s, r]) => pg_served(s, r),
            Some([r]) => pg_served("pg_catalog", r),
            _ => false,
        }
    }

    fn not_served(&self, relation: &str) -> Denial {
        Denial::new(
            Rule::TableNotGranted,
            format!(
                "the catalog {relation} is not served through Sluice (its rows are not scoped to a role: \
                 statistics, activity, accounts or settings); the scoped catalogs are pg_class, pg_attribute, \
                 pg_type, pg_index, pg_constraint, information_schema.tables, .columns and the like"
            ),
        )
    }

    fn catalog_columns(&self, schema: &str, relation: &str) -> Result<&'s [String], Denial> {
        let key = TableName {
            schema: Some(schema.to_string()),
            name: relation.to_string(),
        };
        self.scope
            .schema
            .catalogs
            .get(&key)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                Denial::new(
                    Rule::TableNotGranted,
                    format!(
                        "the catalog {schema}.{relation} cannot be served yet: the gateway has not read the backend's schema; retry in a moment"
                    ),
                )
            })
    }

    fn pg_catalog_source(&self, schema: &str, relation: &str) -> Result<Query, Denial> {
        if !pg_served(schema, relation) {
            return Err(self.not_served(&format!("{schema}.{relation}")));
        }
        let columns = self.catalog_columns(schema, relation)?;
        let v = self.visible();
        let oids = |o: Vec<u32>| list(o.iter().map(u32::to_string));
        let system = |col: &str| format!("{col} < {FIRST_NORMAL_OID}");
        let lit = |s: &str| quote_literal(Dialect::PostgreSql, "", s);
        let mut masked: Vec<(&str, String)> = Vec::new();
        let rows = match (schema, relation) {
            ("pg_catalog", r) if EMPTY_PG.contains(&r) => "false".to_string(),
            ("pg_catalog", "pg_class") => {
                // Counts of columns and checks: the visible ones.
                let mut natts = String::from("CASE oid");
                let mut checks = String::from("CASE oid");
                for t in &v.tables {
                    let last = t
                        .model
                        .columns
                        .iter()
                        .zip(&t.model.catalog.columns)
                        .filter(|(c, _)| t.shows(&c.name))
                        .map(|(_, cat)| cat.number)
                        .max()
                        .unwrap_or(0);
                    let n = v.constraints(t).filter(|c| c.kind == 'c').count();
                    let _ = write!(natts, " WHEN {} THEN {last}", t.model.catalog.oid);
                    let _ = write!(checks, " WHEN {} THEN {n}", t.model.catalog.oid);
                }
                masked = vec![
                    ("reltuples", "(-1)::real".into()),
                    ("relpages", "0".into()),
                    ("relallvisible", "0".into()),
                    ("relacl", "NULL::pg_catalog.aclitem[]".into()),
                ];
                if !v.tables.is_empty() {
                    masked.push(("relnatts", format!("({natts} ELSE relnatts END)::int2")));
                    masked.push(("relchecks", format!("({checks} ELSE relchecks END)::int2")));
                }
                format!("{} OR oid IN {}", system("oid"), oids(v.relation_oids()))
            }
            ("pg_catalog", "pg_attribute") => {
                masked = vec![("attacl", "NULL::pg_catalog.aclitem[]".into())];
                format!(
                    "{} OR attrelid IN {} OR (attrelid, attnum) IN {}",
                    system("attrelid"),
                    oids(v.index_oids()),
                    rows(2, v.attributes().iter().map(|(r, n)| format!("({r}, {n})")))
                )
            }
            ("pg_catalog", "pg_namespace") => {
                masked = vec![("nspacl", "NULL::pg_catalog.aclitem[]".into())];
                format!(
                    "{} OR oid IN {}",
                    system("oid"),
                    oids(v.namespace_oids(self.scope.schema))
                )
            }
            ("pg_catalog", "pg_type") => {
                masked = vec![("typacl", "NULL::pg_catalog.aclitem[]".into())];
                masked.extend(as_oids(&[
                    "typinput",
                    "typoutput",
                    "typreceive",
                    "typsend",
                    "typmodin",
                    "typmodout",
                    "typanalyze",
                    "typsubscript",
                ]));
                format!("{} OR oid IN {}", system("oid"), oids(v.type_oids()))
            }
            ("pg_catalog", "pg_index") => format!(
                "{} OR indexrelid IN {}",
                system("indexrelid"),
                oids(v.index_oids())
            ),
            ("pg_catalog", "pg_constraint") => {
                format!("{} OR oid IN {}", system("oid"), oids(v.constraint_oids()))
            }
            ("pg_catalog", "pg_attrdef") => {
                format!("{} OR oid IN {}", system("oid"), oids(v.default_oids()))
            }
            ("pg_catalog", "pg_description") => format!(
                "{} OR (classoid = 1259 AND objsubid = 0 AND objoid IN {}) \
                 OR (classoid = 1259 AND (objoid, objsubid) IN {}) \
                 OR (classoid = 2606 AND objoid IN {}) OR (classoid = 1247 AND objoid IN {}) \
                 OR (classoid = 2615 AND objoid IN {})",
                system("objoid"),
                oids(v.relation_oids()),
                rows(2, v.attributes().iter().map(|(r, n)| format!("({r}, {n})"))),
                oids(v.constraint_oids()),
                oids(v.type_oids()),
                oids(v.namespace_oids(self.scope.schema)),
            ),
            ("pg_catalog", "pg_enum") => format!(
                "{} OR enumtypid IN {}",
                system("enumtypid"),
                oids(v.type_oids())
            ),
            ("pg_catalog", "pg_range") => {
                masked = as_oids(&["rngcanonical", "rngsubdiff"]);
                format!(
                    "{} OR rngtypid IN {}",
                    system("rngtypid"),
                    oids(v.type_oids())
                )
            }
            ("pg_catalog", "pg_inherits") => {
                let t = oids(v.table_oids());
                format!("inhrelid IN {t} AND inhparent IN {t}")
            }
            ("pg_catalog", "pg_partitioned_table") => {
                format!("partrelid IN {}", oids(v.table_oids()))
            }
            ("pg_catalog", "pg_database") => {
                masked = vec![("datacl", "NULL::pg_catalog.aclitem[]".into())];
                "datname = pg_catalog.current_database()".to_string()
            }
            ("pg_catalog", "pg_settings") => format!(
                "lower(name) IN {}",
                list(super::session::PG_SHOWABLE.iter().map(|s| lit(s)))
            ),
            ("pg_catalog", "pg_proc") => {
                masked = vec![("proacl", "NULL::pg_catalog.aclitem[]".into())];
                masked.extend(as_oids(&["prosupport"]));
                system("oid")
            }
            ("pg_catalog", "pg_operator") => {
                masked = as_oids(&["oprcode", "oprrest", "oprjoin"]);
                system("oid")
            }
            ("pg_catalog", "pg_am") => {
                masked = as_oids(&["amhandler"]);
                system("oid")
            }
            ("pg_catalog", "pg_extension") | ("pg_catalog", "pg_language") => {
                masked = vec![("lanacl", "NULL::pg_catalog.aclitem[]".into())];
                system("oid")
            }
            ("pg_catalog", "pg_tablespace") => {
                masked = vec![("spcacl", "NULL::pg_catalog.aclitem[]".into())];
                system("oid")
            }
            ("pg_catalog", _) => system("oid"),
            ("information_schema", view) => self.pg_information_schema(&v, view, &mut masked)?,
            _ => return Err(self.not_served(&format!("{schema}.{relation}"))),
        };
        let source = format!(
            "{}.{}",
            quote_ident(Dialect::PostgreSql, schema),
            quote_ident(Dialect::PostgreSql, relation)
        );
        self.fenced(columns, &masked, &source, &rows)
    }

    fn pg_information_schema(
        &self,
        v: &Visible<'_>,
        view: &str,
        masked: &mut Vec<(&'static str, String)>,
    ) -> Result<String, Denial> {
        let lit = |s: &str| quote_literal(Dialect::PostgreSql, "", s);
        let schema_of = |t: &VisibleTable<'_>| lit(t.name.schema.as_deref().unwrap_or_default());
        let system = "table_schema IN ('pg_catalog', 'information_schema')";
        let tables = rows(
            2,
            v.tables
                .iter()
                .map(|t| format!("({}, {})", schema_of(t), lit(&t.name.name))),
        );
        let columns = || {
            rows(
                3,
                v.tables.iter().flat_map(|t| {
                    t.columns.iter().map(move |c| {
                        format!("({}, {}, {})", schema_of(t), lit(&t.name.name), lit(c))
                    })
                }),
            )
        };
        // (schema, table, constraint) of visible constraints, with the pseudo-constraints
        // PostgreSQL lists for each NOT NULL column (`<nsp>_<rel>_<attnum>_not_null`).
        let constraints = |kinds: &[char], not_null: bool, named_alone: bool| {
            let mut out = Vec::new();
            for t in &v.tables {
                for c in v.constraints(t) {
                    if kinds.contains(&c.kind) && (!named_alone || v.unambiguous(t, &c.name)) {
                        out.push((t, c.name.clone()));
                    }
                }
                if not_null {
                    let nsp = t
                        .name
                        .schema
                        .as_ref()
                        .and_then(|s| self.scope.schema.namespaces.get(s))
                        .copied()
                        .unwrap_or(0);
                    for (c, cat) in t.model.columns.iter().zip(&t.model.catalog.columns) {
                        if t.shows(&c.name) && !c.nullable {
                            out.push((
                                t,
                                format!("{nsp}_{}_{}_not_null", t.model.catalog.oid, cat.number),
                            ));
                        }
                    }
                }
            }
            out
        };
        let triples = |cs: Vec<(&VisibleTable<'_>, String)>| {
            rows(
                3,
                cs.into_iter().map(|(t, n)| {
                    format!("({}, {}, {})", schema_of(t), lit(&t.name.name), lit(&n))
                }),
            )
        };
        let pairs = |cs: Vec<(&VisibleTable<'_>, String)>| {
            rows(
                2,
                cs.into_iter()
                    .map(|(t, n)| format!("({}, {})", schema_of(t), lit(&n))),
            )
        };
        let all = ['p', 'u', 'f', 'c', 'x'];
        Ok(match view {
            "tables" => format!("{system} OR (table_schema, table_name) IN {tables}"),
            "views" => {
                masked.push(("view_definition", "NULL::text".into()));
                format!("(table_schema, table_name) IN {tables}")
            }
            "columns" => {
                let defaults = rows(3, v.tables.iter().flat_map(|t| {
                    t.model
                        .columns
                        .iter()
                        .zip(&t.model.catalog.columns)
                        .filter(|(c, cat)| {
                            t.shows(&c.name)
                                && cat.default.as_ref().is_some_and(|d| t.shows_all(&d.uses))
                        })
                        .map(move |(c, _)| {
                            format!("({}, {}, {})", schema_of(t), lit(&t.name.name), lit(&c.name))
                        })
                }));
                let shown = format!(
                    "CASE WHEN {system} OR (table_schema, table_name, column_name) IN {defaults} THEN"
                );
                masked.push(("column_default", format!("{shown} column_default END")));
                masked.push((
                    "generation_expression",
                    format!("{shown} generation_expression END"),
                ));
                format!(
                    "{system} OR (table_schema, table_name, column_name) IN {}",
                    columns()
                )
            }
            "schemata" => {
                masked.push(("schema_owner", "NULL::information_schema.sql_identifier".into()));
                let mut names: BTreeSet<String> =
                    ["pg_catalog", "information_schema"].map(String::from).into();
                names.extend(v.tables.iter().filter_map(|t| t.name.schema.clone()));
                format!("schema_name IN {}", list(names.iter().map(|n| lit(n))))
            }
            "table_constraints" => format!(
                "(table_schema, table_name, constraint_name) IN {}",
                triples(constraints(&all, true, false))
            ),
            "key_column_usage" => format!(
                "(table_schema, table_name, constraint_name) IN {}",
                triples(constraints(&['p', 'u', 'f'], false, false))
            ),
            "referential_constraints" => format!(
                "(constraint_schema, constraint_name) IN {}",
                pairs(constraints(&['f'], false, true))
            ),
            "check_constraints" => format!(
                "(constraint_schema, constraint_name) IN {}",
                pairs(constraints(&['c'], true, true))
            ),
            "constraint_column_usage" => format!(
                "(table_schema, table_name, column_name) IN {} AND (constraint_schema, constraint_name) IN {}",
                columns(),
                pairs(constraints(&all, false, true))
            ),
            _ => return Err(self.not_served(&format!("information_schema.{view}"))),
        })
    }

    /// MySQL compares `information_schema` names without case (its collation), but table and
    /// database names are case-sensitive on a server that keeps their case: the filters compare
    /// their bytes (`CAST(x AS BINARY)`), so `CUSTOMERS` is not `customers`.
    fn mysql_catalog_source(&self, relation: &str) -> Result<Query, Denial> {
        if !MYSQL_SERVED.contains(&relation) {
            return Err(self.not_served(&format!("information_schema.{relation}")));
        }
        let columns = self.catalog_columns("information_schema", relation)?;
        let v = self.visible();
        let lit = |s: &str| quote_literal(Dialect::MySql, "", s);
        let db = lit(self.scope.database.unwrap_or_default());
        let tables = list(v.tables.iter().map(|t| lit(&t.name.name)));
        let columns_of = |which: &dyn Fn(&VisibleTable<'_>, &str) -> bool| {
            rows(
                2,
                v.tables.iter().flat_map(|t| {
                    t.columns
                        .iter()
                        .filter(move |c| which(t, c))
                        .map(move |c| format!("({}, {})", lit(&t.name.name), lit(c)))
                }),
            )
        };
        let named = |kinds: &[char]| {
            rows(
                2,
                v.tables.iter().flat_map(|t| {
                    v.constraints(t)
                        .filter(|c| kinds.contains(&c.kind))
                        .map(move |c| format!("({}, {})", lit(&t.name.name), lit(&c.name)))
                        .collect::<Vec<_>>()
                }),
            )
        };
        let null_number = "CAST(NULL AS UNSIGNED)".to_string();
        let mut masked: Vec<(&str, String)> = Vec::new();
        let rows = match relation {
            "TABLES" => {
                for c in [
                    "TABLE_ROWS",
                    "AVG_ROW_LENGTH",
                    "DATA_LENGTH",
                    "MAX_DATA_LENGTH",
                    "INDEX_LENGTH",
                    "DATA_FREE",
                    "AUTO_INCREMENT",
                    "CHECKSUM",
                    "MAX_INDEX_LENGTH",
                ] {
                    masked.push((c, null_number.clone()));
                }
                masked.push(("UPDATE_TIME", "CAST(NULL AS DATETIME)".into()));
                masked.push(("CHECK_TIME", "CAST(NULL AS DATETIME)".into()));
                format!("CAST(TABLE_SCHEMA AS BINARY) = {db} AND CAST(TABLE_NAME AS BINARY) IN {tables}")
            }
            "VIEWS" => {
                masked.push(("VIEW_DEFINITION", "''".into()));
                // The view's definer is a backend account.
                masked.push(("DEFINER", "''".into()));
                format!("CAST(TABLE_SCHEMA AS BINARY) = {db} AND CAST(TABLE_NAME AS BINARY) IN {tables}")
            }
            "COLUMNS" => {
                let key = |t: &VisibleTable<'_>, c: &str| -> &'static str {
                    let mut key = "";
                    for i in t.indexes() {
                        let first = i.columns.first().and_then(|f| f.as_deref()) == Some(c);
                        if i.primary && i.columns.iter().any(|k| k.as_deref() == Some(c)) {
                            return "PRI";
                        }
                        if first && i.unique && i.columns.len() == 1 {
                            key = "UNI";
                        } else if first && key.is_empty() {
                            key = "MUL";
                        }
                    }
                    key
                };
                let mut key_case = String::from("CASE");
                let mut privileges = String::from("CASE");
                let mut generated = Vec::new();
                for t in &v.tables {
                    for c in &t.columns {
                        let at = format!(
                            " WHEN CAST(TABLE_NAME AS BINARY) = {} AND COLUMN_NAME = {} THEN ",
                            lit(&t.name.name),
                            lit(c)
                        );
                        let k = key(t, c);
                        if !k.is_empty() {
                            let _ = write!(key_case, "{at}{}", lit(k));
                        }
                        let ops: Vec<&str> = [
                            (Operation::Select, "select"),
                            (Operation::Insert, "insert"),
                            (Operation::Update, "update"),
                        ]
                        .iter()
                        .filter(|(op, _)| {
                            t.grant.operations.contains(op)
                                && match t.grant.columns_for(*op) {
                                    ColumnSet::All => true,
                                    ColumnSet::Only(cols) => {
                                        cols.iter().any(|n| n.eq_ignore_ascii_case(c))
                                    }
                                }
                        })
                        .map(|(_, n)| *n)
                        .collect();
                        let _ = write!(privileges, "{at}{}", lit(&ops.join(",")));
                    }
                    for (c, cat) in t.model.columns.iter().zip(&t.model.catalog.columns) {
                        let shown = cat
                            .default
                            .as_ref()
                            .is_some_and(|d| t.shows(&c.name) && t.shows_all(&d.uses));
                        if shown {
                            generated.push(format!("({}, {})", lit(&t.name.name), lit(&c.name)));
                        }
                    }
                }
                key_case.push_str(" ELSE '' END");
                privileges.push_str(" ELSE '' END");
                if v.tables.iter().all(|t| t.columns.is_empty()) {
                    key_case = "''".into();
                    privileges = "''".into();
                }
                masked.push(("COLUMN_KEY", key_case));
                masked.push(("PRIVILEGES", privileges));
                // A default or generation expression that reads a hidden column is withheld.
                let defaults = rows(2, generated.iter().cloned());
                masked.push((
                    "COLUMN_DEFAULT",
                    format!("CASE WHEN (CAST(TABLE_NAME AS BINARY), COLUMN_NAME) IN {defaults} THEN COLUMN_DEFAULT END"),
                ));
                masked.push((
                    "GENERATION_EXPRESSION",
                    format!(
                        "CASE WHEN (CAST(TABLE_NAME AS BINARY), COLUMN_NAME) IN {} THEN GENERATION_EXPRESSION END",
                        rows(2, generated.into_iter())
                    ),
                ));
                format!(
                    "CAST(TABLE_SCHEMA AS BINARY) = {db} AND (CAST(TABLE_NAME AS BINARY), COLUMN_NAME) IN {}",
                    columns_of(&|_, _| true)
                )
            }
            "STATISTICS" => {
                masked.push(("CARDINALITY", "CAST(NULL AS SIGNED)".into()));
                let indexes = rows(
                    2,
                    v.tables.iter().flat_map(|t| {
                        t.indexes()
                            .map(|i| format!("({}, {})", lit(&t.name.name), lit(&i.name)))
                            .collect::<Vec<_>>()
                    }),
                );
                format!("CAST(TABLE_SCHEMA AS BINARY) = {db} AND (CAST(TABLE_NAME AS BINARY), INDEX_NAME) IN {indexes}")
            }
            "KEY_COLUMN_USAGE" => format!(
                "CAST(TABLE_SCHEMA AS BINARY) = {db} AND (CAST(TABLE_NAME AS BINARY), CONSTRAINT_NAME) IN {}",
                named(&['p', 'u', 'f'])
            ),
            "REFERENTIAL_CONSTRAINTS" => format!(
                "CAST(CONSTRAINT_SCHEMA AS BINARY) = {db} AND (CAST(TABLE_NAME AS BINARY), CONSTRAINT_NAME) IN {}",
                named(&['f'])
            ),
            "TABLE_CONSTRAINTS" => format!(
                "CAST(TABLE_SCHEMA AS BINARY) = {db} AND (CAST(TABLE_NAME AS BINARY), CONSTRAINT_NAME) IN {}",
                named(&['p', 'u', 'f', 'c'])
            ),
            "CHECK_CONSTRAINTS" => format!(
                "CAST(CONSTRAINT_SCHEMA AS BINARY) = {db} AND (CAST(TABLE_NAME AS BINARY), CONSTRAINT_NAME) IN {}",
                named(&['c'])
            ),
            "SCHEMATA" => format!("CAST(SCHEMA_NAME AS BINARY) IN ({db}, 'information_schema')"),
            "CHARACTER_SETS" | "COLLATIONS" | "ENGINES" => "TRUE".to_string(),
            _ => return Err(self.not_served(&format!("information_schema.{relation}"))),
        };
        self.fenced(
            columns,
            &masked,
            &format!("information_schema.{relation}"),
            &rows,
        )
    }

    /// `SELECT <columns, masked ones replaced> FROM <source> WHERE <rows>` behind the fence.
    fn fenced(
        &self,
        columns: &[String],
        masked: &[(&str, String)],
        source: &str,
        rows: &str,
    ) -> Result<Query, Denial> {
        let dialect = self.scope.dialect;
        let projection = if masked.is_empty() {
            "*".to_string()
        } else {
            columns
                .iter()
                .map(|c| {
                    let q = quote_ident(dialect, c);
                    match masked.iter().find(|(m, _)| m.eq_ignore_ascii_case(c)) {
                        Some((_, with)) => format!("{with} AS {q}"),
                        None => q,
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fence = match dialect {
            Dialect::PostgreSql => "OFFSET 0",
            Dialect::MySql => "LIMIT 18446744073709551615",
        };
        let sql = format!("SELECT {projection} FROM {source} WHERE {rows} {fence}");
        parse_query(dialect, &sql)
    }

    /// A catalog function's call, made safe: the identifier it is given passes only when it is
    /// a visible object's (or a built-in's), and a lookup by name answers only with one.
    /// `None`: not a catalog function (the allowlists decide it).
    pub(crate) fn catalog_function(
        &self,
        name: &str,
        f: &Function,
    ) -> Option<Result<Expr, Denial>> {
        if self.scope.dialect != Dialect::PostgreSql {
            return None;
        }
        let args: Vec<Expr> = match &f.args {
            FunctionArguments::List(l)
                if l.clauses.is_empty() && l.duplicate_treatment.is_none() =>
            {
                l.args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                        _ => None,
                    })
                    .collect::<Option<_>>()
                    .unwrap_or_default()
            }
            FunctionArguments::None => vec![],
            _ => vec![],
        };
        let v = self.visible();
        let oids = |o: Vec<u32>| list(o.iter().map(u32::to_string));
        // Each guarded argument is evaluated once, in a derived table of its own, and the call
        // gets that value: an argument that changes between evaluations (`random()`) cannot be
        // checked as one object and used as another. Templates name the argument
        // `__sluice_a<i>` and the call `__sluice_call`; the checked expressions are put in
        // their place as trees, never as text.
        let guarded = |i: usize, set: &str| -> Result<Expr, Denial> {
            let call = call_with(f, &[(i, guard_column("x"))]);
            fill(
                &format!(
                    "(SELECT CASE WHEN {G}.x < {FIRST_NORMAL_OID} OR {G}.x IN {set} THEN __sluice_call END \
                     FROM (SELECT (__sluice_a{i})::pg_catalog.oid AS x OFFSET 0) AS {G})"
                ),
                &call,
                &args,
            )
        };
        // A lookup by name answers an OID, and only a visible object's.
        let looked_up = |set: &str| -> Result<Expr, Denial> {
            fill(
                &format!(
                    "(SELECT CASE WHEN {G}.x < {FIRST_NORMAL_OID} OR {G}.x IN {set} THEN {G}.x END \
                     FROM (SELECT (__sluice_call)::pg_catalog.oid AS x OFFSET 0) AS {G})"
                ),
                &Expr::Function(f.clone()),
                &args,
            )
        };
        Some(match (name, args.as_slice()) {
            ("pg_get_indexdef", [_, ..]) => guarded(0, &oids(v.index_oids())),
            ("pg_get_constraintdef", [_, ..]) => guarded(0, &oids(v.constraint_oids())),
            ("format_type", [_, _]) => guarded(0, &oids(v.type_oids())),
            ("pg_type_is_visible", [_]) => guarded(0, &oids(v.type_oids())),
            ("pg_table_is_visible", [_])
            | ("pg_relation_is_publishable", [_])
            | ("pg_get_partkeydef", [_]) => guarded(0, &oids(v.relation_oids())),
            ("pg_get_expr", [_, _, ..]) => {
                // The expression is a visible object's (only visible catalog rows can be read);
                // deparsed against another visible table it could still print that table's
                // hidden columns by number, so an output naming one is withheld.
                let mut hidden = Vec::new();
                for t in &v.tables {
                    for c in &t.model.columns {
                        if !t.shows(&c.name) {
                            hidden.push(format!(
                                "({G}.x = {} AND pg_catalog.strpos(pg_catalog.lower(d.text), {}) > 0)",
                                t.model.catalog.oid,
                                quote_literal(Dialect::PostgreSql, "", &c.name.to_lowercase())
                            ));
                        }
                    }
                }
                let hidden = if hidden.is_empty() {
                    "false".to_string()
                } else {
                    hidden.join(" OR ")
                };
                let call = call_with(f, &[(1, guard_column("x"))]);
                fill(
                    &format!(
                        "(SELECT CASE WHEN {G}.x IN {} THEN \
                           (SELECT CASE WHEN NOT ({hidden}) THEN d.text END \
                            FROM (SELECT __sluice_call AS text OFFSET 0) AS d) END \
                         FROM (SELECT (__sluice_a1)::pg_catalog.oid AS x OFFSET 0) AS {G})",
                        oids(v.table_oids())
                    ),
                    &call,
                    &args,
                )
            }
            ("col_description", [_, _]) => {
                let call = call_with(f, &[(0, guard_column("x")), (1, guard_column("n"))]);
                fill(
                    &format!(
                        "(SELECT CASE WHEN ({G}.x, {G}.n) IN {} THEN __sluice_call END \
                         FROM (SELECT (__sluice_a0)::pg_catalog.oid AS x, (__sluice_a1)::pg_catalog.int4 AS n OFFSET 0) AS {G})",
                        rows(2, v.attributes().iter().map(|(r, n)| format!("({r}, {n})")))
                    ),
                    &call,
                    &args,
                )
            }
            ("obj_description", [_, catalog]) => {
                let set = match catalog {
                    Expr::Value(sv) => match &sv.value {
                        Value::SingleQuotedString(s) => match s.trim_start_matches("pg_catalog.") {
                            "pg_class" => oids(v.relation_oids()),
                            "pg_type" => oids(v.type_oids()),
                            "pg_namespace" => oids(v.namespace_oids(self.scope.schema)),
                            "pg_constraint" => oids(v.constraint_oids()),
                            _ => "(NULL)".to_string(),
                        },
                        _ => "(NULL)".to_string(),
                    },
                    _ => "(NULL)".to_string(),
                };
                guarded(0, &set)
            }
            ("pg_get_function_result", [_])
            | ("pg_get_function_arguments", [_])
            | ("pg_get_function_identity_arguments", [_])
            | ("pg_get_statisticsobjdef_columns", [_])
            | ("pg_get_statisticsobjdef", [_])
            | ("pg_get_triggerdef", [_, ..])
            | ("pg_get_ruledef", [_, ..])
            | ("pg_get_viewdef", [_, ..])
            | ("pg_get_functiondef", [_]) => guarded(0, "(NULL)"),
            // Lookups by name answer only with what the role may see, as an OID (never a
            // value of an OID alias type, which would turn a client's string next to it into
            // a lookup: see `catalog_cast`).
            ("to_regclass", [_]) => looked_up(&oids(v.relation_oids())),
            ("to_regtype", [_]) => looked_up(&oids(v.type_oids())),
            ("to_regnamespace", [_]) => looked_up(&oids(v.namespace_oids(self.scope.schema))),
            ("to_regproc", [_]) | ("to_regprocedure", [_]) => looked_up("(NULL)"),
            // Ancestors of a partition may be tables the role does not see: only the relation
            // itself is answered (when visible).
            ("pg_partition_ancestors", [_]) => fill(
                &format!(
                    "(SELECT CASE WHEN {G}.x IN {} THEN {G}.x END \
                     FROM (SELECT (__sluice_a0)::pg_catalog.oid AS x OFFSET 0) AS {G})",
                    oids(v.table_oids())
                ),
                &Expr::Function(f.clone()),
                &args,
            ),
            // The owner of an object is a backend account: not the client's business.
            ("pg_get_userbyid", [_]) => parse_expr("NULL::pg_catalog.name"),
            _ => return None,
        })
    }

    /// A cast to an OID alias type (`regclass`, `regtype`, …), answered as an OID: a value of
    /// an OID alias type would make PostgreSQL read a client's string next to it (in a UNION,
    /// a CASE, a comparison) as a name to look up. Where the cast's value is shown (a select
    /// item, or cast on to text), [`display_name`] turns the OID into its name there and then.
    ///
    /// A name written as a literal is resolved by the engine: a table must be one the role
    /// sees (its OID comes from the model; the backend looks nothing up), a type a built-in
    /// one, a schema one holding a visible table. Any other value is turned into an OID first
    /// (so a name in a column or parameter cannot probe for hidden objects by the lookup's
    /// error), evaluated once, and passes only when it is a visible object's.
    pub(crate) fn catalog_cast(&self, inner: &Expr, alias: &str) -> Result<Expr, Denial> {
        let v = self.visible();
        let oids = |o: Vec<u32>| list(o.iter().map(u32::to_string));
        let literal = match inner {
            Expr::Value(sv) => match &sv.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        if let Some(s) = literal.filter(|s| s.parse::<u32>().is_err()) {
            let refused = || {
                Denial::new(
                    Rule::TableNotGranted,
                    format!(
                        "{s} does not name a {alias} role {} may see",
                        self.role().name
                    ),
                )
            };
            return match alias {
                "regclass" => {
                    // The whole string must be one name (PostgreSQL reads it whole).
                    let name = Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                        .try_with_sql(&s)
                        .and_then(|mut p| {
                            let n = p.parse_object_name(false)?;
                            p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
                            Ok(n)
                        })
                        .map_err(|_| refused())?;
                    // A served catalog is a system relation, named as a real server names it
                    // (SQLAlchemy: `'pg_catalog.pg_class'::regclass`).
                    // Written qualified, so that it cannot resolve to a user table.
                    if self.served_catalog_name(&name) {
                        let parts: Vec<String> = name
                            .0
                            .iter()
                            .map(|p| p.to_string().to_ascii_lowercase())
                            .collect();
                        let qualified = match parts.as_slice() {
                            [r] => format!("pg_catalog.{r}"),
                            _ => parts.join("."),
                        };
                        return parse_expr(&format!(
                            "({}::pg_catalog.regclass)::pg_catalog.oid",
                            quote_literal(Dialect::PostgreSql, "", &qualified)
                        ));
                    }
                    let oid = self
                        .resolve_table(&name)
                        .ok()
                        .and_then(|r| r.qualified())
                        .and_then(|q| v.table(&q).map(|t| t.model.catalog.oid))
                        .filter(|oid| *oid != 0)
                        .ok_or_else(refused)?;
                    parse_expr(&format!("{oid}::pg_catalog.oid"))
                }
                "regtype" => {
                    let t = s.trim().to_ascii_lowercase();
                    let t = t.strip_prefix("pg_catalog.").unwrap_or(&t);
                    let builtin = crate::TypeClass::of_postgres(t) != crate::TypeClass::Other
                        || super::functions::CUSTOM_TYPES.contains(&t)
                        || ["oid", "json", "jsonb", "bytea", "interval"].contains(&t);
                    if !builtin {
                        return Err(refused());
                    }
                    fill(
                        "((__sluice_a0)::pg_catalog.regtype)::pg_catalog.oid",
                        inner,
                        std::slice::from_ref(inner),
                    )
                }
                "regnamespace" => {
                    let n = s.as_str();
                    let visible = n == "pg_catalog"
                        || n == "information_schema"
                        || v.tables.iter().any(|t| t.name.schema.as_deref() == Some(n));
                    if !visible {
                        return Err(refused());
                    }
                    fill(
                        "((__sluice_a0)::pg_catalog.regnamespace)::pg_catalog.oid",
                        inner,
                        std::slice::from_ref(inner),
                    )
                }
                _ => Err(refused()),
            };
        }
        let set = match alias {
            "regclass" => oids(v.relation_oids()),
            "regtype" => oids(v.type_oids()),
            "regnamespace" => oids(v.namespace_oids(self.scope.schema)),
            "regproc" | "regprocedure" | "regoper" | "regoperator" | "regcollation"
            | "regconfig" | "regdictionary" => "(NULL)".to_string(),
            _ => {
                return Err(construct(format!("casts to {alias}")));
            }
        };
        // A parameter is a name (or an OID in digits) the engine never sees: looked up with
        // to_reg*, which answers NULL rather than an error for a name that does not exist, so
        // a hidden object and a missing one look alike once the guard has answered. Any other
        // value must be an OID (in digits): a name there fails alike for every name.
        let oid = match alias {
            "regclass" | "regtype" | "regnamespace" if is_parameter(inner) => format!(
                "(CASE WHEN (__sluice_a0)::pg_catalog.text ~ '^[0-9]+$' THEN ((__sluice_a0)::pg_catalog.text)::pg_catalog.oid ELSE (pg_catalog.to_{alias}((__sluice_a0)::pg_catalog.text))::pg_catalog.oid END)"
            ),
            _ => "((__sluice_a0)::pg_catalog.text)::pg_catalog.oid".to_string(),
        };
        fill(
            &format!(
                "(SELECT CASE WHEN {G}.x < {FIRST_NORMAL_OID} OR {G}.x IN {set} THEN {G}.x END \
                 FROM (SELECT {oid} AS x OFFSET 0) AS {G})"
            ),
            inner,
            std::slice::from_ref(inner),
        )
    }
}

/// The OID alias type whose name an expression's value shows, when the expression is a cast to
/// one or a lookup by name (which the engine answers as an OID: [`Checker::catalog_cast`]).
pub(crate) fn display_alias(dialect: Dialect, e: &Expr) -> Option<&'static str> {
    if dialect != Dialect::PostgreSql {
        return None;
    }
    match e {
        Expr::Cast { data_type, .. } => super::expr::oid_alias(dialect, data_type),
        Expr::Nested(inner) => display_alias(dialect, inner),
        Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
                "to_regclass" | "pg_partition_ancestors" => Some("regclass"),
                "to_regtype" => Some("regtype"),
                "to_regnamespace" => Some("regnamespace"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `(<oid>)::<alias>::text`: the name of a guarded OID, as text at once (no client string can
/// meet the alias type's value).
pub(crate) fn display_name(oid: Expr, alias: &str) -> Result<Expr, Denial> {
    fill(
        &format!("((__sluice_a0)::pg_catalog.{alias})::pg_catalog.text"),
        &oid,
        std::slice::from_ref(&oid),
    )
}

/// The derived table a guard evaluates its argument in (a name no client query needs).
const G: &str = "sluice_oid_guard";

fn guard_column(column: &str) -> Expr {
    Expr::CompoundIdentifier(vec![
        sqlparser::ast::Ident::new(G),
        sqlparser::ast::Ident::new(column),
    ])
}

/// A copy of a call with some arguments replaced.
fn call_with(f: &Function, replaced: &[(usize, Expr)]) -> Expr {
    let mut f = f.clone();
    if let FunctionArguments::List(list) = &mut f.args {
        for (i, e) in replaced {
            if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(slot))) = list.args.get_mut(*i) {
                *slot = e.clone();
            }
        }
    }
    Expr::Function(f)
}

/// Whether `schema.relation` is a served PostgreSQL catalog relation.
fn pg_served(schema: &str, relation: &str) -> bool {
    PG_SERVED
        .iter()
        .any(|(s, r)| *s == schema && *r == relation)
}

/// Aggregates: over no rows they still answer one.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "bit_xor",
    "stddev",
    "variance",
    "xmlagg",
];

impl Checker<'_> {
    /// Whether a SELECT reads from a catalog served empty (policies, triggers, publications, …)
    /// in a way that makes it answer no rows: the empty relation is in its FROM list or inner
    /// joined, with nothing that answers a row over no input (aggregates, GROUP BY, HAVING).
    /// Such a SELECT is answered by an empty one of the same width, and none of its
    /// expressions runs (psql's \d asks for publications with `generate_series`).
    pub(crate) fn provably_empty(&self, s: &sqlparser::ast::Select) -> bool {
        use sqlparser::ast::{GroupByExpr, JoinOperator, TableFactor};
        if self.scope.dialect != Dialect::PostgreSql
            || s.having.is_some()
            || !matches!(&s.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
            || s.projection.iter().any(|item| {
                !matches!(
                    item,
                    sqlparser::ast::SelectItem::UnnamedExpr(_)
                        | sqlparser::ast::SelectItem::ExprWithAlias { .. }
                )
            })
        {
            return false;
        }
        let empty = |tf: &TableFactor| match tf {
            TableFactor::Table {
                name, args: None, ..
            } if !self.is_cte(name) => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| match p {
                        ObjectNamePart::Identifier(i) => Some(self.norm(i)),
                        ObjectNamePart::Function(_) => None,
                    })
                    .collect();
                match parts.as_slice() {
                    [s, r] if s == "pg_catalog" => EMPTY_PG.contains(&r.as_str()),
                    [r] => EMPTY_PG.contains(&r.as_str()),
                    _ => false,
                }
            }
            _ => false,
        };
        // The cheap test first: most SELECTs read no catalog served empty.
        let reads_empty = s.from.iter().any(|twj| {
            let outer_after = |k: usize| {
                twj.joins[k..].iter().any(|j| {
                    !matches!(
                        j.join_operator,
                        JoinOperator::Join(_)
                            | JoinOperator::Inner(_)
                            | JoinOperator::CrossJoin(_)
                            | JoinOperator::Left(_)
                            | JoinOperator::LeftOuter(_)
                    )
                })
            };
            (empty(&twj.relation) && !outer_after(0))
                || twj.joins.iter().enumerate().any(|(k, j)| {
                    matches!(
                        j.join_operator,
                        JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                    ) && empty(&j.relation)
                        && !outer_after(k + 1)
                })
        });
        if !reads_empty {
            return false;
        }
        /// Finds an aggregate call outside subqueries (which answer for themselves).
        struct Aggregates {
            depth: usize,
            found: bool,
        }
        impl sqlparser::ast::Visitor for Aggregates {
            type Break = ();
            fn pre_visit_query(&mut self, _: &Query) -> std::ops::ControlFlow<()> {
                self.depth += 1;
                std::ops::ControlFlow::Continue(())
            }
            fn post_visit_query(&mut self, _: &Query) -> std::ops::ControlFlow<()> {
                self.depth -= 1;
                std::ops::ControlFlow::Continue(())
            }
            fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
                if let (0, Expr::Function(f)) = (self.depth, e) {
                    let name = f.name.to_string().to_lowercase();
                    let name = name.rsplit('.').next().unwrap_or_default();
                    if AGGREGATES.contains(&name) {
                        self.found = true;
                    }
                }
                std::ops::ControlFlow::Continue(())
            }
        }
        let mut aggregates = Aggregates {
            depth: 0,
            found: false,
        };
        let _ = sqlparser::ast::Visit::visit(&s.projection, &mut aggregates);
        if aggregates.found {
            return false;
        }
        // The empty answer keeps a parameter only where the client gave it a type by a cast;
        // one typed by the expressions around it would be left without a type.
        let (parameters, cast) = parameter_counts(s);
        parameters == cast
    }
}

fn is_parameter(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

/// The parameters in `s`, and how many of them are the operand of a cast (`$1::varchar`).
fn parameter_counts(s: &sqlparser::ast::Select) -> (usize, usize) {
    struct Count(usize, usize);
    impl sqlparser::ast::Visitor for Count {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            match e {
                e if is_parameter(e) => self.0 += 1,
                Expr::Cast { expr, .. } if is_parameter(expr) => self.1 += 1,
                _ => {}
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut count = Count(0, 0);
    let _ = sqlparser::ast::Visit::visit(s, &mut count);
    (count.0, count.1)
}

/// The casts of parameters in a provably empty SELECT (`$1::varchar`), in order: the empty
/// answer keeps them so that each parameter still has the type the client gave it (a client
/// that sent it untyped gets "could not determine data type of parameter" otherwise). The
/// caller checks them as any cast.
pub(crate) fn typed_parameters(s: &sqlparser::ast::Select) -> Vec<Expr> {
    struct Casts(Vec<Expr>);
    impl sqlparser::ast::Visitor for Casts {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            if matches!(e, Expr::Cast { expr, .. } if is_parameter(expr)) {
                self.0.push(e.clone());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut casts = Casts(Vec::new());
    let _ = sqlparser::ast::Visit::visit(s, &mut casts);
    casts.0
}

/// `SELECT NULL AS <name>, … WHERE false`: the answer of a provably empty SELECT, with its
/// column names; with `typed` parameter casts, `WHERE false AND (<cast> IS NULL OR …)`.
pub(crate) fn empty_select(
    projection: &[sqlparser::ast::SelectItem],
    typed: Vec<Expr>,
) -> Result<sqlparser::ast::Select, Denial> {
    use sqlparser::ast::SelectItem;
    let columns: Vec<String> = projection
        .iter()
        .map(|item| {
            let name = match item {
                SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                SelectItem::UnnamedExpr(Expr::Identifier(i)) => i.value.clone(),
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => {
                    p.last().map(|i| i.value.clone()).unwrap_or_default()
                }
                SelectItem::UnnamedExpr(Expr::Function(f)) => f
                    .name
                    .0
                    .last()
                    .map(|p| p.to_string().trim_matches('"').to_string())
                    .unwrap_or_default(),
                _ => "?column?".to_string(),
            };
            format!("NULL AS {}", quote_ident(Dialect::PostgreSql, &name))
        })
        .collect();
    let q = parse_query(
        Dialect::PostgreSql,
        &format!("SELECT {} WHERE false", columns.join(", ")),
    )?;
    let mut s = match *q.body {
        sqlparser::ast::SetExpr::Select(s) => *s,
        _ => return Err(construct("an empty answer")),
    };
    let typed = typed
        .into_iter()
        .map(|cast| Expr::IsNull(Box::new(cast)))
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: sqlparser::ast::BinaryOperator::Or,
            right: Box::new(b),
        });
    if let Some(typed) = typed {
        let no = s
            .selection
            .take()
            .ok_or_else(|| construct("an empty answer"))?;
        s.selection = Some(Expr::BinaryOp {
            left: Box::new(no),
            op: sqlparser::ast::BinaryOperator::And,
            right: Box::new(Expr::Nested(Box::new(typed))),
        });
    }
    Ok(s)
}

/// `SHOW COLUMNS`' Default from `information_schema.COLUMNS.COLUMN_DEFAULT`, which MariaDB
/// writes as SQL (`'anon'`, `NULL`, `current_timestamp()`): a string literal's text unquoted,
/// the literal NULL as NULL, an expression as it is, as MariaDB's own SHOW COLUMNS shows them.
const SHOW_DEFAULT: &str = "CASE WHEN COLUMN_DEFAULT = 'NULL' THEN NULL WHEN COLUMN_DEFAULT LIKE '''%''' THEN REPLACE(SUBSTRING(COLUMN_DEFAULT, 2, CHAR_LENGTH(COLUMN_DEFAULT) - 2), '''''', '''') ELSE COLUMN_DEFAULT END";

/// MySQL's SHOW statements about the schema, as the `information_schema` queries they are
/// (whose rows the catalog filters then confine). `None`: not such a statement.
pub(crate) fn show_as_query(
    scope: &super::Scope<'_>,
    stmt: &Statement,
) -> Option<Result<Statement, Denial>> {
    if scope.dialect != Dialect::MySql {
        return None;
    }
    let db = scope.database.unwrap_or_default();
    let lit = |s: &str| quote_literal(Dialect::MySql, "", s);
    let table_of = |name: &ObjectName| -> Result<String, Denial> {
        match name.0.as_slice() {
            [ObjectNamePart::Identifier(t)] => Ok(t.value.clone()),
            [ObjectNamePart::Identifier(d), ObjectNamePart::Identifier(t)] if d.value == db => {
                Ok(t.value.clone())
            }
            _ => Err(Denial::new(
                Rule::TableNotGranted,
                format!("{name} is not a table of this gateway's database"),
            )),
        }
    };
    let filter = |f: &Option<sqlparser::ast::ShowStatementFilter>, column: &str| match f {
        None => Ok(String::new()),
        Some(sqlparser::ast::ShowStatementFilter::Like(p)) => {
            Ok(format!(" AND {column} LIKE {}", lit(p)))
        }
        Some(sqlparser::ast::ShowStatementFilter::Where(e)) => Ok(format!(" HAVING {e}")),
        Some(other) => Err(construct(format!("SHOW … {other}"))),
    };
    let sql = match stmt {
        Statement::ShowTables {
            full, show_options, ..
        } => (|| {
            if show_options.show_in.as_ref().is_some_and(|i| {
                i.parent_name
                    .as_ref()
                    .is_some_and(|n| n.to_string().trim_matches('`') != db)
            }) {
                return Err(Denial::new(
                    Rule::TableNotGranted,
                    "SHOW TABLES names a database other than this gateway's",
                ));
            }
            let column = format!("Tables_in_{db}");
            let full_col = if *full {
                ", TABLE_TYPE AS `Table_type`"
            } else {
                ""
            };
            Ok(format!(
                "SELECT TABLE_NAME AS {}{full_col} FROM information_schema.TABLES WHERE TABLE_SCHEMA = {}{} ORDER BY 1",
                quote_ident(Dialect::MySql, &column),
                lit(db),
                filter(&show_options.filter_position.as_ref().map(|p| match p {
                    sqlparser::ast::ShowStatementFilterPosition::Infix(f)
                    | sqlparser::ast::ShowStatementFilterPosition::Suffix(f) => f.clone(),
                }), "TABLE_NAME")?
            ))
        })(),
        Statement::ShowColumns {
            extended,
            full,
            show_options,
        } => (|| {
            if *extended {
                return Err(construct("SHOW EXTENDED COLUMNS"));
            }
            let Some(table) = show_options
                .show_in
                .as_ref()
                .and_then(|i| i.parent_name.as_ref())
            else {
                return Err(construct("SHOW COLUMNS without FROM"));
            };
            let table = table_of(table)?;
            let cols = if *full {
                format!("COLUMN_NAME AS `Field`, COLUMN_TYPE AS `Type`, COLLATION_NAME AS `Collation`, IS_NULLABLE AS `Null`, COLUMN_KEY AS `Key`, {SHOW_DEFAULT} AS `Default`, EXTRA AS `Extra`, PRIVILEGES AS `Privileges`, COLUMN_COMMENT AS `Comment`")
            } else {
                format!("COLUMN_NAME AS `Field`, COLUMN_TYPE AS `Type`, IS_NULLABLE AS `Null`, COLUMN_KEY AS `Key`, {SHOW_DEFAULT} AS `Default`, EXTRA AS `Extra`")
            };
            Ok(format!(
                "SELECT {cols} FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}{} ORDER BY ORDINAL_POSITION",
                lit(db),
                lit(&table),
                filter(&show_options.filter_position.as_ref().map(|p| match p {
                    sqlparser::ast::ShowStatementFilterPosition::Infix(f)
                    | sqlparser::ast::ShowStatementFilterPosition::Suffix(f) => f.clone(),
                }), "COLUMN_NAME")?
            ))
        })(),
        Statement::ExplainTable {
            describe_alias,
            table_name,
            hive_format,
            has_table_keyword,
            ..
        } if hive_format.is_none() && !has_table_keyword => {
            let _ = describe_alias;
            table_of(table_name).map(|table| format!(
                "SELECT COLUMN_NAME AS `Field`, COLUMN_TYPE AS `Type`, IS_NULLABLE AS `Null`, COLUMN_KEY AS `Key`, {SHOW_DEFAULT} AS `Default`, EXTRA AS `Extra` FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
                lit(db),
                lit(&table)
            ))
        }
        // sqlparser reads `SHOW INDEX FROM t` as a variable named by words.
        Statement::ShowVariable { variable }
            if variable.first().is_some_and(|w| {
                ["index", "indexes", "keys"].contains(&w.value.to_ascii_lowercase().as_str())
            }) =>
        {
            let words: Vec<&str> = variable.iter().map(|i| i.value.as_str()).collect();
            match words.as_slice() {
                [_, from, table] | [_, from, table, _, _]
                    if ["from", "in"].contains(&from.to_ascii_lowercase().as_str()) =>
                {
                    if let [.., from2, d] = words.as_slice() {
                        if words.len() == 5
                            && (!["from", "in"].contains(&from2.to_ascii_lowercase().as_str())
                                || *d != db)
                        {
                            return Some(Err(Denial::new(
                                Rule::TableNotGranted,
                                "SHOW INDEX names a database other than this gateway's",
                            )));
                        }
                    }
                    Ok(format!(
                        "SELECT TABLE_NAME AS `Table`, NON_UNIQUE AS `Non_unique`, INDEX_NAME AS `Key_name`, SEQ_IN_INDEX AS `Seq_in_index`, COLUMN_NAME AS `Column_name`, COLLATION AS `Collation`, CARDINALITY AS `Cardinality`, SUB_PART AS `Sub_part`, PACKED AS `Packed`, NULLABLE AS `Null`, INDEX_TYPE AS `Index_type`, COMMENT AS `Comment`, INDEX_COMMENT AS `Index_comment` FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX",
                        lit(db),
                        lit(table)
                    ))
                }
                _ => Err(construct(
                    "this form of SHOW INDEX (write SHOW INDEX FROM table)",
                )),
            }
        }
        Statement::ShowDatabases { .. } | Statement::ShowSchemas { .. } => Ok(
            "SELECT SCHEMA_NAME AS `Database` FROM information_schema.SCHEMATA ORDER BY 1".into(),
        ),
        Statement::ShowCreate { obj_type, obj_name } => match obj_type {
            sqlparser::ast::ShowCreateObject::Table => {
                table_of(obj_name).and_then(|t| show_create_table(scope, &t))
            }
            _ => Err(Denial::new(
                Rule::StatementNotAllowed,
                format!(
                    "SHOW CREATE {obj_type} is not served through Sluice; SHOW CREATE TABLE is"
                ),
            )),
        },
        _ => return None,
    };
    Some(sql.and_then(|sql| {
        let mut parsed = Parser::new(Dialect::MySql.parser_dialect())
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statement())
            .map_err(|e| construct(format!("the SHOW statement as a query ({e})")))?;
        if let Statement::Query(_) = &mut parsed {
            Ok(parsed)
        } else {
            Err(construct("the SHOW statement"))
        }
    }))
}

/// `SHOW CREATE TABLE`, written from the model with only what the role may see: its visible
/// columns, the keys and foreign keys that name only those. A table the role may not see gets
/// the refusal any statement naming it gets.
fn show_create_table(scope: &super::Scope<'_>, table: &str) -> Result<String, Denial> {
    let checker = Checker::new(scope);
    let v = checker.visible();
    let db = scope.database.unwrap_or_default();
    let name = TableName {
        schema: Some(db.to_string()),
        name: table.to_string(),
    };
    let Some(t) = v.table(&name) else {
        let granted = scope
            .role
            .tables
            .keys()
            .any(|k| k.name == table && k.schema.as_deref().is_none_or(|s| s == db));
        return Err(Denial::new(
            Rule::TableNotGranted,
            if granted && scope.schema.tables.is_empty() {
                format!("SHOW CREATE TABLE {table} cannot be answered yet: the gateway has not read the backend's schema; retry in a moment")
            } else {
                format!("role {} has no access to table {table}", scope.role.name)
            },
        ));
    };
    let q = |s: &str| quote_ident(Dialect::MySql, s);
    let mut lines = Vec::new();
    for (c, cat) in t.model.columns.iter().zip(&t.model.catalog.columns) {
        if !t.shows(&c.name) {
            continue;
        }
        let mut line = format!(
            "  {} {}",
            q(&c.name),
            if cat.column_type.is_empty() {
                &c.data_type
            } else {
                &cat.column_type
            }
        );
        if !c.nullable {
            line.push_str(" NOT NULL");
        }
        // A default or generation expression that reads a hidden column is left out.
        if let Some(d) = cat.default.as_ref().filter(|d| t.shows_all(&d.uses)) {
            if cat.extra.to_ascii_uppercase().contains("GENERATED") {
                let _ = write!(line, " GENERATED ALWAYS AS ({}) VIRTUAL", d.text);
            } else {
                let _ = write!(line, " DEFAULT {}", d.text);
            }
        } else if c.nullable && cat.default.is_none() {
            line.push_str(" DEFAULT NULL");
        }
        let extra = cat.extra.to_ascii_lowercase();
        if extra.contains("auto_increment") {
            line.push_str(" AUTO_INCREMENT");
        }
        if let Some(on_update) = extra.find("on update ") {
            let _ = write!(line, " ON UPDATE {}", &cat.extra[on_update + 10..]);
        }
        lines.push(line);
    }
    let cols = |cs: &[Option<String>]| {
        cs.iter()
            .map(|c| q(c.as_deref().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    };
    for i in t.indexes() {
        if i.columns.iter().any(Option::is_none) {
            continue;
        }
        lines.push(if i.primary {
            format!("  PRIMARY KEY ({})", cols(&i.columns))
        } else if i.unique {
            format!("  UNIQUE KEY {} ({})", q(&i.name), cols(&i.columns))
        } else {
            format!("  KEY {} ({})", q(&i.name), cols(&i.columns))
        });
    }
    for c in v.constraints(t) {
        if let (Some((r, rcols)), Some(fk)) = (
            &c.references,
            t.model.foreign_keys.iter().find(|f| f.name == c.name),
        ) {
            let local: Vec<Option<String>> = fk.columns.iter().cloned().map(Some).collect();
            let remote: Vec<Option<String>> = rcols.iter().cloned().map(Some).collect();
            lines.push(format!(
                "  CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
                q(&c.name),
                cols(&local),
                q(&r.name),
                cols(&remote)
            ));
        }
    }
    let text = format!("CREATE TABLE {} (\n{}\n)", q(table), lines.join(",\n"));
    let kind_view = t.model.catalog.kind == "VIEW";
    let (label, text) = if kind_view {
        ("View", format!("CREATE VIEW {} AS SELECT 1", q(table)))
    } else {
        ("Table", text)
    };
    let _ = label;
    Ok(format!(
        "SELECT {} AS `Table`, {} AS `Create Table`",
        lit_mysql(table),
        lit_mysql(&text)
    ))
}

fn lit_mysql(s: &str) -> String {
    quote_literal(Dialect::MySql, "", s)
}

/// `((a, b), (c, d))` of `arity`-wide rows, or one row of NULLs for no items (which nothing
/// is IN; an empty list is a syntax error).
fn rows(arity: usize, items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        format!("(({}))", vec!["NULL"; arity].join(", "))
    } else {
        format!("({})", v.join(", "))
    }
}

/// Columns of an OID alias type (`regproc`) answered as plain OIDs: a value of such a type
/// would make PostgreSQL read a client's string next to it as a name to look up.
fn as_oids(columns: &[&'static str]) -> Vec<(&'static str, String)> {
    columns
        .iter()
        .map(|c| (*c, format!("{c}::pg_catalog.oid")))
        .collect()
}

/// `(a, b, c)`, or `(NULL)` for no items (which nothing is IN).
fn list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "(NULL)".to_string()
    } else {
        format!("({})", v.join(", "))
    }
}

fn quote_ident(dialect: Dialect, s: &str) -> String {
    let q = dialect.identifier_quote();
    format!("{q}{}{q}", s.replace(q, &format!("{q}{q}")))
}

fn parse_query(dialect: Dialect, sql: &str) -> Result<Query, Denial> {
    let q = Parser::new(dialect.parser_dialect())
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| construct(format!("a catalog query the gateway wrote ({e})")))?;
    Ok(*q)
}

fn parse_expr(sql: &str) -> Result<Expr, Denial> {
    Parser::new(Dialect::PostgreSql.parser_dialect())
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| construct(format!("a catalog expression the gateway wrote ({e})")))
}

/// Parses a PostgreSQL expression template and puts `call` where it says `__sluice_call` and
/// `args[i]` where it says `__sluice_a<i>`.
fn fill(template: &str, call: &Expr, args: &[Expr]) -> Result<Expr, Denial> {
    let mut e = Parser::new(Dialect::PostgreSql.parser_dialect())
        .try_with_sql(template)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| construct(format!("a catalog expression the gateway wrote ({e})")))?;
    let mut missing = false;
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        if let Expr::Identifier(i) = x {
            if i.value == "__sluice_call" {
                *x = call.clone();
            } else if let Some(n) = i.value.strip_prefix("__sluice_a") {
                match n.parse::<usize>().ok().and_then(|n| args.get(n)) {
                    Some(a) => *x = Expr::Nested(Box::new(a.clone())),
                    None => missing = true,
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if missing {
        return Err(construct(
            "a catalog call with fewer arguments than it takes",
        ));
    }
    Ok(e)
}
