#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""bench.py: the measuring half of tests/bench/upload.sh and download.sh.

The shell scripts start the stack (tests/lib/stack.sh) and the servers; this
file drives curl, measures and prints.  Subcommands:

  gen DIR SIZE...        write input files (SIZE is NAME:COUNT:BYTES), print
                         their SHA-256 as JSON on stdout
  nginx-patch CONF ...   add the benchmark's locations to a generated nginx.conf
  upload ...             the upload benchmark (see upload.sh)
  download ...           the download benchmark (see download.sh)
  report-download FILE.. print the download tables from saved results

Figures: MB = 10^6 bytes, GB = 10^9 bytes.  MB/s is the bytes of the files
(request or response bodies) over the wall time of the whole round, from the
first request (creation included) to the last answer.  CPU s/GB is the
user+system time of the server-side processes over the round (from
/proc/PID/stat utime+stime of each process of the tree, plus cutime+cstime so
that children that ended meanwhile count too), per 10^9 body bytes.  The
client (curl) is never counted.
"""
import argparse
import hashlib
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import threading
import time

MIB = 1 << 20
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TUS_HEADERS = ["-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
               "-H", "Content-Type: application/offset+octet-stream"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- processes, CPU, memory --------------------------------------------

def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def descendants(roots):
    """roots and every process below them."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                children.setdefault(st[0], []).append(int(name))
    out, todo = [], [r for r in roots if r]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_snapshot(groups):
    """{group: {pid: (ticks, child ticks)}} for every process of each group."""
    snap = {}
    for g, roots in groups.items():
        snap[g] = {}
        for p in descendants(roots):
            st = _stat(p)
            if st:
                snap[g][p] = (st[1], st[2])
    return snap


def cpu_seconds(s0, s1):
    """{group: CPU seconds between the two snapshots}."""
    out = {}
    for g in s1:
        t = 0
        for p, (own, kids) in s1[g].items():
            own0, kids0 = s0.get(g, {}).get(p, (0, 0))
            t += max(own - own0, 0) + max(kids - kids0, 0)
        out[g] = t / CLK
    return out


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler:
    """Samples VmRSS of the given pids every `every` seconds in a thread;
    resets their VmHWM first (clear_refs 5) so VmHWM covers this window."""

    def __init__(self, pids, every=0.05):
        self.pids, self.every = list(pids), every
        self.peak = {p: 0 for p in self.pids}
        self.samples = 0
        self._stop = threading.Event()
        for p in self.pids:
            try:
                with open(f"/proc/{p}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            for p in self.pids:
                v = status_kib(p, "VmRSS")
                if v is not None and v > self.peak[p]:
                    self.peak[p] = v
            self.samples += 1
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._t.join()
        hwm = {p: status_kib(p, "VmHWM") or 0 for p in self.pids}
        return {"rss_peak_kib": max(self.peak.values() or [0]),
                "rss_peak_each_kib": sorted(self.peak.values()),
                "hwm_kib": max(hwm.values() or [0]),
                "hwm_each_kib": sorted(hwm.values()),
                "samples": self.samples}


# ---- files -----------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_many(paths):
    """SHA-256 of many files, two at a time (hashlib releases the GIL)."""
    out, lock, todo = {}, threading.Lock(), list(paths)

    def work():
        while True:
            with lock:
                if not todo:
                    return
                p = todo.pop()
            d = sha256_file(p) if os.path.exists(p) else None
            with lock:
                out[p] = d

    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def cmd_gen(a):
    """Distinct, incompressible-enough files: every MiB starts with its file
    and block number, followed by a slice of one random 16 MiB pool."""
    os.makedirs(a.dir, exist_ok=True)
    pool = os.urandom(16 * MIB)
    out = {}
    for spec in a.spec:
        name, count, size = spec.split(":")
        for i in range(int(count)):
            path = os.path.join(a.dir, f"{name}-{i:04d}.bin")
            h = hashlib.sha256()
            left, j = int(size), 0
            with open(path, "wb") as f:
                while left > 0:
                    n = min(MIB, left)
                    off = (j * 7919 + i * 104729 + len(out) * 31) % (15 * MIB)
                    block = (struct.pack("<QQ", len(out), j) + pool[off:off + n])[:n]
                    f.write(block)
                    h.update(block)
                    left -= n
                    j += 1
            out[path] = h.hexdigest()
    json.dump(out, sys.stdout)


# ---- nginx -------------------------------------------------------------

def cmd_nginx_patch(a):
    """Add the benchmark's locations inside the batchup server block (before
    its "# END batchup server" marker), its upstreams before the first server,
    and optionally a second server ("tuned") with the same body plus larger
    nginx buffers, for what-if rows."""
    text = open(a.conf).read()
    marker = "# END batchup server"
    if marker not in text:
        sys.exit("nginx-patch: no '# END batchup server' marker in " + a.conf)
    port = a.port
    floor = "" if not a.fcgi_floor_socket else f"""
        # (d) the app floor (tests/bench/fcgi_floor.c): a FastCGI responder
        # that only hashes and durably stores each body, passed to it as
        # batchup's upload location passes bodies (conf/nginx.conf).
        location /bench/fcgi-floor/ {{
            client_max_body_size 0;
            fastcgi_request_buffering off;
            client_body_buffer_size 1m;
            fastcgi_read_timeout 300s;
            fastcgi_param DOCUMENT_URI $document_uri;
            fastcgi_pass unix:{a.fcgi_floor_socket};
        }}
"""
    locs = f"""
        # ---- tests/bench: benchmark-only locations ----
        # (a) the ceiling: nginx reads each body into a file (kept: on) and
        # a trivial upstream (this server) answers 204 without the body.
        # (The shipped server block allows 16 KiB bodies outside batchup's
        # upload location; these take any size, as batchup's does.)
        location = /bench/ceiling {{
            client_max_body_size 0;
            client_body_in_file_only on;
            client_body_temp_path {a.ceiling_dir};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://bench_self/bench/204;
        }}
        location = /bench/204 {{
            return 204;
        }}
        # (b) @tus/server, streamed to it like batchup's FastCGI.
        location /files {{
            client_max_body_size 0;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
            proxy_pass http://bench_tus;
        }}
{floor}        # nginx serving batchup's stored files as static files.
        location /bench/static/ {{
            alias {a.static_dir}/;
        }}
        """
    text = text.replace(marker, locs + marker, 1)
    ups = f"""upstream bench_self {{
        server 127.0.0.1:{port};
        keepalive 8;
    }}
    upstream bench_tus {{
        server 127.0.0.1:{a.tus_port};
        keepalive 16;
    }}

    """
    i = text.index("    server {")
    text = text[:i] + ups + text[i:]
    if a.tuned_port:
        m = re.search(r"# BEGIN batchup server.*?# END batchup server", text, re.S)
        body = re.sub(r"# ---- tests/bench.*?(?=# END batchup server)", "", m.group(0), flags=re.S)
        tuned = f"""
    # tests/bench what-if: the same server body, larger nginx buffers.
    server {{
        listen 127.0.0.1:{a.tuned_port};
        server_name localhost;
        client_body_buffer_size {a.tuned_body_buffer};
        fastcgi_buffer_size {a.tuned_fastcgi_buffer};
        fastcgi_buffers 4 {a.tuned_fastcgi_buffer};
        fastcgi_busy_buffers_size {a.tuned_fastcgi_busy};
{body}
    }}
"""
        j = text.rindex("}")
        text = text[:j] + tuned + text[j:]
    open(a.conf, "w").write(text)


# ---- curl ------------------------------------------------------------

def curl(args, timeout):
    """Run curl; return (stdout lines, stderr)."""
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-H", "Expect:"] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return [], "timeout"
    return p.stdout.splitlines(), p.stderr.strip()


def patch_lane(pairs, extra, timeout, want="204", retry_codes=("423",), max_wait=120):
    """PATCH each (file, url) in one curl (one keep-alive connection); a
    transfer answered with a retry code is repeated alone until it passes.
    Returns (errors, retries)."""
    args = ["-X", "PATCH"] + TUS_HEADERS + extra + ["-w", "%{http_code}\\n"]
    for f, u in pairs:
        args += ["-T", f, "-o", "/dev/null", u]
    codes, err = curl(args, timeout)
    errors, retries = [], 0
    for k, (f, u) in enumerate(pairs):
        code = codes[k] if k < len(codes) else "000"
        deadline = time.monotonic() + max_wait
        while code in retry_codes and time.monotonic() < deadline:
            retries += 1
            time.sleep(0.1)
            c, err = curl(["-X", "PATCH"] + TUS_HEADERS + extra +
                          ["-w", "%{http_code}\\n", "-T", f, "-o", "/dev/null", u], timeout)
            code = c[0] if c else "000"
        if code != want:
            errors.append(f"{u}: HTTP {code} {err}")
    return errors, retries


def run_lanes(lanes):
    """Run each lane (a callable returning (errors, retries)) in a thread."""
    results = [None] * len(lanes)

    def go(i):
        try:
            results[i] = lanes[i]()
        except Exception as e:  # noqa: BLE001 - reported as an error
            results[i] = ([f"lane {i}: {e!r}"], 0)

    ts = [threading.Thread(target=go, args=(i,)) for i in range(len(lanes))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    errs = [e for r in results for e in r[0]]
    return errs, sum(r[1] for r in results)


# ---- upload --------------------------------------------------------------

def split(items, n):
    return [items[i::n] for i in range(n)]


class Upload:
    def __init__(self, a):
        self.a = a
        self.hashes = json.load(open(a.hashes))
        self.groups = {"nginx": [a.nginx_pid], "batchup": [a.batchup_pid],
                       "postgres": [a.pg_pid], "node": [a.node_pid],
                       "appfloor": [a.fcgi_floor_pid]}
        self.timeout = a.timeout

    def files(self, prefix):
        return sorted(p for p in self.hashes if os.path.basename(p).startswith(prefix + "-"))

    def verify_stored(self, files, paths, suffixes=("",)):
        """Each input against its stored copy (paths: input -> stored
        path), which is then removed (with any files named path + suffix)."""
        got = sha256_many(paths.values())
        bad = [f for f in files if got.get(paths[f]) != self.hashes[f]]
        for p in paths.values():
            for q in (p + x for x in suffixes):
                if os.path.exists(q):
                    os.unlink(q)
        return not bad, f"{len(files) - len(bad)}/{len(files)} byte-identical"

    # Each system: run(files) -> (errors, retries, verify callable)

    def ceiling(self, files, url):
        d = self.a.ceiling_dir

        def lane(part):
            return lambda: patch_lane([(f, f"{url}/bench/ceiling") for f in part], [], self.timeout)

        errs, retries = run_lanes([lane(p) for p in split(files, self.a.concurrency)])

        def verify():
            stored = [os.path.join(r, n) for r, _, ns in os.walk(d) for n in ns]
            got = sorted(v for v in sha256_many(stored).values())
            ok = got == sorted(self.hashes[f] for f in files)
            for p in stored:
                os.unlink(p)
            return ok, f"{len(stored)} files stored, hashes {'match' if ok else 'DIFFER'}"
        return errs, retries, verify

    def floor(self, files, url):
        """The durable floor: no server, the same bytes copied onto the same
        disk with dd-style writes (256 KiB blocks) and one
        fdatasync per file (dd conv=fdatasync), as many at once as the
        uploads: what a server that makes every file durable cannot beat."""
        d = self.a.floor_dir
        os.makedirs(d, exist_ok=True)

        def lane(part):
            def go():
                errs = []
                for f in part:
                    r = subprocess.run(["dd", f"if={f}", f"of={os.path.join(d, os.path.basename(f))}",
                                        "bs=256K", "conv=fdatasync", "status=none"],
                                       capture_output=True, text=True, timeout=self.timeout)
                    if r.returncode != 0:
                        errs.append(f"dd {f}: {r.stderr.strip()}")
                return errs, 0
            return go

        errs, retries = run_lanes([lane(p) for p in split(files, self.a.concurrency)])

        def verify():
            return self.verify_stored(files, {f: os.path.join(d, os.path.basename(f)) for f in files})
        return errs, retries, verify

    def appfloor(self, files, url):
        """The app floor: fcgi_floor behind the same nginx, one PATCH per
        file like batchup's, each body hashed and made durable and nothing
        else."""
        d = self.a.fcgi_floor_dir

        def lane(part):
            return lambda: patch_lane([(f, f"{url}/bench/fcgi-floor/{os.path.basename(f)}")
                                       for f in part], [], self.timeout)

        errs, retries = run_lanes([lane(p) for p in split(files, self.a.concurrency)])

        def verify():
            return self.verify_stored(files, {f: os.path.join(d, os.path.basename(f)) for f in files})
        return errs, retries, verify

    def tus(self, files, url):
        ids = {}

        def lane(part):
            def go():
                size = os.path.getsize(part[0])
                args = ["-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", f"Upload-Length: {size}",
                        "-w", "%{http_code} %header{location}\\n"]
                for _ in part:
                    args += ["-o", "/dev/null", f"{url}/files"]
                lines, err = curl(args, self.timeout)
                locs = []
                for ln in lines:
                    code, _, loc = ln.partition(" ")
                    if code != "201" or not loc:
                        return [f"tus create: {ln} {err}"], 0
                    locs.append(loc if loc.startswith("http") else url + loc)
                if len(locs) != len(part):
                    return [f"tus create: {len(locs)} of {len(part)} created: {err}"], 0
                for f, loc in zip(part, locs):
                    ids[f] = loc.rstrip("/").rsplit("/", 1)[1]
                return patch_lane(list(zip(part, locs)), [], self.timeout)
            return go

        errs, retries = run_lanes([lane(p) for p in split(files, self.a.concurrency)])

        def verify():
            paths = {f: os.path.join(self.a.tus_dir, ids.get(f, "missing")) for f in files}
            return self.verify_stored(files, paths, ("", ".json"))
        return errs, retries, verify

    def batchup(self, files, url):
        body = {"files": [{"name": os.path.basename(f), "size": os.path.getsize(f),
                           "sha256": self.hashes[f]} for f in files]}
        auth = ["-H", f"Authorization: Bearer {self.a.token}"]
        lines, err = curl(["-X", "POST"] + auth + ["-H", "Content-Type: application/json",
                                                   "--data-binary", json.dumps(body),
                                                   "-w", "\\n%{http_code}\\n", f"{url}/api/v1/batches"],
                          self.timeout)
        if not lines or lines[-1] != "201":
            return [f"POST /api/v1/batches: {lines[-2:]} {err}"], 0, lambda: (False, "no batch")
        batch = json.loads("\n".join(lines[:-1]))
        urls = {f: url + bf["upload_url"] for f, bf in zip(files, batch["files"])}
        ids = {f: bf["id"] for f, bf in zip(files, batch["files"])}

        def lane(part):
            return lambda: patch_lane([(f, urls[f]) for f in part], auth, self.timeout)

        errs, retries = run_lanes([lane(p) for p in split(files, self.a.concurrency)])

        def verify():
            lines2, _ = curl(auth + [f"{url}/api/v1/batches/{batch['id']}"], 30)
            try:
                state = json.loads("\n".join(lines2))
            except ValueError:
                state = {}
            done = sum(1 for x in state.get("files", []) if x.get("status") == "completed")
            paths = {f: os.path.join(self.a.storage_dir, "files", ids[f][:2], ids[f]) for f in files}
            got = sha256_many(paths.values())
            bad = [f for f in files if got.get(paths[f]) != self.hashes[f]]
            for p in paths.values():
                if os.path.exists(p):
                    os.unlink(p)
            ok = not bad and done == len(files) and state.get("status") == "complete"
            return ok, (f"{len(files) - len(bad)}/{len(files)} byte-identical, {done} completed, "
                        f"batch {state.get('status')}")
        return errs, retries, verify

    def measure(self, system, files, url, groups, sample_rss=False):
        subprocess.run(["sync"], check=False)
        workers = [p for p in descendants([self.a.batchup_pid]) if p != self.a.batchup_pid]
        sampler = RssSampler(workers) if sample_rss else None
        s0 = cpu_snapshot(self.groups)
        t0 = time.monotonic()
        errs, retries, verify = getattr(self, system)(files, url)
        t1 = time.monotonic()
        s1 = cpu_snapshot(self.groups)
        mem = sampler.stop() if sampler else None
        subprocess.run(["sync"], check=False)
        t2 = time.monotonic()
        cpu = cpu_seconds(s0, s1)
        ok, note = verify()
        nbytes = sum(os.path.getsize(f) for f in files)
        return {"bytes": nbytes, "seconds": t1 - t0, "sync_seconds": t2 - t1,
                "cpu": {g: cpu[g] for g in groups}, "errors": errs[:5], "nerrors": len(errs),
                "retries": retries, "verified": ok and not errs, "note": note, "mem": mem}


def fmt_size(n):
    return f"{n // (1 << 30)} GiB" if n >= 1 << 30 else f"{n // MIB} MiB"


def cmd_upload(a):
    up = Upload(a)
    # The app floor runs right before batchup in each round, so that the
    # two see the same machine: their ratio is also given round by round.
    systems = [("floor", "durable floor (dd, fdatasync)", a.url, []),
               ("ceiling", "nginx ceiling", a.url, ["nginx"]),
               ("tus", f"@tus/server {a.tus_version}", a.url, ["nginx", "node"]),
               ("appfloor", "app floor (fcgi_floor)", a.url, ["nginx", "appfloor"]),
               ("batchup", "batchup", a.url, ["nginx", "batchup", "postgres"])]
    if a.tuned_url:
        systems.append(("batchup", "batchup, tuned nginx*", a.tuned_url,
                        ["nginx", "batchup", "postgres"]))
    results = []
    for spec in a.sizes:
        prefix, reps = spec.split(":")
        files = up.files(prefix)
        for rep in range(int(reps)):
            for key, label, url, groups in systems:
                log(f"upload {prefix} round {rep + 1}/{reps}: {label}")
                r = up.measure(key, files, url, groups, sample_rss=(key == "batchup"))
                r.update(size=os.path.getsize(files[0]), files=len(files), system=label, rep=rep)
                if not r["verified"]:
                    log(f"  NOT VERIFIED: {r['note']} {r['errors']}")
                log(f"  {r['bytes'] / r['seconds'] / 1e6:.0f} MB/s, {r['note']}")
                results.append(r)
    json.dump(results, open(a.out, "w"), indent=1)
    print_upload(results, a)


def table(rows, header, align=None):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    if align is None:  # numbers (and "-", "a-b" ranges) to the right, words to the left
        align = [">" if all(re.fullmatch(r"[\d.]+(-[\d.]+)?|-", str(x)) for x in col) else "<"
                 for col in zip(*rows)] if rows else ["<"] * len(header)

    def line(r):
        return "  ".join(f"{str(x):{al}{w}}" for x, w, al in zip(r, widths, align)).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def agg(rs):
    """Median MB/s over rounds; CPU over the sum of all rounds."""
    mbs = statistics.median(r["bytes"] / r["seconds"] / 1e6 for r in rs)
    mbs_sync = statistics.median(r["bytes"] / (r["seconds"] + r["sync_seconds"]) / 1e6 for r in rs)
    nbytes = sum(r["bytes"] for r in rs)
    cpu = {}
    for r in rs:
        for g, v in r["cpu"].items():
            cpu[g] = cpu.get(g, 0) + v
    per = {g: v / (nbytes / 1e9) for g, v in cpu.items()}
    return mbs, mbs_sync, per, all(r["verified"] for r in rs)


def print_paired(results):
    """batchup / app floor round by round: the two run one after the other
    in each round, so a machine whose speed drifts between rounds (another
    job starting) moves both, and the median of the paired ratios is
    steadier than the ratio of the medians."""
    rows = []
    for size in sorted({r["size"] for r in results}):
        mbs = {}
        for r in results:
            if r["size"] == size and (r["system"] == "batchup" or r["system"].startswith("app floor")):
                mbs[(r["system"] == "batchup", r["rep"])] = r["bytes"] / r["seconds"] / 1e6
        ratios = [mbs[(True, k)] / mbs[(False, k)] for (b, k) in sorted(mbs)
                  if b and (False, k) in mbs]
        if ratios:
            rows.append([fmt_size(size), " ".join(f"{x:.2f}" for x in ratios),
                         f"{statistics.median(ratios):.2f}",
                         "yes" if statistics.median(ratios) >= 0.85 else "no"])
    if rows:
        print("batchup / app floor, MB/s, round by round (each round runs the app floor, then batchup)")
        print(table(rows, ["size", "rounds", "median", ">= 0.85"]))
        print()


def print_upload(results, a):
    keys = []
    for r in results:
        k = (r["size"], r["files"], r["system"])
        if k not in keys:
            keys.append(k)
    rows, summary, cpu_per = [], {}, {}
    for k in keys:
        rs = [r for r in results if (r["size"], r["files"], r["system"]) == k]
        mbs, mbs_sync, per, ok = agg(rs)
        summary[k] = mbs
        cpu_per[k] = per
        app = per.get("batchup", per.get("node", per.get("appfloor")))
        rows.append([fmt_size(k[0]), f"{k[1]} x{len(rs)}", k[2], f"{mbs:.0f}", f"{mbs_sync:.0f}",
                     f"{sum(per.values()):.2f}" if per else "-",
                     f"{per['nginx']:.2f}" if "nginx" in per else "-",
                     "-" if app is None else f"{app:.2f}",
                     f"{per['postgres']:.2f}" if "postgres" in per else "-",
                     "yes" if ok else "NO"])
    print(f"Upload: {a.concurrency} uploads at once through nginx (curl, one keep-alive connection"
          " per lane)")
    print(table(rows, ["size", "files x rounds", "system", "MB/s", "MB/s+sync", "CPU s/GB",
                       "nginx", "app", "pg", "sha256 ok"]))
    print("MB/s: file bytes / wall time (median of rounds); MB/s+sync: the same with the time of a")
    print("`sync` after the round (batchup fsyncs every file before answering; nginx and")
    print("@tus/file-store leave the data in the page cache). CPU s/GB: server processes only")
    print("(nginx: master+worker; app: batchup master+workers, or node; pg: PostgreSQL). The")
    print("durable floor runs no server: dd copies each file (256 KiB blocks, one fdatasync per")
    print("file), as many at once as the uploads, onto the same disk. The app floor is")
    print("tests/bench/fcgi_floor.c behind the same nginx: a FastCGI responder that reads each")
    print("body, hashes it (SHA-256, CRC-32), writes it with O_DIRECT and fdatasyncs it, and")
    print("does nothing else.")
    if a.tuned_url:
        print(f"* what-if, not conf/nginx.conf: the same server with client_body_buffer_size "
              f"{a.tuned_body_buffer} and fastcgi_buffer_size {a.tuned_fastcgi_buffer}.")
    print()
    rrows = []
    for size, nf, _ in keys:
        by = {s: v for (sz, n, s), v in summary.items() if sz == size and n == nf}
        c = by.get("nginx ceiling")
        fl = next((v for s, v in by.items() if s.startswith("durable floor")), None)
        t = next((v for s, v in by.items() if s.startswith("@tus")), None)
        b = by.get("batchup")
        af = next((v for s, v in by.items() if s.startswith("app floor")), None)
        if not (c and t and b and fl and af):
            continue
        row = [fmt_size(size), f"{b / fl:.2f}", "yes" if b / fl >= 0.80 else "no",
               f"{b / t:.2f}", "yes" if b / t >= 1.5 else "no", f"{b / c:.2f}",
               f"{b / af:.2f}", f"{af / fl:.2f}"]
        tb = next((v for s, v in by.items() if s.startswith("batchup, tuned")), None)
        if tb:
            row += [f"{tb / c:.2f}", f"{tb / t:.2f}"]
        if row not in rrows:
            rrows.append(row)
    print("Upload ratios (MB/s)")
    head = ["size", "batchup/floor", ">= 0.80", "batchup/@tus", ">= 1.5", "batchup/ceiling",
            "batchup/app floor", "app floor/floor"]
    if rrows and len(rrows[0]) > len(head):
        head += ["tuned*/ceiling", "tuned*/@tus"]
    print(table(rrows, head))
    print()
    print_paired(results)
    crows = []
    for size, nf, _ in keys:
        per = {s: v for (sz, n, s), v in cpu_per.items() if sz == size and n == nf}
        b = per.get("batchup", {}).get("batchup")
        t = next((v.get("node") for s, v in per.items() if s.startswith("@tus")), None)
        f = next((v.get("appfloor") for s, v in per.items() if s.startswith("app floor")), None)
        if not (b and t and f):  # absent, or too little CPU to see in clock ticks
            continue
        row = [fmt_size(size), f"{b:.2f}", "yes" if b <= 1.0 else "no", f"{t:.2f}", f"{b / t:.2f}",
               "yes" if b / t <= 0.5 else "no", f"{f:.2f}", f"{b / f:.2f}", f"{f / t:.2f}"]
        if row not in crows:
            crows.append(row)
    print("Upload app CPU (s/GB: batchup master+workers, node, fcgi_floor's processes)")
    print(table(crows, ["size", "batchup", "<= 1.0", "node", "batchup/node", "<= 0.5",
                        "app floor", "batchup/app floor", "app floor/node"]))
    print()
    mrows = []
    for r in results:
        if r.get("mem") and r["system"] == "batchup" and r["size"] >= 64 * MIB:
            m = r["mem"]
            mrows.append([fmt_size(r["size"]), str(r["rep"] + 1), f"{m['rss_peak_kib'] / 1024:.1f}",
                          f"{m['hwm_kib'] / 1024:.1f}",
                          " ".join(f"{x / 1024:.1f}" for x in m["hwm_each_kib"]),
                          str(m["samples"])])
    if mrows:
        print("batchup worker memory while receiving (VmRSS sampled every 50 ms; VmHWM reset before")
        print("the round through /proc/PID/clear_refs; MiB; goal: constant and < 8 MiB)")
        print(table(mrows, ["file size", "round", "peak VmRSS", "peak VmHWM",
                            "VmHWM of each worker", "samples"]))
        print()
    bad = [r for r in results if not r["verified"]]
    for r in bad:
        print(f"NOT VERIFIED: {fmt_size(r['size'])} {r['system']} round {r['rep'] + 1}: "
              f"{r['note']}; {r['nerrors']} errors: {r['errors']}")
    retried = [r for r in results if r["retries"]]
    for r in retried:
        print(f"note: {fmt_size(r['size'])} {r['system']}: {r['retries']} PATCHes answered 423 "
              "and retried")


# ---- download ------------------------------------------------------------

def cmd_prepare_download(a):
    """Upload the input files as one batchup batch; write what the download
    benchmark needs (ids, hashes, the link, the ZIP's length) as JSON."""
    hashes = json.load(open(a.hashes))
    files = sorted(hashes)
    auth = ["-H", f"Authorization: Bearer {a.token}"]
    body = {"files": [{"name": os.path.basename(f), "size": os.path.getsize(f),
                       "sha256": hashes[f]} for f in files]}
    lines, err = curl(["-X", "POST"] + auth + ["-H", "Content-Type: application/json",
                                               "--data-binary", json.dumps(body),
                                               f"{a.url}/api/v1/batches"], 60)
    batch = json.loads("\n".join(lines))
    pairs = [(f, a.url + bf["upload_url"]) for f, bf in zip(files, batch["files"])]
    errs, _ = run_lanes([lambda p=p: patch_lane(p, auth, 600) for p in split(pairs, 5)])
    if errs:
        sys.exit(f"prepare-download: uploads failed: {errs}")
    lines, err = curl(auth + [f"{a.url}/api/v1/batches/{batch['id']}"], 60)
    state = json.loads("\n".join(lines))
    if state.get("status") != "complete" or not state.get("download_url"):
        sys.exit(f"prepare-download: the batch is not complete: {state}")
    head, _ = curl(["-I", f"{a.url}{state['download_url']}"], 60)
    zip_size = next(int(h.split(":", 1)[1]) for h in head
                    if h.lower().startswith("content-length:"))
    ids = [bf["id"] for bf in batch["files"]]
    spec = {"token": a.token, "ids": ids, "download_url": state["download_url"],
            "sha256": {i: hashes[f] for i, f in zip(ids, files)},
            "total": sum(os.path.getsize(f) for f in files), "zip_size": zip_size}
    json.dump(spec, open(a.out, "w"), indent=1)


def cmd_download(a):
    spec = json.load(open(a.spec))
    groups_all = {"nginx": [a.nginx_pid], "batchup": [a.batchup_pid], "postgres": [a.pg_pid]}
    auth = ["-H", f"Authorization: Bearer {spec['token']}"]
    results = []
    for mode in a.modes:
        label, base, sysgroups = mode.split("=", 1)[0], mode.split("=", 1)[1], None
        kind = label.split("@")[0]
        if kind == "static":
            urls = [f"{base}/bench/static/{i[:2]}/{i}" for i in spec["ids"]]
            extra, groups = [], ["nginx"]
        elif kind == "zip":
            urls = [f"{base}{spec['download_url']}"]
            extra, groups = [], ["nginx", "batchup", "postgres"]
        else:
            urls = [f"{base}/api/v1/download/stream/{i}" for i in spec["ids"]]
            extra, groups = auth, ["nginx", "batchup", "postgres"]
        sysgroups = {g: groups_all[g] for g in groups}
        want = spec["zip_size"] if kind == "zip" else spec["total"]
        # Once, not timed: the bytes are right.
        ok, note = verify_download(kind, urls, extra, spec, a.work)
        for clients in a.clients:
            for rep in range(a.reps):
                lanes_urls = [urls] * clients if kind == "zip" else (
                    [urls] if clients == 1 else [[u] for u in urls])
                s0 = cpu_snapshot(sysgroups)
                t0 = time.monotonic()
                out = []

                def lane(us):
                    def go():
                        args = extra + ["-w", "%{http_code} %{size_download}\\n"]
                        for u in us:
                            args += ["-o", "/dev/null", u]
                        lines, err = curl(args, a.timeout)
                        out.extend(lines)
                        bad = [ln for ln in lines if not ln.startswith("200 ")]
                        return ([f"{bad} {err}"] if bad or len(lines) != len(us) else []), 0
                    return go
                errs, _ = run_lanes([lane(us) for us in lanes_urls])
                t1 = time.monotonic()
                s1 = cpu_snapshot(sysgroups)
                nbytes = sum(int(ln.split()[1]) for ln in out if len(ln.split()) == 2)
                expect = want * (clients if kind == "zip" else 1)
                r = {"mode": label, "clients": clients, "rep": rep, "bytes": nbytes,
                     "seconds": t1 - t0, "cpu": cpu_seconds(s0, s1),
                     "verified": ok and not errs and nbytes == expect,
                     "note": note, "errors": errs[:3]}
                log(f"download {label} clients={clients} round {rep + 1}: "
                    f"{nbytes / (t1 - t0) / 1e6:.0f} MB/s {'' if r['verified'] else 'NOT VERIFIED'}")
                results.append(r)
    json.dump(results, open(a.out, "w"), indent=1)


def verify_download(kind, urls, extra, spec, work):
    """Download once and compare: files by SHA-256, the ZIP member by member."""
    import zipfile
    if kind != "zip":
        for u, i in zip(urls, spec["ids"]):
            h = hashlib.sha256()
            p = subprocess.Popen(["curl", "-sS", "-f", "--max-time", "300"] + extra + [u],
                                 stdout=subprocess.PIPE)
            while True:
                b = p.stdout.read(4 * MIB)
                if not b:
                    break
                h.update(b)
            if p.wait() != 0 or h.hexdigest() != spec["sha256"][i]:
                return False, f"{u}: differs"
        return True, "sha256 of every file matches"
    path = os.path.join(work, "check.zip")
    try:
        subprocess.run(["curl", "-sS", "-f", "--max-time", "300", "-o", path, urls[0]], check=True)
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) != len(spec["ids"]):
                return False, f"ZIP has {len(infos)} entries"
            for info, i in zip(infos, spec["ids"]):
                h = hashlib.sha256()
                with z.open(info) as m:  # checks the CRC-32 at the end
                    while True:
                        b = m.read(4 * MIB)
                        if not b:
                            break
                        h.update(b)
                if h.hexdigest() != spec["sha256"][i]:
                    return False, f"ZIP member {info.filename} differs"
        return True, "ZIP: every member's CRC-32 and sha256 match"
    except (subprocess.CalledProcessError, zipfile.BadZipFile, OSError) as e:
        return False, f"ZIP check failed: {e}"
    finally:
        if os.path.exists(path):
            os.unlink(path)


DL_LABELS = {
    "static": "(i) nginx static file",
    "stream-off": "(ii) batchup stream, sendfile=off",
    "stream-xaccel": "(iii) batchup stream, x-accel-redirect",
    "zip": "(iv) batchup ZIP of the batch",
    "stream-off@tuned": "(ii*) stream, sendfile=off, tuned nginx",
    "zip@tuned": "(iv*) ZIP, tuned nginx",
}


def cmd_report_download(a):
    results = [r for f in a.files for r in json.load(open(f))]
    rows, ref = [], {}
    modes = []
    for r in results:
        if (r["mode"], r["clients"]) not in modes:
            modes.append((r["mode"], r["clients"]))
    order = list(DL_LABELS)
    modes.sort(key=lambda m: (order.index(m[0]) if m[0] in order else 99))
    for clients in sorted({c for _, c in modes}):
        for mode, c in modes:
            if c != clients:
                continue
            rs = [r for r in results if r["mode"] == mode and r["clients"] == c]
            mbs = [r["bytes"] / r["seconds"] / 1e6 for r in rs]
            nbytes = sum(r["bytes"] for r in rs)
            cpu = {}
            for r in rs:
                for g, v in r["cpu"].items():
                    cpu[g] = cpu.get(g, 0) + v
            per = {g: v / (nbytes / 1e9) for g, v in cpu.items()}
            med = statistics.median(mbs)
            if mode == "static":
                ref[c] = med
            rows.append([str(c), DL_LABELS.get(mode, mode), f"{med:.0f}",
                         f"{min(mbs):.0f}-{max(mbs):.0f}",
                         f"{med / ref[c]:.2f}" if ref.get(c) else "-",
                         f"{sum(per.values()):.2f}", f"{per.get('nginx', 0):.2f}",
                         f"{per['batchup']:.2f}" if "batchup" in per else "-",
                         f"{per['postgres']:.2f}" if "postgres" in per else "-",
                         "yes" if all(r["verified"] for r in rs) else "NO"])
    print(f"Download: a batch of {a.nfiles} files of {a.file_mib} MiB (warm page cache), "
          f"curl -o /dev/null, {a.reps} rounds")
    print(table(rows, ["clients", "what", "MB/s", "range", "/static", "CPU s/GB", "nginx",
                       "batchup", "pg", "bytes ok"]))
    print("clients 1: one connection fetching the 5 files one after the other (the ZIP: one")
    print("request); clients 5: 5 connections at once, one file each (the ZIP: 5 whole ZIPs).")
    print("/static: MB/s over (i) at the same client count (goal for the ZIP: >= 0.80).")
    if any("@tuned" in m for m, _ in modes):
        print(f"* what-if, not conf/nginx.conf: fastcgi_buffer_size {a.tuned_fastcgi_buffer} on "
              "the download location.")
    bad = [r for r in results if not r["verified"]]
    for r in bad:
        print(f"NOT VERIFIED: {r['mode']} clients={r['clients']}: {r['note']} {r['errors']}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("spec", nargs="+")
    n = sub.add_parser("nginx-patch")
    n.add_argument("conf")
    n.add_argument("--port", required=True)
    n.add_argument("--tus-port", required=True)
    n.add_argument("--ceiling-dir", required=True)
    n.add_argument("--static-dir", required=True)
    n.add_argument("--fcgi-floor-socket", default="", help="upload.sh's app floor")
    n.add_argument("--tuned-port", default="")
    n.add_argument("--tuned-body-buffer", default="1m")
    n.add_argument("--tuned-fastcgi-buffer", default="256k")
    n.add_argument("--tuned-fastcgi-busy", default="512k")
    u = sub.add_parser("upload")
    for k in ("url", "token", "hashes", "ceiling-dir", "floor-dir", "fcgi-floor-dir", "tus-dir",
              "storage-dir", "out", "tus-version"):
        u.add_argument("--" + k, required=True)
    u.add_argument("--tuned-url", default="")
    u.add_argument("--tuned-body-buffer", default="1m")
    u.add_argument("--tuned-fastcgi-buffer", default="256k")
    for k in ("nginx-pid", "batchup-pid", "pg-pid", "node-pid", "fcgi-floor-pid"):
        u.add_argument("--" + k, type=int, required=True)
    u.add_argument("--concurrency", type=int, default=5)
    u.add_argument("--timeout", type=int, default=600)
    u.add_argument("--sizes", nargs="+", required=True, help="PREFIX:ROUNDS")
    d = sub.add_parser("download")
    for k in ("spec", "out", "work"):
        d.add_argument("--" + k, required=True)
    for k in ("nginx-pid", "batchup-pid", "pg-pid"):
        d.add_argument("--" + k, type=int, required=True)
    d.add_argument("--modes", nargs="+", required=True, help="LABEL=BASEURL")
    d.add_argument("--clients", type=int, nargs="+", default=[1, 5])
    d.add_argument("--reps", type=int, default=3)
    d.add_argument("--timeout", type=int, default=600)
    pd = sub.add_parser("prepare-download")
    for k in ("url", "token", "hashes", "out"):
        pd.add_argument("--" + k, required=True)
    r = sub.add_parser("report-download")
    r.add_argument("files", nargs="+")
    r.add_argument("--nfiles", type=int, default=5)
    r.add_argument("--file-mib", type=int, default=200)
    r.add_argument("--reps", type=int, default=3)
    r.add_argument("--tuned-fastcgi-buffer", default="256k")
    a = ap.parse_args()
    {"gen": cmd_gen, "nginx-patch": cmd_nginx_patch, "upload": cmd_upload,
     "download": cmd_download, "prepare-download": cmd_prepare_download,
     "report-download": cmd_report_download}[a.cmd](a)


if __name__ == "__main__":
    main()
