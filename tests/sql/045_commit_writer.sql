-- SPDX-License-Identifier: BSD-2-Clause
-- complete_file by a writer (the five-argument form, what a worker calls):
-- only the request holding the upload's writer lock may commit it.  A
-- writer that lost the lock to a takeover gets BU423 and nothing changes;
-- the holder commits; a lock whose lease ran out while nobody took it is
-- still its writer's.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(8);
\ir fixtures.psql

SELECT pg_temp.mkuser('w_cat');
SELECT pg_temp.mkbatch('w_cat', 'w_one', 'w_two');
SELECT is((SELECT c.result FROM batchup.files f,
                  batchup.claim_upload(f.id, f.user_id, 2, 0, 30, 2, 'pool/first', NULL) c
            WHERE f.name = 'w_one'), 'granted', 'w_one: the first writer holds the lock');
-- A takeover: the lock passes to another writer (as claim_upload does
-- once the first one's lease ran out).
UPDATE batchup.files SET writer = 'pool/second', writer_expires_at = now() + interval '30 s'
 WHERE id = pg_temp.fid('w_one');
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('w_one'), repeat('ab', 32), 7, 60, 'pool/first')$$,
                 'BU423', NULL, 'the writer that lost the lock cannot commit');
SELECT is((SELECT status || ' ' || coalesce(sha256, '-') FROM batchup.files WHERE id = pg_temp.fid('w_one')),
          'uploading -', '... and nothing changed');
SELECT results_eq(
    $$SELECT file_status FROM batchup.complete_file(pg_temp.fid('w_one'), repeat('cd', 32), 8, 60, 'pool/second')$$,
    $$VALUES ('completed'::text)$$, 'the holder of the lock commits');
SELECT is((SELECT sha256 || ' ' || crc32 FROM batchup.files WHERE id = pg_temp.fid('w_one')),
          repeat('cd', 32) || ' 8', '... with its SHA-256 and CRC-32');

-- A lease that ran out, the lock untaken: still the writer's.
SELECT is((SELECT c.result FROM batchup.files f,
                  batchup.claim_upload(f.id, f.user_id, 2, 0, 30, 2, 'pool/slow', NULL) c
            WHERE f.name = 'w_two'), 'granted', 'w_two: a writer holds the lock');
UPDATE batchup.files SET writer_expires_at = now() - interval '1 s' WHERE id = pg_temp.fid('w_two');
SELECT results_eq(
    $$SELECT file_status FROM batchup.complete_file(pg_temp.fid('w_two'), repeat('ab', 32), 9, 60, 'pool/slow')$$,
    $$VALUES ('completed'::text)$$, 'a writer whose lease ran out with nobody taking the lock commits');
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('w_two'), repeat('ab', 32), 9, 60, NULL)$$,
                 'BU400', NULL, 'the worker''s form needs a writer');

SELECT * FROM finish();
ROLLBACK;
