#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Bad configuration is a start-up error naming the key: an unknown key, a bad
# value, a bad BATCHUP_<KEY> override and a bad command line all exit 2 with
# one line on stderr. A second `serve` on the unix socket of a running server
# refuses to start (exit status 1, saying another server answers there), and
# the running one keeps answering.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_write_conf workers=2 per_user_limit=1
good=$BATCHUP_CONF

# expect_bad NAME KEY COMMAND...: COMMAND exits 2 in time, one stderr line
# naming KEY (in any case: workers or BATCHUP_WORKERS).
expect_bad() {
    local name=$1 key=$2 rc err
    shift 2
    timeout 15 "$@" >"$STACK_DIR/out" 2>"$STACK_DIR/err"
    rc=$?
    err=$(cat "$STACK_DIR/err")
    tap_is "$rc" 2 "$name: exit status 2"
    if [ -n "$key" ]; then
        printf '%s' "$err" | grep -qiF -- "$key"
        tap_ok $? "$name: the message names $key"
    fi
    tap_is "$(grep -c . "$STACK_DIR/err")" 1 "$name: one line on stderr"
    tap_diag "stderr: $err"
}

cp "$good" "$STACK_DIR/unknown.conf"
echo "frobnicate = 1" >>"$STACK_DIR/unknown.conf"
expect_bad "unknown key" frobnicate "$BATCHUP_BIN" serve -c "$STACK_DIR/unknown.conf"
expect_bad "unknown key (migrate)" frobnicate "$BATCHUP_BIN" migrate -c "$STACK_DIR/unknown.conf"

sed 's/^workers = .*/workers = -3/' "$good" >"$STACK_DIR/negative.conf"
expect_bad "workers = -3" workers "$BATCHUP_BIN" serve -c "$STACK_DIR/negative.conf"

expect_bad "BATCHUP_WORKERS=abc" workers \
    env BATCHUP_WORKERS=abc "$BATCHUP_BIN" serve -c "$good"

expect_bad "unknown subcommand" "" "$BATCHUP_BIN" frobnicate

# A second server on the socket of a running one.
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"
first=$BATCHUP_PID
timeout 15 "$BATCHUP_BIN" serve -c "$BATCHUP_CONF" >"$STACK_DIR/second.out" 2>"$STACK_DIR/second.err"
rc=$?
# The documented refusal (docs/operations.md, batchup(8) EXIT STATUS): exit
# status 1, a runtime failure, with the message naming the socket; a crash
# or a timeout is no refusal.
tap_is "$rc" 1 "a second serve on the same socket refuses to start: exit status 1"
grep -qF "another server already answers on $STACK_SOCKET; not starting" "$STACK_DIR/second.err"
tap_ok $? "... saying 'another server already answers on <socket>; not starting'"
tap_diag "stderr: $(head -n 3 "$STACK_DIR/second.err")"
[ -S "$STACK_SOCKET" ]
tap_ok $? "the socket file is still there"
stack__alive "$first"
tap_ok $? "the first server still runs"
tap_is "$(stack_health_codes 5 0.05 | sort -u | tr -d '\n')" 200 "and keeps answering health 200"

tap_done
