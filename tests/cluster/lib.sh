# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# lib.sh: a batchup cluster on one machine, in network namespaces, for
# `make run HOSTS=3` (tests/cluster/cluster.sh) and `make test-cluster`
# (tests/cluster/run.sh).
#
# Several hosts on one PostgreSQL with a standby is how batchup scales out;
# these functions build that shape from real parts on one machine, so that
# the promises (the limit across hosts, a host dying, a failover) are shown
# by processes that really die and links that really go down:
#
#     127.0.0.1:PORT  HAProxy (root namespace, round robin per request)
#          │ veth "<prefix>-root", 10.231.7.1
#     ┌────┴──── bridge in namespace <prefix>-net ───────────────┐
#   <prefix>-h1 .11   <prefix>-h2 .12   <prefix>-h3 .13   <prefix>-pg1 .21  <prefix>-pg2 .22
#   nginx :80         nginx :80         nginx :80         primary :5432     standby :5432
#   batchup serve     batchup serve     batchup serve     (streaming)  ───> (pg_basebackup -R)
#          └────────── one storage_dir, $CLUSTER_DIR/storage ──────────┘
#
# Every namespace, link and address is ours alone: names start with
# $CLUSTER_PREFIX (default "bucl"), the addresses are in $CLUSTER_NET.0/24
# (default 10.231.7), a private range that exists only inside these
# namespaces and on the one veth end in the root namespace; nothing is routed
# anywhere else, and the load balancer listens on 127.0.0.1 only. Network
# namespaces do not separate file systems, so the hosts see one storage_dir
# at one path, as an NFS or CephFS mount would give them.
#
# Source it, then: cluster_init [DIR] (folder, names, the EXIT trap),
# cluster_up (everything; returns once the load balancer answers), and the
# faults: cluster_host_kill N, cluster_host_start N, cluster_link N up|down,
# cluster_failover. cluster_down removes everything this cluster made;
# cluster_down_prefix removes whatever any earlier run with the prefix left
# behind (namespaces, links, the load balancer), even when its folder is gone.
#
# Knobs: CLUSTER_HOSTS (3), CLUSTER_WORKERS (6 a host), CLUSTER_CONF
# ("key=value ..." for every host's batchup.conf), CLUSTER_DB_HOSTS
# ("pg1,pg2": the servers of the connection string), CLUSTER_HOOKS=1 (a
# hook_command writing each event to the host's hooks.log),
# CLUSTER_SYNC_STANDBY (a name for the primary's synchronous_standby_names;
# the standby calls itself "standby"), CLUSTER_PGBOUNCER=1 (a PgBouncer in
# each host's namespace between batchup and the primary, moved to the new
# primary by cluster_failover), CLUSTER_KEEP=1 (keep the folder).
#
# Exported: CLUSTER_DIR CLUSTER_URL CLUSTER_PORT CLUSTER_HOSTS CLUSTER_PREFIX
# CLUSTER_NET CLUSTER_ADMIN_CONF (a batchup.conf for commands run from the
# root namespace: user add, gc), PGHOST PGPORT PGUSER PGDATABASE (the
# primary, for the tests' psql; cluster_failover points them at the new one).

CLUSTER_PREFIX=${CLUSTER_PREFIX:-bucl}
CLUSTER_NET=${CLUSTER_NET:-10.231.7}
CLUSTER_HOSTS=${CLUSTER_HOSTS:-3}

cluster__log() {
    printf 'cluster: %s\n' "$*" >&2
}

# cluster_ns NAME: the namespace's full name (h1, pg1, net...).
cluster_ns() {
    printf '%s-%s\n' "$CLUSTER_PREFIX" "$1"
}

# cluster_addr NAME: the address of h<N>, pg1, pg2 or root.
cluster_addr() {
    case $1 in
        root) echo "$CLUSTER_NET.1" ;;
        h*) echo "$CLUSTER_NET.$((10 + ${1#h}))" ;;
        pg1) echo "$CLUSTER_NET.21" ;;
        pg2) echo "$CLUSTER_NET.22" ;;
    esac
}

# cluster_in NAME COMMAND...: run COMMAND in namespace NAME.
cluster_in() {
    local ns
    ns=$(cluster_ns "$1")
    shift
    ip netns exec "$ns" "$@"
}

# cluster_state_file: where the folder of the running cluster is noted, so
# that `cluster.sh down` finds its load balancer and PostgreSQL.
cluster__state_file() {
    printf '/tmp/%s-cluster.dir\n' "$CLUSTER_PREFIX"
}

# cluster_init [DIR]: the folder (a new temporary one unless given), the
# stack library, the traps: whatever happens, cluster_down runs at exit.
cluster_init() {
    CLUSTER_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    # shellcheck source=tests/lib/stack.sh
    . "$CLUSTER_REPO/tests/lib/stack.sh"
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
    if [ "$(id -u)" != 0 ]; then
        cluster__log "network namespaces need root (run as root, or under sudo)"
        return 1
    fi
    if ! ip netns add "$CLUSTER_PREFIX-probe" 2>/dev/null; then
        cluster__log "ip netns add failed: network namespaces are not available here"
        return 1
    fi
    ip netns del "$CLUSTER_PREFIX-probe"
    command -v haproxy >/dev/null || { cluster__log "haproxy not found (apt-get install haproxy)"; return 1; }
    if [ -n "${1:-}" ]; then
        mkdir -p "$1" && CLUSTER_DIR=$(cd "$1" && pwd) || return 1
        CLUSTER_OWN_DIR=0
    else
        CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/batchup-cluster.XXXXXX") || return 1
        CLUSTER_OWN_DIR=1
    fi
    chmod 0755 "$CLUSTER_DIR"
    STACK_REPO=$CLUSTER_REPO
    BATCHUP_BIN=${BATCHUP_BIN:-$CLUSTER_REPO/${BUILD:-build}/batchup}
    CLUSTER_ADMIN_CONF=$CLUSTER_DIR/admin.conf
    export CLUSTER_DIR CLUSTER_PREFIX CLUSTER_NET CLUSTER_HOSTS CLUSTER_ADMIN_CONF STACK_REPO BATCHUP_BIN
    export PGHOST PGPORT=5432 PGUSER=postgres PGDATABASE=batchup
    PGHOST=$(cluster_addr pg1)
    # Our own configuration only, never a caller's BATCHUP_<KEY>.
    local v
    for v in $(compgen -e | grep '^BATCHUP_' || true); do
        case $v in BATCHUP_BIN | BATCHUP_SQL_DIR) ;; *) unset "$v" ;; esac
    done
    cluster_down_prefix
    echo "$CLUSTER_DIR" >"$(cluster__state_file)"
    trap cluster__exit EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    trap 'exit 129' HUP
}

cluster__exit() {
    local rc=$?
    trap - EXIT TERM INT HUP
    trap '' PIPE
    cluster_down
    exit "$rc"
}

# --- the network ---------------------------------------------------------

# cluster_net_up: the switch namespace with its bridge, one namespace per
# host and database, each with a veth into the bridge, and the veth end in
# the root namespace that the load balancer and the tests' psql use.
cluster_net_up() {
    local net br n name names=""
    net=$(cluster_ns net)
    ip netns add "$net" || return 1
    ip -n "$net" link set lo up
    ip -n "$net" link add br0 type bridge || return 1
    ip -n "$net" link set br0 up
    # The root namespace's end: an address of the range, no route beyond it.
    ip link add "$CLUSTER_PREFIX-root" type veth peer name root netns "$net" || return 1
    ip -n "$net" link set root master br0 up
    ip addr add "$(cluster_addr root)/24" dev "$CLUSTER_PREFIX-root"
    ip link set "$CLUSTER_PREFIX-root" up
    for ((n = 1; n <= CLUSTER_HOSTS; n++)); do names="$names h$n"; done
    for name in $names pg1 pg2; do
        br=$name
        ip netns add "$(cluster_ns "$name")" || return 1
        ip -n "$(cluster_ns "$name")" link set lo up
        ip -n "$net" link add "$br" type veth peer name eth0 netns "$(cluster_ns "$name")" || return 1
        ip -n "$net" link set "$br" master br0 up
        ip -n "$(cluster_ns "$name")" addr add "$(cluster_addr "$name")/24" dev eth0
        ip -n "$(cluster_ns "$name")" link set eth0 up
    done
}

# cluster_link NAME up|down: plug a host's (or database's) cable in or out,
# at the bridge: its processes live on and see nothing more.
cluster_link() {
    ip -n "$(cluster_ns net)" link set "$1" "$2"
}

# --- PostgreSQL ------------------------------------------------------------

cluster__pg_opts() {
    local name=$1
    # fsync off: a test cluster on a shared, slow disk; a process killed
    # loses nothing the kernel holds. synchronous_commit stays on: an
    # immediate stop must lose no commit the primary acknowledged.
    printf '%s' "-c listen_addresses='$(cluster_addr "$name")' -c port=5432 \
-c unix_socket_directories='$CLUSTER_DIR/$name' -c fsync=off -c full_page_writes=off \
-c max_connections=200 -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on \
-c wal_sender_timeout=5s -c wal_receiver_timeout=5s ${CLUSTER_PG_OPTS:-}"
}

# cluster__pg_ctl NAME ARGS...: pg_ctl on NAME's data folder, in its
# namespace, as the postgres user.
cluster__pg_ctl() {
    local name=$1
    shift
    cluster_in "$name" runuser -u postgres -- "$(stack__pgbin)/pg_ctl" -D "$CLUSTER_DIR/$name/data" "$@"
}

cluster__pg_start() {
    local name=$1 opts
    opts=$(cluster__pg_opts "$name")
    cluster__pg_ctl "$name" -l "$CLUSTER_DIR/$name/postgres.log" -w -t 60 -o "$opts" start >/dev/null || {
        tail -n 20 "$CLUSTER_DIR/$name/postgres.log" >&2
        return 1
    }
}

# cluster_pg_up: the primary (initdb, trust for the range: a test cluster),
# database batchup, then the standby from pg_basebackup -R, streaming.
cluster_pg_up() {
    local bin d
    bin=$(stack__pgbin)
    for d in pg1 pg2; do
        mkdir -p "$CLUSTER_DIR/$d" && chown postgres: "$CLUSTER_DIR/$d" || return 1
    done
    runuser -u postgres -- "$bin/initdb" -D "$CLUSTER_DIR/pg1/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$CLUSTER_DIR/pg1/initdb.log" 2>&1 || {
        cat "$CLUSTER_DIR/pg1/initdb.log" >&2
        return 1
    }
    printf 'host all all %s.0/24 trust\nhost replication all %s.0/24 trust\n' \
        "$CLUSTER_NET" "$CLUSTER_NET" >>"$CLUSTER_DIR/pg1/data/pg_hba.conf"
    cluster__pg_start pg1 || return 1
    psql -Xq -d postgres -c 'CREATE DATABASE batchup' || return 1
    cluster_in pg2 runuser -u postgres -- "$bin/pg_basebackup" -h "$(cluster_addr pg1)" -U postgres \
        -D "$CLUSTER_DIR/pg2/data" -R -X stream -c fast \
        >"$CLUSTER_DIR/pg2/basebackup.log" 2>&1 || {
        cat "$CLUSTER_DIR/pg2/basebackup.log" >&2
        return 1
    }
    # The standby names itself in primary_conninfo, for synchronous_standby_names.
    printf "primary_conninfo = 'host=%s port=5432 user=postgres application_name=standby'\n" \
        "$(cluster_addr pg1)" >>"$CLUSTER_DIR/pg2/data/postgresql.auto.conf"
    cluster__pg_start pg2 || return 1
    stack_wait_until 20 cluster__streaming || {
        cluster__log "the standby does not stream"
        return 1
    }
    # CLUSTER_SYNC_STANDBY=standby: every commit waits for the standby. Set
    # only now (a commit before the standby streams would wait forever) and
    # only on the primary (the promoted standby has no standby to wait for).
    if [ -n "${CLUSTER_SYNC_STANDBY:-}" ]; then
        psql -Xq -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = '$CLUSTER_SYNC_STANDBY'" \
            -c 'SELECT pg_reload_conf()' >/dev/null || return 1
    fi
}

cluster__streaming() {
    [ "$(psql -XAtq -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null)" = 1 ]
}

# cluster_failover: the primary stopped with `immediate` (as a crash), the
# standby promoted; PGHOST then names the new primary, and
# CLUSTER_PROMOTE_SECONDS says how long the promotion took. Not in a
# subshell: it changes PGHOST.
cluster_failover() {
    local t0
    cluster__pg_ctl pg1 -m immediate -w -t 10 stop >/dev/null 2>&1
    t0=$(date +%s.%N)
    cluster__pg_ctl pg2 -w -t 30 promote >/dev/null || return 1
    PGHOST=$(cluster_addr pg2)
    CLUSTER_PRIMARY=pg2
    export CLUSTER_PRIMARY
    [ "${CLUSTER_PGBOUNCER:-0}" = 1 ] && cluster__pgbouncer_follow pg2
    CLUSTER_PROMOTE_SECONDS=$("$(stack__python)" -c "print(round($(date +%s.%N) - $t0, 2))")
    export CLUSTER_PROMOTE_SECONDS
}

# --- the hosts -------------------------------------------------------------

# cluster_host_conf N: host N's batchup.conf: the multi-host connection
# string (the primary first; read-write finds whichever is primary now), its
# own socket, the one storage_dir; then $CLUSTER_CONF's words.
# CLUSTER_DB_HOSTS ("pg1,pg2") names the servers of the connection string
# (pg1 alone shows what a failover does to hosts that know only the primary).
cluster__database() {
    local h hosts=
    for h in $(echo "${CLUSTER_DB_HOSTS:-pg1,pg2}" | tr ',' ' '); do
        hosts="$hosts${hosts:+,}$(cluster_addr "$h")"
    done
    printf 'host=%s port=5432 dbname=batchup user=postgres target_session_attrs=read-write connect_timeout=2' "$hosts"
}

# cluster__write_conf FILE SOCKET [PGBOUNCER-DIR]: with a PgBouncer folder,
# batchup's database is that PgBouncer (its unix socket, port 6432).
cluster__write_conf() {
    local file=$1 sock=$2 bouncer=${3:-} kv
    {
        echo "# Written by tests/cluster/lib.sh for the cluster in $CLUSTER_DIR."
        if [ -n "$bouncer" ]; then
            echo "database = host=$bouncer port=6432 dbname=batchup user=postgres connect_timeout=2"
        else
            echo "database = $(cluster__database)"
        fi
        echo "listen = $sock"
        echo "storage_dir = $CLUSTER_DIR/storage"
        echo "workers = ${CLUSTER_WORKERS:-6}"
        # CLUSTER_HOOKS=1: each event's id and batch, one line in the
        # delivering host's hooks.log (next to its socket).
        if [ "${CLUSTER_HOOKS:-0}" = 1 ]; then
            echo "hook_command = echo \$BATCHUP_EVENT_ID \$BATCHUP_BATCH_ID >>${sock%/*}/hooks.log"
        fi
        for kv in ${CLUSTER_CONF:-}; do
            printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
        done
    } >"$file"
}

# --- PgBouncer (CLUSTER_PGBOUNCER=1) --------------------------------------

# PgBouncer takes one server per database entry and neither follows a
# failover nor knows target_session_attrs (a comma-separated host list is
# tried round robin, standby included, and the standby refuses writes).
# So each host's PgBouncer names the primary, and the failover rewrites
# that entry to the new primary and reloads PgBouncer (SIGHUP), as an
# orchestrator (Patroni, a script run on promotion) would.

# cluster__pgbouncer_start N: PgBouncer in host N's namespace, in
# $CLUSTER_DIR/hN/pgbouncer, started as a stack's is (stack_pgbouncer_launch
# of tests/lib/stack.sh: the settings of conf/pgbouncer.ini, unix socket
# only, port 6432), its pool as large as the host's workers plus the
# maintenance and hooks children, its database the current primary.
cluster__pgbouncer_start() {
    # A failed login to the dead primary would hold every new server
    # connection back for server_login_retry (15 s by default), the new
    # primary included.
    STACK_PGBOUNCER_PORT=6432 stack_pgbouncer_launch "$CLUSTER_DIR/h$1/pgbouncer" \
        $((${CLUSTER_WORKERS:-6} + 4)) "$(cluster_addr "${CLUSTER_PRIMARY:-pg1}")" \
        "server_login_retry = ${CLUSTER_PGBOUNCER_RETRY:-1}" cluster_in "h$1"
}

# cluster__pgbouncer_follow NAME: point every running PgBouncer at NAME (the
# new primary) and reload it.
cluster__pgbouncer_follow() {
    local f pid
    for f in "$CLUSTER_DIR"/h*/pgbouncer/pgbouncer.ini; do
        [ -f "$f" ] || continue
        sed -i "s|^batchup = host=[^ ]* |batchup = host=$(cluster_addr "$1") |" "$f"
        pid=$(cat "${f%/*}/pgbouncer.pid" 2>/dev/null) && [ -n "$pid" ] && kill -HUP "$pid" 2>/dev/null
    done
    return 0
}

# CLUSTER__AS_HOST, a Python script: `python3 -c "$CLUSTER__AS_HOST" NAME
# COMMAND...` runs COMMAND with host name NAME (in a UTS namespace of its
# own: network namespaces share the machine's host name, and batchup tells
# hosts apart by it, in batchup.store_hosts and hook_subscribers) and
# SIGINT, SIGQUIT and SIGPIPE at their defaults (as a server started by
# systemd has them). Python execs COMMAND in its own place: the pid
# started is COMMAND's.
CLUSTER__AS_HOST='import ctypes, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x04000000) != 0:  # CLONE_NEWUTS
    sys.exit("unshare(CLONE_NEWUTS): " + os.strerror(ctypes.get_errno()))
socket.sethostname(sys.argv[1])
for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
    signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[2], sys.argv[2:])'

# cluster_host_start N: nginx (the shipped conf/nginx.conf, as the tests
# build it, listening on the host's address, port 80) and batchup serve, in
# host N's namespace; returns once health answers through that nginx.
cluster_host_start() {
    local n=$1 dir=$CLUSTER_DIR/h$1 addr deadline code
    addr=$(cluster_addr "h$n")
    mkdir -p "$dir"
    if [ "${CLUSTER_PGBOUNCER:-0}" = 1 ]; then
        cluster__pgbouncer_start "$n" || return 1
        cluster__write_conf "$dir/batchup.conf" "$dir/batchup.sock" "$dir/pgbouncer"
    else
        cluster__write_conf "$dir/batchup.conf" "$dir/batchup.sock"
    fi
    if [ ! -f "$dir/nginx/nginx.conf" ]; then
        (STACK_DIR=$dir STACK_SOCKET=$dir/batchup.sock stack_nginx_conf 80) || return 1
        sed -i -e "s|listen 127.0.0.1:80;|listen $addr:80;|" \
            -e "s|alias $dir/storage/;|alias $CLUSTER_DIR/storage/;|" "$dir/nginx/nginx.conf"
        grep -q "listen $addr:80;" "$dir/nginx/nginx.conf" || {
            cluster__log "nginx-test.conf.in no longer has 'listen 127.0.0.1:@PORT@'"
            return 1
        }
    fi
    cluster_in "h$n" nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" \
        </dev/null >>"$dir/nginx/stdout.log" 2>&1 &
    echo $! >"$dir/nginx.pid"
    (
        export BATCHUP_CONFIG=$dir/batchup.conf
        cluster_in "h$n" "$(stack__python)" -c "$CLUSTER__AS_HOST" "h$n" "$BATCHUP_BIN" serve -c "$dir/batchup.conf" \
            </dev/null >>"$dir/batchup.log" 2>&1 &
        echo $! >"$dir/batchup.pid"
    )
    deadline=$((SECONDS + 30))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr/api/v1/health")
        [ "$code" = 200 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            cluster__log "host h$n: health answers $code after 30 s; end of its log:"
            tail -n 20 "$dir/batchup.log" "$dir/nginx/error.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# cluster_host_kill N: SIGKILL to every process of host N (its namespace's:
# nginx, the batchup master, its workers and hooks child), as a power cut
# would stop them; returns once they are gone.
cluster_host_kill() {
    local ns pids p
    ns=$(cluster_ns "h$1")
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    for p in $pids; do stack__wait_gone "$p" 5; done
    # Reap the one we started ourselves (nginx); never a bare `wait`, which
    # would wait for the load balancer too.
    p=$(cat "$CLUSTER_DIR/h$1/nginx.pid" 2>/dev/null) && wait "$p" 2>/dev/null
    return 0
}

# --- the load balancer -----------------------------------------------------

# cluster_lb_start PORT: HAProxy on 127.0.0.1:PORT, round robin per request
# over the hosts' nginx; a new connection to a host for every request (so
# successive PATCHes of one upload land on different hosts). A host is taken
# out when its nginx does not answer or answers for a dead batchup (502),
# not when batchup answers 503 (the database is away: every host would be,
# and batchup's own 503 with Retry-After is the better answer); its
# requests in flight are cut then (shutdown-sessions), so that a client
# whose host lost its link learns it in a second or two, not at a timeout.
# A request whose connection a dead host refuses goes to another host.
cluster_lb_start() {
    local port=$1 n cfg=$CLUSTER_DIR/haproxy.cfg deadline
    {
        cat <<CFG
# Written by tests/cluster/lib.sh for the cluster in $CLUSTER_DIR.
global
    maxconn 1024
    pidfile $CLUSTER_DIR/haproxy.pid

defaults
    mode http
    option http-server-close
    http-reuse never
    retries 3
    option redispatch 1
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s

frontend batchup
    bind 127.0.0.1:$port
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /api/v1/health
    http-check expect rstatus ^(200|503)\$
    # Three failed checks in a row (refused, or no answer in 1.5 s) take a
    # host out: a dead host in about 1.5 s, a cut one in about 6 s, and
    # never a live one that answered slowly once on a loaded machine (its
    # sessions would be cut for nothing).
    timeout check 1500ms
    default-server check inter 500ms fall 3 rise 2 on-marked-down shutdown-sessions
    http-response set-header X-Cluster-Host %s
CFG
        for ((n = 1; n <= CLUSTER_HOSTS; n++)); do
            printf '    server h%d %s:80\n' "$n" "$(cluster_addr "h$n")"
        done
    } >"$cfg"
    haproxy -c -q -f "$cfg" || return 1
    haproxy -db -f "$cfg" </dev/null >>"$CLUSTER_DIR/haproxy.log" 2>&1 &
    echo $! >"$CLUSTER_DIR/haproxy.pid.lb"
    CLUSTER_PORT=$port
    CLUSTER_URL=http://127.0.0.1:$port
    export CLUSTER_PORT CLUSTER_URL
    deadline=$((SECONDS + 15))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$CLUSTER_URL/api/v1/health")" = 200 ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            cluster__log "HAProxy does not answer on $CLUSTER_URL"
            tail -n 10 "$CLUSTER_DIR/haproxy.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# --- all together ----------------------------------------------------------

# cluster_up [PORT]: network, databases, migrate, hosts, load balancer (on
# PORT, else a free one).
cluster_up() {
    local n port=${1:-}
    cluster_net_up || return 1
    cluster_pg_up || return 1
    mkdir -p "$CLUSTER_DIR/storage"
    cluster__write_conf "$CLUSTER_ADMIN_CONF" "$CLUSTER_DIR/admin.sock"
    "$BATCHUP_BIN" migrate -c "$CLUSTER_ADMIN_CONF" >"$CLUSTER_DIR/migrate.log" 2>&1 || {
        cat "$CLUSTER_DIR/migrate.log" >&2
        return 1
    }
    for ((n = 1; n <= CLUSTER_HOSTS; n++)); do
        cluster_host_start "$n" || return 1
    done
    [ -n "$port" ] || port=$(stack__free_port)
    cluster_lb_start "$port"
}

# cluster_down: stop and remove everything of this cluster; bounded.
cluster_down() {
    local pid
    [ -n "${CLUSTER_DIR:-}" ] || return 0
    pid=$(cat "$CLUSTER_DIR/haproxy.pid.lb" 2>/dev/null) && [ -n "$pid" ] && stack__stop_pid "$pid" 5
    rm -f "$CLUSTER_DIR/haproxy.pid.lb"
    cluster_down_prefix
    if [ "${CLUSTER_OWN_DIR:-0}" = 1 ] && [ "${CLUSTER_KEEP:-0}" != 1 ]; then
        rm -rf "$CLUSTER_DIR"
    elif [ "${CLUSTER_OWN_DIR:-0}" = 1 ]; then
        echo "# cluster kept in $CLUSTER_DIR"
    fi
    rm -f "$(cluster__state_file)"
}

# cluster_down_prefix: whatever a cluster with this prefix left: its load
# balancer (found through the folder noted in the state file), PostgreSQL
# stopped, then every process in its namespaces killed and the namespaces
# and the root veth removed.
cluster_down_prefix() {
    local dir ns pids pid d
    dir=$(cat "$(cluster__state_file)" 2>/dev/null)
    if [ -n "$dir" ] && [ -d "$dir" ]; then
        pid=$(cat "$dir/haproxy.pid.lb" 2>/dev/null)
        # Only a HAProxy that still reads this cluster's file.
        if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$dir/haproxy.cfg"; then
            kill -KILL "$pid" 2>/dev/null
        fi
        for d in pg1 pg2; do
            [ -f "$dir/$d/data/postmaster.pid" ] &&
                runuser -u postgres -- "$(stack__pgbin)/pg_ctl" -D "$dir/$d/data" -m immediate -w -t 10 \
                    stop >/dev/null 2>&1
        done
    fi
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$CLUSTER_PREFIX-"); do
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        for pid in $pids; do stack__wait_gone "$pid" 5; done
        ip netns del "$ns" 2>/dev/null
    done
    ip link del "$CLUSTER_PREFIX-root" 2>/dev/null
    return 0
}
