#!/usr/bin/env bash
# Stop the local stack and delete all of its data (.data/): the next
# infra/up.sh starts from an empty cluster and an empty broker.
set -euo pipefail

LOG_TAG=reset
# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "$REPO_ROOT/infra/down.sh"

# The cluster may live outside .data/ (see prepare_pg_dir in up.sh).
if [[ -L "$DATA_DIR/pg" ]]; then
    log "deleting $PG_DATA"
    rm -rf "$PG_DATA"
    rmdir "$(dirname "$PG_DATA")" 2>/dev/null || true
fi
log "deleting $DATA_DIR"
rm -rf "$DATA_DIR"
