#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# One rule per name, whichever way it enters: a file name or a media type
# sent through the batches API (POST /api/v1/batches) and through tus
# creation (POST /api/v1/files with Upload-Metadata) gets the same answer.
# Before batchup checked both with check_file_name, a 1,500-byte name given
# through tus creation was silently stored as "file" while the batches API
# refused it.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add namer) || tap_bail "cannot add a user"
T=$STACK_DIR/t63
mkdir -p "$T"

b64() { printf '%s' "$1" | base64 -w0; }

# via_batches NAME [TYPE]: "status code" of a batch holding that one file.
via_batches() {
    local body
    body=$(jq -cn --arg n "$1" --arg t "${2:-}" \
        '{files: [{name: $n, size: 3} + (if $t == "" then {} else {type: $t} end)]}')
    curl -s -o "$T/b.json" -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data-binary "$body" "$BATCHUP_URL/api/v1/batches"
    printf ' %s' "$(jq -r '.error.code // "created"' "$T/b.json")"
}

# via_tus NAME [TYPE]: "status code" of a tus creation with that metadata.
via_tus() {
    local meta
    meta="filename $(b64 "$1")"
    [ -n "${2:-}" ] && meta="$meta,filetype $(b64 "$2")"
    curl -s -o "$T/t.json" -D "$T/t.h" -w '%{http_code}' --max-time 30 -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 3' \
        -H "Upload-Metadata: $meta" "$BATCHUP_URL/api/v1/files"
    if [ -s "$T/t.json" ]; then
        printf ' %s' "$(jq -r '.error.code // "?"' "$T/t.json")"
    else
        printf ' created'
    fi
}

# same WHAT NAME TYPE EXPECTED: both ways answer EXPECTED ("status code").
same() {
    local a b
    a=$(via_batches "$2" "$3")
    b=$(via_tus "$2" "$3")
    tap_is "$a" "$4" "$1 through the batches API: $4"
    tap_is "$b" "$4" "$1 through tus creation: $4"
}

long1500=$(head -c 1500 /dev/zero | tr '\0' 'n')
long1024=$(head -c 1024 /dev/zero | tr '\0' 'n')
# 341 three-byte characters: 1,023 bytes of UTF-8.
wide=$(for _ in $(seq 341); do printf '\xe2\x82\xac'; done)

same "a 1500-byte name" "$long1500" "" "400 bad_name"
same "a 1024-byte name" "$long1024" "" "201 created"
same "a name of 1023 bytes in 3-byte characters" "$wide" "" "201 created"
same "a name with a tab" "$(printf 'a\tb')" "" "400 bad_name"
same "a name with DEL" "$(printf 'a\x7fb')" "" "400 bad_name"
same "a 256-byte media type" "a.bin" "$(head -c 256 /dev/zero | tr '\0' 't')" "400 bad_type"
same "a media type with a control character" "a.bin" "$(printf 'text/\x01plain')" "400 bad_type"
same "a plain name and type" "report.pdf" "application/pdf" "201 created"

# What was stored for the long names is the name itself, never a stand-in.
stored=$(psql -XAtq -c "SELECT count(*) FROM batchup.files WHERE name = 'file'")
tap_is "$stored" 0 "no upload was stored under the stand-in name 'file'"
stored=$(psql -XAtq -c "SELECT count(*) FROM batchup.files WHERE octet_length(name) = 1024")
tap_is "$stored" 2 "the 1024-byte name was stored as sent, once each way"

tap_done
