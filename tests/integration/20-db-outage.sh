#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# PostgreSQL stopped under a running server: health answers 503 at once (no
# hang), as JSON, and the master stays up; PostgreSQL back: health answers 200
# again from every worker within a bounded time, without restarting batchup.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"
master=$BATCHUP_PID

# socket_holders: the processes that hold the listening socket
# ($STACK_SOCKET), each given as itself when it holds it first-hand, or as
# its parent when its parent holds it too (a worker); sorted and unique.
socket_holders() {
    local inode holders p pp out=()
    inode=$(awk -v path="$STACK_SOCKET" '$NF == path && $4 == "00010000" { print $7; exit }' /proc/net/unix)
    [ -n "$inode" ] || { echo "no listening socket at $STACK_SOCKET"; return; }
    holders=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\\[$inode\\]" 2>/dev/null | cut -d/ -f3 | sort -u)
    for p in $holders; do
        pp=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        if printf '%s\n' "$holders" | grep -qx "$pp"; then out+=("$pp"); else out+=("$p"); fi
    done
    printf '%s\n' "${out[@]}" | sort -un | tr '\n' ' ' | sed 's/ $//'
}

tap_is "$(stack_health_code)" 200 "health answers 200 with PostgreSQL up"

stack_pg_stop
[ ! -f "$STACK_DIR/pg/data/postmaster.pid" ]
tap_ok $? "PostgreSQL is stopped"

results=
for _ in 1 2 3 4 5 6; do
    results="$results$(curl -s -o /dev/null --max-time 10 -w '%{http_code} %{time_total}' \
        "$BATCHUP_URL/api/v1/health") "
    results="$results
"
done
bad=$(printf '%s' "$results" | awk 'NF && ($1 != 503 || $2 > 5)' | wc -l)
tap_is "$bad" 0 "6 health requests with PostgreSQL down each answer 503 in under 5 s"
[ "$bad" = 0 ] || tap_diag "status and seconds: $(printf '%s' "$results" | tr '\n' ';')"

ctype=$(curl -s -o "$STACK_DIR/down.json" --max-time 10 -w '%{content_type}' "$BATCHUP_URL/api/v1/health")
tap_like "$ctype" '^application/json' "the 503 is JSON ($ctype)"
"$(stack__python)" -c 'import json,sys; json.load(open(sys.argv[1]))' "$STACK_DIR/down.json" 2>/dev/null
tap_ok $? "its body parses as JSON"

stack__alive "$master"
tap_ok $? "the master still runs while PostgreSQL is down"

stack_pg_start
tap_ok $? "PostgreSQL is started again"

# Every worker must have reconnected: 10 answers of 200 in a row.
stack_wait_until 30 health_all_200 10
tap_ok $? "within 30 s, 10 health requests in a row answer 200"
# Who serves now: the processes holding the listening socket are the master
# started above and its workers, nothing started since.
tap_is "$(socket_holders)" "$master" "the same master serves (the listening socket's holders are $master and its workers)"
stack__alive "$master"
tap_ok $? "the master ($master) is alive"

tap_done
