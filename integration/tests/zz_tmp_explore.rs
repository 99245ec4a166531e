use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, Gateway, GatewayOptions};
#[test]
fn explore() {
    let pg = shared_pg();
    let db = seed_pg(pg).unwrap();
    let gw = Gateway::start_pg(&pg.url(&db), &db, ROLES, GatewayOptions::default()).unwrap();
    let t = gw.token("agent_support", Some("acme"), 3600);
    let s = gw.token("agent_slow", Some("acme"), 3600);
    std::fs::write(
        "/tmp/explore.env",
        format!(
            "DSN='{}'\nURL='{}'\nSLOW='{}'\nBACKEND='{}'\n",
            gw.pg_dsn(&t),
            gw.pg_url(&t),
            gw.pg_dsn(&s),
            pg.url(&db)
        ),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1500));
}
