#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The end-to-end suite behind lighttpd starting batchup itself (conf/lighttpd.conf with its bin-path lines; sendfile = x-sendfile),
# built from the shipped configuration: tus-js-client batch of 8 files with
# limit 5, 423 before or after the body, a chunked PATCH, resume after a cut
# connection, the ZIP, a ranged download, no link token in the access log,
# and the sendfile mode. See tests/lib/web-e2e.sh for the checks.
exec "$(dirname "$0")/../lib/web-e2e.sh" lighttpd-spawn
