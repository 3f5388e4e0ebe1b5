#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The upgrade from the previous release's package, in a scratch root (dpkg
# --root, tests/lib/dpkg-root.sh), as an operator does it: the previous
# package (built from the previous release's commit with that commit's own
# `make deb`, kept in build/prev-release/<commit>/) is installed, its
# configuration edited, its `batchup migrate` run from its packaged SQL and
# a user created; then this tree's package (`make deb`) is installed over
# it. The operator's configuration is kept (and its mode), the new `batchup
# migrate` from the new packaged SQL brings the database to this release
# (every packaged migration recorded), and the upgraded binary serves
# through nginx the user the old one created. Nothing of this machine
# changes.
#
# The previous release is the second entry of debian/changelog; its commit
# is the tag v<version> when there is one, else the commit before the one
# that wrote this release's entry into debian/changelog (git log -S): the
# last commit of the previous release.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/dpkg-root.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t92
mkdir -p "$T"
host_before=$(dpkg_root_host_state)
arch=$(dpkg --print-architecture)
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
prev=$(sed -n 's/^batchup (\([^)]*\)).*/\1/p' debian/changelog | sed -n 2p)
[ -n "$prev" ] || tap_bail "debian/changelog names no previous release"

# --- the two packages -------------------------------------------------------------
if commit=$(git rev-parse -q --verify "refs/tags/v$prev^{commit}"); then
    how="tag v$prev"
else
    added=$(git log --format=%H -S"batchup ($version)" -- debian/changelog | tail -n 1)
    commit=$(git rev-parse -q --verify "$added^{commit}^") || commit=
    how="the commit before $(git log -1 --format=%h "$added" 2>/dev/null) wrote $version into debian/changelog"
fi
tap_like "$commit" '^[0-9a-f]{40}$' "the previous release $prev is commit ${commit:0:12} ($how)"
P=build/prev-release/$commit
old=$(ls "$P"/build/batchup_"${prev}"_"$arch".deb 2>/dev/null)
if [ -z "$old" ] && [ -n "$commit" ]; then
    rm -rf "$P"
    mkdir -p "$P"
    git archive "$commit" | tar -xf - -C "$P" &&
        make -C "$P" -s -j2 deb >"$T/prev-build.log" 2>&1
    old=$(ls "$P"/build/batchup_"${prev}"_"$arch".deb 2>/dev/null)
    [ -n "$old" ] || tap_diag "$(tail -n 20 "$T/prev-build.log")"
fi
tap_like "$old" "batchup_${prev}_$arch\\.deb\$" "the $prev package is built from that commit by its own make deb"
# The unit tests have their own pass (tests/run.sh unit): the package build
# here skips them (nocheck), which saves a third of its time.
DEB_BUILD_OPTIONS=nocheck make -s deb >"$T/deb.log" 2>&1
new=build/batchup_${version}_$arch.deb
tap_ok "$([ -f "$new" ]; echo $?)" "this tree's package: $new"
if [ -z "$old" ] || [ ! -f "$new" ]; then tap_bail "no packages to upgrade between"; fi

# --- the previous release, installed and in use -------------------------------------
R=$T/root
L=$T/dpkg.log
dpkg_root_init "$R"
dpkg_root "$R" "$L" -i "$old"
tap_is "$?|$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f '${Version} ${Status}' batchup)" \
    "0|$prev install ok installed" "dpkg --root installs $prev"
gid=$(awk -F: '$1 == "batchup" { print $3 }' "$R/etc/group")
C=$R/etc/batchup/batchup.conf
echo "workers = 7 # the operator's" >>"$C"
mode_before=$(stat -c '%u:%g %a' "$C")
tap_is "$mode_before" "0:$gid 640" "its configuration, edited by the operator, is root:batchup 0640"

stack_pg_start || tap_bail "PostgreSQL did not start"
# 0.1.0 refuses keys it does not know: the file holds none of the later ones.
STACK_QUEUE_HOLD_SECONDS='' stack_write_conf workers=2 per_user_limit=1 gc_interval_seconds=3600
unset BATCHUP_SQL_DIR
# The migrations a package holds, one a line.
packaged() { (cd "$R/usr/share/batchup/sql" && ls [0-9][0-9][0-9]_*.sql) | sort; }
recorded() { psql -XAtq -c 'SELECT version FROM batchup.schema_migrations ORDER BY 1'; }
"$R/usr/bin/batchup" migrate -c "$BATCHUP_CONF" >"$T/migrate-old.log" 2>&1
tap_is "$?|$(recorded | tr '\n' ' ')" "0|$(packaged | tr '\n' ' ')" \
    "$prev's batchup migrate, from its packaged SQL, records each of its $(packaged | wc -l) migrations"
ALICE=$("$R/usr/bin/batchup" user add alice -c "$BATCHUP_CONF" 2>"$T/user.err")
tap_like "$ALICE" '^[A-Za-z0-9_-]{20,}$' "$prev's batchup user add creates alice and prints her token"

# --- the upgrade --------------------------------------------------------------------
dpkg_root "$R" "$L" -i "$new"
tap_is "$?|$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f '${Version} ${Status}' batchup)" \
    "0|$version install ok installed" "dpkg --root upgrades it to $version"
tap_ok "$(grep -q "^workers = 7 # the operator's" "$C"; echo $?)" "the operator's configuration is kept$(
    [ -e "$C.dpkg-dist" ] && echo " (the new sample beside it, batchup.conf.dpkg-dist)")"
tap_is "$(stat -c '%u:%g %a' "$C")|$(awk '{ print $3 " " $4 }' "$R/var/lib/dpkg/statoverride")" \
    "$mode_before|640 /etc/batchup/batchup.conf" "... with its owner and mode, now recorded as a dpkg-statoverride"
tap_like "$("$R/usr/bin/batchup" --version)" "^batchup $version( |\$)" "the installed binary is $version"
"$R/usr/bin/batchup" migrate -c "$BATCHUP_CONF" >"$T/migrate-new.log" 2>&1
tap_is "$?|$(recorded | tr '\n' ' ')" "0|$(packaged | tr '\n' ' ')" \
    "$version's batchup migrate, from the new packaged SQL, brings the database to its $(packaged | wc -l) migrations"
tap_diag "the new migrate said: $(tr '\n' ' ' <"$T/migrate-new.log" | cut -c1-300)"
"$R/usr/bin/batchup" migrate -c "$BATCHUP_CONF" >"$T/migrate-again.log" 2>&1
tap_is "$?|$(recorded | tr '\n' ' ')" "0|$(packaged | tr '\n' ' ')" "... and once more changes nothing"

BATCHUP_BIN=$R/usr/bin/batchup
export BATCHUP_BIN
stack_nginx_start || tap_bail "nginx did not start"
stack_batchup_start
tap_ok $? "the upgraded binary serves"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ALICE" "$BATCHUP_URL/api/v1/batches")" 200 \
    "alice, created by $prev, is served by $version with her token"
tap_is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    -d '{"files":[{"name":"a.txt","size":5}]}' "$BATCHUP_URL/api/v1/batches")" 201 "... and creates a batch"
tap_is "$(readlink "/proc/$BATCHUP_PID/exe")" "$R/usr/bin/batchup" "the server answering is the upgraded package's binary"
stack_batchup_stop

dpkg_root "$R" "$L" -P batchup
tap_ok "$([ $? = 0 ] && [ ! -e "$R/etc/batchup" ] && [ ! -s "$R/var/lib/dpkg/statoverride" ]; echo $?)" \
    "purging the upgraded package removes the configuration and its statoverride"
[ "$tap__failed" = 0 ] || tap_diag "$(tail -n 20 "$L")"
tap_is "$(dpkg_root_host_state)" "$host_before" \
    "this machine's users, groups, statoverrides, systemd state, /etc/batchup and /var/lib/batchup did not change"
tap_done
