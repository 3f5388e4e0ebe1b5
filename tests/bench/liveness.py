#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""liveness.py: the measuring half of tests/bench/liveness.sh.

Many slow uploads at once, each one PATCH paced at a fixed rate, from
asyncio clients (raw HTTP/1.1 over loopback sockets to nginx) in --clients
processes (by default one per 250 uploads: one Python process pacing a
thousand sockets was the busiest part of the machine and fell behind), while
threads of the parent process sample what the pool carries and probe it:

  every SAMPLE s (0.5)  the batchup master and every process below it (their
                        number, from /proc/PID/task/*/children; VmRSS from
                        /proc/PID/status and Pss from smaps_rollup only every
                        --mem-every s, 5: it costs 0.5 ms a process), the
                        status page (?json: workers, states, listen queue),
                        PostgreSQL's client backends (pg_stat_activity, the
                        sampling session itself left out)
  every SAMPLE s (0.5)  GET /api/v1/health through nginx, and a HEAD of one
                        upload in flight (latency from curl's time_total, so
                        this client's own scheduling is not counted)

Every upload must answer 204 with Upload-Offset equal to its size; then each
batch must be `complete` with every file `completed`, and every stored file
(storage_dir/files/xx/ID) must have the SHA-256 the client computed (batchup
checks it too: the batches are created with each file's sha256).  Exit
status 1 when any of that, or any health request, failed.

Standard library only.  MB = 10^6 bytes, MiB = 2^20.
"""
import argparse
import asyncio
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import statistics
import struct
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

sys.dont_write_bytecode = True  # no __pycache__ in the tree for importing bench.py
from bench import cpu_seconds, cpu_snapshot, log, status_kib, table  # noqa: E402

MIB = 1 << 20
POOL = 1 << 20
PER_CLIENT = 250  # uploads one client process paces at most (--clients 0)


# ---- the files -------------------------------------------------------------

class Content:
    """File k is made of chunks; chunk j starts with (k, j) and goes on with a
    slice of one 1 MiB random pool: distinct files, cheap to make twice."""

    def __init__(self, size, chunk):
        self.size, self.chunk = size, chunk
        self.pool = random.Random(20261128).randbytes(POOL + chunk)
        self.nchunks = (size + chunk - 1) // chunk

    def part(self, k, j):
        n = min(self.chunk, self.size - j * self.chunk)
        off = (k * 7919 + j * 104729) % POOL
        return (struct.pack("<II", k, j) + self.pool[off:off + self.chunk])[:n]

    def sha256(self, k):
        h = hashlib.sha256()
        for j in range(self.nchunks):
            h.update(self.part(k, j))
        return h.hexdigest()


# ---- blocking HTTP (set-up and checks) --------------------------------------

def request(host, port, method, path, token=None, body=None, timeout=30):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body).encode()
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


def pctl(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# ---- samplers --------------------------------------------------------------

def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def process_tree(root):
    """root and every process below it, from the kernel's list of each
    thread's children (no walk of all /proc, which costs 50 ms on a busy
    machine); [] when root is gone."""
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = []
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids += [int(x) for x in f.read().split()]
        except OSError:
            continue
        out.append(p)
        todo += kids
    return out


def machine_idle():
    """(idle + iowait ticks, all ticks) of every CPU, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v[:8])


def run(args, timeout=10):
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return -1, ""


def listen_queue(path):
    """Connections waiting in the accept queue of the unix socket at path
    (ss: Recv-Q of a listening socket), without asking batchup."""
    rc, out = run(["ss", "-xlnH"], 5)
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[4] == path:
            return int(f[2])
    return None


class Sampler:
    """Four threads, each every `every` seconds, so that none waits for
    another (the three samplers at nice -10 when allowed): the pool as the kernel sees it (processes, memory, the listen
    queue: none of it needs a worker), PostgreSQL's backends (psql), the
    status page (which needs a worker), and the probes, health and HEAD, each
    started on time even while earlier ones still wait."""

    def __init__(self, a, t0, client):
        self.a, self.t0, self.client = a, t0, client
        self.pool, self.status, self.probes, self.pg = [], [], [], []
        self.head_target = None  # (path, token)
        self._mem_t = float("-inf")  # when the memory was last read
        self._psql = None  # the PostgreSQL sampler's session
        self._running = []  # probes in flight: (record, key, Popen)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(f,), daemon=True)
                         for f in (self._pool_once, self._pg_once, self._status_once,
                                   self._probe_once)]
        for t in self._threads:
            t.start()

    def _loop(self, once):
        if once != self._probe_once:
            # The samplers must keep time on a saturated machine (as root:
            # nice -10 for this thread and what it runs; the probes, which
            # measure, and the uploads stay at the default).
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
            except OSError:
                pass
        nxt = time.monotonic()
        while not self._stop.is_set():
            once()
            nxt = max(nxt + self.a.sample, time.monotonic())
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def _pool_once(self):
        t = time.monotonic() - self.t0
        c0 = time.thread_time()
        s = {"t": t, "in_flight": self.client.in_flight, "sent": self.client.sent,
             "listen_queue": listen_queue(self.a.socket)}
        pids = process_tree(self.a.master_pid)
        s.update(procs=len(pids), children=max(0, len(pids) - 1))
        # The memory only every --mem-every seconds: PSS (smaps_rollup,
        # Linux >= 4.14) walks every page table of every process, 0.5 ms a
        # worker, so for a thousand workers every 0.5 s it took a whole core
        # at nice -10 from the pool it measures.
        if t - self._mem_t >= self.a.mem_every:
            self._mem_t = t
            s.update(self._memory(pids))
        s["cost_s"] = time.thread_time() - c0
        self.pool.append(s)

    def _memory(self, pids):
        rollup = os.path.exists("/proc/self/smaps_rollup")
        rss = pss = 0
        each = []
        for p in pids:
            v = status_kib(p, "VmRSS")
            q = pss_kib(p) if rollup else 0
            if v is None or q is None:  # gone meanwhile (maintenance child, retired worker)
                continue
            rss += v
            pss += q
            if p != self.a.master_pid:
                each.append(v)
        return {"mem_procs": len(each) + 1, "rss_kib": rss, "pss_kib": pss if rollup else None,
                "child_rss_median_kib": statistics.median(each) if each else 0}

    def _pg_once(self):
        t = time.monotonic() - self.t0
        out = self._pg_query("SELECT count(*), count(*) FILTER (WHERE application_name = 'batchup') "
                             "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                             "AND pid <> pg_backend_pid()")
        # PostgreSQL's memory: every process of the cluster (PSS, so the
        # shared buffers count once).
        pids = process_tree(self.a.pg_pid)
        pg_pss = sum(q for q in (pss_kib(p) for p in pids) if q is not None)
        try:
            n, nb = out.strip().split("|")
            self.pg.append({"t": t, "pg": int(n), "pg_batchup": int(nb), "pg_procs": len(pids),
                            "pg_pss_kib": pg_pss})
        except ValueError:
            self.pg.append({"t": t, "pg": None})

    def _pg_query(self, sql):
        """The answer's one line, from a psql kept open: a psql and a
        backend started every 0.5 s cost more than the query."""
        try:
            if self._psql is None or self._psql.poll() is not None:
                self._psql = subprocess.Popen(["psql", "-XAtq"], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, text=True)
            self._psql.stdin.write(sql + ";\n")
            self._psql.stdin.flush()
            return self._psql.stdout.readline()
        except (OSError, ValueError):
            self._psql = None
            return ""

    def _status_once(self):
        t = time.monotonic() - self.t0
        rc, out = run(["curl", "-s", "--max-time", "2", self.a.url + self.a.status_path + "?json"], 10)
        try:
            pool = json.loads(out)
            states = [w["state"] for w in pool["workers"]]
            pool = pool["pool"]
            self.status.append({"t": t, "workers": pool["total_workers"], "busy": pool["busy_workers"],
                                "idle": pool["idle_workers"], "receiving": states.count("receiving"),
                                "max_reached": pool["max_children_reached"],
                                "slots_held": pool["slots_held"], "queued": pool["uploads_queued"]})
        except (ValueError, KeyError, TypeError):
            self.status.append({"t": t, "workers": None})

    def _collect(self, wait=False):
        left = []
        for rec, key, proc in self._running:
            if wait:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if proc.poll() is None:
                left.append((rec, key, proc))
                continue
            parts = proc.communicate()[0].split()
            try:
                rec[key], rec[key + "_s"] = int(parts[0]), float(parts[1])
                if key == "head":
                    rec["head_offset"] = int(parts[2]) if len(parts) > 2 else None
            except (ValueError, IndexError):
                rec[key], rec[key + "_s"] = 0, None
            if rec[key] == 0:  # no answer within --max-time
                rec[key + "_s"] = None
        self._running = left

    def _probe_once(self):
        self._collect()
        rec = {"t": time.monotonic() - self.t0}
        self.probes.append(rec)
        cmds = [("health", ["curl", "-s", "-o", "/dev/null", "--max-time", str(self.a.probe_timeout),
                            "-w", "%{http_code} %{time_total}", self.a.url + "/api/v1/health"])]
        if self.head_target:
            path, token = self.head_target
            cmds.append(("head", ["curl", "-s", "-o", "/dev/null", "-I", "--max-time",
                                  str(self.a.probe_timeout), "-H", "Tus-Resumable: 1.0.0",
                                  "-H", f"Authorization: Bearer {token}", "-w",
                                  "%{http_code} %{time_total} %header{upload-offset}",
                                  self.a.url + path]))
        for key, cmd in cmds:
            self._running.append((rec, key, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                              text=True)))

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
        if self._psql is not None:
            self._psql.stdin.close()
            self._psql.wait(10)
        self._collect(wait=True)


# ---- the uploads -------------------------------------------------------------

async def read_response(reader):
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed before an answer")
    status = int(line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(n) if n else b""
    return status, headers, body


class Client:
    """The uploads of one client process.  Its two counters (uploads in
    flight, body bytes sent) live in an array shared with the sampling
    process (slot i of `shared`), which reads them without a lock: each is
    written by this process only."""

    def __init__(self, a, content, shared, i):
        self.a, self.content = a, content
        self.shared, self.i = shared, i
        u = urlsplit(a.url)
        self.host, self.port = u.hostname, u.port or 80

    @property
    def in_flight(self):
        return self.shared[2 * self.i]

    @in_flight.setter
    def in_flight(self, v):
        self.shared[2 * self.i] = v

    @property
    def sent(self):
        return self.shared[2 * self.i + 1]

    @sent.setter
    def sent(self, v):
        self.shared[2 * self.i + 1] = v

    async def patch(self, up, offset, deadline):
        """One PATCH from offset to the end, paced at the rate; its answer."""
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
        resp = None
        c = self.content
        try:
            writer.write((f"PATCH {up['path']} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Authorization: Bearer {up['token']}\r\nTus-Resumable: 1.0.0\r\n"
                          f"Upload-Offset: {offset}\r\n"
                          "Content-Type: application/offset+octet-stream\r\n"
                          f"Content-Length: {c.size - offset}\r\nConnection: close\r\n\r\n").encode())
            resp = asyncio.ensure_future(read_response(reader))
            t0 = loop.time()
            sent = 0
            for j in range(offset // c.chunk, c.nchunks):
                if resp.done():  # answered before the whole body: an error
                    break
                delay = t0 + sent / self.a.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                part = c.part(up["k"], j)
                if j == offset // c.chunk:
                    part = part[offset % c.chunk:]
                writer.write(part)
                await asyncio.wait_for(writer.drain(), max(1.0, deadline - loop.time()))
                sent += len(part)
                self.sent += len(part)
            status, headers, body = await asyncio.wait_for(resp, max(1.0, deadline - loop.time()))
            return status, headers, body, sent
        except (ConnectionError, OSError) as e:
            # (A cancelled answer has no exception to ask for: it raises.)
            if resp is not None and resp.done() and not resp.cancelled() and not resp.exception():
                return (*resp.result(), sent)
            raise ConnectionError(str(e)) from e
        finally:
            if resp is not None and not resp.done():
                resp.cancel()
            writer.close()

    async def head(self, up):
        """The upload's offset from a HEAD, or None."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 10)
            writer.write((f"HEAD {up['path']} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Authorization: Bearer {up['token']}\r\nTus-Resumable: 1.0.0\r\n"
                          "Connection: close\r\n\r\n").encode())
            line = await asyncio.wait_for(reader.readline(), 30)
            offset = None
            while True:
                h = await asyncio.wait_for(reader.readline(), 30)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                if k.strip().lower() == "upload-offset":
                    offset = int(v.strip())
            writer.close()
            return offset if line.split()[1] == b"200" else None
        except (ConnectionError, OSError, asyncio.TimeoutError, ValueError, IndexError):
            return None

    async def upload(self, up, deadline):
        """The file in one PATCH.  Should the server cut it (423 with the
        offset it kept: slot lost, or taken over), resume from that offset as
        a tus client does, a few times, so that the checks still mean
        something; every attempt is recorded, and more than one fails the run."""
        loop = asyncio.get_running_loop()
        up.update(start=loop.time() - self.t0, attempts=[], status=None, error=None)
        offset = 0
        while True:
            att = {"t": loop.time() - self.t0, "offset": offset}
            up["attempts"].append(att)
            self.in_flight += 1
            try:
                status, headers, body, sent = await self.patch(up, offset, deadline)
            except (ConnectionError, OSError, asyncio.TimeoutError, ValueError, IndexError) as e:
                up.update(status=0, error=f"{type(e).__name__}: {e}")
                att.update(status=0, error=up["error"], end=loop.time() - self.t0)
                return
            finally:
                self.in_flight -= 1
            att.update(status=status, sent=sent, end=loop.time() - self.t0,
                       answer=body[:300].decode("utf-8", "replace").strip())
            up["status"], up["offset"] = status, headers.get("upload-offset")
            again = len(up["attempts"]) < 5 and loop.time() + 5 < deadline
            if again and status in (409, 423) and (up["offset"] or "").isdigit():
                offset = int(up["offset"])
                if status == 423:
                    await asyncio.sleep(float(headers.get("retry-after", "2") or 2))
                continue
            if again and status in (502, 503, 504):  # no offset: ask for it, as tus clients do
                await asyncio.sleep(1)
                got = await self.head(up)
                if got is not None:
                    offset = got
                    continue
            if status != 204:
                up["error"] = f"{status} {att['answer']}"
            up["end"] = loop.time() - self.t0
            return

    async def run_all(self, ups, deadline_s):
        loop = asyncio.get_running_loop()
        self.t0 = self.mono0  # the default loop's clock is time.monotonic()
        deadline = loop.time() + deadline_s
        await asyncio.gather(*(self.upload(u, deadline) for u in ups))


class Clients:
    """The uploads spread over `count` client processes (upload k goes to
    process k mod count), so that no one Python process paces more than a
    few hundred sockets: one process pacing a thousand used most of a core
    and fell behind its own schedule.  The processes are forked before the
    sampling threads start, wait for go(), run their uploads, send each
    upload's record back through a pipe with the CPU seconds they used,
    and leave.  The parent samples and probes, and reads the counters."""

    def __init__(self, a, content, ups, count, mono0):
        self.count = max(1, min(count, len(ups)))
        self.shared = multiprocessing.RawArray("q", 2 * self.count)
        ctx = multiprocessing.get_context("fork")
        self._go = ctx.Event()
        self.procs, self.pipes, self.cpu = [], [], []
        for i in range(self.count):
            mine = [u for u in ups if u["k"] % self.count == i]
            rd, wr = ctx.Pipe(duplex=False)
            p = ctx.Process(target=self._child, args=(a, content, mine, i, mono0, wr), daemon=True)
            p.start()
            wr.close()
            self.procs.append(p)
            self.pipes.append((rd, mine))

    def _child(self, a, content, mine, i, mono0, wr):
        client = Client(a, content, self.shared, i)
        client.mono0 = mono0
        self._go.wait()
        t0 = os.times()
        asyncio.run(client.run_all(mine, a.seconds * 3 + 60))
        t1 = os.times()
        wr.send((mine, t1.user + t1.system - t0.user - t0.system))
        wr.close()

    @property
    def in_flight(self):
        return sum(self.shared[0::2])

    @property
    def sent(self):
        return sum(self.shared[1::2])

    def run(self, ups):
        """Start every process's uploads at once; wait for their records and
        put them in ups (by k)."""
        self._go.set()
        by_k = {u["k"]: u for u in ups}
        for rd, mine in self.pipes:
            try:
                got, cpu = rd.recv()
            except EOFError:  # the process died: its uploads stay unanswered
                got, cpu = [dict(u, status=0, error="client process died", attempts=[])
                            for u in mine], 0.0
            for u in got:
                by_k[u["k"]].update(u)
            self.cpu.append(cpu)
        for p in self.procs:
            p.join(10)


# ---- the benchmark ---------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--users", required=True, help="JSON file: [[name, token], ...]")
    ap.add_argument("--probe-token", required=True,
                    help="a user of its own whose one pending file the HEAD probe asks about")
    ap.add_argument("--head-in-flight", action="store_true",
                    help="HEAD the first upload instead, while it is sent (a HEAD asks a writer "
                         "quiet for a second to let go: this may cut it)")
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--rate", type=int, required=True, help="bytes/s per upload")
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--master-pid", type=int, required=True)
    ap.add_argument("--storage-dir", required=True)
    ap.add_argument("--socket", required=True, help="batchup's listening unix socket")
    ap.add_argument("--status-path", default="/batchup-status")
    ap.add_argument("--probe-timeout", type=int, default=5, help="seconds a probe may wait")
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--pg-pid", type=int, required=True)
    ap.add_argument("--nginx-pid", type=int, required=True)
    ap.add_argument("--pgbouncer-pid", type=int, default=0,
                    help="the PgBouncer between batchup and PostgreSQL, if any")
    ap.add_argument("--pgbouncer-pool", type=int, default=0, help="its default_pool_size")
    ap.add_argument("--pm", default="dynamic")
    ap.add_argument("--clients", type=int, default=0,
                    help=f"client processes for the uploads (0: one per {PER_CLIENT} uploads)")
    ap.add_argument("--pg-max-connections", type=int, default=0)
    ap.add_argument("--sample", type=float, default=0.5)
    ap.add_argument("--mem-every", type=float, default=5.0,
                    help="seconds between two readings of the pool's RSS and PSS (smaps_rollup "
                         "costs 0.5 ms a process)")
    ap.add_argument("--tail", type=float, default=3.0, help="seconds sampled after the last upload")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    u = urlsplit(a.url)
    host, port = u.hostname, u.port or 80

    users = json.load(open(a.users))
    size = a.rate * a.seconds
    chunk = max(512, min(16384, a.rate // 4))
    content = Content(size, chunk)
    n = len(users) * a.files
    log(f"liveness: computing the SHA-256 of {n} files of {size / MIB:.2f} MiB")
    sums = [content.sha256(k) for k in range(n)]

    # One batch per user, every file's sha256 announced.
    ups, batches = [], []
    for ui, (name, token) in enumerate(users):
        files = [{"name": f"live-{ui:03d}-{i}.bin", "size": size, "sha256": sums[ui * a.files + i]}
                 for i in range(a.files)]
        status, data = request(host, port, "POST", "/api/v1/batches", token, {"files": files})
        if status != 201:
            sys.exit(f"liveness: POST /api/v1/batches for {name}: {status} {data[:300]!r}")
        b = json.loads(data)
        batches.append((b["id"], token))
        for i, bf in enumerate(b["files"]):
            k = ui * a.files + i
            ups.append({"k": k, "user": name, "token": token, "id": bf["id"],
                        "path": bf["upload_url"], "sha256": sums[k]})
    log(f"liveness: {len(batches)} batches created; {n} uploads of {a.rate} B/s for {a.seconds} s")

    clients = a.clients or (n + PER_CLIENT - 1) // PER_CLIENT
    mono0 = time.monotonic()
    client = Clients(a, content, ups, clients, mono0)
    client.mono0 = mono0
    sampler = Sampler(a, client.mono0, client)
    if a.head_in_flight:
        sampler.head_target = (ups[0]["path"], ups[0]["token"])
    else:
        status, data = request(host, port, "POST", "/api/v1/batches", a.probe_token,
                               {"files": [{"name": "probe.bin", "size": 1024}]})
        if status != 201:
            sys.exit(f"liveness: POST /api/v1/batches for the probe: {status} {data[:300]!r}")
        sampler.head_target = (json.loads(data)["files"][0]["upload_url"], a.probe_token)
    time.sleep(min(1.0, a.sample * 2))  # the idle pool, before the burst
    groups = {"batchup": [a.master_pid], "PostgreSQL": [a.pg_pid], "nginx": [a.nginx_pid],
              "client and probes": [os.getpid()]}
    if a.pgbouncer_pid:
        groups["PgBouncer"] = [a.pgbouncer_pid]
    cpu0, idle0 = cpu_snapshot(groups), machine_idle()
    t_start = time.monotonic() - client.mono0
    client.run(ups)
    t_end = time.monotonic() - client.mono0
    cpu, idle1 = cpu_seconds(cpu0, cpu_snapshot(groups)), machine_idle()
    time.sleep(a.tail)
    sampler.stop()
    wall = t_end - t_start

    # Checks: answers, batch states, stored bytes.
    ok_answers = [x for x in ups if x["status"] == 204 and x.get("offset") == str(size)]
    complete, files_done = 0, 0
    for bid, token in batches:
        status, data = request(host, port, "GET", f"/api/v1/batches/{bid}", token)
        if status == 200:
            b = json.loads(data)
            complete += b.get("status") == "complete"
            files_done += sum(1 for f in b.get("files", []) if f.get("status") == "completed")
    sha_ok = 0
    for x in ups:
        p = os.path.join(a.storage_dir, "files", x["id"][:2], x["id"])
        try:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for blk in iter(lambda: f.read(MIB), b""):
                    h.update(blk)
            sha_ok += h.hexdigest() == x["sha256"]
        except OSError:
            pass

    # Figures.  t is seconds since the uploads started.
    def during(xs):
        return [x for x in xs if t_start <= x["t"] <= t_end]

    pool, status = sampler.pool, sampler.status
    for x in pool + status + sampler.probes + sampler.pg:
        x["t"] -= t_start
    for x in ups:
        for k in ("start", "end"):
            if k in x:
                x[k] -= t_start
    t_end -= t_start
    t_start = 0.0
    dp, ds = during(pool), during(status)
    st_ok = [x for x in ds if x.get("workers") is not None]
    before = [x for x in pool if x["t"] < 0]
    after = [x for x in pool if x["t"] > t_end]

    def first_t(xs, cond):
        return next((x["t"] for x in xs if x["t"] >= 0 and cond(x)), None)

    t_grown = first_t(pool, lambda x: x["children"] >= n)
    t_recv = first_t(status, lambda x: (x.get("receiving") or 0) >= n)
    q_peak = max((x["listen_queue"] or 0 for x in dp), default=0)
    t_qpeak = next((x["t"] for x in dp if (x["listen_queue"] or 0) == q_peak), 0)
    t_drained = first_t(pool, lambda x: x["t"] >= t_qpeak and x["listen_queue"] == 0)
    ends = [x["end"] for x in ups if x.get("end") is not None]
    all_in = max(0.0, min(ends) - max(x["start"] for x in ups)) if len(ends) == n else 0.0
    mem = [x for x in dp if x.get("rss_kib") is not None]
    rss_peak = max(mem, key=lambda x: x["rss_kib"]) if mem else None
    pss_s = [x for x in mem if x.get("pss_kib") is not None]
    pss_peak = max(pss_s, key=lambda x: x["pss_kib"]) if pss_s else None
    pg = [x["pg"] for x in during(sampler.pg) if x.get("pg") is not None]
    pgb = [x["pg_batchup"] for x in during(sampler.pg) if x.get("pg") is not None]
    pg_pss = max((x["pg_pss_kib"] for x in during(sampler.pg) if x.get("pg") is not None), default=0)
    probes = during(sampler.probes)

    def latency(key):
        ok = [p[key + "_s"] * 1000 for p in probes if p.get(key) == 200]
        bad = [p for p in probes if key in p and p[key] != 200]
        return ok, bad

    hl, health_bad = latency("health")
    hd, head_bad = latency("head")
    health_bad_all = [p for p in sampler.probes if p.get("health") != 200]
    offs = [p["head_offset"] for p in probes if p.get("head_offset") is not None]
    durs = [x["end"] - x["start"] for x in ups if x.get("end") is not None]
    rates = [(b["sent"] - a_["sent"]) / (b["t"] - a_["t"])
             for a_, b in zip(pool, pool[1:]) if b["t"] > a_["t"] and 0 <= a_["t"] <= t_end]
    cut = [x for x in ups if len(x["attempts"]) > 1]
    wall = t_end

    def ms3(ok, bad):
        if not ok and not bad:
            return "-"
        worst = f">{a.probe_timeout * 1000}" if any(p[k] == 0 for p in bad for k in ("health", "head")
                                                    if k in p) else f"{max(ok):.0f}"
        out = f"{pctl(ok, 50):.0f} / {pctl(ok, 95):.0f} / {worst} ms" if ok else f"- / - / {worst} ms"
        out += f" ({len(ok) + len(bad)} requests, {len(bad)} failed"
        if bad:
            out += f" between t={bad[0]['t']:.1f} and {bad[-1]['t']:.1f} s"
        return out + ")"

    def when(t):
        return f"{t:.1f} s" if t is not None else "never"

    rows = [
        ["uploads in flight (client; peak)",
         f"{max((x['in_flight'] for x in dp), default=0)} of {n}; all {n} for {all_in:.1f} s"],
        ["workers receiving (status page; peak)",
         f"{max((x.get('receiving') or 0 for x in st_ok), default=0)}; all {n} at t={when(t_recv)}"
         f" (the page answered {len(st_ok)}/{len(ds)} samples)"],
        ["bytes/s total (mean; peak 0.5 s)",
         f"{client.sent / wall / 1e6:.1f} MB/s (offered {n * a.rate / 1e6:.1f}); "
         f"{max(rates, default=0) / 1e6:.1f} MB/s"],
        ["worker processes (before -> peak -> after)",
         f"{before[-1]['children'] if before else '-'} -> "
         f"{max((x['children'] for x in dp), default=0)} -> "
         f"{after[-1]['children'] if after else '-'}; >= {n} at t={when(t_grown)} "
         f"(max {a.workers}, pm {a.pm})"],
        ["listen queue (peak; empty again)",
         f"{q_peak} at t={t_qpeak:.1f} s; empty at t={when(t_drained)}; max children reached "
         f"{max((x.get('max_reached') or 0 for x in st_ok), default=0)}"],
        ["pool RSS peak (master + children)",
         f"{rss_peak['rss_kib'] / 1024:.0f} MiB in {rss_peak['mem_procs']} processes; "
         f"{rss_peak['rss_kib'] / 1024 / max(1, rss_peak['mem_procs']):.1f} MiB each "
         f"(median child {rss_peak['child_rss_median_kib'] / 1024:.1f})" if rss_peak else "-"],
        ["pool PSS peak",
         f"{pss_peak['pss_kib'] / 1024:.0f} MiB; "
         f"{pss_peak['pss_kib'] / 1024 / max(1, pss_peak['mem_procs']):.2f} MiB a process"
         if pss_peak else "- (no smaps_rollup)"],
        ["PostgreSQL connections (peak)",
         f"{max(pg, default=0)} ({max(pgb, default=0)} batchup's) of max_connections "
         f"{a.pg_max_connections or '-'}"
         + (f", through PgBouncer (transaction mode, pool {a.pgbouncer_pool})"
            if a.pgbouncer_pid else ", each worker its own")],
        ["PostgreSQL PSS peak (all its processes)", f"{pg_pss / 1024:.0f} MiB"],
        ["health p50 / p95 / max", ms3(hl, health_bad)],
        ["HEAD p50 / p95 / max (" + ("upload #0, in flight" if a.head_in_flight else
                                     "a pending file") + ")", ms3(hd, head_bad)
         + ("" if offs == sorted(offs) else "; ITS OFFSET WENT BACK")],
        ["CPU while uploading (cores)",
         ", ".join(f"{g} {v / wall:.2f}" for g, v in cpu.items())
         + f"; machine idle {100 * (idle1[0] - idle0[0]) / max(1, idle1[1] - idle0[1]):.0f}% "
         f"of {os.cpu_count()} CPUs; of it the pool sampler "
         f"{sum(x.get('cost_s', 0) for x in dp) / wall:.2f} and the {client.count} upload processes "
         f"{sum(client.cpu) / wall:.2f} (at most {max(client.cpu, default=0) / wall:.2f} each)"],
        ["PATCH time p50 / max",
         f"{pctl(durs, 50):.1f} / {max(durs, default=0):.1f} s (each body paced over {a.seconds} s)"
         if durs else "-"],
        ["uploads completed (204, offset = size)", f"{len(ok_answers)}/{n}"
         + (f", {len(cut)} of them in more than one PATCH" if cut else ", each in one PATCH")],
        ["files completed; batches complete", f"{files_done}/{n}; {complete}/{len(batches)}"],
        ["stored files with the right SHA-256", f"{sha_ok}/{n}"],
    ]
    print(f"Liveness: {len(users)} users x {a.files} files = {n} uploads at once, one PATCH each "
          f"of {size / MIB:.2f} MiB at {a.rate / 1024:.0f} KiB/s,")
    print(f"from {client.count} client processes, through nginx; pool pm {a.pm}, workers "
          f"{a.workers}; sampled every {a.sample} s; "
          f"uploads took {wall:.1f} s; probes time out after {a.probe_timeout} s")
    print(table(rows, ["figure", "value"], align=["<", "<"]))
    # The goals of a thousand slow uploads on one host (issue 26), shown at
    # any size: figures to read, not failures (those are the checks below).
    p95 = pctl(hl, 95) if hl else float("inf")
    pss_mib = pss_peak["pss_kib"] / 1024 if pss_peak else float("inf")
    goals = [(f"health p95 {p95:.0f} ms", "< 250 ms", p95 < 250 and not health_bad),
             (f"PostgreSQL connections {max(pg, default=0)}", "<= 64", max(pg, default=0) <= 64),
             (f"pool PSS {pss_mib:.0f} MiB", "< 1024 MiB", pss_mib < 1024)]
    print("goals: " + "; ".join(f"{f} ({g}: {'met' if ok else 'MISSED'})" for f, g, ok in goals))
    print()
    # A timeline, about a dozen rows: growth, memory or latency show here.
    step = max(1, int(round(t_end / a.sample / 12)))
    tl = [x for x in pool if x["t"] >= 0][::step]
    if after and tl and tl[-1] is not after[-1]:
        tl.append(after[-1])
    trows = []

    def mem_at(t, key):  # the last memory reading at or before t
        got = [y[key] for y in pool if y["t"] <= t and y.get(key) is not None]
        return f"{got[-1] / 1024:.0f}" if got else "-"

    for i, x in enumerate(tl):
        t1 = tl[i + 1]["t"] if i + 1 < len(tl) else x["t"] + a.sample
        near = [p for p in sampler.probes if x["t"] <= p["t"] < t1 and "health" in p]
        worst = ("timeout" if any(p["health"] != 200 for p in near) else
                 f"{max(p['health_s'] * 1000 for p in near):.0f}" if near else "-")
        stx = [y for y in status if abs(y["t"] - x["t"]) <= a.sample and y.get("workers") is not None]
        pgx = [y["pg"] for y in sampler.pg if abs(y["t"] - x["t"]) <= a.sample and y["pg"] is not None]
        trows.append([f"{x['t']:.1f}", str(x["in_flight"]), str(x["children"]),
                      str(x["listen_queue"]) if x["listen_queue"] is not None else "-",
                      str(stx[0]["receiving"]) if stx else "-", mem_at(x["t"], "rss_kib"),
                      mem_at(x["t"], "pss_kib"),
                      str(pgx[0]) if pgx else "-", worst])
    print(table(trows, ["t (s)", "in flight", "workers", "queue", "receiving", "RSS MiB",
                        "PSS MiB", "pg conns", "health worst ms"]))
    print("t: since the uploads started; workers: processes below the master (/proc); queue: "
          "connections")
    print("waiting in batchup's accept queue (ss); receiving: the status page's workers in that "
          "state.")
    failed = []
    if len(ok_answers) != n:
        bad = [x for x in ups if x not in ok_answers]
        failed.append(f"{len(bad)} uploads failed, e.g. {bad[0]['id']}: {bad[0].get('error')}")
    for x in cut:
        first = x["attempts"][0]
        failed.append(f"upload {x['id']} ({x['user']}) was cut: PATCH at t={first['t']:.1f} s answered "
                      f"{first.get('status')} at t={first.get('end', 0):.1f} s: {first.get('answer')}; "
                      f"{len(x['attempts'])} PATCHes in all")
    if files_done != n or complete != len(batches):
        failed.append(f"{n - files_done} files not completed, {len(batches) - complete} batches "
                      "not complete")
    if sha_ok != n:
        failed.append(f"{n - sha_ok} stored files differ or are missing")
    # Probes wait in the same accept queue as the burst's connections (as
    # with php-fpm): while the pool grows to carry them, a probe may wait
    # longer than its timeout.  A figure to watch, not a failure.
    if health_bad_all:
        print(f"NOTE: {len(health_bad_all)} health requests got no answer within "
              f"{a.probe_timeout} s (status, t): "
              f"{[(p['health'], round(p['t'], 1)) for p in health_bad_all[:8]]}")
    if head_bad:
        print(f"NOTE: {len(head_bad)} HEAD requests got no answer within {a.probe_timeout} s")
    for f in failed:
        print(f"FAILED: {f}")
    json.dump({"uploads": ups, "pool": pool, "status": status, "probes": sampler.probes,
               "pg": sampler.pg,
               "t_end": t_end, "size": size, "rate": a.rate}, open(a.out, "w"), indent=0)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
