#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Hooks: every completed batch reaches a hook command and a hook URL (a
# local receiver) as exactly one distinct event (one event id per batch,
# every batch present, the JSON id = Idempotency-Key = BATCHUP_EVENT_ID,
# the link = the batch's), while workers are SIGKILLed during the uploads
# and the whole server (master, workers, hooks child) is SIGKILLed while the
# slow receiver holds a delivery, then started again. The event in flight at
# the kill is delivered again with the same id once its lease runs out: the
# repeat a receiver drops (exactly once in effect).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t84
mkdir -p "$T"
PY=$(stack__python)
timeout 150 "$PY" tests/lib/hook-receiver.py "$T/port" "$T/url.log" --delay 0.4 --seconds 140 \
    >"$T/receiver.out" 2>&1 &
receiver=$!
stack_wait_until 10 test -s "$T/port" || tap_bail "the receiver did not start"
cat >"$T/hook.sh" <<SH
#!/bin/sh
# The test's hook command: records the event, slowly.
id=\$(jq -r .id)
echo "start \$BATCHUP_EVENT_ID \$id \$BATCHUP_EVENT \$BATCHUP_BATCH_ID \$BATCHUP_LINK \$BATCHUP_ATTEMPT" >>"$T/cmd.log"
echo "sockets \$(ls -l /proc/\$\$/fd | grep -c 'socket:')" >>"$T/cmd.log"
sleep 0.2
echo "done \$BATCHUP_EVENT_ID" >>"$T/cmd.log"
SH
chmod +x "$T/hook.sh"
stack_start workers=8 gc_interval_seconds=3600 "hook_command=$T/hook.sh" \
    "hook_url=http://127.0.0.1:$(cat "$T/port")/events" hook_timeout_seconds=3 hook_retry_seconds=1 ||
    tap_bail "the stack did not start"
TOKEN=$(stack_user_add alice) || tap_bail "cannot add alice"

# batches FROM TO: batches of one empty file (complete at creation) and of
# an uploaded file, in turn; a worker is SIGKILLed after every fourth.
printf 'some bytes' >"$T/data"
batches() {
    local i body f
    for i in $(seq "$1" "$2"); do
        if [ $((i % 2)) = 0 ]; then
            body='{"files": [{"name": "e.txt", "size": 0}]}'
        else
            body='{"files": [{"name": "d.txt", "size": 10}]}'
        fi
        curl -s --max-time 20 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            --data "$body" "$BATCHUP_URL/api/v1/batches" >"$T/b$i.json"
        if [ $((i % 2)) = 1 ]; then
            f=$(jget 'd["files"][0]["id"]' <"$T/b$i.json" 2>/dev/null)
            [ -n "$f" ] && patch "$TOKEN" "/api/v1/files/$f" "$T/data" >/dev/null
        fi
        if [ $((i % 4)) = 0 ]; then
            kill -KILL "$(stack_worker_pids | head -n 1)" 2>/dev/null
            sleep 0.3
        fi
    done
}
batches 1 8

# Kill everything while the receiver holds a delivery (started, not done).
in_flight() {
    awk '$1 == "start" { s[$2]++ } $1 == "done" { d[$2]++ }
         END { for (i in s) if (s[i] > d[i] + 0) { print i; exit } }' "$T/url.log" 2>/dev/null
}
held=
for _ in $(seq 1 200); do
    held=$(in_flight)
    [ -n "$held" ] && break
    sleep 0.1
done
tap_like "$held" '^[0-9a-f-]{36}$' "the slow receiver holds the delivery of an event ($held)"
kids=$(pgrep -P "$BATCHUP_PID" | tr '\n' ' ')
# shellcheck disable=SC2086
kill -KILL "$BATCHUP_PID" $kids
for p in "$BATCHUP_PID" $kids; do stack__wait_gone "$p" 5; done
BATCHUP_PID=
tap_diag "SIGKILL to the master and its children: $kids"
stack_batchup_start
tap_ok $? "the server starts again"
batches 9 16
complete=$(psql -XAtq -c "SELECT count(*) FROM batchup.batches WHERE status = 'complete'")
tap_ok "$([ "$complete" -ge 12 ]; echo $?)" "$complete batches completed while 4 workers and once the whole server were SIGKILLed"

delivered() {
    [ "$(psql -XAtq -c "SELECT count(*) FILTER (WHERE status <> 'delivered') || ' ' || count(*) FROM batchup.hook_deliveries")" = "0 $complete" ]
}
stack_wait_until 60 delivered
tap_ok $? "batchup.hook_deliveries: all $complete events delivered"
sleep 0.5

psql -XAtq -F ' ' -c "SELECT id, '/api/v1/download/batch/' || download_token FROM batchup.batches WHERE status = 'complete' ORDER BY id" >"$T/expected"
# check LOG ID_FIELD BATCH_FIELD LINK_FIELD: "distinct ids|id per batch|batches|links" compared below.
check() {
    awk -v i="$2" -v b="$3" -v l="$4" '$1 == "start" { print $i, $b, $l }' "$1" | sort -u >"$T/got.$5"
    printf '%s|%s|%s' "$(cut -d' ' -f1 "$T/got.$5" | sort -u | wc -l)" \
        "$(cut -d' ' -f2 "$T/got.$5" | sort | uniq -d | wc -l)" \
        "$(cut -d' ' -f2,3 "$T/got.$5" | sort | diff - "$T/expected" >/dev/null && echo same || echo differ)"
}
tap_is "$(check "$T/url.log" 2 5 6 url)" "$complete|0|same" \
    "the URL got $complete distinct event ids, one per completed batch, each batch with its link"
tap_is "$(check "$T/cmd.log" 2 5 6 cmd)" "$complete|0|same" \
    "the command got $complete distinct event ids, one per completed batch, each batch with its link"
tap_is "$(awk '$1 == "start" && $2 != $3' "$T/url.log" "$T/cmd.log" | wc -l)" 0 \
    "JSON id = Idempotency-Key (URL) and JSON id = BATCHUP_EVENT_ID (command), for every delivery"
tap_is "$(sort "$T/got.url" | cut -d' ' -f1)" "$(sort "$T/got.cmd" | cut -d' ' -f1)" "both targets got the same event ids"
tap_ok "$([ "$(grep -c "^start $held " "$T/url.log")" -ge 2 ]; echo $?)" \
    "the event held at the kill was delivered again with the same id (the repeat a receiver drops)"
tap_is "$(psql -XAtq -c "SELECT attempts >= 2 FROM batchup.hook_deliveries WHERE event_id = '$held'")" t \
    "hook_deliveries counts its attempts ($(psql -XAtq -c "SELECT attempts FROM batchup.hook_deliveries WHERE event_id = '$held'"))"
tap_is "$(awk '$1 == "sockets" && $2 != 0' "$T/cmd.log" | wc -l) $(grep -c '^sockets' "$T/cmd.log")" \
    "0 $(grep -c '^start' "$T/cmd.log")" \
    "the hook command inherits no socket (the listening socket must not outlive a killed server; nor libpq's or curl's)"
tap_diag "URL deliveries: $(grep -c '^start' "$T/url.log") for $complete events; command runs: $(grep -c '^start' "$T/cmd.log")"
# Straight to PostgreSQL (not through a pooler: 18-pgbouncer.sh), each hooks
# child LISTENs: the one killed and the one started after.
if [ "${STACK_PGBOUNCER:-0}" != 1 ]; then
    listening=$(grep -c 'hooks: listening for batchup_hook notifications' "$STACK_DIR/batchup.log")
    tap_ok "$([ "$listening" -ge 2 ] && ! grep -q 'hooks: .*pooler' "$STACK_DIR/batchup.log"; echo $?)" \
        "both hooks children LISTEN on their direct connection (batchup.log: $listening times)"
fi

kill "$receiver" 2>/dev/null
wait "$receiver" 2>/dev/null
tap_done
