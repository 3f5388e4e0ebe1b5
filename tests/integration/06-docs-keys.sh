#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Every configuration key is written once, in the key table of app/config.c,
# and the documents that list the keys are written from it by `make docs`
# (tools/confdoc.c): conf/batchup.conf, man/batchup.conf.5 and the table of
# docs/operations.md. This test writes them again into a scratch folder and
# fails when a committed one differs (a key added or changed in the table
# without `make docs`, or a generated line edited by hand). The prose around
# them names no key the table lacks; the sample loads; the man pages format
# without a warning and batchup.conf(5) carries batchup(8)'s version. No
# server is started.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

BIN=${BATCHUP_BIN:-build/batchup}
T=$(mktemp -d "${STACK_ROOT:-${TMPDIR:-/tmp}}/t06.XXXXXX") || tap_bail "no temporary folder"
trap 'rm -rf "$T"' EXIT

mapfile -t keys < <(sed -n '/^static const struct key keys\[\] = {/,/^};/p' app/config.c |
    grep -o '^    {"[a-z0-9_]*"' | tr -d '{" ')
tap_ok "$([ "${#keys[@]}" -ge 50 ]; echo $?)" "the key table of app/config.c has ${#keys[@]} keys"

# The generator's own build and run, as `make docs` does them, into $T.
make -s --no-print-directory docs DOCS_DIR="$T" >"$T/make.log" 2>&1
tap_is "$?|$(tail -n 3 "$T/make.log")|$(cd "$T" && ls conf/batchup.conf man/batchup.conf.5 docs/operations.md 2>&1 | tr "\n" " ")" \
    "0||conf/batchup.conf docs/operations.md man/batchup.conf.5 " "make docs DOCS_DIR=... writes the documents into a scratch folder"
for f in conf/batchup.conf man/batchup.conf.5 docs/operations.md; do
    diff -u "$f" "$T/$f" >"$T/diff" 2>&1
    tap_is "$?|$(head -n 12 "$T/diff")" "0|" "$f is what make docs writes from app/config.c"
done

# Each key appears in each generated document, as a line of its own form.
missing=
for k in "${keys[@]}"; do
    grep -Eq "^#?$k =" conf/batchup.conf || missing="$missing conf:$k"
    grep -qx ".B $k" man/batchup.conf.5 || missing="$missing man:$k"
    grep -q "^| \`$k\` |" docs/operations.md || missing="$missing md:$k"
done
tap_is "$missing" "" "every key has its line in conf/batchup.conf, man/batchup.conf.5 and docs/operations.md"

# The operator's prose (README.md, docs/operations.md, the man pages) sets
# keys as `key = value` (Markdown) or "key = value" (man pages); each such
# name with an underscore (nginx's `location = ...` is not batchup's) is a
# key of the table.
stale=
for k in $( (cat README.md docs/operations.md | grep -o '`[a-z][a-z0-9]*_[a-z0-9_]* = ' | tr -d '`= '
    cat man/batchup.8 man/batchup.conf.5 | grep -o '^\.BR\? "[a-z][a-z0-9]*_[a-z0-9_]* = ' |
        cut -d'"' -f2 | tr -d '= ') | sort -u); do
    printf '%s\n' "${keys[@]}" | grep -qx "$k" || stale="$stale $k"
done
tap_is "$stale" "" "the documents set no key (\`key = value\`) the table lacks"

# The sample loads: any failure is then the database's (exit 1), never the
# configuration's (exit 2).
env -u BATCHUP_CONFIG BATCHUP_DATABASE="host=/nonexistent connect_timeout=1" \
    "$BIN" gc -c conf/batchup.conf >/dev/null 2>&1
tap_is "$?" 1 "conf/batchup.conf loads (gc fails on the unreachable database, not on the file)"
for m in man/batchup.8 man/batchup.conf.5; do
    groff -t -man -ww -z "$m" 2>"$T/groff"
    tap_is "$?|$(cat "$T/groff")" "0|" "$m formats without a warning (groff -ww)"
done
th() { sed -n 's/^\.TH [^ ]* [0-9] \(.*\) "[^"]*"$/\1/p' "$1"; }
tap_is "$(th man/batchup.conf.5)" "$(th man/batchup.8)" "batchup.conf(5) has batchup(8)'s date and version"

tap_done
