#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# sync-cost.sh: what a synchronous standby costs per file, measured on the
# cluster of tests/cluster/lib.sh (not part of `make test-cluster`: a
# measurement, not a check).
#
#   tests/cluster/sync-cost.sh [FILES]
#
# Builds the cluster twice, once with the standby asynchronous (the
# default) and once named in the primary's synchronous_standby_names (every
# commit waits until the standby has the WAL), and uploads FILES (200) files
# of 64 KiB, one PATCH each, one after the other, through the load balancer;
# prints the files per second and the milliseconds per file of each. Both
# databases run with fsync off, as in the suite, so the difference is the
# round trip to the standby and its write, not a disk flush.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
n=${1:-200}
export BATCHUP_BIN=${BATCHUP_BIN:-$REPO/${BUILD:-build}/batchup}
export CLUSTER_PREFIX=${CLUSTER_PREFIX:-bucs} CLUSTER_NET=${CLUSTER_NET:-10.231.9} CLUSTER_HOSTS=3

for mode in async sync; do
    (
        [ "$mode" = sync ] && export CLUSTER_SYNC_STANDBY=standby
        # shellcheck source=tests/cluster/lib.sh
        . tests/cluster/lib.sh
        cluster_init || exit 1
        cluster_up >/dev/null || exit 1
        printf 'c1 %s\n' "$("$BATCHUP_BIN" user add c1 --limit 5 -c "$CLUSTER_ADMIN_CONF")" >"$CLUSTER_DIR/users"
        setting=$(psql -XAtq -c 'SHOW synchronous_standby_names')
        state=$(psql -XAtq -c 'SELECT sync_state FROM pg_stat_replication')
        out=$("$(stack__python)" tests/cluster/client.py upload --url "$CLUSTER_URL" --users "$CLUSTER_DIR/users" \
            --files "$n" --clients 1 --min-size 65536 --max-size 65536 --chunk 65536 --deadline 240)
        secs=$(printf '%s' "$out" | "$(stack__python)" -c 'import json, sys; print(json.load(sys.stdin)["seconds"])')
        "$(stack__python)" -c "import sys
s = float(sys.argv[1])
print('%-5s synchronous_standby_names=%-8r standby %-5s %d files in %.2f s: %.1f files/s, %.2f ms per file (PATCH + download)'
      % (sys.argv[2], sys.argv[3], sys.argv[4], $n, s, $n / s, 1000 * s / $n))" "$secs" "$mode" "$setting" "$state"
    )
done
