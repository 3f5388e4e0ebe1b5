#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The start-time storage check (issue 24, "Storage"): `batchup serve`
# refuses to start, with exit status 2 and a message naming both
# identities, when storage_dir's .batchup-database marker names another
# database (two installations with their storage dirs swapped); and when
# another host registered on the database (batchup.store_hosts) wrote a
# nonce into storage_dir/.batchup-hosts/ that this storage_dir does not
# hold, naming that host and its path. A server whose store is right
# starts, records its own nonce in the file and the database, and the
# running one is never disturbed.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
A_CONF=$BATCHUP_CONF
A_STORE=$STACK_DIR/storage
B_STORE=$STACK_DIR/storage-b
HOST=$(hostname)
ID_A=$(psql -XAtqc "SELECT batchup.installation_id()")

# A second installation on the same PostgreSQL: database batchup_b, its own
# storage dir, its own socket.
psql -XAtq -d postgres -c 'CREATE DATABASE batchup_b' || tap_bail "cannot create batchup_b"
mkdir -p "$B_STORE"
# conf FILE DBNAME STORE SOCKET: A's configuration with those three changed.
conf() {
    sed -e "s|dbname=batchup |dbname=$2 |" -e "s|^storage_dir = .*|storage_dir = $3|" \
        -e "s|^listen = .*|listen = $4|" "$A_CONF" >"$1"
}
conf "$STACK_DIR/b.conf" batchup_b "$B_STORE" "$STACK_DIR/b.sock"
"$BATCHUP_BIN" migrate -c "$STACK_DIR/b.conf" >"$STACK_DIR/b-migrate.out" 2>&1 || tap_bail "migrate b failed"
ID_B=$(psql -XAtq -d batchup_b -c "SELECT batchup.installation_id()")
tap_ok "$([ -n "$ID_A" ] && [ -n "$ID_B" ] && [ "$ID_A" != "$ID_B" ] &&
    [ "$(cat "$B_STORE/.batchup-database")" = "$ID_B" ]; echo $?)" \
    "two installations, each store marked with its own database"

# refused NAME CONF PATTERN...: serve with CONF exits 2 within 15 s, and its
# stderr matches every PATTERN.
refused() {
    local name=$1 cf=$2 rc p
    shift 2
    timeout 15 "$BATCHUP_BIN" serve -c "$cf" >"$STACK_DIR/out" 2>"$STACK_DIR/err"
    rc=$?
    tap_is "$rc" 2 "$name: serve refuses to start, exit status 2"
    for p in "$@"; do
        tap_like "$(cat "$STACK_DIR/err")" "$p" "$name: stderr says '$p'"
    done
    tap_diag "stderr: $(head -c 600 "$STACK_DIR/err")"
}

# starts WHAT CONF OUT: serve with CONF in the background (its output in
# OUT); it must create CONF's socket within 15 s and still run a second
# later. Sets SERVE_PID.
starts() {
    local sock
    sock=$(sed -n 's/^listen = //p' "$2")
    "$BATCHUP_BIN" serve -c "$2" >"$3" 2>&1 </dev/null &
    SERVE_PID=$!
    stack_wait_until 15 test -S "$sock"
    sleep 1
    stack__alive "$SERVE_PID"
    tap_ok $? "$1"
}

# --- the marker: storage dirs swapped ------------------------------------------
conf "$STACK_DIR/a-on-b.conf" batchup "$B_STORE" "$STACK_DIR/x.sock"
refused "database a, storage b" "$STACK_DIR/a-on-b.conf" \
    "storage_dir $B_STORE belongs to database $ID_B, not to this one \\($ID_A\\); not starting"
conf "$STACK_DIR/b-on-a.conf" batchup_b "$A_STORE" "$STACK_DIR/x.sock"
refused "database b, storage a" "$STACK_DIR/b-on-a.conf" \
    "storage_dir $A_STORE belongs to database $ID_A, not to this one \\($ID_B\\); not starting"
tap_is "$(cat "$A_STORE/.batchup-database")|$(cat "$B_STORE/.batchup-database")" "$ID_A|$ID_B" \
    "neither marker was touched"

# --- the right store starts and registers itself ---------------------------------
starts "database b with its own store starts" "$STACK_DIR/b.conf" "$STACK_DIR/b.out"
NONCE=$(cat "$B_STORE/.batchup-hosts/$HOST" 2>/dev/null)
tap_like "$NONCE" '^[0-9a-f]{32}$' "it wrote a random nonce into storage_dir/.batchup-hosts/$HOST"
tap_is "$(psql -XAtq -d batchup_b -c "SELECT nonce || '|' || storage_dir FROM batchup.store_hosts WHERE host = '$HOST'")" \
    "$NONCE|$B_STORE" "... and the same nonce and its storage_dir into batchup.store_hosts"
stack__stop_pid "$SERVE_PID" 20

# --- another host's nonce -----------------------------------------------------------
# A host "far" registered on database a with a nonce that a's store does
# not hold: the storage_dir here is not the one far uses.
FAR=0123456789abcdef0123456789abcdef
A_NONCE=$(cat "$A_STORE/.batchup-hosts/$HOST" 2>/dev/null)
tap_like "$A_NONCE" '^[0-9a-f]{32}$' "the running server on database a wrote its nonce too"
psql -XAtqc "INSERT INTO batchup.store_hosts (host, nonce, storage_dir) VALUES ('far', '$FAR', '/srv/shared')"
conf "$STACK_DIR/a2.conf" batchup "$A_STORE" "$STACK_DIR/a2.sock"
refused "another host's nonce missing" "$STACK_DIR/a2.conf" \
    "storage_dir $A_STORE on host $HOST is not the other hosts' store; not starting" \
    "host far \\(storage_dir /srv/shared\\) wrote nonce $FAR, but $A_STORE/.batchup-hosts/far does not exist"
echo fedcba9876543210fedcba9876543210 >"$A_STORE/.batchup-hosts/far"
refused "another host's nonce different" "$STACK_DIR/a2.conf" "\\.batchup-hosts/far holds another"
tap_is "$(cat "$A_STORE/.batchup-hosts/$HOST" 2>/dev/null)|$(psql -XAtqc "SELECT nonce FROM batchup.store_hosts WHERE host = '$HOST'")" \
    "$A_NONCE|$A_NONCE" "a refused start changed neither this host's nonce file nor its row"

echo "$FAR" >"$A_STORE/.batchup-hosts/far"
starts "with far's nonce in the store, a second server on database a starts" "$STACK_DIR/a2.conf" "$STACK_DIR/a2.out"
stack__stop_pid "$SERVE_PID" 20

# A host not seen for a day is forgotten.
psql -XAtqc "UPDATE batchup.store_hosts SET seen_at = now() - interval '25 hours', nonce = '$FAR' WHERE host = 'far'"
rm -f "$A_STORE/.batchup-hosts/far"
starts "a host not seen for a day is no longer compared with: the server starts" "$STACK_DIR/a2.conf" "$STACK_DIR/a3.out"
tap_is "$(psql -XAtqc "SELECT count(*) FROM batchup.store_hosts WHERE host = 'far'")" 0 "... and its row is gone"
stack__stop_pid "$SERVE_PID" 20

tap_is "$(stack_health_codes 5 0.05 | sort -u | tr -d '\n')" 200 "the first server kept answering health 200"
tap_done
