#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# SIGHUP with a broken configuration file changes nothing: the master logs
# that it refused the reload and keeps running on the configuration it has,
# with the same workers, and requests keep being answered. Fixing the file
# and sending SIGHUP again then applies it.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"
master=$BATCHUP_PID

n_workers() { [ "$(stack_worker_pids | wc -l)" = "$1" ]; }
stack_wait_until 15 n_workers 2
before=$(stack_worker_pids)
cp "$BATCHUP_CONF" "$STACK_DIR/good.conf"

echo "workres = 3" >>"$BATCHUP_CONF"
kill -HUP "$master"
stack_wait_until 10 grep -q "reload refused" "$STACK_DIR/batchup.log"
tap_ok $? "the master logs that it refused the reload"
tap_like "$(grep 'reload refused' "$STACK_DIR/batchup.log" | tail -n 1)" "'workres'" \
    "the log line names the bad key"
sleep 1
stack__alive "$master"
tap_ok $? "the master is still running"
tap_is "$(stack_worker_pids)" "$before" "the same workers keep serving"
codes=$(stack_health_codes 10 0.05)
tap_is "$(printf '%s\n' "$codes" | grep -cv '^200$')" 0 "10 health requests all answer 200"

cp "$STACK_DIR/good.conf" "$BATCHUP_CONF"
sed -i 's/^workers = .*/workers = 3/' "$BATCHUP_CONF"
kill -HUP "$master"
stack_wait_until 20 n_workers 3
tap_ok $? "with the file fixed, SIGHUP applies it (3 workers)"
tap_done
