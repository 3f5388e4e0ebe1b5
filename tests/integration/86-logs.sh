#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Logs: with log_file set, serve writes its log there; every request is one
# line in the documented format (docs/operations.md "Logs": quoted method, path and
# user, escaped bytes); download-link tokens never appear in it, after link
# downloads (ZIP, manifest, one file) and error cases (an unknown token, a
# malformed one, an expired link, odd spellings of the path); SIGUSR1
# reopens the file after rotation (the master at once, a worker before its
# next request), kills no process, and every request after it is logged in
# the new file only.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
LOG=$STACK_DIR/logs/batchup.log
mkdir -p "$STACK_DIR/logs"
stack_start workers=8 gc_interval_seconds=3600 "log_file=$LOG" || tap_bail "the stack did not start"
T=$STACK_DIR/t86
mkdir -p "$T"
tap_ok "$([ -s "$LOG" ] && grep -q 'master started' "$LOG"; echo $?)" "serve writes its log to log_file"

TOKEN=$(stack_user_add alice) || tap_bail "cannot add alice"
curl -s --max-time 20 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "a.txt", "size": 5}, {"name": "b.txt", "size": 3}]}' \
    "$BATCHUP_URL/api/v1/batches" >"$T/batch.json"
printf 'hello' >"$T/a"
printf 'abc' >"$T/b"
fa=$(jget 'd["files"][0]["id"]' <"$T/batch.json")
fb=$(jget 'd["files"][1]["id"]' <"$T/batch.json")
batch=$(jget 'd["id"]' <"$T/batch.json")
tap_is "$(patch "$TOKEN" "/api/v1/files/$fa" "$T/a")$(patch "$TOKEN" "/api/v1/files/$fb" "$T/b")" 204204 "both files uploaded"
link=$(get "$T/g" "$TOKEN" "/api/v1/batches/$batch" >/dev/null; jget 'd["download_url"]' <"$T/g.b")
tok=${link##*/}
tap_like "$tok" '^[A-Za-z0-9_-]{43}$' "the batch has its link"

# A second batch whose link is made to expire.
curl -s --max-time 20 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "e.txt", "size": 0}]}' "$BATCHUP_URL/api/v1/batches" >"$T/batch2.json"
etok=$(jget 'd["download_url"]' <"$T/batch2.json")
etok=${etok##*/}
psql -XAtq -c "UPDATE batchup.batches SET link_expires_at = now() - interval '1 s' WHERE download_token = '$etok'"
bad=$("$(stack__python)" -c 'import secrets; print(secrets.token_urlsafe(32))')

codes=
for p in "$link" "$link/manifest" "$link/files/$fa" "/api/v1/download/batch/$bad" \
    "/api/v1/download/batch/${bad:0:20}" "/api/v1/download/batch/$etok" "/api/v1/download/batch/$etok/manifest" \
    "/api/v1/DOWNLOAD/Batch/$tok" "/api/v1/download/batch//$tok" "/api/v1/download/batch/$tok?x=$tok"; do
    codes="$codes $(get "$T/dl" "" "$p")"
done
tap_is "$codes" " 200 200 200 404 404 410 410 404 404 200" \
    "link downloads (ZIP, manifest, file), an unknown, a malformed, an expired token, odd spellings"
sleep 0.5
leaks=
for t in "$tok" "$bad" "${bad:0:20}" "$etok" "${tok:4}" "${etok:4}"; do
    grep -qF -- "$t" "$LOG" "$STACK_DIR/batchup.log" && leaks="$leaks ${t:0:6}..."
done
tap_is "$leaks" "" "no token (nor its part after the first four characters) is in batchup's logs"
tap_is "$(grep -c "request \"GET\" \"/api/v1/download/batch/${tok:0:4}...\(/manifest\|/files/$fa\)\?\" 200" "$LOG")" 4 \
    "the link downloads (ZIP, manifest, file, ZIP with a query) are logged with the token cut to 4 characters"
tap_is "$(grep -c "request \"GET\" \"/api/v1/download/batch/${etok:0:4}...\(/manifest\)\?\" 410" "$LOG")" 2 \
    "the expired link's two requests are logged, 410, token cut"

# The format: every request line matches the documented regular expression.
curl -s -o /dev/null --max-time 5 "$BATCHUP_URL/api/v1/%C3%A9%22q" >/dev/null
# Raw bytes in the request line, as a client may send them (curl would not).
"$(stack__python)" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /api/v1/\xc3\xa9\"x\\y HTTP/1.0\r\nHost: localhost\r\n\r\n")
s.recv(100)' "$NGINX_PORT"
sleep 0.3
"$(stack__python)" - "$LOG" >"$T/format" <<'PY'
import re, sys
rx = re.compile(r'^(\S+) (\S+) \[(\d+)\] request "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+) (\d+) (\d+) (\d+\.\d) ("(?:[^"\\]|\\.)*"|-) (\S+)$')
lines = [l.rstrip("\n") for l in open(sys.argv[1], encoding="ascii", errors="replace") if " request " in l]
bad = [l for l in lines if not rx.match(l)]
users = {rx.match(l).group(10) for l in lines if rx.match(l)}
print(len(lines), len(bad), " ".join(sorted(users)))
for l in bad[:3]:
    print("BAD", l)
PY
read -r n nbad users <<<"$(head -n 1 "$T/format")"
tap_ok "$([ "${n:-0}" -ge 15 ] && [ "$nbad" = 0 ]; echo $?)" "all $n request lines match the documented format"
[ "$nbad" = 0 ] || tap_diag "$(cat "$T/format")"
tap_is "$users" '"alice" -' "the user field is \"alice\" when authenticated, - otherwise"
tap_ok "$(grep -q 'request "GET" "/api/v1/\\xc3\\xa9\\"x\\\\y" 404 ' "$LOG"; echo $?)" \
    'a path with a UTF-8 letter, a quote and a backslash is logged escaped (\xc3\xa9, \", \\)'
tap_ok "$(LC_ALL=C grep -q '[^ -~]' "$LOG"; [ $? = 1 ]; echo $?)" "the log is printable ASCII only"

# Rotation.
workers=$(stack_worker_pids | tr '\n' ' ')
mv "$LOG" "$LOG.1"
kill -USR1 "$BATCHUP_PID"
stack_wait_until 5 test -s "$LOG"
tap_ok $? "after SIGUSR1 the master writes to a new log_file at once"
tap_like "$(head -n 1 "$LOG")" "\\[$BATCHUP_PID\\] reopened log_file $LOG" "its first line: the master reopened it"
before=$(wc -l <"$LOG.1")
for i in $(seq 1 12); do curl -s -o /dev/null --max-time 5 "$BATCHUP_URL/api/v1/rotated-$i"; done
sleep 0.5
tap_is "$(grep -c 'request "GET" "/api/v1/rotated-' "$LOG")|$(grep -c 'rotated-' "$LOG.1")" "12|0" \
    "the 12 requests after the rotation are all in the new file, none in the old one"
tap_is "$(wc -l <"$LOG.1")" "$before" "the old file got no line after the rotation"
tap_is "$(stack_worker_pids | tr '\n' ' ')" "$workers" "SIGUSR1 killed no worker"
stack__alive "$BATCHUP_PID"
tap_ok $? "and the master runs on"

tap_done
