#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run.sh: every batchup test, each kind on private stacks; what `make test` runs.
#
#   tests/run.sh [all|unit|fuzz|sql|race|integration|asan] [FILTER]
#
# Kinds, in this order:
#   unit         every build/unit/test_* binary (cmocka; built by `make unit`)
#   fuzz         every build/fuzz/fuzz_* libFuzzer harness (built by `make
#                fuzz`) for FUZZ_SECONDS (default 10) each, FUZZ_JOBS
#                (default: the number of CPUs) at once, from its seed
#                corpus tests/fuzz/corpus/<harness>/ (copied: the committed
#                seeds are never changed); a crash, a leak, a broken promise
#                or any sanitizer report (UBSan's included) fails, and the
#                input that did it is shown; each line says how many inputs
#                its harness ran
#   sql          pg_prove over tests/sql/*.sql, on a fresh migrated cluster
#                with the pgtap extension created in database "batchup"
#   race         tests/race/run.sh when it exists (RACE_SECONDS, default 10),
#                on a fresh migrated cluster (PGHOST... and BATCHUP_CONF set)
#   integration  every executable in tests/integration/, sorted; each starts
#                the stack it needs itself (tests/lib/stack.sh) so that a test
#                may kill workers or stop PostgreSQL without disturbing the
#                next one; each runs under `timeout` (IT_TIMEOUT, default 240 s)
#   asan         the build-asan/unit/test_* binaries and most integration
#                tests again, against the AddressSanitizer + UBSan build
#                (`make asan`); any sanitizer report fails
# FILTER keeps the test files whose name contains it.
#
# Every test speaks TAP ("ok N - ...", "not ok N - ...", "ok N - ... # SKIP
# why"); cmocka binaries are counted from their "[  PASSED  ]", "[  FAILED  ]"
# and "[  SKIPPED ]" lines. A skip is counted as skipped, never as passed. A
# test that exits non-zero without a "not ok" line (a crash, a timeout), a
# TAP script whose plan ("1..N") disagrees with the results it printed, and
# a cmocka binary whose "N test(s) run" disagrees with its verdicts each
# count as one more failure. Everything started is stopped, even on Ctrl-C
# or when a test is killed.
#
# Each part ends with its tally: passed, failed, skipped, and how many of its
# results are distinct checks and how many re-run checks counted elsewhere
# (the sanitizer pass re-runs integration scripts and unit binaries under
# ASan/UBSan; an integration result "NN: ..." re-runs a check of the script
# NN-*.sh, as 18-pgbouncer.sh does behind PgBouncer). A table of the parts
# comes before the last line, which is always "N passed, M failed, K
# skipped"; the exit status is 0 only when nothing failed and something
# passed. docs/testing.md says what is counted and why.
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
skipped=0
# Results that re-run a check counted elsewhere, by what re-ran them (a
# script's name, or "ASan/UBSan ..."), and their sum.
declare -A reruns_by=()
reruns=0
# One row per part run: "name|passed|failed|skipped|distinct|re-runs|why".
parts=()

summary() {
    local row name p f s d r why
    if [ "${#parts[@]}" -gt 0 ]; then
        echo "# what the count is made of (a re-run repeats a check counted as distinct elsewhere):"
        printf '#   %-12s %7s %7s %7s %9s %8s\n' part passed failed skipped distinct re-runs
        for row in "${parts[@]}"; do
            IFS='|' read -r name p f s d r why <<<"$row"
            printf '#   %-12s %7s %7s %7s %9s %8s%s\n' "$name" "$p" "$f" "$s" "$d" "$r" "${why:+  $why}"
        done
    fi
    echo "$passed passed, $failed failed, $skipped skipped"
}

# count_tap FILE [SELF]: add FILE's TAP results to the totals; sets cnt_p,
# cnt_f, cnt_s (passed, failed, skipped) and cnt_r (re-runs). Only numbered
# or described results count: pg_prove's per-file verdict, a bare "ok", is
# not a test. An "ok" with a SKIP directive is a skip, not a pass. With
# SELF (an integration script's name), a result described "NN: ..." where
# tests/integration/NN-*.sh is another script is a re-run of that script's
# check (18-pgbouncer.sh re-runs 60 and 61 behind PgBouncer).
count_tap() {
    local self=${2:-} num
    cnt_s=$(grep -Eic '^ok ([0-9]+ ?)?(- )?[^#]*#[[:space:]]*skip' "$1")
    cnt_p=$(($(grep -Ec '^ok ([0-9]|- )' "$1") - cnt_s))
    cnt_f=$(grep -Ec '^not ok ([0-9]|- )' "$1")
    cnt_r=0
    if [ -n "$self" ]; then
        while read -r num; do
            [ "$num" = "${self%%-*}" ] && continue
            compgen -G "tests/integration/$num-*" >/dev/null && cnt_r=$((cnt_r + 1))
        done < <(sed -nE 's/^(not )?ok [0-9]+ - ([0-9]{2,3}): .*/\2/p' "$1")
        if [ "$cnt_r" -gt 0 ]; then
            reruns_by[$self]=$((${reruns_by[$self]:-0} + cnt_r))
            reruns=$((reruns + cnt_r))
        fi
    fi
    passed=$((passed + cnt_p))
    failed=$((failed + cnt_f))
    skipped=$((skipped + cnt_s))
}

# plan_disagrees FILE: true (0) when FILE's TAP plan and results disagree,
# with the reason in plan_why: no plan, more than one, or a count other
# than the results'. Call it after count_tap on the same file.
plan_disagrees() {
    local plans n
    plans=$(grep -Ec '^1\.\.[0-9]+' "$1")
    n=$((cnt_p + cnt_f + cnt_s))
    if [ "$plans" = 0 ]; then
        plan_why="no plan (1..N) for its $n results"
    elif [ "$plans" -gt 1 ]; then
        plan_why="$plans plans"
    else
        plans=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$1")
        [ "$plans" = "$n" ] && return 1
        plan_why="plan 1..$plans but $n results"
    fi
    return 0
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
    local rc=$? j
    trap - EXIT INT TERM HUP
    # Harnesses still fuzzing (run_fuzz runs them in the background): their
    # timeout, the child of each job, passes SIGTERM on to the harness.
    for j in $(jobs -p); do
        pkill -TERM -P "$j" 2>/dev/null
        kill -TERM "$j" 2>/dev/null
    done
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

# sum_cmocka LOG PATTERN: the sum of cmocka's counts on lines matching
# PATTERN (one line per test group), empty when there is none.
sum_cmocka() {
    sed -n "s/^$2 \([0-9]*\) test.*/\1/p" "$1" | awk '{ n += $1; any = 1 } END { if (any) print n }'
}

# run_unit [DIR]: every DIR/unit/test_* binary (DIR: $BUILD; the sanitizer
# part passes build-asan).
run_unit() {
    local dir=${1:-$BUILD} bin log rc p f s ran any=0
    echo "# unit tests ($dir/unit)"
    if compgen -G "tests/unit/test_*.c" >/dev/null && ! compgen -G "$dir/unit/test_*" >/dev/null; then
        fail_line "unit: tests/unit/ has tests but $dir/unit/ has no binaries (run make unit, or make asan)"
        return
    fi
    for bin in "$dir"/unit/test_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        matches "$bin" || continue
        any=1
        log=$RUN_DIR/$(basename "$dir")-$(basename "$bin").log
        timeout -k 5 "${UNIT_TIMEOUT:-120}" "$bin" >"$log" 2>&1
        rc=$?
        cat "$log"
        ran=$(sum_cmocka "$log" '\[==========\]')
        p=$(sum_cmocka "$log" '\[  PASSED  \]')
        f=$(sum_cmocka "$log" '\[  FAILED  \]')
        s=$(sum_cmocka "$log" '\[  SKIPPED \]')
        if [ -z "$p$f" ]; then
            # Not cmocka's summary: TAP (CMOCKA_MESSAGE_OUTPUT=TAP) or nothing.
            count_tap "$log"
            p=$cnt_p f=$cnt_f
            if [ "$((p + f + cnt_s))" = 0 ]; then
                if [ "$rc" = 0 ]; then
                    echo "ok - $(basename "$bin")"
                    passed=$((passed + 1))
                else
                    fail_line "$(basename "$bin") exited $rc"
                fi
                continue
            fi
            if plan_disagrees "$log"; then
                fail_line "$(basename "$bin"): $plan_why"
            fi
        else
            passed=$((passed + ${p:-0}))
            failed=$((failed + ${f:-0}))
            skipped=$((skipped + ${s:-0}))
            if [ "${ran:-?}" != "$((${p:-0} + ${f:-0} + ${s:-0}))" ]; then
                fail_line "$(basename "$bin"): ${ran:-no} test(s) run, but ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
            fi
        fi
        if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
            fail_line "$(basename "$bin") exited $rc after its tests (crash or timeout?)"
        fi
    done
    [ "$any" = 1 ] || echo "# no unit test binaries"
}

# --- fuzz ---------------------------------------------------------------

# fuzz_one BIN SECONDS: run one harness from its seed corpus (copied: the
# committed seeds are never changed) in $RUN_DIR/fuzz-NAME/, its output in
# fuzz-NAME.log and its exit status in fuzz-NAME.rc.
fuzz_one() {
    local bin=$1 secs=$2 name work
    name=$(basename "$bin")
    work=$RUN_DIR/fuzz-$name
    mkdir -p "$work"
    (cd "$work" && exec timeout -k 5 $((secs + 60)) "$REPO/$bin" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "$work" "$REPO/tests/fuzz/corpus/$name") >"$work.log" 2>&1
    echo "$?" >"$work.rc"
}

# run_fuzz: every harness for FUZZ_SECONDS, FUZZ_JOBS (the number of CPUs)
# at once: each is one busy thread that runs for a fixed wall time, so on an
# idle machine running them side by side costs none of their inputs, and
# the part takes the time of one harness a CPU instead of all of them.
# Their verdicts come after, in order.
run_fuzz() {
    local bin name work log rc runs secs=${FUZZ_SECONDS:-10} jobs=${FUZZ_JOBS:-$(nproc)}
    local -a names=()
    echo "# fuzzing ($BUILD/fuzz, ${secs} s each, $jobs at once)"
    for bin in "$BUILD"/fuzz/fuzz_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        matches "$bin" || continue
        names+=("$(basename "$bin")")
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        fuzz_one "$bin" "$secs" &
    done
    wait
    for name in "${names[@]}"; do
        work=$RUN_DIR/fuzz-$name
        log=$work.log
        rc=$(cat "$work.rc" 2>/dev/null || echo "unknown (no status)")
        [ -d "tests/fuzz/corpus/$name" ] || fail_line "$name: no seed corpus tests/fuzz/corpus/$name"
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        # The harnesses abort on a sanitizer report (-fno-sanitize-recover=all
        # in FUZZ_CFLAGS); a report in a log that still exited 0 means a
        # harness built without it, and fails here all the same.
        if [ "$rc" = 0 ] && grep -Eq 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)' "$log"; then
            rc="0 with a sanitizer report"
        elif [ "$rc" = 0 ] && [ "${runs:-0}" = 0 ]; then
            rc="0 without running any input"
        fi
        if [ "$rc" = 0 ]; then
            echo "ok - $name: $runs runs in ${secs} s, nothing found"
            passed=$((passed + 1))
        else
            fail_line "$name exited $rc (${runs:-no} runs)"
            grep -E 'ERROR|SUMMARY|Test unit written|runtime error|^ +#[0-9]+ .* in ' "$log" |
                grep -v 'in fuzzer::' | head -n 20 | sed 's/^/#   /'
            for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
                [ -f "$f" ] && echo "# input ($(basename "$f")): $(head -c 300 "$f" | od -An -c | tr -s ' \n' ' ')"
            done
        fi
    done
    if [ "${#names[@]}" = 0 ]; then
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
    elif plan_disagrees "$log"; then
        fail_line "tests/race/run.sh: $plan_why"
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
        count_tap "$log" "$name"
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            fail_line "$name did not finish within ${secs}s"
        elif [ "$rc" != 0 ] && [ "$cnt_f" = 0 ]; then
            fail_line "$name exited $rc"
        elif [ "$rc" = 0 ] && [ "$((cnt_p + cnt_f + cnt_s))" = 0 ] && grep -Eq '^1\.\.0([^0-9]|$)' "$log"; then
            # "1..0 # SKIP why": the whole script skipped itself.
            echo "# $name: skipped as a whole ($(grep -E '^1\.\.0' "$log" | head -n 1))"
            skipped=$((skipped + 1))
        elif [ "$((cnt_p + cnt_f + cnt_s))" = 0 ]; then
            fail_line "$name printed no TAP result"
        elif plan_disagrees "$log"; then
            fail_line "$name: $plan_why"
        fi
    done
    [ "$any" = 1 ] || echo "# no integration tests"
}

# --- asan ---------------------------------------------------------------

# The unit binaries and the integration tests of ASAN_TESTS once more,
# against the AddressSanitizer + UBSan build (`make asan`, which stops at the
# first UBSan report: -fno-sanitize-recover=all), with LeakSanitizer checking
# every process as it exits. Any sanitizer report fails the pass. Every
# result but the last line's is a re-run of a check counted in the unit or
# integration part.
#
# ASAN_TESTS is the supervision, upload, download, admission, orphan-sweep,
# batch-join, push and pull, hooks and logs scripts, less those that run no
# line or branch of app/ that the others do not (measured with a gcov build
# whose every process wrote its counts, each script alone):
# 11-reload-sighup, 12-graceful-stop, 26-sendfile-cut-bytes,
# 59-upload-offsets, 60-tus-js-client, 60-tus-queue-hold,
# 74-data-expiry-keeps and 80-upload-page (whose own three lines, the
# batch list's files parameter and Batchup-Max-Chunk-Size, 61-tus-status-codes
# now runs and checks), about two minutes of mostly waiting. A script that
# adds a path of its own belongs in the list.
#
# The runs happen in a subshell (its exports stay there), which hands its
# counts back in a file; when that file is missing or incomplete (the
# subshell died), the pass fails, whatever its log says.
run_asan() {
    local reports=$RUN_DIR/asan-reports counts=$RUN_DIR/asan-counts f bad=0 rc
    local cp cf cs cu end n0=$((passed + failed + skipped))
    local only=${ASAN_TESTS:-'^((10|1[3-6]|20|30|40|50|58|6[1-35789]|7[0-2]|75|8[56])-|26-admission\.|74-download-zip-resume\.)'}
    echo "# sanitizer pass: build-asan/unit, and build-asan/batchup under ${only}"
    if [ ! -x "$PWD/build-asan/batchup" ]; then
        fail_line "build-asan/batchup is missing: run 'make asan'"
        return
    fi
    mkdir -p "$reports"
    rm -f "$counts"
    (
        export BATCHUP_BIN=$PWD/build-asan/batchup
        export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:halt_on_error=1"
        export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
        export LSAN_OPTIONS="log_path=$reports/lsan"
        run_unit build-asan
        cu=$((passed + failed + skipped - n0))
        run_integration "$only"
        echo "$passed $failed $skipped $cu end" >"$counts"
    ) >"$RUN_DIR/asan.log" 2>&1
    rc=$?
    cat "$RUN_DIR/asan.log"
    end=
    [ -f "$counts" ] && read -r cp cf cs cu end <"$counts"
    if [ "$end" = end ]; then
        passed=$cp failed=$cf skipped=$cs
        reruns_by["ASan/UBSan (unit binaries)"]=$cu
        reruns_by["ASan/UBSan (integration scripts)"]=$((cp + cf + cs - n0 - cu))
        reruns=$((reruns + cp + cf + cs - n0))
    else
        fail_line "sanitizer pass: its subshell exited $rc without handing back its counts ($counts); the results above are not counted"
    fi
    # The reports' files, and the unit binaries' own logs (where a report
    # may land when a binary sets up its own stderr).
    for f in "$reports"/* "$RUN_DIR"/build-asan-test_*.log; do
        [ -s "$f" ] || continue
        if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
            bad=1
            echo "# --- $f ---"
            head -n 40 "$f" | sed 's/^/#   /'
        fi
    done
    if [ "$bad" = 0 ]; then
        echo "ok - no AddressSanitizer, LeakSanitizer or UBSan report from any unit binary or batchup process"
        passed=$((passed + 1))
    else
        fail_line "sanitizer reports (above)"
    fi
}

# section KIND: run one kind, then its own tally as a comment, and its row
# of the closing table: how many of its results are distinct checks and how
# many re-run checks counted elsewhere, and what re-ran them.
section() {
    local p0=$passed f0=$failed s0=$skipped r0=$reruns t0=$SECONDS k why='' n r
    local -A by0=()
    wants "$1" || return 0
    for k in "${!reruns_by[@]}"; do by0[$k]=${reruns_by[$k]}; done
    "run_$1"
    for k in "${!reruns_by[@]}"; do
        n=$((${reruns_by[$k]} - ${by0[$k]:-0}))
        [ "$n" -gt 0 ] && why="$why${why:+; }$n by $k"
    done
    n=$((passed - p0 + failed - f0 + skipped - s0))
    r=$((reruns - r0))
    echo "# $1: $((passed - p0)) passed, $((failed - f0)) failed, $((skipped - s0)) skipped ($((SECONDS - t0)) s): $((n - r)) distinct checks, $r re-runs${why:+ ($why)}"
    parts+=("$1|$((passed - p0))|$((failed - f0))|$((skipped - s0))|$((n - r))|$r|$why")
}

section unit
section fuzz
section sql
section race
section integration
section asan
