#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The license: LICENSE at the top is the BSD-2-Clause license of "the batchup
# authors", the README names it, and the Debian package's copyright file
# (DEP-5, debian/copyright) gives the same license for every file, and every
# source file says so in one line. No stack.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

T=$(mktemp -d "${STACK_ROOT:-${TMPDIR:-/tmp}}/t09.XXXXXX") || tap_bail "no temporary folder"
trap 'rm -rf "$T"' EXIT

tap_is "$(head -n 1 LICENSE)|$(grep -c 'Copyright (c) [0-9]*, the batchup authors' LICENSE)" "BSD 2-Clause License|1" \
    "LICENSE is the BSD 2-Clause License of the batchup authors"
tap_is "$(grep -c -E '^(1\. Redistributions of source code|2\. Redistributions in binary form)' LICENSE)" 2 \
    "... with its two conditions"
tap_like "$(tr '\n' ' ' <README.md)" 'BSD-2-Clause license \(`LICENSE`\)' "the README names the license"
tap_is "$(sed -n 's/^License: //p' debian/copyright | sort -u | tr '\n' ' ')|$(sed -n 's/^Files: //p' debian/copyright)" \
    "BSD-2-Clause |*" "debian/copyright gives BSD-2-Clause for every file"
tap_is "$(sed -n 1p debian/copyright)" "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" \
    "debian/copyright is in the machine-readable format (DEP-5)"
# Every source file git tracks says its license in one line among its first
# three (after a #! line or the HTML doctype, in its comment syntax).
missing=$(git ls-files | python3 -c '
import re, sys
src = re.compile(r"(\.(c|h|sh|py|mjs|sql|psql)$|^app/page\.html$|^Makefile$|^debian/rules$"
                 r"|^debian/[^/]*\.(postinst|postrm)$|^conf/batchup\.fcgi$)")
n = 0
for f in sys.stdin.read().split("\n"):
    if not f or not src.search(f) or f.startswith("tests/fuzz/corpus/"):
        continue
    n += 1
    with open(f, encoding="utf-8") as fh:
        head = [fh.readline() for _ in range(3)]
    if not any("SPDX-License-Identifier: BSD-2-Clause" in h for h in head):
        print(f)
print(n, file=sys.stderr)' 2>"$T/count")
tap_is "$missing" "" "every one of the $(cat "$T/count") source files has the line SPDX-License-Identifier: BSD-2-Clause"
tap_done
