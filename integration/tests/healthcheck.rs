//! `sluice healthcheck`, the container health check: healthy only when each door given answers
//! as that door would (an SSLRequest answered, a 200), unhealthy with one line naming the door
//! otherwise: a closed port, the wrong kind of listener, a path that is not 200.

use std::net::TcpListener;
use std::process::{Command, Output};

use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::{shared_pg, sluice_bin, Gateway, GatewayOptions};

fn healthcheck(args: &[&str]) -> Output {
    Command::new(sluice_bin())
        .arg("healthcheck")
        .args(args)
        .args(["--timeout", "2s"])
        .output()
        .expect("run sluice healthcheck")
}

fn gateway() -> Gateway {
    let pg = shared_pg();
    let db = seed_pg(pg).expect("seed");
    Gateway::start_pg(
        &pg.url(&db),
        &db,
        ROLES,
        GatewayOptions {
            http: true,
            ..Default::default()
        },
    )
    .expect("gateway starts")
}

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_running_gateway_is_healthy_on_both_doors() {
    let gw = gateway();
    let pg = gw.pg_addr.to_string();
    let http = format!("http://{}/healthz", gw.http_addr.expect("http door"));
    let out = healthcheck(&["--pg", &pg, "--http", &http]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("healthy: "), "{stdout}");
    assert!(stdout.contains("'S'"), "the gateway offers TLS: {stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

#[test]
fn a_closed_port_is_unhealthy_and_says_which_door() {
    let port = closed_port();
    let out = healthcheck(&["--pg", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("unhealthy: postgres door"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");

    let out = healthcheck(&["--http", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("unhealthy: http door"));
}

#[test]
fn one_failing_door_makes_the_whole_check_fail() {
    let gw = gateway();
    let http = format!("http://{}/healthz", gw.http_addr.expect("http door"));
    let out = healthcheck(&[
        "--pg",
        &format!("127.0.0.1:{}", closed_port()),
        "--http",
        &http,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("postgres door"), "{stderr}");
    assert!(
        !stderr.contains("http door"),
        "the HTTP door answered: {stderr}"
    );
}

#[test]
fn the_wrong_listener_or_path_is_unhealthy() {
    let gw = gateway();
    let http_addr = gw.http_addr.expect("http door").to_string();
    // The HTTP door answers an SSLRequest with an HTTP error, not 'S' or 'N'.
    let out = healthcheck(&["--pg", &http_addr]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("instead of 'S' or 'N'"),
        "{}",
        text(&out.stderr)
    );
    // A path other than a 200 one.
    let out = healthcheck(&["--http", &format!("http://{http_addr}/no-such-path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("expected 200"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_arguments_are_errors_not_unhealthy() {
    let out = healthcheck(&["--http", "https://127.0.0.1:1/healthz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("only http://"));
    // Neither door given: clap's usage error.
    let out = healthcheck(&[]);
    assert_eq!(out.status.code(), Some(2));
}
