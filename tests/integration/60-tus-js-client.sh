#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The stock tus-js-client (npm) uploads real batches through nginx: user
# alice (default limit 5) sends 13 files from 0 bytes to 16 MiB, while bob
# (limit 1) sends 4 files at the same time. A sampler reads
# batchup.active_slots every ~50 ms. Checked (tests/node/tus-batch.mjs): each
# user reaches and never exceeds its limit; queued files get 423, which the
# client retries by itself until they go through; every stored file is
# byte-identical (download, storage/files, recorded sha256); the first GET of
# each batch after its last upload already has its download_url.
# Then (tests/node/tus-halfopen.mjs) a half-open drop: a proxy cuts the
# client's side of a PATCH mid-body and leaves batchup's side open and
# silent; tus-js-client with its default retry delays resumes by itself and
# completes the file, byte-identical, well before the stalled request's
# body_timeout.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

node_deps

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 slot_lease_seconds=3 queue_retry_seconds=1 ||
    tap_bail "the stack did not start"
TOKEN_A=$(stack_user_add alice) || tap_bail "cannot add user alice"
TOKEN_B=$(stack_user_add bob --limit 1) || tap_bail "cannot add user bob"
export TOKEN_A TOKEN_B

# The driver prints "ok - ...", "not ok - ..." and "# ..." lines; number them.
DRIVER_SECONDS=120 node_tap 150 tests/node/tus-batch.mjs
DRIVER_SECONDS=60 node_tap 70 tests/node/tus-halfopen.mjs "half-open: "
tap_done
