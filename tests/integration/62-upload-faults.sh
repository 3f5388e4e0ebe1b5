#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Uploads survive faults, with processes killed for real:
#  (a) every worker is killed with SIGKILL in the middle of a PATCH streamed
#      through nginx; the upload resumes from the offset HEAD reports and the
#      stored file is byte-identical to the source;
#  (b) a client that vanishes while holding a slot (an empty-bodied PATCH
#      claimed it, then nothing) loses it after slot_lease_seconds, and the
#      file queued behind it (first 423) then gets the slot (204);
#  (c) the limit holds under a burst: 20 concurrent empty-bodied claims for
#      10 files of a user with limit 3 grant exactly 3 slots.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

LEASE=3
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 pm=static slot_lease_seconds=$LEASE queue_retry_seconds=1 gc_interval_seconds=1 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
TB=$(stack_user_add bob --limit 1) || tap_bail "cannot add bob"
TC=$(stack_user_add carol --limit 3) || tap_bail "cannot add carol"

B=$BATCHUP_URL
T=$STACK_DIR/t62
mkdir -p "$T"
auth() { printf 'Authorization: Bearer %s' "$1"; }
sql() { psql -XAtq -c "$1"; }
hdr() { grep -i "^$1:" "$2" | tail -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'; }
# mkbatch TOKEN SIZE...: sets FILES (the new batch's file ids).
mkbatch() {
    local tok=$1 items=() i=0 s
    shift
    for s in "$@"; do
        items+=("{\"name\": \"f$i.bin\", \"size\": $s}")
        i=$((i + 1))
    done
    curl -s --max-time 20 -H "$(auth "$tok")" -H 'Content-Type: application/json' \
        --data "{\"files\": [$(IFS=,; echo "${items[*]}")]}" "$B/api/v1/batches" >"$T/mk.json"
    mapfile -t FILES < <(jq -r '.files[].id' "$T/mk.json")
    [ "${#FILES[@]}" = "$#" ]
}
# patch TOKEN FILE OFFSET DATA [curl args]: prints the status; headers in $T/h.
patch() {
    local tok=$1 f=$2 off=$3 data=$4
    shift 4
    curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' --max-time 60 -X PATCH "$@" \
        -H "$(auth "$tok")" -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
        -H "Upload-Offset: $off" --data-binary @"$data" "$B/api/v1/files/$f"
}
offset_of() {
    curl -s -I --max-time 10 -H "$(auth "$1")" -H 'Tus-Resumable: 1.0.0' "$B/api/v1/files/$2" |
        grep -i '^Upload-Offset:' | cut -d: -f2 | tr -d ' \r'
}
now_ms() { date +%s%3N; }

# --- (a) every worker SIGKILLed mid-PATCH -----------------------------------------
SIZE=$((2 * 1024 * 1024 + 333))
head -c "$SIZE" /dev/urandom >"$T/src"
mkbatch "$TA" "$SIZE" || tap_bail "cannot create a batch: $(cat "$T/mk.json")"
FA=${FILES[0]}
# 128 KiB/s: the 2 MiB body takes ~16 s; the workers die a few seconds in.
curl -s -o "$T/a.body" -w '%{http_code}' --max-time 60 --limit-rate 128K -X PATCH \
    -H "$(auth "$TA")" -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
    -H 'Upload-Offset: 0' --data-binary @"$T/src" "$B/api/v1/files/$FA" >"$T/a.code" 2>/dev/null &
curl_pid=$!
recorded() { o=$(offset_of "$TA" "$FA"); [ -n "$o" ] && [ "$o" -gt 0 ]; }
stack_wait_until 15 recorded
tap_ok $? "a streamed PATCH is under way: its first progress is recorded (HEAD offset $(offset_of "$TA" "$FA"))"
before=$(stack_worker_pids | tr '\n' ' ')
stored_before=$(stat -c %s "$STACK_DIR/storage/partial/$FA" 2>/dev/null || echo 0)
# shellcheck disable=SC2086
kill -KILL $before
tap_diag "SIGKILL to every child of the master: $before (partial file had $stored_before bytes)"
wait "$curl_pid"
code=$(cat "$T/a.code")
tap_ok "$([ "$code" != 204 ]; echo $?)" "the interrupted PATCH did not report success (got $code)"
respawned() {
    local now
    now=$(stack_worker_pids)
    [ "$(echo "$now" | grep -c .)" -ge 6 ] || return 1
    for p in $before; do echo "$now" | grep -qx "$p" && return 1; done
    return 0
}
stack_wait_until 20 respawned
tap_ok $? "the master replaced every killed worker ($(stack_worker_pids | tr '\n' ' '))"
stack_wait_health 20
tap_is "$(stack_health_code)" 200 "health answers 200 after the massacre"
off=$(offset_of "$TA" "$FA")
stored=$(stat -c %s "$STACK_DIR/storage/partial/$FA" 2>/dev/null || echo 0)
tap_diag "after the kill: HEAD offset $off, partial file $stored bytes, size $SIZE"
tap_ok "$([ "${off:-0}" -gt 0 ] && [ "$off" -lt "$SIZE" ] && [ "$off" -le "$stored" ]; echo $?)" \
    "HEAD reports an offset between 0 and the size, no larger than the bytes on disk ($off <= $stored)"
tap_is "$(head -c "${off:-0}" "$STACK_DIR/storage/partial/$FA" | sha256sum)" "$(head -c "${off:-0}" "$T/src" | sha256sum)" \
    "the bytes up to the HEAD offset are the source's"
tail -c +"$((off + 1))" "$T/src" >"$T/rest"
code=$(patch "$TA" "$FA" "$off" "$T/rest")
tap_is "$code|$(hdr Upload-Offset "$T/h")" "204|$SIZE" "the upload resumes from the HEAD offset and completes: 204"
final=$STACK_DIR/storage/files/${FA:0:2}/$FA
tap_is "$(sha256sum <"$final" 2>/dev/null | cut -d' ' -f1)" "$(sha256sum <"$T/src" | cut -d' ' -f1)" \
    "the stored file is byte-identical to the source (sha256)"
tap_is "$(curl -s --max-time 30 -H "$(auth "$TA")" "$B/api/v1/download/stream/$FA" | sha256sum | cut -d' ' -f1)" \
    "$(sha256sum <"$T/src" | cut -d' ' -f1)" "the download is byte-identical too"
tap_is "$(sql "SELECT f.status || '|' || f.sha256 || '|' || b.status FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id WHERE f.id = '$FA'")" \
    "completed|$(sha256sum <"$T/src" | cut -d' ' -f1)|complete" "the file is completed with the source's sha256 and the batch is complete"
tap_is "$(sql "SELECT count(*) FROM batchup.slots WHERE file_id = '$FA'")" 0 "the completed file holds no slot"

# --- (b) a vanished client's slot is freed by its lease -----------------------------
head -c 5000 /dev/urandom >"$T/b2"
mkbatch "$TB" 100000 5000 || tap_bail "cannot create a batch: $(cat "$T/mk.json")"
B1=${FILES[0]} B2=${FILES[1]}
: >"$T/empty"
t_claim=$(now_ms)
code=$(patch "$TB" "$B1" 0 "$T/empty")
tap_is "$code" 204 "bob's first file claims his only slot with an empty-bodied PATCH, then its client vanishes"
code=$(patch "$TB" "$B2" 0 "$T/b2")
tap_is "$code|$(jq -r .error.code "$T/b")|$(hdr Upload-Queue-Position "$T/h")" "423|slot_unavailable|1" \
    "bob's second file: 423 slot_unavailable, queue position 1"
codes=423 t_grant=
for _ in $(seq 1 40); do
    sleep 0.25
    code=$(patch "$TB" "$B2" 0 "$T/b2")
    codes="$codes $code"
    if [ "$code" = 204 ]; then
        t_grant=$(now_ms)
        break
    fi
    [ "$code" = 423 ] || break
done
waited=$(( ${t_grant:-0} - t_claim ))
tap_diag "statuses of the queued file, one every 0.25 s: $codes; granted ${waited} ms after the claim"
tap_like "$codes" '^423( 423)+ 204$' "the queued file keeps getting 423, then 204 by itself"
tap_ok "$([ -n "$t_grant" ] && [ "$waited" -ge $((LEASE * 1000 - 300)) ] && [ "$waited" -le $((LEASE * 1000 + 3000)) ]; echo $?)" \
    "it gets the slot once the vanished client's lease ($LEASE s) ran out (after $waited ms)"
tap_is "$(sql "SELECT status FROM batchup.files WHERE id = '$B2'")|$(sql "SELECT count(*) FROM batchup.slots WHERE file_id = '$B1' AND lease_expires_at >= now()")" \
    "completed|0" "the queued file completed; the vanished client's file holds no live slot"
tap_is "$(curl -s --max-time 30 -H "$(auth "$TB")" "$B/api/v1/download/stream/$B2" | sha256sum | cut -d' ' -f1)" \
    "$(sha256sum <"$T/b2" | cut -d' ' -f1)" "the file that waited is byte-identical"
code=$(patch "$TB" "$B1" 0 "$T/empty")
tap_is "$code" 204 "the vanished client, coming back, claims a slot again (the limit is free)"

# --- (c) a burst of claims against limit 3 ---------------------------------------
mkbatch "$TC" 1000 1000 1000 1000 1000 1000 1000 1000 1000 1000 || tap_bail "cannot create a batch: $(cat "$T/mk.json")"
mkdir -p "$T/burst"
pids=()
for round in 1 2; do
    for i in "${!FILES[@]}"; do
        f=${FILES[$i]}
        curl -s -o "$T/burst/$round-$i.body" -w "%{http_code} $f\n" --max-time 30 -X PATCH \
            -H "$(auth "$TC")" -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
            -H 'Upload-Offset: 0' --data-binary '' "$B/api/v1/files/$f" >"$T/burst/$round-$i.code" &
        pids+=($!)
    done
done
wait "${pids[@]}"
cat "$T"/burst/*.code >"$T/burst.all"
granted=$(awk '$1 == 204 { print $2 }' "$T/burst.all" | sort -u | wc -l)
n204=$(awk '$1 == 204' "$T/burst.all" | wc -l)
others=$(awk '$1 != 204 && $1 != 423' "$T/burst.all" | wc -l)
tap_diag "20 claims: $(awk '{ print $1 }' "$T/burst.all" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
tap_is "$(wc -l <"$T/burst.all")|$others" "20|0" "20 concurrent claims were answered, each 204 or 423"
tap_is "$granted" 3 "exactly 3 of carol's 10 files were granted a slot (limit 3)"
tap_is "$(sql "SELECT count(*) FROM batchup.active_slots WHERE user_name = 'carol'")" 3 "batchup.active_slots shows exactly 3 slots for carol"
tap_ok "$([ "$n204" -ge 3 ] && [ "$n204" -le 6 ]; echo $?)" "$n204 claims got 204: the 3 granted files, some twice (a twin claim renews its own slot)"
mapfile -t bodies423 < <(awk '$1 == 423 { print FILENAME }' "$T"/burst/*.code | sed 's/\.code$/.body/')
bad423=0
for f in "${bodies423[@]}"; do
    grep -q -e '"slot_unavailable"' -e '"upload_locked"' "$f" || bad423=$((bad423 + 1))
done
tap_is "$bad423" 0 "every one of the ${#bodies423[@]} 423s says slot_unavailable (or upload_locked for a twin claim of the same file)"
tap_is "$(sql "SELECT max(position) FROM batchup.upload_queue WHERE user_name = 'carol'")" 7 "the 7 others wait in carol's queue, positions 1 to 7"

tap_done
