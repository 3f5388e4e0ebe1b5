#!/bin/bash
# build.sh ROOT VERSION ARCH OUT.deb: turn a `make install PREFIX=/usr
# DESTDIR=ROOT` tree into a Debian package with dpkg-deb alone (no
# debhelper): binary stripped, man page compressed, the control files of
# this folder (control.in with the version, architecture and size filled
# in, conffiles, the maintainer scripts), md5sums, files owned by root.
set -euo pipefail
root=$1 version=$2 arch=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)

strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/batchup"
gzip -9n "$root/usr/share/man/man8/batchup.8"
mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" \
    >"$root/DEBIAN/control"
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "$here/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
    xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "built $out"
