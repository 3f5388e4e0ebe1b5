#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Every malformed request gets a 4xx with the one JSON error shape, never a
# 5xx: bytes that are not UTF-8 in the path, the query and headers
# (Authorization, Tus-Resumable, Upload-Offset, Upload-Metadata), and a
# body that is not UTF-8. Error messages that quote what the client sent
# are valid UTF-8, and one cut to fit is never cut inside a character:
# paths of 2-, 3- and 4-byte characters at every alignment are echoed in a
# 404's message. Requests go over a raw socket, so the bytes reach nginx
# exactly as written.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 || tap_bail "the stack did not start"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"

"$(stack__python)" - "$NGINX_PORT" "$ALICE" <<'PY'
import base64, json, socket, sys

port, token = int(sys.argv[1]), sys.argv[2].encode()
n = failed = 0

def raw(request):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1").lower(), body

def tap(ok, what, diag=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n, what))
    if not ok:
        failed += 1
        print("# " + diag)

def check(what, method, target, headers=b"", body=b""):
    req = method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + headers
    if body:
        req += b"Content-Length: %d\r\n" % len(body)
    status, head, data = raw(req + b"\r\n" + body)
    problem = ""
    if not 400 <= status < 500:
        problem = "status %d" % status
    elif method != b"HEAD":
        try:
            doc = json.loads(data.decode("utf-8", "strict"))
            if not (set(doc) == {"error"} and isinstance(doc["error"]["code"], str)
                    and isinstance(doc["error"]["message"], str)):
                problem = "not the error shape"
            elif "\ufffd" in doc["error"]["message"]:
                problem = "a replacement character in the message"
            elif "application/json" not in head:
                problem = "not application/json"
        except (ValueError, KeyError, TypeError) as e:
            problem = "body is not the JSON error shape in UTF-8: %s" % e
    tap(problem == "", "%s: %d with the JSON error shape in valid UTF-8" % (what, status),
        "%s; body %r" % (problem, data[:300]))
    return status, data

auth = b"Authorization: Bearer " + token + b"\r\n"
tus = b"Tus-Resumable: 1.0.0\r\n"
check("a path byte 0xff", b"GET", b"/api/v1/\xff")
check("a percent-encoded 0xff in the path", b"GET", b"/api/v1/%FF%FE")
check("an overlong '/' in the path", b"GET", b"/api/v1/batches/\xc0\xaf")
check("a cut UTF-8 sequence in the path", b"GET", b"/api/v1/files/\xe6\x97")
check("0xff in the query, anonymous", b"GET", b"/api/v1/batches?x=\xff")
check("0xff in the query of an unknown path", b"GET", b"/api/v1/nope?\xff%ff")
check("0xff in the query, authenticated", b"GET", b"/api/v1/batches/not-an-id?q=%FF\xfe", auth)
check("0xff in the Authorization header", b"GET", b"/api/v1/batches", b"Authorization: Bearer \xff\xfe\r\n")
check("0xff in Tus-Resumable", b"HEAD", b"/api/v1/files/00000000-0000-4000-8000-000000000000",
      auth + b"Tus-Resumable: \xff\r\n")
check("0xff in Tus-Resumable (OPTIONS)", b"POST", b"/api/v1/files", auth + b"Tus-Resumable: 1.\xff\r\n")
check("0xff in Upload-Length", b"POST", b"/api/v1/files", auth + tus + b"Upload-Length: 1\xff\r\n")
meta = b"filename " + base64.b64encode(b"a\xffb.txt")
check("a file name that is not UTF-8 in Upload-Metadata", b"POST", b"/api/v1/files",
      auth + tus + b"Upload-Length: 3\r\nUpload-Metadata: " + meta + b"\r\n")
check("0xff in Upload-Metadata itself", b"POST", b"/api/v1/files",
      auth + tus + b"Upload-Length: 3\r\nUpload-Metadata: filename \xff\xff\r\n")
check("0xff in Content-Type", b"POST", b"/api/v1/batches", auth + b"Content-Type: application/\xff\r\n", b"{}")
check("a body that is not UTF-8", b"POST", b"/api/v1/batches", auth + b"Content-Type: application/json\r\n",
      b'{"files":[{"name":"\xff\xfe","size":1}]}')
check("0xff in X-HTTP-Method-Override", b"POST", b"/api/v1/batches",
      auth + b"X-HTTP-Method-Override: \xff\r\nContent-Type: application/json\r\n", b"{")

# A path of multi-byte characters longer than a message holds, at every
# alignment: the message quoting it is cut at a character boundary.
for ch in ("\u00e9", "\u65e5", "\U0001f600"):
    for pad in range(4):
        path = ("/api/v1/" + "x" * pad + ch * 400).encode()
        status, data = check("a %d-byte character path, offset %d" % (len(ch.encode()), pad), b"GET", path)
        try:
            msg = json.loads(data)["error"]["message"]
            ok = msg.encode("utf-8").decode("utf-8") == msg and msg.rstrip(ch).endswith("x" * pad)
        except ValueError:
            ok = False
        tap(ok, "... its message quotes whole characters only", repr(data[-80:]))

print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
exit $?
