#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The send deadline is an average (issue 22, item 3): a reader that takes at
# least send_min_rate bytes a second since the response's first byte is
# never cut, however unevenly it takes them, and one below it is. The
# readers here speak FastCGI to batchup's socket directly and take the batch
# ZIP as nginx drains an unbuffered response: in large gulps, with nothing
# taken in between for longer than send_timeout. With send_min_rate 100000
# and send_timeout 2: 512 KiB every 4 s (131 kB/s) gets the whole archive;
# 256 KiB every 6 s (44 kB/s) is cut. (Before, a window of its own cut the
# first reader at its first pause.)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
stack_start workers=4 pm=static per_user_limit=1 gc_interval_seconds=0 pool_download_share=50 send_min_rate=100000 \
    send_timeout=2 min_rate_window=2 || tap_bail "the stack did not start"
T=$STACK_DIR/t25
mkdir -p "$T"

OWNER=$(stack_user_add owner) || tap_bail "cannot add owner"
SIZE=$((2 * 1024 * 1024))
head -c "$SIZE" /dev/urandom >"$T/data"
id=$(batch_create "$OWNER" "{\"files\":[{\"name\":\"data.bin\",\"size\":$SIZE}]}" | jq -r '.files[0].id')
code=$(patch "$OWNER" "/api/v1/files/$id" "$T/data")
[ "$code" = 204 ] || tap_bail "the file did not upload ($code)"
LINK=$(batch_link "$OWNER")
[ -n "$LINK" ] && [ "$LINK" != null ] || tap_bail "no batch link"
curl -s --max-time 30 -o "$T/whole.zip" "$BATCHUP_URL$LINK"

python3 tests/lib/fcgireq.py "$STACK_SOCKET" GET "$LINK" --gulp 524288 --every 4 \
    --out "$T/honest.zip" --seconds 60 >"$T/honest" &
h=$!
python3 tests/lib/fcgireq.py "$STACK_SOCKET" GET "$LINK" --addr 127.0.0.2 --gulp 262144 --every 6 \
    --seconds 60 >"$T/slow" &
s=$!
wait "$h" "$s"
val() { awk -v k="$1" '$1 == k {print $2; exit}' "$2"; }
total=$(stat -c %s "$T/whole.zip")

tap_is "$(val status "$T/honest")|$(val content_length "$T/honest")" "200|$total" \
    "the gulping reader got 200 with the archive's length ($total)"
tap_is "$(val body_bytes "$T/honest")|$(val ended "$T/honest")" "$total|1" \
    "... and all of it, to the end of the request (in $(val seconds "$T/honest") s, 131 kB/s on average)"
cmp -s "$T/honest.zip" "$T/whole.zip"
tap_ok $? "... byte for byte the archive fetched at once"
tap_ok "$([ "$(val body_bytes "$T/slow")" -lt "$total" ] && [ "$(val ended "$T/slow")" = 0 ]; echo $?)" \
    "the reader below send_min_rate on average was cut ($(val body_bytes "$T/slow") of $total bytes)"
log=$STACK_DIR/batchup.log
tap_is "$(grep -c '"GET" "/api/v1/download/batch/.* client-gone$' "$log")" 1 \
    "the log shows one download ended early (client-gone): the slow one"
tap_diag "$(tr '\n' ' ' <"$T/honest")"
tap_diag "$(tr '\n' ' ' <"$T/slow")"

tap_done
