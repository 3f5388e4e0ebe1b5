#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A pause in a PATCH body longer than the slot's lease does not lose the
# slot: the writer renews its lease on the tick while the request is alive,
# not only when bytes arrive, so the bytes after the pause are kept and the
# upload completes.  slot_lease_seconds = 3; each 4000-byte body is sent in
# two halves with a pause of 2.5 s, then 4 s, between them (slowreq.py).
# Before this was fixed, the first pause already gave 423 with the offset
# left at 0 although every byte had arrived.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 pm=static per_user_limit=1 slot_lease_seconds=3 gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
B=$BATCHUP_URL
T=$STACK_DIR/t24
mkdir -p "$T"
py=$(stack__python)

body=$(head -c 3000 /dev/urandom | base64 -w0 | head -c 4000)
sha=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)

for pause in 2.5 4; do
    curl -s --max-time 20 -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
        --data '{"files": [{"name": "p.bin", "size": 4000}]}' "$B/api/v1/batches" >"$T/mk.json"
    FILE=$(jq -r '.files[0].id' "$T/mk.json")
    [ -n "$FILE" ] && [ "$FILE" != null ] || tap_bail "no batch: $(cat "$T/mk.json")"
    out=$("$py" tests/lib/slowreq.py PATCH "$B/api/v1/files/$FILE" "$body" "$pause" 2 \
        -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream')
    tap_is "$(echo "$out" | head -n 1)" 204 "a PATCH with a ${pause} s pause mid-body answers 204"
    [ "$(echo "$out" | head -n 1)" = 204 ] || tap_diag "answer: $(echo "$out" | tr '\n' ' ')"
    tap_is "$(psql -XAtq -c "SELECT upload_offset || ' ' || status || ' ' || coalesce(sha256, '-')
                             FROM batchup.files WHERE id = '$FILE'")" "4000 completed $sha" \
        "after the ${pause} s pause the offset is 4000 and the file completed with the body's SHA-256"
    cmp -s <(printf '%s' "$body") "$STACK_DIR/storage/files/${FILE:0:2}/$FILE"
    tap_ok $? "the stored file is the body, byte for byte (${pause} s pause)"
done

# The slot's lease lapses under a live writer (psql makes it run out, as a
# slow database would): when nobody else wants the slot the writer takes it
# again and completes; when another file of the user took it meanwhile the
# writer stops, keeping every byte that arrived (423, offset recorded).
mkfile() {
    curl -s --max-time 20 -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
        --data "{\"files\": [{\"name\": \"$1\", \"size\": 4000}]}" "$B/api/v1/batches" |
        jq -r '.files[0].id'
}
slow_patch() {
    "$py" tests/lib/slowreq.py PATCH "$B/api/v1/files/$1" "$body" 3 2 \
        -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' >"$T/$1.out"
}
expire_slot() {
    local i
    for i in $(seq 20); do # the claim may not have been made yet
        n=$(psql -XAtq -c "WITH u AS (UPDATE batchup.slots SET lease_expires_at = now() - interval '1 second'
                                       WHERE file_id = '$1' RETURNING 1) SELECT count(*) FROM u")
        [ "$n" = 1 ] && { echo 1; return; }
        sleep 0.1
    done
    echo 0
}
X=$(mkfile lapse.bin)
slow_patch "$X" &
req=$!
sleep 0.3
tap_is "$(expire_slot "$X")" 1 "the slot of a PATCH in flight is made to run out"
wait "$req"
tap_is "$(head -n 1 "$T/$X.out")" 204 "nobody else wanted it: the writer takes it again and completes (204)"
tap_is "$(psql -XAtq -c "SELECT status FROM batchup.files WHERE id = '$X'")" completed "... the file is completed"

Y=$(mkfile holder.bin)
Z=$(mkfile other.bin)
slow_patch "$Y" &
req=$!
sleep 0.3
expire_slot "$Y" >/dev/null
claim=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PATCH -H "Authorization: Bearer $TA" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
    "$B/api/v1/files/$Z")
tap_is "$claim" 204 "another file of the user claims the lapsed slot (limit 1)"
wait "$req"
tap_is "$(head -n 1 "$T/$Y.out")" 423 "the writer that lost its slot to it stops: 423"
tap_is "$(psql -XAtq -c "SELECT upload_offset FROM batchup.files WHERE id = '$Y'")" 2000 \
    "... keeping the 2000 bytes that arrived before (recorded, not dropped)"

tap_done
