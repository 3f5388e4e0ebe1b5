#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The stock tus-js-client (npm) with parallelUploads: 4 (tus's
# concatenation extension) uploads a file of a few MiB into a declared
# batch through nginx: four partial uploads and one final, which is the
# declared file; the batch completes with one link and the file is stored
# byte for byte (tests/node/tus-concat.mjs says what it checks). The same
# driver shows uploadLengthDeferred storing a stream byte for byte.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

node_deps

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add carol) || tap_bail "cannot add user carol"
export TOKEN

node_tap 70 tests/node/tus-concat.mjs
tap_done
