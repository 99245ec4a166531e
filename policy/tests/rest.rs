//! The REST door's grammar (`sluice_policy::rest`) and its statements through
//! `authorize_statement`, in both dialects.
//!
//! - Grammar: every operator, negation, nested logic trees, select renames, order, limit,
//!   offset and the Range header, POST/PATCH bodies; each as the parsed request and as the exact
//!   SQL the engine renders for an unconfined role (so the SQL is the builder's, schema-qualified).
//! - Rejections: malformed input, PostgREST features Sluice does not implement, and injection
//!   attempts in names and values (quotes, backslashes, `;`, comments, Unicode).
//! - End to end with the rental roles of the integration suite (`integration/src/rental.rs`):
//!   confinement, column grants, forbidden operations, and the cached `Engine` entry point.
//! - Bounds: the largest request the grammar accepts fits the engine's limits and a 2 MiB stack.
//! - A proptest: random query strings and bodies never panic, and whatever is allowed re-parses.

use std::sync::Arc;

use proptest::prelude::*;
use sluice_policy::rest::{
    self, Comparison, Condition, Direction, Filter, InsertRows, Literal, Logic, Missing, Name,
    Nulls, OrderTerm, Params, Predicate, Range, RestError, Selected, Truth,
};
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, authorize_statement, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;
use sqlparser::ast::{Expr, Statement, Value};

use Dialect::{MySql, PostgreSql};

/// The rental roles of `integration/src/rental.rs` (DELETE is forbidden for everyone there).
const RENTAL_ROLES: &str = r#"
forbidden_operations: [DELETE, DROP, TRUNCATE]
roles:
  agent_readonly:
    tables:
      reservations: [SELECT]
      vehicles: [SELECT]
      customers: [SELECT]
    columns:
      customers:
        SELECT: [id, tenant_id, name, email]
      reservations:
        SELECT: [id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price]
    filters:
      reservations: "tenant_id = {{ token.tenant_id }}"
      customers: "tenant_id = {{ token.tenant_id }}"
  agent_support:
    inherits: agent_readonly
    tables:
      reservations: [SELECT, UPDATE, INSERT]
    columns:
      reservations:
        UPDATE: [notes, status]
        INSERT: [customer_id, vehicle_id, status, notes, starts_on, price, tenant_id]
"#;

/// DELETE allowed (and confined), and an unconfined role whose outputs are the builder's SQL.
const OTHER_ROLES: &str = r#"
forbidden_operations: [DROP, TRUNCATE]
roles:
  agent_cleanup:
    tables:
      reservations: [SELECT, DELETE]
    filters:
      reservations: "tenant_id = {{ token.tenant_id }}"
  open:
    tables:
      t: [SELECT, INSERT, UPDATE, DELETE]
      reservations: [SELECT, INSERT, UPDATE, DELETE]
"#;

fn claims(role: &str) -> Claims {
    Claims {
        role: role.to_string(),
        tenant_id: Some("acme".into()),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    }
}

include!("common/rental_schema.rs");

fn config(yaml: &str) -> RbacConfig {
    RbacConfig::from_yaml("roles.yaml", yaml).expect("role file loads")
}

fn decide(yaml: &str, role: &str, dialect: Dialect, stmt: Statement) -> Result<Authorized, Denial> {
    let cfg = config(yaml);
    let c = claims(role);
    // The schema the proxy loads: with column types the engine proves a REST filter (a column
    // compared with a literal) leakproof and leaves the planner free.
    let schema = rental_schema(dialect);
    let scope = Scope {
        config: &cfg,
        role: cfg.role(role).expect("role exists"),
        claims: &c,
        dialect,
        database: Some("rental"),
        schema: &schema,
    };
    authorize_statement(&scope, stmt)
}

/// The one SQL statement the engine allows for `stmt`.
fn sql(yaml: &str, role: &str, dialect: Dialect, stmt: Statement) -> String {
    match decide(yaml, role, dialect, stmt) {
        Ok(a) => {
            assert_eq!(a.statements.len(), 1);
            a.statements[0].sql.clone()
        }
        Err(d) => panic!("denied: {d}"),
    }
}

fn denial(yaml: &str, role: &str, dialect: Dialect, stmt: Statement) -> Denial {
    match decide(yaml, role, dialect, stmt) {
        Ok(a) => panic!("allowed: {}", a.statements[0].sql),
        Err(d) => d,
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn params(q: &str) -> Params {
    rest::parse_query(q).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

fn query_error(q: &str) -> RestError {
    match rest::parse_query(q) {
        Ok(p) => panic!("{q} parsed: {p:?}"),
        Err(e) => e,
    }
}

/// GET `t?q` for the unconfined role: the builder's SQL, schema-qualified by the engine.
fn get(dialect: Dialect, q: &str) -> String {
    sql(
        OTHER_ROLES,
        "open",
        dialect,
        rest::select(dialect, &name("t"), &params(q), None),
    )
}

/// The filter of GET `t?q` in `dialect`: the SQL after `WHERE `.
fn filter_sql(dialect: Dialect, q: &str) -> String {
    let s = get(dialect, q);
    let (_, w) = s
        .split_once(" WHERE ")
        .unwrap_or_else(|| panic!("no WHERE in {s}"));
    w.to_string()
}

fn filter(column: &str, negated: bool, predicate: Predicate) -> Condition {
    Condition::Filter(Filter {
        column: name(column),
        negated,
        predicate,
    })
}

// ---------------------------------------------------------------------------------------------
// Grammar: the parsed request
// ---------------------------------------------------------------------------------------------

#[test]
fn every_comparison_operator_parses() {
    for (op, cmp) in [
        ("eq", Comparison::Eq),
        ("neq", Comparison::Neq),
        ("gt", Comparison::Gt),
        ("gte", Comparison::Gte),
        ("lt", Comparison::Lt),
        ("lte", Comparison::Lte),
        ("like", Comparison::Like),
        ("ilike", Comparison::ILike),
    ] {
        let p = params(&format!("price={op}.5"));
        assert_eq!(
            p.filters,
            vec![filter("price", false, Predicate::Compare(cmp, "5".into()))]
        );
        let p = params(&format!("price=not.{op}.5"));
        assert_eq!(
            p.filters,
            vec![filter("price", true, Predicate::Compare(cmp, "5".into()))]
        );
    }
}

#[test]
fn top_level_values_are_the_rest_of_the_text() {
    let p = params("notes=eq.a.b,c)(\"d\"&id=eq.&x=eq.not.5");
    assert_eq!(
        p.filters,
        vec![
            filter(
                "notes",
                false,
                Predicate::Compare(Comparison::Eq, "a.b,c)(\"d\"".into())
            ),
            filter("id", false, Predicate::Compare(Comparison::Eq, "".into())),
            filter(
                "x",
                false,
                Predicate::Compare(Comparison::Eq, "not.5".into())
            ),
        ]
    );
}

#[test]
fn in_and_is_parse() {
    let p = params("id=in.(1,2,\"3,4\",\"a\\\"b\\\\c\",%20x%20)&n=not.in.()&e=in.(\"\")");
    assert_eq!(
        p.filters,
        vec![
            filter(
                "id",
                false,
                Predicate::In(vec![
                    "1".into(),
                    "2".into(),
                    "3,4".into(),
                    "a\"b\\c".into(),
                    " x ".into()
                ])
            ),
            filter("n", true, Predicate::In(vec![])),
            filter("e", false, Predicate::In(vec!["".into()])),
        ]
    );
    for (word, truth) in [
        ("null", Truth::Null),
        ("NULL", Truth::Null),
        ("true", Truth::True),
        ("false", Truth::False),
        ("unknown", Truth::Unknown),
    ] {
        assert_eq!(
            params(&format!("a=is.{word}")).filters,
            vec![filter("a", false, Predicate::Is(truth))]
        );
    }
    assert_eq!(
        params("a=not.is.null").filters,
        vec![filter("a", true, Predicate::Is(Truth::Null))]
    );
}

#[test]
fn logic_trees_nest() {
    let p = params("or=(a.eq.1,b.gt.2,and(c.eq.3,d.is.null))&not.and=(e.not.like.x*, or( f.in.(1,\"2)\"), g.eq.\"h,i\") )");
    let expected = vec![
        Condition::Group {
            negated: false,
            logic: Logic::Or,
            items: vec![
                filter("a", false, Predicate::Compare(Comparison::Eq, "1".into())),
                filter("b", false, Predicate::Compare(Comparison::Gt, "2".into())),
                Condition::Group {
                    negated: false,
                    logic: Logic::And,
                    items: vec![
                        filter("c", false, Predicate::Compare(Comparison::Eq, "3".into())),
                        filter("d", false, Predicate::Is(Truth::Null)),
                    ],
                },
            ],
        },
        Condition::Group {
            negated: true,
            logic: Logic::And,
            items: vec![
                filter("e", true, Predicate::Compare(Comparison::Like, "x*".into())),
                Condition::Group {
                    negated: false,
                    logic: Logic::Or,
                    items: vec![
                        filter("f", false, Predicate::In(vec!["1".into(), "2)".into()])),
                        filter("g", false, Predicate::Compare(Comparison::Eq, "h,i".into())),
                    ],
                },
            ],
        },
    ];
    assert_eq!(p.filters, expected);
    // not.or(…) inside a tree, {array} values, and a quote that does not end the value.
    let p = params("and=(not.or(a.eq.{1,2},b.eq.\"x\"y))");
    assert_eq!(
        p.filters,
        vec![Condition::Group {
            negated: false,
            logic: Logic::And,
            items: vec![Condition::Group {
                negated: true,
                logic: Logic::Or,
                items: vec![
                    filter(
                        "a",
                        false,
                        Predicate::Compare(Comparison::Eq, "{1,2}".into())
                    ),
                    filter(
                        "b",
                        false,
                        Predicate::Compare(Comparison::Eq, "\"x\"y".into())
                    ),
                ],
            }],
        }]
    );
}

#[test]
fn select_order_limit_offset_and_columns_parse() {
    let p = params("select=id,%20label:notes%20,*&order=starts_on.desc.nullslast,id,price.nullsfirst,b.asc&limit=10&offset=20&columns=notes,status");
    assert_eq!(
        p.select,
        vec![
            Selected::Column {
                column: name("id"),
                alias: None
            },
            Selected::Column {
                column: name("notes"),
                alias: Some(name("label"))
            },
            Selected::All,
        ]
    );
    assert_eq!(
        p.order,
        vec![
            OrderTerm {
                column: name("starts_on"),
                direction: Some(Direction::Desc),
                nulls: Some(Nulls::Last)
            },
            OrderTerm {
                column: name("id"),
                direction: None,
                nulls: None
            },
            OrderTerm {
                column: name("price"),
                direction: None,
                nulls: Some(Nulls::First)
            },
            OrderTerm {
                column: name("b"),
                direction: Some(Direction::Asc),
                nulls: None
            },
        ]
    );
    assert_eq!((p.limit, p.offset), (Some(10), Some(20)));
    assert_eq!(p.columns, Some(vec![name("notes"), name("status")]));
    assert_eq!(params("").select, vec![Selected::All]);
    assert!(!params("").has_filters() && params("a=eq.1").has_filters());
}

#[test]
fn plus_is_a_space_and_percent_escapes_are_bytes() {
    let p = params("notes=eq.a+b%2Bc%C3%A9%25");
    assert_eq!(
        p.filters,
        vec![filter(
            "notes",
            false,
            Predicate::Compare(Comparison::Eq, "a b+cé%".into())
        )]
    );
    // In the path, a plus is a plus (and then not a plain name).
    assert_eq!(
        Name::from_path_segment("reser%76ations").unwrap(),
        name("reservations")
    );
    assert!(Name::from_path_segment("a+b").is_err());
}

#[test]
fn range_header() {
    assert_eq!(
        Range::from_header("0-9").unwrap(),
        Range {
            offset: 0,
            limit: Some(10)
        }
    );
    assert_eq!(
        Range::from_header(" 5- ").unwrap(),
        Range {
            offset: 5,
            limit: None
        }
    );
    for bad in [
        "",
        "9",
        "a-b",
        "-5",
        "5-3",
        "1-2-3",
        "items=0-9",
        "99999999999999999999-",
    ] {
        let e = Range::from_header(bad).unwrap_err();
        assert_eq!((e.code, e.status()), ("PGRST103", 416), "{bad}");
    }
    let r = Range {
        offset: 10,
        limit: Some(10),
    };
    assert_eq!(
        r.intersect(Range {
            offset: 15,
            limit: None
        }),
        Range {
            offset: 15,
            limit: Some(5)
        }
    );
    assert_eq!(
        r.intersect(Range {
            offset: 30,
            limit: Some(5)
        }),
        Range {
            offset: 30,
            limit: Some(0)
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Grammar: the SQL built, both dialects
// ---------------------------------------------------------------------------------------------

#[test]
fn every_operator_builds_its_sql() {
    let cases: &[(&str, &str, &str)] = &[
        ("a=eq.5", r#""a" = '5'"#, "`a` = '5'"),
        ("a=neq.5", r#""a" <> '5'"#, "`a` <> '5'"),
        ("a=gt.5", r#""a" > '5'"#, "`a` > '5'"),
        ("a=gte.5", r#""a" >= '5'"#, "`a` >= '5'"),
        ("a=lt.5", r#""a" < '5'"#, "`a` < '5'"),
        ("a=lte.5", r#""a" <= '5'"#, "`a` <= '5'"),
        ("a=like.*x_y*", r#""a" LIKE '%x_y%'"#, "`a` LIKE '%x_y%'"),
        (
            "a=ilike.X*",
            r#""a" ILIKE 'X%'"#,
            "LOWER(`a`) LIKE LOWER('X%')",
        ),
        (
            "a=in.(1,\"2,3\")",
            r#""a" IN ('1', '2,3')"#,
            "`a` IN ('1', '2,3')",
        ),
        ("a=in.()", "false", "false"),
        ("a=is.null", r#""a" IS NULL"#, "`a` IS NULL"),
        ("a=is.true", r#""a" IS TRUE"#, "`a` IS TRUE"),
        ("a=is.false", r#""a" IS FALSE"#, "`a` IS FALSE"),
        ("a=is.unknown", r#""a" IS UNKNOWN"#, "`a` IS NULL"),
        ("a=not.eq.5", r#"NOT ("a" = '5')"#, "NOT (`a` = '5')"),
        (
            "a=not.ilike.x",
            r#"NOT ("a" ILIKE 'x')"#,
            "NOT (LOWER(`a`) LIKE LOWER('x'))",
        ),
        (
            "a=not.in.(1)",
            r#"NOT ("a" IN ('1'))"#,
            "NOT (`a` IN ('1'))",
        ),
        ("a=not.is.null", r#"NOT ("a" IS NULL)"#, "NOT (`a` IS NULL)"),
        // Numbers stay text: both backends coerce a string literal to the column's type.
        (
            "id=eq.5&price=gt.1e3",
            r#""id" = '5' AND "price" > '1e3'"#,
            "`id` = '5' AND `price` > '1e3'",
        ),
    ];
    for (q, pg, my) in cases {
        assert_eq!(filter_sql(PostgreSql, q), *pg, "{q}");
        assert_eq!(filter_sql(MySql, q), *my, "{q}");
    }
}

#[test]
fn logic_trees_build_parenthesised_sql() {
    let q = "a=eq.0&or=(a.eq.1,b.gt.2,and(c.eq.3,d.is.null),not.or(e.eq.4,f.eq.5))&not.and=(g.eq.6,h.eq.7)";
    assert_eq!(
        filter_sql(PostgreSql, q),
        r#""a" = '0' AND ("a" = '1' OR "b" > '2' OR ("c" = '3' AND "d" IS NULL) OR NOT ("e" = '4' OR "f" = '5')) AND NOT ("g" = '6' AND "h" = '7')"#
    );
    assert_eq!(
        filter_sql(MySql, q),
        "`a` = '0' AND (`a` = '1' OR `b` > '2' OR (`c` = '3' AND `d` IS NULL) OR NOT (`e` = '4' OR `f` = '5')) AND NOT (`g` = '6' AND `h` = '7')"
    );
}

#[test]
fn select_renames_order_and_paging_build_their_sql() {
    let q = "select=id,label:notes,*&order=starts_on.desc.nullslast,id,price.asc.nullsfirst&limit=10&offset=20";
    assert_eq!(
        get(PostgreSql, q),
        r#"SELECT "id", "notes" AS "label", * FROM "public"."t" AS "t" ORDER BY "starts_on" DESC NULLS LAST, "id", "price" ASC NULLS FIRST LIMIT 10 OFFSET 20"#
    );
    // MySQL has no NULLS FIRST/LAST: `col IS NULL` sorts first.
    assert_eq!(
        get(MySql, q),
        "SELECT `id`, `notes` AS `label`, * FROM `rental`.`t` AS `t` ORDER BY `starts_on` IS NULL ASC, `starts_on` DESC, `id`, `price` IS NULL DESC, `price` ASC LIMIT 10 OFFSET 20"
    );
    // An offset alone: MySQL needs a LIMIT.
    assert_eq!(
        get(PostgreSql, "offset=5"),
        r#"SELECT * FROM "public"."t" AS "t" OFFSET 5"#
    );
    assert_eq!(
        get(MySql, "offset=5"),
        "SELECT * FROM `rental`.`t` AS `t` LIMIT 18446744073709551615 OFFSET 5"
    );
    assert_eq!(
        get(MySql, "limit=0"),
        "SELECT * FROM `rental`.`t` AS `t` LIMIT 0"
    );
}

#[test]
fn the_range_header_intersects_limit_and_offset() {
    let build = |dialect, q: &str, range: &str| {
        sql(
            OTHER_ROLES,
            "open",
            dialect,
            rest::select(
                dialect,
                &name("t"),
                &params(q),
                Some(Range::from_header(range).unwrap()),
            ),
        )
    };
    assert_eq!(
        build(PostgreSql, "", "0-9"),
        r#"SELECT * FROM "public"."t" AS "t" LIMIT 10"#
    );
    assert_eq!(
        build(PostgreSql, "limit=5&offset=10", "0-99"),
        r#"SELECT * FROM "public"."t" AS "t" LIMIT 5 OFFSET 10"#
    );
    assert_eq!(
        build(MySql, "offset=10", "5-"),
        "SELECT * FROM `rental`.`t` AS `t` LIMIT 18446744073709551615 OFFSET 10"
    );
    assert_eq!(
        build(MySql, "limit=5", "20-29"),
        "SELECT * FROM `rental`.`t` AS `t` LIMIT 0 OFFSET 20"
    );
}

#[test]
fn count_uses_the_same_filters() {
    let p = params("select=id&a=eq.1&or=(b.eq.2,c.eq.3)&order=id&limit=1");
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            PostgreSql,
            rest::count(PostgreSql, &name("t"), &p)
        ),
        r#"SELECT count(*) FROM "public"."t" AS "t" WHERE "a" = '1' AND ("b" = '2' OR "c" = '3')"#
    );
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            MySql,
            rest::count(MySql, &name("t"), &p)
        ),
        "SELECT count(*) FROM `rental`.`t` AS `t` WHERE `a` = '1' AND (`b` = '2' OR `c` = '3')"
    );
}

#[test]
fn insert_of_one_object_and_of_an_array() {
    let one = rest::parse_insert_body(
        r#"{"s": "it's", "n": 12345678901234567890.123456789, "neg": -0.5e-3, "b": true, "z": null, "j": {"k": [1, "x"]}}"#,
        None,
    )
    .unwrap();
    assert_eq!(
        one.rows,
        vec![vec![
            Some(Literal::Text("it's".into())),
            Some(Literal::Number("12345678901234567890.123456789".into())),
            Some(Literal::Number("-0.5e-3".into())),
            Some(Literal::Bool(true)),
            Some(Literal::Null),
            Some(Literal::Text(r#"{"k": [1, "x"]}"#.into())),
        ]]
    );
    let stmt = |d| rest::insert(d, &name("t"), &one, Missing::Null, None).unwrap();
    assert_eq!(
        sql(OTHER_ROLES, "open", PostgreSql, stmt(PostgreSql)),
        r#"INSERT INTO "public"."t" ("s", "n", "neg", "b", "z", "j") VALUES ('it''s', 12345678901234567890.123456789, -0.5e-3, true, NULL, '{"k": [1, "x"]}')"#
    );
    assert_eq!(
        sql(OTHER_ROLES, "open", MySql, stmt(MySql)),
        r#"INSERT INTO `rental`.`t` (`s`, `n`, `neg`, `b`, `z`, `j`) VALUES ('it''s', 12345678901234567890.123456789, -0.5e-3, true, NULL, '{"k": [1, "x"]}')"#
    );

    // Columns are the union of the keys; a missing key is NULL, or DEFAULT on request.
    let many =
        rest::parse_insert_body(r#"[{"a": 1}, {"b": "x", "a": 2}, {"c": false}]"#, None).unwrap();
    assert_eq!(many.columns, vec![name("a"), name("b"), name("c")]);
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            PostgreSql,
            rest::insert(PostgreSql, &name("t"), &many, Missing::Null, None).unwrap()
        ),
        r#"INSERT INTO "public"."t" ("a", "b", "c") VALUES (1, NULL, NULL), (2, 'x', NULL), (NULL, NULL, false)"#
    );
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            MySql,
            rest::insert(MySql, &name("t"), &many, Missing::Default, None).unwrap()
        ),
        "INSERT INTO `rental`.`t` (`a`, `b`, `c`) VALUES (1, DEFAULT, DEFAULT), (2, 'x', DEFAULT), (DEFAULT, DEFAULT, false)"
    );

    // columns= with quoted plain names (postgrest-py's bulk insert) means those names; a
    // quoted name that is not plain is still refused.
    let p = params("columns=%22customer_id%22,%22notes%22");
    assert_eq!(p.columns, Some(vec![name("customer_id"), name("notes")]));
    assert!(rest::parse_query("columns=%22my%20col%22").is_err());

    // columns=: only those keys, in that order.
    let cols = [name("c"), name("a")];
    let picked = rest::parse_insert_body(r#"[{"a": 1, "b": 2}, {"c": 3}]"#, Some(&cols)).unwrap();
    assert_eq!(
        picked,
        InsertRows {
            columns: vec![name("c"), name("a")],
            rows: vec![
                vec![None, Some(Literal::Number("1".into()))],
                vec![Some(Literal::Number("3".into())), None],
            ],
        }
    );
}

#[test]
fn returning_is_postgres_only() {
    assert!(rest::supports_returning(PostgreSql));
    assert!(!rest::supports_returning(MySql));
    let rows = rest::parse_insert_body(r#"{"a": 1}"#, None).unwrap();
    let select = params("select=id,x:a").select;
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            PostgreSql,
            rest::insert(PostgreSql, &name("t"), &rows, Missing::Null, Some(&select)).unwrap()
        ),
        r#"INSERT INTO "public"."t" ("a") VALUES (1) RETURNING "id", "a" AS "x""#
    );
    let e = rest::insert(MySql, &name("t"), &rows, Missing::Null, Some(&select)).unwrap_err();
    assert_eq!(e.code, "PGRST127");
    let e = rest::delete(MySql, &name("t"), &params("a=eq.1"), Some(&select)).unwrap_err();
    assert_eq!(e.code, "PGRST127");
}

#[test]
fn patch_and_delete_build_their_sql() {
    let set = rest::parse_patch_body(r#"{"notes": "late", "n": -3, "done": false}"#, None).unwrap();
    let p = params("id=eq.7&or=(a.is.null,a.lt.2)");
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            PostgreSql,
            rest::update(PostgreSql, &name("t"), &p, &set, None).unwrap()
        ),
        r#"UPDATE "public"."t" SET "notes" = 'late', "n" = -3, "done" = false WHERE "id" = '7' AND ("a" IS NULL OR "a" < '2')"#
    );
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            MySql,
            rest::update(MySql, &name("t"), &p, &set, None).unwrap()
        ),
        "UPDATE `rental`.`t` SET `notes` = 'late', `n` = -3, `done` = false WHERE `id` = '7' AND (`a` IS NULL OR `a` < '2')"
    );
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            PostgreSql,
            rest::delete(PostgreSql, &name("t"), &p, Some(&[Selected::All])).unwrap()
        ),
        r#"DELETE FROM "public"."t" WHERE "id" = '7' AND ("a" IS NULL OR "a" < '2') RETURNING *"#
    );
    assert_eq!(
        sql(
            OTHER_ROLES,
            "open",
            MySql,
            rest::delete(MySql, &name("t"), &p, None).unwrap()
        ),
        "DELETE FROM `rental`.`t` WHERE `id` = '7' AND (`a` IS NULL OR `a` < '2')"
    );
    // columns= keeps only the named keys.
    let cols = [name("notes")];
    assert_eq!(
        rest::parse_patch_body(r#"{"notes": "x", "price": 1}"#, Some(&cols)).unwrap(),
        vec![(name("notes"), Literal::Text("x".into()))]
    );
    // PATCH and DELETE select rows by filters only.
    for q in ["id=eq.1&limit=1", "order=id", "offset=1"] {
        assert_eq!(
            rest::delete(PostgreSql, &name("t"), &params(q), None)
                .unwrap_err()
                .code,
            "PGRST127"
        );
        assert_eq!(
            rest::update(PostgreSql, &name("t"), &params(q), &set, None)
                .unwrap_err()
                .code,
            "PGRST127"
        );
    }
}

/// The statement a builder makes is decided exactly as its SQL text is.
#[test]
fn built_statements_are_decided_like_their_text() {
    let cfg = config(RENTAL_ROLES);
    let c = claims("agent_support");
    for dialect in [PostgreSql, MySql] {
        let scope = Scope {
            config: &cfg,
            role: cfg.role("agent_support").unwrap(),
            claims: &c,
            dialect,
            database: Some("rental"),
            schema: sluice_policy::Schema::empty(),
        };
        let q = |s: &str| match dialect {
            PostgreSql => s.replace('`', "\""),
            MySql => s.to_string(),
        };
        let p = params(
            "select=id,n:notes&status=eq.open&or=(price.gt.5,notes.is.null)&order=id.desc&limit=3",
        );
        let built = authorize_statement(
            &scope,
            rest::select(dialect, &name("reservations"), &p, None),
        );
        let text = authorize(
            &scope,
            &q("SELECT `id`, `notes` AS `n` FROM `reservations` WHERE `status` = 'open' AND (`price` > '5' OR `notes` IS NULL) ORDER BY `id` DESC LIMIT 3"),
        );
        assert_eq!(built, text);
        assert!(built.is_ok());

        let set = rest::parse_patch_body(r#"{"notes": "a'b\\c"}"#, None).unwrap();
        let built = authorize_statement(
            &scope,
            rest::update(
                dialect,
                &name("reservations"),
                &params("id=eq.1"),
                &set,
                None,
            )
            .unwrap(),
        );
        let literal = match dialect {
            PostgreSql => r"'a''b\c'",
            MySql => r"'a''b\\c'",
        };
        let text = authorize(
            &scope,
            &q(&format!(
                "UPDATE `reservations` SET `notes` = {literal} WHERE `id` = '1'"
            )),
        );
        assert_eq!(built, text);
        assert!(built.is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_query_strings_are_pgrst100() {
    let cases = [
        "id=5",                      // no operator
        "id=eq5",                    // no dot
        "id=",                       // no value
        "id",                        // no value at all
        "id=foo.5",                  // unknown operator
        "id=not.not.eq.5",           // double negation
        "id=is.maybe",               // not a truth value
        "id=in.1,2",                 // list without parentheses
        "id=in.(1,2",                // list not closed
        "id=in.(1,2)x",              // text after the list
        "or=a.eq.1",                 // tree without parentheses
        "or=(a.eq.1",                // tree not closed
        "or=(a.eq.1))",              // closed twice
        "or=()",                     // empty tree
        "or=(a.eq.1,)",              // empty item
        "or=(a)",                    // item without operator
        "or=(a.eq.1)x",              // text after the tree
        "or=(clients.a.eq.1)",       // `a` is no operator (PostgREST reads it so too)
        "or=(and.eq.1,xor(b.eq.2))", // unknown logic operator
        "select=",                   // empty select
        "select=id,,name",           // empty item
        "select=alias:*",            // renamed star
        "select=id)",                // unbalanced
        "select=a:b:c",              // two renames
        "order=",                    // empty order
        "order=id.up",               // unknown modifier
        "order=id.nullsfirst.desc",  // wrong order of modifiers
        "order=id.asc.desc",         // two directions
        "limit=-1",
        "limit=ten",
        "limit=1.5",
        "offset=+5",
        "limit=99999999999999999999",
        "limit=1&limit=2", // given twice
        "select=id&select=name",
        "a=eq.%zz",     // bad escape
        "a=eq.%C3",     // not UTF-8
        "a=eq.x%00y",   // NUL
        "columns=a,,b", // empty column
    ];
    for q in cases {
        let e = query_error(q);
        assert_eq!(e.code, "PGRST100", "{q}: {e:?}");
        assert_eq!(e.status(), 400);
        assert!(e.hint.as_deref().is_some_and(|h| !h.is_empty()), "{q}");
    }
    // Messages say what was wrong.
    assert!(query_error("id=foo.5")
        .message
        .contains("unknown operator \"foo\""));
    assert!(query_error("limit=ten")
        .message
        .contains("`limit` must be a whole number"));
    assert!(query_error("limit=1&limit=2")
        .message
        .contains("more than once"));
}

#[test]
fn unsupported_postgrest_features_are_pgrst127_and_named() {
    let cases = [
        ("select=*,other(*)", "embedded resources"),
        ("select=id,client:clients!inner(name)", "embedded resources"),
        ("select=...clients(name)", "embedded resources"),
        ("select=count()", "aggregate functions"),
        ("select=price.sum()", "aggregate functions"),
        ("select=data->a", "JSON paths"),
        ("select=id::text", "casts"),
        ("select=\"my col\"", "quoted names"),
        ("clients.name=eq.x", "embedded resources"),
        ("clients.order=id", "embedded resources"),
        ("data->>a=eq.1", "JSON paths"),
        ("order=clients(name)", "embedded resources"),
        ("order=data->a.desc", "JSON paths"),
        ("tags=cs.{a,b}", "operator `cs`"),
        ("name=match.^a", "operator `match`"),
        ("text=fts.cat", "operator `fts`"),
        ("text=fts(english).cat", "languages"),
        ("id=eq(any).{1,2}", "modifiers"),
        ("a=isdistinct.1", "operator `isdistinct`"),
        ("on_conflict=id", "upserts"),
    ];
    for (q, feature) in cases {
        let e = query_error(q);
        assert_eq!(e.code, "PGRST127", "{q}: {e:?}");
        assert!(
            e.message.contains(feature) && e.message.contains("not supported"),
            "{q}: {}",
            e.message
        );
    }
}

#[test]
fn bad_bodies_are_pgrst102() {
    let cases = [
        "",
        "not json",
        "{\"a\": 1",
        "{\"a\": 1} x",
        "42",
        "\"text\"",
        "null",
        "[1, 2]",
        "[{\"a\": 1}, 2]",
        "{}",
        "[]",
        "[{}]",
        "{\"a\": 1, \"a\": 2}",
        "{\"a b\": 1}",
        "{\"a;drop\": 1}",
        "{\"a\": \"x\\u0000y\"}",
        "{\"a\": 1e}",
        "{\"a\": 01}",
        "{\"a\": NaN}",
    ];
    for body in cases {
        let e = rest::parse_insert_body(body, None).unwrap_err();
        assert_eq!(e.code, "PGRST102", "{body}: {e:?}");
    }
    for body in ["[{\"a\": 1}]", "{}", "{\"a\": 1, \"a\": 1}", "7"] {
        let e = rest::parse_patch_body(body, None).unwrap_err();
        assert_eq!(e.code, "PGRST102", "{body}: {e:?}");
    }
    let e = rest::parse_insert_body("{\"a\": 1, \"a\": 2}", None).unwrap_err();
    assert!(e.message.contains("given twice"), "{}", e.message);
    // Every key left out by columns= leaves nothing to write.
    let cols = [name("z")];
    assert_eq!(
        rest::parse_patch_body("{\"a\": 1}", Some(&cols))
            .unwrap_err()
            .code,
        "PGRST102"
    );
}

#[test]
fn injection_in_names_is_refused() {
    let names = [
        "id;drop table t",
        "id--",
        "id/**/",
        "id\"",
        "\"id\"",
        "id`",
        "id'",
        "id\\",
        "id)",
        "i d",
        "1id",
        "",
        "ïd",         // non-ASCII
        "ｉｄ",       // fullwidth
        "id\u{200b}", // zero-width space
        "id\u{0}",    // NUL
        "id\n",       // control
        "tenant_id = tenant_id OR 1",
        "@@version",
        "$1",
    ]
    .map(String::from)
    .into_iter()
    // Longer than PostgreSQL keeps.
    .chain(["x".repeat(64)]);
    for n in names {
        let n = n.as_str();
        assert!(Name::parse(n).is_err(), "{n:?}");
        let encoded: String = n.bytes().map(|b| format!("%{b:02X}")).collect();
        for q in [
            format!("{encoded}=eq.1"),
            format!("select={encoded}"),
            format!("select={encoded}:id"),
            format!("order={encoded}"),
            format!("or=({encoded}.eq.1)"),
        ]
        .into_iter()
        .chain(
            // In columns=, a quoted plain name is that name (as PostgREST clients send them).
            (!n.strip_prefix('"')
                .and_then(|m| m.strip_suffix('"'))
                .is_some_and(|m| Name::parse(m).is_ok()))
            .then(|| format!("columns={encoded}")),
        ) {
            assert!(rest::parse_query(&q).is_err(), "{q}");
        }
        let body = json_object(n, serde_json::Value::from(1));
        assert_eq!(
            rest::parse_insert_body(&body, None).unwrap_err().code,
            "PGRST102"
        );
        assert_eq!(
            rest::parse_patch_body(&body, None).unwrap_err().code,
            "PGRST102"
        );
    }
    assert!(Name::from_path_segment("reservations%3Bdrop").is_err());
    assert!(Name::from_path_segment("public.reservations").is_err());
    assert_eq!(
        Name::parse("x".repeat(63).as_str()).unwrap().as_str().len(),
        63
    );
    // Reserved words are names like any other: quoted, they cannot act as keywords.
    assert_eq!(
        get(PostgreSql, "select=select,from:where&order=order"),
        r#"SELECT "select", "where" AS "from" FROM "public"."t" AS "t" ORDER BY "order""#
    );
}

/// Values are literals whatever they hold: each attack is one literal holding exactly the text
/// sent, in both dialects, as a filter value, an `in` item, a logic-tree value and a body value.
#[test]
fn injection_in_values_stays_one_literal() {
    let attacks = [
        "x' OR '1'='1",
        "x'; DROP TABLE t; --",
        "x\\' OR 1=1 --",
        "\\",
        "x\\",
        "'",
        "''",
        "x/* comment */y",
        "x -- comment",
        "x # comment",
        "/*! DROP TABLE t */",
        "$$ x $$",
        "x\u{2019} OR 1=1", // right single quotation mark
        "x\u{ff07} OR 1=1", // fullwidth apostrophe
        "x\u{02bc} OR 1=1", // modifier letter apostrophe
        "\u{1F600}é中",
        "x\r\ny\t",
        "? $1 :x @x",
        "`x` \"y\"",
    ];
    for attack in attacks {
        let enc: String = attack.bytes().map(|b| format!("%{b:02X}")).collect();
        let quoted = attack.replace('\\', "\\\\").replace('"', "\\\"");
        let set = rest::parse_patch_body(&json_object("a", attack.into()), None).unwrap();
        for dialect in [PostgreSql, MySql] {
            let statements = [
                rest::select(dialect, &name("t"), &params(&format!("a=eq.{enc}")), None),
                rest::select(
                    dialect,
                    &name("t"),
                    &params(&format!("a=in.({})", enc_list(&quoted))),
                    None,
                ),
                rest::select(
                    dialect,
                    &name("t"),
                    &params(&format!("or=(a.eq.{})", enc_list(&quoted))),
                    None,
                ),
                rest::update(dialect, &name("t"), &Params::default(), &set, None).unwrap(),
            ];
            for stmt in statements {
                let out = sql(OTHER_ROLES, "open", dialect, stmt);
                let literals = string_literals(dialect, &out);
                assert_eq!(literals, vec![attack.to_string()], "{dialect:?}: {out}");
            }
        }
    }
}

fn json_object(key: &str, value: serde_json::Value) -> String {
    let mut m = serde_json::Map::new();
    m.insert(key.to_string(), value);
    serde_json::Value::Object(m).to_string()
}

/// `"…"` with `"` and `\` escaped, percent-encoded: one quoted item of a list or tree.
fn enc_list(quoted: &str) -> String {
    format!(
        "%22{}%22",
        quoted
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    )
}

/// Every string literal in `sql` as the dialect's parser reads it.
fn string_literals(dialect: Dialect, sql: &str) -> Vec<String> {
    use sqlparser::ast::Visit;
    use std::ops::ControlFlow;
    struct Collect(Vec<String>);
    impl sqlparser::ast::Visitor for Collect {
        type Break = ();
        fn pre_visit_value(&mut self, v: &sqlparser::ast::ValueWithSpan) -> ControlFlow<()> {
            if let Value::SingleQuotedString(s) = &v.value {
                self.0.push(s.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let stmts = sqlparser::parser::Parser::parse_sql(parser_dialect(dialect), sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(stmts.len(), 1, "{sql}");
    let mut c = Collect(Vec::new());
    let _ = stmts[0].visit(&mut c);
    c.0
}

fn parser_dialect(d: Dialect) -> &'static dyn sqlparser::dialect::Dialect {
    match d {
        PostgreSql => &sqlparser::dialect::PostgreSqlDialect {},
        MySql => &sqlparser::dialect::MySqlDialect {},
    }
}

/// The engine's reserved prefix is refused in values too, as in SQL text.
#[test]
fn the_reserved_prefix_is_denied_in_values() {
    for dialect in [PostgreSql, MySql] {
        let d = denial(
            OTHER_ROLES,
            "open",
            dialect,
            rest::select(dialect, &name("t"), &params("a=eq.__sluice_lit_0__"), None),
        );
        assert_eq!(d.rule, Rule::ConstructNotAllowed);
    }
}

/// A hand-built tree is decided by what its text means: a number node holding SQL becomes
/// several statements, which `authorize_statement` refuses even when each would be allowed.
#[test]
fn a_tree_whose_text_reads_as_more_is_refused() {
    let with_number = |dialect, number: &str| {
        let mut stmt = rest::select(dialect, &name("t"), &params("a=eq.1"), None);
        let Statement::Query(q) = &mut stmt else {
            unreachable!()
        };
        let sqlparser::ast::SetExpr::Select(s) = q.body.as_mut() else {
            unreachable!()
        };
        let Some(Expr::BinaryOp { right, .. }) = s.selection.as_mut() else {
            unreachable!()
        };
        **right = Expr::value(Value::Number(number.into(), false));
        stmt
    };
    for dialect in [PostgreSql, MySql] {
        for number in ["1; SELECT * FROM t", "1; DROP TABLE t", "1 OR 1=1"] {
            let d = denial(OTHER_ROLES, "open", dialect, with_number(dialect, number));
            assert_eq!(d.rule, Rule::ConstructNotAllowed, "{d}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End to end with the rental roles
// ---------------------------------------------------------------------------------------------

#[test]
fn a_read_is_confined_to_the_tokens_tenant() {
    let p = params("tenant_id=eq.globex&select=id,notes");
    assert_eq!(
        sql(
            RENTAL_ROLES,
            "agent_readonly",
            PostgreSql,
            rest::select(PostgreSql, &name("reservations"), &p, None)
        ),
        r#"SELECT "id", "notes" FROM (SELECT "id", "tenant_id", "customer_id", "vehicle_id", "status", "notes", "starts_on", "price" FROM "public"."reservations" WHERE (tenant_id = 'acme')) AS "reservations" WHERE "tenant_id" = 'globex'"#
    );
    assert_eq!(
        sql(
            RENTAL_ROLES,
            "agent_readonly",
            MySql,
            rest::select(MySql, &name("reservations"), &p, None)
        ),
        "SELECT `id`, `notes` FROM (SELECT `id`, `tenant_id`, `customer_id`, `vehicle_id`, `status`, `notes`, `starts_on`, `price` FROM `rental`.`reservations` WHERE (tenant_id = 'acme')) AS `reservations` WHERE `tenant_id` = 'globex'"
    );
    // An OR cannot reach around the tenant filter: it stays inside the derived table's WHERE.
    let p = params("or=(tenant_id.eq.globex,id.gt.0)");
    for dialect in [PostgreSql, MySql] {
        let out = sql(
            RENTAL_ROLES,
            "agent_readonly",
            dialect,
            rest::count(dialect, &name("reservations"), &p),
        );
        // (MySQL: `id > '0'` compares a string with a number, which is not proven leakproof,
        // so the derived table is fenced.)
        assert!(
            out.contains("WHERE (tenant_id = 'acme')) AS")
                || out.contains("WHERE (tenant_id = 'acme') LIMIT 18446744073709551615) AS"),
            "{out}"
        );
    }
    // Hidden columns do not exist in the confined table (the backend reports them missing).
    let out = sql(
        RENTAL_ROLES,
        "agent_readonly",
        PostgreSql,
        rest::select(PostgreSql, &name("customers"), &params("select=ssn"), None),
    );
    assert!(
        out.starts_with(r#"SELECT "ssn" FROM (SELECT "id", "tenant_id", "name", "email" FROM"#),
        "{out}"
    );
}

#[test]
fn writes_are_checked_against_the_role() {
    for dialect in [PostgreSql, MySql] {
        // A column the role may not update.
        let set = rest::parse_patch_body(r#"{"notes": "x", "price": 1}"#, None).unwrap();
        let d = denial(
            RENTAL_ROLES,
            "agent_support",
            dialect,
            rest::update(
                dialect,
                &name("reservations"),
                &params("id=eq.1"),
                &set,
                None,
            )
            .unwrap(),
        );
        assert_eq!(d.rule, Rule::ColumnNotGranted, "{d}");
        assert!(d.message.contains("price"));
        // Moving a row to another tenant.
        let set = rest::parse_patch_body(r#"{"tenant_id": "globex"}"#, None).unwrap();
        let d = denial(
            RENTAL_ROLES,
            "agent_support",
            dialect,
            rest::update(
                dialect,
                &name("reservations"),
                &params("id=eq.1"),
                &set,
                None,
            )
            .unwrap(),
        );
        assert_eq!(d.rule, Rule::ColumnNotGranted, "{d}");
        // DELETE is forbidden for every role of the file.
        let d = denial(
            RENTAL_ROLES,
            "agent_support",
            dialect,
            rest::delete(dialect, &name("reservations"), &params("id=eq.1"), None).unwrap(),
        );
        assert_eq!(d.rule, Rule::ForbiddenOperation, "{d}");
        // A read-only role cannot write at all.
        let rows = rest::parse_insert_body(r#"{"notes": "x"}"#, None).unwrap();
        let d = denial(
            RENTAL_ROLES,
            "agent_readonly",
            dialect,
            rest::insert(dialect, &name("reservations"), &rows, Missing::Null, None).unwrap(),
        );
        assert_eq!(d.rule, Rule::TableNotGranted, "{d}");
        // An insert for another tenant.
        let rows =
            rest::parse_insert_body(r#"[{"notes": "x", "tenant_id": "globex"}]"#, None).unwrap();
        let d = denial(
            RENTAL_ROLES,
            "agent_support",
            dialect,
            rest::insert(dialect, &name("reservations"), &rows, Missing::Null, None).unwrap(),
        );
        assert_eq!(d.rule, Rule::WriteNotConfinable, "{d}");
        // A table the role has no grant for.
        let d = denial(
            RENTAL_ROLES,
            "agent_support",
            dialect,
            rest::select(dialect, &name("payments"), &Params::default(), None),
        );
        assert_eq!(d.rule, Rule::TableNotGranted, "{d}");
    }
}

#[test]
fn allowed_writes_are_confined() {
    let set = rest::parse_patch_body(r#"{"notes": "late", "status": "open"}"#, None).unwrap();
    let p = params("id=eq.1");
    assert_eq!(
        sql(
            RENTAL_ROLES,
            "agent_support",
            PostgreSql,
            rest::update(PostgreSql, &name("reservations"), &p, &set, None).unwrap()
        ),
        r#"UPDATE "public"."reservations" SET "notes" = 'late', "status" = 'open' WHERE ("reservations".tenant_id = 'acme') AND ("id" = '1')"#
    );
    assert_eq!(
        sql(
            RENTAL_ROLES,
            "agent_support",
            MySql,
            rest::update(MySql, &name("reservations"), &p, &set, None).unwrap()
        ),
        "UPDATE `rental`.`reservations` SET `notes` = 'late', `status` = 'open' WHERE (`reservations`.tenant_id = 'acme') AND (`id` = '1')"
    );
    // The tenant column is filled in by the engine.
    let rows = rest::parse_insert_body(
        r#"[{"notes": "a", "price": 10.5}, {"status": "new"}]"#,
        None,
    )
    .unwrap();
    assert_eq!(
        sql(
            RENTAL_ROLES,
            "agent_support",
            PostgreSql,
            rest::insert(
                PostgreSql,
                &name("reservations"),
                &rows,
                Missing::Null,
                None
            )
            .unwrap()
        ),
        r#"INSERT INTO "public"."reservations" ("notes", "price", "status", "tenant_id") VALUES ('a', 10.5, NULL, 'acme'), (NULL, NULL, 'new', 'acme')"#
    );
    // RETURNING of columns the role may read; `*` would return hidden ones.
    let returning = params("select=id,notes").select;
    assert!(decide(
        RENTAL_ROLES,
        "agent_support",
        PostgreSql,
        rest::update(
            PostgreSql,
            &name("reservations"),
            &p,
            &set,
            Some(&returning)
        )
        .unwrap()
    )
    .is_ok());
    let d = denial(
        RENTAL_ROLES,
        "agent_support",
        PostgreSql,
        rest::update(
            PostgreSql,
            &name("reservations"),
            &p,
            &set,
            Some(&[Selected::All]),
        )
        .unwrap(),
    );
    assert_eq!(d.rule, Rule::ColumnNotGranted);
    // Where DELETE is granted, it is confined to the tenant.
    for (dialect, expected) in [
        (
            PostgreSql,
            r#"DELETE FROM "public"."reservations" WHERE ("reservations".tenant_id = 'acme') AND ("status" = 'cancelled')"#,
        ),
        (
            MySql,
            "DELETE FROM `rental`.`reservations` WHERE (`reservations`.tenant_id = 'acme') AND (`status` = 'cancelled')",
        ),
    ] {
        assert_eq!(
            sql(
                OTHER_ROLES,
                "agent_cleanup",
                dialect,
                rest::delete(dialect, &name("reservations"), &params("status=eq.cancelled"), None)
                    .unwrap()
            ),
            expected
        );
    }
}

#[test]
fn the_engine_entry_point_decides_built_statements() {
    let engine = sluice_policy::Engine::with_schemas(
        Arc::new(config(RENTAL_ROLES)),
        sluice_policy::BackendSchemas {
            postgres: Arc::new(rental_schema(PostgreSql)),
            mysql: Arc::new(rental_schema(MySql)),
        },
        1 << 20,
    );
    let c = claims("agent_readonly");
    let p = params("tenant_id=eq.globex");
    for dialect in [PostgreSql, MySql] {
        let stmt = rest::select(dialect, &name("reservations"), &p, None);
        let first = engine.authorize_statement(&c, dialect, Some("rental"), stmt.clone());
        let again = engine.authorize_statement(&c, dialect, Some("rental"), stmt.clone());
        assert_eq!(first, again);
        let direct = decide(RENTAL_ROLES, "agent_readonly", dialect, stmt);
        assert_eq!(*first, direct);
        assert!(first.as_ref().as_ref().unwrap().statements[0]
            .sql
            .contains("tenant_id = 'acme'"));
    }
    let nobody = claims("agent_unknown");
    let r = engine.authorize_statement(
        &nobody,
        PostgreSql,
        None,
        rest::select(PostgreSql, &name("reservations"), &p, None),
    );
    assert_eq!(r.as_ref().as_ref().unwrap_err().rule, Rule::ClaimInvalid);
    let set = rest::parse_patch_body(r#"{"price": 1}"#, None).unwrap();
    let r = engine.authorize_statement(
        &claims("agent_support"),
        MySql,
        Some("rental"),
        rest::update(MySql, &name("reservations"), &p, &set, None).unwrap(),
    );
    assert_eq!(
        r.as_ref().as_ref().unwrap_err().rule,
        Rule::ColumnNotGranted
    );
}

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

/// The deepest and the largest request the grammar accepts, negated at every level, in every
/// builder: allowed by the engine (its operator and nesting limits are not reached), on a 2 MiB
/// stack, the size of a tokio worker's. One more level or filter is a PGRST100.
#[test]
fn the_largest_accepted_requests_fit_the_engine() {
    let deep = format!(
        "or=({}a.ilike.x*{})",
        "a.eq.1,not.and(".repeat(rest::MAX_LOGIC_DEPTH - 1),
        ")".repeat(rest::MAX_LOGIC_DEPTH - 1)
    );
    // The top-level group counts too.
    let wide = format!(
        "or=({})",
        vec!["a.not.ilike.x*"; rest::MAX_CONDITIONS - 1].join(",")
    );
    // As many operators per condition as the grammar allows: negated groups of one negated
    // filter, in chains as deep as allowed.
    let chain = format!(
        "{}a.not.ilike.x*{}",
        "not.or(".repeat(rest::MAX_LOGIC_DEPTH - 1),
        ")".repeat(rest::MAX_LOGIC_DEPTH - 1)
    );
    let chains = format!(
        "and=({})&a=not.in.(1)",
        vec![chain; (rest::MAX_CONDITIONS - 2) / rest::MAX_LOGIC_DEPTH].join(",")
    );
    let mixed = format!(
        "{}&order={}",
        (0..rest::MAX_CONDITIONS)
            .map(|i| format!("c{i}=not.in.(1,2)"))
            .collect::<Vec<_>>()
            .join("&"),
        vec!["a.desc.nullsfirst"; rest::MAX_ORDER_TERMS].join(",")
    );
    for q in [deep.clone(), wide.clone(), chains, mixed] {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let p = params(&q);
                let set = vec![(name("a"), Literal::Number("1".into()))];
                let mut p_no_paging = p.clone();
                p_no_paging.order.clear();
                for dialect in [PostgreSql, MySql] {
                    for stmt in [
                        rest::select(dialect, &name("t"), &p, None),
                        rest::count(dialect, &name("t"), &p),
                        rest::update(dialect, &name("t"), &p_no_paging, &set, None).unwrap(),
                        rest::delete(dialect, &name("t"), &p_no_paging, None).unwrap(),
                    ] {
                        if let Err(d) = decide(OTHER_ROLES, "open", dialect, stmt) {
                            panic!("{dialect:?} {}: {d}", &q[..60.min(q.len())]);
                        }
                    }
                }
            })
            .unwrap();
        assert!(handle.join().is_ok());
    }
    let deeper = format!(
        "or=({}a.eq.1{})",
        "not.and(".repeat(rest::MAX_LOGIC_DEPTH),
        ")".repeat(rest::MAX_LOGIC_DEPTH)
    );
    assert!(query_error(&deeper).message.contains("nests deeper"));
    let wider = format!("{wide}&a=eq.1");
    assert!(query_error(&wider)
        .message
        .contains("filters and and/or groups"));
    let longer = format!("order={}", vec!["a"; rest::MAX_ORDER_TERMS + 1].join(","));
    assert_eq!(query_error(&longer).code, "PGRST100");
}

// ---------------------------------------------------------------------------------------------
// Fuzz
// ---------------------------------------------------------------------------------------------

const KEYS: &[&str] = &[
    "id",
    "notes",
    "tenant_id",
    "select",
    "order",
    "limit",
    "offset",
    "or",
    "and",
    "not.or",
    "not.and",
    "columns",
    "on_conflict",
    "a.b",
    "data->a",
    "x%3By",
    "%22id%22",
    "",
    "ssn",
];

const PIECES: &[&str] = &[
    "eq.",
    "neq.",
    "gt.",
    "like.",
    "ilike.",
    "in.",
    "is.",
    "not.",
    "cs.",
    "fts(english).",
    "eq(any).",
    "null",
    "unknown",
    "(",
    ")",
    ",",
    ".",
    "\"",
    "\\",
    "'",
    "*",
    ":",
    "::",
    "->",
    "->>",
    "!inner",
    "...",
    "{",
    "}",
    "and(",
    "or(",
    "not.and(",
    "asc",
    "desc",
    "nullsfirst",
    "1",
    "-1",
    "99999999999999999999",
    "%",
    "%2",
    "%27",
    "%5C",
    "%00",
    "%E2%80%99",
    "+",
    " ",
    ";",
    "--",
    "/*",
    "*/",
    "__sluice",
    "id",
    "tenant_id",
    "globex",
    "é",
    "\u{1F600}",
];

fn query_string() -> impl Strategy<Value = String> {
    let value = prop::collection::vec(prop::sample::select(PIECES), 0..12).prop_map(|v| v.concat());
    let pair = (prop::sample::select(KEYS), value).prop_map(|(k, v)| format!("{k}={v}"));
    prop_oneof![
        prop::collection::vec(pair, 0..6).prop_map(|v| v.join("&")),
        ".{0,80}",
    ]
}

fn body() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        "-?[0-9]{1,25}(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?",
        "\"[a-z'\\\\;\\-/* ]{0,8}\"",
        Just("\"\\u0000\"".to_string()),
        Just("{\"k\":[1,{}]}".to_string()),
    ];
    let key = prop::sample::select(&["a", "notes", "tenant_id", "a b", "a'", "", "price"][..]);
    let object = prop::collection::vec((key, leaf), 0..4).prop_map(|kv| {
        let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(","))
    });
    prop_oneof![
        object.clone(),
        prop::collection::vec(object, 0..3).prop_map(|o| format!("[{}]", o.join(","))),
        ".{0,40}",
    ]
}

fn check_built(role: &str, dialect: Dialect, stmt: Statement) -> Result<(), TestCaseError> {
    let yaml = if role == "open" {
        OTHER_ROLES
    } else {
        RENTAL_ROLES
    };
    if let Ok(a) = decide(yaml, role, dialect, stmt) {
        prop_assert_eq!(a.statements.len(), 1);
        let out = &a.statements[0].sql;
        let reparsed = sqlparser::parser::Parser::parse_sql(parser_dialect(dialect), out);
        prop_assert!(reparsed.is_ok(), "output does not parse: {}", out);
    }
    Ok(())
}

fn fuzz_config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// Random query strings never panic; whatever parses builds statements the engine decides
    /// without panicking, and whatever it allows re-parses.
    #[test]
    fn random_query_strings_never_panic(q in query_string(), range in ".{0,12}") {
        let Ok(p) = rest::parse_query(&q) else { return Ok(()) };
        let range = Range::from_header(&range).ok();
        let set = vec![(name("notes"), Literal::Text("x".into()))];
        for dialect in [PostgreSql, MySql] {
            for role in ["open", "agent_support"] {
                let table = if role == "open" { "t" } else { "reservations" };
                check_built(role, dialect, rest::select(dialect, &name(table), &p, range))?;
                check_built(role, dialect, rest::count(dialect, &name(table), &p))?;
                if let Ok(s) = rest::update(dialect, &name(table), &p, &set, None) {
                    check_built(role, dialect, s)?;
                }
                if let Ok(s) = rest::delete(dialect, &name(table), &p, None) {
                    check_built(role, dialect, s)?;
                }
            }
        }
    }

    /// Random bodies never panic; what parses builds statements the engine decides.
    #[test]
    fn random_bodies_never_panic(b in body()) {
        if let Ok(rows) = rest::parse_insert_body(&b, None) {
            for dialect in [PostgreSql, MySql] {
                for missing in [Missing::Null, Missing::Default] {
                    let s = rest::insert(dialect, &name("reservations"), &rows, missing, None)
                        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    check_built("agent_support", dialect, s.clone())?;
                    check_built("open", dialect, s)?;
                }
            }
        }
        if let Ok(set) = rest::parse_patch_body(&b, None) {
            for dialect in [PostgreSql, MySql] {
                let s = rest::update(dialect, &name("reservations"), &Params::default(), &set, None)
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                check_built("agent_support", dialect, s)?;
            }
        }
    }
}
