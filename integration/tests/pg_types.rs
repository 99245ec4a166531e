//! Every common type arrives through the PostgreSQL door exactly as a direct connection gives
//! it: the same bytes in the binary format (extended protocol) and the same text in the text
//! format (simple protocol), and parameters of every common type bind the same way.

use sluice_integration::{shared_pg, Gateway, GatewayOptions};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const SCHEMA: &str = r#"
CREATE TABLE typed (
    id int PRIMARY KEY,
    i2 int2, i4 int4, i8 int8, num numeric, f4 float4, f8 float8, b bool,
    t text, vc varchar(20), by bytea, d date, tm time, ts timestamp, tstz timestamptz,
    iv interval, u uuid, j json, jb jsonb, ai int4[], at text[]
);
INSERT INTO typed VALUES
 (1, 32767, -2147483648, 9223372036854775807, 12345678901234567890.123456789, 3.25, -1.5e300, true,
  'héllo ''quoted'' \back', 'varchar', '\x00ff10', '2024-02-29', '23:59:59.999999',
  '2024-01-01 12:34:56.789', '2024-06-30 23:00:00+02', '1 year 2 mons 3 days 04:05:06.5',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.5, null]}', '{"b": {"c": true}}',
  '{1,NULL,3}', '{"x","y z",NULL}'),
 (2, NULL, NULL, NULL, 'NaN', 'Infinity', '-Infinity', false, '', NULL, '', '0001-01-01', '00:00',
  '1970-01-01', '1970-01-01 00:00:00+00', '-1 days', NULL, 'null', '[]', '{}', '{}');
"#;

const ROLES: &str = r#"
roles:
  reader:
    tables:
      typed: [SELECT, INSERT]
"#;

/// A column value as the raw bytes of its wire format.
#[derive(Debug, PartialEq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    c
}

async fn binary(c: &tokio_postgres::Client, sql: &str) -> Vec<(Vec<Type>, Vec<Raw>)> {
    let rows = c
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    rows.iter()
        .map(|r| {
            let types = r.columns().iter().map(|c| c.type_().clone()).collect();
            (types, (0..r.len()).map(|i| r.get::<_, Raw>(i)).collect())
        })
        .collect()
}

async fn text(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_common_type_is_identical_to_a_direct_connection() {
    let pg = shared_pg();
    let db = pg.create_unique_database("types").unwrap();
    pg.exec(&db, SCHEMA).unwrap();
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default()).unwrap();
    let via = client(&gw.pg_url(&gw.token("reader", None, 600))).await;
    let direct = client(&pg.url(&db)).await;

    let sql = "SELECT * FROM typed ORDER BY id";
    let b_via = binary(&via, sql).await;
    assert_eq!(b_via.len(), 2);
    assert_eq!(b_via, binary(&direct, sql).await, "binary format differs");
    let t_via = text(&via, sql).await;
    assert_eq!(t_via.len(), 2);
    assert_eq!(t_via, text(&direct, sql).await, "text format differs");
    assert_eq!(t_via[0][8].as_deref(), Some("héllo 'quoted' \\back"));

    // Parameters of every common type, bound in binary, inserted through the door and read
    // back directly.
    let params: Vec<Box<dyn ToSql + Sync>> = vec![
        Box::new(3i32),
        Box::new(-7i16),
        Box::new(42i32),
        Box::new(-9_000_000_000i64),
        Box::new(1.5f32),
        Box::new(2.25f64),
        Box::new(true),
        Box::new("naïve 'x' \\ y"),
        Box::new(vec![0u8, 1, 255]),
        Box::new(serde_json::json!({"k": [1, "two"]})),
        Box::new(vec![Some(1i32), None, Some(3)]),
    ];
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let n = via
        .execute(
            "INSERT INTO typed (id, i2, i4, i8, f4, f8, b, t, by, jb, ai) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &refs,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let back = text(
        &direct,
        "SELECT i2, i4, i8, f4, f8, b, t, encode(by, 'hex'), jb, ai FROM typed WHERE id = 3",
    )
    .await;
    let expect: Vec<Option<String>> = [
        "-7",
        "42",
        "-9000000000",
        "1.5",
        "2.25",
        "t",
        "naïve 'x' \\ y",
        "0001ff",
        r#"{"k": [1, "two"]}"#,
        "{1,NULL,3}",
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .collect();
    assert_eq!(back, vec![expect]);
}
