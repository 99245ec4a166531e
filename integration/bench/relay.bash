# Sourced by pgbench.sh and sysbench.sh: starts the byte relay (integration/examples/relay.rs).
# Uses the sourcing script's free_port, log, die and $WORK.

# start_relay RELAY_BIN TARGET_PORT LABEL: starts the relay in front of 127.0.0.1:TARGET_PORT on
# a free port (three tries); sets RELAY_PORT and RELAY_PID.
start_relay() {
    local bin=$1 target_port=$2 label=$3 started=0 attempt i
    for attempt in 1 2 3; do
        free_port
        RELAY_PORT=$FREE_PORT
        "$bin" "127.0.0.1:$RELAY_PORT" "127.0.0.1:$target_port" >"$WORK/logs/relay.log" 2>&1 &
        RELAY_PID=$!
        for ((i = 0; i < 100; i++)); do
            if grep -q '^relay: ' "$WORK/logs/relay.log" 2>/dev/null; then
                started=1
                break
            fi
            kill -0 "$RELAY_PID" 2>/dev/null || break
            sleep 0.1
        done
        ((started)) && break
        RELAY_PID=""
        grep -qi 'address already in use\|cannot listen' "$WORK/logs/relay.log" ||
            die "the relay did not start:$(echo; tail -n 5 "$WORK/logs/relay.log")"
    done
    ((started)) || die "the relay did not start: no free port after 3 attempts"
    log "relay on 127.0.0.1:$RELAY_PORT -> $label ($(head -n 1 "$WORK/logs/relay.log"))"
}
