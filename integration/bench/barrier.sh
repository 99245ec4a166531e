#!/usr/bin/env bash
# What the confinement barrier costs: a tenant's statements on a million-row table, through
# Sluice and directly in the renderings before and after the barrier, on PostgreSQL and MariaDB.
#
# The policy engine fences every confined derived table (PostgreSQL `OFFSET 0`, MySQL `LIMIT
# 18446744073709551615`) of a statement that holds an expression it cannot prove leakproof, and
# moves the WHERE conjuncts it can prove inside the fence; a statement whose every expression is a
# typed comparison keeps the plain derived-table rewrite (ARCHITECTURE.md, "Confinement is a
# barrier"). This script shows what that does to the plans and the speed. For each engine,
# statement and protocol it runs, in turns, for BENCH_REPEAT rounds:
#   sluice   the client's statement through the gateway (`sluice serve`, release build), with a
#            token for one tenant;
#   pre      directly: the rendering of the engine before the barrier (the derived-table rewrite
#            without any fence), written out by hand below;
#   current  directly: what the gateway renders, read from its audit log (the gateway loads the
#            backend's schema at start, so it proves typed comparisons leakproof);
#   typed    directly: what the engine renders with the column types that
#            integration/examples/render.rs reads from information_schema: a check that the
#            gateway's rendering is the engine's with the schema (without a schema the gateway
#            fences every statement with a condition, and 'current' departs from 'typed').
# It prints, per statement, the median latency of each, the ratios Sluice/pre, current/pre and
# typed/pre (target for the renderings: <= 1.2x), the CPU time the gateway and the database
# spent per statement (utime + stime deltas from /proc), then every rendering with its plan
# (EXPLAIN ANALYZE on PostgreSQL, with the generic plan of bound statements; ANALYZE on MariaDB)
# and whether the plan reaches the rows through the primary keys.
#
# The data: `owners` (10,000 rows) and `items` (BENCH_ROWS rows, 1,000,000 by default, with
# `owner_id` referencing owners), both with an indexed `tenant_id` of 100 tenants `t0` … `t99`
# interleaved by id (row i belongs to tenant i % 100); items has a text (`name`, an md5 hex
# string) and a numeric (`price`) payload. The role reads both tables under
# `tenant_id = {{ token.tenant_id }}`; the token is for tenant `t$BENCH_TENANT`, and every
# statement picks a random id of that tenant.
#
# The statements (`:id` a random id of the tenant, `:hi` = `:id` + 100):
#   point    SELECT id, owner_id, name, price, qty FROM items WHERE id = :id
#            (also with a bound parameter: pgbench -M prepared, mysqlbench prepared)
#   range    SELECT id, name, price FROM items WHERE id BETWEEN :id AND :hi
#   page     SELECT id, name, price FROM items WHERE id > :id ORDER BY id LIMIT 20 OFFSET 20
#   join     SELECT items.id, items.name, owners.name AS owner_name FROM items
#            JOIN owners ON owners.id = items.owner_id WHERE items.id = :id
#   notleak  SELECT id, name, price FROM items WHERE id = :id AND name LIKE 'a%'
#            (LIKE is never proven leakproof: the fenced path, with `id = :id` moved inside)
# PostgreSQL is driven by pgbench with custom scripts (-M simple, -M prepared); MariaDB by
# integration/examples/mysqlbench.rs (mysql_async on one thread: text queries, or server-side
# prepared statements), built here in release mode. One client by default, so the numbers are
# latencies; the CPU columns are per statement and do not depend on it.
#
# Usage: integration/bench/barrier.sh   (prints the report on stdout and progress on stderr;
# about 10 minutes with the defaults on a 2-core machine). A quick check:
# BENCH_DURATION=1 BENCH_REPEAT=1 BENCH_ROWS=100000.
#
# Settings (environment):
#   BENCH_DURATION=3            seconds per run
#   BENCH_REPEAT=3              rounds; each cell's median over them is reported. The targets
#                               take turns within a round (their order rotating by round), so
#                               drift of the machine's load hits them alike
#   BENCH_WARMUP=1              seconds of each target and statement before the rounds (0: none)
#   BENCH_CLIENTS=1             concurrent clients (pgbench -c, mysqlbench CLIENTS)
#   BENCH_ENGINES="postgres mariadb"
#   BENCH_STATEMENTS="point range page join notleak"
#   BENCH_PREPARED="point"      statements also run with bound parameters ("" for none)
#   BENCH_TARGETS="sluice pre current typed"
#   BENCH_ROWS=1000000          rows of items (a multiple of 100, at least 10,000)
#   BENCH_TENANT=42             the token's tenant (t0 … t99)
#   BENCH_KEEP=1                keep the temp dir (logs, role file, audit log) and say where it is
#   SLUICE_PG_BINDIR            directory of initdb/pg_ctl/postgres/pgbench/psql (default: the
#                               highest /usr/lib/postgresql/*/bin)
#   SLUICE_MARIADB_BINDIR       directory of mariadbd/mariadb-install-db/mariadb
#   CARGO_TARGET_DIR            honoured for the build
#   TMPDIR                      where the temp dir goes (default /tmp): the servers' data, about
#                               600 MB with the default size; TMPDIR=/dev/shm keeps it off the disk
#
# The servers are throwaway ones in a temp dir on free ports (never the machine's own), with
# durability and autovacuum off (the tables are read-only once loaded and vacuumed) and small
# logs, run as the system users `postgres` and `mysql` when the script runs as root. The tables
# are prewarmed (pg_prewarm; a full read on MariaDB). It is a benchmark, not a test: a slow
# rendering or a plan that misses an index is reported, not a failure; anything that cannot be
# started is a failure with a message.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-3}
REPEAT=${BENCH_REPEAT:-3}
WARMUP=${BENCH_WARMUP:-1}
CLIENTS=${BENCH_CLIENTS:-1}
ENGINES=${BENCH_ENGINES:-"postgres mariadb"}
STATEMENTS=${BENCH_STATEMENTS:-"point range page join notleak"}
PREPARED=${BENCH_PREPARED-"point"}
TARGETS=${BENCH_TARGETS:-"sluice pre current typed"}
ROWS=${BENCH_ROWS:-1000000}
TENANT=${BENCH_TENANT:-42}
KEEP=${BENCH_KEEP:-0}
DB=bench
OWNERS=10000
TENANTS=100
SPAN=100
# The probe: an id of the tenant whose number appears nowhere else in any rendering (so that a
# rendering of the probe can be turned back into a script with :id and :hi), and whose name
# starts with 'a' (so that notleak's plan shows the row read, not an empty result): the highest
# such id (name = md5 of the id's decimal digits).
PROBE_ID=""
for ((p = ROWS - 100 + TENANT; p > 0; p -= 100)); do
    if [[ $(printf '%s' "$p" | md5sum) == a* ]]; then
        PROBE_ID=$p
        break
    fi
done
[[ -n $PROBE_ID ]] || die "no id of tenant $TENANT has a name starting with 'a'"
PROBE_HI=$((PROBE_ID + SPAN))

log() { echo "barrier.sh: $*" >&2; }
die() {
    echo "barrier.sh: error: $*" >&2
    exit 1
}

for v in DURATION REPEAT WARMUP CLIENTS ROWS TENANT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, not '${!v}'"
done
((DURATION > 0 && REPEAT > 0 && CLIENTS > 0)) || die "BENCH_DURATION, BENCH_REPEAT and BENCH_CLIENTS must be positive"
((ROWS >= 10000 && ROWS % 100 == 0)) || die "BENCH_ROWS must be a multiple of 100 and at least 10000"
((TENANT < TENANTS)) || die "BENCH_TENANT must be below $TENANTS"
for e in $ENGINES; do [[ $e == postgres || $e == mariadb ]] || die "BENCH_ENGINES: '$e' is not postgres or mariadb"; done
ALL_STATEMENTS=" point range page join notleak "
for s in $STATEMENTS $PREPARED; do [[ $ALL_STATEMENTS == *" $s "* ]] || die "'$s' is not one of:$ALL_STATEMENTS"; done
for t in $TARGETS; do [[ " sluice pre current typed " == *" $t "* ]] || die "BENCH_TARGETS: '$t' is not sluice, pre, current or typed"; done
[[ -n $ENGINES && -n $STATEMENTS && -n $TARGETS ]] || die "BENCH_ENGINES, BENCH_STATEMENTS and BENCH_TARGETS must not be empty"
has_engine() { [[ " $ENGINES " == *" $1 "* ]]; }
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

# The ids of the tenant: BASE + 100 * r, r in 0 .. COUNT-1.
ID_BASE=$TENANT
((TENANT > 0)) || ID_BASE=100
ID_COUNT=$(((ROWS - ID_BASE) / 100 + 1))

unset PGOPTIONS PGSERVICE PGSERVICEFILE PGPASSWORD PGSSLMODE PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE \
    MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT MYSQL_PWD MYSQL_HISTFILE
export PGSSLMODE=disable PGCONNECT_TIMEOUT=10 LC_ALL=C

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
# The servers refuse to run as root: as root they run as the system users the Debian packages
# create. setpriv execs the program, so `"${AS_PG[@]}" prog &` leaves the program's pid in $!.
AS_PG=()
AS_MY=()
((IS_ROOT)) && AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
((IS_ROOT)) && AS_MY=(setpriv --reuid=mysql --regid=mysql --init-groups --)

# ---- the statements -------------------------------------------------------------------------

# What the client sends.
client_sql() {
    case $1 in
    point) echo "SELECT id, owner_id, name, price, qty FROM items WHERE id = :id" ;;
    range) echo "SELECT id, name, price FROM items WHERE id BETWEEN :id AND :hi" ;;
    page) echo "SELECT id, name, price FROM items WHERE id > :id ORDER BY id LIMIT 20 OFFSET 20" ;;
    join) echo "SELECT items.id, items.name, owners.name AS owner_name FROM items JOIN owners ON owners.id = items.owner_id WHERE items.id = :id" ;;
    notleak) echo "SELECT id, name, price FROM items WHERE id = :id AND name LIKE 'a%'" ;;
    esac
}

# What the engine rendered before the barrier (commit 2afdd08 and earlier): every confined table
# a derived table under the role's filter (`SELECT *` when the role reads every column:
# engine/query.rs of that commit), the client's conditions outside it, no fence. Written out by
# hand: the baseline must not depend on the engine being measured.
pre_change_sql() { # engine statement
    local t="'t$TENANT'" items owners
    if [[ $1 == postgres ]]; then
        items="(SELECT * FROM \"public\".\"items\" WHERE (tenant_id = $t)) AS items"
        owners="(SELECT * FROM \"public\".\"owners\" WHERE (tenant_id = $t)) AS owners"
    else
        items="(SELECT * FROM \`$DB\`.\`items\` WHERE (tenant_id = $t)) AS items"
        owners="(SELECT * FROM \`$DB\`.\`owners\` WHERE (tenant_id = $t)) AS owners"
    fi
    case $2 in
    point) echo "SELECT id, owner_id, name, price, qty FROM $items WHERE id = :id" ;;
    range) echo "SELECT id, name, price FROM $items WHERE id BETWEEN :id AND :hi" ;;
    page) echo "SELECT id, name, price FROM $items WHERE id > :id ORDER BY id LIMIT 20 OFFSET 20" ;;
    join) echo "SELECT items.id, items.name, owners.name AS owner_name FROM $items JOIN $owners ON owners.id = items.owner_id WHERE items.id = :id" ;;
    notleak) echo "SELECT id, name, price FROM $items WHERE id = :id AND name LIKE 'a%'" ;;
    esac
}

with_probe() { sed -E "s/:id\b/$PROBE_ID/g; s/:hi\b/$PROBE_HI/g"; }
# A rendering of the probe made a script again (word boundaries: the numbers appear only there).
without_probe() { sed -E "s/\b$PROBE_ID\b/:id/g; s/\b$PROBE_HI\b/:hi/g"; }
# A statement with :id/:hi, $n or ? made comparable across protocols.
shape() { sed -E 's/:(id|hi)\b/?/g; s/\$[0-9]+/?/g'; }

# Every statement once, and the cells: statement|mode, simple/text before prepared.
STMTS=""
for s in $STATEMENTS $PREPARED; do [[ " $STMTS " == *" $s "* ]] || STMTS+="$s "; done
CELLS=""
for s in $STATEMENTS; do CELLS+="$s|simple "; done
for s in $PREPARED; do CELLS+="$s|prepared "; done

# ---- state and cleanup ----------------------------------------------------------------------

WORK=""
PG_STARTED=0
MARIADB_PID=""
SLUICE_PID=""

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
    stop_pid "$SLUICE_PID" TERM 10
    stop_pid "$MARIADB_PID" TERM 60
    if ((PG_STARTED)); then
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
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

if has_engine postgres; then
    if [[ -n ${SLUICE_PG_BINDIR:-} ]]; then
        PGBIN=$SLUICE_PG_BINDIR
    else
        PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    fi
    for prog in initdb pg_ctl postgres pgbench psql; do
        [[ -x $PGBIN/$prog ]] || die "PostgreSQL program '$prog' not found in '${PGBIN:-/usr/lib/postgresql/*/bin}'; install the Debian packages postgresql and postgresql-client, or set SLUICE_PG_BINDIR"
    done
    ((IS_ROOT == 0)) || id postgres >/dev/null 2>&1 || die "running as root, so PostgreSQL must run as the system user 'postgres', which does not exist"
fi
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
if has_engine mariadb; then
    MARIADBD=$(find_mariadb_prog mariadbd mysqld) || true
    INSTALL_DB=$(find_mariadb_prog mariadb-install-db mysql_install_db) || true
    MARIADB_CLIENT=$(find_mariadb_prog mariadb mysql) || true
    [[ -n $MARIADBD && -n $INSTALL_DB && -n $MARIADB_CLIENT ]] ||
        die "MariaDB programs not found (mariadbd, mariadb-install-db, mariadb); install the Debian packages mariadb-server and mariadb-client, or set SLUICE_MARIADB_BINDIR"
    ((IS_ROOT == 0)) || id mysql >/dev/null 2>&1 || die "running as root, so MariaDB must run as the system user 'mysql', which does not exist"
fi
((IS_ROOT == 0)) || command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to run the servers as their system users"
command -v python3 >/dev/null || die "python3 is needed to read the audit log"

# ---- build ----------------------------------------------------------------------------------

examples=(--example render)
has_engine mariadb && examples+=(--example mysqlbench)
log "building the gateway and the examples (cargo build --release -p sluice-proxy --bin sluice; -p sluice-integration ${examples[*]})"
cargo build --release --locked -p sluice-proxy --bin sluice >&2 || die "cargo build of the gateway failed"
cargo build --release --locked -p sluice-integration "${examples[@]}" >&2 || die "cargo build of the examples failed"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
SLUICE=$TARGET_DIR/release/sluice
RENDER=$TARGET_DIR/release/examples/render
MYSQLBENCH=$TARGET_DIR/release/examples/mysqlbench
[[ -x $SLUICE && -x $RENDER ]] || die "built binaries not found under $TARGET_DIR/release"
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- proxy policy tokens 2>/dev/null || git_rev+="+dirty"

# ---- scratch dir and ports ------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-barrier.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/pg" "$WORK/socket" "$WORK/mariadb/run" "$WORK/scripts"
if ((IS_ROOT)); then
    chown postgres:postgres "$WORK/pg" "$WORK/socket"
    chown -R mysql:mysql "$WORK/mariadb"
fi

declare -A HANDED_OUT=()
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
        [[ -z ${HANDED_OUT[$port]:-} && $port != 5432 && $port != 3306 ]] || continue
        [[ -z $(ss -Htan "( sport = :$port )" 2>/dev/null) ]] || continue
        HANDED_OUT[$port]=1
        FREE_PORT=$port
        return 0
    done
    die "cannot find a free port on 127.0.0.1"
}

# ---- PostgreSQL -----------------------------------------------------------------------------

PG_PORT=""
PG_VERSION=""
pg_direct() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
if has_engine postgres; then
    PG_VERSION=$("$PGBIN/postgres" --version | awk '{print $3}')
    log "starting a throwaway PostgreSQL $PG_VERSION in $WORK/pg/data"
    "${AS_PG[@]}" "$PGBIN/initdb" --pgdata "$WORK/pg/data" --username postgres --auth=trust \
        --encoding=UTF8 --no-locale --no-sync >"$WORK/logs/initdb.log" 2>&1 ||
        die "initdb failed:$(echo; tail -n 20 "$WORK/logs/initdb.log")"
    for attempt in 1 2 3; do
        free_port
        if "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
            -o "-p $FREE_PORT -k $WORK/socket -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=512MB -c autovacuum=off -c TimeZone=UTC -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=128MB -c min_wal_size=32MB" \
            start >"$WORK/logs/pg_ctl.log" 2>&1; then
            PG_PORT=$FREE_PORT
            PG_STARTED=1
            break
        fi
        log "PostgreSQL did not start on port $FREE_PORT (attempt $attempt)"
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
    done
    [[ -n $PG_PORT ]] || die "PostgreSQL did not start; its log ends with:$(echo; tail -n 20 "$WORK/pg/postgres.log" 2>/dev/null)"
    PG_PID=$(head -n 1 "$WORK/pg/data/postmaster.pid")
    pg_direct -d postgres -c "CREATE DATABASE $DB" || die "CREATE DATABASE $DB failed"
    log "PostgreSQL: loading owners ($OWNERS rows) and items ($ROWS rows)"
    # Row i belongs to tenant i % 100; items' owner is one of its tenant's owners.
    pg_direct -d "$DB" >"$WORK/logs/pg-load.log" 2>&1 <<EOF || die "loading PostgreSQL failed:$(echo; tail -n 20 "$WORK/logs/pg-load.log")"
CREATE TABLE owners (id integer PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
INSERT INTO owners SELECT i, 't' || (i % $TENANTS), 'owner ' || md5(i::text) FROM generate_series(1, $OWNERS) i;
CREATE INDEX owners_tenant_id ON owners (tenant_id);
CREATE TABLE items (
    id integer PRIMARY KEY,
    tenant_id text NOT NULL,
    owner_id integer NOT NULL REFERENCES owners (id),
    name text NOT NULL,
    price numeric(10, 2) NOT NULL,
    qty integer NOT NULL,
    created_at timestamp NOT NULL
);
INSERT INTO items
SELECT i, 't' || (i % $TENANTS), $TENANTS * ((i / $TENANTS) % ($OWNERS / $TENANTS - 1)) + (i % $TENANTS) + $TENANTS,
       md5(i::text), (i % 1000) + 0.99, i % 50, timestamp '2026-01-01' + i * interval '1 minute'
FROM generate_series(1, $ROWS) i;
CREATE INDEX items_tenant_id ON items (tenant_id);
VACUUM ANALYZE owners, items;
CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm('items'), pg_prewarm('items_pkey'), pg_prewarm('items_tenant_id'),
       pg_prewarm('owners'), pg_prewarm('owners_pkey'), pg_prewarm('owners_tenant_id');
EOF
fi

# ---- MariaDB --------------------------------------------------------------------------------

MY_PORT=""
MARIADB_VERSION=""
my_direct() { "$MARIADB_CLIENT" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" -u root "$@"; }
if has_engine mariadb; then
    MY_DIR=$WORK/mariadb
    log "starting a throwaway MariaDB in $MY_DIR/data"
    "${AS_MY[@]}" "$INSTALL_DB" --no-defaults --datadir="$MY_DIR/data" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve >"$WORK/logs/install-db.log" 2>&1 ||
        die "$INSTALL_DB failed:$(echo; tail -n 20 "$WORK/logs/install-db.log")"
    for attempt in 1 2 3; do
        free_port
        port=$FREE_PORT
        : >"$WORK/logs/mariadbd.log"
        "${AS_MY[@]}" "$MARIADBD" --no-defaults --datadir="$MY_DIR/data" \
            --socket="$MY_DIR/run/mariadb.sock" --pid-file="$MY_DIR/run/mariadbd.pid" --tmpdir="$MY_DIR/run" \
            --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci --default-time-zone=+00:00 \
            --max-connections=200 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
            --innodb-buffer-pool-size=512M --innodb-log-file-size=48M --innodb-use-native-aio=0 \
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
    done
    [[ -n $MY_PORT ]] || die "MariaDB did not start: no free port after 3 attempts"
    MARIADB_VERSION=$(my_direct -N -e 'SELECT VERSION()')
    log "MariaDB: loading owners ($OWNERS rows) and items ($ROWS rows)"
    # The secondary indexes and the foreign key after the rows: a much faster load.
    my_direct >"$WORK/logs/my-load.log" 2>&1 <<EOF || die "loading MariaDB failed:$(echo; tail -n 20 "$WORK/logs/my-load.log")"
CREATE DATABASE $DB;
USE $DB;
CREATE TABLE owners (id INT PRIMARY KEY, tenant_id VARCHAR(8) NOT NULL, name VARCHAR(64) NOT NULL) ENGINE=InnoDB;
INSERT INTO owners SELECT seq, CONCAT('t', seq % $TENANTS), CONCAT('owner ', MD5(seq)) FROM seq_1_to_$OWNERS;
CREATE INDEX owners_tenant_id ON owners (tenant_id);
CREATE TABLE items (
    id INT PRIMARY KEY,
    tenant_id VARCHAR(8) NOT NULL,
    owner_id INT NOT NULL,
    name VARCHAR(64) NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    qty INT NOT NULL,
    created_at DATETIME NOT NULL
) ENGINE=InnoDB;
INSERT INTO items
SELECT seq, CONCAT('t', seq % $TENANTS), $TENANTS * ((seq DIV $TENANTS) % ($OWNERS DIV $TENANTS - 1)) + (seq % $TENANTS) + $TENANTS,
       MD5(seq), (seq % 1000) + 0.99, seq % 50, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq MINUTE
FROM seq_1_to_$ROWS;
CREATE INDEX items_tenant_id ON items (tenant_id);
ALTER TABLE items ADD CONSTRAINT items_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES owners (id);
ANALYZE TABLE owners, items;
SELECT SUM(qty) FROM items;
SELECT COUNT(*) FROM items FORCE INDEX (items_tenant_id) WHERE tenant_id >= '';
EOF
fi

# ---- Sluice ---------------------------------------------------------------------------------

cat >"$WORK/roles.yaml" <<'EOF'
roles:
  tenant:
    description: one tenant's agent, reading items and their owners
    tables:
      items: [SELECT]
      owners: [SELECT]
    filters:
      items: "tenant_id = {{ token.tenant_id }}"
      owners: "tenant_id = {{ token.tenant_id }}"
EOF
"$SLUICE" check --rbac-config "$WORK/roles.yaml" >"$WORK/logs/check.log" 2>&1 ||
    die "the benchmark's role file is refused:$(echo; cat "$WORK/logs/check.log")"
"$SLUICE" keygen --out-dir "$WORK/keys" >"$WORK/logs/keygen.log" 2>&1 ||
    die "sluice keygen failed:$(echo; cat "$WORK/logs/keygen.log")"
TOKEN=$("$SLUICE" token create --key "$WORK/keys/issuer.key" --role tenant --tenant-id "t$TENANT" \
    --expires-in 6h --label barrier --rbac-config "$WORK/roles.yaml" 2>"$WORK/logs/token.log") ||
    die "sluice token create failed:$(echo; cat "$WORK/logs/token.log")"

SLUICE_PG_PORT=""
SLUICE_MY_PORT=""
started=0
for attempt in 1 2 3; do
    doors=()
    if has_engine postgres; then
        free_port
        SLUICE_PG_PORT=$FREE_PORT
        doors+=(--pg-listen "127.0.0.1:$SLUICE_PG_PORT" --pg-backend "postgres://postgres@127.0.0.1:$PG_PORT/$DB")
    fi
    if has_engine mariadb; then
        free_port
        SLUICE_MY_PORT=$FREE_PORT
        doors+=(--mysql-listen "127.0.0.1:$SLUICE_MY_PORT" --mysql-backend "mysql://root@127.0.0.1:$MY_PORT/$DB")
    fi
    log "starting Sluice (${doors[*]})"
    SLUICE_LOG=${SLUICE_LOG:-warn} "$SLUICE" serve "${doors[@]}" \
        --rbac-config "$WORK/roles.yaml" --public-key "$WORK/keys/issuer.pub" \
        --pool-size 8 --drain-timeout 2s --audit-log "$WORK/audit.log" \
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
((started)) || die "sluice serve did not start: no free port after 3 attempts"

# ---- the renderings -------------------------------------------------------------------------

# The audit log's allowed statements since it was last emptied: "rendered" of each, one a line.
audit_rendered() {
    sleep 0.3 # the audit writer is asynchronous
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "statement" and e.get("rendered"):
        print(e["decision"], e["rendered"])
' "$WORK/audit.log"
}
DENIALS=$WORK/denials.jsonl
: >"$DENIALS"
collect_audit() {
    sleep 0.3
    grep -E '"decision":"(deny|error)"' "$WORK/audit.log" >>"$DENIALS" || true
    : >"$WORK/audit.log"
}

pgbench_script() { # file sql
    {
        echo "\\set id $ID_BASE + 100 * random(0, $((ID_COUNT - 1)))"
        echo "\\set hi :id + $SPAN"
        echo "$2;"
    } >"$1"
}
probe_script() { # file sql
    {
        echo "\\set id $PROBE_ID"
        echo "\\set hi $PROBE_HI"
        echo "$2;"
    } >"$1"
}
sluice_my_url() { echo "mysql://agent@127.0.0.1:$SLUICE_MY_PORT/$DB?enable_cleartext_plugin=true"; }
direct_my_url() { echo "mysql://root@127.0.0.1:$MY_PORT/$DB"; }

# Runs the probe of one statement through Sluice in one protocol; prints the rendered statement
# the audit log holds for it.
probe_sluice() { # engine statement mode
    local engine=$1 stmt=$2 mode=$3 out f=$WORK/scripts/probe.sql line
    : >"$WORK/audit.log"
    if [[ $engine == postgres ]]; then
        probe_script "$f" "$(client_sql "$stmt")"
        PGPASSWORD=$TOKEN "$PGBIN/pgbench" -n -t 1 -c 1 -M "$mode" -f "$f" -h 127.0.0.1 -p "$SLUICE_PG_PORT" -U agent "$DB" \
            >"$WORK/logs/probe-$engine-$stmt-$mode.log" 2>&1 ||
            die "$stmt ($mode) through Sluice failed:$(echo; grep -v '^ *$' "$WORK/logs/probe-$engine-$stmt-$mode.log" | tail -n 5)"
    else
        local m=text
        [[ $mode == prepared ]] && m=prepared
        MYSQL_PWD=$TOKEN "$MYSQLBENCH" "$(sluice_my_url)" 0 1 "$m" "$PROBE_ID:100:1" "$SPAN" "$(client_sql "$stmt")" \
            >"$WORK/logs/probe-$engine-$stmt-$mode.log" 2>&1 ||
            die "$stmt ($mode) through Sluice failed:$(echo; tail -n 5 "$WORK/logs/probe-$engine-$stmt-$mode.log")"
    fi
    line=$(audit_rendered | grep -v '^allow \(PREPARE\|DEALLOCATE\)' | tail -n 1)
    : >"$WORK/audit.log"
    [[ $line == "allow "* ]] || die "no allowed rendering of $stmt ($mode) in the audit log: '$line'"
    echo "${line#allow }"
}

# The engine with the backend's column types (or without: no URL, the gateway's mode today).
render_engine() { # engine statement [url]
    local dialect=postgres
    [[ $1 == mariadb ]] && dialect=mysql
    client_sql "$2" | with_probe |
        RENDER_DATABASE=$DB "$RENDER" "$dialect" "$WORK/roles.yaml" tenant "t$TENANT" ${3:+"$3"} 2>>"$WORK/logs/render.err"
}

declare -A SQL=() BOUND=() NOTE=()
for engine in $ENGINES; do
    url="postgres://postgres@127.0.0.1:$PG_PORT/$DB"
    [[ $engine == mariadb ]] && url=$(direct_my_url)
    for stmt in $STMTS; do
        log "$engine: renderings of $stmt"
        SQL[$engine|$stmt|client]=$(client_sql "$stmt")
        SQL[$engine|$stmt|pre]=$(pre_change_sql "$engine" "$stmt")
        SQL[$engine|$stmt|current]=$(probe_sluice "$engine" "$stmt" simple | without_probe)
        untyped=$(render_engine "$engine" "$stmt" | without_probe)
        SQL[$engine|$stmt|typed]=$(render_engine "$engine" "$stmt" "$url" | without_probe)
        [[ ${SQL[$engine|$stmt|typed]} != DENIED:* ]] || die "the engine with types denies $stmt: ${SQL[$engine|$stmt|typed]}"
        notes=""
        [[ $untyped == "${SQL[$engine|$stmt|current]}" ]] ||
            notes+="  NOTE: the render example without types gives another text than the gateway: $untyped"$'\n'
        if [[ ${SQL[$engine|$stmt|typed]} == "${SQL[$engine|$stmt|pre]}" ]]; then
            notes+="  typed == pre: the engine with types renders exactly the pre-change text"$'\n'
        fi
        if [[ " $PREPARED " == *" $stmt "* ]]; then
            BOUND[$engine|$stmt]=$(probe_sluice "$engine" "$stmt" prepared)
            if [[ $(shape <<<"${BOUND[$engine|$stmt]}") == $(shape <<<"${SQL[$engine|$stmt|current]}") ]]; then
                notes+="  bound: the gateway's rendering of the bound statement has the same shape as current's"$'\n'
            else
                notes+="  NOTE: the gateway renders the bound statement differently: ${BOUND[$engine|$stmt]}"$'\n'
            fi
        fi
        NOTE[$engine|$stmt]=$notes
    done
done
: >"$WORK/audit.log"

# Script files (pgbench) and texts (mysqlbench) per engine, statement and target.
script_of() { # engine statement target -> the SQL with :id/:hi
    case $3 in
    sluice) echo "${SQL[$1|$2|client]}" ;;
    *) echo "${SQL[$1|$2|$3]}" ;;
    esac
}
for engine in $ENGINES; do
    [[ $engine == postgres ]] || continue
    for stmt in $STMTS; do
        for target in $TARGETS; do
            pgbench_script "$WORK/scripts/$stmt-$target.sql" "$(script_of postgres "$stmt" "$target")"
        done
    done
done

# ---- measuring ------------------------------------------------------------------------------

HZ=$(getconf CLK_TCK)
# CPU ticks (utime + stime, all threads) a process has used so far.
proc_ticks() { [[ -n $1 && -r /proc/$1/stat ]] && awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" || echo 0; }
# PostgreSQL's CPU ticks: the postmaster's own and its reaped children's (a backend that has
# exited, like each direct pgbench run's), plus every living child's (the gateway's pooled
# backends, the background processes).
pg_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$PG_PID" '{
        pid = $1; sub(/^.*\) /, "")
        if (pid == pm) s += $12 + $13 + $14 + $15
        else if ($2 == pm) s += $12 + $13
    } END { print s + 0 }'
}
db_ticks() { if [[ $1 == postgres ]]; then pg_ticks; else proc_ticks "$MARIADB_PID"; fi; }
# The machine's CPU ticks: busy (user, nice, system, irq, softirq, steal) and total (with idle).
machine_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# Sets CHILD_TICKS to the CPU ticks of this shell's finished children (bash's `times`; see
# sysbench.sh for why not in a subshell).
children_ticks() {
    local f=$WORK/times.$BASHPID
    times >"$f"
    CHILD_TICKS=$(awk -v hz="$HZ" 'NR == 2 {
        n = split($1 " " $2, p, " "); s = 0
        for (i = 1; i <= n; i++) { split(p[i], ms, "m"); sub(/s$/, "", ms[2]); s += ms[1] * 60 + ms[2] }
        printf "%.0f", s * hz }' "$f")
    rm -f "$f"
}

# One run; prints "LATENCY_US TPS GATEWAY_US DB_US OTHERS_PCT GATEWAY_IDLE_PCT" (per statement;
# for a direct target the gateway's CPU per statement is "-" and its idle CPU, the percentage of
# one core it used while nobody used it, is measured instead), or fails.
run_one() { # engine statement mode target seconds logfile
    local engine=$1 stmt=$2 mode=$3 target=$4 secs=$5 logf=$6
    local rc=0 g0 g1 d0 d1 c0 c1 m0 m1 n lat tps gw="-" db others idle="-"
    local guard=(timeout -k 10 "$((secs + 120))")
    g0=$(proc_ticks "$SLUICE_PID")
    d0=$(db_ticks "$engine")
    children_ticks
    c0=$CHILD_TICKS
    m0=$(machine_ticks)
    if [[ $engine == postgres ]]; then
        local args=(-n -T "$secs" -c "$CLIENTS" -j "$CLIENTS" -M "$mode" -f "$WORK/scripts/$stmt-$target.sql")
        if [[ $target == sluice ]]; then
            PGPASSWORD=$TOKEN "${guard[@]}" "$PGBIN/pgbench" "${args[@]}" -h 127.0.0.1 -p "$SLUICE_PG_PORT" -U agent "$DB" >"$logf" 2>&1 || rc=$?
        else
            "${guard[@]}" "$PGBIN/pgbench" "${args[@]}" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB" >"$logf" 2>&1 || rc=$?
        fi
    else
        local m=text
        [[ $mode == prepared ]] && m=prepared
        local args=("$secs" "$CLIENTS" "$m" "$ID_BASE:100:$ID_COUNT" "$SPAN" "$(script_of mariadb "$stmt" "$target")")
        if [[ $target == sluice ]]; then
            MYSQL_PWD=$TOKEN "${guard[@]}" "$MYSQLBENCH" "$(sluice_my_url)" "${args[@]}" >"$logf" 2>&1 || rc=$?
        else
            "${guard[@]}" "$MYSQLBENCH" "$(direct_my_url)" "${args[@]}" >"$logf" 2>&1 || rc=$?
        fi
    fi
    m1=$(machine_ticks)
    children_ticks
    c1=$CHILD_TICKS
    d1=$(db_ticks "$engine")
    g1=$(proc_ticks "$SLUICE_PID")
    ((rc == 0)) || return 1
    if [[ $engine == postgres ]]; then
        n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$logf")
        lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$logf")
        tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$logf")
    else
        n=$(sed -nE 's/.*transactions=([0-9]+).*/\1/p' "$logf")
        lat=$(sed -nE 's/.*latency_ms=([0-9.]+).*/\1/p' "$logf")
        tps=$(sed -nE 's/.*tps=([0-9.]+).*/\1/p' "$logf")
    fi
    [[ -n $n && -n $lat && -n $tps ]] && ((n > 0)) || return 1
    lat=$(awk -v l="$lat" 'BEGIN { printf "%.1f", l * 1000 }')
    if [[ $target == sluice ]]; then
        gw=$(awk -v d="$((g1 - g0))" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
    else
        idle=$(awk -v d="$((g1 - g0))" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.2f", d / hz / s * 100 }')
    fi
    db=$(awk -v d="$((d1 - d0))" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
    others=$(awk -v a="$m0" -v b="$m1" -v ours="$((g1 - g0 + d1 - d0 + c1 - c0))" 'BEGIN {
        split(a, x, " "); split(b, y, " "); tot = y[2] - x[2]
        if (tot <= 0) { print 0; exit }
        o = (y[1] - x[1] - ours) / tot * 100; if (o < 0) o = 0; printf "%.0f", o }')
    echo "$lat $tps $gw $db $others $idle"
}

machine_busy() {
    local a b
    a=$(machine_ticks)
    sleep 2
    b=$(machine_ticks)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] - x[2] > 0) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print 0 }'
}
loadavg() { awk '{print $1}' /proc/loadavg; }

declare -A LAT=() TPS=() GW=() DBC=() OTHERS=() FAILED=()
GW_IDLE=""
FAILURES=$WORK/failures.txt
: >"$FAILURES"
read -ra TARGET_LIST <<<"$TARGETS"
n_targets=${#TARGET_LIST[@]}

if ((WARMUP > 0)); then
    for engine in $ENGINES; do
        log "$engine: warm-up, ${WARMUP}s per statement and target"
        for cell in $CELLS; do
            IFS='|' read -r stmt mode <<<"$cell"
            for target in $TARGETS; do
                run_one "$engine" "$stmt" "$mode" "$target" "$WARMUP" "$WORK/logs/warmup-$engine-$stmt-$mode-$target.log" >/dev/null ||
                    log "warm-up of $engine $stmt $mode $target failed (see the table)"
                [[ $target == sluice ]] && collect_audit
            done
        done
    done
fi

BUSY_BEFORE=$(machine_busy)
LOAD_BEFORE=$(loadavg)
((BUSY_BEFORE <= 10)) || log "warning: the machine is ${BUSY_BEFORE}% busy before measuring (other processes); the numbers will be disturbed"
total=$(($(wc -w <<<"$ENGINES") * $(wc -w <<<"$CELLS") * n_targets * REPEAT))
run_no=0
log "measuring: $total runs of ${DURATION}s (load average $LOAD_BEFORE, CPU busy ${BUSY_BEFORE}%)"
for engine in $ENGINES; do
    for ((round = 0; round < REPEAT; round++)); do
        for cell in $CELLS; do
            IFS='|' read -r stmt mode <<<"$cell"
            for ((k = 0; k < n_targets; k++)); do
                target=${TARGET_LIST[$(((k + round) % n_targets))]}
                run_no=$((run_no + 1))
                key="$engine|$stmt|$mode|$target"
                logf="$WORK/logs/run-$engine-$stmt-$mode-$target-$round.log"
                what="[$run_no/$total] $engine $stmt $mode $target #$((round + 1))"
                if result=$(run_one "$engine" "$stmt" "$mode" "$target" "$DURATION" "$logf"); then
                    read -r r_lat r_tps r_gw r_db r_oth r_idle <<<"$result"
                    [[ $r_idle == - ]] || GW_IDLE+="$r_idle "
                    LAT[$key]+="$r_lat "
                    TPS[$key]+="$r_tps "
                    [[ $r_gw == - ]] || GW[$key]+="$r_gw "
                    DBC[$key]+="$r_db "
                    OTHERS[$engine|$stmt|$mode]+="$r_oth "
                    log "$what: $r_lat us, $r_tps tps, gateway $r_gw us, database $r_db us per statement, others ${r_oth}% CPU"
                else
                    FAILED[$key]=1
                    log "$what: FAILED (errors at the end)"
                    { echo "== $what:"; grep -v '^ *$' "$logf" | tail -n 5; } >>"$FAILURES"
                fi
                [[ $target == sluice ]] && collect_audit
            done
        done
    done
done
BUSY_AFTER=$(machine_busy)

# ---- plans ----------------------------------------------------------------------------------

# A statement with the probe's numbers, or (generic) PostgreSQL parameters.
as_probe() { with_probe <<<"$1"; }
as_params() { sed -E 's/:id\b/$1/g; s/:hi\b/$2/g' <<<"$1"; }

# OK when the id condition reaches items through its primary key (an index condition on id) and,
# for the join, owners through theirs: then the tenant's filter is checked on the few rows the
# keys found. NOT OK when items is read through items_tenant_id alone (the tenant's every row) or
# sequentially.
pg_plan_check() { # statement plan
    awk -v stmt="$1" '
        NR == 1 || /->/ {
            on_items = /(using|on) items_pkey/; on_owners = /(using|on) owners_pkey/
        }
        /Seq Scan on items/ { seq = 1 }
        on_items && /Index Cond: .*[( ]id [=<>]/ { items = 1 }
        on_owners && /Index Cond: .*[( ]id [=<>]/ { owners = 1 }
        END {
            why = ""
            if (!items) why = why "items not reached through items_pkey; "
            if (stmt == "join" && !owners) why = why "owners not reached through owners_pkey; "
            if (seq) why = why "sequential scan of items; "
            if (why == "") print "OK"; else { sub(/; $/, "", why); print "NOT OK (" why ")" }
        }' <<<"$2"
}
# MariaDB: the primary key, or a range on items_tenant_id (InnoDB appends the primary key to a
# secondary index: a range there with the tenant's equality is a range on (tenant_id, id); `ref`
# is the tenant's equality alone).
my_plan_check() { # statement analyze-output (tab-separated, with header)
    awk -F'\t' -v stmt="$1" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        {
            t = $col["table"]; k = $col["key"]; ty = $col["type"]
            if (t == "items") {
                if (k ~ /PRIMARY/ || (k == "items_tenant_id" && ty == "range")) items = 1
                if (ty == "ALL") seq = 1
            }
            if (t == "owners" && k ~ /PRIMARY/) owners = 1
        }
        END {
            why = ""
            if (!items) why = why "items not reached through PRIMARY; "
            if (stmt == "join" && !owners) why = why "owners not reached through PRIMARY; "
            if (seq) why = why "full scan of items; "
            if (why == "") print "OK"; else { sub(/; $/, "", why); print "NOT OK (" why ")" }
        }' <<<"$2"
}

declare -A PLAN=() VERDICT=()
for engine in $ENGINES; do
    for stmt in $STMTS; do
        for r in pre current typed; do
            sql=$(as_probe "${SQL[$engine|$stmt|$r]}")
            if [[ $engine == postgres ]]; then
                plan=$(pg_direct -d "$DB" -A -t -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $sql" 2>&1) || true
            else
                plan=$(my_direct -B "$DB" -e "ANALYZE $sql" 2>&1) || true
            fi
            PLAN[$engine|$stmt|$r]=$plan
            if [[ $engine == postgres ]]; then
                VERDICT[$engine|$stmt|$r]=$(pg_plan_check "$stmt" "$plan")
            else
                VERDICT[$engine|$stmt|$r]=$(my_plan_check "$stmt" "$plan")
            fi
            if [[ $engine == postgres && " $PREPARED " == *" $stmt "* ]]; then
                # The plan a bound statement gets once PostgreSQL settles on a generic plan.
                values=$PROBE_ID
                if [[ ${SQL[$engine|$stmt|$r]} == *:hi* ]]; then values+=", $PROBE_HI"; fi
                psql_in="SET plan_cache_mode = force_generic_plan;
PREPARE s AS $(as_params "${SQL[$engine|$stmt|$r]}");
EXPLAIN (COSTS OFF) EXECUTE s($values);"
                plan=$(pg_direct -d "$DB" -A -t <<<"$psql_in" 2>&1) || true
                PLAN[$engine|$stmt|$r|generic]=$plan
                VERDICT[$engine|$stmt|$r|generic]=$(pg_plan_check "$stmt" "$plan")
            fi
        done
    done
done

# ---- report ---------------------------------------------------------------------------------

median() { # numbers... -> median (empty if none)
    printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {
        if (NR == 0) exit
        if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
maximum() { printf '%s\n' "$@" | grep -v '^$' | sort -g | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }
num() { [[ $1 =~ ^[0-9.]+$ ]] && echo "$1" || echo ""; }
cell_value() { # key LAT|GW|DB
    local key=$1 vals
    has_target "${key##*|}" || { echo "-"; return; }
    [[ -z ${FAILED[$key]:-} ]] || { echo "FAIL"; return; }
    case $2 in
    LAT) vals=${LAT[$key]:-} ;;
    GW) vals=${GW[$key]:-} ;;
    DB) vals=${DBC[$key]:-} ;;
    esac
    [[ -n $vals ]] || { echo "-"; return; }
    # shellcheck disable=SC2086
    median $vals
}
verdict() { # ratio limit
    [[ -n $1 ]] || { echo "n/a"; return; }
    awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 <= t + 0) ? "ok" : "OVER" }'
}

echo
echo "The confinement barrier: latency and CPU per statement, through Sluice and directly"
echo "  sluice $git_rev (release); ${PG_VERSION:+PostgreSQL $PG_VERSION (fsync off)}${PG_VERSION:+${MARIADB_VERSION:+, }}${MARIADB_VERSION:+MariaDB $MARIADB_VERSION}"
echo "  items $ROWS rows, owners $OWNERS rows, $TENANTS tenants interleaved by id; token for tenant t$TENANT ($ID_COUNT items)"
echo "  $CLIENTS client(s); median of $REPEAT round(s) of ${DURATION}s, targets in turns; $(nproc) CPU(s), all on this machine"
echo "  machine busy before measuring: ${BUSY_BEFORE}% (load average $LOAD_BEFORE), after: ${BUSY_AFTER}% (others' share: over 10% disturbs the numbers)"
# shellcheck disable=SC2086
[[ -z $GW_IDLE ]] || echo "  the gateway idle (during the direct runs) used $(median $GW_IDLE)% of one core (median; at most $(maximum $GW_IDLE)%)"
echo "  'current' is the gateway's rendering (audit log); 'typed' the engine's with the column types"
echo "  read by integration/examples/render.rs: the two agree when the gateway has loaded the schema."
for engine in $ENGINES; do
    echo
    echo "== $engine: mean latency per statement (us), median over rounds"
    fmt="%-8s %-8s | %8s %8s %8s %8s | %6s %6s %6s %6s | %5s %5s | %7s | %7s %7s %7s %7s | %5s\n"
    # shellcheck disable=SC2059
    printf "$fmt" statement protocol sluice pre current typed S/P S/C C/P T/P "C/P" "T/P" "gateway" "db" "db" "db" "db" other
    # shellcheck disable=SC2059
    printf "$fmt" "" "" us us us us "" "" "" "" "<=1.2" "<=1.2" "us/stmt" sluice pre current typed "CPU%"
    printf '%s\n' "---------------------------------------------------------------------------------------------------------------------------------------------"
    for cell in $CELLS; do
        IFS='|' read -r stmt mode <<<"$cell"
        k="$engine|$stmt|$mode"
        s=$(cell_value "$k|sluice" LAT)
        p=$(cell_value "$k|pre" LAT)
        c=$(cell_value "$k|current" LAT)
        t=$(cell_value "$k|typed" LAT)
        sp=$(ratio "$(num "$s")" "$(num "$p")")
        sc=$(ratio "$(num "$s")" "$(num "$c")")
        cp=$(ratio "$(num "$c")" "$(num "$p")")
        tp=$(ratio "$(num "$t")" "$(num "$p")")
        proto=$mode
        [[ $engine == mariadb && $mode == simple ]] && proto=text
        # shellcheck disable=SC2086
        printf "$fmt" "$stmt" "$proto" "$s" "$p" "$c" "$t" "${sp:--}" "${sc:--}" "${cp:--}" "${tp:--}" \
            "$(verdict "$cp" 1.2)" "$(verdict "$tp" 1.2)" "$(cell_value "$k|sluice" GW)" \
            "$(cell_value "$k|sluice" DB)" "$(cell_value "$k|pre" DB)" "$(cell_value "$k|current" DB)" "$(cell_value "$k|typed" DB)" \
            "$(maximum ${OTHERS[$k]:-})"
    done
    echo "S/P = Sluice / pre (the gateway's whole cost: the extra hop, the engine, the audit line, and the"
    echo "rendering it sends); S/C = Sluice / current (the gateway's own cost, the rendering being the same);"
    echo "C/P = current / pre and T/P = typed / pre (the rendering's cost to the database alone, target"
    echo "<= 1.2); gateway = the gateway process's CPU per statement (at one client it includes waking its"
    echo "threads for every statement); db = the database's CPU"
    echo "per statement (PostgreSQL: the postmaster and all its backends); other CPU% = the most, over the"
    echo "cell's runs, of the machine's CPU used by anything but the client, the gateway and the database"
done

echo
echo "== Renderings and plans"
echo "OK = items reached through its primary key (an index condition on id; on MariaDB also a range on"
echo "items_tenant_id, which InnoDB extends with the primary key: (tenant_id, id)) and, in the join, owners"
echo "through its primary key; the tenant's filter then runs on those few rows. NOT OK = items read through"
echo "items_tenant_id by the tenant alone (all ${ID_COUNT} of the tenant's rows) or sequentially. Plans are of"
echo "the probe :id = $PROBE_ID, :hi = $PROBE_HI (PostgreSQL: EXPLAIN ANALYZE, COSTS OFF, TIMING OFF; MariaDB:"
echo "ANALYZE, whose r_rows are the rows read)."
for engine in $ENGINES; do
    for stmt in $STMTS; do
        echo
        echo "-- $engine $stmt"
        echo "client:   ${SQL[$engine|$stmt|client]}"
        for r in pre current typed; do
            printf '%-9s %s\n' "$r:" "${SQL[$engine|$stmt|$r]}"
        done
        [[ -z ${BOUND[$engine|$stmt]:-} ]] || printf '%-9s %s\n' "bound:" "${BOUND[$engine|$stmt]} (the gateway's, from a prepared statement)"
        printf '%s' "${NOTE[$engine|$stmt]}"
        for r in pre current typed; do
            echo "  plan of $r: ${VERDICT[$engine|$stmt|$r]}"
            sed 's/^/    | /' <<<"${PLAN[$engine|$stmt|$r]}"
            if [[ -n ${PLAN[$engine|$stmt|$r|generic]:-} ]]; then
                echo "  generic plan of $r (bound parameters): ${VERDICT[$engine|$stmt|$r|generic]}"
                sed 's/^/    | /' <<<"${PLAN[$engine|$stmt|$r|generic]}"
            fi
        done
    done
done

echo
echo "== Plan check summary"
for engine in $ENGINES; do
    for stmt in $STMTS; do
        line="$engine $stmt:"
        for r in pre current typed; do
            line+=" $r ${VERDICT[$engine|$stmt|$r]%% (*}"
            [[ -z ${VERDICT[$engine|$stmt|$r|generic]:-} ]] || line+=" (generic ${VERDICT[$engine|$stmt|$r|generic]%% (*})"
            line+=";"
        done
        echo "  ${line%;}"
    done
done

if [[ -s $FAILURES ]]; then
    echo
    echo "Failed runs:"
    cat "$FAILURES"
fi
if [[ -s $DENIALS ]]; then
    echo
    echo "Sluice denials and backend errors in the audit log ($(wc -l <"$DENIALS") lines; numbers shown as N):"
    python3 -c '
import json, re, sys, collections
c = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    c[re.sub(r"[0-9]+", "N", "%s [%s] %s <- %s" % (e.get("decision"), e.get("rule", "-"), e.get("reason", "-"), e.get("statement", "-")))] += 1
for k, n in c.most_common(20):
    print("%7d %s" % (n, k))
' "$DENIALS"
fi
