#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Started by spawn-fcgi, batchup serves on the listening socket it finds on
# standard input instead of opening its own `listen` address: requests
# through nginx and straight over FastCGI (cgi-fcgi) succeed, and SIGTERM
# stops it with status 0.  The pool rule (workers > per_user_limit, so one
# user's uploads leave a worker for everyone else) holds for batchup's own
# pool; one worker per process on a manager's socket is the manager's
# concern (mod_fcgid starts a process per request in flight).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_pg_start || tap_bail "PostgreSQL did not start"
# `listen` names another path: batchup must not use it.
stack_write_conf workers=2 per_user_limit=1 gc_interval_seconds=3600 "listen=$STACK_DIR/unused.sock"
stack_migrate >"$STACK_DIR/migrate.log" 2>&1 || tap_bail "migrate failed: $(cat "$STACK_DIR/migrate.log")"
stack_nginx_start || tap_bail "nginx did not start"

stack_batchup_launch spawn-fcgi -n -s "$STACK_SOCKET" -M 0600 -- "$BATCHUP_BIN" serve -c "$BATCHUP_CONF"
tap_ok $? "batchup under spawn-fcgi answers health 200 through nginx"
tap_is "$(stack_health_code)" 200 "health through nginx: 200"
[ ! -e "$STACK_DIR/unused.sock" ]
tap_ok $? "the configured listen path was not created (fd 0 was used)"

out=$(env -i PATH="$PATH" REQUEST_METHOD=GET REQUEST_URI=/api/v1/health DOCUMENT_URI=/api/v1/health \
    SCRIPT_NAME=/api/v1/health QUERY_STRING= SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 \
    SERVER_NAME=localhost SERVER_PORT=80 REMOTE_ADDR=127.0.0.1 CONTENT_LENGTH=0 \
    timeout 10 cgi-fcgi -bind -connect "$STACK_SOCKET" 2>&1)
tap_ok $? "cgi-fcgi gets an answer over the socket"
status=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^Status: *\([0-9]*\).*/\1/p' | head -n 1)
tap_is "${status:-200}" 200 "its status is 200"
printf '%s\n' "$out" | tr -d '\r' | sed '1,/^$/d' | "$(stack__python)" -c '
import json, sys
assert json.load(sys.stdin)["status"] == "ok"' 2>/dev/null
rc=$?
tap_ok $rc "its body is JSON with \"status\": \"ok\""
[ $rc = 0 ] || tap_diag "$out"

kill -TERM "$BATCHUP_PID"
stack__wait_gone "$BATCHUP_PID" 40
tap_ok $? "SIGTERM stops it within 40 s"
wait "$BATCHUP_PID"
tap_is "$?" 0 "exit status 0"
BATCHUP_PID=
rm -f "$STACK_DIR/batchup.pid"

# The pool rule, on batchup's own socket and on a manager's.
rm -rf "$STACK_DIR/own"
out=$(BATCHUP_WORKERS=5 BATCHUP_PER_USER_LIMIT=5 BATCHUP_LISTEN="$STACK_DIR/own/b.sock" \
    BATCHUP_STORAGE_DIR="$STACK_DIR/own/storage" timeout 20 "$BATCHUP_BIN" serve -c "$BATCHUP_CONF" 2>&1)
rc=$?
tap_is "$rc" 2 "workers = per_user_limit = 5 on its own socket: serve refuses to start (exit 2)"
tap_like "$out" 'workers \(5\) cannot carry one user.s 5 uploads \(per_user_limit\).*at least 6' \
    "... and says why and what to set"
[ ! -e "$STACK_DIR/own" ]
tap_ok $? "... having created nothing (no socket, no storage folder)"

rm -f "$STACK_SOCKET"
BATCHUP_WORKERS=1 BATCHUP_PER_USER_LIMIT=5 \
    stack_batchup_launch spawn-fcgi -n -s "$STACK_SOCKET" -M 0600 -- "$BATCHUP_BIN" serve -c "$BATCHUP_CONF"
tap_ok $? "workers = 1 on spawn-fcgi's socket (one process per request, as mod_fcgid runs it): it serves"
kill -TERM "$BATCHUP_PID"
stack__wait_gone "$BATCHUP_PID" 40
wait "$BATCHUP_PID"
BATCHUP_PID=
rm -f "$STACK_DIR/batchup.pid"

tap_done
