//! Security review of the PostgreSQL door (pool sharing, protocol state, token re-checks,
//! resource bounds). Every test here asserts the behaviour the door must have; each one failed
//! against the code it was written for, and names the defect in its failure message.
//!
//! Raw-protocol tests use `sluice_integration::raw::RawPg`, whose buffers are freed after each
//! message, so that the memory tests measure the gateway (which runs in this process) and not
//! the client.

use std::time::{Duration, Instant};

use sluice_integration::raw::{RawPg, Reply};
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{db_message, shared_pg, sqlstate, Gateway, GatewayOptions};
use sluice_proxy::pg::PoolMode;
use tokio::time::timeout;
use tokio_postgres::{NoTls, SimpleQueryMessage};

fn gateway(opts: GatewayOptions) -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(&pg.url(&db), &db, ROLES, opts).expect("gateway starts")
}

async fn raw(gw: &Gateway, token: &str) -> RawPg {
    RawPg::connect(gw.pg_addr, &gw.database, token)
        .await
        .expect("raw client logs in")
}

async fn direct(gw: &Gateway) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&shared_pg().url(&gw.database), NoTls)
        .await
        .expect("direct connection");
    tokio::spawn(conn);
    c
}

fn tags(r: &[Reply]) -> String {
    r.iter().map(|r| r.tag as char).collect()
}

fn rows(r: &[Reply]) -> Vec<Vec<Option<String>>> {
    r.iter()
        .filter(|r| r.tag == b'D')
        .map(Reply::columns)
        .collect()
}

fn simple_rows(msgs: &[SimpleQueryMessage]) -> usize {
    msgs.iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count()
}

// =============================================================================================
// Protocol desyncs
// =============================================================================================

/// A Query message inside an extended-protocol batch, after a message that failed on the
/// server: PostgreSQL skips everything up to Sync, the Query included, and answers that Sync
/// with one ReadyForQuery. The gateway sends the batch as soon as it reads the Query and waits
/// for the Query's ReadyForQuery before it reads the client's Sync; the server waits for that
/// Sync. Neither moves again: the client never gets its ReadyForQuery, and the session holds its
/// backend connection for good (the session is stuck in `drive`, so even the client's
/// disconnect goes unnoticed); a pool of N falls to N such batches from any one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_after_an_error_in_an_extended_batch_does_not_hang_the_session() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        for middle in ["SELECT 1", "DROP TABLE customers"] {
            let gw = gateway(GatewayOptions {
                pool_mode: mode,
                pool_size: 1,
                ..Default::default()
            });
            let acme = gw.token("agent_readonly", Some("acme"), 600);
            let mut c = raw(&gw, &acme).await;
            c.parse("a", "SELECT 1/0", &[])
                .bind("", "a", &[])
                .execute("", 0)
                .query(middle)
                .sync()
                .flush()
                .await
                .unwrap();
            let mut got = Vec::new();
            while let Ok(Ok(r)) = timeout(Duration::from_secs(5), c.read()).await {
                let done = r.tag == b'Z';
                got.push(r);
                if done {
                    break;
                }
            }
            // What PostgreSQL itself answers: ParseComplete, the error (1/0 is folded at Bind),
            // one ReadyForQuery.
            if tags(&got) != "1EZ" {
                problems.push(format!(
                    "SESSION HANGS ({mode:?}, `{middle}` after an extended-protocol error): got {:?} \
                     and then nothing for 5 s (PostgreSQL answers 1EZ)",
                    tags(&got)
                ));
            } else {
                match timeout(Duration::from_secs(5), c.query("SELECT 2").until_ready()).await {
                    Ok(Ok(r)) if rows(&r) == vec![vec![Some("2".to_string())]] => {}
                    other => problems.push(format!(
                        "{mode:?} `{middle}`: the next query got {:?}",
                        other.map(|r| r.map(|r| tags(&r)))
                    )),
                }
            }
            if mode == PoolMode::Transaction {
                drop(c);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let globex = gw
                    .client(&gw.token("agent_readonly", Some("globex"), 600))
                    .await;
                let r = timeout(Duration::from_secs(20), globex.simple_query("SELECT 1")).await;
                if !matches!(r, Ok(Ok(_))) {
                    problems.push(format!(
                        "POOL CONNECTION LEAKED: after one acme batch with `{middle}` after an \
                         error (the acme client has disconnected), another tenant cannot get the \
                         only backend connection: {:?}",
                        r.map(|r| r.map(|_| ()).map_err(|e| format!(
                            "{} {}",
                            sqlstate(&e),
                            db_message(&e)
                        )))
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A Query the gateway answers itself (an empty query, DEALLOCATE) after extended messages
/// that have not been synced: the gateway sends the queued Parse/Bind/Execute and waits for
/// their replies before reading on, but PostgreSQL keeps replies in its output buffer until a
/// Sync or Flush (or its own ReadyForQuery), and no message that would produce one was sent. The
/// gateway waits for the server, the server for the client's Sync, which the gateway does not
/// read: the session hangs with its backend connection, and a transaction-mode pool loses that
/// connection for good. (Its own answer, written straight to the client's output, also jumps the
/// queue: the client sees EmptyQueryResponse/ReadyForQuery first.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_the_gateway_answers_after_unsynced_messages_does_not_hang() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        for (query, want) in [
            ("-- nothing to run", "12DCIZZ"),
            ("DEALLOCATE ALL", "12DCCZZ"),
        ] {
            let gw = gateway(GatewayOptions {
                pool_mode: mode,
                pool_size: 1,
                ..Default::default()
            });
            let mut c = raw(&gw, &gw.token("agent_readonly", Some("acme"), 600)).await;
            c.parse("", "SELECT 1", &[])
                .bind("", "", &[])
                .execute("", 0)
                .query(query)
                .sync()
                .flush()
                .await
                .unwrap();
            let mut got = Vec::new();
            let mut readies = 0;
            while readies < 2 {
                match timeout(Duration::from_secs(5), c.read()).await {
                    Ok(Ok(r)) => {
                        readies += usize::from(r.tag == b'Z');
                        got.push(r);
                    }
                    _ => break,
                }
            }
            // PostgreSQL: ParseComplete, BindComplete, the row, CommandComplete, the query's
            // answer and ReadyForQuery, then the Sync's ReadyForQuery.
            if tags(&got) != want {
                problems.push(format!(
                    "{mode:?} `{query}` after Parse/Bind/Execute: got {:?} and then nothing for \
                     5 s (PostgreSQL answers {want})",
                    tags(&got)
                ));
            }
            if mode == PoolMode::Transaction {
                drop(c);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let globex = gw
                    .client(&gw.token("agent_readonly", Some("globex"), 600))
                    .await;
                let r = timeout(Duration::from_secs(20), globex.simple_query("SELECT 1")).await;
                if !matches!(r, Ok(Ok(_))) {
                    problems.push(format!(
                        "POOL CONNECTION LEAKED: after one acme batch with `{query}` after \
                         Parse/Bind/Execute (the acme client has disconnected), another tenant \
                         cannot get the only backend connection: {:?}",
                        r.map(|r| r.map(|_| ()).map_err(|e| format!(
                            "{} {}",
                            sqlstate(&e),
                            db_message(&e)
                        )))
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Extended messages followed by Flush (no Sync) leave the backend connection `unsynced`, which
/// the gateway rightly never pools. But nothing bounds how long a client may sit on it:
/// PostgreSQL arms idle_in_transaction_session_timeout only when it sends ReadyForQuery, which a
/// Flush never produces, and the gateway has no idle timer of its own. Two idle clients of one
/// token lock every other tenant out of a pool of two, for as long as they like.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_without_sync_does_not_hold_a_pooled_backend_forever() {
    let gw = gateway(GatewayOptions {
        pool_mode: PoolMode::Transaction,
        pool_size: 2,
        idle_transaction_timeout: Duration::from_secs(2),
        ..Default::default()
    });
    let acme = gw.token("agent_readonly", Some("acme"), 600);
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut c = raw(&gw, &acme).await;
        c.parse("", "SELECT 1", &[])
            .bind("", "", &[])
            .execute("", 0)
            .flush_message()
            .flush()
            .await
            .unwrap();
        loop {
            let r = timeout(Duration::from_secs(5), c.read())
                .await
                .expect("reply to Flush")
                .unwrap();
            if r.tag == b'C' {
                break;
            }
        }
        holders.push(c);
    }
    let globex = gw
        .client(&gw.token("agent_readonly", Some("globex"), 600))
        .await;
    let started = Instant::now();
    let r = timeout(Duration::from_secs(30), globex.simple_query("SELECT 1")).await;
    let took = started.elapsed();
    assert!(
        matches!(r, Ok(Ok(_))) && took < Duration::from_secs(8),
        "DENIAL OF SERVICE: two acme connections idle after Execute+Flush (no Sync) hold a pool \
         of 2; with a 2 s idle-transaction timeout, globex's SELECT 1 got {:?} after {took:.1?}",
        r.map(|r| r
            .map(|_| ())
            .map_err(|e| format!("{} {}", sqlstate(&e), db_message(&e))))
    );
    drop(holders);
}

// =============================================================================================
// Shared backend state between tenants
// =============================================================================================

/// DISCARD ALL inside a transaction block fails on the server, but the gateway forgets the
/// backend's prepared statements when it queues the statement, not when it succeeds. The
/// backend, back in the pool, still has every statement of the other clients while the gateway
/// believes it has none; their next use re-sends Parse and fails with 42P05 ("prepared statement
/// sluice_… already exists"), and keeps failing on that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discard_all_does_not_break_other_tenants_statements() {
    let gw = gateway(GatewayOptions {
        pool_mode: PoolMode::Transaction,
        pool_size: 1,
        ..Default::default()
    });
    let a = gw
        .client(&gw.token("agent_readonly", Some("acme"), 600))
        .await;
    let stmt = a.prepare("SELECT count(*) FROM customers").await.unwrap();
    assert_eq!(a.query_one(&stmt, &[]).await.unwrap().get::<_, i64>(0), 10);

    let b = gw
        .client(&gw.token("agent_readonly", Some("globex"), 600))
        .await;
    b.simple_query("BEGIN").await.unwrap();
    let e = b
        .simple_query("DISCARD ALL")
        .await
        .expect_err("DISCARD ALL in a transaction");
    assert_eq!(sqlstate(&e), "25001", "{}", db_message(&e));
    b.simple_query("ROLLBACK").await.unwrap();

    for attempt in 1..=2 {
        match a.query_one(&stmt, &[]).await {
            Ok(row) => assert_eq!(row.get::<_, i64>(0), 10),
            Err(e) => panic!(
                "CROSS-TENANT DENIAL OF SERVICE (attempt {attempt}): after a globex client's \
                 failed `DISCARD ALL` inside BEGIN, acme's prepared statement fails: {} {}",
                sqlstate(&e),
                db_message(&e)
            ),
        }
    }
}

/// A SET the server refuses is recorded for replay all the same, and the replay sends all of a
/// client's SETs as one multi-statement query: the refused one aborts it, so every SET the
/// client made after it silently stops applying from its next transaction on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_the_server_refused_does_not_cancel_later_sets() {
    let gw = gateway(GatewayOptions {
        pool_mode: PoolMode::Transaction,
        pool_size: 1,
        ..Default::default()
    });
    let c = gw
        .client(&gw.token("agent_readonly", Some("acme"), 600))
        .await;
    let e = c
        .simple_query("SET TIME ZONE 'No/Such_Zone'")
        .await
        .expect_err("an unknown time zone");
    assert_eq!(sqlstate(&e), "22023", "{}", db_message(&e));
    c.simple_query("SET datestyle = 'SQL, DMY'").await.unwrap();
    for _ in 0..2 {
        let m = c.simple_query("SHOW datestyle").await.unwrap();
        let v: Vec<String> = m
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect();
        assert_eq!(
            v,
            vec!["SQL, DMY".to_string()],
            "SESSION SETTING LOST: a SET accepted by the server stopped applying because an \
             earlier SET the server refused is replayed before it"
        );
    }
}

// =============================================================================================
// Limits and token checks
// =============================================================================================

/// max_rows (agent_capped: 3) is counted per Execute message, so a portal read in chunks (Execute
/// with a row limit, as cursors and JDBC fetch sizes do) returns every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_caps_a_portal_read_in_chunks() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            ..Default::default()
        });
        let mut c = raw(&gw, &gw.token("agent_capped", Some("acme"), 600)).await;
        c.parse("", "SELECT id FROM customers ORDER BY id", &[])
            .bind("p", "", &[]);
        for _ in 0..6 {
            c.execute("p", 2);
        }
        let r = timeout(Duration::from_secs(10), c.sync().until_ready())
            .await
            .expect("answer")
            .unwrap();
        let got = rows(&r);
        if got.len() > 3 {
            problems.push(format!(
                "MAX_ROWS BYPASS ({mode:?}): role agent_capped (max_rows 3) read {} rows by \
                 fetching its portal 2 rows at a time: {got:?}",
                got.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The rate limit (agent_limited: 5 per minute, "statements per token") is taken once per Query
/// message, however many statements it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_counts_every_statement_of_a_simple_query() {
    let gw = gateway(GatewayOptions::default());
    let c = gw
        .client(&gw.token("agent_limited", Some("acme"), 600))
        .await;
    let sql: String = (1..=20).map(|i| format!("SELECT {i};")).collect();
    let ran = match c.simple_query(&sql).await {
        Ok(m) => simple_rows(&m),
        Err(e) => {
            assert_eq!(sqlstate(&e), "53400", "{}", db_message(&e));
            0
        }
    };
    assert!(
        ran <= 5,
        "RATE LIMIT BYPASS: a role limited to 5 statements per minute ran {ran} statements in \
         one Query message"
    );
}

/// Every statement must re-check the token before it runs. The door checks an Execute when it
/// queues it and sends the whole batch at Sync, so the Executes of a pipeline run after the
/// token was revoked (or expired) while an earlier one of the batch was running. Here the first
/// UPDATE waits for a row lock; the token is revoked meanwhile; the second UPDATE still runs and
/// commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_execute_rechecks_a_token_revoked_while_the_batch_runs() {
    let mut problems = Vec::new();
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let gw = gateway(GatewayOptions {
            pool_mode: mode,
            ..Default::default()
        });
        let token = gw.token("agent_support", Some("acme"), 600);
        let mut locker = direct(&gw).await;
        let tx = locker.transaction().await.unwrap();
        tx.execute("SELECT 1 FROM reservations WHERE id = 1 FOR UPDATE", &[])
            .await
            .unwrap();
        let mut c = raw(&gw, &token).await;
        c.parse(
            "u1",
            "UPDATE reservations SET notes = 'first' WHERE id = 1",
            &[],
        )
        .bind("", "u1", &[])
        .execute("", 0)
        .parse(
            "u2",
            "UPDATE reservations SET notes = 'after-revocation' WHERE id = 2",
            &[],
        )
        .bind("", "u2", &[])
        .execute("", 0)
        .sync();
        let batch = tokio::spawn(async move {
            let r = timeout(Duration::from_secs(20), c.until_ready()).await;
            (c, r)
        });
        // The first UPDATE is now waiting for the lock.
        tokio::time::sleep(Duration::from_millis(500)).await;
        gw.revoke(&token).unwrap();
        gw.reload().unwrap();
        tx.commit().await.unwrap();
        let _ = batch.await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let notes: Option<String> = locker
            .query_one("SELECT notes FROM reservations WHERE id = 2", &[])
            .await
            .unwrap()
            .get(0);
        locker
            .batch_execute("UPDATE reservations SET notes = NULL WHERE id = 2; UPDATE reservations SET notes = 'smooth' WHERE id = 1")
            .await
            .unwrap();
        if notes.as_deref() == Some("after-revocation") {
            problems.push(format!(
                "REVOKED TOKEN STILL WRITES ({mode:?}): an UPDATE queued in a pipeline ran and \
                 committed after its token was revoked (the batch's first UPDATE was still \
                 running when the revocation was loaded)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// =============================================================================================
// Resource exhaustion by one token
// =============================================================================================

/// The memory tests measure this process's resident memory (the gateway runs in it), so they
/// run one at a time.
static MEMORY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rss_mib() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: i64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096 / (1 << 20)
}

/// 40 MiB: above glibc's largest mmap threshold, so a freed buffer goes back to the system and
/// what stays resident is what the gateway keeps.
const BIG: usize = 40 << 20;

fn big_text(tag: char) -> String {
    let mut s = String::with_capacity(BIG);
    s.push(tag);
    s.push_str(&"x".repeat(BIG - 1));
    s
}

/// A session keeps the read buffer of its largest message for its whole life (the frame is
/// split off a shared allocation that the reader keeps), so idle sessions that each once sent a
/// large parameter hold that much memory each: 5 sessions, one 40 MiB parameter each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_do_not_keep_their_largest_message() {
    let _one = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let gw = gateway(GatewayOptions::default());
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let param = big_text('a');
    let before = rss_mib();
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut c = raw(&gw, &token).await;
        let r = c
            .parse("", "SELECT octet_length($1::text)", &[])
            .bind("", "", &[Some(&param)])
            .execute("", 0)
            .sync()
            .until_ready()
            .await
            .unwrap();
        assert_eq!(rows(&r), vec![vec![Some(BIG.to_string())]]);
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grew = rss_mib() - before;
    drop(idle);
    assert!(
        grew < 100,
        "MEMORY PER IDLE SESSION: 5 idle sessions that each sent one 40 MiB parameter keep {grew} \
         MiB resident"
    );
}

/// The decision cache is bounded by entry count (50,000), not by size, and its key holds the
/// whole statement text, also of statements denied for being too large: one token sending
/// distinct 40 MiB statements makes the gateway keep 40 MiB per statement after the session
/// ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_huge_statements_are_not_kept() {
    let _one = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let gw = gateway(GatewayOptions::default());
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let before = rss_mib();
    {
        let mut c = raw(&gw, &token).await;
        for i in 0..8u8 {
            let sql = format!("SELECT 1 -- {}", big_text((b'a' + i) as char));
            let r = c.query(&sql).until_ready().await.unwrap();
            assert_eq!(r[0].sqlstate().as_deref(), Some("0A000"), "{:?}", r[0]);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grew = rss_mib() - before;
    assert!(
        grew < 100,
        "UNBOUNDED DECISION CACHE: after one session sent eight distinct 40 MiB statements (all \
         denied) and closed, the gateway keeps {grew} MiB more"
    );
}

/// The audit log records the client's statement text whole: one denied 40 MiB statement is a
/// 40 MiB audit line, so a token can fill the audit disk at network speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_does_not_grow_with_the_statement_size() {
    let _one = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let gw = gateway(GatewayOptions::default());
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = raw(&gw, &token).await;
    for i in 0..3u8 {
        let sql = format!("SELECT 1 -- {}", "y".repeat(8 << 20)) + &(i.to_string());
        c.query(&sql).until_ready().await.unwrap();
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let size = gw.audit_text().len();
    assert!(
        size < 1 << 20,
        "AUDIT LOG FLOOD: three denied 8 MiB statements wrote {} MiB of audit log",
        size >> 20
    );
}

/// The per-session maps have no bound: statement names (never sent to the backend, but kept
/// whole as keys; PostgreSQL itself only looks at the first 63 bytes) and portal names (kept in
/// session mode after the server dropped the portal at Sync, since the map is cleared only when
/// a transaction-mode backend is released). Execute/Describe/Close names are capped by pgwire's
/// 30,000-byte message limit, but Parse and Bind names are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_and_portal_names_do_not_grow_a_session_without_bound() {
    let _one = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let gw = gateway(GatewayOptions {
        pool_mode: PoolMode::Session,
        ..Default::default()
    });
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = raw(&gw, &token).await;
    let before = rss_mib();
    for i in 0..4u8 {
        let name = big_text((b'a' + i) as char);
        c.parse(&name, "SELECT 1", &[])
            .sync()
            .until_ready()
            .await
            .unwrap();
    }
    for i in 0..4u8 {
        let portal = big_text((b'A' + i) as char);
        c.parse("", "SELECT 1", &[])
            .bind(&portal, "", &[])
            .sync()
            .until_ready()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grew = rss_mib() - before;
    drop(c);
    assert!(
        grew < 120,
        "UNBOUNDED SESSION STATE: four 40 MiB statement names and four 40 MiB portal names (the \
         portals long closed) keep {grew} MiB in one session"
    );
}

/// Session settings replayed in transaction mode are kept as a list of every SET the client
/// ever sent, with no bound and no de-duplication: the same SET sent 150 times (inside one
/// transaction, so nothing is replayed meanwhile) is kept 150 times, and all of it is replayed
/// on every backend the client gets from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_sets_are_not_kept_and_replayed_without_bound() {
    let _one = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let gw = gateway(GatewayOptions {
        pool_mode: PoolMode::Transaction,
        ..Default::default()
    });
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = raw(&gw, &token).await;
    let set = format!("SET application_name = '{}'", "n".repeat(900 << 10));
    c.query("BEGIN").until_ready().await.unwrap();
    let before = rss_mib();
    for _ in 0..150 {
        let r = c.query(&set).until_ready().await.unwrap();
        assert!(r.iter().all(|r| r.tag != b'E'), "{r:?}");
    }
    c.query("COMMIT").until_ready().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grew = rss_mib() - before;
    drop(c);
    assert!(
        grew < 50,
        "UNBOUNDED SET REPLAY: one session that sent the same 900 KiB SET 150 times keeps {grew} \
         MiB for it, and replays all of it on every backend it gets"
    );
}

/// Messages of a batch are buffered until its Sync (or Flush), without bound: Binds that are
/// never synced pile up in the gateway's memory (eight 40 MiB parameters here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsynced_batch_is_not_buffered_without_bound() {
    let _one = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let gw = gateway(GatewayOptions::default());
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let param = big_text('b');
    let mut c = raw(&gw, &token).await;
    let before = rss_mib();
    c.parse("s", "SELECT octet_length($1::text)", &[])
        .flush()
        .await
        .unwrap();
    for _ in 0..8 {
        c.bind("", "s", &[Some(&param)]).flush().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let grew = rss_mib() - before;
    drop(c);
    assert!(
        grew < 150,
        "UNBOUNDED BATCH BUFFER: eight unsynced 40 MiB Binds keep {grew} MiB in the gateway"
    );
}
