-- SPDX-License-Identifier: BSD-2-Clause
-- 006_security.sql: a batch's link can be withdrawn (and issued again)
-- without the batch losing its completed state.
--
-- Until now a link existed exactly when the batch had completed, so the
-- token and the completion were tied by CHECKs.  The owner may now revoke
-- the link (DELETE /api/v1/batches/<id>/link: the token becomes NULL, and
-- the old URL is an unknown token, 404) and ask for a new one (a new token,
-- the old one dead for good).  What stays true, and is written here as
-- constraints:
--   * a token exists only on a batch that completed (completed_at set),
--     never on one still uploading;
--   * a completed batch always has its retention deadline
--     (link_expires_at: when batchup.gc removes its data), link or not;
--   * a batch reads complete only with no file left to finish.
-- (001_schema.sql named none of the three CHECKs it replaces.)

ALTER TABLE batchup.batches
    DROP CONSTRAINT batches_check1,
    DROP CONSTRAINT batches_check2,
    DROP CONSTRAINT batches_check3,
    ADD CONSTRAINT batches_token_needs_completion
        CHECK (download_token IS NULL OR (completed_at IS NOT NULL AND link_expires_at IS NOT NULL)),
    ADD CONSTRAINT batches_completed_has_deadline
        CHECK ((completed_at IS NULL) = (link_expires_at IS NULL)),
    ADD CONSTRAINT batches_complete_is_finished
        CHECK (status <> 'complete' OR (completed_at IS NOT NULL AND files_remaining = 0));

COMMENT ON COLUMN batchup.batches.download_token IS
    'The capability in /api/v1/download/batch/<token>: 256 bits from two gen_random_uuid() (244 of them random), URL-safe base64 without padding. NULL while uploading, and after the owner revoked the link; a new link is a new token.';
COMMENT ON COLUMN batchup.batches.link_expires_at IS
    'Set when the batch completed: the link (if any) answers until then, and batchup.gc removes the batch''s data after it. Issuing a new link sets it again.';
