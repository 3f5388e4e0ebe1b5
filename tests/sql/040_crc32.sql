-- SPDX-License-Identifier: BSD-2-Clause
-- complete_file with the CRC-32 (migration 004): recorded with the
-- completion, range-checked, kept on a retried completion, and allowed only
-- on completed files.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(9);
\ir fixtures.psql

SELECT pg_temp.mkuser('c_cat');
SELECT pg_temp.mkbatch('c_cat', 'c_one', 'c_two');
SELECT is(pg_temp.claim('c_one'), 'granted', 'c_one holds a slot');
SELECT results_eq(
    $$SELECT batch_complete, file_status FROM batchup.complete_file(pg_temp.fid('c_one'),
        repeat('ab', 32), 3735928559, 60)$$,
    $$VALUES (false, 'completed'::text)$$, 'the four-argument completion completes the file');
SELECT is((SELECT crc32 FROM batchup.files WHERE id = pg_temp.fid('c_one')), 3735928559::bigint,
          'its CRC-32 is recorded');
SELECT is((SELECT count(*) FROM batchup.slots WHERE file_id = pg_temp.fid('c_one')), 0::bigint,
          'and its slot released, as with the three-argument form');
SELECT results_eq(
    $$SELECT file_status FROM batchup.complete_file(pg_temp.fid('c_one'), repeat('ab', 32), 1, 60)$$,
    $$VALUES ('completed'::text)$$, 'a retried completion answers completed');
SELECT is((SELECT crc32 FROM batchup.files WHERE id = pg_temp.fid('c_one')), 3735928559::bigint,
          '... and keeps the first CRC-32');
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('c_two'), repeat('ab', 32), 4294967296, 60)$$,
                 'BU400', NULL, 'a CRC-32 beyond 32 bits is refused');
SELECT throws_ok($$SELECT * FROM batchup.complete_file(pg_temp.fid('c_two'), repeat('ab', 32), NULL, 60)$$,
                 'BU400', NULL, 'a missing CRC-32 is refused');
SELECT throws_ok($$UPDATE batchup.files SET crc32 = 1 WHERE id = pg_temp.fid('c_two')$$,
                 '23514', NULL, 'an unfinished file cannot carry a CRC-32');

SELECT * FROM finish();
ROLLBACK;
