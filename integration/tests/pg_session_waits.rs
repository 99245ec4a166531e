//! How a PostgreSQL session waits, in both pool modes: an idle session is told of a shutdown at
//! once while one in a transaction finishes first; a full door refuses and frees its places;
//! messages that arrive a byte at a time, pipelined, or split across reads are served; a batch
//! left without Sync ends at the idle-transaction timeout; a held backend that speaks unprompted
//! is heard at once. These are the waits an idle client's small task (`Session::run`'s idle
//! wait, the boxed fuller wait) must keep.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_integration::raw::RawPg;
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, Gateway, GatewayOptions};
use sluice_proxy::pg::PoolMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn gateway(opts: GatewayOptions) -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).expect("gateway starts")
}

async fn read_reply(s: &mut TcpStream) -> anyhow::Result<(u8, Vec<u8>)> {
    let tag = s.read_u8().await?;
    let len = s.read_i32().await?;
    let mut body = vec![0; (len as usize).saturating_sub(4)];
    s.read_exact(&mut body).await?;
    Ok((tag, body))
}

fn sqlstate(body: &[u8]) -> String {
    let mut i = 0;
    while i < body.len() && body[i] != 0 {
        let code = body[i];
        let end = i + 1 + body[i + 1..].iter().position(|b| *b == 0).unwrap();
        if code == b'C' {
            return String::from_utf8_lossy(&body[i + 1..end]).into();
        }
        i = end + 1;
    }
    String::new()
}

/// An authenticated connection as a bare stream.
async fn connect(gw: &Gateway, token: &str) -> TcpStream {
    RawPg::connect(gw.pg_addr, &gw.database, token)
        .await
        .expect("the client authenticates")
        .into_stream()
}

fn query(sql: &str) -> Vec<u8> {
    let mut m = vec![b'Q'];
    m.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
    m.extend_from_slice(sql.as_bytes());
    m.push(0);
    m
}

async fn until_ready(s: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut v = Vec::new();
    loop {
        let r = tokio::time::timeout(Duration::from_secs(10), read_reply(s))
            .await
            .expect("reply in time")
            .unwrap();
        let done = r.0 == b'Z';
        v.push(r);
        if done {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_get_57p01_on_shutdown_in_both_modes() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = Arc::new(gateway(GatewayOptions {
            pool_mode: mode,
            drain_timeout: Duration::from_secs(8),
            ..Default::default()
        }));
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let mut idle = connect(&gw, &token).await;
        idle.write_all(&query("SELECT count(*) FROM vehicles"))
            .await
            .unwrap();
        until_ready(&mut idle).await;
        // One in a transaction (not idle): must not get 57P01.
        let mut busy = connect(&gw, &token).await;
        busy.write_all(&query("BEGIN")).await.unwrap();
        until_ready(&mut busy).await;
        let g = gw.clone();
        let started = Instant::now();
        let t = std::thread::spawn(move || g.shutdown());
        let (tag, body) = tokio::time::timeout(Duration::from_secs(3), read_reply(&mut idle))
            .await
            .expect("idle session told at once")
            .unwrap();
        assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "57P01"), "{mode:?}");
        // The transaction can still finish.
        busy.write_all(&query("SELECT 1")).await.unwrap();
        let r = until_ready(&mut busy).await;
        assert!(r.iter().all(|r| r.0 != b'E'), "{mode:?}");
        busy.write_all(&query("COMMIT")).await.unwrap();
        let r = until_ready(&mut busy).await;
        assert!(r.iter().all(|r| r.0 != b'E'), "{mode:?}");
        // Now idle: told at once.
        let (tag, body) = tokio::time::timeout(Duration::from_secs(3), read_reply(&mut busy))
            .await
            .expect("told after commit")
            .unwrap();
        assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "57P01"), "{mode:?}");
        t.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(6), "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_door_refuses_with_53300_and_frees_places() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            max_clients: 2,
            ..Default::default()
        });
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let a = connect(&gw, &token).await;
        let b = connect(&gw, &token).await;
        let mut c = TcpStream::connect(gw.pg_addr).await.unwrap();
        let (tag, body) = read_reply(&mut c).await.unwrap();
        assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "53300"), "{mode:?}");
        // A startup that fails gives its place back, and so does a client that leaves.
        drop(a);
        let mut bad = TcpStream::connect(gw.pg_addr).await.unwrap();
        bad.write_all(&[0, 0, 0, 8, 0, 0, 0, 1]).await.unwrap(); // an unknown protocol version
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), bad.read_to_end(&mut buf)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(connect(&gw, &token).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _a = connect(&gw, &token).await;
        drop(b);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _b = connect(&gw, &token).await;
        let mut z = TcpStream::connect(gw.pg_addr).await.unwrap();
        let (tag, body) = read_reply(&mut z).await.unwrap();
        assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "53300"), "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_by_byte_and_pipelined_messages_are_served() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            ..Default::default()
        });
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let mut s = connect(&gw, &token).await;
        let q = query("SELECT count(*) FROM vehicles");
        for b in &q {
            s.write_all(&[*b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = until_ready(&mut s).await;
        assert!(r.iter().all(|r| r.0 != b'E'), "{mode:?}");
        // Three at once, plus half of a fourth, then the rest later.
        let mut all = Vec::new();
        for _ in 0..3 {
            all.extend_from_slice(&q);
        }
        all.extend_from_slice(&q[..7]);
        s.write_all(&all).await.unwrap();
        for _ in 0..3 {
            let r = until_ready(&mut s).await;
            assert!(r.iter().all(|r| r.0 != b'E'), "{mode:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.write_all(&q[7..]).await.unwrap();
        let r = until_ready(&mut s).await;
        assert!(r.iter().all(|r| r.0 != b'E'), "{mode:?}");
        // Terminate: the gateway closes the connection.
        s.write_all(&[b'X', 0, 0, 0, 4]).await.unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest))
            .await
            .expect("closed after X")
            .unwrap();
        assert_eq!(n, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsynced_batch_times_out_with_25p03() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            idle_transaction_timeout: Duration::from_secs(2),
            ..Default::default()
        });
        let token = gw.token("agent_readonly", Some("acme"), 600);
        let mut c = RawPg::connect(gw.pg_addr, &gw.database, &token)
            .await
            .unwrap();
        c.parse("", "SELECT count(*) FROM vehicles", &[])
            .bind("", "", &[])
            .execute("", 0)
            .flush_message();
        c.flush().await.unwrap();
        let started = Instant::now();
        let mut got = None;
        loop {
            let r = tokio::time::timeout(Duration::from_secs(8), c.read())
                .await
                .expect("something in time");
            match r {
                Ok(r) if r.tag == b'E' => {
                    got = r.sqlstate();
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert_eq!(got.as_deref(), Some("25P03"), "{mode:?}");
        assert!(started.elapsed() >= Duration::from_millis(1500), "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_speaks_unprompted_is_heard_in_session_mode() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let gw = Gateway::start_pg(
        &pg.url(&db),
        &db,
        ROLES,
        GatewayOptions {
            pool_mode: PoolMode::Session,
            ..Default::default()
        },
    )
    .unwrap();
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut s = connect(&gw, &token).await;
    s.write_all(&query("SELECT count(*) FROM vehicles"))
        .await
        .unwrap();
    until_ready(&mut s).await;
    pg.exec(
        "postgres",
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"),
    )
    .unwrap();
    let (tag, body) = tokio::time::timeout(Duration::from_secs(3), read_reply(&mut s))
        .await
        .expect("told at once")
        .unwrap();
    assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "57P01"));
}
