#!/bin/bash
# run-local.sh: a working batchup stack for a person to try (`make run`).
#
# PostgreSQL (a private cluster under var/pg, kept between runs), batchup
# serve (config var/batchup.conf, socket var/batchup.sock, files in
# var/storage, log var/batchup.log) and nginx on http://127.0.0.1:8080/
# (BATCHUP_PORT to change it), built from conf/nginx.conf like the tests'.
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
stack_init "$REPO/var" || exit 1
STACK_SHOW_LOGS=0

stack_pg_start || exit 1
stack_write_conf || exit 1
stack_migrate || { echo "run-local: batchup migrate failed" >&2; exit 1; }
stack_nginx_start "$port" || { echo "run-local: nginx could not listen on 127.0.0.1:$port (BATCHUP_PORT=... to choose another port)" >&2; exit 1; }
stack_batchup_start || exit 1

if ! "$BATCHUP_BIN" user list -c "$BATCHUP_CONF" 2>/dev/null | grep -qw demo; then
    "$BATCHUP_BIN" user add demo -c "$BATCHUP_CONF" >/dev/null || exit 1
fi
token=$("$BATCHUP_BIN" user token demo -c "$BATCHUP_CONF") || exit 1

cat <<INFO

batchup is running: $BATCHUP_URL/  (open it in a browser and paste the token)
  user "demo", token: $token

  curl $BATCHUP_URL/api/v1/health
  curl -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
       -d '{"files":[{"name":"hello.txt","size":5}]}' $BATCHUP_URL/api/v1/batches
  # then, with the upload_url of the answer:
  curl -X PATCH -H 'Authorization: Bearer $token' -H 'Tus-Resumable: 1.0.0' \\
       -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \\
       --data-binary 'hello' $BATCHUP_URL/api/v1/files/FILE_ID

  psql: PGHOST=$PGHOST psql -U postgres batchup
  logs: var/batchup.log, var/nginx/error.log, $STACK_PG_DIR/postgres.log
Ctrl-C stops everything.

INFO

tail -n 0 -F "$STACK_DIR/batchup.log" &
tail_pid=$!
trap 'rc=$?; kill "$tail_pid" 2>/dev/null; (exit "$rc"); stack_cleanup' EXIT

wait -n "$BATCHUP_PID" "$NGINX_PID"
echo "run-local: batchup or nginx stopped by itself; stopping the rest" >&2
exit 1
