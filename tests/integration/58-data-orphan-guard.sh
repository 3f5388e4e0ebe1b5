#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The orphan sweep's guard (issue 22, item 14): `batchup migrate` records
# the database's identity in storage_dir/.batchup-database, and the sweep
# (batchup gc) deletes nothing in a store whose marker names another
# database, or that has none while holding data, or where most of the old
# files would go; with the right marker it removes a real orphan and keeps
# the live files.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 gc_interval_seconds=0 orphan_grace_seconds=2 || tap_bail "the stack did not start"
W=$STACK_DIR/t58
mkdir -p "$W"
S=$STACK_DIR/storage
M=$S/.batchup-database
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
ID=$(psql -XAtqc "SELECT batchup.installation_id()")
tap_like "$ID" '^[0-9a-f-]{36}$' "the database has an identity"
tap_ok "$([ -n "$ID" ] && [ "$(cat "$M" 2>/dev/null)" = "$ID" ]; echo $?)" \
    "batchup migrate wrote it into storage_dir/.batchup-database"

# Three live files, uploaded.
printf 'hello' >"$W/a.txt"
curl -s --max-time 10 -H "Authorization: Bearer $ANN" -H 'Content-Type: application/json' \
    --data '{"files":[{"name":"a","size":5},{"name":"b","size":5},{"name":"c","size":5}]}' \
    "$BATCHUP_URL/api/v1/batches" >"$W/b.json"
ok=0
for i in 0 1 2; do
    [ "$(patch "$ANN" "$(jget "d['files'][$i]['upload_url']" <"$W/b.json")" "$W/a.txt")" = 204 ] && ok=$((ok + 1))
done
tap_is "$ok" 3 "three files uploaded"
live_files() { find "$S/files" -type f | wc -l; }
tap_is "$(live_files)" 3 "three files stored"

orphans() { # N: N orphan partial files, an hour old
    local i u
    for i in $(seq 1 "$1"); do
        u=$(cat /proc/sys/kernel/random/uuid)
        printf 'x' >"$S/partial/$u"
        touch -d '1 hour ago' "$S/partial/$u"
    done
}
sweep() { # one pass with a sweep due; its output in $W/gc.out
    rm -f "$S/.swept"
    "$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >"$W/gc.out" 2>&1
}
partials() { find "$S/partial" -type f | wc -l; }

# --- another database's marker ------------------------------------------------
orphans 1
OTHER=$(cat /proc/sys/kernel/random/uuid)
echo "$OTHER" >"$M"
sweep
tap_is "$(partials)|$(live_files)" "1|3" "a store marked for another database: nothing is removed"
tap_like "$(cat "$W/gc.out")" "belongs to database $OTHER" "... and the log says whose it is"
"$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >"$W/migrate.out" 2>&1
tap_is "$?|$(cat "$M")" "0|$OTHER" "migrate does not overwrite another database's marker"
tap_like "$(cat "$W/migrate.out")" "warning: storage_dir .* belongs to database $OTHER" "... it warns instead"

# --- no marker, data present --------------------------------------------------
rm -f "$M"
sweep
tap_is "$(partials)|$(live_files)" "1|3" "a store without a marker that holds data: nothing is removed"
tap_like "$(cat "$W/gc.out")" "no \.batchup-database naming this database" "... and the log asks for batchup migrate"

# --- the right marker ------------------------------------------------------------
"$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >/dev/null 2>&1
tap_ok "$([ -n "$ID" ] && [ "$(cat "$M" 2>/dev/null)" = "$ID" ]; echo $?)" "migrate writes the marker again"
# An orphan's saved hash state and one half written go with it.
u=$(cat /proc/sys/kernel/random/uuid)
printf 's' >"$S/partial/$u.sha" && printf 't' >"$S/partial/$u.sha.tmp"
touch -d '1 hour ago' "$S/partial/$u.sha" "$S/partial/$u.sha.tmp"
sweep
tap_is "$(partials)|$(live_files)" "0|3" \
    "with this database's marker the orphans are removed (a partial file, a hash state, a half-written one), the live files kept"

# --- most files would go ----------------------------------------------------------
orphans 150
touch -d '1 hour ago' "$S"/files/*/*
sweep
tap_is "$(partials)|$(live_files)" "150|3" "150 of 153 old files would go: nothing is removed"
tap_like "$(cat "$W/gc.out")" "150 of the 153 files .* would go" "... and the log says why"
tap_done
