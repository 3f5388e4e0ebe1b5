#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The security rules every shipped web server configuration follows, checked
# through each server (nginx, Apache mod_proxy_fcgi, mod_fcgid, the shared
# host's .htaccess, lighttpd), each built from its
# shipped file, with batchup in `auth = remote_user` mode:
#   a. REMOTE_USER only from the server's own authentication: a client's
#      `Authorization: Basic` (curl -u alice:x) with no authentication
#      configured reaches batchup without a REMOTE_USER (401, no user
#      created); with the configuration's "#auth: " lines turned on (an
#      htpasswd file) the right password gets in as that user, a wrong one
#      is refused by the server, and the download links and health stay
#      open;
#   b. a 64 MiB POST to / and to /api/v1/health, its body sent at once, is
#      refused by the server with 413 without reaching batchup (nothing in
#      its log, nothing spooled to the server's folder, sampled while the
#      request runs), while a 20 MiB PATCH
#      upload succeeds (the shared host: the host's 128 KiB FcgidMaxRequestLen
#      refuses it with 500, as documented, and a 100 KB one succeeds;
#      mod_fcgid: refused with 413 before its body, over the 8 MiB chunk
#      size, and a 100 KB one succeeds);
#   c. /metrics and /batchup-status answer loopback (127.0.0.1) only: 403
#      from 127.0.0.2.
# (d, the access log without link tokens, and e, streaming, are checked by
# the 9x-web-* end-to-end tests.)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
stack_pg_start || tap_bail "PostgreSQL did not start"
stack_write_conf workers=6 auth=remote_user remote_user_create=yes gc_interval_seconds=0 || tap_bail "no config"
stack_migrate >"$STACK_DIR/migrate.log" 2>&1 || tap_bail "migrate failed: $(cat "$STACK_DIR/migrate.log")"
W=$STACK_DIR/sec
mkdir -p "$W"
head -c 67108864 /dev/zero >"$W/64m"
head -c 20971520 /dev/urandom >"$W/20m"
head -c 100000 /dev/urandom >"$W/100k"
# users: the names batchup created during this server's round (earlier
# rounds' are renamed "... (done)").
users() { psql -XAtq -c "SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM batchup.users WHERE name NOT LIKE '% (done)'"; }
code_of() { curl -s -o "$W/body" -D "$W/hdrs" -w '%{http_code}' --max-time 60 "$@"; }
hdr() { tr -d '\r' <"$W/hdrs" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//'; }

# spool_kib: what the web server holds on disk now, in KiB: its folder (du),
# and the files its processes keep open there after unlinking them (nginx
# unlinks a spooled request body as soon as it creates it: du never sees
# it, and it is gone once the request ends).
spool_kib() {
    local kib fd target bytes=0 pids pid
    kib=$(du -sk "$STACK_WEB_DIR" 2>/dev/null | cut -f1)
    pids="$WEB_PID $(pgrep -P "$WEB_PID" | tr '\n' ' ')"
    for pid in $pids; do
        pids="$pids $(pgrep -P "$pid" | tr '\n' ' ')"
    done
    for pid in $(printf '%s\n' "$pids" | tr ' ' '\n' | sort -u); do
        for fd in /proc/"$pid"/fd/*; do
            target=$(readlink "$fd" 2>/dev/null) || continue
            case $target in
                "$STACK_WEB_DIR"/*" (deleted)") bytes=$((bytes + $(stat -L -c %s "$fd" 2>/dev/null || echo 0))) ;;
            esac
        done
    done
    echo $((${kib:-0} + bytes / 1024))
}

# post_sampled PATH: POST the 64 MiB file to PATH with its body sent at once
# (no "Expect: 100-continue" to refuse it before it is sent) at 32 MB/s, so
# that a server that takes the body takes it for two seconds; its status goes
# to $W/code. Meanwhile, and once at least, spool_kib is sampled every
# 0.05 s. Sets spool_peak (the most KiB above the level before the request)
# and spool_samples.
post_sampled() {
    local base now pid
    base=$(spool_kib)
    code_of -H 'Expect:' --limit-rate 32M --data-binary @"$W/64m" "$BATCHUP_URL$1" >"$W/code" &
    pid=$!
    spool_peak=0 spool_samples=0
    while :; do
        now=$(($(spool_kib) - base))
        spool_samples=$((spool_samples + 1))
        [ "$now" -gt "$spool_peak" ] && spool_peak=$now
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    wait "$pid"
}

# serve WEB: the web server WEB (with STACK_WEB_AUTH as set) and batchup.
serve() {
    stack_web_stop
    stack_batchup_stop 10
    STACK_WEB=$1
    stack_web_start || return 1
    stack_batchup_start
}

# (lighttpd-spawn runs the same lighttpd.conf with its bin-path lines; its
# end-to-end test, 98, covers it.)
for web in nginx apache apache-fcgid apache-htaccess lighttpd; do
    t0=$SECONDS
    # --- no authentication configured in the server --------------------------
    unset STACK_WEB_AUTH
    serve "$web" || tap_bail "$web did not start"
    code=$(code_of -u alice:x "$BATCHUP_URL/api/v1/batches")
    tap_is "$code|$(jq -r .error.code "$W/body" 2>/dev/null)|$(users)" "401|unauthorized|" \
        "$web: curl -u alice:x with no authentication configured: batchup's 401, no REMOTE_USER reached it, no user created"
    code=$(code_of -H 'Remote-User: alice' -H 'X-Remote-User: alice' "$BATCHUP_URL/api/v1/batches")
    tap_is "$code|$(users)" "401|" "$web: Remote-User request headers do not become REMOTE_USER either"

    lines_before=$(wc -l <"$STACK_DIR/batchup.log")
    peak=0 samples=0
    for path in / /api/v1/health; do
        post_sampled "$path"
        code=$(cat "$W/code")
        tap_is "$code" 413 "$web: a 64 MiB POST to $path is refused by the server: 413"
        [ "$spool_peak" -gt "$peak" ] && peak=$spool_peak
        samples=$((samples + spool_samples))
    done
    sleep 0.3
    tap_is "$(tail -n +"$((lines_before + 1))" "$STACK_DIR/batchup.log" | grep -c 'request "POST" ')" 0 \
        "$web: ... and neither POST reached batchup (its log)"
    tap_ok "$([ "$peak" -lt 4096 ]; echo $?)" \
        "$web: ... nor was spooled to the server's disk while it was sent (at most $peak KiB more; $samples samples, from the start of each request to its end)"

    for path in /metrics /batchup-status; do
        code=$(code_of --interface 127.0.0.2 "$BATCHUP_URL$path")
        tap_is "$code" 403 "$web: GET $path from 127.0.0.2 (not loopback's 127.0.0.1): 403"
    done
    code=$(code_of "$BATCHUP_URL/metrics")
    tap_is "$code|$(grep -c '^batchup_' "$W/body" | sed 's/^[1-9][0-9]*$/metrics/')" "200|metrics" \
        "$web: GET /metrics from 127.0.0.1: 200 with batchup's metrics"

    # --- the server's own Basic authentication ("#auth: " lines) --------------
    t1=$SECONDS
    export STACK_WEB_AUTH="carol:s3cret"
    serve "$web" || tap_bail "$web with authentication did not start"
    t2=$SECONDS
    code=$(code_of -u carol:s3cret "$BATCHUP_URL/api/v1/batches")
    tap_is "$code|$(users)" "200|carol" "$web with its authentication: carol's password gets in as carol (REMOTE_USER), created on first sight"
    code=$(code_of -u carol:wrong "$BATCHUP_URL/api/v1/batches")
    tap_like "$code $(hdr WWW-Authenticate)" '^401 Basic' "$web with its authentication: a wrong password is refused by the server (401, WWW-Authenticate: Basic)"
    code=$(code_of -u mallory:x "$BATCHUP_URL/api/v1/batches")
    tap_is "$code|$(users)" "401|carol" "$web with its authentication: an unknown user is refused, and no user is created"
    code=$(code_of "$BATCHUP_URL/api/v1/download/batch/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    tap_is "$code|$(jq -r .error.code "$W/body" 2>/dev/null)" "404|not_found" \
        "$web with its authentication: a download link asks for no login (batchup's 404 for an unknown token)"
    code=$(code_of -u mallory:x "$BATCHUP_URL/api/v1/download/batch/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/manifest")
    tap_is "$code" 404 "$web with its authentication: ... nor passes a client's name there (no 401, no user)"
    tap_is "$(users)" carol "$web with its authentication: still only carol"
    code=$(code_of "$BATCHUP_URL/api/v1/health")
    tap_is "$code" 200 "$web with its authentication: health answers without a login"
    code=$(code_of "$BATCHUP_URL/metrics")
    tap_is "$code" 200 "$web with its authentication: /metrics answers loopback without a login"
    code=$(code_of --interface 127.0.0.2 -u carol:s3cret "$BATCHUP_URL/metrics")
    tap_is "$code" 403 "$web with its authentication: ... and not another address, even with a login"

    curl -s --max-time 10 -u carol:s3cret -H 'Content-Type: application/json' \
        -d '{"files":[{"name":"big.bin","size":20971520},{"name":"small.bin","size":100000}]}' \
        "$BATCHUP_URL/api/v1/batches" >"$W/batch.json"
    big=$(jq -r '.files[0].id' "$W/batch.json")
    small=$(jq -r '.files[1].id' "$W/batch.json")
    code=$(code_of -u carol:s3cret -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' --data-binary @"$W/20m" "$BATCHUP_URL/api/v1/files/$big")
    if [ "$web" = apache-htaccess ] || [ "$web" = apache-fcgid ]; then
        if [ "$web" = apache-fcgid ]; then
            tap_is "$code" 413 "$web: a 20 MiB PATCH is refused before its body, over the 8 MiB chunk size: 413 (documented)"
        else
            tap_is "$code" 500 "$web: a 20 MiB PATCH is refused by the host's FcgidMaxRequestLen (128 KiB): 500 (documented)"
        fi
        code=$(code_of -u carol:s3cret -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
            -H 'Content-Type: application/offset+octet-stream' --data-binary @"$W/100k" "$BATCHUP_URL/api/v1/files/$small")
        tap_is "$code" 204 "$web: a 100 KB PATCH, below it, succeeds: 204"
        stored=$STACK_DIR/storage/files/${small:0:2}/$small want=$W/100k
    else
        tap_is "$code" 204 "$web: a 20 MiB PATCH upload succeeds: 204"
        stored=$STACK_DIR/storage/files/${big:0:2}/$big want=$W/20m
    fi
    cmp -s "$stored" "$want"
    tap_ok $? "$web: ... and the stored file is byte-identical"
    psql -XAtq -c "UPDATE batchup.users SET name = name || ' $web (done)' WHERE name NOT LIKE '% (done)'" >/dev/null
    tap_diag "$web: $((t1 - t0)) s without authentication, $((t2 - t1)) s to restart with it, $((SECONDS - t2)) s with it"
done
unset STACK_WEB_AUTH

tap_done
