#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# SIGTERM while a request is in flight: the request (a PATCH whose body
# trickles in over 4 s through nginx, which streams upload bodies; a batch
# body nginx would read whole first) gets its full normal answer, the
# master waits for it, every worker exits, and the master exits 0.
# SIGINT and SIGQUIT stop an idle server with status 0 too.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=3600 shutdown_timeout=30 || tap_bail "the stack did not start"
master=$BATCHUP_PID

token=$(stack_user_add alice 2>"$STACK_DIR/user.err")
tap_like "$token" '^[A-Za-z0-9_.~+/=-]{16,}$' "batchup user add prints a token"
[ -n "$token" ] || tap_diag "$(cat "$STACK_DIR/user.err")"
body='{"files":[{"name":"slow.txt","size":4000},{"name":"second.txt","size":5}]}'

code=$(curl -s -o "$STACK_DIR/quick.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "$body" "$BATCHUP_URL/api/v1/batches")
tap_is "$code" 201 "a quick POST /api/v1/batches answers 201"

workers=$(stack_worker_pids)
batch=$(jq -r .id "$STACK_DIR/quick.json")
file=$(jq -r '.files[0].id' "$STACK_DIR/quick.json")
"$(stack__python)" tests/lib/slowreq.py PATCH "$BATCHUP_URL/api/v1/files/$file" "$(head -c 4000 /dev/zero | tr '\0' s)" 4 8 \
    -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' >"$STACK_DIR/slow.out" 2>&1 &
slow=$!
sleep 1.5
kill -TERM "$master"
sleep 1
stack__alive "$master"
tap_ok $? "the master is still running 1 s after SIGTERM while the request is in flight"

wait "$slow"
tap_ok $? "the slow request got a response"
tap_is "$(head -n 1 "$STACK_DIR/slow.out")" 204 "the slow request's answer is 204"
got=$(psql -XAtq -c "SELECT status || ' ' || upload_offset FROM batchup.files WHERE id = '$file'")
tap_is "$got" "completed 4000" "its file is stored whole: completed, 4000 bytes (batch $batch)"

stack__wait_gone "$master" 40
tap_ok $? "the master exits within 40 s of SIGTERM"
wait "$master"
tap_is "$?" 0 "the master's exit status is 0"
BATCHUP_PID=
rm -f "$STACK_DIR/batchup.pid"
left=
for w in $workers; do stack__alive "$w" && left="$left $w"; done
tap_is "$left" "" "no worker is left running"
tap_like "$(stack_health_code)" '^(502|504)$' "nginx finds nobody on the socket any more"

# SIGINT and SIGQUIT stop an idle server the same way.
for sig in INT QUIT; do
    stack_batchup_start || tap_bail "batchup did not start again"
    kill "-$sig" "$BATCHUP_PID"
    stack__wait_gone "$BATCHUP_PID" 40
    tap_ok $? "SIG$sig stops an idle server within 40 s"
    wait "$BATCHUP_PID"
    tap_is "$?" 0 "exit status 0 after SIG$sig"
    BATCHUP_PID=
    rm -f "$STACK_DIR/batchup.pid"
done

tap_done
