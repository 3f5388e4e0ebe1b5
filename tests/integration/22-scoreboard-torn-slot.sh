#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A worker killed in the middle of its scoreboard write (its slot's
# sequence number left odd, the seqlock's "being written") must not hang
# the master: the readers of the scoreboard give up after a bounded number
# of tries, and the master clears the dead worker's slot when it reaps it.
# gdb stops a live worker, makes its sequence odd, and kills it (SIGKILL)
# while it is still stopped: exactly a death between write_begin and
# write_end.  The master must then reap it, start a replacement, keep its
# CPU low, and stop on SIGTERM.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

command -v gdb >/dev/null || { echo "1..0 # SKIP gdb is not installed"; exit 0; }
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"

three_workers() { [ "$(stack_worker_pids | wc -l)" = 3 ]; }
stack_wait_until 15 three_workers
before=$(stack_worker_pids)
victim=$(echo "$before" | head -n 1)
master=$BATCHUP_PID

# Odd sequence, then SIGKILL, all while gdb holds the worker stopped.
timeout 30 gdb -p "$victim" -batch -nx \
    -ex "set var 'scoreboard.c'::self->seq = 'scoreboard.c'::self->seq | 1" \
    -ex "print 'scoreboard.c'::self->seq" -ex kill >"$STACK_DIR/gdb.out" 2>&1
seq=$(sed -n 's/^\$1 = //p' "$STACK_DIR/gdb.out")
tap_like "$seq" '^[0-9]*[13579]$' "gdb left the victim's scoreboard sequence odd ($seq)"
[ -n "$seq" ] || tap_diag "$(tail -n 5 "$STACK_DIR/gdb.out")"
stack__wait_gone "$victim" 5
tap_ok $? "the victim ($victim) is dead"

replaced() {
    local now
    now=$(stack_worker_pids)
    [ "$(echo "$now" | grep -c .)" = 3 ] && ! echo "$now" | grep -qx "$victim"
}
stack_wait_until 10 replaced
tap_ok $? "the master reaped the victim and started a replacement (3 workers)"
tap_diag "workers before: $(echo $before), after: $(stack_worker_pids | tr '\n' ' ')"

codes=$(stack_health_codes 10 0.1)
bad=$(printf '%s\n' "$codes" | grep -cv '^200$')
tap_is "$bad" 0 "10 health requests after the kill answer 200"

# The master's CPU over two seconds: a reader spinning on the odd sequence
# would use all of it.
t0=$(awk '{print $14 + $15}' "/proc/$master/stat")
sleep 2
t1=$(awk '{print $14 + $15}' "/proc/$master/stat")
ticks=$((t1 - t0))
tap_ok "$([ "$ticks" -lt 50 ] && echo 0 || echo 1)" \
    "the master used $ticks of 200 clock ticks in 2 s (under 50: it does not spin)"

kill -TERM "$master"
stack__wait_gone "$master" 15
tap_ok $? "the master obeys SIGTERM and exits within 15 s"
BATCHUP_PID=

tap_done
