-- 002_slots.sql: the coordination rules, one function per decision.
--
-- Every decision a worker makes about slots, queues and batches is one call
-- of one function here, so it costs one round trip and every process on
-- every host applies the same rules.
--
-- Concurrency.  All functions run in READ COMMITTED, where each statement
-- of a plpgsql function takes a fresh snapshot.  Three mechanisms make them
-- safe together:
--
--   * The user lock, pg_advisory_xact_lock(NS, user id), serialises every
--     slot decision of one user (claim_slot is the only function that
--     inserts slots or queues files).  Counting the user's slots and then
--     inserting one cannot race: the next claimant of that user waits for
--     our commit and then counts again.  Without the lock two workers would
--     both see limit - 1 and both insert.
--   * The global lock, pg_advisory_xact_lock(NS, 0), serialises the moments
--     a user goes from no slot to one slot, so at most max_active_users
--     users hold slots.  It is taken only when the user holds no slot, and
--     "holds a slot" is made stable by locking one of the user's slot rows
--     FOR KEY SHARE: a concurrent DELETE of that row (completion, abort)
--     either finished before (we then see no slot and take the global lock)
--     or waits for our commit.  Lock order is always user lock, then global
--     lock, never the reverse, so the two cannot deadlock.
--   * Row locks serialise the rest: a file's row is locked before its slot
--     row (every function touches files before slots, and slots before the
--     batch row), and the one transaction that decrements
--     batches.files_remaining to 0 finishes the batch.  Functions that lock
--     several files lock them in id order; maintenance skips locked rows.
--
-- Advisory lock keys use the two-int form (NS, key) with the namespace
-- NS = 1651865712 (0x62757870, "buxp"), returned by batchup.lock_namespace():
-- key > 0 is a user id, key 0 the global active-users cap, key -1 the
-- maintenance pass.  Only transaction-level locks are used, so they work
-- through PgBouncer in transaction mode.  batchup.slot_locks shows them.
--
-- Errors carry SQLSTATEs of the class BU, named after the HTTP status the
-- worker answers with:
--   BU400  bad argument (should have been caught by the C code)
--   BU404  no such file
--   BU409  offset going backwards or past the file's size
--   BU410  the file is completed, aborted or expired
--   BU460  checksum mismatch

CREATE FUNCTION batchup.lock_namespace() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 1651865712;

COMMENT ON FUNCTION batchup.lock_namespace() IS
    'The advisory lock namespace of batchup, 1651865712 (0x62757870, "buxp"): locks (NS, user id) serialise one user''s slot decisions, (NS, 0) the global active-users cap, (NS, -1) the maintenance pass. Appears as pg_locks.classid.';

-- A fresh download token: two random UUIDs (244 random bits) in URL-safe
-- base64 without padding, 43 characters.  gen_random_uuid() draws from the
-- same strong source as pgcrypto, so pgcrypto is not needed.
CREATE FUNCTION batchup.new_download_token() RETURNS text
LANGUAGE sql VOLATILE
RETURN translate(rtrim(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'base64'), '='),
                 '+/', '-_');

COMMENT ON FUNCTION batchup.new_download_token() IS
    'A new batch download token: 244 random bits, URL-safe base64 without padding.';

-- 1-based place of a waiter among its owner's live waiters, by (queued_at,
-- id).  Only meaningful for a live waiter; the views and claim_slot agree on
-- it because they all call this.
CREATE FUNCTION batchup.queue_position(p_user integer, p_queued_at timestamptz, p_file uuid)
RETURNS integer
LANGUAGE sql STABLE
RETURN 1 + (SELECT count(*)::integer FROM batchup.files w
             WHERE w.user_id = p_user AND w.status = 'queued' AND w.queue_live_until >= now()
               AND (w.queued_at, w.id) < (p_queued_at, p_file));

COMMENT ON FUNCTION batchup.queue_position(integer, timestamptz, uuid) IS
    'Place (1 = next) of the waiter (p_queued_at, p_file) among the live waiters of p_user, first come first served.';

CREATE FUNCTION batchup.check_positive(p_value integer, p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value <= 0 THEN
        RAISE EXCEPTION '% must be a positive number of seconds, not %', p_name, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'BU400';
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.check_positive(integer, text) IS
    'Raises BU400 unless p_value > 0; p_name names the argument in the message.';

-- The decision of a PATCH (and of an empty-bodied PATCH, the explicit
-- claim): take a slot for p_file, renew the one it holds, or queue it.
--
-- A stale waiter (one whose client stopped asking for 3 * p_retry_seconds)
-- that comes back goes to the back of the queue, as tusd users expect: its
-- old place was given to the waiters behind it the moment it went silent,
-- and handing it back would overtake them.
CREATE FUNCTION batchup.claim_slot(p_file uuid, p_user integer, p_default_limit integer,
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
CREATE FUNCTION batchup.record_progress(p_file uuid, p_offset bigint, p_lease_seconds integer)
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

-- The end of a batch: called by the one transaction that saw
-- files_remaining reach 0, while it holds the batch row lock.  A batch gets
-- its link when at least one file completed and none expired (aborted files
-- are ignored); otherwise it can never have one and becomes expired.
CREATE FUNCTION batchup.finish_batch(p_batch uuid, p_link_ttl_seconds integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_completed  boolean;
    v_expired    boolean;
BEGIN
    SELECT coalesce(bool_or(f.status = 'completed'), false), coalesce(bool_or(f.status = 'expired'), false)
      INTO v_completed, v_expired
      FROM batchup.files f WHERE f.batch_id = p_batch;

    IF v_completed AND NOT v_expired THEN
        PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
        UPDATE batchup.batches b
           SET status = 'complete', completed_at = now(), download_token = batchup.new_download_token(),
               link_expires_at = now() + make_interval(secs => p_link_ttl_seconds)
         WHERE b.id = p_batch AND b.status = 'uploading';
        IF FOUND THEN
            PERFORM pg_notify('batchup_batch_complete', p_batch::text);
        END IF;
    ELSE
        UPDATE batchup.batches b SET status = 'expired' WHERE b.id = p_batch AND b.status = 'uploading';
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.finish_batch(uuid, integer) IS
    'Internal. Completes a batch with no unfinished file left: issues its download token (valid p_link_ttl_seconds) and sends NOTIFY batchup_batch_complete with the batch id, or, when no file completed or one expired, marks it expired without a link.';

-- p_count files of p_batch just reached a terminal status (in this
-- transaction, each counted once thanks to the guarded transition that
-- changed it).  The batch row lock taken by the UPDATE serialises the
-- callers: exactly one of them sees 0.
CREATE FUNCTION batchup.count_finished(p_batch uuid, p_count integer, p_link_ttl_seconds integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_left integer;
BEGIN
    UPDATE batchup.batches b SET files_remaining = b.files_remaining - p_count
     WHERE b.id = p_batch
    RETURNING b.files_remaining INTO v_left;
    IF v_left = 0 THEN
        PERFORM batchup.finish_batch(p_batch, p_link_ttl_seconds);
        RETURN true;
    END IF;
    RETURN false;
END;
$$;

COMMENT ON FUNCTION batchup.count_finished(uuid, integer, integer) IS
    'Internal. Subtracts p_count finished files from the batch''s files_remaining and finishes the batch when none is left; returns whether it did.';

-- The commit of a file whose bytes are already durable on disk.  The
-- guarded UPDATE is the transition: it changes a row only for an
-- unfinished file, so a retried completion cannot count twice, and it
-- waits for (then re-checks against) a concurrent abort of the same file.
CREATE FUNCTION batchup.complete_file(p_file uuid, p_sha256 text, p_link_ttl_seconds integer)
RETURNS TABLE (batch_id uuid, batch_complete boolean, download_token text, file_status text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch   uuid;
    v_status  text := 'completed';
    v_file    record;
BEGIN
    IF p_sha256 IS NULL OR p_sha256 !~ '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION 'sha256 must be 64 hex digits' USING ERRCODE = 'BU400';
    END IF;
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');

    UPDATE batchup.files f
       SET status = 'completed', sha256 = lower(p_sha256), upload_offset = f.size,
           completed_at = now(), updated_at = now(), queued_at = NULL, queue_live_until = NULL
     WHERE f.id = p_file AND f.status IN ('pending', 'queued', 'uploading')
       AND (f.expected_sha256 IS NULL OR f.expected_sha256 = lower(p_sha256))
    RETURNING f.batch_id INTO v_batch;

    IF FOUND THEN
        IF NOT batchup.count_finished(v_batch, 1, p_link_ttl_seconds) THEN
            RETURN QUERY SELECT v_batch, false, NULL::text, 'completed'::text;
            RETURN;
        END IF;
    ELSE
        SELECT f.batch_id, f.status, f.expected_sha256 INTO v_file FROM batchup.files f WHERE f.id = p_file;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF v_file.status IN ('pending', 'queued', 'uploading') THEN
            RAISE EXCEPTION 'file % has sha256 %, not the announced %', p_file, lower(p_sha256), v_file.expected_sha256
                USING ERRCODE = 'BU460';
        END IF;
        -- A retried completion, or one that lost against an abort or
        -- expiry: nothing changed; report the current state.
        v_batch := v_file.batch_id;
        v_status := v_file.status;
    END IF;

    RETURN QUERY
        SELECT b.id, b.status = 'complete', b.download_token, v_status
          FROM batchup.batches b WHERE b.id = v_batch;
END;
$$;

COMMENT ON FUNCTION batchup.complete_file(uuid, text, integer) IS
    'Marks a file completed with its sha256 (BU460 if it differs from the announced one; BU400 if malformed), which releases its slot, and completes the batch when it was the last unfinished file. Returns the batch, whether it is complete, its download token, and the file''s status after the call (completed, or aborted/expired when the completion lost: then nothing changed). No row: no such file.';

-- DELETE of a tus upload.
CREATE FUNCTION batchup.abort_file(p_file uuid, p_user integer, p_link_ttl_seconds integer)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_file record;
BEGIN
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');

    SELECT f.batch_id, f.status INTO v_file
      FROM batchup.files f WHERE f.id = p_file AND f.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    ELSIF v_file.status = 'completed' THEN
        RETURN 'completed';
    ELSIF v_file.status IN ('aborted', 'expired') THEN
        RETURN 'gone';
    END IF;

    UPDATE batchup.files f
       SET status = 'aborted', updated_at = now(), queued_at = NULL, queue_live_until = NULL
     WHERE f.id = p_file;
    PERFORM batchup.count_finished(v_file.batch_id, 1, p_link_ttl_seconds);
    RETURN 'aborted';
END;
$$;

COMMENT ON FUNCTION batchup.abort_file(uuid, integer, integer) IS
    'Aborts an unfinished file of p_user (releasing its slot); the batch completes if its other files all completed. Returns aborted, not_found, completed (nothing changed) or gone (already aborted or expired). The caller removes the partial data.';

-- DELETE of a batch.  Its completed files stay completed: if there are any,
-- the batch completes with its link, exactly as if each unfinished file had
-- been aborted one by one.
CREATE FUNCTION batchup.abort_batch(p_batch uuid, p_user integer, p_link_ttl_seconds integer)
RETURNS TABLE (found boolean, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_ids uuid[];
BEGIN
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');

    -- (FOUND is shadowed here by the output column of the same name.)
    IF NOT EXISTS (SELECT 1 FROM batchup.batches b WHERE b.id = p_batch AND b.user_id = p_user) THEN
        RETURN QUERY SELECT false, NULL::uuid;
        RETURN;
    END IF;

    -- Lock every unfinished file first, in id order, before touching any
    -- slot: a claim holding one of them then never waits for us.
    SELECT coalesce(array_agg(x.id), '{}') INTO v_ids
      FROM (SELECT f.id FROM batchup.files f
             WHERE f.batch_id = p_batch AND f.status IN ('pending', 'queued', 'uploading')
             ORDER BY f.id
               FOR NO KEY UPDATE) x;

    IF cardinality(v_ids) = 0 THEN
        RETURN QUERY SELECT true, NULL::uuid;
        RETURN;
    END IF;

    UPDATE batchup.files f
       SET status = 'aborted', updated_at = now(), queued_at = NULL, queue_live_until = NULL
     WHERE f.id = ANY (v_ids);
    PERFORM batchup.count_finished(p_batch, cardinality(v_ids), p_link_ttl_seconds);
    RETURN QUERY SELECT true, u.id FROM unnest(v_ids) AS u(id);
END;
$$;

COMMENT ON FUNCTION batchup.abort_batch(uuid, integer, integer) IS
    'Aborts every unfinished file of p_user''s batch. Rows: (false, NULL) when the batch is not p_user''s; (true, NULL) when nothing was left to abort; else (true, id) for each aborted file, whose partial data the caller removes.';

-- Administrators only: the application never releases a slot by hand.
CREATE FUNCTION batchup.release_slot(p_file uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    DELETE FROM batchup.slots s WHERE s.file_id = p_file;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.release_slot(uuid) IS
    'For administrators: frees the slot of file p_file (its upload gets 423 on its next request, or the slot back if one is free). Returns whether there was one.';

-- POST /api/v1/batches and tus creation.  The C code validates the list
-- already; checking again here keeps hand-written calls honest.
CREATE FUNCTION batchup.create_batch(p_user integer, p_files jsonb, p_link_ttl_seconds integer)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c_empty_sha256 CONSTANT text := 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    v_batch   uuid;
    v_item    jsonb;
    v_n       integer := 0;
    v_size    numeric;
    v_sha     text;
    v_left    integer := 0;
BEGIN
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
    IF p_files IS NULL OR jsonb_typeof(p_files) <> 'array' OR jsonb_array_length(p_files) = 0 THEN
        RAISE EXCEPTION 'files must be a non-empty JSON array' USING ERRCODE = 'BU400';
    END IF;

    FOR v_item IN SELECT e FROM jsonb_array_elements(p_files) e LOOP
        v_n := v_n + 1;
        IF jsonb_typeof(v_item) <> 'object' THEN
            RAISE EXCEPTION 'file % is not an object', v_n USING ERRCODE = 'BU400';
        END IF;
        IF jsonb_typeof(v_item -> 'name') IS DISTINCT FROM 'string'
           OR char_length(v_item ->> 'name') NOT BETWEEN 1 AND 1024
           OR (v_item ->> 'name') ~ '[[:cntrl:]]' THEN
            RAISE EXCEPTION 'file %: name must be a string of 1 to 1024 characters without control characters', v_n
                USING ERRCODE = 'BU400';
        END IF;
        IF jsonb_typeof(v_item -> 'size') IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'file %: size must be a number', v_n USING ERRCODE = 'BU400';
        END IF;
        v_size := (v_item ->> 'size')::numeric;
        IF v_size <> trunc(v_size) OR v_size < 0 OR v_size > 9223372036854775807 THEN
            RAISE EXCEPTION 'file %: size must be a whole number of bytes between 0 and 2^63-1', v_n
                USING ERRCODE = 'BU400';
        END IF;
        IF v_item ? 'sha256' AND jsonb_typeof(v_item -> 'sha256') <> 'null'
           AND (jsonb_typeof(v_item -> 'sha256') <> 'string' OR (v_item ->> 'sha256') !~ '^[0-9a-fA-F]{64}$') THEN
            RAISE EXCEPTION 'file %: sha256 must be 64 hex digits', v_n USING ERRCODE = 'BU400';
        END IF;
        IF v_item ? 'type' AND jsonb_typeof(v_item -> 'type') <> 'null'
           AND (jsonb_typeof(v_item -> 'type') <> 'string' OR char_length(v_item ->> 'type') > 255
                OR (v_item ->> 'type') ~ '[[:cntrl:]]') THEN
            RAISE EXCEPTION 'file %: type must be a string of at most 255 characters without control characters', v_n
                USING ERRCODE = 'BU400';
        END IF;
        v_sha := lower(v_item ->> 'sha256');
        IF v_size = 0 AND v_sha IS DISTINCT FROM c_empty_sha256 AND v_sha IS NOT NULL THEN
            RAISE EXCEPTION 'file %: an empty file has sha256 %, not %', v_n, c_empty_sha256, v_sha
                USING ERRCODE = 'BU460';
        END IF;
        IF v_size > 0 THEN
            v_left := v_left + 1;
        END IF;
    END LOOP;

    INSERT INTO batchup.batches (user_id, files_total, files_remaining)
    VALUES (p_user, v_n, v_n)
    RETURNING id INTO v_batch;

    -- Empty files have nothing to upload: they are completed at birth.
    INSERT INTO batchup.files (batch_id, user_id, ordinal, name, media_type, size, expected_sha256,
                               status, sha256, completed_at)
    SELECT v_batch, p_user, e.ordinality, e.value ->> 'name', e.value ->> 'type', (e.value ->> 'size')::numeric::bigint,
           lower(e.value ->> 'sha256'),
           CASE WHEN (e.value ->> 'size')::numeric::bigint = 0 THEN 'completed' ELSE 'pending' END,
           CASE WHEN (e.value ->> 'size')::numeric::bigint = 0 THEN c_empty_sha256 END,
           CASE WHEN (e.value ->> 'size')::numeric::bigint = 0 THEN now() END
      FROM jsonb_array_elements(p_files) WITH ORDINALITY e;

    IF v_left < v_n THEN
        PERFORM batchup.count_finished(v_batch, v_n - v_left, p_link_ttl_seconds);
    END IF;
    RETURN v_batch;
END;
$$;

COMMENT ON FUNCTION batchup.create_batch(integer, jsonb, integer) IS
    'Creates a batch of user p_user from [{"name", "size", "sha256"?, "type"?}, ...] (non-empty; BU400 on a bad list, BU460 when an empty file announces another sha256). Empty files are completed at once; a batch of only empty files completes at once, with its link (valid p_link_ttl_seconds) and NOTIFY. Returns the batch id.';

-- Users.  Names and token hashes are checked by the table's constraints
-- (23514 check_violation, 23505 unique_violation for a taken name).

CREATE FUNCTION batchup.user_add(p_name text, p_token_hash text, p_limit integer) RETURNS integer
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    INSERT INTO batchup.users (name, token_hash, slot_limit)
    VALUES (p_name, lower(p_token_hash), coalesce(p_limit, 0))
    RETURNING id;
END;

COMMENT ON FUNCTION batchup.user_add(text, text, integer) IS
    'Creates a user with the hex SHA-256 of its API token and its slot limit (0 or NULL = server default); returns its id. 23505 when the name is taken.';

CREATE FUNCTION batchup.user_set_token(p_name text, p_token_hash text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE batchup.users u SET token_hash = lower(p_token_hash) WHERE u.name = p_name;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.user_set_token(text, text) IS
    'Replaces the token hash of user p_name (the old token stops working at once); false when there is no such user.';

CREATE FUNCTION batchup.set_user_limit(p_name text, n integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'a slot limit is a number >= 0 (0 = server default), not %', coalesce(n::text, 'NULL')
            USING ERRCODE = 'BU400';
    END IF;
    UPDATE batchup.users u SET slot_limit = n WHERE u.name = p_name;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.set_user_limit(text, integer) IS
    'For administrators: sets how many files user p_name may upload at once (0 = server default). Slots already held are kept; new ones obey the new limit. False when there is no such user.';

CREATE FUNCTION batchup.authenticate(p_token_hash text) RETURNS TABLE (user_id integer, user_name text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT u.id, u.name FROM batchup.users u WHERE u.token_hash = lower(p_token_hash);
END;

COMMENT ON FUNCTION batchup.authenticate(text) IS
    'The user whose API token hashes to p_token_hash (hex SHA-256), or no row.';

CREATE FUNCTION batchup.user_for_remote(p_name text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id integer;
BEGIN
    SELECT u.id INTO v_id FROM batchup.users u WHERE u.name = p_name;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    -- Two workers may see the same new name at once: the loser of the
    -- insert waits for the winner's commit, inserts nothing, and reads it.
    INSERT INTO batchup.users (name) VALUES (p_name) ON CONFLICT (name) DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT u.id INTO v_id FROM batchup.users u WHERE u.name = p_name;
    END IF;
    RETURN v_id;
END;
$$;

COMMENT ON FUNCTION batchup.user_for_remote(text) IS
    'The id of the user named p_name (the web server''s REMOTE_USER), created with the server default limit and no token on first sight. Safe when several workers see a new name at once.';

-- The maintenance pass, run every few seconds by the master's gc child and
-- by `batchup gc`.  Only one runs at a time; a second one returns at once.
CREATE FUNCTION batchup.gc(p_upload_expiry_seconds integer) RETURNS TABLE (kind text, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_files    uuid[];
    v_batches  uuid[];
    v_batch    record;
BEGIN
    PERFORM batchup.check_positive(p_upload_expiry_seconds, 'p_upload_expiry_seconds');
    IF NOT pg_try_advisory_xact_lock(batchup.lock_namespace(), -1) THEN
        RETURN;
    END IF;

    -- Uploads nobody touched for too long.  Rows locked by a request are in
    -- use, not abandoned: skip them.  Their slots go with them (trigger).
    WITH stale AS (
        SELECT f.id FROM batchup.files f
         WHERE f.status IN ('pending', 'queued', 'uploading')
           AND f.updated_at < now() - make_interval(secs => p_upload_expiry_seconds)
           AND coalesce(f.last_seen_at, f.updated_at) < now() - make_interval(secs => p_upload_expiry_seconds)
         ORDER BY f.id
           FOR NO KEY UPDATE SKIP LOCKED
    ), expired AS (
        UPDATE batchup.files f
           SET status = 'expired', updated_at = now(), queued_at = NULL, queue_live_until = NULL
          FROM stale WHERE f.id = stale.id
        RETURNING f.id, f.batch_id
    )
    SELECT coalesce(array_agg(e.id), '{}'), coalesce(array_agg(e.batch_id), '{}')
      INTO v_files, v_batches
      FROM expired e;

    FOR v_batch IN SELECT b.id, count(*)::integer AS n FROM unnest(v_batches) AS b(id)
                    GROUP BY b.id ORDER BY b.id LOOP
        PERFORM batchup.count_finished(v_batch.id, v_batch.n, NULL);
    END LOOP;
    RETURN QUERY SELECT 'partial'::text, x.id FROM unnest(v_files) AS x(id);

    DELETE FROM batchup.slots s
     WHERE s.file_id IN (SELECT x.file_id FROM batchup.slots x
                          WHERE x.lease_expires_at < now()
                            FOR UPDATE SKIP LOCKED);

    -- Batches whose link ran out, or that can never get one: their stored
    -- files go.  A batch with a live link is never touched.
    RETURN QUERY
        WITH gone AS (
            UPDATE batchup.batches b SET status = 'expired', purged_at = now()
             WHERE b.purged_at IS NULL
               AND (b.status = 'expired' OR (b.status = 'complete' AND b.link_expires_at < now()))
            RETURNING b.id)
        SELECT 'file'::text, f.id FROM batchup.files f JOIN gone ON f.batch_id = gone.id
         WHERE f.status = 'completed';
END;
$$;

COMMENT ON FUNCTION batchup.gc(integer) IS
    'One maintenance pass: expires unfinished files untouched for p_upload_expiry_seconds (rows kind=partial: delete their partial data), frees slots whose lease ran out, and expires batches whose link ran out or that can never get one (rows kind=file: delete the stored data of these completed files; each is returned once). Returns nothing when another pass is running (advisory lock (lock_namespace(), -1)).';
