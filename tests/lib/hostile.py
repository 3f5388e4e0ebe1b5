#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""hostile.py: clients that try to wedge batchup's workers, and a user who
needs them meanwhile.

    hostile.py PLAN.json

PLAN (written by the test) names the server and what to send:

    {"url": "http://127.0.0.1:PORT", "socket": "/path/batchup.sock",
     "stall": [[token, file_id], ...],    PATCHes that send 1000 bytes of a
                                          large body, then nothing
     "trickle": [[token, file_id], ...],  PATCHes that send one byte every
                                          3 seconds
     "raw": N,                            connections to the FastCGI socket
                                          that send nothing
     "readers": N, "link": "/api/v1/download/batch/TOKEN",
                                          downloads of the link that take
                                          100 bytes every 2 seconds
     "reader_rate": B,                    ...or, when set, at B bytes a second
     "slow_readers": N, "slow_rate": B,   more readers of the link at B bytes
                                          a second (honest but slow)
     "bodies": [token, ...],              POST /api/v1/batches, each declaring
                                          8,000,000 bytes and sending JSON
                                          whitespace at 1000 bytes a second
     "user": [token, file_id, size],      the bystander's upload
     "bystander": [token, size],          ...or a second user who, for the
                                          whole probe, creates a batch of one
                                          file and PATCHes it whole, again and
                                          again
     "probe_seconds": S}                  how long to measure

Every hostile connection is opened first (within a second or two), and how
many of them are open at that moment is measured (hostile_open: the server
has neither closed nor answered a PATCH or silent connection; a reader's
download is still coming), then for probe_seconds the bystander asks /api/v1/health every half second and
uploads its file (one PATCH); the script prints one line a measurement,
"name value", and then holds the hostile connections open (they end when the
server ends them, or at hold_seconds) and prints when each ended:

    hostile_started N (threads), hostile_open N (measured),
    health_max_ms N, health_failures N, upload_status CODE, upload_ms N,
    health_p50_ms N, health_p95_ms N, health_checks N,
    uploads N, upload_failures N, create_max_ms N, patch_max_ms N (bystander),
    stall_ended S (seconds after start, one line each), trickle_ended S,
    raw_ended S, reader_ended S

Every wait is bounded; the script never runs longer than hold_seconds + 30.
"""

import http.client
import json
import select
import socket
import sys
import threading
import time
import urllib.parse

START = time.monotonic()
LOCK = threading.Lock()
ENDED = []
OPENED = []  # (kind, socket) of every hostile connection, once in place


def opened(kind, s):
    with LOCK:
        OPENED.append((kind, s))


def still_open(kind, s):
    """Is s still open, as far as this end can tell without reading? A
    PATCH or a silent connection is open while nothing has come back (no
    answer, no close); a reader while its download has not ended."""
    try:
        if not select.select([s], [], [], 0)[0]:
            return True  # nothing came back, not even a close
        data = s.recv(1, socket.MSG_PEEK)
    except (OSError, ValueError):
        return False  # reset, or closed here
    return kind == "reader" and data != b""


def now():
    return time.monotonic() - START


def note(kind):
    with LOCK:
        ENDED.append((kind, now()))


def open_http(url):
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=5)
    return s


def patch_head(url, token, file_id, length):
    u = urllib.parse.urlsplit(url)
    return (
        f"PATCH /api/v1/files/{file_id} HTTP/1.1\r\nHost: {u.hostname}\r\n"
        f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def wait_closed(s, kind, hold, pace=None):
    """Hold s until the server ends it (the response comes, or the
    connection closes) or hold seconds pass; pace(s) runs every loop."""
    s.settimeout(0.5)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        try:
            data = s.recv(4096)
            if data:
                note(kind)
                return
            note(kind)
            return
        except socket.timeout:
            pass
        except OSError:
            note(kind)
            return
        if pace is not None and not pace(s):
            note(kind)
            return


def stall(plan, token, file_id, hold):
    s = open_http(plan["url"])
    s.sendall(patch_head(plan["url"], token, file_id, 10 * 1024 * 1024) + b"s" * 1000)
    opened("stall", s)
    wait_closed(s, "stall_ended", hold)
    s.close()


def trickle(plan, token, file_id, hold):
    s = open_http(plan["url"])
    s.sendall(patch_head(plan["url"], token, file_id, 10 * 1024 * 1024) + b"t")
    opened("trickle", s)
    last = [time.monotonic()]

    def pace(sock):
        if time.monotonic() - last[0] >= 3:
            last[0] = time.monotonic()
            try:
                sock.sendall(b"t")
            except OSError:
                return False
        return True

    wait_closed(s, "trickle_ended", hold, pace)
    s.close()


def raw(plan, hold):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(plan["socket"])
    opened("raw", s)
    wait_closed(s, "raw_ended", hold)
    s.close()


def reader(plan, hold, rate=None, kind="reader_ended"):
    """Read the link: 100 bytes every 2 s, or rate bytes a second (in
    pieces every 100 ms) when rate is set."""
    pause, piece = (2, 100) if rate is None else (0.1, max(1, int(rate / 10)))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, max(4096, piece if rate else 0))
    u = urllib.parse.urlsplit(plan["url"])
    s.connect((u.hostname, u.port))
    s.sendall(f"GET {plan['link']} HTTP/1.1\r\nHost: {u.hostname}\r\n\r\n".encode())
    opened("reader", s)
    s.settimeout(0.5)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        time.sleep(pause)
        try:
            if not s.recv(piece):
                break
        except socket.timeout:
            continue
        except OSError:
            break
    note(kind)
    s.close()


def slow_body(plan, token, hold):
    """A batch creation whose body never comes: whitespace at 1000 B/s."""
    u = urllib.parse.urlsplit(plan["url"])
    s = open_http(plan["url"])
    s.sendall((f"POST /api/v1/batches HTTP/1.1\r\nHost: {u.hostname}\r\n"
               f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: 8000000\r\n\r\n").encode())
    last = [time.monotonic()]

    def pace(sock):
        if time.monotonic() - last[0] >= 0.5:
            last[0] = time.monotonic()
            try:
                sock.sendall(b" " * 500)
            except OSError:
                return False
        return True

    wait_closed(s, "body_ended", hold, pace)
    s.close()


def health(plan, seconds):
    worst, failures, times = 0.0, 0, []
    end = time.monotonic() + seconds
    u = urllib.parse.urlsplit(plan["url"])
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            c.request("GET", "/api/v1/health")
            if c.getresponse().status != 200:
                failures += 1
            c.close()
        except OSError:
            failures += 1
        worst = max(worst, time.monotonic() - t0)
        times.append(time.monotonic() - t0)
        time.sleep(0.5)
    times.sort()
    with LOCK:
        print(f"health_max_ms {int(worst * 1000)}")
        print(f"health_failures {failures}")
        print(f"health_checks {len(times)}")
        print(f"health_p50_ms {int(times[len(times) // 2] * 1000)}")
        print(f"health_p95_ms {int(times[min(len(times) - 1, len(times) * 95 // 100)] * 1000)}")


def bystander_upload(plan):
    token, file_id, size = plan["user"]
    u = urllib.parse.urlsplit(plan["url"])
    t0 = time.monotonic()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("PATCH", f"/api/v1/files/{file_id}", body=b"u" * size, headers={
        "Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0",
        "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
    status = c.getresponse().status
    print(f"upload_status {status}")
    print(f"upload_ms {int((time.monotonic() - t0) * 1000)}")


def bystander_loop(plan, seconds):
    """A second user's ordinary uploads, one after the other: create a
    batch of one file, PATCH it whole; each step timed."""
    token, size = plan["bystander"]
    u = urllib.parse.urlsplit(plan["url"])
    auth = {"Authorization": f"Bearer {token}"}
    done = failures = 0
    create_max = patch_max = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            t0 = time.monotonic()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            c.request("POST", "/api/v1/batches", headers=dict(auth, **{
                "Content-Type": "application/json"}),
                body=json.dumps({"files": [{"name": "b.bin", "size": size}]}))
            r = c.getresponse()
            body = r.read()
            c.close()
            create_max = max(create_max, time.monotonic() - t0)
            if r.status != 201:
                failures += 1
                print(f"create_status {r.status}")
                time.sleep(0.5)
                continue
            file_id = json.loads(body)["files"][0]["id"]
            t0 = time.monotonic()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            c.request("PATCH", f"/api/v1/files/{file_id}", body=b"u" * size, headers=dict(auth, **{
                "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"}))
            r = c.getresponse()
            r.read()
            c.close()
            patch_max = max(patch_max, time.monotonic() - t0)
            if r.status != 204:
                failures += 1
                print(f"patch_status {r.status}")
            else:
                done += 1
        except (OSError, http.client.HTTPException):
            failures += 1
            create_max = max(create_max, time.monotonic() - t0)
        time.sleep(0.5)
    with LOCK:
        print(f"uploads {done}")
        print(f"upload_failures {failures}")
        print(f"create_max_ms {int(create_max * 1000)}")
        print(f"patch_max_ms {int(patch_max * 1000)}")


def main():
    plan = json.load(open(sys.argv[1]))
    hold = plan.get("hold_seconds", 90)
    threads = []
    for token, file_id in plan.get("stall", []):
        threads.append(threading.Thread(target=stall, args=(plan, token, file_id, hold)))
    for token, file_id in plan.get("trickle", []):
        threads.append(threading.Thread(target=trickle, args=(plan, token, file_id, hold)))
    for _ in range(plan.get("raw", 0)):
        threads.append(threading.Thread(target=raw, args=(plan, hold)))
    for _ in range(plan.get("readers", 0)):
        threads.append(threading.Thread(target=reader,
                                        args=(plan, hold, plan.get("reader_rate"))))
    for _ in range(plan.get("slow_readers", 0)):
        threads.append(threading.Thread(target=reader, args=(plan, hold, plan["slow_rate"],
                                                             "slow_reader_ended")))
    for token in plan.get("bodies", []):
        threads.append(threading.Thread(target=slow_body, args=(plan, token, hold)))
    for t in threads:
        t.daemon = True
        t.start()
    time.sleep(2)  # every hostile connection is in place
    print(f"hostile_started {len(threads)}")
    with LOCK:
        print(f"hostile_open {sum(1 for kind, s in OPENED if still_open(kind, s))}")
    sys.stdout.flush()
    probe = threading.Thread(target=health, args=(plan, plan["probe_seconds"]))
    probe.start()
    if "bystander" in plan:
        bystander_loop(plan, plan["probe_seconds"])
    else:
        bystander_upload(plan)
    probe.join()
    sys.stdout.flush()
    for t in threads:
        t.join(timeout=max(1.0, hold - now() + 5))
    for kind, at in ENDED:
        print(f"{kind} {at:.1f}")


if __name__ == "__main__":
    main()
