#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# PostgreSQL stalls (an administrator holds `LOCK batchup.slots IN ACCESS
# EXCLUSIVE MODE` in psql): with the default keys, health answers 503
# within 2 s instead of waiting, an upload's PATCH answers 503 within a
# bounded time (db_lock_timeout, 5 s, plus slack) instead of holding its
# worker for as long as the lock lasts, and once the lock is released
# everything answers as before, without restarting batchup.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 pm=static per_user_limit=1 gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
B=$BATCHUP_URL
T=$STACK_DIR/t23
mkdir -p "$T"
master=$BATCHUP_PID

batch_create "$TA" '{"files": [{"name": "a.txt", "size": 5}]}' >"$T/mk.json"
FILE=$(jq -r '.files[0].id' "$T/mk.json")
[ -n "$FILE" ] && [ "$FILE" != null ] || tap_bail "no batch: $(cat "$T/mk.json")"
printf hello >"$T/body"
tus_patch() {
    curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 -X PATCH \
        -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' --data-binary "@$T/body" \
        "$B/api/v1/files/$FILE"
}
tap_is "$(stack_health_code)" 200 "health answers 200 before the stall"

# The administrator's lock, held for 25 s (or until killed).
psql -XAtq -c 'BEGIN; LOCK batchup.slots IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(25); COMMIT;' \
    >/dev/null 2>&1 &
locker=$!
locked() {
    [ "$(psql -XAtq -c "SELECT count(*) FROM pg_locks WHERE relation = 'batchup.slots'::regclass
                           AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]
}
stack_wait_until 10 locked || tap_bail "psql did not take the lock"

results=
for _ in 1 2 3 4; do
    results="$results$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 \
        "$B/api/v1/health");"
done
bad=$(printf '%s' "$results" | tr ';' '\n' | awk 'NF && ($1 != 503 || $2 > 2)' | wc -l)
tap_is "$bad" 0 "4 health requests during the stall each answer 503 within 2 s"
tap_diag "health during the stall (status seconds): $results"

got=$(tus_patch)
tap_like "$got" '^503 ([0-9]|10)\.' "a PATCH during the stall answers 503 within 11 s ($got)"

kill "$locker" 2>/dev/null
psql -XAtq -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE query LIKE '%LOCK batchup.slots%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker" 2>/dev/null
stack_wait_until 10 eval '! locked'
tap_ok $? "the lock is released"

stack_wait_until 15 health_all_200 8
tap_ok $? "after the stall, 8 health requests in a row answer 200"
got=$(tus_patch)
tap_like "$got" '^204 ' "the PATCH then completes the upload ($got)"
tap_is "$(psql -XAtq -c "SELECT status FROM batchup.files WHERE id = '$FILE'")" completed \
    "the file is completed in the database"
tap_is "$BATCHUP_PID" "$master" "the same master serves"

tap_done
