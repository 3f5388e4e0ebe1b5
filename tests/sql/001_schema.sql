-- SPDX-License-Identifier: BSD-2-Clause
-- The tables, their constraints and the triggers: bad states must be
-- impossible to store, whoever writes them.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(55);

SELECT has_table('batchup', t, 'table batchup.' || t) FROM unnest(ARRAY['users', 'batches', 'files', 'slots']) t;
SELECT has_view('batchup', v, 'view batchup.' || v)
  FROM unnest(ARRAY['active_slots', 'upload_queue', 'batch_progress', 'user_usage', 'slot_locks', 'user_list', 'api_files']) v;
SELECT has_trigger('batchup', 'files', 'files_release_slot', 'slot release trigger on files');
SELECT has_trigger('batchup', 'files', 'files_keep_terminal', 'terminal status guard on files');
SELECT has_trigger('batchup', 'slots', 'slots_check_file', 'finished-file guard on slots');

-- Everything an administrator may meet carries a comment.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'batchup'::regnamespace AND c.relkind IN ('r', 'v')
       AND c.relname <> 'schema_migrations'
       AND obj_description(c.oid, 'pg_class') IS NULL $$,
    'every table and view has a comment');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'batchup'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL $$,
    'every function has a comment');
SELECT is_empty($$
    SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'batchup'::regnamespace AND NOT t.tgisinternal
       AND obj_description(t.oid, 'pg_trigger') IS NULL $$,
    'every trigger has a comment');

-- Fixtures written by hand, as an administrator would.
INSERT INTO batchup.users (id, name, token_hash, slot_limit) VALUES (9001, 'schema_u', repeat('5', 64), 0),
                                                                    (9002, 'schema_v', NULL, 0);
INSERT INTO batchup.batches (id, user_id, files_total, files_remaining)
VALUES ('00000000-0000-4000-8000-000000000001', 9001, 2, 2);
INSERT INTO batchup.files (id, batch_id, user_id, ordinal, name, size)
VALUES ('00000000-0000-4000-8000-0000000000f1', '00000000-0000-4000-8000-000000000001', 9001, 1, 'f1', 10),
       ('00000000-0000-4000-8000-0000000000f2', '00000000-0000-4000-8000-000000000001', 9001, 2, 'f2', 10);

-- users
SELECT throws_ok($$INSERT INTO batchup.users (name) VALUES ('')$$, '23514', NULL, 'empty user name refused');
SELECT throws_ok($$INSERT INTO batchup.users (name) VALUES (repeat('x', 201))$$, '23514', NULL, 'user name over 200 characters refused');
SELECT throws_ok($$INSERT INTO batchup.users (name) VALUES (E'a\nb')$$, '23514', NULL, 'control character in user name refused');
SELECT throws_ok($$INSERT INTO batchup.users (name) VALUES ('schema_u')$$, '23505', NULL, 'duplicate user name refused');
SELECT throws_ok($$INSERT INTO batchup.users (name, token_hash) VALUES ('t1', 'XYZ')$$, '23514', NULL, 'malformed token hash refused');
SELECT throws_ok($$INSERT INTO batchup.users (name, token_hash) VALUES ('t2', repeat('5', 64))$$, '23505', NULL, 'token hash is unique');
SELECT throws_ok($$INSERT INTO batchup.users (name, slot_limit) VALUES ('t3', -1)$$, '23514', NULL, 'negative slot limit refused');

-- batches
SELECT throws_ok($$INSERT INTO batchup.batches (user_id, files_total, files_remaining) VALUES (9001, 0, 0)$$,
                 '23514', NULL, 'a batch has at least one file');
SELECT throws_ok($$INSERT INTO batchup.batches (user_id, files_total, files_remaining) VALUES (9001, 1, 2)$$,
                 '23514', NULL, 'files_remaining cannot exceed files_total');
SELECT throws_ok($$UPDATE batchup.batches SET files_remaining = -1 WHERE user_id = 9001$$,
                 '23514', NULL, 'files_remaining cannot go below 0');
SELECT throws_ok($$UPDATE batchup.batches SET status = 'complete', files_remaining = 0 WHERE user_id = 9001$$,
                 '23514', NULL, 'a complete batch must have a download token');
SELECT throws_ok($$UPDATE batchup.batches SET download_token = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
                                          completed_at = now(), link_expires_at = now() WHERE user_id = 9001$$,
                 '23514', NULL, 'an uploading batch has no token');
SELECT throws_ok($$UPDATE batchup.batches SET status = 'bogus' WHERE user_id = 9001$$,
                 '23514', NULL, 'unknown batch status refused');

-- files
SELECT throws_ok($$INSERT INTO batchup.files (batch_id, user_id, ordinal, name, size)
                   VALUES ('00000000-0000-4000-8000-000000000001', 9002, 3, 'x', 1)$$,
                 '23503', NULL, 'a file belongs to its batch''s owner');
SELECT throws_ok($$INSERT INTO batchup.files (batch_id, user_id, ordinal, name, size)
                   VALUES ('00000000-0000-4000-8000-000000000001', 9001, 1, 'x', 1)$$,
                 '23505', NULL, 'ordinals are unique in a batch');
SELECT throws_ok($$UPDATE batchup.files SET upload_offset = 11 WHERE name = 'f1'$$, '23514', NULL, 'offset cannot exceed size');
SELECT throws_ok($$UPDATE batchup.files SET upload_offset = -1 WHERE name = 'f1'$$, '23514', NULL, 'offset cannot be negative');
SELECT throws_ok($$UPDATE batchup.files SET expected_sha256 = repeat('A', 64) WHERE name = 'f1'$$,
                 '23514', NULL, 'sha256 is lower-case hex');
SELECT throws_ok($$UPDATE batchup.files SET status = 'completed', completed_at = now(), sha256 = repeat('a', 64) WHERE name = 'f1'$$,
                 '23514', NULL, 'a completed file has received all its bytes');
SELECT throws_ok($$UPDATE batchup.files SET status = 'completed', completed_at = now(), upload_offset = size WHERE name = 'f1'$$,
                 '23514', NULL, 'a completed file has a sha256');
SELECT throws_ok($$UPDATE batchup.files SET expected_sha256 = repeat('b', 64), status = 'completed', completed_at = now(),
                                        upload_offset = size, sha256 = repeat('a', 64) WHERE name = 'f1'$$,
                 '23514', NULL, 'a completed file matches its announced sha256');
SELECT throws_ok($$UPDATE batchup.files SET status = 'queued' WHERE name = 'f1'$$, '23514', NULL, 'a queued file has queued_at');
SELECT throws_ok($$UPDATE batchup.files SET queued_at = now() WHERE name = 'f1'$$, '23514', NULL, 'only a queued file has queued_at');

-- The rules on one text column are its domain's (sql/009): checked where a
-- value is given, so as refused by an UPDATE as by an INSERT.
SELECT is((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ' ' ORDER BY a.attname)
             FROM pg_attribute a
            WHERE a.attrelid = 'batchup.files'::regclass
              AND a.attname IN ('name', 'media_type', 'expected_sha256', 'sha256', 'writer', 'release_requested')),
          'expected_sha256:batchup.sha256_hex media_type:batchup.media_type name:batchup.file_name'
          ' release_requested:batchup.release_request sha256:batchup.sha256_hex writer:batchup.writer_name',
          'the text columns of files have their domains');
SELECT throws_ok($$UPDATE batchup.files SET name = E'a\tb' WHERE name = 'f1'$$, '23514', NULL,
                 'a file name with a control character refused by an UPDATE');
SELECT throws_ok($$UPDATE batchup.files SET name = '' WHERE name = 'f1'$$, '23514', NULL, 'an empty file name refused');
SELECT throws_ok($$UPDATE batchup.files SET media_type = repeat('x', 256) WHERE name = 'f1'$$, '23514', NULL,
                 'a media type over 255 characters refused');
SELECT throws_ok($$UPDATE batchup.files SET writer = '', writer_expires_at = now() WHERE name = 'f1'$$, '23514', NULL,
                 'an empty writer refused');
SELECT throws_ok($$UPDATE batchup.files SET writer = 'w', writer_expires_at = now(), release_requested = 'later'
                    WHERE name = 'f1'$$, '23514', NULL, 'an unknown release request refused');
SELECT is((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ' ' ORDER BY a.attname)
             FROM pg_attribute a
            WHERE (a.attrelid = 'batchup.api_files'::regclass
                   AND a.attname IN ('name', 'media_type', 'expected_sha256', 'sha256'))
               OR (a.attrelid = 'batchup.batch_progress'::regclass AND a.attname = 'download_token')),
          'download_token:text expected_sha256:text media_type:text name:text sha256:text',
          'the views show those columns as text, as before');

-- slots and the triggers
INSERT INTO batchup.slots (file_id, user_id, lease_expires_at)
VALUES ('00000000-0000-4000-8000-0000000000f1', 9001, now() + interval '30 s'),
       ('00000000-0000-4000-8000-0000000000f2', 9001, now() + interval '30 s');
SELECT throws_ok($$INSERT INTO batchup.slots (file_id, user_id, lease_expires_at)
                   VALUES ('00000000-0000-4000-8000-0000000000f1', 9001, now() + interval '30 s')$$,
                 '23505', NULL, 'one slot per file');
SELECT throws_ok($$INSERT INTO batchup.slots (file_id, user_id, lease_expires_at)
                   VALUES ('00000000-0000-4000-8000-0000000000f2', 9002, now() + interval '30 s')$$,
                 '23505', NULL, 'a slot belongs to its file''s owner');
SELECT throws_ok($$UPDATE batchup.slots SET lease_expires_at = acquired_at WHERE user_id = 9001$$,
                 '23514', NULL, 'a lease ends after it starts');

UPDATE batchup.files SET status = 'aborted' WHERE name = 'f1';
SELECT is((SELECT count(*)::integer FROM batchup.slots WHERE file_id = '00000000-0000-4000-8000-0000000000f1'), 0,
          'a hand-written status change to aborted releases the slot too');
SELECT is((SELECT count(*)::integer FROM batchup.slots WHERE file_id = '00000000-0000-4000-8000-0000000000f2'), 1,
          'the other file keeps its slot');
SELECT throws_ok($$UPDATE batchup.files SET status = 'pending' WHERE name = 'f1'$$, 'BU410', NULL, 'aborted is final');
SELECT throws_ok($$INSERT INTO batchup.slots (file_id, user_id, lease_expires_at)
                   VALUES ('00000000-0000-4000-8000-0000000000f1', 9001, now() + interval '30 s')$$,
                 'BU410', NULL, 'an aborted file cannot hold a slot');

DELETE FROM batchup.batches WHERE user_id = 9001;
SELECT is((SELECT count(*)::integer FROM batchup.files WHERE user_id = 9001)
          + (SELECT count(*)::integer FROM batchup.slots WHERE user_id = 9001), 0,
          'deleting a batch deletes its files and slots');

SELECT * FROM finish();
ROLLBACK;
