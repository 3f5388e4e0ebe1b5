#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Documentation that runs: every shell example of README.md and docs/*.md
# (the ```sh blocks; tests/lib/docs-examples.py has the convention) runs
# against a private stack, as a person would type it in the checkout while
# `make run` serves: in a scratch folder laid out like the checkout
# (build/batchup is the binary under test, var/batchup.conf the stack's
# configuration), with the user "demo" that make run creates, psql's PG*
# variables naming the stack's database, and make run's address
# http://127.0.0.1:8080 replaced by the stack's. The blocks of a document run
# in one bash session, in order; each part of a block ending in "#> " lines
# is one check of its exit status and its output. Every code block is fenced
# and names its language, so that no shell example escapes the run. Then
# the README's first command, `make run`, runs for real in a copy of the
# checkout, and the curl commands it prints are run as printed.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

docs=(README.md)
for f in docs/*.md; do [ -f "$f" ] && docs+=("$f"); done

out=$(python3 tests/lib/docs-examples.py check "${docs[@]}")
tap_is "$out" "" "every code block of ${docs[*]} is fenced and names its language"

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=3 per_user_limit=2 gc_interval_seconds=3600 || tap_bail "the stack did not start"
"$BATCHUP_BIN" user add demo -c "$BATCHUP_CONF" >/dev/null || tap_bail "cannot add user demo"

total=0
for doc in "${docs[@]}"; do
    D=$STACK_DIR/docs/$(echo "$doc" | tr / _)
    W=$D/work
    mkdir -p "$W/build" "$W/var"
    ln -s "$BATCHUP_BIN" "$W/build/batchup"
    ln -s "$BATCHUP_CONF" "$W/var/batchup.conf"
    read -r n blocks norun < <(python3 tests/lib/docs-examples.py extract "$doc" "$D" "$BATCHUP_URL")
    [ -n "$norun" ] || tap_bail "cannot read $doc"
    (cd "$W" && PATH=$W/build:$PATH timeout 120 bash "$D/run.sh" </dev/null)
    rc=$?
    while IFS=$'\t' read -r verdict what why; do
        if [ "$verdict" = ok ]; then
            tap_ok 0 "$what"
        else
            tap_ok 1 "$what"
            tap_diag "$why"
        fi
    done < <(python3 tests/lib/docs-examples.py compare "$D")
    [ "$rc" = 0 ] || tap_diag "$doc: the examples stopped with status $rc"
    total=$((total + n))
    tap_diag "$doc: $n examples run (the parts of $blocks sh blocks); $norun sh no-run blocks shown only"
done
tap_like "$total" '^[1-9]' "$total examples of the documentation ran"

# --- make run ----------------------------------------------------------------------
# The README's first command, for real: `make run` in a copy of the checkout
# (its var/ is the copy's; the build is copied, so nothing compiles again),
# on a free port, from a clean environment. It must print a token and curl
# commands that work as printed, and stop everything on Ctrl-C (SIGINT to
# its process group, as a terminal sends it).
MR=$STACK_DIR/make-run
mkdir -p "$MR"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$MR"
mkdir -p "$MR/build"
cp -a build/obj build/batchup build/version "$MR/build/"
trap 'rc=$?; [ -n "${mr_pid:-}" ] && kill -KILL -- "-$mr_pid" 2>/dev/null; stack_reap "$MR/var"; (exit "$rc"); stack_cleanup' EXIT
port=$(stack__free_port)
: >"$MR/out"
(cd "$MR" && exec env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 BATCHUP_NO_INSTALL=1 BATCHUP_PORT="$port" \
    GIT_DESCRIBE="$(cut -s -d' ' -f2 build/version)" setsid make run >"$MR/out" 2>&1 </dev/null) &
mr_pid=$!
for _ in $(seq 1 600); do
    grep -q 'Ctrl-C stops everything' "$MR/out" && break
    kill -0 "$mr_pid" 2>/dev/null || break
    sleep 0.1
done
token=$(sed -n 's/.*user "demo", token: \(.*\)$/\1/p' "$MR/out")
tap_like "$token" '^[A-Za-z0-9_-]{20,}$' "make run (BATCHUP_PORT=$port) starts the stack and prints the demo user's token"
[ -n "$token" ] || tap_diag "$(tail -n 20 "$MR/out")"
# The commands it printed, continuation lines joined, one a line.
sed -n '/^  curl /,/^  psql/p' "$MR/out" | grep -v -e '^  psql' -e '^  #' -e '^$' | sed -e 's/^ *//' |
    awk '/\\$/ { sub(/\\$/, ""); line = line $0; next } { print line $0; line = "" }' >"$MR/printed"
tap_is "$(wc -l <"$MR/printed")" 3 "it prints three curl commands: health, a batch, a PATCH"
out=$(bash -c "$(sed -n 1p "$MR/printed") -sS" 2>&1)
tap_like "$out" '"status":"ok"' "its health command answers ok"
out=$(bash -c "$(sed -n 2p "$MR/printed") -sS" 2>&1)
tap_like "$out" '"status" : "uploading"' "its batch command creates a batch (it sends Content-Type: application/json)"
file=$(printf '%s' "$out" | jq -r '.files[0].id' 2>/dev/null)
batch=$(printf '%s' "$out" | jq -r '.id' 2>/dev/null)
out=$(bash -c "$(sed -n 3p "$MR/printed" | sed "s/FILE_ID/$file/") -sS -w '%{http_code}'" 2>&1)
tap_is "$out" 204 "its PATCH command, with the file's id, uploads the file"
tap_is "$(curl -sS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/batches/$batch" | jq -r .status)" \
    complete "... and the batch is complete"
kill -INT -- "-$mr_pid" 2>/dev/null
for _ in $(seq 1 300); do
    pgrep -g "$mr_pid" >/dev/null || break
    sleep 0.1
done
tap_is "$(pgrep -g "$mr_pid" | wc -l)" 0 "Ctrl-C stops make run and everything it started"
mr_pid=
tap_done
