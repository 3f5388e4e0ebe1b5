#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# An upgrade under load: `batchup migrate` brings a database that stopped at
# 008 (with uploads in it, and workers serving it) to 009, which changes
# column types of batchup.files and batchup.batches (sql/009).
#   1. An administrator's own view on batchup.files.name is in the way: the
#      run fails (exit 1) naming it, and changes nothing: no migration
#      recorded, the column still text, every view of batchup still there.
#   2. The view dropped, the run succeeds in one transaction: 009 applied,
#      the views and functions it dropped made again from sql/functions/,
#      the columns now of their domains.
#   3. The workers that ran through it (their prepared statements made
#      before it) go on: the file uploaded before downloads with its bytes,
#      a new batch uploads and completes; no request answered 500.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
W=$STACK_DIR/t51
mkdir -p "$W/sql"
# sql/ as it was at 008: the same definitions, without 009 (the later
# migrations, which the definitions need, are applied out of order: none
# depends on 009).
cp -r sql/functions "$W/sql/"
for f in sql/[0-9][0-9][0-9]_*.sql; do
    case $f in sql/009_*) ;; *) cp "$f" "$W/sql/" ;; esac
done
stack_pg_start || tap_bail "PostgreSQL did not start"
stack_write_conf workers=2 pm=static per_user_limit=1 gc_interval_seconds=0
BATCHUP_SQL_DIR=$W/sql stack_migrate >"$W/m0.log" 2>&1 || tap_bail "the 008 migrate failed: $(cat "$W/m0.log")"
tap_is "$(psql -XAtq -c "SELECT max(version) FROM batchup.schema_migrations WHERE version < '009'")|$(psql -XAtq -c "SELECT count(*) FROM batchup.schema_migrations WHERE version LIKE '009%'")" \
    "008_hot_updates.sql|0" "the database stands at 008, without 009"
stack_web_start || tap_bail "the web server did not start"
stack_batchup_start || tap_bail "batchup did not start"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"

# batch NAME...: a batch of 70000-byte files uploaded in one PATCH each;
# prints the first file's id, then the codes.
head -c 70000 /dev/urandom >"$W/a.bin"
SHA=$(sha256sum "$W/a.bin" | cut -d' ' -f1)
batch() {
    local body ids id codes=''
    body=$(for n in "$@"; do printf '{"name":"%s","size":70000},' "$n"; done | sed 's/,$//')
    ids=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
        -d "{\"files\":[$body]}" "$BATCHUP_URL/api/v1/batches" | jget '" ".join(f["id"] for f in d["files"])')
    for id in $ids; do codes=$codes$(patch "$ALICE" "/api/v1/files/$id" "$W/a.bin"); done
    printf '%s %s' "${ids%% *}" "$codes"
}
download() {
    local code
    code=$(get "$W/dl" "$ALICE" "/api/v1/download/stream/$1")
    printf '%s:%s' "$code" "$(sha256sum "$W/dl.b" | cut -c1-8)"
}
read -r FIRST codes < <(batch a.bin b.bin)
tap_is "$codes" 204204 "before: a batch of two files uploads"
tap_is "$(download "$FIRST")" "200:${SHA:0:8}" "before: its first file downloads"
tap_is "$(download "$FIRST")" "200:${SHA:0:8}" "before: again (both workers have prepared their statements)"

# --- 1. something in the way --------------------------------------------------

psql -XAtq -c "CREATE VIEW public.t51_names AS SELECT f.name FROM batchup.files f" || tap_bail "cannot create the view"
views() { psql -XAtq -c "SELECT string_agg(viewname, ' ' ORDER BY viewname) FROM pg_views WHERE schemaname = 'batchup'"; }
VIEWS=$(views)
timeout 60 "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >"$W/m1.log" 2>&1
rc=$?
tap_is "$rc" 1 "migrate with an administrator's view on files.name exits 1"
tap_like "$(cat "$W/m1.log")" 't51_names depends on them' "and names the view ($(tr '\n' ' ' <"$W/m1.log" | cut -c1-160))"
tap_is "$(psql -XAtq -c "SELECT count(*) FROM batchup.schema_migrations WHERE version LIKE '009%'")|$(psql -XAtq -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'batchup.files'::regclass AND attname = 'name'")" \
    "0|text" "nothing changed: 009 not recorded, files.name still text"
tap_is "$(views)" "$VIEWS" "every view of batchup is still there"

# --- 2. the upgrade -------------------------------------------------------------

psql -XAtq -c "DROP VIEW public.t51_names" || tap_bail "cannot drop the view"
timeout 60 "$BATCHUP_BIN" migrate -c "$BATCHUP_CONF" >"$W/m2.log" 2>&1
tap_is "$?" 0 "with the view gone, migrate exits 0"
tap_is "$(grep -c -e '^applied 009_column_domains.sql$' -e '^applied functions/' "$W/m2.log")" 2 \
    "it applied 009 and the definitions ($(tr '\n' ' ' <"$W/m2.log"))"
tap_is "$(psql -XAtq -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'batchup.files'::regclass AND attname = 'name'")" \
    batchup.file_name "files.name is of its domain"
tap_is "$(views)" "$VIEWS" "every view of batchup is there again"

# --- 3. the workers go on -------------------------------------------------------

tap_is "$(download "$FIRST")" "200:${SHA:0:8}" "after: the first file downloads with its bytes"
tap_is "$(download "$FIRST")" "200:${SHA:0:8}" "after: again, from the other worker"
read -r _ codes < <(batch c.bin d.bin)
tap_is "$codes" 204204 "after: a new batch of two files uploads"
tap_is "$(psql -XAtq -c "SELECT string_agg(status, ' ' ORDER BY created_at) FROM batchup.batches")" \
    "complete complete" "both batches are complete"
tap_is "$(grep -cE 'database (error|rejected)' "$STACK_DIR/batchup.log")" 0 "batchup logged no database error"

tap_done
