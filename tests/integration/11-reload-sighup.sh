#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# SIGHUP re-reads the configuration and replaces the workers without closing
# the listening socket: `workers` changed in the file changes the number of
# children, the old workers go away, the master and the socket stay, and a
# loop of requests running across each reload sees no failure.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"
master=$BATCHUP_PID
inode=$(stat -c %i "$STACK_SOCKET")

n_workers() { [ "$(stack_worker_pids | wc -l)" = "$1" ]; }
stack_wait_until 15 n_workers 3
tap_is "$(stack_worker_pids | wc -l)" 3 "the master starts with 3 workers"

# reload N: set workers = N, SIGHUP, with a request loop running meanwhile.
reload() {
    local want=$1 old codes_file=$STACK_DIR/codes-$1 bad
    old=$(stack_worker_pids)
    stack_health_codes 60 0.1 >"$codes_file" &
    local loop=$!
    sleep 1
    sed -i "s/^workers = .*/workers = $want/" "$BATCHUP_CONF"
    kill -HUP "$master"
    settled() {
        local now
        now=$(stack_worker_pids)
        [ "$(echo "$now" | grep -c .)" = "$want" ] || return 1
        [ -z "$(comm -12 <(echo "$old") <(echo "$now"))" ]
    }
    stack_wait_until 20 settled
    tap_ok $? "after SIGHUP with workers = $want: $want workers, none of the old ones left"
    tap_diag "workers before: $(echo $old), after: $(stack_worker_pids | tr "\n" " ")"
    wait "$loop"
    bad=$(grep -cv '^200$' "$codes_file")
    tap_is "$bad" 0 "60 health requests across the reload to $want workers all answer 200"
    [ "$bad" = 0 ] || tap_diag "codes: $(tr '\n' ' ' <"$codes_file")"
}

reload 4
reload 2

stack__alive "$master"
tap_ok $? "the master ($master) still runs after two reloads"
tap_is "$(stat -c %i "$STACK_SOCKET" 2>/dev/null)" "$inode" "the listening socket is the same file (not re-created)"
tap_is "$(stack_health_code)" 200 "health answers 200 afterwards"

tap_done
