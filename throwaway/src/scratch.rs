//! Scratch directories, free ports, and the system user a server runs as.

use std::collections::HashSet;
use std::ffi::CString;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, Once};

use anyhow::{bail, Context, Result};

use crate::lifetime;

/// Every scratch directory is named `sluice-tmp-<pid>-...`, so that a later run can tell which
/// ones belong to processes that are gone.
const PREFIX: &str = "sluice-tmp-";

/// A scratch directory that lives as long as this process, for files a static holds (test
/// certificates): removed at exit, or by the next run if this one was killed.
pub fn process_scratch_dir(kind: &str) -> Result<PathBuf> {
    let dir = ScratchDir::new(kind, None)?;
    let path = dir.path().to_path_buf();
    // Registered with `lifetime` for removal at exit; a static is never dropped.
    std::mem::forget(dir);
    Ok(path)
}

/// A server's private directory (data dir, socket, log), removed on drop and at process exit.
pub(crate) struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    /// Creates `$TMPDIR/sluice-tmp-<pid>-<kind>-XXXX`, owned by `owner` if given.
    pub(crate) fn new(kind: &str, owner: Option<RunAs>) -> Result<Self> {
        remove_stale_dirs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-{kind}-", std::process::id()))
            .tempdir()
            .context("cannot create a scratch directory for a throwaway server")?;
        lifetime::register_dir(dir.path().to_path_buf());
        let scratch = ScratchDir { dir };
        if let Some(owner) = owner {
            owner.give(scratch.path())?;
        }
        Ok(scratch)
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Creates an (empty) subdirectory owned by `owner` if given.
    pub(crate) fn subdir(&self, name: &str, owner: Option<RunAs>) -> Result<PathBuf> {
        let path = self.path().join(name);
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        if let Some(owner) = owner {
            owner.give(&path)?;
        }
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        lifetime::forget_dir(self.dir.path());
    }
}

/// Removes scratch directories of earlier processes that no longer run (killed runs).
fn remove_stale_dirs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            if !process_exists(pid) {
                remove_orphaned_pg_shared_memory(&entry.path().join("data"));
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// A killed postmaster leaves its (tiny) System V shared memory segment behind; its key and id
/// are on line 7 of `postmaster.pid`. Removes it if nothing is attached and the key matches.
fn remove_orphaned_pg_shared_memory(data_dir: &Path) {
    let Ok(pid_file) = std::fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return;
    };
    let Some((key, id)) = pid_file.lines().nth(6).and_then(|line| {
        let mut fields = line.split_whitespace().map(|f| f.parse::<i64>().ok());
        Some((fields.next()??, fields.next()??))
    }) else {
        return;
    };
    let Ok(id) = libc::c_int::try_from(id) else {
        return;
    };
    // SAFETY: shmid_ds is plain data that IPC_STAT fills in.
    let mut stat: libc::shmid_ds = unsafe { std::mem::zeroed() };
    let ours = unsafe { libc::shmctl(id, libc::IPC_STAT, &mut stat) } == 0
        && i64::from(stat.shm_perm.__key) == key
        && stat.shm_nattch == 0;
    if ours {
        unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The unprivileged system user a server runs as when this process runs as root: `initdb` and
/// `postgres` refuse to run as root, and `mariadbd` should not.
#[derive(Clone, Copy)]
pub(crate) struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `None` when not running as root (servers then run as the current user);
    /// otherwise the system user `name`, which must exist.
    pub(crate) fn system_user_if_root(name: &str, package: &str) -> Result<Option<RunAs>> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        match lookup_user(name)? {
            Some(user) => Ok(Some(user)),
            None => bail!(
                "this process runs as root, so the server must run as the system user `{name}`, \
                 which does not exist; it is created by the Debian package `{package}` \
                 (apt-get install -y --no-install-recommends {package}, or run ./scripts/test)"
            ),
        }
    }

    pub(crate) fn apply(self, cmd: &mut Command) {
        cmd.uid(self.uid).gid(self.gid);
    }

    pub(crate) fn give(self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("cannot hand {} to uid {}", path.display(), self.uid))
    }
}

/// Writes `contents` to a new file readable by its owner only (a server's private key must
/// be), owned by `owner` if given.
pub(crate) fn write_private(path: &Path, contents: &str, owner: Option<RunAs>) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(owner) = owner {
        owner.give(path)?;
    }
    Ok(())
}

fn lookup_user(name: &str) -> Result<Option<RunAs>> {
    let c_name = CString::new(name)?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; getpwnam_r writes into it and into buf, whose length we pass.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 {
        bail!(
            "cannot look up user `{name}`: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
    Ok((!found.is_null()).then_some(RunAs {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    }))
}

/// A currently free port on 127.0.0.1 that this process has not handed out before.
///
/// The port is free when asked, not reserved: a server start that loses the race to another
/// process sees "Address already in use" and retries with a new port.
pub(crate) fn free_port() -> Result<u16> {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .context("cannot find a free port on 127.0.0.1")?
            .port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    bail!("cannot find a free port on 127.0.0.1 that was not used before")
}
