-- SPDX-License-Identifier: BSD-2-Clause
-- 40_slots.sql: upload slots, the decision of every PATCH.
--
-- A slot is taken only by batchup.claim_upload (and batchup.claim_slot,
-- which is claim_upload without a writer), under its owner's advisory
-- lock; it is released by the trigger on the file's terminal status change
-- (sql/001_schema.sql), by its lease running out, or by an administrator's
-- batchup.release_slot.  See 10_common.sql for the locks.
--
-- A request that writes an upload also holds the upload's writer lock
-- (files.writer, sql/005_upload_lock.sql), taken in the same transaction as
-- the slot by batchup.claim_upload and renewed with the progress by
-- batchup.renew_upload.

DROP FUNCTION IF EXISTS batchup.take_slot(uuid, integer, integer, integer, integer, integer, text, text);

-- The decision of a PATCH (and of an empty-bodied PATCH, the explicit
-- claim): take a slot for p_file, renew the one it holds, or queue it; and,
-- for a request that will write (p_writer), the upload's writer lock with
-- it, in the same transaction.  batchup.claim_slot is this function without
-- a writer.  (It was batchup.take_slot, which both wrapped; a wrapper costs
-- a call, and this is the one every PATCH makes.)
--
-- It is the hottest code of the database: every PATCH runs it once.  So it
-- reads the file row once, under its row lock, and writes it once, whatever
-- the outcome: every UPDATE of batchup.files evaluates the table's CHECK
-- constraints and status triggers again, and that was most of the cost of
-- a small file when claim_slot and the lock were two steps.
--
-- A stale waiter (one whose client stopped asking for 3 * p_retry_seconds)
-- that comes back goes to the back of the queue, as tusd users expect: its
-- old place was given to the waiters behind it the moment it went silent,
-- and handing it back would overtake them.
CREATE OR REPLACE FUNCTION batchup.claim_upload(p_file uuid, p_user integer, p_default_limit integer,
                                                p_max_active_users integer, p_lease_seconds integer,
                                                p_retry_seconds integer, p_writer text, p_break text)
RETURNS TABLE (result text, queue_position integer, upload_offset bigint, size bigint,
               expected_sha256 text, holder text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f            record;
    v_lease      interval;
    v_limit      integer;
    v_active     integer;
    v_expired    integer;
    v_queued_at  timestamptz;
    v_users      integer;
    v_granted    boolean := false;
    v_lock_free  boolean;
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 OR p_retry_seconds IS NULL OR p_retry_seconds <= 0 THEN
        PERFORM batchup.check_positive(p_lease_seconds, 'p_lease_seconds');
        PERFORM batchup.check_positive(p_retry_seconds, 'p_retry_seconds');
    END IF;
    IF p_default_limit IS NULL OR p_default_limit < 0 OR p_max_active_users IS NULL OR p_max_active_users < 0 THEN
        RAISE EXCEPTION 'p_default_limit and p_max_active_users must be >= 0' USING ERRCODE = 'BU400';
    END IF;
    IF char_length(p_writer) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'a writer is 1 to 200 characters' USING ERRCODE = 'BU400';
    END IF;
    v_lease := make_interval(secs => p_lease_seconds);

    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);

    -- The file row first: the order every function follows (file, then
    -- slot, then batch), so completion and abort of this file wait for us
    -- or we for them, never both.
    SELECT x.status, x.upload_offset, x.size, x.queued_at, x.queue_live_until, x.expected_sha256,
           x.writer, x.writer_expires_at, u.slot_limit, s.lease_expires_at AS lease
      INTO f
      FROM batchup.files x
      JOIN batchup.users u ON u.id = x.user_id
      LEFT JOIN batchup.slots s ON s.file_id = x.id
     WHERE x.id = p_file AND x.user_id = p_user
       FOR NO KEY UPDATE OF x;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::integer, NULL::bigint, NULL::bigint, NULL::text, NULL::text;
        RETURN;
    END IF;
    IF f.status IN ('aborted', 'expired', 'completed') THEN
        RETURN QUERY SELECT CASE WHEN f.status = 'completed' THEN 'completed' ELSE 'gone' END,
                            NULL::integer, f.upload_offset, f.size, NULL::text, NULL::text;
        RETURN;
    END IF;

    -- Renewal.  If the slot vanished since the SELECT (an administrator's
    -- release, or a reaper whose clock saw the lease run out), the file
    -- competes below like any other.
    IF f.lease >= now() THEN
        UPDATE batchup.slots s SET lease_expires_at = now() + v_lease WHERE s.file_id = p_file;
        v_granted := FOUND;
    END IF;

    IF NOT v_granted THEN
        -- The user's slots, live and run out, in one scan; those whose lease
        -- ran out are free and are forgotten (rarely any: most end with
        -- their file).  A live waiter keeps its place; anyone else queues
        -- behind every live waiter of the user, as if it had come at the
        -- end of time.
        IF f.status = 'queued' AND f.queue_live_until >= now() THEN
            v_queued_at := f.queued_at;
        END IF;
        SELECT count(*) FILTER (WHERE s.lease_expires_at >= now()),
               count(*) FILTER (WHERE s.lease_expires_at < now())
          INTO v_active, v_expired
          FROM batchup.slots s WHERE s.user_id = p_user;
        IF v_expired > 0 THEN
            DELETE FROM batchup.slots s WHERE s.user_id = p_user AND s.lease_expires_at < now();
        END IF;

        -- A free slot goes to this file only when no live waiter is ahead
        -- of it: batchup.queue_position(...) = 1, asked as "is there one
        -- row ahead" (one index probe) rather than through the function,
        -- which PostgreSQL cannot inline (its body holds a subquery) and so
        -- parses and plans again at every call: that was a third of the
        -- claim's cost.  The place itself is counted only for a file that
        -- queues.
        v_limit := coalesce(nullif(f.slot_limit, 0), p_default_limit);
        v_granted := v_active < v_limit
                     AND NOT EXISTS (SELECT 1 FROM batchup.files w
                                      WHERE w.user_id = p_user AND w.queued_at IS NOT NULL
                                        AND w.status = 'queued' AND w.queue_live_until >= now()
                                        AND (w.queued_at, w.id) < (coalesce(v_queued_at, 'infinity'), p_file));

        IF v_granted AND p_max_active_users > 0 THEN
            -- Pin one of the user's slots so it cannot vanish before we
            -- commit; if there is none (v_active counted every row left),
            -- this user is about to become active and must pass the global
            -- cap.
            IF v_active > 0 THEN
                PERFORM 1 FROM batchup.slots s WHERE s.user_id = p_user LIMIT 1 FOR KEY SHARE;
            END IF;
            IF v_active = 0 OR NOT FOUND THEN
                PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), 0);
                SELECT count(DISTINCT s.user_id) INTO v_users FROM batchup.slots s;
                IF v_users >= p_max_active_users THEN
                    -- Leases that ran out free their users' places; only
                    -- worth the work when the cap is reached.  Rows locked
                    -- by someone else are skipped (and still counted):
                    -- waiting for them, under the global lock, could
                    -- deadlock with their owner's claim.
                    DELETE FROM batchup.slots s
                     WHERE s.file_id = ANY (ARRAY(SELECT x.file_id FROM batchup.slots x
                                                   WHERE x.lease_expires_at < now()
                                                     FOR UPDATE SKIP LOCKED));
                    SELECT count(DISTINCT s.user_id) INTO v_users FROM batchup.slots s;
                END IF;
                v_granted := v_users < p_max_active_users;
            END IF;
        END IF;

        IF v_granted THEN
            INSERT INTO batchup.slots (file_id, user_id, acquired_at, lease_expires_at)
            VALUES (p_file, p_user, now(), now() + v_lease);
        ELSE
            -- clock_timestamp(), not now(): taken under the user lock it is
            -- strictly increasing per user, so a newcomer really is last.
            UPDATE batchup.files x
               SET status = 'queued',
                   queued_at = coalesce(v_queued_at, clock_timestamp()),
                   queue_live_until = now() + 3 * make_interval(secs => p_retry_seconds),
                   last_seen_at = now()
             WHERE x.id = p_file
            RETURNING x.queued_at INTO v_queued_at;
            RETURN QUERY SELECT 'queued'::text, batchup.queue_position(p_user, v_queued_at, p_file),
                                f.upload_offset, f.size, NULL::text, NULL::text;
            RETURN;
        END IF;
    END IF;

    -- The slot is held.  The writer lock is free when nobody holds it, its
    -- lease ran out, it is p_writer's already, or its holder is p_break (a
    -- writer the caller knows is gone); otherwise its holder is asked to
    -- let go (release_requested = now) and the answer is locked.  The
    -- upload_offset returned is read under the row lock in the transaction
    -- that takes the writer lock: no other request can have moved it since.
    v_lock_free := p_writer IS NULL OR f.writer IS NULL OR f.writer_expires_at < now()
                   OR f.writer = p_writer OR f.writer = p_break;
    UPDATE batchup.files x
       SET status = 'uploading', queued_at = NULL, queue_live_until = NULL, last_seen_at = now(),
           writer = CASE WHEN p_writer IS NOT NULL AND v_lock_free THEN p_writer ELSE x.writer END,
           writer_expires_at = CASE WHEN p_writer IS NOT NULL AND v_lock_free THEN now() + v_lease
                                    ELSE x.writer_expires_at END,
           release_requested = CASE WHEN p_writer IS NULL THEN x.release_requested
                                    WHEN v_lock_free THEN NULL ELSE 'now' END
     WHERE x.id = p_file;
    IF v_lock_free THEN
        RETURN QUERY SELECT 'granted'::text, NULL::integer, f.upload_offset, f.size, f.expected_sha256::text, NULL::text;
    ELSE
        RETURN QUERY SELECT 'locked'::text, NULL::integer, f.upload_offset, f.size, NULL::text, f.writer::text;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.claim_upload(uuid, integer, integer, integer, integer, integer, text, text) IS
    'batchup.claim_slot, and when the slot is granted, the upload''s writer lock for p_writer (lease p_lease_seconds). result: as claim_slot''s, or locked: another request (holder) writes the upload and is asked to let go (release_requested = now). The lock is taken when it is free, its lease ran out, it is p_writer''s already, or its holder is p_break (a writer the caller knows is gone). expected_sha256 is the checksum announced at creation, when granted. p_writer NULL: the slot alone, as claim_slot.';

CREATE OR REPLACE FUNCTION batchup.claim_slot(p_file uuid, p_user integer, p_default_limit integer,
                                   p_max_active_users integer, p_lease_seconds integer,
                                   p_retry_seconds integer)
RETURNS TABLE (result text, queue_position integer, upload_offset bigint, size bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY SELECT t.result, t.queue_position, t.upload_offset, t.size
                   FROM batchup.claim_upload(p_file, p_user, p_default_limit, p_max_active_users,
                                             p_lease_seconds, p_retry_seconds, NULL, NULL) t;
END;
$$;

COMMENT ON FUNCTION batchup.claim_slot(uuid, integer, integer, integer, integer, integer) IS
    'Takes or renews an upload slot for p_file of user p_user, or queues it. result: granted, queued (queue_position >= 1), not_found (no such file of p_user), gone (aborted or expired), completed. The limit is users.slot_limit, or p_default_limit when that is 0; p_max_active_users caps the users holding slots (0 = no cap); a queued file stays a live waiter for 3 * p_retry_seconds, and a stale waiter that asks again goes to the back. Takes advisory locks (lock_namespace(), p_user) and, when the user holds no slot, (lock_namespace(), 0), in that order.';

-- The offset after a durable write, and the lease renewal that goes with it.
CREATE OR REPLACE FUNCTION batchup.record_progress(p_file uuid, p_offset bigint, p_lease_seconds integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_file record;
BEGIN
    PERFORM batchup.check_positive(p_lease_seconds, 'p_lease_seconds');

    UPDATE batchup.files f SET upload_offset = p_offset, updated_at = now()
     WHERE f.id = p_file AND f.status IN ('pending', 'queued', 'uploading')
       AND p_offset BETWEEN f.upload_offset AND f.size;
    IF NOT FOUND THEN
        SELECT f.status, f.upload_offset, f.size INTO v_file FROM batchup.files f WHERE f.id = p_file;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no file %', p_file USING ERRCODE = 'BU404';
        ELSIF v_file.status IN ('completed', 'aborted', 'expired') THEN
            RAISE EXCEPTION 'file % is %', p_file, v_file.status USING ERRCODE = 'BU410';
        ELSE
            RAISE EXCEPTION 'offset % of file % must lie between its current offset % and its size %',
                coalesce(p_offset::text, 'NULL'), p_file, v_file.upload_offset, v_file.size
                USING ERRCODE = 'BU409';
        END IF;
    END IF;

    UPDATE batchup.slots s SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
     WHERE s.file_id = p_file AND s.lease_expires_at >= now();
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.record_progress(uuid, bigint, integer) IS
    'Records the durable offset of an unfinished file (it may only grow, up to the size: BU409; BU404 no such file; BU410 finished) and renews the file''s slot lease. Returns whether the file still holds a live slot; never takes one.';

-- Administrators only: the application never releases a slot by hand.
CREATE OR REPLACE FUNCTION batchup.release_slot(p_file uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    DELETE FROM batchup.slots s WHERE s.file_id = p_file;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.release_slot(uuid) IS
    'For administrators: frees the slot of file p_file (its upload gets 423 on its next request, or the slot back if one is free). Returns whether there was one.';

-- The progress of the writer: the durable offset recorded, the slot's and
-- the writer lock's leases renewed, and any request to let go reported.
CREATE OR REPLACE FUNCTION batchup.renew_upload(p_file uuid, p_offset bigint, p_lease_seconds integer,
                                                p_writer text)
RETURNS TABLE (slot_held boolean, lock_held boolean, release text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_release text;
    v_writer  text;
BEGIN
    PERFORM batchup.check_positive(p_lease_seconds, 'p_lease_seconds');
    SELECT f.writer INTO v_writer FROM batchup.files f WHERE f.id = p_file FOR NO KEY UPDATE;
    IF FOUND AND v_writer IS DISTINCT FROM p_writer THEN
        RETURN QUERY SELECT false, false, NULL::text;
        RETURN;
    END IF;
    PERFORM batchup.record_progress(p_file, p_offset, p_lease_seconds);
    UPDATE batchup.files f
       SET writer_expires_at = now() + make_interval(secs => p_lease_seconds)
     WHERE f.id = p_file
    RETURNING f.release_requested INTO v_release;
    RETURN QUERY SELECT EXISTS (SELECT 1 FROM batchup.slots s
                                 WHERE s.file_id = p_file AND s.lease_expires_at >= now()),
                        true, v_release;
END;
$$;

COMMENT ON FUNCTION batchup.renew_upload(uuid, bigint, integer, text) IS
    'batchup.record_progress for the writer p_writer, which also renews its lock. slot_held: the file still holds a live slot; lock_held false: p_writer is no longer the writer (nothing was recorded); release: what a newer request asked (now, if_quiet) or NULL.';

-- What a quiet writer asks while it waits for bytes.
CREATE OR REPLACE FUNCTION batchup.upload_release_requested(p_file uuid, p_writer text) RETURNS text
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT CASE WHEN f.writer IS DISTINCT FROM p_writer THEN 'lost'
                ELSE coalesce(f.release_requested, 'none') END
      FROM batchup.files f WHERE f.id = p_file;
END;

COMMENT ON FUNCTION batchup.upload_release_requested(uuid, text) IS
    'For the writer p_writer of p_file: none (nothing asked), now or if_quiet (a newer request asked it to let go), lost (it is no longer the writer); NULL: no such file.';

CREATE OR REPLACE FUNCTION batchup.release_upload(p_file uuid, p_writer text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE batchup.files f
       SET writer = NULL, writer_expires_at = NULL, release_requested = NULL
     WHERE f.id = p_file AND f.writer = p_writer;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.release_upload(uuid, text) IS
    'The writer p_writer lets go of p_file''s lock (its request ended). False when it did not hold it.';

-- Who writes the upload now: for HEAD, which asks a quiet writer to let go
-- so that the offset it reports includes what that writer received.
CREATE OR REPLACE FUNCTION batchup.upload_writer(p_file uuid, p_user integer) RETURNS text
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.writer FROM batchup.files f
     WHERE f.id = p_file AND f.user_id = p_user AND f.writer_expires_at >= now();
END;

COMMENT ON FUNCTION batchup.upload_writer(uuid, integer) IS
    'The live writer of user p_user''s file p_file, or NULL.';
