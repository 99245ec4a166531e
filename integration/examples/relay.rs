//! A TCP relay that forwards bytes and does nothing else: the benchmarks' floor for what any
//! proxy costs on this machine. `integration/bench/sysbench.sh` and `pgbench.sh` run it as the
//! `relay` target, between the client and the same database, so a report shows how much of
//! Sluice's distance from a direct connection is the extra hop itself (two more loopback
//! sockets, their wake-ups and copies, all on the CPUs the client and the database also use)
//! and how much is Sluice's own work.
//!
//! It runs on the gateway's runtime (`sluice_proxy::serve::runtime`, by default with the
//! gateway's default thread count, `sluice_proxy::serve::default_worker_threads`: one thread on
//! two cores, tokio's current-thread scheduler), sets TCP_NODELAY on both
//! sides as the gateway does, and copies each direction with `tokio::io::copy_bidirectional`.
//!
//! `cargo run --release -p sluice-integration --example relay -- LISTEN_ADDR TARGET_ADDR [WORKERS]`

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: relay LISTEN_ADDR TARGET_ADDR [WORKER_THREADS]";
    let (listen, target) = match args.as_slice() {
        [l, t] | [l, t, _] => (l, t),
        _ => anyhow::bail!("{usage}"),
    };
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("LISTEN_ADDR {listen:?} is not host:port; {usage}"))?;
    let target: SocketAddr = target
        .parse()
        .with_context(|| format!("TARGET_ADDR {target:?} is not host:port; {usage}"))?;
    let workers = match args.get(2) {
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("WORKER_THREADS {n:?} is not a positive number"))?,
        None => sluice_proxy::serve::default_worker_threads(),
    };
    sluice_proxy::serve::runtime(workers)?.block_on(async move {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!("relay: {listen} -> {target}, {workers} worker thread(s)");
        loop {
            let (mut client, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut server = match TcpStream::connect(target).await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("relay: cannot reach {target}: {e}");
                        return;
                    }
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    })
}
