//! Tying throwaway servers to the life of the process that started them.
//!
//! The shared servers live in statics, which Rust never drops, and a process can also be
//! killed outright (Ctrl-C, CI timeout). Three mechanisms make sure no server is left behind:
//!
//! 1. On normal exit (including a failed test run) an `atexit` hook shuts down every server still
//!    registered here and removes the registered scratch directories.
//! 2. If the process dies without running `atexit`, the kernel kills each server: it is spawned
//!    with `PR_SET_PDEATHSIG = SIGKILL`. The death signal is delivered when the *thread* that
//!    forked the child exits, not the process, and test threads exit after each test. So every
//!    spawn happens on one dedicated thread that never ends (it waits on a channel whose sender
//!    lives in a static).
//! 3. Scratch directories left by killed runs are removed by the next run (see `scratch.rs`).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` on the spawner thread, so that the child is killed when this process dies.
pub(crate) fn spawn_tied(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("sluice-tmp-spawner".into())
            .spawn(move || {
                // Ends only if the sender is dropped, and the sender lives in a static.
                for (mut cmd, reply) in incoming {
                    let _ = reply.send(spawn_with_death_signal(&mut cmd));
                }
            })
            .expect("cannot start the server spawner thread");
        requests
    });
    let (reply, response) = mpsc::channel();
    spawner
        .send((cmd, reply))
        .map_err(|_| io::Error::other("the server spawner thread is gone"))?;
    response
        .recv()
        .map_err(|_| io::Error::other("the server spawner thread is gone"))?
}

fn spawn_with_death_signal(cmd: &mut Command) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only makes async-signal-safe system calls and does not allocate.
    // std runs pre_exec closures after switching uid/gid; that order matters because a
    // credential change clears the parent-death signal.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then no signal would ever come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

struct LiveServer {
    pid: libc::pid_t,
    shutdown_signal: libc::c_int,
}

#[derive(Default)]
struct AtExit {
    servers: Vec<LiveServer>,
    dirs: Vec<PathBuf>,
}

static AT_EXIT: Mutex<AtExit> = Mutex::new(AtExit {
    servers: Vec::new(),
    dirs: Vec::new(),
});

fn at_exit() -> MutexGuard<'static, AtExit> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: registering a plain extern "C" function; failure only loses the cleanup.
        unsafe { libc::atexit(shut_down_everything) };
    });
    AT_EXIT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers a running server child, to be sent `shutdown_signal` when the process exits.
/// Call [`forget_server`] as soon as the child has been reaped (its pid may then be reused).
pub(crate) fn register_server(pid: u32, shutdown_signal: libc::c_int) {
    at_exit().servers.push(LiveServer {
        pid: pid as libc::pid_t,
        shutdown_signal,
    });
}

pub(crate) fn forget_server(pid: u32) {
    at_exit().servers.retain(|s| s.pid != pid as libc::pid_t);
}

/// Remembers a scratch directory, to be removed when the process exits.
pub(crate) fn register_dir(dir: PathBuf) {
    at_exit().dirs.push(dir);
}

pub(crate) fn forget_dir(dir: &std::path::Path) {
    at_exit().dirs.retain(|d| d != dir);
}

extern "C" fn shut_down_everything() {
    let AtExit { servers, dirs } = std::mem::take(&mut *at_exit());
    for server in &servers {
        // SAFETY: plain system call on a child of ours that has not been reaped.
        unsafe { libc::kill(server.pid, server.shutdown_signal) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for server in &servers {
        reap(server.pid, deadline);
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Waits for the child to exit until `deadline`, then kills it.
fn reap(pid: libc::pid_t, deadline: Instant) {
    loop {
        // SAFETY: plain system calls on a child of ours.
        let done = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        if done != 0 {
            return; // reaped (pid) or not our child any more (-1)
        }
        if Instant::now() >= deadline {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
