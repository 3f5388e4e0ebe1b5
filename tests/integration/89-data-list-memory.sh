#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Bounded answers (issue 22, item 5): GET /api/v1/batches is paged (limit,
# an opaque cursor, a "next" link; files summarised by counts unless
# ?files=1), and no request of any shape raises a worker's VmHWM (its peak
# resident memory, from /proc/<pid>/status) above 32 MiB. The largest
# answers a user can provoke with the shipped defaults are built: 10
# batches (max_user_files = 10000) of 1000 files (max_batch_files) whose
# names are 1024 bytes (the most) of '"', which JSON escapes, and announce a
# SHA-256: 2.4 MB of JSON per batch, 24 MB for the 10 (the last 5 of empty
# files, complete at once, with their links); then listed in every way the
# API allows, each batch read whole, and a complete one's ZIP and manifest
# fetched.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

LIMIT_KB=$((32 * 1024))
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 pm=static gc_interval_seconds=3600 || tap_bail "the stack did not start"
W=$STACK_DIR/t89
mkdir -p "$W"
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
PY=$(stack__python)

# The workers' peak resident memory, the largest, in KiB.
hwm() {
    local pid max=0 kb
    for pid in $(stack_worker_pids); do
        kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        [ -n "$kb" ] && [ "$kb" -gt "$max" ] && max=$kb
    done
    echo "$max"
}
tap_diag "workers' VmHWM at start: $(hwm) KiB"

# 1000 files named with a distinct prefix and 1020 '"': about 2.2 MB; of
# 1 byte, or empty.
for size in 0 1; do
    "$PY" -c 'import json, sys
size = int(sys.argv[1])
sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" if size == 0 else "ab" * 32
sys.stdout.write(json.dumps({"files": [{"name": "%04d" % i + "\"" * 1020, "size": size, "sha256": sha}
                                       for i in range(1000)]}))' "$size" >"$W/body$size.json"
done
made=0
for i in $(seq 1 10); do
    code=$(curl -s --max-time 60 -o "$W/b$i.json" -w '%{http_code}' -H "Authorization: Bearer $ANN" \
        -H 'Content-Type: application/json' --data-binary "@$W/body$((i <= 5)).json" "$BATCHUP_URL/api/v1/batches")
    [ "$code" = 201 ] && made=$((made + 1))
done
tap_is "$made" 10 "10 batches of 1000 files with 1 KiB names are created"
[ "$made" = 10 ] || tap_diag "$(head -c 300 "$W/b1.json")"
tap_diag "workers' VmHWM after the creations: $(hwm) KiB"

# --- the list, paged --------------------------------------------------------
tap_is "$(get "$W/l" "$ANN" /api/v1/batches)" 200 "GET /api/v1/batches"
tap_ok "$([ "$(stat -c %s "$W/l.b")" -lt 100000 ]; echo $?)" "is small: $(stat -c %s "$W/l.b") bytes for 10 batches of 1000 files"
tap_is "$(jget '[b["file_counts"] for b in d["batches"]][4:6]' <"$W/l.b")" \
    '[{"total": 1000, "aborted": 0, "expired": 0, "completed": 1000, "unfinished": 0}, {"total": 1000, "aborted": 0, "expired": 0, "completed": 0, "unfinished": 1000}]' \
    "each batch summarised by its file counts"
tap_is "$(jget '"files" in d["batches"][0]' <"$W/l.b")" False "without its files"
tap_is "$(jget 'd["next"]' <"$W/l.b")" None "all 10 on one page: no next"

tap_is "$(get "$W/p" "$ANN" '/api/v1/batches?limit=3')" 200 "?limit=3"
ids=$(jget '" ".join(b["id"] for b in d["batches"])' <"$W/p.b")
next=$(jget 'd["next"]' <"$W/p.b")
pages=1
while [ "$next" != None ] && [ "$pages" -lt 10 ]; do
    get "$W/p" "$ANN" "$next" >/dev/null
    ids="$ids $(jget '" ".join(b["id"] for b in d["batches"])' <"$W/p.b")"
    next=$(jget 'd["next"]' <"$W/p.b")
    pages=$((pages + 1))
done
want=$(for i in $(seq 10 -1 1); do jget 'd["id"]' <"$W/b$i.json"; done | tr '\n' ' ')
tap_is "$pages" 4 "following next gives 4 pages of at most 3"
tap_is "$ids " "$want" "every batch once, newest first"

tap_is "$(get "$W/f" "$ANN" '/api/v1/batches?limit=100&files=1')" 200 "?limit=100&files=1"
tap_is "$(jget 'len(d["batches"])' <"$W/f.b")" 1 "a page with files ends after 1000 files: one batch"
tap_is "$(jget 'len(d["batches"][0]["files"])' <"$W/f.b")" 1000 "... with its 1000 files"
tap_like "$(jget 'd["next"]' <"$W/f.b")" '^/api/v1/batches\?limit=100&files=1&cursor=[A-Za-z0-9_-]+$' "... and a next link"
n=1
next=$(jget 'd["next"]' <"$W/f.b")
while [ "$next" != None ] && [ "$n" -lt 12 ]; do
    get "$W/f" "$ANN" "$next" >/dev/null
    next=$(jget 'd["next"]' <"$W/f.b")
    n=$((n + 1))
done
tap_is "$n" 10 "ten such pages in all"
tap_is "$(get "$W/x" "$ANN" '/api/v1/batches?cursor=bm90LWEtY3Vyc29y')" 400 "a cursor the server did not give: 400"
tap_is "$(get "$W/x" "$ANN" '/api/v1/batches?limit=0')" 400 "limit 0: 400"
tap_is "$(get "$W/x" "$ANN" '/api/v1/batches?limit=101')" 400 "limit 101: 400"

# --- every batch read whole, and the peak -----------------------------------
ok=0
for i in $(seq 1 10); do
    [ "$(get "$W/g" "$ANN" "/api/v1/batches/$(jget 'd["id"]' <"$W/b$i.json")")" = 200 ] && ok=$((ok + 1))
done
tap_is "$ok" 10 "each batch is read whole ($(stat -c %s "$W/g.b") bytes)"
LINK=$(jget 'd["download_url"]' <"$W/b10.json")
tap_is "$(get "$W/m" "" "$LINK/manifest")" 200 "a complete batch's manifest ($(stat -c %s "$W/m.b") bytes)"
tap_is "$(get "$W/z" "" "$LINK")" 200 "and its ZIP ($(stat -c %s "$W/z.b") bytes)"
peak=$(hwm)
tap_diag "workers' VmHWM at the end: $peak KiB"
tap_ok "$([ "$peak" -gt 0 ] && [ "$peak" -le "$LIMIT_KB" ]; echo $?)" \
    "no worker's VmHWM went above 32 MiB ($peak KiB)"
tap_done
