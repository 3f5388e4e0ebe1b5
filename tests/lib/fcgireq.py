#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""fcgireq.py: one request straight to batchup's FastCGI socket, as a web
server would send it, with the response read at a chosen pace.

    fcgireq.py SOCKET METHOD URI [options]

    --addr A           REMOTE_ADDR (127.0.0.1)
    --header N:V       an HTTP request header (HTTP_N), repeatable
    --body-size N      declare CONTENT_LENGTH N and send N bytes of JSON
                       whitespace ...
    --body-rate B      ... at B bytes a second (default: at once)
    --gulp N --every S read the response N bytes at a time, every S seconds
                       (as nginx drains an unbuffered response: in large
                       gulps); default: as fast as it comes
    --hold S           read nothing for S seconds first (a reader that
                       stalls), then go on
    --out FILE         write the response body there
    --seconds S        give up after S seconds (default 120)

Prints "status N", "body_bytes N", "content_length N" (-1 when none),
"ended 1|0" (the END_REQUEST record arrived), "seconds S". Exits 0 when the
connection ended, 1 when it was given up.
"""

import socket
import struct
import sys
import time

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def record(rtype, content, rid=1):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    n, v = name.encode(), value.encode()
    return length(len(n)) + length(len(v)) + n + v


def main():
    args = sys.argv[1:]
    sock_path, method, uri = args[0], args[1], args[2]
    opts = {"--addr": "127.0.0.1", "--seconds": "120"}
    headers = []
    i = 3
    while i < len(args):
        if args[i] == "--header":
            headers.append(args[i + 1])
        else:
            opts[args[i]] = args[i + 1]
        i += 2
    body_size = int(opts.get("--body-size", "0"))
    path, _, query = uri.partition("?")
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "SCRIPT_NAME": path,
              "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
              "REMOTE_ADDR": opts["--addr"], "REMOTE_PORT": "40000",
              "SERVER_NAME": "localhost", "SERVER_PORT": "80",
              "CONTENT_LENGTH": str(body_size) if body_size else ""}
    for h in headers:
        name, _, value = h.partition(":")
        key = "HTTP_" + name.strip().upper().replace("-", "_")
        if key == "HTTP_CONTENT_TYPE":
            key = "CONTENT_TYPE"
        params[key] = value.strip()
    start = time.monotonic()
    give_up = start + float(opts["--seconds"])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    encoded = b"".join(pair(k, v) for k, v in params.items())
    s.sendall(record(BEGIN, struct.pack(">HB5x", 1, 0)) + record(PARAMS, encoded) +
              record(PARAMS, b""))
    if body_size:
        rate = float(opts.get("--body-rate", "0"))
        sent = 0
        while sent < body_size and time.monotonic() < give_up:
            n = min(body_size - sent, 8192 if rate == 0 else max(1, int(rate / 10)))
            try:
                s.sendall(record(STDIN, b" " * n))
            except OSError:
                break
            sent += n
            if rate:
                time.sleep(0.1)
    try:
        s.sendall(record(STDIN, b""))
    except OSError:
        pass

    if "--hold" in opts:
        time.sleep(float(opts["--hold"]))
    gulp = int(opts.get("--gulp", "0"))
    every = float(opts.get("--every", "0"))
    out = open(opts["--out"], "wb") if "--out" in opts else None
    raw = b""
    stdout = b""
    ended = False
    closed = False
    taken = 0
    s.settimeout(0.5)
    while not ended and time.monotonic() < give_up:
        if gulp and taken >= gulp:
            time.sleep(every)
            taken = 0
        try:
            data = s.recv(65536 if not gulp else min(65536, gulp - taken))
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
        if not data:
            closed = True
            break
        taken += len(data)
        raw += data
        while len(raw) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHB", raw[:7])
            if len(raw) < 8 + clen + plen:
                break
            content = raw[8:8 + clen]
            raw = raw[8 + clen + plen:]
            if rtype == STDOUT:
                stdout += content
                if out is not None and b"\r\n\r\n" in stdout:
                    head, _, rest = stdout.partition(b"\r\n\r\n")
                    out.write(rest)
                    stdout = head + b"\r\n\r\n"
            elif rtype == END:
                ended = True
    head, _, body = stdout.partition(b"\r\n\r\n")
    status, length = 200, -1
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name.lower() == "content-length":
            length = int(value)
    got = (out.tell() if out is not None else len(body))
    print(f"status {status}")
    print(f"body_bytes {got}")
    print(f"content_length {length}")
    print(f"ended {1 if ended else 0}")
    print(f"seconds {time.monotonic() - start:.1f}")
    for line in head.decode("latin-1").split("\r\n"):
        print(f"header {line}")
    return 0 if ended or closed else 1


if __name__ == "__main__":
    sys.exit(main())
