#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The byte path refuses to make things worse when the disk does. A partial
# file shorter than the offset the database records (a lost write, a
# restore) is refused with upload_damaged instead of being filled with
# zeros; a file whose SHA-256 fails at its last byte, even when a lease
# renewal came with that last chunk, stays retryable (never recorded as
# complete); and a full disk answers 507 storage_full, completes nothing,
# and the upload resumes once there is room again.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

[ "$(id -u)" = 0 ] || tap_bail "needs root (it mounts a small tmpfs for the full disk)"
stack_init || tap_bail "cannot create the stack folder"
STORE=$STACK_DIR/small
mkdir -p "$STORE"
mount -t tmpfs -o size=3m tmpfs "$STORE" || tap_bail "cannot mount a tmpfs on $STORE"
trap 'umount "$STORE" 2>/dev/null; stack_cleanup' EXIT
stack_start workers=8 slot_lease_seconds=3 gc_interval_seconds=3600 "storage_dir=$STORE" ||
    tap_bail "the stack did not start"
TOKEN=$(stack_user_add una) || tap_bail "cannot add a user"
T=$STACK_DIR/t69
mkdir -p "$T"
auth() { printf 'Authorization: Bearer %s' "$TOKEN"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# batch SIZE [SHA]: one file; prints its id.
batch() {
    local extra=
    [ -n "${2:-}" ] && extra=",\"sha256\":\"$2\""
    curl -s -H "$(auth)" -H 'Content-Type: application/json' \
        --data "{\"files\":[{\"name\":\"f\",\"size\":$1$extra}]}" "$BATCHUP_URL/api/v1/batches" |
        jq -r '.files[0].id'
}
# patch ID OFFSET FILE [curl args]: status; headers in $T/h, body in $T/b.
patch() {
    local id=$1 off=$2 data=$3
    shift 3
    curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' --max-time 60 -X PATCH "$@" -H "$(auth)" \
        -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' \
        -H "Upload-Offset: $off" --data-binary @"$data" "$BATCHUP_URL/api/v1/files/$id"
}
offset() {
    curl -s -I -H "$(auth)" -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/api/v1/files/$1" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "upload-offset" {print $2}'
}
code_of() { jq -r '.error.code // "-"' "$T/b"; }

# --- a partial file shorter than the recorded offset -------------------------
head -c 2000 /dev/urandom >"$T/a"
head -c 1000 "$T/a" >"$T/a1"
tail -c 1000 "$T/a" >"$T/a2"
A=$(batch 2000)
tap_is "$(patch "$A" 0 "$T/a1")" 204 "the first 1000 bytes of an upload are stored"
truncate -s 400 "$STORE/partial/$A"
code=$(patch "$A" 1000 "$T/a2")
tap_is "$code|$(code_of)" "500|upload_damaged" "the partial file lost bytes the database counts: 500 upload_damaged"
tap_is "$(stat -c %s "$STORE/partial/$A")" 400 "... and nothing was written over the hole"
tap_is "$(offset "$A")" 1000 "HEAD still reports the recorded offset"
tap_ok "$(grep -q "upload $A is damaged" "$STACK_DIR/batchup.log"; echo $?)" "the log says which upload is damaged, and how"

# --- a SHA-256 mismatch at the last byte, with a renewal in the last chunk ---
head -c 600000 /dev/urandom >"$T/good"
cp "$T/good" "$T/bad"
printf 'X' | dd of="$T/bad" bs=1 seek=599999 conv=notrunc status=none
B=$(batch 600000 "$(sha "$T/good")")
head -c 599000 "$T/bad" >"$T/bad-head"
tail -c 1000 "$T/bad" >"$T/bad-tail"
# All but the last 1000 bytes, then a pause longer than a renewal period
# (slot_lease_seconds / 3 = 1 s), then the last chunk: the renewal falls due
# with the chunk that holds the last byte.
code=$(python3 - "$BATCHUP_URL" "$B" "$TOKEN" "$T/bad" <<'PY'
import socket, sys, time, urllib.parse
url, fid, token, path = sys.argv[1:5]
data = open(path, "rb").read()
u = urllib.parse.urlsplit(url)
s = socket.create_connection((u.hostname, u.port), timeout=30)
s.sendall((f"PATCH /api/v1/files/{fid} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
           f"Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
           f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode())
s.sendall(data[:-1000])
time.sleep(1.6)
s.sendall(data[-1000:])
reply = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    reply += chunk
head, _, body = reply.partition(b"\r\n\r\n")
open(sys.argv[4] + ".reply", "wb").write(body)
print(head.split()[1].decode())
PY
)
cp "$T/bad.reply" "$T/b" 2>/dev/null
tap_is "$code|$(code_of)" "460|checksum_mismatch" "a file that is not the SHA-256 announced for it: 460 checksum_mismatch"
kept=$(offset "$B")
tap_ok "$([ "${kept:-600000}" -lt 600000 ]; echo $?)" "the upload is not recorded complete (HEAD offset $kept < 600000)"
tail -c +"$((kept + 1))" "$T/good" >"$T/good-rest"
tap_is "$(patch "$B" "$kept" "$T/good-rest")" 204 "sending the right bytes from there completes it: 204"
tap_is "$(curl -s -H "$(auth)" "$BATCHUP_URL/api/v1/download/stream/$B" | sha256sum | cut -d' ' -f1)" "$(sha "$T/good")" \
    "the completed file is the announced one"

# --- a full disk -------------------------------------------------------------
head -c $((2 * 1024 * 1024)) /dev/urandom >"$T/filler"
cp "$T/filler" "$STORE/filler"
head -c $((1536 * 1024)) /dev/urandom >"$T/c"
C=$(batch $((1536 * 1024)))
code=$(patch "$C" 0 "$T/c")
tap_is "$code|$(code_of)" "507|storage_full" "the disk fills up mid-body: 507 storage_full"
tap_is "$(psql -XAtq -c "SELECT status FROM batchup.files WHERE id = '$C'")" uploading "nothing was completed"
kept=$(offset "$C")
tap_ok "$([ "${kept:-1}" -le "$(stat -c %s "$STORE/partial/$C" 2>/dev/null || echo 0)" ]; echo $?)" \
    "HEAD reports no more than the bytes on disk ($kept)"
rm -f "$STORE/filler"
tail -c +"$((kept + 1))" "$T/c" >"$T/c-rest"
tap_is "$(patch "$C" "$kept" "$T/c-rest")" 204 "with room again the upload resumes and completes: 204"
tap_is "$(curl -s -H "$(auth)" "$BATCHUP_URL/api/v1/download/stream/$C" | sha256sum | cut -d' ' -f1)" "$(sha "$T/c")" \
    "the file is byte-identical"

tap_done
