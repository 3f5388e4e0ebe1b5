#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run.sh: every batchup benchmark, in order; what `make bench` runs.
#
#   tests/bench/run.sh
#
#   1. slots.sh     the SQL slot cycle next to the smallest write transaction
#                   (when the file exists), on a private migrated cluster
#   2. upload.sh    upload throughput, CPU per GB and worker memory: batchup
#                   next to nginx alone, @tus/server and the app floor
#                   (fcgi_floor.c, which make bench builds)
#   2b. chunked.sh  one file in 16 MiB PATCHes next to the same file in one
#                   PATCH (64 MiB and 1 GiB): batchup CPU and wall time, ratios
#   3. download.sh  single-file and ZIP download throughput next to nginx
#                   serving the same bytes as static files
#   4. liveness.sh  200 slow uploads at once (40 users x 5 files, one paced
#                   PATCH each; pool forked in advance): pool RSS and PSS, PostgreSQL
#                   connections, health latency while they run
#
# Each part starts what it needs itself (tests/lib/stack.sh: PostgreSQL,
# batchup, nginx on loopback) and stops it and removes its big files at the
# end.  The tables go to stdout (and to $BENCH_OUT/results.txt, default
# build/bench/), progress to stderr; they are plain text, ready to paste into
# a README.  Each part's knobs are described at the top of its file; the
# whole run takes about 11 minutes on 2 cores.  Exit status: 0 when every
# part ran.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export BENCH_OUT=${BENCH_OUT:-$PWD/build/bench}
mkdir -p "$BENCH_OUT"
exec > >(tee "$BENCH_OUT/results.txt")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
echo "batchup benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem RAM, $(uname -sr)"
echo "software: batchup $(build/batchup --version 2>/dev/null | head -n 1 | awk '{print $NF}')," \
    "$(nginx -v 2>&1 | sed 's|.*/||; s|^|nginx |'), PostgreSQL $(printf '%s\n' /usr/lib/postgresql/* | sed 's|.*/||' | sort -V | tail -n 1)," \
    "node $(node -v 2>/dev/null), $(curl --version | head -n 1 | cut -d' ' -f1-2)"
echo "disk under ${TMPDIR:-/tmp}: $(df -h --output=source,fstype "${TMPDIR:-/tmp}" | tail -n 1 | tr -s ' ')"
echo

failed=0
part() { # TITLE COMMAND...
    local title=$1 start=$SECONDS rc
    shift
    echo "== $title =="
    echo
    "$@"
    rc=$?
    echo
    if [ "$rc" != 0 ]; then
        echo "(${title}: FAILED, exit status $rc)"
        echo
        failed=$((failed + 1))
    fi
    echo "(${title}: $((SECONDS - start)) s)" >&2
}

slots() {
    (
        # shellcheck source=tests/lib/stack.sh disable=SC1091
        . tests/lib/stack.sh
        stack_init || exit 1
        # shellcheck disable=SC2034 # read by stack_cleanup
        STACK_SHOW_LOGS=0
        { stack_pg_start && stack_write_conf && stack_migrate; } >&2 || exit 1
        tests/bench/slots.sh
    )
}

if [ -f tests/bench/slots.sh ]; then
    part "1. SQL slot cycle (tests/bench/slots.sh)" slots
else
    echo "(tests/bench/slots.sh not present: skipped)"
    echo
fi
part "2. Upload (tests/bench/upload.sh)" tests/bench/upload.sh
part "2b. Chunked uploads (tests/bench/chunked.sh)" tests/bench/chunked.sh
part "3. Download (tests/bench/download.sh)" tests/bench/download.sh
part "4. Liveness under slow uploads (tests/bench/liveness.sh)" tests/bench/liveness.sh
[ "$failed" = 0 ]
