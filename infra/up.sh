#!/usr/bin/env bash
# Start the local missive stack, installing what is missing:
#   - a private PostgreSQL cluster on 127.0.0.1:${MISSIVE_PG_PORT:-54329}
#   - an Apache Kafka broker (KRaft, one node) on 127.0.0.1:${MISSIVE_KAFKA_PORT:-19092},
#     its controller on the next port; jars from Maven Central (infra/kafka/pom.xml)
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
KAFKA_LOG="$LOG_DIR/kafka.log"
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
# generator; perl is used by several -sys build scripts), and OpenSSL's headers
# (libssl-dev): librdkafka is built with TLS and SCRAM for real clusters.
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
    [[ -e /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
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
# Apache Kafka
# ---------------------------------------------------------------------------

KAFKA_EXTERNAL=0
# The broker's JVM: a small heap for a development box, G1 with short pauses
# (a pause is added to every push), and no waiting on a full disk of GC logs.
KAFKA_HEAP_OPTS="${MISSIVE_KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_JVM_OPTS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true)

ensure_java() {
    command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
    command -v mvn >/dev/null 2>&1 || apt_install maven
}

# The jars of the pinned release, copied by Maven from Maven Central.
ensure_kafka_installed() {
    ensure_java
    if [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$KAFKA_LIBS/.complete" &&
        "$KAFKA_LIBS/.complete" -nt "$KAFKA_POM" ]]; then
        return 0
    fi
    log "fetching Apache Kafka $KAFKA_VERSION from Maven Central (infra/kafka/pom.xml)"
    rm -rf "$KAFKA_LIBS"
    mkdir -p "$KAFKA_LIBS"
    if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >>"$KAFKA_LOG" 2>&1 </dev/null; then
        show_log_tail "$KAFKA_LOG"
        die "mvn could not fetch the Kafka jars"
    fi
    touch "$KAFKA_LIBS/.complete"
}

# server.properties from the template, rewritten when it changes (a new port).
# Returns 0 when the file changed.
write_kafka_config() {
    local want
    want="$(sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@LOG_DIRS@|$KAFKA_DIR/data|g" "$REPO_ROOT/infra/kafka/server.properties")"
    [[ -f "$KAFKA_DIR/server.properties" && "$(cat "$KAFKA_DIR/server.properties")" == "$want" ]] &&
        return 1
    printf '%s\n' "$want" >"$KAFKA_DIR/server.properties"
    return 0
}

kafka_java() {
    java "${KAFKA_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$REPO_ROOT/infra/kafka/log4j2.yaml" \
        -cp "$KAFKA_LIBS/*" "$@"
}

# KRaft needs its log directory formatted once, with a cluster id.
format_kafka_storage() {
    [[ -f "$KAFKA_DIR/data/meta.properties" ]] && return 0
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG" | tail -n 1)"
    log "formatting the KRaft log directory (cluster $cluster_id)"
    if ! kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
        -c "$KAFKA_DIR/server.properties" >>"$KAFKA_LOG" 2>&1 </dev/null; then
        show_log_tail "$KAFKA_LOG"
        die "kafka-storage format failed"
    fi
}

stop_kafka_pid() {
    local pid="$1" i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 60; i++)); do
        [[ -e "/proc/$pid" ]] || return 0
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
}

start_kafka() {
    local pid
    mkdir -p "$KAFKA_DIR" "$LOG_DIR"

    # A broker of ours without a pid file (e.g. the file was removed): adopt it.
    if ! pid="$(kafka_pid_alive)"; then
        pid="$(kafka_pids_in_data_dir | head -n 1)"
        [[ -n "$pid" ]] && echo "$pid" >"$KAFKA_PID_FILE"
    fi

    # Running with another configuration (e.g. a new MISSIVE_KAFKA_PORT): restart it.
    if [[ -n "$pid" ]] && write_kafka_config; then
        log "Kafka settings changed: restarting the broker (pid $pid)"
        stop_kafka_pid "$pid"
        pid=""
    fi

    if [[ -n "$pid" ]]; then
        log "Kafka already running (pid $pid)"
    elif tcp_open "$KAFKA_PORT"; then
        if kafka_answers "$KAFKA_PORT"; then
            # E.g. Apache Kafka from infra/docker-compose.yml, or a cluster of your own.
            log "a Kafka broker not started by this script already answers on $HOST:$KAFKA_PORT; using it"
            KAFKA_EXTERNAL=1
            return 0
        fi
        die "port $HOST:$KAFKA_PORT is taken by something that is not a Kafka broker (set MISSIVE_KAFKA_PORT)"
    else
        ensure_kafka_installed
        write_kafka_config || true
        format_kafka_storage
        log "starting Apache Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT (log: ${KAFKA_LOG#"$REPO_ROOT"/})"
        # setsid + nohup: the broker outlives this script and its terminal;
        # stdin/stdout are detached so `make test | tee` does not hang on it.
        # Many topics and connections: raise the open-files limit if allowed.
        (
            ulimit -n 65536 2>/dev/null || true
            # shellcheck disable=SC2086 # the heap options are words on purpose
            exec setsid nohup java "${KAFKA_JVM_OPTS[@]}" $KAFKA_HEAP_OPTS \
                -Dlog4j2.configurationFile="$REPO_ROOT/infra/kafka/log4j2.yaml" \
                -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties"
        ) >>"$KAFKA_LOG" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$KAFKA_PID_FILE"
    fi

    local i
    for ((i = 0; i < READY_TIMEOUT * 2; i++)); do
        if [[ ! -e "/proc/$pid" ]]; then
            show_log_tail "$KAFKA_LOG"
            rm -f "$KAFKA_PID_FILE"
            die "Kafka exited during startup"
        fi
        kafka_answers "$KAFKA_PORT" && return 0
        sleep 0.5
    done
    show_log_tail "$KAFKA_LOG"
    die "Kafka does not answer on $HOST:$KAFKA_PORT after ${READY_TIMEOUT}s"
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
    ensure_node
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

# The TypeScript client (clients/typescript) builds and runs its tests with
# Node.js 20+ and npm (tests/api/typescript_client.rs runs `npm ci` from the
# committed lockfile). Debian 12's nodejs is 18: install it when missing,
# but refuse an old one rather than fail later with an obscure error.
ensure_node() {
    if ! command -v node >/dev/null 2>&1; then
        apt_install nodejs
    fi
    command -v npm >/dev/null 2>&1 || apt_install npm
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [[ "$major" -lt 20 ]]; then
        die "Node.js $(node --version) is too old for clients/typescript: install Node.js 20 or newer (e.g. from deb.nodesource.com)"
    fi
}

# The browser demo's end-to-end test drives Debian's Chromium through
# chromedriver (tests/api/browser_demo.rs).
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
    start_kafka

    local pg_where="data ${PG_DATA#"$REPO_ROOT"/}"
    local kafka_where="Apache Kafka $KAFKA_VERSION, KRaft, data ${KAFKA_DIR#"$REPO_ROOT"/}/data"
    if [[ "$PG_EXTERNAL" -eq 1 ]]; then pg_where="not managed by infra/"; fi
    if [[ "$KAFKA_EXTERNAL" -eq 1 ]]; then kafka_where="not managed by infra/"; fi
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
