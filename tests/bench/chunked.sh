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
# Knobs: BENCH_CHUNKED_SIZES, BENCH_CHUNKED_ROUNDS, BENCH_CHUNK (bytes,
# default 16777216), STACK_ROOT (where the stack and the inputs live).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/stack.sh
SIZES=${BENCH_CHUNKED_SIZES:-"64M 1G"}
ROUNDS=${BENCH_CHUNKED_ROUNDS:-2}
CHUNK=${BENCH_CHUNK:-16777216}

die() {
    echo "chunked.sh: $*" >&2
    exit 1
}

stack_init || die "cannot create the stack folder"
# shellcheck disable=SC2034 # read by stack_cleanup
STACK_SHOW_LOGS=0
STACK_WORKERS=3 stack_start per_user_limit=2 >&2 || die "the stack did not start"
token=$(stack_user_add bench --limit 2) || die "batchup user add failed"
T=$STACK_DIR/chunked
mkdir -p "$T"
tick=$(getconf CLK_TCK)

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

printf '%-6s %-6s %-22s %10s %10s\n' size round mode "cpu s" "wall s"
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
        printf '%-6s %-6s %-22s %10.2f %10.2f\n' "$s" "$r" "one PATCH" \
            "$(echo "$wc / $tick" | bc -l)" "$ww"
        printf '%-6s %-6s %-22s %10.2f %10.2f\n' "$s" "$r" "$((CHUNK / 1048576)) MiB PATCHes" \
            "$(echo "$cc / $tick" | bc -l)" "$cw"
        printf '%-6s %-6s %-22s %10.2f %10.2f\n' "$s" "$r" "ratio chunked/whole" \
            "$(echo "$cc / ($wc + 0.000001)" | bc -l)" "$(echo "$cw / $ww" | bc -l)"
    done
done
rm -f "$T/src" "$T"/src.part.*
