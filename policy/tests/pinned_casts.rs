#![allow(dead_code)] // the shared harness's helpers, not all used here
//! A parameter written into a pinned column under a cast (issue 16): SQLAlchemy casts every value
//! it binds on PostgreSQL (`VALUES ($1::VARCHAR, ...)`, `SET notes=$1::VARCHAR`), so its ORM
//! could not write a row before. A cast to the bare type of the column's own class (the tenant
//! column is varchar: `varchar`, `character varying`, `text`) keeps the value the door checks at
//! Bind, and is a pinned parameter like a bare `$1`. Anything that could change the value (a
//! length, another class), any cast without the schema to know the column's class, and MySQL's
//! casts stay refused.

use std::collections::BTreeMap;

use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Authorized, Denial, Dialect, Rule, Scope};
use sluice_tokens::Claims;

include!("common/barrier_harness.rs");

/// The parameters (counted from 0) the door must check, and the rendering.
fn pinned(dialect: Dialect, with_schema: bool, sql: &str) -> (Vec<usize>, String) {
    let a = run("booker", dialect, with_schema, sql).unwrap_or_else(|d| panic!("{sql}: {d}"));
    assert_eq!(a.statements.len(), 1);
    let s = &a.statements[0];
    (
        s.parameters.pinned.iter().map(|p| p.parameter).collect(),
        s.sql.clone(),
    )
}

fn refused(dialect: Dialect, with_schema: bool, sql: &str) {
    let d = run("booker", dialect, with_schema, sql)
        .err()
        .unwrap_or_else(|| panic!("{sql} was allowed"));
    assert_eq!(d.rule, Rule::WriteNotConfinable, "{sql}: {d}");
}

#[test]
fn a_bare_string_cast_of_a_parameter_is_pinned() {
    let (p, sql) = pinned(
        Dialect::PostgreSql,
        true,
        "INSERT INTO reservations (tenant_id, vehicle_id, notes) VALUES ($1::VARCHAR, $2::INTEGER, $3::VARCHAR) RETURNING reservations.id",
    );
    assert_eq!(p, [0]);
    assert_eq!(
        sql,
        r#"INSERT INTO "public"."reservations" (tenant_id, vehicle_id, notes) VALUES ($1::VARCHAR, $2::INTEGER, $3::VARCHAR) RETURNING reservations.id"#
    );
    for cast in [
        "$1::text",
        "CAST($1 AS character varying)",
        "$1::char varying",
        "$1::varchar::text",
    ] {
        let sql =
            format!("INSERT INTO reservations (notes, tenant_id) VALUES ('x', {cast}), ('y', $2)");
        assert_eq!(pinned(Dialect::PostgreSql, true, &sql).0, [0, 1], "{sql}");
    }
    let (p, _) = pinned(
        Dialect::PostgreSql,
        true,
        "UPDATE reservations SET tenant_id=$1::VARCHAR, notes=$2::VARCHAR WHERE reservations.id = $3::INTEGER",
    );
    assert_eq!(p, [0]);
}

#[test]
fn a_cast_that_could_change_the_value_is_refused() {
    for cast in [
        // A length cuts the value: 'acmex'::varchar(4) is 'acme'.
        "$1::VARCHAR(4)",
        "$1::char(4)",
        "$1::char",
        // Another class: the door would read a binary value by the wrong type.
        "$1::INTEGER",
        "$1::bytea",
        "$1::name",
        "$1::citext",
        "$1::public.varchar",
        "TRY_CAST($1 AS VARCHAR)",
        "$1::varchar(4)::text",
        "$1::bytea::text",
        "($1 || '')::text",
        // A literal under a cast is not worth the risk either.
        "'acme'::text",
    ] {
        let sql = format!("INSERT INTO reservations (notes, tenant_id) VALUES ('x', {cast})");
        refused(Dialect::PostgreSql, true, &sql);
        let sql = format!("UPDATE reservations SET tenant_id = {cast}");
        refused(Dialect::PostgreSql, true, &sql);
    }
}

#[test]
fn without_the_schema_or_on_mysql_a_cast_is_refused() {
    refused(
        Dialect::PostgreSql,
        false,
        "INSERT INTO reservations (notes, tenant_id) VALUES ('x', $1::VARCHAR)",
    );
    refused(
        Dialect::MySql,
        true,
        "INSERT INTO reservations (notes, tenant_id) VALUES ('x', CAST(? AS CHAR))",
    );
}
