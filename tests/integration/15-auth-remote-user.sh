#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# auth = remote_user: batchup trusts the web server's REMOTE_USER (spoken to
# directly over FastCGI with cgi-fcgi, as a web server with its own
# authentication would), only on a listener other local processes cannot
# reach: on TCP it refuses to start (exit 2, one line) unless
# remote_user_trust_tcp = yes. An unknown name is 401 saying how to create
# it, unless remote_user_create = yes creates it on first sight with the
# default limit; no REMOTE_USER is 401, and users are kept apart.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start auth=remote_user gc_interval_seconds=3600 || tap_bail "the stack did not start"
PORT=$(stack__free_port)

# fcgi USER METHOD PATH [BODY]: one request over FastCGI; prints the response.
fcgi() {
    local body=${4:-}
    env -i PATH="$PATH" ${1:+REMOTE_USER=$1} REQUEST_METHOD="$2" REQUEST_URI="$3" SCRIPT_NAME="$3" \
        CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} \
        cgi-fcgi -bind -connect "$STACK_SOCKET" <<<"$body" | tr -d '\r'
}

# On TCP, any local process could claim to be anyone: no start.
out=$(BATCHUP_AUTH=remote_user BATCHUP_LISTEN=127.0.0.1:$PORT timeout 10 "$BATCHUP_BIN" serve -c "$BATCHUP_CONF" 2>&1)
rc=$?
tap_is "$rc" 2 "remote_user on a TCP listener: batchup serve exits 2"
tap_like "$out" 'remote_user_trust_tcp' "... with a message saying what to set"
tap_is "$(printf '%s\n' "$out" | grep -c .)" 1 "... on one line"
BATCHUP_AUTH=remote_user BATCHUP_LISTEN=127.0.0.1:$PORT BATCHUP_REMOTE_USER_TRUST_TCP=yes \
    "$BATCHUP_BIN" serve -c "$BATCHUP_CONF" >"$STACK_DIR/tcp.log" 2>&1 &
tcp_pid=$!
stack_wait_until 10 grep -q "listening on 127.0.0.1:$PORT" "$STACK_DIR/tcp.log"
tap_ok $? "with remote_user_trust_tcp = yes it starts"
stack__stop_pid "$tcp_pid" 10
tap_is "$(stat -c %a "$STACK_SOCKET")" 660 "the unix socket has listen_mode 0660"

# Users are not created on first sight unless asked.
out=$(fcgi erin GET /api/v1/batches)
tap_like "$(echo "$out" | head -n 1)" '^Status: 401' "an unknown REMOTE_USER is 401"
tap_like "$out" "batchup user add NAME.*remote_user_create" "... saying how to create it"
tap_is "$(psql -XAtc "SELECT count(*) FROM batchup.users WHERE name = 'erin'")" 0 "erin was not created"
stack_user_add erin >/dev/null
tap_like "$(fcgi erin GET /api/v1/batches | head -n 1)" '^Status: 200' "once created by an administrator, erin is in"

stack_batchup_stop
stack_write_conf auth=remote_user remote_user_create=yes gc_interval_seconds=3600
stack_batchup_start || tap_bail "batchup did not start again"
out=$(fcgi carol GET /api/v1/batches)
tap_like "$(echo "$out" | head -n 1)" '^Status: 200' "REMOTE_USER=carol: GET /api/v1/batches answers 200"
tap_is "$(psql -XAtc "SELECT slot_limit FROM batchup.users WHERE name = 'carol'")" 0 \
    "carol was created on first sight, with the default limit"
out=$(fcgi "" GET /api/v1/batches)
tap_like "$(echo "$out" | head -n 1)" '^Status: 401' "no REMOTE_USER: 401"
tap_like "$out" '"code":"unauthorized"' "... with the error shape"
out=$(fcgi carol POST /api/v1/batches '{"files":[{"name":"c.txt","size":4}]}')
tap_like "$(echo "$out" | head -n 1)" '^Status: 201' "carol creates a batch"
id=$(echo "$out" | sed -n 's/^Location: \/api\/v1\/batches\///p')
tap_like "$id" '^[0-9a-f-]{36}$' "... and gets its Location"
tap_like "$(fcgi carol GET "/api/v1/batches/$id" | head -n 1)" '^Status: 200' "carol reads her batch"
tap_like "$(fcgi dave GET "/api/v1/batches/$id" | head -n 1)" '^Status: 404' "dave gets 404 for carol's batch"
tap_is "$(psql -XAtc "SELECT count(*) FROM batchup.users WHERE name IN ('carol', 'dave')")" 2 \
    "each name became one user"
# U+0085 passes the C check (no ASCII control) and fails the table's CHECK:
# the client gets a fixed sentence, PostgreSQL's words go to the log.
out=$(fcgi "$(printf 'x\302\205y')" GET /api/v1/batches)
tap_like "$(echo "$out" | head -n 1)" '^Status: 400' "a name the database refuses: 400"
tap_like "$out" '"code":"invalid_input".*\(23514\)"' "... invalid_input, with the SQLSTATE"
tap_ok "$(printf '%s' "$out" | grep -Eqi 'constraint|users|violat'; [ $? = 1 ]; echo $?)" \
    "... and none of PostgreSQL's words"
grep -q 'database rejected input: 23514.*check constraint' "$STACK_DIR/batchup.log"
tap_ok $? "PostgreSQL's message is in the log"
tap_done
