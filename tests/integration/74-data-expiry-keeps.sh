#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A batch whose one never-started file expires keeps what completed (issue
# 22, item 14): after upload_expiry_seconds without activity the
# maintenance pass expires the unfinished file, and the batch completes
# with the others: its link serves a ZIP of the completed files, and their
# data stays on disk. A batch with no completed file still expires.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 gc_interval_seconds=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t74
mkdir -p "$W"
S=$STACK_DIR/storage
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"

printf 'first file\n' >"$W/one.txt"
printf 'second file\n' >"$W/two.txt"
curl -s --max-time 10 -H "Authorization: Bearer $ANN" -H 'Content-Type: application/json' \
    --data '{"files":[{"name":"one.txt","size":11},{"name":"two.txt","size":12},{"name":"never.txt","size":5}]}' \
    "$BATCHUP_URL/api/v1/batches" >"$W/b.json"
BID=$(jget 'd["id"]' <"$W/b.json")
ok=0
[ "$(patch "$ANN" "$(jget 'd["files"][0]["upload_url"]' <"$W/b.json")" "$W/one.txt")" = 204 ] && ok=$((ok + 1))
[ "$(patch "$ANN" "$(jget 'd["files"][1]["upload_url"]' <"$W/b.json")" "$W/two.txt")" = 204 ] && ok=$((ok + 1))
tap_is "$ok" 2 "two of the three files are uploaded; the third never starts"
curl -s --max-time 10 -H "Authorization: Bearer $ANN" -H 'Content-Type: application/json' \
    --data '{"files":[{"name":"lost.txt","size":5}]}' "$BATCHUP_URL/api/v1/batches" >"$W/c.json"
CID=$(jget 'd["id"]' <"$W/c.json")

# A day and more without activity (upload_expiry_seconds is 86400).
psql -XAtqc "UPDATE batchup.files SET updated_at = now() - interval '2 days', last_seen_at = NULL
              WHERE batch_id IN ('$BID', '$CID')" >/dev/null
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >/dev/null 2>&1
get "$W/g" "$ANN" "/api/v1/batches/$BID" >/dev/null
tap_is "$(jget 'd["status"] + " " + ",".join(f["status"] for f in d["files"])' <"$W/g.b")" \
    "complete completed,completed,expired" "the batch completes: two files completed, the untouched one expired"
LINK=$(jget 'd["download_url"]' <"$W/g.b")
tap_like "$LINK" '^/api/v1/download/batch/[A-Za-z0-9_-]{43}$' "the owner gets its download link"
tap_is "$(get "$W/z" "" "$LINK")" 200 "the link serves the ZIP"
rm -rf "$W/x" && mkdir -p "$W/x" && (cd "$W/x" && unzip -q "$W/z.b")
tap_is "$(cd "$W/x" && ls | tr '\n' ' ')" "one.txt two.txt " "with the two completed files"
tap_ok "$(cmp -s "$W/x/one.txt" "$W/one.txt" && cmp -s "$W/x/two.txt" "$W/two.txt"; echo $?)" "byte for byte"
F1=$(jget 'd["files"][0]["id"]' <"$W/g.b")
tap_ok "$([ -f "$S/files/${F1:0:2}/$F1" ]; echo $?)" "their data stays on disk"
get "$W/h" "$ANN" "/api/v1/batches/$CID" >/dev/null
tap_is "$(jget 'd["status"] + " " + str(d["download_url"])' <"$W/h.b")" "expired None" \
    "a batch with no completed file expires, without a link"
tap_done
