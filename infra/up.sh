#!/usr/bin/env bash
# Start the local missive stack, installing what is missing:
#   - a private PostgreSQL cluster on 127.0.0.1:${MISSIVE_PG_PORT:-54329}
#   - a tansu Kafka-protocol broker on 127.0.0.1:${MISSIVE_KAFKA_PORT:-19092}
# All state lives in .data/ at the repository root (git-ignored).
# Idempotent: when everything already runs, it only confirms it.
#
# Usage: infra/up.sh              install what is missing, start, wait, print env
#        infra/up.sh --deps-only  only install the Debian packages the Rust build needs
set -euo pipefail

LOG_TAG=up
# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_LOG="$LOG_DIR/postgres.log"
TANSU_LOG="$LOG_DIR/tansu.log"
READY_TIMEOUT=60 # seconds each service gets to accept connections

# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing Debian packages: $*; run as root or install them"
        sudo=(sudo)
    fi
    # Another apt may be running (unattended upgrades): wait for its lock.
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        log "apt-get update"
        "${apt[@]}" update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${apt[@]}" install -y -qq --no-install-recommends "$@"
}

# Tools the Rust build needs: a C toolchain for the -sys crates, and what
# rdkafka-sys needs to build the bundled librdkafka with its mklove ./configure
# (bash, make, cc/c++, pkg-config to find zlib, python3 for its linker-script
# generator; perl is used by several -sys build scripts). libssl-dev is not
# needed: rdkafka is built without TLS.
ensure_build_deps() {
    local missing=()
    if ! command -v gcc >/dev/null || ! command -v g++ >/dev/null ||
        ! command -v make >/dev/null || [[ ! -e /usr/include/stdio.h ]]; then
        missing+=(build-essential)
    fi
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v perl >/dev/null || missing+=(perl)
    command -v python3 >/dev/null || missing+=(python3)
    [[ -e /usr/include/zlib.h ]] || missing+=(zlib1g-dev)
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
    fi
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

PG_BIN=""
PG_EXTERNAL=0

ensure_postgres_installed() {
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        apt_install postgresql
    fi
    PG_BIN="$(pg_bindir)" || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    if is_root && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' system user to run PostgreSQL as"
    fi
}

# Create the data directory. As root it belongs to `postgres`, which must be
# able to reach it; if the checkout is not reachable by that user (e.g. under
# /root, mode 700), keep the cluster in /var/lib/missive and symlink it.
prepare_pg_dir() {
    mkdir -p "$DATA_DIR"
    if is_root && [[ ! -e "$DATA_DIR/pg" ]] && ! pg_as_owner test -x "$DATA_DIR"; then
        local real
        real="/var/lib/missive/$(printf '%s' "$REPO_ROOT" | md5sum | cut -c1-12)/pg"
        mkdir -p "$real"
        ln -s "$real" "$DATA_DIR/pg"
        PG_DATA="$real"
        log "note: user postgres cannot reach $DATA_DIR; the cluster lives in $real (symlinked as .data/pg)"
    fi
    mkdir -p "$PG_DATA"
    chmod 700 "$PG_DATA"
    if is_root && [[ "$(stat -c %U "$PG_DATA")" != postgres ]]; then
        chown -R postgres:postgres "$PG_DATA"
    fi
}

init_cluster() {
    [[ -s "$PG_DATA/PG_VERSION" ]] && return 0
    prepare_pg_dir
    if [[ -n "$(ls -A "$PG_DATA")" ]]; then
        die "$PG_DATA is not empty but holds no cluster; run infra/reset.sh"
    fi
    log "initdb: new cluster in $PG_DATA (superuser role 'missive', trust auth on loopback)"
    # The bootstrap superuser is `missive`, so the role exists from the start
    # and can CREATE/DROP DATABASE (tests create one database per test).
    if ! pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" --username=missive --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 </dev/null; then
        show_log_tail "$PG_LOG"
        die "initdb failed"
    fi
}

# Our settings live in missive.conf, rewritten when they change (so a new
# MISSIVE_PG_PORT takes effect) and included from postgresql.conf.
# Returns 0 when the file changed.
write_pg_config() {
    local conf="$PG_DATA/missive.conf" want
    want="$(
        cat <<EOF
# Written by infra/up.sh: change up.sh, not this file.
listen_addresses = '$HOST'
port = $PG_PORT
# TCP only: no Unix socket, so nothing clashes with a system cluster.
unix_socket_directories = ''
# Tests run in parallel, each with its own pool.
max_connections = 300
# A throw-away dev/test cluster: skip fsync (DROP DATABASE is ~5x faster;
# tests create one database each). An OS crash may corrupt it: reset.sh.
fsync = off
EOF
    )"
    if ! grep -q "^include_if_exists = 'missive.conf'" "$PG_DATA/postgresql.conf"; then
        printf "\n# Settings of the missive dev stack\ninclude_if_exists = 'missive.conf'\n" \
            >>"$PG_DATA/postgresql.conf"
    fi
    [[ -f "$conf" && "$(cat "$conf")" == "$want" ]] && return 1
    printf '%s\n' "$want" >"$conf"
    if is_root; then chown postgres:postgres "$conf"; fi
    return 0
}

start_postgres() {
    local running_port
    running_port="$(pg_running_port "$PG_BIN")"
    # Running with other settings (e.g. a new MISSIVE_PG_PORT): restart it.
    if [[ -n "$running_port" ]] && write_pg_config; then
        log "PostgreSQL settings changed: restarting it"
        pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -s >>"$PG_LOG" 2>&1 </dev/null
        running_port=""
    fi

    if [[ -n "$running_port" ]]; then
        log "PostgreSQL already running on $HOST:$PG_PORT ($PG_DATA)"
    elif "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U missive -d postgres; then
        # E.g. the docker-compose alternative: use it rather than clash with it.
        log "a PostgreSQL not started by this script already answers on $HOST:$PG_PORT; using it"
        PG_EXTERNAL=1
    else
        init_cluster
        write_pg_config || true
        log "starting PostgreSQL $(cat "$PG_DATA/PG_VERSION") on $HOST:$PG_PORT (log: ${PG_LOG#"$REPO_ROOT"/})"
        # No -l: the server inherits this log file, opened by us, so the
        # `postgres` user needs no write access to .data/logs.
        if ! pg_as_owner "$PG_BIN/pg_ctl" start -D "$PG_DATA" -w -t "$READY_TIMEOUT" -s \
            >>"$PG_LOG" 2>&1 </dev/null; then
            show_log_tail "$PG_LOG"
            die "PostgreSQL did not start"
        fi
    fi

    local i
    for ((i = 0; i < READY_TIMEOUT; i++)); do
        "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U missive -d postgres && break
        sleep 1
    done
    if ! "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U missive -d postgres; then
        show_log_tail "$PG_LOG"
        die "PostgreSQL does not accept connections on $HOST:$PG_PORT after ${READY_TIMEOUT}s"
    fi
}

ensure_database() {
    local psql=("$PG_BIN/psql" -X -q -h "$HOST" -p "$PG_PORT" -U missive -d postgres -v ON_ERROR_STOP=1)
    local has_db
    if ! has_db="$("${psql[@]}" -tAc "SELECT count(*) FROM pg_database WHERE datname = 'missive'" 2>&1)"; then
        show_log_tail "$PG_LOG"
        die "cannot connect to $HOST:$PG_PORT as role missive: $has_db"
    fi
    if [[ "$has_db" != 1 ]]; then
        log "creating database missive"
        "${psql[@]}" -c 'CREATE DATABASE missive'
    fi
}

# ---------------------------------------------------------------------------
# tansu (Kafka-protocol broker)
# ---------------------------------------------------------------------------

TANSU_EXTERNAL=0

# True when $1 is tansu $TANSU_VERSION built with the SQLite (libsql) engine.
tansu_suitable() {
    local version
    version="$("$1" --version 2>/dev/null)" || return 1
    [[ " $version " == *" $TANSU_VERSION "* ]] || return 1
    "$1" --help 2>/dev/null | grep -q '^Storage engines:.*libsql'
}

# Path of a suitable tansu binary (PATH first, then cargo's bin folder).
find_tansu() {
    local candidate
    for candidate in "$(command -v tansu 2>/dev/null || true)" \
        "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"; do
        if [[ -n "$candidate" && -x "$candidate" ]] && tansu_suitable "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_tansu_installed() {
    TANSU_BIN="$(find_tansu)" && return 0
    command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain first"
    log "installing tansu $TANSU_VERSION from crates.io with the SQLite engine"
    log "(a one-time build: roughly 15-25 minutes on a 2-core machine)"
    # --force: replace a tansu of another version or without libsql.
    cargo install tansu --version "$TANSU_VERSION" --locked --features libsql --force
    TANSU_BIN="$(find_tansu)" || die "tansu $TANSU_VERSION still not found after cargo install"
}

stop_tansu_pid() {
    local pid="$1" i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 30; i++)); do
        [[ -e "/proc/$pid" ]] || return 0
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
}

start_tansu() {
    local pid
    mkdir -p "$TANSU_DIR" "$LOG_DIR"

    # A broker of ours without a pid file (e.g. the file was removed): adopt it.
    if ! pid="$(tansu_pid_alive)"; then
        pid="$(tansu_pids_in_data_dir | head -n 1)"
        [[ -n "$pid" ]] && echo "$pid" >"$TANSU_PID_FILE"
    fi

    # Running, but on another port than wanted now: restart it.
    if [[ -n "$pid" ]] &&
        ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--listener-url tcp://$HOST:$KAFKA_PORT "; then
        log "tansu (pid $pid) listens elsewhere, wanted port $KAFKA_PORT: restarting it"
        stop_tansu_pid "$pid"
        pid=""
    fi

    if [[ -n "$pid" ]]; then
        log "tansu already running (pid $pid)"
    elif tcp_open "$KAFKA_PORT"; then
        if kafka_answers "$KAFKA_PORT"; then
            # E.g. Apache Kafka from infra/docker-compose.yml.
            log "a Kafka broker not started by this script already answers on $HOST:$KAFKA_PORT; using it"
            TANSU_EXTERNAL=1
            return 0
        fi
        die "port $HOST:$KAFKA_PORT is taken by something that is not a Kafka broker (set MISSIVE_KAFKA_PORT)"
    else
        ensure_tansu_installed
        log "starting tansu $TANSU_VERSION on $HOST:$KAFKA_PORT (log: ${TANSU_LOG#"$REPO_ROOT"/})"
        # tansu 0.6.0 opens only the Kafka listener (no metrics port; OTLP
        # metrics are pushed only if --otlp-endpoint-url is given). The SQLite
        # path is relative, hence the working directory .data/tansu.
        # setsid + nohup: the broker outlives this script and its terminal;
        # stdin/stdout are detached so `make test | tee` does not hang on it.
        (
            cd "$TANSU_DIR"
            RUST_LOG="${MISSIVE_TANSU_LOG:-warn}" exec setsid nohup "$TANSU_BIN" broker \
                --listener-url "tcp://$HOST:$KAFKA_PORT" \
                --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
                --storage-engine "sqlite://tansu.db"
        ) >>"$TANSU_LOG" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$TANSU_PID_FILE"
    fi

    local i
    for ((i = 0; i < READY_TIMEOUT; i++)); do
        if [[ ! -e "/proc/$pid" ]]; then
            show_log_tail "$TANSU_LOG"
            rm -f "$TANSU_PID_FILE"
            die "tansu exited during startup"
        fi
        kafka_answers "$KAFKA_PORT" && return 0
        sleep 1
    done
    show_log_tail "$TANSU_LOG"
    die "tansu does not answer Kafka requests on $HOST:$KAFKA_PORT after ${READY_TIMEOUT}s"
}

# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Test tools
# ---------------------------------------------------------------------------

# The export test reads exports back with Python's fastavro, a reader that is
# not ours. Debian 12 has no python3-fastavro, so it comes from PyPI, pinned,
# into a venv under .data/ (the system Python is left alone). The test finds
# it there (or wherever MISSIVE_TEST_PYTHON points) and fails without it.
FASTAVRO_VERSION=1.12.2
PYENV_DIR="$DATA_DIR/pyenv"
ensure_test_tools() {
    ensure_browser
    if "$PYENV_DIR/bin/python3" -c 'import fastavro' 2>/dev/null; then
        return 0
    fi
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    log "installing fastavro $FASTAVRO_VERSION into ${PYENV_DIR#"$REPO_ROOT"/}"
    python3 -m venv "$PYENV_DIR"
    "$PYENV_DIR/bin/pip" install -q --disable-pip-version-check "fastavro==$FASTAVRO_VERSION"
}

# The browser demo's end-to-end test drives Debian's Chromium through
# chromedriver (tests/browser_demo.rs).
ensure_browser() {
    if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
        apt_install chromium chromium-driver
    fi
}

main() {
    case "${1:-}" in
        "") ;;
        --deps-only)
            ensure_build_deps
            log "build dependencies present"
            return 0
            ;;
        -h | --help)
            sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
            return 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac

    mkdir -p "$LOG_DIR"
    ensure_build_deps
    ensure_test_tools
    ensure_postgres_installed
    start_postgres
    ensure_database
    start_tansu

    local pg_where="data ${PG_DATA#"$REPO_ROOT"/}"
    local kafka_where="tansu $TANSU_VERSION, data ${TANSU_DIR#"$REPO_ROOT"/}/tansu.db"
    if [[ "$PG_EXTERNAL" -eq 1 ]]; then pg_where="not managed by infra/"; fi
    if [[ "$TANSU_EXTERNAL" -eq 1 ]]; then kafka_where="not managed by infra/"; fi
    cat <<EOF
[up] missive stack is up
[up]   PostgreSQL  $HOST:$PG_PORT   ($pg_where)
[up]   Kafka       $HOST:$KAFKA_PORT   ($kafka_where)
[up] Environment (or: source infra/env.sh):
export MISSIVE_DATABASE_URL=postgres://missive@$HOST:$PG_PORT/missive
export MISSIVE_KAFKA_BROKERS=$HOST:$KAFKA_PORT
EOF
}

main "$@"
