#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A batch ZIP of large files streams in constant memory: while 3 files of
# 200 MiB (600 MiB) stream through nginx to a rate-limited reader, the VmRSS
# of every batchup worker is sampled every 100 ms. The worker's RSS may not
# grow with the bytes sent: at most RSS_GROWTH_KIB (4 MiB) above what it was
# before the download, and under RSS_MAX_KIB (16 MiB) in all. The figures
# are printed. The download must deliver exactly Content-Length bytes.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

PY=$(stack__python)
MIB=${RSS_FILE_MIB:-200}
RATE=${RSS_RATE:-120M} # curl --limit-rate: ~5 s for 600 MiB
RSS_GROWTH_KIB=${RSS_GROWTH_KIB:-4096}
RSS_MAX_KIB=${RSS_MAX_KIB:-16384}

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
W=$STACK_DIR/t73
mkdir -p "$W"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"

# One file of random bytes, uploaded three times under three names.
head -c $((MIB << 20)) /dev/urandom >"$W/big.bin" || tap_bail "cannot write $MIB MiB"
SIZE=$(stat -c %s "$W/big.bin")
resp=$(batch_create "$ALICE" \
    "{\"files\":[{\"name\":\"big1.bin\",\"size\":$SIZE},{\"name\":\"big2.bin\",\"size\":$SIZE},{\"name\":\"big3.bin\",\"size\":$SIZE}]}")
BID=$(printf '%s' "$resp" | jget 'd["id"]')
[ -n "$BID" ] || tap_bail "cannot create the batch: $resp"
t0=$SECONDS
bad=0
for i in 0 1 2; do
    url=$(printf '%s' "$resp" | jget "d['files'][$i]['upload_url']")
    code=$(patch_stream "$ALICE" "$url" "$W/big.bin" 120)
    [ "$code" = 204 ] || bad=$((bad + 1))
done
tap_is "$bad" 0 "3 files of $MIB MiB are uploaded ($((SECONDS - t0)) s)"
rm -f "$W/big.bin"
state=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches/$BID")
ZURL=$(printf '%s' "$state" | jget 'd["download_url"]')
tap_like "$ZURL" '^/api/v1/download/batch/' "the batch is complete, with a link"

# Warm up: every worker answers a few requests (health, a small ranged file
# download), so that the baseline is a worker that has served requests.
for _ in 1 2 3 4 5 6; do
    curl -s -o /dev/null --max-time 5 "$BATCHUP_URL$ZURL/manifest"
    curl -s -o /dev/null --max-time 5 -H 'Range: bytes=0-1048575' "$BATCHUP_URL$ZURL/files/$(printf '%s' "$state" | jget 'd["files"][0]["id"]')"
done

mapfile -t WORKERS < <(stack_worker_pids)
tap_is "${#WORKERS[@]}" 2 "two workers to watch: ${WORKERS[*]}"

"$PY" - "$BATCHUP_URL$ZURL" "$RATE" "$RSS_GROWTH_KIB" "$RSS_MAX_KIB" "$NGINX_PID" "${WORKERS[@]}" <<'PY' >"$W/rss.out" 2>&1
import os, subprocess, sys, time
url, rate, max_growth, max_abs, nginx = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
workers = [int(p) for p in sys.argv[6:]]

def rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None

def nginx_workers():
    try:
        return [int(p) for p in open("/proc/%s/task/%s/children" % (nginx, nginx)).read().split()]
    except OSError:
        return []

ngx = nginx_workers()
base = {p: rss(p) for p in workers + ngx}
hdr = os.path.join(os.environ.get("TMPDIR", "/tmp"), "t73-headers-%d" % os.getpid())
t0 = time.monotonic()
curl = subprocess.Popen(["curl", "-s", "--max-time", "120", "--limit-rate", rate, "-D", hdr,
                         "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
                        stdout=subprocess.PIPE, text=True)
peak = dict(base)
samples = 0
series = {p: [] for p in workers}
while curl.poll() is None:
    time.sleep(0.1)
    samples += 1
    for p in peak:
        v = rss(p)
        if v is not None and (peak[p] is None or v > peak[p]):
            peak[p] = v
        if p in series and v is not None:
            series[p].append(v)
out = curl.stdout.read().split()
elapsed = time.monotonic() - t0
cl = None
for line in open(hdr, encoding="latin-1"):
    if line.lower().startswith("content-length:"):
        cl = int(line.split(":", 1)[1])
os.unlink(hdr)
code, got = out[0], int(out[1])
print("status %s bytes %d content_length %s elapsed %.1f samples %d" % (code, got, cl, elapsed, samples))
for p in workers:
    s = series[p]
    print("worker %d rss_before_kib %d rss_max_kib %d rss_last_kib %d growth_kib %d first_sample_kib %s" %
          (p, base[p], peak[p], s[-1] if s else base[p], peak[p] - base[p], s[0] if s else "-"))
for p in ngx:
    print("nginx %d rss_before_kib %s rss_max_kib %s" % (p, base[p], peak[p]))
PY
sed 's/^/# /' "$W/rss.out"
read -r _ code _ got _ cl _ elapsed _ samples < <(grep '^status' "$W/rss.out")
tap_is "$code" 200 "the ZIP of 3 x $MIB MiB streams with 200"
tap_is "$got" "$cl" "the bytes received ($got) equal Content-Length"
[ "${samples:-0}" -ge 20 ]
tap_ok $? "the download lasted long enough to sample the RSS $samples times (${elapsed}s)"
# The worker that served the ZIP, from batchup's log: "[pid] request "GET" "<url>" 200"
# (the log shows the link's token cut to its first 4 characters).
ZLOG="${ZURL%/*}/$(basename "$ZURL" | cut -c1-4)..."
sleep 0.2
SERVER=$(grep -F "request \"GET\" \"$ZLOG\" 200 " "$STACK_DIR/batchup.log" | tail -n 1 | sed -n 's/.*\[\([0-9]*\)\] request .*/\1/p')
grep -q "^worker $SERVER " "$W/rss.out"
tap_ok $? "the ZIP was served by a watched worker (${SERVER:-none found in the log})"
while read -r _ pid _ before _ max _ last _ growth _; do
    what="worker $pid"
    [ "$pid" = "$SERVER" ] && what="worker $pid (served the ZIP)"
    [ "$growth" -le "$RSS_GROWTH_KIB" ]
    tap_ok $? "$what: RSS grew by $growth KiB (before $before KiB, max $max KiB, end $last KiB): <= $RSS_GROWTH_KIB KiB"
    [ "$max" -le "$RSS_MAX_KIB" ]
    tap_ok $? "$what: max RSS $max KiB <= $RSS_MAX_KIB KiB"
done < <(grep '^worker' "$W/rss.out")

# A reader that goes away mid-stream costs nothing lasting: the worker
# notices, stops, keeps its memory, and serves the next request. nginx
# buffers the ZIP (it would have all 600 MiB before a curl gave up), so the
# reader speaks FastCGI to the socket itself, as an unbuffered web server
# passes a hang-up on: about 10 MB/s, gone after 1 s.
before_pids=$(stack_worker_pids | tr '\n' ' ')
python3 tests/lib/fcgireq.py "$STACK_SOCKET" GET "$ZURL" --gulp 1048576 --every 0.1 --seconds 1 >/dev/null
tap_is "$?" 1 "a reader that hangs up after 1 s of the ZIP (tests/lib/fcgireq.py gave up)"
sleep 0.5
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$BATCHUP_URL$ZURL/manifest")
tap_is "$code" 200 "the next request is answered: 200"
tap_is "$(stack_worker_pids | tr '\n' ' ')" "$before_pids" "the same workers still run (none crashed)"
gone_logged() { grep -F "request \"GET\" \"$ZLOG\" 200 " "$STACK_DIR/batchup.log" | tail -n 1 | grep -q ' client-gone$'; }
stack_wait_until 10 gone_logged
broken=$(grep -F "request \"GET\" \"$ZLOG\" 200 " "$STACK_DIR/batchup.log" | tail -n 1)
sent=$(printf '%s' "$broken" | awk '{ print $9 }')
tap_like "$broken" ' client-gone$' "batchup logs the broken ZIP as client-gone"
[ "${sent:-0}" -gt 0 ] && [ "$sent" -lt "$cl" ]
tap_ok $? "... after $sent of $cl bytes: it stopped instead of streaming on"
for pid in $before_pids; do
    kib=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status")
    [ "${kib:-999999}" -le "$RSS_MAX_KIB" ]
    tap_ok $? "worker $pid after the broken download: RSS $kib KiB <= $RSS_MAX_KIB KiB"
done

tap_done
