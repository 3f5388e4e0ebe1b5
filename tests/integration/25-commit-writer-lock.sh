#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A writer that lost the upload's writer lock cannot commit the upload.
# While a PATCH is in flight (its body sent in eight pieces over 3.5 s, 0.5 s
# apart: never the second of silence that makes the writer look at the
# database, and long before its first renewal, slot_lease_seconds / 3), the
# lock passes to another request, as a takeover from another host does
# (psql sets files.writer).  The first request then
# receives its last byte and commits: batchup.complete_file must refuse it
# (423 upload_locked), leaving the file unfinished for the lock's holder,
# and the bytes it stored must still be there for that holder.  Before the
# commit checked the lock, the first request completed the file with its
# own SHA-256 (204), whatever the holder wrote meanwhile.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 pm=static per_user_limit=1 gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
B=$BATCHUP_URL
T=$STACK_DIR/t25
mkdir -p "$T"
py=$(stack__python)

body=$(head -c 3000 /dev/urandom | base64 -w0 | head -c 4000)
batch_create "$TA" '{"files": [{"name": "w.bin", "size": 4000}]}' >"$T/mk.json"
FILE=$(jq -r '.files[0].id' "$T/mk.json")
[ -n "$FILE" ] && [ "$FILE" != null ] || tap_bail "no batch: $(cat "$T/mk.json")"

"$py" tests/lib/slowreq.py PATCH "$B/api/v1/files/$FILE" "$body" 3.5 8 \
    -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' >"$T/out" &
req=$!
has_writer() { [ -n "$(sql "SELECT writer FROM batchup.files WHERE id = '$FILE'")" ]; }
stack_wait_until 3 has_writer
first=$(sql "SELECT writer FROM batchup.files WHERE id = '$FILE'")
taken=$(sql "UPDATE batchup.files SET writer = 'otherhost/takeover', writer_expires_at = now() + interval '1 minute'
             WHERE id = '$FILE' AND writer IS NOT NULL RETURNING writer")
wait "$req"
tap_like "$first" '^[0-9a-f]{16}/' "the PATCH held the writer lock ($first) when it was taken over"
tap_is "$taken" otherhost/takeover "the lock passed to another writer mid-body"
tap_is "$(head -n 1 "$T/out")" 423 "the PATCH that lost the lock is refused at its commit (423)"
tap_like "$(sed -n 2p "$T/out")" '"upload_locked"' "with the error upload_locked"
tap_is "$(sql "SELECT status || ' ' || coalesce(sha256, '-') || ' ' || writer FROM batchup.files WHERE id = '$FILE'")" \
    "uploading - otherhost/takeover" "the file stays unfinished, its lock with the new writer"

# The lock's holder (here: the lock handed back, as after its lease) can
# still finish the upload: the stored bytes are found and checked.
sql "UPDATE batchup.files SET writer = NULL, writer_expires_at = NULL WHERE id = '$FILE'" >/dev/null
off=$(curl -s -I --max-time 10 -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' \
    "$B/api/v1/files/$FILE" | tr -d '\r' | sed -n 's/^[Uu]pload-[Oo]ffset: //p')
printf '%s' "$body" | tail -c "+$((off + 1))" >"$T/rest"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PATCH -H "Authorization: Bearer $TA" \
    -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream' \
    --data-binary "@$T/rest" "$B/api/v1/files/$FILE")
tap_is "$code" 204 "a new PATCH from the recorded offset ($off) completes the upload"
cmp -s <(printf '%s' "$body") "$STACK_DIR/storage/files/${FILE:0:2}/$FILE"
tap_ok $? "the stored file is the body, byte for byte"
tap_is "$(sql "SELECT sha256 FROM batchup.files WHERE id = '$FILE'")" \
    "$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" "its recorded SHA-256 is the stored bytes'"

tap_done
