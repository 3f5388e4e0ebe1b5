-- SPDX-License-Identifier: BSD-2-Clause
-- Batches that stock tus clients join (012): a creation matched to a
-- declared file, its retry, an open batch that takes files until it is
-- closed, and the expiry of an open batch nobody closed; and uploads whose
-- length comes later (creation-defer-length).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(55);
\ir fixtures.psql

SELECT pg_temp.mkuser('j_ann');
SELECT pg_temp.mkuser('j_bob');

-- The outcome of join_batch as 'result' or 'result:name-of-the-file'.
CREATE FUNCTION pg_temp.join(p_user text, p_batch uuid, p_name text, p_size bigint,
                             p_max_bytes bigint DEFAULT NULL, p_max_files integer DEFAULT 1000)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    j record;
BEGIN
    SELECT * INTO j FROM batchup.join_batch(pg_temp.uid(p_user), p_batch, p_name, 'text/plain', p_size,
                                            p_max_bytes, p_max_files);
    -- A new statement: it sees the file join_batch may have added.
    RETURN j.result || coalesce(':' || (SELECT f.ordinal::text FROM batchup.files f WHERE f.id = j.file_id), '');
END;
$$;

-- A declared batch: two files of the same name and size, one other, one empty.
CREATE TEMP TABLE j_d AS SELECT batchup.create_batch(pg_temp.uid('j_ann'),
    '[{"name": "j_same", "size": 10}, {"name": "j_same", "size": 10}, {"name": "j_other", "size": 5},
      {"name": "j_empty", "size": 0}]', 3600) AS id;
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_same', 10), 'matched:1', 'a creation takes the first declared file of its name and size');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_same', 10), 'matched:2', 'a second creation of the same name and size takes the second one');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_same', 10), 'existing:1', 'a third (a retry) gets the first file again');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_other', 6), 'no_match', 'another size does not match');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_nope', 5), 'no_match', 'another name does not match');
SELECT is(pg_temp.join('j_bob', (SELECT id FROM j_d), 'j_other', 5), 'not_found', 'another user''s batch is not found');
SELECT is(pg_temp.join('j_ann', gen_random_uuid(), 'j_other', 5), 'not_found', 'an unknown batch is not found');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_empty', 0), 'matched:4', 'a declared empty file matches');
SELECT results_eq($$SELECT files_total, files_remaining, open FROM batchup.batches WHERE id = (SELECT id FROM j_d)$$,
                  $$VALUES (4, 3, false)$$, 'matching adds no file to a declared batch');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_other', 5), 'matched:3', 'j_other matches');
SELECT is(pg_temp.complete('j_other'), false, 'j_other completes, the batch does not');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_d), 'j_other', 5), 'existing:3', 'a retried creation of a completed file returns it');

-- An open batch with nothing declared
CREATE TEMP TABLE j_o AS SELECT batchup.create_open_batch(pg_temp.uid('j_ann'), NULL, 3600) AS id;
SELECT results_eq($$SELECT status, open, files_total, files_remaining FROM batchup.batches WHERE id = (SELECT id FROM j_o)$$,
                  $$VALUES ('uploading'::text, true, 0, 0)$$, 'an open batch may start with no file');
SELECT is(batchup.close_batch((SELECT id FROM j_o), pg_temp.uid('j_ann'), 3600), 'empty', 'an empty open batch cannot be closed');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o1', 7), 'added:1', 'a creation adds a file');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o1', 7), 'existing:1', 'its retry finds it again, no second file');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o1', 8), 'name_taken', 'the same name with another size is refused');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o2', 3), 'added:2', 'another name is another file');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o3', 3, NULL, 2), 'too_many_files', 'max_batch_files bounds an open batch');
SELECT throws_ok($$SELECT pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o3', 3, 1, 1000)$$, 'BU413', NULL,
                 'max_user_bytes counts the files of an open batch as they arrive');
SELECT results_eq($$SELECT files_total, files_remaining FROM batchup.batches WHERE id = (SELECT id FROM j_o)$$,
                  $$VALUES (2, 2)$$, 'the batch counts its two files');
SELECT is(pg_temp.complete('j_o1'), false, 'the first file completes, the batch does not');
SELECT is(pg_temp.complete('j_o2'), false, 'every file completed: an open batch still does not complete');
SELECT results_eq($$SELECT status, files_remaining FROM batchup.batches WHERE id = (SELECT id FROM j_o)$$,
                  $$VALUES ('uploading'::text, 0)$$, 'it waits, uploading, for its close');
SELECT is(batchup.close_batch((SELECT id FROM j_o), pg_temp.uid('j_bob'), 3600), 'not_found', 'another user cannot close it');
SELECT is(batchup.close_batch((SELECT id FROM j_o), pg_temp.uid('j_ann'), 3600), 'closed', 'its owner closes it');
SELECT results_eq($$SELECT status, open, download_token IS NOT NULL, closed_at = now() FROM batchup.batches WHERE id = (SELECT id FROM j_o)$$,
                  $$VALUES ('complete'::text, false, true, true)$$, 'closed with every file done, it completes at once with its link');
SELECT is(batchup.close_batch((SELECT id FROM j_o), pg_temp.uid('j_ann'), 3600), 'closed', 'a repeated close is closed again');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_o), 'j_o4', 3), 'finished', 'a complete batch takes no more files');
SELECT is(batchup.close_batch((SELECT id FROM j_d), pg_temp.uid('j_ann'), 3600), 'not_open', 'a declared batch is not open');

-- Closed before its files finish: the last one completes it.
CREATE TEMP TABLE j_c AS SELECT batchup.create_open_batch(pg_temp.uid('j_ann'), '[{"name": "j_c1", "size": 4}]', 3600) AS id;
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_c), 'j_c1', 4), 'matched:1', 'a file declared in an open batch is matched');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_c), 'j_c2', 4), 'added:2', 'and another added');
SELECT is(batchup.close_batch((SELECT id FROM j_c), pg_temp.uid('j_ann'), 3600), 'closed', 'closed with two files left');
SELECT is(pg_temp.join('j_ann', (SELECT id FROM j_c), 'j_c3', 4), 'no_match', 'a closed batch takes no new file');
SELECT is(pg_temp.complete('j_c1'), false, 'one file left');
SELECT is(pg_temp.complete('j_c2'), true, 'the last file completes the closed batch');

-- max_open_batches counts open batches
SELECT throws_ok($$SELECT batchup.create_open_batch(pg_temp.uid('j_ann'), NULL, 3600, NULL, 1)$$, 'BU413', NULL,
                 'an open batch counts against max_open_batches');

-- An open batch never closed expires like any other.
CREATE TEMP TABLE j_x AS SELECT batchup.create_open_batch(pg_temp.uid('j_bob'), NULL, 3600) AS id;
SELECT is(pg_temp.join('j_bob', (SELECT id FROM j_x), 'j_x1', 4), 'added:1', 'a file is added');
SELECT is(pg_temp.complete('j_x1'), false, 'and completes');
UPDATE batchup.batches SET created_at = now() - interval '2 h' WHERE id = (SELECT id FROM j_x);
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = NULL WHERE batch_id = (SELECT id FROM j_x);
SELECT results_eq($$SELECT kind, file_id FROM batchup.gc(3600) WHERE file_id = pg_temp.fid('j_x1')$$,
                  $$VALUES ('file'::text, pg_temp.fid('j_x1'))$$, 'gc expires the idle open batch and hands out its completed file');

-- Deferred length
SELECT pg_temp.mkuser('j_dee');
CREATE TEMP TABLE j_f AS SELECT * FROM batchup.create_deferred_upload(pg_temp.uid('j_dee'), 'j_def', '', 1000, 3600);
SELECT results_eq($$SELECT size, length_deferred, status FROM batchup.files WHERE id = (SELECT file_id FROM j_f)$$,
                  $$VALUES (1000::bigint, true, 'pending'::text)$$, 'a deferred upload may take up to its maximum');
SELECT lives_ok($$SELECT batchup.create_batch(pg_temp.uid('j_dee'), '[{"name": "j_d2", "size": 60}]', 3600, 100, NULL)$$,
                'its maximum does not count in max_user_bytes while its length is unknown');
SELECT is(batchup.record_progress((SELECT file_id FROM j_f), 50, 30), false, 'bytes arrive before the length is known');
SELECT is(batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_ann'), 70, NULL), 'not_found', 'another user cannot set it');
SELECT is(batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_dee'), 49, NULL), 'short', 'not below the bytes stored');
SELECT is(batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_dee'), 1001, NULL), 'too_large', 'not above its maximum');
SELECT throws_ok($$SELECT batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_dee'), 70, 100)$$, 'BU413', NULL,
                 'the quota applies when the length becomes known');
SELECT is(batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_dee'), 40 + 10, 200), 'set', 'the length is set');
SELECT results_eq($$SELECT size, length_deferred FROM batchup.files WHERE id = (SELECT file_id FROM j_f)$$,
                  $$VALUES (50::bigint, false)$$, 'it replaces the maximum');
SELECT is(batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_dee'), 50, 200), 'set', 'the same length again is fine');
SELECT is(batchup.set_upload_length((SELECT file_id FROM j_f), pg_temp.uid('j_dee'), 51, 200), 'fixed', 'another length is refused');
SELECT throws_ok($$UPDATE batchup.files SET length_deferred = true, status = 'completed', sha256 = repeat('a', 64), completed_at = now()
                   WHERE id = (SELECT file_id FROM j_f)$$, '23514', NULL, 'a completed file''s length is known');

-- The user's cap on file rows (max_user_files) holds for files that join an
-- open batch, for an open batch's declared files and for a deferred upload,
-- as it holds for create_batch.
SELECT pg_temp.mkuser('j_cap');
CREATE TEMP TABLE j_cap AS SELECT batchup.create_open_batch(pg_temp.uid('j_cap'), '[{"name": "j_cap1", "size": 1}]', 3600,
                                                            NULL, NULL, 2) AS id;
SELECT throws_ok($$SELECT * FROM batchup.join_batch(pg_temp.uid('j_cap'), (SELECT id FROM j_cap), 'j_cap3', NULL, 1, NULL, 1000, 1)$$,
                 'BU413', NULL, 'a file joining an open batch counts against max_user_files');
SELECT throws_ok($$SELECT batchup.create_open_batch(pg_temp.uid('j_cap'), '[{"name": "a", "size": 1}, {"name": "b", "size": 1}]',
                                                   3600, NULL, NULL, 2)$$,
                 'BU413', NULL, 'an open batch''s declared files count against max_user_files');
SELECT throws_ok($$SELECT * FROM batchup.create_deferred_upload(pg_temp.uid('j_cap'), 'j_cap_def', '', 1000, 3600, NULL, 1)$$,
                 'BU413', NULL, 'a deferred upload counts against max_user_files');

SELECT * FROM finish();
ROLLBACK;
