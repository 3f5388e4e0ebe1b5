#!/bin/bash
# The upload page in a real browser (Debian's Chromium through
# playwright-core): queue display, pause, resume, resume after a reload, and
# the batch link. See tests/browser/upload-page.mjs. The server announces a
# 1 MiB chunk size (max_chunk_size, Batchup-Max-Chunk-Size on OPTIONS): the
# page must send chunks of at most that size from the start, so that no
# PATCH of it is refused with 413 (behind mod_fcgid a larger one would be
# spooled, then refused).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null; then
    echo "not ok 1 - Chromium (/usr/bin/chromium) and node are needed: apt-get install -y chromium"
    exit 1
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        { echo "not ok 1 - npm ci in tests/browser failed"; exit 1; }
fi
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 slot_lease_seconds=5 queue_retry_seconds=1 max_chunk_size=1048576 ||
    tap_bail "the stack did not start"
TOKEN=$(stack_user_add pageuser --limit 1) || tap_bail "no user"
export TOKEN
timeout 150 node tests/browser/upload-page.mjs
rc=$?
# The page's PATCHes, from batchup's request log: those with a body each
# hold at most the announced 1 MiB, and none was refused as too large.
patches=$(grep -E 'request "PATCH" "/api/v1/files/' "$STACK_DIR/batchup.log" |
    sed -E 's/.*request "PATCH" "[^"]*" ([0-9]+) ([0-9]+) .*/\1 \2/')
big=$(printf '%s\n' "$patches" | awk '$2 > 1048576' | wc -l)
refused=$(printf '%s\n' "$patches" | awk '$1 == 413' | wc -l)
with_body=$(printf '%s\n' "$patches" | awk '$2 > 0' | wc -l)
if [ "$big" = 0 ] && [ "$refused" = 0 ] && [ "$with_body" -ge 5 ]; then
    echo "# the page's $with_body PATCHes with a body each held at most 1 MiB; none got 413"
else
    echo "# PATCHes over 1 MiB: $big, refused with 413: $refused, with a body: $with_body"
    rc=1
fi
exit $rc
