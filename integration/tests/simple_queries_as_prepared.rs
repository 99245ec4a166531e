//! A simple query that is a known statement family's member runs on the backend as the
//! family's prepared statement (`Bindable`): the client must see exactly what the statement
//! sent as text shows it, message for message, results, errors and transaction states alike.
//!
//! Each script runs through two gateways in front of one database: the default one and one
//! started with `--pg-literals-as-text`. The replies must be equal but for the fields an
//! error's origin sets (its position in the text, the server's source file, line and routine:
//! a value's error is raised where the value is read, at Bind rather than in the parser). The
//! backend's own view shows that the default gateway ran parameters and the other none, so the
//! comparison cannot pass by both sending text.

use sluice_integration::raw::{RawPg, Reply};
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, Gateway, GatewayOptions};

/// Statements sent one by one with the simple protocol, each script on a fresh connection, as
/// the role and tenant named. The first text of a family decides it (the full path); the texts
/// after it with other literals are its members.
const SCRIPTS: &[(&str, &str, &[&str])] = &[
    ("agent_readonly", "acme", READS),
    // The same statements as another tenant, on the same backend connection (a pool of one),
    // which holds the first tenant's prepared statements: each tenant's rendering is its own
    // statement.
    ("agent_readonly", "globex", READS),
    (
        // A transaction: members inside it, an error that aborts it, a member in the failed
        // transaction, and after it.
        "agent_readonly",
        "acme",
        &[
            "BEGIN",
            "SELECT id FROM reservations WHERE id = 1",
            "SELECT id FROM reservations WHERE id = 2",
            "SELECT id FROM reservations WHERE id = 'q'",
            "SELECT id FROM reservations WHERE id = 3",
            "ROLLBACK",
            "SELECT id FROM reservations WHERE id = 4",
        ],
    ),
    (
        // max_rows: the cap and its notice.
        "agent_capped",
        "acme",
        &[
            "SELECT id FROM reservations WHERE id > 0 ORDER BY id",
            "SELECT id FROM reservations WHERE id > 1 ORDER BY id",
            "SELECT id FROM reservations WHERE id > 100 ORDER BY id",
        ],
    ),
];

const READS: &[&str] = &[
    "SELECT id, status, price FROM reservations WHERE id = 1",
    "SELECT id, status, price FROM reservations WHERE id = 2",
    "SELECT id, status, price FROM reservations WHERE id = 17",
    "SELECT id, status, price FROM reservations WHERE id = 3000000000",
    "SELECT id, status, price FROM reservations WHERE id = 99999999999999999999",
    "SELECT id, status, price FROM reservations WHERE id = 0",
    // Strings typed by the column they are compared with.
    "SELECT id FROM reservations WHERE status = 'active' ORDER BY id",
    "SELECT id FROM reservations WHERE status = 'returned' ORDER BY id",
    "SELECT id FROM reservations WHERE status = 'it''s ünïcödé' ORDER BY id",
    "SELECT id FROM reservations WHERE starts_on >= '2025-01-01' AND price < 100.5 ORDER BY id",
    "SELECT id FROM reservations WHERE starts_on >= '2025-03-01' AND price < 70.25 ORDER BY id",
    "SELECT id FROM reservations WHERE id IN (1, 2, 17) ORDER BY id",
    "SELECT id FROM reservations WHERE id IN (3, 18, 4) ORDER BY id",
    "SELECT id FROM reservations WHERE starts_on BETWEEN '2025-01-01' AND '2025-01-31' ORDER BY id",
    "SELECT id FROM reservations WHERE starts_on BETWEEN '2025-02-01' AND '2025-12-31' ORDER BY id",
    // Another tenant's value: confined all the same.
    "SELECT count(*) FROM reservations WHERE tenant_id = 'acme'",
    "SELECT count(*) FROM reservations WHERE tenant_id = 'globex'",
    // Values the column's type refuses, and a number compared with text.
    "SELECT id FROM reservations WHERE id = 'abc'",
    "SELECT id FROM reservations WHERE id = 'xyz'",
    "SELECT id FROM reservations WHERE starts_on > 'not a date'",
    "SELECT id FROM reservations WHERE starts_on > 'neither'",
    "SELECT id FROM reservations WHERE status = 5",
    "SELECT id FROM reservations WHERE status = 6",
    "SELECT id FROM reservations WHERE id = 2147483648",
];

/// A gateway in front of `db` with one backend connection (per connection profile), so that
/// every statement of a role meets what the statements before it prepared there.
fn one_connection(db: &str, literals_as_text: bool) -> Gateway {
    let pg = shared_pg();
    let opts = GatewayOptions {
        pool_size: 1,
        pg_literals_as_text: literals_as_text,
        ..GatewayOptions::default()
    };
    Gateway::start_pg(&pg.url(db), db, ROLES, opts).expect("gateway starts")
}

/// An error's fields that say where in the server it was raised, not what it is.
const ORIGIN_FIELDS: &[u8] = b"PFLR";

fn without_origin(r: &Reply) -> Reply {
    if r.tag != b'E' {
        return r.clone();
    }
    let mut body = Vec::new();
    let mut rest = &r.body[..];
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        if !ORIGIN_FIELDS.contains(&code) {
            body.push(code);
            body.extend_from_slice(&tail[..=end.min(tail.len() - 1)]);
        }
        rest = &tail[(end + 1).min(tail.len())..];
    }
    body.push(0);
    Reply { tag: r.tag, body }
}

/// Every script's replies through `gw`, per statement.
async fn transcripts(gw: &Gateway) -> Vec<Vec<(String, Vec<Reply>)>> {
    let mut out = Vec::new();
    for (role, tenant, script) in SCRIPTS {
        let token = gw.token(role, Some(tenant), 600);
        let mut c = RawPg::connect(gw.pg_addr, &gw.database, &token)
            .await
            .unwrap();
        let mut replies = Vec::new();
        for sql in *script {
            let r = c.query(sql).until_ready().await.unwrap();
            replies.push((sql.to_string(), r.iter().map(without_origin).collect()));
        }
        out.push(replies);
    }
    out
}

/// How many of the database's connections last ran a statement with a parameter.
async fn backends_that_ran_parameters(gw: &Gateway) -> i64 {
    let pg = shared_pg();
    let addr = format!("{}:{}", pg.host(), pg.port()).parse().unwrap();
    let mut direct = RawPg::connect_direct(addr, &gw.database).await.unwrap();
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%$1%' \
         AND pid <> pg_backend_pid()",
        gw.database
    );
    let r = direct.query(&sql).until_ready().await.unwrap();
    let row = r.iter().find(|m| m.tag == b'D').expect("a row");
    row.columns()[0].as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_member_answers_as_its_text_does() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let as_text = one_connection(&db, true);
    let expected = transcripts(&as_text).await;
    assert_eq!(
        backends_that_ran_parameters(&as_text).await,
        0,
        "--pg-literals-as-text sends text"
    );
    drop(as_text);
    let prepared = one_connection(&db, false);
    let got = transcripts(&prepared).await;
    assert!(
        backends_that_ran_parameters(&prepared).await > 0,
        "the default gateway ran family members as prepared statements"
    );
    let mut differences = Vec::new();
    for (e, g) in expected.iter().flatten().zip(got.iter().flatten()) {
        if e != g {
            differences.push(format!(
                "{}\n  as text:  {:?}\n  prepared: {:?}",
                e.0, e.1, g.1
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} statements answered otherwise:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // The scripts reach what they are meant to: rows, an error, the cap's notice.
    let all: Vec<&Reply> = got.iter().flatten().flat_map(|(_, r)| r).collect();
    assert!(all.iter().any(|r| r.tag == b'D'), "rows came back");
    assert!(
        all.iter().any(|r| r.sqlstate().as_deref() == Some("22P02")),
        "a value the column refuses"
    );
    assert!(
        all.iter().any(|r| r.sqlstate().as_deref() == Some("25P02")),
        "a member in a failed transaction"
    );
    assert!(
        all.iter()
            .any(|r| r.tag == b'N' && r.field(b'M').is_some_and(|m| m.contains("max_rows"))),
        "the cap's notice"
    );
}

/// A table changed under a prepared form (a column added to a table the statement reads with
/// `*`): PostgreSQL refuses the cached plan, whose result changed (0A000). Outside a
/// transaction block the gateway runs the statement as text instead, so the client sees its
/// rows; inside one the refusal is the client's (the server has aborted the transaction), and
/// after it the form is prepared anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_change_under_a_prepared_form_is_not_the_clients_error_outside_a_transaction() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let gw = one_connection(&db, false);
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = RawPg::connect(gw.pg_addr, &gw.database, &token)
        .await
        .unwrap();
    let addr = format!("{}:{}", pg.host(), pg.port()).parse().unwrap();
    let mut direct = RawPg::connect_direct(addr, &db).await.unwrap();
    let run = async |c: &mut RawPg, sql: &str| c.query(sql).until_ready().await.unwrap();
    let columns = |replies: &[Reply]| {
        let t = replies.iter().find(|r| r.tag == b'T');
        t.map(|t| i16::from_be_bytes([t.body[0], t.body[1]]))
    };
    let errors =
        |replies: &[Reply]| -> Vec<String> { replies.iter().filter_map(Reply::sqlstate).collect() };
    for id in 1..=2 {
        let r = run(&mut c, &format!("SELECT * FROM vehicles WHERE id = {id}")).await;
        assert_eq!(errors(&r), Vec::<String>::new());
    }
    let before = columns(&run(&mut c, "SELECT * FROM vehicles WHERE id = 3").await).unwrap();
    let r = run(&mut direct, "ALTER TABLE vehicles ADD COLUMN color text").await;
    assert_eq!(errors(&r), Vec::<String>::new());
    let r = run(&mut c, "SELECT * FROM vehicles WHERE id = 4").await;
    assert_eq!(errors(&r), Vec::<String>::new(), "{r:?}");
    assert_eq!(
        columns(&r),
        Some(before + 1),
        "the new column is in the result"
    );
    assert!(r.iter().any(|m| m.tag == b'D'), "the row came back");
    let r = run(&mut c, "SELECT * FROM vehicles WHERE id = 5").await;
    assert_eq!(errors(&r), Vec::<String>::new(), "prepared anew: {r:?}");
    // Inside a transaction block: the refusal aborts it, as the server decided.
    let r = run(&mut direct, "ALTER TABLE vehicles ADD COLUMN size integer").await;
    assert_eq!(errors(&r), Vec::<String>::new());
    run(&mut c, "BEGIN").await;
    let r = run(&mut c, "SELECT * FROM vehicles WHERE id = 6").await;
    assert_eq!(errors(&r), vec!["0A000".to_string()]);
    run(&mut c, "ROLLBACK").await;
    let r = run(&mut c, "SELECT * FROM vehicles WHERE id = 7").await;
    assert_eq!(errors(&r), Vec::<String>::new(), "prepared anew: {r:?}");
    assert_eq!(columns(&r), Some(before + 2));
    assert!(
        backends_that_ran_parameters(&gw).await > 0,
        "the statements ran as prepared forms"
    );
}

/// A simple query destroys the unnamed portal, whichever way the gateway runs it: an Execute
/// of the client's unnamed portal after one finds no portal, as on PostgreSQL itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_query_ends_the_clients_unnamed_portal() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let addr = format!("{}:{}", pg.host(), pg.port()).parse().unwrap();
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default())
        .expect("gateway starts");
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut through = RawPg::connect(gw.pg_addr, &gw.database, &token)
        .await
        .unwrap();
    let mut direct = RawPg::connect_direct(addr, &db).await.unwrap();
    let mut outcomes = Vec::new();
    for c in [&mut direct, &mut through] {
        c.query("BEGIN").until_ready().await.unwrap();
        c.parse("", "SELECT id FROM reservations WHERE id = $1", &[])
            .bind("", "", &[Some("1")])
            .sync()
            .until_ready()
            .await
            .unwrap();
        for id in 1..=3 {
            let sql = format!("SELECT id FROM reservations WHERE id = {id}");
            c.query(&sql).until_ready().await.unwrap();
        }
        let r = c.execute("", 0).sync().until_ready().await.unwrap();
        outcomes.push(r.iter().filter_map(Reply::sqlstate).collect::<Vec<_>>());
        c.query("ROLLBACK").until_ready().await.unwrap();
    }
    assert_eq!(outcomes[0], vec!["34000".to_string()], "PostgreSQL itself");
    assert_eq!(outcomes[1], outcomes[0], "through the gateway");
}

/// A role whose filter holds a date written in the server's default DateStyle (MDY): a
/// session that sets another style reads it otherwise, as PostgreSQL reads it for that session.
fn dated_roles() -> String {
    format!(
        "{ROLES}  agent_dated:\n    tables:\n      reservations: [SELECT]\n    filters:\n      \
         reservations: \"tenant_id = {{{{ token.tenant_id }}}} AND starts_on >= '02/03/2025'\"\n"
    )
}

/// Every statement's replies, per script, through a gateway started with `opts` on `db`.
async fn replies_of(
    db: &str,
    roles: &str,
    opts: GatewayOptions,
    scripts: &[(&str, &[&str])],
) -> Vec<(String, Vec<Reply>)> {
    let pg = shared_pg();
    let gw = Gateway::start_pg(&pg.url(db), db, roles, opts).expect("gateway starts");
    let mut out = Vec::new();
    for (role, script) in scripts {
        let token = gw.token(role, Some("acme"), 600);
        let mut c = RawPg::connect(gw.pg_addr, &gw.database, &token)
            .await
            .unwrap();
        for sql in *script {
            let r = c.query(sql).until_ready().await.unwrap();
            out.push((sql.to_string(), r.iter().map(without_origin).collect()));
        }
    }
    out
}

/// A prepared form's constants are read once, when it is prepared: a session that changed how
/// constants are read (DateStyle here; TimeZone, IntervalStyle, …) runs its statements as text,
/// and a form that holds a constant read as the current moment (`'today'`) is never made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constants_are_read_as_the_text_would_read_them() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let roles = dated_roles();
    // In one session (session pool mode keeps its backend connection, and the statements it
    // prepared there, across the SET).
    let scripts: &[(&str, &[&str])] = &[
        (
            "agent_dated",
            &[
                "SELECT count(*) FROM reservations WHERE id > 0",
                "SELECT count(*) FROM reservations WHERE id > 1",
                "SET DateStyle = 'ISO, DMY'",
                "SELECT count(*) FROM reservations WHERE id > 2",
                "SELECT count(*) FROM reservations WHERE id > 3",
                "RESET DateStyle",
                "SELECT count(*) FROM reservations WHERE id > 4",
            ],
        ),
        (
            "agent_readonly",
            &[
                "SELECT count(*) FROM reservations WHERE starts_on <= E'today' AND id > 0",
                "SELECT count(*) FROM reservations WHERE starts_on <= E'today' AND id > 1",
            ],
        ),
    ];
    let one = GatewayOptions {
        pool_size: 1,
        pool_mode: sluice_proxy::pg::PoolMode::Session,
        ..GatewayOptions::default()
    };
    let text = replies_of(
        &db,
        &roles,
        GatewayOptions {
            pg_literals_as_text: true,
            ..one.clone()
        },
        scripts,
    )
    .await;
    let prepared = replies_of(&db, &roles, one, scripts).await;
    let counts = |r: &[(String, Vec<Reply>)]| -> Vec<Vec<Option<String>>> {
        r.iter()
            .flat_map(|(_, m)| m.iter().filter(|m| m.tag == b'D').map(Reply::columns))
            .collect()
    };
    assert_ne!(
        counts(&text)[0],
        counts(&text)[2],
        "the filter's date reads otherwise under DMY (the test's premise)"
    );
    let differences: Vec<String> = text
        .iter()
        .zip(&prepared)
        .filter(|(t, p)| t != p)
        .map(|(t, p)| format!("{}\n  as text:  {:?}\n  prepared: {:?}", t.0, t.1, p.1))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A failure of a prepared form is the statement's one failure: nothing runs again after it,
/// and a refused plan is retried as text only where that cannot undo the client's other work
/// (not after a flushed batch whose implicit transaction the refusal rolled back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prepared_form_is_never_run_again_behind_the_clients_back() {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    let addr = format!("{}:{}", pg.host(), pg.port()).parse().unwrap();
    let gw = one_connection(&db, false);
    let mut direct = RawPg::connect_direct(addr, &db).await.unwrap();
    let errors =
        |replies: &[Reply]| -> Vec<String> { replies.iter().filter_map(Reply::sqlstate).collect() };
    // A Parse that fails (a column dropped before the gateway's schema refresh): one error.
    let token = gw.token("agent_readonly", Some("acme"), 600);
    let mut c = RawPg::connect(gw.pg_addr, &gw.database, &token)
        .await
        .unwrap();
    direct
        .query("ALTER TABLE vehicles DROP COLUMN model")
        .until_ready()
        .await
        .unwrap();
    for id in 1..=3 {
        let sql = format!("SELECT model FROM vehicles WHERE id = {id}");
        let r = c.query(&sql).until_ready().await.unwrap();
        assert_eq!(errors(&r), vec!["42703".to_string()], "{sql}: {r:?}");
        assert!(!r.iter().any(|m| m.tag == b'T'), "{sql}: {r:?}");
    }
    // A write flushed but not synced, then a member whose cached plan the server refuses: the
    // refusal rolls the write back, and the client must hear of it.
    let token = gw.token("agent_support", Some("acme"), 600);
    let mut c = RawPg::connect(gw.pg_addr, &gw.database, &token)
        .await
        .unwrap();
    for id in 1..=2 {
        let sql = format!("SELECT id, status FROM reservations WHERE id = {id}");
        c.query(&sql).until_ready().await.unwrap();
    }
    direct
        .query("ALTER TABLE reservations ALTER COLUMN status TYPE varchar(21)")
        .until_ready()
        .await
        .unwrap();
    c.parse(
        "",
        "UPDATE reservations SET notes = 'CHANGED' WHERE id = 1",
        &[],
    )
    .bind("", "", &[])
    .execute("", 0)
    .flush_message()
    .flush()
    .await
    .unwrap();
    let mut replies = Vec::new();
    while replies.last().is_none_or(|r: &Reply| r.tag != b'C') {
        replies.push(c.read().await.unwrap());
    }
    assert_eq!(errors(&replies), Vec::<String>::new(), "{replies:?}");
    replies.extend(
        c.query("SELECT id, status FROM reservations WHERE id = 3")
            .until_ready()
            .await
            .unwrap(),
    );
    replies.extend(c.sync().until_ready().await.unwrap());
    let r = direct
        .query("SELECT notes FROM reservations WHERE id = 1")
        .until_ready()
        .await
        .unwrap();
    let notes = r.iter().find(|m| m.tag == b'D').unwrap().columns()[0].clone();
    assert!(
        notes.as_deref() == Some("CHANGED") || !errors(&replies).is_empty(),
        "the write was rolled back and the client saw only successes: {replies:?}"
    );
}
