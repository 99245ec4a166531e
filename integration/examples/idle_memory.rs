//! Memory of the gateway holding many idle, authenticated PostgreSQL clients.
//!
//! Starts a throwaway PostgreSQL and the release `sluice` binary as a separate process, opens N
//! client connections (default 10,000) that each complete startup and token authentication and
//! then stay idle, and prints the gateway's resident memory (VmRSS) before and after, with the
//! per-connection cost, and the anonymous part of the resident memory (the gateway's own heap
//! and stacks; the rest is the binary's pages, shared with every other process running it).
//! Target (issue 18): under 48 MB with 10,000 idle clients.
//!
//!     cargo build --release -p sluice-proxy --bin sluice
//!     cargo run --release -p sluice-integration --example idle_memory -- [N]
//!
//! With `IDLE_HOLD_SECS=N` the clients stay connected N seconds after the measurement, and the
//! gateway's pid is printed, for looking at it from outside (`/proc/PID/smaps`).
//!
//! The `sluice` binary is taken from `$SLUICE_BIN`, else from the release directory of this
//! build's target dir.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sluice_integration::rental::{seed_pg, ROLES};
use sluice_integration::PgServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    raise_fd_limit(n)?;
    let bin = sluice_bin()?;
    let pg = PgServer::start()?;
    let db = seed_pg(&pg)?;
    let dir = tempfile::tempdir()?;
    let keys = dir.path().join("keys");
    run(Command::new(&bin).args(["keygen", "--out-dir"]).arg(&keys))?;
    std::fs::write(dir.path().join("roles.yaml"), ROLES)?;
    let token = String::from_utf8(
        Command::new(&bin)
            .args([
                "token",
                "create",
                "--role",
                "agent_readonly",
                "--tenant-id",
                "acme",
                "--expires-in",
                "1h",
                "--key",
            ])
            .arg(keys.join("issuer.key"))
            .output()?
            .stdout,
    )?
    .trim()
    .to_string();
    let mut gw = Command::new(&bin)
        .arg("serve")
        .arg("--rbac-config")
        .arg(dir.path().join("roles.yaml"))
        .arg("--public-key")
        .arg(keys.join("issuer.pub"))
        .arg("--audit-log")
        .arg(dir.path().join("audit.jsonl"))
        .args(["--pg-listen", "127.0.0.1:0"])
        .env("SLUICE_PG_BACKEND", pg.url(&db))
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("start sluice")?;
    let mut line = String::new();
    BufReader::new(gw.stdout.take().context("stdout")?).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("sluice ready: postgres=")
        .with_context(|| format!("unexpected ready line {line:?}"))?
        .to_string();
    let pid = gw.id();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        // One real statement first, so the pool and caches exist in both measurements.
        let mut first = connect(&addr, &db, &token).await?;
        simple_query(&mut first, "SELECT count(*) FROM customers").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib(pid)?;
        let started = Instant::now();
        let mut clients = Vec::with_capacity(n);
        let mut pending = tokio::task::JoinSet::new();
        for i in 0..n {
            let (addr, db, token) = (addr.clone(), db.clone(), token.clone());
            pending.spawn(async move {
                connect(&addr, &db, &token)
                    .await
                    .with_context(|| format!("client {i}"))
            });
            if pending.len() >= 200 {
                clients.push(pending.join_next().await.context("join")???);
            }
        }
        while let Some(c) = pending.join_next().await {
            clients.push(c??);
        }
        let connect_time = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib(pid)?;
        if let Some(secs) = hold_secs()? {
            // For looking at the gateway from outside (smaps, heap profilers) while it holds
            // the idle clients.
            println!("holding {n} idle clients for {secs} s; gateway pid {pid}");
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        // The idle clients are still served: one of them runs a statement.
        simple_query(&mut clients[n / 2], "SELECT count(*) FROM vehicles").await?;
        let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
        println!("idle clients:            {n}");
        println!(
            "connect+auth time:       {:.1} s",
            connect_time.as_secs_f64()
        );
        println!("gateway RSS before:      {:.1} MiB", before as f64 / 1024.0);
        println!(
            "gateway RSS with clients:{:>6.1} MiB",
            after as f64 / 1024.0
        );
        println!("per idle client:         {:.1} KiB", per_conn / 1024.0);
        let anon = rss_anon_kib(pid)?;
        println!(
            "of which anonymous:      {:.1} MiB (the rest: the binary's mapped pages)",
            anon as f64 / 1024.0
        );
        let verdict = if after * 1024 < 48_000_000 {
            "PASS"
        } else {
            "ABOVE"
        };
        println!("target (< 48 MB with 10,000 idle clients): {verdict}");
        drop(clients);
        Ok::<_, anyhow::Error>(())
    });
    let _ = gw.kill();
    let _ = gw.wait();
    result
}

async fn connect(addr: &str, db: &str, token: &str) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    let mut startup = Vec::new();
    startup.extend_from_slice(&0i32.to_be_bytes());
    startup.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in [("user", "agent"), ("database", db)] {
        startup.extend_from_slice(k.as_bytes());
        startup.push(0);
        startup.extend_from_slice(v.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    let len = startup.len() as i32;
    startup[..4].copy_from_slice(&len.to_be_bytes());
    s.write_all(&startup).await?;
    expect_auth_request(&mut s).await?;
    let mut pw = vec![b'p'];
    pw.extend_from_slice(&((token.len() + 5) as i32).to_be_bytes());
    pw.extend_from_slice(token.as_bytes());
    pw.push(0);
    s.write_all(&pw).await?;
    read_until_ready(&mut s).await?;
    Ok(s)
}

async fn simple_query(s: &mut TcpStream, sql: &str) -> Result<()> {
    let mut q = vec![b'Q'];
    q.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
    q.extend_from_slice(sql.as_bytes());
    q.push(0);
    s.write_all(&q).await?;
    read_until_ready(s).await
}

async fn read_message(s: &mut TcpStream) -> Result<(u8, Vec<u8>)> {
    let tag = s.read_u8().await?;
    let len = s.read_i32().await? as usize;
    let mut body = vec![0; len - 4];
    s.read_exact(&mut body).await?;
    Ok((tag, body))
}

async fn expect_auth_request(s: &mut TcpStream) -> Result<()> {
    let (tag, body) = read_message(s).await?;
    if tag != b'R' || body[..4] != 3i32.to_be_bytes() {
        bail!(
            "expected a cleartext password request, got {:?}",
            tag as char
        );
    }
    Ok(())
}

async fn read_until_ready(s: &mut TcpStream) -> Result<()> {
    loop {
        let (tag, body) = read_message(s).await?;
        match tag {
            b'Z' => return Ok(()),
            b'E' => bail!("error from the gateway: {}", String::from_utf8_lossy(&body)),
            _ => {}
        }
    }
}

/// `IDLE_HOLD_SECS`: how long to keep the clients connected after measuring.
fn hold_secs() -> Result<Option<u64>> {
    match std::env::var("IDLE_HOLD_SECS") {
        Ok(v) => Ok(Some(v.parse().with_context(|| {
            format!("IDLE_HOLD_SECS={v:?} is not a number of seconds")
        })?)),
        Err(_) => Ok(None),
    }
}

fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

fn rss_anon_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "RssAnon:")
}

/// A `kB` line of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| field.to_string())?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("{field} value"))?
        .parse()?)
}

fn raise_fd_limit(n: usize) -> Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit failed");
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            bail!("setrlimit failed");
        }
    }
    if (lim.rlim_cur as usize) < n + 200 {
        bail!(
            "the open-file limit ({}) is too low for {n} clients; raise it (ulimit -Hn)",
            lim.rlim_cur
        );
    }
    Ok(())
}

fn sluice_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        return Ok(PathBuf::from(p));
    }
    // This example runs from <target>/release/examples/idle_memory.
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .context("target dir")?
        .join("sluice");
    if !bin.exists() {
        bail!("{} not found: run `cargo build --release -p sluice-proxy --bin sluice` first, or set SLUICE_BIN", bin.display());
    }
    Ok(bin)
}

fn run(cmd: &mut Command) -> Result<()> {
    let st = cmd.status()?;
    if !st.success() {
        bail!("{cmd:?} failed: {st}");
    }
    Ok(())
}
