#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Opt-in (BATCHUP_BIG_TESTS=1): a ZIP over 4 GiB, written and read back.
#
# A batch of a small file, one file of 4500 MiB (uploaded through nginx from
# a sparse file; the server stores real zeros) and another small file, so
# that the big entry needs ZIP64 sizes and the last one a ZIP64 offset. The
# archive is downloaded to a file and checked: Content-Length = bytes,
# `unzip -t`, python3 zipfile testzip(), the sizes, the CRC-32 of the big
# entry computed here, the ZIP64 end records, and the small entries' bytes.
# Needs about 9 GiB of free disk where the stack lives (checked: 12 GiB);
# everything big is removed at the end.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

if [ "${BATCHUP_BIG_TESTS:-0}" != 1 ]; then
    echo "ok 1 - # SKIP set BATCHUP_BIG_TESTS=1"
    echo "1..1"
    exit 0
fi

. tests/lib/stack.sh
. tests/lib/api.sh
PY=$(stack__python)
BIG_MIB=${BIG_MIB:-4500}
NEED_KIB=$((12 << 20))

stack_init || tap_bail "cannot create the stack folder"
free_kib=$(df -Pk "$STACK_DIR" | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt "$NEED_KIB" ]; then
    echo "ok 1 - # SKIP only $((free_kib >> 20)) GiB free in $STACK_DIR, 12 GiB needed"
    echo "1..1"
    exit 0
fi
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t79
mkdir -p "$W"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"
T0=$SECONDS

head -c 1048577 /dev/urandom >"$W/0"
truncate -s "${BIG_MIB}M" "$W/1"
head -c 100003 /dev/urandom >"$W/2"
BIG=$(stat -c %s "$W/1")
tap_ok 0 "a sparse file of $BIG bytes ($(du -k "$W/1" | cut -f1) KiB on disk) and two small ones"
resp=$(batch_create "$ALICE" \
    "{\"files\":[{\"name\":\"small-1.bin\",\"size\":1048577},{\"name\":\"zeros-4.4GiB.img\",\"size\":$BIG},{\"name\":\"small-2 — après.bin\",\"size\":100003}]}")
BID=$(printf '%s' "$resp" | jget 'd["id"]')
[ -n "$BID" ] || tap_bail "cannot create the batch: $resp"
t=$SECONDS
bad=0
for i in 0 1 2; do
    url=$(printf '%s' "$resp" | jget "d['files'][$i]['upload_url']")
    code=$(patch_stream "$ALICE" "$url" "$W/$i" 900)
    [ "$code" = 204 ] || { bad=$((bad + 1)); tap_diag "file $i: PATCH answered $code"; }
done
tap_is "$bad" 0 "the three files are uploaded through nginx ($((SECONDS - t)) s)"
state=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")
ZURL=$(printf '%s' "$state" | jget 'd["download_url"]')
tap_like "$ZURL" '^/api/v1/download/batch/' "the batch is complete"
rm -f "$W/1"

t=$SECONDS
code=$(curl -s --max-time 900 -D "$W/zip.h" -o "$W/big.zip" -w '%{http_code}' "$BATCHUP_URL$ZURL")
tap_is "$code" 200 "the ZIP downloads: 200 ($((SECONDS - t)) s)"
CL=$(tr -d '\r' <"$W/zip.h" | sed -n 's/^[Cc]ontent-[Ll]ength: *//p')
GOT=$(stat -c %s "$W/big.zip")
tap_is "$CL" "$GOT" "Content-Length ($CL) equals the bytes received"
[ "$GOT" -gt 4294967295 ]
tap_ok $? "the archive is larger than 4 GiB"

t=$SECONDS
out=$(unzip -t "$W/big.zip" 2>&1)
rc=$?
tap_ok $rc "unzip -t passes ($((SECONDS - t)) s)"
[ $rc = 0 ] || tap_diag "$out"

t=$SECONDS
"$PY" - "$W" "$BIG" <<'PY' >"$W/py.out" 2>&1
import os, struct, sys, zipfile, zlib
w, big = sys.argv[1], int(sys.argv[2])
p = os.path.join(w, "big.zip")
def ok(c, what):
    print("%d\t%s" % (0 if c else 1, what), flush=True)
zf = zipfile.ZipFile(p)
infos = zf.infolist()
ok([i.filename for i in infos] == ["small-1.bin", "zeros-4.4GiB.img", "small-2 — après.bin"] and
   all(i.flag_bits & 0x800 for i in infos), "three entries with their names, flagged UTF-8")
ok([i.file_size for i in infos] == [1048577, big, 100003] and
   [i.compress_size for i in infos] == [1048577, big, 100003], "the sizes, the big one over 4 GiB (ZIP64)")
ok(infos[2].header_offset > 0xFFFFFFFF, "the last entry's offset is past 4 GiB (%d, ZIP64)" % infos[2].header_offset)
crc = 0
zero = bytes(1 << 24)
left = big
while left:
    n = min(left, len(zero))
    crc = zlib.crc32(zero[:n], crc)
    left -= n
ok(infos[1].CRC == crc, "the big entry's CRC-32 is that of %d zero bytes (%08x)" % (big, crc))
ok(zf.testzip() is None, "python3 zipfile testzip() reads every entry with a good CRC")
for k in (0, 2):
    ok(zf.read(infos[k]) == open(os.path.join(w, str(k)), "rb").read(), "%s is byte-identical" % infos[k].filename)
with zf.open(infos[1]) as f:
    n, nonzero = 0, False
    while True:
        b = f.read(1 << 24)
        if not b:
            break
        n += len(b)
        nonzero = nonzero or b.count(0) != len(b)
ok(n == big and not nonzero, "the big entry reads back as %d zero bytes" % n)
size = os.path.getsize(p)
with open(p, "rb") as f:
    f.seek(size - 22 - 20)
    loc = f.read(20)
    f.seek(size - 22)
    end = f.read(22)
ok(loc[:4] == b"PK\x06\x07" and end[:4] == b"PK\x05\x06", "a ZIP64 end-of-central-directory locator precedes the end record")
off64 = struct.unpack("<Q", loc[8:16])[0]
with open(p, "rb") as f:
    f.seek(off64)
    rec = f.read(56)
cd_size, cd_off = struct.unpack("<QQ", rec[40:56])
ok(rec[:4] == b"PK\x06\x06" and struct.unpack("<Q", rec[32:40])[0] == 3 and cd_off > 0xFFFFFFFF and
   cd_off + cd_size == off64, "the ZIP64 end record: 3 entries, central directory at %d (past 4 GiB)" % cd_off)
PY
while IFS= read -r line; do
    case $line in
        [01]$'\t'*) tap_ok "${line%%$'\t'*}" "${line#*$'\t'}" ;;
        *) tap_diag "$line" ;;
    esac
done <"$W/py.out"
tap_diag "python3 checks took $((SECONDS - t)) s"

rm -f "$W/big.zip"
rm -rf "$STACK_DIR/storage/files"
tap_diag "total $((SECONDS - T0)) s"
tap_done
