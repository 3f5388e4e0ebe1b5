-- SPDX-License-Identifier: BSD-2-Clause
-- batchup.claim_slot: limits, the FIFO queue, stale waiters, leases, the
-- global cap, and its answers for files that cannot upload.
--
-- The whole test is one transaction, so now() stands still: time passing is
-- simulated by moving leases and queue deadlines into the past.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(69);
\ir fixtures.psql

SELECT pg_temp.mkuser('c_alice');
SELECT pg_temp.mkuser('c_bob', 1);
SELECT pg_temp.mkuser('c_carol', 1);
SELECT pg_temp.mkuser(u) FROM unnest(ARRAY['c_dave', 'c_erin', 'c_gina', 'c_hank', 'c_ivy']) u;
SELECT pg_temp.mkbatch('c_alice', 'c_a1', 'c_a2', 'c_a3', 'c_a4', 'c_a5');
SELECT pg_temp.mkbatch('c_alice', 'c_a6');
SELECT pg_temp.mkbatch('c_bob', 'c_b1', 'c_b2', 'c_b3', 'c_b4');
SELECT pg_temp.mkbatch('c_carol', 'c_c1', 'c_c2');
SELECT pg_temp.mkbatch('c_dave', 'c_d1');
SELECT pg_temp.mkbatch('c_erin', 'c_e1', 'c_e2');
SELECT pg_temp.mkbatch('c_gina', 'c_g1');
SELECT pg_temp.mkbatch('c_hank', 'c_h1');
SELECT pg_temp.mkbatch('c_ivy', 'c_i1');

-- The default limit (slot_limit 0) and the queue.
SELECT results_eq($$SELECT * FROM batchup.claim_slot(pg_temp.fid('c_a1'), pg_temp.uid('c_alice'), 2, 0, 30, 2)$$,
                  $$VALUES ('granted'::text, NULL::integer, 0::bigint, 100::bigint)$$,
                  'a first claim is granted, with offset and size');
SELECT is(pg_temp.claim('c_a2'), 'granted', 'a second claim is granted under the default limit 2');
SELECT is(pg_temp.claim('c_a3'), 'queued:1', 'a third is queued first');
SELECT is(pg_temp.claim('c_a4'), 'queued:2', 'a fourth is queued second');
SELECT is(pg_temp.claim('c_a6'), 'queued:3', 'a file of another batch of the same user queues behind');
SELECT is(pg_temp.claim('c_a3'), 'queued:1', 'a waiter asking again keeps its place');
SELECT is(pg_temp.claim('c_a4'), 'queued:2', 'and so does the one behind it');
SELECT results_eq($$SELECT file_id, position FROM batchup.upload_queue WHERE user_name = 'c_alice' ORDER BY position$$,
                  $$VALUES (pg_temp.fid('c_a3'), 1), (pg_temp.fid('c_a4'), 2), (pg_temp.fid('c_a6'), 3)$$,
                  'upload_queue lists the waiters with the same positions');
SELECT results_eq($$SELECT slot_limit, active, queued FROM batchup.user_usage WHERE user_name = 'c_alice'$$,
                  $$VALUES (0, 2, 3)$$, 'user_usage counts 2 active and 3 queued');
SELECT results_eq($$SELECT status, queue_position FROM batchup.file_state(pg_temp.fid('c_a4'), pg_temp.uid('c_alice'))$$,
                  $$VALUES ('queued'::text, 2)$$, 'file_state reports queued with its position');
SELECT is(pg_temp.api_status('c_a1'), 'uploading', 'a slot holder is uploading');
SELECT is(pg_temp.api_status('c_a5'), 'pending', 'a file that never asked is pending');

-- Renewal.
UPDATE batchup.slots SET lease_expires_at = now() + interval '1 s' WHERE file_id = pg_temp.fid('c_a1');
SELECT is(pg_temp.claim('c_a1'), 'granted', 'a slot holder asking again is granted');
SELECT is((SELECT lease_expires_at FROM batchup.slots WHERE file_id = pg_temp.fid('c_a1')), now() + interval '30 s',
          'and its lease is renewed');
SELECT is((SELECT count(*)::integer FROM batchup.slots WHERE user_id = pg_temp.uid('c_alice')), 2,
          'renewal takes no second slot');

-- A freed slot goes to the head of the queue, first come first served.
SELECT pg_temp.complete('c_a1');
SELECT is((SELECT status FROM batchup.files WHERE id = pg_temp.fid('c_a1')), 'completed', 'c_a1 completes: its status is completed');
SELECT is(pg_temp.claim('c_a4'), 'queued:2', 'the second waiter cannot overtake the first');
SELECT is(pg_temp.claim('c_a5'), 'queued:4', 'a newcomer cannot overtake the waiters');
SELECT is(pg_temp.claim('c_a3'), 'granted', 'the first waiter gets the freed slot');
SELECT ok((SELECT status = 'uploading' AND queued_at IS NULL AND queue_live_until IS NULL
             FROM batchup.files WHERE name = 'c_a3'), 'a granted file leaves the queue');
SELECT is(pg_temp.claim('c_a4'), 'queued:1', 'the next waiter moves up');

-- A user's own limit overrides the default, in both directions.
SELECT ok(batchup.set_user_limit('c_alice', 3), 'set_user_limit finds the user');
SELECT is(pg_temp.claim('c_a5', 2), 'queued:3', 'a raised limit still serves the queue in order');
SELECT is(pg_temp.claim('c_a4', 2), 'granted', 'the head of the queue gets the third slot');
SELECT is(pg_temp.claim('c_a6', 5), 'queued:1', 'the user''s limit 3 wins over a default of 5');
SELECT ok(batchup.set_user_limit('c_alice', 0), 'back to the server default');
SELECT is(pg_temp.claim('c_a6', 5), 'granted', 'slot_limit 0 means the default, here 5');
SELECT is(pg_temp.claim('c_a5', 5), 'granted', 'and the fifth file fits too');
SELECT is((SELECT active FROM batchup.user_usage WHERE user_name = 'c_alice'), 5, 'five slots held');
SELECT is(pg_temp.claim('c_a2', 1), 'granted', 'lowering the limit does not take held slots back');
SELECT ok(batchup.set_user_limit('c_alice', 1), 'limit 1');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.files WHERE name = 'c_a2' AND status <> 'uploading'),
          'held slots survive a lowered limit');

-- A silent waiter stops blocking after 3 * retry seconds, and going silent
-- costs its place.
SELECT is(pg_temp.claim('c_b1'), 'granted', 'bob (limit 1) takes his only slot');
SELECT is(pg_temp.claim('c_b2'), 'queued:1', 'b2 waits first');
SELECT is(pg_temp.claim('c_b3'), 'queued:2', 'b3 waits second');
SELECT is((SELECT queue_live_until FROM batchup.files WHERE name = 'c_b2'), now() + interval '6 s',
          'a waiter is live for 3 * retry seconds');
UPDATE batchup.files SET queue_live_until = now() - interval '1 s', last_seen_at = now() - interval '7 s' WHERE name = 'c_b2';
SELECT is(pg_temp.claim('c_b3'), 'queued:1', 'b3 moves ahead of the silent b2');
SELECT results_eq($$SELECT file_id, position FROM batchup.upload_queue WHERE user_name = 'c_bob'$$,
                  $$VALUES (pg_temp.fid('c_b3'), 1)$$, 'upload_queue leaves the silent waiter out');
SELECT is(pg_temp.api_status('c_b2'), 'pending', 'the silent waiter reads as pending');
SELECT pg_temp.complete('c_b1');
SELECT is((SELECT status FROM batchup.files WHERE id = pg_temp.fid('c_b1')), 'completed', 'b1 completes: its status is completed');
SELECT is(pg_temp.claim('c_b3'), 'granted', 'b3 gets the slot: the silent b2 does not block it');
SELECT is(pg_temp.claim('c_b4'), 'queued:1', 'b4 waits');
SELECT is(pg_temp.claim('c_b2'), 'queued:2', 'b2 comes back and goes to the back of the queue');
SELECT ok((SELECT b2.queued_at > b4.queued_at FROM batchup.files b2, batchup.files b4
            WHERE b2.name = 'c_b2' AND b4.name = 'c_b4'), 'its queued_at was reset');

-- A lease that ran out frees the slot before any reaper ran.
SELECT is(pg_temp.claim('c_c1'), 'granted', 'carol (limit 1) takes her slot');
SELECT pg_temp.expire_lease('c_c1');
SELECT is((SELECT count(*)::integer FROM batchup.active_slots WHERE user_name = 'c_carol'), 0,
          'active_slots does not show an expired lease');
SELECT is(pg_temp.api_status('c_c1'), 'pending', 'a file whose lease ran out is pending');
SELECT is(pg_temp.claim('c_c2'), 'granted', 'the expired slot is free for another file');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('c_c1')), 'and its row was reaped');
SELECT is(pg_temp.claim('c_c1'), 'queued:1', 'the vanished file must wait for a slot again');

-- The global cap on users holding slots (here 2; alice, bob and carol are
-- active already, so the cap counts them).
SELECT is(pg_temp.claim('c_d1', 2, 5), 'granted', 'dave becomes the 4th active user under a cap of 5');
SELECT is(pg_temp.claim('c_e1', 2, 5), 'granted', 'erin becomes the 5th');
SELECT is(pg_temp.claim('c_g1', 2, 5), 'queued:1', 'gina would be the 6th: queued');
SELECT is(pg_temp.claim('c_e2', 2, 5), 'granted', 'an active user takes more slots at the cap');
SELECT pg_temp.complete('c_d1');
SELECT is((SELECT status FROM batchup.files WHERE id = pg_temp.fid('c_d1')), 'completed', 'dave finishes: its status is completed');
SELECT is(pg_temp.claim('c_g1', 2, 5), 'granted', 'gina takes dave''s place');
SELECT pg_temp.expire_lease('c_e1');
SELECT pg_temp.expire_lease('c_e2');
SELECT is(pg_temp.claim('c_h1', 2, 5), 'granted', 'erin''s expired leases free her place under the cap');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE user_id = pg_temp.uid('c_erin')),
          'the cap check reaped other users'' expired slots');
SELECT is(pg_temp.claim('c_i1', 2, 0), 'granted', 'a cap of 0 means no cap');
SELECT pg_temp.expire_lease('c_i1');
SELECT is(pg_temp.claim('c_i1', 2, 0), 'granted', 'a file whose own lease ran out takes a slot again when one is free');
SELECT results_eq($$SELECT acquired_at, lease_expires_at FROM batchup.slots WHERE file_id = pg_temp.fid('c_i1')$$,
                  $$VALUES (now(), now() + interval '30 s')$$, 'as a new slot, not a renewal of the lost one');

-- Files that cannot upload.
SELECT results_eq($$SELECT * FROM batchup.claim_slot(pg_temp.fid('c_c2'), pg_temp.uid('c_bob'), 2, 0, 30, 2)$$,
                  $$VALUES ('not_found'::text, NULL::integer, NULL::bigint, NULL::bigint)$$,
                  'another user''s file is not_found');
SELECT is((SELECT result FROM batchup.claim_slot(gen_random_uuid(), pg_temp.uid('c_bob'), 2, 0, 30, 2)), 'not_found',
          'an unknown file is not_found');
SELECT is(batchup.abort_file(pg_temp.fid('c_b4'), pg_temp.uid('c_bob'), 3600), 'aborted', 'b4 aborted');
SELECT is(pg_temp.claim('c_b4'), 'gone', 'an aborted file is gone');
SELECT results_eq($$SELECT * FROM batchup.claim_slot(pg_temp.fid('c_a1'), pg_temp.uid('c_alice'), 2, 0, 30, 2)$$,
                  $$VALUES ('completed'::text, NULL::integer, 100::bigint, 100::bigint)$$,
                  'a completed file answers completed with its full offset');

-- Bad arguments.
SELECT throws_ok($$SELECT * FROM batchup.claim_slot(pg_temp.fid('c_c1'), pg_temp.uid('c_carol'), 2, 0, 0, 2)$$,
                 'BU400', NULL, 'a lease of 0 seconds is refused');
SELECT throws_ok($$SELECT * FROM batchup.claim_slot(pg_temp.fid('c_c1'), pg_temp.uid('c_carol'), -1, 0, 30, 2)$$,
                 'BU400', NULL, 'a negative default limit is refused');

-- The advisory locks taken above are still held by this transaction.
SELECT results_eq($$SELECT key, user_name, purpose, granted FROM batchup.slot_locks
                     WHERE pid = pg_backend_pid() AND key IN (0, pg_temp.uid('c_alice')) ORDER BY key$$,
                  $$VALUES (0, NULL::text, 'active users cap'::text, true),
                           (pg_temp.uid('c_alice'), 'c_alice'::text, 'user'::text, true)$$,
                  'slot_locks shows the user lock with its user and the global cap lock');

SELECT * FROM finish();
ROLLBACK;
