#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# liveness.sh: what the pool carries under many slow uploads at once.
#
#   tests/bench/liveness.sh          (make bench runs it through run.sh)
#
# One private stack (tests/lib/stack.sh: PostgreSQL, batchup, nginx on a free
# loopback port) with a pool larger than the uploads (workers = uploads +
# 20, pm static: forked in advance, as an operator who expects that many
# slow uploads at once would set it; a dynamic pool growing from
# pm_start_servers 4 kept a thousand connections, the probes among them,
# 13 to 34 s in its accept queue), BENCH_LIVE_USERS (40)
# users with per_user_limit BENCH_LIVE_FILES (5), one batch each, and every
# file of every batch uploaded at once: 200 uploads, each ONE PATCH paced at
# BENCH_LIVE_RATE (64K bytes/s, far above body_min_rate's 500 B/s) for
# BENCH_LIVE_SECONDS (30), i.e. files of rate x seconds (1.9 MiB). The client
# is tests/bench/liveness.py (Python asyncio, raw HTTP/1.1 to nginx; the
# uploads start together, a burst), its uploads spread over
# BENCH_LIVE_CLIENTS processes (0: one per 250 uploads), apart from the
# process that samples and probes. While they run, four threads, each every
# 0.5 s and none waiting for another (the first three at nice -10 as root, so
# that they keep time on a saturated machine):
#
#   - the pool as the kernel sees it: the processes below the batchup master
#     (/proc), the sum of their VmRSS and of their Pss (smaps_rollup, only
#     every 5 s: it costs 0.5 ms a process), and the connections waiting in
#     batchup's accept queue (ss);
#   - PostgreSQL's client backends (pg_stat_activity, less psql's own);
#   - the status page (status_path, ?json): workers, how many receive;
#   - GET /api/v1/health through nginx, and a tus HEAD, each started on time
#     even while earlier ones still wait (latency from curl's time_total; no
#     answer within BENCH_LIVE_PROBE_TIMEOUT, 5 s, is counted and shown, not
#     a failure: probes wait in the burst's accept queue). The HEAD
#     asks about a file of a user of its own that is never sent: a HEAD of an
#     upload in flight asks its writer to let go once it has received nothing
#     for a second (README, "Takeover"), which on a saturated machine cuts
#     live uploads. BENCH_LIVE_HEAD_IN_FLIGHT=1 HEADs the first upload
#     instead, to see that happen: an upload cut (423, or 502 when nginx was
#     still sending its body) resumes from its offset and fails the run.
#
# It prints a table (uploads in flight, bytes/s, worker processes before,
# at peak and after, the accept queue, pool RSS and PSS, PostgreSQL
# connections, health and HEAD latency p50/p95/max, CPU by server, PATCH
# times, completion) and a timeline of about a dozen rows. Every upload must
# answer 204 at its full size, every batch be complete and every stored file
# have its SHA-256: exit status 1 otherwise. Health requests that got no
# answer in time are listed (NOTE), with the latency figures.
#
# Knobs: BENCH_LIVE_USERS (40), BENCH_LIVE_FILES (5, also per_user_limit),
# BENCH_LIVE_RATE (bytes/s per upload, K and M suffixes: 64K),
# BENCH_LIVE_SECONDS (30), BENCH_LIVE_PM (static; dynamic or ondemand to
# watch the pool grow), BENCH_LIVE_PROBE_TIMEOUT (5), BENCH_LIVE_HEAD_IN_FLIGHT (0),
# BENCH_LIVE_PGBOUNCER (1), BENCH_LIVE_PG_POOL (32), BENCH_LIVE_CLIENTS (0),
# BENCH_LIVE_NGINX_PRIORITY (nginx's worker_priority: -10 as root, else 0),
# BENCH_OUT (where liveness.json, every sample and every PATCH, goes;
# default the stack folder, removed at exit). The stack gets
# max_active_users = users + 1 (the probe's user), status_path =
# /batchup-status, and nginx worker_connections for two per upload.
#
# PgBouncer: by default (BENCH_LIVE_PGBOUNCER=1) batchup reaches PostgreSQL
# through a PgBouncer in transaction pooling mode (tests/lib/stack.sh,
# STACK_PGBOUNCER=1, the settings of conf/pgbouncer.ini) with
# default_pool_size BENCH_LIVE_PG_POOL (32) and its max_client_conn (2000),
# so a thousand workers share at most 32 server connections
# (PostgreSQL max_connections = pool + 30). BENCH_LIVE_PGBOUNCER=0 connects
# every worker straight to PostgreSQL (max_connections = workers + 30: each
# worker holds one connection), as before.
# The whole part takes about a minute at 40 users, two at 200 (the
# uploads, plus start, checks and stop).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib/stack.sh disable=SC1091
. tests/lib/stack.sh
BENCH=tests/bench
PY=$(stack__python)
USERS=${BENCH_LIVE_USERS:-40}
FILES=${BENCH_LIVE_FILES:-5}
RATE=${BENCH_LIVE_RATE:-64K}
SECS=${BENCH_LIVE_SECONDS:-30}
PM=${BENCH_LIVE_PM:-static}
PROBE_TIMEOUT=${BENCH_LIVE_PROBE_TIMEOUT:-5}
HEAD_IN_FLIGHT=${BENCH_LIVE_HEAD_IN_FLIGHT:-0}
PGBOUNCER=${BENCH_LIVE_PGBOUNCER:-1}
PG_POOL=${BENCH_LIVE_PG_POOL:-32}
CLIENTS=${BENCH_LIVE_CLIENTS:-0}
# A negative priority needs root; otherwise nginx keeps the default.
if [ "$(id -u)" = 0 ]; then NGINX_PRIORITY=${BENCH_LIVE_NGINX_PRIORITY:--10}; else NGINX_PRIORITY=0; fi

die() {
    echo "liveness.sh: $*" >&2
    exit 1
}

case $RATE in
    *K) RATE=$((${RATE%K} << 10)) ;;
    *M) RATE=$((${RATE%M} << 20)) ;;
esac
for v in USERS:"$USERS" FILES:"$FILES" RATE:"$RATE" SECONDS:"$SECS" PROBE_TIMEOUT:"$PROBE_TIMEOUT" PG_POOL:"$PG_POOL"; do
    if ! [[ ${v#*:} =~ ^[0-9]+$ ]] || [ "${v#*:}" -eq 0 ]; then
        die "BENCH_LIVE_${v%%:*} must be a positive integer (bytes/s for RATE: 64K, 1M)"
    fi
done
[[ $CLIENTS =~ ^[0-9]+$ ]] || die "BENCH_LIVE_CLIENTS must be a number (0: one process per 250 uploads)"
[ "$RATE" -ge 2000 ] || die "BENCH_LIVE_RATE must be at least 2000 B/s (body_min_rate is 500)"
[ "$SECS" -le 600 ] || die "BENCH_LIVE_SECONDS is at most 600"
UPLOADS=$((USERS * FILES))
WORKERS=$((UPLOADS + 20))
[ "$WORKERS" -le 1024 ] || die "$UPLOADS uploads need more than 1024 workers (the pool's maximum)"
# Read by stack_pg_start (and stack_pgbouncer_start).
if [ "$PGBOUNCER" = 1 ]; then
    export STACK_PGBOUNCER=1 STACK_PGBOUNCER_POOL=$PG_POOL
    STACK_PG_MAX_CONNECTIONS=$((PG_POOL + 30))
else
    STACK_PG_MAX_CONNECTIONS=$((WORKERS + 30))
fi

# The client is ours to stop, before the stack's own cleanup.
PY_PID=
# shellcheck disable=SC2317 # the EXIT trap
bench_cleanup() {
    local rc=$?
    if [ -n "$PY_PID" ]; then
        stack__stop_pid "$PY_PID" 5
    fi
    (exit "$rc")
    stack_cleanup
}

stack_init || die "cannot create the stack folder"
trap bench_cleanup EXIT
OUT=${BENCH_OUT:-$STACK_DIR}
mkdir -p "$OUT"
need=$((UPLOADS * RATE * SECS))
free=$(df -B1 --output=avail "$STACK_DIR" | tail -n 1)
[ "$free" -gt $((need + (1 << 30))) ] ||
    die "needs $((need >> 20)) MiB (and 1 GiB to spare) free in $STACK_DIR, has $((free >> 20)) MiB"

# Admission: every upload may stream at once (pool_upload_share 100), and
# the 20 workers beyond the uploads are the reserve for short requests.
stack_start workers=$WORKERS pm="$PM" per_user_limit="$FILES" max_active_users="$((USERS + 1))" \
    pool_upload_share=100 pool_reserve_share=$((2000 / WORKERS)) \
    status_path=/batchup-status || die "the stack did not start"
PG_PID=$(head -n 1 "$STACK_PG_DIR/data/postmaster.pid")
PGB_PID=
if [ "$PGBOUNCER" = 1 ]; then
    # Every worker is a PgBouncer client once it has run a query: room for
    # all of them, the master's children and the commands (max_client_conn
    # of conf/pgbouncer.ini), and file descriptors for them (stack.sh
    # starts it with its hard limit, not runuser's 1024).
    PGB_PID=$(cat "$STACK_PGBOUNCER_DIR/pgbouncer.pid")
    clients=$(stack_pgbouncer_admin 'SHOW CONFIG' | awk -F'|' '$1 == "max_client_conn" { print $2 }')
    [ "${clients:-0}" -ge $((WORKERS + 64)) ] ||
        die "PgBouncer's max_client_conn (${clients:-?}, conf/pgbouncer.ini) is below $((WORKERS + 64))"
    nofile=$(awk '/^Max open files/ { print $4 }' "/proc/$PGB_PID/limits")
    [ "$nofile" = unlimited ] || [ "$nofile" -ge $((2 * WORKERS + 64)) ] ||
        die "PgBouncer may open $nofile files, fewer than $((2 * WORKERS + 64))"
fi

# nginx: two connections per upload (client and FastCGI), and room for the
# probes that wait meanwhile (three every 0.5 s, each for up to
# BENCH_LIVE_PROBE_TIMEOUT, two connections each). With 128 to spare, a
# thousand uploads ran nginx out ("worker_connections are not enough,
# reusing connections"): nginx then closed connections whose request it had
# not read yet, and their uploads were reset (3 or 4 of 1000 a run).
conns=$((UPLOADS * 2 + 12 * PROBE_TIMEOUT * 2 + 512))
# nginx's worker at worker_priority NGINX_PRIORITY: one process feeds every
# upload's worker, and at its fair share of a saturated machine (one of 30
# runnable processes) it turned its event loop about once a second: a
# health request waited over 5 s in nginx while batchup, asked directly
# over FastCGI, answered it in 0.12 to 0.17 s.
sed -i -e "s/worker_connections [0-9]*;/worker_connections $conns;/" \
    -e "s/^worker_processes \(.*\)/worker_processes \1\nworker_priority $NGINX_PRIORITY;/" \
    "$STACK_DIR/nginx/nginx.conf"
nginx -t -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/nginx/error.log" \
    2>"$STACK_DIR/nginx-t.log" || { cat "$STACK_DIR/nginx-t.log" >&2; die "bad nginx.conf"; }
old_workers=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
kill -HUP "$NGINX_PID"
# shellcheck disable=SC2317 # through stack_wait_until
gone() {
    local p
    for p in $old_workers; do stack__alive "$p" && return 1; done
    [ "$(stack_health_code 2)" = 200 ]
}
stack_wait_until 20 gone || die "nginx did not reload"

echo "liveness.sh: adding $USERS users" >&2
users=$STACK_DIR/users.json
{
    printf '['
    for ((i = 1; i <= USERS; i++)); do
        token=$(stack_user_add "live$i" --limit "$FILES") || die "batchup user add live$i failed"
        [ "$i" = 1 ] || printf ','
        printf '["live%d", "%s"]' "$i" "$token"
    done
    printf ']\n'
} >"$users" || exit 1
probe=$(stack_user_add probe --limit 1) || die "batchup user add probe failed"

# Only what the logs say from here on counts (nginx logs its first health
# check, made before batchup listened).
log0=$(wc -l <"$STACK_DIR/batchup.log")
nlog0=$(wc -l <"$STACK_DIR/nginx/error.log")
head_flag=()
[ "$HEAD_IN_FLIGHT" = 1 ] && head_flag=(--head-in-flight)
"$PY" "$BENCH/liveness.py" --url "$BATCHUP_URL" --users "$users" --probe-token="$probe" \
    "${head_flag[@]}" --files "$FILES" \
    --rate "$RATE" --seconds "$SECS" --master-pid "$BATCHUP_PID" \
    --storage-dir "$STACK_DIR/storage" --socket "$STACK_SOCKET" --workers "$WORKERS" --pm "$PM" \
    --pg-max-connections "$STACK_PG_MAX_CONNECTIONS" --pg-pid "$PG_PID" --nginx-pid "$NGINX_PID" \
    ${PGB_PID:+--pgbouncer-pid "$PGB_PID" --pgbouncer-pool "$PG_POOL"} \
    --probe-timeout "$PROBE_TIMEOUT" --clients "$CLIENTS" --out "$OUT/liveness.json" &
PY_PID=$!
wait "$PY_PID"
rc=$?
PY_PID=

# What the servers said meanwhile, for whoever reads stderr.
tail -n +"$((log0 + 1))" "$STACK_DIR/batchup.log" | grep -E ' (warn|error) \[' >"$STACK_DIR/warn.log"
tail -n +"$((nlog0 + 1))" "$STACK_DIR/nginx/error.log" | grep -E '\[(error|crit|alert|emerg)\]' \
    >"$STACK_DIR/nginx-warn.log"
echo "liveness.sh: batchup.log: $(wc -l <"$STACK_DIR/warn.log") warn/error lines;" \
    "nginx error.log: $(wc -l <"$STACK_DIR/nginx-warn.log") error lines" >&2
for f in "$STACK_DIR/warn.log" "$STACK_DIR/nginx-warn.log"; do
    [ -s "$f" ] && tail -n 5 "$f" >&2
done
rm -rf "${STACK_DIR:?}/storage/files" "${STACK_DIR:?}/storage/partial"
exit "$rc"
