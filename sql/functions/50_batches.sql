-- SPDX-License-Identifier: BSD-2-Clause
-- 50_batches.sql: batches from creation to their one download link.
--
-- A batch is created whole, so the database knows from the start how many
-- files must finish (batches.files_remaining).  Each file that finishes
-- (completed, aborted or expired) is counted once, by the guarded status
-- transition that finished it, under the batch row lock; the one
-- transaction that counts the last file finishes the batch: a link when at
-- least one file completed.

-- The end of a batch: called by the one transaction that saw
-- files_remaining reach 0, while it holds the batch row lock.  A batch gets
-- its link when at least one file completed; its aborted files, and those
-- that expired (never finished within upload_expiry_seconds), are left out
-- of it.  Until 010 one expired file expired the whole batch, and its
-- completed files (999 of 1000, say) were deleted with it: what completed
-- is now kept, and the owner gets it through the link.  A batch with no
-- completed file can never have a link and becomes expired.
CREATE OR REPLACE FUNCTION batchup.finish_batch(p_batch uuid, p_link_ttl_seconds integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_completed  boolean;
BEGIN
    SELECT EXISTS (SELECT 1 FROM batchup.files f WHERE f.batch_id = p_batch AND f.status = 'completed')
      INTO v_completed;

    IF v_completed THEN
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
    'Internal. Completes a batch with no unfinished file left: when at least one file completed, issues its download token (valid p_link_ttl_seconds; aborted and expired files are left out) and sends NOTIFY batchup_batch_complete with the batch id; when none completed, marks it expired without a link.';

-- p_count files of p_batch just reached a terminal status (in this
-- transaction, each counted once thanks to the guarded transition that
-- changed it).  The batch row lock taken by the UPDATE serialises the
-- callers: exactly one of them sees 0.  An open batch does not finish at 0:
-- more files may come; batchup.close_batch finishes it.
CREATE OR REPLACE FUNCTION batchup.count_finished(p_batch uuid, p_count integer, p_link_ttl_seconds integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_left integer;
    v_open boolean;
BEGIN
    UPDATE batchup.batches b SET files_remaining = b.files_remaining - p_count
     WHERE b.id = p_batch
    RETURNING b.files_remaining, b.open INTO v_left, v_open;
    IF v_left = 0 AND NOT v_open THEN
        PERFORM batchup.finish_batch(p_batch, p_link_ttl_seconds);
        RETURN true;
    END IF;
    RETURN false;
END;
$$;

COMMENT ON FUNCTION batchup.count_finished(uuid, integer, integer) IS
    'Internal. Subtracts p_count finished files from the batch''s files_remaining and finishes the batch when none is left and it is not open; returns whether it did.';

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
    v_final   boolean;
BEGIN
    IF p_sha256 IS NULL OR p_sha256 !~ '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION 'sha256 must be 64 hex digits' USING ERRCODE = 'BU400';
    END IF;
    IF p_link_ttl_seconds IS NULL OR p_link_ttl_seconds <= 0 THEN
        PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
    END IF;
    -- A partial upload (013) never completes: its final takes its bytes.
    IF EXISTS (SELECT 1 FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id
                WHERE f.id = p_file AND b.concat_partial) THEN
        RETURN QUERY SELECT * FROM batchup.commit_partial(p_file, p_writer);
        RETURN;
    END IF;

    UPDATE batchup.files f
       SET status = 'completed', sha256 = lower(p_sha256), crc32 = p_crc32, upload_offset = f.size,
           completed_at = now(), updated_at = now(), queued_at = NULL, queue_live_until = NULL,
           writer = NULL, writer_expires_at = NULL, release_requested = NULL
     WHERE f.id = p_file AND f.status IN ('pending', 'queued', 'uploading')
       AND (f.expected_sha256 IS NULL OR f.expected_sha256 = lower(p_sha256))
       AND (p_writer IS NULL OR f.writer = p_writer)
    RETURNING f.batch_id, f.concat_parts IS NOT NULL INTO v_batch, v_final;

    IF FOUND THEN
        -- A final's partials go in its commit (013).
        IF v_final THEN
            PERFORM batchup.drop_partials(p_file);
        END IF;
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

-- The quotas checked when p_user creates a batch of p_files files and
-- p_bytes bytes more: at most p_max_open batches still uploading, at most
-- p_max_bytes declared bytes in live files (not aborted, not expired, in a
-- batch that is not expired), at most p_max_files file rows in batches
-- that are not purged (whatever their files' sizes and statuses: a batch
-- of empty files is complete at birth and holds no byte, but its rows,
-- its link and its hook event cost as much as any); 0 or NULL is no cap.
-- The caller holds the user's advisory lock, so two creations of one user
-- cannot both fit under a cap and together exceed it.  BU413
-- (quota_exceeded) says which cap and by how much.
DROP FUNCTION IF EXISTS batchup.check_quota(integer, numeric, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.check_quota(p_user integer, p_bytes numeric, p_max_bytes bigint,
                                               p_max_open integer, p_files integer,
                                               p_max_files integer) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_open  bigint;
    v_held  numeric;
    v_rows  bigint;
BEGIN
    IF coalesce(p_max_files, 0) > 0 THEN
        -- files_total is the batch's row count: no file row is read.
        SELECT coalesce(sum(b.files_total), 0) INTO v_rows FROM batchup.batches b
         WHERE b.user_id = p_user AND b.purged_at IS NULL;
        IF v_rows + p_files > p_max_files THEN
            RAISE EXCEPTION 'this batch of % files would bring your files to %, over your quota of % (max_user_files); delete a batch first', p_files, v_rows + p_files, p_max_files
                USING ERRCODE = 'BU413';
        END IF;
    END IF;
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
           AND f.status NOT IN ('aborted', 'expired')
           -- A length not known yet counts when it is (set_upload_length).
           AND NOT f.length_deferred;
        IF v_held + p_bytes > p_max_bytes THEN
            RAISE EXCEPTION 'this batch of % bytes would bring your stored bytes to %, over your quota of % (max_user_bytes); delete a batch first', p_bytes, v_held + p_bytes, p_max_bytes
                USING ERRCODE = 'BU413';
        END IF;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.check_quota(integer, numeric, bigint, integer, integer, integer) IS
    'Internal (create_batch). Raises BU413 when p_files more file rows would take the user''s files in batches not purged past p_max_files, when user p_user already has p_max_open batches uploading, or when p_bytes more would take the declared size of the user''s live files past p_max_bytes (0 or NULL: no cap). Call it holding the user''s advisory lock.';

-- POST /api/v1/batches and tus creation.  The C code validates the list
-- already; checking again here keeps hand-written calls honest.  The quota
-- arguments arrived with 006 (p_max_files with 010); calls without them
-- set no cap.
DROP FUNCTION IF EXISTS batchup.create_batch(integer, jsonb, integer);
DROP FUNCTION IF EXISTS batchup.create_batch(integer, jsonb, integer, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.create_batch(p_user integer, p_files jsonb, p_link_ttl_seconds integer,
                                                p_max_bytes bigint DEFAULT NULL,
                                                p_max_open integer DEFAULT NULL,
                                                p_max_files integer DEFAULT NULL)
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
    PERFORM batchup.check_quota(p_user, v_bytes, p_max_bytes, p_max_open, v_n, p_max_files);

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

COMMENT ON FUNCTION batchup.create_batch(integer, jsonb, integer, bigint, integer, integer) IS
    'Creates a batch of user p_user from [{"name", "size", "sha256"?, "type"?}, ...] (non-empty; BU400 on a bad list, BU460 when an empty file announces another sha256; BU413 over a quota, see batchup.check_quota). Empty files are completed at once; a batch of only empty files completes at once, with its link (valid p_link_ttl_seconds) and NOTIFY. Returns the batch id.';

-- tus creation: a batch of one file, and both ids, in one round trip.
DROP FUNCTION IF EXISTS batchup.create_upload(integer, text, text, bigint, integer);
DROP FUNCTION IF EXISTS batchup.create_upload(integer, text, text, bigint, integer, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.create_upload(p_user integer, p_name text, p_media_type text,
                                                 p_size bigint, p_link_ttl_seconds integer,
                                                 p_max_bytes bigint DEFAULT NULL,
                                                 p_max_open integer DEFAULT NULL,
                                                 p_max_files integer DEFAULT NULL)
RETURNS TABLE (batch_id uuid, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch uuid;
BEGIN
    v_batch := batchup.create_batch(p_user,
                                    jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                                        'name', p_name, 'size', p_size, 'type', nullif(p_media_type, '')))),
                                    p_link_ttl_seconds, p_max_bytes, p_max_open, p_max_files);
    RETURN QUERY SELECT v_batch, f.id FROM batchup.files f WHERE f.batch_id = v_batch;
END;
$$;

COMMENT ON FUNCTION batchup.create_upload(integer, text, text, bigint, integer, bigint, integer, integer) IS
    'tus creation: a batch of user p_user holding one file (p_media_type empty or NULL: none), checked as batchup.create_batch checks, quotas included; returns the batch and the file.';

CREATE OR REPLACE FUNCTION batchup.batch_json(p_batch uuid, p_user integer) RETURNS json
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT json_build_object(
               'id', b.id,
               'status', batchup.batch_api_status(b.status, b.link_expires_at),
               'open', b.open,
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

-- GET /api/v1/batches, one page at a time.  The list had no bound: after
-- 40,000 file rows one GET answered 56 MB, built whole in a worker's
-- memory.  A page holds at most p_limit batches, newest first (created_at,
-- then id, so that batches created in the same instant are neither lost
-- nor repeated between pages), each summarised by its counts of files; the
-- files themselves only when asked (p_files), and then the page also ends
-- once it holds p_max_file_rows files (but always holds one batch).  The
-- cursor is opaque to clients: the position after the page's last batch,
-- in URL-safe base64; "next" is the URL of the following page, null on the
-- last one.

-- The cursor of the position just after batch (p_created_at, p_id).
CREATE OR REPLACE FUNCTION batchup.batch_cursor(p_created_at timestamptz, p_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN translate(rtrim(encode(convert_to(
           (extract(epoch FROM p_created_at) * 1000000)::bigint::text || ':' || p_id::text, 'UTF8'), 'base64'), '='),
       '+/', '-_');

COMMENT ON FUNCTION batchup.batch_cursor(timestamptz, uuid) IS
    'The opaque cursor of GET /api/v1/batches: the page goes on after the batch created at p_created_at with id p_id.';

-- Its inverse: (created_at, id), BU400 when p_cursor is not one.
CREATE OR REPLACE FUNCTION batchup.batch_cursor_position(p_cursor text, OUT created_at timestamptz, OUT id uuid)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_text  text;
    v_parts text[];
BEGIN
    BEGIN
        v_text := convert_from(decode(rpad(translate(p_cursor, '-_', '+/'),
                                           ((length(p_cursor) + 3) / 4) * 4, '='), 'base64'), 'UTF8');
    EXCEPTION WHEN others THEN
        v_text := NULL;
    END;
    v_parts := regexp_match(v_text, '^(-?[0-9]{1,18}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$');
    IF p_cursor IS NULL OR length(p_cursor) > 120 OR v_parts IS NULL THEN
        RAISE EXCEPTION 'cursor is not one this server gave' USING ERRCODE = 'BU400';
    END IF;
    created_at := timestamptz 'epoch' + (v_parts[1] || ' microseconds')::interval;
    id := v_parts[2]::uuid;
END;
$$;

COMMENT ON FUNCTION batchup.batch_cursor_position(text) IS
    'Internal (batches_json): the position a cursor of batch_cursor names; BU400 when p_cursor is malformed.';

DROP FUNCTION IF EXISTS batchup.batches_json(integer, integer);

CREATE OR REPLACE FUNCTION batchup.batches_json(p_user integer, p_limit integer, p_cursor text DEFAULT NULL,
                                                p_files boolean DEFAULT false,
                                                p_max_file_rows integer DEFAULT 1000) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_after_at timestamptz;
    v_after_id uuid;
    v_page     json;
    v_last_id  uuid;
    v_last_at  timestamptz;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000' USING ERRCODE = 'BU400';
    END IF;
    IF p_cursor IS NOT NULL THEN
        SELECT c.created_at, c.id INTO v_after_at, v_after_id FROM batchup.batch_cursor_position(p_cursor) c;
    END IF;

    -- The page's batches: newest first after the cursor, at most p_limit,
    -- and with files, none once p_max_file_rows files came before it (a
    -- prefix of the candidates, since the running sum only grows).
    WITH cand AS (
        SELECT row_number() OVER w AS n, b.id,
               sum(b.files_total) OVER w - b.files_total AS rows_before
          FROM batchup.batches b
         WHERE b.user_id = p_user AND NOT b.concat_partial
           AND (p_cursor IS NULL OR (b.created_at, b.id) < (v_after_at, v_after_id))
        WINDOW w AS (ORDER BY b.created_at DESC, b.id DESC)
         ORDER BY b.created_at DESC, b.id DESC
         LIMIT p_limit
    )
    SELECT coalesce(json_agg(CASE WHEN p_files
                                  THEN (batchup.batch_json(b.id, p_user)::jsonb || c.counts)::json
                                  ELSE (jsonb_build_object(
                                            'id', b.id,
                                            'status', batchup.batch_api_status(b.status, b.link_expires_at),
                                            'created_at', batchup.rfc3339(b.created_at),
                                            'download_url', CASE WHEN batchup.batch_api_status(b.status, b.link_expires_at) = 'complete'
                                                                 THEN '/api/v1/download/batch/' || b.download_token END,
                                            'expires_at', batchup.rfc3339(b.link_expires_at)) || c.counts)::json
                             END ORDER BY p.n), '[]'::json),
           (array_agg(b.id ORDER BY p.n DESC))[1],
           (array_agg(b.created_at ORDER BY p.n DESC))[1]
      INTO v_page, v_last_id, v_last_at
      FROM cand p
      JOIN batchup.batches b ON b.id = p.id
     CROSS JOIN LATERAL (
           SELECT jsonb_build_object('file_counts', jsonb_build_object(
                      'total', b.files_total,
                      'completed', count(*) FILTER (WHERE f.status = 'completed'),
                      'unfinished', count(*) FILTER (WHERE f.status IN ('pending', 'queued', 'uploading')),
                      'aborted', count(*) FILTER (WHERE f.status = 'aborted'),
                      'expired', count(*) FILTER (WHERE f.status = 'expired')),
                  'bytes_total', coalesce(sum(f.size), 0),
                  'bytes_received', coalesce(sum(f.upload_offset), 0)) AS counts
             FROM batchup.files f WHERE f.batch_id = b.id) c
     WHERE NOT p_files OR p.n = 1 OR p.rows_before < p_max_file_rows;

    RETURN json_build_object(
        'batches', v_page,
        'next', CASE WHEN v_last_id IS NOT NULL
                      AND EXISTS (SELECT 1 FROM batchup.batches b
                                   WHERE b.user_id = p_user AND NOT b.concat_partial
                                     AND (b.created_at, b.id) < (v_last_at, v_last_id))
                     THEN '/api/v1/batches?limit=' || p_limit
                          || CASE WHEN p_files THEN '&files=1' ELSE '' END
                          || '&cursor=' || batchup.batch_cursor(v_last_at, v_last_id) END);
END;
$$;

COMMENT ON FUNCTION batchup.batches_json(integer, integer, text, boolean, integer) IS
    'GET /api/v1/batches: {"batches": [...], "next": URL or null}, a page of user p_user''s batches, newest first, after p_cursor (NULL: from the newest): at most p_limit (1 to 1000; BU400 otherwise, or for a malformed cursor), each with file_counts (total, completed, unfinished, aborted, expired), bytes_total and bytes_received; with p_files also its files as batchup.batch_json gives them, and then the page ends once it holds p_max_file_rows files (at least one batch).';

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

-- ---- batches that stock tus clients join (012) -----------------------
--
-- A tus creation that names a batch (Upload-Metadata "batch") is matched
-- here, under the user's advisory lock, in one call: to a declared file of
-- that name and size that no creation took yet, else (a client's retry) to
-- the one a creation already took, else, in an open batch, to a new file.
-- An open batch takes files until batchup.close_batch; its count of
-- unfinished files (files_remaining) grows as they arrive, and
-- count_finished leaves it uploading at 0 while it is open.

-- Internal: one more file in batch p_batch of p_user, checked as
-- create_batch checks a listed file, the batch's counters updated.  An
-- empty file is completed at birth, as create_batch does it.  The caller
-- holds the user's advisory lock and the batch row.
CREATE OR REPLACE FUNCTION batchup.add_batch_file(p_batch uuid, p_user integer, p_name text,
                                                  p_media_type text, p_size numeric, p_sha256 text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c_empty_sha256 CONSTANT text := 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    v_ordinal integer;
    v_id      uuid;
    v_sha     text := lower(nullif(p_sha256, ''));
BEGIN
    IF p_name IS NULL OR char_length(p_name) NOT BETWEEN 1 AND 1024 OR p_name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'name must be 1 to 1024 characters without control characters' USING ERRCODE = 'BU400';
    END IF;
    IF p_size IS NULL OR p_size <> trunc(p_size) OR p_size < 0 OR p_size > 9223372036854775807 THEN
        RAISE EXCEPTION 'size must be a whole number of bytes between 0 and 2^63-1' USING ERRCODE = 'BU400';
    END IF;
    IF v_sha IS NOT NULL AND v_sha !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'sha256 must be 64 hex digits' USING ERRCODE = 'BU400';
    END IF;
    IF char_length(p_media_type) > 255 OR p_media_type ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'type must be at most 255 characters without control characters' USING ERRCODE = 'BU400';
    END IF;
    IF p_size = 0 AND v_sha IS DISTINCT FROM c_empty_sha256 AND v_sha IS NOT NULL THEN
        RAISE EXCEPTION 'an empty file has sha256 %, not %', c_empty_sha256, v_sha USING ERRCODE = 'BU460';
    END IF;

    UPDATE batchup.batches b
       SET files_total = b.files_total + 1,
           files_remaining = b.files_remaining + CASE WHEN p_size > 0 THEN 1 ELSE 0 END
     WHERE b.id = p_batch AND b.user_id = p_user
    RETURNING b.files_total INTO v_ordinal;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no batch % of user %', p_batch, p_user USING ERRCODE = 'BU404';
    END IF;

    INSERT INTO batchup.files (batch_id, user_id, ordinal, name, media_type, size, expected_sha256,
                               status, sha256, completed_at)
    VALUES (p_batch, p_user, v_ordinal, p_name, nullif(p_media_type, ''), p_size::bigint, v_sha,
            CASE WHEN p_size = 0 THEN 'completed' ELSE 'pending' END,
            CASE WHEN p_size = 0 THEN c_empty_sha256 END,
            CASE WHEN p_size = 0 THEN now() END)
    RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;

COMMENT ON FUNCTION batchup.add_batch_file(uuid, integer, text, text, numeric, text) IS
    'Internal (create_open_batch, join_batch). Adds a file (BU400 on a bad name, size, sha256 or type; BU460 for an empty file announcing another sha256) to p_user''s batch p_batch and counts it; returns its id. The caller holds the user''s advisory lock.';

-- POST /api/v1/batches with {"open": true}: an open batch, with the files
-- listed (if any) declared in it.  Quotas as create_batch's; p_max_files
-- (max_batch_files) bounds the files it will ever hold.
DROP FUNCTION IF EXISTS batchup.create_open_batch(integer, jsonb, integer, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.create_open_batch(p_user integer, p_files jsonb, p_link_ttl_seconds integer,
                                                     p_max_bytes bigint DEFAULT NULL,
                                                     p_max_open integer DEFAULT NULL,
                                                     p_max_user_files integer DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch uuid;
    v_item  jsonb;
    v_bytes numeric := 0;
BEGIN
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
    IF p_files IS NOT NULL AND jsonb_typeof(p_files) <> 'array' THEN
        RAISE EXCEPTION 'files must be a JSON array' USING ERRCODE = 'BU400';
    END IF;
    FOR v_item IN SELECT e FROM jsonb_array_elements(coalesce(p_files, '[]')) e LOOP
        IF jsonb_typeof(v_item) <> 'object' OR jsonb_typeof(v_item -> 'size') IS DISTINCT FROM 'number'
           OR jsonb_typeof(v_item -> 'name') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'every file must be {"name": string, "size": number, ...}' USING ERRCODE = 'BU400';
        END IF;
        v_bytes := v_bytes + (v_item ->> 'size')::numeric;
    END LOOP;

    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);
    PERFORM batchup.check_quota(p_user, v_bytes, p_max_bytes, p_max_open,
                                jsonb_array_length(coalesce(p_files, '[]')), p_max_user_files);

    INSERT INTO batchup.batches (user_id, files_total, files_remaining, open)
    VALUES (p_user, 0, 0, true)
    RETURNING id INTO v_batch;
    FOR v_item IN SELECT e FROM jsonb_array_elements(coalesce(p_files, '[]')) e LOOP
        PERFORM batchup.add_batch_file(v_batch, p_user, v_item ->> 'name', v_item ->> 'type',
                                       (v_item ->> 'size')::numeric, v_item ->> 'sha256');
    END LOOP;
    RETURN v_batch;
END;
$$;

COMMENT ON FUNCTION batchup.create_open_batch(integer, jsonb, integer, bigint, integer, integer) IS
    'Creates an open batch of user p_user, declaring the files of p_files ([{"name", "size", "sha256"?, "type"?}, ...], NULL or [] for none; checked as create_batch checks them, quotas included). It takes more files by tus creation (join_batch) until close_batch. Returns the batch id.';

-- tus creation naming batch p_batch.  Results, with the file and its
-- offset when there is one:
--   matched   a declared file of this name and size that no creation took
--   existing  the file a creation for this name and size took before (a
--             retry: the same URL again, whatever happened since)
--   added     a new file of the open batch
--   no_match  a batch created with its list has no such file left
--   name_taken  an open batch already has a file of that name, another size
--   finished  the batch is complete or expired: it takes nothing more
--   too_many_files  the open batch holds p_max_files files already
--   not_found the batch is not p_user's
-- BU413 when the new file would take the user past p_max_bytes.
DROP FUNCTION IF EXISTS batchup.join_batch(integer, uuid, text, text, bigint, bigint, integer);

CREATE OR REPLACE FUNCTION batchup.join_batch(p_user integer, p_batch uuid, p_name text, p_media_type text,
                                              p_size bigint, p_max_bytes bigint, p_max_files integer,
                                              p_max_user_files integer DEFAULT NULL)
RETURNS TABLE (result text, file_id uuid, upload_offset bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch record;
    v_file  record;
BEGIN
    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);
    SELECT b.status, b.open, b.files_total INTO v_batch
      FROM batchup.batches b WHERE b.id = p_batch AND b.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint;
        RETURN;
    END IF;

    IF v_batch.status = 'uploading' THEN
        -- A declared file with no upload yet: an empty one is completed at
        -- birth, any other is pending at offset 0.
        SELECT f.id, f.upload_offset INTO v_file FROM batchup.files f
         WHERE f.batch_id = p_batch AND f.name = p_name AND f.size = p_size
           AND f.upload_created_at IS NULL
           AND ((f.status = 'pending' AND f.upload_offset = 0) OR (f.size = 0 AND f.status = 'completed'))
         ORDER BY f.ordinal LIMIT 1
           FOR NO KEY UPDATE;
        IF FOUND THEN
            UPDATE batchup.files f SET upload_created_at = now() WHERE f.id = v_file.id;
            RETURN QUERY SELECT 'matched'::text, v_file.id, v_file.upload_offset;
            RETURN;
        END IF;
    END IF;

    -- A retry: the file an earlier creation took (an unfinished one first).
    SELECT f.id, f.upload_offset INTO v_file FROM batchup.files f
     WHERE f.batch_id = p_batch AND f.name = p_name AND f.size = p_size
       AND f.upload_created_at IS NOT NULL AND f.status NOT IN ('aborted', 'expired')
     ORDER BY f.status = 'completed', f.ordinal LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'existing'::text, v_file.id, v_file.upload_offset;
        RETURN;
    END IF;

    IF v_batch.status <> 'uploading' THEN
        RETURN QUERY SELECT 'finished'::text, NULL::uuid, NULL::bigint;
    ELSIF NOT v_batch.open THEN
        RETURN QUERY SELECT 'no_match'::text, NULL::uuid, NULL::bigint;
    ELSIF EXISTS (SELECT 1 FROM batchup.files f WHERE f.batch_id = p_batch AND f.name = p_name
                     AND f.status NOT IN ('aborted', 'expired')) THEN
        RETURN QUERY SELECT 'name_taken'::text, NULL::uuid, NULL::bigint;
    ELSIF p_max_files IS NOT NULL AND p_max_files > 0 AND v_batch.files_total >= p_max_files THEN
        RETURN QUERY SELECT 'too_many_files'::text, NULL::uuid, NULL::bigint;
    ELSE
        PERFORM batchup.check_quota(p_user, p_size, p_max_bytes, NULL, 1, p_max_user_files);
        v_file := NULL;
        SELECT batchup.add_batch_file(p_batch, p_user, p_name, p_media_type, p_size, NULL) AS id INTO v_file;
        UPDATE batchup.files f SET upload_created_at = now() WHERE f.id = v_file.id;
        RETURN QUERY SELECT 'added'::text, v_file.id, 0::bigint;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.join_batch(integer, uuid, text, text, bigint, bigint, integer, integer) IS
    'tus creation into p_user''s batch p_batch: (matched | existing | added, file, offset), or (no_match | name_taken | finished | too_many_files | not_found, NULL, NULL). A declared file of name p_name and size p_size without an upload is taken; a retry finds the file it took; an open batch adds a new file (p_max_files files at most, BU413 past p_max_bytes or the user''s p_max_user_files). Under the user''s advisory lock.';

-- POST /api/v1/batches/<id>/close.  Results: closed (the batch takes no
-- more files; it completed now if every file already had), not_open (it
-- was created with its list: nothing to close), empty (an open batch with
-- no file cannot be closed: it would have nothing to link), expired,
-- not_found.  A repeated close is closed again.
CREATE OR REPLACE FUNCTION batchup.close_batch(p_batch uuid, p_user integer, p_link_ttl_seconds integer)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch record;
BEGIN
    PERFORM batchup.check_positive(p_link_ttl_seconds, 'p_link_ttl_seconds');
    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);
    SELECT b.status, b.open, b.closed_at, b.files_total, b.files_remaining INTO v_batch
      FROM batchup.batches b WHERE b.id = p_batch AND b.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    ELSIF NOT v_batch.open THEN
        RETURN CASE WHEN v_batch.closed_at IS NOT NULL THEN 'closed' ELSE 'not_open' END;
    ELSIF v_batch.status <> 'uploading' THEN
        RETURN 'expired';
    ELSIF v_batch.files_total = 0 THEN
        RETURN 'empty';
    END IF;
    UPDATE batchup.batches b SET open = false, closed_at = now() WHERE b.id = p_batch;
    IF v_batch.files_remaining = 0 THEN
        PERFORM batchup.finish_batch(p_batch, p_link_ttl_seconds);
    END IF;
    RETURN 'closed';
END;
$$;

COMMENT ON FUNCTION batchup.close_batch(uuid, integer, integer) IS
    'Closes p_user''s open batch: it takes no more files, and completes (link valid p_link_ttl_seconds) as soon as every file has finished, at once if all have. Returns closed (also for a repeated close), not_open (created with its list), empty (no file yet: stays open), expired or not_found.';
