#!/bin/bash
# run.sh: every batchup test, each kind on private stacks; what `make test` runs.
#
#   tests/run.sh [all|unit|fuzz|sql|race|integration|asan] [FILTER]
#
# Kinds, in this order:
#   unit         every build/unit/test_* binary (cmocka; built by `make unit`)
#   fuzz         every build/fuzz/fuzz_* libFuzzer harness (built by `make
#                fuzz`) for FUZZ_SECONDS (default 10) each, from its seed
#                corpus tests/fuzz/corpus/<harness>/ (copied: the committed
#                seeds are never changed); a crash, leak or broken promise
#                fails, and the input that did it is shown
#   sql          pg_prove over tests/sql/*.sql, on a fresh migrated cluster
#                with the pgtap extension created in database "batchup"
#   race         tests/race/run.sh when it exists (RACE_SECONDS, default 10),
#                on a fresh migrated cluster (PGHOST... and BATCHUP_CONF set)
#   integration  every executable in tests/integration/, sorted; each starts
#                the stack it needs itself (tests/lib/stack.sh) so that a test
#                may kill workers or stop PostgreSQL without disturbing the
#                next one; each runs under `timeout` (IT_TIMEOUT, default 240 s)
# FILTER keeps the test files whose name contains it.
#
# Every test speaks TAP ("ok N - ...", "not ok N - ..."); cmocka binaries are
# counted from their "[  PASSED  ]"/"[  FAILED  ]" lines. A test that exits
# non-zero without a "not ok" line (a crash, a timeout, a broken plan) counts
# as one more failure. Everything started is stopped, even on Ctrl-C or when
# a test is killed, and the last line is always "N passed, M failed"; the
# exit status is 0 only when nothing failed and something passed.
#
# Nothing is installed when prerequisites are all there; otherwise
# tests/lib/deps.sh installs them (root with apt-get) or prints the command.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
BUILD=${BUILD:-build}
export BATCHUP_BIN=${BATCHUP_BIN:-$REPO/$BUILD/batchup}

kind=${1:-all}
filter=${2:-}
case $kind in
    all | unit | fuzz | sql | race | integration | asan) ;;
    -h | --help)
        sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: tests/run.sh [all|unit|fuzz|sql|race|integration|asan] [FILTER]" >&2
        exit 2
        ;;
esac

passed=0
failed=0

summary() {
    echo "$passed passed, $failed failed"
}

# count_tap FILE: add FILE's TAP results to the totals; sets cnt_p, cnt_f.
# Only numbered or described results count: pg_prove's per-file verdict, a
# bare "ok", is not a test.
count_tap() {
    cnt_p=$(grep -Ec '^ok ([0-9]|- )' "$1")
    cnt_f=$(grep -Ec '^not ok ([0-9]|- )' "$1")
    passed=$((passed + cnt_p))
    failed=$((failed + cnt_f))
}

fail_line() {
    echo "not ok - $*"
    failed=$((failed + 1))
}

# Prerequisites.
if ! tests/lib/deps.sh; then
    echo "tests/run.sh: prerequisites missing (see above)" >&2
    failed=1
    summary
    exit 1
fi

# shellcheck source=tests/lib/stack.sh
. tests/lib/stack.sh

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/batchup-run.XXXXXX") || exit 1
chmod 0755 "$RUN_DIR"

reap_all() {
    local d
    for d in "$RUN_DIR"/*/ "$RUN_DIR"/*/*/; do
        [ -d "$d" ] && stack_reap "${d%/}"
    done
}

finish() {
    local rc=$?
    trap - EXIT INT TERM HUP
    reap_all
    if [ "${KEEP_RUN_DIR:-0}" = 1 ]; then
        echo "# test folders kept in $RUN_DIR"
    else
        rm -rf "$RUN_DIR"
    fi
    summary
    if [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; then exit 0; fi
    [ "$rc" = 0 ] && rc=1
    exit "$rc"
}
trap finish EXIT
trap 'failed=$((failed + 1)); echo "# interrupted"; exit 130' INT
trap 'failed=$((failed + 1)); echo "# terminated"; exit 143' TERM HUP

matches() {
    [ -z "$filter" ] || [[ "$1" == *"$filter"* ]]
}

wants() {
    [ "$kind" = all ] || [ "$kind" = "$1" ]
}

need_binary() {
    if [ ! -x "$BATCHUP_BIN" ]; then
        fail_line "$1: $BATCHUP_BIN is missing (run make)"
        return 1
    fi
}

# --- unit ---------------------------------------------------------------

run_unit() {
    local bin log rc p f any=0
    echo "# unit tests ($BUILD/unit)"
    if compgen -G "tests/unit/test_*.c" >/dev/null && ! compgen -G "$BUILD/unit/test_*" >/dev/null; then
        fail_line "unit: tests/unit/ has tests but $BUILD/unit/ has no binaries (run make unit)"
        return
    fi
    for bin in "$BUILD"/unit/test_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        matches "$bin" || continue
        any=1
        log=$RUN_DIR/$(basename "$bin").log
        timeout -k 5 "${UNIT_TIMEOUT:-120}" "$bin" >"$log" 2>&1
        rc=$?
        cat "$log"
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
        if [ -z "$p$f" ]; then
            # Not cmocka's summary: TAP (CMOCKA_MESSAGE_OUTPUT=TAP) or nothing.
            count_tap "$log"
            p=$cnt_p f=$cnt_f
            if [ "$((p + f))" = 0 ]; then
                if [ "$rc" = 0 ]; then
                    echo "ok - $(basename "$bin")"
                    passed=$((passed + 1))
                else
                    fail_line "$(basename "$bin") exited $rc"
                fi
                continue
            fi
        else
            passed=$((passed + ${p:-0}))
            failed=$((failed + ${f:-0}))
        fi
        if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
            fail_line "$(basename "$bin") exited $rc after its tests (crash or timeout?)"
        fi
    done
    [ "$any" = 1 ] || echo "# no unit test binaries"
}

# --- fuzz ---------------------------------------------------------------

run_fuzz() {
    local bin name work log rc any=0 secs=${FUZZ_SECONDS:-10}
    echo "# fuzzing ($BUILD/fuzz, ${secs} s each)"
    for bin in "$BUILD"/fuzz/fuzz_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        matches "$bin" || continue
        any=1
        name=$(basename "$bin")
        work=$RUN_DIR/fuzz-$name
        log=$work.log
        mkdir -p "$work"
        [ -d "tests/fuzz/corpus/$name" ] || fail_line "$name: no seed corpus tests/fuzz/corpus/$name"
        (cd "$work" && timeout -k 5 $((secs + 60)) "$REPO/$bin" -max_total_time="$secs" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 "$work" "$REPO/tests/fuzz/corpus/$name") >"$log" 2>&1
        rc=$?
        if [ "$rc" = 0 ]; then
            echo "ok - $name: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") runs in ${secs} s, nothing found"
            passed=$((passed + 1))
        else
            fail_line "$name exited $rc"
            grep -E 'ERROR|SUMMARY|Test unit written|runtime error|^ +#[0-9]+ .* in ' "$log" |
                grep -v 'in fuzzer::' | head -n 20 | sed 's/^/#   /'
            for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
                [ -f "$f" ] && echo "# input ($(basename "$f")): $(head -c 300 "$f" | od -An -c | tr -s ' \n' ' ')"
            done
        fi
    done
    if [ "$any" = 0 ]; then
        fail_line "fuzz: no harness in $BUILD/fuzz (run make fuzz)"
    fi
}

# --- sql ----------------------------------------------------------------

# fresh_db_stack NAME: in a subshell: a stack with a migrated cluster only.
fresh_db_stack() {
    STACK_ROOT=$RUN_DIR/$1
    export STACK_ROOT
    stack_init || return 1
    stack_pg_start || return 1
    stack_write_conf || return 1
    stack_migrate >"$STACK_DIR/migrate.log" 2>&1 || {
        echo "# batchup migrate failed:"
        sed 's/^/#   /' "$STACK_DIR/migrate.log"
        return 1
    }
}

run_sql() {
    local files=() t log
    for t in tests/sql/*.sql; do
        [ -f "$t" ] && matches "$t" && files+=("$t")
    done
    echo "# SQL tests (pg_prove)"
    if [ "${#files[@]}" = 0 ]; then
        echo "# no SQL tests"
        return
    fi
    need_binary sql || return
    log=$RUN_DIR/sql.log
    (
        fresh_db_stack sql || { echo "not ok - sql: the test database could not be set up"; exit 1; }
        psql -XAtq -c 'CREATE EXTENSION IF NOT EXISTS pgtap' >/dev/null ||
            { echo "not ok - sql: CREATE EXTENSION pgtap failed"; exit 1; }
        for t in "${files[@]}"; do
            echo "# $t"
            out=$(timeout -k 5 "${SQL_TIMEOUT:-300}" pg_prove --verbose --failures "$t" 2>&1)
            rc=$?
            printf '%s\n' "$out"
            if [ "$rc" != 0 ] && ! printf '%s\n' "$out" | grep -Eq '^not ok ([0-9]|- )'; then
                echo "not ok - $t: pg_prove exited $rc (bad plan, SQL error or timeout)"
            fi
        done
        exit 0
    ) 2>&1 | tee "$log"
    count_tap "$log"
}

# --- race ---------------------------------------------------------------

run_race() {
    local log=$RUN_DIR/race.log rc
    echo "# race test (tests/race/run.sh)"
    if [ ! -f tests/race/run.sh ] || ! matches tests/race/run.sh; then
        echo "# no race test"
        return
    fi
    need_binary race || return
    (
        fresh_db_stack race || { echo "not ok - race: the test database could not be set up"; exit 1; }
        RACE_SECONDS=${RACE_SECONDS:-10} timeout -k 10 "${RACE_TIMEOUT:-300}" bash tests/race/run.sh
        echo "# race-exit $?"
    ) 2>&1 | tee "$log"
    rc=$(sed -n 's/^# race-exit //p' "$log")
    count_tap "$log"
    if [ "$((cnt_p + cnt_f))" = 0 ]; then
        if [ "${rc:-1}" = 0 ]; then
            echo "ok - tests/race/run.sh"
            passed=$((passed + 1))
        else
            fail_line "tests/race/run.sh exited ${rc:-?}"
        fi
    elif [ "${rc:-1}" != 0 ] && [ "$cnt_f" = 0 ]; then
        fail_line "tests/race/run.sh exited ${rc:-?}"
    fi
}

# --- integration --------------------------------------------------------

# run_integration [REGEX]: every integration test (or those whose name
# matches REGEX, for the sanitizer pass).
run_integration() {
    local t name log rc d t0 any=0 secs=${IT_TIMEOUT:-240} only=${1:-}
    echo "# integration tests (tests/integration/)"
    for t in tests/integration/*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        matches "$t" || continue
        [ -z "$only" ] || [[ $(basename "$t") =~ $only ]] || continue
        any=1
        name=$(basename "$t")
        need_binary "$name" || continue
        echo "# $t"
        log=$RUN_DIR/it-$name.log
        mkdir -p "$RUN_DIR/it-$name"
        t0=$SECONDS
        STACK_ROOT=$RUN_DIR/it-$name timeout -k 15 "$secs" "$t" </dev/null 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        echo "# $name: $((SECONDS - t0)) s"
        for d in "$RUN_DIR/it-$name"/*/; do
            [ -d "$d" ] && stack_reap "${d%/}"
        done
        count_tap "$log"
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            fail_line "$name did not finish within ${secs}s"
        elif [ "$rc" != 0 ] && [ "$cnt_f" = 0 ]; then
            fail_line "$name exited $rc"
        elif [ "$((cnt_p + cnt_f))" = 0 ]; then
            fail_line "$name printed no TAP result"
        fi
    done
    [ "$any" = 1 ] || echo "# no integration tests"
}

# --- asan ---------------------------------------------------------------

# The integration tests once more (all but the slow 64, the memory tests 66
# and 73, and the opt-in ones) against the AddressSanitizer + UBSan build
# (`make asan`), with LeakSanitizer checking every batchup process as it
# exits. Any sanitizer report fails the pass.
run_asan() {
    local reports=$RUN_DIR/asan-reports f bad=0
    local only=${ASAN_TESTS:-'^(1[0-6]|20|30|40|50|59|6[0-35789]|7[0-2]|80|8[56])-'}
    echo "# sanitizer pass: build-asan/batchup under ${only}"
    if [ ! -x "$PWD/build-asan/batchup" ]; then
        fail_line "build-asan/batchup is missing: run 'make asan'"
        return
    fi
    mkdir -p "$reports"
    (
        export BATCHUP_BIN=$PWD/build-asan/batchup
        export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:halt_on_error=1"
        export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
        export LSAN_OPTIONS="log_path=$reports/lsan"
        run_integration "$only" >"$RUN_DIR/asan-integration.log" 2>&1
        echo "$passed $failed" >"$RUN_DIR/asan-counts"
    )
    cat "$RUN_DIR/asan-integration.log"
    read -r passed failed <"$RUN_DIR/asan-counts"
    for f in "$reports"/*; do
        [ -s "$f" ] || continue
        if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
            bad=1
            echo "# --- $f ---"
            head -n 40 "$f" | sed 's/^/#   /'
        fi
    done
    if [ "$bad" = 0 ]; then
        echo "ok - no AddressSanitizer, LeakSanitizer or UBSan report from any batchup process"
        passed=$((passed + 1))
    else
        fail_line "sanitizer reports from batchup (above)"
    fi
}

# section KIND: run one kind, then its own tally as a comment.
section() {
    local p0=$passed f0=$failed t0=$SECONDS
    wants "$1" || return 0
    "run_$1"
    echo "# $1: $((passed - p0)) passed, $((failed - f0)) failed ($((SECONDS - t0)) s)"
}

section unit
section fuzz
section sql
section race
section integration
section asan
