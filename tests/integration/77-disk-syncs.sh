#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Which fsync covers what (app/disk.c's contract), seen in the system calls
# of real workers (strace attached to every worker of the pool):
#  (a) a file sent in one PATCH pays two syncs, as the app floor pays one
#      and a directory: an fdatasync of its data file, the rename into
#      files/<2 chars>/, an fsync of that shard folder; no fsync of partial/
#      (the old name's removal needs none), and the file is stored whole
#  (b) a file sent in two PATCHes: the first recorded offset fsyncs
#      partial/ once (the partial file's name survives a power cut as its
#      recorded bytes do), the completion does not fsync it again
#  (c) a file whose writer died after the rename, before the database heard
#      of it (maybe before the folder's fsync): the next request finishes
#      the completion from it, and syncs it where it lies first
# A sync in the wrong place, one more, or one missing fails a check.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

command -v strace >/dev/null || tap_bail "strace is needed (apt-get install strace)"
stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 pm=static per_user_limit=1 || tap_bail "the stack did not start"
TOKEN=$(stack_user_add ines) || tap_bail "cannot add a user"
T=$STACK_DIR/t77
S=$STACK_DIR/storage
mkdir -p "$T"
size=$((1048576 + 4321))
head -c "$size" /dev/urandom >"$T/src"

# strace on every worker (both of the static pool, once started): the
# syncs, with the path of each descriptor; attached before the first request.
workers() { pgrep -P "$BATCHUP_PID" -f 'batchup serve'; }
pool_up() { [ "$(workers | wc -l)" -ge 2 ]; }
attached() { [ "$(grep -c attached "$T/strace.err")" -ge 2 ]; }
stack_wait_until 10 pool_up || tap_bail "the pool did not start"
pids=$(workers | sed 's/^/-p /' | tr '\n' ' ')
# shellcheck disable=SC2086 # one -p per worker
strace -f -y -e trace=fsync,fdatasync,rename -o "$T/trace" $pids 2>"$T/strace.err" &
STRACE_PID=$!
trap 'rc=$?; kill -INT $STRACE_PID 2>/dev/null; wait $STRACE_PID 2>/dev/null; (exit $rc); stack_cleanup' EXIT
stack_wait_until 10 attached ||
    tap_bail "strace cannot attach to the workers: $(head -n 3 "$T/strace.err")"

# newfile NAME [SHA256]: a batch of one file of the source's size.
newfile() {
    local sha=${2:+,\"sha256\":\"$2\"}
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "{\"files\":[{\"name\":\"$1\",\"size\":$size$sha}]}" \
        "$BATCHUP_URL/api/v1/batches" | jq -r '.files[0].id'
}
# send ID FROM COUNT: COUNT bytes of the source from offset FROM; the code.
send() {
    tail -c +"$(($2 + 1))" "$T/src" | head -c "$3" >"$T/chunk"
    curl -s --max-time 30 -o /dev/null -w '%{http_code}' -X PATCH \
        -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $2" \
        -H 'Content-Type: application/offset+octet-stream' --data-binary @"$T/chunk" \
        "$BATCHUP_URL/api/v1/files/$1"
}
# The syncs and renames traced since line FROM, in order, one a line (strace
# pads the pid to five columns: one space or more after it): the
# call and its paths relative to storage_dir ("fdatasync files/ab/ID",
# "rename partial/ID files/ab/ID").
syncs_since() {
    local n=-1 i
    # strace writes each line as the call returns: wait until it is quiet.
    for i in $(seq 1 30); do
        [ "$n" = "$(lines)" ] && [ "$i" -gt 3 ] && break
        n=$(lines)
        sleep 0.1
    done
    tail -n +"$(($1 + 1))" "$T/trace" |
        sed -n -e 's/^[0-9][0-9]*  *\(f[a-z]*sync\)([0-9]*<\([^>]*\)>).*/\1 \2/p' \
            -e 's/^[0-9][0-9]*  *rename("\([^"]*\)", "\([^"]*\)") *= 0$/rename \1 \2/p' | sed "s#$S/##g"
}
lines() { wc -l <"$T/trace"; }
stored_ok() {
    [ "$(psql -XAtq -c "SELECT status FROM batchup.files WHERE id = '$1'")" = completed ] &&
        cmp -s "$T/src" "$S/files/${1:0:2}/$1"
}

# --- (a) one PATCH ----------------------------------------------------------
A=$(newfile a.bin)
from=$(lines)
tap_is "$(send "$A" 0 "$size")" 204 "(a) the file is sent in one PATCH"
got=$(syncs_since "$from")
tap_is "$got" "$(printf 'fdatasync partial/%s\nrename partial/%s files/%s/%s\nfsync files/%s' \
    "$A" "$A" "${A:0:2}" "$A" "${A:0:2}")" \
    "(a) two syncs: fdatasync of the data file, the rename, fsync of its shard folder"
tap_ok "$(echo "$got" | grep -qx 'fsync partial'; echo $((!$?)))" "(a) no fsync of partial/"
tap_ok "$(stored_ok "$A"; echo $?)" "(a) completed, stored whole in files/"

# --- (b) two PATCHes --------------------------------------------------------
B=$(newfile b.bin)
from=$(lines)
tap_is "$(send "$B" 0 500000)" 204 "(b) the first half"
got=$(syncs_since "$from")
tap_is "$(echo "$got" | grep -c '^fsync partial$')" 1 \
    "(b) the first recorded offset fsyncs partial/ once (the new file's name)"
tap_is "$(echo "$got" | grep -c "^fdatasync partial/$B\$")" 1 "(b) ... after the data's fdatasync"
from=$(lines)
tap_is "$(send "$B" 500000 $((size - 500000)))" 204 "(b) the rest"
got=$(syncs_since "$from")
tap_is "$(echo "$got" | grep -c '^fsync partial$')" 0 "(b) the completion does not fsync partial/ again"
tap_is "$(echo "$got" | grep -c "^fsync files/${B:0:2}\$")" 1 "(b) it fsyncs the shard folder"
tap_ok "$(stored_ok "$B"; echo $?)" "(b) completed, stored whole in files/"

# --- (c) a file moved by a writer that died before the database heard -----
# The first 500000 bytes are recorded, then the file is completed and moved
# into files/ by hand, as such a writer leaves it.
sha=$(sha256sum <"$T/src" | cut -d' ' -f1)
C=$(newfile c.bin "$sha")
tap_is "$(send "$C" 0 500000)" 204 "(c) the first 500000 bytes are recorded"
tail -c +500001 "$T/src" >>"$S/partial/$C"
mkdir -p "$S/files/${C:0:2}"
mv "$S/partial/$C" "$S/files/${C:0:2}/$C"
from=$(lines)
offset=$(curl -s --max-time 30 -D - -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" \
    -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 500000' \
    -H 'Content-Type: application/offset+octet-stream' --data-binary '' \
    "$BATCHUP_URL/api/v1/files/$C" | tr -d '\r' | sed -n 's/^[Uu]pload-[Oo]ffset: //p')
tap_is "$offset" "$size" "(c) the next PATCH finishes the completion from the moved file"
got=$(syncs_since "$from")
tap_is "$got" "$(printf 'fdatasync files/%s/%s\nfsync files/%s' "${C:0:2}" "$C" "${C:0:2}")" \
    "(c) ... after syncing it and its shard folder where it lies"
tap_ok "$(stored_ok "$C"; echo $?)" "(c) completed, stored whole"

tap_done
