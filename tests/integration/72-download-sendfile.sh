#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Downloads with sendfile = x-accel-redirect, through the real nginx built
# from conf/nginx.conf: batchup checks the request and answers with
# X-Accel-Redirect: /_batchup_files/<path>; nginx sends the file itself from
# its internal location, doing Range and conditional requests.
#   - the owner's download: the uploaded bytes, Content-Length, the
#     Content-Type and Content-Disposition batchup chose, no X-Accel-Redirect
#     leaking to the client; and batchup itself sent no body (its log);
#   - Range through nginx: a-b, suffix, 416 with bytes */size; HEAD;
#   - If-Modified-Since and If-None-Match with batchup's ETag: 304;
#   - the internal location cannot be reached from outside: 404;
#   - another user's file, an unknown id: 404 (batchup still decides);
#   - a file through the batch link goes the same way; a 0-byte file and the
#     ZIP stream are sent by batchup itself.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

PY=$(stack__python)

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 sendfile=x-accel-redirect || tap_bail "the stack did not start"
W=$STACK_DIR/t72
mkdir -p "$W"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"
BOB=$(stack_user_add bob) || tap_bail "cannot add user bob"

head -c 2500000 /dev/urandom >"$W/a.bin"
SIZE=$(stat -c %s "$W/a.bin")
NAME='Отчёт "final"/v2.pdf'
body=$("$PY" -c 'import json, sys
print(json.dumps({"files": [{"name": sys.argv[1], "size": int(sys.argv[2]), "type": "application/pdf"},
                            {"name": "empty", "size": 0}]}))' "$NAME" "$SIZE")
resp=$(batch_create "$ALICE" "$body")
FID=$(printf '%s' "$resp" | jget 'd["files"][0]["id"]')
EID=$(printf '%s' "$resp" | jget 'd["files"][1]["id"]')
BID=$(printf '%s' "$resp" | jget 'd["id"]')
[ -n "$FID" ] || tap_bail "cannot create the batch: $resp"
tap_is "$(patch "$ALICE" "/api/v1/files/$FID" "$W/a.bin")" 204 "a 2.5 MB file is uploaded"
DL=/api/v1/download/stream/$FID
REL=files/${FID:0:2}/$FID
[ -f "$STACK_DIR/storage/$REL" ]
tap_ok $? "it is stored as storage/$REL"

# --- the whole file ----------------------------------------------------------

code=$(get "$W/full" "$ALICE" "$DL")
tap_is "$code" 200 "the owner's GET through X-Accel-Redirect: 200"
cmp -s "$W/full.b" "$W/a.bin"
tap_ok $? "the bytes nginx sent are the uploaded ones ($SIZE)"
tap_is "$(hval Content-Length "$W/full.h")" "$SIZE" "Content-Length is the size"
tap_is "$(hval Content-Type "$W/full.h")" application/pdf "nginx keeps batchup's Content-Type"
CD=$(hval Content-Disposition "$W/full.h")
tap_like "$CD" "^attachment; filename=\"[ -~]+\"; filename\\*=UTF-8''%D0%9E%D1%82%D1%87%D1%91%D1%82%20%22final%22_v2\\.pdf$" \
    "nginx keeps batchup's Content-Disposition (ASCII fallback and UTF-8 name)"
tap_is "$(hval X-Accel-Redirect "$W/full.h")" "" "X-Accel-Redirect does not reach the client"
tap_is "$(hval Accept-Ranges "$W/full.h")" bytes "Accept-Ranges: bytes"
ETAG=$(hval ETag "$W/full.h")
LM=$(hval Last-Modified "$W/full.h")
tap_is "$ETAG" "\"$(sha256sum "$W/a.bin" | cut -d' ' -f1)\"" \
    "the ETag is batchup's (the SHA-256), as without sendfile"
tap_like "$LM" ' GMT$' "Last-Modified is sent ($LM)"
sleep 0.2
line=$(grep -F "request \"GET\" \"$DL\" " "$STACK_DIR/batchup.log" | tail -n 1)
tap_like "$line" ' 200 0 0 ' "batchup sent no body itself (its log: 0 bytes out)"
grep -q "\"GET $DL HTTP/1.1\" 200 $SIZE " "$STACK_DIR/nginx/access.log"
tap_ok $? "nginx's access log shows it sent the $SIZE bytes"

# --- ranges and conditions, done by nginx ----------------------------------

code=$(get "$W/r" "$ALICE" "$DL" -H 'Range: bytes=1000000-1999999')
tap_is "$code" 206 "Range a-b through X-Accel-Redirect: 206"
tap_is "$(hval Content-Range "$W/r.h")" "bytes 1000000-1999999/$SIZE" "... Content-Range bytes 1000000-1999999/$SIZE"
tail -c +1000001 "$W/a.bin" | head -c 1000000 >"$W/want"
cmp -s "$W/r.b" "$W/want"
tap_ok $? "... exactly those bytes"
code=$(get "$W/r" "$ALICE" "$DL" -H 'Range: bytes=-777')
tail -c 777 "$W/a.bin" >"$W/want"
tap_is "$code:$(hval Content-Range "$W/r.h")" "206:bytes $((SIZE - 777))-$((SIZE - 1))/$SIZE" "a suffix Range: 206 with its Content-Range"
cmp -s "$W/r.b" "$W/want"
tap_ok $? "... the last 777 bytes"
code=$(get "$W/r" "$ALICE" "$DL" -H 'Range: bytes=2400000-')
tap_is "$code:$(stat -c %s "$W/r.b")" "206:$((SIZE - 2400000))" "an open Range a-: 206, to the end"
code=$(get "$W/r" "$ALICE" "$DL" -H "Range: bytes=$SIZE-")
tap_is "$code" 416 "an unsatisfiable Range: 416"
tap_is "$(hval Content-Range "$W/r.h")" "bytes */$SIZE" "... Content-Range bytes */$SIZE"
code=$(get "$W/h" "$ALICE" "$DL" -I)
tap_is "$code:$(hval Content-Length "$W/h.h")" "200:$SIZE" "HEAD: 200 with Content-Length"
code=$(get "$W/c" "$ALICE" "$DL" -H "If-Modified-Since: $LM")
tap_is "$code" 304 "If-Modified-Since with Last-Modified: 304 (nginx)"
code=$(get "$W/c" "$ALICE" "$DL" -H "If-None-Match: $ETAG")
tap_is "$code" 304 "If-None-Match with that ETag: 304 (batchup, before redirecting)"
code=$(get "$W/c" "$ALICE" "$DL" -H 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT')
tap_is "$code:$(stat -c %s "$W/c.b")" "200:$SIZE" "If-Modified-Since in 2001: the whole file"

# --- what stays closed -----------------------------------------------------

code=$(get "$W/x" "" "/_batchup_files/$REL")
tap_is "$code" 404 "GET /_batchup_files/$REL from outside: 404 (internal location)"
[ ! -s "$W/x.b" ] || ! cmp -s "$W/x.b" "$W/a.bin"
tap_ok $? "... and none of the file's bytes"
code=$(get "$W/x" "$ALICE" "/_batchup_files/$REL" -H 'Range: bytes=0-9')
tap_is "$code" 404 "the same with credentials and a Range: 404"
code=$(get "$W/x" "" "/_batchup_files/")
tap_is "$code" 404 "GET /_batchup_files/ (a listing): 404"
code=$(get "$W/x" "$BOB" "$DL")
tap_is "$code" 404 "bob asks for alice's file: 404, no redirect"
tap_is "$(hval X-Accel-Redirect "$W/x.h")" "" "... and no X-Accel-Redirect"
code=$(get "$W/x" "" "$DL")
tap_is "$code" 401 "no credentials: 401"
code=$(get "$W/x" "$ALICE" "/api/v1/download/stream/00000000-0000-4000-8000-000000000000")
tap_is "$code" 404 "an unknown file: 404"

# --- the 0-byte file, the link, the ZIP --------------------------------------

code=$(get "$W/e" "$ALICE" "/api/v1/download/stream/$EID")
tap_is "$code:$(hval Content-Length "$W/e.h"):$(stat -c %s "$W/e.b" 2>/dev/null || echo 0)" "200:0:0" \
    "the 0-byte file: 200, Content-Length 0 (sent by batchup)"
state=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")
ZURL=$(printf '%s' "$state" | jget 'd["download_url"]')
code=$(get "$W/l" "" "$ZURL/files/$FID")
cmp -s "$W/l.b" "$W/a.bin" && [ "$code" = 200 ]
tap_ok $? "the file through the batch link (X-Accel-Redirect): 200 and the bytes"
code=$(get "$W/l" "" "$ZURL/files/$FID" -H 'Range: bytes=5-14')
tail -c +6 "$W/a.bin" | head -c 10 >"$W/want"
cmp -s "$W/l.b" "$W/want" && [ "$code" = 206 ]
tap_ok $? "... and with a Range: 206 and those bytes"
code=$(get "$W/z" "" "$ZURL")
tap_is "$code:$(hval Content-Length "$W/z.h")" "200:$(stat -c %s "$W/z.b")" "the ZIP is still streamed by batchup: 200, Content-Length = bytes"
mkdir -p "$W/unz"
(cd "$W/unz" && unzip -q "$W/z.b" 2>/dev/null)
cmp -s "$W/unz/Отчёт _final__v2.pdf" "$W/a.bin" && [ -f "$W/unz/empty" ] && [ ! -s "$W/unz/empty" ]
tap_ok $? "... and its entries are the uploaded files"

tap_done
