# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# dpkg-root.sh: dpkg in a scratch root, for the package tests (90, 92).
#
# dpkg --root=DIR with --force-script-chrootless runs the package's
# maintainer scripts on this machine with DPKG_ROOT=DIR, and they (and the
# debhelper parts in them) then act inside DIR only: the user and group go
# to DIR/etc/passwd and DIR/etc/group (useradd --prefix), the statoverride to
# DIR/var/lib/dpkg/statoverride, deb-systemd-helper's state to
# DIR/var/lib/systemd. --force-depends: the scratch root has none of the
# libraries, which this machine's own dpkg database vouches for.
# dpkg_root_host_state prints what a slip would change on the machine
# itself, so that a test can check it did not change.

# dpkg_root_init DIR: an empty dpkg database and the passwd files of a
# system that has only root.
dpkg_root_init() {
    local r=$1
    mkdir -p "$r/etc" "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/usr/sbin" || return 1
    : >"$r/var/lib/dpkg/status"
    : >"$r/var/lib/dpkg/available"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    printf 'root:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
    printf 'root:*::\n' >"$r/etc/gshadow"
}

# dpkg_root DIR LOG ARGS...: dpkg ARGS in DIR, its output appended to LOG.
# Configuration files the administrator changed are kept without a question
# (--force-confold), as apt does when told to.
dpkg_root() {
    local r=$1 log=$2
    shift 2
    dpkg --root="$r" --force-script-chrootless --force-depends --force-confdef --force-confold \
        "$@" >>"$log" 2>&1
}

# dpkg_root_host_state: a digest of what the maintainer scripts would touch
# on this machine if DPKG_ROOT were ignored: its users and groups, its
# statoverrides, deb-systemd-helper's state, /etc/batchup, /var/lib/batchup.
dpkg_root_host_state() {
    {
        cat /etc/passwd /etc/group /var/lib/dpkg/statoverride 2>/dev/null
        ls -la /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked 2>/dev/null
        ls -la /etc/batchup /var/lib/batchup 2>&1
    } | md5sum | cut -d' ' -f1
}
