#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""socket-activate.py PATH [--fds N] [--pid-offset K] COMMAND...: what systemd does
for a socket unit, for tests: listen on the unix socket PATH, make it
descriptor 3 (and N-1 more listening sockets after it with --fds), set
LISTEN_PID to our pid (plus K with --pid-offset: a socket meant for someone
else) and LISTEN_FDS, and exec COMMAND, which keeps our pid."""
import os
import socket
import sys

args = sys.argv[1:]
path = args.pop(0)
fds, offset = 1, 0
while args and args[0].startswith("--"):
    opt, value = args.pop(0), int(args.pop(0))
    if opt == "--fds":
        fds = value
    elif opt == "--pid-offset":
        offset = value
for i in range(fds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path if i == 0 else "%s.%d" % (path, i))
    s.listen(128)
    os.dup2(s.fileno(), 3 + i)
    os.set_inheritable(3 + i, True)
    s.detach()
os.environ["LISTEN_PID"] = str(os.getpid() + offset)
os.environ["LISTEN_FDS"] = str(fds)
os.execvp(args[0], args)
