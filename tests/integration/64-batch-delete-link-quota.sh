#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A batch's data and link belong to its owner: DELETE of a batch kills its
# link at once and removes all its data, completed files too, and never
# issues a link (a partly uploaded batch used to get one); the link alone
# can be revoked (404 from then on) and issued anew (a new token, the old
# one dead). Per-user quotas (max_user_bytes, max_open_batches) answer 413
# quota_exceeded, for the batches API and tus creation alike; max_file_size
# has a finite default. POST /api/v1/batches takes application/json only;
# X-HTTP-Method-Override is ignored. gc removes
# orphaned files (a PATCH racing a DELETE re-creates its partial file) and
# expires uploads from their batch's last activity.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 gc_interval_seconds=1 orphan_grace_seconds=3 max_user_bytes=100000 \
    max_open_batches=3 || tap_bail "the stack did not start"
W=$STACK_DIR/t64
mkdir -p "$W"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"
S=$STACK_DIR/storage

post_batch() { # TOKEN JSON [CONTENT-TYPE]: prints the status, body in $W/p.b
    curl -s --max-time 10 -o "$W/p.b" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H "Content-Type: ${3-application/json}" --data-binary "$2" "$BATCHUP_URL/api/v1/batches"
}

# --- DELETE of a complete batch: the link dies, the data goes ---------------
printf 'hello' >"$W/a.txt"
tap_is "$(post_batch "$ALICE" '{"files":[{"name":"a.txt","size":5}]}')" 201 "a batch of one file"
BID=$(jget 'd["id"]' <"$W/p.b")
URL=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
FID=${URL##*/}
tap_is "$(patch "$ALICE" "$URL" "$W/a.txt")" 204 "its file is uploaded"
get "$W/g" "$ALICE" "/api/v1/batches/$BID" >/dev/null
LINK=$(jget 'd["download_url"]' <"$W/g.b")
tap_is "$(get "$W/z" "" "$LINK")" 200 "the link serves the ZIP"
tap_ok "$([ -f "$S/files/${FID:0:2}/$FID" ]; echo $?)" "the file is stored"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")" 204 \
    "DELETE of the complete batch: 204"
tap_is "$(get "$W/z" "" "$LINK")" 404 "the link answers 404 at once"
tap_is "$(get "$W/z" "" "$LINK/manifest")" 404 "... and its manifest"
tap_is "$(get "$W/z" "$ALICE" "/api/v1/download/stream/$FID")" 404 "the owner's file download is gone"
tap_is "$(get "$W/z" "$ALICE" "/api/v1/batches/$BID")" 404 "the batch is gone"
tap_ok "$([ ! -e "$S/files/${FID:0:2}/$FID" ]; echo $?)" "the completed file's data is removed"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")" 404 \
    "a second DELETE: 404"

# --- DELETE of a partly uploaded batch issues no link ------------------------
tap_is "$(post_batch "$ALICE" '{"files":[{"name":"p1.txt","size":5},{"name":"p2.txt","size":5}]}')" 201 "a batch of two files"
BID=$(jget 'd["id"]' <"$W/p.b")
U1=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
U2=$(jget 'd["files"][1]["upload_url"]' <"$W/p.b")
F1=${U1##*/}
F2=${U2##*/}
tap_is "$(patch "$ALICE" "$U1" "$W/a.txt")" 204 "one of them is uploaded"
printf 'he' >"$W/half"
patch "$ALICE" "$U2" "$W/half" >/dev/null
before=$(psql -XAtc "SELECT count(*) FROM batchup.batches WHERE download_token IS NOT NULL")
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")" 204 \
    "DELETE of the partly uploaded batch: 204"
tap_is "$(psql -XAtc "SELECT count(*) FROM batchup.batches WHERE download_token IS NOT NULL")" "$before" "no link was issued"
tap_ok "$([ ! -e "$S/files/${F1:0:2}/$F1" ] && [ ! -e "$S/partial/$F2" ]; echo $?)" "its completed and partial data are removed"

# --- Revoke and re-issue the link --------------------------------------------
tap_is "$(post_batch "$ALICE" '{"files":[{"name":"l.txt","size":0}]}')" 201 "a batch that completes at once"
BID=$(jget 'd["id"]' <"$W/p.b")
OLD=$(jget 'd["download_url"]' <"$W/p.b")
tap_is "$(get "$W/z" "" "$OLD")" 200 "its link serves"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID/link")" 204 \
    "DELETE .../link: 204"
tap_is "$(get "$W/z" "" "$OLD")" 404 "the revoked link answers 404"
tap_is "$(get "$W/g" "$ALICE" "/api/v1/batches/$BID")" 200 "the batch stays"
tap_is "$(jget 'd["download_url"]' <"$W/g.b")" None "... without a download_url"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID/link")" 404 \
    "revoking again: 404, there is no link"
code=$(curl -s -o "$W/n.b" -D "$W/n.h" -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID/link")
tap_is "$code" 201 "POST .../link: 201"
NEW=$(jget 'd["download_url"]' <"$W/n.b")
tap_like "$NEW" '^/api/v1/download/batch/' "... with the new download_url"
tap_ok "$([ "$NEW" != "$OLD" ]; echo $?)" "... a new token"
tap_is "$(get "$W/z" "" "$NEW")" 200 "the new link serves"
tap_is "$(get "$W/z" "" "$OLD")" 404 "the old one stays dead"
curl -s -o /dev/null -X POST -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID/link"
tap_is "$(get "$W/z" "" "$NEW")" 404 "issuing again kills the previous new link too"
tap_is "$(post_batch "$ALICE" '{"files":[{"name":"u.txt","size":5}]}')" 201 "an uploading batch"
UB=$(jget 'd["id"]' <"$W/p.b")
tap_is "$(curl -s -o "$W/n.b" -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$UB/link")" 409 \
    "POST .../link of an unfinished batch: 409"
tap_is "$(code_of "$W/n.b")" batch_incomplete "... batch_incomplete"

# --- Quotas --------------------------------------------------------------------
BOB=$(stack_user_add bob)
tap_is "$(post_batch "$BOB" '{"files":[{"name":"big","size":60000}]}')" 201 "bob: 60000 bytes of 100000"
tap_is "$(post_batch "$BOB" '{"files":[{"name":"more","size":40001}]}')" 413 "40001 more: 413"
tap_is "$(code_of "$W/p.b")" quota_exceeded "... quota_exceeded"
tap_like "$(jget 'd["error"]["message"]' <"$W/p.b")" 'max_user_bytes' "... naming max_user_bytes"
code=$(curl -s -o "$W/t.b" -w '%{http_code}' -X POST -H "Authorization: Bearer $BOB" -H 'Tus-Resumable: 1.0.0' \
    -H 'Upload-Length: 40001' -H "Upload-Metadata: filename $(printf 'x' | base64)" "$BATCHUP_URL/api/v1/files")
tap_is "$code" 413 "tus creation over the quota: 413"
tap_is "$(code_of "$W/t.b")" quota_exceeded "... quota_exceeded"
tap_is "$(post_batch "$BOB" '{"files":[{"name":"fits","size":40000}]}')" 201 "exactly up to the quota: 201"
tap_is "$(post_batch "$BOB" '{"files":[{"name":"e","size":0}]}')" 201 "an empty complete batch still fits"
tap_is "$(post_batch "$BOB" '{"files":[{"name":"e","size":1}]}')" 413 "one byte more: 413"
CAROL=$(stack_user_add carol)
for i in 1 2 3; do post_batch "$CAROL" '{"files":[{"name":"o","size":1}]}' >/dev/null; done
tap_is "$(post_batch "$CAROL" '{"files":[{"name":"o","size":1}]}')" 413 "a fourth open batch: 413 (max_open_batches 3)"
tap_like "$(jget 'd["error"]["message"]' <"$W/p.b")" 'max_open_batches' "... naming max_open_batches"
curl -s -D "$W/o.h" -o /dev/null -X OPTIONS -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/api/v1/files"
tap_is "$(hval Tus-Max-Size "$W/o.h")" 17179869184 "max_file_size defaults to 16 GiB (Tus-Max-Size)"

# --- Content-Type, method override ------------------------
DAVE=$(stack_user_add dave)
for ct in text/plain application/x-www-form-urlencoded multipart/form-data application/jsonp ""; do
    tap_is "$(post_batch "$DAVE" '{"files":[{"name":"f","size":1}]}' "$ct")" 415 "Content-Type '$ct': 415"
done
tap_is "$(code_of "$W/p.b")" unsupported_media_type "... unsupported_media_type"
tap_is "$(post_batch "$DAVE" '{"files":[{"name":"f","size":1}]}' 'Application/JSON; charset=utf-8')" 201 \
    "application/json with a parameter: 201"
DB=$(jget 'd["id"]' <"$W/p.b")
DU=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $DAVE" -H 'Tus-Resumable: 1.0.0' \
    -H 'X-HTTP-Method-Override: DELETE' "$BATCHUP_URL$DU")
tap_is "$code" 405 "POST with X-HTTP-Method-Override: DELETE is a POST: 405"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -I -H "Authorization: Bearer $DAVE" -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL$DU")" 200 \
    "... and the upload is still there"

# --- gc: orphans, and expiry from the batch's last activity ---------------------
tap_is "$(post_batch "$DAVE" '{"files":[{"name":"r.txt","size":5}]}')" 201 "a batch for a PATCH racing its DELETE"
RU=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
RB=$(jget 'd["id"]' <"$W/p.b")
RF=${RU##*/}
patch "$DAVE" "$RU" "$W/half" >/dev/null
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $DAVE" "$BATCHUP_URL/api/v1/batches/$RB"
# What the racing PATCH leaves behind: its partial file, re-created.
printf 'he' >"$S/partial/$RF"
touch "$S/partial/$RF.lock"
LIVE=${DU##*/}
printf 'x' >"$S/partial/$LIVE" # a live upload's data, as old as the orphan
touch -d '1 hour ago' "$S/partial/$RF" "$S/partial/$RF.lock" "$S/partial/$LIVE"
stack_wait_until 20 test ! -e "$S/partial/$RF"
tap_ok $? "gc removes the orphaned partial file"
tap_ok "$([ ! -e "$S/partial/$RF.lock" ]; echo $?)" "... and its lock file"
tap_ok "$([ -e "$S/partial/$LIVE" ]; echo $?)" "a live upload's partial file is kept"
printf 'new' >"$S/partial/$RF"
sleep 1.5
tap_ok "$([ -e "$S/partial/$RF" ]; echo $?)" "a young file (an upload just starting) is left alone"

tap_is "$(post_batch "$DAVE" '{"files":[{"name":"x1.txt","size":5},{"name":"x2.txt","size":5}]}')" 201 "a batch of two files"
XB=$(jget 'd["id"]' <"$W/p.b")
X1=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
tap_is "$(patch "$DAVE" "$X1" "$W/a.txt")" 204 "the first is uploaded now"
# The second was created (and left untouched) longer ago than the expiry.
psql -XAtqc "UPDATE batchup.files SET updated_at = now() - interval '3 days', created_at = now() - interval '3 days'
              WHERE batch_id = '$XB' AND status = 'pending'"
psql -XAtqc "UPDATE batchup.batches SET created_at = now() - interval '3 days' WHERE id = '$XB'"
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >/dev/null 2>&1
tap_is "$(get "$W/x" "$DAVE" "/api/v1/batches/$XB")" 200 "after gc the batch is still there"
tap_is "$(jget '",".join(f["status"] for f in d["files"]) + " " + d["status"]' <"$W/x.b")" "completed,pending uploading" \
    "its untouched file did not expire: the batch was active"
X1F=${X1##*/}
tap_ok "$([ -e "$S/files/${X1F:0:2}/$X1F" ]; echo $?)" "the completed file's data is kept"
tap_done
