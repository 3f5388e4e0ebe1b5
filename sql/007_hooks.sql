-- SPDX-License-Identifier: BSD-2-Clause
-- 007_hooks.sql: the outbox of batch-completion hooks.
--
-- One row per event: a batch completed (its link was issued), or, for the
-- optional file events, a file was aborted or expired.  Rows are written by
-- triggers on the status changes themselves (sql/functions/80_hooks.sql),
-- so they commit or roll back with the change: an event exists exactly when
-- its cause committed, whatever code made the change.  The master's hooks
-- child delivers them (runs hook_command, POSTs to hook_url) and records
-- the outcome here; because the outbox is in PostgreSQL, a crash or a
-- restart of any process loses no event, and several hosts share the work
-- (FOR UPDATE SKIP LOCKED and a lease, next_attempt_at).  An event can
-- still reach a receiver twice (the deliverer killed after the receiver got
-- it, before it was recorded): it carries its id for the receiver to drop
-- the repeat, which makes delivery exactly once in effect.

CREATE TABLE batchup.hook_events (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind             text NOT NULL CHECK (kind IN ('batch_complete', 'file_aborted', 'file_expired')),
    batch_id         uuid NOT NULL REFERENCES batchup.batches ON DELETE CASCADE,
    file_id          uuid REFERENCES batchup.files ON DELETE CASCADE,
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    targets_done     text[] NOT NULL DEFAULT '{}'
                     CHECK (targets_done <@ ARRAY['command', 'url']),
    delivered_at     timestamptz,
    last_error       text,
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    CHECK ((kind = 'batch_complete') = (file_id IS NULL))
);

COMMENT ON TABLE batchup.hook_events IS
    'Outbox of hook events (batch_complete, file_aborted, file_expired), written by triggers in the transaction of the status change and delivered by the master''s hooks child. See the view batchup.hook_deliveries.';
COMMENT ON COLUMN batchup.hook_events.id IS
    'The event id sent with every delivery (JSON "id", Idempotency-Key header, BATCHUP_EVENT_ID): a receiver drops an id it has seen.';
COMMENT ON COLUMN batchup.hook_events.status IS
    'pending (to deliver, or being delivered), delivered, failed (hook_max_attempts used up) or skipped (its kind is not in hook_events).';
COMMENT ON COLUMN batchup.hook_events.attempts IS
    'Deliveries started, counted when a deliverer claims the event (one killed mid-delivery counts too).';
COMMENT ON COLUMN batchup.hook_events.next_attempt_at IS
    'A pending event is not claimed before this instant: the retry backoff after a failure, or the lease of the deliverer working on it.';
COMMENT ON COLUMN batchup.hook_events.targets_done IS
    'The targets (command, url) that accepted the event already; a retry skips them.';

CREATE INDEX hook_events_due_idx ON batchup.hook_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX hook_events_batch_idx ON batchup.hook_events (batch_id);
CREATE INDEX hook_events_file_idx ON batchup.hook_events (file_id) WHERE file_id IS NOT NULL;
