//! The command line, as documented in the project's design notes (shared/design/mission.md). Every flag can also come from an environment
//! variable `SLUICE_…` (shown in `--help`), so secrets such as backend URLs need not appear in
//! the process list.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "A database gateway for AI agents: short-lived scoped tokens instead of credentials",
    long_about = "Sluice holds the real database credentials and hands agents short-lived, signed, \
                  scoped tokens instead. Every statement is parsed, checked against the token's \
                  role, confined to its rows and columns, and only then forwarded.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try Sluice in one command: the car-rental example on throwaway databases, every door
    /// open, tokens for two tenants printed ready to paste
    ///
    /// Starts a throwaway PostgreSQL and, when it is installed or can be installed, MariaDB,
    /// from this machine's server programs (on Debian or Ubuntu, missing ones are installed with
    /// apt-get when running as root or with sudo, unless --no-install), each on a free port in a
    /// temporary directory. Loads the car-rental example (two tenants, acme and globex) with a
    /// backend account that may only read and write its tables, writes an issuer key pair, the
    /// example role file and tokens (8 hours) for both tenants and two roles into a directory,
    /// starts the PostgreSQL, MySQL and HTTP (REST and MCP) doors, and prints a psql line per
    /// token, a mariadb command, a curl line, an MCP client configuration and where the audit
    /// log is. Progress goes to standard error, the instructions to standard output.
    ///
    /// Ctrl-C (or SIGTERM) stops the gateway and the databases and removes everything the demo
    /// created; with --keep DIR, the keys, role file, tokens, audit log and gateway log are
    /// written to DIR and left there (the databases are always thrown away).
    Demo(DemoArgs),
    /// Generate an Ed25519 issuer key pair (issuer.key, issuer.pub)
    Keygen(KeygenArgs),
    /// Create, inspect and revoke tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Validate a role file, explain what a role may do, and (with --db) lint it against the
    /// database's schema
    ///
    /// Without --db: loads the role file and reports its errors with file, line and column.
    ///
    /// With --db: also reads the database's schema (as `sluice serve` does) and reports, per
    /// role, what confinement cannot hide and the schema can: (1) unique keys and primary keys
    /// of tables the role may INSERT or UPDATE that leave out a column the role's row filter
    /// reads, when the role may write the key's columns: a write that collides with another
    /// tenant's row fails with a duplicate-key error (23505, 1062) or is skipped by ON CONFLICT
    /// DO NOTHING, so an agent can probe which values other tenants hold (fix: add the filter's
    /// column to the key); (2) filtered tables the role may UPDATE or DELETE (or SELECT … FOR
    /// UPDATE) with no index that starts with a column the filter reads: such a write scans,
    /// and locks or waits on, other tenants' rows (fix: index that column); (3) tables the
    /// role file names that the database lacks, and filter columns a table lacks.
    ///
    /// Exit status: 0 when the role file is valid and there is nothing to report, 1 when there
    /// are findings, 2 on errors (an invalid role file, a database that cannot be read).
    Check(CheckArgs),
    /// Run the gateway: the PostgreSQL and MySQL doors, and the HTTP door (REST and MCP)
    Serve(ServeArgs),
    /// Serve MCP (the Model Context Protocol) to one token
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Check that a running gateway's doors answer (for container health checks)
    ///
    /// --pg ADDR sends the PostgreSQL door an SSLRequest and expects 'S' or 'N'; --http URL
    /// sends a plain GET and expects 200 (the HTTP door's /healthz needs no token). Neither
    /// authenticates, so nothing reaches the database or the audit log.
    ///
    /// Example: sluice healthcheck --pg 127.0.0.1:6432 --http http://127.0.0.1:8080/healthz
    ///
    /// Exit status: 0 when every door given answers, 1 when one does not (one line on standard
    /// error says which and why), 2 on errors (a malformed URL).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write the demo's keys, role file, tokens and logs into DIR (created; must be empty or
    /// absent) and leave them there on exit
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Address of the PostgreSQL door (127.0.0.1:0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:6432")]
    pub pg_listen: SocketAddr,
    /// Address of the MySQL door (127.0.0.1:0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:6033")]
    pub mysql_listen: SocketAddr,
    /// Address of the HTTP door: REST under /rest/v1, MCP at /mcp (127.0.0.1:0 picks a free
    /// port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    /// Run without MariaDB (and the MySQL door)
    #[arg(long)]
    pub no_mariadb: bool,
    /// Never install database server packages: fail (PostgreSQL) or go on without (MariaDB)
    /// when they are missing
    #[arg(long)]
    pub no_install: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write issuer.key (secret, mode 0600) and issuer.pub into; created if missing.
    /// Existing keys are never overwritten.
    #[arg(long, env = "SLUICE_OUT_DIR", value_name = "DIR")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a role (prints only the token unless --format says otherwise)
    Create(CreateArgs),
    /// Show a token's claims and whether its signature, times and revocation status check out;
    /// exits 0 only if every check passes
    Inspect(InspectArgs),
    /// Add a token's jti to a revocation list file (idempotent, safe to run concurrently)
    Revoke(RevokeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The token alone, on one line
    Token,
    /// The claims and the token, as JSON
    Json,
    /// A connection string with the token as password (needs --dsn-base)
    Dsn,
    /// An MCP client configuration (JSON): the gateway's MCP URL (--mcp-url) and the token as
    /// its Authorization header
    Mcp,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Issuer secret key file written by `sluice keygen`
    #[arg(long, env = "SLUICE_KEY", value_name = "FILE")]
    pub key: PathBuf,
    /// Role the token acts as (a role of the gateway's role file)
    #[arg(long, env = "SLUICE_ROLE")]
    pub role: String,
    /// Tenant the token is confined to (the `tenant_id` claim read by row filters)
    #[arg(long, env = "SLUICE_TENANT_ID", value_name = "T")]
    pub tenant_id: Option<String>,
    /// Extra claim, repeatable: KEY=VALUE (VALUE is an integer if written as a plain integer such
    /// as 42 or -7, else a string: 007 stays "007")
    #[arg(long = "claim", env = "SLUICE_CLAIM", value_name = "K=V")]
    pub claims: Vec<String>,
    /// Lifetime, e.g. 15m, 1h, 8h
    #[arg(long, env = "SLUICE_EXPIRES_IN", value_name = "DUR", value_parser = parse_duration)]
    pub expires_in: Duration,
    /// Longest lifetime this command will issue
    #[arg(long, env = "SLUICE_MAX_LIFETIME", value_name = "DUR", default_value = "24h", value_parser = parse_duration)]
    pub max_lifetime: Duration,
    /// Free-text label recorded in the token and in every audit line (e.g. which agent run)
    #[arg(long, env = "SLUICE_LABEL", value_name = "L")]
    pub label: Option<String>,
    /// Role file to check the role and its required claims against before issuing
    #[arg(long, env = "SLUICE_RBAC_CONFIG", value_name = "FILE")]
    pub rbac_config: Option<PathBuf>,
    /// What to print
    #[arg(long, env = "SLUICE_FORMAT", value_enum, default_value_t = OutputFormat::Token)]
    pub format: OutputFormat,
    /// Connection string to put the token into for --format dsn, e.g.
    /// postgresql://agent@127.0.0.1:6432/rental
    #[arg(long, env = "SLUICE_DSN_BASE", value_name = "URL")]
    pub dsn_base: Option<String>,
    /// The gateway's MCP endpoint, for --format mcp
    #[arg(
        long,
        env = "SLUICE_MCP_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080/mcp"
    )]
    pub mcp_url: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token, or `-` to read it from standard input
    #[arg(env = "SLUICE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Public key file(s) to check the signature with (repeatable, for key rotation)
    #[arg(
        long,
        env = "SLUICE_PUBLIC_KEY",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub public_key: Vec<PathBuf>,
    /// Revocation list file to check the jti against
    #[arg(long, env = "SLUICE_REVOCATIONS", value_name = "FILE")]
    pub revocations: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Revocation list file (one jti per line; created if missing)
    #[arg(long, env = "SLUICE_REVOCATIONS", value_name = "FILE")]
    pub revocations: PathBuf,
    /// The token to revoke, or its jti, or `-` to read either from standard input
    #[arg(value_name = "TOKEN|JTI")]
    pub token_or_jti: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Role file to validate
    #[arg(long, env = "SLUICE_RBAC_CONFIG", value_name = "FILE")]
    pub rbac_config: PathBuf,
    /// Print the resolved grants, columns, filters and denies of this role
    #[arg(long, env = "SLUICE_EXPLAIN", value_name = "ROLE")]
    pub explain: Option<String>,
    /// Database to lint the role file against, as a serve backend is given:
    /// postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or mysql://USER:PASSWORD@HOST:PORT/DB?ssl-mode=…
    /// (prefer the env var: it keeps the password out of the process list)
    #[arg(
        long,
        env = "SLUICE_CHECK_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    pub db: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve one token's MCP tools on standard input and output, for MCP clients that launch a
    /// process; runs until the client closes standard input
    Stdio(McpStdioArgs),
}

#[derive(Debug, Args)]
pub struct McpStdioArgs {
    /// The token whose tools to serve (prefer the env var: it keeps the token out of the process
    /// list)
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Role file
    #[arg(long, env = "SLUICE_RBAC_CONFIG", value_name = "FILE")]
    pub rbac_config: PathBuf,
    /// Public key file(s) that tokens may be signed with (repeatable, for key rotation)
    #[arg(
        long,
        env = "SLUICE_PUBLIC_KEY",
        value_name = "FILE",
        value_delimiter = ',',
        required = true
    )]
    pub public_key: Vec<PathBuf>,
    /// Revocation list file; watched while the process runs, so a revoked token stops working
    #[arg(long, env = "SLUICE_REVOCATIONS", value_name = "FILE")]
    pub revocations: Option<PathBuf>,
    /// PostgreSQL backend, e.g. postgres://app:secret@db:5432/rental?sslmode=verify-full&sslrootcert=ca.pem
    /// (prefer the env var); parameters: see serve --help
    #[arg(
        long,
        env = "SLUICE_PG_BACKEND",
        value_name = "URL",
        hide_env_values = true
    )]
    pub pg_backend: Option<String>,
    /// MySQL/MariaDB backend, e.g. mysql://app:secret@db:3306/rental?ssl-mode=VERIFY_IDENTITY&ssl-ca=ca.pem
    /// (prefer the env var); parameters: see serve --help
    #[arg(
        long,
        env = "SLUICE_MYSQL_BACKEND",
        value_name = "URL",
        hide_env_values = true
    )]
    pub mysql_backend: Option<String>,
    /// The backend to serve when both --pg-backend and --mysql-backend are given
    #[arg(long, env = "SLUICE_HTTP_BACKEND", value_name = "postgres|mysql")]
    pub http_backend: Option<String>,
    /// Audit log file (JSON lines, appended); standard error if not given
    #[arg(long, env = "SLUICE_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Most backend connections per connection profile
    #[arg(long, env = "SLUICE_POOL_SIZE", default_value_t = 4)]
    pub pool_size: u32,
    /// Statement timeout for roles that set none
    #[arg(long, env = "SLUICE_STATEMENT_TIMEOUT", value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub statement_timeout: Duration,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("door").required(true).multiple(true).args(["pg", "http"])))]
pub struct HealthcheckArgs {
    /// PostgreSQL door to check, HOST:PORT, e.g. 127.0.0.1:6432
    #[arg(long, env = "SLUICE_HEALTHCHECK_PG", value_name = "ADDR")]
    pub pg: Option<String>,
    /// HTTP door URL to GET, e.g. http://127.0.0.1:8080/healthz (only http://: the door answers
    /// plain HTTP and TLS on one port)
    #[arg(long, env = "SLUICE_HEALTHCHECK_HTTP", value_name = "URL")]
    pub http: Option<String>,
    /// How long each door may take to answer, connecting included
    #[arg(long, env = "SLUICE_HEALTHCHECK_TIMEOUT", value_name = "DUR", default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolMode {
    /// A backend connection serves a client for one transaction (PgBouncer's default)
    Transaction,
    /// A backend connection is pinned to a client for the client's whole session
    Session,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Role file
    #[arg(long, env = "SLUICE_RBAC_CONFIG", value_name = "FILE")]
    pub rbac_config: PathBuf,
    /// Public key file(s) that tokens may be signed with (repeatable, for key rotation)
    #[arg(
        long,
        env = "SLUICE_PUBLIC_KEY",
        value_name = "FILE",
        value_delimiter = ',',
        required = true
    )]
    pub public_key: Vec<PathBuf>,
    /// Revocation list file (one jti per line, `sluice token revoke` appends); re-read within a
    /// second of a change, and on SIGHUP
    #[arg(long, env = "SLUICE_REVOCATIONS", value_name = "FILE")]
    pub revocations: Option<PathBuf>,
    /// Address for PostgreSQL clients, e.g. 127.0.0.1:6432
    #[arg(long, env = "SLUICE_PG_LISTEN", value_name = "ADDR")]
    pub pg_listen: Option<SocketAddr>,
    /// PostgreSQL backend, e.g. postgres://app:secret@db:5432/rental (prefer the env var: it
    /// keeps the password out of the process list). Parameters: sslmode (disable, prefer
    /// [default], require, verify-ca, verify-full), sslrootcert=FILE (the CA, PEM; needed by
    /// verify-*), connect_timeout; any other parameter stops the start. Connections are
    /// encrypted as sslmode says, or the gateway does not start
    #[arg(
        long,
        env = "SLUICE_PG_BACKEND",
        value_name = "URL",
        hide_env_values = true
    )]
    pub pg_backend: Option<String>,
    /// Address for MySQL/MariaDB clients, e.g. 127.0.0.1:6033
    #[arg(long, env = "SLUICE_MYSQL_LISTEN", value_name = "ADDR")]
    pub mysql_listen: Option<SocketAddr>,
    /// MySQL/MariaDB backend, e.g. mysql://app:secret@db:3306/rental (prefer the env var: it
    /// keeps the password out of the process list). Parameters: ssl-mode (DISABLED, PREFERRED
    /// [default], REQUIRED, VERIFY_CA, VERIFY_IDENTITY), ssl-ca=FILE (the CA, PEM; needed by
    /// VERIFY_*); any other parameter stops the start
    #[arg(
        long,
        env = "SLUICE_MYSQL_BACKEND",
        value_name = "URL",
        hide_env_values = true
    )]
    pub mysql_backend: Option<String>,
    /// Address for the HTTP door, e.g. 127.0.0.1:8080: the REST API under /rest/v1 and MCP
    /// (Streamable HTTP) at /mcp
    #[arg(long, env = "SLUICE_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// The backend the REST API serves when both --pg-backend and --mysql-backend are given
    #[arg(long, env = "SLUICE_HTTP_BACKEND", value_name = "postgres|mysql")]
    pub http_backend: Option<String>,
    /// TLS certificate chain (PEM); without --tls-cert/--tls-key a self-signed certificate for
    /// localhost is generated at start, so sslmode=require works
    #[arg(
        long,
        env = "SLUICE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(
        long,
        env = "SLUICE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Accept tokens over unencrypted connections from non-loopback peers (loopback peers may
    /// always connect without TLS)
    #[arg(long, env = "SLUICE_ALLOW_PLAINTEXT")]
    pub allow_plaintext: bool,
    /// Audit log file (JSON lines, appended); standard error if not given
    #[arg(long, env = "SLUICE_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Keep no audit trail at all: no statement, denial or connection is recorded (for
    /// benchmarks, or where the database audits itself); the start says so in the log
    #[arg(long, env = "SLUICE_NO_AUDIT", conflicts_with = "audit_log")]
    pub no_audit: bool,
    /// How backend connections are shared between clients
    #[arg(long, env = "SLUICE_POOL_MODE", value_enum, default_value_t = PoolMode::Transaction)]
    pub pool_mode: PoolMode,
    /// Most backend connections per backend and connection profile (read-only or not,
    /// statement timeout)
    #[arg(long, env = "SLUICE_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,
    /// Statement timeout for roles that set none
    #[arg(long, env = "SLUICE_STATEMENT_TIMEOUT", value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub statement_timeout: Duration,
    /// A transaction left idle this long is ended (rolled back) and its client disconnected
    /// (so that an idle client cannot hold a pooled connection)
    #[arg(long, env = "SLUICE_IDLE_TRANSACTION_TIMEOUT", value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub idle_transaction_timeout: Duration,
    /// On SIGTERM, how long open sessions may run before they are closed
    #[arg(long, env = "SLUICE_DRAIN_TIMEOUT", value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Threads serving clients (default: half the CPU cores, at least one). A statement costs
    /// the gateway microseconds, mostly in the kernel's socket work; more threads than that
    /// needs wake each other and compete with the database and clients for the cores. One
    /// thread runs tokio's current-thread scheduler
    #[arg(long, env = "SLUICE_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<usize>,
    /// Most client connections at once, per door
    #[arg(long, env = "SLUICE_MAX_CLIENTS", default_value_t = 20_000)]
    pub max_clients: usize,
    /// Most sessions one token may hold at once where each session holds a backend connection
    /// (the MySQL door; the PostgreSQL door in session pool mode), so one token cannot take the
    /// whole pool
    #[arg(long, env = "SLUICE_MAX_SESSIONS_PER_TOKEN", default_value_t = 8)]
    pub max_sessions_per_token: usize,
    /// How often the backends' catalogs are checked for schema changes (the schema the policy
    /// engine decides with is read at start, on SIGHUP, and when this check sees a change)
    #[arg(long, env = "SLUICE_SCHEMA_REFRESH", value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub schema_refresh: Duration,
    /// Listen at once even when a backend is down. Without it, a backend that cannot be reached
    /// at start delays `ready` (a progress line per attempt on standard error) until it answers;
    /// with it, statements fail with "unavailable" until the backend is back and its schema is
    /// read in the background. A misconfigured backend (its account, database or TLS refused)
    /// stops the start either way (exit 2)
    #[arg(long, env = "SLUICE_NO_WAIT")]
    pub no_wait: bool,
    /// PostgreSQL: send every simple-protocol statement as the text it was checked as. By
    /// default a statement that differs from one seen before only in its literals, each of
    /// them compared with a column in a WHERE or ON condition, runs as one prepared statement
    /// on the backend connection, its literals bound as values typed as PostgreSQL types those
    /// literals, so the server parses and plans it once (after five runs it may keep a generic
    /// plan, as for any prepared statement); a session that changed DateStyle, TimeZone or the
    /// like sends text
    #[arg(long, env = "SLUICE_PG_LITERALS_AS_TEXT")]
    pub pg_literals_as_text: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 15m, 1h or 8h"))
}
