-- SPDX-License-Identifier: BSD-2-Clause
-- Deleting a batch, revoking and re-issuing its link, the per-user quotas,
-- expiry from a batch's last activity, the orphan sweep's question, and
-- remote users created only when asked (migration 006 and its functions).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(33);
\ir fixtures.psql

SELECT pg_temp.mkuser('s_sam');
SELECT pg_temp.mkuser('s_tom');

-- The link: revoke, re-issue, never for an unfinished batch.
SELECT pg_temp.mkbatch('s_sam', 's_a1');
SELECT ok(pg_temp.complete('s_a1'), 'a1 completes its batch');
CREATE TEMP TABLE s_link AS SELECT id AS batch, download_token AS token FROM batchup.batches WHERE id = pg_temp.bid('s_a1');
SELECT isnt((SELECT token FROM s_link), NULL, 'the batch has its link');
SELECT is(batchup.revoke_link((SELECT batch FROM s_link), pg_temp.uid('s_tom')), 'not_found', 'another user cannot revoke it');
SELECT is(batchup.revoke_link((SELECT batch FROM s_link), pg_temp.uid('s_sam')), 'revoked', 'the owner revokes it');
SELECT is_empty($$SELECT * FROM batchup.link_files((SELECT token FROM s_link))$$, 'the old token is unknown at once (404)');
SELECT results_eq($$SELECT status, download_token::text FROM batchup.batches WHERE id = (SELECT batch FROM s_link)$$,
                  $$VALUES ('complete'::text, NULL::text)$$, 'the batch stays complete, without a token');
SELECT is((batchup.batch_json((SELECT batch FROM s_link), NULL)::jsonb ->> 'download_url'), NULL, 'the API shows no link');
SELECT is(batchup.revoke_link((SELECT batch FROM s_link), pg_temp.uid('s_sam')), 'none', 'revoking again: there is none');
SELECT results_eq($$SELECT result FROM batchup.issue_link((SELECT batch FROM s_link), pg_temp.uid('s_tom'), 3600)$$,
                  $$VALUES ('not_found'::text)$$, 'another user cannot issue one');
SELECT results_eq($$SELECT result, download_token <> (SELECT token FROM s_link) FROM batchup.issue_link((SELECT batch FROM s_link), pg_temp.uid('s_sam'), 3600)$$,
                  $$VALUES ('issued'::text, true)$$, 'the owner gets a new token');
SELECT isnt_empty($$SELECT * FROM batchup.link_files((SELECT download_token FROM batchup.batches WHERE id = (SELECT batch FROM s_link)))$$,
                  'the new link serves');
SELECT is_empty($$SELECT * FROM batchup.link_files((SELECT token FROM s_link))$$, 'the old one stays dead');
SELECT pg_temp.mkbatch('s_sam', 's_b1', 's_b2');
SELECT ok(NOT pg_temp.complete('s_b1'), 'b1 completes, b2 does not');
SELECT results_eq($$SELECT result FROM batchup.issue_link(pg_temp.bid('s_b1'), pg_temp.uid('s_sam'), 3600)$$,
                  $$VALUES ('incomplete'::text)$$, 'no link while a file is left to upload');
SELECT is((SELECT download_token FROM batchup.batches WHERE id = pg_temp.bid('s_b1')), NULL, 'and none was stored');
UPDATE batchup.batches SET link_expires_at = now() - interval '1 s' WHERE id = (SELECT batch FROM s_link);
SELECT results_eq($$SELECT result FROM batchup.issue_link((SELECT batch FROM s_link), pg_temp.uid('s_sam'), 3600)$$,
                  $$VALUES ('expired'::text)$$, 'no new link for an expired batch');
SELECT throws_ok($$UPDATE batchup.batches SET download_token = batchup.new_download_token() WHERE id = pg_temp.bid('s_b1')$$,
                 '23514', NULL, 'a token on an unfinished batch is refused by a constraint');

-- Quotas, under the user's lock.
SELECT pg_temp.mkuser('s_quinn');
SELECT lives_ok($$SELECT batchup.create_batch(pg_temp.uid('s_quinn'), '[{"name": "s_q1", "size": 600}]', 3600, 1000, 2)$$,
                'a batch under both quotas');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('s_quinn'), '[{"name": "s_q2", "size": 401}]', 3600, 1000, 2)$$,
                 'BU413', NULL, 'a batch past max_user_bytes is refused');
SELECT lives_ok($$SELECT batchup.create_batch(pg_temp.uid('s_quinn'), '[{"name": "s_q3", "size": 400}]', 3600, 1000, 2)$$,
                'a batch that exactly fills the quota is fine');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('s_quinn'), '[{"name": "s_q4", "size": 0}]', 3600, 0, 2)$$,
                 'BU413', NULL, 'a third open batch is refused by max_open_batches');
SELECT is(batchup.abort_file(pg_temp.fid('s_q1'), pg_temp.uid('s_quinn'), 3600), 'aborted', 'q1 aborted: its bytes are free');
SELECT lives_ok($$SELECT batchup.create_batch(pg_temp.uid('s_quinn'), '[{"name": "s_q5", "size": 600}]', 3600, 1000, 2)$$,
                'aborted files and finished batches no longer count');
SELECT lives_ok($$SELECT batchup.create_upload(pg_temp.uid('s_tom'), 's_t1', '', 10, 3600, 0, 0)$$, '0 is no cap');
SELECT throws_ok($$SELECT batchup.create_upload(pg_temp.uid('s_quinn'), 's_q6', '', 1, 3600, 1000, 0)$$,
                 'BU413', NULL, 'tus creation obeys the quota too');

-- Expiry counts from the batch's last activity.
SELECT pg_temp.mkuser('s_eve');
SELECT pg_temp.mkbatch('s_eve', 's_e1', 's_e2', 's_e3');
SELECT ok(NOT pg_temp.complete('s_e1'), 'e1 completes');
UPDATE batchup.files SET updated_at = now() - interval '2 h', created_at = now() - interval '2 h'
 WHERE name IN ('s_e1', 's_e3');
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = now() - interval '1 min' WHERE name = 's_e2';
SELECT is_empty($$SELECT * FROM batchup.gc(3600) WHERE file_id IN (SELECT id FROM batchup.files WHERE name LIKE 's\_e%')$$,
                'an untouched pending file of a batch that was active a minute ago does not expire');
SELECT results_eq($$SELECT string_agg(status, ',' ORDER BY ordinal) FROM batchup.files WHERE name LIKE 's\_e%'$$,
                  $$VALUES ('completed,pending,pending')$$, 'the completed file is kept');
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = now() - interval '2 h' WHERE name LIKE 's\_e%';
SELECT set_eq($$SELECT * FROM batchup.gc(3600) WHERE file_id IN (SELECT id FROM batchup.files WHERE name LIKE 's\_e%')$$,
              $$VALUES ('partial'::text, pg_temp.fid('s_e2')), ('partial', pg_temp.fid('s_e3'))$$,
              'a batch idle for the whole expiry loses its unfinished files, not its completed one');

-- The orphan sweep's question.
SELECT set_eq($$SELECT file_id FROM batchup.live_files(ARRAY[pg_temp.fid('s_b1'), pg_temp.fid('s_b2'), pg_temp.fid('s_e2'),
                                                             pg_temp.fid('s_q1'), pg_temp.fid('s_a1'), gen_random_uuid()])$$,
              $$VALUES (pg_temp.fid('s_b1')), (pg_temp.fid('s_b2'))$$,
              'live_files: completed and unfinished files; not expired, aborted, purged (a1: its link ran out) or unknown ones');

-- remote_user: created only when asked.
SELECT is(batchup.user_for_remote('s_nobody', false), NULL, 'an unknown name is not created');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.users WHERE name = 's_nobody'), 'nothing was inserted');
SELECT is(batchup.user_for_remote('s_sam', false), pg_temp.uid('s_sam'), 'a known name is found');

SELECT * FROM finish();
ROLLBACK;
