-- SPDX-License-Identifier: BSD-2-Clause
-- 012_open_batches.sql: batches that stock tus clients fill, and open
-- batches that take files until they are closed.
--
-- A tus client that knows nothing of the batches API joins a batch by
-- naming it in its creation's Upload-Metadata (key "batch").  Two columns
-- make that possible without a second model beside the batch:
--
--   * batches.open: the batch takes new files (by tus creation) until its
--     owner closes it.  An open batch never finishes, however many of its
--     files have, because more may come; closing it (closed_at) finishes it
--     at once when every file already has.  An open batch may have no file
--     yet, so files_total may be 0 while it is open.
--   * files.upload_created_at: when a tus creation took this file.  A
--     creation is matched to a declared file that has no upload yet; a
--     repeated creation (a client's retry) finds the one it took before
--     instead of taking a second file.
--
-- And for tus's creation-defer-length (tus-js-client's uploadLengthDeferred):
--
--   * files.length_deferred: the client did not know the length at
--     creation.  Until a PATCH tells it (Upload-Length), size holds the most
--     the upload may take (max_file_size), which bounds its bytes, and the
--     file counts for no bytes in the quotas; the length, once told, is
--     checked against them and replaces it.  A completed file's length is
--     always known.
--
-- The decisions are batchup.join_batch, batchup.create_open_batch,
-- batchup.close_batch (sql/functions/50_batches.sql), and
-- batchup.create_deferred_upload and batchup.set_upload_length
-- (sql/functions/20_files.sql).

ALTER TABLE batchup.batches
    ADD COLUMN open boolean NOT NULL DEFAULT false,
    ADD COLUMN closed_at timestamptz,
    DROP CONSTRAINT batches_files_total_check,
    ADD CONSTRAINT batches_files_total_check CHECK (files_total > 0 OR (files_total = 0 AND open)),
    ADD CONSTRAINT batches_open_never_completed CHECK (NOT open OR completed_at IS NULL),
    ADD CONSTRAINT batches_closed_was_open CHECK (closed_at IS NULL OR NOT open);

COMMENT ON COLUMN batchup.batches.open IS
    'The batch takes new files by tus creation (Upload-Metadata batch) until its owner closes it; while open it never completes. Expires like any other batch when nothing happens in it for upload_expiry_seconds.';
COMMENT ON COLUMN batchup.batches.closed_at IS
    'When the owner closed this (once open) batch; NULL for a batch created with its file list, or still open.';

ALTER TABLE batchup.files
    ADD COLUMN upload_created_at timestamptz;

COMMENT ON COLUMN batchup.files.upload_created_at IS
    'When a tus creation (POST /api/v1/files naming the batch) took this file; NULL while no creation did. A repeated creation for the same file returns it again.';

ALTER TABLE batchup.files
    ADD COLUMN length_deferred boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT files_completed_length_known CHECK (NOT length_deferred OR status <> 'completed');

COMMENT ON COLUMN batchup.files.length_deferred IS
    'The upload was created without its length (Upload-Defer-Length: 1): size is the most it may take until a PATCH sets the length (batchup.set_upload_length); it counts for no bytes in the quotas meanwhile.';
