#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The documents stay true to the code they describe, checked against the code
# itself, not against a list kept by hand:
#   - README.md's Layout table names every file of app/ and no file that is
#     gone, and README.md stays an entry page (at most 250 lines) with the
#     documents it points to present;
#   - docs/api.md names every route of the route table of app/routes.c
#     (read strictly by tests/lib/route_table.py) and every error code of
#     include/batchup/error.h that can answer a request, and none of the
#     command line's own (status 0);
#   - the SQLSTATEs the SQL raises (ERRCODE = 'BU...') are exactly those
#     error.h maps to an error, so no database error reaches a client as a
#     500 for want of a row.
# No server is started.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

# --- README.md: an entry page whose Layout covers app/ ------------------------
lines=$(wc -l <README.md)
tap_ok "$([ "$lines" -le 250 ]; echo $?)" "README.md is an entry page: $lines lines (at most 250)"
layout=$(sed -n '/^## Layout$/,/^## /p' README.md)
tap_ok "$([ -n "$layout" ]; echo $?)" "README.md has a Layout section"
missing=
for f in app/*.c app/*.html; do
    grep -qF "\`$f\`" <<<"$layout" || grep -qF "\`$(basename "$f")\`" <<<"$layout" ||
        missing="$missing $f"
done
tap_is "$missing" "" "the Layout table names every file of app/"
stale=
for f in $(grep -o '`app/[a-z_]*\.[a-z]*`' <<<"$layout" | tr -d '`'); do
    [ -e "$f" ] || stale="$stale $f"
done
tap_is "$stale" "" "the Layout table names no file of app/ that does not exist"
gone=
for d in $(grep -o '](docs/[a-z_-]*\.md)' README.md | sed 's/^](//; s/)$//' | sort -u); do
    [ -f "$d" ] || gone="$gone $d"
done
tap_is "$gone" "" "every document README.md points to exists"
tap_ok "$(grep -q '](docs/api.md)' README.md && grep -q '](docs/operations.md)' README.md &&
    grep -q '](docs/architecture.md)' README.md; echo $?)" \
    "README.md points to the API, operations and architecture documents"

# --- docs/api.md: every route and every error code ----------------------------
routes=$(python3 - <<'EOF'
import sys
sys.path.insert(0, "tests/lib")
from route_table import read_routes
for methods, path, handler in read_routes("app/routes.c", {"@metrics_path": "/metrics",
                                                          "@status_path": "/batchup-status",
                                                          "@ping_path": "/ping"}):
    print(path)
EOF
)
tap_ok "$([ "$(wc -l <<<"$routes")" -ge 10 ]; echo $?)" "the route table reads ($(wc -l <<<"$routes") rows)"
undocumented=
while read -r p; do
    [ -n "$p" ] || continue
    case $p in
        /metrics | /batchup-status | /ping) continue ;; # configured paths: documented by their key
    esac
    # {uuid}, {token}, ... are written <id>, <token> ... in the document.
    pat=$(sed -E 's/\{[a-z_]+\}/<[a-z_ ]+>/g; s/[.]/\\./g' <<<"$p")
    grep -Eq "\`[A-Z, /]*$pat(\`|[?\[ ])" docs/api.md || grep -Eq "$pat" docs/api.md ||
        undocumented="$undocumented $p"
done <<<"$routes"
tap_is "$undocumented" "" "docs/api.md documents every route of app/routes.c"
# An error of status 0 is the command line's own (bad usage, bad
# configuration: exit status 2), never an HTTP answer: docs/api.md names
# every other code and none of these.
rows=$(grep -o 'X([A-Z_0-9]*, [0-9]*, "[a-z_]*"' include/batchup/error.h |
    sed 's/X([A-Z_0-9]*, \([0-9]*\), "\([a-z_]*\)"/\1 \2/')
codes=$(awk '$1 != 0 { print $2 }' <<<"$rows")
cli_codes=$(awk '$1 == 0 { print $2 }' <<<"$rows")
tap_ok "$([ "$(wc -w <<<"$codes")" -ge 30 ]; echo $?)" "error.h's table reads ($(wc -w <<<"$codes") codes)"
nodoc=
for c in $codes; do
    grep -q "\`$c\`" docs/api.md || nodoc="$nodoc $c"
done
tap_is "$nodoc" "" "docs/api.md names every error code of include/batchup/error.h"
tap_ok "$([ "$(wc -w <<<"$cli_codes")" -ge 1 ]; echo $?)" "error.h marks the command line's own codes with status 0 ($(echo $cli_codes))"
asapi=
for c in $cli_codes; do
    grep -q "\`$c\`" docs/api.md && asapi="$asapi $c"
done
tap_is "$asapi" "" "docs/api.md names none of them as an answer"

# --- the SQL's BU codes and error.h agree --------------------------------------
sql_codes=$(grep -rhoE "ERRCODE = 'BU[0-9A-Z]+'" sql | grep -oE 'BU[0-9A-Z]+' | sort -u | tr '\n' ' ')
h_codes=$(grep -oE '"BU[0-9A-Z]+"\)' include/batchup/error.h | tr -d '")' | sort -u | tr '\n' ' ')
tap_is "$sql_codes" "$h_codes" "the SQLSTATEs the SQL raises are exactly those error.h maps"

tap_done
