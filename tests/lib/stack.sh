# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# stack.sh: a private batchup stack (PostgreSQL, batchup, a web server) for
# tests.
#
# Source this file; it only defines functions. A test then usually does
#
#     . tests/lib/stack.sh
#     stack_init                       # temp folder, exports, cleanup on EXIT
#     stack_start workers=3            # cluster, config, migrate, nginx, serve
#     curl "$BATCHUP_URL/api/v1/health"
#
# or calls the steps one by one (stack_pg_start, stack_write_conf,
# stack_migrate, stack_nginx_start, stack_batchup_start) when it needs to do
# something in between: start batchup itself to `wait` for its exit status,
# stop PostgreSQL under a running server, and so on.
#
# Everything lives in one folder, STACK_DIR (a fresh temporary one, or the one
# the caller names): the cluster in pg/ (unix socket only, fsync off;
# STACK_PG_DIR puts it elsewhere), the
# config batchup.conf, the FastCGI socket batchup.sock, storage/, nginx/ and
# the logs batchup.log, nginx/error.log, pg/postgres.log. Every process it
# starts has its pid written there, so stack_reap can stop what a killed test
# left behind. Every wait is bounded: a process that does not stop in time is
# killed with SIGKILL. Nothing here ever waits without a deadline.
#
# STACK_PGBOUNCER=1 puts a PgBouncer in transaction pooling mode between
# batchup and the cluster (stack_pg_start starts it, in pgbouncer/, unix
# socket only): batchup's `database` then points at it, while PGHOST and
# PGPORT still name the cluster itself, for the tests' own psql. See
# stack_pgbouncer_start (which exports STACK_PGBOUNCER_DIR
# STACK_PGBOUNCER_PORT STACK_PGBOUNCER_POOL) and stack_pgbouncer_admin.
#
# Exported for tests: STACK_DIR BATCHUP_BIN BATCHUP_CONF BATCHUP_URL
# BATCHUP_PID NGINX_PORT NGINX_PID PGHOST PGPORT PGDATABASE PGUSER
# STACK_SOCKET STACK_REPO, and for the web server STACK_WEB WEB_PORT WEB_PID
# STACK_WEB_DIR STACK_WEB_ACCESS_LOG STACK_WEB_ERROR_LOG (NGINX_PORT is
# WEB_PORT whatever the server, for the tests that speak raw HTTP to it).
#
# The web server: STACK_WEB chooses it, each built from its shipped file in
# conf/ (between "BEGIN/END batchup server" markers, paths substituted):
#   nginx            conf/nginx.conf (the default)
#   apache           conf/apache-proxy-fcgi.conf: mod_proxy_fcgi to the socket
#   apache-fcgid     conf/apache-fcgid.conf: Apache starts batchup itself
#   apache-htaccess  a shared host's plain virtual host with conf/htaccess
#                    and conf/batchup.fcgi in its document root
#   lighttpd         conf/lighttpd.conf: mod_fastcgi to the socket
#   lighttpd-spawn   conf/lighttpd.conf with its "#bin-path: " lines: lighttpd
#                    starts batchup itself
# STACK_WEB_AUTH="alice:secret ..." turns on the configuration's commented
# "#auth: " lines (the web server's own Basic authentication) with an
# htpasswd file holding those users.
# Where the web server starts batchup (apache-fcgid, apache-htaccess,
# lighttpd-spawn), it does so through $STACK_DIR/batchup-spawn, which writes
# each batchup master's pid to batchup-spawned.pids and makes it the leader of
# a process group of its own (its workers stay in it), and sends its log to
# batchup.log as usual; stack_batchup_stop and stack_reap stop those groups.
# BATCHUP_PID is then empty.
#
# As root (CI), initdb and postgres run as the "postgres" system user through
# runuser (they refuse root). nginx and lighttpd run as root too, so that
# they may connect to a socket in a root-owned folder. Apache refuses to run
# as root: its children run as www-data (STACK_WEB_USER), and batchup then
# runs with that group and umask 0007 (the socket and stored files are the
# group's, as with the systemd unit), or, when Apache starts it, as
# www-data, which then owns storage/.

stack__pgbin() {
    if [ -n "${STACK_PG_BIN:-}" ]; then
        printf '%s\n' "$STACK_PG_BIN"
    else
        local d
        for d in /usr/lib/postgresql/*/bin; do
            [ -d "$d" ] && printf '%s\n' "$d"
        done | sort -V | tail -n 1
    fi
}

stack__python() {
    if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi
}

stack__log() {
    printf 'stack: %s\n' "$*" >&2
}

# stack__alive PID: the process exists and is not a zombie.
stack__alive() {
    local st
    [ -n "${1:-}" ] || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# stack__wait_gone PID SECONDS: true once PID is gone, false at the deadline.
stack__wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while stack__alive "$pid"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
    return 0
}

# stack__stop_pid PID SECONDS [SIGNAL]: SIGNAL (TERM), then KILL after
# SECONDS, for the process and the children it had when asked.
stack__stop_pid() {
    local pid=$1 secs=$2 sig=${3:-TERM} kids k
    stack__alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
    kill "-$sig" "$pid" 2>/dev/null
    if ! stack__wait_gone "$pid" "$secs"; then
        stack__log "pid $pid ignored SIG$sig for ${secs}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        stack__wait_gone "$pid" 5
    fi
    for k in $kids; do
        if stack__alive "$k"; then
            stack__wait_gone "$k" 2 || kill -KILL "$k" 2>/dev/null
        fi
    done
    wait "$pid" 2>/dev/null
    return 0
}

stack__as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        # From /: the caller's folder may be out of the postgres user's reach.
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# stack_init [DIR]: choose the stack folder (a new temporary one under
# $STACK_ROOT or $TMPDIR when DIR is not given), export the variables, and
# arrange for stack_cleanup to run when the shell exits, even on SIGTERM.
stack_init() {
    STACK_REPO=${STACK_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    if [ -n "${1:-}" ]; then
        mkdir -p "$1" || return 1
        STACK_DIR=$(cd "$1" && pwd)
        STACK_OWN_DIR=0
    else
        local root=${STACK_ROOT:-${TMPDIR:-/tmp}}
        mkdir -p "$root" || return 1
        STACK_DIR=$(mktemp -d "$root/batchup-stack.XXXXXX") || return 1
        STACK_OWN_DIR=1
    fi
    # The postgres user must reach pg/ inside it (traversal only).
    chmod 0755 "$STACK_DIR"
    # The caller may set STACK_PG_DIR (not exported: a stack started by a
    # child gets its own cluster).
    STACK_PG_DIR=${STACK_PG_DIR:-$STACK_DIR/pg}
    STACK_SOCKET=$STACK_DIR/batchup.sock
    if [ "${#STACK_SOCKET}" -gt 100 ]; then
        stack__log "socket path too long for a unix socket: $STACK_SOCKET"
        return 1
    fi
    BATCHUP_BIN=${BATCHUP_BIN:-$STACK_REPO/${BUILD:-build}/batchup}
    BATCHUP_CONF=$STACK_DIR/batchup.conf
    export STACK_REPO STACK_DIR STACK_SOCKET BATCHUP_BIN BATCHUP_CONF
    # The server must read our file, never /etc/batchup/batchup.conf.
    export BATCHUP_CONFIG=$BATCHUP_CONF
    # Tests run without the caller's BATCHUP_<KEY> overrides.
    local v
    for v in $(compgen -e | grep '^BATCHUP_' || true); do
        case $v in
            BATCHUP_BIN | BATCHUP_CONF | BATCHUP_CONFIG | BATCHUP_URL | BATCHUP_PID | BATCHUP_SQL_DIR) ;;
            *) unset "$v" ;;
        esac
    done
    # nginx and runuser live in /usr/sbin, not always in a user's PATH.
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
    trap stack_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    trap 'exit 129' HUP
}

# --- PostgreSQL ---------------------------------------------------------

# stack_pg_start: create the cluster in $STACK_PG_DIR (default
# $STACK_DIR/pg) when missing, start it unless it already runs, create
# database "batchup". Exports PGHOST PGPORT PGUSER PGDATABASE.
# STACK_PG_MAX_CONNECTIONS (200) is its max_connections: a pool of more than
# about 190 workers needs more (each worker holds one connection).
stack_pg_start() {
    local pg=$STACK_PG_DIR bin
    bin=$(stack__pgbin)
    [ -x "$bin/initdb" ] || { stack__log "PostgreSQL server binaries not found (apt-get install postgresql)"; return 1; }
    mkdir -p "$pg" || return 1
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$pg" || return 1
        if ! runuser -u postgres -- test -w "$pg"; then
            stack__log "user postgres cannot write $pg: every folder above it must be searchable (chmod o+x)"
            return 1
        fi
    fi
    if [ ! -f "$pg/data/PG_VERSION" ]; then
        stack__as_postgres "$bin/initdb" -D "$pg/data" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 >"$pg/initdb.log" 2>&1 || {
            cat "$pg/initdb.log" >&2
            return 1
        }
    fi
    export PGHOST=$pg PGPORT=5432 PGUSER=postgres PGDATABASE=batchup
    if stack__as_postgres "$bin/pg_ctl" -D "$pg/data" status >/dev/null 2>&1; then
        stack__log "PostgreSQL already runs in $pg/data: using it"
    elif ! stack__as_postgres "$bin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$pg' -c port=5432 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=${STACK_PG_MAX_CONNECTIONS:-200}" start >/dev/null; then
        tail -n 20 "$pg/postgres.log" >&2
        return 1
    fi
    if [ "$(psql -XAtq -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'batchup'")" != 1 ]; then
        psql -Xq -d postgres -c 'CREATE DATABASE batchup' || return 1
    fi
    if [ "${STACK_PGBOUNCER:-0}" = 1 ]; then
        stack_pgbouncer_start || return 1
    fi
}

# stack_pg_stop: fast shutdown, then immediate, then SIGKILL; bounded.
stack_pg_stop() {
    local data=$STACK_PG_DIR/data bin pid
    bin=$(stack__pgbin)
    [ -f "$data/postmaster.pid" ] || return 0
    stack__as_postgres "$bin/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 && return 0
    stack__as_postgres "$bin/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 && return 0
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null
        stack__wait_gone "$pid" 5
    fi
    return 0
}

stack_pg_restart() {
    stack_pg_stop && stack_pg_start
}

# --- PgBouncer ----------------------------------------------------------

# stack__pgbouncer_dir [STACK-DIR]: where a stack's PgBouncer lives.
stack__pgbouncer_dir() {
    printf '%s/pgbouncer\n' "${1:-$STACK_DIR}"
}

# stack_pgbouncer_start: (STACK_PGBOUNCER=1: stack_pg_start calls it) start a
# PgBouncer in front of the cluster unless one already runs, in
# $STACK_DIR/pgbouncer, through stack_pgbouncer_launch: pool
# $STACK_PGBOUNCER_POOL (4), port $STACK_PGBOUNCER_PORT (6432), its database
# the stack's cluster. Exports STACK_PGBOUNCER_DIR STACK_PGBOUNCER_PORT
# STACK_PGBOUNCER_POOL.
stack_pgbouncer_start() {
    local dir
    dir=$(stack__pgbouncer_dir)
    STACK_PGBOUNCER_DIR=$dir STACK_PGBOUNCER_PORT=${STACK_PGBOUNCER_PORT:-6432}
    STACK_PGBOUNCER_POOL=${STACK_PGBOUNCER_POOL:-4}
    export STACK_PGBOUNCER_DIR STACK_PGBOUNCER_PORT STACK_PGBOUNCER_POOL
    if stack_pgbouncer_admin 'SHOW VERSION' >/dev/null 2>&1; then
        stack__log "PgBouncer already runs in $dir: using it"
        return 0
    fi
    stack_pgbouncer_launch "$dir" "$STACK_PGBOUNCER_POOL" "$STACK_PG_DIR" ''
}

# stack_pgbouncer_launch DIR POOL HOST EXTRA [PREFIX...]: start a PgBouncer
# in DIR (the stack's, or a cluster host's: tests/cluster/lib.sh) and wait
# until its console answers (10 s at most). As the postgres user when root
# (it refuses root); its pgbouncer.ini, its unix socket
# .s.PGSQL.$STACK_PGBOUNCER_PORT (6432; no TCP: listen_addr is empty),
# pgbouncer.pid and pgbouncer.log in DIR. Its settings are those of
# conf/pgbouncer.ini (between "BEGIN/END batchup pgbouncer": pool_mode =
# transaction...) with default_pool_size POOL and the lines of EXTRA, for one
# database, batchup, on the server HOST (a socket folder or an address, port
# 5432), with auth_type trust (tests only) and user postgres the admin of its
# console (stack_pgbouncer_admin 'SHOW POOLS'). PREFIX, when given, is the
# command it runs under (cluster_in h1: a host's network namespace).
stack_pgbouncer_launch() {
    local dir=$1 pool=$2 host=$3 extra=$4 port=${STACK_PGBOUNCER_PORT:-6432} bin settings deadline
    local -a as=()
    shift 4
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    [ -x "$bin" ] || { stack__log "pgbouncer not found (tests/lib/deps.sh installs it)"; return 1; }
    settings=$(sed -n '/^; BEGIN batchup pgbouncer/,/^; END batchup pgbouncer/p' "$STACK_REPO/conf/pgbouncer.ini" |
        sed "s/^default_pool_size = .*/default_pool_size = $pool/")
    # (Here-strings, not pipes: under pipefail a grep -q that exits at its
    # match may cut printf's write, and the check would fail by chance.)
    if ! grep -q '^pool_mode = transaction$' <<<"$settings" ||
        ! grep -q "^default_pool_size = $pool\$" <<<"$settings"; then
        stack__log "conf/pgbouncer.ini: no BEGIN/END batchup pgbouncer markers around pool_mode = transaction and default_pool_size"
        return 1
    fi
    mkdir -p "$dir" || return 1
    cat >"$dir/pgbouncer.ini" <<INI || return 1
; Written by tests/lib/stack.sh (stack_pgbouncer_launch) in $dir.
[databases]
batchup = host=$host port=5432 dbname=batchup user=postgres

[pgbouncer]
$settings
reserve_pool_size = 0
$extra
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    echo '"postgres" ""' >"$dir/userlist.txt" || return 1
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$dir" || return 1
        as=(runuser -u postgres --)
    fi
    # A pid file left by one that was killed (a cluster host's) is stale.
    rm -f "$dir/pgbouncer.pid"
    # Its soft file descriptor limit raised to the hard one: runuser starts
    # it with 1024, too few for a pool of a thousand workers (accept() fails
    # with "Too many open files", tests/bench/liveness.sh). From /: the
    # caller's folder may be out of the postgres user's reach.
    # shellcheck disable=SC2016 # expanded by that shell
    if ! (cd / && "$@" "${as[@]}" sh -c 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"' sh \
        "$bin" -d -q "$dir/pgbouncer.ini") >>"$dir/start.log" 2>&1; then
        stack__log "pgbouncer did not start:"
        tail -n 10 "$dir/start.log" "$dir/pgbouncer.log" >&2 2>/dev/null
        return 1
    fi
    deadline=$((SECONDS + 10))
    until stack__pgbouncer_answers "$dir" "$port"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            stack__log "pgbouncer does not answer on $dir after 10 s; end of its log:"
            tail -n 10 "$dir/pgbouncer.log" >&2 2>/dev/null
            return 1
        fi
        sleep 0.1
    done
}

# stack__pgbouncer_answers DIR PORT: the PgBouncer of DIR answers on its
# console.
stack__pgbouncer_answers() {
    PGCONNECT_TIMEOUT=3 timeout 10 psql -XAtq -h "$1" -p "$2" -U postgres -d pgbouncer \
        -c 'SHOW VERSION' >/dev/null 2>&1
}

# stack_pgbouncer_admin COMMAND: run COMMAND (SHOW POOLS...) on the stack's
# PgBouncer console; unaligned rows, '|'-separated, no header (bounded).
stack_pgbouncer_admin() {
    PGCONNECT_TIMEOUT=3 timeout 10 psql -XAtq -h "$(stack__pgbouncer_dir)" \
        -p "${STACK_PGBOUNCER_PORT:-6432}" -U postgres -d pgbouncer -c "$1"
}

# stack_pgbouncer_stop [STACK-DIR]: stop a stack's PgBouncer (SIGTERM, its
# immediate shutdown; SIGKILL after 5 s); bounded, returns 0.
stack_pgbouncer_stop() {
    local dir pid
    dir=$(stack__pgbouncer_dir "${1:-}")
    pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] && stack__stop_pid "$pid" 5
    rm -f "$dir/pgbouncer.pid"
    return 0
}

# --- batchup ------------------------------------------------------------

# stack_write_conf [key=value ...]: write $BATCHUP_CONF for this stack. The
# defaults (database: the cluster, or its PgBouncer with STACK_PGBOUNCER=1;
# listen, workers = $STACK_WORKERS or 8, storage_dir) are overridden by the
# words of $STACK_CONF, then by the arguments, so a test asks for what it
# needs: `stack_write_conf workers=3 slot_lease_seconds=3`. A queued PATCH
# is answered 423 at once (queue_hold_seconds = $STACK_QUEUE_HOLD_SECONDS,
# or 0), as the tests that count 423s expect; a test of the hold asks for it.
# STACK_QUEUE_HOLD_SECONDS set and empty leaves the key out, for a release
# that does not know it (92-package-upgrade runs 0.1.0 on this file).
stack_write_conf() {
    local -a keys=() vals=() hold=()
    local kv k v i found db="host=$STACK_PG_DIR port=5432"
    if [ -n "${STACK_QUEUE_HOLD_SECONDS-0}" ]; then
        hold=("queue_hold_seconds=${STACK_QUEUE_HOLD_SECONDS-0}")
    fi
    if [ "${STACK_PGBOUNCER:-0}" = 1 ]; then
        db="host=$(stack__pgbouncer_dir) port=${STACK_PGBOUNCER_PORT:-6432}"
    fi
    for kv in "database=$db dbname=batchup user=postgres" \
        "listen=$STACK_SOCKET" "workers=${STACK_WORKERS:-8}" \
        "${hold[@]}" \
        "storage_dir=$STACK_DIR/storage" ${STACK_CONF:-} "$@"; do
        k=${kv%%=*}
        v=${kv#*=}
        found=0
        for i in "${!keys[@]}"; do
            if [ "${keys[$i]}" = "$k" ]; then
                vals[i]=$v
                found=1
            fi
        done
        if [ "$found" = 0 ]; then
            keys+=("$k")
            vals+=("$v")
        fi
    done
    mkdir -p "$STACK_DIR/storage"
    {
        echo "# Written by tests/lib/stack.sh for the stack in $STACK_DIR."
        for i in "${!keys[@]}"; do
            printf '%s = %s\n' "${keys[$i]}" "${vals[$i]}"
        done
    } >"$BATCHUP_CONF"
}

# stack_migrate: batchup migrate against the stack's database.
stack_migrate() {
    "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF"
}

# stack__default_signals COMMAND...: replace the calling (sub)shell with
# COMMAND, SIGINT, SIGQUIT and SIGPIPE set to their defaults. A shell without
# job control starts background commands with SIGINT and SIGQUIT ignored; a
# server started by systemd or from a terminal has them at their defaults,
# and so must ours.
#
# With STACK__GID set (a web server that does not run as root), COMMAND runs
# with that group and umask 0007, as the systemd unit runs batchup: the web
# server's user may then connect to the socket and read the stored files.
stack__default_signals() {
    exec "$(stack__python)" -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
    signal.signal(s, signal.SIG_DFL)
gid = os.environ.pop("STACK__GID", "")
if gid:
    os.setgroups([])
    os.setgid(int(gid))
    os.umask(0o007)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

# stack_batchup_launch COMMAND...: start COMMAND (which runs batchup serve,
# directly or through spawn-fcgi -n) in the background of the calling shell,
# stderr and stdout to $STACK_DIR/batchup.log, and wait until it answers
# through nginx. Sets BATCHUP_PID, a child of the caller's shell: a test may
# `wait "$BATCHUP_PID"` for its exit status.
stack_batchup_launch() {
    local gid=
    if [ "$(id -u)" = 0 ] && [ "$(stack__web_user)" != root ]; then
        gid=$(id -g "$(stack__web_user)") || return 1
    fi
    STACK__GID=$gid stack__default_signals "$@" >>"$STACK_DIR/batchup.log" 2>&1 </dev/null &
    BATCHUP_PID=$!
    export BATCHUP_PID
    echo "$BATCHUP_PID" >"$STACK_DIR/batchup.pid"
    stack_wait_health "${STACK_START_SECONDS:-30}"
}

# stack_batchup_start: start batchup serve and wait for health through the
# web server. Where the web server starts batchup itself (stack_web_spawns),
# only the wait: its first request starts it.
stack_batchup_start() {
    if stack_web_spawns; then
        BATCHUP_PID=
        stack_wait_health "${STACK_START_SECONDS:-30}"
        return
    fi
    stack_batchup_launch "$BATCHUP_BIN" serve -c "$BATCHUP_CONF"
}

# stack_batchup_stop [SECONDS]: SIGTERM, SIGKILL after SECONDS (35, above
# the default shutdown_timeout); prints nothing, returns 0. Also stops the
# batchup processes a web server started (their process groups).
stack_batchup_stop() {
    stack__spawned_stop "$STACK_DIR" "${1:-35}"
    [ -n "${BATCHUP_PID:-}" ] || return 0
    stack__stop_pid "$BATCHUP_PID" "${1:-35}"
    rm -f "$STACK_DIR/batchup.pid"
    BATCHUP_PID=
}

# stack__spawned_stop DIR SECONDS: SIGTERM to each process group listed in
# DIR/batchup-spawned.pids (batchup masters started by a web server through
# batchup-spawn, with their workers), SIGKILL to what is left after SECONDS.
#
# A web server may start a fresh batchup as soon as one stops (lighttpd's
# bin-path does): that one is not waited for; a later call (stack_stop stops
# the web server first) or stack_reap stops it.
stack__spawned_stop() {
    local f=$1/batchup-spawned.pids pg deadline left groups
    [ -s "$f" ] || return 0
    groups=$(sort -u "$f")
    for pg in $groups; do
        pgrep -g "$pg" >/dev/null 2>&1 && kill -TERM -- "-$pg" 2>/dev/null
    done
    deadline=$((SECONDS + $2))
    while :; do
        left=
        for pg in $groups; do
            pgrep -g "$pg" >/dev/null 2>&1 && left="$left $pg"
        done
        [ -z "$left" ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            stack__log "batchup process groups$left ignored SIGTERM for $2 s: SIGKILL"
            for pg in $left; do kill -KILL -- "-$pg" 2>/dev/null; done
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    # Keep only the groups started meanwhile.
    for pg in $groups; do
        sed -i "/^$pg\$/d" "$f"
    done
}

# stack_health_code [MAX_SECONDS]: the HTTP status of GET /api/v1/health
# through the web server ("000" when nothing answered in time).
stack_health_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time "${1:-5}" "$BATCHUP_URL/api/v1/health"
}

# stack_wait_health [SECONDS]: wait until health answers 200 through nginx;
# fails at once when the server process died, showing its log.
stack_wait_health() {
    local deadline=$((SECONDS + ${1:-30})) code
    while :; do
        code=$(stack_health_code 2)
        [ "$code" = 200 ] && return 0
        if [ -n "${BATCHUP_PID:-}" ] && ! stack__alive "$BATCHUP_PID"; then
            stack__log "batchup exited before answering; end of $STACK_DIR/batchup.log:"
            tail -n 20 "$STACK_DIR/batchup.log" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            stack__log "health still answers $code after ${1:-30}s; end of batchup.log:"
            tail -n 20 "$STACK_DIR/batchup.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# stack_user_add NAME [--limit N]: create a user, print its token.
stack_user_add() {
    "$BATCHUP_BIN" user add "$@" -c "$BATCHUP_CONF"
}

# stack_worker_pids: the master's children, one pid a line, sorted.
stack_worker_pids() {
    pgrep -P "$BATCHUP_PID" | sort -n
}

# stack_wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s until it
# succeeds (0) or SECONDS pass (1).
stack_wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

# stack_health_codes COUNT [GAP]: COUNT health requests through nginx, one
# after the other GAP seconds apart (0.1), printing each status on a line.
stack_health_codes() {
    local i
    for ((i = 0; i < $1; i++)); do
        stack_health_code 5
        echo
        sleep "${2:-0.1}"
    done
}

# --- the web server -----------------------------------------------------

stack__free_port() {
    "$(stack__python)" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

stack__web() {
    printf '%s\n' "${STACK_WEB:-nginx}"
}

# stack__web_user: the user the web server's workers run as (root, but for
# Apache, which refuses it: STACK_WEB_USER, default www-data).
stack__web_user() {
    if [ "$(id -u)" != 0 ]; then
        id -un
        return
    fi
    case $(stack__web) in
        apache*) printf '%s\n' "${STACK_WEB_USER:-www-data}" ;;
        *) echo root ;;
    esac
}

# stack_web_spawns: true when the web server starts batchup itself.
stack_web_spawns() {
    case $(stack__web) in
        apache-fcgid | apache-htaccess | lighttpd-spawn) return 0 ;;
        *) return 1 ;;
    esac
}

# stack__shipped FILE: the lines of FILE between its "BEGIN batchup server"
# and "END batchup server" markers (markers included).
stack__shipped() {
    sed -n '/# BEGIN batchup server/,/# END batchup server/p' "$1"
}

# stack__fill TEMPLATE OUT KEY=VALUE...: TEMPLATE with each @KEY@ replaced.
stack__fill() {
    "$(stack__python)" - "$@" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
for kv in sys.argv[3:]:
    k, _, v = kv.partition("=")
    text = text.replace("@%s@" % k, v)
open(dst, "w").write(text)
PY
}

# stack__auth_lines: the shipped text on stdin with its "#auth: " lines
# turned on when STACK_WEB_AUTH is set, and the htpasswd path ($1, as the
# shipped file spells it) made the stack's.
stack__auth_lines() {
    if [ -n "${STACK_WEB_AUTH:-}" ]; then
        sed -e 's/^\([[:space:]]*\)#auth: /\1/' -e "s|$1|$STACK_DIR/htpasswd|g"
    else
        cat
    fi
}

# stack__htpasswd: $STACK_DIR/htpasswd from STACK_WEB_AUTH ("user:password
# ..."), apr1 hashes (nginx, Apache and lighttpd read them all).
stack__htpasswd() {
    local up
    : >"$STACK_DIR/htpasswd"
    for up in ${STACK_WEB_AUTH:-}; do
        printf '%s:%s\n' "${up%%:*}" "$(openssl passwd -apr1 "${up#*:}")" >>"$STACK_DIR/htpasswd"
    done
    chmod 0644 "$STACK_DIR/htpasswd"
}

# stack__spawn_shim: $STACK_DIR/batchup-spawn, what a web server that
# starts batchup runs instead of $BATCHUP_BIN (same arguments).
stack__spawn_shim() {
    local shim=$STACK_DIR/batchup-spawn v
    {
        echo '#!/bin/sh'
        echo "# Written by tests/lib/stack.sh: the web server starts batchup through this."
        echo "# Each master's pid goes to batchup-spawned.pids; it leads a process group"
        echo "# of its own (stack.sh stops the whole group); its log goes to batchup.log."
        for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
            [ -n "${!v:-}" ] && printf "export %s='%s'\n" "$v" "${!v}"
        done
        printf "echo \$\$ >>'%s'\n" "$STACK_DIR/batchup-spawned.pids"
        printf "exec '%s' -c 'import os, signal, sys\n" "$(stack__python)"
        echo 'os.setpgid(0, 0)'
        echo 'for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGTERM, signal.SIGHUP):'
        echo '    signal.signal(s, signal.SIG_DFL)'
        printf "os.execv(sys.argv[1], sys.argv[1:])' '%s' \"\$@\" 2>>'%s'\n" "$BATCHUP_BIN" "$STACK_DIR/batchup.log"
    } >"$shim"
    chmod 0755 "$shim"
    touch "$STACK_DIR/batchup-spawned.pids" "$STACK_DIR/batchup.log"
    if [ "$(id -u)" = 0 ] && [ "$(stack__web_user)" != root ]; then
        # batchup runs as the web server's user: its files are that user's.
        chown -R "$(stack__web_user)" "$STACK_DIR/storage" "$STACK_DIR/batchup-spawned.pids" \
            "$STACK_DIR/batchup.log" || return 1
    fi
}

# stack__web_conf PORT: write the web server's configuration for this stack
# (STACK_WEB_DIR/<server>.conf) from its shipped file; sets STACK__WEB_CMD.
stack__web_conf() {
    local port=$1 web dir server user group
    web=$(stack__web)
    dir=$STACK_WEB_DIR
    mkdir -p "$dir/tmp" "$dir/htdocs" || return 1
    [ -n "${STACK_WEB_AUTH:-}" ] && { stack__htpasswd || return 1; }
    stack_web_spawns && { stack__spawn_shim || return 1; }
    case $web in
        nginx)
            stack_nginx_conf "$port" || return 1
            STACK__WEB_CMD=(nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log")
            ;;
        apache | apache-fcgid | apache-htaccess)
            user=$(stack__web_user)
            group=$(id -gn "$user") || return 1
            mkdir -p "$dir/fcgid" && chown "$user" "$dir/fcgid" || return 1
            case $web in
                apache) server=$(stack__shipped "$STACK_REPO/conf/apache-proxy-fcgi.conf") ;;
                apache-fcgid) server=$(stack__shipped "$STACK_REPO/conf/apache-fcgid.conf") ;;
                apache-htaccess)
                    # A shared host's virtual host, not ours: .htaccess files
                    # may set handlers, options and authentication; mod_fcgid's
                    # settings are left at their defaults (FcgidMaxRequestLen
                    # 128 KiB). conf/htaccess and conf/batchup.fcgi go into
                    # the document root as a customer would copy them.
                    server="    <Directory $dir/htdocs>
        AllowOverride All
        Options None
    </Directory>
    ErrorLog $dir/error.log
    CustomLog $dir/access.log combined
    LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" combined"
                    stack__auth_lines /home/USER/batchup/htpasswd <"$STACK_REPO/conf/htaccess" >"$dir/htdocs/.htaccess" || return 1
                    sed -e "s|^BATCHUP=.*|BATCHUP=$STACK_DIR/batchup-spawn|" -e "s|^CONFIG=.*|CONFIG=$BATCHUP_CONF|" \
                        "$STACK_REPO/conf/batchup.fcgi" >"$dir/htdocs/batchup.fcgi" || return 1
                    chmod 0755 "$dir/htdocs/batchup.fcgi"
                    ;;
            esac
            [ -n "$server" ] || { stack__log "no BEGIN/END batchup server markers for $web"; return 1; }
            server=$(printf '%s\n' "$server" | stack__auth_lines /etc/batchup/htpasswd | sed \
                -e "s|unix:/run/batchup/batchup.sock|unix:$STACK_SOCKET|" \
                -e "s|/var/lib/batchup/storage|$STACK_DIR/storage|g" \
                -e "s|\${APACHE_LOG_DIR}/batchup-access.log|$dir/access.log|g" \
                -e "s|\${APACHE_LOG_DIR}/batchup-error.log|$dir/error.log|g" \
                -e "s|/usr/bin/batchup serve|$STACK_DIR/batchup-spawn serve|g" \
                -e "s|/etc/batchup/batchup.conf|$BATCHUP_CONF|g")
            stack__fill "$STACK_REPO/conf/apache-test.conf.in" "$dir/apache.conf" "SERVER=$server" \
                "DIR=$dir" "PORT=$port" "USER=$user" "GROUP=$group" || return 1
            STACK__WEB_CMD=(apache2 -f "$dir/apache.conf" -DFOREGROUND)
            ;;
        lighttpd | lighttpd-spawn)
            server=$(stack__shipped "$STACK_REPO/conf/lighttpd.conf")
            [ -n "$server" ] || { stack__log "conf/lighttpd.conf has no BEGIN/END batchup server markers"; return 1; }
            if [ "$web" = lighttpd-spawn ]; then
                server=$(printf '%s\n' "$server" | sed -e 's/^\([[:space:]]*\)#bin-path: /\1/')
            fi
            server=$(printf '%s\n' "$server" | stack__auth_lines /etc/batchup/htpasswd | sed \
                -e "s|\"/run/batchup/batchup.sock\"|\"$STACK_SOCKET\"|" \
                -e "s|/var/lib/batchup/storage|$STACK_DIR/storage|g" \
                -e "s|/var/log/lighttpd/batchup-access.log|$dir/access.log|g" \
                -e "s|/usr/bin/batchup serve|$STACK_DIR/batchup-spawn serve|g" \
                -e "s|/etc/batchup/batchup.conf|$BATCHUP_CONF|g")
            stack__fill "$STACK_REPO/conf/lighttpd-test.conf.in" "$dir/lighttpd.conf" "SERVER=$server" \
                "DIR=$dir" "PORT=$port" || return 1
            STACK__WEB_CMD=(lighttpd -D -f "$dir/lighttpd.conf")
            ;;
        *)
            stack__log "unknown STACK_WEB=$web (nginx, apache, apache-fcgid, apache-htaccess, lighttpd, lighttpd-spawn)"
            return 1
            ;;
    esac
}

# stack_web_start [PORT]: start the private web server (STACK_WEB) on
# 127.0.0.1:PORT (a free port when not given; retried on another one when it
# was taken meanwhile). Exports WEB_PORT WEB_PID BATCHUP_URL STACK_WEB_DIR
# STACK_WEB_ACCESS_LOG STACK_WEB_ERROR_LOG, and NGINX_PORT (= WEB_PORT) and,
# for nginx, NGINX_PID.
stack_web_start() {
    local want=${1:-} port web deadline bin
    web=$(stack__web)
    case $web in
        nginx) bin=nginx ;;
        apache*) bin=apache2 ;;
        lighttpd*) bin=lighttpd ;;
        *) bin=$web ;;
    esac
    case $web in
        nginx) STACK_WEB_DIR=$STACK_DIR/nginx ;;
        apache*) STACK_WEB_DIR=$STACK_DIR/apache ;;
        *) STACK_WEB_DIR=$STACK_DIR/lighttpd ;;
    esac
    STACK_WEB_ACCESS_LOG=$STACK_WEB_DIR/access.log
    STACK_WEB_ERROR_LOG=$STACK_WEB_DIR/error.log
    export STACK_WEB=$web STACK_WEB_DIR STACK_WEB_ACCESS_LOG STACK_WEB_ERROR_LOG
    command -v "$bin" >/dev/null || { stack__log "$bin not found (tests/lib/deps.sh installs it)"; return 1; }
    for _ in 1 2 3; do
        port=${want:-$(stack__free_port)}
        stack__web_conf "$port" || return 1
        "${STACK__WEB_CMD[@]}" </dev/null >>"$STACK_WEB_DIR/stdout.log" 2>&1 &
        WEB_PID=$!
        echo "$WEB_PID" >"$STACK_DIR/web.pid.stack"
        deadline=$((SECONDS + 10))
        while stack__alive "$WEB_PID" && [ "$SECONDS" -lt "$deadline" ]; do
            # Any answer will do (the upload page may not answer yet).
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/batchup-web-server-check"; then
                WEB_PORT=$port
                NGINX_PORT=$port
                BATCHUP_URL=http://127.0.0.1:$port
                export WEB_PORT WEB_PID NGINX_PORT BATCHUP_URL
                if [ "$web" = nginx ]; then
                    NGINX_PID=$WEB_PID
                    export NGINX_PID
                fi
                return 0
            fi
            sleep 0.1
        done
        stack__stop_pid "$WEB_PID" 5
        [ -n "$want" ] && break
    done
    stack__log "$web did not start; end of $STACK_WEB_ERROR_LOG and $STACK_WEB_DIR/stdout.log:"
    tail -n 10 "$STACK_WEB_ERROR_LOG" "$STACK_WEB_DIR/stdout.log" >&2 2>/dev/null
    return 1
}

# stack_web_stop: stop the web server (SIGTERM, SIGKILL after 10 s; its
# children too). batchup processes it started are stopped by
# stack_batchup_stop.
stack_web_stop() {
    [ -n "${WEB_PID:-}" ] || return 0
    stack__stop_pid "$WEB_PID" 10
    rm -f "$STACK_DIR/web.pid.stack"
    WEB_PID=
    NGINX_PID=
}

# stack_nginx_conf PORT: write $STACK_DIR/nginx/nginx.conf from
# conf/nginx-test.conf.in and the http and server parts of conf/nginx.conf.
stack_nginx_conf() {
    local dir=$STACK_DIR/nginx port=$1 server http user=
    mkdir -p "$dir/tmp" || return 1
    cp /etc/nginx/mime.types "$dir/" || return 1
    server=$(stack__shipped "$STACK_REPO/conf/nginx.conf" | stack__auth_lines /etc/batchup/htpasswd |
        sed -e "s|alias /var/lib/batchup/storage/;|alias $STACK_DIR/storage/;|" \
            -e "s|/var/log/nginx/access.log|$dir/access.log|")
    http=$(sed -n '/# BEGIN batchup http/,/# END batchup http/p' "$STACK_REPO/conf/nginx.conf")
    if [ -z "$server" ] || [ -z "$http" ]; then
        stack__log "conf/nginx.conf has no BEGIN/END batchup server or http markers"
        return 1
    fi
    [ "$(id -u)" = 0 ] && user='user root root;'
    stack__fill "$STACK_REPO/conf/nginx-test.conf.in" "$dir/nginx.conf" "HTTP=$http" "SERVER=$server" \
        "DIR=$dir" "PORT=$port" "SOCKET=$STACK_SOCKET" "USER=$user"
}

# stack_nginx_start [PORT] / stack_nginx_stop: nginx whatever STACK_WEB says.
stack_nginx_start() {
    STACK_WEB=nginx stack_web_start "$@"
}

stack_nginx_stop() {
    stack_web_stop
}

# --- all together -------------------------------------------------------

# stack_start [key=value ...]: PostgreSQL, config (with these keys), migrate,
# the web server, batchup serve; returns once health answers 200 through the
# web server.
stack_start() {
    stack_pg_start || return 1
    stack_write_conf "$@" || return 1
    stack_migrate >>"$STACK_DIR/migrate.log" 2>&1 || {
        stack__log "batchup migrate failed:"
        cat "$STACK_DIR/migrate.log" >&2
        return 1
    }
    stack_web_start || return 1
    stack_batchup_start
}

# stack_stop: stop the web server, batchup, PgBouncer and PostgreSQL, each
# bounded.
stack_stop() {
    stack_web_stop
    stack_batchup_stop 35
    stack_pgbouncer_stop
    stack_pg_stop
}

# stack_reap DIR: stop whatever a stack in DIR left running, from its pid
# files (for the runner, after a test was killed before its cleanup ran).
stack_reap() {
    local dir=$1 pid f bin
    for f in "$dir/web.pid.stack" "$dir/nginx.pid.stack" "$dir/batchup.pid"; do
        pid=$(cat "$f" 2>/dev/null) || continue
        [ -n "$pid" ] && stack__stop_pid "$pid" 10
        rm -f "$f"
    done
    stack__spawned_stop "$dir" 10
    stack_pgbouncer_stop "$dir"
    if [ -f "$dir/pg/data/postmaster.pid" ]; then
        bin=$(stack__pgbin)
        stack__as_postgres "$bin/pg_ctl" -D "$dir/pg/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || {
            pid=$(head -n 1 "$dir/pg/data/postmaster.pid" 2>/dev/null)
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
        }
    fi
    return 0
}

# stack_cleanup: the EXIT trap. When the shell exits non-zero the ends of
# the logs are shown as TAP comments (unless STACK_SHOW_LOGS=0); a temporary
# folder is removed (kept when STACK_KEEP=1).
stack_cleanup() {
    local rc=$? f
    trap - EXIT TERM INT HUP
    # Stop everything even when whoever reads our output went away.
    trap '' PIPE
    [ -n "${STACK_DIR:-}" ] || return "$rc"
    stack_stop
    stack_reap "$STACK_DIR"
    if [ "$rc" != 0 ] && [ "${STACK_SHOW_LOGS:-1}" = 1 ]; then
        for f in "$STACK_DIR/batchup.log" "${STACK_WEB_ERROR_LOG:-$STACK_DIR/nginx/error.log}" \
            "$STACK_DIR/pgbouncer/pgbouncer.log" "$STACK_PG_DIR/postgres.log"; do
            [ -s "$f" ] || continue
            echo "# --- last lines of $f ---"
            tail -n 15 "$f" | sed 's/^/#   /'
        done
    fi
    if [ "${STACK_OWN_DIR:-0}" = 1 ] && [ "${STACK_KEEP:-0}" != 1 ]; then
        rm -rf "$STACK_DIR"
    elif [ "${STACK_OWN_DIR:-0}" = 1 ]; then
        echo "# stack kept in $STACK_DIR"
    fi
    exit "$rc"
}
