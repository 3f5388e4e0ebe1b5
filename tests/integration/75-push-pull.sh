#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# batchup push and pull (issue 23 item 4), through the stack's nginx:
# - a directory tree (nested names) pushed as one batch: the link is
#   printed, the batch keeps the relative paths as names, its ZIP is
#   byte-exact against the sources;
# - per_user_limit 2 with 5 files and --parallel 5: the files beyond the
#   limit are told 423 (queued, with their position) and wait, and all
#   complete; without --parallel the client opens as many streams as
#   GET /api/v1/batches says the user may (upload_limit);
# - a push killed (SIGKILL) while a 200 MB file is in flight, run again:
#   exactly one batch, the ZIP exact, and the PATCH bytes the server
#   received the second time (bytes_in in batchup.log) are the remainder
#   only;
# - a changed file after an interrupted push is refused;
# - pull round-trips the batch (nested names back), and a pull killed
#   mid-file resumes its part with Range instead of starting over; so does
#   a pull --zip killed mid-ZIP (Range + If-Range with the kept ETag): the
#   second run fetches the remainder only, the ZIP byte-exact.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 per_user_limit=2 queue_retry_seconds=1 || tap_bail "the stack did not start"
W=$STACK_DIR/t75
mkdir -p "$W"
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
export BATCHUP_TOKEN=$ANN XDG_STATE_HOME=$W/state
B=$BATCHUP_BIN

nbatches() { psql -XAtc "SELECT count(*) FROM batchup.batches b JOIN batchup.users u ON u.id = b.user_id WHERE u.name = 'ann'"; }
# patch_bytes: the body bytes of every PATCH in batchup.log so far.
patch_bytes() { grep -a 'request "\?PATCH' "$STACK_DIR/batchup.log" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^"?\/api\/v1\/files\//) {s += $(i + 2); break}} END {print s + 0}'; }
# unzip_to ZIP DIR: unpack the link's ZIP.
unzip_to() { mkdir -p "$2" && (cd "$2" && unzip -q "$1"); }

# --- a tree as one batch, queued behind the limit -------------------------
mkdir -p "$W/tree/sub/deep" "$W/tree/other"
for f in a.bin sub/b.bin sub/deep/c.bin other/d.bin other/e.bin; do
    head -c $((20 * 1024 * 1024 + RANDOM)) /dev/urandom >"$W/tree/$f"
done
LINK=$("$B" push --parallel 5 --json "$W/tree" 2>"$W/push1.err")
tap_is "$?" 0 "push of a tree of 5 files exits 0"
tap_like "$LINK" "^$BATCHUP_URL/api/v1/download/batch/[A-Za-z0-9_-]{43}\$" "... and prints the absolute batch link"
tap_is "$(nbatches)" 1 "... as exactly one batch"
tap_is "$(psql -XAtc "SELECT string_agg(name, ' ' ORDER BY name) FROM batchup.files")" \
    "tree/a.bin tree/other/d.bin tree/other/e.bin tree/sub/b.bin tree/sub/deep/c.bin" \
    "... whose names are the relative paths"
tap_ok "$(grep -c '"event":"queued"' "$W/push1.err" | awk '{print ($1 > 0) ? 0 : 1}')" \
    "the files beyond per_user_limit 2 were queued (423) and waited"
tap_like "$(grep '"event":"queued"' "$W/push1.err" | head -n 1)" '"position":[1-9]' "... with their queue position"
tap_is "$(grep -c '"event":"completed"' "$W/push1.err")" 5 "... and all 5 completed"
curl -s --max-time 60 -o "$W/z1.zip" "$LINK"
unzip_to "$W/z1.zip" "$W/u1"
tap_ok "$(for f in a.bin sub/b.bin sub/deep/c.bin other/d.bin other/e.bin; do
    cmp -s "$W/tree/$f" "$W/u1/tree_${f//\//_}" || { echo "$f"; exit 1; }
done; echo 0)" "the ZIP holds every file byte for byte (the ZIP flattens paths with _)"
tap_is "$(ls "$W/state/batchup" | wc -l)" 0 "a finished push leaves no state behind"

# --- the default parallelism is the server's limit -----------------------
get "$W/l" "$ANN" "/api/v1/batches?limit=1" >/dev/null
tap_is "$(jget 'd["upload_limit"]' <"$W/l.b")" 2 "GET /api/v1/batches tells upload_limit (per_user_limit 2)"
mkdir -p "$W/three"
for f in x y z; do head -c 1000 /dev/urandom >"$W/three/$f"; done
"$B" push --json "$W/three" >/dev/null 2>"$W/push2.err"
tap_like "$(grep '"event":"batch"' "$W/push2.err")" '"parallel":2' "push without --parallel uses 2 streams"
tap_is "$(grep -c '"event":"queued"' "$W/push2.err")" 0 "... and so is never queued"

# --- killed mid-batch, run again --------------------------------------------
mkdir -p "$W/big"
head -c $((200 * 1024 * 1024)) /dev/urandom >"$W/big/large.bin"
head -c 12345 /dev/urandom >"$W/big/small.txt"
before=$(patch_bytes)
"$B" push --json "$W/big" >"$W/push3.out" 2>"$W/push3.err" &
PUSH=$!
off=0
for _ in $(seq 1 300); do
    fid=$(psql -XAtc "SELECT id FROM batchup.files WHERE name = 'big/large.bin'")
    if [ -n "$fid" ]; then
        curl -s --max-time 5 -I -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' \
            "$BATCHUP_URL/api/v1/files/$fid" >"$W/head.h"
        off=$(hval Upload-Offset "$W/head.h")
        [ "${off:-0}" -gt 0 ] && break
    fi
    sleep 0.05
done
kill -KILL "$PUSH"
wait "$PUSH" 2>/dev/null
sleep 1
curl -s --max-time 5 -I -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' \
    "$BATCHUP_URL/api/v1/files/$fid" >"$W/head.h"
had=$(hval Upload-Offset "$W/head.h")
tap_ok "$([ "${had:-0}" -gt 0 ] && [ "$had" -lt $((200 * 1024 * 1024)) ]; echo $?)" \
    "push killed with the large file in flight (server offset $had of 209715200)"
tap_is "$(ls "$W/state/batchup" | wc -l)" 1 "... its state is kept"
first=$(($(patch_bytes) - before))
tap_diag "bytes the server received in the killed run: $first"
before=$(patch_bytes)
LINK3=$("$B" push --json "$W/big" 2>"$W/push4.err")
tap_is "$?" 0 "the same command again completes"
second=$(($(patch_bytes) - before))
small_left=$(grep -c 'completed","name":"big/small.txt' "$W/push3.err")
expect=$((200 * 1024 * 1024 - had))
[ "$small_left" -eq 0 ] && expect=$((expect + 12345))
tap_diag "bytes the server received in the second run: $second (remainder $expect)"
tap_is "$second" "$expect" "the second run sent exactly the remainder: no byte twice"
tap_is "$(nbatches)" 3 "... into the same batch (ann has 3 batches in all)"
curl -s --max-time 60 -o "$W/z3.zip" "$LINK3"
unzip_to "$W/z3.zip" "$W/u3"
tap_ok "$(cmp -s "$W/big/large.bin" "$W/u3/big_large.bin" && cmp -s "$W/big/small.txt" "$W/u3/big_small.txt"; echo $?)" \
    "the resumed batch's ZIP is byte-exact"

# --- a changed file after an interrupted push ---------------------------------
mkdir -p "$W/chg"
head -c $((50 * 1024 * 1024)) /dev/urandom >"$W/chg/f.bin"
"$B" push "$W/chg" >/dev/null 2>&1 &
PUSH=$!
for _ in $(seq 1 100); do
    [ -n "$(psql -XAtc "SELECT id FROM batchup.files WHERE name = 'chg/f.bin'")" ] && break
    sleep 0.05
done
kill -KILL "$PUSH"
wait "$PUSH" 2>/dev/null
touch -d '2020-01-01' "$W/chg/f.bin"
"$B" push "$W/chg" >/dev/null 2>"$W/chg.err"
tap_is "$?" 1 "a file changed since the interrupted push: exit status 1"
tap_like "$(cat "$W/chg.err")" 'f.bin changed since the interrupted push' "... with a message naming it"

# --- pull ------------------------------------------------------------------------
"$B" pull "$LINK" -o "$W/p1" >/dev/null 2>"$W/pull1.err"
tap_is "$?" 0 "pull of the tree exits 0"
tap_ok "$(for f in a.bin sub/b.bin sub/deep/c.bin other/d.bin other/e.bin; do
    cmp -s "$W/tree/$f" "$W/p1/tree/$f" || { echo "$f"; exit 1; }
done; echo 0)" "... and gives back the tree, nested names and bytes"
"$B" pull "$LINK" --zip -o "$W/p2" >"$W/pull2.out"
tap_ok "$(cmp -s "$W/z1.zip" "$W/p2/$(cat "$W/pull2.out")"; echo $?)" "pull --zip keeps the link's ZIP"
# A pull killed mid-file resumes its part.
"$B" pull "$LINK3" -o "$W/p3" >/dev/null 2>&1 &
PULL=$!
for _ in $(seq 1 300); do
    [ "$(stat -c %s "$W/p3/big/large.bin.batchup-part" 2>/dev/null || echo 0)" -gt 0 ] && break
    sleep 0.02
done
kill -KILL "$PULL"
wait "$PULL" 2>/dev/null
part=$(stat -c %s "$W/p3/big/large.bin.batchup-part" 2>/dev/null || echo 0)
tap_ok "$([ "$part" -gt 0 ] && [ "$part" -lt $((200 * 1024 * 1024)) ]; echo $?)" "pull killed mid-file leaves a part ($part bytes)"
"$B" pull "$LINK3" -o "$W/p3" >/dev/null 2>"$W/pull3.err"
tap_is "$?" 0 "the same pull again completes"
tap_ok "$(cmp -s "$W/big/large.bin" "$W/p3/big/large.bin" && cmp -s "$W/big/small.txt" "$W/p3/big/small.txt"; echo $?)" \
    "... byte-exact"
tap_like "$(grep -a "\"GET\" \"/api/v1/download/batch/[^\"]*/files/$fid\"" "$STACK_DIR/batchup.log" | tail -n 1)" \
    " 206 0 $((200 * 1024 * 1024 - part)) " "... asking the rest with Range (206, the remainder only)"
# A pull --zip killed mid-ZIP resumes its part with Range and If-Range (the
# ETag it kept before the first byte), fetching only the rest.
"$B" pull "$LINK3" --zip -o "$W/p4" >/dev/null 2>&1 &
PULL=$!
for _ in $(seq 1 300); do
    zpart=$(find "$W/p4" -name '*.zip.batchup-part' 2>/dev/null | head -n 1)
    [ -n "$zpart" ] && [ "$(stat -c %s "$zpart")" -gt 0 ] && break
    sleep 0.02
done
kill -KILL "$PULL"
wait "$PULL" 2>/dev/null
part=$(stat -c %s "$zpart" 2>/dev/null || echo 0)
ztotal=$(stat -c %s "$W/z3.zip")
tap_ok "$([ "$part" -gt 0 ] && [ "$part" -lt "$ztotal" ]; echo $?)" \
    "pull --zip killed mid-ZIP leaves a part ($part of $ztotal bytes)"
"$B" pull "$LINK3" --zip -o "$W/p4" >"$W/pull4.out" 2>"$W/pull4.err"
tap_is "$?" 0 "the same pull --zip again completes"
tap_ok "$(cmp -s "$W/z3.zip" "$W/p4/$(cat "$W/pull4.out")"; echo $?)" "... and the ZIP is byte-exact"
tap_like "$(grep -a '"GET" "/api/v1/download/batch/[^"/]*"' "$STACK_DIR/batchup.log" | tail -n 1)" \
    " 206 0 $((ztotal - part)) " "... asking the rest with Range and If-Range (206, the remainder only)"
tap_ok "$(find "$W/p4" -name '*.batchup-part*' | grep -q .; echo $((!$?)))" "... leaving no part or ETag file behind"
tap_done
