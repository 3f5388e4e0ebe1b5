-- SPDX-License-Identifier: BSD-2-Clause
-- Bounded rows and fair hooks (migration 010): the cap on a user's file
-- rows (empty files count), the retention after which purged batches are
-- deleted, a batch whose last upload expired keeping what completed, the
-- paged list, hook events queued only for a live deliverer and handed out
-- user by user, and the database's identity for the orphan sweep.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(41);
\ir fixtures.psql

-- A batch of p_n empty files of p_user, with names p_prefix1...
CREATE FUNCTION pg_temp.empties(p_user text, p_prefix text, p_n integer, p_max_files integer) RETURNS uuid
LANGUAGE sql AS $$
    SELECT batchup.create_batch(pg_temp.uid(p_user),
                                (SELECT jsonb_agg(jsonb_build_object('name', p_prefix || i, 'size', 0))
                                   FROM generate_series(1, p_n) i),
                                3600, 0, 0, p_max_files) $$;

SELECT batchup.hook_register('q_host', ARRAY['batch_complete'], 600);

-- max_user_files: every file row counts, empty files too.
SELECT pg_temp.mkuser('q_eve');
SELECT pg_temp.mkuser('q_ned');
SELECT lives_ok($$SELECT pg_temp.empties('q_eve', 'q_a', 40, 100)$$, '40 empty files fit under a cap of 100');
SELECT lives_ok($$SELECT pg_temp.empties('q_eve', 'q_b', 60, 100)$$, '60 more reach it exactly');
CREATE TEMP TABLE q_before AS
    SELECT (SELECT count(*) FROM batchup.batches WHERE user_id = pg_temp.uid('q_eve')) AS batches,
           (SELECT count(*) FROM batchup.files WHERE user_id = pg_temp.uid('q_eve')) AS files,
           (SELECT count(*) FROM batchup.hook_events WHERE user_id = pg_temp.uid('q_eve')) AS events;
SELECT is((SELECT events FROM q_before), 2::bigint, 'both complete at once, each with its hook event');
SELECT throws_ok($$SELECT pg_temp.empties('q_eve', 'q_c', 1, 100)$$, 'BU413',
                 'this batch of 1 files would bring your files to 101, over your quota of 100 (max_user_files); delete a batch first',
                 'one empty file more is refused, saying which cap');
SELECT throws_ok($$SELECT batchup.create_upload(pg_temp.uid('q_eve'), 'q_t', '', 0, 3600, 0, 0, 100)$$, 'BU413', NULL,
                 'tus creation obeys the cap too');
SELECT results_eq($$SELECT (SELECT count(*) FROM batchup.batches WHERE user_id = pg_temp.uid('q_eve')),
                           (SELECT count(*) FROM batchup.files WHERE user_id = pg_temp.uid('q_eve')),
                           (SELECT count(*) FROM batchup.hook_events WHERE user_id = pg_temp.uid('q_eve'))$$,
                  $$SELECT batches, files, events FROM q_before$$, 'the refusals changed nothing');
SELECT lives_ok($$SELECT pg_temp.empties('q_ned', 'q_n', 100, 100)$$, 'another user has a cap of his own');
SELECT lives_ok($$SELECT pg_temp.empties('q_eve', 'q_d', 10, 0)$$, '0 is no cap');
-- Purged batches no longer count.
UPDATE batchup.batches SET link_expires_at = now() - interval '1 s'
 WHERE user_id = pg_temp.uid('q_eve') AND id <> pg_temp.bid('q_a1');
SELECT ok((SELECT count(*) FROM batchup.gc(3600) WHERE file_id IN (SELECT id FROM batchup.files WHERE name LIKE 'q\_%')) = 70,
          'gc purges the expired batches (70 files handed over)');
SELECT lives_ok($$SELECT pg_temp.empties('q_eve', 'q_e', 60, 100)$$, 'purged batches leave the count');

-- Retention: purged batches go with their rows after p_retention_seconds.
SELECT is((SELECT count(*)::integer FROM batchup.batches WHERE user_id = pg_temp.uid('q_eve') AND purged_at IS NOT NULL), 2,
          'two purged batches of q_eve');
SELECT is_empty($$SELECT * FROM batchup.gc(3600, 3600, NULL)$$, 'retention NULL deletes nothing');
SELECT is_empty($$SELECT * FROM batchup.gc(3600, 3600, 86400)$$, 'a pass within the retention deletes nothing');
SELECT is((SELECT count(*)::integer FROM batchup.batches WHERE user_id = pg_temp.uid('q_eve') AND purged_at IS NOT NULL), 2,
          'so both are still there');
UPDATE batchup.batches SET purged_at = now() - interval '2 days' WHERE id = pg_temp.bid('q_b1');
CREATE TEMP TABLE q_gone AS SELECT pg_temp.bid('q_b1') AS id;
SELECT is_empty($$SELECT * FROM batchup.gc(3600, 3600, 86400)$$, 'deleting rows hands no data over (it went at the purge)');
SELECT ok(NOT EXISTS (SELECT 1 FROM batchup.batches WHERE id = (SELECT id FROM q_gone)), 'the batch purged 2 days ago is deleted');
SELECT is((SELECT count(*)::integer FROM batchup.files WHERE batch_id = (SELECT id FROM q_gone)), 0, 'with its files');
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = (SELECT id FROM q_gone)), 0, 'and its hook event');
SELECT ok(EXISTS (SELECT 1 FROM batchup.batches WHERE id = pg_temp.bid('q_d1') AND purged_at IS NOT NULL),
          'the batch purged now is kept');
SELECT ok(EXISTS (SELECT 1 FROM batchup.batches WHERE id = pg_temp.bid('q_a1') AND purged_at IS NULL),
          'a live batch is never touched');
SELECT throws_ok($$SELECT * FROM batchup.gc(3600, 3600, -1)$$, 'BU400', NULL, 'a negative retention is refused');

-- A batch whose one never-started file expires keeps what completed.
SELECT pg_temp.mkuser('q_kim');
SELECT pg_temp.mkbatch('q_kim', 'q_k1', 'q_k2', 'q_k3');
SELECT ok(NOT pg_temp.complete('q_k1'), 'k1 completes');
SELECT ok(NOT pg_temp.complete('q_k2'), 'k2 completes; k3 never starts');
UPDATE batchup.files SET updated_at = now() - interval '2 h', last_seen_at = NULL WHERE name LIKE 'q\_k%';
SELECT set_eq($$SELECT * FROM batchup.gc(3600, 7200) WHERE file_id IN (SELECT id FROM batchup.files WHERE name LIKE 'q\_k%')$$,
              $$VALUES ('partial'::text, pg_temp.fid('q_k3'))$$, 'gc expires k3 and hands over nothing else');
SELECT results_eq($$SELECT status, download_token IS NOT NULL, link_expires_at FROM batchup.batches WHERE id = pg_temp.bid('q_k1')$$,
                  $$VALUES ('complete'::text, true, now() + interval '7200 s')$$,
                  'the batch completes, with a link of p_link_ttl_seconds');
SELECT results_eq($$SELECT l.name::text FROM batchup.batches b, batchup.link_files(b.download_token) l
                     WHERE b.id = pg_temp.bid('q_k1')$$,
                  $$VALUES ('q_k1'::text), ('q_k2')$$, 'its link serves the two completed files');
SELECT set_eq($$SELECT file_id FROM batchup.live_files(ARRAY[pg_temp.fid('q_k1'), pg_temp.fid('q_k2'), pg_temp.fid('q_k3')])$$,
              $$VALUES (pg_temp.fid('q_k1')), (pg_temp.fid('q_k2'))$$, 'the sweep keeps their data');

-- The paged list.
SELECT pg_temp.mkuser('q_pam');
SELECT pg_temp.mkbatch('q_pam', 'q_p' || i) FROM generate_series(1, 5) i;
CREATE TEMP TABLE q_p1 AS SELECT batchup.batches_json(pg_temp.uid('q_pam'), 2)::jsonb AS doc;
SELECT is((SELECT jsonb_array_length(doc -> 'batches') FROM q_p1), 2, 'a page holds limit batches');
SELECT is((SELECT (doc -> 'batches' -> 0) - 'created_at' FROM q_p1),
          jsonb_build_object('id', (SELECT max(id::text) FROM batchup.batches WHERE user_id = pg_temp.uid('q_pam')), 'status', 'uploading', 'download_url', NULL, 'expires_at', NULL,
                             'file_counts', jsonb_build_object('total', 1, 'completed', 0, 'unfinished', 1,
                                                               'aborted', 0, 'expired', 0),
                             'bytes_total', 100, 'bytes_received', 0),
          'newest first (then by id: these share their created_at), files summarised by their counts');
SELECT alike((SELECT doc ->> 'next' FROM q_p1), '/api/v1/batches?limit=2&cursor=%', 'next links the following page');
CREATE TEMP TABLE q_p2 AS
    SELECT batchup.batches_json(pg_temp.uid('q_pam'), 2, split_part(doc ->> 'next', 'cursor=', 2))::jsonb AS doc FROM q_p1;
CREATE TEMP TABLE q_p3 AS
    SELECT batchup.batches_json(pg_temp.uid('q_pam'), 2, split_part(doc ->> 'next', 'cursor=', 2))::jsonb AS doc FROM q_p2;
SELECT is((SELECT jsonb_agg(b -> 'id') FROM (SELECT jsonb_array_elements(doc -> 'batches') b FROM q_p1
                                             UNION ALL SELECT jsonb_array_elements(doc -> 'batches') FROM q_p2
                                             UNION ALL SELECT jsonb_array_elements(doc -> 'batches') FROM q_p3) x),
          (SELECT jsonb_agg(to_jsonb(id) ORDER BY created_at DESC, id DESC) FROM batchup.batches WHERE user_id = pg_temp.uid('q_pam')),
          'three pages give every batch once, in order (all five created in the same instant)');
SELECT is((SELECT doc -> 'next' FROM q_p3), 'null'::jsonb, 'the last page has no next');
SELECT throws_ok($$SELECT batchup.batches_json(pg_temp.uid('q_pam'), 2, 'bm90LWEtY3Vyc29y')$$, 'BU400', NULL,
                 'a cursor this server did not give is refused');
SELECT pg_temp.empties('q_ned', 'q_m', 1, 0);
UPDATE batchup.batches SET created_at = now() - interval '1 min' WHERE id = pg_temp.bid('q_m1');
CREATE TEMP TABLE q_pf AS SELECT batchup.batches_json(pg_temp.uid('q_ned'), 100, NULL, true, 50)::jsonb AS doc;
SELECT is((SELECT jsonb_array_length(doc -> 'batches' -> 0 -> 'files') FROM q_pf), 100,
          'with files: one batch of 100 files although the page allows 50 (a page holds one batch at least)');
SELECT alike((SELECT doc ->> 'next' FROM q_pf), '/api/v1/batches?limit=100&files=1&cursor=%', 'and links the next page, with files');

-- Hook events: queued only for a live deliverer of their kind.
SELECT pg_temp.mkuser('q_hal');
DELETE FROM batchup.hook_subscribers;
SELECT pg_temp.empties('q_hal', 'q_h', 1, 0);
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('q_h1')), 0,
          'no deliverer: no event is queued');
SELECT batchup.hook_register('q_host', ARRAY['file_aborted'], 600);
SELECT pg_temp.empties('q_hal', 'q_i', 1, 0);
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('q_i1')), 0,
          'a deliverer of other kinds: none either');
UPDATE batchup.hook_subscribers SET kinds = ARRAY['batch_complete'], live_until = now() - interval '1 s';
SELECT pg_temp.empties('q_hal', 'q_j', 1, 0);
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('q_j1')), 0,
          'a registration that ran out: none either');

-- Round robin: a user's flood does not hold another user's event back.
UPDATE batchup.hook_events SET status = 'delivered', delivered_at = now() WHERE status = 'pending';
SELECT batchup.hook_register('q_host', ARRAY['batch_complete'], 600);
SELECT pg_temp.empties('q_hal', 'q_f' || i || '_', 1, 0) FROM generate_series(1, 30) i;
SELECT pg_temp.empties('q_kim', 'q_g', 1, 0);
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE status = 'pending'), 31,
          '30 events of q_hal, then one of q_kim');
-- q_kim was served a moment ago, q_hal never: q_hal goes first.
UPDATE batchup.users SET hook_served_at = now() WHERE name = 'q_kim';
CREATE FUNCTION pg_temp.claims(p_n integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_out text[] := '{}';
BEGIN
    FOR i IN 1 .. p_n LOOP
        v_out := v_out || (SELECT c.user_name FROM batchup.hook_claim(ARRAY['batch_complete'], 30) c);
    END LOOP;
    RETURN v_out;
END;
$$;
SELECT is(pg_temp.claims(4), ARRAY['q_hal', 'q_kim', 'q_hal', 'q_hal'], 'q_kim''s event goes second, not 31st');

SELECT ok(batchup.installation_id() IS NOT NULL, 'the database has an identity for the orphan sweep');

SELECT * FROM finish();
ROLLBACK;
