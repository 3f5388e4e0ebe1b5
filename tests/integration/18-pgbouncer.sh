#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# batchup behind PgBouncer in transaction pooling mode (STACK_PGBOUNCER=1:
# tests/lib/stack.sh starts one with the settings of conf/pgbouncer.ini and
# default_pool_size 4; batchup's `database`, migrate included, goes through
# it; this test's own psql goes straight to PostgreSQL).
#
#   1. 60-tus-js-client.sh and 61-tus-status-codes.sh run again, each as a
#      child on a stack of its own behind PgBouncer; their results are
#      passed on here (prefixed "60:" and "61:", renumbered: tests/run.sh
#      counts a result "NN: ..." as a re-run of NN's check), and each one's
#      PgBouncer log ("60 behind PgBouncer: ...", this test's own) shows that batchup's processes were its clients while
#      it opened at most 4 server connections.
#   2. On a stack of its own (10 workers, log_connections on): 8 workers
#      receive uploads at the same time, renewing their slots through the
#      database every 2 s, while health checks go on; each of those 8 is
#      a PgBouncer client (SHOW CLIENTS, by pid), and over the whole run
#      PostgreSQL accepted at most 4 connections for database batchup, all
#      from PgBouncer, none from batchup itself; every upload completes
#      byte-identical; and no worker prepared a statement (a prepared
#      statement lives in a server session, which the pooler lends to
#      others): each claim reached PostgreSQL sent whole.
#   3. The hooks child does not LISTEN through the pooler: the batch's hook
#      runs (the child polls), and a NOTIFY batchup_hook reaches no pooled
#      server connection (PgBouncer would log "got packet 'A' from server
#      when not linked", or pass it to whichever worker runs a transaction).
#   4. PgBouncer paused: a request waits at most query_wait_timeout (5 s),
#      then answers 503; resumed, health answers 200 again.
#   5. (on the stack of 2) 1100 connections opened at once, as a pool of a
#      thousand workers does when it starts: PgBouncer queues every one
#      (listen_backlog) and holds them all (its file descriptor limit; the
#      default backlog, 128, refused some at once, and runuser's 1024
#      descriptors made accept() fail).
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib/tap.sh disable=SC1091
. tests/lib/tap.sh
# shellcheck source=tests/lib/stack.sh disable=SC1091
. tests/lib/stack.sh

export STACK_PGBOUNCER=1
POOL=4
export STACK_PGBOUNCER_POOL=$POOL

# child TEST SECONDS: run tests/integration/TEST-*.sh behind PgBouncer, pass
# its results on, then check its PgBouncer's log (its stack is kept until
# then: STACK_KEEP=1) and remove its folder.
child() {
    local name=$1 files file n=0 plan='' dir='' rc='' line logins servers viaconf t0=$SECONDS
    files=(tests/integration/"$name"-*.sh)
    file=${files[0]}
    tap_diag "--- $file behind PgBouncer ---"
    while IFS= read -r line; do
        case $line in
            "ok "*) n=$((n + 1)); tap_ok 0 "$name: $(printf '%s' "$line" | sed -E 's/^ok [0-9]+( - )?//')" ;;
            "not ok "*) n=$((n + 1)); tap_ok 1 "$name: $(printf '%s' "$line" | sed -E 's/^not ok [0-9]+( - )?//')" ;;
            1..*) plan=${line#1..} ;;
            "Bail out!"*) tap_ok 1 "$name: $line" ;;
            "# stack kept in "*) dir=${line#\# stack kept in } ;;
            "# exit "*) rc=${line#\# exit } ;;
            "#"*) printf '%s\n' "$line" ;;
            *) printf '# %s\n' "$line" ;;
        esac
    done < <(STACK_KEEP=1 timeout -k 5 "$2" "$file" </dev/null 2>&1; echo "# exit $?")
    tap_is "$rc|$n" "0|${plan:-none}" "$name behind PgBouncer: exited 0 with its plan met ($n results, $((SECONDS - t0)) s)"
    if [ -z "$dir" ] || [ ! -f "$dir/pgbouncer/pgbouncer.log" ]; then
        tap_ok 1 "$name behind PgBouncer: its stack had a PgBouncer (no pgbouncer.log in '${dir:-?}')"
        return
    fi
    logins=$(grep -c 'login attempt: db=batchup ' "$dir/pgbouncer/pgbouncer.log")
    servers=$(grep -c 'new connection to server' "$dir/pgbouncer/pgbouncer.log")
    viaconf=$(grep -c '^database = host=[^ ]*/pgbouncer port=6432 ' "$dir/batchup.conf")
    tap_diag "$name: $logins client logins to PgBouncer for batchup, $servers server connections opened"
    tap_ok "$([ "$viaconf" = 1 ] && [ "$logins" -ge 2 ]; echo $?)" \
        "$name behind PgBouncer: batchup's database was PgBouncer (its config; $logins client logins)"
    tap_ok "$([ "$servers" -ge 1 ] && [ "$servers" -le "$POOL" ]; echo $?)" \
        "$name behind PgBouncer: PgBouncer opened between 1 and $POOL server connections for it ($servers)"
    case $dir in */batchup-stack.*) rm -rf "$dir" ;; esac
}

child 60 150
child 61 120

# --- 2. more busy workers than server connections --------------------------

stack_init "" || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t18
mkdir -p "$T"
stack_pg_start || tap_bail "PostgreSQL or PgBouncer did not start"
# Our own psql names itself; PgBouncer's server connections carry no
# application_name in their start-up packet, batchup's own would say batchup.
export PGAPPNAME=t18
psql -XAtq -c 'ALTER SYSTEM SET log_connections = on' -c "ALTER SYSTEM SET log_statement = 'all'" \
    -c 'SELECT pg_reload_conf()' >/dev/null || tap_bail "cannot turn log_connections and log_statement on"
cat >"$T/hook.sh" <<SH
#!/bin/sh
echo "\$BATCHUP_EVENT \$BATCHUP_BATCH_ID" >>"$T/hooks.log"
SH
chmod +x "$T/hook.sh"
stack_write_conf workers=10 pm=static slot_lease_seconds=6 queue_retry_seconds=1 \
    status_path=/batchup-status gc_interval_seconds=3600 "hook_command=$T/hook.sh"
stack_migrate >>"$STACK_DIR/migrate.log" 2>&1 || tap_bail "batchup migrate through PgBouncer failed"
stack_web_start || tap_bail "the web server did not start"
stack_batchup_start || tap_bail "batchup did not start"
TOKEN=$(stack_user_add alice --limit 8) || tap_bail "cannot add alice"

# pgb COMMAND COLUMN...: those columns of the PgBouncer console's answer,
# '|'-separated, a row a line.
pgb() {
    local cmd=$1
    shift
    PGCONNECT_TIMEOUT=3 timeout 10 psql -XAq -P footer=off -h "$(stack__pgbouncer_dir)" -p "${STACK_PGBOUNCER_PORT:-6432}" \
        -U postgres -d pgbouncer -c "$cmd" |
        awk -F'|' -v want="$*" 'NR == 1 { n = split(want, w, " "); for (i = 1; i <= NF; i++) col[$i] = i; next }
            { out = ""; for (j = 1; j <= n; j++) out = out (j > 1 ? "|" : "") $(col[w[j]]); print out }'
}
auth() { printf 'Authorization: Bearer %s' "$1"; }

# A pool starting or growing by hundreds of workers connects them all in
# the same second (tests/bench/liveness.sh: a thousand): PgBouncer must
# queue them (listen_backlog of conf/pgbouncer.ini, not the default 128)
# and hold them (file descriptors: stack.sh starts it with its hard
# limit, not runuser's 1024).  1100 connections opened at once, none
# waiting for another, each sending its startup packet; then every one
# must be a PgBouncer client (SHOW CLIENTS) and none refused.
BURST=1100
"$(stack__python)" - "$STACK_PGBOUNCER_DIR/.s.PGSQL.$STACK_PGBOUNCER_PORT" "$BURST" >"$T/burst" 2>&1 <<'PY' &
import socket, struct, sys, time
path, n = sys.argv[1], int(sys.argv[2])
start = struct.pack("!ii", 196608, 0)
body = b"user\0postgres\0database\0batchup\0application_name\0burst\0\0"
packet = struct.pack("!i", 8 + len(body)) + struct.pack("!i", 196608) + body
socks, refused = [], 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        socks.append(s)
    except BlockingIOError:
        refused += 1
        s.close()
for s in socks:
    s.setblocking(True)
    s.sendall(packet)
print(f"connected {len(socks)} refused {refused}", flush=True)
time.sleep(8)
PY
BURST_PID=$!
got=0
for _ in $(seq 1 60); do
    got=$(pgb 'SHOW CLIENTS' application_name | grep -c '^burst$')
    [ "$got" -ge "$BURST" ] && break
    sleep 0.1
done
# Counted (or not): the connections have served their purpose once the
# script has said how many it opened; its 8 s are a bound, not a wait.
stack_wait_until 10 test -s "$T/burst"
kill "$BURST_PID" 2>/dev/null
wait "$BURST_PID"
tap_is "$(head -n 1 "$T/burst")|$got" "connected $BURST refused 0|$BURST" \
    "$BURST connections at once: PgBouncer queued and accepted every one (listen_backlog, file descriptors)"
tap_is "$(grep -c 'accept() failed' "$STACK_DIR/pgbouncer/pgbouncer.log")" 0 "PgBouncer's accept() never failed (Too many open files)"

N=8
SIZE=300000
head -c "$SIZE" /dev/urandom >"$T/src"
ids=$(curl -s --max-time 20 -H "$(auth "$TOKEN")" -H 'Content-Type: application/json' \
    --data "{\"files\":[$(for ((i = 0; i < N; i++)); do printf '{"name":"f%d","size":%d},' "$i" "$SIZE"; done | sed 's/,$//')]}" \
    "$BATCHUP_URL/api/v1/batches" | jq -r '.files[].id')
tap_is "$(printf '%s\n' "$ids" | grep -c .)" "$N" "a batch of $N files"
pids=()
i=0
for id in $ids; do
    curl -s -o /dev/null -w '%{http_code}' --max-time 60 --limit-rate 60K -X PATCH \
        -H "$(auth "$TOKEN")" -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
        -H 'Upload-Offset: 0' --data-binary @"$T/src" "$BATCHUP_URL/api/v1/files/$id" >"$T/code-$i" &
    pids+=($!)
    i=$((i + 1))
done
stack_health_codes 20 0.1 >"$T/health" &
hpid=$!

receiving() {
    curl -s --max-time 5 "$BATCHUP_URL/batchup-status?json" >"$T/status.json" &&
        [ "$(jq '[.workers[] | select(.state == "receiving")] | length' "$T/status.json")" = "$N" ]
}
stack_wait_until 15 receiving
tap_ok $? "$N workers receive uploads at the same time (status page), more than the $POOL server connections"
busy=$(jq -r '.workers[] | select(.state == "receiving") | .pid' "$T/status.json" | sort -n)
pgb 'SHOW CLIENTS' database remote_pid | awk -F'|' '$1 == "batchup" { print $2 }' | sort -n >"$T/clients"
pgb 'SHOW POOLS' database sv_active sv_idle sv_used sv_tested sv_login |
    awk -F'|' '$1 == "batchup" { print $2 + $3 + $4 + $5 + $6 }' >"$T/servers-now"
missing=$(comm -23 <(printf '%s\n' "$busy") "$T/clients" | tr '\n' ' ')
tap_is "${missing:-none}|$(printf '%s\n' "$busy" | grep -c .)" "none|$N" \
    "each of the $N receiving workers is a PgBouncer client (SHOW CLIENTS remote_pid)"
tap_ok "$([ "$(cat "$T/servers-now")" -le "$POOL" ]; echo $?)" \
    "meanwhile PgBouncer holds $(cat "$T/servers-now") server connections (at most $POOL) for $(grep -c . "$T/clients") clients"

for p in "${pids[@]}"; do wait "$p"; done
wait "$hpid"
want=
for ((i = 0; i < N; i++)); do want=${want}204; done
tap_is "$(cat "$T"/code-* | tr -d '\n')" "$want" "all $N uploads completed: 204 each"
bad=0
for id in $ids; do
    cmp -s "$T/src" "$STACK_DIR/storage/files/${id:0:2}/$id" || bad=$((bad + 1))
done
tap_is "$bad" 0 "every stored file is byte-identical"
tap_is "$(grep -cv '^200$' "$T/health")" 0 "every health check meanwhile answered 200"
tap_is "$(psql -XAtq -c "SELECT status FROM batchup.batches")" complete "the batch is complete"

read -r xacts waited < <(pgb 'SHOW STATS' database total_xact_count total_wait_time |
    awk -F'|' '$1 == "batchup" { print $2, $3 }')
log=$STACK_PG_DIR/postgres.log
pooled=$(grep -c 'connection authorized: user=postgres database=batchup$' "$log")
direct=$(grep -c 'connection authorized: user=postgres database=batchup application_name=batchup' "$log")
tap_diag "PgBouncer: ${xacts:-?} transactions for batchup (clients waited ${waited:-?} µs for a server connection in all), $(grep -c . "$T/clients") clients; PostgreSQL: $pooled connections from PgBouncer, $direct from batchup directly"
tap_ok "$([ "$pooled" -ge 1 ] && [ "$pooled" -le "$POOL" ] && [ "$direct" = 0 ]; echo $?)" \
    "over the whole run PostgreSQL accepted $pooled connections for batchup (at most $POOL), all from PgBouncer"
tap_ok "$([ "${xacts:-0}" -ge 40 ]; echo $?)" "PgBouncer carried batchup's transactions (SHOW STATS: ${xacts:-none})"
whole=$(grep -c 'execute <unnamed>: SELECT .*batchup\.claim_upload(' "$log")
named=$(grep -c 'execute bu[0-9]' "$log")
tap_ok "$([ "$whole" -ge "$N" ] && [ "$named" = 0 ]; echo $?)" \
    "no statement was prepared through the pooler: $whole claims sent whole, $named prepared ones executed"

# --- 3. hooks without LISTEN -----------------------------------------------

batch=$(psql -XAtq -c 'SELECT id FROM batchup.batches')
hooked() { grep -q "^batch_complete $batch\$" "$T/hooks.log" 2>/dev/null; }
stack_wait_until 10 hooked
tap_ok $? "the batch's hook ran (the hooks child polls)"
for _ in 1 2 3; do
    psql -XAtq -c "NOTIFY batchup_hook, 'test'"
    sleep 0.2
done
sleep 0.5
tap_is "$(grep -c "got packet 'A'" "$STACK_DIR/pgbouncer/pgbouncer.log")" 0 \
    "no pooled server connection LISTENs: a NOTIFY batchup_hook reaches none (PgBouncer log)"
tap_like "$(grep -c 'hooks: .*pooler' "$STACK_DIR/batchup.log")" '^[1-9]' "the hooks child says it polls behind a pooler (batchup.log)"

# --- 4. query_wait_timeout -----------------------------------------------

pgb 'PAUSE batchup' >/dev/null
got=$(curl -s -o /dev/null --max-time 20 -w '%{http_code} %{time_total}' "$BATCHUP_URL/api/v1/health")
tap_ok "$([ "${got% *}" = 503 ] && awk -v t="${got#* }" 'BEGIN { exit !(t >= 4 && t < 12) }'; echo $?)" \
    "PgBouncer paused: health waits query_wait_timeout (5 s), then answers 503 ($got)"
pgb 'RESUME batchup' >/dev/null
ok200() { [ "$(stack_health_code)" = 200 ]; }
stack_wait_until 15 ok200
tap_ok $? "PgBouncer resumed: health answers 200 again"

tap_done
