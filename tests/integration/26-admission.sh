#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Admission control on the scoreboard (issue 22, item 2), where a worker
# must stream (as behind Apache): the clients here speak FastCGI to the
# socket directly, so nothing buffers for batchup. With 6 workers,
# pool_download_share 50 (3 downloads), download_per_address 2,
# pool_body_share 50 (3 batch bodies), per_user_limit 1 (one body per
# user) and the default reserve (1 worker: 5 long requests in all):
#   - two downloads from one address that read nothing hold two workers; a
#     third from that address is refused at once: 503 server_busy with
#     Retry-After; one from another address is admitted (the third); a
#     fourth from yet another address is refused (the class is full);
#   - alice's slow batch body is admitted, her second refused (one per
#     user), bob's admitted; carol's is refused although the class has room:
#     the 5 long requests leave the last worker to short requests;
#   - meanwhile health, through nginx and straight, answers 200 at once, and
#     so does another short request (GET /api/v1/batches);
#   - the held downloads then get their whole archive (nothing was hurt), and
#     once they ended the places are free again: a download is admitted.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 pm=static per_user_limit=1 gc_interval_seconds=0 pool_download_share=50 \
    download_per_address=2 download_per_link=0 pool_body_share=50 || tap_bail "the stack did not start"
T=$STACK_DIR/t26
mkdir -p "$T"
ALICE=$(stack_user_add alice) || tap_bail "cannot add alice"
BOB=$(stack_user_add bob) || tap_bail "cannot add bob"
CAROL=$(stack_user_add carol) || tap_bail "cannot add carol"
SIZE=$((3 * 1024 * 1024))
head -c "$SIZE" /dev/urandom >"$T/data"
id=$(curl -s --max-time 20 -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    --data "{\"files\":[{\"name\":\"data.bin\",\"size\":$SIZE}]}" "$BATCHUP_URL/api/v1/batches" |
    jget "d['files'][0]['id']")
[ "$(patch "$ALICE" "/api/v1/files/$id" "$T/data")" = 204 ] || tap_bail "the file did not upload"
LINK=$(curl -s -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches" | jget "d['batches'][0]['download_url']")
curl -s --max-time 30 -o "$T/whole.zip" "$BATCHUP_URL$LINK"
TOTAL=$(stat -c %s "$T/whole.zip")

fcgi() { python3 tests/lib/fcgireq.py "$STACK_SOCKET" "$@"; }
val() { awk -v k="$1" '$1 == k {print $2; exit}' "$2"; }
hdr() { awk -v k="$1" 'tolower($2) == tolower(k) ":" {print $3; exit}' "$2"; }

fcgi GET "$LINK" --addr 192.0.2.1 --hold 20 --out "$T/d1.zip" >"$T/d1" &
d1=$!
fcgi GET "$LINK" --addr 192.0.2.1 --hold 20 --out "$T/d2.zip" >"$T/d2" &
d2=$!
sleep 1.5
fcgi GET "$LINK" --addr 192.0.2.1 --seconds 5 >"$T/d3"
tap_is "$(val status "$T/d3")|$(hdr Retry-After "$T/d3")|$(val seconds "$T/d3")" "503|2|0.0" \
    "a third download from one address (download_per_address 2): 503 with Retry-After, at once"
fcgi GET "$LINK" --addr 192.0.2.2 --hold 20 --out "$T/d4.zip" >"$T/d4" &
d4=$!
sleep 1.5
fcgi GET "$LINK" --addr 192.0.2.3 --seconds 5 >"$T/d5"
tap_is "$(val status "$T/d5")|$(hdr Retry-After "$T/d5")" "503|2" \
    "a fourth download, from another address: 503 (pool_download_share 50: 3 of 6 workers)"

# body TOKEN: a batch body of 12,000 bytes of whitespace at 1000 B/s.
body() {
    fcgi POST /api/v1/batches --addr 192.0.2.9 --header "Authorization: Bearer $1" \
        --header "Content-Type: application/json" --body-size 12000 --body-rate 1000 --seconds 30
}
body "$ALICE" >"$T/b1" &
b1=$!
sleep 1.5
body "$ALICE" >"$T/b2"
tap_is "$(val status "$T/b2")|$(hdr Retry-After "$T/b2")" "503|2" \
    "alice's second slow batch body: 503 (one per user: per_user_limit 1)"
body "$BOB" >"$T/b3" &
b3=$!
sleep 1.5
body "$CAROL" >"$T/b4"
tap_is "$(val status "$T/b4")|$(hdr Retry-After "$T/b4")" "503|2" \
    "bob's is admitted; then carol's: 503 (5 long requests on 6 workers: the last is kept for short ones)"

worst=0 bad=0
for i in 1 2 3 4 5; do
    t0=$(date +%s%N)
    code=$(stack_health_code)
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$code" = 200 ] || bad=$((bad + 1))
    [ "$ms" -gt "$worst" ] && worst=$ms
    sleep 0.2
done
tap_ok "$([ "$bad" = 0 ] && [ "$worst" -lt 2000 ]; echo $?)" \
    "meanwhile health through nginx: 200 every time, within 2 s (slowest $worst ms)"
fcgi GET /api/v1/health --seconds 5 >"$T/h"
tap_is "$(val status "$T/h")" 200 "... and straight to the socket"
code=$(get "$T/list" "$ALICE" /api/v1/batches)
tap_is "$code" 200 "another short request (GET /api/v1/batches): 200"

wait "$d1" "$d2" "$d4" "$b1" "$b3"
ok=0
for d in d1 d2 d4; do
    [ "$(val status "$T/$d")|$(val ended "$T/$d")" = "200|1" ] && cmp -s "$T/$d.zip" "$T/whole.zip" && ok=$((ok + 1))
done
tap_is "$ok" 3 "the three admitted downloads, after reading nothing for 20 s, got the whole archive"
tap_is "$(val status "$T/b1")|$(val status "$T/b3")" "400|400" \
    "the admitted slow bodies were read to their end (400 bad_json: they were whitespace)"
fcgi GET "$LINK" --addr 192.0.2.1 --out "$T/d6.zip" >"$T/d6"
tap_is "$(val status "$T/d6")|$(val body_bytes "$T/d6")" "200|$TOTAL" \
    "once they ended, their places were free: a download from the first address is admitted"
tap_is "$(grep -c '" 503 ' "$STACK_DIR/batchup.log")" 4 "the log shows the four refusals (503)"

tap_done
