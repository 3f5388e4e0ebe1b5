#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# No client can wedge the workers. With the shipped defaults (workers,
# process manager, deadlines), at once: 8 PATCHes that send 1000 bytes and
# then nothing, 8 that trickle a byte every 3 s, 4 raw connections to the
# FastCGI socket that send nothing, and 4 downloads of a public batch link
# that read 100 bytes every 2 s. All the while /api/v1/health answers within
# two seconds and another user's upload completes. Then each hostile request
# is ended by its own deadline (header_timeout 10 s, body_timeout 30 s, the
# minimum rates over 30 s; the readers hold nginx, not a worker), the bytes
# that arrived are kept (HEAD shows them), no upload lock is left, and once
# the slots' leases run out no slot either. The log says why each request ended.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
# Only what the stack itself needs is set; every other key is the default.
STACK_WORKERS=32 stack_start || tap_bail "the stack did not start"
T=$STACK_DIR/t64
mkdir -p "$T"
BIG=$((16 * 1024 * 1024))

stall=() trickle=()
for u in m1 m2 m3 m4; do
    tok=$(stack_user_add "$u") || tap_bail "cannot add $u"
    for id in $(batch_ids "$tok" "$BIG" 4); do
        case $u in
            m1 | m2) stall+=("[\"$tok\",\"$id\"]") ;;
            *) trickle+=("[\"$tok\",\"$id\"]") ;;
        esac
    done
done
ALICE=$(stack_user_add alice) || tap_bail "cannot add alice"
AFILE=$(batch_ids "$ALICE" 262144 1)
OWNER=$(stack_user_add owner) || tap_bail "cannot add owner"
LFILE=$(batch_ids "$OWNER" $((24 * 1024 * 1024)) 1)
head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/big"
code=$(patch "$OWNER" "/api/v1/files/$LFILE" "$T/big")
[ "$code" = 204 ] || tap_bail "the link's file did not upload ($code)"
LINK=$(batch_link "$OWNER")
[ -n "$LINK" ] && [ "$LINK" != null ] || tap_bail "no batch link"

# The hostile clients are held for 55 s at most: longer than the latest end
# any check below accepts (50 s, a trickle), so an end that comes too late
# still fails; the slow readers, which nothing ends, stay for as long.
cat >"$T/plan.json" <<JSON
{"url": "$BATCHUP_URL", "socket": "$STACK_SOCKET",
 "stall": [$(IFS=,; echo "${stall[*]}")], "trickle": [$(IFS=,; echo "${trickle[*]}")],
 "raw": 4, "readers": 4, "link": "$LINK",
 "user": ["$ALICE", "$AFILE", 262144], "probe_seconds": 20, "hold_seconds": 55}
JSON
timeout 120 python3 tests/lib/hostile.py "$T/plan.json" >"$T/out" 2>"$T/err"
tap_is "$?" 0 "the hostile clients ran (tests/lib/hostile.py)"
val() { awk -v k="$1" '$1 == k {print $2; exit}' "$T/out"; }
ended() { awk -v k="$1" '$1 == k' "$T/out" | wc -l; }
within() { awk -v k="$1" -v lo="$2" -v hi="$3" '$1 == k && ($2 < lo || $2 > hi) {bad++} END {print bad + 0}' "$T/out"; }

tap_is "$(val hostile_open)" 24 "24 hostile connections were open at once (measured on each socket after 2 s)"
tap_is "$(val health_failures)" 0 "meanwhile every health check answered 200"
tap_ok "$([ "$(val health_max_ms)" -lt 2000 ]; echo $?)" "... each within 2 s (slowest $(val health_max_ms) ms)"
tap_is "$(val upload_status)" 204 "meanwhile another user's upload completed: 204"
tap_ok "$([ "$(val upload_ms)" -lt 3000 ]; echo $?)" "... within 3 s ($(val upload_ms) ms)"
tap_is "$(ended raw_ended)|$(within raw_ended 8 16)" "4|0" "the 4 silent FastCGI connections were dropped after header_timeout (10 s)"
tap_is "$(ended stall_ended)|$(within stall_ended 28 45)" "8|0" "the 8 stalled bodies were ended after body_timeout (30 s)"
tap_is "$(ended trickle_ended)|$(within trickle_ended 28 50)" "8|0" "the 8 trickling bodies were ended after one rate window (30 s)"
tap_diag "$(tr '\n' ' ' <"$T/out")"

log=$STACK_DIR/batchup.log
tap_is "$(grep -c '"PATCH" .* body-timeout' "$log")" 8 "the log says body-timeout for each stalled PATCH"
tap_is "$(grep -c '"PATCH" .* body-too-slow' "$log")" 8 "the log says body-too-slow for each trickle"
tap_is "$(grep -c 'connection dropped: no complete request head' "$log")" 4 "the log says why each silent connection was dropped"
# nginx buffers downloads (into a temporary file): it feeds the slow reader
# from there, and batchup's worker let go as soon as it had written the
# whole archive, in well under 10 s, without a cut.
slow_reads=$(grep '"GET" "/api/v1/download/batch/.* 200 .* -$' "$log" |
    awk '{ms = $(NF - 2); if (ms < 10000) n++} END {print n + 0}')
tap_is "$slow_reads" 4 "each slow reader's worker let go at once: the whole ZIP went to nginx's buffers (200, -, < 10 s in the log)"

# What arrived is kept: HEAD shows it, and the bytes are on disk.
bad=0
for pair in "${stall[@]}"; do
    tok=$(echo "$pair" | jq -r '.[0]') id=$(echo "$pair" | jq -r '.[1]')
    off=$(curl -s -I -H "$(auth "$tok")" -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/api/v1/files/$id" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "upload-offset" {print $2}')
    [ "$off" = 1000 ] && [ "$(stat -c %s "$STACK_DIR/storage/partial/$id")" -ge 1000 ] || bad=$((bad + 1))
done
tap_is "$bad" 0 "each stalled upload kept its 1000 bytes (HEAD: Upload-Offset 1000)"
bad=0
for pair in "${trickle[@]}"; do
    tok=$(echo "$pair" | jq -r '.[0]') id=$(echo "$pair" | jq -r '.[1]')
    off=$(curl -s -I -H "$(auth "$tok")" -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/api/v1/files/$id" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "upload-offset" {print $2}')
    [ "${off:-0}" -ge 5 ] && [ "$(stat -c %s "$STACK_DIR/storage/partial/$id")" -ge "$off" ] || bad=$((bad + 1))
done
tap_is "$bad" 0 "each trickled upload kept what arrived (HEAD offset > 0, no more than on disk)"
tap_is "$(sql "SELECT count(*) FROM batchup.files WHERE writer IS NOT NULL")" 0 "no upload lock is left"
no_slots() { [ "$(sql "SELECT count(*) FROM batchup.active_slots WHERE user_name LIKE 'm_'")" = 0 ]; }
stack_wait_until 45 no_slots
tap_ok $? "once their leases ran out, no slot of the hostile users is left"
tap_is "$(stack_health_code)" 200 "health still answers 200"
tap_is "$(grep -c 'died after' "$log")" 0 "no worker died"

tap_done
