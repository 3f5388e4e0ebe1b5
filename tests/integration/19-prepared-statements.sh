#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Workers connected to PostgreSQL itself prepare their statements (parsed
# and planned once per connection, not at every call); behind PgBouncer they
# do not (18-pgbouncer.sh checks that side).
#   1. With log_statement = all, uploads and downloads reach PostgreSQL as
#      executions of named prepared statements (bu<generation>_<n>), the
#      claim among them; none of the claims is sent whole.
#   2. A prepared statement that went stale does not fail a request: the
#      owner's download runs SELECT * FROM batchup.owned_file(...); while the
#      workers run, owned_file is replaced by one that returns a column more
#      (as a migration could). PostgreSQL then refuses the prepared statement
#      ("cached plan must not change result type", logged), and every
#      download still answers 200 with the right bytes: the worker sent the
#      statement again, whole, and prepares afresh from then on.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t19
mkdir -p "$W"
LOG=$STACK_PG_DIR/postgres.log
psql -XAtq -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null ||
    tap_bail "cannot turn log_statement on"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"

# --- 1. prepared statements --------------------------------------------------

N=4
head -c 70000 /dev/urandom >"$W/a.bin"
SHA=$(sha256sum "$W/a.bin" | cut -d' ' -f1)
body=$(for ((i = 0; i < N; i++)); do printf '{"name":"f%d","size":70000},' "$i"; done | sed 's/,$//')
resp=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    -d "{\"files\":[$body]}" "$BATCHUP_URL/api/v1/batches")
ids=$(printf '%s' "$resp" | jget '" ".join(f["id"] for f in d["files"])')
codes=
for id in $ids; do codes=$codes$(patch "$ALICE" "/api/v1/files/$id" "$W/a.bin"); done
tap_is "$codes" 204204204204 "$N files are uploaded, one PATCH each"

named=$(grep -c 'execute bu[0-9]*_[0-9]*: SELECT .*batchup\.claim_upload(' "$LOG")
whole=$(grep -c 'execute <unnamed>: SELECT .*batchup\.claim_upload(' "$LOG")
tap_ok "$([ "$named" = "$N" ] && [ "$whole" = 0 ]; echo $?)" \
    "each claim ran as a prepared statement ($named prepared, $whole sent whole)"
prepares=$(grep -c 'statement: SELECT .*batchup\.claim_upload(' "$LOG")
tap_ok "$([ "$prepares" = 0 ]; echo $?)" "no claim went as a simple query ($prepares)"

# download K: K owner's downloads of the first file, "code:sha" each.
FID=${ids%% *}
download() {
    local k out=''
    for ((k = 0; k < $1; k++)); do
        code=$(get "$W/dl" "$ALICE" "/api/v1/download/stream/$FID")
        out="$out $code:$(sha256sum "$W/dl.b" | cut -c1-8)"
    done
    printf '%s' "${out# }"
}
want() { local k out=''; for ((k = 0; k < $1; k++)); do out="$out 200:${SHA:0:8}"; done; printf '%s' "${out# }"; }
tap_is "$(download 4)" "$(want 4)" "the owner downloads the file 4 times: 200 and its bytes each"
tap_like "$(grep -c 'execute bu[0-9]*_[0-9]*: SELECT \* FROM batchup\.owned_file(' "$LOG")" '^[1-9]' \
    "the downloads ran as prepared statements"

# --- 2. a stale prepared statement -------------------------------------------

psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || tap_bail "cannot replace batchup.owned_file"
BEGIN;
ALTER FUNCTION batchup.owned_file(uuid, integer) RENAME TO owned_file_t19;
CREATE FUNCTION batchup.owned_file(p_file uuid, p_user integer)
RETURNS TABLE (id uuid, name text, size bigint, sha256 text, media_type text,
               completed_epoch bigint, crc32 bigint, batch_expired boolean, t19 integer)
LANGUAGE sql STABLE AS $$ SELECT o.*, 19 FROM batchup.owned_file_t19(p_file, p_user) o $$;
COMMIT;
SQL
before=$(grep -c 'cached plan must not change result type' "$LOG")
tap_is "$(download 6)" "$(want 6)" "owned_file replaced with a column more: 6 downloads, 200 and the bytes each"
stale=$(( $(grep -c 'cached plan must not change result type' "$LOG") - before ))
tap_like "$stale" '^[12]$' "PostgreSQL refused the stale prepared statement of each worker that had one ($stale)"
tap_is "$(grep -c '0A000' "$STACK_DIR/batchup.log")" 0 "batchup logged no database error"
tap_like "$(grep -c 'execute bu1_[0-9]*: SELECT \* FROM batchup\.owned_file(' "$LOG")" '^[1-9]' \
    "the workers prepared owned_file afresh, under new names (bu1_...), and run it so"

tap_done
