//! Running the real client programs of `integration/clients` (psql, the mysql CLI, Python and
//! node scripts) from the client tests: one place for the install check, the hang guard and the
//! JSON report they print.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The tests' Python: the virtual environment `scripts/test` makes (`target/test-venv`, over
/// Debian's /usr/bin/python3 with its system packages visible: the Debian client packages, and
/// the PyPI ones pip installs into the environment, never into the user's site-packages), or
/// `SLUICE_TEST_PYTHON`. Fails with what to do when it is missing.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let venv = target.join("test-venv/bin/python");
    assert!(
        venv.exists(),
        "the tests' Python environment {} is missing: run ./scripts/test, which makes it and \
         installs the Python clients into it (or set SLUICE_TEST_PYTHON to an interpreter that \
         has them)",
        venv.display()
    );
    venv
}

/// A client program that runs longer than this is killed and its test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// `integration/clients`, where the client scripts and their node_modules live.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// The version of an npm package installed in `integration/clients/node_modules` (what
/// `package-lock.json` pins), for the client tests to name the driver they ran: each node
/// program reports `"client": "<package> <version>"` from the same file, and the test checks it
/// and puts it in its assertion messages.
pub fn npm_version(package: &str) -> String {
    let path = clients_dir()
        .join("node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "client missing: {} ({e}); run `npm ci` in integration/clients (./scripts/test does)",
            path.display()
        )
    });
    let manifest: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    manifest["version"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no version", path.display()))
        .to_string()
}

/// Fails the test with an install hint when a client is missing (`check` exits non-zero).
pub fn require(check: &mut Command, install: &str) {
    let ok = check
        .current_dir(clients_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "client missing: install {install} (./scripts/test installs the clients when missing)"
    );
}

/// Runs a client program in `integration/clients` (unless `cmd` names another directory),
/// killing it if it hangs. Fails the test when it cannot start, hangs or exits non-zero (other
/// than with a status in `exit_ok`). Standard input is the caller's to set.
pub fn run(cmd: &mut Command, what: &str, exit_ok: &[i32]) -> Output {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(clients_dir());
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let output = match rx.recv_timeout(CLIENT_TIMEOUT) {
        Ok(output) => output,
        Err(_) => {
            // SAFETY: kill has no memory effects; the child is not yet reaped, so the pid is
            // still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let output = rx.recv().expect("waiter thread").expect("wait");
            panic!(
                "{what} hung for {CLIENT_TIMEOUT:?} and was killed\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    assert!(
        output.status.success() || output.status.code().is_some_and(|c| exit_ok.contains(&c)),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a client program (standard input closed) that prints one JSON report on stdout.
pub fn json_report(cmd: &mut Command, what: &str) -> Value {
    let output = run(cmd.stdin(Stdio::null()), what, &[]);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} did not print a JSON report ({e})\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A Python module a client program imports, and where it comes from.
pub struct PythonModule {
    pub name: &'static str,
    pub install: &'static str,
}

pub const SQLALCHEMY: PythonModule = PythonModule {
    name: "sqlalchemy",
    install: "sqlalchemy==2.0.59 (pip, into the tests' environment)",
};
/// Django 5 needs 3.1.8 or newer; Debian 12 has 3.1.7 (`scripts/test` installs 3.2.13).
pub const PSYCOPG: PythonModule = PythonModule {
    name: "psycopg",
    install: "psycopg>=3.1.8 (pip, into the tests' environment: psycopg==3.2.13)",
};
pub const PSYCOPG2: PythonModule = PythonModule {
    name: "psycopg2",
    install: "psycopg2-binary==2.9.13 (pip, into the tests' environment)",
};
pub const ASYNCPG: PythonModule = PythonModule {
    name: "asyncpg",
    install: "python3-asyncpg (apt-get)",
};
pub const PYMYSQL: PythonModule = PythonModule {
    name: "pymysql",
    install: "python3-pymysql (apt-get)",
};
pub const DJANGO: PythonModule = PythonModule {
    name: "django",
    install: "django==5.2.20 (pip, into the tests' environment)",
};

/// Fails the test with what to install when [`python`] cannot import one of `modules`.
pub fn require_python(modules: &[&PythonModule]) {
    for m in modules {
        require(
            Command::new(python()).args(["-c", &format!("import {}", m.name)]),
            &format!("{} for {}: {}", m.name, python().display(), m.install),
        );
    }
}

/// Fails the test with what to install when node cannot load `packages` from
/// `integration/clients/node_modules`.
pub fn require_node(packages: &[&str]) {
    let script: String = packages
        .iter()
        .map(|p| format!("require('{p}');"))
        .collect();
    require(
        Command::new("node").args(["-e", &script]),
        &format!(
            "{} for node: apt-get install nodejs npm, then `npm ci` in integration/clients",
            packages.join(", ")
        ),
    );
}

/// The client versions a report names (`versions`: an object of library → version), printed
/// to the test's output, so that a run records what it ran; fails the test when the report
/// names none. The line it returns belongs in the test's assertion messages.
pub fn client_versions(what: &str, report: &Value) -> String {
    let versions = report["versions"].as_object().filter(|o| {
        !o.is_empty()
            && o.values()
                .all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    });
    let Some(versions) = versions else {
        panic!("{what} reports no client versions (`versions`): {report:#}");
    };
    let line = versions
        .iter()
        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ");
    let line = format!("{what} ran {line}");
    println!("{line}");
    line
}

/// The version of `package` in the workspace's Cargo.lock: a Rust client linked into the tests.
pub fn locked_version(package: &str) -> Option<String> {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .ok()?;
    let wanted = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == wanted {
            let version = lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(version.to_string());
        }
    }
    None
}
