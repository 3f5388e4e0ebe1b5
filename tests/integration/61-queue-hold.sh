#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A queued PATCH is held for its slot (issue 23, section 1, last bullet):
# per_user_limit 1, queue_hold_seconds 4 (STACK_QUEUE_HOLD_SECONDS), curl
# through nginx.
#   - upload A holds the slot (its body trickled over 3 s, slowreq.py);
#   - B with "Prefer: wait=0" is answered 423 at once, as before;
#   - B without Prefer is held (the status shows a worker "queued"), then
#     streams and completes, 204, as soon as A commits (the delay measured);
#   - the limit is exact throughout (batchup.slots sampled: never 2);
#   - C, queued behind a 9 s upload, is answered 423 after the 4 s hold,
#     and after 2 s with "Prefer: wait=2";
#   - a granted upload takes a held one's place when the uploads' share
#     (pool_upload_share) is full: the held one is answered 423 at once, and
#     a queued PATCH finding the share full is not held;
#   - a graceful stop ends a hold at once with the 423.
# Before the hold, B without Prefer was answered 423 at once and never 204.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

export STACK_QUEUE_HOLD_SECONDS=4
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 pm=static per_user_limit=1 gc_interval_seconds=3600 status_path=/st \
    pool_upload_share=50 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
TB=$(stack_user_add bob) || tap_bail "cannot add bob"
B=$BATCHUP_URL
T=$STACK_DIR/t61
mkdir -p "$T"
py=$(stack__python)
body=$(head -c 3000 /dev/urandom | base64 -w0 | head -c 4000)
printf '%s' "$body" >"$T/body"

mkfile() {
    curl -s --max-time 20 -H "Authorization: Bearer ${2:-$TA}" -H 'Content-Type: application/json' \
        --data "{\"files\": [{\"name\": \"$1\", \"size\": 4000}]}" "$B/api/v1/batches" |
        jq -r '.files[0].id'
}
# slow FILE SECONDS [TOKEN]: a PATCH of the whole body, trickled over SECONDS.
slow() {
    "$py" tests/lib/slowreq.py PATCH "$B/api/v1/files/$1" "$body" "$2" 4 \
        -H "Authorization: Bearer ${3:-$TA}" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' >"$T/$1.out"
    date +%s.%N >"$T/$1.end"
}
# patch FILE [HEADER]: a PATCH of the whole body; prints "status seconds".
patch() {
    curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}' -X PATCH \
        -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' ${2:+-H "$2"} \
        --data-binary "@$T/body" "$B/api/v1/files/$1"
}
holds_slot() { [ "$(psql -XAtq -c "SELECT count(*) FROM batchup.slots WHERE file_id = '$1'")" = 1 ]; }
# Sample alice's slots every 0.05 s for about 6 s into $T/slots, in one
# psql session (a psql a sample would see only a few).
sample() {
    local i
    for i in $(seq 120); do
        echo "SELECT count(*) FROM batchup.slots s JOIN batchup.files f ON f.id = s.file_id
              JOIN batchup.batches b ON b.id = f.batch_id JOIN batchup.users u ON u.id = b.user_id
              WHERE u.name = 'alice';"
        echo "\\o /dev/null"
        echo "SELECT pg_sleep(0.05);"
        echo "\\o"
    done | psql -XAtq >"$T/slots"
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

A=$(mkfile a.bin)
BF=$(mkfile b.bin)
[ -n "$A" ] && [ "$A" != null ] && [ -n "$BF" ] && [ "$BF" != null ] || tap_bail "no batches"
sample &
sampler=$!
slow "$A" 3 &
a=$!
stack_wait_until 10 holds_slot "$A" || tap_bail "A never took its slot"

read -r code secs < <(patch "$BF" 'Prefer: wait=0')
tap_is "$code" 423 "B with Prefer: wait=0 is answered 423 (queued)"
lt "$secs" 1 && tap_ok 0 "... at once (${secs} s)" || tap_ok 1 "... at once (took ${secs} s)"

patch "$BF" >"$T/b.res" &
b=$!
sleep 1
"$BATCHUP_BIN" status -c "$BATCHUP_CONF" >"$T/status" 2>&1
grep -q ' queued ' "$T/status"
tap_ok $? "while B is held, batchup status shows a worker in state queued"
# Held a second, B has been queued a second: its claims every 0.5 s leave
# it queued (they once showed it receiving for each round trip, and its
# time in the state restarted).
tap_like "$(awk -v id="$BF" 'index($0, id) { print $2, $3 }' "$T/status")" '^queued (0\.[7-9]|[1-9])' \
    "... B's worker, queued since the hold began"
[ -s "$T/status" ] && grep -q ' queued ' "$T/status" || tap_diag "$(cat "$T/status")"
wait "$a"
wait "$b"
b_end=$(date +%s.%N)
wait "$sampler"
read -r code secs <"$T/b.res"
tap_is "$(head -n 1 "$T/$A.out")" 204 "A completes (204)"
tap_is "$code" 204 "B without Prefer is held, then streams and completes: 204, not 423"
delay=$(awk -v a="$(cat "$T/$A.end")" -v b="$b_end" 'BEGIN { printf "%.2f", b - a }')
tap_diag "B answered ${delay} s after A's answer (B's request took ${secs} s)"
lt "$delay" 1.5 && tap_ok 0 "B completes within 1.5 s of A's commit (${delay} s)" ||
    tap_ok 1 "B completes within 1.5 s of A's commit (${delay} s)"
tap_is "$(psql -XAtq -c "SELECT string_agg(status, ' ' ORDER BY name) FROM batchup.files
                         WHERE id IN ('$A', '$BF')")" "completed completed" "both files are completed"
cmp -s "$T/body" "$STACK_DIR/storage/files/${BF:0:2}/$BF"
tap_ok $? "B's stored file is its body, byte for byte"
tap_is "$(sort -n "$T/slots" | tail -n 1)" 1 \
    "the limit held throughout: alice never had more than 1 slot ($(wc -l <"$T/slots") samples)"

# Queued behind a 9 s upload: the hold ends, and the answer is today's 423.
A2=$(mkfile a2.bin)
C=$(mkfile c.bin)
slow "$A2" 9 &
a=$!
stack_wait_until 10 holds_slot "$A2" || tap_bail "A2 never took its slot"
read -r code secs < <(patch "$C")
tap_is "$code" 423 "C, queued for longer than the hold, is answered 423"
lt 3.8 "$secs" && lt "$secs" 5.5 && tap_ok 0 "... after the 4 s hold (${secs} s)" ||
    tap_ok 1 "... after the 4 s hold (took ${secs} s)"
read -r code secs < <(patch "$C" 'Prefer: wait=2')
tap_is "$code" 423 "C with Prefer: wait=2 is answered 423"
lt 1.8 "$secs" && lt "$secs" 3.5 && tap_ok 0 "... after 2 s (${secs} s)" ||
    tap_ok 1 "... after 2 s (took ${secs} s)"

wait "$a"

# Held requests share the uploads' places (pool_upload_share 50: 2 of the 4
# workers): alice's A3 streams and her B3 is held (both places taken); bob's
# PATCH, granted, takes B3's place (B3 is answered 423 at once, not after
# the 4 s hold) and streams; with both places streaming, alice's C3 is not
# held at all.
A3=$(mkfile a3.bin)
B3=$(mkfile b3.bin)
C3=$(mkfile c3.bin)
BOB=$(mkfile bob.bin "$TB")
slow "$A3" 6 &
a=$!
stack_wait_until 10 holds_slot "$A3" || tap_bail "A3 never took its slot"
patch "$B3" >"$T/b3.res" &
b=$!
sleep 1
slow "$BOB" 3 "$TB" &
bob=$!
wait "$b"
read -r code secs <"$T/b3.res"
tap_is "$code" 423 "a held PATCH whose place a granted upload takes is answered 423"
lt "$secs" 3.2 && tap_ok 0 "... at once, not at the hold's end (${secs} s)" ||
    tap_ok 1 "... at once, not at the hold's end (took ${secs} s)"
read -r code secs < <(patch "$C3")
tap_is "$code" 423 "with the uploads' places all streaming, a queued PATCH is answered 423"
lt "$secs" 1 && tap_ok 0 "... at once, without a hold (${secs} s)" ||
    tap_ok 1 "... at once, without a hold (took ${secs} s)"
wait "$bob"
tap_is "$(head -n 1 "$T/$BOB.out")" 204 "bob's granted upload, which took the held place, completes (204)"
wait "$a"

# A graceful stop (SIGQUIT to the master) ends a hold at once.
A2=$(mkfile a4.bin)
slow "$A2" 6 &
a=$!
stack_wait_until 10 holds_slot "$A2" || tap_bail "A4 never took its slot"
patch "$C" >"$T/c.res" &
c=$!
sleep 1
kill -QUIT "$BATCHUP_PID"
wait "$c"
read -r code secs <"$T/c.res"
tap_is "$code" 423 "a held PATCH is answered 423 when the server stops gracefully"
lt "$secs" 2 && tap_ok 0 "... at once, not at the hold's end (${secs} s)" ||
    tap_ok 1 "... at once, not at the hold's end (took ${secs} s)"
wait "$a"
tap_is "$(head -n 1 "$T/$A2.out")" 204 "the upload in flight still completes during the graceful stop"
tap_done
