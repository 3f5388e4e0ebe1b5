#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Bounded rows (issue 22, item 4), with the shipped defaults: the attack of
# many requests of many empty files (complete at birth, so counted by
# neither max_open_batches nor max_user_bytes) meets max_user_files
# (10000): the batches that fit are made, every later request gets 413
# quota_exceeded and changes nothing (no batch, no file row, no hook
# event). Another user is not affected. Once gc purged expired batches,
# their rows leave the count; retention_seconds after the purge, gc deletes
# the rows themselves, and the dead link answers 404 instead of 410.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 gc_interval_seconds=3600 || tap_bail "the stack did not start"
W=$STACK_DIR/t88
mkdir -p "$W"
EVE=$(stack_user_add eve) || tap_bail "cannot add eve"
BOB=$(stack_user_add bob) || tap_bail "cannot add bob"
PY=$(stack__python)

# 1000 empty files with 1 KiB names: one request, about 1 MB.
"$PY" -c 'import json, sys
print(json.dumps({"files": [{"name": ("%04d" % i) + "n" * 1020, "size": 0} for i in range(1000)]}))' >"$W/body.json"

rows() { # USER: batches files hook_events of USER
    psql -XAtqc "SELECT (SELECT count(*) FROM batchup.batches b JOIN batchup.users u ON u.id = b.user_id WHERE u.name = '$1'),
                        (SELECT count(*) FROM batchup.files f JOIN batchup.users u ON u.id = f.user_id WHERE u.name = '$1'),
                        (SELECT count(*) FROM batchup.hook_events e JOIN batchup.batches b ON b.id = e.batch_id
                           JOIN batchup.users u ON u.id = b.user_id WHERE u.name = '$1')" | tr '|' ' '
}

# --- the attack: 40 requests of 1000 empty files ---------------------------
t0=$SECONDS
: >"$W/codes"
for i in $(seq 1 40); do
    code=$(curl -s --max-time 30 -o "$W/r$i.json" -w '%{http_code}' -H "Authorization: Bearer $EVE" \
        -H 'Content-Type: application/json' --data-binary "@$W/body.json" "$BATCHUP_URL/api/v1/batches")
    echo "$code" >>"$W/codes"
    [ "$i" = 10 ] && rows eve >"$W/rows10"
done
tap_diag "40 requests of 1000 empty files in $((SECONDS - t0)) s"
tap_is "$(head -n 10 "$W/codes" | sort | uniq -c | tr -s ' ')" " 10 201" \
    "the first 10 requests (10000 files, max_user_files) make their batches"
tap_is "$(tail -n 30 "$W/codes" | sort | uniq -c | tr -s ' ')" " 30 413" "the 30 after them get 413"
tap_is "$(jget 'd["error"]["code"]' <"$W/r11.json")" quota_exceeded "... with the code quota_exceeded"
tap_like "$(jget 'd["error"]["message"]' <"$W/r40.json")" 'max_user_files' "... and a message naming max_user_files"
tap_is "$(rows eve)" "10 10000 0" "10 batches, 10000 file rows, no hook event (no hook configured)"
tap_is "$(rows eve)" "$(cat "$W/rows10")" "the 30 refused requests changed nothing"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $EVE" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "one.txt", "size": 0}]}' "$BATCHUP_URL/api/v1/batches")" 413 \
    "even one more empty file is refused"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $EVE" -H 'Tus-Resumable: 1.0.0' \
    -H 'Upload-Length: 0' "$BATCHUP_URL/api/v1/files")" 413 "so is a tus creation"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
    --data-binary "@$W/body.json" "$BATCHUP_URL/api/v1/batches")" 201 "another user still creates a batch of 1000 files"

# --- purge, then retention --------------------------------------------------
LINK=$(jget 'd["download_url"]' <"$W/r1.json")
B1=$(jget 'd["id"]' <"$W/r1.json")
tap_is "$(curl -s -o /dev/null -w '%{http_code}' "$BATCHUP_URL$LINK")" 200 "the first batch's link answers"
psql -XAtqc "UPDATE batchup.batches b SET link_expires_at = now() - interval '1 s'
               FROM batchup.users u WHERE u.id = b.user_id AND u.name = 'eve'
                AND b.id IN (SELECT x.id FROM batchup.batches x WHERE x.user_id = u.id ORDER BY x.created_at LIMIT 3)"
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >/dev/null 2>&1
tap_is "$(psql -XAtqc "SELECT count(*) FROM batchup.batches WHERE purged_at IS NOT NULL")" 3 "gc purges the 3 expired batches"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' "$BATCHUP_URL$LINK")" 410 "their link answers 410 meanwhile"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $EVE" -H 'Content-Type: application/json' \
    --data-binary "@$W/body.json" "$BATCHUP_URL/api/v1/batches")
tap_is "$code" 201 "purged batches leave the count: eve creates a batch again"
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >/dev/null 2>&1
tap_is "$(psql -XAtqc "SELECT count(*) FROM batchup.batches WHERE purged_at IS NOT NULL")" 3 \
    "within retention_seconds (30 days) their rows stay"
psql -XAtqc "UPDATE batchup.batches SET purged_at = now() - interval '31 days' WHERE id = '$B1'"
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >/dev/null 2>&1
tap_is "$(psql -XAtqc "SELECT count(*) FROM batchup.batches WHERE purged_at IS NOT NULL")" 2 \
    "the batch purged 31 days ago is deleted"
tap_is "$(psql -XAtqc "SELECT count(*) FROM batchup.files WHERE batch_id = '$B1'")" 0 "with its 1000 file rows"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' "$BATCHUP_URL$LINK")" 404 "its old link now answers 404"
tap_done
