#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The Uppy recipe of docs/api.md with the real uppy npm package (Dashboard + Tus)
# in Debian's Chromium, from a page served on a second loopback port (another
# origin, allowed by cors_origins): eight files against a limit of five
# become one batch, complete, with one link and a byte-exact ZIP. See
# tests/browser/uppy-batch.mjs.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

uppy_deps
stack_init || tap_bail "cannot create the stack folder"
PAGE_PORT=$(stack__free_port) || tap_bail "no free port for the page"
export PAGE_PORT
stack_start workers=10 "cors_origins=http://127.0.0.1:$PAGE_PORT" || tap_bail "the stack did not start"
TOKEN=$(stack_user_add uppyuser --limit 5) || tap_bail "no user"
export TOKEN
timeout 150 node tests/browser/uppy-batch.mjs
