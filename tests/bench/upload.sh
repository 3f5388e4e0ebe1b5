#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# upload.sh: upload throughput of batchup next to nginx alone and @tus/server.
#
#   tests/bench/upload.sh            (make bench runs it through run.sh)
#
# One private stack (tests/lib/stack.sh: PostgreSQL, batchup, nginx on a free
# loopback port), one nginx serving all three systems, one client (curl),
# BENCH_CONCURRENCY (5) uploads at once, for files of 1 MiB, 64 MiB and
# 1 GiB, each size in rounds, the systems side by side in each round:
#
#   (0) durable floor  no server: dd copies each file onto the same disk
#                      (256 KiB blocks, conv=fdatasync: one fdatasync per
#                      file), as many at once as the uploads; batchup makes
#                      every file durable before answering, so this is its
#                      bound (goal: batchup >= 0.8 of it)
#   (a) nginx ceiling  nginx reads the body into a file and nothing else
#                      (client_body_in_file_only on, a trivial upstream
#                      answering 204, proxy_pass_request_body off)
#   (b) @tus/server    the tus reference server for Node with @tus/file-store
#                      (versions in node/package.json), proxied by nginx with
#                      proxy_request_buffering off; POST /files, then PATCH
#   (c) batchup        one user with limit 5: POST /api/v1/batches (every
#                      file, with its sha256), then one PATCH per file with
#                      the whole body (conf/nginx.conf's /api/ location)
#   (d) app floor      tests/bench/fcgi_floor.c (make bench builds it) behind
#                      the same nginx, with batchup's upload location settings:
#                      a FastCGI responder that reads each body, hashes it
#                      (SHA-256, CRC-32), writes it with O_DIRECT and
#                      fdatasyncs it, and nothing else; its CPU per GB is what
#                      any app that must hash and keep each byte pays, the
#                      bound for batchup's app CPU
#   (c*) the same batchup through a second server block with larger nginx
#        buffers (BENCH_TUNED=1; off by default since conf/nginx.conf ships
#        them): a what-if row for experimenting with other sizes, not the shipped
#        configuration.
#
# Each round runs the systems in the order (0), (a), (b), (d), (c): the app
# floor right before batchup, so that the ratio of the two, also printed
# round by round with its median, compares runs on the same machine state.
#
# Each lane is one curl process sending its share of the files over one
# keep-alive connection (`-T file -X PATCH`, streamed from the file; the body
# is the same as with --data-binary).  Every stored file is checked against
# the input's SHA-256 after each round (and then deleted).  The CPU time of
# the server-side processes comes from /proc/PID/stat; the peak memory of
# each batchup worker is sampled every 50 ms while it receives (bench.py).
#
# Knobs: BENCH_UPLOAD_SIZES (default "1M:100:3 64M:5:5 1G:5:1", meaning
# name:files:rounds), BENCH_CONCURRENCY (5), BENCH_TUNED (0), BENCH_OUT (a
# folder for the JSON results; default the stack folder, removed at exit).
# STACK_ROOT=/dev/shm puts the whole stack (inputs, nginx's body files,
# @tus/file-store's and batchup's storage) on tmpfs: fsync costs nothing
# there, so the figures show the software path alone, without the disk
# (needs about 12 GiB of RAM with the default sizes).
# Needs: nginx, PostgreSQL, curl, node >= 20.19 and npm (for the first run:
# `npm ci` into tests/bench/node/node_modules, never committed).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/stack.sh
BENCH=tests/bench
PY=$(stack__python)
SIZES=${BENCH_UPLOAD_SIZES:-"1M:100:3 64M:5:5 1G:5:1"}
CONC=${BENCH_CONCURRENCY:-5}
TUNED=${BENCH_TUNED:-0}

die() {
    echo "upload.sh: $*" >&2
    exit 1
}

# The tus server (node) and the app floor are ours to stop, before the
# stack's own cleanup.
NODE_PID='' FLOOR_PID=''
bench_cleanup() {
    local rc=$? p
    for p in $NODE_PID $FLOOR_PID; do
        stack__stop_pid "$p" 5
    done
    (exit "$rc")
    stack_cleanup
}

# --- prerequisites -------------------------------------------------------
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' ||
    die "@tus/server needs node >= 20.19 (this is $(node -v))"
if [ ! -f "$BENCH/node/node_modules/@tus/server/package.json" ] ||
    [ ! -f "$BENCH/node/node_modules/@tus/file-store/package.json" ]; then
    echo "upload.sh: installing @tus/server into $BENCH/node/node_modules (npm ci)" >&2
    (cd "$BENCH/node" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci failed in $BENCH/node"
fi
TUS_VERSION=$(node -p "require('./$BENCH/node/node_modules/@tus/server/package.json').version")
FS_VERSION=$(node -p "require('./$BENCH/node/node_modules/@tus/file-store/package.json').version")

# --- the stack ------------------------------------------------------------
stack_init || die "cannot create the stack folder"
trap bench_cleanup EXIT
OUT=${BENCH_OUT:-$STACK_DIR}
mkdir -p "$OUT"
workers=$((CONC + 2))
stack_start workers=$workers per_user_limit=$CONC || die "the stack did not start"
PG_PID=$(head -n 1 "$STACK_PG_DIR/data/postmaster.pid")
token=$(stack_user_add bench --limit "$CONC") || die "batchup user add failed"

# @tus/server on a free port.
TUS_PORT=$(stack__free_port)
mkdir -p "$STACK_DIR/tus" "$STACK_DIR/ceiling"
node "$BENCH/tus-server.mjs" "$TUS_PORT" "$STACK_DIR/tus" >"$STACK_DIR/tus.log" 2>&1 </dev/null &
NODE_PID=$!

# The app floor, with as many processes as batchup has workers.
FLOOR_BIN=${BENCH_FCGI_FLOOR:-build/tools/fcgi_floor}
[ -x "$FLOOR_BIN" ] || make -s "$FLOOR_BIN" >&2 || die "cannot build $FLOOR_BIN"
mkdir -p "$STACK_DIR/fcgi-floor"
"$FLOOR_BIN" "$STACK_DIR/fcgi-floor.sock" "$STACK_DIR/fcgi-floor" "$workers" \
    >"$STACK_DIR/fcgi-floor.log" 2>&1 </dev/null &
FLOOR_PID=$!

# nginx: the benchmark's locations added to the stack's configuration.
TUNED_PORT=
[ "$TUNED" = 1 ] && TUNED_PORT=$(stack__free_port)
"$PY" "$BENCH/bench.py" nginx-patch "$STACK_DIR/nginx/nginx.conf" --port "$NGINX_PORT" \
    --tus-port "$TUS_PORT" --ceiling-dir "$STACK_DIR/ceiling" --static-dir "$STACK_DIR/storage/files" \
    --fcgi-floor-socket "$STACK_DIR/fcgi-floor.sock" \
    ${TUNED_PORT:+--tuned-port "$TUNED_PORT"} || die "cannot patch nginx.conf"
nginx -t -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/nginx/error.log" \
    2>"$STACK_DIR/nginx-t.log" || { cat "$STACK_DIR/nginx-t.log" >&2; die "bad nginx.conf"; }
kill -HUP "$NGINX_PID"
ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X PATCH --data x \
        "$BATCHUP_URL/bench/ceiling")" = 204 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X PATCH --data x \
            "$BATCHUP_URL/bench/fcgi-floor/ready")" = 204 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X OPTIONS \
            -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/files")" = 204 ] &&
        { [ -z "$TUNED_PORT" ] || [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            "http://127.0.0.1:$TUNED_PORT/api/v1/health")" = 200 ]; }
}
stack_wait_until 20 ready || {
    tail -n 5 "$STACK_DIR/nginx/error.log" "$STACK_DIR/tus.log" "$STACK_DIR/fcgi-floor.log" >&2
    die "nginx (reloaded), @tus/server or fcgi_floor does not answer"
}
# nginx workers restarted on reload: the old ones are gone before we measure.
sleep 1
rm -rf "${STACK_DIR:?}/ceiling"/* "${STACK_DIR:?}/fcgi-floor"/*

# --- input files ----------------------------------------------------------
bytes_of() {
    case $1 in
        *G) echo $((${1%G} << 30)) ;;
        *M) echo $((${1%M} << 20)) ;;
        *K) echo $((${1%K} << 10)) ;;
        *) echo "$1" ;;
    esac
}
gen=() rounds=()
for s in $SIZES; do
    IFS=: read -r name count reps <<<"$s"
    gen+=("$name:$count:$(bytes_of "$name")")
    rounds+=("$name:$reps")
done
need=0
for g in "${gen[@]}"; do
    IFS=: read -r _ count b <<<"$g"
    need=$((need + count * b))
done
free=$(df -B1 --output=avail "$STACK_DIR" | tail -n 1)
[ "$free" -gt $((need * 2 + (2 << 30))) ] ||
    die "needs $((need * 2 >> 30)) GiB free in $STACK_DIR, has $((free >> 30)) GiB"
echo "upload.sh: writing $((need >> 20)) MiB of input files" >&2
"$PY" "$BENCH/bench.py" gen "$STACK_DIR/in" "${gen[@]}" >"$STACK_DIR/hashes.json" ||
    die "cannot write the input files"
sync

"$PY" "$BENCH/bench.py" upload --url "$BATCHUP_URL" --token="$token" \
    --hashes "$STACK_DIR/hashes.json" --ceiling-dir "$STACK_DIR/ceiling" --floor-dir "$STACK_DIR/floor" \
    --fcgi-floor-dir "$STACK_DIR/fcgi-floor" --fcgi-floor-pid "$FLOOR_PID" \
    --tus-dir "$STACK_DIR/tus" --storage-dir "$STACK_DIR/storage" --out "$OUT/upload.json" \
    --tus-version "$TUS_VERSION (file-store $FS_VERSION)" \
    ${TUNED_PORT:+--tuned-url "http://127.0.0.1:$TUNED_PORT"} \
    --nginx-pid "$NGINX_PID" --batchup-pid "$BATCHUP_PID" --pg-pid "$PG_PID" \
    --node-pid "$NODE_PID" --concurrency "$CONC" --sizes "${rounds[@]}"
rc=$?
rm -rf "${STACK_DIR:?}/in" "${STACK_DIR:?}/tus" "${STACK_DIR:?}/ceiling" "${STACK_DIR:?}/floor" \
    "${STACK_DIR:?}/fcgi-floor"
exit $rc
