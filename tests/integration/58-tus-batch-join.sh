#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A stock tus client joins a batch (issue 23): a tus creation whose
# Upload-Metadata names a batch ("batch") becomes that batch's file. With
# curl through nginx: a creation matched to the declared file of its name
# and length (the same file id the batches API shows), a repeated creation
# getting the same URL, 409 batch_no_match for a file the batch does not
# declare, 404 for another user's or an unknown batch, 400 for a malformed
# id; an open batch ({"open": true}) that takes files by creation until
# POST /api/v1/batches/<id>/close and then completes with one link whose
# ZIP holds every file byte for byte; the close's own answers (repeated,
# empty, not open); max_batch_files and max_user_bytes counting an open
# batch's files as they arrive.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=6 max_batch_files=4 max_user_bytes=100000 || tap_bail "the stack did not start"
W=$STACK_DIR/t58
mkdir -p "$W"
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
BOB=$(stack_user_add bob) || tap_bail "cannot add bob"

b64() { printf '%s' "$1" | base64 -w0; }
# create TOKEN BATCH NAME LENGTH [FILE]: a tus creation (with FILE as its
# body: creation-with-upload); prints the status, headers in $W/c.h, body
# in $W/c.b.
create() {
    local body=()
    [ -n "${5:-}" ] && body=(-H 'Content-Type: application/offset+octet-stream' --data-binary "@$5")
    curl -s --max-time 20 -o "$W/c.b" -D "$W/c.h" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $1" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $4" \
        -H "Upload-Metadata: filename $(b64 "$3"),filetype $(b64 text/plain),batch $(b64 "$2")" \
        "${body[@]}" "$BATCHUP_URL/api/v1/files"
}
post() { # TOKEN URL [JSON]: prints the status, body in $W/p.b
    curl -s --max-time 10 -o "$W/p.b" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$BATCHUP_URL$2"
}
code_of() { jget 'd["error"]["code"]' <"$1"; }
nbatches() { psql -XAtc "SELECT count(*) FROM batchup.batches b JOIN batchup.users u ON u.id = b.user_id WHERE u.name = '$1'"; }

head -c 5000 /dev/urandom >"$W/one.bin"
head -c 3000 /dev/urandom >"$W/two.bin"
head -c 7001 /dev/urandom >"$W/three.bin"

# --- a batch created with its list --------------------------------------
tap_is "$(post "$ANN" /api/v1/batches '{"files":[{"name":"one.bin","size":5000},{"name":"two.bin","size":3000}]}')" 201 \
    "a batch of two declared files"
BID=$(jget 'd["id"]' <"$W/p.b")
U1=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
U2=$(jget 'd["files"][1]["upload_url"]' <"$W/p.b")
tap_is "$(create "$ANN" "$BID" one.bin 5000)" 201 "a tus creation naming the batch: 201"
tap_is "$(hval Location "$W/c.h")" "$U1" "... with the declared file's URL (the id the batches API shows)"
tap_is "$(hval Upload-Offset "$W/c.h")" 0 "... at offset 0"
tap_is "$(create "$ANN" "$BID" one.bin 5000)" 201 "the same creation again: 201"
tap_is "$(hval Location "$W/c.h")" "$U1" "... with the same URL (no second file)"
tap_is "$(create "$ANN" "$BID" one.bin 5001)" 409 "another length: 409"
tap_is "$(code_of "$W/c.b")" batch_no_match "... batch_no_match"
tap_is "$(create "$ANN" "$BID" other.bin 5000)" 409 "a name the batch does not declare: 409"
tap_is "$(create "$BOB" "$BID" two.bin 3000)" 404 "another user's batch: 404"
tap_is "$(create "$ANN" "$(cat /proc/sys/kernel/random/uuid)" two.bin 3000)" 404 "an unknown batch: 404"
tap_is "$(create "$ANN" "not-a-uuid" two.bin 3000)" 400 "a malformed batch id: 400"
tap_is "$(code_of "$W/c.b")" bad_metadata "... bad_metadata"
tap_is "$(create "$ANN" "$BID" two.bin 3000 "$W/two.bin")" 201 "creation-with-upload of the second file"
tap_is "$(hval Location "$W/c.h")" "$U2" "... is the second declared file"
tap_is "$(hval Upload-Offset "$W/c.h")" 3000 "... and stored its bytes"
tap_is "$(patch "$ANN" "$U1" "$W/one.bin")" 204 "the first file is uploaded"
get "$W/g" "$ANN" "/api/v1/batches/$BID" >/dev/null
tap_is "$(jget 'd["status"] + " " + str(len(d["files"]))' <"$W/g.b")" "complete 2" "the batch is complete, with its two files"
LINK=$(jget 'd["download_url"]' <"$W/g.b")
tap_is "$(get "$W/z" "" "$LINK")" 200 "its one link serves the ZIP"
mkdir -p "$W/u1" && (cd "$W/u1" && unzip -q ../z.b)
tap_ok "$(cmp -s "$W/u1/one.bin" "$W/one.bin" && cmp -s "$W/u1/two.bin" "$W/two.bin"; echo $?)" "the ZIP holds both files, byte for byte"
tap_is "$(nbatches ann)" 1 "ann has exactly one batch: the creations made none of their own"
tap_is "$(create "$ANN" "$BID" two.bin 3000)" 201 "a retried creation of a completed file still answers 201"
tap_is "$(hval Upload-Offset "$W/c.h")" 3000 "... at its end"
tap_is "$(create "$ANN" "$BID" new.bin 3)" 409 "a new file for the complete batch: 409"
tap_is "$(code_of "$W/c.b")" batch_finished "... batch_finished"

# --- an open batch -----------------------------------------------------
tap_is "$(post "$ANN" /api/v1/batches '{"open": true}')" 201 "an open batch with no file"
OID=$(jget 'd["id"]' <"$W/p.b")
tap_is "$(jget 'str(d["open"]) + " " + d["status"] + " " + str(len(d["files"] or []))' <"$W/p.b")" "True uploading 0" \
    "... open, uploading, no file"
tap_is "$(post "$ANN" "/api/v1/batches/$OID/close")" 409 "an empty open batch cannot be closed"
tap_is "$(code_of "$W/p.b")" batch_empty "... batch_empty"
for f in one two three; do
    create "$ANN" "$OID" "$f.bin" "$(stat -c %s "$W/$f.bin")" >"$W/st"
    echo "$(cat "$W/st") $(hval Location "$W/c.h")" >"$W/loc.$f"
done
tap_like "$(cat "$W/loc.one" "$W/loc.two" "$W/loc.three" | tr '\n' ' ')" \
    '^201 /api/v1/files/[0-9a-f-]{36} 201 /api/v1/files/[0-9a-f-]{36} 201 /api/v1/files/[0-9a-f-]{36} $' \
    "three creations add three files"
tap_is "$(create "$ANN" "$OID" one.bin 5000)" 201 "a retried creation in the open batch: 201"
tap_is "$(hval Location "$W/c.h")" "$(cut -d' ' -f2 "$W/loc.one")" "... the same file"
tap_is "$(create "$ANN" "$OID" one.bin 4)" 409 "the same name with another length: 409"
tap_is "$(code_of "$W/c.b")" batch_name_taken "... batch_name_taken"
tap_is "$(create "$ANN" "$OID" big.bin 99000)" 413 "max_user_bytes counts the open batch's files as they arrive"
tap_is "$(code_of "$W/c.b")" quota_exceeded "... quota_exceeded"
tap_is "$(create "$ANN" "$OID" four.bin 1)" 201 "a fourth file (max_batch_files=4)"
U4=$(hval Location "$W/c.h")
tap_is "$(create "$ANN" "$OID" five.bin 1)" 413 "a fifth: 413"
tap_is "$(code_of "$W/c.b")" too_many_files "... too_many_files"
printf 'x' >"$W/four.bin"
for f in one two three four; do
    if [ "$f" = four ]; then u=$U4; else u=$(cut -d' ' -f2 "$W/loc.$f"); fi
    patch "$ANN" "$u" "$W/$f.bin" >>"$W/patches"
done
tap_is "$(cat "$W/patches")" 204204204204 "all four files are uploaded"
get "$W/g" "$ANN" "/api/v1/batches/$OID" >/dev/null
tap_is "$(jget 'd["status"] + " " + ",".join(f["status"] for f in d["files"])' <"$W/g.b")" \
    "uploading completed,completed,completed,completed" "every file completed: the open batch waits for its close"
tap_is "$(post "$ANN" "/api/v1/batches/$OID/close")" 200 "POST .../close: 200"
tap_is "$(jget 'd["status"] + " " + str(d["open"])' <"$W/p.b")" "complete False" "... the batch is complete at once"
LINK=$(jget 'd["download_url"]' <"$W/p.b")
tap_is "$(get "$W/z2" "" "$LINK")" 200 "its one link serves the ZIP"
mkdir -p "$W/u2" && (cd "$W/u2" && unzip -q ../z2.b)
tap_ok "$(for f in one two three four; do cmp -s "$W/u2/$f.bin" "$W/$f.bin" || exit 1; done; echo 0)" \
    "the ZIP holds the four files, byte for byte"
tap_is "$(ls "$W/u2" | wc -l)" 4 "... and nothing else"
tap_is "$(post "$ANN" "/api/v1/batches/$OID/close")" 200 "a repeated close: 200"
tap_is "$(post "$ANN" "/api/v1/batches/$BID/close")" 409 "closing a batch created with its list: 409"
tap_is "$(code_of "$W/p.b")" batch_not_open "... batch_not_open"
tap_is "$(post "$BOB" "/api/v1/batches/$OID/close")" 404 "another user's close: 404"

# --- closed before its files are uploaded --------------------------------
tap_is "$(post "$ANN" /api/v1/batches '{"open": true, "files": [{"name": "one.bin", "size": 5000}]}')" 201 \
    "an open batch declaring one file"
CID=$(jget 'd["id"]' <"$W/p.b")
C1=$(jget 'd["files"][0]["upload_url"]' <"$W/p.b")
tap_is "$(create "$ANN" "$CID" one.bin 5000)" 201 "a creation is matched to it"
tap_is "$(hval Location "$W/c.h")" "$C1" "... the declared file"
tap_is "$(create "$ANN" "$CID" two.bin 3000)" 201 "another is added"
C2=$(hval Location "$W/c.h")
tap_is "$(post "$ANN" "/api/v1/batches/$CID/close")" 200 "closed with both files to upload"
tap_is "$(jget 'd["status"]' <"$W/p.b")" uploading "... it is still uploading"
tap_is "$(create "$ANN" "$CID" three.bin 7001)" 409 "a closed batch takes no new file"
tap_is "$(patch "$ANN" "$C1" "$W/one.bin")$(patch "$ANN" "$C2" "$W/two.bin")" 204204 "both files are uploaded"
get "$W/g" "$ANN" "/api/v1/batches/$CID" >/dev/null
tap_is "$(jget 'd["status"]' <"$W/g.b")" complete "the last one completed the closed batch"
# --- creations at once: decided one at a time under the user's lock ------
tap_is "$(post "$ANN" /api/v1/batches '{"open": true}')" 201 "another open batch"
PID_=$(jget 'd["id"]' <"$W/p.b")
pids=()
for i in 1 2 3 4 5 6 7 8; do
    name=p$(((i - 1) % 4)).bin
    curl -s --max-time 20 -o /dev/null -D "$W/par.$i" -w '%{http_code}\n' -X POST \
        -H "Authorization: Bearer $ANN" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 10' \
        -H "Upload-Metadata: filename $(b64 "$name"),batch $(b64 "$PID_")" "$BATCHUP_URL/api/v1/files" >"$W/par.$i.code" &
    pids+=($!)
done
wait "${pids[@]}"
tap_is "$(cat "$W"/par.*.code | sort | uniq -c | awk '{print $1 "x" $2}')" 8x201 \
    "eight creations at once, each name twice: all 201"
tap_is "$(for i in 1 2 3 4; do [ "$(hval Location "$W/par.$i")" = "$(hval Location "$W/par.$((i + 4))")" ] && echo same; done | wc -l)" 4 \
    "the two creations of each name got the same URL"
tap_is "$(psql -XAtc "SELECT files_total || ' ' || count(DISTINCT f.name) FROM batchup.batches b JOIN batchup.files f ON f.batch_id = b.id WHERE b.id = '$PID_' GROUP BY files_total")" "4 4" \
    "the batch holds four files, one a name"

tap_is "$(post "$ANN" /api/v1/batches '{"open": "yes"}')" 400 "\"open\" must be a boolean"
tap_is "$(post "$ANN" /api/v1/batches '{"open": false}')" 400 "a batch that is not open needs its files"
tap_is "$(nbatches ann)" 4 "ann has four batches"
tap_done
