//! `sluice healthcheck`: does a running gateway's door answer? For container health checks: the
//! runtime image has no curl and no pg_isready, and a check that only opens a TCP connection
//! would call a wedged or foreign listener healthy.
//!
//! Blocking std I/O on purpose: one connection per door, short timeouts, no runtime to start.
//! The PostgreSQL door is asked an SSLRequest and must answer `S` or `N` (what any PostgreSQL
//! server says before authentication, so no token is needed and nothing is audited: the gateway
//! drops a client that leaves before its TLS handshake without a log line above debug). The
//! HTTP door is sent a plain GET, which must answer 200 (`/healthz` needs no token).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cli::HealthcheckArgs;

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// Enough of an HTTP response for its status line.
const STATUS_LINE_LIMIT: usize = 1024;

pub fn run(a: HealthcheckArgs) -> Result<ExitCode> {
    // Arguments are checked before anything is probed: a mistyped URL is an error (exit 2),
    // not an unhealthy gateway.
    let http = a.http.as_deref().map(HttpTarget::parse).transpose()?;
    let mut healthy = Vec::new();
    let mut failed = Vec::new();
    if let Some(addr) = &a.pg {
        match check_pg(addr, a.timeout) {
            Ok(answer) => healthy.push(format!("postgres {addr} answered {answer}")),
            Err(e) => failed.push(format!("postgres door {addr}: {e:#}")),
        }
    }
    if let Some(target) = &http {
        match check_http(target, a.timeout) {
            Ok(()) => healthy.push(format!("http {} answered 200", target.url)),
            Err(e) => failed.push(format!("http door {}: {e:#}", target.url)),
        }
    }
    if failed.is_empty() {
        println!("healthy: {}", healthy.join("; "));
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("unhealthy: {}", failed.join("; "));
        Ok(ExitCode::from(super::EXIT_INVALID))
    }
}

/// Sends an SSLRequest and reads the one-byte answer.
fn check_pg(addr: &str, timeout: Duration) -> Result<&'static str> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(addr, deadline)?;
    set_deadline(&stream, deadline)?;
    stream
        .write_all(&SSL_REQUEST)
        .map_err(|e| io_failure(e, "sending an SSLRequest", timeout))?;
    let mut answer = [0u8; 1];
    match stream.read(&mut answer) {
        Ok(0) => bail!("closed the connection without answering an SSLRequest"),
        Ok(_) => match answer[0] {
            b'S' => Ok("'S' (TLS offered)"),
            b'N' => Ok("'N' (no TLS)"),
            other => bail!(
                "answered an SSLRequest with {:?} instead of 'S' or 'N': is this a PostgreSQL \
                 door (`sluice serve --pg-listen`)?",
                char::from(other)
            ),
        },
        Err(e) => Err(io_failure(
            e,
            "waiting for the answer to an SSLRequest",
            timeout,
        )),
    }
}

/// An `http://` URL split into what a GET needs.
struct HttpTarget {
    url: String,
    /// `host:port`, resolved at check time.
    authority: String,
    host_header: String,
    path: String,
}

impl HttpTarget {
    fn parse(raw: &str) -> Result<HttpTarget> {
        let url = url::Url::parse(raw).with_context(|| {
            format!("--http {raw:?} is not a URL; give e.g. http://127.0.0.1:8080/healthz")
        })?;
        if url.scheme() != "http" {
            bail!(
                "--http {raw:?}: only http:// URLs are checked (the HTTP door answers plain HTTP \
                 and TLS on the same port, so http:// reaches the same listener)"
            );
        }
        let Some(host) = url.host_str() else {
            bail!("--http {raw:?} names no host; give e.g. http://127.0.0.1:8080/healthz");
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(HttpTarget {
            url: raw.to_string(),
            authority: format!("{host}:{port}"),
            host_header: match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            },
            path,
        })
    }
}

/// Sends `GET path` and reads the status line.
fn check_http(target: &HttpTarget, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(&target.authority, deadline)?;
    set_deadline(&stream, deadline)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sluice-healthcheck\r\nConnection: close\r\n\r\n",
        target.path, target.host_header
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| io_failure(e, "sending the request", timeout))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < STATUS_LINE_LIMIT {
        set_deadline(&stream, deadline)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(io_failure(e, "waiting for the response", timeout)),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        bail!("closed the connection without a response");
    }
    let mut parts = line.split_whitespace();
    let (Some(version), Some(status)) = (parts.next(), parts.next()) else {
        bail!("answered {line:?}, not an HTTP status line");
    };
    if !version.starts_with("HTTP/") {
        bail!("answered {line:?}, not an HTTP status line: is this the HTTP door (`sluice serve --http-listen`)?");
    }
    if status != "200" {
        bail!("answered {line:?}, expected 200");
    }
    Ok(())
}

/// Connects to the first address of `addr` that accepts, within the deadline.
fn connect(addr: &str, deadline: Instant) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr:?} (give HOST:PORT, e.g. 127.0.0.1:6432)"))?
        .collect();
    let mut last = None;
    for a in &addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(a, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some((a, e)),
        }
    }
    match last {
        Some((a, e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            bail!("connection to {a} refused: nothing listens there (is the gateway running, with this door?)")
        }
        Some((a, e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            bail!("connection to {a} timed out")
        }
        Some((a, e)) => bail!("cannot connect to {a}: {e}"),
        None => bail!("{addr:?} resolves to no address"),
    }
}

fn set_deadline(stream: &TcpStream, deadline: Instant) -> Result<()> {
    let left = remaining(deadline)?;
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    Ok(())
}

fn remaining(deadline: Instant) -> Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => bail!("no answer within the timeout"),
    }
}

fn io_failure(e: std::io::Error, doing: &str, timeout: Duration) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => anyhow::anyhow!(
            "no answer within {} while {doing}",
            humantime::format_duration(timeout)
        ),
        _ => anyhow::anyhow!("{doing}: {e}"),
    }
}
