#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# web-e2e.sh WEB: the end-to-end suite behind one web server, run by the
# tests/integration/9x-web-*.sh wrappers (one per STACK_WEB), each through the
# configuration built from the shipped file in conf/:
#   - the stock tus-js-client uploads a batch of 8 files for a user whose
#     limit is 5 (tests/node/tus-web.mjs): 423s seen, queue positions, the
#     limit reached and never passed, the batch link issued exactly once,
#     every file byte-identical;
#   - whether a queued file's 423 arrives before its body is sent (a raw
#     request that sends 64 KiB of a 2 MB body and waits), as the server's
#     configuration says;
#   - a chunked PATCH (curl -H 'Transfer-Encoding: chunked');
#   - resume after a cut connection: curl killed mid-PATCH, HEAD, the rest
#     sent from that offset, the stored file byte-identical;
#   - the batch ZIP (unzip -t, every entry byte-identical), a ranged file
#     download (206), and the access log holding no download-link token;
#   - the sendfile mode the server supports (x-accel-redirect for nginx,
#     x-sendfile for Apache and lighttpd): bytes, Range, batchup's ETag, and
#     batchup itself sending no body.
# Where a server cannot do something its expected behaviour is checked
# instead (see `expect` below and the README's table).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

export STACK_WEB=${1:?usage: tests/lib/web-e2e.sh nginx|apache|apache-fcgid|apache-htaccess|lighttpd|lighttpd-spawn}
PY=$(stack__python)

# What this server does (what the configuration's comments and the README
# say), and the sizes its limits allow.
CHUNK=$((256 * 1024)) SCALE=2 CUT_SIZE=4194304 CUT_RATE=1M CH_SIZE=300000
ZIP_CL=yes MASKS_TOKEN=yes WARM=no ZIP_BUFFERED=no
case $STACK_WEB in
    nginx) EARLY=yes CHUNKED=204 SENDFILE=x-accel-redirect KEEPS_CUT=yes ZIP_BUFFERED=yes ;;
    apache) EARLY=no CHUNKED=204 SENDFILE=x-sendfile KEEPS_CUT=yes ZIP_CL=no ;;
    apache-fcgid) EARLY=no CHUNKED=204 SENDFILE=x-sendfile KEEPS_CUT=no WARM=yes ;;
    apache-htaccess)
        # A shared host's defaults: FcgidMaxRequestLen 128 KiB caps a PATCH,
        # and the host's own access log format.
        EARLY=no CHUNKED=204 SENDFILE=off KEEPS_CUT=no MASKS_TOKEN=no WARM=yes
        CHUNK=$((96 * 1024)) SCALE=1 CUT_SIZE=120000 CUT_RATE=40k CH_SIZE=100000
        ;;
    lighttpd | lighttpd-spawn) EARLY=yes CHUNKED=411 SENDFILE=x-sendfile KEEPS_CUT=yes ZIP_BUFFERED=yes ;;
    *) tap_bail "unknown web server $STACK_WEB" ;;
esac

node_deps

stack_init || tap_bail "cannot create the stack folder"
CONF=(workers=8 slot_lease_seconds=5 queue_retry_seconds=1 gc_interval_seconds=0)
stack_start "${CONF[@]}" || tap_bail "the stack behind $STACK_WEB did not start"
W=$STACK_DIR/e2e
mkdir -p "$W"
TOKEN=$(stack_user_add alice) || tap_bail "cannot add alice"
BOB=$(stack_user_add bob --limit 1) || tap_bail "cannot add bob"
export TOKEN
TR=(-H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream')

# mkbatch TOKEN NAME:SIZE...: a batch; sets BID and FILES (ids, in order).
mkbatch() {
    local tok=$1 items=() spec
    shift
    for spec in "$@"; do items+=("{\"name\": \"${spec%%:*}\", \"size\": ${spec#*:}}"); done
    curl -s --max-time 20 -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
        --data "{\"files\": [$(IFS=,; echo "${items[*]}")]}" "$BATCHUP_URL/api/v1/batches" >"$W/mk.json"
    BID=$(jq -r .id "$W/mk.json")
    mapfile -t FILES < <(jq -r '.files[].id' "$W/mk.json")
    [ "${#FILES[@]}" = "$#" ]
}
offset_of() {
    curl -s -I --max-time 10 -H "Authorization: Bearer $1" -H 'Tus-Resumable: 1.0.0' \
        "$BATCHUP_URL/api/v1/files/$2" | tr -d '\r' | sed -n 's/^[Uu]pload-[Oo]ffset: *//p'
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# lap NAME: note how long the part just finished took (printed at the end).
LAPS= LAP0=$SECONDS
lap() { LAPS="$LAPS $1 $((SECONDS - LAP0)) s,"; LAP0=$SECONDS; }
# Uploads in pieces the server's limits allow (the shared host: 96 KiB).
upload_pieces() {
    local f=$1 src=$2 size off=0 n code
    size=$(stat -c %s "$src")
    while [ "$off" -lt "$size" ]; do
        n=$((size - off))
        [ "$n" -gt "$CHUNK" ] && [ "$STACK_WEB" = apache-htaccess ] && n=$CHUNK
        tail -c +"$((off + 1))" "$src" | head -c "$n" >"$W/piece"
        code=$(patch "$TOKEN" "/api/v1/files/$f" "$W/piece" "$off")
        [ "$code" = 204 ] || { echo "$code"; return 1; }
        off=$((off + n))
    done
    echo 204
}

lap "stack"
# --- tus-js-client: a batch of 8 files, limit 5 ----------------------------
# mod_fcgid sends each process one request at a time and starts processes
# one by one as requests wait for one, so a burst at a quiet site is served
# by one or two processes, one upload after the other (no file would ever
# wait for a slot). A busy site has its processes running: get them started
# first, with 8 downloads held open for a few seconds by clients that read
# nothing (each keeps a process busy).
if [ "$WARM" = yes ]; then
    head -c 2000000 /dev/urandom >"$W/warm.bin"
    mkbatch "$TOKEN" warm.bin:2000000 || tap_diag "mkbatch: $(cat "$W/mk.json")"
    tap_is "$(upload_pieces "${FILES[0]}" "$W/warm.bin")" 204 "$STACK_WEB: a 2 MB file to warm the server up with is uploaded"
    "$PY" - "$WEB_PORT" "/api/v1/download/stream/${FILES[0]}" "$TOKEN" <<'PY'
import socket, sys, time
port, path, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held = []
for _ in range(8):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
    held.append(s)
time.sleep(3)
for s in held:
    s.close()
PY
    sleep 0.5
    tap_diag "$STACK_WEB: mod_fcgid runs $(sort -u "$STACK_DIR/batchup-spawned.pids" | wc -l) batchup processes after the warm-up"
fi
CHUNK=$CHUNK SCALE=$SCALE DRIVER_SECONDS=90 node_tap 100 tests/node/tus-web.mjs

lap "tus-js-client"
# --- 423 before the body? ---------------------------------------------------
mkbatch "$BOB" q1.bin:2000000 q2.bin:2000000 || tap_diag "mkbatch: $(cat "$W/mk.json")"
Q1=${FILES[0]} Q2=${FILES[1]}
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PATCH -H "Authorization: Bearer $BOB" "${TR[@]}" \
    -H 'Upload-Offset: 0' --data-binary '' "$BATCHUP_URL/api/v1/files/$Q1")
tap_is "$code" 204 "$STACK_WEB: bob (limit 1) claims a slot for his first file with an empty PATCH"
early=$("$PY" - "$WEB_PORT" "/api/v1/files/$Q2" "$BOB" <<'PY'
import socket, sys, time
port, path, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=2)
s.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"
           "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
           "Content-Length: 2000000\r\n\r\n" % (path, token)).encode() + b"x" * 65536)
try:
    head = s.recv(64).decode("latin-1")
    print("yes" if head.startswith("HTTP/1.1 423") else "other: " + head.split("\r\n")[0])
except socket.timeout:
    print("no")
PY
)
if [ "$EARLY" = yes ]; then
    tap_is "$early" yes "$STACK_WEB: a queued file gets 423 while its body is still being sent (64 KiB of 2 MB sent)"
else
    tap_is "$early" no "$STACK_WEB: a queued file's 423 waits until its whole body was sent (the server reads it first; documented)"
fi
head -c "$((CUT_SIZE < 2000000 ? CUT_SIZE : 2000000))" /dev/urandom >"$W/q2.part"
code=$(curl -s -D "$W/q2.h" -o /dev/null -w '%{http_code}' --max-time 30 -X PATCH -H "Authorization: Bearer $BOB" \
    "${TR[@]}" -H 'Upload-Offset: 0' --data-binary @"$W/q2.part" "$BATCHUP_URL/api/v1/files/$Q2")
tap_is "$code|$(hval Upload-Queue-Position "$W/q2.h")" "423|1" \
    "$STACK_WEB: a whole PATCH to the queued file: 423 with Upload-Queue-Position 1"
tap_is "$(offset_of "$BOB" "$Q2")|$([ -e "$STACK_DIR/storage/partial/$Q2" ] && stat -c %s "$STACK_DIR/storage/partial/$Q2" || echo none)" \
    "0|none" "$STACK_WEB: ... and nothing of its body was stored"

lap "423 probe"
# --- a chunked PATCH ----------------------------------------------------------
head -c "$CH_SIZE" /dev/urandom >"$W/chunked.bin"
mkbatch "$TOKEN" "chunked.bin:$CH_SIZE" || tap_diag "mkbatch: $(cat "$W/mk.json")"
FC=${FILES[0]}
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PATCH -H "Authorization: Bearer $TOKEN" "${TR[@]}" \
    -H 'Upload-Offset: 0' -H 'Transfer-Encoding: chunked' --data-binary @"$W/chunked.bin" "$BATCHUP_URL/api/v1/files/$FC")
if [ "$CHUNKED" = 204 ]; then
    tap_is "$code" 204 "$STACK_WEB: a chunked PATCH of $CH_SIZE bytes (Transfer-Encoding: chunked): 204"
else
    tap_is "$code|$(offset_of "$TOKEN" "$FC")" "411|0" \
        "$STACK_WEB: a chunked PATCH is refused with 411 before batchup sees it (streamed bodies need a length; documented)"
    code=$(patch "$TOKEN" "/api/v1/files/$FC" "$W/chunked.bin")
    tap_is "$code" 204 "$STACK_WEB: ... the same bytes with a Content-Length: 204"
fi
got=$(curl -s --max-time 20 -H "Authorization: Bearer $TOKEN" "$BATCHUP_URL/api/v1/download/stream/$FC" | sha256sum | cut -d' ' -f1)
tap_is "$got" "$(sha "$W/chunked.bin")" "$STACK_WEB: the file downloads byte-identical"

lap "chunked"
# --- resume after a cut connection --------------------------------------------
head -c "$CUT_SIZE" /dev/urandom >"$W/cut.bin"
mkbatch "$TOKEN" "cut.bin:$CUT_SIZE" || tap_diag "mkbatch: $(cat "$W/mk.json")"
FX=${FILES[0]}
curl -s -o /dev/null --max-time 30 --limit-rate "$CUT_RATE" -X PATCH -H "Authorization: Bearer $TOKEN" "${TR[@]}" \
    -H 'Upload-Offset: 0' --data-binary @"$W/cut.bin" "$BATCHUP_URL/api/v1/files/$FX" &
cpid=$!
sleep 1.5
kill -TERM "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
logged() { grep -q "\"PATCH\" \"/api/v1/files/$FX\" " "$STACK_DIR/batchup.log"; }
if [ "$KEEPS_CUT" = yes ]; then
    stack_wait_until 15 logged
    tap_ok $? "$STACK_WEB: batchup saw the cut PATCH end (its log)"
else
    sleep 1
fi
off=$(offset_of "$TOKEN" "$FX")
tap_diag "$STACK_WEB: curl killed after 1.5 s of a $CUT_SIZE-byte PATCH at $CUT_RATE/s; HEAD offset ${off:-?}"
if [ "$KEEPS_CUT" = yes ]; then
    tap_ok "$([ "${off:-0}" -gt 0 ] && [ "$off" -lt "$CUT_SIZE" ]; echo $?)" \
        "$STACK_WEB: the bytes that arrived before the cut are kept (offset $off, streamed to batchup)"
else
    tap_is "${off:-?}" 0 "$STACK_WEB: a cut PATCH keeps nothing (the server collects the whole body before batchup sees it; documented)"
fi
off=${off:-0}
if [ "$off" -gt 0 ]; then
    cmp -s <(head -c "$off" "$STACK_DIR/storage/partial/$FX") <(head -c "$off" "$W/cut.bin")
    tap_ok $? "$STACK_WEB: the kept bytes are the ones sent"
fi
tail -c +"$((off + 1))" "$W/cut.bin" >"$W/cut.rest"
code=$(patch "$TOKEN" "/api/v1/files/$FX" "$W/cut.rest" "$off")
tap_is "$code" 204 "$STACK_WEB: the upload resumes from the HEAD offset to completion: 204"
tap_is "$(sha "$STACK_DIR/storage/files/${FX:0:2}/$FX" 2>/dev/null)" "$(sha "$W/cut.bin")" \
    "$STACK_WEB: the resumed file is byte-identical"

lap "resume"
# --- the ZIP and a ranged download --------------------------------------------
S1=$("$PY" -c "print(int(1000000 * $SCALE))")
S2=$("$PY" -c "print(int(120000 * $SCALE))")
mkdir -p "$W/src"
head -c "$S1" /dev/urandom >"$W/src/one.bin"
head -c "$S2" /dev/urandom >"$W/src/two.bin"
: >"$W/src/empty.txt"
mkbatch "$TOKEN" "one.bin:$S1" "two.bin:$S2" "empty.txt:0" || tap_diag "mkbatch: $(cat "$W/mk.json")"
ZB=$BID Z1=${FILES[0]} Z2=${FILES[1]}
tap_is "$(upload_pieces "$Z1" "$W/src/one.bin")|$(upload_pieces "$Z2" "$W/src/two.bin")" "204|204" \
    "$STACK_WEB: a batch of three files (one empty) is uploaded"
LINK=$(curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" "$BATCHUP_URL/api/v1/batches/$ZB" | jq -r .download_url)
TOKEN_PART=${LINK##*/}
code=$(get "$W/zip" "" "$LINK")
if [ "$ZIP_CL" = yes ]; then
    tap_is "$code|$(hval Content-Length "$W/zip.h")" "200|$(stat -c %s "$W/zip.b")" \
        "$STACK_WEB: the batch ZIP through the link: 200, Content-Length = the bytes received"
else
    tap_is "$code|$(hval Content-Length "$W/zip.h")|$(hval Transfer-Encoding "$W/zip.h")" "200||chunked" \
        "$STACK_WEB: the batch ZIP through the link: 200, sent chunked (mod_proxy_fcgi drops batchup's Content-Length; documented)"
fi
unzip -tq "$W/zip.b" >"$W/unzip-t.out" 2>&1
tap_ok $? "$STACK_WEB: unzip -t passes ($(cat "$W/unzip-t.out"))"
rm -rf "$W/unz" && mkdir -p "$W/unz" && (cd "$W/unz" && unzip -q "$W/zip.b")
diff -r "$W/src" "$W/unz" >/dev/null
tap_ok $? "$STACK_WEB: every ZIP entry is byte-identical to the uploaded file"
code=$(get "$W/rng" "$TOKEN" "/api/v1/download/stream/$Z1" -H 'Range: bytes=1000-1999')
tap_is "$code|$(hval Content-Range "$W/rng.h")" "206|bytes 1000-1999/$S1" "$STACK_WEB: a ranged download: 206 with its Content-Range"
cmp -s "$W/rng.b" <(tail -c +1001 "$W/src/one.bin" | head -c 1000)
tap_ok $? "$STACK_WEB: ... exactly those bytes"
code=$(get "$W/lr" "" "$LINK/files/$Z2" -H 'Range: bytes=-100')
tap_ok "$([ "$code" = 206 ] && cmp -s "$W/lr.b" <(tail -c 100 "$W/src/two.bin"); echo $?)" \
    "$STACK_WEB: a ranged download of one file through the link: 206 and its last 100 bytes"
# The ZIP of the tus-js-client batch (8 files), read in 1.5 s by a client
# with a small receive buffer. Where the server buffers the response
# (nginx, lighttpd: ZIP_BUFFERED), batchup's request ends while the reader
# still reads: a slow reader holds the server, not a worker. Where it
# streams (Apache), batchup's request lasts about as long as the client's
# (less what the server's socket and the server hold).
BIGTOK=$(psql -XAtq -c "SELECT download_token FROM batchup.batches WHERE files_total = 8 AND status = 'complete' ORDER BY created_at DESC LIMIT 1")
BIGSIZE=$(psql -XAtq -c "SELECT sum(size) FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id WHERE b.download_token = '$BIGTOK'")
if [ -n "$BIGTOK" ] && [ -n "$BIGSIZE" ]; then
    rate=$((BIGSIZE * 2 / 3 + 1))
    client=$("$PY" - "$WEB_PORT" "/api/v1/download/batch/$BIGTOK" "$rate" <<'PY'
import socket, sys, time
port, path, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.settimeout(30)
s.connect(("127.0.0.1", port))
s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
t0, total, first = time.time(), 0, b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    if not first:
        first = chunk[:12]
    total += len(chunk)
    ahead = total / rate - (time.time() - t0)
    if ahead > 0:
        time.sleep(ahead)
print(first.decode("latin-1").split(" ")[1] if first else "000", total, int((time.time() - t0) * 1000))
PY
)
    read -r zcode zbytes client_ms <<<"$client"
    sleep 0.3
    # batchup's request line: "GET" "PATH" STATUS IN OUT MS USER FLAG, the
    # link's token cut to its first four characters.
    ms=$(grep "\"GET\" \"/api/v1/download/batch/${BIGTOK:0:4}\.\.\.\" " "$STACK_DIR/batchup.log" | tail -n 1 | awk '{ print $(NF - 2) }')
    tap_diag "$STACK_WEB: ZIP of $BIGSIZE bytes of files read at $rate bytes/s: client $zcode, $zbytes bytes, ${client_ms:-?} ms; batchup's request ${ms:-?} ms"
    if [ "$ZIP_BUFFERED" = yes ]; then
        tap_ok "$([ "$zcode" = 200 ] && [ "${zbytes:-0}" -gt "$BIGSIZE" ] &&
            awk -v ms="${ms:-999999}" -v c="${client_ms:-0}" 'BEGIN { exit !(ms * 2 < c) }'; echo $?)" \
            "$STACK_WEB: the server buffers the ZIP for a slow reader: batchup's worker is free before the reader is done (${ms:-?} ms of the reader's ${client_ms:-?})"
    else
        tap_ok "$([ "$zcode" = 200 ] && [ "${zbytes:-0}" -gt "$BIGSIZE" ] &&
            awk -v ms="${ms:-0}" -v c="${client_ms:-0}" 'BEGIN { exit !(ms * 2 > c) }'; echo $?)" \
            "$STACK_WEB: the ZIP streams to a slow reader as batchup writes it (batchup's request lasts ${ms:-?} ms of the reader's ${client_ms:-?})"
    fi
else
    tap_ok 1 "$STACK_WEB: the tus-js-client batch has a download link"
fi

# The access log: the link's requests are there, the token is not (lighttpd
# writes its log in batches: wait for the lines).
has_links() { grep -q '/api/v1/download/batch/' "$STACK_WEB_ACCESS_LOG" 2>/dev/null; }
stack_wait_until 5 has_links
tap_ok $? "$STACK_WEB: the access log has the link's requests ($(grep -c '/api/v1/download/batch/' "$STACK_WEB_ACCESS_LOG" 2>/dev/null) lines)"
if [ "$MASKS_TOKEN" = yes ]; then
    tap_is "$(grep -c -- "$TOKEN_PART" "$STACK_WEB_ACCESS_LOG")" 0 "$STACK_WEB: ... and not the link's token"
else
    tap_like "$(grep -c -- "$TOKEN_PART" "$STACK_WEB_ACCESS_LOG")" '^[1-9]' \
        "$STACK_WEB: ... with the link's token: the host's log format, which .htaccess cannot change (documented)"
fi

lap "zip+range+log"
# --- the sendfile mode ----------------------------------------------------------
if [ "$SENDFILE" = off ]; then
    tap_diag "$STACK_WEB: no sendfile mode: .htaccess cannot set XSendFilePath (the host must), so batchup sends the bytes itself"
else
    # SIGHUP: every batchup master re-reads the configuration and replaces
    # its workers. (Stopping them instead would make mod_fcgid wait for its
    # spawn score to decay before it starts new ones.)
    stack_write_conf "${CONF[@]}" "sendfile=$SENDFILE"
    masters=()
    for pid in ${BATCHUP_PID:-} $(sort -u "$STACK_DIR/batchup-spawned.pids" 2>/dev/null); do
        stack__alive "$pid" && masters+=("$pid")
    done
    reloads=$(grep -c 'configuration reloaded' "$STACK_DIR/batchup.log")
    kill -HUP "${masters[@]}"
    reloaded() { [ "$(grep -c 'configuration reloaded' "$STACK_DIR/batchup.log")" -ge "$((reloads + ${#masters[@]}))" ]; }
    stack_wait_until 15 reloaded
    tap_ok $? "$STACK_WEB: SIGHUP: ${#masters[@]} batchup master(s) reloaded the configuration with sendfile = $SENDFILE"
    sleep 0.5
    DL=/api/v1/download/stream/$Z1
    code=$(get "$W/sf" "$TOKEN" "$DL")
    tap_ok "$([ "$code" = 200 ] && cmp -s "$W/sf.b" "$W/src/one.bin"; echo $?)" \
        "$STACK_WEB: sendfile = $SENDFILE: the owner's download is 200 and byte-identical"
    sleep 0.3
    tap_like "$(grep "\"GET\" \"$DL\" " "$STACK_DIR/batchup.log" | tail -n 1)" ' 200 0 0 ' \
        "$STACK_WEB: ... and batchup sent no body itself (its log: 0 bytes out)"
    tap_is "$(hval X-Sendfile "$W/sf.h")$(hval X-Accel-Redirect "$W/sf.h")" "" "$STACK_WEB: ... the header does not reach the client"
    tap_is "$(hval ETag "$W/sf.h")" "\"$(sha "$W/src/one.bin")\"" "$STACK_WEB: ... with batchup's ETag (the SHA-256)"
    code=$(get "$W/sfr" "$TOKEN" "$DL" -H 'Range: bytes=500-')
    tap_ok "$([ "$code" = 206 ] && cmp -s "$W/sfr.b" <(tail -c +501 "$W/src/one.bin"); echo $?)" \
        "$STACK_WEB: sendfile = $SENDFILE with a Range: 206 and those bytes (the server does the range)"
    code=$(get "$W/sfl" "" "$LINK/files/$Z2")
    tap_ok "$([ "$code" = 200 ] && cmp -s "$W/sfl.b" "$W/src/two.bin"; echo $?)" \
        "$STACK_WEB: sendfile = $SENDFILE through the link: 200 and the bytes"
    code=$(get "$W/sfz" "" "$LINK")
    tap_ok "$([ "$code" = 200 ] && unzip -tq "$W/sfz.b" >/dev/null 2>&1; echo $?)" \
        "$STACK_WEB: the ZIP is still streamed by batchup: 200 and a valid archive"
fi

lap "sendfile"
tap_is "$(grep -Ec ' request "[A-Z]+" "[^"]*" 5[0-9][0-9] ' "$STACK_DIR/batchup.log")" 0 \
    "$STACK_WEB: batchup answered no request with a 5xx"
tap_diag "$STACK_WEB: time spent:${LAPS%,}"
tap_done
