//! One running server process: spawn, wait until it accepts connections, shut down.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::lifetime;
use crate::scratch::free_port;

/// How long a server may take to accept connections after being spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to shut down before it is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a spawn starts the server log afresh or appends to it.
#[derive(Clone, Copy)]
pub(crate) enum Log {
    Fresh,
    Append,
}

pub(crate) struct ServerProcess {
    /// `None` once reaped.
    child: Option<Child>,
    shutdown_signal: libc::c_int,
    log: PathBuf,
}

impl ServerProcess {
    /// Spawns `cmd` with stdout and stderr going to `log`. `shutdown_signal` asks the server
    /// to stop cleanly; it is also what the process-exit hook sends.
    pub(crate) fn spawn(
        mut cmd: Command,
        shutdown_signal: libc::c_int,
        log: &Path,
        mode: Log,
    ) -> Result<Self> {
        let log_file = open_log(log, mode)?;
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = lifetime::spawn_tied(cmd).with_context(|| format!("cannot run {program}"))?;
        lifetime::register_server(child.id(), shutdown_signal);
        Ok(ServerProcess {
            child: Some(child),
            shutdown_signal,
            log: log.to_path_buf(),
        })
    }

    /// Polls `probe` (a connection attempt) until it succeeds, the server exits, or
    /// [`READY_TIMEOUT`] passes; the errors carry the tail of the server log.
    pub(crate) fn wait_until_ready<F, Fut>(&mut self, what: &str, probe: F) -> Result<()>
    where
        F: Fn() -> Fut + Send,
        Fut: Future<Output = Result<()>> + Send,
    {
        let started = Instant::now();
        let this = &mut *self;
        let outcome = block_on(async move {
            loop {
                if let Some(status) = this.exited() {
                    bail!("{what} exited during startup ({status})");
                }
                let last_error = match tokio::time::timeout(Duration::from_secs(5), probe()).await {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(e)) => e,
                    Err(_) => anyhow::anyhow!("connection attempt timed out"),
                };
                if started.elapsed() > READY_TIMEOUT {
                    bail!(
                        "{what} did not accept connections within {READY_TIMEOUT:?}; \
                         last attempt: {last_error:#}"
                    );
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        });
        // The log is the useful part, and its directory is gone by the time anyone reads this.
        outcome.map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n--- last lines of the server log:\n{}",
                self.log_tail()
            )
        })
    }

    /// The exit status if the process has exited (reaping it).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child.try_wait().ok().flatten()?;
        lifetime::forget_server(child.id());
        self.child = None;
        Some(status)
    }

    /// Sends the shutdown signal and waits; kills the process if it does not exit in time.
    pub(crate) fn shut_down(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let pid = child.id();
        // SAFETY: plain system call on our unreaped child.
        unsafe { libc::kill(pid as libc::pid_t, self.shutdown_signal) };
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let outcome = loop {
            match child.try_wait() {
                Ok(Some(_)) => break Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(anyhow::anyhow!(
                        "server did not shut down within {SHUTDOWN_TIMEOUT:?} and was killed; log:\n{}",
                        self.log_tail()
                    ));
                }
                Err(e) => break Err(e).context("cannot wait for the server process"),
            }
        };
        lifetime::forget_server(pid);
        self.child = None;
        outcome
    }

    /// The last lines of the server log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

fn open_log(path: &Path, mode: Log) -> Result<File> {
    let mut options = OpenOptions::new();
    match mode {
        Log::Fresh => options.write(true).create(true).truncate(true),
        Log::Append => options.append(true).create(true),
    };
    options
        .open(path)
        .with_context(|| format!("cannot open server log {}", path.display()))
}

/// Runs `launch` on a free port, retrying with a fresh port when another process took the port
/// between our check and the server's bind.
pub(crate) fn start_on_free_port(
    launch: impl Fn(u16) -> Result<ServerProcess>,
) -> Result<(u16, ServerProcess)> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 1;
    loop {
        let port = free_port()?;
        match launch(port) {
            Ok(process) => return Ok((port, process)),
            Err(e) if attempt < ATTEMPTS && is_port_clash(&e) => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Both servers report a lost port race in these words (in English: they run with `LC_ALL=C`).
fn is_port_clash(start_error: &anyhow::Error) -> bool {
    format!("{start_error:#}").contains("Address already in use")
}

pub(crate) fn log_tail(path: &Path) -> String {
    const LINES: usize = 30;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

/// Runs `future` to completion on a private runtime on a scoped thread.
///
/// The fixture API is blocking and must work from inside `#[tokio::test]`, where starting a
/// runtime on the current thread would panic.
pub(crate) fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("cannot build a tokio runtime")
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs a set-up program (initdb, mariadb-install-db) to its end, tied to this process's
/// lifetime; a failure says which program, its exit status and everything it printed.
pub(crate) fn run_to_end(mut cmd: Command, program: &Path) -> Result<()> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = lifetime::spawn_tied(cmd)
        .and_then(|child| child.wait_with_output())
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}{}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
