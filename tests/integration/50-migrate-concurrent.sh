#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# `batchup migrate` is idempotent and safe to run concurrently: two at once
# on a fresh database both succeed and batchup.schema_migrations holds each
# migration once; four at once on another fresh database, likewise; a run on
# an up-to-date database changes nothing.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_pg_start || tap_bail "PostgreSQL did not start"
stack_write_conf
migrations=$(find "${BATCHUP_SQL_DIR:-sql}" -maxdepth 1 -name '[0-9][0-9][0-9]_*.sql' | wc -l)
tap_diag "$migrations migration files"

# race DB N: N migrates at once against database DB.
race() {
    local db=$1 n=$2 i pids=() rc fails=0
    for ((i = 1; i <= n; i++)); do
        BATCHUP_DATABASE="host=$PGHOST port=5432 dbname=$db user=postgres" \
            timeout 60 "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >"$STACK_DIR/m-$db-$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}"
        rc=$?
        if [ "$rc" != 0 ]; then
            fails=$((fails + 1))
            tap_diag "migrate $((i + 1)) on $db exited $rc: $(tail -n 3 "$STACK_DIR/m-$db-$((i + 1)).log")"
        fi
    done
    tap_is "$fails" 0 "$n concurrent migrates on fresh database $db all exit 0"
    check "$db"
}

# check DB: one row per migration file, no duplicates.
check() {
    local db=$1 rows col distinct
    rows=$(psql -XAtq -d "$db" -c 'SELECT count(*) FROM batchup.schema_migrations' 2>&1)
    tap_is "$rows" "$migrations" "$db: batchup.schema_migrations has one row per migration file"
    col=$(psql -XAtq -d "$db" -c "SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'batchup' AND table_name = 'schema_migrations' ORDER BY ordinal_position LIMIT 1")
    distinct=$(psql -XAtq -d "$db" -c "SELECT count(DISTINCT \"$col\") FROM batchup.schema_migrations" 2>&1)
    tap_is "$distinct" "$rows" "$db: no migration recorded twice (distinct $col)"
}

race batchup 2

timeout 60 "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >"$STACK_DIR/again.log" 2>&1
tap_ok $? "migrate on an up-to-date database exits 0"
check batchup

psql -Xq -d postgres -c 'CREATE DATABASE batchup_b' || tap_bail "cannot create database batchup_b"
race batchup_b 4

tap_done
