-- SPDX-License-Identifier: BSD-2-Clause
-- 005_upload_lock.sql: the per-upload writer lock, next to the file.
--
-- One request at a time writes an upload.  The lock was a flock on a file
-- under storage_dir, exact on one host and as good as the shared file system
-- across hosts; it is now three columns of the file's row, exact wherever
-- the database is: who writes (a name unique to one request of one worker
-- pool), until when (a lease, renewed with the upload's progress, so a
-- vanished writer cannot hold it), and whether a newer request asked it to
-- let go (takeover: a client that resumes on a new connection after its old
-- one went half-open should not wait out the old request).

ALTER TABLE batchup.files
    ADD COLUMN writer text CHECK (char_length(writer) BETWEEN 1 AND 200),
    ADD COLUMN writer_expires_at timestamptz,
    ADD COLUMN release_requested text CHECK (release_requested IN ('if_quiet', 'now')),
    ADD CONSTRAINT files_writer_lease CHECK ((writer IS NULL) = (writer_expires_at IS NULL)),
    ADD CONSTRAINT files_release_needs_writer CHECK (release_requested IS NULL OR writer IS NOT NULL);

COMMENT ON COLUMN batchup.files.writer IS
    'The request writing this upload now ("<worker pool>/<request token>"), or NULL. Taken by batchup.claim_upload, renewed by batchup.renew_upload, dropped by batchup.release_upload and by the completion.';
COMMENT ON COLUMN batchup.files.writer_expires_at IS
    'The writer''s lease: past it the lock is free, whether or not the writer still runs (it stops writing on its own once its lease is over).';
COMMENT ON COLUMN batchup.files.release_requested IS
    'A newer request asked the writer to let go: now (a PATCH of the same upload), or if_quiet (only if no byte arrived for a while). The writer sees it when it renews or while it waits.';
