-- SPDX-License-Identifier: BSD-2-Clause
-- One slot cycle of one upload, as a worker does it for a file sent in one
-- PATCH: claim the slot and the upload's writer lock, then complete the
-- file (which releases both).  Two statements, two round trips, two
-- transactions.  Each client acts for its own user (:u; slots.sh passes
-- the first bench user's id as :base) and takes the next fresh file of
-- that user (file :i, made by slots.sh with the id md5(user || '-' || i)).
-- Every tenth completion also finishes its batch (token, hook event and
-- NOTIFY).  The 1/(...) turns any answer other than 'granted' and
-- 'completed' into an error, so a cycle that failed is never counted.
\set u :base + :client_id
\set i :i + 1
SELECT 1 / (result = 'granted')::int FROM batchup.claim_upload(md5(:u || '-' || :i)::uuid, :u, 5, 1000, 30, 2, 'bench/' || :client_id, '');
SELECT 1 / (file_status = 'completed')::int FROM batchup.complete_file(md5(:u || '-' || :i)::uuid, '4f8bdc1d9b9f1b3b3c64f6a0f3a1f3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6', 305419896, 604800);
