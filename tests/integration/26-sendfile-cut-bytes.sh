#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A download cut midway counts what was sent.  The owner's download of a
# 32 MiB file goes out with sendfile(2) from the worker (sendfile = off:
# the worker sends the file itself); the client reads 2 MB and hangs up.
# The request's log line and the bytes_sent counter (/metrics) must then
# hold the bytes that went out, more than 0 and less than the file, where
# they held 0 before (a cut sendfile added nothing).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

SIZE=$((32 * 1024 * 1024))
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 pm=static per_user_limit=1 gc_interval_seconds=3600 max_file_size=$SIZE ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
B=$BATCHUP_URL
T=$STACK_DIR/t26
mkdir -p "$T"
head -c "$SIZE" /dev/urandom >"$T/big"

curl -s --max-time 20 -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
    --data "{\"files\": [{\"name\": \"big.bin\", \"size\": $SIZE}]}" "$B/api/v1/batches" >"$T/mk.json"
FILE=$(jq -r '.files[0].id' "$T/mk.json")
[ -n "$FILE" ] && [ "$FILE" != null ] || tap_bail "no batch: $(cat "$T/mk.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X PATCH -H "Authorization: Bearer $TA" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
    --data-binary "@$T/big" "$B/api/v1/files/$FILE")
tap_is "$code" 204 "the 32 MiB file is uploaded"

sent_metric() {
    curl -s --max-time 5 "$B/metrics" | awk '$1 ~ /^batchup_bytes_sent/ {print $2}' | head -n 1
}
before=$(sent_metric)
# Read 2 MB, then hang up (head exits, curl gets EPIPE and closes).
curl -s -N --max-time 30 -H "Authorization: Bearer $TA" "$B/api/v1/download/stream/$FILE" |
    head -c 2000000 >"$T/part"
tap_is "$(stat -c %s "$T/part")" 2000000 "the client read 2 MB and hung up"

logged() { grep -q "request \"GET\" \"/api/v1/download/stream/$FILE\"" "$STACK_DIR/batchup.log"; }
stack_wait_until 15 logged
line=$(grep "request \"GET\" \"/api/v1/download/stream/$FILE\"" "$STACK_DIR/batchup.log" | tail -n 1)
out=$(echo "$line" | sed -E 's/.*request "GET" "[^"]*" ([0-9]+) ([0-9]+) ([0-9]+) .*/\3/')
tap_diag "log: $line"
tap_ok "$([ "$out" -gt 0 ] 2>/dev/null && [ "$out" -lt "$SIZE" ] && echo 0 || echo 1)" \
    "the cut download's log line counts the bytes sent ($out: more than 0, less than $SIZE)"
after=$(sent_metric)
tap_diag "bytes_sent before $before, after $after"
tap_ok "$([ -n "$after" ] && [ "$((after - ${before:-0}))" -ge "$out" ] && [ "$out" -gt 0 ] && echo 0 || echo 1)" \
    "bytes_sent in /metrics grew by at least those bytes"

tap_done
