#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A worker killed with SIGKILL is replaced by a new one, and requests made
# before, around and after the kill all succeed: the socket stays open and the
# surviving workers keep accepting while the master forks the replacement.
# The kill happens between two requests (the victim is idle), so no request
# may fail.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"

three_workers() { [ "$(stack_worker_pids | wc -l)" = 3 ]; }
stack_wait_until 15 three_workers
tap_is "$(stack_worker_pids | wc -l)" 3 "the master runs 3 workers"
before=$(stack_worker_pids)
victim=$(echo "$before" | head -n 1)
master=$BATCHUP_PID

codes=$(stack_health_codes 10 0.05)
kill -KILL "$victim"
codes="$codes
$(stack_health_codes 30 0.1)"
bad=$(printf '%s\n' "$codes" | grep -cv '^200$')
tap_is "$bad" 0 "40 health requests before, around and after the kill all answer 200"
[ "$bad" = 0 ] || tap_diag "codes: $(printf '%s' "$codes" | tr '\n' ' ')"

replaced() {
    local now new
    now=$(stack_worker_pids)
    [ "$(echo "$now" | grep -c .)" = 3 ] || return 1
    echo "$now" | grep -qx "$victim" && return 1
    new=$(comm -13 <(echo "$before") <(echo "$now"))
    [ -n "$new" ]
}
stack_wait_until 15 replaced
tap_ok $? "the killed worker ($victim) is gone and a new pid is among 3 workers"
tap_diag "workers before: $(echo $before), after: $(stack_worker_pids | tr "\n" " ")"
stack__alive "$master"
tap_ok $? "the master ($master) still runs"
tap_is "$(stack_health_code)" 200 "health answers 200 afterwards"

tap_done
