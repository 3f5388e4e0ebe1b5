#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Every status code and header of the upload API (docs/api.md), with curl
# through nginx: tus OPTIONS, creation and creation-with-upload, HEAD, PATCH
# (412, 415, 409, 413, 460, 423 slot_unavailable, takeover and upload_locked, 404,
# 410, 401), termination, the batches API (201 and its shape, the list
# with its files and a files parameter other than 0 or 1 refused, malformed
# bodies rejected with nothing created, another user's batch, DELETE),
# chunked request bodies, and a client that disconnects mid-body (what
# arrived is kept, and the upload resumes from HEAD to a byte-identical file).
#
# The lease is long (30 s) on purpose: nothing here waits for one to run out
# (62-upload-faults.sh does), and a trickled request must keep its offset
# unrecorded while a second request tries the same upload.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 slot_lease_seconds=30 queue_retry_seconds=3 max_file_size=1048576 \
    max_batch_files=20 max_chunk_size=2097152 || tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
TC=$(stack_user_add carol --limit 1) || tap_bail "cannot add carol"
TM=$(stack_user_add mallory) || tap_bail "cannot add mallory"

B=$BATCHUP_URL
T=$STACK_DIR/t61
mkdir -p "$T"
TR=(-H 'Tus-Resumable: 1.0.0')
OS=(-H 'Content-Type: application/offset+octet-stream')
UUID_RE='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

# req METHOD PATH [curl args...]: prints the status; the response headers are
# in $T/hdrs, the body in $T/body.
req() {
    local m=$1 p=$2
    shift 2
    if [ "$m" = HEAD ]; then
        curl -s -I -o /dev/null -D "$T/hdrs" -w '%{http_code}' --max-time 30 "$@" "$B$p"
        : >"$T/body"
    else
        curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --max-time 30 -X "$m" "$@" "$B$p"
    fi
}
# hdr NAME: that header of the last response ("" when absent).
hdr() {
    grep -i "^$1:" "$T/hdrs" | tail -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'
}
has_hdr() { grep -qi "^$1:" "$T/hdrs"; }
# ecode: the JSON error code of the last response.
ecode() { jq -r '.error.code // "?"' "$T/body" 2>/dev/null || echo "not-json"; }
# error_shape: the body is exactly {"error": {"code": str, "message": str}}.
error_shape() {
    jq -e '(keys == ["error"]) and (.error | keys == ["code", "message"])
           and (.error.code | type == "string") and (.error.message | type == "string")' \
        "$T/body" >/dev/null 2>&1
}
auth() { printf 'Authorization: Bearer %s' "$1"; }
# patch TOKEN FILE OFFSET DATA-FILE [curl args...]: tus PATCH; prints status.
patch() {
    local tok=$1 f=$2 off=$3 data=$4
    shift 4
    req PATCH "/api/v1/files/$f" -H "$(auth "$tok")" "${TR[@]}" "${OS[@]}" \
        -H "Upload-Offset: $off" --data-binary @"$data" "$@"
}
# claim TOKEN FILE OFFSET: an empty-bodied PATCH (claims or renews a slot).
claim() {
    req PATCH "/api/v1/files/$2" -H "$(auth "$1")" "${TR[@]}" "${OS[@]}" \
        -H "Upload-Offset: $3" --data-binary ''
}
head_of() { req HEAD "/api/v1/files/$2" -H "$(auth "$1")" "${TR[@]}"; }
offset_of() { head_of "$1" "$2" >/dev/null; hdr Upload-Offset; }
# mkbatch TOKEN SIZE...: a batch; sets BATCH and FILES (the file ids).
mkbatch() {
    local tok=$1 items=() i=0 s
    shift
    for s in "$@"; do
        items+=("{\"name\": \"f$i.bin\", \"size\": $s}")
        i=$((i + 1))
    done
    curl -s --max-time 20 -H "$(auth "$tok")" -H 'Content-Type: application/json' \
        --data "{\"files\": [$(IFS=,; echo "${items[*]}")]}" "$B/api/v1/batches" >"$T/mk.json"
    BATCH=$(jq -r .id "$T/mk.json")
    mapfile -t FILES < <(jq -r '.files[].id' "$T/mk.json")
    [ "${#FILES[@]}" = "$#" ]
}
sql() { psql -XAtq -c "$1"; }
partial_size() { stat -c %s "$STACK_DIR/storage/partial/$1" 2>/dev/null || echo absent; }
final_path() { echo "$STACK_DIR/storage/files/${1:0:2}/$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
b64digest() { openssl dgst "-$1" -binary "$2" | base64 -w0; }
download_sha() {
    curl -s --max-time 30 -H "$(auth "$1")" "$B/api/v1/download/stream/$2" | sha256sum | cut -d' ' -f1
}
mkdata() { head -c "$2" /dev/urandom >"$T/$1"; }

mkdata d1000 1000
mkdata d3000 3000
mkdata d4096 4096
mkdata d300k 307200
mkdata d800k 819200

# --- OPTIONS -------------------------------------------------------------
code=$(req OPTIONS /api/v1/files)
tap_is "$code" 204 "OPTIONS /api/v1/files answers 204 (no authentication needed)"
tap_is "$(hdr Tus-Version)" 1.0.0 "OPTIONS: Tus-Version: 1.0.0"
tap_is "$(hdr Tus-Resumable)" 1.0.0 "OPTIONS: Tus-Resumable: 1.0.0"
ext=$(hdr Tus-Extension)
missing=
for e in creation creation-with-upload termination checksum expiration; do
    echo ",$ext," | tr -d ' ' | grep -q ",$e," || missing="$missing $e"
done
tap_is "${missing:-none}" none "OPTIONS: Tus-Extension lists creation, creation-with-upload, termination, checksum, expiration ($ext)"
algos=$(hdr Tus-Checksum-Algorithm | tr -d ' ')
tap_ok "$([[ ",$algos," == *,sha1,* && ",$algos," == *,sha256,* ]]; echo $?)" "OPTIONS: Tus-Checksum-Algorithm has sha1 and sha256 ($algos)"
tap_is "$(hdr Tus-Max-Size)" 1048576 "OPTIONS: Tus-Max-Size is max_file_size"
tap_is "$(hdr Batchup-Max-Chunk-Size)" 2097152 "OPTIONS: Batchup-Max-Chunk-Size is max_chunk_size"

# --- creation --------------------------------------------------------------
batches_before=$(sql 'SELECT count(*) FROM batchup.batches')
meta="filename $(printf 'Qu\xc3\xa4rterly report.pdf' | base64 -w0),filetype $(printf 'application/pdf' | base64 -w0)"
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" -H 'Upload-Length: 3000' -H "Upload-Metadata: $meta")
loc=$(hdr Location)
tap_is "$code" 201 "POST /api/v1/files (creation) answers 201"
tap_like "$loc" "^(https?://[^/]+)?/api/v1/files/$UUID_RE\$" "creation: Location is the upload URL ($loc)"
tap_is "$(hdr Tus-Resumable)" 1.0.0 "creation: Tus-Resumable: 1.0.0"
F1=${loc##*/}
tap_is "$(sql "SELECT name || '|' || media_type || '|' || size || '|' || status FROM batchup.files WHERE id = '$F1'")" \
    "Quärterly report.pdf|application/pdf|3000|pending" "creation: Upload-Metadata filename and filetype are stored, with the size"
tap_is "$(sql 'SELECT count(*) FROM batchup.batches')" "$((batches_before + 1))" "creation: a new batch holds the file"
fb=$(sql "SELECT batch_id FROM batchup.files WHERE id = '$F1'")
code=$(req GET "/api/v1/batches/$fb" -H "$(auth "$TA")")
tap_is "$code|$(jq -r '[(.files | length | tostring), .files[0].name, .files[0].upload_url] | join("|")' "$T/body")" \
    "200|1|Quärterly report.pdf|/api/v1/files/$F1" "creation: GET of its batch shows the one file with its name and upload_url"

code=$(head_of "$TA" "$F1")
tap_is "$code" 200 "HEAD of a new upload answers 200"
tap_is "$(hdr Upload-Offset)|$(hdr Upload-Length)" "0|3000" "HEAD: Upload-Offset 0 and Upload-Length 3000"
tap_is "$(hdr Cache-Control)" no-store "HEAD: Cache-Control: no-store"
tap_is "$(hdr Tus-Resumable)" 1.0.0 "HEAD: Tus-Resumable: 1.0.0"
tap_ok "$(has_hdr Upload-Queue-Position && echo 1 || echo 0)" "HEAD: no Upload-Queue-Position when not queued"

# creation-with-upload while a slot is free: the body is stored.
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" "${OS[@]}" -H 'Upload-Length: 3000' \
    -H "Upload-Metadata: filename $(printf 'cwu.bin' | base64 -w0)" --data-binary @<(head -c 1000 "$T/d3000"))
F2=$(hdr Location)
F2=${F2##*/}
tap_is "$code|$(hdr Upload-Offset)" "201|1000" "creation-with-upload with a free slot: 201 with Upload-Offset 1000"
tap_ok "$(has_hdr Upload-Expires && echo 0 || echo 1)" "creation-with-upload: Upload-Expires on the unfinished upload"
tap_is "$(offset_of "$TA" "$F2")" 1000 "creation-with-upload: HEAD reports offset 1000"
tap_is "$(head -c 1000 "$STACK_DIR/storage/partial/$F2" 2>/dev/null | sha256sum)" "$(head -c 1000 "$T/d3000" | sha256sum)" \
    "creation-with-upload: the first 1000 bytes are stored"
code=$(patch "$TA" "$F2" 1000 <(tail -c +1001 "$T/d3000"))
tap_is "$code|$(hdr Upload-Offset)" "204|3000" "PATCH of the rest completes it: 204 with Upload-Offset 3000"
tap_is "$(download_sha "$TA" "$F2")" "$(sha "$T/d3000")" "the completed file downloads byte-identical"
code=$(head_of "$TA" "$F2")
tap_is "$code|$(hdr Upload-Offset)|$(hdr Upload-Length)" "200|3000|3000" "HEAD of a completed upload: offset = length"

# creation-with-upload of a whole file completes it and its batch.
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" "${OS[@]}" -H 'Upload-Length: 1000' \
    --data-binary @"$T/d1000")
F3=$(hdr Location)
F3=${F3##*/}
tap_is "$code|$(hdr Upload-Offset)" "201|1000" "creation-with-upload of a whole file: 201 with Upload-Offset 1000"
tap_is "$(sql "SELECT f.status || '|' || b.status || '|' || (b.download_token IS NOT NULL) FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id WHERE f.id = '$F3'")" \
    "completed|complete|true" "creation-with-upload of a whole file: file completed, batch complete with a token"

# max_file_size on creation.
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" -H 'Upload-Length: 1048577')
tap_is "$code|$(ecode)" "413|file_too_large" "creation beyond max_file_size: 413 file_too_large"
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" -H 'Upload-Length: 1048576')
tap_is "$code" 201 "creation of exactly max_file_size: 201"
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}")
tap_is "$code|$(ecode)" "400|bad_length" "creation without Upload-Length: 400 bad_length"
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" -H 'Upload-Length: 10' -H 'Upload-Metadata: filename %%%')
tap_is "$code|$(ecode)" "400|bad_metadata" "creation with undecodable Upload-Metadata: 400 bad_metadata"

# --- 412 -----------------------------------------------------------------
code=$(req PATCH "/api/v1/files/$F1" -H "$(auth "$TA")" "${OS[@]}" -H 'Upload-Offset: 0' --data-binary @"$T/d1000")
tap_is "$code|$(ecode)|$(hdr Tus-Version)" "412|unsupported_version|1.0.0" "PATCH without Tus-Resumable: 412 unsupported_version with Tus-Version"
code=$(req PATCH "/api/v1/files/$F1" -H "$(auth "$TA")" -H 'Tus-Resumable: 0.2.2' "${OS[@]}" -H 'Upload-Offset: 0' --data-binary @"$T/d1000")
tap_is "$code|$(ecode)" "412|unsupported_version" "PATCH with Tus-Resumable: 0.2.2: 412"
code=$(req HEAD "/api/v1/files/$F1" -H "$(auth "$TA")")
tap_is "$code|$(hdr Tus-Version)" "412|1.0.0" "HEAD without Tus-Resumable: 412 with Tus-Version"
code=$(req POST /api/v1/files -H "$(auth "$TA")" -H 'Upload-Length: 10')
tap_is "$code|$(ecode)" "412|unsupported_version" "creation without Tus-Resumable: 412"
code=$(req DELETE "/api/v1/files/$F1" -H "$(auth "$TA")" -H 'Tus-Resumable: 2.0.0')
tap_is "$code|$(ecode)" "412|unsupported_version" "DELETE with a wrong Tus-Resumable: 412"
tap_is "$(offset_of "$TA" "$F1")|$(partial_size "$F1")" "0|absent" "nothing was stored by the refused requests"

# --- 415 -----------------------------------------------------------------
code=$(req PATCH "/api/v1/files/$F1" -H "$(auth "$TA")" "${TR[@]}" -H 'Content-Type: application/octet-stream' \
    -H 'Upload-Offset: 0' --data-binary @"$T/d1000")
tap_is "$code|$(ecode)" "415|unsupported_media_type" "PATCH with Content-Type application/octet-stream: 415"
tap_ok "$(error_shape; echo $?)" "415: the body has the error shape {error: {code, message}}"
tap_is "$(hdr Content-Type)" "application/json; charset=utf-8" "415: Content-Type application/json; charset=utf-8"
code=$(req PATCH "/api/v1/files/$F1" -H "$(auth "$TA")" "${TR[@]}" -H 'Upload-Offset: 0' --data-binary @"$T/d1000")
tap_is "$code" 415 "PATCH with a form Content-Type (curl's default): 415"

# --- 409 -----------------------------------------------------------------
code=$(patch "$TA" "$F1" 1000 "$T/d1000")
tap_is "$code|$(ecode)|$(hdr Upload-Offset)" "409|offset_mismatch|0" "PATCH at offset 1000 of an upload at 0: 409 offset_mismatch, Upload-Offset 0"
code=$(patch "$TA" "$F1" 0 <(head -c 1000 "$T/d3000"))
tap_is "$code|$(hdr Upload-Offset)" "204|1000" "PATCH at the right offset: 204, Upload-Offset 1000"
tap_ok "$(has_hdr Upload-Expires && echo 0 || echo 1)" "204 of an unfinished upload carries Upload-Expires"
code=$(patch "$TA" "$F1" 0 <(head -c 1000 "$T/d3000"))
tap_is "$code|$(ecode)|$(hdr Upload-Offset)" "409|offset_mismatch|1000" "the same PATCH again (offset 0, now behind): 409"
code=$(req PATCH "/api/v1/files/$F1" -H "$(auth "$TA")" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: -5' --data-binary @"$T/d1000")
tap_is "$code|$(ecode)" "400|bad_offset" "PATCH with Upload-Offset -5: 400 bad_offset"

# --- 413 -----------------------------------------------------------------
code=$(patch "$TA" "$F1" 1000 "$T/d3000")
tap_is "$code|$(ecode)" "413|beyond_length" "PATCH of 3000 bytes at 1000 of a 3000-byte upload: 413 beyond_length"
tap_is "$(offset_of "$TA" "$F1")|$(partial_size "$F1")" "1000|1000" "413: nothing of that body was stored"
code=$(patch "$TA" "$F1" 1000 "$T/d3000" -H 'Transfer-Encoding: chunked')
tap_is "$code|$(ecode)" "413|beyond_length" "the same body chunked (no Content-Length): 413 beyond_length"
tap_is "$(offset_of "$TA" "$F1")|$(partial_size "$F1")" "1000|1000" "chunked 413: the offset is unchanged and the partial file cut back"
code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "big", "size": 1048577}]}')
tap_is "$code|$(ecode)" "413|file_too_large" "POST /api/v1/batches with a file beyond max_file_size: 413"

# --- checksum ------------------------------------------------------------
bad=$(printf 'not the data' | openssl dgst -sha256 -binary | base64 -w0)
code=$(patch "$TA" "$F1" 1000 <(head -c 1000 "$T/d4096") -H "Upload-Checksum: sha256 $bad")
tap_is "$code|$(ecode)" "460|checksum_mismatch" "PATCH with a wrong sha256 Upload-Checksum: 460 checksum_mismatch"
tap_is "$(offset_of "$TA" "$F1")|$(partial_size "$F1")" "1000|1000" "460: nothing stored (HEAD offset and partial size unchanged)"
head -c 1000 "$T/d4096" >"$T/c1"
code=$(patch "$TA" "$F1" 1000 "$T/c1" -H "Upload-Checksum: sha1 $(b64digest sha1 "$T/c1")")
tap_is "$code|$(hdr Upload-Offset)" "204|2000" "a correct sha1 Upload-Checksum is accepted (204, offset 2000)"
tail -c 1000 "$T/d4096" >"$T/c2"
code=$(patch "$TA" "$F1" 2000 "$T/c2" -H "Upload-Checksum: sha256 $(b64digest sha256 "$T/c2")")
tap_is "$code|$(hdr Upload-Offset)" "204|3000" "a correct sha256 Upload-Checksum is accepted and completes the file"
cat <(head -c 1000 "$T/d3000") "$T/c1" "$T/c2" >"$T/f1.expected"
tap_is "$(download_sha "$TA" "$F1")" "$(sha "$T/f1.expected")" "the file assembled over checksummed PATCHes is byte-identical"
mkbatch "$TA" 1000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FX=${FILES[0]}
code=$(patch "$TA" "$FX" 0 "$T/d1000" -H "Upload-Checksum: md5 $(b64digest md5 "$T/d1000")")
tap_is "$code|$(ecode)|$(offset_of "$TA" "$FX")" "400|unsupported_checksum|0" "Upload-Checksum md5: 400 unsupported_checksum, nothing stored"

# --- 423 slot_unavailable, queue, creation-with-upload without a slot ---------
mkbatch "$TC" 4096 4096 4096 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
C1=${FILES[0]} C2=${FILES[1]} C3=${FILES[2]}
code=$(claim "$TC" "$C1" 0)
tap_is "$code|$(hdr Upload-Offset)" "204|0" "an empty-bodied PATCH claims carol's only slot: 204, Upload-Offset 0"
tap_like "$(offset_of "$TC" "$C1")|$(partial_size "$C1")" '^0\|(0|absent)$' "the empty-bodied claim stored nothing (offset 0, no bytes on disk)"
code=$(patch "$TC" "$C2" 0 "$T/d4096")
tap_is "$code|$(ecode)" "423|slot_unavailable" "a second file of carol (limit 1): 423 slot_unavailable"
tap_is "$(hdr Retry-After)|$(hdr Upload-Queue-Position)" "3|1" "423: Retry-After: 3 (queue_retry_seconds) and Upload-Queue-Position: 1"
tap_ok "$(error_shape; echo $?)" "423: the body has the error shape"
tap_is "$(offset_of "$TC" "$C2")|$(partial_size "$C2")" "0|absent" "423: the body was not stored"
code=$(claim "$TC" "$C3" 0)
tap_is "$code|$(ecode)|$(hdr Upload-Queue-Position)" "423|slot_unavailable|2" "a third file's claim: 423, Upload-Queue-Position: 2"
slots_before=$(sql "SELECT count(*) FROM batchup.active_slots WHERE user_name = 'carol'")
code=$(head_of "$TC" "$C2")
tap_is "$code|$(hdr Upload-Queue-Position)|$(hdr Upload-Offset)" "200|1|0" "HEAD of a queued upload: 200 with Upload-Queue-Position: 1"
code=$(head_of "$TC" "$C3")
tap_is "$code|$(hdr Upload-Queue-Position)" "200|2" "HEAD of the next: Upload-Queue-Position: 2"
tap_is "$(sql "SELECT count(*) FROM batchup.active_slots WHERE user_name = 'carol'")|$(sql "SELECT status FROM batchup.files WHERE id = '$C2'")" \
    "$slots_before|queued" "HEAD takes no slot"
code=$(req GET "/api/v1/batches/$BATCH" -H "$(auth "$TC")")
tap_is "$(jq -r '[.files[] | "\(.status):\(.queue_position)"] | join(",")' "$T/body")" \
    "uploading:null,queued:1,queued:2" "GET of the batch: uploading, queued 1, queued 2"
code=$(req POST /api/v1/files -H "$(auth "$TC")" "${TR[@]}" "${OS[@]}" -H 'Upload-Length: 4096' --data-binary @"$T/d4096")
C4=$(hdr Location)
C4=${C4##*/}
tap_is "$code|$(hdr Upload-Offset)" "201|0" "creation-with-upload without a free slot: 201 with Upload-Offset: 0"
tap_is "$(offset_of "$TC" "$C4")|$(hdr Upload-Queue-Position)|$(partial_size "$C4")" "0|3|absent" \
    "creation-with-upload without a slot: nothing stored, the file queued at 3"
code=$(req DELETE "/api/v1/files/$C1" -H "$(auth "$TC")" "${TR[@]}")
tap_is "$code" 204 "DELETE (termination) of the upload holding the slot: 204"
tap_is "$(sql "SELECT count(*) FROM batchup.active_slots WHERE user_name = 'carol'")" 0 "termination released the slot"
code=$(patch "$TC" "$C3" 0 "$T/d4096")
tap_is "$code|$(hdr Upload-Queue-Position)" "423|2" "queue order holds: file 2 in the queue still gets 423 while file 1 waits"
code=$(patch "$TC" "$C2" 0 "$T/d4096")
tap_is "$code|$(hdr Upload-Offset)" "204|4096" "the first in the queue then gets the slot and completes: 204"
tap_is "$(download_sha "$TC" "$C2")" "$(sha "$T/d4096")" "the queued file, once uploaded, is byte-identical"

# --- HEAD during a slow upload ------------------------------------------------
# A HEAD while an upload trickles in (2 s between its pieces, as on a bad
# mobile link) reports the bytes received so far (the writer records them
# when asked) and does not cut the upload: it completes.
mkbatch "$TA" 4000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FH=${FILES[0]}
body=$(head -c 3000 /dev/urandom | base64 -w0 | head -c 4000)
python3 tests/lib/slowreq.py PATCH "$B/api/v1/files/$FH" "$body" 6 4 -H "$(auth "$TA")" \
    -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
    -H 'Upload-Offset: 0' >"$T/slowh.out" 2>&1 &
slow=$!
first_piece() { [ "$(partial_size "$FH")" = 1000 ]; }
stack_wait_until 10 first_piece
sleep 1.2
code=$(head_of "$TA" "$FH")
tap_is "$code|$(hdr Upload-Offset)" "200|1000" \
    "HEAD while an upload trickles in: 200, Upload-Offset = the bytes received so far (1000)"
wait "$slow"
tap_is "$(head -n 1 "$T/slowh.out")" 204 "... and the upload goes on to complete: 204 (a HEAD never cuts it)"
tap_is "$(download_sha "$TA" "$FH")" "$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" "... byte-identical"

# --- takeover, and 423 upload_locked -----------------------------------------
# A second PATCH of an upload that a trickled request is writing takes it
# over: the first lets go at once, keeping what it received (recorded), and
# the second learns the offset (409 with Upload-Offset) and resumes from it.
mkbatch "$TA" 4000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FL=${FILES[0]}
body=$(head -c 3000 /dev/urandom | base64 -w0 | head -c 4000)
python3 tests/lib/slowreq.py PATCH "$B/api/v1/files/$FL" "$body" 6 4 -H "$(auth "$TA")" \
    -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
    -H 'Upload-Offset: 0' >"$T/slow.out" 2>&1 &
slow=$!
in_flight() { [ "$(partial_size "$FL")" != absent ] && [ "$(partial_size "$FL")" -gt 0 ]; }
stack_wait_until 10 in_flight
tap_ok $? "a trickled PATCH is writing (its first bytes reached the partial file)"
t0=$(date +%s%N)
code=$(claim "$TA" "$FL" 0)
took=$((($(date +%s%N) - t0) / 1000000))
kept=$(hdr Upload-Offset)
tap_is "$code|$(ecode)" "409|offset_mismatch" "a second PATCH of the same upload takes it over: 409 offset_mismatch"
tap_ok "$([ "${kept:-0}" -gt 0 ] && [ "$kept" -lt 4000 ]; echo $?)" \
    "... whose Upload-Offset is what the first request kept ($kept bytes)"
tap_ok "$([ "$took" -lt 2000 ]; echo $?)" "... without waiting for the first to time out (${took} ms)"
wait "$slow"
tap_is "$(head -n 1 "$T/slow.out")" 423 "the request that was taken over answers 423 (its client has moved on)"
tap_is "$(offset_of "$TA" "$FL")" "$kept" "HEAD reports the kept offset"
printf '%s' "$body" | tail -c +"$((kept + 1))" >"$T/rest-fl"
code=$(patch "$TA" "$FL" "$kept" "$T/rest-fl")
tap_is "$code|$(hdr Upload-Offset)" "204|4000" "the upload resumes from there and completes: 204, offset 4000"
tap_is "$(download_sha "$TA" "$FL")" "$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" "the upload is byte-identical"

# A writer of another pool (another host) that does not let go: the request
# waits a moment for it, then answers 423 upload_locked with Retry-After,
# and the writer is asked (in the database) to let go.
mkbatch "$TA" 4000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FZ=${FILES[0]}
sql "UPDATE batchup.files SET writer = 'anotherpool/0123456789abcdef',
         writer_expires_at = now() + interval '60 seconds' WHERE id = '$FZ'" >/dev/null
t0=$(date +%s%N)
code=$(claim "$TA" "$FZ" 0)
took=$((($(date +%s%N) - t0) / 1000000))
tap_is "$code|$(ecode)" "423|upload_locked" "a PATCH while another pool's writer holds the upload: 423 upload_locked"
tap_ok "$(has_hdr Retry-After && echo 0 || echo 1)" "upload_locked: Retry-After is set"
tap_ok "$([ "$took" -ge 1500 ] && [ "$took" -lt 10000 ]; echo $?)" "... after waiting a moment for it to let go (${took} ms)"
tap_is "$(sql "SELECT release_requested FROM batchup.files WHERE id = '$FZ'")" now \
    "the writer is asked to let go (release_requested = now)"
sql "UPDATE batchup.files SET writer_expires_at = now() - interval '1 second' WHERE id = '$FZ'" >/dev/null
code=$(claim "$TA" "$FZ" 0)
tap_is "$code" 204 "once that writer's lease has run out, the upload is free: 204"

# --- 404 -------------------------------------------------------------------
mkbatch "$TA" 1000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FA=${FILES[0]}
nobody=$(python3 -c 'import uuid; print(uuid.uuid4())')
code=$(patch "$TA" "$nobody" 0 "$T/d1000")
b_missing="$code $(cat "$T/body")"
tap_is "$code|$(ecode)" "404|not_found" "PATCH of an unknown upload id: 404 not_found"
code=$(patch "$TM" "$FA" 0 "$T/d1000")
b_other="$code $(cat "$T/body")"
tap_is "$b_other" "$b_missing" "PATCH of another user's upload: exactly the answer for a missing one"
code=$(head_of "$TM" "$FA")
c2=$(head_of "$TA" "$nobody")
tap_is "$code|$c2" "404|404" "HEAD of another user's upload and of a missing one: 404 both"
code=$(req DELETE "/api/v1/files/$FA" -H "$(auth "$TM")" "${TR[@]}")
b_other="$code $(cat "$T/body")"
code=$(req DELETE "/api/v1/files/$nobody" -H "$(auth "$TA")" "${TR[@]}")
tap_is "$b_other" "$code $(cat "$T/body")" "DELETE of another user's upload: exactly the answer for a missing one (404)"
tap_is "$(offset_of "$TA" "$FA")|$(sql "SELECT status FROM batchup.files WHERE id = '$FA'")" "0|pending" \
    "mallory's requests changed nothing of alice's upload"
code=$(patch "$TA" "not-a-uuid" 0 "$T/d1000")
tap_is "$code" 404 "PATCH of a malformed upload id: 404"

# --- 410 -------------------------------------------------------------------
code=$(patch "$TA" "$FA" 0 <(head -c 500 "$T/d1000"))
tap_is "$code|$(partial_size "$FA")" "204|500" "500 bytes stored before the termination"
code=$(req DELETE "/api/v1/files/$FA" -H "$(auth "$TA")" "${TR[@]}")
tap_is "$code|$(hdr Tus-Resumable)" "204|1.0.0" "DELETE (termination): 204 with Tus-Resumable"
tap_is "$(partial_size "$FA")|$(sql "SELECT status FROM batchup.files WHERE id = '$FA'")" "absent|aborted" \
    "termination removed the data; the file is aborted"
code=$(head_of "$TA" "$FA")
tap_is "$code" 410 "HEAD of a terminated upload: 410"
code=$(patch "$TA" "$FA" 500 <(tail -c 500 "$T/d1000"))
tap_is "$code|$(ecode)" "410|upload_gone" "PATCH of a terminated (aborted) upload: 410 upload_gone"
tap_is "$(partial_size "$FA")" absent "the refused PATCH stored nothing"
code=$(req DELETE "/api/v1/files/$FA" -H "$(auth "$TA")" "${TR[@]}")
tap_is "$code" 410 "DELETE again: 410"
code=$(req DELETE "/api/v1/files/$F1" -H "$(auth "$TA")" "${TR[@]}")
tap_is "$code|$(ecode)" "409|upload_completed" "DELETE of a completed upload: 409 (it belongs to its batch)"
# Terminated while a PATCH is still writing it: that PATCH ends with 410.
mkbatch "$TA" 8000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FT=${FILES[0]}
python3 tests/lib/slowreq.py PATCH "$B/api/v1/files/$FT" "$body" 3 4 -H "$(auth "$TA")" \
    -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
    -H 'Upload-Offset: 0' >"$T/slow2.out" 2>&1 &
slow=$!
writing() { [ "$(partial_size "$FT")" != absent ] && [ "$(partial_size "$FT")" -gt 0 ]; }
stack_wait_until 10 writing
code=$(req DELETE "/api/v1/files/$FT" -H "$(auth "$TA")" "${TR[@]}")
tap_is "$code" 204 "DELETE of an upload while a trickled PATCH writes it: 204"
wait "$slow"
tap_is "$(head -n 1 "$T/slow2.out")|$(sed -n 2p "$T/slow2.out" | jq -r .error.code 2>/dev/null)" "410|upload_gone" \
    "the PATCH that was writing the terminated upload ends with 410 upload_gone (not a 500)"
tap_is "$(partial_size "$FT")|$(sql "SELECT status || '|' || upload_offset FROM batchup.files WHERE id = '$FT'")" "absent|aborted|0" \
    "nothing of it is left: no partial file, the file aborted at offset 0"

# --- 401 -------------------------------------------------------------------
n401=0 bad401=
for variant in none wrong; do
    case $variant in
        none) A=() ;;
        wrong) A=(-H "Authorization: Bearer ${TA}x") ;;
    esac
    for r in "PATCH /api/v1/files/$FX" "HEAD /api/v1/files/$FX" "DELETE /api/v1/files/$FX" \
        "POST /api/v1/files" "POST /api/v1/batches" "GET /api/v1/batches/$BATCH" \
        "GET /api/v1/batches" "DELETE /api/v1/batches/$BATCH"; do
        set -- $r
        code=$(req "$1" "$2" "${A[@]}" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' -H 'Upload-Length: 10' --data-binary '{"files": [{"name": "a", "size": 1}]}')
        [ "$1" = HEAD ] && code=$(req HEAD "$2" "${A[@]}" "${TR[@]}")
        n401=$((n401 + 1))
        if [ "$code" != 401 ] || ! grep -qi '^WWW-Authenticate: Bearer' "$T/hdrs" ||
            { [ "$1" != HEAD ] && [ "$(ecode)" != unauthorized ]; }; then
            bad401="$bad401 [$variant $r: $code $(ecode)]"
        fi
    done
done
tap_is "${bad401:-none}" none "$n401 requests without a token or with a wrong one: 401 unauthorized with WWW-Authenticate"
tap_is "$(offset_of "$TA" "$FX")|$(sql "SELECT status || '|' || (writer IS NULL) || '|' || (SELECT count(*) FROM batchup.slots s WHERE s.file_id = f.id) FROM batchup.files f WHERE id = '$FX'")" "0|pending|true|0" \
    "the unauthenticated requests changed nothing (no slot, no writer lock: a PATCH's token is looked up before its claim runs)"
code=$(req PATCH "/api/v1/files/$FX" -H 'Authorization: Basic YWxpY2U6eA==' "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' --data-binary @"$T/d1000")
tap_is "$code" 401 "Basic instead of Bearer: 401"

# --- batches API -----------------------------------------------------------
code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "a.jpg", "size": 1048576, "type": "image/jpeg"}, {"name": "b.txt", "size": 5, "sha256": "'"$(printf hello | sha256sum | cut -d' ' -f1 | tr a-f A-F)"'"}, {"name": "empty", "size": 0}]}')
NB=$(jq -r .id "$T/body")
tap_is "$code" 201 "POST /api/v1/batches: 201"
tap_is "$(hdr Location)" "/api/v1/batches/$NB" "POST /api/v1/batches: Location /api/v1/batches/<id>"
tap_is "$(hdr Content-Type)" "application/json; charset=utf-8" "POST /api/v1/batches: application/json; charset=utf-8"
shape=$(jq -r --arg re "^$UUID_RE\$" '
    [ (["created_at", "download_url", "expires_at", "files", "id", "status"] - keys == []),
      (.id | test($re)), (.status == "uploading"),
      (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$")),
      (.download_url == null), (.expires_at == null), (.files | length == 3),
      (["download_url", "id", "name", "offset", "queue_position", "size", "status", "upload_url"] - (.files[0] | keys) == []),
      (.files[0] | .name == "a.jpg" and .size == 1048576 and .offset == 0 and .status == "pending"
                   and .queue_position == null and .download_url == null and (.id | test($re))
                   and .upload_url == "/api/v1/files/\(.id)"),
      (.files[1] | .name == "b.txt" and .size == 5),
      (.files[2] | .name == "empty" and .size == 0 and .status == "completed")
    ] | map(tostring) | join(",")' "$T/body" 2>&1)
tap_is "$shape" "true,true,true,true,true,true,true,true,true,true,true" "the 201 body has the documented shape (id, status, created_at RFC 3339, files with upload_url, nulls)"
[ "$shape" = "true,true,true,true,true,true,true,true,true,true,true" ] || tap_diag "$(cat "$T/body")"
code=$(req GET "/api/v1/batches/$NB" -H "$(auth "$TA")")
tap_is "$code|$(jq -r '.id + "|" + .status + "|" + (.files | length | tostring)' "$T/body")" "200|$NB|uploading|3" \
    "GET /api/v1/batches/<id>: 200, the same batch"
code=$(req GET "/api/v1/batches?files=1" -H "$(auth "$TA")")
tap_is "$code|$(jq -r --arg id "$NB" '.batches[] | select(.id == $id) | .files | length' "$T/body")" "200|3" \
    "GET /api/v1/batches?files=1: 200, each batch with its files"
code=$(req GET "/api/v1/batches?files=2" -H "$(auth "$TA")")
tap_is "$code|$(ecode)" "400|bad_request" "GET /api/v1/batches?files=2: 400 bad_request (files is 0 or 1)"
code=$(req GET "/api/v1/batches/$NB" -H "$(auth "$TM")")
b_other="$code $(cat "$T/body")"
code=$(req GET "/api/v1/batches/$nobody" -H "$(auth "$TM")")
tap_is "$b_other" "$code $(cat "$T/body")" "GET of another user's batch: exactly the 404 of a missing one"
tap_is "${b_other%% *}" 404 "... which is 404"
code=$(req DELETE "/api/v1/batches/$NB" -H "$(auth "$TM")")
tap_is "$code|$(sql "SELECT status FROM batchup.batches WHERE id = '$NB'")" "404|uploading" "DELETE of another user's batch: 404, nothing changed"

# Malformed bodies: each a 4xx with the error shape, and nothing created.
count_batches() { sql 'SELECT count(*) || '"'"'/'"'"' || (SELECT count(*) FROM batchup.files) FROM batchup.batches'; }
before=$(count_batches)
long=$(printf 'n%.0s' $(seq 1 1025))
many=$(for i in $(seq 1 21); do printf '{"name": "x%d", "size": 1},' "$i"; done)
bodies=(
    ''
    'not json'
    '[]'
    'null'
    '{}'
    '{"files": []}'
    '{"files": {}}'
    '{"files": "a"}'
    '{"files": [1]}'
    '{"files": [null]}'
    '{"files": [{}]}'
    '{"files": [{"name": "a"}]}'
    '{"files": [{"size": 1}]}'
    '{"files": [{"name": "a", "size": -1}]}'
    '{"files": [{"name": "a", "size": 1.5}]}'
    '{"files": [{"name": "a", "size": "1"}]}'
    '{"files": [{"name": "a", "size": 1e30}]}'
    '{"files": [{"name": "a", "size": 99999999999999999999999}]}'
    '{"files": [{"name": "", "size": 1}]}'
    '{"files": [{"name": null, "size": 1}]}'
    '{"files": [{"name": 5, "size": 1}]}'
    '{"files": [{"name": "a\u0001b", "size": 1}]}'
    '{"files": [{"name": "a\nb", "size": 1}]}'
    "{\"files\": [{\"name\": \"$long\", \"size\": 1}]}"
    '{"files": [{"name": "a", "size": 1, "sha256": "xyz"}]}'
    '{"files": [{"name": "a", "size": 1, "sha256": 5}]}'
    '{"files": [{"name": "a", "size": 1, "type": 5}]}'
    '{"files": [{"name": "a", "size": 1, "type": "text/\u00e9"}]}'
    '{"files": [{"name": "a", "size": 1, "owner": "x"}]}'
    '{"files": [{"name": "a", "size": 1}], "user": 1}'
    '{"files": [{"name": "a", "size": 1}], "files": [{"name": "b", "size": 1}]}'
    '{"files": [{"name": "a", "size": 1, "name": "b"}]}'
    '{"files": [{"name": "ok", "size": 1}, {"name": "bad", "size": -1}]}'
    '{"files": [{"name": "a", "size": 1}]'
    '{"files": [{"name": "a\ud800", "size": 1}]}'
    "{\"files\": [${many%,}]}"
)
bad_bodies=
for body in "${bodies[@]}"; do
    code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' --data-binary "$body")
    if [[ "$code" != 4[0-9][0-9] ]] || ! error_shape; then
        bad_bodies="$bad_bodies
[$code $(head -c 200 "$T/body")] for ${body:0:120}"
    fi
done
# Invalid UTF-8 and a deeply nested document.
printf '{"files": [{"name": "a\xff\xfe", "size": 1}]}' >"$T/badutf8"
code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' --data-binary @"$T/badutf8")
{ [[ "$code" == 4[0-9][0-9] ]] && error_shape; } || bad_bodies="$bad_bodies
[$code $(head -c 200 "$T/body")] for invalid UTF-8"
python3 -c 'print("[" * 100000 + "]" * 100000)' >"$T/deep"
code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' --data-binary @"$T/deep")
{ [[ "$code" == 4[0-9][0-9] ]] && error_shape; } || bad_bodies="$bad_bodies
[$code $(head -c 200 "$T/body")] for 100000 nested arrays"
tap_is "${bad_bodies:-none}" none "$((${#bodies[@]} + 2)) malformed batch bodies: each a 4xx with the error shape"
tap_is "$(count_batches)" "$before" "the malformed bodies created no batch and no file"
tap_is "$(stack__alive "$BATCHUP_PID" && echo up)|$(stack_health_code)" "up|200" "the server is still up and healthy"

# DELETE of a batch: aborts the unfinished files, frees their slots, removes data.
mkbatch "$TA" 4096 4096 1000 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
D1=${FILES[0]} D2=${FILES[1]} D3=${FILES[2]}
patch "$TA" "$D1" 0 <(head -c 2000 "$T/d4096") >/dev/null
claim "$TA" "$D2" 0 >/dev/null
patch "$TA" "$D3" 0 "$T/d1000" >/dev/null
tap_is "$(partial_size "$D1")|$(sql "SELECT count(*) FROM batchup.active_slots WHERE batch_id = '$BATCH'")|$(sql "SELECT status FROM batchup.files WHERE id = '$D3'")" \
    "2000|2|completed" "before DELETE: 2000 bytes stored, 2 slots held, one file completed"
code=$(req DELETE "/api/v1/batches/$BATCH" -H "$(auth "$TA")")
tap_is "$code" 204 "DELETE /api/v1/batches/<id>: 204"
tap_is "$(sql "SELECT count(*) FROM batchup.slots s JOIN batchup.files f ON f.id = s.file_id WHERE f.batch_id = '$BATCH'")" 0 \
    "DELETE of the batch released its slots"
tap_is "$(sql "SELECT count(*) FROM batchup.files WHERE batch_id = '$BATCH'")|$(sql "SELECT count(*) FROM batchup.batches WHERE id = '$BATCH'")" \
    "0|0" "DELETE of the batch: the batch and all its files are gone, the completed one too"
tap_is "$(partial_size "$D1")|$(partial_size "$D2")" "absent|absent" "DELETE of the batch removed the partial data"
code=$(patch "$TA" "$D1" 2000 <(tail -c +2001 "$T/d4096"))
tap_is "$code" 404 "PATCH of a file of the deleted batch: 404"

# --- chunked request bodies through nginx -----------------------------------------
mkbatch "$TA" 307200 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FC=${FILES[0]}
head -c 100000 "$T/d300k" >"$T/ch1"
tail -c +100001 "$T/d300k" >"$T/ch2"
code=$(patch "$TA" "$FC" 0 "$T/ch1" -H 'Transfer-Encoding: chunked' --trace-ascii "$T/trace")
# What curl sent (its trace): a request head with Transfer-Encoding: chunked
# and no Content-Length, and a body whose first chunk opens with its size
# line (hex).
head_sent=$(awk '/^=> Send header/ { m = 1; next } /^(<=|=>|==) / { m = 0 } m' "$T/trace")
first_chunk=$(awk '/^=> Send data/ { getline; print; exit }' "$T/trace")
tap_is "$(printf '%s\n' "$head_sent" | grep -Eic '^[0-9a-f]{4}: Transfer-Encoding: chunked\r?$')|$(printf '%s\n' "$head_sent" | grep -Eic '^[0-9a-f]{4}: Content-Length:')|$(printf '%s' "$first_chunk" | grep -Ec '^[0-9a-f]{4}: [0-9a-fA-F]+$')" \
    "1|0|1" "the PATCH went out chunked: Transfer-Encoding: chunked, no Content-Length, a chunk size line first"
tap_is "$code|$(hdr Upload-Offset)|$(offset_of "$TA" "$FC")" "204|100000|100000" "a chunked PATCH body of 100000 bytes: 204, offset 100000"
code=$(patch "$TA" "$FC" 100000 "$T/ch2" -H 'Transfer-Encoding: chunked' -H "Upload-Checksum: sha256 $(b64digest sha256 "$T/ch2")")
tap_is "$code|$(hdr Upload-Offset)" "204|307200" "a chunked PATCH with a sha256 checksum completes it: 204"
tap_is "$(download_sha "$TA" "$FC")" "$(sha "$T/d300k")" "the chunked upload is byte-identical"
code=$(req POST /api/v1/files -H "$(auth "$TA")" "${TR[@]}" "${OS[@]}" -H 'Upload-Length: 307200' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$T/d300k")
FCW=$(hdr Location)
FCW=${FCW##*/}
tap_is "$code|$(hdr Upload-Offset)" "201|307200" "chunked creation-with-upload of a whole file: 201 with Upload-Offset 307200"
tap_is "$(download_sha "$TA" "$FCW")" "$(sha "$T/d300k")" "the chunked creation-with-upload is byte-identical"
code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary '{"files": [{"name": "chunked.json", "size": 7}]}')
tap_is "$code" 201 "a chunked POST /api/v1/batches body: 201"

# --- a client that disconnects mid-body -------------------------------------------
mkbatch "$TA" 819200 || tap_diag "mkbatch failed: $(cat "$T/mk.json")"
FD=${FILES[0]}
python3 - "$NGINX_PORT" "/api/v1/files/$FD" "$TA" "$T/d800k" 409600 <<'PY'
import socket, sys, time
port, path, token, data_file, n_send = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
data = open(data_file, "rb").read()
s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
s.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
           "Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
           "Upload-Offset: 0\r\nContent-Length: %d\r\n\r\n" % (path, token, len(data))).encode())
for i in range(0, n_send, 65536):
    s.sendall(data[i:min(i + 65536, n_send)])
    time.sleep(0.02)
time.sleep(1.0)   # let nginx pass on what it has
s.close()         # half a body, then gone
PY
recorded() { o=$(offset_of "$TA" "$FD"); [ -n "$o" ] && [ "$o" -gt 0 ]; }
stack_wait_until 15 recorded
off=$(offset_of "$TA" "$FD")
stored=$(partial_size "$FD")
tap_diag "client sent 409600 of 819200 bytes and vanished; HEAD offset $off, partial file $stored bytes"
tap_ok "$([ "${off:-0}" -gt 0 ] && [ "$off" -le 409600 ]; echo $?)" "after a disconnect mid-body, HEAD reports an offset > 0 and <= what was sent ($off)"
tap_ok "$([ "$stored" != absent ] && [ "${off:-0}" -le "$stored" ]; echo $?)" "the HEAD offset is no larger than the bytes stored ($off <= $stored)"
tap_is "$(head -c "${off:-0}" "$STACK_DIR/storage/partial/$FD" | sha256sum)" "$(head -c "${off:-0}" "$T/d800k" | sha256sum)" \
    "the kept bytes are the ones sent"
tap_like "$(grep -c "request \"PATCH\" \"/api/v1/files/$FD\" 400" "$STACK_DIR/batchup.log")" '^[1-9]' "the server logged the cut request (PATCH ... 400 body_incomplete)"
code=$(patch "$TA" "$FD" "$off" <(tail -c +"$((off + 1))" "$T/d800k"))
tap_is "$code|$(hdr Upload-Offset)" "204|819200" "the upload resumes from the HEAD offset and completes: 204"
tap_is "$(download_sha "$TA" "$FD")|$(sha "$(final_path "$FD")")" "$(sha "$T/d800k")|$(sha "$T/d800k")" \
    "the resumed upload is byte-identical (download and stored file)"

tap_is "$(grep -Ec ' request "[A-Z]+" "[^"]*" 5[0-9][0-9] ' "$STACK_DIR/batchup.log")" 0 "no request of this test got a 5xx (server log)"
grep -E ' request "[A-Z]+" "[^"]*" 5[0-9][0-9] ' "$STACK_DIR/batchup.log" | head -n 5 | while IFS= read -r l; do tap_diag "$l"; done

# An empty file announced with another SHA-256 than the empty string's can
# never complete: the database refuses it (BU460), and the client must get a
# 4xx (checked after the 5xx check above, which it would spoil).
before=$(count_batches)
code=$(req POST /api/v1/batches -H "$(auth "$TA")" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "e", "size": 0, "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}]}')
tap_like "$code $(ecode)" '^4[0-9][0-9] ' "an empty file announced with a wrong sha256: a 4xx, not a 500 (got $code $(ecode))"
tap_is "$(count_batches)" "$before" "... and it created nothing"
tap_done
