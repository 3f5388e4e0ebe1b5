-- SPDX-License-Identifier: BSD-2-Clause
-- 010_quotas_retention.sql: bounded rows, the store's owner, and hooks
-- that queue only what somebody receives.
--
-- Rows were never deleted: batchup.gc marked an expired batch purged and
-- kept it, with its files and hook events, for ever; and a batch of empty
-- files, complete at birth, counted toward no quota.  Now a user's live
-- file rows are capped (create_batch, max_user_files) and purged batches
-- are deleted after a retention (batchup.gc, retention_seconds): the
-- functions do that, and this migration adds what they need to find the
-- rows quickly.
--
-- The orphan sweep deletes files under storage_dir that this database does
-- not know.  Pointed at another database's store (two installations
-- sharing a directory, a restored backup, a configuration edited by
-- mistake) it would delete everything there.  So the database gets an
-- identity, batchup.installation, which `batchup migrate` writes into
-- storage_dir (the marker file .batchup-database); the sweep runs only
-- where the marker names this database.
--
-- Hook events were queued whether or not anything would ever deliver
-- them, and flooded out when a hook was configured later.  A hooks child
-- now registers the kinds it delivers (batchup.hook_subscribers, renewed
-- while it runs); the triggers queue an event only while a registration
-- for its kind is live.

CREATE TABLE batchup.installation (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO batchup.installation DEFAULT VALUES;

COMMENT ON TABLE batchup.installation IS
    'One row: this database''s identity. batchup migrate writes it into storage_dir/.batchup-database, and the orphan sweep refuses a store whose marker names another.';

CREATE TABLE batchup.hook_subscribers (
    deliverer   text PRIMARY KEY CHECK (char_length(deliverer) BETWEEN 1 AND 300),
    kinds       text[] NOT NULL CHECK (kinds <@ ARRAY['batch_complete', 'file_aborted', 'file_expired']),
    live_until  timestamptz NOT NULL
);

COMMENT ON TABLE batchup.hook_subscribers IS
    'The hooks children that deliver events (one row per host), the kinds each delivers, and until when the registration holds (renewed while the child runs). The outbox triggers queue an event only while a live registration names its kind.';

-- Purged batches, oldest first, for the retention pass of batchup.gc.
CREATE INDEX batches_purged_idx ON batchup.batches (purged_at) WHERE purged_at IS NOT NULL;

COMMENT ON COLUMN batchup.batches.status IS
    'uploading, complete (link issued) or expired. A batch whose link ran out may still read complete until batchup.gc runs: readers compare link_expires_at with now(). A batch completes when its last file finishes and at least one file completed; aborted and expired files are left out of it. A batch with no completed file becomes expired without a link.';
COMMENT ON COLUMN batchup.batches.purged_at IS
    'When batchup.gc handed the stored data of this expired batch to its caller for deletion. The batch and its rows are deleted retention_seconds later.';

-- Fair delivery: the hooks child serves users in turn (the one served
-- longest ago first), so one user's flood of events cannot hold another
-- user's event behind it.  Each event names its user, and each user
-- records when a deliverer last took one of its events.
ALTER TABLE batchup.hook_events ADD COLUMN user_id integer REFERENCES batchup.users ON DELETE CASCADE;
UPDATE batchup.hook_events e SET user_id = b.user_id FROM batchup.batches b WHERE b.id = e.batch_id;
ALTER TABLE batchup.hook_events ALTER COLUMN user_id SET NOT NULL;
CREATE INDEX hook_events_user_due_idx ON batchup.hook_events (user_id, next_attempt_at) WHERE status = 'pending';
ALTER TABLE batchup.users ADD COLUMN hook_served_at timestamptz;

COMMENT ON COLUMN batchup.hook_events.user_id IS
    'The owner of the event''s batch: deliverers take events user by user, in turn.';
COMMENT ON COLUMN batchup.users.hook_served_at IS
    'When a hook deliverer last took one of this user''s events; the user served longest ago (or never) goes first.';
