# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# api.sh: small helpers for tests that talk to batchup's HTTP API through
# the stack's nginx. Source it after tests/lib/stack.sh.

# jget EXPR: evaluate the Python expression EXPR over the JSON document on
# stdin (bound to d); prints scalars as they are, objects and lists as JSON.
jget() {
    "$(stack__python)" -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$1"
}

# hval NAME FILE: the value of header NAME in a curl -D dump (last response).
hval() {
    tr -d '\r' <"$2" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//'
}

# get OUT_PREFIX TOKEN URL [curl args...]: GET with headers to OUT.h, body
# to OUT.b; prints the status.
get() {
    local out=$1 tok=$2 url=$3
    shift 3
    local auth=()
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    curl -s --max-time 30 "${auth[@]}" -D "$out.h" -o "$out.b" -w '%{http_code}' "$@" "$BATCHUP_URL$url"
}

# patch TOKEN UPLOAD_URL FILE [OFFSET]: one tus PATCH; prints the status.
patch() {
    curl -s --max-time 60 -o /dev/null -w '%{http_code}' -X PATCH \
        -H "Authorization: Bearer $1" -H 'Tus-Resumable: 1.0.0' \
        -H "Upload-Offset: ${4:-0}" -H 'Content-Type: application/offset+octet-stream' \
        --data-binary "@$3" "$BATCHUP_URL$2"
}
