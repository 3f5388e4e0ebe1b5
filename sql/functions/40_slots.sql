-- 40_slots.sql: upload slots, the decision of every PATCH.
--
-- A slot is taken only by batchup.claim_slot, under its owner's advisory
-- lock; it is released by the trigger on the file's terminal status change
-- (sql/001_schema.sql), by its lease running out, or by an administrator's
-- batchup.release_slot.  See 10_common.sql for the locks.

-- The decision of a PATCH (and of an empty-bodied PATCH, the explicit
-- claim): take a slot for p_file, renew the one it holds, or queue it.
--
-- A stale waiter (one whose client stopped asking for 3 * p_retry_seconds)
-- that comes back goes to the back of the queue, as tusd users expect: its
-- old place was given to the waiters behind it the moment it went silent,
-- and handing it back would overtake them.
CREATE OR REPLACE FUNCTION batchup.claim_slot(p_file uuid, p_user integer, p_default_limit integer,
                                   p_max_active_users integer, p_lease_seconds integer,
                                   p_retry_seconds integer)
RETURNS TABLE (result text, queue_position integer, upload_offset bigint, size bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_file       record;
    v_lease      interval := make_interval(secs => p_lease_seconds);
    v_limit      integer;
    v_active     integer;
    v_ahead      integer;
    v_queued_at  timestamptz;
    v_users      integer;
    v_granted    boolean;
BEGIN
    PERFORM batchup.check_positive(p_lease_seconds, 'p_lease_seconds');
    PERFORM batchup.check_positive(p_retry_seconds, 'p_retry_seconds');
    IF p_default_limit IS NULL OR p_default_limit < 0 OR p_max_active_users IS NULL OR p_max_active_users < 0 THEN
        RAISE EXCEPTION 'p_default_limit and p_max_active_users must be >= 0' USING ERRCODE = 'BU400';
    END IF;

    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);

    -- The file row first: the order every function follows (file, then
    -- slot, then batch), so completion and abort of this file wait for us
    -- or we for them, never both.
    SELECT f.status, f.upload_offset, f.size, f.queued_at, f.queue_live_until, u.slot_limit,
           s.lease_expires_at AS lease
      INTO v_file
      FROM batchup.files f
      JOIN batchup.users u ON u.id = f.user_id
      LEFT JOIN batchup.slots s ON s.file_id = f.id
     WHERE f.id = p_file AND f.user_id = p_user
       FOR NO KEY UPDATE OF f;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::integer, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF v_file.status IN ('aborted', 'expired') THEN
        RETURN QUERY SELECT 'gone'::text, NULL::integer, v_file.upload_offset, v_file.size;
        RETURN;
    END IF;
    IF v_file.status = 'completed' THEN
        RETURN QUERY SELECT 'completed'::text, NULL::integer, v_file.upload_offset, v_file.size;
        RETURN;
    END IF;

    -- Renewal.  If the slot vanished since the SELECT (an administrator's
    -- release, or a reaper whose clock saw the lease run out), the file
    -- competes below like any other.
    IF v_file.lease >= now() THEN
        UPDATE batchup.slots s SET lease_expires_at = now() + v_lease WHERE s.file_id = p_file;
        IF FOUND THEN
            UPDATE batchup.files f SET last_seen_at = now() WHERE f.id = p_file;
            RETURN QUERY SELECT 'granted'::text, NULL::integer, v_file.upload_offset, v_file.size;
            RETURN;
        END IF;
    END IF;

    -- Slots whose lease ran out are free; forget them before counting.
    DELETE FROM batchup.slots s WHERE s.user_id = p_user AND s.lease_expires_at < now();

    v_limit := coalesce(nullif(v_file.slot_limit, 0), p_default_limit);
    SELECT count(*) INTO v_active FROM batchup.slots s WHERE s.user_id = p_user;

    -- A live waiter keeps its place; anyone else queues behind every live
    -- waiter of the user.
    IF v_file.status = 'queued' AND v_file.queue_live_until >= now() THEN
        v_queued_at := v_file.queued_at;
        v_ahead := batchup.queue_position(p_user, v_queued_at, p_file) - 1;
    ELSE
        SELECT count(*) INTO v_ahead FROM batchup.files w
         WHERE w.user_id = p_user AND w.status = 'queued' AND w.queue_live_until >= now()
           AND w.id <> p_file;
    END IF;

    v_granted := v_active < v_limit AND v_ahead = 0;

    IF v_granted AND p_max_active_users > 0 THEN
        -- Pin one of the user's slots so it cannot vanish before we commit;
        -- if there is none, this user is about to become active and must
        -- pass the global cap.
        PERFORM 1 FROM batchup.slots s WHERE s.user_id = p_user LIMIT 1 FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), 0);
            SELECT count(DISTINCT s.user_id) INTO v_users FROM batchup.slots s;
            IF v_users >= p_max_active_users THEN
                -- Leases that ran out free their users' places; only worth
                -- the work when the cap is reached.  Rows locked by someone
                -- else are skipped (and still counted): waiting for them,
                -- under the global lock, could deadlock with their owner's
                -- claim.
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
        UPDATE batchup.files f
           SET status = 'uploading', queued_at = NULL, queue_live_until = NULL, last_seen_at = now()
         WHERE f.id = p_file;
        RETURN QUERY SELECT 'granted'::text, NULL::integer, v_file.upload_offset, v_file.size;
        RETURN;
    END IF;

    -- clock_timestamp(), not now(): taken under the user lock it is
    -- strictly increasing per user, so a newcomer really is last.
    UPDATE batchup.files f
       SET status = 'queued',
           queued_at = coalesce(v_queued_at, clock_timestamp()),
           queue_live_until = now() + 3 * make_interval(secs => p_retry_seconds),
           last_seen_at = now()
     WHERE f.id = p_file;
    RETURN QUERY SELECT 'queued'::text, v_ahead + 1, v_file.upload_offset, v_file.size;
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
