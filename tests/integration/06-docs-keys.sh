#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The documentation stays true to the configuration table: every key of the
# table in app/config.c appears in conf/batchup.conf (as a `key =` line,
# commented or not), in docs/operations.md's configuration table and in the man
# page's CONFIGURATION section, and neither that table nor the man page lists a
# key the table does not have. The sample configuration loads, and the man
# page formats without a warning. No server is started.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

BIN=${BATCHUP_BIN:-build/batchup}
mapfile -t keys < <(sed -n '/^static const struct key keys\[\] = {/,/^};/p' app/config.c |
    grep -o '{"[a-z0-9_]*"' | tr -d '{"')
tap_ok "$([ "${#keys[@]}" -ge 20 ]; echo $?)" "the configuration table of app/config.c has ${#keys[@]} keys"

readme_keys=$(sed -n '/^| key | default | meaning |$/,/^$/p' docs/operations.md | grep -o '^| `[a-z0-9_]*`' | tr -d '|` ')
man_keys=$(sed -n '/^\.SH CONFIGURATION$/,/^\.SH /p' man/batchup.8 | sed -n '/^\.TP$/{n;p}' |
    grep -o '^\.BR\? [a-z0-9_]*' | cut -d' ' -f2)
missing_conf= missing_readme= missing_man=
for k in "${keys[@]}"; do
    grep -Eq "^#? ?$k =" conf/batchup.conf || missing_conf="$missing_conf $k"
    grep -qx "$k" <<<"$readme_keys" || missing_readme="$missing_readme $k"
    grep -qx "$k" <<<"$man_keys" || missing_man="$missing_man $k"
done
tap_is "$missing_conf" "" "every key has a 'key =' line in conf/batchup.conf"
tap_is "$missing_readme" "" "every key has a row in docs/operations.md's configuration table"
tap_is "$missing_man" "" "every key has an entry in the CONFIGURATION section of man/batchup.8"
stale=
for k in $readme_keys $man_keys; do
    printf '%s\n' "${keys[@]}" | grep -qx "$k" || stale="$stale $k"
done
tap_is "$stale" "" "docs/operations.md and the man page document no key the table lacks"

# The sample loads: any failure is then the database's (exit 1), never the
# configuration's (exit 2).
env -u BATCHUP_CONFIG BATCHUP_DATABASE="host=/nonexistent connect_timeout=1" \
    "$BIN" gc -c conf/batchup.conf >/dev/null 2>&1
tap_is "$?" 1 "conf/batchup.conf loads (gc fails on the unreachable database, not on the file)"
groff -t -man -ww -z man/batchup.8 2>"${TMPDIR:-/tmp}/batchup-man.$$"
tap_is "$?|$(cat "${TMPDIR:-/tmp}/batchup-man.$$")" "0|" "man/batchup.8 formats without a warning (groff -ww)"
rm -f "${TMPDIR:-/tmp}/batchup-man.$$"

tap_done
