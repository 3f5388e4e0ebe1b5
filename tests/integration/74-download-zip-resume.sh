#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The batch ZIP is resumable (issue 22, item 3), through the shipped nginx
# configuration: its layout is fixed in advance, so it carries a strong
# ETag and Accept-Ranges, serves one Range (206 with Content-Range, the
# very bytes of the whole archive there: across headers, data, the empty
# file, the central directory and the end record), honours If-Range (the
# ETag: 206; another tag or a date: the whole archive, 200), answers 416
# with "bytes */size" beyond its end, and a download cut midway and resumed
# with `curl -C -` gives a file byte-identical to one fetched whole, which
# unzip tests clean. The ETag is the same on every request and differs for
# another batch. nginx caps the downloads of one address (limit_conn).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
T=$STACK_DIR/t74
mkdir -p "$T"
ALICE=$(stack_user_add alice) || tap_bail "cannot add alice"

# upload_batch NAME:SIZE...: a batch of these files with random bytes (kept
# in $T/<name>); prints the batch's download link.
upload_batch() {
    local items= spec name size id i=0
    for spec in "$@"; do
        items="$items{\"name\":\"${spec%%:*}\",\"size\":${spec##*:}},"
    done
    batch_create "$ALICE" "{\"files\":[${items%,}]}" >"$T/batch.json"
    for spec in "$@"; do
        name=${spec%%:*} size=${spec##*:}
        id=$(jget "d['files'][$i]['id']" <"$T/batch.json")
        i=$((i + 1))
        [ "$size" = 0 ] && continue
        head -c "$size" /dev/urandom >"$T/$name"
        [ "$(patch "$ALICE" "/api/v1/files/$id" "$T/$name")" = 204 ] || return 1
    done
    curl -s -H "Authorization: Bearer $ALICE" \
        "$BATCHUP_URL/api/v1/batches/$(jget "d['id']" <"$T/batch.json")" | jget "d['download_url']"
}

LINK=$(upload_batch a.txt:1000 big.bin:3000000 empty.dat:0 c.bin:70000) || tap_bail "upload failed"
[ -n "$LINK" ] && [ "$LINK" != None ] || tap_bail "no batch link"

code=$(get "$T/whole" "" "$LINK")
TOTAL=$(stat -c %s "$T/whole.b")
ETAG=$(hval ETag "$T/whole.h")
tap_is "$code|$(hval Content-Length "$T/whole.h")" "200|$TOTAL" "the whole archive: 200 with its Content-Length ($TOTAL)"
tap_like "$ETAG" '^"[0-9a-f]{64}"$' "... a strong ETag ($ETAG)"
tap_is "$(hval Accept-Ranges "$T/whole.h")" bytes "... and Accept-Ranges: bytes"
unzip -tq "$T/whole.b" >/dev/null 2>&1
tap_ok $? "... which unzip tests clean"
get "$T/again" "" "$LINK" -I >/dev/null
tap_is "$(hval ETag "$T/again.h")|$(hval Content-Length "$T/again.h")" "$ETAG|$TOTAL" \
    "HEAD: the same ETag and length"

# Ranges around every boundary, each compared with the whole archive's bytes.
bad=
for r in 0-0 0-29 1-100 1040-1100 500000-2999999 2999990-3001100 $((TOTAL - 200))-$((TOTAL - 1)) \
    $((TOTAL - 22))- -50 $((TOTAL - 1))-$((TOTAL + 500)); do
    code=$(get "$T/r" "" "$LINK" -H "Range: bytes=$r")
    first=${r%-*} last=${r#*-}
    [ -z "$first" ] && first=$((TOTAL - last)) last=$((TOTAL - 1))
    [ -z "$last" ] || [ "$last" -ge "$TOTAL" ] && last=$((TOTAL - 1))
    want="206|bytes $first-$last/$TOTAL|$((last - first + 1))"
    gotcr="$code|$(hval Content-Range "$T/r.h")|$(hval Content-Length "$T/r.h")"
    if [ "$gotcr" != "$want" ] ||
        ! cmp -s "$T/r.b" <(tail -c +$((first + 1)) "$T/whole.b" | head -c $((last - first + 1))); then
        bad="$bad $r($gotcr)"
    fi
done
tap_is "$bad" "" "10 ranges (headers, data, the empty file, central directory, end record): 206, Content-Range, the whole archive's bytes"

code=$(get "$T/ir" "" "$LINK" -H "Range: bytes=100-199" -H "If-Range: $ETAG")
tap_is "$code|$(stat -c %s "$T/ir.b")" "206|100" "If-Range with the ETag: 206, the range"
code=$(get "$T/ir2" "" "$LINK" -H "Range: bytes=100-199" -H 'If-Range: "0000000000000000000000000000000000000000000000000000000000000000"')
tap_is "$code|$(stat -c %s "$T/ir2.b")" "200|$TOTAL" "If-Range with another ETag: 200, the whole archive"
code=$(get "$T/ir3" "" "$LINK" -H "Range: bytes=100-199" -H "If-Range: $(date -u -d '+1 day' '+%a, %d %b %Y %H:%M:%S GMT')")
tap_is "$code|$(stat -c %s "$T/ir3.b")" "200|$TOTAL" "If-Range with a date: 200, the whole archive (the ZIP has no Last-Modified)"
code=$(get "$T/bad" "" "$LINK" -H "Range: bytes=$TOTAL-")
tap_is "$code|$(hval Content-Range "$T/bad.h")" "416|bytes */$TOTAL" "a range beyond the end: 416, Content-Range: bytes */$TOTAL"

# A download cut midway (the reader vanished after 1,234,567 bytes), then
# resumed by curl -C - (Range: bytes=<what it has>-).
curl -s --max-time 30 "$BATCHUP_URL$LINK" | head -c 1234567 >"$T/cut.zip"
have=$(stat -c %s "$T/cut.zip")
tap_ok "$([ "$have" -gt 0 ] && [ "$have" -lt "$TOTAL" ]; echo $?)" "a download cut midway kept $have of $TOTAL bytes"
curl -s --max-time 30 -C - -o "$T/cut.zip" "$BATCHUP_URL$LINK"
tap_is "$?" 0 "curl -C - resumed it"
cmp -s "$T/cut.zip" "$T/whole.b"
tap_ok $? "... into a file byte-identical to the archive fetched whole"

# nginx's limit_conn: 8 readers of the link that take nothing hold 8 nginx
# connections (and their temporary files; batchup's workers are free); a
# ninth download from the same address gets nginx's 503 server_busy with
# Retry-After, and once they left, a download is served again.
# (A 12 MB archive: more than the kernel's socket buffers take, so nginx
# is still sending it.)
BIGLINK=$(upload_batch huge.bin:12000000) || tap_bail "upload failed"
python3 - "$WEB_PORT" "$BIGLINK" <<'PY' &
import socket, sys, time
held = []
for _ in range(8):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
    held.append(s)
    time.sleep(0.3)
time.sleep(4)
PY
holders=$!
sleep 3.5
code=$(get "$T/busy" "" "$BIGLINK")
tap_is "$code|$(hval Retry-After "$T/busy.h")|$(jget "d['error']['code']" <"$T/busy.b")" "503|10|server_busy" \
    "a ninth download from one address while 8 are held: nginx's 503 server_busy, Retry-After: 10"
wait "$holders"
code=$(get "$T/after" "" "$BIGLINK")
tap_is "$code|$(hval Content-Length "$T/after.h")" "200|$(stat -c %s "$T/after.b")" "once they left: 200 and the whole archive"

LINK2=$(upload_batch other.bin:5000) || tap_bail "upload failed"
get "$T/other" "" "$LINK2" -I >/dev/null
tap_ok "$([ -n "$(hval ETag "$T/other.h")" ] && [ "$(hval ETag "$T/other.h")" != "$ETAG" ]; echo $?)" \
    "another batch's archive has another ETag"

tap_done
