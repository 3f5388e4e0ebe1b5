#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# chunked.sh: what a file sent in chunks costs next to the same file in one
# PATCH, on one stack.
#
#   tests/bench/chunked.sh           (make bench runs it through run.sh)
#
# One private stack (tests/lib/stack.sh: PostgreSQL, batchup, nginx on a free
# loopback port), one client (curl), one upload at a time.  For each size
# (BENCH_CHUNKED_SIZES, default "64M 1G") and each round (BENCH_CHUNKED_ROUNDS,
# default 2) the file goes up twice, side by side: as one PATCH with the whole
# body, and as PATCHes of BENCH_CHUNK bytes (16 MiB, what tus-js-client and
# Uppy send with chunkSize set, e.g. under a proxy's request cap), one after
# the other over one keep-alive connection of one curl, as such a client
# sends them.  The batchup CPU of each is
# the utime + stime, from /proc, of the master's children plus what the
# master collected of those that exited, before and after; the wall time is
# the client's, from the POST of the batch to the last 204.  Each stored file
# is checked against the input's SHA-256 (the database's and the file's).
# The ratios (chunked / whole) are printed per size: the goal is at most 1.3
# for CPU and 1.5 for wall time at 1 GiB.
#
# Beside them, the same file goes to the reference, @tus/server with
# @tus/file-store (tests/bench/tus-server.mjs, as upload.sh runs it: one
# node process behind the same nginx, location /files, request bodies
# streamed), created with a tus POST and sent as the same PATCHes (one, and
# the 16 MiB chunks) over one keep-alive connection of one curl; its CPU is
# the node process's utime + stime, its stored file is checked against the
# input's SHA-256.  Printed per round: batchup / @tus/server for throughput
# (the inverse of the wall times) and for CPU, one PATCH and chunked.
# BENCH_CHUNKED_TUS=0 leaves the reference out.
#
# Knobs: BENCH_CHUNKED_SIZES, BENCH_CHUNKED_ROUNDS, BENCH_CHUNK (bytes,
# default 16777216), BENCH_CHUNKED_TUS (1), STACK_ROOT (where the stack and
# the inputs live).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/stack.sh
BENCH=tests/bench
PY=$(stack__python)
SIZES=${BENCH_CHUNKED_SIZES:-"64M 1G"}
ROUNDS=${BENCH_CHUNKED_ROUNDS:-2}
CHUNK=${BENCH_CHUNK:-16777216}
TUS=${BENCH_CHUNKED_TUS:-1}

die() {
    echo "chunked.sh: $*" >&2
    exit 1
}

# The tus server (node) is ours to stop, before the stack's own cleanup.
NODE_PID=''
bench_cleanup() {
    local rc=$?
    [ -z "$NODE_PID" ] || stack__stop_pid "$NODE_PID" 5
    (exit "$rc")
    stack_cleanup
}

if [ "$TUS" = 1 ]; then
    command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
    if [ ! -f "$BENCH/node/node_modules/@tus/server/package.json" ] ||
        [ ! -f "$BENCH/node/node_modules/@tus/file-store/package.json" ]; then
        echo "chunked.sh: installing @tus/server into $BENCH/node/node_modules (npm ci)" >&2
        (cd "$BENCH/node" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2) ||
            die "npm ci failed in $BENCH/node"
    fi
fi

stack_init || die "cannot create the stack folder"
trap bench_cleanup EXIT
# shellcheck disable=SC2034 # read by stack_cleanup
STACK_SHOW_LOGS=0
STACK_WORKERS=3 stack_start per_user_limit=2 >&2 || die "the stack did not start"
token=$(stack_user_add bench --limit 2) || die "batchup user add failed"
T=$STACK_DIR/chunked
mkdir -p "$T"
tick=$(getconf CLK_TCK)

if [ "$TUS" = 1 ]; then
    TUS_PORT=$(stack__free_port)
    mkdir -p "$STACK_DIR/tus" "$STACK_DIR/ceiling"
    node "$BENCH/tus-server.mjs" "$TUS_PORT" "$STACK_DIR/tus" >"$STACK_DIR/tus.log" 2>&1 </dev/null &
    NODE_PID=$!
    # upload.sh's nginx locations (the /files one is @tus/server's).
    "$PY" "$BENCH/bench.py" nginx-patch "$STACK_DIR/nginx/nginx.conf" --port "$NGINX_PORT" \
        --tus-port "$TUS_PORT" --ceiling-dir "$STACK_DIR/ceiling" \
        --static-dir "$STACK_DIR/storage/files" || die "cannot patch nginx.conf"
    nginx -t -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/nginx/error.log" \
        2>"$STACK_DIR/nginx-t.log" || { cat "$STACK_DIR/nginx-t.log" >&2; die "bad nginx.conf"; }
    kill -HUP "$NGINX_PID"
    # shellcheck disable=SC2317 # through stack_wait_until
    tus_ready() {
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X OPTIONS \
            -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/files")" = 204 ]
    }
    stack_wait_until 20 tus_ready || {
        tail -n 5 "$STACK_DIR/nginx/error.log" "$STACK_DIR/tus.log" >&2
        die "@tus/server does not answer through nginx"
    }
    sleep 1 # nginx's old workers are gone before we measure
fi

# The CPU seconds of the pool so far: the live workers' own, and those the
# master reaped (fields 14-15 of a child, 16-17 of the master).
pool_cpu() {
    local p sum=0 f
    for p in $(stack_worker_pids); do
        f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    f=$(sed 's/^.*) //' "/proc/$BATCHUP_PID/stat")
    set -- $f
    sum=$((sum + ${14} + ${15}))
    echo "$sum"
}

# upload FILE SIZE CHUNK: one file, in PATCHes of CHUNK bytes (0: one PATCH,
# from FILE; else from FILE.part.*, split beforehand so that no client-side
# copying is timed).  Prints "cpu_ticks wall_seconds"; fails when a PATCH or
# the digest is wrong.
upload() {
    local src=$1 size=$2 chunk=$3 sha id off=0 code c0 c1 t0 t1 part
    local -a parts=("$src")
    sha=$(cat "$src.sha")
    [ "$chunk" = 0 ] || parts=("$src".part.*)
    c0=$(pool_cpu)
    t0=$(date +%s.%N)
    id=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data "{\"files\":[{\"name\":\"b.bin\",\"size\":$size,\"sha256\":\"$sha\"}]}" \
        "$BATCHUP_URL/api/v1/batches" | jq -r '.files[0].id')
    [ -n "$id" ] || return 1
    # One curl for every PATCH, over one keep-alive connection, as a tus
    # client sends its chunks (--next starts the next transfer).
    local -a args=()
    for part in "${parts[@]}"; do
        [ "${#args[@]}" = 0 ] || args+=(--next)
        args+=(-s -o /dev/null -w '%{http_code}\n' --max-time 300 -X PATCH -T "$part"
            -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0'
            -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream'
            "$BATCHUP_URL/api/v1/files/$id")
        off=$((off + $(stat -c %s "$part")))
    done
    code=$(curl "${args[@]}" | sort -u | tr '\n' ' ')
    [ "$code" = "204 " ] || {
        echo "PATCHes answered: $code" >&2
        return 1
    }
    t1=$(date +%s.%N)
    c1=$(pool_cpu)
    [ "$(psql -XAtq -c "SELECT sha256 FROM batchup.files WHERE id = '$id' AND status = 'completed'")" = "$sha" ] || {
        echo "the database's SHA-256 of $id is not the source's" >&2
        return 1
    }
    [ "$(sha256sum <"$STACK_DIR/storage/files/${id:0:2}/$id" | cut -d' ' -f1)" = "$sha" ] || {
        echo "the stored file $id is not the source" >&2
        return 1
    }
    rm -f "$STACK_DIR/storage/files/${id:0:2}/$id"
    echo "$((c1 - c0)) $(echo "$t1 - $t0" | bc)"
}

# The CPU ticks of @tus/server so far (one node process).
node_cpu() {
    local f
    f=$(sed 's/^.*) //' "/proc/$NODE_PID/stat")
    set -- $f
    echo $((${12} + ${13}))
}

# tus_upload FILE SIZE CHUNK: upload() for @tus/server: a tus POST, then the
# PATCHes over one connection; the stored file is checked and removed.
tus_upload() {
    local src=$1 size=$2 chunk=$3 sha loc id off=0 code c0 c1 t0 t1 part
    local -a parts=("$src")
    sha=$(cat "$src.sha")
    [ "$chunk" = 0 ] || parts=("$src".part.*)
    c0=$(node_cpu)
    t0=$(date +%s.%N)
    loc=$(curl -s -o /dev/null -w '%header{location}' -X POST -H 'Tus-Resumable: 1.0.0' \
        -H "Upload-Length: $size" "$BATCHUP_URL/files")
    id=${loc##*/}
    [ -n "$id" ] || return 1
    local -a args=()
    for part in "${parts[@]}"; do
        [ "${#args[@]}" = 0 ] || args+=(--next)
        args+=(-s -o /dev/null -w '%{http_code}\n' --max-time 300 -X PATCH -T "$part"
            -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off"
            -H 'Content-Type: application/offset+octet-stream' "$BATCHUP_URL/files/$id")
        off=$((off + $(stat -c %s "$part")))
    done
    code=$(curl "${args[@]}" | sort -u | tr '\n' ' ')
    [ "$code" = "204 " ] || {
        echo "@tus/server's PATCHes answered: $code" >&2
        return 1
    }
    t1=$(date +%s.%N)
    c1=$(node_cpu)
    [ "$(sha256sum <"$STACK_DIR/tus/$id" | cut -d' ' -f1)" = "$sha" ] || {
        echo "@tus/server's stored file $id is not the source" >&2
        return 1
    }
    rm -f "$STACK_DIR/tus/$id" "$STACK_DIR/tus/$id.json"
    echo "$((c1 - c0)) $(echo "$t1 - $t0" | bc)"
}

# row SIZE ROUND MODE CPU_TICKS WALL: one line of the table.
row() {
    printf '%-6s %-6s %-30s %10.2f %10.2f\n' "$1" "$2" "$3" "$(echo "$4 / $tick" | bc -l)" "$5"
}

printf '%-6s %-6s %-30s %10s %10s\n' size round mode "cpu s" "wall s"
for s in $SIZES; do
    bytes=$(numfmt --from=iec "$s")
    head -c "$bytes" /dev/urandom >"$T/src"
    sha256sum <"$T/src" | cut -d' ' -f1 >"$T/src.sha"
    rm -f "$T"/src.part.*
    split -a 4 -d -b "$CHUNK" "$T/src" "$T/src.part."
    for r in $(seq 1 "$ROUNDS"); do
        read -r wc ww <<<"$(upload "$T/src" "$bytes" 0)" || die "one-PATCH upload failed"
        read -r cc cw <<<"$(upload "$T/src" "$bytes" "$CHUNK")" || die "chunked upload failed"
        [ -n "$wc" ] && [ -n "$cc" ] || die "an upload failed"
        mib=$((CHUNK / 1048576))
        row "$s" "$r" "one PATCH" "$wc" "$ww"
        row "$s" "$r" "$mib MiB PATCHes" "$cc" "$cw"
        printf '%-6s %-6s %-30s %10.2f %10.2f\n' "$s" "$r" "ratio chunked/whole" \
            "$(echo "$cc / ($wc + 0.000001)" | bc -l)" "$(echo "$cw / $ww" | bc -l)"
        [ "$TUS" = 1 ] || continue
        read -r twc tww <<<"$(tus_upload "$T/src" "$bytes" 0)" || die "@tus/server one-PATCH upload failed"
        read -r tcc tcw <<<"$(tus_upload "$T/src" "$bytes" "$CHUNK")" || die "@tus/server chunked upload failed"
        [ -n "$twc" ] && [ -n "$tcc" ] || die "an @tus/server upload failed"
        row "$s" "$r" "@tus/server one PATCH" "$twc" "$tww"
        row "$s" "$r" "@tus/server $mib MiB PATCHes" "$tcc" "$tcw"
        # batchup / @tus/server: throughput (MB/s, so the inverse of the
        # wall times) and CPU.
        printf '%-6s %-6s %-30s %10.2f %10.2f\n' "$s" "$r" "batchup/@tus one PATCH" \
            "$(echo "$wc / ($twc + 0.000001)" | bc -l)" "$(echo "$tww / $ww" | bc -l)"
        printf '%-6s %-6s %-30s %10.2f %10.2f\n' "$s" "$r" "batchup/@tus chunked" \
            "$(echo "$cc / ($tcc + 0.000001)" | bc -l)" "$(echo "$tcw / $cw" | bc -l)"
    done
done
rm -f "$T/src" "$T"/src.part.*
echo "cpu s: batchup's workers, or @tus/server's node process; batchup/@tus rows: CPU ratio"
echo "under \"cpu s\", throughput ratio (@tus/server's wall time over batchup's) under \"wall s\"."
