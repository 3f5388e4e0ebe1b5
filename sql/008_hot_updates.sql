-- SPDX-License-Identifier: BSD-2-Clause
-- 008_hot_updates.sql: the updates every upload makes become HOT.
--
-- PostgreSQL can update a row in place on its page, without touching any
-- index (a heap-only tuple, HOT), only when no column the update changes
-- is used by an index, in its key or in its WHERE.  Two partial indexes of
-- files named status in their WHERE, so each upload's two status changes
-- (pending to uploading at its claim, uploading to completed at its
-- commit) added an entry to every index of files, three of them unique;
-- and the index on slots.lease_expires_at did the same to every lease
-- renewal.
--
--   * files_queue_idx is now keyed on queued_at IS NOT NULL, which the
--     CHECK ((status = 'queued') = (queued_at IS NOT NULL)) makes the same
--     rows; the queue queries say so (sql/functions/).
--   * files_unfinished_idx goes: batchup.gc finds unfinished files through
--     their batch, which is 'uploading' for as long as it has one
--     (batches_uploading_idx; a batch changes status once).
--   * slots_lease_idx goes: slots holds one row per upload in flight, and
--     the scans for run-out leases (gc, the global cap) read all of it.

DROP INDEX batchup.files_queue_idx;
CREATE INDEX files_queue_idx ON batchup.files (user_id, queued_at, id) WHERE queued_at IS NOT NULL;
DROP INDEX batchup.files_unfinished_idx;
CREATE INDEX batches_uploading_idx ON batchup.batches (id) WHERE status = 'uploading';
DROP INDEX batchup.slots_lease_idx;
