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

# auth TOKEN: the Authorization header line of TOKEN, for curl -H.
auth() {
    printf 'Authorization: Bearer %s' "$1"
}

# sql QUERY: QUERY against the stack's database (PG* from stack.sh),
# unaligned and tuples only.
sql() {
    psql -XAtq -c "$1"
}

# code_of FILE: the error code of the JSON error body in FILE.
code_of() {
    jget 'd["error"]["code"]' <"$1"
}

# batch_create TOKEN JSON: POST JSON to /api/v1/batches; prints the answer's
# body (the new batch, or an error).
batch_create() {
    curl -s --max-time 20 -H "$(auth "$1")" -H 'Content-Type: application/json' \
        --data "$2" "$BATCHUP_URL/api/v1/batches"
}

# batch_ids TOKEN SIZE N: a batch of N files (f0, f1...) of SIZE bytes;
# prints their ids, one a line.
batch_ids() {
    local items i
    items=$(for ((i = 0; i < $3; i++)); do printf '{"name":"f%d","size":%d},' "$i" "$2"; done)
    batch_create "$1" "{\"files\":[${items%,}]}" | jq -r '.files[].id'
}

# patch_stream TOKEN UPLOAD_URL FILE SECONDS: one tus PATCH of a large FILE
# streamed from disk (curl -T), within SECONDS; prints the status.
patch_stream() {
    curl -s --max-time "$4" -o /dev/null -w '%{http_code}' -X PATCH \
        -H "$(auth "$1")" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' -T "$3" "$BATCHUP_URL$2"
}

# batch_link TOKEN: the download link of the user's newest batch (or null).
batch_link() {
    curl -s -H "$(auth "$1")" "$BATCHUP_URL/api/v1/batches" | jq -r '.batches[0].download_url'
}

# health_all_200 N: true when N health requests in a row (50 ms apart)
# all answer 200; for stack_wait_until after an outage.
health_all_200() {
    local codes
    codes=$(stack_health_codes "$1" 0.05)
    [ -z "$(printf '%s\n' "$codes" | grep -v '^200$')" ]
}

# node_deps: node and npm, and the packages of tests/node (installed with
# npm ci the first time, from its lock file); bails out without them.
node_deps() {
    command -v node >/dev/null && command -v npm >/dev/null || tap_bail "node and npm are needed (apt-get install nodejs npm)"
    if [ ! -f tests/node/node_modules/tus-js-client/package.json ]; then
        echo "# installing tests/node dependencies (npm ci)"
        (cd tests/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2 ||
            tap_bail "npm ci in tests/node failed"
    fi
}

# uppy_deps: Chromium, node, and the packages of tests/browser that the
# Uppy tests load (npm ci the first time); without them, a failing first
# check and exit 1.
uppy_deps() {
    if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null; then
        echo "not ok 1 - Chromium (/usr/bin/chromium) and node are needed: apt-get install -y chromium"
        exit 1
    fi
    if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/uppy ]; then
        (cd tests/browser && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
            { echo "not ok 1 - npm ci in tests/browser failed"; exit 1; }
    fi
}

# node_tap SECONDS SCRIPT [PREFIX]: run a node driver of tests/node for at
# most SECONDS and relay its "ok - ...", "not ok - ..." and "# ..." lines as
# numbered TAP (each check's text after PREFIX), then check that it exited 0.
node_tap() {
    local seconds=$1 script=$2 prefix=${3:-} line
    while IFS= read -r line; do
        case $line in
            "ok - "*) tap_ok 0 "$prefix${line#ok - }" ;;
            "not ok - "*) tap_ok 1 "$prefix${line#not ok - }" ;;
            "# driver-exit "*) tap_is "${line#\# driver-exit }" 0 "${prefix}the node driver exited 0" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done < <(timeout -k 5 "$seconds" node "$script" 2>&1; echo "# driver-exit $?")
}
