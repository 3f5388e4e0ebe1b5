#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The shipped conf/nginx.conf is valid nginx, the test configuration made
# from it is too, and the X-Accel-Redirect location /_batchup_files/ cannot be
# reached from outside even for a file that exists in storage.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"

mkdir -p "$STACK_DIR/shipped"
cp conf/nginx.conf /etc/nginx/mime.types /etc/nginx/fastcgi_params "$STACK_DIR/shipped/"
out=$(nginx -t -p "$STACK_DIR/shipped" -c "$STACK_DIR/shipped/nginx.conf" -e "$STACK_DIR/shipped/error.log" 2>&1)
tap_ok $? "conf/nginx.conf passes nginx -t"
tap_diag "$out"

stack_write_conf
stack_nginx_start || tap_bail "nginx did not start"
out=$(nginx -t -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/nginx/error.log" 2>&1)
tap_ok $? "the generated test configuration passes nginx -t"

for directive in 'client_max_body_size 0;' 'fastcgi_request_buffering off;' 'fastcgi_request_buffering on;' \
    'fastcgi_buffering on;' 'fastcgi_max_temp_file_size 1024m;' 'limit_conn batchup_link 16;' 'internal;'; do
    grep -qF "$directive" "$STACK_DIR/nginx/nginx.conf"
    tap_ok $? "the test configuration has '$directive' from conf/nginx.conf"
done

mkdir -p "$STACK_DIR/storage/files/ab"
echo secret >"$STACK_DIR/storage/files/ab/abcdef"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BATCHUP_URL/_batchup_files/files/ab/abcdef")
tap_is "$code" 404 "/_batchup_files/ is internal: 404 from outside for a stored file"

tap_done
