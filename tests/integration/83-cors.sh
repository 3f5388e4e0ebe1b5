#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Any origin (issue 23): with cors_origins, a page of another origin may
# use the API. With curl through nginx: a preflight (OPTIONS with
# Access-Control-Request-Method) is answered 204 with exactly the methods,
# request headers and Max-Age of docs/api.md, and told apart from tus's
# capability OPTIONS (which still answers with Tus-Version); actual
# responses, errors included (401, 404, 409, 423), carry the allowed origin,
# Vary: Origin and the exposed headers a tus client reads; an origin not
# listed, one that merely starts or ends like a listed one, or a different
# scheme or port, gets no CORS header at all.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

OK1=https://www.example.com
OK2=http://127.0.0.1:5173
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 queue_retry_seconds=1 "cors_origins=$OK1, $OK2" || tap_bail "the stack did not start"
W=$STACK_DIR/t83
mkdir -p "$W"
ANN=$(stack_user_add ann --limit 1) || tap_bail "cannot add ann"

METHODS='POST, GET, HEAD, PATCH, DELETE, OPTIONS'
REQ='Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, Upload-Defer-Length, Upload-Concat, X-Requested-With, Prefer'
EXPOSE='Upload-Offset, Upload-Length, Location, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm, Upload-Metadata, Upload-Expires, Upload-Defer-Length, Upload-Concat, Upload-Queue-Position, Retry-After, Batchup-Max-Chunk-Size'

# req OUT ORIGIN METHOD PATH [curl args]: headers to OUT.h; prints the status.
req() {
    local out=$1 origin=$2 method=$3 path=$4
    shift 4
    curl -s --max-time 10 -o "$out.b" -D "$out.h" -w '%{http_code}' -X "$method" \
        ${origin:+-H "Origin: $origin"} "$@" "$BATCHUP_URL$path"
}
cors_count() { tr -d '\r' <"$1" | grep -ci '^access-control-'; }

# --- preflight ----------------------------------------------------------
tap_is "$(req "$W/p" "$OK1" OPTIONS /api/v1/files -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: authorization,tus-resumable,upload-length,upload-metadata')" 204 \
    "a preflight from a listed origin: 204"
tap_is "$(hval Access-Control-Allow-Origin "$W/p.h")" "$OK1" "... Allow-Origin is the request's origin"
tap_is "$(hval Vary "$W/p.h")" Origin "... with Vary: Origin"
tap_is "$(hval Access-Control-Allow-Methods "$W/p.h")" "$METHODS" "... Allow-Methods"
tap_is "$(hval Access-Control-Allow-Headers "$W/p.h")" "$REQ" "... Allow-Headers"
tap_is "$(hval Access-Control-Max-Age "$W/p.h")" 86400 "... Max-Age"
tap_is "$(hval Tus-Version "$W/p.h")" "" "... and is not tus's capability answer"
tap_is "$(req "$W/p2" "$OK2" OPTIONS /api/v1/batches -H 'Access-Control-Request-Method: POST')" 204 \
    "a preflight for the batches API from the second listed origin: 204"
tap_is "$(hval Access-Control-Allow-Origin "$W/p2.h")" "$OK2" "... for that origin"
tap_is "$(req "$W/o" "$OK1" OPTIONS /api/v1/files)" 204 "OPTIONS without Access-Control-Request-Method: tus's"
tap_is "$(hval Tus-Version "$W/o.h")" 1.0.0 "... Tus-Version"
tap_is "$(hval Access-Control-Allow-Origin "$W/o.h")" "$OK1" "... with the CORS headers too"

# --- actual responses --------------------------------------------------
tap_is "$(req "$W/c" "$OK1" POST /api/v1/files -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' \
    -H 'Upload-Length: 5')" 201 "a tus creation from the listed origin: 201"
LOC=$(hval Location "$W/c.h")
tap_is "$(hval Access-Control-Allow-Origin "$W/c.h")" "$OK1" "... Allow-Origin"
tap_is "$(hval Access-Control-Expose-Headers "$W/c.h")" "$EXPOSE" "... Expose-Headers (Location, Upload-Offset, ...)"
tap_is "$(hval Vary "$W/c.h")" Origin "... Vary: Origin"
tap_is "$(req "$W/e" "$OK1" POST /api/v1/files -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 5')" 401 \
    "an error (401, no token) ..."
tap_is "$(hval Access-Control-Allow-Origin "$W/e.h") $(hval Access-Control-Expose-Headers "$W/e.h" | wc -c)" \
    "$OK1 $((${#EXPOSE} + 1))" "... carries the CORS headers, so the browser sees the status"
tap_is "$(req "$W/n" "$OK1" GET /api/v1/nowhere)" 404 "a 404 ..."
tap_is "$(hval Access-Control-Allow-Origin "$W/n.h")" "$OK1" "... carries them too"
printf 'hello' >"$W/h"
tap_is "$(req "$W/x" "$OK2" PATCH "$LOC" -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' \
    -H 'Upload-Offset: 1' -H 'Content-Type: application/offset+octet-stream' --data-binary "@$W/h")" 409 \
    "a 409 offset mismatch ..."
tap_is "$(hval Access-Control-Allow-Origin "$W/x.h") $(hval Upload-Offset "$W/x.h")" "$OK2 0" \
    "... carries Allow-Origin and the Upload-Offset it exposes"
# ann's limit is 1: a second upload waits (423) while a first holds the slot.
req "$W/c2" "$OK1" POST /api/v1/files -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 5' >/dev/null
LOC2=$(hval Location "$W/c2.h")
head -c 4 "$W/h" >"$W/h4"
req "$W/x1" "$OK1" PATCH "$LOC" -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' \
    -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' --data-binary "@$W/h4" >/dev/null
tap_is "$(req "$W/q" "$OK1" PATCH "$LOC2" -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' \
    -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' --data-binary "@$W/h")" 423 \
    "a queued upload: 423 ..."
tap_like "$(hval Access-Control-Allow-Origin "$W/q.h") $(hval Retry-After "$W/q.h") $(hval Upload-Queue-Position "$W/q.h")" \
    "^$OK1 [0-9]+ 1\$" "... with Allow-Origin, Retry-After and Upload-Queue-Position"

# --- origins not listed ------------------------------------------------
for bad in https://www.example.com.evil.net https://evil.net/https://www.example.com http://www.example.com \
    https://www.example.com:443 https://WWW.EXAMPLE.COM https://www.example.co http://127.0.0.1:51730 null; do
    code=$(req "$W/b" "$bad" OPTIONS /api/v1/batches -H 'Access-Control-Request-Method: POST')
    req "$W/g" "$bad" GET /api/v1/health >/dev/null
    echo "$bad $code $(cors_count "$W/b.h") $(cors_count "$W/g.h")"
done >"$W/bad"
tap_is "$(awk '$2 != 405 || $3 != 0 || $4 != 0' "$W/bad")" "" \
    "origins not listed exactly (a longer host, another scheme or port, upper case, null) get no CORS header, and no preflight"
tap_is "$(req "$W/none" "" GET /api/v1/health) $(cors_count "$W/none.h") $(hval Vary "$W/none.h")" "200 0 Origin" \
    "no Origin: no CORS header, still Vary: Origin"
tap_done
