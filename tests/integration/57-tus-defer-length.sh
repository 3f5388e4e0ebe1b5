#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tus creation-defer-length (issue 23): a creation with
# "Upload-Defer-Length: 1" and no Upload-Length; bytes arrive before the
# length is known; a later PATCH tells it (Upload-Length), checked then
# against the bytes stored, max_file_size and max_user_bytes; HEAD says
# Upload-Defer-Length until then. With curl through nginx, then the stock
# tus-js-client with uploadLengthDeferred (tests/node/tus-defer.mjs).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

node_deps
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 max_file_size=8000000 max_user_bytes=12000000 || tap_bail "the stack did not start"
W=$STACK_DIR/t57
mkdir -p "$W"
TOKEN=$(stack_user_add dee) || tap_bail "cannot add dee"
export TOKEN
TR=(-H 'Tus-Resumable: 1.0.0')

META="filename $(printf 'd.bin' | base64)"
create() { # [headers...]: a creation (metadata $META); prints the status, headers in $W/c.h, body in $W/c.b
    curl -s --max-time 10 -o "$W/c.b" -D "$W/c.h" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        "${TR[@]}" -H "Upload-Metadata: $META" "$@" "$BATCHUP_URL/api/v1/files"
}
patch_at() { # URL OFFSET FILE [headers...]: prints the status, headers in $W/p.h, body in $W/p.b
    local url=$1 off=$2 f=$3
    shift 3
    curl -s --max-time 10 -o "$W/p.b" -D "$W/p.h" -w '%{http_code}' -X PATCH -H "Authorization: Bearer $TOKEN" \
        "${TR[@]}" -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream' "$@" \
        --data-binary "@$f" "$BATCHUP_URL$url"
}

get "$W/o" "" /api/v1/files -X OPTIONS >/dev/null
tap_is "$(hval Tus-Extension "$W/o.h")" "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation" \
    "OPTIONS advertises creation-defer-length"
tap_is "$(create -H 'Upload-Defer-Length: 2')" 400 "Upload-Defer-Length other than 1: 400"
tap_is "$(create -H 'Upload-Defer-Length: 1' -H 'Upload-Length: 5')" 400 "both Upload-Defer-Length and Upload-Length: 400"
tap_is "$(code_of "$W/c.b")" bad_length "... bad_length"
tap_is "$(create -H 'Upload-Defer-Length: 1')" 201 "a creation without its length: 201"
U=$(hval Location "$W/c.h")
tap_is "$(hval Upload-Offset "$W/c.h")" 0 "... at offset 0"
get "$W/h" "$TOKEN" "$U" -I "${TR[@]}" >/dev/null
tap_is "$(hval Upload-Defer-Length "$W/h.h")|$(hval Upload-Length "$W/h.h")" "1|" "HEAD: Upload-Defer-Length: 1, no Upload-Length"
head -c 3000000 /dev/urandom >"$W/all"
head -c 1000000 "$W/all" >"$W/part1"
tail -c +1000001 "$W/all" >"$W/part2"
tap_is "$(patch_at "$U" 0 "$W/part1")" 204 "a PATCH before the length is known: 204"
tap_is "$(hval Upload-Offset "$W/p.h")" 1000000 "... its bytes are stored"
printf '' >"$W/empty"
tap_is "$(patch_at "$U" 1000000 "$W/empty" -H 'Upload-Length: 999999')" 400 "a length below the bytes stored: 400"
tap_is "$(patch_at "$U" 1000000 "$W/empty" -H 'Upload-Length: 8000001')" 413 "a length past max_file_size: 413"
tap_is "$(code_of "$W/p.b")" file_too_large "... file_too_large"
# dee holds nothing else: 12,000,001 bytes is past max_user_bytes.
tap_is "$(create -H 'Upload-Length: 5000001')" 201 "another upload of 5,000,001 bytes (max_user_bytes 12,000,000)"
tap_is "$(patch_at "$U" 1000000 "$W/empty" -H 'Upload-Length: 7000000')" 413 "a length that takes dee past max_user_bytes: 413"
tap_is "$(code_of "$W/p.b")" quota_exceeded "... quota_exceeded, when the length becomes known"
tap_is "$(patch_at "$U" 1000000 "$W/part2" -H 'Upload-Length: 3000000')" 204 "the last bytes with the length: 204"
tap_is "$(hval Upload-Offset "$W/p.h")" 3000000 "... the upload is complete"
get "$W/h" "$TOKEN" "$U" -I "${TR[@]}" >/dev/null
tap_is "$(hval Upload-Length "$W/h.h")|$(hval Upload-Defer-Length "$W/h.h")" "3000000|" "HEAD: Upload-Length 3000000"
tap_is "$(get "$W/d" "$TOKEN" "/api/v1/download/stream/${U##*/}")" 200 "the file downloads"
tap_ok "$(cmp -s "$W/d.b" "$W/all"; echo $?)" "... byte for byte"
tap_is "$(patch_at "$U" 3000000 "$W/empty" -H 'Upload-Length: 3000001')" 400 "another length afterwards: 400"
# The length told by an empty PATCH once every byte is in.
tap_is "$(create -H 'Upload-Defer-Length: 1')" 201 "another deferred creation"
U2=$(hval Location "$W/c.h")
tap_is "$(patch_at "$U2" 0 "$W/part1")" 204 "all its bytes, without the length"
tap_is "$(patch_at "$U2" 1000000 "$W/empty" -H 'Upload-Length: 1000000')" 204 "an empty PATCH with the length: 204"
get "$W/h" "$TOKEN" "$U2" -I "${TR[@]}" >/dev/null
tap_is "$(hval Upload-Offset "$W/h.h")/$(hval Upload-Length "$W/h.h")" 1000000/1000000 "... the upload completed"
tap_is "$(psql -XAtc "SELECT status || ' ' || size FROM batchup.files WHERE id = '${U2##*/}'")" "completed 1000000" \
    "... in the database too"
BID=$(psql -XAtc "SELECT batch_id FROM batchup.files WHERE id = '${U##*/}'")
META="filename $(printf x | base64),batch $(printf '%s' "$BID" | base64)"
tap_is "$(create -H 'Upload-Defer-Length: 1')" 400 \
    "a deferred creation that joins a batch: 400"
tap_is "$(code_of "$W/c.b")" defer_length_unsupported "... defer_length_unsupported"

node_tap 70 tests/node/tus-defer.mjs
tap_done
