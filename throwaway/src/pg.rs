//! A throwaway PostgreSQL server.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};

use crate::binaries::PgBinaries;
use crate::certs::ServerCert;
use crate::process::{block_on, run_to_end, start_on_free_port, Log, ServerProcess};
use crate::scratch::{RunAs, ScratchDir};

const HOST: &str = "127.0.0.1";
const SUPERUSER: &str = "postgres";

/// A private PostgreSQL server: its own cluster in a temp dir, listening on a free port on
/// 127.0.0.1, superuser `postgres` with trust authentication, durability off for speed.
///
/// Dropping it shuts the server down and removes its directory.
pub struct PgServer {
    port: u16,
    binaries: PgBinaries,
    run_as: Option<RunAs>,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    /// Settings beyond the defaults (TLS).
    extra_settings: Vec<String>,
    /// `None` while stopped. Declared before `scratch` so the server stops before its
    /// directory is removed.
    process: Mutex<Option<ServerProcess>>,
    scratch: ScratchDir,
}

impl PgServer {
    /// Creates a cluster with `initdb` and starts `postgres` on it, waiting until it accepts
    /// connections.
    pub fn start() -> Result<PgServer> {
        PgServer::start_with(None)
    }

    /// A server that also accepts TLS (`ssl=on`) with `cert`; plaintext clients are still
    /// accepted, so a client's `sslmode` decides.
    pub fn start_with_tls(cert: &ServerCert) -> Result<PgServer> {
        PgServer::start_with(Some(cert))
    }

    fn start_with(cert: Option<&ServerCert>) -> Result<PgServer> {
        let binaries = PgBinaries::locate()?;
        let run_as = RunAs::system_user_if_root("postgres", "postgresql")?;
        let scratch = ScratchDir::new("pg", run_as)?;
        let mut server = PgServer {
            port: 0,
            data_dir: scratch.path().join("data"),
            socket_dir: scratch.subdir("socket", run_as)?,
            log: scratch.path().join("postgres.log"),
            extra_settings: Vec::new(),
            binaries,
            run_as,
            process: Mutex::new(None),
            scratch,
        };
        server.init_cluster()?;
        if let Some(cert) = cert {
            let dir = server.scratch.subdir("tls", run_as)?;
            let (crt, key) = (dir.join("server.crt"), dir.join("server.key"));
            crate::scratch::write_private(&crt, &cert.cert_pem, run_as)?;
            crate::scratch::write_private(&key, &cert.key_pem, run_as)?;
            server.extra_settings = vec![
                "ssl=on".to_string(),
                format!("ssl_cert_file={}", crt.display()),
                format!("ssl_key_file={}", key.display()),
            ];
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

    /// `postgres://postgres@127.0.0.1:PORT/{db}`
    pub fn url(&self, db: &str) -> String {
        url(self.port, db)
    }

    /// Creates database `name` (letters, digits and `_` only).
    pub fn create_database(&self, name: &str) -> Result<()> {
        crate::check_database_name(name)?;
        self.exec("postgres", &format!("CREATE DATABASE \"{name}\""))
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
        let url = self.url(db);
        block_on(async {
            let client = connect(&url).await?;
            client.batch_execute(sql).await?;
            anyhow::Ok(())
        })
        .with_context(|| format!("running SQL on the throwaway PostgreSQL database {db:?}"))
    }

    /// Shuts the server down (fast shutdown). A no-op when already stopped.
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

    fn init_cluster(&self) -> Result<()> {
        let mut cmd = Command::new(&self.binaries.initdb);
        cmd.arg("--pgdata")
            .arg(&self.data_dir)
            .args(["--username", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            // Locale C: needs no generated locales and sorts the same everywhere.
            .args(["--no-locale", "--no-sync"]);
        self.prepare(&mut cmd);
        run_to_end(cmd, &self.binaries.initdb)
    }

    /// Spawns `postgres` on `port` and waits until it accepts connections.
    fn launch(&self, port: u16, log: Log) -> Result<ServerProcess> {
        let mut cmd = Command::new(&self.binaries.postgres);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&self.socket_dir);
        for setting in [
            "listen_addresses=127.0.0.1",
            // Throwaway data: durability only costs time.
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=200",
            "shared_buffers=32MB",
            "TimeZone=UTC",
        ] {
            cmd.arg("-c").arg(setting);
        }
        for setting in &self.extra_settings {
            cmd.arg("-c").arg(setting);
        }
        self.prepare(&mut cmd);
        // SIGINT is PostgreSQL's "fast shutdown": disconnect clients, checkpoint, exit.
        let mut process = ServerProcess::spawn(cmd, libc::SIGINT, &self.log, log)?;
        let url = url(port, "postgres");
        process.wait_until_ready("postgres", || async {
            connect(&url).await?;
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

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://{SUPERUSER}@{HOST}:{port}/{db}")
}

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}
