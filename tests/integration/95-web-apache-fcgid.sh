#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The end-to-end suite behind Apache with mod_fcgid starting batchup itself (conf/apache-fcgid.conf; sendfile = x-sendfile): bodies are buffered, so 423 comes after the body and a cut PATCH keeps nothing,
# built from the shipped configuration: tus-js-client batch of 8 files with
# limit 5, 423 before or after the body, a chunked PATCH, resume after a cut
# connection, the ZIP, a ranged download, no link token in the access log,
# and the sendfile mode. See tests/lib/web-e2e.sh for the checks.
exec "$(dirname "$0")/../lib/web-e2e.sh" apache-fcgid
