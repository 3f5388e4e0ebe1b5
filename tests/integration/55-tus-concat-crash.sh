#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tus concatenation and a crash (issue 23 §3): the workers are killed
# (SIGKILL) while a final of four 24 MiB partials assembles. Before its
# commit nothing is lost: the partials' rows and files are intact and the
# final is not completed. The client's retried creation answers 201 with
# the same URL, the final is assembled byte for byte, and only then are the
# partials gone.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 max_file_size=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t55c
S=$STACK_DIR/storage
mkdir -p "$W"
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
q() { psql -XAtc "$1"; }
idof() { basename "$1"; }
tus() { # METHOD [headers...]: on /api/v1/files; prints the status, headers in $W/r.h
    local method=$1
    shift
    curl -s --max-time 60 -o "$W/r.b" -D "$W/r.h" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' "$@" "$BATCHUP_URL/api/v1/files"
}

PART=$((24 * 1048576))
urls=()
for i in 1 2 3 4; do
    head -c "$PART" /dev/urandom >"$W/p$i"
    tus POST -H 'Upload-Concat: partial' -H "Upload-Length: $PART" >/dev/null
    urls+=("$(hval Location "$W/r.h")")
    patch "$ANN" "${urls[-1]}" "$W/p$i" >>"$W/patches"
done
cat "$W/p1" "$W/p2" "$W/p3" "$W/p4" >"$W/all"
tap_is "$(cat "$W/patches")" 204204204204 "four partials of 24 MiB are uploaded"
IDS="'$(idof "${urls[0]}")','$(idof "${urls[1]}")','$(idof "${urls[2]}")','$(idof "${urls[3]}")'"

# The final's creation, and the workers killed while it assembles.
tus POST -H "Upload-Concat: final;${urls[*]}" >"$W/first.status" &
CURL=$!
for _ in $(seq 100); do
    [ -n "$(find "$S/partial" -maxdepth 1 -size +1M -newer "$W/all" 2>/dev/null | head -n 1)" ] && break
    sleep 0.02
done
for p in $(stack_worker_pids); do kill -9 "$p"; done
wait "$CURL"
tap_ok "$([ "$(cat "$W/first.status")" != 201 ]; echo $?)" "the killed creation did not answer 201 ($(cat "$W/first.status"))"
tap_is "$(q "SELECT count(*) FROM batchup.files WHERE id IN ($IDS) AND upload_offset = size")" 4 \
    "before the final's commit the partials' rows are intact"
tap_is "$(q "SELECT count(*) FROM batchup.files WHERE concat_parts IS NOT NULL AND status = 'completed'")" 0 \
    "... and the final is not completed"
left=0
for u in "${urls[@]}"; do
    i=$(idof "$u")
    [ "$(stat -c %s "$S/files/${i:0:2}/$i" 2>/dev/null)" = "$PART" ] && left=$((left + 1))
done
tap_is "$left" 4 "... and so are their files"

# The pool answers again. (Not "6 workers back": pm is dynamic, so the pool
# regrows to its spare servers only, and that wait ran out its 20 s.)
stack_wait_health 20 || true
for _ in 1 2 3 4 5 6 7 8 9 10; do
    st=$(tus POST -H "Upload-Concat: final;${urls[*]}")
    [ "$st" = 201 ] && break
    sleep 1
done
tap_is "$st" 201 "the client's retried creation: 201"
F=$(hval Location "$W/r.h")
FID=$(idof "$F")
tap_is "$(q "SELECT count(*) FROM batchup.files WHERE concat_parts IS NOT NULL")" 1 "... one final, no duplicate"
tap_is "$(sha256sum <"$S/files/${FID:0:2}/$FID" | cut -d' ' -f1)" "$(sha256sum <"$W/all" | cut -d' ' -f1)" \
    "the final is stored byte for byte"
tap_is "$(q "SELECT sha256 FROM batchup.files WHERE id = '$FID'")" "$(sha256sum <"$W/all" | cut -d' ' -f1)" \
    "... with its SHA-256 recorded"
tap_is "$(q "SELECT count(*) FROM batchup.files WHERE id IN ($IDS)")" 0 "the partials' rows are gone after the commit"
tap_done
