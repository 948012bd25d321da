# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts sourcing this
# Shared settings and helpers for infra/up.sh, down.sh and reset.sh.
# Sourced, never run. Everything the local stack owns lives under $DATA_DIR.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)" # physical: compared with /proc/*/cwd
DATA_DIR="$REPO_ROOT/.data"
LOG_DIR="$DATA_DIR/logs"
PG_DATA="$DATA_DIR/pg"
# When root and the checkout is not reachable by the `postgres` user (e.g.
# under /root), up.sh keeps the cluster in /var/lib/missive and leaves a
# symlink here; PostgreSQL's tools must get the real path.
if [[ -L "$PG_DATA" ]]; then
    PG_DATA="$(readlink -f "$PG_DATA")"
fi
KAFKA_DIR="$DATA_DIR/kafka"          # jars (libs/), config, KRaft log dirs (data/)
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_PID_FILE="$DATA_DIR/kafka.pid"
KAFKA_POM="$REPO_ROOT/infra/kafka/pom.xml"
# The version the jars in $KAFKA_LIBS must have; keep in step with the pom.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"

PG_PORT="${MISSIVE_PG_PORT:-54329}"
KAFKA_PORT="${MISSIVE_KAFKA_PORT:-19092}"
# The KRaft controller's own listener.
KAFKA_CONTROLLER_PORT="${MISSIVE_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
HOST="127.0.0.1"

log() { printf '[%s] %s\n' "${LOG_TAG:-infra}" "$*"; }
die() {
    printf '[%s] ERROR: %s\n' "${LOG_TAG:-infra}" "$*" >&2
    exit 1
}

# Print the end of a log file to stderr (used when something fails to come up).
show_log_tail() {
    local file="$1"
    if [[ -f "$file" ]]; then
        printf -- '----- last 40 lines of %s -----\n' "$file" >&2
        tail -n 40 "$file" >&2 || true
        printf -- '-----\n' >&2
    fi
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# --- PostgreSQL -------------------------------------------------------------

# Directory of the PostgreSQL server binaries. Prefers the major version an
# existing cluster was created with; otherwise the newest one installed.
pg_bindir() {
    local want="" dir
    if [[ -s "$PG_DATA/PG_VERSION" ]]; then
        want="$(cat "$PG_DATA/PG_VERSION")"
        if [[ -x "/usr/lib/postgresql/$want/bin/initdb" ]]; then
            echo "/usr/lib/postgresql/$want/bin"
            return 0
        fi
    fi
    dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
        sort -V | tail -n 1)"
    [[ -n "$dir" ]] || return 1
    if [[ -n "$want" ]]; then
        die "the cluster in $PG_DATA is PostgreSQL $want, but only $(dirname "$dir") is installed (run infra/reset.sh to start over)"
    fi
    dirname "$dir"
}

# PostgreSQL refuses to run as root: as root, run its tools as the `postgres`
# system user. `cd /` first, because pg_ctl/initdb fail if they cannot read
# the current directory (e.g. a checkout under /root).
pg_as_owner() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Port the running postmaster of our cluster listens on (line 4 of
# postmaster.pid), empty if none.
pg_running_port() {
    local bindir="$1"
    if pg_as_owner "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
        sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true
    fi
}

# --- Apache Kafka -------------------------------------------------------------

# PIDs of Java processes running our broker: `kafka.Kafka` with a config file
# under our data folder. This is how down.sh finds a broker whose pid file was
# lost, without touching any other Kafka on the machine.
kafka_pids_in_data_dir() {
    local p
    for p in /proc/[0-9]*; do
        [[ "$(cat "$p/comm" 2>/dev/null)" == java ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "kafka.Kafka $KAFKA_DIR/server.properties" &&
            echo "${p#/proc/}"
    done
    return 0
}

# PID from the pid file if that process is still our broker, else nothing.
kafka_pid_alive() {
    local pid
    [[ -f "$KAFKA_PID_FILE" ]] || return 1
    pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "kafka.Kafka $KAFKA_DIR/server.properties" ||
        return 1
    echo "$pid"
}

# True when something accepts TCP connections on $HOST:$1.
tcp_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# True when a Kafka-protocol broker on $HOST:$1 answers an ApiVersions (v0)
# request without error. Falls back to a plain TCP check without python3.
kafka_answers() {
    local port="$1"
    if ! command -v python3 >/dev/null 2>&1; then
        tcp_open "$port"
        return
    fi
    python3 - "$HOST" "$port" <<'PY'
import socket, struct, sys

host, port = sys.argv[1], int(sys.argv[2])
client_id = b"missive-infra"
# Request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id.
body = struct.pack(">hhih", 18, 0, 4242, len(client_id)) + client_id
try:
    with socket.create_connection((host, port), timeout=3) as s:
        s.settimeout(3)
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("connection closed")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", read(4))
        correlation_id, error_code = struct.unpack(">ih", read(size)[:6])
        sys.exit(0 if correlation_id == 4242 and error_code == 0 else 1)
except Exception:
    sys.exit(1)
PY
}
