-- 50_batches.sql: batches from creation to their one download link.
--
-- A batch is created whole, so the database knows from the start how many
-- files must finish (batches.files_remaining).  Each file that finishes
-- (completed, aborted or expired) is counted once, by the guarded status
-- transition that finished it, under the batch row lock; the one
-- transaction that counts the last file finishes the batch: a link when at
-- least one file completed and none expired.

-- The end of a batch: called by the one transaction that saw
-- files_remaining reach 0, while it holds the batch row lock.  A batch gets
-- its link when at least one file completed and none expired (aborted files
-- are ignored); otherwise it can never have one and becomes expired.
CREATE OR REPLACE FUNCTION batchup.finish_batch(p_batch uuid, p_link_ttl_seconds integer) RETURNS void
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
CREATE OR REPLACE FUNCTION batchup.count_finished(p_batch uuid, p_count integer, p_link_ttl_seconds integer)
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
-- Like batchup.claim_upload it writes the file row once (the CRC-32 with the
-- rest): the worker's half of a small file's cost in the database.
--
-- A worker's completion names its writer (p_writer): only the request that
-- holds the upload's writer lock may commit it (BU423 otherwise).  A
-- writer that lost the lock (taken over after its lease, or overruled)
-- may have had its bytes overwritten by the new holder: its SHA-256 is not
-- that of the stored file, and the holder finishes the upload.  The lock
-- is checked, not its lease: one that ran out while nobody took it is
-- still the writer's (nobody else wrote).  p_writer NULL: no check (the
-- SQL API's complete_file, for administrators).
DROP FUNCTION IF EXISTS batchup.commit_file(uuid, text, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.commit_file(p_file uuid, p_sha256 text, p_crc32 bigint,
                                               p_link_ttl_seconds integer, p_writer text)
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
    IF p_link_ttl_seconds IS NULL OR p_link_ttl_seconds <= 0 THEN
        PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
    END IF;

    UPDATE batchup.files f
       SET status = 'completed', sha256 = lower(p_sha256), crc32 = p_crc32, upload_offset = f.size,
           completed_at = now(), updated_at = now(), queued_at = NULL, queue_live_until = NULL,
           writer = NULL, writer_expires_at = NULL, release_requested = NULL
     WHERE f.id = p_file AND f.status IN ('pending', 'queued', 'uploading')
       AND (f.expected_sha256 IS NULL OR f.expected_sha256 = lower(p_sha256))
       AND (p_writer IS NULL OR f.writer = p_writer)
    RETURNING f.batch_id INTO v_batch;

    IF FOUND THEN
        IF NOT batchup.count_finished(v_batch, 1, p_link_ttl_seconds) THEN
            RETURN QUERY SELECT v_batch, false, NULL::text, 'completed'::text;
            RETURN;
        END IF;
    ELSE
        SELECT f.batch_id, f.status, f.expected_sha256, f.writer INTO v_file FROM batchup.files f WHERE f.id = p_file;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF v_file.status IN ('pending', 'queued', 'uploading') AND p_writer IS NOT NULL
           AND v_file.writer IS DISTINCT FROM p_writer THEN
            RAISE EXCEPTION 'file % is written by another request; this one lost its lock', p_file
                USING ERRCODE = 'BU423';
        END IF;
        IF v_file.status IN ('pending', 'queued', 'uploading') THEN
            RAISE EXCEPTION 'file % has sha256 %, not the announced %', p_file, lower(p_sha256), v_file.expected_sha256
                USING ERRCODE = 'BU460';
        END IF;
        -- A retried completion, or one that lost against an abort or
        -- expiry: nothing changed (a completed file keeps its CRC-32);
        -- report the current state.
        v_batch := v_file.batch_id;
        v_status := v_file.status;
    END IF;

    RETURN QUERY
        SELECT b.id, b.status = 'complete', b.download_token::text, v_status
          FROM batchup.batches b WHERE b.id = v_batch;
END;
$$;

COMMENT ON FUNCTION batchup.commit_file(uuid, text, bigint, integer, text) IS
    'Internal: batchup.complete_file, with or without (p_crc32 NULL) the CRC-32, for the writer p_writer (BU423 when it does not hold the upload''s writer lock) or for anyone (NULL).';

CREATE OR REPLACE FUNCTION batchup.complete_file(p_file uuid, p_sha256 text, p_link_ttl_seconds integer)
RETURNS TABLE (batch_id uuid, batch_complete boolean, download_token text, file_status text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY SELECT * FROM batchup.commit_file(p_file, p_sha256, NULL, p_link_ttl_seconds, NULL);
END;
$$;

COMMENT ON FUNCTION batchup.complete_file(uuid, text, integer) IS
    'Marks a file completed with its sha256 (BU460 if it differs from the announced one; BU400 if malformed), which releases its slot, and completes the batch when it was the last unfinished file. Returns the batch, whether it is complete, its download token, and the file''s status after the call (completed, or aborted/expired when the completion lost: then nothing changed). No row: no such file.';

-- complete_file, also recording the CRC-32: what the worker calls, one
-- round trip, one transaction.
CREATE OR REPLACE FUNCTION batchup.complete_file(p_file uuid, p_sha256 text, p_crc32 bigint,
                                      p_link_ttl_seconds integer)
RETURNS TABLE (batch_id uuid, batch_complete boolean, download_token text, file_status text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_crc32 IS NULL OR p_crc32 < 0 OR p_crc32 > 4294967295 THEN
        RAISE EXCEPTION 'crc32 must be between 0 and 4294967295' USING ERRCODE = 'BU400';
    END IF;
    RETURN QUERY SELECT * FROM batchup.commit_file(p_file, p_sha256, p_crc32, p_link_ttl_seconds, NULL);
END;
$$;

COMMENT ON FUNCTION batchup.complete_file(uuid, text, bigint, integer) IS
    'complete_file(p_file, p_sha256, p_link_ttl_seconds), also recording the file''s CRC-32 (BU400 when out of range). Same result.';

-- What a worker calls: complete_file with the CRC-32, by the writer
-- p_writer, which must hold the upload's writer lock.
CREATE OR REPLACE FUNCTION batchup.complete_file(p_file uuid, p_sha256 text, p_crc32 bigint,
                                                 p_link_ttl_seconds integer, p_writer text)
RETURNS TABLE (batch_id uuid, batch_complete boolean, download_token text, file_status text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_crc32 IS NULL OR p_crc32 < 0 OR p_crc32 > 4294967295 THEN
        RAISE EXCEPTION 'crc32 must be between 0 and 4294967295' USING ERRCODE = 'BU400';
    END IF;
    IF p_writer IS NULL THEN
        RAISE EXCEPTION 'a worker''s completion names its writer' USING ERRCODE = 'BU400';
    END IF;
    RETURN QUERY SELECT * FROM batchup.commit_file(p_file, p_sha256, p_crc32, p_link_ttl_seconds, p_writer);
END;
$$;

COMMENT ON FUNCTION batchup.complete_file(uuid, text, bigint, integer, text) IS
    'complete_file(p_file, p_sha256, p_crc32, p_link_ttl_seconds) by the writer p_writer: BU423 (nothing changed) when p_writer does not hold the upload''s writer lock (it was taken over), so a request that lost the lock can never record its SHA-256 for bytes another request wrote.';

-- DELETE of a tus upload.
CREATE OR REPLACE FUNCTION batchup.abort_file(p_file uuid, p_user integer, p_link_ttl_seconds integer)
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

-- DELETE of a batch: the batch, its files (completed ones too), its slots
-- and its link go, in one transaction, so the link answers 404 from the
-- commit on.  (Until 006 a DELETE only aborted the unfinished files, and a
-- batch with completed files then completed, issuing a link.)
DROP FUNCTION IF EXISTS batchup.abort_batch(uuid, integer, integer);

CREATE OR REPLACE FUNCTION batchup.delete_batch(p_batch uuid, p_user integer)
RETURNS TABLE (found boolean, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_ids uuid[];
BEGIN
    -- Every file row first, in id order (the order every function locks
    -- files in, before slots and the batch row): a completion or a claim
    -- in flight finishes before us, or waits and then finds nothing.
    SELECT coalesce(array_agg(x.id), '{}') INTO v_ids
      FROM (SELECT f.id FROM batchup.files f
             WHERE f.batch_id = p_batch AND f.user_id = p_user
             ORDER BY f.id
               FOR UPDATE) x;

    -- The cascade removes the files and their slots.
    DELETE FROM batchup.batches b WHERE b.id = p_batch AND b.user_id = p_user;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::uuid;
        RETURN;
    END IF;
    RETURN QUERY SELECT true, NULL::uuid;
    RETURN QUERY SELECT true, u.id FROM unnest(v_ids) AS u(id);
END;
$$;

COMMENT ON FUNCTION batchup.delete_batch(uuid, integer) IS
    'Deletes p_user''s batch with all its files, slots and link. Rows: (false, NULL) when the batch is not p_user''s; else (true, NULL) and (true, id) for each of its files, whose stored data (partial or complete) the caller removes.';

-- The link of a completed batch, withdrawn or issued anew by its owner.
-- Results: issued (with the new token), revoked, none (there was no link
-- to revoke), incomplete (files left to upload: no link yet), expired (the
-- batch's data is gone or going), not_found (not p_user''s batch).
CREATE OR REPLACE FUNCTION batchup.revoke_link(p_batch uuid, p_user integer) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM batchup.batches b WHERE b.id = p_batch AND b.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    UPDATE batchup.batches b SET download_token = NULL
     WHERE b.id = p_batch AND b.download_token IS NOT NULL;
    RETURN CASE WHEN FOUND THEN 'revoked' ELSE 'none' END;
END;
$$;

COMMENT ON FUNCTION batchup.revoke_link(uuid, integer) IS
    'Withdraws the download link of p_user''s batch at once (the token is forgotten: the old URL answers 404). Returns revoked, none (no link) or not_found. The batch and its files stay, until their deadline.';

CREATE OR REPLACE FUNCTION batchup.issue_link(p_batch uuid, p_user integer, p_link_ttl_seconds integer)
RETURNS TABLE (result text, download_token text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch record;
    v_token text := batchup.new_download_token();
BEGIN
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
    SELECT b.status, b.link_expires_at, b.purged_at INTO v_batch
      FROM batchup.batches b WHERE b.id = p_batch AND b.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::text;
    ELSIF v_batch.status = 'uploading' THEN
        RETURN QUERY SELECT 'incomplete'::text, NULL::text;
    ELSIF batchup.batch_api_status(v_batch.status, v_batch.link_expires_at) <> 'complete' THEN
        RETURN QUERY SELECT 'expired'::text, NULL::text;
    ELSE
        -- Under the row lock: batchup.gc, waiting for it, sees the new
        -- deadline and leaves the batch alone.
        UPDATE batchup.batches b
           SET download_token = v_token, link_expires_at = now() + make_interval(secs => p_link_ttl_seconds)
         WHERE b.id = p_batch;
        RETURN QUERY SELECT 'issued'::text, v_token;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.issue_link(uuid, integer, integer) IS
    'A new download link for p_user''s completed batch, valid p_link_ttl_seconds (the batch''s data is kept as long): the old token, if any, is dead from the commit on. Returns (issued, token), or (incomplete | expired | not_found, NULL).';

-- The quotas checked when p_user creates a batch of p_bytes more: at most
-- p_max_open batches still uploading, at most p_max_bytes declared bytes in
-- live files (not aborted, not expired, in a batch that is not expired);
-- 0 or NULL is no cap.  The caller holds the user's advisory lock, so two
-- creations of one user cannot both fit under the cap and together exceed
-- it.  BU413 (quota_exceeded) says which cap and by how much.
CREATE OR REPLACE FUNCTION batchup.check_quota(p_user integer, p_bytes numeric, p_max_bytes bigint,
                                               p_max_open integer) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_open  bigint;
    v_held  numeric;
BEGIN
    IF coalesce(p_max_open, 0) > 0 THEN
        SELECT count(*) INTO v_open FROM batchup.batches b
         WHERE b.user_id = p_user AND b.status = 'uploading';
        IF v_open >= p_max_open THEN
            RAISE EXCEPTION 'you have % batches still uploading, the most allowed (max_open_batches); finish or delete one first', v_open
                USING ERRCODE = 'BU413';
        END IF;
    END IF;
    IF coalesce(p_max_bytes, 0) > 0 THEN
        SELECT coalesce(sum(f.size), 0) INTO v_held
          FROM batchup.batches b JOIN batchup.files f ON f.batch_id = b.id
         WHERE b.user_id = p_user AND b.purged_at IS NULL
           AND batchup.batch_api_status(b.status, b.link_expires_at) <> 'expired'
           AND f.status NOT IN ('aborted', 'expired');
        IF v_held + p_bytes > p_max_bytes THEN
            RAISE EXCEPTION 'this batch of % bytes would bring your stored bytes to %, over your quota of % (max_user_bytes); delete a batch first', p_bytes, v_held + p_bytes, p_max_bytes
                USING ERRCODE = 'BU413';
        END IF;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.check_quota(integer, numeric, bigint, integer) IS
    'Internal (create_batch). Raises BU413 when user p_user already has p_max_open batches uploading, or when p_bytes more would take the declared size of the user''s live files past p_max_bytes (0 or NULL: no cap). Call it holding the user''s advisory lock.';

-- POST /api/v1/batches and tus creation.  The C code validates the list
-- already; checking again here keeps hand-written calls honest.  The quota
-- arguments arrived with 006; calls without them set no cap.
DROP FUNCTION IF EXISTS batchup.create_batch(integer, jsonb, integer);

CREATE OR REPLACE FUNCTION batchup.create_batch(p_user integer, p_files jsonb, p_link_ttl_seconds integer,
                                                p_max_bytes bigint DEFAULT NULL,
                                                p_max_open integer DEFAULT NULL)
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
    v_bytes   numeric := 0;
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
        v_bytes := v_bytes + v_size;
    END LOOP;

    -- The user's lock, as for slot decisions (sql/functions/10_common.sql):
    -- the quota is counted and the batch inserted under it.
    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);
    PERFORM batchup.check_quota(p_user, v_bytes, p_max_bytes, p_max_open);

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

COMMENT ON FUNCTION batchup.create_batch(integer, jsonb, integer, bigint, integer) IS
    'Creates a batch of user p_user from [{"name", "size", "sha256"?, "type"?}, ...] (non-empty; BU400 on a bad list, BU460 when an empty file announces another sha256; BU413 over a quota, see batchup.check_quota). Empty files are completed at once; a batch of only empty files completes at once, with its link (valid p_link_ttl_seconds) and NOTIFY. Returns the batch id.';

-- tus creation: a batch of one file, and both ids, in one round trip.
DROP FUNCTION IF EXISTS batchup.create_upload(integer, text, text, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.create_upload(p_user integer, p_name text, p_media_type text,
                                                 p_size bigint, p_link_ttl_seconds integer,
                                                 p_max_bytes bigint DEFAULT NULL,
                                                 p_max_open integer DEFAULT NULL)
RETURNS TABLE (batch_id uuid, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch uuid;
BEGIN
    v_batch := batchup.create_batch(p_user,
                                    jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                                        'name', p_name, 'size', p_size, 'type', nullif(p_media_type, '')))),
                                    p_link_ttl_seconds, p_max_bytes, p_max_open);
    RETURN QUERY SELECT v_batch, f.id FROM batchup.files f WHERE f.batch_id = v_batch;
END;
$$;

COMMENT ON FUNCTION batchup.create_upload(integer, text, text, bigint, integer, bigint, integer) IS
    'tus creation: a batch of user p_user holding one file (p_media_type empty or NULL: none), checked as batchup.create_batch checks, quotas included; returns the batch and the file.';

CREATE OR REPLACE FUNCTION batchup.batch_json(p_batch uuid, p_user integer) RETURNS json
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT json_build_object(
               'id', b.id,
               'status', batchup.batch_api_status(b.status, b.link_expires_at),
               'created_at', batchup.rfc3339(b.created_at),
               'files', (SELECT json_agg(json_build_object(
                                    'id', a.id,
                                    'name', a.name,
                                    'size', a.size,
                                    'offset', a.upload_offset,
                                    'status', a.status,
                                    'queue_position', a.queue_position,
                                    'upload_url', '/api/v1/files/' || a.id,
                                    'download_url', CASE WHEN a.status = 'completed'
                                                         THEN '/api/v1/download/stream/' || a.id END,
                                    'sha256', coalesce(a.sha256, a.expected_sha256),
                                    'type', a.media_type)
                                ORDER BY a.ordinal)
                           FROM batchup.api_files a WHERE a.batch_id = b.id),
               'download_url', CASE WHEN batchup.batch_api_status(b.status, b.link_expires_at) = 'complete'
                                    THEN '/api/v1/download/batch/' || b.download_token END,
               'expires_at', batchup.rfc3339(b.link_expires_at))
      FROM batchup.batches b
     WHERE b.id = p_batch AND (p_user IS NULL OR b.user_id = p_user);
END;

COMMENT ON FUNCTION batchup.batch_json(uuid, integer) IS
    'The API''s JSON for a batch, files in creation order; sha256 is the stored checksum, else the announced one. NULL when the batch does not exist or is not p_user''s (p_user NULL: no ownership check).';

CREATE OR REPLACE FUNCTION batchup.batches_json(p_user integer, p_limit integer) RETURNS json
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT json_build_object('batches', coalesce(json_agg(x.j ORDER BY x.created_at DESC), '[]'::json))
      FROM (SELECT batchup.batch_json(b.id, p_user) AS j,
                   b.created_at
              FROM batchup.batches b
             WHERE b.user_id = p_user
             ORDER BY b.created_at DESC
             LIMIT p_limit) x;
END;

COMMENT ON FUNCTION batchup.batches_json(integer, integer) IS
    'GET /api/v1/batches: {"batches": [...]}, the p_limit newest batches of user p_user, newest first, each as batchup.batch_json gives it.';

-- The batch link: everything a download through it needs, in one round
-- trip.  A link whose batch has no completed file still gives one row (the
-- file columns NULL), so that it is told from an unknown token.
CREATE OR REPLACE FUNCTION batchup.link_files(p_token text)
RETURNS TABLE (batch_id uuid, live boolean, expires_at text, id uuid, name text, size bigint,
               sha256 text, media_type text, completed_epoch bigint, crc32 bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT b.id,
           b.status = 'complete' AND b.link_expires_at > now(),
           batchup.rfc3339(b.link_expires_at),
           f.id,
           f.name,
           f.size,
           f.sha256,
           coalesce(f.media_type, ''),
           floor(extract(epoch FROM f.completed_at))::bigint,
           coalesce(f.crc32, -1)
      FROM batchup.batches b
      LEFT JOIN batchup.files f ON f.batch_id = b.id AND f.status = 'completed'
     WHERE b.download_token = p_token
     ORDER BY f.ordinal;
END;

COMMENT ON FUNCTION batchup.link_files(text) IS
    'The batch behind download token p_token and its completed files in upload order (one row with NULL file columns when none completed; no row for an unknown token). live is false once the link expired. File columns as in batchup.owned_file.';
