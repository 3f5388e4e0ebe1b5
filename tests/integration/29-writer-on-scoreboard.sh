#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# An upload's writer is on the scoreboard before the database grants it the
# writer lock (issue 22, item 9): a request that finds the lock held looks
# for its holder on the scoreboard, and one that did not find it there would
# take it for gone and overrule a live writer.  gdb stops a worker right
# after batchup.claim_upload granted it the lock (store_claim_upload has
# returned: the database names the writer); at that moment the status page,
# served by the other worker, must already show the upload on the stopped
# worker's slot.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

command -v gdb >/dev/null || { echo "1..0 # SKIP gdb is not installed"; exit 0; }
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 status_path=/batchup-status gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
B=$BATCHUP_URL
T=$STACK_DIR/t29
mkdir -p "$T"
two() { [ "$(stack_worker_pids | wc -l)" = 2 ]; }
stack_wait_until 15 two || tap_bail "no two workers"
W1=$(stack_worker_pids | head -n 1)
W2=$(stack_worker_pids | tail -n 1)

curl -s --max-time 20 -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "s.txt", "size": 5}]}' "$B/api/v1/batches" >"$T/mk.json"
FILE=$(jq -r '.files[0].id' "$T/mk.json")
[ -n "$FILE" ] && [ "$FILE" != null ] || tap_bail "no batch: $(cat "$T/mk.json")"

# What gdb runs while W1 is stopped just after the grant: W2 is woken to
# serve the status page, and the database's writer is read.
cat >"$T/check.sh" <<CHECK
#!/bin/bash
kill -CONT $W2
sleep 0.3
curl -s --max-time 5 "$B/batchup-status?json" >"$T/status.json"
psql -XAtq -c "SELECT coalesce(writer, '-') FROM batchup.files WHERE id = '$FILE'" >"$T/writer"
CHECK
chmod +x "$T/check.sh"

timeout 60 gdb -p "$W1" -batch -nx -ex 'break store_claim_upload' -ex 'continue' -ex 'finish' \
    -ex "shell $T/check.sh" -ex 'delete' -ex 'detach' >"$T/gdb.out" 2>&1 &
gdbpid=$!
attached() { grep -q '^Breakpoint 1 at' "$T/gdb.out"; }
stack_wait_until 20 attached || tap_bail "gdb did not attach: $(tail -n 5 "$T/gdb.out")"
sleep 0.5
kill -STOP "$W2" # only W1 accepts the PATCH
printf hello >"$T/body"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 40 -X PATCH -H "Authorization: Bearer $TA" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
    --data-binary @"$T/body" "$B/api/v1/files/$FILE")
kill -CONT "$W2" 2>/dev/null
wait "$gdbpid"
tap_like "$(cat "$T/writer" 2>/dev/null)" '^[0-9a-f]{16}/[0-9a-f]{16}$' \
    "when claim_upload had returned, the database named the stopped worker's request as the writer"
upload=$(jq -r --argjson p "$W1" '.workers[] | select(.pid == $p) | .request.upload // "none"' "$T/status.json" 2>/dev/null)
tap_is "$upload" "$FILE" "... and the scoreboard already showed that worker writing the upload"
[ "$upload" = "$FILE" ] || tap_diag "gdb: $(tail -n 8 "$T/gdb.out" | tr '\n' ' ')"
tap_is "$code" 204 "the PATCH then completes (204)"

tap_done
