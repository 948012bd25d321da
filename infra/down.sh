#!/usr/bin/env bash
# Stop the local missive stack started by infra/up.sh: the Kafka broker and
# the private PostgreSQL cluster. Data in .data/ is kept. Idempotent.
set -euo pipefail

LOG_TAG=down
# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_kafka() {
    local pids=() pid i
    if pid="$(kafka_pid_alive)"; then pids+=("$pid"); fi
    # Fallback when the pid file is stale or gone: brokers running on our
    # data folder, and only those.
    while read -r pid; do
        if [[ -n "$pid" && " ${pids[*]} " != *" $pid "* ]]; then pids+=("$pid"); fi
    done < <(kafka_pids_in_data_dir)

    if [[ ${#pids[@]} -eq 0 ]]; then
        log "Kafka is not running"
    else
        log "stopping Kafka (pid ${pids[*]})"
        kill "${pids[@]}" 2>/dev/null || true
        for ((i = 0; i < 60; i++)); do
            local alive=0
            for pid in "${pids[@]}"; do
                if [[ -e "/proc/$pid" ]]; then alive=1; fi
            done
            if [[ "$alive" -eq 0 ]]; then break; fi
            sleep 0.5
        done
        for pid in "${pids[@]}"; do
            if [[ -e "/proc/$pid" ]]; then
                log "Kafka (pid $pid) ignored SIGTERM for 30s: killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
    fi
    rm -f "$KAFKA_PID_FILE"
}

stop_postgres() {
    local bindir
    if [[ ! -s "$PG_DATA/PG_VERSION" ]] || ! bindir="$(pg_bindir 2>/dev/null)"; then
        log "PostgreSQL: no cluster in ${PG_DATA#"$REPO_ROOT"/}"
        return 0
    fi
    if [[ -z "$(pg_running_port "$bindir")" ]]; then
        log "PostgreSQL is not running"
        return 0
    fi
    log "stopping PostgreSQL (fast shutdown)"
    mkdir -p "$LOG_DIR"
    pg_as_owner "$bindir/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s \
        >>"$LOG_DIR/postgres.log" 2>&1 </dev/null
}

stop_kafka
stop_postgres
log "stopped (data kept in ${DATA_DIR#"$REPO_ROOT"/}; infra/reset.sh deletes it)"
