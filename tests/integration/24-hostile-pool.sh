#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# No request class can hold the pool (issue 22, items 1-3), behind the
# shipped nginx configuration with the default keys, on a pool of 4 workers
# (the ratio of the issue's 40 + 40 clients to 32 workers; per_user_limit 1, as
# 5 is to 32) at once:
#   1. 5 batch creations (one user) declaring 8,000,000 bytes and sending
#      JSON whitespace at 1000 B/s;
#   2. 5 unauthenticated readers of one batch ZIP at 100 KiB/s;
#   3. 2 honest readers of it at 2 KiB/s.
# For the whole probe (BATCHUP_HOSTILE_SECONDS, 30 s) /api/v1/health answers
# 200 within 2 s every time, and a second user creates a batch and PATCHes
# 1 MiB into it, again and again, each step answered within 2 s. HOSTILE_OUT
# (a file) keeps the measurements (health p50/p95/max) for the README;
# HOSTILE_ATTACKS ("1 2 3") runs only some of the attacks, to measure each;
# HOSTILE_WORKERS=32 HOSTILE_CLIENTS=40 HOSTILE_PER_USER=5
# BATCHUP_HOSTILE_SECONDS=60 runs the issue's own numbers on the default pool.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

SECONDS_PROBE=${BATCHUP_HOSTILE_SECONDS:-30}
stack_init || tap_bail "cannot create the stack folder"
WORKERS=${HOSTILE_WORKERS:-4} CLIENTS=${HOSTILE_CLIENTS:-5}
STACK_WORKERS=$WORKERS stack_start pm=static "per_user_limit=${HOSTILE_PER_USER:-1}" ||
    tap_bail "the stack did not start"
T=$STACK_DIR/t24
mkdir -p "$T"

MALLORY=$(stack_user_add mallory) || tap_bail "cannot add mallory"
BOB=$(stack_user_add bob) || tap_bail "cannot add bob"
OWNER=$(stack_user_add owner) || tap_bail "cannot add owner"
SIZE=$((8 * 1024 * 1024))
head -c "$SIZE" /dev/urandom >"$T/big"
for id in $(batch_ids "$OWNER" "$SIZE" 2); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X PATCH -H "$(auth "$OWNER")" \
        -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
        -H 'Upload-Offset: 0' --data-binary @"$T/big" "$BATCHUP_URL/api/v1/files/$id")
    [ "$code" = 204 ] || tap_bail "the link's files did not upload ($code)"
done
LINK=$(curl -s -H "$(auth "$OWNER")" "$BATCHUP_URL/api/v1/batches" | jq -r '.batches[0].download_url')
[ -n "$LINK" ] && [ "$LINK" != null ] || tap_bail "no batch link"

ATTACKS=${HOSTILE_ATTACKS:-1 2 3}
bodies=() readers=0 slow=0
case " $ATTACKS " in *" 1 "*) for ((i = 0; i < CLIENTS; i++)); do bodies+=("\"$MALLORY\""); done ;; esac
case " $ATTACKS " in *" 2 "*) readers=$CLIENTS ;; esac
case " $ATTACKS " in *" 3 "*) slow=2 ;; esac
cat >"$T/plan.json" <<JSON
{"url": "$BATCHUP_URL", "socket": "$STACK_SOCKET",
 "bodies": [$(IFS=,; echo "${bodies[*]}")],
 "readers": $readers, "reader_rate": 102400, "slow_readers": $slow, "slow_rate": 2048, "link": "$LINK",
 "bystander": ["$BOB", 1048576],
 "probe_seconds": $SECONDS_PROBE, "hold_seconds": $((SECONDS_PROBE + 5))}
JSON
timeout $((SECONDS_PROBE + 60)) python3 tests/lib/hostile.py "$T/plan.json" >"$T/out" 2>"$T/err"
tap_is "$?" 0 "the hostile clients ran (tests/lib/hostile.py)"
[ -n "${HOSTILE_OUT:-}" ] && cp "$T/out" "$HOSTILE_OUT"
val() { awk -v k="$1" '$1 == k {print $2; exit}' "$T/out"; }

n=$((${#bodies[@]} + readers + slow))
tap_is "$(val hostile_started)" "$n" "$n hostile connections were open at once (attacks $ATTACKS)"
tap_is "$(val health_failures)" 0 "meanwhile every health check answered 200 ($(val health_checks) checks)"
tap_ok "$([ "$(val health_max_ms)" -lt 2000 ]; echo $?)" \
    "... each within 2 s (p50 $(val health_p50_ms) ms, p95 $(val health_p95_ms) ms, max $(val health_max_ms) ms)"
tap_is "$(val upload_failures)" 0 "meanwhile every batch creation and 1 MiB PATCH of a second user succeeded"
tap_ok "$([ "$(val uploads)" -ge $((SECONDS_PROBE / 6)) ]; echo $?)" "... $(val uploads) of them, one after the other"
tap_ok "$([ "$(val create_max_ms)" -lt 2000 ] && [ "$(val patch_max_ms)" -lt 2000 ]; echo $?)" \
    "... each step within 2 s (slowest creation $(val create_max_ms) ms, PATCH $(val patch_max_ms) ms)"
tap_diag "$(tr '\n' ' ' <"$T/out")"
tap_is "$(grep -c 'died after' "$STACK_DIR/batchup.log")" 0 "no worker died"

tap_done
