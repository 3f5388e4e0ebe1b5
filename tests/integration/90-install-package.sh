#!/bin/bash
# Installing: `make install DESTDIR=... [PREFIX=...]` lays out every file
# (binary, SQL, man page, units with this install's paths, docs, a
# configuration it never overwrites); `make deb` builds a package that
# declares every shared library the binary needs, whose maintainer scripts
# parse and, run by dpkg itself in a scratch root (dpkg --root, scripts
# chrootless), create the batchup user and group and /var/lib/batchup, can
# run again, upgrade, remove and purge; and the binary from the package
# (dpkg-deb -x) runs --version, migrate (finding its SQL beside it, in
# share/batchup/sql) and serve against a private cluster, answering health
# through nginx.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t90
mkdir -p "$T"
REPO=$PWD

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
    644 /usr/local/share/man/man8/batchup.8 644 /usr/local/lib/systemd/system/batchup.service \
    644 /usr/local/lib/systemd/system/batchup.socket 644 /usr/local/share/doc/batchup/README.md \
    644 /usr/local/share/doc/batchup/batchup.conf 644 /usr/local/share/doc/batchup/nginx.conf "${sqlfiles[@]}")" "" \
    "binary, configuration, man page, units, docs and all $((${#sqlfiles[@]} / 2)) SQL files are there with their modes"
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
groff -t -man -ww -z "$inst/usr/local/share/man/man8/batchup.8" 2>"$T/groff.err"
tap_is "$?|$(cat "$T/groff.err")" "0|" "the installed man page formats without a warning"

# --- make deb -----------------------------------------------------------------
make -s deb >"$T/deb.log" 2>&1
tap_ok $? "make deb succeeds"
deb=$(ls build/batchup_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -n 1)
tap_like "$deb" '\.deb$' "it leaves the package in build/ ($deb)"
dpkg-deb -I "$deb" >"$T/info" 2>&1
tap_is "$(sed -n 's/^ Package: //p; s/^ Architecture: //p' "$T/info" | tr '\n' ' ')" "batchup $(dpkg --print-architecture) " \
    "dpkg-deb reads its control file"
dpkg-deb -c "$deb" | awk '{ print $2 " " $6 }' | sed 's| \./| /|' >"$T/list"
tap_is "$(grep -c -E 'root/root /(usr/bin/batchup|usr/share/batchup/sql/001_schema.sql|usr/share/batchup/sql/functions/80_hooks.sql|usr/share/man/man8/batchup.8.gz|lib/systemd/system/batchup.service|lib/systemd/system/batchup.socket|etc/batchup/batchup.conf|usr/share/doc/batchup/README.md)$' "$T/list")" 8 \
    "it holds the binary, the SQL, the man page, both units, the configuration and the README, owned by root"
dpkg-deb -e "$deb" "$T/control"
tap_is "$(cat "$T/control/conffiles")" /etc/batchup/batchup.conf "the configuration is a conffile"
bad=
for s in postinst prerm postrm; do
    sh -n "$T/control/$s" && bash -n "$T/control/$s" || bad="$bad $s"
done
tap_is "$bad" "" "the maintainer scripts parse (sh -n, bash -n)"
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

# --- dpkg itself, in a scratch root --------------------------------------------
R=$T/root
mkdir -p "$R/etc" "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/usr/sbin"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:*::\n' >"$R/etc/gshadow"
dpkg_root() { dpkg --root="$R" --force-script-chrootless --force-depends "$@" >>"$T/dpkg.log" 2>&1; }
dpkg_root -i "$deb"
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
cp "$R/etc/passwd" "$T/passwd.1"
DPKG_ROOT=$R sh "$R/var/lib/dpkg/info/batchup.postinst" configure "" >>"$T/dpkg.log" 2>&1 &&
    DPKG_ROOT=$R sh "$R/var/lib/dpkg/info/batchup.postinst" configure 0.1.0 >>"$T/dpkg.log" 2>&1
tap_ok $? "postinst configure runs again (first install and upgrade forms) without error"
cmp -s "$R/etc/passwd" "$T/passwd.1" && [ "$(grep -c '^batchup:' "$R/etc/group")" = 1 ]
tap_ok $? "... and changes nothing: one batchup user, one group"
dpkg_root -i "$deb"
tap_ok $? "installing the package again (an upgrade in place) succeeds"
dpkg_root -r batchup
tap_ok "$([ $? = 0 ] && [ ! -e "$R/usr/bin/batchup" ] && [ -e "$R/etc/batchup/batchup.conf" ]; echo $?)" \
    "dpkg -r removes the binary and keeps the configuration"
dpkg_root -P batchup
tap_ok "$([ $? = 0 ] && [ ! -e "$R/etc/batchup" ] && [ -d "$R/var/lib/batchup" ]; echo $?)" \
    "dpkg -P removes /etc/batchup and keeps the uploaded files in /var/lib/batchup"
[ "$tap__failed" = 0 ] || tap_diag "$(tail -n 20 "$T/dpkg.log")"

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
tap_like "$("$X/usr/bin/batchup" --version)" '^batchup [0-9]+\.[0-9]+\.[0-9]+$' "the packaged binary runs --version"
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
