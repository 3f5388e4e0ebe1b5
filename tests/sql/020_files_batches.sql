-- SPDX-License-Identifier: BSD-2-Clause
-- Progress, completion, abort, the slot release on every terminal status,
-- the batch's single link, empty files and create_batch's checks.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(81);
\ir fixtures.psql

SELECT pg_temp.mkuser('k_kim');
SELECT pg_temp.mkuser('k_lee');

-- record_progress
SELECT pg_temp.mkbatch('k_kim', 'k_p1', 'k_p2');
SELECT is(pg_temp.claim('k_p1'), 'granted', 'p1 holds a slot');
UPDATE batchup.slots SET lease_expires_at = now() + interval '1 s' WHERE file_id = pg_temp.fid('k_p1');
SELECT is(batchup.record_progress(pg_temp.fid('k_p1'), 40, 30), true, 'progress with a slot returns true');
SELECT results_eq($$SELECT f.upload_offset, s.lease_expires_at FROM batchup.files f JOIN batchup.slots s ON s.file_id = f.id
                     WHERE f.name = 'k_p1'$$,
                  $$VALUES (40::bigint, now() + interval '30 s')$$, 'the offset is stored and the lease renewed');
SELECT is(batchup.record_progress(pg_temp.fid('k_p1'), 40, 30), true, 'the same offset again is fine');
SELECT throws_ok($$SELECT batchup.record_progress(pg_temp.fid('k_p1'), 39, 30)$$, 'BU409', NULL, 'an offset cannot go back');
SELECT throws_ok($$SELECT batchup.record_progress(pg_temp.fid('k_p1'), 101, 30)$$, 'BU409', NULL, 'an offset cannot pass the size');
SELECT throws_ok($$SELECT batchup.record_progress(pg_temp.fid('k_p1'), NULL, 30)$$, 'BU409', NULL, 'an offset cannot be NULL');
SELECT throws_ok($$SELECT batchup.record_progress(gen_random_uuid(), 1, 30)$$, 'BU404', NULL, 'an unknown file is BU404');
SELECT throws_ok($$SELECT batchup.record_progress(pg_temp.fid('k_p1'), 50, 0)$$, 'BU400', NULL, 'a lease of 0 s is refused');
SELECT pg_temp.expire_lease('k_p1');
SELECT is(batchup.record_progress(pg_temp.fid('k_p1'), 50, 30), false, 'after the lease ran out progress returns false');
SELECT results_eq($$SELECT f.upload_offset, s.lease_expires_at < now() FROM batchup.files f JOIN batchup.slots s ON s.file_id = f.id
                     WHERE f.name = 'k_p1'$$,
                  $$VALUES (50::bigint, true)$$, 'the bytes count, but the lost lease is not revived');
SELECT is(batchup.record_progress(pg_temp.fid('k_p2'), 10, 30), false, 'progress never takes a slot');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('k_p2')), 'no slot appeared');

-- complete_file, and the link issued once
SELECT pg_temp.mkbatch('k_kim', 'k_c1', 'k_c2');
SELECT is(pg_temp.claim('k_c1'), 'granted', 'c1 holds a slot');
SELECT results_eq($$SELECT * FROM batchup.complete_file(pg_temp.fid('k_c1'), repeat('c', 64), 3600)$$,
                  $$VALUES (pg_temp.bid('k_c1'), false, NULL::text, 'completed'::text)$$,
                  'the first file completes; the batch is not complete yet');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('k_c1')), 'completion released the slot');
SELECT results_eq($$SELECT status, upload_offset, sha256::text, completed_at FROM batchup.files WHERE name = 'k_c1'$$,
                  $$VALUES ('completed'::text, 100::bigint, repeat('c', 64), now())$$, 'the file row is complete');
SELECT results_eq($$SELECT * FROM batchup.complete_file(pg_temp.fid('k_c1'), repeat('d', 64), 3600)$$,
                  $$VALUES (pg_temp.bid('k_c1'), false, NULL::text, 'completed'::text)$$,
                  'a retried completion reports the same state');
SELECT results_eq($$SELECT b.files_remaining, f.sha256::text FROM batchup.batches b JOIN batchup.files f ON f.batch_id = b.id
                     WHERE f.name = 'k_c1'$$,
                  $$VALUES (1, repeat('c', 64))$$, 'and changes nothing: counted once, checksum kept');
SELECT results_eq($$SELECT batch_id, batch_complete, download_token ~ '^[A-Za-z0-9_-]{43}$', file_status
                     FROM batchup.complete_file(pg_temp.fid('k_c2'), repeat('c', 64), 3600)$$,
                  $$VALUES (pg_temp.bid('k_c1'), true, true, 'completed'::text)$$,
                  'the last file completes the batch with a 43-character URL-safe token');
SELECT results_eq($$SELECT status, completed_at, link_expires_at, files_remaining FROM batchup.batches WHERE id = pg_temp.bid('k_c1')$$,
                  $$VALUES ('complete'::text, now(), now() + interval '3600 s', 0)$$,
                  'the batch is complete, its link lives link_ttl seconds');
SELECT is((SELECT download_token FROM batchup.complete_file(pg_temp.fid('k_c2'), repeat('c', 64), 60)), (SELECT download_token::text FROM batchup.batches WHERE id = pg_temp.bid('k_c1')),
          'a retried last completion returns the same token');
SELECT is((SELECT download_token FROM batchup.complete_file(pg_temp.fid('k_c1'), repeat('c', 64), 60)), (SELECT download_token::text FROM batchup.batches WHERE id = pg_temp.bid('k_c1')),
          'and so does a retry of the first one');
SELECT is((SELECT link_expires_at FROM batchup.batches WHERE id = pg_temp.bid('k_c1')), now() + interval '3600 s',
          'retries do not move the link''s expiry');
SELECT is(batchup.abort_file(pg_temp.fid('k_c2'), pg_temp.uid('k_kim'), 3600), 'completed', 'a completed file cannot be aborted');
SELECT is((SELECT status FROM batchup.files WHERE name = 'k_c2'), 'completed', 'and stays completed');
SELECT isnt(batchup.new_download_token(), batchup.new_download_token(), 'tokens differ');

SELECT pg_temp.mkuser('k_sum');
SELECT batchup.create_batch(pg_temp.uid('k_sum'),
    '[{"name": "k_s1", "size": 5, "sha256": "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"}]', 3600);
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('k_s1'), repeat('e', 64), 3600)$$,
                 'BU460', NULL, 'a checksum other than the announced one is refused');
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('k_s1'), 'xyz', 3600)$$,
                 'BU400', NULL, 'a malformed checksum is refused');
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('k_s1'), repeat('e', 64), 0)$$,
                 'BU400', NULL, 'a link ttl of 0 is refused');
SELECT is((SELECT file_status FROM batchup.complete_file(pg_temp.fid('k_s1'),
                  '2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824', 3600)), 'completed',
          'the announced checksum, in capitals, is accepted');
SELECT is((SELECT sha256 FROM batchup.files WHERE name = 'k_s1'),
          '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', 'and stored in lower case');
SELECT is_empty($$SELECT * FROM batchup.complete_file(gen_random_uuid(), repeat('a', 64), 3600)$$,
                'completing an unknown file returns no row');

-- Release on each terminal status (completed is above).
SELECT pg_temp.mkbatch('k_kim', 'k_r1', 'k_r2');
SELECT pg_temp.mkbatch('k_kim', 'k_r3');
SELECT is(pg_temp.claim('k_r1', 5), 'granted', 'r1 holds a slot');
SELECT is(batchup.abort_file(pg_temp.fid('k_r1'), pg_temp.uid('k_kim'), 3600), 'aborted', 'r1 aborted');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('k_r1')), 'abort released the slot');
SELECT is(batchup.abort_file(pg_temp.fid('k_r1'), pg_temp.uid('k_kim'), 3600), 'gone', 'aborting twice answers gone');
SELECT is(batchup.abort_file(pg_temp.fid('k_r2'), pg_temp.uid('k_lee'), 3600), 'not_found', 'another user cannot abort it');
SELECT throws_ok($$SELECT batchup.record_progress(pg_temp.fid('k_r1'), 1, 30)$$, 'BU410', NULL, 'no progress on an aborted file');
SELECT results_eq($$SELECT * FROM batchup.complete_file(pg_temp.fid('k_r1'), repeat('a', 64), 3600)$$,
                  $$SELECT batch_id, false, NULL::text, 'aborted'::text FROM batchup.files WHERE name = 'k_r1'$$,
                  'completing an aborted file changes nothing and says so');
SELECT is(pg_temp.claim('k_r2', 5), 'granted', 'r2 holds a slot');
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = now() - interval '2 h' WHERE name = 'k_r2';
SELECT results_eq($$SELECT * FROM batchup.gc(3600)$$, $$VALUES ('partial'::text, pg_temp.fid('k_r2'))$$,
                  'gc expires the untouched upload and returns it as partial data');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('k_r2')), 'expiry released the slot');
SELECT is(pg_temp.claim('k_r2'), 'gone', 'an expired file is gone');
SELECT is(pg_temp.claim('k_r3', 5), 'granted', 'r3 holds a slot');
SELECT ok(batchup.release_slot(pg_temp.fid('k_r3')), 'an administrator releases it');
SELECT ok(NOT batchup.release_slot(pg_temp.fid('k_r3')), 'a second release finds nothing');
SELECT is(pg_temp.api_status('k_r3'), 'pending', 'the file is pending again');

-- Aborted files are ignored by the link; a batch of only aborted files
-- gets none.
SELECT pg_temp.mkbatch('k_kim', 'k_w1', 'k_w2');
SELECT ok(NOT pg_temp.complete('k_w1'), 'w1 completes');
SELECT is(batchup.abort_file(pg_temp.fid('k_w2'), pg_temp.uid('k_kim'), 3600), 'aborted', 'w2 aborted');
SELECT results_eq($$SELECT status, download_token IS NOT NULL FROM batchup.batches WHERE id = pg_temp.bid('k_w1')$$,
                  $$VALUES ('complete'::text, true)$$, 'aborting the last unfinished file completes the batch');
SELECT pg_temp.mkbatch('k_kim', 'k_q1', 'k_q2');
SELECT is(batchup.abort_file(pg_temp.fid('k_q1'), pg_temp.uid('k_kim'), 3600), 'aborted', 'q1 aborted');
SELECT is(batchup.abort_file(pg_temp.fid('k_q2'), pg_temp.uid('k_kim'), 3600), 'aborted', 'q2 aborted');
SELECT results_eq($$SELECT status, download_token::text, files_remaining FROM batchup.batches WHERE id = pg_temp.bid('k_q1')$$,
                  $$VALUES ('expired'::text, NULL::text, 0)$$, 'a batch of aborted files expires without a link');

-- delete_batch
SELECT pg_temp.mkbatch('k_kim', 'k_v1', 'k_v2', 'k_v3');
SELECT ok(NOT pg_temp.complete('k_v1'), 'v1 completes');
SELECT is(pg_temp.claim('k_v2', 5), 'granted', 'v2 holds a slot');
SELECT results_eq($$SELECT found, file_id FROM batchup.delete_batch(pg_temp.bid('k_v1'), pg_temp.uid('k_lee'))$$,
                  $$VALUES (false, NULL::uuid)$$, 'another user''s batch is not found');
SELECT results_eq($$SELECT found, file_id FROM batchup.delete_batch(gen_random_uuid(), pg_temp.uid('k_kim'))$$,
                  $$VALUES (false, NULL::uuid)$$, 'an unknown batch is not found');
SELECT ok(EXISTS (SELECT 1 FROM batchup.files WHERE name = 'k_v1'), 'nothing was deleted by those');
CREATE TEMP TABLE k_v AS SELECT pg_temp.bid('k_v1') AS batch, pg_temp.fid('k_v1') AS f1,
                                pg_temp.fid('k_v2') AS f2, pg_temp.fid('k_v3') AS f3;
SELECT set_eq($$SELECT found, file_id FROM batchup.delete_batch((SELECT batch FROM k_v), pg_temp.uid('k_kim'))$$,
              $$SELECT true, NULL::uuid UNION ALL SELECT true, f1 FROM k_v UNION ALL SELECT true, f2 FROM k_v
                UNION ALL SELECT true, f3 FROM k_v$$,
              'delete_batch returns every file of the batch, the completed one too');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.files WHERE batch_id = (SELECT batch FROM k_v)), 'its files are gone');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = (SELECT f2 FROM k_v)), 'v2''s slot is released');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.batches WHERE id = (SELECT batch FROM k_v)), 'the batch is gone, and no link was issued');
SELECT results_eq($$SELECT found, file_id FROM batchup.delete_batch((SELECT batch FROM k_v), pg_temp.uid('k_kim'))$$,
                  $$VALUES (false, NULL::uuid)$$, 'a second delete_batch finds nothing');

-- Empty files
SELECT batchup.create_batch(pg_temp.uid('k_kim'),
    '[{"name": "k_z1", "size": 0}, {"name": "k_z2", "size": 0,
       "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]', 3600);
SELECT results_eq($$SELECT status, sha256::text, completed_at FROM batchup.files WHERE batch_id = pg_temp.bid('k_z1') ORDER BY ordinal$$,
                  $$VALUES ('completed'::text, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::text, now()),
                           ('completed', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', now())$$,
                  'empty files are completed at creation with the sha256 of nothing');
SELECT results_eq($$SELECT status, download_token IS NOT NULL, files_remaining FROM batchup.batches WHERE id = pg_temp.bid('k_z1')$$,
                  $$VALUES ('complete'::text, true, 0)$$, 'a batch of empty files is complete at once');
SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "k_m1", "size": 0}, {"name": "k_m2", "size": 3}]', 3600);
SELECT results_eq($$SELECT status, files_remaining FROM batchup.batches WHERE id = pg_temp.bid('k_m1')$$,
                  $$VALUES ('uploading'::text, 1)$$, 'an empty file does not count as unfinished');
SELECT is(pg_temp.claim('k_m1'), 'completed', 'an empty file never needs a slot');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "x", "size": 0, "sha256": "$$ || repeat('a', 64) || $$"}]', 3600)$$,
                 'BU460', NULL, 'an empty file announcing another checksum is refused');

-- create_batch checks its list
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[]', 3600)$$, 'BU400', NULL, 'an empty list is refused');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '{"name": "x", "size": 1}', 3600)$$, 'BU400', NULL, 'not an array');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"size": 1}]', 3600)$$, 'BU400', NULL, 'a name is required');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "", "size": 1}]', 3600)$$, 'BU400', NULL, 'an empty name is refused');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "a\u0007b", "size": 1}]', 3600)$$, 'BU400', NULL, 'control characters are refused');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "x", "size": -1}]', 3600)$$, 'BU400', NULL, 'a negative size is refused');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "x", "size": 1.5}]', 3600)$$, 'BU400', NULL, 'a fractional size is refused');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "x", "size": "1"}]', 3600)$$, 'BU400', NULL, 'a size must be a number');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "x", "size": 1, "sha256": "abc"}]', 3600)$$, 'BU400', NULL, 'a malformed checksum is refused');
SELECT throws_ok($$SELECT batchup.create_batch(pg_temp.uid('k_kim'), '[{"name": "x", "size": 1, "type": 7}]', 3600)$$, 'BU400', NULL, 'a type must be a string');
SELECT throws_ok($$SELECT batchup.create_batch(-5, '[{"name": "x", "size": 1}]', 3600)$$, '23503', NULL, 'an unknown user is refused');
SELECT batchup.create_batch(pg_temp.uid('k_kim'),
    '[{"name": "k_o3", "size": 1e3, "type": "image/png"}, {"name": "k_o1", "size": 2}, {"name": "k_o2", "size": 1.0}]', 3600);
SELECT results_eq($$SELECT name::text, size, media_type::text FROM batchup.files WHERE batch_id = pg_temp.bid('k_o1') ORDER BY ordinal$$,
                  $$VALUES ('k_o3'::text, 1000::bigint, 'image/png'::text), ('k_o1', 2, NULL), ('k_o2', 1, NULL)$$,
                  'files keep the order of the list, with their sizes and types');

SELECT * FROM finish();
ROLLBACK;
