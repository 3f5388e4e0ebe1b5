#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Hooks (issue 22, items 12 and 14): events are queued only for a hook that
# will receive them, handed out user by user, and the hook command does not
# see libpq's password sources.
#  - With no hook configured, completed batches queue no event; once a hook
#    is configured (the server restarted with hook_command), it receives the
#    events from then on, not a flood of the old ones.
#  - One user's 30 events, queued while the hook is held, do not hold back
#    another user's event queued after them: it is delivered second (after
#    the one of the 30 being delivered when the hold began).
#  - The command's environment has neither PGPASSWORD, PGPASSFILE nor
#    PGSERVICEFILE of the server's, but keeps the rest of it.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/stack.sh
. tests/lib/api.sh

stack_init || tap_bail "cannot create the stack folder"
T=$STACK_DIR/t87
mkdir -p "$T"
stack_start workers=6 gc_interval_seconds=3600 || tap_bail "the stack did not start"
ANN=$(stack_user_add ann) || tap_bail "cannot add ann"
BOB=$(stack_user_add bob) || tap_bail "cannot add bob"
empty_batch() { # TOKEN NAME: a batch of one empty file (complete at once); prints its id
    curl -s --max-time 20 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        --data "{\"files\": [{\"name\": \"$2\", \"size\": 0}]}" "$BATCHUP_URL/api/v1/batches" | jq -r .id
}

# --- no hook: nothing queued -------------------------------------------------
for i in 1 2 3 4 5; do empty_batch "$ANN" "old$i.txt" >/dev/null; done
tap_is "$(sql "SELECT count(*) FROM batchup.batches WHERE status = 'complete'")|$(sql "SELECT count(*) FROM batchup.hook_events")" \
    "5|0" "5 batches completed with no hook configured: no event queued"

# --- a hook configured later, slow, with secrets in the server's environment --
cat >"$T/hook.sh" <<SH
#!/bin/sh
# The test's hook command: records the event and the environment; waits
# while $T/hold exists (at most 20 s).
n=0
while [ -e "$T/hold" ] && [ \$n -lt 200 ]; do sleep 0.1; n=\$((n + 1)); done
echo "\$BATCHUP_USER \$BATCHUP_BATCH_ID" >>"$T/cmd.log"
env >"$T/env.\$BATCHUP_EVENT_ID"
SH
chmod +x "$T/hook.sh"
stack_batchup_stop
stack_write_conf workers=6 gc_interval_seconds=3600 "hook_command=$T/hook.sh" hook_timeout_seconds=5
PGPASSWORD=not-for-hooks PGPASSFILE=/nonexistent/pgpass PGSERVICEFILE=/nonexistent/pg_service.conf \
    HOOK_TEST_KEPT=yes stack_batchup_start || tap_bail "the server did not start again"
stack_wait_until 10 test "$(sql "SELECT count(*) FROM batchup.hook_subscribers WHERE live_until > now()")" = 1
tap_ok $? "the hooks child registered as a deliverer"

# ann's flood, then bob's one event, while the hook is held.
touch "$T/hold"
for i in $(seq 1 30); do empty_batch "$ANN" "flood$i.txt" >/dev/null; done
BOBS=$(empty_batch "$BOB" bob.txt)
rm -f "$T/hold"
all_in() { [ "$(wc -l <"$T/cmd.log" 2>/dev/null)" -ge 31 ]; }
stack_wait_until 40 all_in
tap_ok $? "the 31 new events are delivered"
sleep 0.5
tap_is "$(wc -l <"$T/cmd.log")" 31 "only those: none of the 5 from before the hook was configured"
pos=$(grep -n " $BOBS\$" "$T/cmd.log" | cut -d: -f1)
ann_before=$(head -n "$((pos - 1))" "$T/cmd.log" | grep -c '^ann ')
tap_diag "bob's event was delivery $pos of 31"
tap_ok "$([ -n "$pos" ] && [ "$pos" -le 2 ]; echo $?)" \
    "bob's event is not held behind ann's 30: delivered as number $pos (after $ann_before of ann's)"
tap_is "$(sql "SELECT count(*) FILTER (WHERE status = 'delivered') || '/' || count(*) FROM batchup.hook_events")" "31/31" \
    "hook_deliveries: 31 delivered of 31"

# --- the command's environment -----------------------------------------------
envf=$(ls "$T"/env.* | head -n 1)
tap_is "$(grep -c -E '^(PGPASSWORD|PGPASSFILE|PGSERVICEFILE)=' "$envf")" 0 \
    "the hook command sees neither PGPASSWORD, PGPASSFILE nor PGSERVICEFILE"
tap_is "$(grep -c '^HOOK_TEST_KEPT=yes$' "$envf")|$(grep -c '^BATCHUP_EVENT=batch_complete$' "$envf")" "1|1" \
    "but keeps the rest of the server's environment, and gets the event's"
tap_done
