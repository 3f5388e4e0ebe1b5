#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# One file sent in PATCHes of awkward sizes, each starting where the last
# one ended: 1 byte, one short of a 4 KiB block, a block, one past it, an
# odd 100,003, 256 KiB and one past it, the stream buffer (1 MiB) and one
# past it, the rest. The byte path writes whole 4 KiB blocks with O_DIRECT and the
# unaligned head and tail of each request through the page cache, so these
# sizes walk every split of a request (no block, head only, head + blocks,
# blocks + tail, a full buffer and one byte more). After every PATCH: 204
# with the new Upload-Offset, and the partial file holds exactly the
# source's first bytes; at the end the download is byte-identical.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start || tap_bail "the stack did not start"
TOKEN=$(stack_user_add olga) || tap_bail "cannot add a user"
T=$STACK_DIR/t59
mkdir -p "$T"
chunks=(1 4095 4096 4097 100003 262144 262145 1048576 1048577)
size=$((3 * 1048576 + 12345))
head -c "$size" /dev/urandom >"$T/src"
id=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "{\"files\":[{\"name\":\"odd.bin\",\"size\":$size,\"sha256\":\"$(sha256sum <"$T/src" | cut -d' ' -f1)\"}]}" \
    "$BATCHUP_URL/api/v1/batches" | jq -r '.files[0].id')
tap_like "$id" '^[0-9a-f-]{36}$' "a batch of one file of $size bytes"
off=0
sent=0
bad=
for n in "${chunks[@]}" rest; do
    [ "$n" = rest ] && n=$((size - off))
    tail -c +"$((off + 1))" "$T/src" | head -c "$n" >"$T/chunk"
    code=$(curl -s --max-time 60 -o /dev/null -D "$T/h" -w '%{http_code}' -X PATCH \
        -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" \
        -H 'Content-Type: application/offset+octet-stream' --data-binary @"$T/chunk" \
        "$BATCHUP_URL/api/v1/files/$id")
    off=$((off + n))
    sent=$((sent + 1))
    got=$(hval Upload-Offset "$T/h")
    if [ "$code|$got" != "204|$off" ]; then
        bad="$bad PATCH of $n bytes: $code, offset ${got:-none} (expected $off);"
        break
    fi
    if [ "$off" -lt "$size" ] &&
        ! cmp -s -n "$off" "$STACK_DIR/storage/partial/$id" "$T/src"; then
        bad="$bad after $off bytes the partial file differs from the source;"
    fi
done
tap_is "${bad:-none}" none "$sent PATCHes of 1, 4095, 4096, 4097, 100003, 262144, 262145, 1048576, 1048577 and the rest: each 204 with its offset, the partial file the source's first bytes"
tap_is "$(psql -XAtq -c "SELECT status || ' ' || upload_offset FROM batchup.files WHERE id = '$id'")" "completed $size" \
    "the file is completed at its size"
code=$(get "$T/dl" "$TOKEN" "/api/v1/download/stream/$id")
tap_is "$code|$(sha256sum <"$T/dl.b" | cut -d' ' -f1)" "200|$(sha256sum <"$T/src" | cut -d' ' -f1)" \
    "the download is byte-identical"
tap_done
