#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run-local.sh: a working batchup stack for a person to try (`make run`).
#
# PostgreSQL (a private cluster under var/pg, kept between runs), batchup
# serve (config var/batchup.conf, socket var/batchup.sock, files in
# var/storage, log var/batchup.log) and a web server on
# http://127.0.0.1:8080/ (BATCHUP_PORT to change it), built from its shipped
# configuration like the tests': WEB=nginx (the default), apache (mod_proxy_fcgi),
# apache-fcgid or apache-htaccess (Apache starts batchup itself), lighttpd or
# lighttpd-spawn (`make run WEB=apache`).
# Creates the user "demo" when missing, prints a fresh token for it and a few
# curl commands, then stays in the foreground showing batchup's log; Ctrl-C
# stops everything it started. Extra config keys: STACK_CONF="key=value ...".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)

tests/lib/deps.sh || exit 1
[ -x "${BATCHUP_BIN:-build/batchup}" ] || { echo "run-local: build/batchup is missing: run make" >&2; exit 1; }

# shellcheck source=tests/lib/stack.sh
. tests/lib/stack.sh

# As root, the cluster belongs to the postgres user, which must be able to
# reach it; a clone under /root (mode 0700) is out of its reach, so the
# cluster then lives in /var/tmp instead, named after this clone.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$REPO"; then
    STACK_PG_DIR=/var/tmp/batchup-pg-$(printf '%s' "$REPO" | md5sum | cut -c1-12)
    echo "run-local: user postgres cannot reach $REPO; the cluster lives in $STACK_PG_DIR" >&2
fi

port=${BATCHUP_PORT:-8080}
export STACK_WEB=${WEB:-${STACK_WEB:-nginx}}
case $STACK_WEB in
    nginx | apache | apache-fcgid | apache-htaccess | lighttpd | lighttpd-spawn) ;;
    *)
        echo "run-local: WEB=$STACK_WEB: choose nginx, apache, apache-fcgid, apache-htaccess, lighttpd or lighttpd-spawn" >&2
        exit 2
        ;;
esac
stack_init "$REPO/var" || exit 1
STACK_SHOW_LOGS=0

stack_pg_start || exit 1
# make run holds a queued PATCH for its slot, as a production server does.
STACK_QUEUE_HOLD_SECONDS=${STACK_QUEUE_HOLD_SECONDS:-20}
stack_write_conf || exit 1
stack_migrate || { echo "run-local: batchup migrate failed" >&2; exit 1; }
stack_web_start "$port" || { echo "run-local: $STACK_WEB could not listen on 127.0.0.1:$port (BATCHUP_PORT=... to choose another port)" >&2; exit 1; }
stack_batchup_start || exit 1

if ! "$BATCHUP_BIN" user list -c "$BATCHUP_CONF" 2>/dev/null | grep -qw demo; then
    "$BATCHUP_BIN" user add demo -c "$BATCHUP_CONF" >/dev/null || exit 1
fi
token=$("$BATCHUP_BIN" user token demo -c "$BATCHUP_CONF") || exit 1

cat <<INFO

batchup is running behind $STACK_WEB: $BATCHUP_URL/  (open it in a browser and paste the token)
  user "demo", token: $token

  curl $BATCHUP_URL/api/v1/health
  curl -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
       -d '{"files":[{"name":"hello.txt","size":5}]}' $BATCHUP_URL/api/v1/batches
  # then, with the upload_url of the answer:
  curl -X PATCH -H 'Authorization: Bearer $token' -H 'Tus-Resumable: 1.0.0' \\
       -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \\
       --data-binary 'hello' $BATCHUP_URL/api/v1/files/FILE_ID

  psql: PGHOST=$PGHOST psql -U postgres batchup
  logs: var/batchup.log, $STACK_WEB_ERROR_LOG, $STACK_PG_DIR/postgres.log
Ctrl-C stops everything.

INFO
if [ "$STACK_WEB" = apache-htaccess ]; then
    echo "run-local: this Apache keeps a shared host's mod_fcgid defaults: a PATCH body may not exceed"
    echo "           128 KiB (FcgidMaxRequestLen), so the upload page (8 MiB chunks) fails for larger files."
    echo
fi

tail -n 0 -F "$STACK_DIR/batchup.log" &
tail_pid=$!
trap 'rc=$?; kill "$tail_pid" 2>/dev/null; (exit "$rc"); stack_cleanup' EXIT

# Where the web server starts batchup itself there is no batchup process of
# ours to wait for: the web server's end is enough.
wait -n ${BATCHUP_PID:+"$BATCHUP_PID"} "$WEB_PID"
echo "run-local: batchup or $STACK_WEB stopped by itself; stopping the rest" >&2
exit 1
