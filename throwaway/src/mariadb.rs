//! A throwaway MariaDB server.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;

use crate::binaries::MariaDbBinaries;
use crate::certs::ServerCert;
use crate::process::{block_on, run_to_end, start_on_free_port, Log, ServerProcess};
use crate::scratch::{RunAs, ScratchDir};

const HOST: &str = "127.0.0.1";
const SUPERUSER: &str = "root";

/// A private MariaDB server: its own data directory in a temp dir, listening on a free port on
/// 127.0.0.1, with grant tables and `root` without a password, durability off for speed.
///
/// Dropping it shuts the server down and removes its directory.
pub struct MariaDbServer {
    port: u16,
    binaries: MariaDbBinaries,
    run_as: Option<RunAs>,
    data_dir: PathBuf,
    run_dir: PathBuf,
    log: PathBuf,
    /// Options beyond the defaults (TLS).
    extra_args: Vec<String>,
    /// Clients must use TLS (`require_secure_transport`): the harness's own connections too.
    tls_only: bool,
    /// `None` while stopped. Declared before `scratch` so the server stops before its
    /// directory is removed.
    process: Mutex<Option<ServerProcess>>,
    scratch: ScratchDir,
}

impl MariaDbServer {
    /// Creates a data directory with `mariadb-install-db` and starts `mariadbd` on it, waiting
    /// until it accepts connections.
    pub fn start() -> Result<MariaDbServer> {
        MariaDbServer::start_with(None, false)
    }

    /// A server that also accepts TLS with `cert`. With `tls_only`, it refuses every
    /// connection that is not encrypted (`require_secure_transport=ON`): a client it accepts
    /// has proven it uses TLS.
    pub fn start_with_tls(cert: &ServerCert, tls_only: bool) -> Result<MariaDbServer> {
        MariaDbServer::start_with(Some(cert), tls_only)
    }

    fn start_with(cert: Option<&ServerCert>, tls_only: bool) -> Result<MariaDbServer> {
        let binaries = MariaDbBinaries::locate()?;
        let run_as = RunAs::system_user_if_root("mysql", "mariadb-server")?;
        let scratch = ScratchDir::new("mariadb", run_as)?;
        let mut server = MariaDbServer {
            port: 0,
            data_dir: scratch.path().join("data"),
            run_dir: scratch.subdir("run", run_as)?,
            log: scratch.path().join("mariadbd.log"),
            extra_args: Vec::new(),
            tls_only,
            binaries,
            run_as,
            process: Mutex::new(None),
            scratch,
        };
        server.install_db()?;
        if let Some(cert) = cert {
            let dir = server.scratch.subdir("tls", run_as)?;
            let (crt, key) = (dir.join("server.crt"), dir.join("server.key"));
            crate::scratch::write_private(&crt, &cert.cert_pem, run_as)?;
            crate::scratch::write_private(&key, &cert.key_pem, run_as)?;
            server.extra_args = vec![
                format!("--ssl-cert={}", crt.display()),
                format!("--ssl-key={}", key.display()),
            ];
            if tls_only {
                server
                    .extra_args
                    .push("--require-secure-transport=ON".to_string());
            }
        }
        let (port, process) = start_on_free_port(|port| server.launch(port, Log::Fresh))?;
        server.port = port;
        *server.process.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(process);
        Ok(server)
    }

    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:PORT/{db}`
    pub fn url(&self, db: &str) -> String {
        format!("mysql://{SUPERUSER}@{HOST}:{}/{db}", self.port)
    }

    /// Creates database `name` (letters, digits and `_` only).
    pub fn create_database(&self, name: &str) -> Result<()> {
        crate::check_database_name(name)?;
        self.run_sql(None, &format!("CREATE DATABASE `{name}`"))
    }

    /// Creates a database named `{prefix}_{n}`, unique in this process, and returns its
    /// name: the way for tests sharing a server to stay independent.
    pub fn create_unique_database(&self, prefix: &str) -> Result<String> {
        let name = crate::unique_database_name(prefix);
        self.create_database(&name)?;
        Ok(name)
    }

    /// Runs a SQL script (any number of `;`-separated statements) in database `db`.
    pub fn exec(&self, db: &str, sql: &str) -> Result<()> {
        self.run_sql(Some(db), sql)
    }

    /// The rows of one statement run in database `db` on a direct connection (not through a
    /// gateway), over the text protocol: every value as the server's text, NULL as `None`.
    pub fn rows(&self, db: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let opts = opts(self.port, Some(db), self.tls_only);
        block_on(async {
            let mut conn = mysql_async::Conn::new(opts).await?;
            let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
            conn.disconnect().await?;
            let text = |v: &mysql_async::Value| match v {
                mysql_async::Value::NULL => None,
                mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                other => Some(other.as_sql(true)),
            };
            anyhow::Ok(
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| text(&r[i])).collect())
                    .collect(),
            )
        })
        .with_context(|| format!("reading the test MariaDB database {db:?}: {sql}"))
    }

    /// Shuts the server down (normal shutdown). A no-op when already stopped.
    pub fn stop(&self) -> Result<()> {
        match self.process().take() {
            Some(mut process) => process.shut_down(),
            None => Ok(()),
        }
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data.
    pub fn restart(&self) -> Result<()> {
        let mut process = self.process();
        if let Some(mut running) = process.take() {
            running.shut_down()?;
        }
        *process = Some(self.launch(self.port, Log::Append)?);
        Ok(())
    }

    fn process(&self) -> MutexGuard<'_, Option<ServerProcess>> {
        self.process.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run_sql(&self, db: Option<&str>, sql: &str) -> Result<()> {
        let opts = opts(self.port, db, self.tls_only);
        block_on(async {
            let mut conn = mysql_async::Conn::new(opts).await?;
            // Drops every result set, so multi-statement scripts run to the end.
            conn.query_drop(sql).await?;
            conn.disconnect().await?;
            anyhow::Ok(())
        })
        .with_context(|| format!("running SQL on the throwaway MariaDB database {db:?}"))
    }

    fn install_db(&self) -> Result<()> {
        let mut cmd = Command::new(&self.binaries.install_db);
        // --no-defaults must come first: the machine's my.cnf must not leak in.
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir.display()))
            // Its own temporary directory: bootstraps running at once in the shared /tmp fail
            // now and then ("Unknown table 'mysql.tmp_user_sys'", or a crash in
            // ha_maria::drop_table), as several test binaries' servers do.
            .arg(format!("--tmpdir={}", self.run_dir.display()))
            // root without a password (not unix_socket auth), so TCP clients can log in.
            .arg("--auth-root-authentication-method=normal")
            .args(["--skip-test-db", "--skip-name-resolve"]);
        self.prepare(&mut cmd);
        run_to_end(cmd, &self.binaries.install_db)
    }

    /// Spawns `mariadbd` on `port` and waits until it accepts connections.
    fn launch(&self, port: u16, log: Log) -> Result<ServerProcess> {
        let mut cmd = Command::new(&self.binaries.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir.display()))
            .arg(format!(
                "--socket={}",
                self.run_dir.join("mariadb.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.run_dir.join("mariadbd.pid").display()
            ))
            .arg(format!("--tmpdir={}", self.run_dir.display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--default-time-zone=+00:00",
                // Throwaway data: durability only costs time.
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-buffer-pool-size=64M",
                // Containers often limit Linux AIO contexts; several servers at once run out.
                "--innodb-use-native-aio=0",
            ])
            .args(&self.extra_args);
        self.prepare(&mut cmd);
        // SIGTERM is mariadbd's normal shutdown.
        let mut process = ServerProcess::spawn(cmd, libc::SIGTERM, &self.log, log)?;
        let opts = opts(port, None, self.tls_only);
        process.wait_until_ready("mariadbd", || async {
            mysql_async::Conn::new(opts.clone())
                .await?
                .disconnect()
                .await?;
            Ok(())
        })?;
        Ok(process)
    }

    fn prepare(&self, cmd: &mut Command) {
        // English messages, so that errors can be recognised in the log.
        cmd.env("LC_ALL", "C").current_dir(self.scratch.path());
        if let Some(run_as) = self.run_as {
            run_as.apply(cmd);
        }
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn opts(port: u16, db: Option<&str>, tls: bool) -> mysql_async::Opts {
    // The harness's own connections do not check the test's certificate.
    let ssl = tls.then(|| mysql_async::SslOpts::default().with_danger_accept_invalid_certs(true));
    mysql_async::OptsBuilder::default()
        .ssl_opts(ssl)
        .ip_or_hostname(HOST)
        .tcp_port(port)
        .user(Some(SUPERUSER))
        .db_name(db)
        // Otherwise the driver switches to the server's unix socket; stay on the TCP port.
        .prefer_socket(false)
        .into()
}
