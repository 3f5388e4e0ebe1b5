#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The end-to-end suite behind a shared host's Apache (plain virtual host, mod_fcgid at its defaults) with conf/htaccess and conf/batchup.fcgi: PATCH bodies capped at 128 KiB by the host, so small chunks; no sendfile,
# built from the shipped configuration: tus-js-client batch of 8 files with
# limit 5, 423 before or after the body, a chunked PATCH, resume after a cut
# connection, the ZIP, a ranged download, no link token in the access log,
# and the sendfile mode. See tests/lib/web-e2e.sh for the checks.
exec "$(dirname "$0")/../lib/web-e2e.sh" apache-htaccess
