//! The renderer is faithful (gateway rule 3): for every tricky value, what the client's SQL
//! means on the real engine, what Sluice's rendering of it means on the real engine, and the
//! value itself are the same. Run against throwaway PostgreSQL and MariaDB.
//!
//! PostgreSQL runs with standard_conforming_strings = on (its default, pinned by the door);
//! MariaDB with its default sql_mode backslash handling (NO_BACKSLASH_ESCAPES off, pinned by
//! the door), which is also how clients write strings.

use mysql_async::prelude::Queryable;
use sluice_integration::{shared_mariadb, shared_pg};
use sluice_policy::roles::RbacConfig;
use sluice_policy::{authorize, Dialect, Rule, Scope};
use sluice_tokens::Claims;

const ROLES: &str = "roles:\n  r:\n    tables:\n      t: [SELECT]\n";

/// Values chosen to break a naive renderer: quotes and backslashes in every arrangement,
/// comment starters, dollar signs, placeholders' look-alikes, Unicode.
const VALUES: &[&str] = &[
    "plain",
    "it's",
    "''",
    "'''",
    "\\",
    "\\\\",
    "\\'",
    "\\''",
    "'\\'",
    "\\' UNION SELECT 1 --",
    "x\\'' OR ''1''=''1",
    "a\"b",
    "-- not a comment",
    "/* not a comment */",
    "$$ not dollar quoted $$",
    "$1 ? :x",
    "%_ like wildcards",
    "héllo wörld ✓ 𝄞 日本",
    "tab\there",
    "line\nbreak",
    "",
];

fn claims() -> Claims {
    Claims {
        role: "r".into(),
        tenant_id: None,
        exp: i64::MAX / 2,
        iat: 0,
        nbf: 0,
        jti: "0123456789abcdef0123456789abcdef".into(),
        label: None,
        extra: Default::default(),
    }
}

fn rendered(dialect: Dialect, sql: &str) -> Result<String, sluice_policy::Denial> {
    let cfg = RbacConfig::from_yaml("roles.yaml", ROLES).unwrap();
    let c = claims();
    let scope = Scope {
        config: &cfg,
        role: cfg.role("r").unwrap(),
        claims: &c,
        dialect,
        database: None,
        schema: sluice_policy::Schema::empty(),
    };
    let out = authorize(&scope, sql)?;
    assert_eq!(out.statements.len(), 1);
    Ok(out.statements[0].sql.clone())
}

async fn pg_value(client: &tokio_postgres::Client, sql: &str) -> String {
    let rows = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL rejected {sql:?}: {e}"));
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        })
        .expect("one row")
}

#[tokio::test]
async fn postgres_reads_rendered_literals_exactly() {
    let pg = shared_pg();
    let db = pg.create_unique_database("render").unwrap();
    let (client, conn) = tokio_postgres::connect(&pg.url(&db), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    assert_eq!(
        pg_value(&client, "SHOW standard_conforming_strings").await,
        "on"
    );

    let mut cases: Vec<(String, String)> = VALUES
        .iter()
        // PostgreSQL text cannot hold NUL; everything else goes.
        .map(|v| {
            (
                format!("SELECT '{}' AS v", v.replace('\'', "''")),
                v.to_string(),
            )
        })
        .collect();
    // PostgreSQL's other string syntaxes, each with the value it denotes.
    for (input, value) in [
        (r"E'a\'b'", "a'b"),
        (r"E'back\\slash'", "back\\slash"),
        (r"E'\x41\n'", "A\n"),
        (r"E'\\'' OR 1=1 --'", "\\' OR 1=1 --"),
        ("$$dollar 'quoted' \\ $$", "dollar 'quoted' \\ "),
        ("$tag$a$$b'c$tag$", "a$$b'c"),
        (r"U&'\0041BC'", "ABC"),
        (r"U&'d\0061t\+000061'", "data"),
        ("N'national'", "national"),
    ] {
        cases.push((format!("SELECT {input} AS v"), value.to_string()));
    }
    for (input, value) in &cases {
        let direct = pg_value(&client, input).await;
        assert_eq!(&direct, value, "the test's own input {input:?} is wrong");
        let out = rendered(Dialect::PostgreSql, input).expect("allowed");
        let through = pg_value(&client, &out).await;
        assert_eq!(
            &through, value,
            "{input:?} rendered as {out:?} means {through:?}"
        );
    }
    eprintln!("render_roundtrip[postgres]: {} literals exact", cases.len());
}

#[tokio::test]
async fn postgres_identifiers_keep_case_and_spaces() {
    let pg = shared_pg();
    let db = pg.create_unique_database("render_ident").unwrap();
    let (client, conn) = tokio_postgres::connect(&pg.url(&db), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for (input, column) in [
        ("SELECT 1 AS \"MixedCase\"", "MixedCase"),
        ("SELECT 1 AS UnQuoted", "unquoted"),
        ("SELECT 1 AS \"with space\"", "with space"),
        ("SELECT 1 AS \"sélect ✓\"", "sélect ✓"),
        ("SELECT 1 AS \"select\"", "select"),
    ] {
        let out = rendered(Dialect::PostgreSql, input).unwrap();
        let stmt = client.prepare(&out).await.unwrap();
        assert_eq!(stmt.columns()[0].name(), column, "{input} -> {out}");
    }
    // Names the renderer could not write faithfully are refused.
    for input in ["SELECT 1 AS \"a\"\"b\"", "SELECT 1 AS \"back\\slash\""] {
        let err = rendered(Dialect::PostgreSql, input).unwrap_err();
        assert_eq!(err.rule, Rule::ConstructNotAllowed, "{input}: {err}");
    }
    // sqlparser does not read Unicode-escaped identifiers: refused, never passed through.
    let err = rendered(Dialect::PostgreSql, "SELECT 1 AS U&\"\\0022x\"").unwrap_err();
    assert_eq!(err.rule, Rule::SyntaxError, "{err}");
}

/// The placeholder prefix the renderer uses is refused anywhere in the input, so the only
/// occurrences in a rendered statement are the renderer's own.
#[test]
fn the_reserved_prefix_is_refused() {
    for (dialect, sql) in [
        (Dialect::PostgreSql, "SELECT '__sluice_lit_0__'"),
        (Dialect::PostgreSql, "SELECT 1 AS __sluice_lit_0__"),
        (Dialect::MySql, "SELECT `__sluice_lit_0__` FROM t"),
    ] {
        let err = rendered(dialect, sql).unwrap_err();
        assert_eq!(err.rule, Rule::ConstructNotAllowed, "{sql}: {err}");
    }
}

async fn my_value(conn: &mut mysql_async::Conn, sql: &str) -> Vec<u8> {
    let row: Option<mysql_async::Row> = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("MariaDB rejected {sql:?}: {e}"));
    match row
        .expect("one row")
        .take::<mysql_async::Value, _>(0)
        .unwrap()
    {
        mysql_async::Value::Bytes(b) => b,
        other => panic!("{sql}: not bytes: {other:?}"),
    }
}

#[tokio::test]
async fn mariadb_reads_rendered_literals_exactly() {
    let my = shared_mariadb();
    let db = my.create_unique_database("render").unwrap();
    let opts = mysql_async::Opts::from_url(&my.url(&db)).unwrap();
    let opts = mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    conn.query_drop("SET NAMES utf8mb4").await.unwrap();
    let mode: String = conn
        .query_first("SELECT @@sql_mode")
        .await
        .unwrap()
        .unwrap();
    assert!(!mode.contains("NO_BACKSLASH_ESCAPES"), "{mode}");

    let mut cases: Vec<(String, String)> = VALUES
        .iter()
        .chain(["nul\0byte"].iter())
        // Written the way a MySQL client writes strings: backslash escapes.
        .map(|v| {
            let lit = v
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('\0', "\\0");
            (format!("SELECT '{lit}' AS v"), v.to_string())
        })
        .collect();
    for (input, value) in [
        ("'it''s'", "it's"),
        ("\"double \\\" quoted\"", "double \" quoted"),
        ("'a\\nb'", "a\nb"),
        ("_utf8mb4'intro'", "intro"),
        ("X'414243'", "ABC"),
        ("'multi' 'part'", "multipart"),
        // MySQL runs the content of executable comments; so does sqlparser's MySQL dialect,
        // so Sluice checks and runs exactly what MySQL would.
        ("/*! 'value' */", "value"),
    ] {
        cases.push((format!("SELECT {input} AS v"), value.to_string()));
    }
    for (input, value) in &cases {
        let out = rendered(Dialect::MySql, input).expect("allowed");
        let through = my_value(&mut conn, &out).await;
        assert_eq!(
            String::from_utf8_lossy(&through),
            *value,
            "{input:?} rendered as {out:?}"
        );
        let direct = my_value(&mut conn, input).await;
        assert_eq!(
            String::from_utf8_lossy(&direct),
            *value,
            "the test's own input {input:?} is wrong"
        );
    }
    eprintln!("render_roundtrip[mariadb]: {} literals exact", cases.len());
}
