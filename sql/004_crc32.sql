-- SPDX-License-Identifier: BSD-2-Clause
-- 004_crc32.sql: each completed file's CRC-32, recorded at upload.
--
-- The batch ZIP needs every entry's CRC-32.  Computing it while the upload
-- streams costs little (the SHA-256 is computed there already); computing
-- it at download time costs a pass over every byte of every download, and
-- keeps the worker from handing file bytes to the socket with sendfile(2).
-- Files completed before this migration have no CRC (NULL): the ZIP then
-- computes it as it streams.  batchup.complete_file records it
-- (sql/functions/50_batches.sql).

ALTER TABLE batchup.files
    ADD COLUMN crc32 bigint CHECK (crc32 BETWEEN 0 AND 4294967295),
    ADD CONSTRAINT files_crc32_completed CHECK (crc32 IS NULL OR status = 'completed');

COMMENT ON COLUMN batchup.files.crc32 IS
    'CRC-32 (ZIP''s) of the stored bytes, recorded with the completion; NULL for files completed before it was recorded. The ZIP stream uses it instead of reading the bytes to compute it.';
