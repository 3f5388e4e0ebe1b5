#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# One group per power (issue 22, item 13): connecting to the FastCGI socket
# (batchup-web), reading the stored files (batchup-files) and reading the
# configuration with its password (batchup) are three groups, so that the
# web server's user, which joins the first (and the second only when it
# sends files itself), never gets the third.
#  (a) the package's postinst, in a scratch root, on a first installation:
#      the three groups, the user in its own group only,
#      /var/lib/batchup batchup:batchup-web 0750, storage/
#      batchup:batchup-files 2750, the configuration root:batchup 0640;
#  (b) the same postinst upgrading the one-group layout moves
#      /var/lib/batchup to batchup-web and storage/ (folders and files) to
#      batchup-files, folders setgid, and leaves the configuration alone;
#  (c) the systemd units: the service runs with Group=batchup-web and the
#      batchup group as a supplementary one only, the socket is
#      batchup-web's, and neither grants the batchup group;
#  (d) a real server storing into a setgid storage_dir: every folder and
#      file it creates there belongs to that folder's group and is readable
#      by it (0640/0750) and by nobody else, which is what batchup-files
#      relies on.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t27
mkdir -p "$T"

# scratch_root DIR: an /etc with root only, for groupadd/useradd --prefix,
# and dpkg's empty database (the postinst records the configuration's mode
# with dpkg-statoverride, which honours DPKG_ROOT).
scratch_root() {
    mkdir -p "$1/etc/batchup" "$1/var/lib/dpkg"
    : >"$1/var/lib/dpkg/statoverride"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$1/etc/passwd"
    printf 'root:x:0:\n' >"$1/etc/group"
    printf 'root:*:19000:0:99999:7:::\n' >"$1/etc/shadow"
    printf 'root:*::\n' >"$1/etc/gshadow"
    cp conf/batchup.conf "$1/etc/batchup/batchup.conf"
}
gid_in() { awk -F: -v n="$2" '$1 == n { print $3 }' "$1/etc/group"; }

# --- (a) first installation --------------------------------------------------
R=$T/fresh
scratch_root "$R"
DPKG_ROOT=$R sh debian/batchup.postinst configure "" >"$T/postinst.log" 2>&1
tap_ok $? "postinst configure (first installation) runs in a scratch root"
uid=$(awk -F: '$1 == "batchup" { print $3 }' "$R/etc/passwd")
g=$(gid_in "$R" batchup) gw=$(gid_in "$R" batchup-web) gf=$(gid_in "$R" batchup-files)
tap_like "$g:$gw:$gf" '^[0-9]+:[0-9]+:[0-9]+$' "the groups batchup, batchup-web and batchup-files exist ($g:$gw:$gf)"
tap_is "$(awk -F: '$1 == "batchup" { print $4 }' "$R/etc/passwd")" "$g" "the batchup user's group is batchup"
tap_is "$(awk -F: '$4 ~ /(^|,)[a-z-]/ { print $1 ":" $4 }' "$R/etc/group")" "" \
    "nobody is a member of any of them (the web server joins by hand)"
tap_is "$(stat -c '%u:%g %a' "$R/var/lib/batchup")" "$uid:$gw 750" "/var/lib/batchup is batchup:batchup-web 0750"
tap_is "$(stat -c '%u:%g %a' "$R/var/lib/batchup/storage")" "$uid:$gf 2750" \
    "storage/ is batchup:batchup-files 2750 (setgid)"
tap_is "$(stat -c '%u:%g %a' "$R/etc/batchup/batchup.conf")" "0:$g 640" \
    "the configuration is root:batchup 0640: neither batchup-web nor batchup-files reads it"

# --- (b) upgrade from the one-group layout ------------------------------------
U=$T/upgrade
scratch_root "$U"
DPKG_ROOT=$U sh debian/batchup.postinst configure "" >>"$T/postinst.log" 2>&1
g=$(gid_in "$U" batchup) gw=$(gid_in "$U" batchup-web) gf=$(gid_in "$U" batchup-files)
# What an older package left: everything batchup:batchup, no setgid.
mkdir -p "$U/var/lib/batchup/storage/files/ab" "$U/var/lib/batchup/storage/partial"
echo data >"$U/var/lib/batchup/storage/files/ab/abcd"
# A link the batchup user planted, to a file it does not own: the upgrade
# must not lend it chgrp (the file keeps its group).
echo secret >"$T/outside"
ln -s "$T/outside" "$U/var/lib/batchup/storage/files/ab/link"
chgrp -R "$g" "$U/var/lib/batchup"
chmod -R g-s "$U/var/lib/batchup"
chmod 0750 "$U/var/lib/batchup/storage"
DPKG_ROOT=$U sh debian/batchup.postinst configure 0.1.0 >>"$T/postinst.log" 2>&1
tap_ok $? "postinst configure (upgrade) runs"
tap_is "$(stat -c %g "$T/outside")" "$(id -g)" "the upgrade follows no link planted in storage/ (the file it names keeps its group)"
tap_is "$(stat -c %g "$U/var/lib/batchup")" "$gw" "the upgrade gives /var/lib/batchup to batchup-web"
tap_is "$(find "$U/var/lib/batchup/storage" ! -group "$gf" | wc -l)" 0 \
    "... and storage/ with every folder and file in it to batchup-files"
tap_is "$(find "$U/var/lib/batchup/storage" -type d ! -perm -g+s | wc -l)" 0 "... its folders setgid"
tap_is "$(stat -c '%g %a' "$U/etc/batchup/batchup.conf")" "$g 640" "the configuration stays root:batchup 0640"
[ "$tap__failed" = 0 ] || tap_diag "$(tail -n 20 "$T/postinst.log")"

# --- (c) the units --------------------------------------------------------------
unit_key() { sed -n "s/^$2=//p" "$1"; }
tap_is "$(unit_key conf/batchup.service Group) / $(unit_key conf/batchup.service SupplementaryGroups)" \
    "batchup-web / batchup" "batchup.service: Group=batchup-web, the batchup group supplementary only"
tap_is "$(unit_key conf/batchup.service UMask) $(unit_key conf/batchup.service LogsDirectoryMode)" \
    "0027 0700" "batchup.service: nothing it creates is group-writable; its logs are its own"
tap_is "$(unit_key conf/batchup.socket SocketGroup) $(unit_key conf/batchup.socket SocketMode)" \
    "batchup-web 0660" "batchup.socket: the socket is batchup-web's, 0660"

# --- (d) a real server, a setgid storage_dir -------------------------------------
# daemon (gid 1) stands for batchup-files: a group batchup's process is
# not in, which still owns what it stores.
S=$STACK_DIR/storage
mkdir -p "$S"
chgrp daemon "$S"
chmod 2750 "$S"
stack_start workers=3 pm=static per_user_limit=1 gc_interval_seconds=3600 ||
    tap_bail "the stack did not start"
TA=$(stack_user_add alice) || tap_bail "cannot add alice"
curl -s --max-time 20 -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
    --data '{"files": [{"name": "g.txt", "size": 5}]}' "$BATCHUP_URL/api/v1/batches" >"$T/mk.json"
FILE=$(jq -r '.files[0].id' "$T/mk.json")
code=$(printf hello | curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PATCH \
    -H "Authorization: Bearer $TA" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' --data-binary @- "$BATCHUP_URL/api/v1/files/$FILE")
tap_is "$code" 204 "a file is uploaded into the setgid storage_dir"
tap_is "$(stat -c '%G %a' "$S/files/${FILE:0:2}/$FILE")" "daemon 640" \
    "the stored file is the storage group's, readable by it, by nobody else (0640)"
tap_is "$(find "$S" -mindepth 1 -type d -printf '%g %m\n' | sort -u | tr '\n' ' ')" "daemon 2750 " \
    "every folder batchup made there is the storage group's, setgid, 0750"

tap_done
