#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tus concatenation (issue 23 §3), with curl through nginx: partial
# uploads (Upload-Concat: partial) and the final made of them (final;<urls>,
# paths and absolute URLs of this host), stored byte for byte (the SHA-256
# of the file in storage and in the database is the source's); a final of
# unfinished partials is 400; another user's partial is 404 for HEAD,
# PATCH, DELETE and in a final; a retried final answers the same URL; a
# PATCH of a final is 403; partials are streams (the 6th concurrent one of
# a user with limit 5 is 423) but no batch of the listing; a final joining
# a declared batch completes it with one link and a byte-exact ZIP; the
# partials' rows and files are gone once the final commits; parked
# partials count in max_user_bytes, the final in max_file_size; a partial
# left alone expires and the maintenance pass removes its data; parts left
# on disk after the final's commit (a worker killed in between) are the
# orphan sweep's.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=10 max_file_size=8388608 max_user_bytes=30000000 gc_interval_seconds=0 \
    orphan_grace_seconds=2 ||
    tap_bail "the stack did not start"
W=$STACK_DIR/t55
S=$STACK_DIR/storage
mkdir -p "$W"
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
BOB=$(stack_user_add bob) || tap_bail "cannot add bob"
HOST=${BATCHUP_URL#http://}

b64() { printf '%s' "$1" | base64 -w0; }
# tus TOKEN METHOD URL [headers...]: prints the status; headers in $W/r.h,
# body in $W/r.b.
tus() {
    local tok=$1 method=$2 url=$3
    shift 3
    curl -s --max-time 30 -o "$W/r.b" -D "$W/r.h" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $tok" -H 'Tus-Resumable: 1.0.0' "$@" "$BATCHUP_URL$url"
}
head_of() { # TOKEN URL: HEAD, headers in $W/r.h
    curl -s --max-time 10 -o /dev/null -D "$W/r.h" -w '%{http_code}' -I \
        -H "Authorization: Bearer $1" -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL$2"
}
partial() { # TOKEN LENGTH: a partial upload; prints its URL (or the status)
    local st
    st=$(tus "$1" POST /api/v1/files -H 'Upload-Concat: partial' -H "Upload-Length: $2")
    if [ "$st" = 201 ]; then hval Location "$W/r.h"; else echo "status-$st"; fi
}
final() { # TOKEN "URL URL..." [METADATA]: the final's creation; prints the status
    local meta=()
    [ -n "${3:-}" ] && meta=(-H "Upload-Metadata: $3")
    tus "$1" POST /api/v1/files -H "Upload-Concat: final;$2" "${meta[@]}"
}
code_of() { jget 'd["error"]["code"]' <"$W/r.b"; }
idof() { basename "$1"; }
q() { psql -XAtc "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# A 3 MiB + 7 file in three uneven parts.
head -c $((3 * 1048576 + 7)) /dev/urandom >"$W/src.bin"
head -c 1048576 "$W/src.bin" >"$W/p1"
tail -c +1048577 "$W/src.bin" | head -c 1500000 >"$W/p2"
tail -c +2548577 "$W/src.bin" >"$W/p3"

# --- partials ------------------------------------------------------------
P1=$(partial "$ANN" "$(stat -c %s "$W/p1")")
P2=$(partial "$ANN" "$(stat -c %s "$W/p2")")
P3=$(partial "$ANN" "$(stat -c %s "$W/p3")")
tap_like "$P1 $P2 $P3" '^/api/v1/files/[0-9a-f-]{36} /api/v1/files/[0-9a-f-]{36} /api/v1/files/[0-9a-f-]{36}$' \
    "three partial uploads are created"
tap_is "$(head_of "$ANN" "$P1")" 200 "HEAD of a partial: 200"
tap_is "$(hval Upload-Concat "$W/r.h")" partial "... Upload-Concat: partial"
tap_is "$(tus "$ANN" OPTIONS /api/v1/files >/dev/null; hval Tus-Extension "$W/r.h")" \
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation" \
    "Tus-Extension advertises concatenation"
tap_is "$(tus "$ANN" GET /api/v1/batches >/dev/null; jget 'len(d["batches"])' <"$W/r.b")" 0 \
    "partial uploads are no batches of the listing"
tap_is "$(patch "$ANN" "$P1" "$W/p1")" 204 "the first partial is uploaded"
tap_is "$(final "$ANN" "$P1 $P2 $P3")" 400 "a final of unfinished partials: 400"
tap_is "$(code_of)" concat_incomplete "... concat_incomplete"
tap_is "$(patch "$ANN" "$P2" "$W/p2")$(patch "$ANN" "$P3" "$W/p3")" 204204 "the other two are uploaded"
tap_is "$(head_of "$ANN" "$P3")" 200 "HEAD of the complete partial: 200"
tap_is "$(hval Upload-Offset "$W/r.h")" "$(stat -c %s "$W/p3")" "... at its full offset"

# --- another user's partials ---------------------------------------------
tap_is "$(head_of "$BOB" "$P1")" 404 "another user's partial: HEAD 404"
tap_is "$(patch "$BOB" "$P1" "$W/p1" 0)" 404 "... PATCH 404"
tap_is "$(tus "$BOB" DELETE "$P1")" 404 "... DELETE 404"
tap_is "$(final "$BOB" "$P1 $P2 $P3")" 404 "... and 404 in a final"
tap_is "$(final "$ANN" "$P1 http://evil.example/api/v1/files/$(idof "$P2") $P3")" 400 \
    "a URL of another host: 400"
tap_is "$(code_of)" bad_concat "... bad_concat"
tap_is "$(final "$ANN" "$P1 /api/v1/batches/$(idof "$P2")")" 400 "a URL that is no upload's: 400"

# --- the final ------------------------------------------------------------
LIST="$P1 http://$HOST$P2 $P3"
tap_is "$(final "$ANN" "$LIST" "filename $(b64 whole.bin)")" 201 "the final (paths and an absolute URL): 201"
F=$(hval Location "$W/r.h")
tap_is "$(hval Upload-Offset "$W/r.h")" "$(stat -c %s "$W/src.bin")" "... complete at once, at the sum of the parts"
FID=$(idof "$F")
tap_is "$(sha "$S/files/${FID:0:2}/$FID")" "$(sha "$W/src.bin")" "the stored file is the source, byte for byte"
tap_is "$(q "SELECT sha256 || ' ' || status FROM batchup.files WHERE id = '$FID'")" "$(sha "$W/src.bin") completed" \
    "... and so is the SHA-256 the database recorded"
IDS="'$(idof "$P1")','$(idof "$P2")','$(idof "$P3")'"
tap_is "$(q "SELECT count(*) FROM batchup.files WHERE id IN ($IDS)")" 0 "the partials' rows are gone"
left=0
for p in "$P1" "$P2" "$P3"; do
    i=$(idof "$p")
    [ -e "$S/partial/$i" ] || [ -e "$S/files/${i:0:2}/$i" ] && left=$((left + 1))
done
tap_is "$left" 0 "... and their files"
tap_is "$(head_of "$ANN" "$F")" 200 "HEAD of the final: 200"
tap_is "$(hval Upload-Concat "$W/r.h")" "final;$P1 $P2 $P3" "... Upload-Concat: final; and its parts"
tap_is "$(hval Upload-Length "$W/r.h") $(hval Upload-Offset "$W/r.h")" \
    "$(stat -c %s "$W/src.bin") $(stat -c %s "$W/src.bin")" "... its length and offset"
tap_is "$(final "$ANN" "$LIST" "filename $(b64 whole.bin)")" 201 "the same final again: 201"
tap_is "$(hval Location "$W/r.h")" "$F" "... with the same URL"
tap_is "$(q "SELECT count(*) FROM batchup.files f JOIN batchup.users u ON u.id = f.user_id WHERE u.name = 'ann'")" 1 \
    "... and no second file"
tap_is "$(patch "$ANN" "$F" "$W/p1" "$(stat -c %s "$W/src.bin")")" 403 "a PATCH of the final: 403"
tap_is "$(tus "$ANN" GET /api/v1/batches >/dev/null; jget 'str(len(d["batches"])) + " " + d["batches"][0]["status"]' <"$W/r.b")" \
    "1 complete" "the listing has one batch, the final's, complete"

# --- partials are streams: they take slots ----------------------------------
head -c 300000 /dev/urandom >"$W/slow"
pids=()
for n in 1 2 3 4 5; do
    u=$(partial "$ANN" 300000)
    curl -s --max-time 40 --limit-rate 40k -o /dev/null -X PATCH -H "Authorization: Bearer $ANN" \
        -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
        --data-binary "@$W/slow" "$BATCHUP_URL$u" &
    pids+=($!)
done
U6=$(partial "$ANN" 300000)
for _ in $(seq 50); do
    [ "$(q "SELECT count(*) FROM batchup.slots s JOIN batchup.users u ON u.id = s.user_id WHERE u.name = 'ann'")" = 5 ] && break
    sleep 0.1
done
tap_is "$(patch "$ANN" "$U6" "$W/slow")" 423 "the 6th concurrent partial stream of a user with limit 5: 423"
for p in "${pids[@]}"; do wait "$p"; done

# --- a final joins a declared batch ---------------------------------------
head -c 2000000 /dev/urandom >"$W/big.bin"
head -c 1000000 "$W/big.bin" >"$W/b1"
tail -c +1000001 "$W/big.bin" >"$W/b2"
printf 'small file\n' >"$W/small.txt"
tap_is "$(tus "$ANN" POST /api/v1/batches -H 'Content-Type: application/json' \
    --data-binary '{"files":[{"name":"big.bin","size":2000000},{"name":"small.txt","size":11}]}')" 201 \
    "a batch declaring big.bin and small.txt"
BID=$(jget 'd["id"]' <"$W/r.b")
UBIG=$(jget 'd["files"][0]["upload_url"]' <"$W/r.b")
USMALL=$(jget 'd["files"][1]["upload_url"]' <"$W/r.b")
tap_is "$(patch "$ANN" "$USMALL" "$W/small.txt")" 204 "small.txt is uploaded"
B1=$(partial "$ANN" 1000000)
B2=$(partial "$ANN" 1000000)
tap_is "$(patch "$ANN" "$B1" "$W/b1")$(patch "$ANN" "$B2" "$W/b2")" 204204 "big.bin's two partials are uploaded"
tap_is "$(final "$ANN" "$B1 $B2" "filename $(b64 big.bin),filetype $(b64 application/octet-stream),batch $(b64 "$BID")")" \
    201 "the final naming the batch: 201"
tap_is "$(hval Location "$W/r.h")" "$UBIG" "... it is the declared big.bin"
get "$W/g" "$ANN" "/api/v1/batches/$BID" >/dev/null
tap_is "$(jget 'd["status"] + " " + str(len(d["files"]))' <"$W/g.b")" "complete 2" \
    "the batch is complete, with its two files (no partial among them)"
LINK=$(jget 'd["download_url"]' <"$W/g.b")
tap_is "$(get "$W/z" "" "$LINK")" 200 "its one link serves the ZIP"
mkdir -p "$W/u" && (cd "$W/u" && unzip -q ../z.b)
tap_ok "$(cmp -s "$W/u/big.bin" "$W/big.bin" && cmp -s "$W/u/small.txt" "$W/small.txt"; echo $?)" \
    "the ZIP holds both files, byte for byte"
tap_is "$(q "SELECT count(*) FROM batchup.batches WHERE download_token IS NOT NULL AND user_id = (SELECT id FROM batchup.users WHERE name = 'ann')")" \
    2 "links: the first final's batch and this one, none for a partial"

# --- quotas -----------------------------------------------------------------
tap_is "$(final "$ANN" "$(partial "$ANN" 5000000) $(partial "$ANN" 5000000)")" 413 \
    "a final past max_file_size (8 MiB): 413"
tap_is "$(code_of)" file_too_large "... file_too_large"
PARK=$(partial "$ANN" 8000000)
tap_like "$PARK" '^/api/v1/files/' "a parked partial of 8 MB"
tap_is "$(tus "$ANN" POST /api/v1/files -H 'Upload-Length: 8000000')" 413 \
    "parked partials count in max_user_bytes: the next 8 MB creation is refused"
tap_is "$(code_of)" quota_exceeded "... quota_exceeded"

# --- a partial nobody finishes expires like any upload ---------------------
OLD=$(partial "$ANN" 1000)
head -c 1000 /dev/urandom >"$W/old"
tap_is "$(patch "$ANN" "$OLD" "$W/old")" 204 "a partial is uploaded, and left alone"
OID=$(idof "$OLD")
tap_ok "$(test -f "$S/files/${OID:0:2}/$OID"; echo $?)" "... its bytes are in files/"
psql -XAtqc "UPDATE batchup.files SET updated_at = now() - interval '2 days', last_seen_at = NULL,
                    created_at = now() - interval '2 days' WHERE id = '$OID'"
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >/dev/null 2>&1
tap_is "$(q "SELECT f.status || ' ' || b.status || ' ' || (b.download_token IS NULL) FROM batchup.files f
             JOIN batchup.batches b ON b.id = f.batch_id WHERE f.id = '$OID'")" "expired expired true" \
    "the maintenance pass expires it (and its hidden batch, without a link)"
tap_ok "$(test ! -e "$S/files/${OID:0:2}/$OID" && test ! -e "$S/partial/$OID"; echo $?)" "... and removes its data"
tap_is "$(final "$ANN" "$OLD")" 410 "a final of an expired partial: 410"

# --- a worker dead between the final's commit and the parts' removal ------
# The commit deleted the parts' rows; their data, left behind as such a
# worker leaves it, is the orphan sweep's.
I1=$(idof "$P1")
mkdir -p "$S/files/${I1:0:2}" && cp "$W/p1" "$S/files/${I1:0:2}/$I1" && cp "$W/p2" "$S/partial/$I1"
touch -d '1 hour ago' "$S/files/${I1:0:2}/$I1" "$S/partial/$I1"
rm -f "$S/.swept"
"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >"$W/gc.out" 2>&1
tap_ok "$(test ! -e "$S/files/${I1:0:2}/$I1" && test ! -e "$S/partial/$I1"; echo $?)" \
    "a committed final's parts left on disk are removed by the orphan sweep"
tap_is "$(sha "$S/files/${FID:0:2}/$FID")" "$(sha "$W/src.bin")" "... and the final is kept"
tap_done
