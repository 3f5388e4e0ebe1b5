#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# cluster.sh: batchup on several hosts, on one machine (`make run HOSTS=3`).
#
#   tests/cluster/cluster.sh up     the cluster of tests/cluster/lib.sh
#                                   (HOSTS hosts, each nginx + batchup serve,
#                                   HAProxy on 127.0.0.1:BATCHUP_PORT, a
#                                   PostgreSQL primary and a streaming
#                                   standby), a demo user and its token; stays
#                                   in the foreground; Ctrl-C removes it all
#   tests/cluster/cluster.sh down   remove whatever an earlier run left (its
#                                   namespaces, links, load balancer and
#                                   databases, found by the name prefix)
#
# Needs root (network namespaces). CLUSTER_CONF="key=value ..." adds batchup
# keys; CLUSTER_PGBOUNCER=1 (make run HOSTS=3 PGBOUNCER=1) a PgBouncer in
# front of each host's batchup; CLUSTER_PREFIX and CLUSTER_NET choose the
# names and the range.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export CLUSTER_HOSTS=${HOSTS:-${CLUSTER_HOSTS:-3}}
case $CLUSTER_HOSTS in
    [1-9]) ;;
    *)
        echo "cluster: HOSTS=$CLUSTER_HOSTS: from 1 to 9 hosts" >&2
        exit 2
        ;;
esac
# shellcheck source=tests/cluster/lib.sh
. tests/cluster/lib.sh

case ${1:-up} in
    down)
        cluster_down_prefix
        rm -f "$(cluster__state_file)"
        exit 0
        ;;
    up) ;;
    *)
        echo "usage: tests/cluster/cluster.sh up|down" >&2
        exit 2
        ;;
esac

tests/lib/deps.sh || exit 1
[ -x "${BATCHUP_BIN:-build/batchup}" ] || { echo "cluster: build/batchup is missing: run make" >&2; exit 1; }
# cluster_init drops the caller's BATCHUP_ variables (they are batchup's keys).
port=${BATCHUP_PORT:-8080}
cluster_init || exit 1
echo "cluster: building in $CLUSTER_DIR ..." >&2
if ! cluster_up "$port"; then
    echo "cluster: could not start (BATCHUP_PORT=... to choose another port)" >&2
    exit 1
fi
"$BATCHUP_BIN" user add demo -c "$CLUSTER_ADMIN_CONF" >/dev/null || exit 1
token=$("$BATCHUP_BIN" user token demo -c "$CLUSTER_ADMIN_CONF") || exit 1

{
    echo
    echo "batchup is running on $CLUSTER_HOSTS hosts behind HAProxy: $CLUSTER_URL/"
    echo "  user \"demo\", token: $token"
    echo
    echo "  curl $CLUSTER_URL/api/v1/health    # the X-Cluster-Host header names the host"
    echo "  curl -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\"
    echo "       -d '{\"files\":[{\"name\":\"hello.txt\",\"size\":5}]}' $CLUSTER_URL/api/v1/batches"
    echo
    echo "  each host (nginx on port 80 in its own network namespace):"
    for ((n = 1; n <= CLUSTER_HOSTS; n++)); do
        echo "    h$n: curl http://$(cluster_addr "h$n")/api/v1/health;" \
            "ip netns exec $(cluster_ns "h$n") bash;  log $CLUSTER_DIR/h$n/batchup.log"
    done
    echo "  PostgreSQL: primary $(cluster_addr pg1), standby $(cluster_addr pg2) (streaming):"
    echo "    psql -h $(cluster_addr pg1) -U postgres batchup"
    echo "  shared storage_dir: $CLUSTER_DIR/storage"
    if [ "${CLUSTER_PGBOUNCER:-0}" = 1 ]; then
        echo "  PgBouncer in each host (transaction mode): $CLUSTER_DIR/hN/pgbouncer/pgbouncer.ini;"
        echo "    after a failover, point its [databases] line at $(cluster_addr pg2) and"
        echo "    kill -HUP \$(cat $CLUSTER_DIR/hN/pgbouncer/pgbouncer.pid)"
    fi
    echo "  faults: kill a host: kill -KILL \$(ip netns pids $(cluster_ns h2))"
    echo "          cut its link: ip -n $(cluster_ns net) link set h2 down"
    echo "          fail over:    runuser -u postgres -- $(stack__pgbin)/pg_ctl -D $CLUSTER_DIR/pg1/data -m immediate stop;"
    echo "                        runuser -u postgres -- $(stack__pgbin)/pg_ctl -D $CLUSTER_DIR/pg2/data promote"
    echo "Ctrl-C stops and removes everything (namespaces included)."
    echo
}

# In the foreground until Ctrl-C (the EXIT trap removes the cluster) or
# until the load balancer stops by itself.
wait "$(cat "$CLUSTER_DIR/haproxy.pid.lb")"
echo "cluster: HAProxy stopped by itself; removing the rest" >&2
exit 1
