#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# systemd socket activation: started with a listening socket on descriptor 3
# and LISTEN_PID (its pid) and LISTEN_FDS=1 in its environment, as systemd
# starts a service from a socket unit (tests/lib/socket-activate.py does
# the same, and so does Debian's systemd-socket-activate when present),
# batchup serves on that socket and ignores `listen`; a reload keeps it;
# on stop it leaves the socket file alone (it is systemd's). A LISTEN_PID
# of another process is ignored; LISTEN_FDS=2 is refused with exit 1.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_pg_start || tap_bail "PostgreSQL did not start"
# `listen` names another path: it must stay unused.
other=$STACK_DIR/not-this.sock
stack_write_conf "listen=$other" workers=2 per_user_limit=1 gc_interval_seconds=3600
stack_migrate >"$STACK_DIR/migrate.log" 2>&1 || tap_bail "migrate failed"
stack_nginx_start || tap_bail "nginx did not start"
PY=$(stack__python)
ACTIVATE=$PWD/tests/lib/socket-activate.py

stack_batchup_launch "$PY" "$ACTIVATE" "$STACK_SOCKET" "$BATCHUP_BIN" serve -c "$BATCHUP_CONF"
tap_ok $? "batchup started with the socket on descriptor 3 answers health through nginx"
tap_ok "$([ ! -e "$other" ]; echo $?)" "the configured listen path was not opened"
grep -q 'serving on the socket systemd passed (socket activation)' "$STACK_DIR/batchup.log"
tap_ok $? "the master logs that it serves on the socket systemd passed"
inode=$(stat -c %i "$STACK_SOCKET")
kill -HUP "$BATCHUP_PID"
sleep 1
tap_is "$(stack_health_codes 5 0.1 | sort -u | tr '\n' ' ')" "200 " "after SIGHUP it still serves on it"
stack_batchup_stop
tap_is "$(stat -c %i "$STACK_SOCKET" 2>/dev/null)" "$inode" "after a stop the socket file is left in place (systemd owns it)"
rm -f "$STACK_SOCKET"

# systemd's own helper, where Debian ships it (package systemd).
if command -v systemd-socket-activate >/dev/null; then
    stack_batchup_launch systemd-socket-activate -l "$STACK_SOCKET" "$BATCHUP_BIN" serve -c "$BATCHUP_CONF"
    tap_ok $? "started by systemd-socket-activate, it serves on the passed socket too"
    stack_batchup_stop
    rm -f "$STACK_SOCKET"
fi

# Variables meant for another process: ignored, `listen` is used.
stack_write_conf "listen=$STACK_SOCKET" workers=2 per_user_limit=1 gc_interval_seconds=3600
mv "$STACK_DIR/batchup.log" "$STACK_DIR/batchup-1.log"
stack_batchup_launch "$PY" "$ACTIVATE" "$STACK_DIR/foreign.sock" --pid-offset 1 "$BATCHUP_BIN" serve -c "$BATCHUP_CONF"
tap_ok $? "with LISTEN_PID of another process it serves on listen"
grep -q "listening on $STACK_SOCKET" "$STACK_DIR/batchup.log"
tap_ok $? "... as its log says"
stack_batchup_stop

"$PY" "$ACTIVATE" "$STACK_DIR/two.sock" --fds 2 "$BATCHUP_BIN" serve -c "$BATCHUP_CONF" >"$STACK_DIR/two.out" 2>&1 </dev/null
tap_is "$?" 1 "two sockets passed: exit status 1"
tap_like "$(cat "$STACK_DIR/two.out")" 'LISTEN_FDS=2; batchup serves on exactly one socket' "... with a message that says why"

tap_done
