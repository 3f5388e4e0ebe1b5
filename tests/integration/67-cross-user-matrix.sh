#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The cross-user matrix: two users (alice, bob) and an anonymous client
# against every route and method of the route table (read from
# app/routes.c by tests/lib/route_table.py, which fails on any row it cannot
# read, so a new route without an expectation fails here; the rows whose
# path is configured, metrics_path and status_path, get this stack's), with
# every kind of id: the caller's own, the other user's, a missing one, a
# malformed one (and for link tokens: live, revoked, missing, malformed).
# Each cell is one TAP line: the expected status, and no name or id of the
# other user in the answer (unless the caller put that id in the path).
# Answers through a link token are a capability, the same for anyone:
# there only the status is checked. Cells that change state (DELETE, a new
# link) get fresh resources of their own.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=2 per_user_limit=1 gc_interval_seconds=0 status_path=/batchup-status || tap_bail "the stack did not start"
ALICE=$(stack_user_add alice) || tap_bail "cannot add user alice"
BOB=$(stack_user_add bob) || tap_bail "cannot add user bob"

"$(stack__python)" - "$BATCHUP_URL" "$ALICE" "$BOB" app/routes.c <<'PY'
import base64, http.client, json, re, sys, urllib.parse
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, "tests/lib")
from route_table import RouteTableError, read_routes

url, tokens, routes_c = sys.argv[1], {"alice": sys.argv[2], "bob": sys.argv[3]}, sys.argv[4]
host = urllib.parse.urlsplit(url)
n = failed = 0

def request(method, path, actor=None, body=None, headers=None):
    h = dict(headers or {})
    if actor:
        h["Authorization"] = "Bearer " + tokens[actor]
    if path.startswith("/api/v1/files"):
        h.setdefault("Tus-Resumable", "1.0.0")
    c = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data.decode("utf-8", "replace")

def tap(ok, what, diag=None):
    global n, failed
    n += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n, what))
    if not ok:
        failed += 1
        if diag:
            print("# " + diag.replace("\n", "\n# "))
    sys.stdout.flush()

def json_post(path, actor, doc):
    s, b = request("POST", path, actor, json.dumps(doc), {"Content-Type": "application/json"})
    if s not in (200, 201):
        raise SystemExit("Bail out! POST %s as %s: %d %s" % (path, actor, s, b))
    return json.loads(b)

# Resources of each user, all named after their owner.
res = {}
def complete_batch(user):
    b = json_post("/api/v1/batches", user, {"files": [{"name": user + "-secret-done.txt", "size": 0}]})
    return b["id"], b["files"][0]["id"], b["download_url"].rsplit("/", 1)[1]
def open_batch(user):
    b = json_post("/api/v1/batches", user, {"open": True, "files": [{"name": user + "-secret-open.txt", "size": 0}]})
    return b["id"]
def pending_batch(user):
    b = json_post("/api/v1/batches", user, {"files": [{"name": user + "-secret-todo.txt", "size": 10}]})
    return b["id"], b["files"][0]["id"]
for u in tokens:
    cb, cf, tok = complete_batch(u)
    pb, pf = pending_batch(u)
    res[u] = {"complete_batch": cb, "completed_file": cf, "token": tok, "pending_batch": pb, "pending_file": pf}
rb, rf, revoked = complete_batch("alice")
s, _ = request("DELETE", "/api/v1/batches/%s/link" % rb, "alice")
tap(s == 204, "setup: a link revoked for the 'revoked' token cells", "got %d" % s)
MISSING_UUID = "00000000-0000-4000-8000-000000000000"
MISSING_TOKEN = "A" * 43
MALFORMED = {"{uuid}": "not-a-uuid", "{token}": "bad!token"}

# Which resource a {uuid} stands for, by route, and whether the cell
# consumes it (then a fresh one is made for the cell).
def uuid_for(pattern, method, owner):
    if pattern.startswith("/api/v1/batches/"):
        if pattern.endswith("/close"):
            return open_batch(owner)
        if pattern.endswith("/link") or method == "DELETE":
            cb, _, _ = complete_batch(owner)
            return cb
        return res[owner]["complete_batch"]
    if pattern.startswith("/api/v1/files/"):
        if method == "DELETE":
            return pending_batch(owner)[1]
        return res[owner]["pending_file"]
    return res[owner]["completed_file"]

# The paths this stack gives the configured rows (metrics_path's default,
# status_path as set above).
CONFIGURED = {"@metrics_path": "/metrics", "@status_path": "/batchup-status"}
# The status page is the operator's: it names users and uploads, and the
# shipped web server configurations let only loopback reach it (82 checks
# that); here it answers everyone, and only its status is checked.
OPERATOR = {"/batchup-status"}
PUBLIC = {"/", "/api/v1/health", "/metrics"} | OPERATOR
def success(method, pattern):
    if method == "OPTIONS" or method == "DELETE":
        return 204
    if method == "POST" and pattern.endswith("/close"):
        return 200
    if method == "POST":
        return 201
    if method == "PATCH":
        return 204
    return 200

def expected(method, pattern, actor, kinds):
    if "malformed" in kinds.values():
        return 404
    if pattern.startswith("/api/v1/download/batch/"):
        if kinds.get("{token}") != "live" or kinds.get("{uuid}", "own") != "own":
            return 404
        return 200
    if pattern in PUBLIC or method == "OPTIONS":
        return success(method, pattern)
    if actor is None:
        return 401
    if kinds and kinds.get("{uuid}") != "own":
        return 404
    return success(method, pattern)

def extra_headers(method, pattern):
    if method == "PATCH":
        return {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, b""
    if method == "POST" and pattern.startswith("/api/v1/files"):
        meta = "filename " + base64.b64encode(b"mine.txt").decode()
        return {"Upload-Length": "5", "Upload-Metadata": meta}, None
    if method == "POST" and pattern == "/api/v1/batches":
        return {"Content-Type": "application/json"}, json.dumps({"files": [{"name": "mine.txt", "size": 3}]})
    return {}, None

def fill(pattern, actor, kinds, method):
    owner_of = {"own": actor or "alice", "other": "bob" if actor == "alice" else "alice"}
    path, in_path = pattern, []
    if "{token}" in pattern:
        k = kinds["{token}"]
        t = {"live": res["alice"]["token"], "revoked": revoked, "missing": MISSING_TOKEN,
             "malformed": MALFORMED["{token}"]}[k]
        path = path.replace("{token}", t)
        if "{uuid}" in pattern:
            k = kinds["{uuid}"]
            u = {"own": res["alice"]["completed_file"], "other": res["bob"]["completed_file"],
                 "missing": MISSING_UUID, "malformed": MALFORMED["{uuid}"]}[k]
            path, in_path = path.replace("{uuid}", u), [u]
        return path, in_path
    if "{uuid}" in pattern:
        k = kinds["{uuid}"]
        if k in ("own", "other"):
            u = uuid_for(pattern, method, owner_of[k])
        else:
            u = {"missing": MISSING_UUID, "malformed": MALFORMED["{uuid}"]}[k]
        path, in_path = path.replace("{uuid}", u), [u]
    return path, in_path

def secrets_of(user):
    return [user + "-secret"] + [v for v in res[user].values()]

try:
    table = read_routes(routes_c, CONFIGURED)
except RouteTableError as e:
    print("Bail out! the route table: %s" % e)
    sys.exit(1)
patterns = {}
for methods, pattern, handler in table:
    patterns.setdefault(pattern, set()).update(methods)
    for method in methods:
        params = re.findall(r"\{\w+\}", pattern)
        if pattern.startswith("/api/v1/download/batch/"):
            combos = [{"{token}": t} for t in ("live", "revoked", "missing", "malformed")]
            if "{uuid}" in params:
                combos = [dict(c, **{"{uuid}": "own"}) for c in combos] + \
                         [{"{token}": "live", "{uuid}": k} for k in ("other", "missing", "malformed")]
        elif params:
            combos = [{"{uuid}": k} for k in ("own", "other", "missing", "malformed")]
        else:
            combos = [{}]
        for actor in ("alice", "bob", None):
            for kinds in combos:
                path, in_path = fill(pattern, actor, kinds, method)
                want = expected(method, pattern, actor, kinds)
                headers, body = extra_headers(method, pattern)
                status, text = request(method, path, actor, body, headers)
                leaks = []
                if not pattern.startswith("/api/v1/download/batch/") and pattern not in OPERATOR:
                    others = [u for u in tokens if u != actor]
                    for o in others:
                        leaks += [s for s in secrets_of(o) if s in text and s not in in_path]
                label = "%s %s %s [%s] -> %d" % (actor or "anonymous", method, pattern,
                                                 ",".join("%s=%s" % kv for kv in sorted(kinds.items())) or "-", want)
                tap(status == want and not leaks, label,
                    "got %d, leaked %s: %s" % (status, leaks, text[:300]))

# A method no row of a path has is 405, before any authentication.
for pattern, methods in sorted(patterns.items()):
    method = "PUT" if "PUT" not in methods else "TRACE"
    path = pattern.replace("{uuid}", MISSING_UUID).replace("{token}", MISSING_TOKEN)
    status, text = request(method, path, None)
    tap(status == 405, "anonymous %s %s -> 405" % (method, pattern), "got %d: %s" % (status, text[:200]))

print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
exit $?
