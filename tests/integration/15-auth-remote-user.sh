#!/bin/bash
# auth = remote_user: batchup trusts the web server's REMOTE_USER (spoken to
# directly over FastCGI with cgi-fcgi, as a web server with its own
# authentication would), creates a user on first sight with the default
# limit, answers 401 without it, and keeps users apart.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start auth=remote_user gc_interval_seconds=3600 || tap_bail "the stack did not start"

# fcgi USER METHOD PATH [BODY]: one request over FastCGI; prints the response.
fcgi() {
    local body=${4:-}
    env -i PATH="$PATH" ${1:+REMOTE_USER=$1} REQUEST_METHOD="$2" REQUEST_URI="$3" SCRIPT_NAME="$3" \
        CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} \
        cgi-fcgi -bind -connect "$STACK_SOCKET" <<<"$body" | tr -d '\r'
}

out=$(fcgi carol GET /api/v1/batches)
tap_like "$(echo "$out" | head -n 1)" '^Status: 200' "REMOTE_USER=carol: GET /api/v1/batches answers 200"
tap_is "$(psql -XAtc "SELECT slot_limit FROM batchup.users WHERE name = 'carol'")" 0 \
    "carol was created on first sight, with the default limit"
out=$(fcgi "" GET /api/v1/batches)
tap_like "$(echo "$out" | head -n 1)" '^Status: 401' "no REMOTE_USER: 401"
tap_like "$out" '"code":"unauthorized"' "... with the error shape"
out=$(fcgi carol POST /api/v1/batches '{"files":[{"name":"c.txt","size":4}]}')
tap_like "$(echo "$out" | head -n 1)" '^Status: 201' "carol creates a batch"
id=$(echo "$out" | sed -n 's/^Location: \/api\/v1\/batches\///p')
tap_like "$id" '^[0-9a-f-]{36}$' "... and gets its Location"
tap_like "$(fcgi carol GET "/api/v1/batches/$id" | head -n 1)" '^Status: 200' "carol reads her batch"
tap_like "$(fcgi dave GET "/api/v1/batches/$id" | head -n 1)" '^Status: 404' "dave gets 404 for carol's batch"
tap_is "$(psql -XAtc "SELECT count(*) FROM batchup.users WHERE name IN ('carol', 'dave')")" 2 \
    "each name became one user"
tap_done
