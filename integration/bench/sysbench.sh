#!/usr/bin/env bash
# sysbench through Sluice's MySQL door, compared with the same MariaDB reached directly.
#
# One run builds the gateway (release), installs sysbench from Debian when missing, starts a
# throwaway MariaDB in a temp dir on a free port (never the machine's own server), loads the
# sysbench tables (`oltp_read_write prepare`), starts Sluice in front of it, and runs sysbench
# against both: oltp_point_select and oltp_read_write, --db-ps-mode=auto (server-side prepared
# statements, the binary protocol) and --db-ps-mode=disable (text queries), 1 and 16 threads.
# Each cell is repeated and the median TPS, QPS, mean latency and 95th-percentile latency are
# printed with Sluice/direct ratios and the target checks for oltp_point_select at 16 threads
# (issue 18: Sluice >= 0.95x the relay; earlier: Sluice >= 0.8x direct), then the CPU time the Sluice process and the MariaDB server spent per
# transaction, the failed runs with sysbench's errors, the errors sysbench ignored, and the
# denials and backend errors in Sluice's audit log. Being below target, or a failed run, is
# reported, not a failure of the script; anything that cannot be started is a failure with a
# message.
#
# Usage: integration/bench/sysbench.sh   (as root or with sudo for the sysbench install; prints
# the report on stdout and progress on stderr). A quick check: BENCH_DURATION=5 BENCH_REPEAT=1.
#
# Settings (environment):
#   BENCH_DURATION=10           seconds per sysbench run (--time)
#   BENCH_REPEAT=3              runs per cell; the median is reported
#   BENCH_TABLES=4              sysbench --tables (sbtest1..N)
#   BENCH_TABLE_SIZE=10000      sysbench --table-size (rows per table)
#   BENCH_POOL_SIZE=16          Sluice --pool-size (backend connections). The MySQL door pins one
#                               backend connection to each client session, so it must be at least
#                               the most threads, or the extra threads wait and time out
#   BENCH_THREADS="1 16"        sysbench --threads values
#   BENCH_MODES="prepared text" prepared: --db-ps-mode=auto; text: --db-ps-mode=disable
#   BENCH_TESTS="oltp_point_select oltp_read_write"   sysbench's bundled OLTP scripts
#   BENCH_TARGETS="direct relay sluice"   (direct alone: no build, no Sluice). relay: a TCP relay
#                               that only forwards bytes (integration/examples/relay.rs), between
#                               sysbench and the same MariaDB: the floor of what any proxy costs
#                               on this machine, so the report can tell the extra hop's cost
#                               from Sluice's own work
#   BENCH_WARMUP=3              seconds of oltp_point_select at the most threads per target
#                               before measuring (0: none)
#   BENCH_SYSBENCH_ARGS=""      extra sysbench options for every run, e.g. "--skip-trx=on"
#   BENCH_KEEP=1                keep the temp dir (logs, role file, audit log) and say where it is
#   BENCH_PERF_DIR=DIR          record `perf` on the Sluice process during the first Sluice run of
#                               oltp_point_select with the most threads in the first mode; writes
#                               DIR/perf.data and DIR/perf-report.txt (needs linux-perf)
#   SLUICE_MARIADB_BINDIR       directory of mariadbd/mariadb-install-db/mariadb (default: /usr/sbin,
#                               /usr/bin, /usr/local/{sbin,bin}, then PATH)
#   CARGO_TARGET_DIR            honoured for the build
#
# How sysbench logs in to Sluice. sysbench connects with --mysql-user=agent and the token as
# --mysql-password. The door authenticates with the token as a clear-text password: over a
# plaintext connection from loopback it switches the client to the `mysql_clear_password` plugin
# (over TLS it would use caching_sha2_password's full authentication). Debian's sysbench links
# MariaDB Connector/C (libmariadb3), which accepts the switch as it is, loading
# mysql_clear_password.so (and caching_sha2_password.so, the plugin Sluice greets with) from its
# plugin directory on first use. That first load races when several threads connect at once
# ("Plugin mysql_clear_password could not be loaded: it is already loaded", error 1045, seen
# with 16 threads): Connector/C looks the plugin up without its lock and fails the loser of the
# race. LIBMYSQL_PLUGINS (exported below) makes the library load both once, when it starts,
# before any thread connects. libmysqlclient (Oracle's) refuses the switch unless the environment
# has LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1, which this script exports too, so that a sysbench built
# against either library works. Every run uses --mysql-ssl=off, so that neither target pays for
# TLS (sysbench 1.0's --mysql-ssl=on also wants client-key.pem, client-cert.pem and cacert.pem in
# the current directory).
#
# What sysbench sends. oltp_point_select: `SELECT c FROM sbtestN WHERE id=?`. oltp_read_write:
# BEGIN; 10 point selects; a simple range, a SUM range, an ORDER BY range, a DISTINCT range
# (`... WHERE id BETWEEN ? AND ?`); `UPDATE ... SET k=k+1 WHERE id=?`; `UPDATE ... SET c=? WHERE
# id=?`; `DELETE FROM sbtestN WHERE id=?`; `INSERT INTO sbtestN (id, k, c, pad) VALUES (...)`;
# COMMIT. With --db-ps-mode=auto every one of them, BEGIN and COMMIT included, is a server-side
# prepared statement (COM_STMT_PREPARE/EXECUTE). The role below grants SELECT, INSERT, UPDATE and
# DELETE on sbtest1..N with no filter and the file forbids only DROP and TRUNCATE. The policy
# engine allows BEGIN/COMMIT/ROLLBACK (policy/src/engine/session.rs), so oltp_read_write runs
# with its transactions, as it does directly: no --skip-trx.
#
# Errors. sysbench's default --mysql-ignore-errors (1213 deadlock, 1020 record changed, 1205 lock
# wait timeout) is kept: oltp_read_write with several threads meets InnoDB deadlocks directly too,
# and sysbench restarts the transaction on them. Through Sluice those errors must arrive with the
# server's codes for that to work; if they do not, the run fails and the report shows the error
# rather than hiding it. Ignored errors and reconnects are counted in the report.
#
# The MariaDB server runs with durability off (innodb_flush_log_at_trx_commit=0, no doublewrite),
# the query cache off (MariaDB's default), and as the system user `mysql` when the script runs as
# root. sysbench, MariaDB and Sluice share this machine's CPUs: the report says how busy the
# machine was with other work during each cell (CPU not used by these three, steal included).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
REPEAT=${BENCH_REPEAT:-3}
TABLES=${BENCH_TABLES:-4}
TABLE_SIZE=${BENCH_TABLE_SIZE:-10000}
POOL_SIZE=${BENCH_POOL_SIZE:-16}
THREADS=${BENCH_THREADS:-"1 16"}
MODES=${BENCH_MODES:-"prepared text"}
TESTS=${BENCH_TESTS:-"oltp_point_select oltp_read_write"}
TARGETS=${BENCH_TARGETS:-"direct relay sluice"}
WARMUP=${BENCH_WARMUP:-3}
KEEP=${BENCH_KEEP:-0}
PERF_DIR=${BENCH_PERF_DIR:-}
read -ra EXTRA_ARGS <<<"${BENCH_SYSBENCH_ARGS:-}"
DB=sbtest
AGENT_USER=agent

log() { echo "sysbench.sh: $*" >&2; }
die() {
    echo "sysbench.sh: error: $*" >&2
    exit 1
}

for v in DURATION REPEAT TABLES TABLE_SIZE POOL_SIZE WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, not '${!v}'"
done
((DURATION > 0 && REPEAT > 0 && TABLES > 0 && TABLE_SIZE > 0 && POOL_SIZE > 0)) ||
    die "BENCH_DURATION, BENCH_REPEAT, BENCH_TABLES, BENCH_TABLE_SIZE and BENCH_POOL_SIZE must be positive"
for t in $THREADS; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "BENCH_THREADS: '$t' is not a thread count"; done
for m in $MODES; do [[ $m == prepared || $m == text ]] || die "BENCH_MODES: '$m' is not prepared or text"; done
# The bundled scripts that touch only the sbtest tables.
KNOWN_TESTS=" oltp_point_select oltp_read_only oltp_read_write oltp_write_only oltp_update_index oltp_update_non_index oltp_insert oltp_delete select_random_points select_random_ranges "
for s in $TESTS; do [[ $KNOWN_TESTS == *" $s "* ]] || die "BENCH_TESTS: '$s' is not one of:$KNOWN_TESTS"; done
for t in $TARGETS; do [[ $t == direct || $t == relay || $t == sluice ]] || die "BENCH_TARGETS: '$t' is not direct, relay or sluice"; done
[[ -n $THREADS && -n $MODES && -n $TESTS && -n $TARGETS ]] ||
    die "BENCH_THREADS, BENCH_MODES, BENCH_TESTS and BENCH_TARGETS must not be empty"

# Nothing from the caller's client-library environment may redirect or alter the runs.
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT MYSQL_PWD MYSQL_HISTFILE LIBMYSQL_PLUGINS \
    LIBMYSQL_PLUGIN_DIR MARIADB_PLUGIN_DIR
export LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1 LIBMYSQL_PLUGINS="caching_sha2_password;mysql_clear_password" LC_ALL=C

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

as_root() {
    if ((IS_ROOT)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "installing packages needs root or sudo; install them yourself: $*"
    fi
}

# mariadbd refuses to run as root: as root it runs as the `mysql` system user (which Debian's
# mariadb-server package creates), like the Rust test harness does. setpriv execs the program, so
# a background `"${AS_DB_USER[@]}" prog &` leaves the program's own pid in $!.
AS_DB_USER=()
((IS_ROOT)) && AS_DB_USER=(setpriv --reuid=mysql --regid=mysql --init-groups --)
as_db_user() { "${AS_DB_USER[@]}" "$@"; }

# ---- state and cleanup ----------------------------------------------------------------------

WORK=""
MARIADB_PID=""
SLUICE_PID=""
RELAY_PID=""
PERF_PID=""

stop_pid() { # pid signal seconds
    local pid=$1 sig=$2 wait_s=$3 i
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$PERF_PID" INT 10
    stop_pid "$SLUICE_PID" TERM 10
    stop_pid "$RELAY_PID" TERM 10
    # SIGTERM is mariadbd's normal shutdown.
    stop_pid "$MARIADB_PID" TERM 60
    wait 2>/dev/null || true
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP == 1 ]]; then
            log "kept $WORK (logs, role file, audit log)"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools ----------------------------------------------------------------------------------

# Like throwaway/src/binaries.rs: $SLUICE_MARIADB_BINDIR, the usual system directories
# (/usr/sbin is not on every user's PATH), then PATH; the mariadb* names before the mysql* ones.
find_mariadb_prog() { # names...
    local name dir
    local IFS=:
    for name in "$@"; do
        for dir in ${SLUICE_MARIADB_BINDIR:-} /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin $PATH; do
            [[ -n $dir && -x $dir/$name && -f $dir/$name ]] && { echo "$dir/$name"; return 0; }
        done
    done
    return 1
}
MARIADBD=$(find_mariadb_prog mariadbd mysqld) || true
INSTALL_DB=$(find_mariadb_prog mariadb-install-db mysql_install_db) || true
MARIADB_CLIENT=$(find_mariadb_prog mariadb mysql) || true
[[ -n $MARIADBD && -n $INSTALL_DB ]] ||
    die "MariaDB server programs not found: looked for mariadbd (or mysqld) and mariadb-install-db (or mysql_install_db) in \$SLUICE_MARIADB_BINDIR, /usr/sbin, /usr/bin, /usr/local/{sbin,bin} and \$PATH; install the Debian packages mariadb-server and mariadb-client (apt-get install -y --no-install-recommends mariadb-server mariadb-client), or set SLUICE_MARIADB_BINDIR"
[[ -n $MARIADB_CLIENT ]] ||
    die "the MariaDB client (mariadb or mysql) was not found; install the Debian package mariadb-client"
if ((IS_ROOT)); then
    id mysql >/dev/null 2>&1 ||
        die "running as root, so MariaDB must run as the system user 'mysql', which does not exist (the Debian package mariadb-server creates it)"
    command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to run MariaDB as 'mysql'"
fi

SYSBENCH=$(command -v sysbench || true)
if [[ -z $SYSBENCH ]]; then
    command -v apt-get >/dev/null || die "sysbench is not installed and this is not a Debian-like system; install sysbench"
    log "installing sysbench (apt-get install sysbench)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sysbench >/dev/null ||
        die "apt-get install sysbench failed"
    SYSBENCH=$(command -v sysbench || true)
    [[ -n $SYSBENCH ]] || die "sysbench still not found after apt-get install"
fi
SYSBENCH_VERSION=$("$SYSBENCH" --version 2>/dev/null | awk '{print $2}' | head -n 1)
[[ -n $SYSBENCH_VERSION ]] || die "cannot read the version of $SYSBENCH"
# (Captured, not piped into grep -q: with pipefail, grep's early exit would fail the pipe.)
[[ $("$SYSBENCH" --help 2>/dev/null) == *--mysql-host* ]] ||
    die "$SYSBENCH has no MySQL driver (sysbench --help lists no --mysql-host); install Debian's sysbench"
SYSBENCH_LIB=$(ldd "$SYSBENCH" 2>/dev/null | awk '/libmariadb|libmysqlclient/ && !n++ {print $1}' || true)

max_threads=0
for t in $THREADS; do ((t > max_threads)) && max_threads=$t; done
if [[ " $TARGETS " == *" sluice "* ]] && ((max_threads > POOL_SIZE)); then
    log "warning: $max_threads threads but BENCH_POOL_SIZE=$POOL_SIZE: the MySQL door holds a backend connection per client session, so the extra threads will wait for one"
fi

# ---- build ----------------------------------------------------------------------------------

# Only when Sluice is a target: BENCH_TARGETS=direct measures MariaDB alone, without a build.
SLUICE=""
git_rev="not built (BENCH_TARGETS=$TARGETS)"
if [[ " $TARGETS " == *" sluice "* ]]; then
    log "building the gateway (cargo build --release -p sluice-proxy --bin sluice)"
    cargo build --release --locked -p sluice-proxy --bin sluice >&2 || die "cargo build failed"
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
    SLUICE=$TARGET_DIR/release/sluice
    [[ -x $SLUICE ]] || die "built binary not found at $SLUICE"
    # Read now: the tree may change while the benchmark runs.
    git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- proxy policy tokens 2>/dev/null || git_rev+="+dirty"
    git_rev+=" (release)"
    [[ $("$SLUICE" serve --help 2>/dev/null) == *--mysql-listen* ]] ||
        die "this sluice has no MySQL door (sluice serve --help lists no --mysql-listen); run with BENCH_TARGETS=direct"
fi
RELAY=""
if [[ " $TARGETS " == *" relay "* ]]; then
    log "building the relay (cargo build --release -p sluice-integration --example relay)"
    cargo build --release --locked -p sluice-integration --example relay >&2 || die "cargo build of the relay failed"
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
    RELAY=$TARGET_DIR/release/examples/relay
    [[ -x $RELAY ]] || die "built relay not found at $RELAY"
fi

# ---- scratch dir and ports ------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-sysbench.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/mariadb/run"
if ((IS_ROOT)); then chown -R mysql:mysql "$WORK/mariadb"; fi

declare -A HANDED_OUT=()
# Ports are picked below the kernel's ephemeral range when there is room (an outgoing connection's
# local port there makes a later bind fail although nothing listens).
read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
if ((EPHEMERAL_LOW > 12000)); then
    PORT_MIN=10000 PORT_SPAN=$((EPHEMERAL_LOW - 10000))
else
    PORT_MIN=20000 PORT_SPAN=40000
fi
# Sets FREE_PORT to a port on 127.0.0.1 that no socket uses now and that this script has not
# handed out before. Not reserved: the servers' starts retry on "address already in use".
free_port() {
    local port i
    for ((i = 0; i < 500; i++)); do
        port=$((PORT_MIN + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
        [[ -z ${HANDED_OUT[$port]:-} && $port != 3306 && $port != 33060 ]] || continue
        if command -v ss >/dev/null; then
            [[ -z $(ss -Htan "( sport = :$port )" 2>/dev/null) ]] || continue
        elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        HANDED_OUT[$port]=1
        FREE_PORT=$port
        return 0
    done
    die "cannot find a free port on 127.0.0.1"
}

# ---- MariaDB --------------------------------------------------------------------------------

MY_DIR=$WORK/mariadb
MARIADB_VERSION=$("$MARIADBD" --version 2>/dev/null | sed -nE 's/.*Ver ([^ ]+).*/\1/p' | head -n 1)
log "starting a throwaway MariaDB ${MARIADB_VERSION:-?} in $MY_DIR/data"
# --no-defaults must come first: the machine's my.cnf must not leak in. root gets no password
# (not unix_socket authentication), so TCP clients can log in as root.
as_db_user "$INSTALL_DB" --no-defaults --datadir="$MY_DIR/data" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >"$WORK/logs/install-db.log" 2>&1 ||
    die "$INSTALL_DB failed:$(echo; tail -n 20 "$WORK/logs/install-db.log")"

my_direct() { "$MARIADB_CLIENT" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" -u root "$@"; }

MY_PORT=""
for attempt in 1 2 3; do
    free_port
    port=$FREE_PORT
    : >"$WORK/logs/mariadbd.log"
    "${AS_DB_USER[@]}" "$MARIADBD" --no-defaults \
        --datadir="$MY_DIR/data" \
        --socket="$MY_DIR/run/mariadb.sock" \
        --pid-file="$MY_DIR/run/mariadbd.pid" \
        --tmpdir="$MY_DIR/run" \
        --port="$port" \
        --bind-address=127.0.0.1 \
        --skip-name-resolve \
        --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_general_ci \
        --default-time-zone=+00:00 \
        --max-connections=1000 \
        --innodb-flush-log-at-trx-commit=0 \
        --innodb-doublewrite=0 \
        --innodb-buffer-pool-size=128M \
        --innodb-use-native-aio=0 \
        >"$WORK/logs/mariadbd.log" 2>&1 &
    MARIADB_PID=$!
    started=0
    for ((i = 0; i < 600; i++)); do
        kill -0 "$MARIADB_PID" 2>/dev/null || break
        if MY_PORT=$port my_direct -e 'SELECT 1' >/dev/null 2>&1; then
            started=1
            break
        fi
        sleep 0.1
    done
    if ((started)); then
        MY_PORT=$port
        break
    fi
    kill -0 "$MARIADB_PID" 2>/dev/null &&
        die "MariaDB did not accept connections within 60s; its log ends with:$(echo; tail -n 20 "$WORK/logs/mariadbd.log")"
    MARIADB_PID=""
    grep -qi 'address already in use' "$WORK/logs/mariadbd.log" ||
        die "MariaDB did not start; its log ends with:$(echo; tail -n 20 "$WORK/logs/mariadbd.log")"
    log "MariaDB did not start on port $port (attempt $attempt: address already in use)"
done
[[ -n $MY_PORT ]] || die "MariaDB did not start: no free port after 3 attempts:$(echo; tail -n 5 "$WORK/logs/mariadbd.log")"
MARIADB_VERSION=$(my_direct -N -e 'SELECT VERSION()' 2>/dev/null || echo "${MARIADB_VERSION:-?}")

my_direct -e "CREATE DATABASE $DB" || die "CREATE DATABASE $DB failed"

# Options every sysbench command shares (connection options are added per target).
SB_COMMON=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-db="$DB" --mysql-ssl=off
    --tables="$TABLES" --table-size="$TABLE_SIZE")

log "sysbench oltp_read_write prepare --tables=$TABLES --table-size=$TABLE_SIZE"
"$SYSBENCH" oltp_read_write "${SB_COMMON[@]}" --mysql-port="$MY_PORT" --mysql-user=root \
    prepare >"$WORK/logs/sysbench-prepare.log" 2>&1 ||
    die "sysbench prepare failed:$(echo; tail -n 20 "$WORK/logs/sysbench-prepare.log")"
my_direct "$DB" -e "$(for ((n = 1; n <= TABLES; n++)); do echo "ANALYZE TABLE sbtest$n;"; done)" >/dev/null ||
    die "ANALYZE TABLE on the sysbench tables failed"

# ---- Sluice ---------------------------------------------------------------------------------

SLUICE_PORT=""
TOKEN=""
if [[ " $TARGETS " == *" sluice "* ]]; then
    {
        echo "forbidden_operations: [DROP, TRUNCATE]"
        echo "roles:"
        echo "  sysbench:"
        echo "    description: sysbench's OLTP scripts (point selects, ranges, updates, delete + insert)"
        echo "    tables:"
        for ((n = 1; n <= TABLES; n++)); do
            echo "      sbtest$n: [SELECT, INSERT, UPDATE, DELETE]"
        done
    } >"$WORK/roles.yaml"
    "$SLUICE" check --rbac-config "$WORK/roles.yaml" >"$WORK/logs/check.log" 2>&1 ||
        die "the benchmark's role file is refused:$(echo; cat "$WORK/logs/check.log")"
    "$SLUICE" keygen --out-dir "$WORK/keys" >"$WORK/logs/keygen.log" 2>&1 ||
        die "sluice keygen failed:$(echo; cat "$WORK/logs/keygen.log")"

    started=0
    for attempt in 1 2 3; do
        free_port
        SLUICE_PORT=$FREE_PORT
        log "starting Sluice's MySQL door on 127.0.0.1:$SLUICE_PORT (pool $POOL_SIZE)"
        SLUICE_LOG=${SLUICE_LOG:-warn} "$SLUICE" serve \
            --mysql-listen "127.0.0.1:$SLUICE_PORT" \
            --mysql-backend "mysql://root@127.0.0.1:$MY_PORT/$DB" \
            --rbac-config "$WORK/roles.yaml" \
            --public-key "$WORK/keys/issuer.pub" \
            --pool-size "$POOL_SIZE" --max-sessions-per-token "$POOL_SIZE" \
            --drain-timeout 2s \
            --audit-log "$WORK/audit.log" \
            >"$WORK/logs/sluice.out" 2>"$WORK/logs/sluice.err" &
        SLUICE_PID=$!
        for ((i = 0; i < 300; i++)); do
            if grep -q '^sluice ready: ' "$WORK/logs/sluice.out" 2>/dev/null; then
                started=1
                break
            fi
            kill -0 "$SLUICE_PID" 2>/dev/null || break
            sleep 0.1
        done
        ((started)) && break
        ((i < 300)) || die "sluice serve printed no ready line within 30s:$(echo; tail -n 20 "$WORK/logs/sluice.err")"
        SLUICE_PID=""
        grep -qi 'address already in use' "$WORK/logs/sluice.err" ||
            die "sluice serve exited at start:$(echo; tail -n 20 "$WORK/logs/sluice.err")"
    done
    ((started)) || die "sluice serve did not start: no free port after 3 attempts:$(echo; tail -n 5 "$WORK/logs/sluice.err")"
    ready_addr=$(sed -nE 's/^sluice ready: .*mysql=([^ ]+).*/\1/p' "$WORK/logs/sluice.out" | head -n 1)
    [[ $ready_addr == "127.0.0.1:$SLUICE_PORT" ]] ||
        die "sluice reported '$(head -n 1 "$WORK/logs/sluice.out")', expected mysql=127.0.0.1:$SLUICE_PORT"

    # Long enough for every run, with room to spare.
    n_cells=$(($(wc -w <<<"$TESTS") * $(wc -w <<<"$MODES") * $(wc -w <<<"$THREADS")))
    lifetime=$((n_cells * REPEAT * (DURATION + 5) * 3 + 3600))
    ((lifetime <= 86400)) || die "the runs would outlive the longest token lifetime (24h); lower BENCH_DURATION or BENCH_REPEAT"
    TOKEN=$("$SLUICE" token create --key "$WORK/keys/issuer.key" --role sysbench --tenant-id bench \
        --expires-in "${lifetime}s" --label sysbench --rbac-config "$WORK/roles.yaml" \
        2>"$WORK/logs/token.log") || die "sluice token create failed:$(echo; cat "$WORK/logs/token.log")"
fi

# ---- the relay ------------------------------------------------------------------------------

RELAY_PORT=""
if [[ -n $RELAY ]]; then
    # shellcheck source=relay.bash
    source "$ROOT/integration/bench/relay.bash"
    start_relay "$RELAY" "$MY_PORT" MariaDB
fi

# ---- running sysbench -----------------------------------------------------------------------

target_port() {
    case $1 in
    direct) echo "$MY_PORT" ;;
    relay) echo "$RELAY_PORT" ;;
    sluice) echo "$SLUICE_PORT" ;;
    esac
}
ps_mode() { [[ $1 == prepared ]] && echo auto || echo disable; }
test_label() { echo "${1#oltp_}"; }

HZ=$(getconf CLK_TCK)
# CPU time (clock ticks, all threads) a process has used so far.
proc_ticks() { [[ -n $1 && -r /proc/$1/stat ]] && awk '{print $14 + $15}' "/proc/$1/stat" || echo ""; }
# The machine's CPU ticks: busy (user, nice, system, irq, softirq, steal) and total (with idle).
machine_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# Sets CHILD_TICKS to the CPU time (ticks) of this shell's finished children, from bash's `times`.
# Neither `times | awk` nor `$(children_ticks)`: both run `times` in a fresh subshell, which has
# no children yet.
children_ticks() {
    local f=$WORK/times.$BASHPID
    times >"$f"
    CHILD_TICKS=$(awk -v hz="$HZ" 'NR == 2 {
        n = split($1 " " $2, p, " "); s = 0
        for (i = 1; i <= n; i++) { split(p[i], ms, "m"); sub(/s$/, "", ms[2]); s += ms[1] * 60 + ms[2] }
        printf "%.0f", s * hz }' "$f")
    rm -f "$f"
}

# Runs sysbench; prints "TPS QPS LAT_AVG_MS LAT_P95_MS PROXY_US_PER_TXN SERVER_US_PER_TXN
# OTHERS_PCT IGNORED_ERRORS RECONNECTS" on success (PROXY_US_PER_TXN: the CPU of Sluice or the
# relay; "-" for direct). Runs in a command substitution, so `times` counts only this run's children. Output goes to the log
# file named by $3.
sysbench_run() { # target seconds logfile test mode threads
    local target=$1 secs=$2 logf=$3 test=$4 mode=$5 threads=$6
    local port rc=0 s0 s1 m0 m1 c0 c1 mt0 mt1 tps qps lat p95 txns ign rec cpu="-" srv="-" others="-"
    port=$(target_port "$target")
    local conn=(--mysql-port="$port" --mysql-user=root)
    [[ $target == sluice ]] && conn=(--mysql-port="$port" --mysql-user="$AGENT_USER" --mysql-password="$TOKEN")
    # A run that hangs (a stuck session) is ended 2 minutes after its duration.
    local guard=(timeout -k 10 "$((secs + 120))")
    # The process between sysbench and MariaDB, if any: its CPU time is reported per transaction.
    local proxy_pid=""
    case $target in
    sluice) proxy_pid=$SLUICE_PID ;;
    relay) proxy_pid=$RELAY_PID ;;
    esac
    s0=$(proc_ticks "$proxy_pid")
    m0=$(proc_ticks "$MARIADB_PID")
    children_ticks
    c0=$CHILD_TICKS
    mt0=$(machine_ticks)
    "${guard[@]}" "$SYSBENCH" "$test" "${SB_COMMON[@]}" "${conn[@]}" \
        --threads="$threads" --time="$secs" --events=0 --report-interval=0 \
        --db-ps-mode="$(ps_mode "$mode")" "${EXTRA_ARGS[@]}" run >"$logf" 2>&1 || rc=$?
    mt1=$(machine_ticks)
    children_ticks
    c1=$CHILD_TICKS
    s1=$(proc_ticks "$proxy_pid")
    m1=$(proc_ticks "$MARIADB_PID")
    ((rc != 124 && rc != 137)) || echo "sysbench: FATAL: killed after $((secs + 120))s (hung)" >>"$logf"
    tps=$(sed -nE 's/^ *transactions: +[0-9]+ +\(([0-9.]+) per sec\.\).*/\1/p' "$logf" | tail -n 1)
    qps=$(sed -nE 's/^ *queries: +[0-9]+ +\(([0-9.]+) per sec\.\).*/\1/p' "$logf" | tail -n 1)
    txns=$(sed -nE 's/^ *transactions: +([0-9]+) .*/\1/p' "$logf" | tail -n 1)
    lat=$(sed -nE 's/^ *avg: +([0-9.]+).*/\1/p' "$logf" | tail -n 1)
    p95=$(sed -nE 's/^ *95th percentile: +([0-9.]+).*/\1/p' "$logf" | tail -n 1)
    ign=$(sed -nE 's/^ *ignored errors: +([0-9]+) .*/\1/p' "$logf" | tail -n 1)
    rec=$(sed -nE 's/^ *reconnects: +([0-9]+) .*/\1/p' "$logf" | tail -n 1)
    if ((rc != 0)) || [[ -z $tps || -z $qps || -z $lat || -z $p95 || -z $txns ]]; then
        return 1
    fi
    if ((txns > 0)); then
        if [[ -n $proxy_pid && -n $s0 && -n $s1 ]]; then
            cpu=$(awk -v d="$((s1 - s0))" -v hz="$HZ" -v n="$txns" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
        fi
        if [[ -n $m0 && -n $m1 ]]; then
            srv=$(awk -v d="$((m1 - m0))" -v hz="$HZ" -v n="$txns" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
        fi
    fi
    # What the machine's CPUs did besides sysbench, MariaDB and Sluice (percent of all CPUs).
    others=$(awk -v a="$mt0" -v b="$mt1" -v ours="$((${s1:-0} - ${s0:-0} + ${m1:-0} - ${m0:-0} + c1 - c0))" 'BEGIN {
        split(a, x, " "); split(b, y, " "); tot = y[2] - x[2]
        if (tot <= 0) { print 0; exit }
        o = (y[1] - x[1] - ours) / tot * 100; if (o < 0) o = 0; printf "%.0f", o }')
    echo "$tps $qps $lat $p95 $cpu $srv $others ${ign:-0} ${rec:-0}"
}

# Percentage of the machine's CPU busy over 2 seconds (while nothing of this benchmark runs, it
# tells whether other processes would disturb the numbers).
machine_busy() {
    local a b
    a=$(machine_ticks)
    sleep 2
    b=$(machine_ticks)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] - x[2] > 0) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print 0 }'
}
loadavg() { awk '{print $1}' /proc/loadavg; }

# Sluice's audit log: keep the denials and backend errors of each run, then empty it (it gets one
# line per statement).
DENIALS=$WORK/denials.jsonl
: >"$DENIALS"
collect_audit() {
    [[ -f $WORK/audit.log ]] || return 0
    sleep 0.3 # the audit writer is asynchronous
    grep -E '"decision":"(deny|error)"' "$WORK/audit.log" >>"$DENIALS" || true
    : >"$WORK/audit.log"
}
# sysbench's own error lines, without its "ignored errors:" statistic.
sysbench_errors() { grep -iE 'error|fatal|abort|fail' "$1" | grep -v 'ignored errors:' || true; }

# Smoke test: every target answers one second of point selects as text queries.
for target in $TARGETS; do
    if ! sysbench_run "$target" 1 "$WORK/logs/smoke-$target.log" oltp_point_select text 1 >/dev/null; then
        [[ $target == sluice ]] && collect_audit
        die "sysbench oltp_point_select against $target failed:$(echo; sysbench_errors "$WORK/logs/smoke-$target.log" | head -n 20)$( [[ $target == sluice ]] && { echo; echo 'sluice stderr:'; tail -n 10 "$WORK/logs/sluice.err"; echo 'audit denials:'; head -n 5 "$DENIALS"; })"
    fi
    [[ $target == sluice ]] && collect_audit
done
if ((WARMUP > 0)); then
    for target in $TARGETS; do
        log "warm-up: $target oltp_point_select --threads=$max_threads, ${WARMUP}s"
        sysbench_run "$target" "$WARMUP" "$WORK/logs/warmup-$target.log" oltp_point_select text "$max_threads" >/dev/null ||
            log "warm-up against $target failed:$(echo; sysbench_errors "$WORK/logs/warmup-$target.log" | sort | uniq -c | sort -rn | head -n 5)"
        [[ $target == sluice ]] && collect_audit
    done
fi

BUSY_BEFORE=$(machine_busy)
LOAD_BEFORE=$(loadavg)
((BUSY_BEFORE <= 10)) || log "warning: the machine is ${BUSY_BEFORE}% busy before measuring (other processes); the numbers will be disturbed"
declare -A TPS=() QPS=() LAT=() P95=() CPU=() SRV=() OTHERS=() LOADS=() IGNORED=() RECONNECTS=() FAILED=()
FAILURES=$WORK/failures.txt
: >"$FAILURES"
n_targets=$(wc -w <<<"$TARGETS")
total=$(($(wc -w <<<"$TESTS") * $(wc -w <<<"$MODES") * $(wc -w <<<"$THREADS") * REPEAT * n_targets))
run_no=0
perf_done=0
first_mode=${MODES%% *}
log "measuring: $total runs of ${DURATION}s (load average before: $LOAD_BEFORE, CPU busy: ${BUSY_BEFORE}%)"
for test in $TESTS; do
    for mode in $MODES; do
        for t in $THREADS; do
            cell="$test|$mode|$t"
            for ((rep = 1; rep <= REPEAT; rep++)); do
                # The targets take turns within a repetition, so drift hits them alike.
                for target in $TARGETS; do
                    run_no=$((run_no + 1))
                    key="$cell|$target"
                    logf="$WORK/logs/run-$test-$mode-t$t-$target-$rep.log"
                    perf_now=0
                    if [[ -n $PERF_DIR && $perf_done == 0 && $target == sluice && $test == oltp_point_select && $mode == "$first_mode" && $t == "$max_threads" ]]; then
                        perf_now=1
                        perf_done=1
                        mkdir -p "$PERF_DIR"
                        perf record -F 499 -e cpu-clock --call-graph dwarf,16384 -p "$SLUICE_PID" -o "$PERF_DIR/perf.data" \
                            >"$PERF_DIR/perf-record.log" 2>&1 &
                        PERF_PID=$!
                        sleep 0.5
                    fi
                    load=$(loadavg)
                    LOADS[$cell]+="$load "
                    what="[$run_no/$total] $(test_label "$test") $mode --threads=$t $target #$rep (load $load)"
                    if result=$(sysbench_run "$target" "$DURATION" "$logf" "$test" "$mode" "$t"); then
                        read -r r_tps r_qps r_lat r_p95 r_cpu r_srv r_oth r_ign r_rec <<<"$result"
                        TPS[$key]+="$r_tps "
                        QPS[$key]+="$r_qps "
                        LAT[$key]+="$r_lat "
                        P95[$key]+="$r_p95 "
                        [[ $r_cpu == - ]] || CPU[$key]+="$r_cpu "
                        [[ $r_srv == - ]] || SRV[$key]+="$r_srv "
                        OTHERS[$cell]+="$r_oth "
                        IGNORED[$key]=$((${IGNORED[$key]:-0} + r_ign))
                        RECONNECTS[$key]=$((${RECONNECTS[$key]:-0} + r_rec))
                        log "$what: $r_tps tps, $r_qps qps, $r_lat ms avg, $r_p95 ms p95$([[ $r_cpu == - ]] || echo ", $target CPU $r_cpu us/txn"), others ${r_oth}% CPU"
                    else
                        FAILED[$key]=1
                        log "$what: FAILED (errors below at the end)"
                        {
                            echo "== $(test_label "$test") $mode --threads=$t, $target, run $rep:"
                            sysbench_errors "$logf" | sort | uniq -c | sort -rn | head -n 8
                        } >>"$FAILURES"
                    fi
                    if ((perf_now)); then
                        stop_pid "$PERF_PID" INT 60
                        PERF_PID=""
                    fi
                    [[ $target == sluice ]] && collect_audit
                done
            done
        done
    done
done

BUSY_AFTER=$(machine_busy)

# ---- report ---------------------------------------------------------------------------------

median() { # numbers... -> median (empty if none)
    printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {
        if (NR == 0) exit
        if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
maximum() { printf '%s\n' "$@" | grep -v '^$' | sort -g | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }

cell_value() { # key TPS|QPS|LAT|P95|CPU|SRV -> median, or FAIL / -
    local key=$1 kind=$2 vals
    if [[ -n ${FAILED[$key]:-} ]]; then echo "FAIL"; return; fi
    case $kind in
    TPS) vals=${TPS[$key]:-} ;;
    QPS) vals=${QPS[$key]:-} ;;
    LAT) vals=${LAT[$key]:-} ;;
    P95) vals=${P95[$key]:-} ;;
    CPU) vals=${CPU[$key]:-} ;;
    SRV) vals=${SRV[$key]:-} ;;
    esac
    [[ -n $vals ]] || { echo "-"; return; }
    # shellcheck disable=SC2086
    median $vals
}
num() { [[ $1 =~ ^[0-9.]+$ ]] && echo "$1" || echo ""; }
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

echo
echo "sysbench through Sluice's MySQL door vs MariaDB directly"
echo "  sluice $git_rev, MariaDB $MARIADB_VERSION (innodb_flush_log_at_trx_commit=0), sysbench $SYSBENCH_VERSION (${SYSBENCH_LIB:-client library unknown})"
echo "  $TABLES tables x $TABLE_SIZE rows, Sluice --pool-size $POOL_SIZE; $(nproc) CPU(s), all on this machine"
echo "  sysbench --time=$DURATION --mysql-ssl=off${EXTRA_ARGS[*]:+ ${EXTRA_ARGS[*]}}; prepared = --db-ps-mode=auto, text = --db-ps-mode=disable; median of $REPEAT run(s) per cell"
echo "  Sluice role: sysbench (SELECT, INSERT, UPDATE, DELETE on sbtest1..$TABLES, no filters), user $AGENT_USER, token as password; audit log to a file"
echo "  machine busy before measuring: ${BUSY_BEFORE}% (load average $LOAD_BEFORE), after: ${BUSY_AFTER}% (over 10% disturbs the numbers)"
echo
hdr_fmt="%-13s %-8s %3s | %9s %9s %9s %5s %5s | %9s %9s %5s | %7s %7s | %7s %7s | %5s %5s\n"
# shellcheck disable=SC2059
printf "$hdr_fmt" test mode thr "direct" "relay" "sluice" "R/D" "S/D" "direct" "sluice" "S/D" "avg dir" "avg slc" "p95 dir" "p95 slc" "other" "load"
# shellcheck disable=SC2059
printf "$hdr_fmt" "" "" "" "TPS" "TPS" "TPS" "TPS" "TPS" "QPS" "QPS" "QPS" "ms" "ms" "ms" "ms" "CPU%" "max"
printf '%s\n' "-------------------------------------------------------------------------------------------------------------------------------------------"
declare -A CHECK=() RELAY_CHECK=()
for test in $TESTS; do
    for mode in $MODES; do
        for t in $THREADS; do
            cell="$test|$mode|$t"
            vals=()
            for kind in TPS QPS LAT P95; do
                for target in direct sluice; do
                    if has_target "$target"; then vals+=("$(cell_value "$cell|$target" "$kind")"); else vals+=("-"); fi
                done
            done
            relay_tps="-"
            has_target relay && relay_tps=$(cell_value "$cell|relay" TPS)
            rd_t=$(ratio "$(num "$relay_tps")" "$(num "${vals[0]}")")
            sd_t=$(ratio "$(num "${vals[1]}")" "$(num "${vals[0]}")")
            sd_q=$(ratio "$(num "${vals[3]}")" "$(num "${vals[2]}")")
            CHECK[$cell]=$sd_t
            RELAY_CHECK[$cell]=$rd_t
            # shellcheck disable=SC2086
            oth=$(maximum ${OTHERS[$cell]:-})
            # shellcheck disable=SC2086
            ld=$(maximum ${LOADS[$cell]:-})
            # shellcheck disable=SC2059
            printf "$hdr_fmt" "$(test_label "$test")" "$mode" "$t" "${vals[0]}" "$relay_tps" "${vals[1]}" "${rd_t:--}" "${sd_t:--}" \
                "${vals[2]}" "${vals[3]}" "${sd_q:--}" "${vals[4]}" "${vals[5]}" "${vals[6]}" "${vals[7]}" "${oth:--}" "${ld:--}"
        done
    done
done
echo "R/D = relay / direct: a proxy that only forwards bytes, the floor of what the extra hop costs here;"
echo "S/D = Sluice / direct; avg, p95 = sysbench's mean and 95th-percentile latency per transaction (medians over the runs);"
echo "other CPU% = the most, over the cell's runs, of the machine's CPU used by anything but sysbench, MariaDB and Sluice"
echo "(steal included); load max = the highest 1-minute load average seen before the cell's runs (it includes this"
echo "benchmark's previous run)"
echo
echo "CPU per transaction (microseconds, all threads of the process; median):"
cpu_fmt="%-13s %-8s %3s | %10s %10s | %10s %10s %10s | %6s\n"
# shellcheck disable=SC2059
printf "$cpu_fmt" test mode thr "relay" "Sluice" "MariaDB" "MariaDB" "MariaDB" "MariaDB"
# shellcheck disable=SC2059
printf "$cpu_fmt" "" "" "" "" "" "direct" "via relay" "via Sluice" "S/D"
for test in $TESTS; do
    for mode in $MODES; do
        for t in $THREADS; do
            cell="$test|$mode|$t"
            s_c="-" d_m="-" s_m="-" r_c="-" r_m="-"
            if has_target relay; then
                r_c=$(cell_value "$cell|relay" CPU)
                r_m=$(cell_value "$cell|relay" SRV)
            fi
            if has_target sluice; then
                s_c=$(cell_value "$cell|sluice" CPU)
                s_m=$(cell_value "$cell|sluice" SRV)
            fi
            has_target direct && d_m=$(cell_value "$cell|direct" SRV)
            r=$(ratio "$(num "$s_m")" "$(num "$d_m")")
            # shellcheck disable=SC2059
            printf "$cpu_fmt" "$(test_label "$test")" "$mode" "$t" "$r_c" "$s_c" "$d_m" "$r_m" "$s_m" "${r:--}"
        done
    done
done
echo

verdict() { # ratio target -> PASS/BELOW/n/a
    [[ -n $1 ]] || { echo "n/a"; return; }
    awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 >= t + 0) ? "PASS" : "BELOW" }'
}
if [[ " $TESTS " == *" oltp_point_select "* ]]; then
    for mode in $MODES; do
        sd=${CHECK[oltp_point_select|$mode|$max_threads]:-}
        rd=${RELAY_CHECK[oltp_point_select|$mode|$max_threads]:-}
        cell="oltp_point_select|$mode|$max_threads"
        sr=$(ratio "$(num "$(cell_value "$cell|sluice" TPS)")" "$(num "$(cell_value "$cell|relay" TPS)")")
        echo "target point_select --threads=$max_threads $mode: Sluice/relay TPS = ${sr:-n/a} (issue 18: >= 0.95: $(verdict "$sr" 0.95)); Sluice/direct = ${sd:-n/a} (earlier target >= 0.80: $(verdict "$sd" 0.8)); relay/direct = ${rd:-n/a}"
    done
fi

ignored_report=""
for test in $TESTS; do
    for mode in $MODES; do
        for t in $THREADS; do
            for target in $TARGETS; do
                key="$test|$mode|$t|$target"
                i=${IGNORED[$key]:-0} r=${RECONNECTS[$key]:-0}
                ((i == 0 && r == 0)) && continue
                ignored_report+="  $(test_label "$test") $mode --threads=$t $target: $i ignored error(s), $r reconnect(s) (all runs)"$'\n'
            done
        done
    done
done
if [[ -n $ignored_report ]]; then
    echo
    echo "Errors sysbench ignored and retried (--mysql-ignore-errors: deadlocks, lock waits), and reconnects:"
    printf '%s' "$ignored_report"
fi
if [[ -s $FAILURES ]]; then
    echo
    echo "Failed runs (matching lines of sysbench's output, with counts):"
    cat "$FAILURES"
fi
if [[ -s $DENIALS ]]; then
    echo
    echo "Sluice denials and backend errors in the audit log ($(wc -l <"$DENIALS") lines; numbers shown as N):"
    if command -v jq >/dev/null; then
        jq -r '"\(.decision) [\(.rule // "-")] \(.reason // "-") <- \(.statement // "-")"' "$DENIALS" 2>/dev/null |
            sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 20
    else
        sed -E 's/[0-9]+/N/g' "$DENIALS" | sort | uniq -c | sort -rn | head -n 20
    fi
fi
if [[ -n $PERF_DIR && -f $PERF_DIR/perf.data ]]; then
    {
        echo "== self time (top 60)"
        perf report -i "$PERF_DIR/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
            grep '%' | head -n 60
        echo
        echo "== inclusive time (top 200)"
        perf report -i "$PERF_DIR/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
            grep '%' | head -n 200
    } >"$PERF_DIR/perf-report.txt" || true
    echo
    echo "perf profile of the Sluice process: $PERF_DIR/perf.data, summary in $PERF_DIR/perf-report.txt"
fi
