#!/bin/bash
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
# and names its language, so that no shell example escapes the run.
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
tap_done
