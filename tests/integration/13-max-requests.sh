#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A worker is recycled after max_requests requests: with two workers and
# max_requests = 5, fifteen requests in a row are served by at least three
# successive worker processes, and every one of them answers 200.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 max_requests=5 gc_interval_seconds=3600 || tap_bail "the stack did not start"

codes=
seen=
for _ in $(seq 15); do
    codes="$codes $(stack_health_code 5)"
    seen="$seen
$(stack_worker_pids)"
    sleep 0.1
done
bad=$(printf '%s\n' $codes | grep -cv '^200$')
tap_is "$bad" 0 "15 health requests all answer 200 across the recycling"
[ "$bad" = 0 ] || tap_diag "codes:$codes"
distinct=$(printf '%s\n' "$seen" | grep . | sort -u | wc -l)
[ "$distinct" -ge 3 ]
tap_ok $? "at least 3 successive workers served them ($distinct seen)"
tap_diag "workers seen: $(printf '%s\n' "$seen" | grep . | sort -un | tr '\n' ' ')"

tap_done
