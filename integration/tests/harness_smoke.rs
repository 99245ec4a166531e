//! The test harness itself: throwaway servers start, hold data, restart, and stay off the
//! system ports.

use mysql_async::prelude::Queryable;
use sluice_integration::{shared_mariadb, shared_pg, MariaDbServer, PgServer};

const SYSTEM_PG_PORT: u16 = 5432;
const SYSTEM_MYSQL_PORT: u16 = 3306;

async fn pg_names(url: &str) -> Vec<(i32, String)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
        .query("SELECT id, name FROM people ORDER BY id", &[])
        .await
        .expect("query people")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn mariadb_names(url: &str) -> Vec<(i32, String)> {
    let mut conn = mysql_async::Conn::from_url(url)
        .await
        .expect("connect to the test MariaDB");
    let rows = conn
        .query("SELECT id, name FROM people ORDER BY id")
        .await
        .expect("query people");
    conn.disconnect().await.expect("disconnect");
    rows
}

fn people() -> Vec<(i32, String)> {
    vec![(1, "ada".to_string()), (2, "grace".to_string())]
}

const PEOPLE_SQL: &str = "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL);
     INSERT INTO people VALUES (1, 'ada');
     INSERT INTO people VALUES (2, 'grace');";

#[tokio::test]
async fn shared_pg_is_private_and_holds_data() {
    let pg = shared_pg();
    assert_ne!(pg.port(), SYSTEM_PG_PORT);
    assert_eq!(pg.host(), "127.0.0.1");
    let db = pg.create_unique_database("smoke").unwrap();
    assert_eq!(
        pg.url(&db),
        format!("postgres://postgres@127.0.0.1:{}/{db}", pg.port())
    );
    pg.exec(&db, PEOPLE_SQL).unwrap();
    assert_eq!(pg_names(&pg.url(&db)).await, people());
}

#[tokio::test]
async fn shared_mariadb_is_private_and_holds_data() {
    let maria = shared_mariadb();
    assert_ne!(maria.port(), SYSTEM_MYSQL_PORT);
    assert_eq!(maria.host(), "127.0.0.1");
    let db = maria.create_unique_database("smoke").unwrap();
    assert_eq!(
        maria.url(&db),
        format!("mysql://root@127.0.0.1:{}/{db}", maria.port())
    );
    maria.exec(&db, PEOPLE_SQL).unwrap();
    assert_eq!(mariadb_names(&maria.url(&db)).await, people());
}

#[tokio::test]
async fn pg_restart_keeps_port_and_data() {
    let pg = PgServer::start().unwrap();
    let port = pg.port();
    pg.create_database("kept").unwrap();
    pg.exec("kept", PEOPLE_SQL).unwrap();

    pg.stop().unwrap();
    let refused = tokio_postgres::connect(&pg.url("kept"), tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "a stopped server must refuse connections");

    pg.restart().unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(pg_names(&pg.url("kept")).await, people());
}

#[tokio::test]
async fn mariadb_restart_keeps_port_and_data() {
    let maria = MariaDbServer::start().unwrap();
    let port = maria.port();
    maria.create_database("kept").unwrap();
    maria.exec("kept", PEOPLE_SQL).unwrap();

    maria.stop().unwrap();
    let refused = mysql_async::Conn::from_url(maria.url("kept")).await;
    assert!(refused.is_err(), "a stopped server must refuse connections");

    maria.restart().unwrap();
    assert_eq!(maria.port(), port);
    assert_eq!(mariadb_names(&maria.url("kept")).await, people());
}

#[test]
fn two_pg_servers_get_different_ports() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(PgServer::start);
        let b = s.spawn(PgServer::start);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_ne!(a.port(), b.port());
    a.exec("postgres", "CREATE TABLE only_in_a (x INT)")
        .unwrap();
    assert!(b.exec("postgres", "SELECT * FROM only_in_a").is_err());
}

#[test]
fn invalid_database_names_are_refused() {
    let err = shared_pg().create_database("x; DROP").unwrap_err();
    assert!(err.to_string().contains("must be"), "{err}");
}

/// MariaDB's bootstrap fails now and then when several run at once in one temporary
/// directory (a crash in `ha_maria::drop_table`, or "Unknown table 'mysql.tmp_user_sys'"):
/// each server's set-up must have its own.
#[test]
fn mariadb_servers_set_up_at_once_all_start() {
    let servers: Vec<_> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..8).map(|_| s.spawn(MariaDbServer::start)).collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<String> = servers
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 8 failed: {failed:#?}",
        failed.len()
    );
}
