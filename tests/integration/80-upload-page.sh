#!/bin/bash
# The upload page in a real browser (Debian's Chromium through
# playwright-core): queue display, pause, resume, resume after a reload, and
# the batch link. See tests/browser/upload-page.mjs.
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
stack_start workers=6 slot_lease_seconds=5 queue_retry_seconds=1 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add pageuser --limit 1) || tap_bail "no user"
export TOKEN
timeout 150 node tests/browser/upload-page.mjs
