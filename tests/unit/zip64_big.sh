#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# zip64_big.sh: a real ZIP64 archive of more than 4 GiB, checked by two readers.
#
#   BATCHUP_BIG_TESTS=1 tests/unit/zip64_big.sh
#
# Opt-in, because it writes about 4.3 GB to $TMPDIR (default /tmp) and reads
# it back twice. The source of the big entry is a sparse file (4 GiB + 4 KiB
# + 7 bytes, a few non-zero bytes on both sides of 4 GiB), so reading it
# costs no disk. tests/unit/zipcat.c writes "first.txt", "big.bin" and
# "last.txt" with app/zip.c; the archive must be exactly the announced size,
# and Python's zipfile (testzip: every CRC) and `unzip -t` must accept it.
# Prints TAP.

set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib/tap.sh
. tests/lib/tap.sh

if [ "${BATCHUP_BIG_TESTS:-0}" != 1 ]; then
    echo "1..0 # SKIP set BATCHUP_BIG_TESTS=1 to write a 4.3 GB archive"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/batchup-zip64-XXXXXX") || tap_bail "no temporary folder"
trap 'rm -rf "$tmp"' EXIT

cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude -o "$tmp/zipcat" \
    tests/unit/zipcat.c app/zip.c -lz || tap_bail "zipcat does not build"

big=$((4 * 1024 * 1024 * 1024 + 4096 + 7))
printf 'first\n' >"$tmp/first.txt"
truncate -s "$big" "$tmp/big.bin"
printf 'before 4 GiB' | dd of="$tmp/big.bin" bs=1 seek=$((4 * 1024 * 1024 * 1024 - 6)) \
    conv=notrunc status=none
printf 'at the end' | dd of="$tmp/big.bin" bs=1 seek=$((big - 10)) conv=notrunc status=none
printf 'last\n' >"$tmp/last.txt"

start=$(date +%s)
announced=$("$tmp/zipcat" "$tmp/out.zip" "$tmp/first.txt" "$tmp/big.bin" "$tmp/last.txt")
tap_ok $? "zipcat wrote the archive in $(($(date +%s) - start)) s"
tap_is "$(stat -c %s "$tmp/out.zip")" "$announced" "the archive has exactly the announced size"

start=$(date +%s)
/usr/bin/python3 -I - "$tmp/out.zip" "$big" <<'EOF'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "a CRC does not match"
sizes = [(i.filename, i.file_size) for i in z.infolist()]
assert sizes == [("first.txt", 6), ("big.bin", int(sys.argv[2])), ("last.txt", 5)], sizes
assert z.read("last.txt") == b"last\n"
EOF
tap_ok $? "python3 zipfile: names, sizes and every CRC ($(($(date +%s) - start)) s)"

start=$(date +%s)
unzip -tqq "$tmp/out.zip"
tap_ok $? "unzip -t ($(($(date +%s) - start)) s)"

tap_done
