#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The owner's download of one file, GET /api/v1/download/stream/<file id>,
# through nginx (sendfile off: batchup sends the bytes itself):
#   - the bytes are those uploaded; Content-Length, a strong ETag that is the
#     SHA-256, Last-Modified, Accept-Ranges;
#   - conditional requests: If-None-Match (strong and weak forms, lists, *)
#     and If-Modified-Since give 304; a different tag or an older date 200;
#   - one Range (a-b, a-, -n, clipped end) gives 206 with Content-Range and
#     exactly those bytes; an unsatisfiable one 416 with `bytes */size`;
#     If-Range with the ETag keeps the range, another tag gives the whole file;
#   - Content-Disposition for a name with quotes, a slash and accents carries
#     a plain ASCII fallback and the exact name in filename*=UTF-8''...;
#   - HEAD gives the headers without a body; a 0-byte file downloads empty;
#   - another user's file, a file not yet completed, an unknown id: 404;
#     no credentials: 401.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

PY=$(stack__python)

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t70
mkdir -p "$W"

ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"
BOB=$(stack_user_add bob) || tap_bail "cannot add user bob"

# --- the files -------------------------------------------------------------

# A file longer than batchup's 1 MiB stream buffer, of an odd size.
head -c 1048909 /dev/urandom >"$W/a.bin"
SIZE=$(stat -c %s "$W/a.bin")
SHA=$(sha256sum "$W/a.bin" | cut -d' ' -f1)
head -c 4000 /dev/urandom >"$W/half.bin"
head -c 2000 "$W/half.bin" >"$W/half-1.bin"
NAME='"ünï/cödé".txt'

body=$("$PY" -c 'import json, sys
print(json.dumps({"files": [
    {"name": sys.argv[1], "size": int(sys.argv[2]), "type": "text/plain"},
    {"name": "empty.dat", "size": 0},
    {"name": "half.bin", "size": 4000}]}))' "$NAME" "$SIZE")
resp=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    -d "$body" -w '\n%{http_code}' "$BATCHUP_URL/api/v1/batches")
code=$(printf '%s' "$resp" | tail -n 1)
resp=$(printf '%s' "$resp" | sed '$d')
tap_is "$code" 201 "alice creates a batch of three files"
[ "$code" = 201 ] || tap_bail "cannot create the batch: $resp"
FID=$(printf '%s' "$resp" | jget 'd["files"][0]["id"]')
EID=$(printf '%s' "$resp" | jget 'd["files"][1]["id"]')
HID=$(printf '%s' "$resp" | jget 'd["files"][2]["id"]')
tap_is "$(patch "$ALICE" "/api/v1/files/$FID" "$W/a.bin")" 204 "the 1 MiB file is uploaded in one PATCH"
tap_is "$(patch "$ALICE" "/api/v1/files/$HID" "$W/half-1.bin")" 204 "half of the third file is uploaded"
state=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$(printf '%s' "$resp" | jget 'd["id"]')")
tap_is "$(printf '%s' "$state" | jget '[f["status"] for f in d["files"]]')" \
    '["completed", "completed", "uploading"]' "file statuses: completed, completed (0 bytes), uploading"
DL=$(printf '%s' "$state" | jget 'd["files"][0]["download_url"]')
tap_is "$DL" "/api/v1/download/stream/$FID" "the completed file's download_url is the stream URL"

# --- the whole file --------------------------------------------------------

code=$(get "$W/full" "$ALICE" "$DL")
tap_is "$code" 200 "GET stream: 200"
cmp -s "$W/full.b" "$W/a.bin"
tap_ok $? "the downloaded bytes are identical to the uploaded ones ($SIZE bytes)"
tap_is "$(hval Content-Length "$W/full.h")" "$SIZE" "Content-Length is the size"
ETAG=$(hval ETag "$W/full.h")
tap_is "$ETAG" "\"$SHA\"" "ETag is the strong tag \"<sha256 of the bytes>\""
tap_is "$(hval Accept-Ranges "$W/full.h")" bytes "Accept-Ranges: bytes"
tap_is "$(hval Content-Type "$W/full.h")" text/plain "Content-Type is the declared type"
LM=$(hval Last-Modified "$W/full.h")
tap_like "$LM" '^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$' \
    "Last-Modified is an IMF-fixdate"
lm_epoch=$(date -u -d "$LM" +%s 2>/dev/null || echo 0)
done_epoch=$(psql -XAtq -c "SELECT floor(extract(epoch FROM completed_at))::bigint FROM batchup.files WHERE id = '$FID'")
tap_is "$lm_epoch" "$done_epoch" "Last-Modified is the completion time, whole seconds cut off, never rounded up ($LM)"
date_epoch=$(date -u -d "$(hval Date "$W/full.h")" +%s 2>/dev/null || echo 0)
[ "$lm_epoch" -le "$date_epoch" ]
tap_ok $? "Last-Modified is not later than the response's Date (RFC 9110 8.8.2.1)"
now=$(date -u +%s)

# --- Content-Disposition ---------------------------------------------------

CD=$(hval Content-Disposition "$W/full.h")
tap_diag "Content-Disposition: $CD"
"$PY" - "$CD" "$NAME" <<'PY'
import re, sys, urllib.parse
cd, name = sys.argv[1], sys.argv[2]
m = re.fullmatch(r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'([A-Za-z0-9!#$&+\-.^_`|~%]*)', cd)
if not m:
    sys.exit("Content-Disposition does not have the form attachment; filename=\"...\"; filename*=UTF-8''...")
fallback, star = m.group(1), m.group(2)
if not all(0x20 <= ord(c) < 0x7f for c in fallback) or "/" in fallback or "\\" in fallback:
    sys.exit("the fallback is not plain ASCII without separators: %r" % fallback)
if not fallback.endswith(".txt"):
    sys.exit("the fallback lost the extension: %r" % fallback)
decoded = urllib.parse.unquote(star, encoding="utf-8", errors="strict")
# The slash, a path separator, cannot be part of a file name: '_' stands for it.
if decoded != name.replace("/", "_"):
    sys.exit("filename* decodes to %r, not %r" % (decoded, name.replace("/", "_")))
PY
tap_ok $? "Content-Disposition: ASCII fallback without quote or slash, and filename*=UTF-8'' giving the exact name (slash as _)"

# --- HEAD --------------------------------------------------------------------

code=$(get "$W/head" "$ALICE" "$DL" -I)
tap_is "$code" 200 "HEAD: 200"
sleep 0.2
head_line=$(grep "request \"HEAD\" \"/api/v1/download/stream/$FID\" " "$STACK_DIR/batchup.log" | tail -n 1)
tap_like "$head_line" ' 200 0 0 ' "HEAD: batchup logs 200 with 0 bytes sent (no body)"
tap_is "$(hval Content-Length "$W/head.h")" "$SIZE" "HEAD: Content-Length is the size"
tap_is "$(hval ETag "$W/head.h")" "$ETAG" "HEAD: the same ETag"
tap_is "$(hval Last-Modified "$W/head.h")" "$LM" "HEAD: the same Last-Modified"

# --- conditional requests ----------------------------------------------------

code=$(get "$W/c1" "$ALICE" "$DL" -H "If-None-Match: $ETAG")
tap_is "$code" 304 "If-None-Match with the ETag: 304"
[ ! -s "$W/c1.b" ]
tap_ok $? "304 has no body"
tap_is "$(hval ETag "$W/c1.h")" "$ETAG" "304 repeats the ETag"
code=$(get "$W/c2" "$ALICE" "$DL" -H "If-None-Match: \"0000\", W/$ETAG")
tap_is "$code" 304 "If-None-Match with a list holding the weak form of the ETag: 304 (weak comparison)"
code=$(get "$W/c3" "$ALICE" "$DL" -H 'If-None-Match: *')
tap_is "$code" 304 "If-None-Match: * on an existing file: 304"
code=$(get "$W/c4" "$ALICE" "$DL" -H "If-None-Match: \"$(printf '%064d' 0)\"")
tap_is "$code" 200 "If-None-Match with another tag: 200"
cmp -s "$W/c4.b" "$W/a.bin"
tap_ok $? "... with the whole file"
code=$(get "$W/c5" "$ALICE" "$DL" -H "If-Modified-Since: $LM")
tap_is "$code" 304 "If-Modified-Since equal to Last-Modified: 304"
code=$(get "$W/c6" "$ALICE" "$DL" -H "If-Modified-Since: $(date -u -d @$((now + 3600)) '+%a, %d %b %Y %H:%M:%S GMT')")
tap_is "$code" 304 "If-Modified-Since an hour later: 304"
code=$(get "$W/c7" "$ALICE" "$DL" -H 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT')
tap_is "$code" 200 "If-Modified-Since in 2001: 200"
cmp -s "$W/c7.b" "$W/a.bin"
tap_ok $? "... with the whole file"
code=$(get "$W/c8" "$ALICE" "$DL" -H "If-None-Match: \"$(printf '%064d' 0)\"" -H "If-Modified-Since: $LM")
tap_is "$code" 200 "If-None-Match not matching wins over a matching If-Modified-Since: 200"
code=$(get "$W/c9" "$ALICE" "$DL" -H 'If-Modified-Since: yesterday')
tap_is "$code" 200 "a malformed If-Modified-Since is ignored: 200"

# --- ranges ----------------------------------------------------------------

# range_check LABEL RANGE FIRST LAST: 206, Content-Range, Content-Length, bytes.
range_check() {
    local label=$1 range=$2 first=$3 last=$4 code
    code=$(get "$W/r" "$ALICE" "$DL" -H "Range: $range")
    tap_is "$code" 206 "Range $range ($label): 206"
    tap_is "$(hval Content-Range "$W/r.h")" "bytes $first-$last/$SIZE" "Range $range: Content-Range bytes $first-$last/$SIZE"
    tap_is "$(hval Content-Length "$W/r.h")" "$((last - first + 1))" "Range $range: Content-Length $((last - first + 1))"
    tail -c +"$((first + 1))" "$W/a.bin" | head -c "$((last - first + 1))" >"$W/r.want"
    cmp -s "$W/r.b" "$W/r.want"
    tap_ok $? "Range $range: exactly those bytes"
}
range_check "a-b" "bytes=0-99" 0 99
range_check "a-b across buffers" "bytes=262100-600000" 262100 600000
range_check "a-" "bytes=1000000-" 1000000 $((SIZE - 1))
range_check "suffix" "bytes=-500" $((SIZE - 500)) $((SIZE - 1))
range_check "suffix longer than the file" "bytes=-99999999" 0 $((SIZE - 1))
range_check "end past the size, clipped" "bytes=$((SIZE - 10))-99999999" $((SIZE - 10)) $((SIZE - 1))
range_check "last byte" "bytes=$((SIZE - 1))-$((SIZE - 1))" $((SIZE - 1)) $((SIZE - 1))

for r in "bytes=$SIZE-" "bytes=99999999-" "bytes=-0"; do
    code=$(get "$W/u" "$ALICE" "$DL" -H "Range: $r")
    tap_is "$code" 416 "Range $r: 416"
    tap_is "$(hval Content-Range "$W/u.h")" "bytes */$SIZE" "Range $r: Content-Range bytes */$SIZE"
done

code=$(get "$W/m" "$ALICE" "$DL" -H 'Range: bytes=0-1,5-6')
tap_is "$code" 200 "two ranges: the whole file with 200 (multipart is not offered)"
cmp -s "$W/m.b" "$W/a.bin"
tap_ok $? "... and its bytes are the whole file"
code=$(get "$W/m" "$ALICE" "$DL" -H 'Range: items=0-1')
tap_is "$code" 200 "another range unit: 200"

code=$(get "$W/ir" "$ALICE" "$DL" -H 'Range: bytes=10-19' -H "If-Range: $ETAG")
tap_is "$code" 206 "If-Range with the ETag: the range (206)"
code=$(get "$W/ir" "$ALICE" "$DL" -H 'Range: bytes=10-19' -H "If-Range: \"$(printf '%064d' 0)\"")
tap_is "$code" 200 "If-Range with another tag: the whole file (200)"
tap_is "$(stat -c %s "$W/ir.b")" "$SIZE" "... of $SIZE bytes"
code=$(get "$W/ir" "$ALICE" "$DL" -H 'Range: bytes=10-19' -H "If-Range: $LM")
tap_is "$code" 206 "If-Range with Last-Modified: the range (206)"

code=$(get "$W/hr" "$ALICE" "$DL" -I -H 'Range: bytes=-500')
tap_is "$code" 206 "HEAD with a Range: 206"
tap_is "$(hval Content-Range "$W/hr.h")" "bytes $((SIZE - 500))-$((SIZE - 1))/$SIZE" "HEAD with a Range: its Content-Range"

# --- the empty file ----------------------------------------------------------

code=$(get "$W/e" "$ALICE" "/api/v1/download/stream/$EID")
tap_is "$code" 200 "the 0-byte file: 200"
tap_is "$(hval Content-Length "$W/e.h"):$(stat -c %s "$W/e.b")" "0:0" "the 0-byte file: Content-Length 0 and no bytes"
tap_is "$(hval ETag "$W/e.h")" '"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"' \
    "the 0-byte file: ETag is the SHA-256 of nothing"

# --- who may download what -------------------------------------------------

code=$(get "$W/x" "$BOB" "$DL")
tap_is "$code" 404 "bob asks for alice's file: 404"
tap_like "$(cat "$W/x.b")" '"not_found"' "... with the JSON error not_found"
code=$(get "$W/x" "$BOB" "$DL" -I)
tap_is "$code" 404 "bob's HEAD of alice's file: 404"
code=$(get "$W/x" "" "$DL")
tap_is "$code" 401 "no credentials: 401"
code=$(get "$W/x" "not-a-valid-token-at-all" "$DL")
tap_is "$code" 401 "a wrong token: 401"
code=$(get "$W/x" "$ALICE" "/api/v1/download/stream/$HID")
tap_is "$code" 404 "alice's file still uploading (2000 of 4000 bytes): 404"
code=$(get "$W/x" "$ALICE" "/api/v1/download/stream/$HID" -H 'Range: bytes=0-9')
tap_is "$code" 404 "... also with a Range inside what was stored"
code=$(get "$W/x" "$ALICE" "/api/v1/download/stream/00000000-0000-4000-8000-000000000000")
tap_is "$code" 404 "an unknown file id: 404"
code=$(get "$W/x" "$ALICE" "/api/v1/download/stream/not-a-uuid")
tap_is "$code" 404 "a malformed file id: 404"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" "$BATCHUP_URL$DL")
tap_is "$code" 405 "DELETE on a download: 405"

# The third file, once completed, downloads too.
tail -c +2001 "$W/half.bin" >"$W/half-2.bin"
tap_is "$(patch "$ALICE" "/api/v1/files/$HID" "$W/half-2.bin" 2000)" 204 "the third file's second half is uploaded"
code=$(get "$W/h2" "$ALICE" "/api/v1/download/stream/$HID")
tap_is "$code" 200 "the third file, now completed: 200"
cmp -s "$W/h2.b" "$W/half.bin"
tap_ok $? "... with the bytes of both halves"

tap_done
