#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Installing: `make install DESTDIR=... [PREFIX=...]` lays out every file
# (binary, SQL, man pages, units with this install's paths, docs, a
# configuration it never overwrites); `make deb` builds the package with
# dpkg-buildpackage from debian/ and leaves it in build/; lintian finds no
# error and no warning in it (an override only with its reason); it
# declares every shared library the binary needs; dpkg itself, in a scratch
# root (dpkg --root, scripts chrootless, tests/lib/dpkg-root.sh), installs
# it (the batchup user and group, /var/lib/batchup, the configuration
# root:batchup 0640 through a statoverride), runs its postinst again,
# reinstalls, removes and purges it, and nothing of this machine changes;
# and the binary from the package (dpkg-deb -x) runs --version, migrate
# (finding its SQL beside it, in share/batchup/sql) and serve against a
# private cluster, answering health through nginx. The upgrade from the
# previous release is 92-package-upgrade.sh.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/dpkg-root.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t90
mkdir -p "$T"
REPO=$PWD
host_before=$(dpkg_root_host_state)

# --- make install -------------------------------------------------------------
inst=$T/inst
make -s install DESTDIR="$inst" >"$T/install.log" 2>&1
tap_ok $? "make install DESTDIR=... (PREFIX /usr/local) succeeds"
# mode path: every file install lays out under the prefix.
expect_files() {
    local root=$1 missing=
    shift
    while [ $# -gt 1 ]; do
        [ "$(stat -c %a "$root$2" 2>/dev/null)" = "$1" ] || missing="$missing $2($(stat -c %a "$root$2" 2>/dev/null || echo none), want $1)"
        shift 2
    done
    printf '%s' "$missing"
}
sqlfiles=()
for f in sql/[0-9][0-9][0-9]_*.sql; do sqlfiles+=(644 "/usr/local/share/batchup/sql/$(basename "$f")"); done
for f in sql/functions/*.sql; do sqlfiles+=(644 "/usr/local/share/batchup/sql/functions/$(basename "$f")"); done
tap_is "$(expect_files "$inst" 755 /usr/local/bin/batchup 640 /usr/local/etc/batchup/batchup.conf \
    644 /usr/local/share/man/man8/batchup.8 644 /usr/local/share/man/man5/batchup.conf.5 \
    644 /usr/local/lib/systemd/system/batchup.service \
    644 /usr/local/lib/systemd/system/batchup.socket 644 /usr/local/share/doc/batchup/README.md \
    644 /usr/local/share/doc/batchup/batchup.conf 644 /usr/local/share/doc/batchup/nginx.conf \
    644 /usr/local/share/doc/batchup/docs/api.md 644 /usr/local/share/doc/batchup/docs/operations.md "${sqlfiles[@]}")" "" \
    "binary, configuration, man pages, units, docs and all $((${#sqlfiles[@]} / 2)) SQL files are there with their modes"
tap_is "$(grep -E '^Exec(Start|StartPre)=' "$inst/usr/local/lib/systemd/system/batchup.service" | tr '\n' '|')" \
    "ExecStartPre=/usr/local/bin/batchup migrate -c /usr/local/etc/batchup/batchup.conf|ExecStart=/usr/local/bin/batchup serve -c /usr/local/etc/batchup/batchup.conf|" \
    "the installed unit runs the installed binary with the installed configuration"
cmp -s conf/batchup.conf "$inst/usr/local/etc/batchup/batchup.conf"
tap_ok $? "the configuration is the sample"
echo "workers = 9 # the operator's" >>"$inst/usr/local/etc/batchup/batchup.conf"
make -s install DESTDIR="$inst" >"$T/install2.log" 2>&1
tap_ok "$(grep -q "the operator's" "$inst/usr/local/etc/batchup/batchup.conf"; echo $?)" \
    "a second make install keeps the existing configuration ($(grep -o 'keeping.*' "$T/install2.log" | cut -c1-40)...)"
if [ ! -e /etc/batchup/batchup.conf ]; then
    # A bad value there makes the binary name the file it read.
    sed -i 's/^workers = 9 .*/workers = 0/' "$inst/usr/local/etc/batchup/batchup.conf"
    out=$(env -u BATCHUP_CONFIG "$inst/usr/local/bin/batchup" user list 2>&1)
    tap_like "$out" "'workers'.* in $inst/usr/local/bin/../etc/batchup/batchup.conf:[0-9]+" \
        "without -c the installed binary reads <bindir>/../etc/batchup/batchup.conf"
fi
groff -t -man -ww -z "$inst/usr/local/share/man/man8/batchup.8" \
    "$inst/usr/local/share/man/man5/batchup.conf.5" 2>"$T/groff.err"
tap_is "$?|$(cat "$T/groff.err")" "0|" "the installed man pages format without a warning"

# --- make deb -----------------------------------------------------------------
arch=$(dpkg --print-architecture)
version=$(dpkg-parsechangelog -S Version)
# The unit tests have their own pass (tests/run.sh unit): the package build
# here skips them (nocheck), which saves a third of its time.
DEB_BUILD_OPTIONS=nocheck make -s deb >"$T/deb.log" 2>&1
tap_ok $? "make deb succeeds (dpkg-buildpackage -us -uc -b)"
deb=build/batchup_${version}_$arch.deb
tap_ok "$([ -f "$deb" ] && grep -q 'dpkg-buildpackage: info: binary-only upload' build/deb/build.log; echo $?)" \
    "it leaves $deb in build/, built by dpkg-buildpackage"
dpkg-deb -I "$deb" >"$T/info" 2>&1
tap_is "$(sed -n 's/^ Package: //p; s/^ Version: //p; s/^ Architecture: //p' "$T/info" | tr '\n' ' ')" \
    "batchup $version $arch " "dpkg-deb reads its control file: the version of debian/changelog"
tap_like "$(sed -n 's/^ Maintainer: //p' "$T/info")" '^[^<]+ <[^@ ]+@[^@ ]+\.[a-z]+>$' \
    "the maintainer is a name and an address ($(sed -n 's/^ Maintainer: //p' "$T/info"))"
dpkg-deb -c "$deb" | awk '{ print $1 " " $2 " " $6 }' | sed 's| \./| /|' >"$T/list"
want='-rwxr-xr-x root/root /usr/bin/batchup
-rw-r--r-- root/root /usr/share/batchup/sql/001_schema.sql
-rw-r--r-- root/root /usr/share/batchup/sql/functions/80_hooks.sql
-rw-r--r-- root/root /usr/share/man/man8/batchup.8.gz
-rw-r--r-- root/root /usr/share/man/man5/batchup.conf.5.gz
-rw-r--r-- root/root /lib/systemd/system/batchup.service
-rw-r--r-- root/root /lib/systemd/system/batchup.socket
-rw-r----- root/root /etc/batchup/batchup.conf
-rw-r--r-- root/root /usr/share/doc/batchup/README.md
-rw-r--r-- root/root /usr/share/doc/batchup/docs/operations.md
-rw-r--r-- root/root /usr/share/doc/batchup/NEWS.md.gz
-rw-r--r-- root/root /usr/share/doc/batchup/copyright
-rw-r--r-- root/root /usr/share/doc/batchup/changelog.gz'
tap_is "$(grep -F -x -f <(printf '%s\n' "$want") "$T/list" | sort)" "$(printf '%s\n' "$want" | sort)" \
    "it holds the binary, the SQL, the man pages, both units, the configuration (0640), README and docs/, NEWS, copyright and changelog"
tap_is "$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/doc/batchup/copyright | sed -n 's/^License: //p' | sort -u)" \
    BSD-2-Clause "the copyright file (DEP-5) gives the license: BSD-2-Clause"
dpkg-deb -e "$deb" "$T/control"
tap_is "$(cat "$T/control/conffiles")" /etc/batchup/batchup.conf "the configuration is a conffile"
bad=
for s in postinst prerm postrm; do
    sh -n "$T/control/$s" && bash -n "$T/control/$s" || bad="$bad $s"
done
tap_is "$bad" "" "the maintainer scripts parse (sh -n, bash -n)"
tap_is "$(grep -l -E '^[^#]*\bsystemctl\b' "$T/control/postinst" "$T/control/prerm" "$T/control/postrm" |
    xargs -r grep -L 'Automatically added by dh_installsystemd' | tr '\n' ' ')" "" \
    "systemctl appears only in dh_installsystemd's parts of the maintainer scripts"
# Every shared library the binary needs comes from a declared dependency.
depends=$(sed -n 's/^Depends: //p' "$T/control/control")
undeclared=
for lib in $(objdump -p build/batchup | awk '$1 == "NEEDED" { print $2 }'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64/ { print $NF; exit }')
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
    case ", $depends," in *", $pkg "* | *", $pkg,"*) ;; *) undeclared="$undeclared $lib($pkg)" ;; esac
done
tap_is "$undeclared" "" "every library the binary links (objdump NEEDED) belongs to a package in Depends"

# --- lintian --------------------------------------------------------------------
lintian --show-overrides "$deb" >"$T/lintian" 2>&1
rc=$?
grep -E '^[EW]: ' "$T/lintian" >"$T/lintian.ew"
tap_is "$rc|$(grep -c '^E: ' "$T/lintian")/$(grep -c '^W: ' "$T/lintian")" "0|0/0" \
    "lintian $(lintian --version | awk '{ print $2 }'): 0 errors and 0 warnings (exit status 0)"
[ -s "$T/lintian.ew" ] && tap_diag "$(cat "$T/lintian.ew")"
# An override carries its reason: a comment line right above it.
unexplained=$(awk 'FNR == 1 { prev = "" } /^[^#]/ && prev !~ /^# ./ { print FILENAME ":" FNR } { prev = $0 }' \
    debian/*lintian-overrides)
tap_is "$unexplained" "" "every lintian override has a one-line reason above it"
tap_is "$(grep -c '^O: ' "$T/lintian")" "$(grep -c '^[^#]' debian/*lintian-overrides | awk -F: '{ n += $NF } END { print n + 0 }')" \
    "every override is used (lintian shows each as O:)"

# --- dpkg itself, in a scratch root --------------------------------------------
R=$T/root
L=$T/dpkg.log
dpkg_root_init "$R"
dpkg_root "$R" "$L" -i "$deb"
tap_ok $? "dpkg --root installs it into a scratch root (maintainer scripts run)"
uid=$(awk -F: '$1 == "batchup" { print $3 }' "$R/etc/passwd")
gid=$(awk -F: '$1 == "batchup" { print $3 }' "$R/etc/group")
tap_like "$uid:$gid:$(awk -F: '$1 == "batchup" { print $4 ":" $6 ":" $7 }' "$R/etc/passwd")" \
    "^[0-9]+:[0-9]+:$gid:/var/lib/batchup:/usr/sbin/nologin$" "postinst created the batchup system user and group"
gweb=$(awk -F: '$1 == "batchup-web" { print $3 }' "$R/etc/group")
gfiles=$(awk -F: '$1 == "batchup-files" { print $3 }' "$R/etc/group")
tap_is "$(stat -c '%u:%g %a' "$R/var/lib/batchup" "$R/var/lib/batchup/storage" | tr '\n' ' ')" \
    "$uid:$gweb 750 $uid:$gfiles 2750 " \
    "/var/lib/batchup is batchup:batchup-web 0750, its storage/ batchup:batchup-files 2750 (27-privilege-split.sh)"
tap_is "$(stat -c '%u:%g %a' "$R/etc/batchup/batchup.conf")" "0:$gid 640" "the configuration is root:batchup 0640"
tap_is "$(awk '{ print $3 " " $4 }' "$R/var/lib/dpkg/statoverride")" "640 /etc/batchup/batchup.conf" \
    "... kept so by a dpkg-statoverride"
cp "$R/etc/passwd" "$T/passwd.1"
cp "$R/var/lib/dpkg/statoverride" "$T/statoverride.1"
DPKG_ROOT=$R sh "$R/var/lib/dpkg/info/batchup.postinst" configure "" >>"$L" 2>&1 &&
    DPKG_ROOT=$R sh "$R/var/lib/dpkg/info/batchup.postinst" configure "$version" >>"$L" 2>&1
tap_ok $? "postinst configure runs again (first install and upgrade forms) without error"
cmp -s "$R/etc/passwd" "$T/passwd.1" && cmp -s "$R/var/lib/dpkg/statoverride" "$T/statoverride.1" &&
    [ "$(grep -c '^batchup:' "$R/etc/group")" = 1 ]
tap_ok $? "... and changes nothing: one batchup user, one group, the same statoverride"
echo "workers = 9 # the operator's" >>"$R/etc/batchup/batchup.conf"
dpkg_root "$R" "$L" -i "$deb"
tap_ok "$([ $? = 0 ] && grep -q "the operator's" "$R/etc/batchup/batchup.conf" &&
    [ "$(stat -c '%u:%g %a' "$R/etc/batchup/batchup.conf")" = "0:$gid 640" ]; echo $?)" \
    "installing it again succeeds and keeps the operator's configuration, root:batchup 0640"
dpkg_root "$R" "$L" -r batchup
tap_ok "$([ $? = 0 ] && [ ! -e "$R/usr/bin/batchup" ] && [ -e "$R/etc/batchup/batchup.conf" ]; echo $?)" \
    "dpkg -r removes the binary and keeps the configuration"
dpkg_root "$R" "$L" -P batchup
tap_ok "$([ $? = 0 ] && [ ! -e "$R/etc/batchup" ] && [ -d "$R/var/lib/batchup" ] &&
    [ ! -s "$R/var/lib/dpkg/statoverride" ] && [ -z "$(ls -A "$R/var/lib/systemd/deb-systemd-helper-enabled" 2>/dev/null)" ]; echo $?)" \
    "dpkg -P removes /etc/batchup, the statoverride and the units' state, keeps the uploaded files in /var/lib/batchup"
[ "$tap__failed" = 0 ] || tap_diag "$(tail -n 20 "$L")"
tap_is "$(dpkg_root_host_state)" "$host_before" \
    "this machine's users, groups, statoverrides, systemd state, /etc/batchup and /var/lib/batchup did not change"

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$T/units"
    dpkg-deb -x "$deb" "$T/units/x"
    (cd "$T/units/x/lib/systemd/system" && MANPATH=$T/units/x/usr/share/man timeout 30 \
        systemd-analyze verify ./batchup.socket ./batchup.service 2>&1) |
        grep -v -e 'is not executable' -e 'not found' >"$T/verify"
    tap_is "$(cat "$T/verify")" "" "systemd-analyze verify finds nothing wrong with the units"
fi

# --- the packaged binary runs ------------------------------------------------------
X=$T/x
dpkg-deb -x "$deb" "$X"
tap_like "$("$X/usr/bin/batchup" --version)" "^batchup $version \\(git [0-9a-z.-]+\\)\$" \
    "the packaged binary runs --version: the release and the commit it was built from"
BATCHUP_BIN=$X/usr/bin/batchup
export BATCHUP_BIN
unset BATCHUP_SQL_DIR
stack_pg_start || tap_bail "PostgreSQL did not start"
stack_write_conf workers=2 per_user_limit=1 gc_interval_seconds=3600
stack_migrate >"$T/migrate.log" 2>&1
tap_ok $? "its migrate finds the packaged SQL (share/batchup/sql beside bin/) and applies it"
tap_like "$(tr '\n' ' ' <"$T/migrate.log")" 'applied 007_hooks.sql.*applied functions/' "... every migration and the functions"
stack_nginx_start || tap_bail "nginx did not start"
stack_batchup_start
tap_ok $? "its serve starts"
tap_is "$(stack_health_code)" 200 "GET /api/v1/health answers 200 through nginx"
tap_is "$(readlink "/proc/$BATCHUP_PID/exe")" "$X/usr/bin/batchup" "the server answering is the packaged binary"

tap_done
