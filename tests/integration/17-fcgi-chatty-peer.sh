#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A chatty FastCGI peer cannot hold a worker (issue 22, item 8). A local
# process connects to the worker socket and keeps its receive queue full of
# records that carry no request: records of another request id (PARAMS of
# id 5, never begun), or GET_VALUES whose answers it reads. No read of the
# worker's ever waits, so a deadline checked only when a read would block
# is never checked. With header_timeout = 2, each such connection must be
# dropped within 2 s (plus a margin), not when the peer gives up (20 s),
# and the log must say why. Meanwhile the web server's requests are
# answered by the rest of the pool.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 pm=static per_user_limit=1 header_timeout=2 gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
T=$STACK_DIR/t17
mkdir -p "$T"

# chatty.py SOCKET MODE SECONDS: prints how long the worker kept the
# connection (until it closed or reset it), or SECONDS when it never did.
cat >"$T/chatty.py" <<'PY'
import select, socket, struct, sys, time

path, mode, cap = sys.argv[1], sys.argv[2], float(sys.argv[3])


def record(rtype, rid, content=b"", pad=0):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0) + content + b"\0" * pad


if mode == "getvalues":
    one = record(9, 0, b"\x0e\x00FCGI_MAX_CONNS")
else:
    one = record(4, 5, b"0123456789", 6)
batch = one * (65536 // len(one))
ring = memoryview(batch + batch)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:  # a deep queue keeps the worker busy while this process waits its turn
    s.setsockopt(socket.SOL_SOCKET, 32, 16 << 20)  # SO_SNDBUFFORCE (root)
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 20)
s.connect(path)
s.setblocking(False)
t0, at, closed = time.time(), 0, False
while not closed and time.time() - t0 < cap:
    r, w, _ = select.select([s], [s], [], 0.1)
    try:
        if r and not s.recv(1 << 16):
            closed = True
        if w and not closed:
            at = (at + s.send(ring[at : at + len(batch)])) % len(batch)
    except BlockingIOError:
        pass
    except (BrokenPipeError, ConnectionResetError):
        closed = True
print("%.2f" % (time.time() - t0))
PY

PY3=$(stack__python)
for mode in params getvalues; do
    took=$(timeout 60 "$PY3" "$T/chatty.py" "$STACK_SOCKET" "$mode" 20)
    tap_ok "$(awk -v t="$took" 'BEGIN {exit !(t != "" && t < 4.5)}'; echo $?)" \
        "a peer sending $mode records without pause is dropped after header_timeout (2 s): ${took:-?} s"
done
tap_is "$(grep -c 'connection dropped: no complete request head' "$STACK_DIR/batchup.log")" 2 \
    "the log says why each was dropped"

# Three at once, one per worker: dropped on time, and the pool serves again.
pids=()
for i in 1 2 3; do
    timeout 60 "$PY3" "$T/chatty.py" "$STACK_SOCKET" params 20 >"$T/took.$i" &
    pids+=($!)
done
wait "${pids[@]}"
tap_is "$(cat "$T"/took.* | awk '$1 < 4.5' | wc -l)" 3 \
    "three chatty peers at once, one per worker: each dropped on time ($(cat "$T"/took.* | tr '\n' ' ')s)"
tap_is "$(stack_health_code)" 200 "health answers 200 afterwards"

tap_done
