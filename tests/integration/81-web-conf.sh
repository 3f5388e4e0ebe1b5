#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Every shipped web server configuration is valid for its server as shipped
# (only the batchup binary's path made this build's, since Apache and
# lighttpd check that the program they would start exists), and with its
# commented variants turned on: the "#auth: " lines (the server's own
# authentication) and lighttpd's "#bin-path: " lines. nginx -t, apache2 -t
# (Debian's modules, the shipped virtual host included), lighttpd -tt.
# (conf/htaccess is read by Apache per request: 82 and 86 exercise it.)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
D=$STACK_DIR/conf
mkdir -p "$D"
on() { sed -e "s/^\([[:space:]]*\)#$1: /\1/"; }
bin() { sed -e "s|/usr/bin/batchup|$BATCHUP_BIN|g"; }

cp /etc/nginx/mime.types /etc/nginx/fastcgi_params "$D/"
for variant in shipped auth; do
    if [ "$variant" = auth ]; then on auth <conf/nginx.conf >"$D/nginx.conf"; else cp conf/nginx.conf "$D/"; fi
    out=$(nginx -t -p "$D" -c "$D/nginx.conf" -e "$D/nginx-error.log" 2>&1)
    tap_ok $? "conf/nginx.conf ($variant) passes nginx -t"
    [ -z "$out" ] || printf '%s\n' "$out" | grep -v 'syntax is ok\|test is successful' | sed 's/^/# /'
done

cat >"$D/apache-main.conf" <<APACHE
ServerRoot /etc/apache2
ServerName localhost
Define APACHE_LOG_DIR $D
PidFile $D/apache.pid
ErrorLog $D/apache-error.log
Listen 127.0.0.1:1
$(grep '^LoadModule' conf/apache-test.conf.in)
Include $D/apache-site.conf
APACHE
for f in apache-proxy-fcgi apache-fcgid; do
    for variant in shipped auth; do
        if [ "$variant" = auth ]; then on auth <"conf/$f.conf"; else cat "conf/$f.conf"; fi | bin >"$D/apache-site.conf"
        out=$(apache2 -t -f "$D/apache-main.conf" 2>&1)
        tap_ok $? "conf/$f.conf ($variant) passes apache2 -t"
        printf '%s\n' "$out" | grep -v '^Syntax OK$' | sed 's/^/# /'
    done
done

for variant in shipped auth bin-path; do
    case $variant in
        shipped) bin <conf/lighttpd.conf ;;
        *) on "$variant" <conf/lighttpd.conf | bin ;;
    esac >"$D/lighttpd.conf"
    out=$(lighttpd -tt -f "$D/lighttpd.conf" 2>&1)
    tap_ok $? "conf/lighttpd.conf ($variant) passes lighttpd -tt"
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
done

sh -n conf/batchup.fcgi
tap_ok $? "conf/batchup.fcgi is valid sh"
tap_is "$(stat -c %a conf/batchup.fcgi)" 755 "conf/batchup.fcgi is executable (mode 0755, as suEXEC wants it)"
tap_done
