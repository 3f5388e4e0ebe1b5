#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A connection wakes one idle worker, not all of them. A static pool of 300
# idle workers takes a burst of 300 FastCGI connections that send nothing
# (each holds the worker that accepts it until header_timeout); every one is
# accepted, and the workers are woken about once each (the sum of their
# voluntary context switches, /proc/PID/status). When every idle worker
# polled the listening socket, each connection woke all that still waited:
# 300 connections cost tens of thousands of wakeups (23,525 context
# switches for 1000), which on a busy machine is CPU taken from nginx and
# the uploads. Then the pool still serves: once the silent connections are
# dropped, health answers through nginx, and a second burst, after the
# workers have each served a request, is accepted too (no worker is left
# asleep while connections wait).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

N=300
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=$((N + 4)) pm=static header_timeout=4 gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
T=$STACK_DIR/t16h
mkdir -p "$T"
full() { [ "$(stack_worker_pids | grep -c .)" -ge $((N + 4)) ]; }
stack_wait_until 30 full || tap_bail "the pool did not reach $((N + 4)) workers"
sleep 2 # every worker has reached its accept wait

# The sum of the workers' voluntary context switches.
switches() {
    local p sum=0 n
    for p in $(stack_worker_pids); do
        n=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        sum=$((sum + ${n:-0}))
    done
    echo "$sum"
}

# burst FILE: N silent connections at once; FILE gets the seconds until the
# accept queue was empty (ss), or "timeout".
burst() {
    "$(stack__python)" - "$STACK_SOCKET" "$N" >"$1" <<'PY'
import socket, subprocess, sys, time
path, n = sys.argv[1], int(sys.argv[2])
def queue():
    out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[4] == path:
            return int(f[2])
    return -1
socks, t0 = [], time.time()
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    socks.append(s)
while queue() != 0 and time.time() - t0 < 3:
    time.sleep(0.02)
print("%.2f" % (time.time() - t0) if queue() == 0 else "timeout")
time.sleep(1)
PY
}

before=$(switches)
burst "$T/first"
after=$(switches)
tap_like "$(cat "$T/first")" '^[0-9.]+$' "a burst of $N silent connections was accepted at once ($(cat "$T/first") s)"
woken=$((after - before))
# A connection costs its worker about three wakeups (the accept, the
# header wait, the drop); the idle workers add one a second each (the
# accept wait's deadline).  Every idle worker woken per connection would
# be about N * N / 2.
tap_ok "$([ "$woken" -le $((N * 4)) ]; echo $?)" \
    "... waking the workers $woken times in all (at most $((N * 4)): one worker a connection)"

# header_timeout (4 s) drops the silent connections; the pool serves again.
drained() { [ "$(grep -c 'connection dropped: no complete request head' "$STACK_DIR/batchup.log")" -ge "$N" ]; }
stack_wait_until 20 drained
tap_ok $? "the $N silent connections were dropped after header_timeout"
tap_is "$(stack_health_code 5)" 200 "health answers through nginx"
burst "$T/second"
tap_like "$(cat "$T/second")" '^[0-9.]+$' "a second burst of $N was accepted at once too ($(cat "$T/second") s)"
tap_done
