#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# HTTP fuzzing through nginx: HTTP_FUZZ_REQUESTS (3000) random requests,
# bounded by HTTP_FUZZ_SECONDS (30): random methods, paths built from the
# route table (every row, read by tests/lib/route_table.py) with ids,
# tokens and odd bytes spliced in, random headers
# (credentials good and bad, tus headers with junk, ranges, conditionals,
# content types) and random bodies. No answer may be a 5xx, no worker may
# die (the master logs none, batchup_worker_restarts_total stays 0), and
# the server still answers afterwards. The seed is printed, and
# HTTP_FUZZ_SEED replays a run.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=8 gc_interval_seconds=0 max_user_bytes=1000000 status_path=/batchup-status || tap_bail "the stack did not start"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"

"$(stack__python)" - "$NGINX_PORT" "$ALICE" "${HTTP_FUZZ_REQUESTS:-3000}" "${HTTP_FUZZ_SECONDS:-30}" \
    "${HTTP_FUZZ_SEED:-$RANDOM$RANDOM}" app/routes.c <<'PY'
import json, random, re, socket, sys, time, urllib.request

port, token, count, seconds, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(seed)
print("# seed %d" % seed)
base = "http://127.0.0.1:%d" % port

def api(method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + token}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=body, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")

# Real ids and tokens to splice in, so that requests reach the handlers.
done = api("POST", "/api/v1/batches", json.dumps({"files": [{"name": "z", "size": 0}]}).encode(),
           {"Content-Type": "application/json"})
todo = api("POST", "/api/v1/batches", json.dumps({"files": [{"name": "f%d" % i, "size": 50} for i in range(5)]}).encode(),
           {"Content-Type": "application/json"})
ids = [done["id"], todo["id"], done["files"][0]["id"]] + [f["id"] for f in todo["files"]]
tokens = [done["download_url"].rsplit("/", 1)[1]]
# Every row of the route table, or none: tests/lib/route_table.py fails on a
# row it cannot read (the configured paths: metrics_path's default, and
# status_path as this stack sets it).
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, "tests/lib")
from route_table import RouteTableError, read_routes
try:
    patterns = [p for _, p, _ in read_routes(sys.argv[6], {"@metrics_path": "/metrics",
                                                          "@status_path": "/batchup-status"})]
except RouteTableError as e:
    print("Bail out! the route table: %s" % e)
    sys.exit(2)

ODD = [b"\xff", b"\x00", b"%00", b"%ff", b"..", b"/", b"//", b"%2e%2e", b"\xc0\xaf", b"\xe2\x80\xae",
       b"?", b"#", b";", b"%", b"%zz", b" ", b"\t", b"\\", b"'", b'"', b"<", b"{uuid}", b"\xf0\x9f\x98\x80"]
def junk(n=None):
    n = rnd.randint(0, 40) if n is None else n
    return bytes(rnd.randrange(256) for _ in range(n))
def pick_id():
    return rnd.choice(ids + ["00000000-0000-4000-8000-000000000000", "A" * 36]).encode()
def path():
    p = rnd.choice(patterns).encode()
    p = p.replace(b"{uuid}", pick_id()).replace(b"{token}", rnd.choice(tokens + ["A" * 43, "x"]).encode())
    for _ in range(rnd.choice([0, 0, 1, 2, 3])):
        at = rnd.randint(0, len(p))
        p = p[:at] + (rnd.choice(ODD) if rnd.random() < 0.7 else junk(rnd.randint(1, 6))) + p[at:]
    if rnd.random() < 0.2:
        p += b"?" + rnd.choice([b"x=1", junk(), b"a=%ff&b=\xff", b"&&==", b"x=" + b"A" * 3000])
    p = p.replace(b"\r", b"").replace(b"\n", b"").replace(b" ", b"%20")
    return p if p.startswith(b"/") else b"/" + p
HEADERS = [
    lambda: b"Authorization: Bearer " + token.encode(),
    lambda: b"Authorization: Bearer " + rnd.choice([junk(20), b"", b"A" * 500, token.encode()[:-1]]),
    lambda: b"Authorization: " + rnd.choice([b"Basic YTpi", junk(10), b"Bearer"]),
    lambda: b"Tus-Resumable: " + rnd.choice([b"1.0.0", b"0.2.2", junk(5)]),
    lambda: b"Upload-Offset: " + rnd.choice([b"0", b"1", b"-1", b"99999999999999999999", junk(4)]),
    lambda: b"Upload-Length: " + rnd.choice([b"5", b"0", b"-3", b"18446744073709551616", junk(4)]),
    lambda: b"Upload-Metadata: " + rnd.choice([b"filename YS50eHQ=", b"filename", b"filename !!!", junk(30),
                                               b"filename " + b"QUFB" * 400, b"filetype dGV4dC9wbGFpbg==,filename eA=="]),
    lambda: b"Upload-Checksum: " + rnd.choice([b"sha1 AAAA", b"sha256 " + junk(8).hex().encode(), b"md5 x", junk(12)]),
    lambda: b"Upload-Defer-Length: 1",
    lambda: b"Content-Type: " + rnd.choice([b"application/json", b"application/offset+octet-stream",
                                            b"text/plain", b"application/json; charset=\xff", junk(10)]),
    lambda: b"Range: " + rnd.choice([b"bytes=0-0", b"bytes=-1", b"bytes=5-2", b"bytes=0-1,3-4", b"bytes=" + junk(6),
                                     b"bytes=99999999999999999999-"]),
    lambda: b"If-Range: " + rnd.choice([b'"abc"', b"W/\"x\"", b"Mon, 01 Jan 2001 00:00:00 GMT", junk(10)]),
    lambda: b"If-None-Match: " + rnd.choice([b"*", b'"x", W/"y"', junk(10)]),
    lambda: b"If-Modified-Since: " + rnd.choice([b"Mon, 01 Jan 2001 00:00:00 GMT", junk(10)]),
    lambda: b"X-HTTP-Method-Override: " + rnd.choice([b"DELETE", b"PATCH", junk(5)]),
    lambda: b"X-" + junk(4).hex().encode() + b": " + junk(20).replace(b"\r", b"").replace(b"\n", b""),
]
def body():
    r = rnd.random()
    if r < 0.4:
        return b""
    if r < 0.6:
        return junk(rnd.randint(1, 4000))
    files = [{"name": rnd.choice(["a", "", "x" * 1100, "\u202e.exe", 5, None]),
              "size": rnd.choice([0, 1, -1, 2 ** 63, 1.5, "7"])} for _ in range(rnd.randint(0, 4))]
    doc = rnd.choice([{"files": files}, files, {"files": files, "x": 1}, "x", {"files": {}}])
    return json.dumps(doc).encode()[: rnd.randint(1, 400) if rnd.random() < 0.2 else None]

def one():
    method = rnd.choice([b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"TRACE", junk(3).hex().upper().encode()])
    lines = [method + b" " + path() + b" HTTP/1.1", b"Host: localhost", b"Connection: close"]
    lines += [h().replace(b"\r", b"").replace(b"\n", b"") for h in rnd.sample(HEADERS, rnd.randint(0, 6))]
    b = body()
    lines.append(b"Content-Length: %d" % len(b))
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + b)
        data = b""
        while len(data) < 16 or b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else 0, lines[0]

deadline = time.time() + seconds
sent = bad = 0
codes = {}
while sent < count and time.time() < deadline:
    status, first = one()
    sent += 1
    codes[status] = codes.get(status, 0) + 1
    if status >= 500 or status == 0:
        bad += 1
        if bad <= 10:
            print("# %d for %r" % (status, first[:200]))
print("# %d requests; statuses %s" % (sent, " ".join("%d:%d" % kv for kv in sorted(codes.items()))))
print(("ok" if bad == 0 else "not ok") + " 1 - %d random requests, no 5xx and no dropped connection (%d bad)" % (sent, bad))
print(("ok" if sent >= min(count, 500) else "not ok") + " 2 - at least %d requests were sent" % min(count, 500))
sys.exit(1 if bad else 0)
PY
rc=$?
[ "$rc" = 2 ] && exit 1 # bailed out: nothing was sent
tap__n=2
[ "$rc" = 0 ] || tap__failed=1
deaths=$(grep -c 'died after' "$STACK_DIR/batchup.log")
tap_is "$deaths" 0 "the master logged no worker death"
restarts=$(curl -s --max-time 5 "$BATCHUP_URL/metrics" | awk '/^batchup_worker_restarts_total/ { print $2 }')
tap_is "$restarts" 0 "batchup_worker_restarts_total is 0"
tap_is "$(stack_health_code)" 200 "the server still answers"
tap_done
