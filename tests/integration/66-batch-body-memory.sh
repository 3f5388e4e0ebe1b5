#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A POST /api/v1/batches body cannot make a worker grow: bodies shaped to
# make jansson build millions of objects (8 MiB of "{}," in the files array,
# a root array of them, deep nesting), a body past the bound derived from
# max_batch_files, and one huge name are each answered 4xx, and after each
# the VmRSS of every worker (the pool's smallest: two) is what it was
# before, within RSS_SLACK_KIB (4 MiB). (Before the pre-scan, 8 MiB of "{}," took a worker
# to about 620 MiB, and it stayed there.)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

SLACK=${RSS_SLACK_KIB:-4096}
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"
W=$STACK_DIR/t66
mkdir -p "$W"
WORKERS=$(stack_worker_pids | tr '\n' ' ')
# rss: the VmRSS of each worker, "pid:KiB" a word, in pid order.
rss() {
    local p
    for p in $WORKERS; do printf '%s:%s ' "$p" "$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")"; done
}
# grown BEFORE NOW: how many workers grew by more than the slack.
grown() {
    local b n bad=0
    for b in $1; do
        for n in $2; do
            [ "${b%%:*}" = "${n%%:*}" ] && [ "${n#*:}" -gt $((${b#*:} + SLACK)) ] && bad=$((bad + 1))
        done
    done
    echo "$bad"
}

"$(stack__python)" - "$W" <<'PY'
import sys
w = sys.argv[1]
def put(name, data):
    open(w + "/" + name, "wb").write(data)
mib = 8 << 20
put("objects", b'{"files":[' + b"{}," * ((mib - 20) // 3) + b"{}]}")
put("root-array", b"[" + b"{}," * ((mib - 4) // 3) + b"{}]")
put("deep", b'{"files":[' + b"[" * (mib - 20) + b"]" * 2)
put("too-big", b'{"files":[' + b" " * (9 << 20) + b"]}")
put("huge-name", b'{"files":[{"name":"' + b"a" * (mib - 40) + b'","size":1}]}')
put("many-keys", b'{"files":[{' + b",".join(b'"k%d":1' % i for i in range(600000)) + b"}]}")
PY

post() {
    curl -s --max-time 60 -o "$W/out" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
        -H 'Content-Type: application/json' --data-binary "@$W/$1" "$BATCHUP_URL/api/v1/batches"
}
# Warm up: a valid batch and a small bad one, so the baseline is a worker
# that has parsed JSON before.
printf '{"files":[{"name":"a","size":1}]}' >"$W/ok"
# Every worker must have answered one: nginx now reads the body first, so
# requests sent one by one may all find the same idle worker, and a worker
# whose first request is a test body grows by its first connection to the
# database and its first JSON, not by the body. Bursts of eight at once
# reach both (at most ten bursts).
warm() {
    local p
    for p in $WORKERS; do
        grep -q "\[$p\] request \"POST\" \"/api/v1/batches\" 201" "$STACK_DIR/batchup.log" || return 1
    done
}
for _ in 1 2 3 4 5 6 7 8 9 10; do
    pids=()
    for _ in 1 2 3 4 5 6 7 8; do
        post ok >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}" # only these: the stack's own processes are children too
    warm && break
done
tap_ok "$(warm; echo $?)" "every worker answered a batch before the baseline"
base=$(rss)
tap_diag "workers' VmRSS before (pid:KiB): $base"
for body in objects root-array deep too-big huge-name many-keys objects; do
    code=$(post "$body")
    now=$(rss)
    tap_like "$code" '^4[0-9][0-9]$' "$body ($(stat -c %s "$W/$body") bytes): $code $(jget 'd["error"]["code"]' <"$W/out" 2>/dev/null)"
    tap_is "$(grown "$base" "$now")" 0 "... no worker grew (VmRSS after it: $now)"
done
tap_is "$(stack_worker_pids | tr '\n' ' ')" "$WORKERS" "the same workers answered them all"
tap_done
