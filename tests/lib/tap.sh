# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# tap.sh: the few TAP helpers every shell test uses.
#
# Source it, then call tap_ok / tap_is / tap_like for each check and tap_done
# at the end. Each check prints one line, "ok N - what" or "not ok N - what",
# so tests/run.sh (and prove) can count them; tap_done prints the plan and
# returns non-zero when any check failed, so a test ends with
# `tap_done; exit $?` or simply `tap_done` as its last command.

tap__n=0
tap__failed=0

# tap_ok STATUS DESCRIPTION: passes when STATUS is 0 (pass "$?" or a test).
tap_ok() {
    tap__n=$((tap__n + 1))
    if [ "$1" = 0 ]; then
        printf 'ok %d - %s\n' "$tap__n" "$2"
    else
        tap__failed=$((tap__failed + 1))
        printf 'not ok %d - %s\n' "$tap__n" "$2"
    fi
}

# tap_is GOT EXPECTED DESCRIPTION: string equality, shows both on failure.
tap_is() {
    if [ "$1" = "$2" ]; then
        tap_ok 0 "$3"
    else
        tap_ok 1 "$3"
        tap_diag "got:      '$1'"
        tap_diag "expected: '$2'"
    fi
}

# tap_like GOT EXTENDED-REGEX DESCRIPTION: grep -E match, shows GOT on failure.
tap_like() {
    if printf '%s' "$1" | grep -Eq -- "$2"; then
        tap_ok 0 "$3"
    else
        tap_ok 1 "$3"
        tap_diag "got:      '$1'"
        tap_diag "expected to match: $2"
    fi
}

# tap_diag TEXT...: a comment line, shown by TAP consumers as diagnostics.
tap_diag() {
    printf '%s\n' "$*" | sed 's/^/# /'
}

# tap_bail REASON: the test cannot go on (its stack did not start, say).
tap_bail() {
    printf 'Bail out! %s\n' "$*"
    exit 1
}

# tap_done: prints the plan; returns 1 when any check failed or none ran.
tap_done() {
    printf '1..%d\n' "$tap__n"
    [ "$tap__failed" = 0 ] && [ "$tap__n" -gt 0 ]
}
