#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# `batchup migrate` with a sql folder it cannot list (here a plain file
# named by BATCHUP_SQL_DIR) fails cleanly: exit 1 with a message naming the
# folder, and the database untouched.  Before, the run freed the list of
# definition files it had not read yet (garbage on the stack): a crash, or
# worse, on this error path.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind is not installed"; exit 0; }

stack_init || tap_bail "cannot create the stack folder"
stack_pg_start || tap_bail "PostgreSQL did not start"
stack_write_conf

printf 'not a folder\n' >"$STACK_DIR/notadir"
BATCHUP_SQL_DIR="$STACK_DIR/notadir" timeout 30 "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" \
    >"$STACK_DIR/m.log" 2>&1
tap_is "$?" 1 "migrate with an unlistable sql folder exits 1 (not a crash)"
tap_like "$(cat "$STACK_DIR/m.log")" "cannot open $STACK_DIR/notadir" "its message names the folder"

# The uninitialised list is read whatever the stack happens to hold, which
# is often harmless; valgrind sees every read of it.
BATCHUP_SQL_DIR="$STACK_DIR/notadir" timeout 60 valgrind -q --error-exitcode=99 \
    "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >"$STACK_DIR/vg.log" 2>&1
rc=$?
tap_is "$rc" 1 "under valgrind: exit 1, no read of uninitialised memory (99 if any)"
[ "$rc" = 1 ] || tap_diag "$(grep -m 5 '==' "$STACK_DIR/vg.log")"
tap_is "$(psql -XAtq -d batchup -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'batchup'" 2>&1)" 0 \
    "the failed runs created nothing (no schema batchup)"

tap_done
