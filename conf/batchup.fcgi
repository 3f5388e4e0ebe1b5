#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# batchup.fcgi: the wrapper mod_fcgid starts for conf/htaccess on a shared
# host. Copy it next to the .htaccess (mode 0755, owned by you: suEXEC
# refuses anything else) and set the two paths below.
#
# mod_fcgid starts it with a listening socket as standard input; batchup
# serves on that socket instead of its `listen` address. mod_fcgid sends
# one request at a time to each process and starts more processes for
# concurrent requests, so one batchup worker per process is enough. Its log
# lines (standard error) go to the site's error log.

BATCHUP=/home/USER/batchup/bin/batchup
CONFIG=/home/USER/batchup/batchup.conf

BATCHUP_WORKERS=1
export BATCHUP_WORKERS
exec "$BATCHUP" serve -c "$CONFIG"
