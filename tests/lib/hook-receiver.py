#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""hook-receiver.py PORT_FILE LOG [--delay S] [--fail-first N] [--fail-type T]
[--seconds S]: a hook receiver for tests, on 127.0.0.1 (a free port, written
to PORT_FILE). For each POST it appends to LOG, one line each,

    start <json id> <Idempotency-Key> <type> <batch_id> <download_url> <unix time>
    done <json id> <status>          (written before the answer is sent)

answering 500 to the first N deliveries of each event id (--fail-first) and
to every event of type T (--fail-type), else 200, after sleeping S seconds
(--delay: a slow receiver). It stops by itself after --seconds (120)."""
import json
import os
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
port_file, log_path = args[0], args[1]
opts = {"--delay": 0.0, "--fail-first": 0, "--fail-type": "", "--seconds": 120}
i = 2
while i < len(args):
    opts[args[i]] = type(opts[args[i]])(args[i + 1])
    i += 2
seen = Counter()
log = open(log_path, "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        event = json.loads(body)
        seen[event["id"]] += 1
        log.write("start %s %s %s %s %s %.3f\n" % (
            event["id"], self.headers.get("Idempotency-Key"), event["type"], event["batch_id"],
            event["download_url"], time.time()))
        fail = seen[event["id"]] <= opts["--fail-first"] or event["type"] == opts["--fail-type"]
        time.sleep(opts["--delay"])
        status = 500 if fail else 200
        # "done" before the answer: a start without its done is a delivery
        # whose sender cannot have had the answer yet.
        log.write("done %s %d\n" % (event["id"], status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
threading.Timer(opts["--seconds"], lambda: os._exit(0)).start()
server.serve_forever()
