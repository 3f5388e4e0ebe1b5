#!/bin/bash
# The license: LICENSE at the top is the BSD-2-Clause license of "the batchup
# authors", the README names it, and the Debian package's copyright file
# (DEP-5, debian/copyright) gives the same license for every file. No stack.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

tap_is "$(head -n 1 LICENSE)|$(grep -c 'Copyright (c) [0-9]*, the batchup authors' LICENSE)" "BSD 2-Clause License|1" \
    "LICENSE is the BSD 2-Clause License of the batchup authors"
tap_is "$(grep -c -E '^(1\. Redistributions of source code|2\. Redistributions in binary form)' LICENSE)" 2 \
    "... with its two conditions"
tap_like "$(tr '\n' ' ' <README.md)" 'BSD-2-Clause license \(`LICENSE`\)' "the README names the license"
tap_is "$(sed -n 's/^License: //p' debian/copyright | sort -u | tr '\n' ' ')|$(sed -n 's/^Files: //p' debian/copyright)" \
    "BSD-2-Clause |*" "debian/copyright gives BSD-2-Clause for every file"
tap_is "$(sed -n 1p debian/copyright)" "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" \
    "debian/copyright is in the machine-readable format (DEP-5)"
tap_done
