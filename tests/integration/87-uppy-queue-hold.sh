#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Uppy with its defaults (Dashboard + Tus, the recipe of docs/api.md) in
# Debian's Chromium, from another origin, with a queue that lasts about
# QUEUE_SECONDS (30 in CI; the closing note's run used 60): the browser's
# upload is throttled (CDP Network.emulateNetworkConditions) so that the
# files beyond the limit of two (Chromium sends six requests to an origin
# at once, so a limit of five would queue nobody) wait that long, far
# longer than tus-js-client's default retries of a 423 (about 9 s). The stack holds a
# queued PATCH as a production server does (queue_hold_seconds 20). All
# eight files complete, one batch, one link, the ZIP byte-exact
# (tests/browser/uppy-batch.mjs with QUEUE_SECONDS). This is not a test
# that failed before the hold: Uppy 6's Tus plugin re-queues a 423 for as
# long as it comes, so its files completed then too. It keeps the issue's
# Uppy case covered with the hold on; what the hold changed there (same
# throttle, before / after): the upload took 102-112 s / 66-69 s, with
# 10-13 / 4-5 answers 423.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

uppy_deps
QUEUE_SECONDS=${QUEUE_SECONDS:-30}
export QUEUE_SECONDS STACK_QUEUE_HOLD_SECONDS=20
stack_init || tap_bail "cannot create the stack folder"
PAGE_PORT=$(stack__free_port) || tap_bail "no free port for the page"
export PAGE_PORT
stack_start workers=10 "cors_origins=http://127.0.0.1:$PAGE_PORT" || tap_bail "the stack did not start"
TOKEN=$(stack_user_add uppyuser --limit 2) || tap_bail "no user"
export TOKEN LIMIT=2
timeout $((QUEUE_SECONDS * 3 + 150)) node tests/browser/uppy-batch.mjs
