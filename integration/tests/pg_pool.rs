//! The PostgreSQL door's backend pool in transaction mode: a statement that finds every
//! connection held waits for one, gets it when the holder's transaction ends, and is refused
//! with 53300 past the acquire timeout while its session goes on; a connection goes back to
//! the pool only idle and clean, so the next client never sees another's transaction.

use std::time::{Duration, Instant};

use sluice_integration::raw::RawPg;
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{
    db_message, pg_gateway_pids, shared_pg, sqlstate, Gateway, GatewayOptions,
};
use tokio_postgres::SimpleQueryMessage;

fn gateway(opts: GatewayOptions) -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).expect("gateway starts")
}

fn first_column(msgs: &[SimpleQueryMessage]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_waits_for_a_held_connection_and_is_refused_past_the_acquire_timeout() {
    let gw = gateway(GatewayOptions {
        pool_size: 1,
        acquire_timeout: Duration::from_millis(700),
        ..Default::default()
    });
    let acme = gw
        .client(&gw.token("agent_readonly", Some("acme"), 600))
        .await;
    let globex = gw
        .client(&gw.token("agent_readonly", Some("globex"), 600))
        .await;
    const TENANTS: &str = "SELECT DISTINCT tenant_id FROM customers";

    // acme's open transaction holds the only connection.
    acme.batch_execute("BEGIN").await.unwrap();
    acme.simple_query(TENANTS).await.unwrap();

    // globex waits the acquire timeout, then is refused; its session goes on.
    let started = Instant::now();
    let e = globex.simple_query(TENANTS).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(sqlstate(&e), "53300", "{}", db_message(&e));
    assert!(db_message(&e).contains("--pool-size"), "{}", db_message(&e));
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(5),
        "refused after {waited:?}, the acquire timeout is 700 ms"
    );

    // A statement that starts waiting gets the connection when acme's transaction ends.
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let rows = globex.simple_query(TENANTS).await;
        (rows, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    acme.batch_execute("COMMIT").await.unwrap();
    let (rows, waited) = waiter.await.unwrap();
    let rows = rows.unwrap_or_else(|e| panic!("the waiting statement failed: {}", db_message(&e)));
    assert_eq!(first_column(&rows), ["globex"]);
    assert!(
        waited >= Duration::from_millis(250),
        "the statement did not wait for the held connection ({waited:?})"
    );

    // acme gets it back, outside any transaction of globex's.
    let rows = acme.simple_query(TENANTS).await.unwrap();
    assert_eq!(first_column(&rows), ["acme"]);
}

/// The transaction status of the connection a statement ran on: ReadyForQuery's byte.
async fn status_after(c: &mut RawPg, sql: &str) -> u8 {
    let replies = c.query(sql).until_ready().await.expect("a reply");
    let ready = replies.last().expect("ReadyForQuery");
    assert_eq!(ready.tag, b'Z', "{replies:?}");
    assert!(
        replies.iter().all(|r| r.tag != b'E'),
        "{sql}: {:?}",
        replies.iter().find_map(|r| r.field(b'M'))
    );
    ready.body[0]
}

/// A client that leaves in the middle of its transaction does not hand the transaction to the
/// next client: the connection is closed, and the next client's statement runs on another,
/// outside any transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_transaction_leaves_nothing_to_the_next() {
    let gw = gateway(GatewayOptions {
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let token = gw.token("agent_support", Some("acme"), 600);
    for leave in ["terminate", "drop"] {
        let mut gone = RawPg::connect(gw.pg_addr, &gw.database, &token)
            .await
            .unwrap();
        assert_eq!(status_after(&mut gone, "BEGIN").await, b'T');
        assert_eq!(
            status_after(
                &mut gone,
                "UPDATE reservations SET notes = 'left behind' WHERE id = 1"
            )
            .await,
            b'T'
        );
        if leave == "terminate" {
            gone.terminate().await.unwrap();
        } else {
            gone.abandon(); // the socket closes without a Terminate
        }

        let mut next = RawPg::connect(gw.pg_addr, &gw.database, &token)
            .await
            .unwrap();
        assert_eq!(
            status_after(&mut next, "SELECT id FROM reservations WHERE id = 1").await,
            b'I',
            "{leave}: the next client is inside the last one's transaction"
        );
        let replies = next
            .query("SELECT count(*) FROM reservations WHERE notes = 'left behind'")
            .until_ready()
            .await
            .unwrap();
        let counts: Vec<_> = replies
            .iter()
            .filter(|r| r.tag == b'D')
            .map(|r| r.columns())
            .collect();
        assert_eq!(
            counts,
            [vec![Some("0".to_string())]],
            "{leave}: the update was not rolled back"
        );
    }
}

/// A cancel request travels on a connection of its own and can land after the statement it was
/// sent for has ended. Had that backend connection gone back to the pool, the request would
/// cancel the next client's statement, another tenant's (the pool hands out the connection
/// given back last). So a connection a cancel request was sent toward is closed, not pooled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_a_cancel_was_sent_toward_is_never_pooled_again() {
    let gw = gateway(GatewayOptions {
        pool_size: 1,
        ..Default::default()
    });
    let c = gw.client(&gw.token("agent_slow", Some("acme"), 600)).await;
    c.simple_query("SELECT count(*) FROM vehicles")
        .await
        .unwrap();
    let before = pg_gateway_pids(shared_pg(), &gw.database).await;
    assert!(
        !before.is_empty(),
        "the gateway holds no connection to the database"
    );

    let cancel = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel_query(tokio_postgres::NoTls).await
    });
    let e = c.simple_query("SELECT pg_sleep(0.9)").await.unwrap_err();
    canceller.await.unwrap().unwrap();
    assert_eq!(sqlstate(&e), "57014", "{}", db_message(&e));

    // The session goes on, on another connection; the cancelled one closes.
    let rows = c
        .simple_query("SELECT count(*) FROM vehicles")
        .await
        .unwrap();
    assert_eq!(first_column(&rows).len(), 1);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = pg_gateway_pids(shared_pg(), &gw.database).await;
        if before.iter().all(|pid| !now.contains(pid)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connection a cancel request was sent toward went back to the pool: {before:?} then {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
