#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Hooks that fail are retried with exponential backoff, and
# batchup.hook_deliveries shows the attempts and the last error:
#  - a receiver that answers 500 to the first two deliveries of each event,
#    and a command that exits 1 on the first two attempts: the batch's event
#    is delivered on the third attempt, the gaps between attempts about 1 s
#    then 2 s (hook_retry_seconds = 1, doubling); meanwhile the view shows
#    attempts 2, the next attempt due, "url: HTTP 500; command ..." errors;
#  - file_aborted events (hook_events includes them) that both targets
#    always refuse are given up after hook_max_attempts (failed, with the
#    last error); batchup.hook_retry makes one pending again;
#  - a file expiry, a kind not in hook_events, is not even queued (the
#    hooks child registered the kinds it delivers).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t85
mkdir -p "$T"
PY=$(stack__python)
timeout 100 "$PY" tests/lib/hook-receiver.py "$T/port" "$T/url.log" --fail-first 2 --fail-type file_aborted \
    --seconds 90 >"$T/receiver.out" 2>&1 &
receiver=$!
stack_wait_until 10 test -s "$T/port" || tap_bail "the receiver did not start"
cat >"$T/hook.sh" <<SH
#!/bin/sh
# The test's hook command: fails on the first two attempts, and always for file_aborted.
echo "\$BATCHUP_EVENT_ID \$BATCHUP_EVENT \$BATCHUP_ATTEMPT \$(date +%s.%N)" >>"$T/cmd.log"
[ "\$BATCHUP_EVENT" = file_aborted ] && exit 1
[ "\$BATCHUP_ATTEMPT" -ge 3 ]
SH
chmod +x "$T/hook.sh"
stack_start workers=8 gc_interval_seconds=3600 "hook_command=$T/hook.sh" \
    "hook_url=http://127.0.0.1:$(cat "$T/port")/events" hook_events=batch_complete,file_aborted \
    hook_timeout_seconds=5 hook_retry_seconds=1 hook_max_attempts=3 ||
    tap_bail "the stack did not start"
TOKEN=$(stack_user_add alice) || tap_bail "cannot add alice"

curl -s --max-time 20 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "e.txt", "size": 0}]}' "$BATCHUP_URL/api/v1/batches" >"$T/b1.json"
batch=$(jq -r .id "$T/b1.json")
ev=$(sql "SELECT event_id FROM batchup.hook_deliveries WHERE batch_id = '$batch'")

# At the same time, a file_aborted event that both targets refuse every time.
curl -s --max-time 20 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "a.txt", "size": 5}, {"name": "x.txt", "size": 5}]}' "$BATCHUP_URL/api/v1/batches" >"$T/b2.json"
fa=$(jq -r '.files[0].id' "$T/b2.json")
curl -s -o /dev/null --max-time 10 -X DELETE -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
    "$BATCHUP_URL/api/v1/files/$fa"
aev=$(sql "SELECT event_id FROM batchup.hook_deliveries WHERE file_id = '$fa' AND kind = 'file_aborted'")
tap_like "$aev" '^[0-9a-f-]{36}$' "the aborted file has its file_aborted event"
# file_expired is not in hook_events: expire the other file by hand.
sql "UPDATE batchup.files SET status = 'expired' WHERE batch_id = '$(jq -r .id "$T/b2.json")' AND status = 'pending'" >/dev/null
tap_like "$ev" '^[0-9a-f-]{36}$' "the completed batch has its event"
two_failed() { [ "$(sql "SELECT attempts FROM batchup.hook_deliveries WHERE event_id = '$ev'")" = 2 ] &&
    [ -n "$(sql "SELECT last_error FROM batchup.hook_deliveries WHERE event_id = '$ev'")" ]; }
stack_wait_until 10 two_failed
tap_is "$(sql "SELECT status || '|' || attempts || '|' || (next_attempt_at > now()) || '|' || last_error FROM batchup.hook_deliveries WHERE event_id = '$ev'")" \
    "pending|2|true|command: exit status 1; url: HTTP 500" \
    "after two failures the view shows: pending, 2 attempts, the next one due later, both errors"
done_() { [ "$(sql "SELECT status FROM batchup.hook_deliveries WHERE event_id = '$ev'")" = delivered ]; }
stack_wait_until 15 done_
tap_is "$(sql "SELECT status || '|' || attempts || '|' || (delivered_at IS NOT NULL) || '|' || coalesce(last_error, '') || '|' || array_to_string(targets_done, ',') FROM batchup.hook_deliveries WHERE event_id = '$ev'")" \
    "delivered|3|true||command,url" "the third attempt delivers it: delivered, 3 attempts, no error left"
times=$(awk -v e="$ev" '$1 == "start" && $2 == e { print $7 }' "$T/url.log" | tr '\n' ' ')
gaps=$(echo "$times" | awk '{ for (i = 2; i <= NF; i++) printf "%.1f ", $i - $(i - 1) }')
tap_ok "$(echo "$gaps" | awk '{ exit !(NF == 2 && $1 >= 0.95 && $1 < 2.8 && $2 >= 1.95 && $2 < 3.8) }'; echo $?)" \
    "the URL got 3 deliveries, the gaps growing exponentially: about 1 s, then 2 s ($gaps)"
tap_is "$(awk -v e="$ev" '$1 == e { print $3 }' "$T/cmd.log" | tr '\n' ' ')" "1 2 3 " \
    "the command ran 3 times, with BATCHUP_ATTEMPT 1, 2, 3"
tap_is "$(awk -v e="$ev" '$1 == "start" && $2 == e { print $3 }' "$T/url.log" | sort -u)" "$ev" \
    "every retry carries the same id (Idempotency-Key)"

gave_up() { [ "$(sql "SELECT status FROM batchup.hook_deliveries WHERE event_id = '$aev'")" = failed ]; }
stack_wait_until 15 gave_up
tap_is "$(sql "SELECT status || '|' || attempts || '|' || (next_attempt_at IS NULL) || '|' || last_error FROM batchup.hook_deliveries WHERE event_id = '$aev'")" \
    "failed|3|true|command: exit status 1; url: HTTP 500" \
    "after hook_max_attempts (3) the event is given up: failed, 3 attempts, the last error"
tap_is "$(sql "SELECT count(*) FROM batchup.hook_deliveries WHERE kind = 'file_expired'")" 0 \
    "the file expiry (not in hook_events) queued no event"
tap_is "$(grep -c "^start $aev " "$T/url.log")|$(grep -c "file_expired" "$T/url.log" "$T/cmd.log" | awk -F: '{ s += $2 } END { print s }')" "3|0" \
    "the URL saw the given-up event 3 times, and nothing of the expiry"
tap_is "$(sql "SELECT batchup.hook_retry('$aev')")|$(sql "SELECT status || ' ' || attempts FROM batchup.hook_deliveries WHERE event_id = '$aev'" | sed 's/pending [01]/pending/')" \
    "t|pending" "batchup.hook_retry makes the failed event pending again"
grep -q "hook event $aev (file_aborted, batch .*) attempt 3 failed: command: exit status 1; url: HTTP 500; giving up" "$STACK_DIR/batchup.log"
tap_ok $? "the log says when an event is given up"

kill "$receiver" 2>/dev/null
wait "$receiver" 2>/dev/null
tap_done
