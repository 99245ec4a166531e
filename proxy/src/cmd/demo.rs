//! `sluice demo`: the car-rental example on throwaway databases, every door open, and what to
//! paste to try it. The newcomer's first command.
//!
//! Everything it starts is this process's: the databases are children tied to it
//! (`sluice-throwaway`), the gateway runs in-process, and the directory it writes is removed on
//! exit unless `--keep`. It uses the gateway exactly as `serve` does (`serve::start`), with a
//! backend account that may only read and write the example's tables.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sluice_proxy::files;
use sluice_proxy::serve::{self, ServeConfig};
use sluice_throwaway::{MariaDbServer, PgServer};
use sluice_tokens::{IssuerKey, TokenRequest};
use tokio::signal::unix::{signal, SignalKind};

use super::now_unix;
use crate::cli::DemoArgs;

const SCHEMA_PG: &str = include_str!("../../../examples/rental/schema_pg.sql");
const SCHEMA_MARIADB: &str = include_str!("../../../examples/rental/schema_mariadb.sql");
const DATA: &str = include_str!("../../../examples/rental/data.sql");
const ROLES: &str = include_str!("../../../examples/rental/roles.yaml");

/// The example database's name on both engines.
const DATABASE: &str = "rental";
/// The gateway's own account on the demo databases: it may read and write the example's
/// tables, nothing else (the databases' superusers are not what a gateway should hold).
const GATEWAY_ACCOUNT: &str = "sluice_gateway";
const TOKEN_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// The tokens the demo issues: each tenant with each role.
const TOKENS: [(&str, &str); 4] = [
    ("acme", "agent_readonly"),
    ("globex", "agent_readonly"),
    ("acme", "agent_support"),
    ("globex", "agent_support"),
];

pub fn run(a: DemoArgs) -> Result<ExitCode> {
    let dir = DemoDir::create(a.keep.as_deref())?;
    let mut progress = Progress::new();

    progress.step("PostgreSQL");
    ensure_installed(Engine::Postgres, a.no_install, &mut progress)?;
    let pg = PgServer::start().context("cannot start a throwaway PostgreSQL")?;
    load_pg(&pg)?;
    progress.done(&format!(
        "127.0.0.1:{}, the car-rental example loaded",
        pg.port()
    ));

    let mariadb = if a.no_mariadb {
        None
    } else {
        progress.step("MariaDB");
        match start_mariadb(a.no_install, &mut progress) {
            Ok(server) => {
                progress.done(&format!(
                    "127.0.0.1:{}, the car-rental example loaded",
                    server.port()
                ));
                Some(server)
            }
            Err(e) => {
                progress.skipped(&format!("{e:#}; going on without the MySQL door"));
                None
            }
        }
    };

    progress.step("keys, role file and tokens");
    let tokens = write_files(&dir)?;
    progress.done(&format!("in {}", dir.path.display()));

    progress.step("gateway");
    let mut config = ServeConfig::new(
        dir.path.join("roles.yaml"),
        vec![dir.path.join("issuer.pub")],
    );
    config.revocations = Some(dir.path.join("revoked.txt"));
    config.audit_log = Some(dir.path.join("audit.jsonl"));
    config.pg_listen = Some(a.pg_listen);
    config.pg_backend = Some(format!(
        "postgres://{GATEWAY_ACCOUNT}@127.0.0.1:{}/{DATABASE}?sslmode=disable",
        pg.port()
    ));
    if let Some(server) = &mariadb {
        config.mysql_listen = Some(a.mysql_listen);
        config.mysql_backend = Some(format!(
            "mysql://{GATEWAY_ACCOUNT}@127.0.0.1:{}/{DATABASE}?ssl-mode=DISABLED",
            server.port()
        ));
        config.http_backend = Some("postgres".into());
    }
    config.http_listen = Some(a.http_listen);
    config.drain_timeout = Duration::from_secs(2);
    init_log(&dir.path.join("gateway.log"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let running = serve::start(config).await.map_err(|e| {
            let busy = e
                .chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::AddrInUse);
            if busy {
                e.context(
                    "an address the demo listens on is taken: pass another with --pg-listen, \
                     --mysql-listen or --http-listen (127.0.0.1:0 picks a free port)",
                )
            } else {
                e
            }
        })?;
        progress.done("every door open");
        let doors = Doors {
            pg: running.pg_addr.context("the PostgreSQL door is not open")?,
            mysql: running.mysql_addr,
            http: running.http_addr.context("the HTTP door is not open")?,
        };
        print_instructions(&dir, &doors, &tokens)?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("sluice demo: stopping the gateway and the databases");
        running.shutdown().await;
        anyhow::Ok(())
    });
    drop(mariadb);
    drop(pg);
    let kept = dir.finish();
    outcome?;
    match kept {
        Some(path) => eprintln!("sluice demo: stopped; kept {}", path.display()),
        None => eprintln!("sluice demo: stopped; everything it created is removed"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The directory of keys, role file, tokens and logs: a temporary one, or `--keep DIR`.
struct DemoDir {
    path: PathBuf,
    temporary: bool,
}

impl DemoDir {
    fn create(keep: Option<&Path>) -> Result<DemoDir> {
        match keep {
            Some(path) => {
                let occupied = std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some());
                if occupied {
                    bail!(
                        "--keep {}: the directory is not empty; give a new or empty one (the \
                         demo writes new keys and tokens there)",
                        path.display()
                    );
                }
                files::ensure_dir(path)?;
                let path = path
                    .canonicalize()
                    .with_context(|| format!("cannot resolve {}", path.display()))?;
                Ok(DemoDir {
                    path,
                    temporary: false,
                })
            }
            // Removed at exit, and by a later run when this one is killed, as the throwaway
            // servers' directories are.
            None => Ok(DemoDir {
                path: sluice_throwaway::process_scratch_dir("demo")
                    .context("cannot create the demo's directory")?,
                temporary: true,
            }),
        }
    }

    /// Removes a temporary directory; returns the kept one's path.
    fn finish(self) -> Option<PathBuf> {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
            None
        } else {
            Some(self.path)
        }
    }
}

/// One progress line per step, on standard error: `[2/4] MariaDB … done (1.2 s): …`.
struct Progress {
    step: usize,
    started: Instant,
}

const STEPS: usize = 4;

impl Progress {
    fn new() -> Progress {
        Progress {
            step: 0,
            started: Instant::now(),
        }
    }

    fn step(&mut self, what: &str) {
        self.step += 1;
        self.started = Instant::now();
        eprint!("[{}/{STEPS}] {what} … ", self.step);
        let _ = std::io::stderr().flush();
    }

    fn note(&self, what: &str) {
        eprint!("{what} … ");
        let _ = std::io::stderr().flush();
    }

    fn done(&self, what: &str) {
        eprintln!(
            "ready in {:.1} s: {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn skipped(&self, why: &str) {
        eprintln!("skipped: {why}");
    }
}

#[derive(Clone, Copy)]
enum Engine {
    Postgres,
    MariaDb,
}

impl Engine {
    fn installed(self) -> bool {
        match self {
            Engine::Postgres => sluice_throwaway::postgres_installed(),
            Engine::MariaDb => sluice_throwaway::mariadb_installed(),
        }
    }

    /// Debian's packages: the server and the client the printed commands use.
    fn packages(self) -> &'static [&'static str] {
        match self {
            Engine::Postgres => &["postgresql", "postgresql-client"],
            Engine::MariaDb => &["mariadb-server", "mariadb-client"],
        }
    }
}

/// Installs the engine's Debian packages when its server programs are missing (as
/// `scripts/test` does), saying so; fails with what to do when it cannot.
fn ensure_installed(engine: Engine, no_install: bool, progress: &mut Progress) -> Result<()> {
    if engine.installed() {
        return Ok(());
    }
    let packages = engine.packages().join(" ");
    let by_hand = format!("apt-get install -y --no-install-recommends {packages}");
    if no_install {
        bail!("the server programs are not installed (--no-install); install them: {by_hand}");
    }
    if which("apt-get").is_none() {
        bail!(
            "the server programs are not installed and this is not a Debian-like system; \
             install the engine's server package"
        );
    }
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && which("sudo").is_none() {
        bail!("the server programs are not installed, and installing them needs root: {by_hand}");
    }
    progress.note(&format!("installing {packages} with apt-get"));
    let install = [
        &["install", "-y", "-qq", "--no-install-recommends"][..],
        engine.packages(),
    ]
    .concat();
    for apt_args in [&["update", "-qq"][..], &install] {
        // `env` inside sudo: sudo drops the caller's environment.
        let mut cmd = Command::new(if root { "env" } else { "sudo" });
        if !root {
            cmd.arg("env");
        }
        let status = cmd
            .args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(apt_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed ({status}); install by hand: {by_hand}",
                apt_args.join(" ")
            );
        }
    }
    if !engine.installed() {
        bail!("the server programs are still missing after apt-get install {packages}");
    }
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn load_pg(pg: &PgServer) -> Result<()> {
    pg.create_database(DATABASE)?;
    pg.exec(DATABASE, SCHEMA_PG)?;
    pg.exec(DATABASE, DATA)?;
    pg.exec(
        DATABASE,
        &format!(
            "CREATE ROLE {GATEWAY_ACCOUNT} LOGIN;
             GRANT USAGE ON SCHEMA public TO {GATEWAY_ACCOUNT};
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {GATEWAY_ACCOUNT};
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {GATEWAY_ACCOUNT};"
        ),
    )
}

fn start_mariadb(no_install: bool, progress: &mut Progress) -> Result<MariaDbServer> {
    ensure_installed(Engine::MariaDb, no_install, progress)?;
    let server = MariaDbServer::start().context("cannot start a throwaway MariaDB")?;
    server.create_database(DATABASE)?;
    server.exec(DATABASE, SCHEMA_MARIADB)?;
    server.exec(DATABASE, DATA)?;
    server.exec(
        DATABASE,
        &format!(
            "CREATE USER '{GATEWAY_ACCOUNT}'@'%';
             GRANT SELECT, INSERT, UPDATE ON {DATABASE}.* TO '{GATEWAY_ACCOUNT}'@'%';"
        ),
    )?;
    Ok(server)
}

/// One issued token and the file it is in.
struct DemoToken {
    tenant: &'static str,
    role: &'static str,
    token: String,
    file: PathBuf,
}

/// Writes the issuer key pair, the role file, an empty revocation list and the tokens.
fn write_files(dir: &DemoDir) -> Result<Vec<DemoToken>> {
    let key = IssuerKey::generate()?;
    files::write_new(
        &dir.path.join("issuer.key"),
        &format!("{}\n", key.to_paserk()),
        0o600,
    )?;
    files::write_new(
        &dir.path.join("issuer.pub"),
        &format!("{}\n", key.public().to_paserk()),
        0o644,
    )?;
    files::write_new(&dir.path.join("roles.yaml"), ROLES, 0o644)?;
    files::write_new(&dir.path.join("revoked.txt"), "", 0o644)?;
    let token_dir = dir.path.join("tokens");
    files::ensure_dir(&token_dir)?;
    let mut tokens = Vec::new();
    for (tenant, role) in TOKENS {
        let issued = sluice_tokens::issue(
            &key,
            &TokenRequest {
                role: role.to_string(),
                tenant_id: Some(tenant.to_string()),
                extra: Default::default(),
                lifetime_secs: TOKEN_LIFETIME.as_secs() as i64,
                label: Some(format!("sluice-demo-{tenant}-{role}")),
            },
            now_unix(),
        )?;
        let file = token_dir.join(format!("{tenant}-{role}"));
        files::write_new(&file, &format!("{}\n", issued.token), 0o600)?;
        tokens.push(DemoToken {
            tenant,
            role,
            token: issued.token,
            file,
        });
    }
    Ok(tokens)
}

struct Doors {
    pg: SocketAddr,
    mysql: Option<SocketAddr>,
    http: SocketAddr,
}

/// What to paste, on standard output.
fn print_instructions(dir: &DemoDir, doors: &Doors, tokens: &[DemoToken]) -> Result<()> {
    let first = &tokens[0];
    let mcp = super::token::mcp_config(&format!("http://{}/mcp", doors.http), &first.token)?;
    let mcp_file = dir.path.join("mcp.json");
    files::write_new(
        &mcp_file,
        &format!("{}\n", serde_json::to_string_pretty(&mcp)?),
        0o600,
    )?;
    let mut out = String::new();
    out.push_str(&format!(
        "\nsluice demo ready: postgres={} mysql={} http={}\n",
        doors.pg,
        doors
            .mysql
            .map_or_else(|| "(off)".to_string(), |a| a.to_string()),
        doors.http
    ));
    out.push_str(&format!(
        "Tokens ({} hours) are in {}; the role file is {}.\n",
        TOKEN_LIFETIME.as_secs() / 3600,
        dir.path.join("tokens").display(),
        dir.path.join("roles.yaml").display()
    ));
    out.push_str("\npsql, one line per token (the token is the password):\n");
    for t in tokens {
        out.push_str(&format!(
            "  # {} as {}\n  psql \"postgresql://agent:{}@{}:{}/{DATABASE}?sslmode=require\"\n",
            t.tenant,
            t.role,
            t.token,
            doors.pg.ip(),
            doors.pg.port()
        ));
    }
    out.push_str(
        "\n  then try: SELECT id, tenant_id, status FROM reservations;   -- only your tenant's rows\n\
         \x20           SELECT ssn FROM customers;                      -- no such column: ssn is hidden\n\
         \x20           UPDATE reservations SET notes = 'called' WHERE id = 1;  -- agent_support only\n",
    );
    if let Some(mysql) = doors.mysql {
        out.push_str(&format!(
            "\nmariadb ({} as {}):\n  mariadb -h {} -P {} -u agent --password=\"$(cat {})\" {DATABASE}\n",
            first.tenant,
            first.role,
            mysql.ip(),
            mysql.port(),
            first.file.display()
        ));
    }
    out.push_str(&format!(
        "\nREST ({} as {}):\n  curl -H \"Authorization: Bearer $(cat {})\" 'http://{}/rest/v1/reservations?select=id,tenant_id,status'\n",
        first.tenant,
        first.role,
        first.file.display(),
        doors.http
    ));
    out.push_str(&format!(
        "\nMCP client configuration ({} as {}), also in {}:\n{}\n",
        first.tenant,
        first.role,
        mcp_file.display(),
        serde_json::to_string_pretty(&mcp)?
    ));
    out.push_str(&format!(
        "\nAudit log (one JSON line per statement): tail -f {}\nGateway log: {}\n",
        dir.path.join("audit.jsonl").display(),
        dir.path.join("gateway.log").display()
    ));
    out.push_str(if dir.temporary {
        "\nCtrl-C stops the gateway and the databases and removes all of the above.\n"
    } else {
        "\nCtrl-C stops the gateway and the databases; the directory above is kept.\n"
    });
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// The gateway's log goes to a file in the demo's directory, so the terminal keeps the
/// instructions.
fn init_log(path: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    Ok(())
}
