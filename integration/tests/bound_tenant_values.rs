//! Tenant values bound as parameters (issue 16, part 1): every ORM binds the values of an
//! INSERT, the tenant column's too. A parameter written into a column the role's filter pins is
//! accepted when, at Bind (PostgreSQL) or COM_STMT_EXECUTE (MySQL), its value is the token's,
//! and refused with nothing written otherwise, decided on each execution's own values (never on
//! a decision cached without them). `DEFAULT` there is the token's value. Each refusal is
//! checked on the table through a direct connection. Before this, every such statement was
//! refused at Parse/prepare (`write_not_confinable`), whatever the value.

use mysql_async::prelude::Queryable;
use sluice_integration::rental::{seed_mariadb, seed_pg, ROLES};
use sluice_integration::{db_message, shared_mariadb, shared_pg, sqlstate, Gateway};

const PG_INSERT: &str = "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) \
     VALUES ($1, $2, 1, 'new', $3, $4::text::date, 10) RETURNING tenant_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_a_bound_tenant_value_only_when_it_is_the_tokens() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, Default::default()).expect("gateway");
    let token = gw.token("agent_support", Some("acme"), 600);
    let c = gw.client(&token).await;
    let (direct, conn) = tokio_postgres::connect(&pg.url(&db), tokio_postgres::NoTls)
        .await
        .expect("direct");
    tokio::spawn(conn);
    let written = |notes: &'static str| {
        let direct = &direct;
        async move {
            let rows = direct
                .query(
                    "SELECT tenant_id FROM reservations WHERE notes = $1",
                    &[&notes],
                )
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        }
    };

    // The token's own value, bound (tokio-postgres sends it in binary: text's bytes).
    let stmt = c.prepare(PG_INSERT).await.expect("prepared");
    let rows = c
        .query(&stmt, &[&"acme", &1i32, &"bound-acme", &"2026-03-01"])
        .await
        .expect("the token's value is written");
    assert_eq!(rows[0].get::<_, String>(0), "acme");
    assert_eq!(written("bound-acme").await, ["acme"]);

    // Another tenant's value through the same prepared statement: refused, nothing written.
    let e = c
        .query(&stmt, &[&"globex", &1i32, &"bound-globex", &"2026-03-01"])
        .await
        .expect_err("another tenant's value is refused");
    assert_eq!(sqlstate(&e), "42501", "{}", db_message(&e));
    assert!(
        db_message(&e).contains("must hold the token's value acme"),
        "{}",
        db_message(&e)
    );
    assert!(written("bound-globex").await.is_empty());
    // Near misses are not the value either.
    for v in ["acme ", "ACME", ""] {
        assert!(c
            .query(&stmt, &[&v, &1i32, &"bound-near", &"2026-03-01"])
            .await
            .is_err());
    }
    assert!(written("bound-near").await.is_empty());
    // NULL is not the value.
    let none: Option<&str> = None;
    assert!(c
        .query(&stmt, &[&none, &1i32, &"bound-null", &"2026-03-01"])
        .await
        .is_err());
    assert!(written("bound-null").await.is_empty());

    // Several rows: one wrong value refuses the whole statement.
    let e = c
        .execute(
            "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) \
             VALUES ($1, 1, 1, 'new', 'multi', '2026-03-01', 10), ($2, 1, 1, 'new', 'multi', '2026-03-01', 10)",
            &[&"acme", &"globex"],
        )
        .await
        .expect_err("one row of another tenant's");
    assert_eq!(sqlstate(&e), "42501");
    assert!(written("multi").await.is_empty());

    // DEFAULT in the tenant column is the token's value (drizzle-orm writes it).
    c.execute(
        "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) \
         VALUES (DEFAULT, $1, 1, 'new', 'defaulted', '2026-03-01', 10)",
        &[&1i32],
    )
    .await
    .expect("DEFAULT is filled in");
    assert_eq!(written("defaulted").await, ["acme"]);

    // The session goes on after a refusal, and the right value still works.
    let rows = c
        .query(&stmt, &[&"acme", &2i32, &"bound-after", &"2026-03-02"])
        .await
        .expect("still works");
    assert_eq!(rows.len(), 1);
    assert_eq!(written("bound-after").await, ["acme"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_writes_a_bound_tenant_value_only_when_it_is_the_tokens() {
    let my = shared_mariadb();
    let db = seed_mariadb(my).expect("seed");
    let gw = Gateway::start_mysql(&my.url(&db), &db, ROLES, Default::default()).expect("gateway");
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut c = gw.mysql_conn(&token).await;
    let mut d = mysql_async::Conn::from_url(my.url(&db))
        .await
        .expect("direct");
    let insert = "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) \
                  VALUES (?, ?, 1, 'new', ?, '2026-03-01', 10)";
    let stmt = c.prep(insert).await.expect("prepared");

    c.exec_drop(&stmt, ("acme", 1, "bound-acme"))
        .await
        .expect("the token's value is written");
    let e = c
        .exec_drop(&stmt, ("globex", 1, "bound-globex"))
        .await
        .expect_err("another tenant's value is refused");
    let mysql_async::Error::Server(s) = &e else {
        panic!("a server error: {e}")
    };
    assert!(
        s.message.contains("must hold the token's value acme")
            && s.message.contains("write_not_confinable"),
        "{}",
        s.message
    );
    // A number, a near miss and NULL are not the value either.
    for v in [
        mysql_async::Value::Int(0),
        mysql_async::Value::Bytes(b"acme ".to_vec()),
        mysql_async::Value::NULL,
    ] {
        assert!(c
            .exec_drop(&stmt, vec![v, 1.into(), "bound-near".into()])
            .await
            .is_err());
    }
    let tenants: Vec<(String, String)> = d
        .query(
            "SELECT notes, tenant_id FROM reservations WHERE notes LIKE 'bound-%' ORDER BY notes",
        )
        .await
        .unwrap();
    assert_eq!(tenants, [("bound-acme".to_string(), "acme".to_string())]);

    // Several rows, one of them another tenant's: nothing written.
    let e = c
        .exec_drop(
            "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) \
             VALUES (?, 1, 1, 'new', 'multi', '2026-03-01', 10), (?, 1, 1, 'new', 'multi', '2026-03-01', 10)",
            ("acme", "globex"),
        )
        .await;
    assert!(e.is_err());
    let n: Option<i64> = d
        .query_first("SELECT count(*) FROM reservations WHERE notes = 'multi'")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    // The session goes on.
    c.exec_drop(&stmt, ("acme", 2, "bound-after"))
        .await
        .expect("still works");
}
