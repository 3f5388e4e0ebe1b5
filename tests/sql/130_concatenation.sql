-- SPDX-License-Identifier: BSD-2-Clause
-- tus concatenation (013): partial uploads in hidden batches, their last
-- byte (commit_partial: full offset, slot freed, no completion), the final
-- (create_final: its checks, a retry, joining a batch, the quota caps
-- raised by its parts), and its commit deleting the parts in the same
-- transaction (drop_partials).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(24);
\ir fixtures.psql

SELECT pg_temp.mkuser('c_ann');
SELECT pg_temp.mkuser('c_bob');

CREATE TEMP TABLE c_p AS
SELECT n, (SELECT p.file_id FROM batchup.create_partial_upload(pg_temp.uid('c_ann'), 100 * n, 3600) p) AS id
  FROM generate_series(1, 3) n;
CREATE FUNCTION pg_temp.parts(VARIADIC p_n integer[]) RETURNS uuid[]
LANGUAGE sql AS $$ SELECT array_agg(c.id ORDER BY x.i) FROM unnest(p_n) WITH ORDINALITY x(n, i) JOIN c_p c ON c.n = x.n $$;
CREATE FUNCTION pg_temp.final(p_user text, p_parts uuid[], p_batch uuid DEFAULT NULL,
                              p_name text DEFAULT 'c_whole', p_max_size bigint DEFAULT NULL,
                              p_max_bytes bigint DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT f.result || ' ' || f.size FROM batchup.create_final(pg_temp.uid(p_user), p_parts, p_name, '', p_batch,
                                                               p_max_size, 3600, p_max_bytes, NULL, NULL, 1000) f $$;
-- A partial's last byte, as the worker commits it (no writer check).
CREATE FUNCTION pg_temp.finish(p_n integer) RETURNS text
LANGUAGE sql AS $$ SELECT c.file_status FROM c_p p, batchup.complete_file(p.id, repeat('b', 64), 3600) c WHERE p.n = p_n $$;

SELECT is((SELECT count(*) FROM batchup.batches b JOIN c_p ON true JOIN batchup.files f ON f.id = c_p.id
            WHERE b.id = f.batch_id AND b.concat_partial), 3::bigint, 'each partial is in a batch of its own marked concat_partial');
SELECT is(batchup.batches_json(pg_temp.uid('c_ann'), 10)::jsonb -> 'batches', '[]'::jsonb, 'partials are not listed');
SELECT is(batchup.upload_concat((SELECT id FROM c_p WHERE n = 1)), 'partial', 'upload_concat of a partial');
SELECT throws_ok($$SELECT batchup.create_partial_upload(pg_temp.uid('c_ann'), 0, 3600)$$, 'BU400', NULL, 'an empty partial is refused');
SELECT is(pg_temp.final('c_ann', pg_temp.parts(1, 2, 3)), 'incomplete 600', 'a final of unfinished parts: incomplete');
SELECT is(pg_temp.final('c_ann', pg_temp.parts(1, 2, 3), p_max_size => 599), 'too_large 600', 'past max_file_size: too_large');
SELECT is(pg_temp.final('c_bob', pg_temp.parts(1, 2)), 'not_found 0', 'another user''s parts: not_found');
SELECT throws_ok($$SELECT pg_temp.final('c_ann', pg_temp.parts(1, 1))$$, 'BU400', NULL, 'a part named twice: BU400');

SELECT is((SELECT c.result FROM batchup.claim_slot((SELECT id FROM c_p WHERE n = 1), pg_temp.uid('c_ann'), 5, 0, 30, 2) c), 'granted',
          'a partial takes a slot like any upload');
SELECT is(pg_temp.finish(1), 'partial', 'its last byte: file_status partial');
SELECT is((SELECT f.upload_offset || ' ' || f.status || ' ' || (f.completed_at IS NULL) FROM batchup.files f JOIN c_p ON c_p.id = f.id WHERE c_p.n = 1),
          '100 uploading true', '... at its full offset, not completed');
SELECT is((SELECT count(*) FROM batchup.slots s JOIN c_p ON c_p.id = s.file_id), 0::bigint, '... and its slot is free');
SELECT is((SELECT b.status FROM batchup.batches b JOIN batchup.files f ON f.batch_id = b.id JOIN c_p ON c_p.id = f.id WHERE c_p.n = 1),
          'uploading', '... its batch neither completes nor gets a link');
SELECT is(pg_temp.finish(2) || pg_temp.finish(3), 'partialpartial', 'the other parts are in');

SELECT is(pg_temp.final('c_ann', pg_temp.parts(1, 2, 3), p_max_bytes => 700), 'created 600',
          'the final: created, its parts'' bytes not counted twice against max_user_bytes (600 + 600 > 700)');
CREATE TEMP TABLE c_f AS SELECT f.id FROM batchup.files f WHERE f.concat_parts = pg_temp.parts(1, 2, 3);
SELECT is(pg_temp.final('c_ann', pg_temp.parts(1, 2, 3)), 'existing 600', 'the same parts again: existing');
SELECT is(pg_temp.final('c_ann', pg_temp.parts(3, 2)), 'taken 500', 'parts of another final: taken');
SELECT is(batchup.upload_concat((SELECT id FROM c_f)),
          'final;/api/v1/files/' || (SELECT id FROM c_p WHERE n = 1) || ' /api/v1/files/' || (SELECT id FROM c_p WHERE n = 2)
          || ' /api/v1/files/' || (SELECT id FROM c_p WHERE n = 3), 'upload_concat of the final lists its parts in order');
SELECT is((SELECT c.file_status FROM batchup.complete_file((SELECT id FROM c_f), repeat('c', 64), 3600) c), 'completed',
          'the final commits');
SELECT is((SELECT count(*) FROM batchup.files f JOIN c_p ON c_p.id = f.id), 0::bigint, '... and its parts'' rows are gone with it');
SELECT is((SELECT count(*) FROM batchup.batches b WHERE b.concat_partial AND b.user_id = pg_temp.uid('c_ann')), 0::bigint,
          '... their batches too');
SELECT is(pg_temp.final('c_ann', pg_temp.parts(1, 2, 3)), 'existing 600', 'a retry once the parts are gone still finds the final');

-- A final joins a declared batch by its name and the parts' sum.
CREATE TEMP TABLE c_d AS SELECT batchup.create_batch(pg_temp.uid('c_bob'), '[{"name": "c_big", "size": 30}]', 3600) AS id;
CREATE TEMP TABLE c_q AS
SELECT n, (SELECT p.file_id FROM batchup.create_partial_upload(pg_temp.uid('c_bob'), 10 * n, 3600) p) AS id FROM generate_series(1, 2) n;
UPDATE batchup.files f SET upload_offset = f.size FROM c_q WHERE f.id = c_q.id;
SELECT is((SELECT f.result || ' ' || (f.file_id = (SELECT x.id FROM batchup.files x WHERE x.batch_id = (SELECT id FROM c_d)))
             FROM batchup.create_final(pg_temp.uid('c_bob'), (SELECT array_agg(id ORDER BY n) FROM c_q), 'c_big', '',
                                       (SELECT id FROM c_d), NULL, 3600, NULL, NULL, NULL, 1000) f),
          'matched true', 'a final naming a batch takes the declared file of its name and summed size');
SELECT is((SELECT c.batch_complete || ' ' || (c.download_token IS NOT NULL)
             FROM batchup.files f, batchup.complete_file(f.id, repeat('d', 64), 3600) c
            WHERE f.batch_id = (SELECT id FROM c_d)), 'true true',
          'its commit completes the batch and issues the link in the same transaction');

SELECT * FROM finish();
ROLLBACK;
