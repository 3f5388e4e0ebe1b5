# SPDX-License-Identifier: BSD-2-Clause
# pgtmp.sh: a private, throw-away PostgreSQL 15 cluster for tests.
#
# Source this file, then:
#   pgtmp_start DIR   initdb into DIR/data, start postgres listening only on
#                     a unix socket in DIR, create database "batchup" and
#                     export PGHOST=DIR PGDATABASE=batchup PGUSER=postgres.
#   pgtmp_stop DIR    stop that cluster (fast shutdown); DIR is left behind
#                     for the caller to remove.
#   pgtmp_migrate [SQLDIR]
#                     apply SQLDIR/NNN_*.sql (default: sql/) to $PGDATABASE
#                     as `batchup migrate` does: schema batchup and
#                     batchup.schema_migrations first, then each file not yet
#                     recorded, in its own transaction.  A stand-in for tests
#                     until the real command can be used.
#
# initdb and postgres refuse to run as root, so when we are root they run as
# the "postgres" system user through runuser, and DIR is handed to it. The
# cluster is for tests only: fsync is off and nothing listens on TCP.

PGTMP_BIN=${PGTMP_BIN:-/usr/lib/postgresql/15/bin}

pgtmp__as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pgtmp_start() {
    dir=${1:?pgtmp_start: DIR required}
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir" || return 1
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        pgtmp__as_postgres "$PGTMP_BIN/initdb" -D "$dir/data" -U postgres \
            -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            return 1
        }
    fi
    pgtmp__as_postgres "$PGTMP_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || {
        cat "$dir/postgres.log" >&2
        return 1
    }
    export PGHOST="$dir" PGUSER=postgres PGDATABASE=batchup
    if ! psql -XAtq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'batchup'" | grep -q 1; then
        psql -Xq -d postgres -c 'CREATE DATABASE batchup' || return 1
    fi
}

pgtmp_stop() {
    dir=${1:?pgtmp_stop: DIR required}
    pgtmp__as_postgres "$PGTMP_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

pgtmp_migrate() {
    sqldir=${1:-sql}
    psql -Xq -v ON_ERROR_STOP=1 -c 'CREATE SCHEMA IF NOT EXISTS batchup' \
        -c 'CREATE TABLE IF NOT EXISTS batchup.schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())' \
        >/dev/null || return 1
    for f in "$sqldir"/[0-9][0-9][0-9]_*.sql; do
        v=$(basename "$f" .sql)
        if [ -z "$(psql -XAtq -c "SELECT 1 FROM batchup.schema_migrations WHERE version = '$v'")" ]; then
            psql -Xq -v ON_ERROR_STOP=1 -1 -f "$f" \
                -c "INSERT INTO batchup.schema_migrations (version) VALUES ('$v')" >/dev/null || return 1
        fi
    done
}
