# shellcheck shell=sh
# Environment for the local missive stack started by infra/up.sh.
# Source it:  . infra/env.sh
# Values already set in the environment win, so a shell can point missive at
# another PostgreSQL or broker.
: "${MISSIVE_PG_PORT:=54329}"
: "${MISSIVE_KAFKA_PORT:=19092}"
: "${MISSIVE_DATABASE_URL:=postgres://missive@127.0.0.1:${MISSIVE_PG_PORT}/missive}"
: "${MISSIVE_KAFKA_BROKERS:=127.0.0.1:${MISSIVE_KAFKA_PORT}}"
export MISSIVE_PG_PORT MISSIVE_KAFKA_PORT MISSIVE_DATABASE_URL MISSIVE_KAFKA_BROKERS
