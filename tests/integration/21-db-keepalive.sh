#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# TCP keepalives on a remote database connection (issue 22, item 11): a
# server that vanished without closing the connection (a power cut, a
# dropped route) must be noticed in about a minute, not after the kernel's
# default two hours of silence.  batchup reaches PostgreSQL over TCP here
# (127.0.0.1, through a small forwarder to the cluster's unix socket), and
# the kernel's view of a worker's connection (ss -o) must show a keepalive
# timer of at most 30 s (keepalives_idle=30), where libpq's defaults leave
# the system's 7200 s.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_pg_start || tap_bail "PostgreSQL did not start"
PORT=$(stack__free_port)
"$(stack__python)" - "$PORT" "$PGHOST/.s.PGSQL.$PGPORT" <<'PY' >/dev/null 2>&1 &
import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(64); srv.settimeout(90)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    try: c, _ = srv.accept()
    except OSError: break
    u = socket.socket(socket.AF_UNIX); u.connect(path)
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
fwd=$!
# The forwarder goes with the stack (stack_init's EXIT trap, kept).
trap 'kill $fwd 2>/dev/null; stack_cleanup' EXIT
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
stack_wait_until 10 listening || tap_bail "the forwarder did not start"
stack_write_conf "database=host=127.0.0.1 port=$PORT dbname=batchup user=postgres" workers=2 pm=static \
    per_user_limit=1 gc_interval_seconds=3600 || tap_bail "no config"
stack_migrate >"$STACK_DIR/migrate.log" 2>&1 || tap_bail "migrate failed: $(cat "$STACK_DIR/migrate.log")"
stack_web_start || tap_bail "no web server"
stack_batchup_start || tap_bail "batchup did not start"
tap_is "$(stack_health_code)" 200 "health answers 200 with the database reached over TCP"

workers=$(stack_worker_pids | tr '\n' '|' | sed 's/|$//')
timers=$(ss -tnpo state established "( dport = :$PORT )" 2>/dev/null |
    grep -E "pid=($workers)," | grep -o 'timer:(keepalive,[^)]*)')
tap_diag "workers' connections: ${timers:-none}"
first=$(echo "$timers" | head -n 1)
tap_like "$first" '^timer:\(keepalive,' "a worker's database connection has TCP keepalives on"
secs=$(echo "$first" | sed -E 's/timer:\(keepalive,(([0-9]+)min)?(([0-9.]+)sec)?.*/\2:\4/' |
    awk -F: '{print ($1 == "" ? 0 : $1) * 60 + ($2 == "" ? 0 : $2)}')
tap_ok "$([ -n "$first" ] && awk -v s="$secs" 'BEGIN { exit !(s <= 30) }' && echo 0 || echo 1)" \
    "its first probe is due within 30 s of silence ($secs s), not the system's 2 hours"

tap_done
