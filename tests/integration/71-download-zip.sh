#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The batch link, GET /api/v1/download/batch/<token>, through nginx:
#   - names the API must refuse at creation (control characters): 400;
#   - a batch with names in several scripts (Latin accents, Cyrillic, Greek,
#     CJK, emoji), duplicates, hostile names (../../etc/passwd, /abs/path,
#     a\b, leading dots, Windows-reserved characters and devices, a direction
#     override, very long names) and a 0-byte file;
#   - its ZIP: Content-Length equals the bytes received (HEAD says the same),
#     `unzip -t` passes, python3 zipfile reads it (testzip), every name is
#     flagged UTF-8 (bit 11), unique, and safe (no "..", not absolute, no
#     backslash, no control or bidi characters, at most 255 bytes); readable
#     names are kept exactly; each entry's bytes (and CRC) are the uploaded
#     file's; `unzip` extracts every file inside the target folder only;
#   - the manifest (name, size, sha256, url per file) and /files/<id>
#     through the link, whole and with Range;
#   - unknown or malformed token: 404; a file of another batch: 404;
#   - with link_ttl_seconds=2: `batchup gc` run while the link lives keeps
#     the files; once expired, ZIP, manifest and files answer 410, the
#     owner's stream download no longer serves the file, and `batchup gc`
#     removes the stored data (the long-lived batch's data stays).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

PY=$(stack__python)
shopt -s lastpipe # `... | tap_from_py` counts in this shell

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t71
mkdir -p "$W"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"

jget() {
    "$PY" -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False))' "$1"
}
get() {
    local out=$1 url=$2
    shift 2
    curl -s --max-time 60 -D "$out.h" -o "$out.b" -w '%{http_code}' "$@" "$BATCHUP_URL$url"
}
# tap_from_py: turn lines "0<TAB>what" / "1<TAB>what" (status, description)
# printed by a python3 check into TAP lines; "#..." lines are diagnostics.
tap_from_py() {
    local st desc line
    while IFS= read -r line; do
        case $line in
            "#"*) printf '%s\n' "$line" ;;
            [01]$'\t'*) st=${line%%$'\t'*} desc=${line#*$'\t'}; tap_ok "$st" "$desc" ;;
            *) tap_diag "$line" ;;
        esac
    done
}
# create_batch FILES_JSON: POST it as alice; the response body to $W/batch.json;
# prints the status.
create_batch() {
    curl -s --max-time 10 -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
        --data-binary "$1" -o "$W/batch.json" -w '%{http_code}' "$BATCHUP_URL/api/v1/batches"
}
# upload_all DIR: PATCH DIR/<i> to the i-th upload_url of $W/batch.json;
# prints the number of PATCHes that did not answer 204.
upload_all() {
    local i url bad=0 n
    n=$(jget 'len(d["files"])' <"$W/batch.json")
    for ((i = 0; i < n; i++)); do
        [ "$(stat -c %s "$1/$i")" = 0 ] && continue # completed at creation
        url=$(jget "d['files'][$i]['upload_url']" <"$W/batch.json")
        [ "$(patch "$ALICE" "$url" "$1/$i")" = 204 ] || bad=$((bad + 1))
    done
    echo "$bad"
}

# --- names the API refuses -------------------------------------------------

for n in 'tab\there.txt' 'new\nline.txt' 'cr\rx' 'bell\u0007' 'nul\u0000x' 'del\u007f.txt' 'esc\u001b[31m.txt'; do
    code=$(create_batch "{\"files\":[{\"name\":\"ok.txt\",\"size\":1},{\"name\":\"$n\",\"size\":1}]}")
    tap_is "$code" 400 "a name with a control character ($n) is refused at creation: 400"
done
tap_like "$(cat "$W/batch.json")" '"bad_name"' "... with the error code bad_name"

# --- the batch ---------------------------------------------------------------

# The names, their sizes, and the expected archive name where the rule is
# documented (zip.c) or the name is already safe; "" = only check safety.
"$PY" - "$W" <<'PY'
import json, os, random, sys
w = sys.argv[1]
long_latin = "L" * 300 + ".txt"
long_cjk = "長" * 300 + ".pdf"                       # 900 bytes of UTF-8
files = [
    ("café crème – naïve façade.txt", 1000, None),
    ("Привет, мир.txt", 70000, None),
    ("Ελληνικά αρχεία.md", 262144, None),            # exactly one buffer
    ("日本語のファイル名.txt", 262145, None),         # one byte more
    ("😀 party 🎉.bin", 600001, None),
    ("same.txt", 10, "same.txt"),
    ("same.txt", 11, "same (3).txt"),
    ("same (2).txt", 12, "same (2).txt"),
    ("same.txt", 13, "same (4).txt"),
    ("../../etc/passwd", 14, "etc_passwd"),
    ("/abs/path", 15, "abs_path"),
    ("a\\b", 16, "a_b"),
    (".hidden", 17, ".hidden"),
    ("...dots", 18, ""),
    ("..", 19, ""),
    ("trailing dot. ", 20, ""),
    ("x:y*z?<w>|\"q\".txt", 21, ""),
    ("CON.txt", 22, ""),
    ("evil\u202etxt.exe", 23, ""),
    (long_latin, 24, ""),
    (long_cjk, 25, ""),
    ("empty.txt", 0, "empty.txt"),
    ("emp/ty.txt", 26, ""),
]
random.seed(71)
os.makedirs(os.path.join(w, "up"), exist_ok=True)
spec = []
for i, (name, size, want) in enumerate(files):
    with open(os.path.join(w, "up", str(i)), "wb") as f:
        f.write(random.randbytes(size))
    spec.append({"name": name, "size": size})
json.dump({"files": spec}, open(os.path.join(w, "spec.json"), "w"), ensure_ascii=False)
json.dump([[n, s, (n if w_ is None else w_)] for n, s, w_ in files],
          open(os.path.join(w, "expect.json"), "w"), ensure_ascii=False)
PY
NFILES=$(jget 'len(d["files"])' <"$W/spec.json")
code=$(create_batch "$(cat "$W/spec.json")")
tap_is "$code" 201 "a batch of $NFILES files with names in several scripts, duplicates and hostile names: 201"
[ "$code" = 201 ] || tap_bail "cannot create the batch: $(cat "$W/batch.json")"
cp "$W/batch.json" "$W/batch-a.json"
BID=$(jget 'd["id"]' <"$W/batch-a.json")
tap_is "$(upload_all "$W/up")" 0 "every file is uploaded (one PATCH each)"
state=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")
tap_is "$(printf '%s' "$state" | jget 'd["status"]')" complete "the batch is complete"
ZURL=$(printf '%s' "$state" | jget 'd["download_url"]')
tap_like "$ZURL" '^/api/v1/download/batch/[A-Za-z0-9_-]{22,}$' "the batch has a download link"
TOKEN=${ZURL##*/}

# --- the ZIP -----------------------------------------------------------------

code=$(get "$W/zip" "$ZURL")
tap_is "$code" 200 "GET the batch link: 200"
CL=$(hval Content-Length "$W/zip.h")
GOT=$(stat -c %s "$W/zip.b")
tap_is "$CL" "$GOT" "Content-Length ($CL) equals the bytes received"
tap_is "$(hval Content-Type "$W/zip.h")" application/zip "Content-Type: application/zip"
tap_like "$(hval Content-Disposition "$W/zip.h")" '^attachment; filename="[^"/\\]+\.zip"' "Content-Disposition: attachment, a .zip name"
code=$(get "$W/ziphead" "$ZURL" -I)
tap_is "$code" 200 "HEAD on the batch link: 200"
tap_is "$(hval Content-Length "$W/ziphead.h")" "$CL" "HEAD announces the same Content-Length"
cp "$W/zip.b" "$W/batch.zip"

out=$(unzip -t "$W/batch.zip" 2>&1)
rc=$?
tap_ok $rc "unzip -t passes"
tap_like "$out" 'No errors detected' "... No errors detected"
[ "$rc" = 0 ] || tap_diag "$out"

"$PY" - "$W" <<'PY' 2>&1 | tap_from_py
import hashlib, json, os, sys, unicodedata, zipfile, zlib
w = sys.argv[1]
expect = json.load(open(os.path.join(w, "expect.json")))
def ok(cond, what):
    print("%d\t%s" % (0 if cond else 1, what), flush=True)
    return cond

zf = zipfile.ZipFile(os.path.join(w, "batch.zip"))
infos = zf.infolist()
ok(zf.testzip() is None, "python3 zipfile: testzip() finds no bad CRC")
ok(len(infos) == len(expect), "the archive has one entry per file (%d)" % len(infos))
ok(all(i.flag_bits & 0x800 for i in infos), "every entry has the UTF-8 flag (bit 11)")
ok(all(i.compress_type == zipfile.ZIP_STORED for i in infos), "every entry is stored")
names = [i.filename for i in infos]
ok(len(set(names)) == len(names), "the names are unique")
bad = []
for nm in names:
    parts = nm.replace("\\", "/").split("/")
    if (nm.startswith("/") or "\\" in nm or "/" in nm or ".." in parts or nm in ("", ".", "..")
            or any(unicodedata.category(c) in ("Cc",) or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f" for c in nm)
            or any(c in ':*?"<>|' for c in nm) or len(nm.encode()) > 255 or nm != nm.strip()
            or nm.endswith(".")):
        bad.append(nm)
ok(not bad, "every name is safe: flat, not absolute, no backslash, no '..', no control or bidi characters, no Windows-reserved characters, <= 255 bytes")
if bad:
    print("# unsafe: %r" % bad)
mism = [(e[0], nm, e[2]) for e, nm in zip(expect, names) if e[2] and nm != e[2]]
ok(not mism, "readable and documented names are as expected (scripts kept, same.txt -> same (3).txt, ../../etc/passwd -> etc_passwd, ...)")
for m in mism:
    print("# original %r: got %r, expected %r" % m)
con = names[[e[0] for e in expect].index("CON.txt")]
ok(con.split(".")[0].upper() != "CON", "CON.txt does not keep the device name CON (%r)" % con)
long_names = [nm for e, nm in zip(expect, names) if len(e[0].encode()) > 255]
ok(all(len(nm.encode()) <= 255 and nm.encode().decode("utf-8") for nm in long_names) and
   long_names[0].endswith(".txt") and long_names[1].endswith(".pdf"),
   "very long names are cut (%s bytes) at a character boundary, keeping the extension" %
   ", ".join(str(len(x.encode())) for x in long_names))
same_bytes = []
for k, (info, e) in enumerate(zip(infos, expect)):
    data = open(os.path.join(w, "up", str(k)), "rb").read()
    got = zf.read(info)
    if got != data or info.file_size != len(data) or info.CRC != (zlib.crc32(data) & 0xffffffff):
        same_bytes.append(e[0])
ok(not same_bytes, "every entry's bytes, size and CRC-32 are the uploaded file's, in upload order")
if same_bytes:
    print("# different: %r" % same_bytes)
empty = infos[[e[0] for e in expect].index("empty.txt")]
ok(empty.file_size == 0, "the 0-byte file is an empty entry")
print("# names: " + json.dumps(names, ensure_ascii=False)[:1500])
json.dump(names, open(os.path.join(w, "names.json"), "w"), ensure_ascii=False)
PY

# Extraction with Info-ZIP unzip, into an empty folder inside a sentinel one:
# nothing may land outside it, and every file must be there with its bytes.
mkdir -p "$W/x/sentinel/out"
(cd "$W/x/sentinel/out" && unzip -q "$W/batch.zip" >"$W/unzip.log" 2>&1)
tap_ok $? "unzip extracts the archive"
tap_is "$(find "$W/x" -mindepth 1 -not -path "$W/x/sentinel/out*" | tr '\n' ' ')" "$W/x/sentinel " \
    "nothing is written outside the extraction folder"
tap_is "$(find "$W/x/sentinel/out" -mindepth 1 -type d | wc -l)" 0 "the extraction is flat: no folder was created"
"$PY" - "$W" <<'PY' 2>&1 | tap_from_py
import json, os, sys
w = sys.argv[1]
names = json.load(open(os.path.join(w, "names.json")))
out = os.path.join(w, "x", "sentinel", "out")
bad = []
for k, nm in enumerate(names):
    p = os.path.join(out, nm)
    want = open(os.path.join(w, "up", str(k)), "rb").read()
    if not os.path.isfile(p) or open(p, "rb").read() != want:
        bad.append(nm)
print("%d\t%s" % (1 if bad else 0, "every file unzip extracted, found under its archive name, is byte-identical to the upload"))
if bad:
    print("# missing or different: %r" % bad)
print("%d\t%s" % (0 if len(os.listdir(out)) == len(names) else 1, "unzip extracted exactly %d files (%d)" % (len(names), len(os.listdir(out)))))
PY

# --- manifest and files through the link ----------------------------------

code=$(get "$W/man" "$ZURL/manifest")
tap_is "$code" 200 "GET the manifest: 200"
tap_like "$(hval Content-Type "$W/man.h")" '^application/json' "the manifest is JSON"
"$PY" - "$W" "$TOKEN" <<'PY' 2>&1 | tap_from_py
import hashlib, json, os, sys
w, token = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(w, "man.b")))
expect = json.load(open(os.path.join(w, "expect.json")))
batch = json.load(open(os.path.join(w, "batch-a.json")))
files = m.get("files", [])
def ok(c, what):
    print("%d\t%s" % (0 if c else 1, what))
ok(len(files) == len(expect), "the manifest lists every file (%d)" % len(files))
ok(all({"name", "size", "sha256", "url"} <= set(f) for f in files), "each has name, size, sha256 and url")
ok([f["name"] for f in files] == [e[0] for e in expect], "the names are the original ones, in order")
ok([f["size"] for f in files] == [e[1] for e in expect], "the sizes are right")
sha = [hashlib.sha256(open(os.path.join(w, "up", str(k)), "rb").read()).hexdigest() for k in range(len(expect))]
ok([f["sha256"] for f in files] == sha, "the sha256 are those of the uploaded bytes")
ids = [f["id"] for f in batch["files"]]
ok([f["url"] for f in files] == ["/api/v1/download/batch/%s/files/%s" % (token, i) for i in ids],
   "each url is /api/v1/download/batch/<token>/files/<file id>")
with open(os.path.join(w, "urls"), "w") as out:
    for k, f in enumerate(files):
        out.write("%d %s\n" % (k, f["url"]))
PY

bad=0
while read -r k url; do
    rm -f "$W/f.b"
    code=$(get "$W/f" "$url")
    same=1
    if [ -s "$W/up/$k" ]; then
        cmp -s "$W/f.b" "$W/up/$k" && same=0
    else
        [ ! -s "$W/f.b" ] && same=0
    fi
    if [ "$code" != 200 ] || [ "$same" != 0 ]; then
        bad=$((bad + 1))
        tap_diag "file $k: $code"
    fi
done <"$W/urls"
tap_is "$bad" 0 "every file through the link (no authentication): 200 and the uploaded bytes"
URL4=$(sed -n 's/^4 //p' "$W/urls")
SIZE4=$(stat -c %s "$W/up/4")
code=$(get "$W/f" "$URL4")
CD=$(hval Content-Disposition "$W/f.h")
tap_like "$CD" "filename\\*=UTF-8''%F0%9F%98%80%20party%20%F0%9F%8E%89\\.bin$" "a file through the link carries its UTF-8 name in filename*"
tap_is "$(hval Content-Length "$W/f.h")" "$SIZE4" "... and Content-Length"
code=$(get "$W/f" "$URL4" -H 'Range: bytes=262140-262150')
tap_is "$code" 206 "a Range through the link: 206"
tap_is "$(hval Content-Range "$W/f.h")" "bytes 262140-262150/$SIZE4" "... with Content-Range"
tail -c +262141 "$W/up/4" | head -c 11 >"$W/want"
cmp -s "$W/f.b" "$W/want"
tap_ok $? "... and exactly those 11 bytes"
code=$(get "$W/f" "$URL4" -H 'Range: bytes=-100')
tail -c 100 "$W/up/4" >"$W/want"
cmp -s "$W/f.b" "$W/want" && [ "$code" = 206 ]
tap_ok $? "a suffix Range through the link: 206 and the last 100 bytes"
code=$(get "$W/f" "$URL4" -H "Range: bytes=$SIZE4-")
tap_is "$code:$(hval Content-Range "$W/f.h")" "416:bytes */$SIZE4" "an unsatisfiable Range through the link: 416, bytes */$SIZE4"
code=$(get "$W/f" "$URL4" -H "If-None-Match: \"$(sha256sum "$W/up/4" | cut -d' ' -f1)\"")
tap_is "$code" 304 "If-None-Match with the sha256 through the link: 304"

# --- wrong tokens and paths --------------------------------------------------

FAKE=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
code=$(get "$W/n" "/api/v1/download/batch/$FAKE")
tap_is "$code" 404 "an unknown token: 404"
tap_like "$(cat "$W/n.b")" '"not_found"' "... with the error not_found"
tap_is "$(get "$W/n" "/api/v1/download/batch/$FAKE/manifest")" 404 "an unknown token's manifest: 404"
tap_is "$(get "$W/n" "/api/v1/download/batch/short")" 404 "a malformed (short) token: 404"
tap_is "$(get "$W/n" "/api/v1/download/batch/${TOKEN}%2e%2e")" 404 "a token with other characters: 404"
tap_is "$(get "$W/n" "/api/v1/download/batch/$TOKEN/files/00000000-0000-4000-8000-000000000000")" 404 \
    "an unknown file id through a valid link: 404"
tap_is "$(get "$W/n" "/api/v1/download/batch/$TOKEN/nope")" 404 "an unknown path under a valid link: 404"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BATCHUP_URL$ZURL")" 405 "POST on the link: 405"

# --- only completed files --------------------------------------------------

# A batch whose second file is terminated (tus DELETE) completes with the
# first one alone: the ZIP, the manifest and the link serve only that one.
mkdir -p "$W/upc"
head -c 3000 /dev/urandom >"$W/upc/0"
code=$(create_batch '{"files":[{"name":"kept.bin","size":3000},{"name":"aborted.bin","size":4000}]}')
tap_is "$code" 201 "batch C: one file to upload, one to abort"
FC0=$(jget 'd["files"][0]["id"]' <"$W/batch.json")
FC1=$(jget 'd["files"][1]["id"]' <"$W/batch.json")
BIDC=$(jget 'd["id"]' <"$W/batch.json")
tap_is "$(patch "$ALICE" "/api/v1/files/$FC0" "$W/upc/0")" 204 "C's first file is uploaded"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" \
    -H 'Tus-Resumable: 1.0.0' "$BATCHUP_URL/api/v1/files/$FC1")
tap_is "$code" 204 "C's second file is terminated (DELETE): 204"
statec=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BIDC")
ZURLC=$(printf '%s' "$statec" | jget 'd["download_url"]')
tap_is "$(printf '%s' "$statec" | jget 'd["status"]')" complete "batch C is complete"
code=$(get "$W/zc" "$ZURLC")
tap_is "$code:$("$PY" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(",".join(z.namelist()), z.read("kept.bin") == open(sys.argv[2], "rb").read())' "$W/zc.b" "$W/upc/0" 2>&1)" \
    "200:kept.bin True" "C's ZIP holds the completed file only, with its bytes"
tap_is "$(get "$W/mc" "$ZURLC/manifest"):$(jget '[f["name"] for f in d["files"]]' <"$W/mc.b")" '200:["kept.bin"]' \
    "C's manifest lists the completed file only"
tap_is "$(get "$W/fc" "$ZURLC/files/$FC1")" 404 "the aborted file through C's link: 404"
tap_is "$(get "$W/fc" "$ZURL/files/$FC0")" 404 "C's file through batch A's link: 404"

# --- expiry and gc -----------------------------------------------------------

# Restart batchup with 2-second links; batch A keeps the week-long link it got.
stack_batchup_stop
stack_write_conf workers=2 per_user_limit=1 gc_interval_seconds=0 link_ttl_seconds=2
stack_batchup_start || tap_bail "batchup did not restart with link_ttl_seconds=2"
mkdir -p "$W/upb"
head -c 5000 /dev/urandom >"$W/upb/0"
head -c 300000 /dev/urandom >"$W/upb/1"
code=$(create_batch '{"files":[{"name":"b0.bin","size":5000},{"name":"b1.bin","size":300000}]}')
tap_is "$code" 201 "batch B (link_ttl_seconds=2) is created"
cp "$W/batch.json" "$W/batch-b.json"
BIDB=$(jget 'd["id"]' <"$W/batch-b.json")
FB0=$(jget 'd["files"][0]["id"]' <"$W/batch-b.json")
FB1=$(jget 'd["files"][1]["id"]' <"$W/batch-b.json")
tap_is "$(upload_all "$W/upb")" 0 "batch B's files are uploaded"
t_done=$(date +%s.%N)
stateb=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BIDB")
ZURLB=$(printf '%s' "$stateb" | jget 'd["download_url"]')
stored() { [ -f "$STACK_DIR/storage/files/${1:0:2}/$1" ]; }
all_stored() {
    local f
    for f in "$@"; do stored "$f" || return 1; done
}
AIDS=$(jget '" ".join(f["id"] for f in d["files"] if f["size"] > 0)' <"$W/batch-a.json")

"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >"$W/gc1.log" 2>&1
tap_ok $? "batchup gc runs while B's link lives"
all_stored "$FB0" "$FB1"
tap_ok $? "... and B's stored files remain"
code=$(get "$W/zb" "$ZURLB")
tap_is "$code" 200 "B's ZIP still downloads after that gc: 200"
unzip -tq "$W/zb.b" >/dev/null 2>&1
tap_ok $? "... and it is a valid archive"

# Wait until 3 s after completion.
sleep "$("$PY" -c "import time; print(max(0.0, $t_done + 3 - time.time()))")"
code=$(get "$W/zb" "$ZURLB")
tap_is "$code" 410 "B's link after its 2 s: 410"
tap_like "$(cat "$W/zb.b")" '"link_expired"' "... with the error link_expired"
tap_is "$(get "$W/zb" "$ZURLB/manifest")" 410 "B's manifest after expiry: 410"
tap_is "$(get "$W/zb" "$ZURLB/files/$FB0")" 410 "a file of B through the expired link: 410"
all_stored "$FB0" "$FB1"
tap_ok $? "expired, but before gc: the data is still stored"
stateb=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BIDB")
tap_is "$(printf '%s' "$stateb" | jget '[d["status"], d["download_url"]] + [f["status"] for f in d["files"]]')" \
    '["expired", null, "expired", "expired"]' "the API reports batch B and its files expired, without a link"
code=$(get "$W/sb" "/api/v1/download/stream/$FB0" -H "Authorization: Bearer $ALICE")
tap_is "$code" 410 "the owner's stream download of an expired file: 410, as the API says it is gone"

"$BATCHUP_BIN" gc -c "$BATCHUP_CONF" >"$W/gc2.log" 2>&1
tap_ok $? "batchup gc runs after expiry"
! stored "$FB0" && ! stored "$FB1"
tap_ok $? "... and removes B's stored files"
# shellcheck disable=SC2086
all_stored $AIDS
tap_ok $? "... and keeps every stored file of batch A, whose link lives"
tap_is "$(get "$W/zb" "$ZURLB")" 410 "B's link after gc: still 410"
code=$(get "$W/sb" "/api/v1/download/stream/$FB1" -H "Authorization: Bearer $ALICE")
tap_is "$code" 410 "the owner's stream download after gc removed the data: 410, never 500"
code=$(get "$W/za" "$ZURL")
cmp -s "$W/za.b" "$W/batch.zip" && [ "$code" = 200 ]
tap_ok $? "batch A's ZIP after both gc runs: 200 and the same bytes as before"

tap_done
