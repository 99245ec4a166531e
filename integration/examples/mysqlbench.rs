//! A small pgbench for MySQL/MariaDB: runs one statement over and over for a while, from a few
//! connections, and reports transactions per second and mean latency. `integration/bench/barrier.sh`
//! runs it against MariaDB directly and through Sluice's MySQL door with the same statement texts
//! it gives pgbench, so the two engines are measured alike; sysbench runs only its own scripts.
//!
//! The statement may hold the markers `:id` and `:hi` (as a pgbench script's variables). Before
//! each execution `:id` gets a random id `BASE + STEP * r`, r uniform in `0..COUNT`, and `:hi`
//! gets `:id + SPAN`. `text` sends each statement as a query with the numbers written in
//! (COM_QUERY); `prepared` prepares it once per connection with `?` for the markers and executes
//! it with the numbers bound (COM_STMT_EXECUTE, the binary protocol). Every row is read.
//!
//! The client runs on one thread (a tokio current-thread runtime), so it takes as little of the
//! machine's CPU as a C client would.
//!
//! `cargo run --release -p sluice-integration --example mysqlbench -- URL SECONDS CLIENTS
//! text|prepared BASE:STEP:COUNT SPAN SQL` (the password may come from `MYSQL_PWD` instead of the
//! URL). With SECONDS = 0 the statement runs once, with `:id` = BASE, and the row count is printed.
//! Otherwise one line: `transactions=N seconds=S tps=T latency_ms=L`.

use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::Queryable;

#[derive(Clone, Copy)]
enum Marker {
    Id,
    Hi,
}

#[derive(Clone)]
enum Part {
    Text(String),
    Marker(Marker),
}

/// The statement split at its markers.
#[derive(Clone)]
struct Template(Vec<Part>);

impl Template {
    fn parse(sql: &str) -> Template {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = sql;
        while let Some(at) = rest.find(':') {
            text.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let marker = [("id", Marker::Id), ("hi", Marker::Hi)]
                .into_iter()
                .find(|(name, _)| {
                    after.starts_with(name)
                        && !after[name.len()..]
                            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                });
            match marker {
                Some((name, m)) => {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                    parts.push(Part::Marker(m));
                    rest = &after[name.len()..];
                }
                None => {
                    text.push(':');
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        parts.push(Part::Text(text));
        Template(parts)
    }

    /// The text with the numbers written in.
    fn with_values(&self, id: i64, hi: i64) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Marker(Marker::Id) => out.push_str(&id.to_string()),
                Part::Marker(Marker::Hi) => out.push_str(&hi.to_string()),
            }
        }
        out
    }

    /// The text with `?` for each marker, and the markers in order.
    fn with_parameters(&self) -> (String, Vec<Marker>) {
        let mut out = String::new();
        let mut order = Vec::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Marker(m) => {
                    out.push('?');
                    order.push(*m);
                }
            }
        }
        (out, order)
    }
}

#[derive(Clone, Copy)]
struct Ids {
    base: i64,
    step: i64,
    count: u64,
    span: i64,
}

/// xorshift64*: enough to spread ids, and no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: mysqlbench URL SECONDS CLIENTS text|prepared BASE:STEP:COUNT SPAN SQL";
    let [url, seconds, clients, mode, ids, span, sql] = args.as_slice() else {
        anyhow::bail!("{usage}");
    };
    let seconds: u64 = seconds
        .parse()
        .with_context(|| format!("SECONDS {seconds:?}; {usage}"))?;
    let clients: usize = clients
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("CLIENTS {clients:?}; {usage}"))?;
    let prepared = match mode.as_str() {
        "text" => false,
        "prepared" => true,
        other => anyhow::bail!("{other:?} is not text or prepared; {usage}"),
    };
    let ids = {
        let p: Vec<&str> = ids.split(':').collect();
        let bad = || format!("{ids:?} is not BASE:STEP:COUNT; {usage}");
        let [base, step, count] = p.as_slice() else {
            anyhow::bail!(bad());
        };
        Ids {
            base: base.parse().with_context(bad)?,
            step: step.parse().with_context(bad)?,
            count: count.parse().ok().filter(|c| *c > 0).with_context(bad)?,
            span: span
                .parse()
                .with_context(|| format!("SPAN {span:?}; {usage}"))?,
        }
    };
    let mut opts = mysql_async::OptsBuilder::from_opts(
        mysql_async::Opts::from_url(url).with_context(|| format!("URL {url:?}"))?,
    )
    .prefer_socket(false);
    if let Ok(pw) = std::env::var("MYSQL_PWD") {
        opts = opts.pass(Some(pw));
    }
    let template = Template::parse(sql);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if seconds == 0 {
            let mut conn = mysql_async::Conn::new(opts).await.context("connecting")?;
            let rows = run_once(
                &mut conn,
                &template,
                prepared,
                ids.base,
                ids.base + ids.span,
            )
            .await?;
            println!("rows={rows}");
            conn.disconnect().await?;
            return Ok(());
        }
        let mut conns = Vec::new();
        for _ in 0..clients {
            conns.push(
                mysql_async::Conn::new(opts.clone())
                    .await
                    .context("connecting")?,
            );
        }
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for (n, conn) in conns.into_iter().enumerate() {
            let template = template.clone();
            let seed = start.elapsed().as_nanos() as u64 ^ (0x9E37_79B9_7F4A_7C15 * (n as u64 + 1));
            tasks.push(tokio::spawn(client(
                conn,
                template,
                prepared,
                ids,
                seed | 1,
                deadline,
            )));
        }
        let mut transactions = 0u64;
        let mut busy = Duration::ZERO;
        for t in tasks {
            let (n, time) = t.await??;
            transactions += n;
            busy += time;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let latency_ms = if transactions > 0 {
            busy.as_secs_f64() * 1e3 / transactions as f64
        } else {
            0.0
        };
        println!(
            "transactions={transactions} seconds={elapsed:.3} tps={:.1} latency_ms={latency_ms:.4}",
            transactions as f64 / elapsed
        );
        Ok(())
    })
}

/// One connection's loop: statements until the deadline; returns how many and the time they took.
async fn client(
    mut conn: mysql_async::Conn,
    template: Template,
    prepared: bool,
    ids: Ids,
    seed: u64,
    deadline: Instant,
) -> anyhow::Result<(u64, Duration)> {
    let mut rng = Rng(seed);
    let (psql, order) = template.with_parameters();
    let stmt = if prepared {
        Some(conn.prep(&psql).await.context("preparing")?)
    } else {
        None
    };
    let mut n = 0u64;
    let mut busy = Duration::ZERO;
    loop {
        let t0 = Instant::now();
        if t0 >= deadline {
            break;
        }
        let id = ids.base + ids.step * rng.below(ids.count) as i64;
        let hi = id + ids.span;
        match &stmt {
            Some(stmt) => {
                conn.exec_drop(stmt, bound(&order, id, hi))
                    .await
                    .context("executing")?;
            }
            None => conn
                .query_drop(template.with_values(id, hi))
                .await
                .context("querying")?,
        }
        busy += t0.elapsed();
        n += 1;
    }
    conn.disconnect().await?;
    Ok((n, busy))
}

async fn run_once(
    conn: &mut mysql_async::Conn,
    template: &Template,
    prepared: bool,
    id: i64,
    hi: i64,
) -> anyhow::Result<usize> {
    let rows: Vec<mysql_async::Row> = if prepared {
        let (psql, order) = template.with_parameters();
        conn.exec(psql, bound(&order, id, hi)).await?
    } else {
        conn.query(template.with_values(id, hi)).await?
    };
    Ok(rows.len())
}

/// The values of the markers, in the statement's order of `?`.
fn bound(order: &[Marker], id: i64, hi: i64) -> Vec<mysql_async::Value> {
    order
        .iter()
        .map(|m| match m {
            Marker::Id => id.into(),
            Marker::Hi => hi.into(),
        })
        .collect()
}
