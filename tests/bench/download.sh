#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# download.sh: download throughput of batchup next to nginx serving the same
# bytes as static files.
#
#   tests/bench/download.sh          (make bench runs it through run.sh)
#
# One private stack (tests/lib/stack.sh), a batch of BENCH_DL_FILES (5) files
# of BENCH_DL_MIB (200) MiB uploaded through batchup, then, with curl
# -o /dev/null, BENCH_DL_REPS (3) rounds of each, at 1 client (the 5 files one
# after the other on one connection; the ZIP: one request) and at 5 clients
# (one file each, at once; the ZIP: 5 whole ZIPs at once):
#
#   (i)   nginx static GET of the stored files (a location aliasing
#         storage_dir/files/, sendfile on): the ceiling
#   (ii)  GET /api/v1/download/stream/<id> with sendfile = off
#   (iii) the same with sendfile = x-accel-redirect (batchup restarted)
#   (iv)  GET /api/v1/download/batch/<token>: the ZIP stream
#   (ii*, iv*) with BENCH_TUNED=1 (off by default: conf/nginx.conf now ships
#         these buffers), (ii) and (iv) again through a
#         second server block with a larger fastcgi_buffer_size: what-if
#         rows, not the shipped configuration
#
# Before the timed rounds every mode is downloaded once and checked: each
# file's SHA-256, and each ZIP member's CRC-32 and SHA-256 (Python zipfile).
# The files stay in the page cache (warm), so this measures the serving
# path, not the disk.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/stack.sh
BENCH=tests/bench
PY=$(stack__python)
NFILES=${BENCH_DL_FILES:-5}
MIB=${BENCH_DL_MIB:-200}
REPS=${BENCH_DL_REPS:-3}
TUNED=${BENCH_TUNED:-0}
WORKERS=7

die() {
    echo "download.sh: $*" >&2
    exit 1
}

stack_init || die "cannot create the stack folder"
OUT=${BENCH_OUT:-$STACK_DIR}
mkdir -p "$OUT"
stack_start workers=$WORKERS || die "the stack did not start"
PG_PID=$(head -n 1 "$STACK_PG_DIR/data/postmaster.pid")
token=$(stack_user_add bench --limit 5) || die "batchup user add failed"

TUNED_PORT=
[ "$TUNED" = 1 ] && TUNED_PORT=$(stack__free_port)
mkdir -p "$STACK_DIR/ceiling"
"$PY" "$BENCH/bench.py" nginx-patch "$STACK_DIR/nginx/nginx.conf" --port "$NGINX_PORT" \
    --tus-port "$(stack__free_port)" --ceiling-dir "$STACK_DIR/ceiling" \
    --static-dir "$STACK_DIR/storage/files" ${TUNED_PORT:+--tuned-port "$TUNED_PORT"} ||
    die "cannot patch nginx.conf"
nginx -t -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/nginx/error.log" \
    2>"$STACK_DIR/nginx-t.log" || { cat "$STACK_DIR/nginx-t.log" >&2; die "bad nginx.conf"; }
kill -HUP "$NGINX_PID"
ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BATCHUP_URL/bench/static/")" = 403 ] &&
        { [ -z "$TUNED_PORT" ] || [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            "http://127.0.0.1:$TUNED_PORT/api/v1/health")" = 200 ]; }
}
stack_wait_until 20 ready || die "nginx did not take the benchmark's configuration"
sleep 1

free=$(df -B1 --output=avail "$STACK_DIR" | tail -n 1)
[ "$free" -gt $(((NFILES * MIB << 20) * 3 + (2 << 30))) ] || die "not enough free disk in $STACK_DIR"
echo "download.sh: uploading $NFILES files of $MIB MiB into batchup" >&2
"$PY" "$BENCH/bench.py" gen "$STACK_DIR/in" "dl:$NFILES:$((MIB << 20))" >"$STACK_DIR/hashes.json" ||
    die "cannot write the input files"
"$PY" "$BENCH/bench.py" prepare-download --url "$BATCHUP_URL" --token="$token" \
    --hashes "$STACK_DIR/hashes.json" --out "$STACK_DIR/spec.json" || die "cannot prepare the batch"
rm -rf "${STACK_DIR:?}/in"
sync

run() { # OUTFILE MODE=URL...
    local out=$1
    shift
    "$PY" "$BENCH/bench.py" download --spec "$STACK_DIR/spec.json" --out "$out" \
        --work "$STACK_DIR" --nginx-pid "$NGINX_PID" --batchup-pid "$BATCHUP_PID" \
        --pg-pid "$PG_PID" --reps "$REPS" --modes "$@"
}
modes=("static=$BATCHUP_URL" "stream-off=$BATCHUP_URL" "zip=$BATCHUP_URL")
[ -n "$TUNED_PORT" ] && modes+=("stream-off@tuned=http://127.0.0.1:$TUNED_PORT"
    "zip@tuned=http://127.0.0.1:$TUNED_PORT")
run "$OUT/download-1.json" "${modes[@]}" || die "the download benchmark failed"

# (iii): batchup again, now handing the body to nginx.
stack_batchup_stop
stack_write_conf workers=$WORKERS sendfile=x-accel-redirect
stack_batchup_start || die "batchup did not restart with sendfile = x-accel-redirect"
run "$OUT/download-2.json" "stream-xaccel=$BATCHUP_URL" || die "the download benchmark failed"

"$PY" "$BENCH/bench.py" report-download "$OUT/download-1.json" "$OUT/download-2.json" \
    --nfiles "$NFILES" --file-mib "$MIB" --reps "$REPS"
