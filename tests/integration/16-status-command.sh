#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# `batchup status`, the FastCGI client of our own socket, where it used to
# break. Each name-value length of its params takes one byte under 128 and
# four from 128 on: a status_path of exactly 128 bytes and one of 250 (whose
# URI with "?json" is 255, the key's longest) must both reach the page, in
# text and in JSON; the second path is set by a SIGHUP reload, so one stack
# serves both. And `listen` is parsed once, for the listener and the
# command alike: a relative unix socket path ("./batchup.sock") reaches the
# server from the folder it is relative to.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

# long_path N: "/status-" followed by x's, N bytes in all.
long_path() {
    local p=/status-
    while [ "${#p}" -lt "$1" ]; do p="${p}x"; done
    printf '%s' "$p"
}
P128=$(long_path 128)
P250=$(long_path 250)

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 pm=static per_user_limit=1 gc_interval_seconds=3600 "status_path=$P128" ||
    tap_bail "the stack did not start"
T=$STACK_DIR/t16
mkdir -p "$T"

"$BATCHUP_BIN" status -c "$BATCHUP_CONF" >"$T/text" 2>"$T/err"
tap_ok $? "batchup status answers with a 128-byte status_path"
[ -s "$T/err" ] && tap_diag "stderr: $(cat "$T/err")"
tap_is "$(awk '$1 == "pm" {print $2}' "$T/text")" static "... and prints the pool (pm static)"
tap_is "$(awk '$1 == "workers" {print $2}' "$T/text")" 3 "... with its 3 workers"

"$BATCHUP_BIN" status --json -c "$BATCHUP_CONF" >"$T/json" 2>"$T/err"
tap_ok $? "batchup status --json answers with a 128-byte status_path"
tap_is "$(jq -r '.pool.pm' "$T/json" 2>/dev/null)" static "... with the pool as JSON"

# The longest path: reload with it, then wait for the new workers.
sed -i "s|^status_path = .*|status_path = $P250|" "$BATCHUP_CONF"
kill -HUP "$BATCHUP_PID"
answers() { "$BATCHUP_BIN" status --json -c "$BATCHUP_CONF" >"$T/json250" 2>"$T/err"; }
stack_wait_until 20 answers
tap_ok $? "batchup status --json answers with a 250-byte status_path (a 255-byte URI)"
[ -s "$T/err" ] && tap_diag "stderr: $(cat "$T/err")"
tap_is "$(jq '.pool.total_workers >= 1 and .pool.workers == 3' "$T/json250" 2>/dev/null)" true \
    "... and the page is the pool's"

# The server answers the page at the long path only: a 404 for a path one
# byte shorter shows the route compared the whole of it.
cp "$BATCHUP_CONF" "$T/short.conf"
sed -i "s|^status_path = .*|status_path = ${P250%x}|" "$T/short.conf"
"$BATCHUP_BIN" status -c "$T/short.conf" >/dev/null 2>"$T/err.short"
tap_ok "$([ $? -ne 0 ] && grep -q 'Status: 404' "$T/err.short"; echo $?)" \
    "a status_path one byte shorter than the server's gets its 404 (the whole path was sent)"
[ -s "$T/err.short" ] && tap_diag "stderr: $(cat "$T/err.short")"

# A relative unix socket path, read from a configuration in the stack's
# folder: the same socket the web server reaches.
sed "s|^listen = .*|listen = ./batchup.sock|" "$BATCHUP_CONF" >"$STACK_DIR/relative.conf"
(cd "$STACK_DIR" && "$BATCHUP_BIN" status --json -c relative.conf) >"$T/json.rel" 2>"$T/err.rel"
tap_ok $? "batchup status answers through listen = ./batchup.sock (a relative path)"
[ -s "$T/err.rel" ] && tap_diag "stderr: $(cat "$T/err.rel")"
tap_is "$(jq -r '.pool.pm' "$T/json.rel" 2>/dev/null)" static "... with the pool as JSON"

tap_done
