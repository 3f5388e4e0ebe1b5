#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""slowreq.py: one HTTP request whose body is trickled over some seconds.

    slowreq.py METHOD URL BODY SECONDS [PIECES] [-H 'Name: value']...

Sends the request line and headers (with Content-Length) at once, then the
body in PIECES (8) equal parts spread over SECONDS, and prints the response:
the status code on the first line, the body after it. Tests use it to hold a
request in flight (through nginx with fastcgi_request_buffering off, batchup
is reading the body meanwhile) while they signal the server. Exits 0 when a
response arrived, 1 otherwise; a response never takes longer than SECONDS +
60 s to wait for.
"""

import http.client
import sys
import time
import urllib.parse


def main():
    args = sys.argv[1:]
    headers = {}
    rest = []
    i = 0
    while i < len(args):
        if args[i] == "-H":
            name, _, value = args[i + 1].partition(":")
            headers[name.strip()] = value.strip()
            i += 2
        else:
            rest.append(args[i])
            i += 1
    method, url, body, seconds = rest[0], rest[1], rest[2].encode(), float(rest[3])
    pieces = int(rest[4]) if len(rest) > 4 else 8

    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=seconds + 60)
    conn.putrequest(method, u.path + ("?" + u.query if u.query else ""))
    headers.setdefault("Content-Length", str(len(body)))
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    size = -(-len(body) // pieces)
    for n in range(pieces):
        conn.send(body[n * size:(n + 1) * size])
        if n < pieces - 1:
            time.sleep(seconds / (pieces - 1))
    try:
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException) as e:
        print("000")
        print("no response: %s" % e)
        return 1
    print(resp.status)
    sys.stdout.write(resp.read().decode("utf-8", "replace"))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
