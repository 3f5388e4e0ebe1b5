#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Behind Apache with mod_fcgid (conf/apache-fcgid.conf) every request body is
# read whole, into a temporary file, before batchup is asked anything.  So
# Apache itself must refuse what batchup would refuse anyway, before the
# body: an upload or batch body without credentials (401, batchup never
# sees it, nothing is spooled), and a body larger than the chunk size the
# site allows (413); FcgidMaxRequestLen is that chunk size, and batchup
# announces it (Batchup-Max-Chunk-Size on OPTIONS, the max_chunk_size key
# the configuration passes it) so that the upload page sends chunks of at
# most that size by itself.  Before: a 64 MiB unauthenticated PATCH was
# spooled whole, then batchup answered 401.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

export STACK_WEB=apache-fcgid
stack_init || tap_bail "cannot create the stack folder"
stack_start gc_interval_seconds=0 || tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
B=$BATCHUP_URL
T=$STACK_DIR/t28
mkdir -p "$T"
head -c 67108864 /dev/zero >"$T/64m"
head -c 8388608 /dev/urandom >"$T/8m"
head -c 9000000 /dev/urandom >"$T/9m"
UUID=00000000-0000-4000-8000-000000000000
saw() { grep -c "request \"$1\" \"$2\"" "$STACK_DIR/batchup.log"; }

# The upload chunk size the server announces.
code=$(curl -s -o /dev/null -D "$T/opt.h" -w '%{http_code}' --max-time 20 -X OPTIONS \
    -H 'Tus-Resumable: 1.0.0' "$B/api/v1/files")
chunk=$(tr -d '\r' <"$T/opt.h" | sed -n 's/^[Bb]atchup-[Mm]ax-[Cc]hunk-[Ss]ize: //p')
tap_is "$code $chunk" "204 8388608" "OPTIONS /api/v1/files announces Batchup-Max-Chunk-Size: 8388608"

# No credentials: refused by Apache before the body, batchup never asked:
# 401 for a body the site would take from a user (8 MiB), 401 or 413 for
# one beyond any chunk (64 MiB).
for req in "PATCH /api/v1/files/$UUID 8m 401" "POST /api/v1/files 8m 401" "POST /api/v1/batches 8m 401" \
    "PATCH /api/v1/files/$UUID 64m 401|413"; do
    set -- $req
    got=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 -H 'Expect:' -X "$1" \
        -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
        --data-binary @"$T/$3" "$B$2")
    tap_like "$got" "^($4) " "an unauthenticated $1 $2 of $3 is refused: $4 ($got s)"
    tap_is "$(saw "$1" "$2")" 0 "... by Apache itself: batchup never saw it (nothing spooled for it)"
done

# With a token: a body over the chunk size is refused before it is read.
curl -s --max-time 20 -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "a.bin", "size": 17388608}]}' "$B/api/v1/batches" >"$T/mk.json"
FILE=$(jq -r '.files[0].id' "$T/mk.json")
[ -n "$FILE" ] && [ "$FILE" != null ] || tap_bail "no batch: $(cat "$T/mk.json")"
before=$(saw PATCH "/api/v1/files/$FILE")
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H 'Expect:' -X PATCH -H "Authorization: Bearer $TA" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
    --data-binary @"$T/9m" "$B/api/v1/files/$FILE")
tap_is "$got" 413 "a 9,000,000-byte PATCH (over the 8 MiB chunk size) is refused: 413"
tap_is "$(saw PATCH "/api/v1/files/$FILE")" "$before" "... by Apache, before batchup"
# Chunks of the announced size go through.
off=0
for part in 8m 8m; do
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X PATCH -H "Authorization: Bearer $TA" \
        -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream' \
        --data-binary @"$T/$part" "$B/api/v1/files/$FILE")
    tap_is "$got" 204 "a PATCH of 8 MiB (the chunk size) at offset $off succeeds"
    off=$((off + 8388608))
done
head -c 611392 /dev/urandom >"$T/tail"
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X PATCH -H "Authorization: Bearer $TA" \
    -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream' \
    --data-binary @"$T/tail" "$B/api/v1/files/$FILE")
tap_is "$got" 204 "the last chunk completes the upload"
cmp -s <(cat "$T/8m" "$T/8m" "$T/tail") "$STACK_DIR/storage/files/${FILE:0:2}/$FILE"
tap_ok $? "the stored file is the three chunks, byte for byte"

tap_done
