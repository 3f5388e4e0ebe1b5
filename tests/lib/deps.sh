#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# deps.sh: the Debian 12 packages batchup needs to build, test and run.
#
#   tests/lib/deps.sh           install what is missing (root with apt-get),
#                               else print the exact command and fail
#   tests/lib/deps.sh --check   only check; print the command when something
#                               is missing (also when BATCHUP_NO_INSTALL=1)
#
# Each need is checked by the file or command it provides, not by package
# name, so a machine that has it some other way (nginx-full instead of
# nginx-light, node from elsewhere) is left alone. Installing never starts the
# distribution's own PostgreSQL, PgBouncer, nginx, Apache, lighttpd or HAProxy service: a
# policy-rc.d denies it for the time of the install (the tests start private
# ones on a unix socket and a free loopback port; `make run` uses port 8080,
# not the packaged 80).
set -euo pipefail
# nginx and runuser live in /usr/sbin, not always in a user's PATH.
PATH=$PATH:/usr/sbin:/sbin

# "package|file or command that proves it is there" (first match wins).
needs=(
    "gcc|gcc"
    "make|make"
    "pkg-config|pkg-config"
    "libc6-dev|/usr/include/stdio.h"
    "libfcgi-dev|/usr/include/fcgiapp.h"
    "libfcgi-bin|cgi-fcgi"
    "spawn-fcgi|spawn-fcgi"
    "libpq-dev|/usr/include/postgresql/libpq-fe.h"
    "libjansson-dev|/usr/include/jansson.h"
    "libssl-dev|/usr/include/openssl/evp.h"
    "zlib1g-dev|/usr/include/zlib.h"
    "libisal-dev|/usr/include/isa-l/crc.h"
    "libcurl4-openssl-dev|/usr/include/x86_64-linux-gnu/curl/curl.h"
    "libcmocka-dev|/usr/include/cmocka.h"
    "postgresql|/usr/lib/postgresql/15/bin/initdb"
    "postgresql-client|psql"
    # PgBouncer in transaction pooling mode in front of the cluster
    # (STACK_PGBOUNCER=1, tests/integration/18-pgbouncer.sh).
    "pgbouncer|/usr/sbin/pgbouncer"
    # The load balancer and the namespaces of the cluster (make run HOSTS=3,
    # make test-cluster; tests/cluster/).
    "haproxy|/usr/sbin/haproxy"
    "iproute2|/usr/sbin/ip"
    "postgresql-15-pgtap|/usr/share/postgresql/15/extension/pgtap.control"
    "libtap-parser-sourcehandler-pgtap-perl|pg_prove"
    "nginx-light|nginx"
    # The other web servers the shipped configurations are tested with.
    "apache2|apache2"
    "libapache2-mod-fcgid|/usr/lib/apache2/modules/mod_fcgid.so"
    "libapache2-mod-xsendfile|/usr/lib/apache2/modules/mod_xsendfile.so"
    "lighttpd|lighttpd"
    "openssl|openssl"
    "curl|curl"
    "unzip|unzip"
    "python3|/usr/bin/python3"
    "procps|pgrep"
    "jq|jq"
    # The install and package test: the man page, the binary's libraries.
    "groff-base|groff"
    "binutils|objdump"
    # make lint (run by CI).
    "clang-tidy|clang-tidy"
    # make fuzz: libFuzzer harnesses (clang with its runtime libraries).
    "clang|clang"
    "libclang-rt-14-dev|/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a"
    "cppcheck|cppcheck"
    # tests/integration/52-migrate-bad-dir.sh runs batchup migrate under valgrind.
    "valgrind|valgrind"
    # The upload page is tested in a real browser.
    "chromium|/usr/bin/chromium"
    # Node.js (with its npm) may come from elsewhere than Debian: only when
    # there is no node at all are Debian's packages asked for.
    "nodejs npm|node"
    # The Debian package (make deb, tests/integration/90 and 92): debhelper,
    # dpkg-buildpackage (whose build-dependency check wants
    # build-essential) and lintian.
    "build-essential|/usr/share/build-essential/list"
    "debhelper|dh"
    "dpkg-dev|dpkg-buildpackage"
    "lintian|lintian"
)

have() {
    case $1 in
        /*) [ -e "$1" ] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=()
for need in "${needs[@]}"; do
    pkg=${need%%|*}
    what=${need#*|}
    have "$what" || missing+=("$pkg")
done

[ "${#missing[@]}" = 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
check_only=${BATCHUP_NO_INSTALL:-0}
[ "${1:-}" = --check ] && check_only=1

if [ "$check_only" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "batchup: missing system packages: ${missing[*]}" >&2
    echo "batchup: install them with:" >&2
    if [ "$(id -u)" = 0 ]; then
        echo "    apt-get update && $cmd" >&2
    else
        echo "    sudo apt-get update && sudo $cmd" >&2
    fi
    exit 1
fi

echo "batchup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Written by batchup tests/lib/deps.sh during apt-get install.\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT
apt-get update
# shellcheck disable=SC2086
$cmd
