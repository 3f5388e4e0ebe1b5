#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Versions: the releases NEWS.md tells people about are those of
# debian/changelog, newest first, with the same dates; the newest one is what
# the build compiles in (the Makefile reads it from debian/changelog), what
# the man page names, and what `batchup --version` prints, followed, for a
# build from git, by the commit (`git describe --tags --always --dirty`);
# a build without git (GIT_DESCRIBE empty, as from a release tarball)
# prints the release alone. No stack: files and the binary only.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

T=$(mktemp -d "${STACK_ROOT:-${TMPDIR:-/tmp}}/t08.XXXXXX") || tap_bail "no temporary folder"
trap 'rm -rf "$T"' EXIT
BIN=${BATCHUP_BIN:-build/batchup}

# NEWS.md: "## X.Y.Z (YYYY-MM-DD)" per release.
sed -n 's/^## \([0-9][0-9.a-z~+-]*\) (\([0-9-]*\))$/\1 \2/p' NEWS.md >"$T/news"
# debian/changelog: "batchup (X.Y.Z) ..." then " -- who  date".
awk '/^batchup \(/ { v = substr($2, 2, length($2) - 2) }
     /^ -- / { sub(/^ -- .*>  /, ""); print v " " $0 }' debian/changelog |
    while read -r v d; do echo "$v $(date -u -d "$d" +%F)"; done >"$T/changelog"
tap_like "$(wc -l <"$T/news")" '^[1-9]' "NEWS.md has release entries ($(head -n 1 "$T/news"))"
tap_is "$(cat "$T/changelog")" "$(cat "$T/news")" \
    "debian/changelog lists the releases of NEWS.md, in the same order, with the same dates"
dpkg-parsechangelog -l debian/changelog --all >/dev/null 2>"$T/parse.err"
tap_is "$?|$(cat "$T/parse.err")" "0|" "dpkg-parsechangelog reads every entry without a warning"
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
tap_is "$(make -s --no-print-directory -f Makefile -f - print-version <<<'print-version: ; @echo $(VERSION)')" \
    "$version" "the Makefile builds the newest release of debian/changelog ($version)"
tap_like "$(sed -n 's/^\.TH .*"batchup \([^"]*\)".*/\1/p' man/batchup.8)" "^$version\$" \
    "the man page names it"

# --version: the release and, from git, the commit.
if [ -e .git ] && git describe --tags --always >/dev/null 2>&1; then
    want="batchup $version (git $(git describe --tags --always --dirty))"
else
    want="batchup $version"
fi
tap_is "$("$BIN" --version)" "$want" "batchup --version names the release and the commit"
# The same tree built as from a tarball: only the files that print the
# version are compiled again.
mkdir -p "$T/b"
cp -a build/obj "$T/b/"
make -s --no-print-directory BUILD="$T/b" GIT_DESCRIBE= "$T/b/batchup" >"$T/make.log" 2>&1
tap_is "$("$T/b/batchup" --version 2>&1)" "batchup $version" "built without git, it names the release alone"
tap_done
