//! The equivalence suite of the policy engine, against real PostgreSQL and MariaDB.
//!
//! The claim under test: for a token of tenant `acme`, running the engine's rewrite of a query on
//! the FULL database (both tenants, every column) gives exactly what the ORIGINAL query gives on
//! an ORACLE database that holds only what the token may see (acme's rows of the filtered tables,
//! without the hidden columns `customers.ssn` and `reservations.internal_score`, vehicles whole).
//!
//! - Reads: the engine must allow the query, and both result sets (column names and every value
//!   as canonical text from the server's text protocol) must be identical: in order when the
//!   query ends in ORDER BY, as sorted multisets otherwise.
//! - Writes: on fresh copies of both databases, the engine's rewrite runs on the full copy and the
//!   original on the oracle copy; the full copy's acme-visible projection must equal the oracle,
//!   the affected row counts must agree, and globex's rows and the hidden columns of the full copy
//!   must be unchanged byte for byte.
//! - A handful of denials (the adversarial suite proper lives elsewhere).
//!
//! Every failing case is printed with the query, the rewritten SQL and both result sets; the test
//! fails at the end with the number of failing cases, so one run shows every failure.

use std::fmt::Write as _;

use mysql_async::prelude::Queryable;
use sluice_integration::{shared_mariadb, shared_pg};
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;

// The schema, rows and roles (mission.md's car-rental roles, with column limits that hide
// `customers.ssn` and `reservations.internal_score`, and INSERT for the support role) are the
// shared rental fixture's.
use sluice_integration::rental::{DATA, ROLES, SCHEMA_MARIADB, SCHEMA_PG};
const ORACLE: &str = include_str!("../fixtures/rental_oracle.sql");

const RO: &str = "agent_readonly";
const SUP: &str = "agent_support";

/// The MariaDB session mode the engine's output is rendered for (see the engine's docs).
const MARIADB_SQL_MODE: &str =
    "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES,ONLY_FULL_GROUP_BY'";

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// Read queries valid on both backends. `{db}` is replaced by the database's name (MariaDB only).
const READS_COMMON: &[(&str, &str)] = &[
    // Plain counts and stars on restricted tables.
    (RO, "SELECT count(*) FROM reservations"),
    (RO, "SELECT count(*) FROM customers"),
    (RO, "SELECT count(*) FROM vehicles"),
    (RO, "SELECT * FROM reservations"),
    (RO, "SELECT * FROM customers"),
    (RO, "SELECT * FROM vehicles ORDER BY id"),
    (RO, "SELECT c.* FROM customers c WHERE c.id < 4"),
    (RO, "SELECT * FROM reservations r JOIN customers c ON c.id = r.customer_id WHERE r.id < 20"),
    (SUP, "SELECT count(*), sum(price) FROM reservations"),
    // Predicates that try to reach the other tenant or to break the injected filter.
    (RO, "SELECT count(*) FROM reservations WHERE tenant_id = 'globex'"),
    (RO, "SELECT count(*) FROM reservations WHERE tenant_id = 'globex' OR 1 = 1"),
    (RO, "SELECT id FROM reservations WHERE status = 'booked' OR status = 'active'"),
    (RO, "SELECT count(*) FROM customers c WHERE c.tenant_id <> 'acme'"),
    (RO, "SELECT id FROM reservations WHERE id IN (1, 16, 17, 2)"),
    (RO, "SELECT id FROM reservations WHERE starts_on BETWEEN '2025-01-01' AND '2025-01-31'"),
    (RO, "SELECT name FROM customers WHERE email LIKE '%example'"),
    (RO, "SELECT id FROM reservations WHERE notes IS NULL"),
    (RO, "SELECT id, name, email FROM customers WHERE name = 'Alice Smith'"),
    // Joins and self-joins.
    (RO, "SELECT r.id, c.name, v.make, v.model FROM reservations r JOIN customers c ON c.id = r.customer_id JOIN vehicles v ON v.id = r.vehicle_id"),
    (RO, "SELECT c.name, r.id FROM customers c LEFT JOIN reservations r ON r.customer_id = c.id AND r.status = 'booked'"),
    (RO, "SELECT r1.id, r2.id FROM reservations r1 JOIN reservations r2 ON r1.starts_on = r2.starts_on AND r1.id < r2.id"),
    (RO, "SELECT a.id, b.id FROM customers a JOIN customers b ON a.name = b.name AND a.id <> b.id"),
    (RO, "SELECT r.id FROM reservations r, customers c WHERE r.customer_id = c.id AND c.name = 'Alice Smith'"),
    (RO, "SELECT v.make, count(r.id) FROM vehicles v LEFT JOIN reservations r ON r.vehicle_id = v.id GROUP BY v.make"),
    (RO, "SELECT count(*) FROM reservations r JOIN vehicles v ON v.id = r.vehicle_id WHERE v.make = 'Tesla'"),
    (RO, "SELECT c.name, sum(r.price) AS total FROM customers c JOIN reservations r ON r.customer_id = c.id GROUP BY c.name ORDER BY total DESC, c.name"),
    (RO, "SELECT count(*) FROM reservations NATURAL JOIN customers"),
    (RO, "SELECT id, name, status FROM reservations JOIN customers USING (id, tenant_id)"),
    // Aliases that reuse another table's name.
    (RO, "SELECT customers.id, customers.status FROM reservations AS customers"),
    (RO, "SELECT vehicles.id FROM customers AS vehicles WHERE vehicles.name LIKE 'A%'"),
    (RO, "SELECT reservations.name FROM customers reservations JOIN reservations customers ON customers.customer_id = reservations.id"),
    // Subqueries in SELECT / WHERE / FROM / HAVING, EXISTS / IN.
    (RO, "SELECT name, (SELECT count(*) FROM reservations r WHERE r.customer_id = c.id) AS n FROM customers c"),
    (RO, "SELECT (SELECT count(*) FROM customers) AS c, (SELECT count(*) FROM reservations) AS r, (SELECT count(*) FROM vehicles) AS v"),
    (RO, "SELECT v.model, (SELECT max(r.price) FROM reservations r WHERE r.vehicle_id = v.id) FROM vehicles v"),
    (RO, "SELECT id FROM reservations WHERE customer_id IN (SELECT id FROM customers WHERE name = 'Alice Smith')"),
    (RO, "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM reservations r WHERE r.customer_id = c.id AND r.status = 'active')"),
    (RO, "SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.customer_id = c.id AND r.status = 'booked')"),
    (RO, "SELECT id FROM reservations r WHERE price = (SELECT max(price) FROM reservations r2 WHERE r2.customer_id = r.customer_id)"),
    (RO, "SELECT id FROM reservations WHERE price > ALL (SELECT price FROM reservations WHERE status = 'booked')"),
    (RO, "SELECT status, n FROM (SELECT status, count(*) AS n FROM reservations GROUP BY status) AS s"),
    (RO, "SELECT t.id FROM (SELECT id, customer_id FROM reservations WHERE price > 100) t JOIN customers c ON c.id = t.customer_id WHERE c.email IS NULL"),
    (RO, "SELECT count(*) FROM (SELECT * FROM reservations UNION ALL SELECT * FROM reservations) AS doubled"),
    (RO, "SELECT customer_id, sum(price) FROM reservations GROUP BY customer_id HAVING sum(price) > (SELECT avg(price) FROM reservations)"),
    (RO, "SELECT vehicle_id FROM reservations GROUP BY vehicle_id HAVING count(*) >= 2 AND vehicle_id IN (SELECT id FROM vehicles WHERE make <> 'Fiat')"),
    // Aggregates.
    (RO, "SELECT status, count(*), sum(price), avg(price), min(starts_on), max(starts_on) FROM reservations GROUP BY status"),
    (RO, "SELECT customer_id, count(*) FROM reservations GROUP BY customer_id HAVING count(*) > 1"),
    (RO, "SELECT max(price), min(price), count(notes) FROM reservations"),
    (RO, "SELECT count(DISTINCT vehicle_id) FROM reservations"),
    (RO, "SELECT DISTINCT status FROM reservations"),
    (RO, "SELECT DISTINCT c.name FROM customers c JOIN reservations r ON r.customer_id = c.id"),
    // CTEs, including recursive ones and CTEs that shadow table names.
    (RO, "WITH live AS (SELECT * FROM reservations WHERE status <> 'cancelled') SELECT count(*), sum(price) FROM live"),
    (RO, "WITH s AS (SELECT customer_id, sum(price) AS total FROM reservations GROUP BY customer_id) SELECT a.customer_id FROM s a WHERE a.total = (SELECT max(total) FROM s)"),
    (RO, "WITH reservations AS (SELECT * FROM vehicles) SELECT count(*) FROM reservations"),
    (RO, "WITH vehicles AS (SELECT id, customer_id AS make FROM reservations) SELECT count(*) FROM vehicles"),
    (RO, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) SELECT n.i FROM n WHERE n.i IN (SELECT id FROM reservations)"),
    (RO, "WITH RECURSIVE chain AS (SELECT id, customer_id, 1 AS depth FROM reservations WHERE id = 1 UNION ALL SELECT r.id, r.customer_id, chain.depth + 1 FROM reservations r JOIN chain ON r.id = chain.id + 1 WHERE chain.depth < 40) SELECT id, customer_id, depth FROM chain"),
    // Set operations.
    (RO, "SELECT customer_id FROM reservations UNION SELECT id FROM customers"),
    (RO, "SELECT name FROM customers UNION ALL SELECT make FROM vehicles"),
    (RO, "SELECT customer_id FROM reservations INTERSECT SELECT id FROM customers WHERE email IS NOT NULL"),
    (RO, "SELECT id FROM customers EXCEPT SELECT customer_id FROM reservations WHERE status = 'returned'"),
    // Window functions.
    (RO, "SELECT id, customer_id, price, row_number() OVER (PARTITION BY customer_id ORDER BY starts_on, id) AS rn FROM reservations"),
    (RO, "SELECT id, sum(price) OVER (ORDER BY starts_on, id) AS running FROM reservations ORDER BY id"),
    (RO, "SELECT id, rank() OVER (ORDER BY price DESC) AS rk, count(*) OVER () AS total FROM reservations"),
    // Paging.
    (RO, "SELECT id, starts_on FROM reservations ORDER BY starts_on DESC, id LIMIT 5 OFFSET 5"),
    (RO, "SELECT name FROM customers ORDER BY name, id LIMIT 3"),
    (RO, "SELECT id FROM reservations ORDER BY price DESC, id LIMIT 4"),
    // CASE, COALESCE, string and date functions.
    (RO, "SELECT id, CASE WHEN price > 300 THEN 'high' WHEN price > 100 THEN 'mid' ELSE 'low' END AS band FROM reservations"),
    (RO, "SELECT id, COALESCE(notes, '(none)') FROM reservations"),
    (RO, "SELECT upper(name), lower(email), length(name) FROM customers"),
    (RO, "SELECT concat(name, ' <', COALESCE(email, ''), '>') FROM customers"),
    (RO, "SELECT id, EXTRACT(MONTH FROM starts_on) AS m FROM reservations WHERE starts_on >= '2025-03-01'"),
    (RO, "SELECT id, price*2, -price FROM reservations"),
    (RO, "SELECT (SELECT count(*) FROM reservations)"),
    (RO, "SELECT count(CASE WHEN status = 'returned' THEN 1 END), sum(CASE WHEN notes IS NULL THEN 1 ELSE 0 END) FROM reservations"),
];

const READS_PG: &[(&str, &str)] = &[
    (RO, "SELECT date_trunc('month', starts_on) AS m, count(*) FROM reservations GROUP BY 1"),
    (RO, "SELECT string_agg(name, ',' ORDER BY name) FROM customers"),
    (RO, "SELECT count(*) FILTER (WHERE status = 'returned') FROM reservations"),
    (RO, "SELECT DISTINCT ON (customer_id) customer_id, id FROM reservations ORDER BY customer_id, starts_on DESC, id"),
    (RO, "SELECT id, price::int FROM reservations"),
    (RO, "SELECT name FROM customers WHERE name ILIKE 'a%'"),
    (RO, "SELECT c.name, l.id FROM customers c CROSS JOIN LATERAL (SELECT r.id FROM reservations r WHERE r.customer_id = c.id ORDER BY r.starts_on DESC LIMIT 1) l"),
    (RO, "SELECT \"id\", \"name\" FROM \"customers\""),
    (RO, "SELECT count(*) FROM public.reservations"),
    (RO, "SELECT id FROM reservations ORDER BY id FETCH FIRST 3 ROWS ONLY"),
    (RO, "SELECT to_char(starts_on, 'YYYY-MM') AS m, count(*) FROM reservations GROUP BY to_char(starts_on, 'YYYY-MM')"),
];

const READS_MARIADB: &[(&str, &str)] = &[
    (RO, "SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR ',') FROM customers"),
    (RO, "SELECT DATE_FORMAT(starts_on, '%Y-%m') AS m, COUNT(*) FROM reservations GROUP BY DATE_FORMAT(starts_on, '%Y-%m')"),
    (RO, "SELECT id, IFNULL(notes, '-') FROM reservations"),
    (RO, "SELECT id FROM reservations ORDER BY id LIMIT 2, 3"),
    (RO, "SELECT `id`, `name` FROM `customers`"),
    (RO, "SELECT COUNT(*) FROM {db}.reservations"),
    (RO, "SELECT r.id, c.name FROM {db}.reservations r JOIN `{db}`.`customers` c ON c.id = r.customer_id"),
    (RO, "SELECT id, IF(price > 200, 'big', 'small') FROM reservations"),
    (RO, "SELECT YEAR(starts_on), MONTH(starts_on), COUNT(*) FROM reservations GROUP BY YEAR(starts_on), MONTH(starts_on)"),
    (RO, "SELECT id FROM reservations WHERE notes <=> NULL"),
];

/// Writes valid on both backends, run as agent_support.
const WRITES_COMMON: &[&str] = &[
    "UPDATE reservations SET notes = 'x'",
    "UPDATE reservations SET status = 'cancelled' WHERE id = 17",
    "UPDATE reservations SET status = 'active' WHERE id = 4",
    "UPDATE reservations SET notes = concat(COALESCE(notes, ''), ' checked') WHERE status = 'returned'",
    "UPDATE reservations SET notes = 'bulk' WHERE status = 'booked' OR 1 = 1",
    "UPDATE reservations SET notes = (SELECT c.name FROM customers c WHERE c.id = reservations.customer_id)",
    "UPDATE reservations SET status = 'returned', notes = 'closed' WHERE starts_on < '2025-02-01'",
    "UPDATE reservations SET notes = 'no-email' WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = reservations.customer_id AND c.email IS NULL)",
    "UPDATE reservations SET notes = 'same-day' WHERE starts_on IN (SELECT starts_on FROM reservations WHERE tenant_id = 'globex')",
    "UPDATE reservations SET notes = 'count' WHERE (SELECT count(*) FROM customers) > 10",
    // The same subqueries with qualified columns (the engine cannot tell, without the schema,
    // which table an unqualified column of a subquery belongs to).
    "UPDATE reservations SET notes = 'by-name' WHERE customer_id IN (SELECT c.id FROM customers c WHERE c.name = 'Alice Smith')",
    "UPDATE reservations SET notes = (SELECT max(v.make) FROM vehicles v) WHERE id IN (1, 16)",
    "UPDATE reservations SET status = 'active' WHERE id = (SELECT min(c.id) FROM customers c WHERE c.name = 'Hank Scorpio')",
    "UPDATE reservations SET notes = 'dup' WHERE starts_on IN (SELECT r2.starts_on FROM reservations r2 WHERE r2.id <> reservations.id)",
    "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) VALUES (1, 2, 'booked', 'new', '2025-08-01', 111.00)",
    "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) VALUES ('acme', 2, 3, 'booked', NULL, '2025-08-02', 10.50), ('acme', 3, 4, 'booked', 'two', '2025-08-03', 20.25)",
    "INSERT INTO reservations (customer_id, vehicle_id, status, starts_on, price) VALUES (4, 5, 'booked', '2025-09-09', 9.99)",
    "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) SELECT customer_id, vehicle_id, 'booked', 'rebook', starts_on, price FROM reservations WHERE status = 'cancelled'",
    "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) SELECT customer_id, vehicle_id, 'booked', 'booked', starts_on, price FROM reservations WHERE id IN (3, 17)",
    "INSERT INTO reservations (customer_id, vehicle_id, status, notes, starts_on, price) SELECT c.id, 1, 'booked', c.name, '2025-10-01', 1.00 FROM customers c WHERE c.name = 'Alice Smith'",
];

const WRITES_PG: &[&str] = &[
    "UPDATE reservations SET notes = c.name FROM customers c WHERE c.id = reservations.customer_id",
    "UPDATE reservations AS r SET notes = v.model FROM vehicles v WHERE v.id = r.vehicle_id AND v.make = 'Toyota'",
    "UPDATE reservations r SET notes = 'alias' WHERE r.status = 'active'",
    "UPDATE reservations SET notes = 'q' WHERE id IN (SELECT r2.id FROM reservations r2 JOIN customers c ON c.id = r2.customer_id WHERE c.name = 'Bob Jones')",
];

const WRITES_MARIADB: &[&str] = &[
    "UPDATE reservations r JOIN customers c ON c.id = r.customer_id SET r.notes = c.name",
    "UPDATE reservations SET notes = 'limited' ORDER BY id LIMIT 3",
    "UPDATE reservations r SET r.notes = 'alias' WHERE r.status = 'active'",
    "UPDATE {db}.reservations SET notes = 'qualified' WHERE status = 'booked'",
];

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Denied by one of these rules.
    Rule(&'static [Rule]),
    /// Denied by any rule.
    AnyDenial,
    /// Denied, or allowed but the backend rejects the rewrite (the hidden column does not exist
    /// in the confined view), so nothing leaks.
    DeniedOrBackendError,
}

const DENIALS: &[(&str, &str, Expect)] = &[
    (SUP, "DELETE FROM reservations", Expect::Rule(&[Rule::ForbiddenOperation])),
    (SUP, "DELETE FROM reservations WHERE id = 1", Expect::Rule(&[Rule::ForbiddenOperation])),
    (SUP, "DROP TABLE reservations", Expect::Rule(&[Rule::ForbiddenOperation, Rule::StatementNotAllowed])),
    (SUP, "TRUNCATE reservations", Expect::Rule(&[Rule::ForbiddenOperation, Rule::StatementNotAllowed])),
    (RO, "SELECT ssn FROM customers", Expect::DeniedOrBackendError),
    (RO, "SELECT name FROM customers WHERE ssn = '111-11-1111'", Expect::DeniedOrBackendError),
    (RO, "SELECT internal_score FROM reservations", Expect::DeniedOrBackendError),
    (RO, "SELECT r.id FROM reservations r ORDER BY r.internal_score", Expect::DeniedOrBackendError),
    (SUP, "UPDATE reservations SET price = 1 WHERE id = 1", Expect::Rule(&[Rule::ColumnNotGranted])),
    (SUP, "UPDATE reservations SET tenant_id = 'globex' WHERE id = 1", Expect::Rule(&[Rule::ColumnNotGranted])),
    (SUP, "UPDATE reservations SET internal_score = 0", Expect::Rule(&[Rule::ColumnNotGranted])),
    (SUP, "UPDATE reservations SET notes = 'x' WHERE internal_score > 50", Expect::DeniedOrBackendError),
    (RO, "UPDATE reservations SET notes = 'x'", Expect::Rule(&[Rule::TableNotGranted])),
    (SUP, "UPDATE customers SET name = 'x'", Expect::Rule(&[Rule::TableNotGranted])),
    (SUP, "INSERT INTO vehicles (make, model, daily_rate) VALUES ('a', 'b', 1)", Expect::Rule(&[Rule::TableNotGranted])),
    (SUP, "INSERT INTO customers (tenant_id, name) VALUES ('acme', 'x')", Expect::Rule(&[Rule::TableNotGranted])),
    (SUP, "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, starts_on, price) VALUES ('globex', 11, 1, 'booked', '2025-09-01', 10)", Expect::AnyDenial),
    (SUP, "INSERT INTO reservations (customer_id, vehicle_id, status, starts_on, price, internal_score) VALUES (1, 1, 'booked', '2025-09-01', 10, 99)", Expect::Rule(&[Rule::ColumnNotGranted])),
    (SUP, "INSERT INTO reservations VALUES (99, 'acme', 1, 1, 'booked', NULL, '2025-09-01', 10, 1)", Expect::AnyDenial),
    // Fail closed by design: the target has a hidden column (internal_score), and without the
    // schema the engine cannot tell whether an unqualified name inside a subquery binds to the
    // subquery's table or to the target. Qualified, the same statements run (WRITES_COMMON).
    (SUP, "UPDATE reservations SET notes = 'by-name' WHERE customer_id IN (SELECT id FROM customers WHERE name = 'Alice Smith')", Expect::Rule(&[Rule::ColumnNotGranted])),
    (SUP, "UPDATE reservations SET notes = (SELECT max(make) FROM vehicles) WHERE id IN (1, 16)", Expect::Rule(&[Rule::ColumnNotGranted])),
    (SUP, "UPDATE reservations SET status = 'active' WHERE id = (SELECT min(id) FROM customers WHERE name = 'Hank Scorpio')", Expect::Rule(&[Rule::ColumnNotGranted])),
];

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postgres,
    MariaDb,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mariadb",
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Backend::Postgres => Dialect::PostgreSql,
            Backend::MariaDb => Dialect::MySql,
        }
    }

    fn schema(self) -> &'static str {
        match self {
            Backend::Postgres => SCHEMA_PG,
            Backend::MariaDb => SCHEMA_MARIADB,
        }
    }

    fn create_database(self, prefix: &str) -> String {
        match self {
            Backend::Postgres => shared_pg().create_unique_database(prefix),
            Backend::MariaDb => shared_mariadb().create_unique_database(prefix),
        }
        .unwrap_or_else(|e| panic!("creating a {} database: {e:#}", self.name()))
    }

    fn exec(self, db: &str, sql: &str) {
        match self {
            Backend::Postgres => shared_pg().exec(db, sql),
            Backend::MariaDb => shared_mariadb().exec(db, sql),
        }
        .unwrap_or_else(|e| panic!("loading {} database {db}: {e:#}", self.name()))
    }

    /// A full database: both tenants, every column.
    fn full_database(self) -> String {
        let db = self.create_database("eq_full");
        self.exec(&db, self.schema());
        self.exec(&db, DATA);
        db
    }

    /// The oracle: what tenant acme may see, nothing else.
    fn oracle_database(self) -> String {
        let db = self.create_database("eq_oracle");
        self.exec(&db, self.schema());
        self.exec(&db, DATA);
        self.exec(&db, ORACLE);
        db
    }

    async fn connect(self, db: &str) -> Conn {
        match self {
            Backend::Postgres => {
                let (client, connection) =
                    tokio_postgres::connect(&shared_pg().url(db), tokio_postgres::NoTls)
                        .await
                        .expect("connect to the test PostgreSQL");
                tokio::spawn(connection);
                Conn::Pg(client)
            }
            Backend::MariaDb => {
                let opts =
                    mysql_async::Opts::from_url(&shared_mariadb().url(db)).expect("MariaDB url");
                let opts = mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false);
                let mut conn = mysql_async::Conn::new(opts)
                    .await
                    .expect("connect to the test MariaDB");
                conn.query_drop(MARIADB_SQL_MODE)
                    .await
                    .expect("set sql_mode");
                Conn::My(conn)
            }
        }
    }
}

/// A result as canonical text: column names, and every value as the server's own text
/// rendering (PostgreSQL simple query protocol, MySQL text protocol), NULL as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ResultSet {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    affected: u64,
}

impl ResultSet {
    fn sorted(&self) -> ResultSet {
        let mut s = self.clone();
        s.rows.sort();
        s
    }

    fn show(&self) -> String {
        let mut out = format!("    columns: {:?}\n", self.columns);
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                .collect();
            let _ = writeln!(out, "    | {}", cells.join(" | "));
        }
        let _ = write!(
            out,
            "    ({} rows, affected {})",
            self.rows.len(),
            self.affected
        );
        out
    }
}

enum Conn {
    Pg(tokio_postgres::Client),
    My(mysql_async::Conn),
}

impl Conn {
    async fn run(&mut self, sql: &str) -> Result<ResultSet, String> {
        match self {
            Conn::Pg(client) => {
                let messages =
                    client
                        .simple_query(sql)
                        .await
                        .map_err(|e| match e.as_db_error() {
                            Some(db) => format!("{}: {}", db.code().code(), db.message()),
                            None => e.to_string(),
                        })?;
                let mut rs = ResultSet::default();
                for m in messages {
                    match m {
                        tokio_postgres::SimpleQueryMessage::RowDescription(cols) => {
                            rs.columns = cols.iter().map(|c| c.name().to_string()).collect();
                        }
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            if rs.columns.is_empty() {
                                rs.columns =
                                    row.columns().iter().map(|c| c.name().to_string()).collect();
                            }
                            rs.rows.push(
                                (0..row.len())
                                    .map(|i| row.get(i).map(str::to_string))
                                    .collect(),
                            );
                        }
                        tokio_postgres::SimpleQueryMessage::CommandComplete(n) => {
                            rs.affected = n;
                        }
                        _ => {}
                    }
                }
                Ok(rs)
            }
            Conn::My(conn) => {
                let mut result = conn.query_iter(sql).await.map_err(|e| e.to_string())?;
                let columns: Vec<String> = result
                    .columns_ref()
                    .iter()
                    .map(|c| c.name_str().into_owned())
                    .collect();
                let rows: Vec<mysql_async::Row> =
                    result.collect().await.map_err(|e| e.to_string())?;
                let affected = result.affected_rows();
                result.drop_result().await.map_err(|e| e.to_string())?;
                let rows = rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| match row.as_ref(i) {
                                None | Some(mysql_async::Value::NULL) => None,
                                Some(mysql_async::Value::Bytes(b)) => {
                                    Some(String::from_utf8_lossy(b).into_owned())
                                }
                                Some(other) => Some(other.as_sql(true)),
                            })
                            .collect()
                    })
                    .collect();
                Ok(ResultSet {
                    columns,
                    rows,
                    affected,
                })
            }
        }
    }

    async fn close(self) {
        if let Conn::My(conn) = self {
            let _ = conn.disconnect().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

struct Engine {
    backend: Backend,
    cfg: RbacConfig,
    claims: Claims,
}

impl Engine {
    fn new(backend: Backend) -> Engine {
        let cfg = RbacConfig::from_yaml("equivalence-roles.yaml", ROLES)
            .unwrap_or_else(|e| panic!("the suite's role file must load: {e}"));
        let claims = Claims {
            role: SUP.into(),
            tenant_id: Some("acme".into()),
            exp: i64::MAX / 2,
            iat: 0,
            nbf: 0,
            jti: "0123456789abcdef0123456789abcdef".into(),
            label: Some("equivalence-suite".into()),
            extra: Default::default(),
        };
        Engine {
            backend,
            cfg,
            claims,
        }
    }

    /// Authorizes `sql` for `role` against database `db` (MariaDB: the backend database).
    fn authorize(&self, role: &str, db: &str, sql: &str) -> Result<Authorized, Denial> {
        let role = self.cfg.role(role).expect("role exists");
        let mut claims = self.claims.clone();
        claims.role = role.name.clone();
        let scope = Scope {
            config: &self.cfg,
            role,
            claims: &claims,
            dialect: self.backend.dialect(),
            database: match self.backend {
                Backend::MariaDb => Some(db),
                Backend::Postgres => None,
            },
            schema: sluice_policy::Schema::empty(),
        };
        authorize(&scope, sql)
    }

    /// The single rewritten statement of an allowed input, or a failure report.
    fn rewrite(&self, role: &str, db: &str, sql: &str, must_write: bool) -> Result<String, String> {
        match self.authorize(role, db, sql) {
            Err(d) => Err(format!(
                "ENGINE DENIED an allowed statement: [{}] {}",
                d.rule.id(),
                d.message
            )),
            Ok(a) => {
                if a.statements.len() != 1 {
                    return Err(format!(
                        "engine returned {} statements for one: {:#?}",
                        a.statements.len(),
                        a.statements
                    ));
                }
                let st = &a.statements[0];
                if st.writes != must_write {
                    return Err(format!(
                        "engine says writes={} (expected {must_write}); rewritten: {}",
                        st.writes, st.sql
                    ));
                }
                Ok(st.sql.clone())
            }
        }
    }
}

/// Whether the query's outermost clause is an ORDER BY (then row order is part of the answer).
fn ordered(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    match upper.rfind("ORDER BY") {
        Some(at) => !upper[at..].contains(')'),
        None => false,
    }
}

fn fill(template: &str, db: &str) -> String {
    template.replace("{db}", db)
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

struct Report {
    backend: Backend,
    failures: Vec<String>,
}

impl Report {
    fn fail(&mut self, kind: &str, role: &str, sql: &str, rewritten: Option<&str>, detail: String) {
        let mut msg = format!(
            "--- {} {kind} FAILED (role {role})\n  query:     {sql}\n",
            self.backend.name()
        );
        if let Some(r) = rewritten {
            let _ = writeln!(msg, "  rewritten: {r}");
        }
        let _ = write!(msg, "  {detail}");
        println!("{msg}\n");
        self.failures.push(msg);
    }
}

async fn check_reads(
    engine: &Engine,
    report: &mut Report,
    cases: &[(&str, &str)],
) -> (usize, usize) {
    let backend = engine.backend;
    let full_db = backend.full_database();
    let oracle_db = backend.oracle_database();
    let mut full = backend.connect(&full_db).await;
    let mut oracle = backend.connect(&oracle_db).await;
    let mut passed = 0;
    for &(role, template) in cases {
        let sql_full = fill(template, &full_db);
        let sql_oracle = fill(template, &oracle_db);
        let rewritten = match engine.rewrite(role, &full_db, &sql_full, false) {
            Ok(r) => r,
            Err(e) => {
                report.fail("read", role, &sql_full, None, e);
                continue;
            }
        };
        let expected = match oracle.run(&sql_oracle).await {
            Ok(rs) => rs,
            Err(e) => {
                report.fail(
                    "read",
                    role,
                    &sql_oracle,
                    Some(&rewritten),
                    format!("TEST BUG: the query fails on the oracle: {e}"),
                );
                continue;
            }
        };
        let got = match full.run(&rewritten).await {
            Ok(rs) => rs,
            Err(e) => {
                report.fail(
                    "read",
                    role,
                    &sql_full,
                    Some(&rewritten),
                    format!(
                        "the REWRITTEN query fails on the backend: {e}\n  oracle:\n{}",
                        expected.show()
                    ),
                );
                continue;
            }
        };
        let (got_c, expected_c) = if ordered(template) {
            (got.clone(), expected.clone())
        } else {
            (got.sorted(), expected.sorted())
        };
        // MariaDB names an unaliased expression column after its text; Sluice sends sqlparser's
        // normalised text (`price * 2` for `price*2`), so names are compared without spaces.
        let names = |cols: &[String]| -> Vec<String> {
            cols.iter()
                .map(|c| c.chars().filter(|ch| !ch.is_whitespace()).collect())
                .collect()
        };
        if names(&got_c.columns) == names(&expected_c.columns) && got_c.rows == expected_c.rows {
            passed += 1;
        } else {
            let what = if names(&got_c.columns) != names(&expected_c.columns) {
                "column names/order differ"
            } else if got_c.sorted().rows == expected_c.sorted().rows {
                "same rows, different ORDER"
            } else {
                "ROWS DIFFER"
            };
            report.fail(
                "read",
                role,
                &sql_full,
                Some(&rewritten),
                format!(
                    "{what}\n  engine on full db:\n{}\n  original on oracle:\n{}",
                    got.show(),
                    expected.show()
                ),
            );
        }
    }
    full.close().await;
    oracle.close().await;
    (passed, cases.len())
}

/// What a write may not change in the full database: the other tenant's rows, the hidden columns
/// and the shared vehicles table.
const UNTOUCHABLE: &[(&str, &str)] = &[
    (
        "globex customers",
        "SELECT * FROM customers WHERE tenant_id <> 'acme' ORDER BY id",
    ),
    (
        "globex reservations",
        "SELECT * FROM reservations WHERE tenant_id <> 'acme' ORDER BY id",
    ),
    ("customers.ssn", "SELECT id, ssn FROM customers ORDER BY id"),
    (
        "reservations.internal_score",
        "SELECT id, internal_score FROM reservations WHERE id < 1000 ORDER BY id",
    ),
    ("vehicles", "SELECT * FROM vehicles ORDER BY id"),
];

/// (name, query on the full database, query on the oracle): the acme-visible projection.
const VISIBLE: &[(&str, &str, &str)] = &[
    (
        "reservations",
        "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price FROM reservations WHERE tenant_id = 'acme' ORDER BY id",
        "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price FROM reservations ORDER BY id",
    ),
    (
        "customers",
        "SELECT id, tenant_id, name, email FROM customers WHERE tenant_id = 'acme' ORDER BY id",
        "SELECT id, tenant_id, name, email FROM customers ORDER BY id",
    ),
    (
        "vehicles",
        "SELECT * FROM vehicles ORDER BY id",
        "SELECT * FROM vehicles ORDER BY id",
    ),
    (
        "new rows' hidden column",
        "SELECT id, internal_score FROM reservations WHERE id >= 1000 AND internal_score IS NOT NULL ORDER BY id",
        "SELECT id, NULL FROM reservations WHERE 1 = 0",
    ),
];

async fn snapshot(conn: &mut Conn) -> Vec<ResultSet> {
    let mut out = Vec::new();
    for (name, sql) in UNTOUCHABLE {
        out.push(
            conn.run(sql)
                .await
                .unwrap_or_else(|e| panic!("snapshot {name}: {e}")),
        );
    }
    out
}

/// One write case, on fresh copies of both databases. `Ok(())` when identical.
async fn check_write(
    engine: &Engine,
    template: &str,
) -> Result<(), (String, Option<String>, String)> {
    let backend = engine.backend;
    let full_db = backend.full_database();
    let oracle_db = backend.oracle_database();
    let sql_full = fill(template, &full_db);
    let sql_oracle = fill(template, &oracle_db);
    let rewritten = engine
        .rewrite(SUP, &full_db, &sql_full, true)
        .map_err(|e| (sql_full.clone(), None, e))?;
    let fail = |detail: String| (sql_full.clone(), Some(rewritten.clone()), detail);

    let mut full = backend.connect(&full_db).await;
    let mut oracle = backend.connect(&oracle_db).await;
    let before = snapshot(&mut full).await;

    let expected = oracle
        .run(&sql_oracle)
        .await
        .map_err(|e| fail(format!("TEST BUG: the write fails on the oracle: {e}")))?;
    let got = full
        .run(&rewritten)
        .await
        .map_err(|e| fail(format!("the REWRITTEN write fails on the backend: {e}")))?;

    let mut problems = Vec::new();
    if got.affected != expected.affected {
        problems.push(format!(
            "affected rows differ: engine {} vs oracle {}",
            got.affected, expected.affected
        ));
    }
    for (name, full_sql, oracle_sql) in VISIBLE {
        let g = full.run(full_sql).await.expect("visible projection, full");
        let e = oracle
            .run(oracle_sql)
            .await
            .expect("visible projection, oracle");
        if g.rows != e.rows {
            problems.push(format!(
                "acme-visible {name} differ after the write\n  full db (acme projection):\n{}\n  oracle:\n{}",
                g.show(),
                e.show()
            ));
        }
    }
    let after = snapshot(&mut full).await;
    for (((name, _), b), a) in UNTOUCHABLE.iter().zip(&before).zip(&after) {
        if b != a {
            problems.push(format!(
                "UNTOUCHABLE {name} CHANGED\n  before:\n{}\n  after:\n{}",
                b.show(),
                a.show()
            ));
        }
    }
    full.close().await;
    oracle.close().await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(problems.join("\n  ")))
    }
}

async fn check_writes(engine: &Engine, report: &mut Report, cases: &[&str]) -> (usize, usize) {
    let mut passed = 0;
    for template in cases {
        match check_write(engine, template).await {
            Ok(()) => passed += 1,
            Err((sql, rewritten, detail)) => {
                report.fail("write", SUP, &sql, rewritten.as_deref(), detail)
            }
        }
    }
    (passed, cases.len())
}

async fn check_denials(engine: &Engine, report: &mut Report) -> (usize, usize) {
    let backend = engine.backend;
    let mut passed = 0;
    for &(role, sql, expect) in DENIALS {
        // A fresh database per case: an allowed write must not disturb other cases.
        let db = backend.full_database();
        let outcome = engine.authorize(role, &db, sql);
        let result: Result<(), String> = match (outcome, expect) {
            (Err(d), Expect::Rule(rules)) if rules.contains(&d.rule) => Ok(()),
            (Err(d), Expect::Rule(rules)) => Err(format!(
                "denied by the wrong rule: [{}] {} (expected one of {:?})",
                d.rule.id(),
                d.message,
                rules.iter().map(|r| r.id()).collect::<Vec<_>>()
            )),
            (Err(_), Expect::AnyDenial | Expect::DeniedOrBackendError) => Ok(()),
            (Ok(a), Expect::DeniedOrBackendError) => {
                let mut conn = backend.connect(&db).await;
                let mut leaked = None;
                for st in &a.statements {
                    if let Ok(rs) = conn.run(&st.sql).await {
                        leaked = Some(format!(
                            "ALLOWED and the backend RAN it: rewritten {}\n{}",
                            st.sql,
                            rs.show()
                        ));
                    }
                }
                conn.close().await;
                leaked.map_or(Ok(()), Err)
            }
            (Ok(a), _) => Err(format!(
                "ALLOWED, expected a denial; rewritten: {}",
                a.statements
                    .iter()
                    .map(|s| s.sql.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        };
        match result {
            Ok(()) => passed += 1,
            Err(detail) => report.fail("denial", role, sql, None, detail),
        }
    }
    (passed, DENIALS.len())
}

async fn run_suite(backend: Backend, reads_extra: &[(&str, &str)], writes_extra: &[&str]) {
    let engine = Engine::new(backend);
    let mut report = Report {
        backend,
        failures: Vec::new(),
    };
    let reads: Vec<(&str, &str)> = READS_COMMON.iter().chain(reads_extra).copied().collect();
    let writes: Vec<&str> = WRITES_COMMON.iter().chain(writes_extra).copied().collect();

    let (r_ok, r_all) = check_reads(&engine, &mut report, &reads).await;
    let (w_ok, w_all) = check_writes(&engine, &mut report, &writes).await;
    let (d_ok, d_all) = check_denials(&engine, &mut report).await;

    let summary = format!(
        "equivalence[{}]: {r_ok}/{r_all} reads identical, {w_ok}/{w_all} writes identical, {d_ok}/{d_all} denials as expected",
        backend.name()
    );
    println!("{summary}");
    assert!(
        report.failures.is_empty(),
        "{summary}; {} failing cases (printed above)",
        report.failures.len()
    );
}

#[tokio::test]
async fn postgres_rewrites_are_equivalent_to_the_oracle() {
    run_suite(Backend::Postgres, READS_PG, WRITES_PG).await;
}

#[tokio::test]
async fn mariadb_rewrites_are_equivalent_to_the_oracle() {
    run_suite(Backend::MariaDb, READS_MARIADB, WRITES_MARIADB).await;
}

#[test]
fn order_detection() {
    assert!(ordered("SELECT a FROM t ORDER BY a LIMIT 3"));
    assert!(!ordered("SELECT row_number() OVER (ORDER BY a) FROM t"));
    assert!(ordered(
        "SELECT row_number() OVER (ORDER BY a) FROM t ORDER BY a"
    ));
}
