#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A file sent over several PATCHes carries its SHA-256 (and CRC-32) from one
# request to the next in partial/<id>.sha, saved at each recorded offset;
# anything but the state at the recorded offset is refused, and the hash is
# rebuilt from the partial file. Each case sends a file in the awkward
# chunks of 59-upload-offsets.sh (around 4 KiB blocks and the 1 MiB buffer),
# with no SHA-256 declared (a wrong state would be stored as the file's
# digest, not refused by a mismatch), and checks the database's SHA-256
# against sha256sum of the source:
#  (a) fast path: after every PATCH but the last, the state file is there
#      and carries the offset just reported, written in place (the same
#      inode: no create and rename per checkpoint); no request hashes from
#      disk; the state file is gone once the file is complete
#  (b) the state removed after every PATCH: hashed from disk, right digest
#  (c) garbage written over it; (d) one byte of the hash state flipped
#      (its own checksum must refuse it); (e) the state of the previous
#      offset put back; (f) another file's state at the same offset: each
#      refused every time (the log says so), the digest still right
#  (g) every worker SIGKILLed between a checkpoint and the next PATCH: the
#      next request restores the state (no read-back), right digest
#  (h) every worker SIGKILLed in the middle of a streamed PATCH, after
#      checkpoints (slot_lease_seconds=3: one a second): the resume from the
#      HEAD offset completes with the right digest
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 pm=static slot_lease_seconds=3 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add hana) || tap_bail "cannot add a user"
T=$STACK_DIR/t56
P=$STACK_DIR/storage/partial
LOG=$STACK_DIR/batchup.log
mkdir -p "$T"
chunks=(1 4095 4096 4097 100003 262144 262145 1048576 1048577)
size=$((3 * 1048576 + 12345))
head -c "$size" /dev/urandom >"$T/src"
head -c "$size" /dev/urandom >"$T/src2"
sha() { sha256sum <"$1" | cut -d' ' -f1; }
db_sha() { psql -XAtq -c "SELECT status || ' ' || coalesce(sha256, '') FROM batchup.files WHERE id = '$1'"; }
# state_offset FILE: the offset a state file says it is at (bytes 56-63, little-endian).
state_offset() { od -An -t u8 -j 56 -N 8 "$1" 2>/dev/null | tr -d ' '; }
newfile() {
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "{\"files\":[{\"name\":\"f.bin\",\"size\":$size}]}" \
        "$BATCHUP_URL/api/v1/batches" | jq -r '.files[0].id'
}
refusals() { grep -c "upload $1: its saved hash state is not the one" "$LOG"; }
readbacks() { grep -c "upload $1: .*hashing its first" "$LOG"; }

# workers_aged: every child of the master has run for a second or more.
workers_aged() {
    local p age
    for p in $(stack_worker_pids); do
        age=$(ps -o etimes= -p "$p" 2>/dev/null | tr -d ' ')
        [ "${age:-0}" -ge 1 ] || return 1
    done
}

# send ID SRC MODE: every chunk, and after each PATCH but the last, MODE:
# keep (check the state, keep a copy for f), remove, garbage, flip, stale,
# foreign, kill (SIGKILL every worker). Sets BAD to what went wrong.
send() {
    local id=$1 src=$2 mode=$3 off=0 n code got prev=
    BAD=
    for n in "${chunks[@]}" rest; do
        [ "$n" = rest ] && n=$((size - off))
        tail -c +"$((off + 1))" "$src" | head -c "$n" >"$T/chunk"
        code=$(curl -s --max-time 60 -o /dev/null -D "$T/h" -w '%{http_code}' -X PATCH \
            -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" \
            -H 'Content-Type: application/offset+octet-stream' --data-binary @"$T/chunk" \
            "$BATCHUP_URL/api/v1/files/$id")
        off=$((off + n))
        got=$(hval Upload-Offset "$T/h")
        if [ "$code|$got" != "204|$off" ]; then
            BAD="$BAD PATCH of $n bytes: $code, offset ${got:-none} (expected $off);"
            return
        fi
        [ "$off" = "$size" ] && break
        case $mode in
        keep)
            [ "$(state_offset "$P/$id.sha")" = "$off" ] ||
                BAD="$BAD after $off bytes the state file says '$(state_offset "$P/$id.sha")';"
            cp "$P/$id.sha" "$T/a.$off" 2>/dev/null
            stat -c %i "$P/$id.sha" >>"$T/inodes.$id" 2>/dev/null
            ;;
        remove) rm -f "$P/$id.sha" ;;
        garbage) head -c 264 /dev/urandom >"$P/$id.sha" ;;
        flip) printf '\x5a' | dd of="$P/$id.sha" bs=1 seek=70 conv=notrunc status=none ;;
        stale)
            cp "$P/$id.sha" "$T/cur"
            [ -n "$prev" ] && cp "$T/prev" "$P/$id.sha"
            mv "$T/cur" "$T/prev"
            prev=1
            ;;
        foreign) cp "$T/a.$off" "$P/$id.sha" ;;
        kill)
            # Workers a second old at least: the master holds back the
            # replacement of one that dies younger (a crash loop; the hold
            # doubles with each such death, up to 5 s: app/supervisor.c),
            # and that wait, not the test, took most of this case's time.
            stack_wait_until 5 workers_aged
            # shellcheck disable=SC2046
            kill -KILL $(stack_worker_pids)
            stack_wait_until 20 sh -c "[ \$(pgrep -c -P $BATCHUP_PID) -ge 6 ]"
            stack_wait_health 20
            ;;
        esac
    done
}

# --- (a) the fast path -------------------------------------------------------
A=$(newfile)
tap_like "$A" '^[0-9a-f-]{36}$' "a batch of one file of $size bytes"
send "$A" "$T/src" keep
tap_is "${BAD:-none}" none "10 PATCHes: each 204, and after each the state file is at the offset reported"
tap_is "$(db_sha "$A")" "completed $(sha "$T/src")" "(a) the stored SHA-256 is the source's"
tap_is "$(readbacks "$A")" 0 "(a) no request hashed from disk"
# In place: a create and a rename in partial/ per checkpoint queued
# hundreds of workers on the directory's lock (tests/bench/liveness.sh).
tap_is "$(sort -u "$T/inodes.$A" | wc -l)|$(wc -l <"$T/inodes.$A")" "1|9" \
    "(a) the state file is written in place: one inode across the 9 checkpoints"
tap_ok "$([ ! -e "$P/$A.sha" ]; echo $?)" "(a) the state file is removed at completion"

# --- (b)-(f) the state removed or tampered with ------------------------------
for mode in remove garbage flip stale foreign; do
    src=$T/src
    [ "$mode" = foreign ] && src=$T/src2
    id=$(newfile)
    send "$id" "$src" "$mode"
    tap_is "${BAD:-none}" none "($mode) every PATCH 204 at its offset"
    tap_is "$(db_sha "$id")" "completed $(sha "$src")" "($mode) the stored SHA-256 is the source's"
    case $mode in
    remove) want=9 r=$(readbacks "$id") ;;
    stale) want=8 r=$(refusals "$id") ;; # after the second PATCH on
    *) want=9 r=$(refusals "$id") ;;
    esac
    tap_is "$r" "$want" "($mode) each PATCH after the first hashed from disk, the state refused or missing"
done

# --- (g) SIGKILL between a checkpoint and the next PATCH -----------------------
G=$(newfile)
send "$G" "$T/src" kill
tap_is "${BAD:-none}" none "(g) every PATCH 204 though every worker was killed after each"
tap_is "$(db_sha "$G")" "completed $(sha "$T/src")" "(g) the stored SHA-256 is the source's"
tap_is "$(readbacks "$G")" 0 "(g) the state survived the kills: no request hashed from disk"

# --- (h) SIGKILL in the middle of a streamed PATCH -------------------------------
H=$(newfile)
curl -s -o /dev/null --max-time 60 --limit-rate 256K -X PATCH \
    -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' --data-binary @"$T/src" \
    "$BATCHUP_URL/api/v1/files/$H" &
curl_pid=$!
saved() { [ "$(state_offset "$P/$H.sha")" -gt 1048576 ] 2>/dev/null; }
stack_wait_until 20 saved
tap_ok $? "(h) a streamed PATCH saves its state at its checkpoints ($(state_offset "$P/$H.sha") bytes)"
# shellcheck disable=SC2046
kill -KILL $(stack_worker_pids)
wait "$curl_pid"
stack_wait_until 20 sh -c "[ \$(pgrep -c -P $BATCHUP_PID) -ge 6 ]"
stack_wait_health 20
off=$(curl -s -I --max-time 10 -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
    "$BATCHUP_URL/api/v1/files/$H" | tr -d '\r' | sed -n 's/^Upload-Offset: //Ip')
tap_diag "after the kill: HEAD offset $off, state at $(state_offset "$P/$H.sha")"
tail -c +"$((off + 1))" "$T/src" >"$T/rest"
code=$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' -X PATCH \
    -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" \
    -H 'Content-Type: application/offset+octet-stream' --data-binary @"$T/rest" \
    "$BATCHUP_URL/api/v1/files/$H")
tap_is "$code" 204 "(h) the upload resumes from the HEAD offset ($off) and completes"
tap_is "$(db_sha "$H")" "completed $(sha "$T/src")" "(h) the stored SHA-256 is the source's"
tap_done
