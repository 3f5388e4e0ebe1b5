-- SPDX-License-Identifier: BSD-2-Clause
-- 013_concatenation.sql: tus's concatenation extension (tus-js-client's
-- parallelUploads): partial uploads, and the final upload made of them.
--
-- A partial upload is an upload stream like any other: it takes a slot,
-- keeps its bytes under partial/ (then files/, once its last byte is in),
-- counts in the user's quotas and expires when left alone.  So it is a
-- file row, in a batch of its own as every tus creation without a batch,
-- and only that batch says it is a partial:
--
--   * batches.concat_partial: the batch holds one partial upload.  It is
--     never listed, never completes and never gets a link: its file's last
--     byte leaves the file unfinished at its full offset (the slot freed,
--     batchup.commit_partial), and what becomes of it is either the final's
--     commit, which deletes it (batchup.drop_partials), or batchup.gc's
--     expiry, as for any upload nobody touches.
--   * files.concat_parts: the file is a final upload, the concatenation of
--     these partial uploads in this order.  Kept after the partials are
--     gone, so that a retried creation finds the same final, and HEAD
--     reports the list.
--
-- The decisions are batchup.create_partial_upload, batchup.create_final,
-- batchup.commit_partial and batchup.drop_partials
-- (sql/functions/20_files.sql).

ALTER TABLE batchup.batches
    ADD COLUMN concat_partial boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT batches_partial_alone CHECK (NOT concat_partial OR (files_total = 1 AND NOT open)),
    ADD CONSTRAINT batches_partial_no_link CHECK (NOT concat_partial OR download_token IS NULL);

COMMENT ON COLUMN batchup.batches.concat_partial IS
    'The batch holds one partial upload (tus Upload-Concat: partial): not listed, never completed, no link; deleted with its file when a final upload made of it commits, or expired like any idle upload.';

ALTER TABLE batchup.files
    ADD COLUMN concat_parts uuid[],
    ADD CONSTRAINT files_concat_parts_count CHECK (concat_parts IS NULL OR cardinality(concat_parts) BETWEEN 1 AND 64);

COMMENT ON COLUMN batchup.files.concat_parts IS
    'A final upload (tus Upload-Concat: final;...): the partial uploads it is the concatenation of, in order. NULL for any other file. Kept once the partials are deleted, so a retried creation returns the same file.';

-- A retried final creation, and the check that a partial belongs to no
-- other final, look finals up by their user and parts.
CREATE INDEX files_concat_final_idx ON batchup.files USING gin (concat_parts)
    WHERE concat_parts IS NOT NULL;
