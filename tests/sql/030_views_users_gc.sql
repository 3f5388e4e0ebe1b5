-- SPDX-License-Identifier: BSD-2-Clause
-- What readers see (batch_json, file_state, the administrators' views),
-- the user functions, and the maintenance pass.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(56);
\ir fixtures.psql

SELECT pg_temp.mkuser('v_vera');
SELECT pg_temp.mkuser('v_walt', 4);

-- batch_json, in the shape the API documents
SELECT batchup.create_batch(pg_temp.uid('v_vera'),
    '[{"name": "v_j1", "size": 100, "type": "image/jpeg"},
      {"name": "v_j2", "size": 50, "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
      {"name": "v_j3", "size": 0}]', 3600);
CREATE TEMPORARY TABLE j AS SELECT batchup.batch_json(pg_temp.bid('v_j1'), pg_temp.uid('v_vera'))::jsonb AS doc;

SELECT is((SELECT array_agg(k ORDER BY k) FROM j, jsonb_object_keys(doc) k),
          ARRAY['created_at', 'download_url', 'expires_at', 'files', 'id', 'open', 'status'], 'batch keys');
SELECT is((SELECT array_agg(DISTINCT k ORDER BY k) FROM j, jsonb_array_elements(doc -> 'files') f, jsonb_object_keys(f) k),
          ARRAY['download_url', 'id', 'name', 'offset', 'queue_position', 'sha256', 'size', 'status', 'type', 'upload_url'],
          'file keys');
SELECT results_eq($$SELECT doc ->> 'id', doc ->> 'status', doc -> 'download_url', doc -> 'expires_at' FROM j$$,
                  $$VALUES (pg_temp.bid('v_j1')::text, 'uploading'::text, 'null'::jsonb, 'null'::jsonb)$$,
                  'a new batch: uploading, no link');
SELECT is((SELECT doc ->> 'created_at' FROM j),
          to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'created_at is RFC 3339 UTC');
SELECT is((SELECT jsonb_agg(f ->> 'name') FROM j, jsonb_array_elements(doc -> 'files') f), '["v_j1", "v_j2", "v_j3"]',
          'files in creation order');
SELECT is((SELECT doc -> 'files' -> 0 FROM j),
          jsonb_build_object('id', pg_temp.fid('v_j1'), 'name', 'v_j1', 'size', 100, 'offset', 0, 'status', 'pending',
                             'queue_position', NULL, 'upload_url', '/api/v1/files/' || pg_temp.fid('v_j1'),
                             'download_url', NULL, 'sha256', NULL, 'type', 'image/jpeg'),
          'a pending file, exactly');
SELECT is((SELECT doc -> 'files' -> 1 ->> 'sha256' FROM j),
          '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', 'the announced checksum is shown');
SELECT is((SELECT doc -> 'files' -> 2 FROM j) - 'id' - 'upload_url',
          jsonb_build_object('name', 'v_j3', 'size', 0, 'offset', 0, 'status', 'completed', 'queue_position', NULL,
                             'download_url', '/api/v1/download/stream/' || pg_temp.fid('v_j3'),
                             'sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'type', NULL),
          'an empty file is completed, with its stream URL');
SELECT ok(batchup.batch_json(pg_temp.bid('v_j1'), pg_temp.uid('v_walt')) IS NULL, 'another user''s batch is NULL');
SELECT ok(batchup.batch_json(gen_random_uuid(), pg_temp.uid('v_vera')) IS NULL, 'an unknown batch is NULL');
SELECT ok(batchup.batch_json(pg_temp.bid('v_j1'), NULL) IS NOT NULL, 'p_user NULL skips the ownership check');

SELECT batchup.set_user_limit('v_vera', 1);
SELECT is(pg_temp.claim('v_j1'), 'granted', 'j1 uploads');
SELECT is(pg_temp.claim('v_j2'), 'queued:1', 'j2 waits');
SELECT is((SELECT jsonb_agg(jsonb_build_array(f -> 'status', f -> 'queue_position'))
             FROM jsonb_array_elements(batchup.batch_json(pg_temp.bid('v_j1'), NULL)::jsonb -> 'files') f),
          '[["uploading", null], ["queued", 1], ["completed", null]]', 'file statuses and queue positions');
SELECT ok(NOT pg_temp.complete('v_j1'), 'j1 completes');
SELECT ok(pg_temp.complete('v_j2'), 'j2 completes the batch');
SELECT results_eq($$SELECT doc ->> 'status', doc ->> 'download_url', doc ->> 'expires_at'
                      FROM (SELECT batchup.batch_json(pg_temp.bid('v_j1'), NULL)::jsonb AS doc) x$$,
                  $$SELECT 'complete'::text, '/api/v1/download/batch/' || download_token, batchup.rfc3339(now() + interval '3600 s')
                      FROM batchup.batches WHERE id = pg_temp.bid('v_j1')$$,
                  'a complete batch shows its link and expiry');

-- batch_progress, active_slots, user_usage, user_list
SELECT pg_temp.mkbatch('v_walt', 'v_p1', 'v_p2', 'v_p3');
SELECT is(pg_temp.claim('v_p1'), 'granted', 'p1 uploads');
SELECT batchup.record_progress(pg_temp.fid('v_p1'), 30, 30);
SELECT is(batchup.abort_file(pg_temp.fid('v_p3'), pg_temp.uid('v_walt'), 3600), 'aborted', 'p3 aborted');
SELECT results_eq($$SELECT user_name, status, files_total, files_completed, files_aborted, bytes_total, bytes_received,
                           completed_at, download_token
                      FROM batchup.batch_progress WHERE batch_id = pg_temp.bid('v_p1')$$,
                  $$VALUES ('v_walt'::text, 'uploading'::text, 3, 0, 1, 200::bigint, 30::bigint, NULL::timestamptz, NULL::text)$$,
                  'batch_progress of an unfinished batch (aborted file left out of the bytes)');
SELECT results_eq($$SELECT status, files_completed, bytes_total, bytes_received, completed_at, download_token IS NOT NULL
                      FROM batchup.batch_progress WHERE batch_id = pg_temp.bid('v_j1')$$,
                  $$VALUES ('complete'::text, 3, 150::bigint, 150::bigint, now(), true)$$,
                  'batch_progress of a complete batch');
SELECT results_eq($$SELECT user_name, file_id, batch_id, acquired_at, lease_expires_at, bytes_received, size
                      FROM batchup.active_slots WHERE user_name = 'v_walt'$$,
                  $$VALUES ('v_walt'::text, pg_temp.fid('v_p1'), pg_temp.bid('v_p1'), now(), now() + interval '30 s', 30::bigint, 100::bigint)$$,
                  'active_slots shows the held slot');
SELECT is(pg_temp.claim('v_p2', 2), 'granted', 'p2 uploads too (walt''s limit is 4)');
SELECT results_eq($$SELECT user_name, slot_limit, active, queued FROM batchup.user_usage WHERE user_name LIKE 'v\_%' ORDER BY 1$$,
                  $$VALUES ('v_vera'::text, 1, 0, 0), ('v_walt', 4, 2, 0)$$, 'user_usage');
SELECT results_eq($$SELECT user_name, slot_limit, active, queued, has_token FROM batchup.user_list WHERE user_name LIKE 'v\_%'$$,
                  $$VALUES ('v_vera'::text, 1, 0, 0, true), ('v_walt', 4, 2, 0, true)$$, 'user_list, by name');

-- file_state
SELECT results_eq($$SELECT status, upload_offset, size, queue_position, name, media_type, sha256, expected_sha256, batch_id,
                           created_at, updated_at, completed_at
                      FROM batchup.file_state(pg_temp.fid('v_p1'), pg_temp.uid('v_walt'))$$,
                  $$VALUES ('uploading'::text, 30::bigint, 100::bigint, NULL::integer, 'v_p1'::text, NULL::text, NULL::text,
                            NULL::text, pg_temp.bid('v_p1'), now(), now(), NULL::timestamptz)$$,
                  'file_state of an uploading file');
SELECT is_empty($$SELECT * FROM batchup.file_state(pg_temp.fid('v_p1'), pg_temp.uid('v_vera'))$$,
                'file_state hides another user''s file');
SELECT is_empty($$SELECT * FROM batchup.file_state(gen_random_uuid(), NULL)$$, 'file_state of an unknown file');

-- A link that ran out: the batch reads expired at once, gc purges it once.
UPDATE batchup.batches SET link_expires_at = now() - interval '1 s' WHERE id = pg_temp.bid('v_j1');
SELECT results_eq($$SELECT doc ->> 'status', doc -> 'download_url', doc -> 'files' -> 0 ->> 'status', doc -> 'files' -> 0 -> 'download_url'
                      FROM (SELECT batchup.batch_json(pg_temp.bid('v_j1'), NULL)::jsonb AS doc) x$$,
                  $$VALUES ('expired'::text, 'null'::jsonb, 'expired'::text, 'null'::jsonb)$$,
                  'past its link the batch and its files read expired, with no URLs');
SELECT is(pg_temp.api_status('v_j1'), 'expired', 'file_state agrees: nothing to download');
SELECT is((SELECT status FROM batchup.batch_progress WHERE batch_id = pg_temp.bid('v_j1')), 'expired', 'batch_progress agrees');
SELECT set_eq($$SELECT * FROM batchup.gc(86400)$$,
              $$SELECT 'file'::text, id FROM batchup.files WHERE batch_id = pg_temp.bid('v_j1')$$,
              'gc hands over the expired batch''s completed files');
SELECT results_eq($$SELECT status, purged_at, download_token IS NOT NULL FROM batchup.batches WHERE id = pg_temp.bid('v_j1')$$,
                  $$VALUES ('expired'::text, now(), true)$$, 'the batch is expired and purged; its token stays for a 410');
SELECT is_empty($$SELECT * FROM batchup.gc(86400)$$, 'a second pass returns nothing');

-- gc: upload expiry, leases, live links
SELECT pg_temp.mkuser('v_gus');
SELECT pg_temp.mkbatch('v_gus', 'v_g1', 'v_g2');
SELECT pg_temp.mkbatch('v_gus', 'v_h1', 'v_h2');
SELECT pg_temp.mkbatch('v_gus', 'v_k1');
SELECT ok(NOT pg_temp.complete('v_g1'), 'g1 completes, g2 will expire');
SELECT is(pg_temp.claim('v_h1', 5), 'granted', 'h1 uploads');
SELECT is(pg_temp.claim('v_k1', 5), 'granted', 'k1 uploads');
-- Expiry counts from the batch's last activity: g1's completion is g's
-- last, so it too is put 2 h back.
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = NULL WHERE name IN ('v_g1', 'v_g2');
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = now() - interval '2 h' WHERE name IN ('v_h1', 'v_h2');
UPDATE batchup.files SET updated_at = now() - interval '2 h' WHERE name = 'v_k1';
SELECT pg_temp.expire_lease('v_k1');
SELECT set_eq($$SELECT * FROM batchup.gc(3600) WHERE file_id IN (SELECT id FROM batchup.files WHERE name LIKE 'v\_%')$$,
              $$VALUES ('partial'::text, pg_temp.fid('v_g2')), ('partial', pg_temp.fid('v_h1')), ('partial', pg_temp.fid('v_h2'))$$,
              'gc expires untouched uploads, and keeps the completed file of their batch');
SELECT results_eq($$SELECT status, download_token IS NOT NULL FROM batchup.batches WHERE id IN (pg_temp.bid('v_g1'), pg_temp.bid('v_h1'))
                     ORDER BY id = pg_temp.bid('v_h1')$$,
                  $$VALUES ('complete'::text, true), ('expired', false)$$,
                  'a batch with an expired upload completes with what completed; one with none expires without a link');
SELECT is((SELECT status FROM batchup.files WHERE name = 'v_k1'), 'uploading', 'a file seen recently (last_seen_at) is kept');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('v_k1')), 'but its expired lease is gone');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.slots WHERE file_id = pg_temp.fid('v_h1')), 'the expired upload lost its slot');
SELECT is((SELECT status FROM batchup.batches WHERE id = pg_temp.bid('v_p1')), 'uploading', 'an active batch is untouched');
SELECT throws_ok($$SELECT * FROM batchup.gc(0)$$, 'BU400', NULL, 'gc needs a positive expiry');

-- The user functions
SELECT throws_ok($$SELECT batchup.user_add('v_vera', NULL, 0)$$, '23505', NULL, 'user_add refuses a taken name');
SELECT throws_ok($$SELECT batchup.user_add('v_x', 'nothex', 0)$$, '23514', NULL, 'user_add refuses a malformed hash');
SELECT results_eq($$SELECT * FROM batchup.authenticate(encode(sha256('v_vera'), 'hex'))$$,
                  $$VALUES (pg_temp.uid('v_vera'), 'v_vera'::text)$$, 'authenticate finds the token''s user');
SELECT results_eq($$SELECT user_name FROM batchup.authenticate(upper(encode(sha256('v_vera'), 'hex')))$$,
                  $$VALUES ('v_vera'::text)$$, 'hex case does not matter');
SELECT ok(batchup.user_set_token('v_vera', repeat('7', 64)), 'user_set_token replaces the token');
SELECT is_empty($$SELECT * FROM batchup.authenticate(encode(sha256('v_vera'), 'hex'))$$, 'the old token no longer works');
SELECT is((SELECT user_name FROM batchup.authenticate(repeat('7', 64))), 'v_vera', 'the new one does');
SELECT ok(NOT batchup.user_set_token('v_nobody', repeat('8', 64)), 'user_set_token of an unknown user is false');
SELECT ok(NOT batchup.set_user_limit('v_nobody', 1), 'set_user_limit of an unknown user is false');
SELECT throws_ok($$SELECT batchup.set_user_limit('v_vera', -1)$$, 'BU400', NULL, 'a negative limit is refused');
SELECT is(batchup.user_for_remote('v_remote', true), batchup.user_for_remote('v_remote', true), 'user_for_remote creates a user once');
SELECT results_eq($$SELECT slot_limit, token_hash FROM batchup.users WHERE name = 'v_remote'$$,
                  $$VALUES (0, NULL::text)$$, 'with the default limit and no token');

SELECT * FROM finish();
ROLLBACK;
