#!/usr/bin/env bash
# pgbench through Sluice, compared with the same PostgreSQL reached directly and through PgBouncer.
#
# One run builds the gateway (release), starts a throwaway PostgreSQL in a temp dir on a free port
# (never the machine's own server), loads `pgbench -i`, starts PgBouncer (transaction mode) and
# Sluice (transaction mode, same pool size) in front of it, and runs pgbench against all three,
# plus "sluice-noaudit" (a second Sluice, started with --no-audit), "confined" (PostgreSQL
# directly, running the statement Sluice sends for -S: the role's filter makes it a derived
# table) and "pgbouncer-confined" (PgBouncer forwarding that statement), so the database's share
# of the cost of confinement is measured apart from the proxy's:
# built-in scripts select-only (-S) and TPC-B-like (the default), protocols -M simple and
# -M prepared, 1, 16 and 200 clients. Each cell is repeated, the targets taking turns within a
# round, and the median TPS and median mean latency are printed, with Sluice/PgBouncer and
# Sluice/direct ratios, then the CPU time each proxy process (PgBouncer, Sluice) spent per
# transaction and the user-space part of it (the proxy's own code; the rest is the kernel's),
# and the target checks for -S (Sluice, audit on and off, >= 1.0x PgBouncer's TPS at
# 16 clients and more, >= 0.9x at 1 client; Sluice's CPU per transaction <= 1.2x PgBouncer's),
# the failed runs with pgbench's errors, and the denials and backend errors in Sluice's audit log.
#
# PgBouncer keeps named prepared statements in transaction mode from 1.21 on. When the installed
# one is older (Debian 12 has 1.18) and the prepared protocol is measured, PgBouncer is built from
# the newest Debian release's source package (deb.debian.org, checked against the archive's
# checksum) into target/bench-tools, once; BENCH_PGBOUNCER=PATH names a binary to use instead. Being below target, or a failed run, is reported, not a failure of
# the script; anything that cannot be started is a failure with a message.
#
# Usage: integration/bench/pgbench.sh   (as root or with sudo for the PgBouncer install; prints the
# report on stdout and progress on stderr). A quick check: BENCH_DURATION=5 BENCH_REPEAT=1.
#
# Settings (environment):
#   BENCH_DURATION=10           seconds per pgbench run (-T)
#   BENCH_REPEAT=3              runs per cell; the median is reported
#   BENCH_SCALE=10              pgbench -i scale
#   BENCH_POOL_SIZE=16          backend connections: Sluice --pool-size and PgBouncer default_pool_size
#   BENCH_JOBS=2                pgbench -j (capped at the client count)
#   BENCH_CLIENTS="1 16 200"    client counts
#   BENCH_MODES="simple prepared"
#   BENCH_SCRIPTS="select-only tpcb-like"
#   BENCH_TARGETS="direct confined pgbouncer pgbouncer-confined sluice sluice-noaudit"
#                               relay: a TCP relay that only forwards bytes (integration/examples/
#                               relay.rs, as many worker threads as the gateway), between pgbench
#                               and PostgreSQL, one server connection per client: the floor of
#                               what any proxy's extra hop costs on this machine (not in the default)
#                               sluice-noaudit: a second Sluice, the same but for --no-audit
#                               sluice-before: the binary BENCH_BEFORE_BIN (an earlier build, to
#                               measure a change before and after in one run), audit log on
#                               pgbouncer-confined: PgBouncer (the same one, needs pgbouncer in
#                               the targets) forwarding the statement Sluice sends for -S: a pooler
#                               whose database does the work Sluice's does (select-only only)
#                               confined: PostgreSQL directly, running the statement Sluice sends
#                               for -S (the role's filter applied): what the confinement itself
#                               costs the database, apart from the proxy (select-only only)
#   BENCH_WARMUP=3              seconds of -S -c 16 per target before measuring (0: none)
#   BENCH_SLUICE_ARGS="..."     more flags for both Sluices' serve (e.g. --worker-threads 1)
#   BENCH_KEEP=1                keep the temp dir (logs, audit log) and say where it is
#   BENCH_PERF_DIR=DIR          record `perf` on the Sluice process during the first Sluice run of
#                               -S -M simple with the most clients; writes DIR/perf.data and
#                               DIR/perf-report.txt (needs linux-perf)
#   SLUICE_PG_BINDIR            directory of initdb/postgres/pg_ctl/pgbench/psql (default: the
#                               highest /usr/lib/postgresql/*/bin)
#   CARGO_TARGET_DIR            honoured for the build
#
# Every pgbench run uses sslmode=disable, so that none of the three pays for TLS (Sluice would
# otherwise negotiate TLS, as libpq prefers it and Sluice offers it). pgbench runs with -n: its
# vacuum before a run is done here instead, directly on PostgreSQL, before every TPC-B-like run
# (VACUUM branches and tellers, TRUNCATE history), for all three targets alike.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
REPEAT=${BENCH_REPEAT:-3}
SCALE=${BENCH_SCALE:-10}
POOL_SIZE=${BENCH_POOL_SIZE:-16}
JOBS=${BENCH_JOBS:-2}
CLIENTS=${BENCH_CLIENTS:-"1 16 200"}
MODES=${BENCH_MODES:-"simple prepared"}
SCRIPTS=${BENCH_SCRIPTS:-"select-only tpcb-like"}
TARGETS=${BENCH_TARGETS:-"direct confined pgbouncer pgbouncer-confined sluice sluice-noaudit"}
WARMUP=${BENCH_WARMUP:-3}
read -ra SLUICE_ARGS <<<"${BENCH_SLUICE_ARGS:-}"
KEEP=${BENCH_KEEP:-0}
PERF_DIR=${BENCH_PERF_DIR:-}
DB=bench

log() { echo "pgbench.sh: $*" >&2; }
die() {
    echo "pgbench.sh: error: $*" >&2
    exit 1
}

for v in DURATION REPEAT SCALE POOL_SIZE JOBS WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, not '${!v}'"
done
((DURATION > 0 && REPEAT > 0 && SCALE > 0 && POOL_SIZE > 0 && JOBS > 0)) ||
    die "BENCH_DURATION, BENCH_REPEAT, BENCH_SCALE, BENCH_POOL_SIZE and BENCH_JOBS must be positive"
for c in $CLIENTS; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "BENCH_CLIENTS: '$c' is not a client count"; done
for m in $MODES; do [[ $m == simple || $m == prepared ]] || die "BENCH_MODES: '$m' is not simple or prepared"; done
for s in $SCRIPTS; do [[ $s == select-only || $s == tpcb-like ]] || die "BENCH_SCRIPTS: '$s' is not select-only or tpcb-like"; done
for t in $TARGETS; do [[ $t == direct || $t == confined || $t == pgbouncer || $t == pgbouncer-confined || $t == relay || $t == sluice || $t == sluice-noaudit || $t == sluice-before ]] || die "BENCH_TARGETS: '$t' is not direct, confined, pgbouncer, pgbouncer-confined, relay, sluice, sluice-noaudit or sluice-before"; done
if [[ " $TARGETS " == *" sluice-before "* ]]; then
    [[ -n ${BENCH_BEFORE_BIN:-} && -x ${BENCH_BEFORE_BIN:-} ]] || die "BENCH_TARGETS has sluice-before: set BENCH_BEFORE_BIN to an earlier sluice binary"
fi
[[ " $TARGETS " != *" confined "* || " $TARGETS " == *" sluice "* ]] || die "BENCH_TARGETS: confined needs sluice (it runs the statement Sluice renders)"
[[ " $TARGETS " != *" pgbouncer-confined "* || (" $TARGETS " == *" sluice "* && " $TARGETS " == *" pgbouncer "*) ]] ||
    die "BENCH_TARGETS: pgbouncer-confined needs sluice (it runs the statement Sluice renders) and pgbouncer (the PgBouncer it goes through)"

# Nothing from the caller's libpq environment may redirect or alter the runs.
unset PGOPTIONS PGSERVICE PGSERVICEFILE PGPASSWORD PGSSLMODE PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE
export PGSSLMODE=disable PGCONNECT_TIMEOUT=10 LC_ALL=C

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

# PostgreSQL and PgBouncer refuse to run as root: as root they run as the `postgres` system user
# (which Debian's postgresql packages create), like the Rust test harness does. setpriv execs the
# program, so a background `"${AS_DB_USER[@]}" prog &` leaves the program's own pid in $!.
AS_DB_USER=()
((IS_ROOT)) && AS_DB_USER=(setpriv --reuid=postgres --regid=postgres --init-groups --)
as_db_user() { "${AS_DB_USER[@]}" "$@"; }

# ---- state and cleanup ----------------------------------------------------------------------

WORK=""
PG_STARTED=0
PGBOUNCER_PID=""
RELAY_PID=""
SLUICE_PID=""
NOAUDIT_PID=""
BEFORE_PID=""
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
    stop_pid "$NOAUDIT_PID" TERM 10
    stop_pid "$BEFORE_PID" TERM 10
    stop_pid "$PGBOUNCER_PID" TERM 10
    stop_pid "$RELAY_PID" TERM 10
    if ((PG_STARTED)); then
        as_db_user "$PGBIN/pg_ctl" -D "$WORK/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            as_db_user "$PGBIN/pg_ctl" -D "$WORK/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
    fi
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

if [[ -n ${SLUICE_PG_BINDIR:-} ]]; then
    PGBIN=$SLUICE_PG_BINDIR
else
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
for prog in initdb pg_ctl postgres pgbench psql createdb; do
    [[ -x $PGBIN/$prog ]] || die "PostgreSQL program '$prog' not found in '${PGBIN:-/usr/lib/postgresql/*/bin}'; install the Debian packages postgresql and postgresql-client (apt-get install -y --no-install-recommends postgresql postgresql-client), or set SLUICE_PG_BINDIR"
done
if ((IS_ROOT)); then
    id postgres >/dev/null 2>&1 ||
        die "running as root, so PostgreSQL and PgBouncer must run as the system user 'postgres', which does not exist (the Debian package postgresql creates it)"
    command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to run the servers as 'postgres'"
fi

PGBOUNCER=""
PGBOUNCER_VERSION=""
find_pgbouncer() {
    PGBOUNCER=$(command -v pgbouncer || true)
    [[ -n $PGBOUNCER ]] || { [[ -x /usr/sbin/pgbouncer ]] && PGBOUNCER=/usr/sbin/pgbouncer; } || true
}
pgbouncer_version() { "$1" --version 2>/dev/null | sed -nE 's/^(PgBouncer|pgbouncer) ([0-9.]+).*/\2/Ip' | head -n 1; }
# Named prepared statements in transaction mode need PgBouncer >= 1.21 (max_prepared_statements).
pgbouncer_prepares() {
    local major minor
    IFS=. read -r major minor _ <<<"$PGBOUNCER_VERSION"
    ((major > 1 || (major == 1 && minor >= 21)))
}
# Builds PgBouncer from the source package of Debian's newest release into target/bench-tools
# (once; later runs reuse it) and sets PGBOUNCER. The tarball is checked against the checksum in
# the archive's source index, fetched from the same mirror (the index's signature is not checked:
# this is a benchmark's tool, never installed on the system).
build_pgbouncer() {
    local tools=$ROOT/target/bench-tools suite=trixie mirror=http://deb.debian.org/debian
    local entry version orig sum src
    if [[ -x $tools/pgbouncer/bin/pgbouncer ]]; then
        PGBOUNCER=$tools/pgbouncer/bin/pgbouncer
        return 0
    fi
    for tool in curl xz make cc pkg-config; do
        command -v "$tool" >/dev/null || die "building PgBouncer needs '$tool'"
    done
    if ! pkg-config --exists libevent openssl 2>/dev/null; then
        log "installing PgBouncer's build dependencies (libevent-dev libssl-dev)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libevent-dev libssl-dev >/dev/null ||
            die "apt-get install libevent-dev libssl-dev failed"
    fi
    log "PgBouncer $PGBOUNCER_VERSION cannot keep prepared statements in transaction mode; building it from Debian $suite's source package"
    src=$WORK/pgbouncer-src
    mkdir -p "$src"
    curl -fsS -m 120 -o "$src/Sources.xz" "$mirror/dists/$suite/main/source/Sources.xz" ||
        die "cannot read Debian $suite's source index from $mirror; set BENCH_PGBOUNCER to a PgBouncer >= 1.21"
    entry=$(xz -dc "$src/Sources.xz" | awk '/^Package: pgbouncer$/ {p = 1} p && /^$/ {p = 0} p')
    version=$(sed -nE 's/^Version: ([0-9.]+).*/\1/p' <<<"$entry" | head -n 1)
    orig=pgbouncer_$version.orig.tar.gz
    sum=$(awk -v f="$orig" '$3 == f {print $1; exit}' <<<"$entry")
    [[ -n $version && -n $sum ]] || die "no pgbouncer source in Debian $suite's index"
    curl -fsS -m 300 -o "$src/$orig" "$mirror/pool/main/p/pgbouncer/$orig" || die "cannot download $orig"
    [[ $(md5sum "$src/$orig" | awk '{print $1}') == "$sum" ]] || die "$orig does not match the archive's checksum"
    tar -xzf "$src/$orig" -C "$src" || die "cannot unpack $orig"
    (cd "$src/pgbouncer-$version" && ./configure --prefix="$tools/pgbouncer" --without-cares --with-openssl &&
        make -j"$(nproc)" && make install) >"$WORK/logs/pgbouncer-build.log" 2>&1 ||
        die "building PgBouncer $version failed:$(echo; tail -n 20 "$WORK/logs/pgbouncer-build.log")"
    PGBOUNCER=$tools/pgbouncer/bin/pgbouncer
}
if [[ " $TARGETS " == *" pgbouncer "* ]]; then
    if [[ -n ${BENCH_PGBOUNCER:-} ]]; then
        PGBOUNCER=$BENCH_PGBOUNCER
        [[ -x $PGBOUNCER ]] || die "BENCH_PGBOUNCER: '$PGBOUNCER' is not an executable"
    else
        find_pgbouncer
        if [[ -z $PGBOUNCER ]]; then
            command -v apt-get >/dev/null || die "PgBouncer is not installed and this is not a Debian-like system; install pgbouncer"
            log "installing PgBouncer (apt-get install pgbouncer)"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
                die "apt-get update failed"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null ||
                die "apt-get install pgbouncer failed"
            find_pgbouncer
            [[ -n $PGBOUNCER ]] || die "pgbouncer still not found after apt-get install"
        fi
    fi
    PGBOUNCER_VERSION=$(pgbouncer_version "$PGBOUNCER")
    [[ -n $PGBOUNCER_VERSION ]] || die "cannot read the version of $PGBOUNCER"
fi

# ---- build ----------------------------------------------------------------------------------

log "building the gateway (cargo build --release -p sluice-proxy --bin sluice)"
cargo build --release --locked -p sluice-proxy --bin sluice >&2 || die "cargo build failed"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
SLUICE=$TARGET_DIR/release/sluice
RELAY=""
if [[ " $TARGETS " == *" relay "* ]]; then
    log "building the relay (cargo build --release -p sluice-integration --example relay)"
    cargo build --release --locked -p sluice-integration --example relay >&2 || die "cargo build of the relay failed"
    RELAY=$TARGET_DIR/release/examples/relay
    [[ -x $RELAY ]] || die "built relay not found at $RELAY"
fi
[[ -x $SLUICE ]] || die "built binary not found at $SLUICE"

# ---- scratch dir and ports ------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/socket"
if ((IS_ROOT)); then chown postgres:postgres "$WORK" "$WORK/socket"; fi

if [[ " $TARGETS " == *" pgbouncer "* && " $MODES " == *" prepared "* && -z ${BENCH_PGBOUNCER:-} ]] && ! pgbouncer_prepares; then
    build_pgbouncer
    PGBOUNCER_VERSION=$(pgbouncer_version "$PGBOUNCER")
    pgbouncer_prepares || die "the PgBouncer built ($PGBOUNCER, $PGBOUNCER_VERSION) still cannot keep prepared statements"
fi

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
        [[ -z ${HANDED_OUT[$port]:-} && $port != 5432 ]] || continue
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

# ---- PostgreSQL -----------------------------------------------------------------------------

PG_VERSION=$("$PGBIN/postgres" --version | awk '{print $3}')
log "starting a throwaway PostgreSQL $PG_VERSION in $WORK/pgdata"
as_db_user "$PGBIN/initdb" --pgdata "$WORK/pgdata" --username postgres --auth=trust \
    --encoding=UTF8 --no-locale --no-sync >"$WORK/logs/initdb.log" 2>&1 ||
    die "initdb failed:$(echo; tail -n 20 "$WORK/logs/initdb.log")"
PG_PORT=""
for attempt in 1 2 3; do
    free_port
    port=$FREE_PORT
    if as_db_user "$PGBIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/postgres.log" -w -t 60 \
        -o "-p $port -k $WORK/socket -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB -c TimeZone=UTC" \
        start >"$WORK/logs/pg_ctl.log" 2>&1; then
        PG_PORT=$port
        PG_STARTED=1
        break
    fi
    log "PostgreSQL did not start on port $port (attempt $attempt)"
    as_db_user "$PGBIN/pg_ctl" -D "$WORK/pgdata" -m immediate stop >/dev/null 2>&1 || true
done
[[ -n $PG_PORT ]] || die "PostgreSQL did not start; its log ends with:$(echo; tail -n 20 "$WORK/postgres.log" 2>/dev/null)"

pg_direct() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB" || die "createdb $DB failed"
log "pgbench -i -s $SCALE"
"$PGBIN/pgbench" -i -s "$SCALE" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB" >"$WORK/logs/pgbench-init.log" 2>&1 ||
    die "pgbench -i failed:$(echo; tail -n 20 "$WORK/logs/pgbench-init.log")"

# ---- PgBouncer ------------------------------------------------------------------------------

PGB_PORT=""
if [[ " $TARGETS " == *" pgbouncer "* ]]; then
    free_port
    PGB_PORT=$FREE_PORT
    printf '"postgres" ""\n' >"$WORK/userlist.txt"
    prepared_line=""
    pgbouncer_prepares && prepared_line="max_prepared_statements = 200"
    cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=$PG_PORT dbname=$DB user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
max_db_connections = $POOL_SIZE
server_reset_query =
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
log_connections = 0
log_disconnections = 0
$prepared_line
EOF
    if ((IS_ROOT)); then chown postgres:postgres "$WORK/pgbouncer.ini" "$WORK/userlist.txt"; fi
    started=0
    for attempt in 1 2 3; do
        if ((attempt > 1)); then
            free_port
            sed -i -E "s/^listen_port = .*/listen_port = $FREE_PORT/" "$WORK/pgbouncer.ini"
            PGB_PORT=$FREE_PORT
        fi
        log "starting PgBouncer $PGBOUNCER_VERSION on 127.0.0.1:$PGB_PORT (transaction mode, pool $POOL_SIZE)"
        : >"$WORK/logs/pgbouncer.out"
        "${AS_DB_USER[@]}" "$PGBOUNCER" "$WORK/pgbouncer.ini" >"$WORK/logs/pgbouncer.out" 2>&1 &
        PGBOUNCER_PID=$!
        for ((i = 0; i < 100; i++)); do
            kill -0 "$PGBOUNCER_PID" 2>/dev/null || break
            if "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGB_PORT" -U postgres -d "$DB" -c 'SELECT 1' >/dev/null 2>&1; then
                started=1
                break
            fi
            sleep 0.1
        done
        ((started)) && break
        stop_pid "$PGBOUNCER_PID" TERM 5
        PGBOUNCER_PID=""
        grep -q 'Address already in use' "$WORK/logs/pgbouncer.out" ||
            die "PgBouncer did not start:$(echo; tail -n 20 "$WORK/logs/pgbouncer.out")"
    done
    ((started)) || die "PgBouncer did not start: no free port after 3 attempts:$(echo; tail -n 5 "$WORK/logs/pgbouncer.out")"
fi

# ---- the relay ------------------------------------------------------------------------------

RELAY_PORT=""
if [[ -n $RELAY ]]; then
    # shellcheck source=relay.bash
    source "$ROOT/integration/bench/relay.bash"
    start_relay "$RELAY" "$PG_PORT" PostgreSQL
fi

# ---- Sluice ---------------------------------------------------------------------------------

SLUICE_PORT=""
NOAUDIT_PORT=""
BEFORE_PORT=""
TOKEN=""
if [[ " $TARGETS " == *" sluice"* ]]; then
    # pgbench's built-in scripts:
    #   select-only: SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
    #   tpcb-like:   BEGIN; UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
    #                SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
    #                UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
    #                UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
    #                INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
    #                    VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP); END;
    # and before a run `select count(*) from pgbench_branches` (the scale) and a catalog query for
    # partitioning (a failure of which pgbench takes as "not partitioned").
    # The accounts filter is a real filter (every statement on pgbench_accounts is confined by it)
    # that keeps every row visible: aid starts at 1 and the token carries min_aid=0.
    cat >"$WORK/roles.yaml" <<'EOF'
forbidden_operations: [DELETE, DROP, TRUNCATE]
roles:
  pgbench:
    description: pgbench's built-in scripts (select-only and TPC-B-like)
    tables:
      pgbench_accounts: [SELECT, UPDATE, INSERT]
      pgbench_tellers: [SELECT, UPDATE, INSERT]
      pgbench_branches: [SELECT, UPDATE, INSERT]
      pgbench_history: [SELECT, INSERT]
    filters:
      pgbench_accounts: "aid > {{ token.min_aid }}"
EOF
    "$SLUICE" check --rbac-config "$WORK/roles.yaml" >"$WORK/logs/check.log" 2>&1 ||
        die "the benchmark's role file is refused:$(echo; cat "$WORK/logs/check.log")"
    "$SLUICE" keygen --out-dir "$WORK/keys" >"$WORK/logs/keygen.log" 2>&1 ||
        die "sluice keygen failed:$(echo; cat "$WORK/logs/keygen.log")"

    # Starts one Sluice (its name: sluice or sluice-noaudit; then serve's audit flags); sets
    # STARTED_PORT and STARTED_PID.
    start_sluice() {
        local name=$1 started=0 attempt i ready_addr
        shift
        for attempt in 1 2 3; do
            free_port
            STARTED_PORT=$FREE_PORT
            log "starting $name on 127.0.0.1:$STARTED_PORT (transaction mode, pool $POOL_SIZE, $*)"
            SLUICE_LOG=${SLUICE_LOG:-warn} "${STARTED_BIN:-$SLUICE}" serve \
                --pg-listen "127.0.0.1:$STARTED_PORT" \
                --pg-backend "postgres://postgres@127.0.0.1:$PG_PORT/$DB" \
                --rbac-config "$WORK/roles.yaml" \
                --public-key "$WORK/keys/issuer.pub" \
                --pool-mode transaction --pool-size "$POOL_SIZE" \
                --drain-timeout 2s \
                "${SLUICE_ARGS[@]}" "$@" \
                >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" &
            STARTED_PID=$!
            for ((i = 0; i < 300; i++)); do
                if grep -q '^sluice ready: ' "$WORK/logs/$name.out" 2>/dev/null; then
                    started=1
                    break
                fi
                kill -0 "$STARTED_PID" 2>/dev/null || break
                sleep 0.1
            done
            ((started)) && break
            ((i < 300)) || die "$name: sluice serve printed no ready line within 30s:$(echo; tail -n 20 "$WORK/logs/$name.err")"
            STARTED_PID=""
            grep -qi 'address already in use' "$WORK/logs/$name.err" ||
                die "$name: sluice serve exited at start:$(echo; tail -n 20 "$WORK/logs/$name.err")"
        done
        ((started)) || die "$name: sluice serve did not start: no free port after 3 attempts:$(echo; tail -n 5 "$WORK/logs/$name.err")"
        ready_addr=$(sed -nE 's/^sluice ready: .*postgres=([^ ]+).*/\1/p' "$WORK/logs/$name.out" | head -n 1)
        [[ $ready_addr == "127.0.0.1:$STARTED_PORT" ]] ||
            die "$name reported '$ready_addr', expected 127.0.0.1:$STARTED_PORT"
    }
    if [[ " $TARGETS " == *" sluice "* ]]; then
        start_sluice sluice --audit-log "$WORK/audit.log"
        SLUICE_PORT=$STARTED_PORT SLUICE_PID=$STARTED_PID
    fi
    if [[ " $TARGETS " == *" sluice-noaudit "* ]]; then
        start_sluice sluice-noaudit --no-audit
        NOAUDIT_PORT=$STARTED_PORT NOAUDIT_PID=$STARTED_PID
    fi
    if [[ " $TARGETS " == *" sluice-before "* ]]; then
        STARTED_BIN=$BENCH_BEFORE_BIN start_sluice sluice-before --audit-log "$WORK/audit-before.log"
        BEFORE_PORT=$STARTED_PORT BEFORE_PID=$STARTED_PID
    fi

    # Long enough for every run, with room to spare.
    n_cells=$(($(wc -w <<<"$SCRIPTS") * $(wc -w <<<"$MODES") * $(wc -w <<<"$CLIENTS")))
    lifetime=$((n_cells * REPEAT * (DURATION + 5) * 3 + 3600))
    ((lifetime <= 86400)) || die "the runs would outlive the longest token lifetime (24h); lower BENCH_DURATION or BENCH_REPEAT"
    TOKEN=$("$SLUICE" token create --key "$WORK/keys/issuer.key" --role pgbench --tenant-id bench \
        --claim min_aid=0 --expires-in "${lifetime}s" --label pgbench --rbac-config "$WORK/roles.yaml" \
        2>"$WORK/logs/token.log") || die "sluice token create failed:$(echo; cat "$WORK/logs/token.log")"

    if [[ " $TARGETS " == *" confined "* || " $TARGETS " == *" pgbouncer-confined "* ]]; then
        # The statement Sluice sends for pgbench's select-only query, from its audit log, with the
        # account number made a pgbench variable again: the "confined" target runs it directly,
        # "pgbouncer-confined" through PgBouncer.
        PGPASSWORD=$TOKEN "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$SLUICE_PORT" -U pgbench -d "$DB" \
            -c 'SELECT abalance FROM pgbench_accounts WHERE aid = 4242;' >"$WORK/logs/confined-probe.log" 2>&1 ||
            die "a select-only query through Sluice failed:$(echo; cat "$WORK/logs/confined-probe.log")"
        sleep 0.3 # the audit writer is asynchronous
        rendered=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("decision") == "allow" and "aid = 4242" in e.get("statement", ""):
        print(e["rendered"]); break
' "$WORK/audit.log") || die "reading the audit log failed"
        [[ $rendered == *"aid = 4242" ]] || die "no rendered select-only statement in the audit log:$(echo; tail -n 3 "$WORK/audit.log")"
        {
            echo '\set aid random(1, 100000 * :scale)'
            echo "${rendered%4242};"
        } | sed -E 's/;$/:aid;/' >"$WORK/confined-select.sql"
        : >"$WORK/audit.log"
    fi
fi

# ---- running pgbench ------------------------------------------------------------------------

target_port() {
    case $1 in
    direct | confined) echo "$PG_PORT" ;;
    pgbouncer | pgbouncer-confined) echo "$PGB_PORT" ;;
    relay) echo "$RELAY_PORT" ;;
    sluice) echo "$SLUICE_PORT" ;;
    sluice-noaudit) echo "$NOAUDIT_PORT" ;;
    sluice-before) echo "$BEFORE_PORT" ;;
    esac
}

script_flag() { [[ $1 == select-only ]] && echo "-S" || echo "-b tpcb-like"; }
script_label() { [[ $1 == select-only ]] && echo "-S" || echo "tpcb"; }

HZ=$(getconf CLK_TCK)
# CPU time (clock ticks, all threads) a process has used so far: "USER SYSTEM".
proc_ticks() { [[ -n $1 && -r /proc/$1/stat ]] && awk '{print $14, $15}' "/proc/$1/stat" || echo ""; }
proxy_pid() {
    case $1 in
    pgbouncer | pgbouncer-confined) echo "$PGBOUNCER_PID" ;;
    relay) echo "$RELAY_PID" ;;
    sluice) echo "$SLUICE_PID" ;;
    sluice-noaudit) echo "$NOAUDIT_PID" ;;
    sluice-before) echo "$BEFORE_PID" ;;
    *) echo "" ;;
    esac
}

# Runs pgbench; prints "TPS LATENCY_MS PROXY_CPU_US_PER_TXN PROXY_USER_US_PER_TXN" on success
# (the last two are "-" for direct). Output goes to the log file named by $3.
pgbench_run() { # target seconds logfile pgbench-args...
    local target=$1 secs=$2 logf=$3 port tps lat rc=0 pid t0 t1 txns cpu="-" usr="-"
    shift 3
    port=$(target_port "$target")
    pid=$(proxy_pid "$target")
    t0=$(proc_ticks "$pid")
    # A run that hangs (a stuck session) is ended 2 minutes after its duration.
    local guard=(timeout -k 10 "$((secs + 120))")
    if [[ $target == sluice* ]]; then
        PGPASSWORD=$TOKEN "${guard[@]}" "$PGBIN/pgbench" -n -T "$secs" -h 127.0.0.1 -p "$port" -U pgbench "$@" "$DB" >"$logf" 2>&1 || rc=$?
    else
        "${guard[@]}" "$PGBIN/pgbench" -n -T "$secs" -h 127.0.0.1 -p "$port" -U postgres "$@" "$DB" >"$logf" 2>&1 || rc=$?
    fi
    ((rc != 124 && rc != 137)) || echo "pgbench: error: killed after $((secs + 120))s (hung)" >>"$logf"
    t1=$(proc_ticks "$pid")
    tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$logf" | tail -n 1)
    lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$logf" | tail -n 1)
    txns=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$logf" | tail -n 1)
    if ((rc != 0)) || [[ -z $tps || -z $lat ]]; then
        return 1
    fi
    if [[ -n $t0 && -n $t1 && -n $txns ]] && ((txns > 0)); then
        read -r cpu usr < <(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$txns" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            printf "%.1f %.1f\n", (y[1] + y[2] - x[1] - x[2]) / hz * 1e6 / n, (y[1] - x[1]) / hz * 1e6 / n }')
    fi
    echo "$tps $lat $cpu $usr"
}

# Percentage of the machine's CPU busy over 2 seconds (while nothing of this benchmark runs, it
# tells whether other processes would disturb the numbers).
machine_busy() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    sleep 2
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] - x[2] > 0) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print 0 }'
}

# Sluice's audit log: keep the denials and backend errors of each run, then empty it (it gets one
# line per statement).
DENIALS=$WORK/denials.jsonl
: >"$DENIALS"
collect_audit() {
    [[ -f $WORK/audit.log ]] || return 0
    sleep 0.3 # the audit writer is asynchronous
    grep -E '"decision":"(deny|error)"' "$WORK/audit.log" >>"$DENIALS" || true
    : >"$WORK/audit.log"
    [[ ! -f $WORK/audit-before.log ]] || : >"$WORK/audit-before.log"
}

prep_tpcb() { # before a TPC-B-like run: what pgbench's own vacuum step does, directly on PostgreSQL
    pg_direct -d "$DB" -c 'VACUUM pgbench_branches' -c 'VACUUM pgbench_tellers' -c 'TRUNCATE pgbench_history' >/dev/null 2>&1 ||
        die "vacuuming the pgbench tables failed"
}

# Smoke test: every target answers one select-only transaction.
# The select-only script of a target: pgbench's own, or Sluice's rendering of it.
select_flags() { [[ $1 == confined || $1 == pgbouncer-confined ]] && echo "-f $WORK/confined-select.sql" || echo "-S"; }
for target in $TARGETS; do
    read -ra smoke <<<"$(select_flags "$target")"
    if ! pgbench_run "$target" 1 "$WORK/logs/smoke-$target.log" "${smoke[@]}" -c 1 -j 1 -M simple >/dev/null; then
        [[ $target == sluice ]] && collect_audit
        die "pgbench -S against $target failed:$(echo; grep -v '^ *$' "$WORK/logs/smoke-$target.log" | head -n 20)$( [[ $target == sluice* ]] && { echo; echo 'sluice stderr:'; tail -n 10 "$WORK/logs/$target.err"; echo 'audit denials:'; head -n 5 "$DENIALS"; })"
    fi
    [[ $target == sluice ]] && collect_audit
done
max_clients=0
for c in $CLIENTS; do ((c > max_clients)) && max_clients=$c; done
if ((WARMUP > 0)); then
    for target in $TARGETS; do
        log "warm-up: $target -S -c $max_clients, ${WARMUP}s"
        read -ra warm <<<"$(select_flags "$target")"
        pgbench_run "$target" "$WARMUP" "$WORK/logs/warmup-$target.log" "${warm[@]}" -c "$max_clients" -j "$((JOBS < max_clients ? JOBS : max_clients))" -M simple >/dev/null ||
            log "warm-up against $target failed (see the table)"
        [[ $target == sluice ]] && collect_audit
    done
fi

BUSY_BEFORE=$(machine_busy)
((BUSY_BEFORE <= 10)) || log "warning: the machine is ${BUSY_BEFORE}% busy before measuring (other processes); the numbers will be disturbed"
declare -A TPS=() LAT=() CPU=() USR=() FAILED=() SKIPPED=()
FAILURES=$WORK/failures.txt
: >"$FAILURES"
n_targets=$(wc -w <<<"$TARGETS")
total=$(($(wc -w <<<"$SCRIPTS") * $(wc -w <<<"$MODES") * $(wc -w <<<"$CLIENTS") * REPEAT * n_targets))
run_no=0
perf_done=0
log "measuring: $total runs of ${DURATION}s"
for script in $SCRIPTS; do
    for mode in $MODES; do
        for c in $CLIENTS; do
            j=$((JOBS < c ? JOBS : c))
            cell="$script|$mode|$c"
            for ((rep = 1; rep <= REPEAT; rep++)); do
                # The targets take turns within a repetition, so drift hits them alike.
                for target in $TARGETS; do
                    run_no=$((run_no + 1))
                    key="$cell|$target"
                    if [[ $target == pgbouncer* && $mode == prepared ]] && ! pgbouncer_prepares; then
                        SKIPPED[$key]=1
                        continue
                    fi
                    if [[ ($target == confined || $target == pgbouncer-confined) && $script != select-only ]]; then
                        SKIPPED[$key]=1
                        continue
                    fi
                    [[ $script == tpcb-like ]] && prep_tpcb
                    logf="$WORK/logs/run-$script-$mode-c$c-$target-$rep.log"
                    perf_now=0
                    if [[ -n $PERF_DIR && $perf_done == 0 && $target == sluice && $script == select-only && $mode == simple && $c == "$max_clients" ]]; then
                        perf_now=1
                        perf_done=1
                        mkdir -p "$PERF_DIR"
                        perf record -F 499 -e cpu-clock --call-graph dwarf,16384 -p "$SLUICE_PID" -o "$PERF_DIR/perf.data" \
                            >"$PERF_DIR/perf-record.log" 2>&1 &
                        PERF_PID=$!
                        sleep 0.5
                    fi
                    read -ra sflag <<<"$(script_flag "$script")"
                    [[ $script == select-only ]] && read -ra sflag <<<"$(select_flags "$target")"
                    if result=$(pgbench_run "$target" "$DURATION" "$logf" "${sflag[@]}" -M "$mode" -c "$c" -j "$j"); then
                        read -r r_tps r_lat r_cpu r_usr <<<"$result"
                        TPS[$key]+="$r_tps "
                        LAT[$key]+="$r_lat "
                        [[ $r_cpu == - ]] || CPU[$key]+="$r_cpu "
                        [[ $r_usr == - ]] || USR[$key]+="$r_usr "
                        log "[$run_no/$total] $(script_label "$script") -M $mode -c $c $target #$rep: $r_tps tps, $r_lat ms$([[ $r_cpu == - ]] || echo ", proxy CPU $r_cpu us/txn")"
                    else
                        FAILED[$key]=1
                        log "[$run_no/$total] $(script_label "$script") -M $mode -c $c $target #$rep: FAILED (log below at the end)"
                        {
                            echo "== $(script_label "$script") -M $mode -c $c, $target, run $rep:"
                            grep -iE 'error|abort|fatal|fail' "$logf" | sort | uniq -c | sort -rn | head -n 8
                        } >>"$FAILURES"
                    fi
                    if ((perf_now)); then
                        stop_pid "$PERF_PID" INT 60
                        PERF_PID=""
                    fi
                    [[ $target == sluice* ]] && collect_audit
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }

cell_value() { # key TPS|LAT -> median, or FAIL / n/a / -
    local key=$1 kind=$2 vals
    if [[ -n ${SKIPPED[$key]:-} ]]; then echo "n/a"; return; fi
    if [[ -n ${FAILED[$key]:-} ]]; then echo "FAIL"; return; fi
    case $kind in
    TPS) vals=${TPS[$key]:-} ;;
    LAT) vals=${LAT[$key]:-} ;;
    CPU) vals=${CPU[$key]:-} ;;
    USR) vals=${USR[$key]:-} ;;
    esac
    [[ -n $vals ]] || { echo "-"; return; }
    # shellcheck disable=SC2086
    median $vals
}
num() { [[ $1 =~ ^[0-9.]+$ ]] && echo "$1" || echo ""; }

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- proxy policy tokens 2>/dev/null || git_rev+="+dirty"
echo
echo "pgbench through Sluice vs PgBouncer vs direct"
echo "  sluice $git_rev (release), PostgreSQL $PG_VERSION (fsync=off), PgBouncer ${PGBOUNCER_VERSION:-not run} (transaction mode)"
echo "  scale $SCALE, pool size $POOL_SIZE (Sluice --pool-size, PgBouncer default_pool_size), pool mode transaction"
echo "  pgbench -n -T $DURATION -j min($JOBS,clients), sslmode=disable; median of $REPEAT run(s) per cell; $(nproc) CPU(s), all on this machine"
echo "  Sluice role: pgbench, filter on pgbench_accounts: aid > {{ token.min_aid }} (min_aid=0); audit log to a file"
echo "  machine busy before measuring: ${BUSY_BEFORE}%, after: ${BUSY_AFTER}% (other processes; over 10% disturbs the numbers)"
echo
hdr_fmt="%-5s %-9s %4s | %8s %8s %8s %8s %8s %8s %8s | %5s %5s %5s %5s %5s %5s %5s %5s | %6s %6s %6s\n"
# shellcheck disable=SC2059
printf "$hdr_fmt" script mode -c "direct" "confined" "pgbounc" "pgb-conf" "relay" "sluice" "s-noaud" "C/D" "S/P" "N/P" "S/PC" "N/PC" "S/R" "S/D" "S/C" "lat d" "lat p" "lat s"
# shellcheck disable=SC2059
printf "$hdr_fmt" "" "" "" "TPS" "TPS" "TPS" "TPS" "TPS" "TPS" "TPS" "" "" "" "" "" "" "" "" "ms" "ms" "ms"
printf '%s\n' "-------------------------------------------------------------------------------------------------------------------------------------"
declare -A CHECK=()
shown() { [[ " $TARGETS " == *" $1 "* ]] && echo "$2" || echo "-"; }
for script in $SCRIPTS; do
    for mode in $MODES; do
        for c in $CLIENTS; do
            cell="$script|$mode|$c"
            d_t=$(shown direct "$(cell_value "$cell|direct" TPS)")
            c_t=$(shown confined "$(cell_value "$cell|confined" TPS)")
            p_t=$(shown pgbouncer "$(cell_value "$cell|pgbouncer" TPS)")
            pc_t=$(shown pgbouncer-confined "$(cell_value "$cell|pgbouncer-confined" TPS)")
            r_t=$(shown relay "$(cell_value "$cell|relay" TPS)")
            s_t=$(shown sluice "$(cell_value "$cell|sluice" TPS)")
            n_t=$(shown sluice-noaudit "$(cell_value "$cell|sluice-noaudit" TPS)")
            d_l=$(shown direct "$(cell_value "$cell|direct" LAT)")
            p_l=$(shown pgbouncer "$(cell_value "$cell|pgbouncer" LAT)")
            s_l=$(shown sluice "$(cell_value "$cell|sluice" LAT)")
            sp=$(ratio "$(num "$s_t")" "$(num "$p_t")")
            np=$(ratio "$(num "$n_t")" "$(num "$p_t")")
            spc=$(ratio "$(num "$s_t")" "$(num "$pc_t")")
            npc=$(ratio "$(num "$n_t")" "$(num "$pc_t")")
            sr=$(ratio "$(num "$s_t")" "$(num "$r_t")")
            sd=$(ratio "$(num "$s_t")" "$(num "$d_t")")
            cd=$(ratio "$(num "$c_t")" "$(num "$d_t")")
            sc=$(ratio "$(num "$s_t")" "$(num "$c_t")")
            CHECK[$cell]="$sp|$np|$spc|$npc"
            # shellcheck disable=SC2059
            printf "$hdr_fmt" "$(script_label "$script")" "$mode" "$c" "$d_t" "$c_t" "$p_t" "$pc_t" "$r_t" "$s_t" "$n_t" \
                "${cd:--}" "${sp:--}" "${np:--}" "${spc:--}" "${npc:--}" "${sr:--}" "${sd:--}" "${sc:--}" "$d_l" "$p_l" "$s_l"
        done
    done
done
echo "confined = PostgreSQL directly, running the statement Sluice sends for -S (its rewriting with the role's filter)"
echo "s-noaud = Sluice with --no-audit. C/D = confined / direct (what the confinement costs the database),"
echo "S/P, N/P = Sluice, Sluice without audit / PgBouncer; S/D = Sluice / direct; S/C = Sluice / confined (the proxy's own cost)"
echo "pgb-conf = PgBouncer forwarding the statement Sluice sends for -S: the database does what it does behind Sluice;"
echo "S/PC, N/PC = Sluice, Sluice without audit / pgb-conf (Sluice's cost next to a pooler's, the confinement's cost to the database left out)"
echo "relay = a proxy that only forwards bytes, one server connection per client: the floor of the extra hop here; S/R = Sluice / relay"
echo

declare -A CPU_CHECK=()
cpu_fmt="%-5s %-9s %4s | %9s %9s %9s %9s | %5s %5s %5s\n"
# One table of the proxies' CPU per transaction: KIND is CPU (user + system; its ratios are the
# targets' CPU checks) or USR (user space only).
cpu_table() {
    local kind=$1 cell p_c y_c s_c n_c r rn ry
    # shellcheck disable=SC2059
    printf "$cpu_fmt" script mode -c pgbouncer relay sluice s-noaud S/P N/P S/R
    for script in $SCRIPTS; do
        for mode in $MODES; do
            for c in $CLIENTS; do
                cell="$script|$mode|$c"
                p_c=$(shown pgbouncer "$(cell_value "$cell|pgbouncer" "$kind")")
                y_c=$(shown relay "$(cell_value "$cell|relay" "$kind")")
                s_c=$(shown sluice "$(cell_value "$cell|sluice" "$kind")")
                n_c=$(shown sluice-noaudit "$(cell_value "$cell|sluice-noaudit" "$kind")")
                r=$(ratio "$(num "$s_c")" "$(num "$p_c")")
                rn=$(ratio "$(num "$n_c")" "$(num "$p_c")")
                ry=$(ratio "$(num "$s_c")" "$(num "$y_c")")
                [[ $kind == CPU ]] && CPU_CHECK[$cell]="$r|$rn"
                # shellcheck disable=SC2059
                printf "$cpu_fmt" "$(script_label "$script")" "$mode" "$c" "$p_c" "$y_c" "$s_c" "$n_c" "${r:--}" "${rn:--}" "${ry:--}"
            done
        done
    done
    echo
}
if [[ " $TARGETS " == *" pgbouncer "* || " $TARGETS " == *" relay "* || " $TARGETS " == *" sluice"* ]]; then
    echo "Proxy CPU per transaction (microseconds of the proxy process, all threads, user + system; median):"
    cpu_table CPU
    echo "Of which user space (microseconds per transaction; median): the proxy's own code. The rest is"
    echo "the kernel's: the sockets, the wake-ups of the processes they reach, task switches."
    cpu_table USR
fi

if [[ " $TARGETS " == *" sluice-before "* ]]; then
    echo "Before and after, in this run (sluice-before: $BENCH_BEFORE_BIN; both with the audit log on):"
    ba_fmt="%-5s %-9s %4s | %9s %9s %6s | %9s %9s %6s\n"
    # shellcheck disable=SC2059
    printf "$ba_fmt" script mode -c "TPS bef." "TPS now" "now/b" "CPU bef." "CPU now" "now/b"
    for script in $SCRIPTS; do
        for mode in $MODES; do
            for c in $CLIENTS; do
                cell="$script|$mode|$c"
                b_t=$(cell_value "$cell|sluice-before" TPS)
                s_t=$(shown sluice "$(cell_value "$cell|sluice" TPS)")
                b_c=$(cell_value "$cell|sluice-before" CPU)
                s_c=$(shown sluice "$(cell_value "$cell|sluice" CPU)")
                r_t=$(ratio "$(num "$s_t")" "$(num "$b_t")")
                r_c=$(ratio "$(num "$s_c")" "$(num "$b_c")")
                # shellcheck disable=SC2059
                printf "$ba_fmt" "$(script_label "$script")" "$mode" "$c" "$b_t" "$s_t" "${r_t:--}" "$b_c" "$s_c" "${r_c:--}"
            done
        done
    done
    echo
fi

verdict() { # ratio target -> PASS/BELOW/n/a
    [[ -n $1 ]] || { echo "n/a"; return; }
    awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 >= t + 0) ? "PASS" : "BELOW" }'
}
verdict_max() { # ratio limit -> PASS/ABOVE/n/a
    [[ -n $1 ]] || { echo "n/a"; return; }
    awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 <= t + 0) ? "PASS" : "ABOVE" }'
}
if [[ " $SCRIPTS " == *" select-only "* ]]; then
    echo "Targets (-S): Sluice TPS >= 1.0x PgBouncer's at 16 clients and more, >= 0.9x at 1; Sluice CPU/txn <= 1.2x PgBouncer's"
    for mode in $MODES; do
        for c in $CLIENTS; do
            cell="select-only|$mode|$c"
            want=1.0
            ((c < 16)) && want=0.9
            IFS='|' read -r sp np spc npc <<<"${CHECK[$cell]:-|||}"
            IFS='|' read -r cs cn <<<"${CPU_CHECK[$cell]:-|}"
            printf '  -S -M %-9s -c %-4s TPS: audit on %-5s %-5s audit off %-5s %-5s | CPU: audit on %-5s %-5s audit off %-5s %-5s\n' \
                "$mode" "$c" "${sp:-n/a}" "$(verdict "$sp" "$want")" "${np:-n/a}" "$(verdict "$np" "$want")" \
                "${cs:-n/a}" "$(verdict_max "$cs" 1.2)" "${cn:-n/a}" "$(verdict_max "$cn" 1.2)"
            # The same TPS targets against PgBouncer forwarding the statement Sluice sends (the
            # database's share of the confinement left out).
            if [[ " $TARGETS " == *" pgbouncer-confined "* ]]; then
                printf '  %-27s vs pgb-conf: audit on %-5s %-5s audit off %-5s %-5s\n' "" \
                    "${spc:-n/a}" "$(verdict "$spc" "$want")" "${npc:-n/a}" "$(verdict "$npc" "$want")"
            fi
        done
    done
fi

if [[ -s $FAILURES ]]; then
    echo
    echo "Failed runs (matching lines of pgbench's output, with counts):"
    cat "$FAILURES"
fi
if [[ -s $DENIALS ]]; then
    echo
    echo "Sluice denials and backend errors in the audit log ($(wc -l <"$DENIALS") lines; numbers shown as N):"
    jq_ok=0
    command -v jq >/dev/null && jq_ok=1
    if ((jq_ok)); then
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
