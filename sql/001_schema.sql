-- SPDX-License-Identifier: BSD-2-Clause
-- 001_schema.sql: batchup's tables, and the trigger that releases slots.
--
-- The database keeps the books for every worker on every host: who may
-- upload how many files at once (users.slot_limit, the slots table), who is
-- waiting (files.status = 'queued'), and when a batch is finished (the
-- batches.files_remaining counter).  The rules that decide those things are
-- functions of sql/functions/; this file only makes the bad states
-- impossible to store: every invariant that can be written as a CHECK, a
-- foreign key or a UNIQUE constraint is written as one, so a bug in a
-- function or an administrator's hand-written UPDATE fails loudly instead of
-- corrupting the bookkeeping.
--
-- Ownership is stored redundantly (files.user_id, slots.user_id) because the
-- hot paths filter by user; composite foreign keys keep the copies honest.
--
-- The migration runner creates schema batchup and batchup.schema_migrations
-- and runs this file inside a transaction.

CREATE TABLE batchup.users (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (char_length(name) BETWEEN 1 AND 200 AND name !~ '[[:cntrl:]]'),
    token_hash  text UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    slot_limit  integer NOT NULL DEFAULT 0 CHECK (slot_limit >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE batchup.users IS
    'People (or REMOTE_USER names) who upload batches.';
COMMENT ON COLUMN batchup.users.name IS
    '1 to 200 characters, no control characters: it is printed by the CLI and logged.';
COMMENT ON COLUMN batchup.users.token_hash IS
    'Lower-case hex SHA-256 of the API token; the token itself is never stored. NULL: no token (remote_user mode).';
COMMENT ON COLUMN batchup.users.slot_limit IS
    'Files this user may upload at the same moment; 0 means the server default (per_user_limit), which the database does not know.';

CREATE TABLE batchup.batches (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          integer NOT NULL REFERENCES batchup.users ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'uploading'
                     CHECK (status IN ('uploading', 'complete', 'expired')),
    files_total      integer NOT NULL CHECK (files_total > 0),
    files_remaining  integer NOT NULL,
    download_token   text UNIQUE CHECK (download_token ~ '^[A-Za-z0-9_-]{22,}$'),
    link_expires_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    purged_at        timestamptz,
    -- The target of the composite foreign key from files.
    UNIQUE (id, user_id),
    CHECK (files_remaining BETWEEN 0 AND files_total),
    -- A link exists exactly when the batch completed once; it is kept after
    -- the batch expires so that an old link answers 410, not 404.
    CHECK ((download_token IS NULL) = (completed_at IS NULL)),
    CHECK ((download_token IS NULL) = (link_expires_at IS NULL)),
    CHECK (status <> 'complete' OR (download_token IS NOT NULL AND files_remaining = 0)),
    CHECK (status <> 'uploading' OR download_token IS NULL),
    CHECK (purged_at IS NULL OR status = 'expired')
) WITH (fillfactor = 80);

COMMENT ON TABLE batchup.batches IS
    'A set of files uploaded together; it gets one download link when every file has completed (aborted files ignored).';
COMMENT ON COLUMN batchup.batches.status IS
    'uploading, complete (link issued) or expired. A batch whose link ran out may still read complete until batchup.gc runs: readers compare link_expires_at with now(). A batch left with no completed file (all aborted), or with an upload that expired, becomes expired without a link.';
COMMENT ON COLUMN batchup.batches.files_remaining IS
    'Files not yet completed, aborted or expired. Decremented under the batch row lock by the one transaction that finishes each file, so exactly one transaction sees it reach 0 and finishes the batch.';
COMMENT ON COLUMN batchup.batches.download_token IS
    'The capability in /api/v1/download/batch/<token>: 256 bits from two gen_random_uuid() (244 of them random), URL-safe base64 without padding.';
COMMENT ON COLUMN batchup.batches.purged_at IS
    'When batchup.gc handed the stored data of this expired batch to its caller for deletion.';

CREATE TABLE batchup.files (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    batch_id          uuid NOT NULL,
    user_id           integer NOT NULL,
    ordinal           integer NOT NULL CHECK (ordinal >= 1),
    name              text NOT NULL
                      CHECK (char_length(name) BETWEEN 1 AND 1024 AND name !~ '[[:cntrl:]]'),
    media_type        text CHECK (char_length(media_type) <= 255 AND media_type !~ '[[:cntrl:]]'),
    size              bigint NOT NULL CHECK (size >= 0),
    upload_offset     bigint NOT NULL DEFAULT 0,
    expected_sha256   text CHECK (expected_sha256 ~ '^[0-9a-f]{64}$'),
    sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'queued', 'uploading', 'completed', 'aborted', 'expired')),
    queued_at         timestamptz,
    queue_live_until  timestamptz,
    last_seen_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    FOREIGN KEY (batch_id, user_id) REFERENCES batchup.batches (id, user_id) ON DELETE CASCADE,
    UNIQUE (batch_id, ordinal),
    -- The target of the composite foreign key from slots.
    UNIQUE (id, user_id),
    CHECK (upload_offset BETWEEN 0 AND size),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CHECK (status <> 'completed' OR (upload_offset = size AND sha256 IS NOT NULL)),
    CHECK (sha256 IS NULL OR status = 'completed'),
    CHECK (sha256 IS NULL OR expected_sha256 IS NULL OR sha256 = expected_sha256),
    CHECK ((status = 'queued') = (queued_at IS NOT NULL)),
    CHECK ((status = 'queued') = (queue_live_until IS NOT NULL))
) WITH (fillfactor = 80);

COMMENT ON TABLE batchup.files IS
    'One file of a batch, uploaded with tus; ordinal keeps the order the client listed them in.';
COMMENT ON COLUMN batchup.files.user_id IS
    'Copy of the batch owner, kept right by the composite foreign key; the slot and queue queries filter on it.';
COMMENT ON COLUMN batchup.files.upload_offset IS
    'Bytes received and made durable (the tus Upload-Offset). Never exceeds what survives a power cut: the worker fdatasyncs before recording it.';
COMMENT ON COLUMN batchup.files.expected_sha256 IS
    'Checksum the client announced at creation, if any; the completed file must match it.';
COMMENT ON COLUMN batchup.files.sha256 IS
    'Checksum of the stored bytes, known once the file completed.';
COMMENT ON COLUMN batchup.files.status IS
    'pending, queued, uploading, completed, aborted or expired as last written. Whether the file really holds a slot or is a live waiter depends on the clock (leases, queue liveness): the API status is derived by the batchup.api_files view.';
COMMENT ON COLUMN batchup.files.queued_at IS
    'When the file joined its owner''s queue: its place in the FIFO. Taken with clock_timestamp() under the owner''s advisory lock, so it is strictly increasing per user.';
COMMENT ON COLUMN batchup.files.queue_live_until IS
    'A queued file is a live waiter until this instant (3 * queue_retry_seconds after its last request). Stored rather than computed so that views need no configuration.';
COMMENT ON COLUMN batchup.files.last_seen_at IS
    'Last time a client asked for a slot for this file (granted or not).';

CREATE TABLE batchup.slots (
    file_id           uuid PRIMARY KEY,
    user_id           integer NOT NULL,
    acquired_at       timestamptz NOT NULL DEFAULT now(),
    lease_expires_at  timestamptz NOT NULL,
    FOREIGN KEY (file_id, user_id) REFERENCES batchup.files (id, user_id) ON DELETE CASCADE,
    CHECK (lease_expires_at > acquired_at)
) WITH (fillfactor = 80);

COMMENT ON TABLE batchup.slots IS
    'Upload slots held: at most one per file. Rows are inserted only by batchup.claim_slot under the owner''s advisory lock, and deleted by the status trigger, lease reaping (claim_slot, gc) and batchup.release_slot.';
COMMENT ON COLUMN batchup.slots.lease_expires_at IS
    'The slot is free once this instant passes, whether or not the row has been reaped yet; claim_slot and record_progress renew it while data flows.';

-- The queue: a user's live waiters in FIFO order.
CREATE INDEX files_queue_idx ON batchup.files (user_id, queued_at, id) WHERE status = 'queued';
-- Unfinished files, for batchup.gc (uploads nobody touched for a long time)
-- and abort_batch.  Keyed on batch_id, not updated_at: record_progress
-- changes updated_at on every call, and an index on it would make each of
-- those updates non-HOT.  (Rows are written with fillfactor 80 so that the
-- frequent single-row updates find room for HOT on the same page.)
CREATE INDEX files_unfinished_idx ON batchup.files (batch_id)
    WHERE status IN ('pending', 'queued', 'uploading');
CREATE INDEX slots_user_idx ON batchup.slots (user_id);
CREATE INDEX slots_lease_idx ON batchup.slots (lease_expires_at);
CREATE INDEX batches_user_idx ON batchup.batches (user_id);
-- batchup.gc looks for links that ran out.
CREATE INDEX batches_unpurged_idx ON batchup.batches (link_expires_at)
    WHERE purged_at IS NULL AND status <> 'uploading';

-- Release cannot be forgotten: whatever code makes a file completed, aborted
-- or expired, the same statement deletes its slot.  This is the only way the
-- application releases a slot; the others are lease expiry and the
-- administrators' batchup.release_slot.
CREATE FUNCTION batchup.files_release_slot() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    DELETE FROM batchup.slots s WHERE s.file_id = NEW.id;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION batchup.files_release_slot() IS
    'Trigger function: deletes the slot of a file that just became completed, aborted or expired.';

CREATE TRIGGER files_release_slot
    AFTER UPDATE OF status ON batchup.files
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'aborted', 'expired') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION batchup.files_release_slot();

COMMENT ON TRIGGER files_release_slot ON batchup.files IS
    'Releases the slot of a file as a consequence of its terminal status change, so no code path can forget it.';

-- A terminal status is final: a completed file cannot be reopened (its batch
-- may already have a link), an aborted or expired one has lost its data.
CREATE FUNCTION batchup.files_keep_terminal() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'file % is % and cannot become %', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'BU410';
END;
$$;

COMMENT ON FUNCTION batchup.files_keep_terminal() IS
    'Trigger function: refuses to move a file out of completed, aborted or expired (SQLSTATE BU410).';

CREATE TRIGGER files_keep_terminal
    BEFORE UPDATE OF status ON batchup.files
    FOR EACH ROW
    WHEN (OLD.status IN ('completed', 'aborted', 'expired') AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION batchup.files_keep_terminal();

COMMENT ON TRIGGER files_keep_terminal ON batchup.files IS
    'Makes completed, aborted and expired final.';

-- No slot for a finished file, whoever inserts it.
CREATE FUNCTION batchup.slots_check_file() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM batchup.files f
                WHERE f.id = NEW.file_id AND f.status IN ('completed', 'aborted', 'expired')) THEN
        RAISE EXCEPTION 'file % is finished and cannot hold a slot', NEW.file_id
            USING ERRCODE = 'BU410';
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION batchup.slots_check_file() IS
    'Trigger function: refuses a slot for a completed, aborted or expired file (SQLSTATE BU410).';

CREATE TRIGGER slots_check_file
    BEFORE INSERT ON batchup.slots
    FOR EACH ROW EXECUTE FUNCTION batchup.slots_check_file();

COMMENT ON TRIGGER slots_check_file ON batchup.slots IS
    'Keeps finished files slot-free even against hand-written INSERTs.';
