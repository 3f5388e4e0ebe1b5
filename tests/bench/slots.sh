#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# slots.sh: how fast batchup's slot bookkeeping runs, next to the floor.
#
#   PGHOST=/tmp/pg PGDATABASE=batchup tests/bench/slots.sh
#
# Measured, at 1, 8 and 32 connections (BENCH_CONNECTIONS), BENCH_SECONDS
# (5) each, with pgbench -n -j 2: the cycle's statements prepared, as a
# worker connected to PostgreSQL itself prepares its own (-M prepared), the
# floor's in simple protocol (two statements in one query cannot be
# prepared):
#
#   cycles/s   slot cycles of slots_cycle.sql: claim_upload (granted, with
#              the writer lock), complete_file (with the CRC-32), i.e. what
#              a worker does for a file uploaded in one PATCH: two round
#              trips and two transactions.  Each connection acts for its own
#              user, so users do not wait for one another's advisory lock;
#              the global cap is on (max_active_users 1000, never reached),
#              so every claim also takes the global lock, as it does
#              whenever a user goes from no slot to one.  Every file is
#              fresh: slots.sh makes them beforehand (not measured) in
#              batches of 10, so every tenth cycle also completes a batch:
#              token, hook event and NOTIFY.
#   floor tx/s the smallest write transaction, slots_floor.sql: insert a row
#              into a scratch table and delete it, in one round trip.
#   ratio      cycles/s / floor tx/s.  A cycle is two transactions, so 0.5
#              means "as cheap as two trivial writes".
#   CPU us     PostgreSQL's CPU time (every process of the cluster, from
#              /proc: the server must run on this machine) per cycle and
#              per floor transaction.
#
# It creates users bench_* (replacing earlier ones) and the table
# public.bench_scratch, and removes both at the end.  Exit status 1 when a
# run failed (pgbench error, a claim not granted, or too few fresh files).
set -eu
cd "$(dirname "$0")"

seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-"1 8 32"}
# Fresh files made per run and connection count: more than the fastest run
# can use (checked below).
files=${BENCH_FILES:-60000}

psql_q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }

if ! psql_q -c "SELECT 'batchup.claim_upload(uuid,integer,integer,integer,integer,integer,text,text)'::regprocedure" >/dev/null 2>&1; then
    echo "slots.sh: no batchup schema in database '${PGDATABASE:-}': run batchup migrate first" >&2
    exit 1
fi
psql_q -c "DROP TABLE IF EXISTS bench_scratch" -c "CREATE TABLE bench_scratch (client integer PRIMARY KEY)"

# Make $2 fresh 1 KiB files for each of $1 new users, in batches of 10;
# prints the first user's id (the users' ids are consecutive).
prepare() {
    n=$1 per=$2
    psql_q -c "SET client_min_messages = warning" \
        -c "DELETE FROM batchup.users WHERE name LIKE 'bench\\_%'" \
        -c "INSERT INTO batchup.users (name) SELECT 'bench_' || c FROM generate_series(0, $n - 1) c" \
        -c "INSERT INTO batchup.batches (id, user_id, files_total, files_remaining)
            SELECT md5(u.id || '-b' || b)::uuid, u.id, 10, 10
              FROM batchup.users u, generate_series(0, $per / 10 - 1) b WHERE u.name LIKE 'bench\\_%'" \
        -c "INSERT INTO batchup.files (id, batch_id, user_id, ordinal, name, size)
            SELECT md5(u.id || '-' || i)::uuid, md5(u.id || '-b' || ((i - 1) / 10))::uuid, u.id,
                   (i - 1) % 10 + 1, 'f' || i || '.bin', 1024
              FROM batchup.users u, generate_series(1, $per) i WHERE u.name LIKE 'bench\\_%'" \
        -c "VACUUM ANALYZE batchup.users, batchup.batches, batchup.files, batchup.slots"
    psql_q -c "SELECT min(id) FROM batchup.users WHERE name LIKE 'bench\\_%'"
}

tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1"; }
count() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"; }

# The cluster's processes: the postmaster (its pid file) and its children.
pg_pid=$(head -n 1 "$(psql_q -c 'SHOW data_directory')/postmaster.pid" 2>/dev/null)
pg_ticks() {
    for p in $pg_pid $(pgrep -P "$pg_pid"); do
        awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null
    done | awk '{n += $1} END {print n + 0}'
}
hz=$(getconf CLK_TCK)
# After pgbench ends, wait (at most 5 s) until the postmaster has reaped its
# backends: an exited backend not yet reaped is counted neither as a child
# (its /proc entry shows no CPU) nor in the postmaster's children's times.
pg_children() { pgrep -P "$pg_pid" | wc -l; }
pg_settle() {
    for _ in $(seq 1 50); do
        [ "$(pg_children)" -le "$1" ] && return 0
        sleep 0.1
    done
}

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
status=0
printf '%-12s %10s %11s %6s %13s %13s\n' connections cycles/s 'floor tx/s' ratio 'CPU us/cycle' 'CPU us/floor'
for c in $connections; do
    # Each client walks through its own user's files; allow for uneven
    # clients with twice the even share.
    per=$(( (files * 2 / c + 9) / 10 * 10 ))
    [ "$c" -eq 1 ] && per=$files
    base=$(prepare "$c" "$per")
    kids=$(pg_children)
    t0=$(pg_ticks)
    if ! pgbench -n -M prepared -c "$c" -j 2 -T "$seconds" -D i=0 -D base="$base" -f slots_cycle.sql >"$log/cycle.out" 2>&1; then
        echo "slots.sh: the cycle run at $c connections failed:" >&2
        tail -5 "$log/cycle.out" >&2
        status=1
        continue
    fi
    pg_settle "$kids"
    t1=$(pg_ticks)
    done_files=$(psql_q -c "SELECT count(*) FROM batchup.files f JOIN batchup.users u ON u.id = f.user_id
                             WHERE u.name LIKE 'bench\\_%' AND f.status = 'completed'")
    left=$(psql_q -c "SELECT min(n) FROM (SELECT count(*) FILTER (WHERE f.status = 'pending') AS n
                        FROM batchup.files f JOIN batchup.users u ON u.id = f.user_id
                       WHERE u.name LIKE 'bench\\_%' GROUP BY u.id) x")
    cycles=$(count "$log/cycle.out")
    if [ "$left" -eq 0 ] || [ "$done_files" -ne "$cycles" ]; then
        echo "slots.sh: at $c connections $cycles cycles but $done_files files completed, $left left: raise BENCH_FILES" >&2
        status=1
    fi
    t2=$(pg_ticks)
    pgbench -n -M simple -c "$c" -j 2 -T "$seconds" -f slots_floor.sql >"$log/floor.out" 2>&1 || {
        echo "slots.sh: the floor run at $c connections failed" >&2
        tail -5 "$log/floor.out" >&2
        status=1
        continue
    }
    pg_settle "$kids"
    t3=$(pg_ticks)
    cyc=$(tps "$log/cycle.out")
    flo=$(tps "$log/floor.out")
    printf '%-12s %10.0f %11.0f %6.2f %13.0f %13.0f\n' "$c" "$cyc" "$flo" "$(echo "$cyc / $flo" | bc -l)" \
        "$(echo "($t1 - $t0) * 1000000 / $hz / $cycles" | bc -l)" \
        "$(echo "($t3 - $t2) * 1000000 / $hz / $(count "$log/floor.out")" | bc -l)"
done

psql_q -c "SET client_min_messages = warning" -c "DELETE FROM batchup.users WHERE name LIKE 'bench\\_%'" \
    -c "DROP TABLE bench_scratch"
exit $status
