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

command -v node >/dev/null && command -v npm >/dev/null || tap_bail "node and npm are needed (apt-get install nodejs npm)"
if [ ! -f tests/node/node_modules/tus-js-client/package.json ]; then
    echo "# installing tests/node dependencies (npm ci)"
    (cd tests/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2 ||
        tap_bail "npm ci in tests/node failed"
fi

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add carol) || tap_bail "cannot add user carol"
export TOKEN

while IFS= read -r line; do
    case $line in
        "ok - "*) tap_ok 0 "${line#ok - }" ;;
        "not ok - "*) tap_ok 1 "${line#not ok - }" ;;
        "# driver-exit "*) tap_is "${line#\# driver-exit }" 0 "the node driver exited 0" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < <(timeout -k 5 70 node tests/node/tus-concat.mjs 2>&1; echo "# driver-exit $?")
tap_done
