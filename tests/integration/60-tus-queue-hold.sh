#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A file queued behind the per-user limit for QUEUE_SECONDS (30 in CI; the
# closing note's run used 60) does not fail in tus-js-client with its
# DEFAULT options (issue 23, section 1): limit 1, file A throttled by the
# driver to hold the slot that long, file B started right after it
# (tests/node/tus-queue.mjs). The stack holds a queued PATCH as a production
# server does (queue_hold_seconds 20): B's PATCH waits for the slot, and
# when the hold ends first its 423 comes 20 s later, so tus-js-client's
# four retries (about 9 s when each 423 comes at once) last about 90 s.
# Before the hold, B failed after about 9 s (onError, 423).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

node_deps

QUEUE_SECONDS=${QUEUE_SECONDS:-30}
export STACK_QUEUE_HOLD_SECONDS=20
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 pm=static per_user_limit=1 gc_interval_seconds=3600 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add alice) || tap_bail "cannot add user alice"
export TOKEN QUEUE_SECONDS

node_tap $((QUEUE_SECONDS + 100)) tests/node/tus-queue.mjs
tap_is "$(psql -XAtq -c "SELECT count(*) FROM batchup.files WHERE status = 'completed'")" 2 \
    "both files are completed in the database"
tap_done
