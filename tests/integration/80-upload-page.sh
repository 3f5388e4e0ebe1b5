#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The upload page in a real browser (Debian's Chromium through
# playwright-core): queue display, pause, resume, resume after a reload, and
# the batch link (tests/browser/upload-page.mjs); then the page as a person
# leaves it open: the batch list and delete, per-file progress, rate and
# queue position, a total with ETA, folders, resume after the page was
# closed, errors in words, the keyboard, accessible names, 360 px, and
# screenshots (tests/browser/upload-page-open.mjs). The server announces a
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
stack_start workers=6 slot_lease_seconds=5 queue_retry_seconds=1 max_chunk_size=1048576 \
    max_user_bytes=67108864 ||
    tap_bail "the stack did not start"
# node_tap FILE: one browser script's results as checks of this test (its
# own plan dropped, its numbers renumbered), and a check that it ended well.
node_tap() {
    local line rc
    while IFS= read -r line; do
        case $line in
        "ok "*) tap_ok 0 "${line#ok * - }" ;;
        "not ok "*) tap_ok 1 "${line#not ok * - }" ;;
        1..*) ;;
        *) printf '%s\n' "$line" ;;
        esac
    done <"$1.tap"
    rc=$(cat "$1.rc")
    tap_ok "$rc" "$(basename "$1") exited $rc"
}

TOKEN=$(stack_user_add pageuser --limit 1) || tap_bail "no user"
export TOKEN
timeout 150 node tests/browser/upload-page.mjs >"$STACK_DIR/upload-page.tap" 2>&1
echo $? >"$STACK_DIR/upload-page.rc"
node_tap "$STACK_DIR/upload-page"

# The page's PATCHes of the first script, from batchup's request log: those
# with a body each hold at most the announced 1 MiB, none refused as too large.
patches=$(grep -E 'request "PATCH" "/api/v1/files/' "$STACK_DIR/batchup.log" |
    sed -E 's/.*request "PATCH" "[^"]*" ([0-9]+) ([0-9]+) .*/\1 \2/')
big=$(printf '%s\n' "$patches" | awk '$2 > 1048576' | wc -l)
refused=$(printf '%s\n' "$patches" | awk '$1 == 413' | wc -l)
with_body=$(printf '%s\n' "$patches" | awk '$2 > 0' | wc -l)
[ "$big" = 0 ] && [ "$refused" = 0 ] && [ "$with_body" -ge 5 ]
tap_ok $? "the page's $with_body PATCHes with a body each held at most 1 MiB ($big larger), none got 413 ($refused)"

# The page left open (tests/browser/upload-page-open.mjs): a user of its
# own, whose batches it lists; a sparse file over max_user_bytes for the
# quota error; screenshots kept in $STACK_DIR/artefacts and build/artefacts.
TOKEN=$(stack_user_add openuser --limit 1) || tap_bail "no second user"
BIG_FILE=$STACK_DIR/over-quota.bin
truncate -s 100M "$BIG_FILE"
mkdir -p build/artefacts
ARTEFACTS=$PWD/build/artefacts BIG_FILE=$BIG_FILE timeout 180 node tests/browser/upload-page-open.mjs \
    >"$STACK_DIR/upload-page-open.tap" 2>&1
echo $? >"$STACK_DIR/upload-page-open.rc"
node_tap "$STACK_DIR/upload-page-open"
tap_done
