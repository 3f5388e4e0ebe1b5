#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The command line and the process roles, as the code's tables say:
#   - the command table of app/main.c (read from the source) is what
#     `batchup --help` prints, every command with its one line of help, and
#     what man/batchup.8's COMMANDS and docs/operations.md name; an unknown
#     command exits 2 with one line naming --help; a known one with the
#     wrong operands, or operands its handler refuses, exits 2 with its own
#     usage line from the table; no command prints the usage
#     on stderr and exits 2;
#   - on a running server, the master, each worker and the hooks child
#     handle, ignore and block the signals their role tables say (read from
#     /proc/PID/status), and a worker killed by SIGSEGV is logged with its
#     signal and replaced.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

# --- the command table ---------------------------------------------------------
rows=$(python3 - <<'PY'
import re
src = open("app/main.c").read()
block = src[src.index("main_commands[] = {"):]
block = block[:block.index("\n};")]
row = re.compile(r'\{"([a-z ]+)",\s*"([^"]*)",\s*(-?\d+),\s*(-?\d+),\s*\w+,\s*"((?:[^"\\]|\\.)*)"\s*\}')
for m in row.finditer(block):
    print("%s\t%s\t%s" % (m.group(1), m.group(2), m.group(5)))
PY
)
tap_ok "$([ "$(grep -c . <<<"$rows")" -ge 10 ]; echo $?)" "app/main.c's command table reads ($(grep -c . <<<"$rows") rows)"

help=$("$BATCHUP_BIN" --help 2>/dev/null)
tap_is "$?" 0 "batchup --help exits 0"
flat=$(tr -s ' \n' '  ' <<<"$help")
man=$(sed -n '/^\.SH COMMANDS/,/^\.SH CONFIGURATION/p' man/batchup.8 | tr -d '"\\')
ops=$(sed -n '/^## Command line/,/^###/p' docs/operations.md)
nohelp= noman= noops=
while IFS=$'\t' read -r words args text; do
    shape="$words${args:+ $args}"
    grep -qF -- " $shape $text" <<<" $flat" || nohelp="$nohelp [$words]"
    grep -qE -- "^\.(B|BI|BR) $words( |$)" <<<"$man" || noman="$noman [$words]"
    grep -qF -- "batchup $words" <<<"$ops" || noops="$noops [$words]"
done <<<"$rows"
tap_is "$nohelp" "" "--help lists every command of the table with its shape and help"
tap_is "$noman" "" "man/batchup.8 COMMANDS names every command of the table"
tap_is "$noops" "" "docs/operations.md's command line names every command of the table"

# expect_usage NAME WANT ARGS...: exit 2, nothing on stdout, one line on
# stderr that contains WANT.
expect_usage() {
    local name=$1 want=$2 rc
    shift 2
    "$BATCHUP_BIN" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    tap_is "$rc" 2 "$name: exit status 2"
    tap_is "$(wc -c <"$T/out")$(grep -c . "$T/err")" "01" "$name: nothing on stdout, one line on stderr"
    grep -qF -- "$want" "$T/err"
    tap_ok $? "$name: says '$want'"
    tap_diag "stderr: $(cat "$T/err")"
}
T=$(mktemp -d) || tap_bail "mktemp"
trap 'rm -rf "$T"' EXIT
expect_usage "unknown command" "unknown command 'frobnicate'; see 'batchup --help'" frobnicate
expect_usage "serve with an operand" "usage: batchup serve" serve extra
expect_usage "status --bogus" "usage: batchup status [--json]" status --bogus
expect_usage "user alone" "user add NAME [--limit N] | user token NAME | user limit NAME N | user list" user
expect_usage "user limit, one operand" "usage: batchup user limit NAME N" user limit alice
# A command's own usage error ends with the usage line of the table, not
# with a text of its own.
expect_usage "push without a path" \
    "no file or directory to push; usage: batchup push [--url URL] [--token T] [--parallel N] [--json] PATH..." \
    push
expect_usage "pull without a link" "no link; usage: batchup pull LINK [-o DIR] [--zip]" pull
expect_usage "user add, a bad limit" "; usage: batchup user add NAME [--limit N]" user add bob --limit x
"$BATCHUP_BIN" >"$T/out" 2>"$T/err"
tap_is "$?" 2 "no command: exit status 2"
tap_is "$(cat "$T/err")" "$help" "... with the usage on stderr"

# --- the process roles ----------------------------------------------------------
ulimit -c 0 # the SIGSEGV below must not leave a core file
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=3600 hook_command=true ||
    tap_bail "the stack did not start"

# sigs PID FIELD: the signal numbers set in /proc/PID/status's FIELD mask.
sigs() {
    local hex
    hex=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status") || return
    python3 -c "m = int('$hex', 16); print(' '.join(str(s) for s in range(1, 65) if m >> (s - 1) & 1))"
}
# role PID: "handled | ignored | blocked", limited to the signals the
# tables speak of (HUP INT QUIT USR1 USR2 PIPE TERM CHLD).
role() {
    local f out=
    for f in SigCgt SigIgn SigBlk; do
        out="$out|$(sigs "$1" "$f" | tr ' ' '\n' | grep -xE '1|2|3|10|12|13|15|17' | tr '\n' ' ')"
    done
    echo "${out#|}"
}
three() { [ "$(stack_worker_pids | wc -l)" = 3 ]; }
stack_wait_until 20 three
tap_is "$(role "$BATCHUP_PID")" "1 2 3 10 15 17 |13 |" \
    "the master handles CHLD HUP TERM INT QUIT USR1, ignores PIPE, blocks nothing"
workers= hooks=
for p in $(stack_worker_pids); do
    case $(role "$p") in
        "2 3 10 12 15 |1 13 |") workers="$workers $p" ;;
        "2 3 10 15 |1 13 |") hooks="$hooks $p" ;;
        *) tap_diag "child $p: $(role "$p")" ;;
    esac
done
tap_is "$(wc -w <<<"$workers")" 2 "both workers handle TERM INT QUIT USR1 USR2, ignore HUP PIPE, block nothing"
tap_is "$(wc -w <<<"$hooks")" 1 "the hooks child handles TERM INT QUIT USR1, ignores HUP PIPE, blocks nothing"

victim=$(awk '{ print $1 }' <<<"$workers")
kill -SEGV "$victim"
stack__wait_gone "$victim" 5
replaced() { [ "$(stack_worker_pids | wc -l)" = 3 ] && ! stack_worker_pids | grep -qx "$victim"; }
stack_wait_until 10 replaced
tap_ok $? "a worker killed by SIGSEGV is replaced"
grep -qE "worker $victim died after [0-9.]+s: signal 11 \(Segmentation fault\)" "$STACK_DIR/batchup.log"
tap_ok $? "... and logged with its signal"
tap_is "$(stack_health_codes 5 0.05 | sort -u | tr -d '\n')" 200 "the server answers health 200 after it"

tap_done
