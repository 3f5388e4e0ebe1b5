#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""client.py: many resumable tus uploads at once, for the cluster suite.

    client.py upload --url URL --users FILE --files N [--clients C]
                     [--min-size B] [--max-size B] [--chunk B] [--rate B/s]
                     [--deadline S] [--events FILE] [--batch-out FILE]
                     [--sums-out FILE]
    client.py analyze --events FILE --since EPOCH [--until EPOCH]

`upload` creates one batch per user (FILE: "name token" lines) of N files of
random bytes, then C client threads upload the files through URL (the load
balancer), each file as a tus client that resumes does it: PATCH a chunk at
the offset it knows; 204 moves on; 423 waits Retry-After; 409 takes the
offset the server gives; anything else (a 5xx, a cut connection, a timeout)
asks HEAD for the offset and goes on from there. Each completed file is
downloaded back through URL and compared byte for byte. Every request is
one line of the events file (JSON: start, end, method, status, host, file),
so a test can tell what failed, how, and for how long; the summary (JSON,
on stdout) counts files verified, statuses, and the longest request;
--sums-out writes "token file-id sha256" for each verified file, so a test
can read them back later.

`analyze` reads an events file and prints, as JSON, what happened after
EPOCH (a host killed, a failover): the requests that failed, by status; the
longest request; and for every file that was unfinished at EPOCH, the
seconds until its next accepted PATCH (the time to resume).
"""
import argparse
import hashlib
import http.client
import json
import os
import queue
import random
import sys
import threading
import time
import urllib.parse


class Client:
    """One HTTP request per connection, as the load balancer balances them."""

    def __init__(self, url, events):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.events = events
        self.lock = threading.Lock()

    def request(self, method, path, token, headers=None, body=b"", rate=0, fid="", timeout=30):
        h = {"Authorization": "Bearer " + token} if token else {}
        h.update(headers or {})
        t0 = time.time()
        status, rh, data, host = 0, {}, b"", ""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if body or method in ("PATCH", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if rate > 0 and body:
                # Paced, so that a request is still sending when a host dies.
                piece = max(4096, rate // 20)
                for i in range(0, len(body), piece):
                    conn.send(body[i:i + piece])
                    time.sleep(len(body[i:i + piece]) / rate)
            elif body:
                conn.send(body)
            r = conn.getresponse()
            status = r.status
            rh = {k.lower(): v for k, v in r.getheaders()}
            data = r.read()
            host = rh.get("x-cluster-host", "")
        except (OSError, http.client.HTTPException) as e:
            status, data = 0, str(e).encode()
        finally:
            conn.close()
        t1 = time.time()
        with self.lock:
            self.events.write(json.dumps({"t0": t0, "t1": t1, "m": method, "s": status, "h": host,
                                          "f": fid}) + "\n")
            self.events.flush()
        return status, rh, data


def upload_file(c, f, args):
    """Upload one file to the end, resuming as a tus client does; True when
    its bytes read back through the load balancer are the ones sent."""
    token, fid, data = f["token"], f["id"], f["data"]
    path = "/api/v1/files/" + fid
    offset, known = 0, True
    deadline = time.time() + args.deadline
    while time.time() < deadline:
        if not known:
            s, h, _ = c.request("HEAD", path, token, {"Tus-Resumable": "1.0.0"}, fid=fid)
            if s != 200:
                time.sleep(0.5)
                continue
            offset, known = int(h["upload-offset"]), True
        if offset >= len(data) and len(data) > 0:
            break
        chunk = data[offset:offset + args.chunk]
        s, h, _ = c.request("PATCH", path, token, {
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"}, chunk, args.rate, fid)
        if s == 204:
            offset = int(h["upload-offset"])
            if offset >= len(data):
                break
        elif s == 423:
            time.sleep(min(float(h.get("retry-after", "1")), 2.0) * random.uniform(0.5, 1.0))
        elif s == 409 and "upload-offset" in h:
            offset = int(h["upload-offset"])
        else:
            known = False
            time.sleep(0.3)
    else:
        return False
    for _ in range(20):
        s, _, body = c.request("GET", "/api/v1/download/stream/" + fid, token, fid=fid)
        if s == 200:
            return hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
        time.sleep(0.5)
    return False


def cmd_upload(args):
    users = [line.split() for line in open(args.users) if line.strip()]
    events = open(args.events, "a") if args.events else open(os.devnull, "w")
    c = Client(args.url, events)
    files, batches = [], []
    rnd = random.Random(args.seed)
    for name, token in users:
        sizes = [rnd.randint(args.min_size, args.max_size) for _ in range(args.files)]
        spec = {"files": [{"name": "f%d.bin" % i, "size": n} for i, n in enumerate(sizes)]}
        for _ in range(30):
            s, _, body = c.request("POST", "/api/v1/batches", token,
                                   {"Content-Type": "application/json"}, json.dumps(spec).encode())
            if s == 201:
                break
            time.sleep(0.5)
        else:
            print(json.dumps({"error": "batch creation failed for %s: %d" % (name, s)}))
            return 1
        b = json.loads(body)
        batches.append({"user": name, "token": token, "id": b["id"]})
        for i, bf in enumerate(b["files"]):
            files.append({"token": token, "id": bf["id"], "data": os.urandom(sizes[i]),
                          "user": name})
    if args.batch_out:
        with open(args.batch_out, "w") as out:
            for b in batches:
                out.write("%s %s %s\n" % (b["user"], b["token"], b["id"]))
    # Interleave the users so that every client thread meets queues.
    rnd.shuffle(files)
    work = queue.Queue()
    for f in files:
        work.put(f)
    ok, bad, sums = [], [], []
    lock = threading.Lock()

    def run():
        while True:
            try:
                f = work.get_nowait()
            except queue.Empty:
                return
            (ok if upload_file(c, f, args) else bad).append(f["id"])
            if args.sums_out and ok and ok[-1] == f["id"]:
                with lock:
                    sums.append("%s %s %s\n" % (f["token"], f["id"], hashlib.sha256(f["data"]).hexdigest()))

    t0 = time.time()
    threads = [threading.Thread(target=run) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events.close()
    if args.sums_out:
        with open(args.sums_out, "w") as out:
            out.writelines(sums)
    print(json.dumps({"files": len(files), "verified": len(ok), "failed": bad,
                      "seconds": round(time.time() - t0, 2), "batches": len(batches)}))
    return 0 if not bad else 1


def cmd_analyze(args):
    ev = [json.loads(line) for line in open(args.events) if line.strip()]
    ev.sort(key=lambda e: e["t0"])
    until = args.until or float("inf")
    after = [e for e in ev if e["t1"] >= args.since and e["t0"] <= until]
    failed = {}
    for e in after:
        if e["s"] == 0 or e["s"] >= 500:
            failed[str(e["s"])] = failed.get(str(e["s"]), 0) + 1
    # Files with an accepted PATCH before EPOCH and another one after it
    # (unfinished at EPOCH): how long until the first accepted PATCH that
    # started after EPOCH.
    resume = []
    for fid in {e["f"] for e in ev if e["m"] == "PATCH"}:
        pe = [e for e in ev if e["f"] == fid and e["m"] == "PATCH"]
        before = [e for e in pe if e["s"] == 204 and e["t1"] < args.since]
        later = [e for e in pe if e["s"] == 204 and e["t0"] >= args.since]
        if before and later and any(e["t1"] >= args.since for e in pe):
            resume.append(min(e["t1"] for e in later) - args.since)
    codes = {}
    for e in after:
        codes[str(e["s"])] = codes.get(str(e["s"]), 0) + 1
    print(json.dumps({
        "requests": len(after), "statuses": codes, "failed": failed,
        "longest": round(max((e["t1"] - e["t0"] for e in after), default=0), 2),
        "resumed": len(resume), "resume_max": round(max(resume, default=0), 2),
        "resume_median": round(sorted(resume)[len(resume) // 2], 2) if resume else 0,
        "hosts": sorted({e["h"] for e in after if e["h"]}),
    }))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upload")
    u.add_argument("--url", required=True)
    u.add_argument("--users", required=True)
    u.add_argument("--files", type=int, default=4)
    u.add_argument("--clients", type=int, default=8)
    u.add_argument("--min-size", type=int, default=100000)
    u.add_argument("--max-size", type=int, default=600000)
    u.add_argument("--chunk", type=int, default=131072)
    u.add_argument("--rate", type=int, default=0)
    u.add_argument("--deadline", type=float, default=120)
    u.add_argument("--events")
    u.add_argument("--batch-out")
    u.add_argument("--sums-out")
    u.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("analyze")
    a.add_argument("--events", required=True)
    a.add_argument("--since", type=float, required=True)
    a.add_argument("--until", type=float, default=0)
    args = p.parse_args()
    return cmd_upload(args) if args.cmd == "upload" else cmd_analyze(args)


if __name__ == "__main__":
    sys.exit(main())
