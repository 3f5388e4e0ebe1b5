-- SPDX-License-Identifier: BSD-2-Clause
-- 20_files.sql: files as the API sees them.
--
-- Stored statuses are what the last writer wrote; what is true now also
-- depends on the clock.  A slot whose lease ran out is free even before a
-- reaper deletes its row; a waiter whose client stopped asking no longer
-- blocks anyone; a link past its expiry is dead even before batchup.gc
-- marks its batch expired.  Every reader goes through batchup.api_files and
-- batchup.batch_api_status, so the API, the command line and the
-- administrators' views never disagree.

CREATE OR REPLACE VIEW batchup.api_files AS
SELECT f.id,
       f.batch_id,
       f.user_id,
       f.ordinal,
       -- Text, as the columns were before they had domains (sql/009): a
       -- view's column types are its readers' contract.
       f.name::text AS name,
       f.media_type::text AS media_type,
       f.size,
       f.upload_offset,
       f.expected_sha256::text AS expected_sha256,
       f.sha256::text AS sha256,
       f.created_at,
       f.updated_at,
       f.completed_at,
       d.status,
       CASE WHEN d.status = 'queued'
            THEN batchup.queue_position(f.user_id, f.queued_at, f.id)
       END AS queue_position,
       d.batch_status
  FROM batchup.files f
  JOIN batchup.batches b ON b.id = f.batch_id
 CROSS JOIN LATERAL (SELECT batchup.batch_api_status(b.status, b.link_expires_at) AS batch_status) bs
 CROSS JOIN LATERAL (
       SELECT CASE
              WHEN f.status IN ('aborted', 'expired') THEN f.status
              -- Once the batch expired its stored files are (or are about to
              -- be) deleted: they cannot be downloaded any more.
              WHEN f.status = 'completed' THEN
                   CASE WHEN bs.batch_status = 'expired' THEN 'expired' ELSE 'completed' END
              WHEN EXISTS (SELECT 1 FROM batchup.slots s
                            WHERE s.file_id = f.id AND s.lease_expires_at >= now()) THEN 'uploading'
              WHEN f.status = 'queued' AND f.queue_live_until >= now() THEN 'queued'
              ELSE 'pending'
              END AS status,
              bs.batch_status) d;

COMMENT ON VIEW batchup.api_files IS
    'Files as the API reports them. status: completed, aborted, expired (also a completed file whose batch expired: its data is gone); uploading when it holds a slot with a live lease; queued when it is a live waiter (queue_position 1 = next); else pending.';
CREATE OR REPLACE FUNCTION batchup.file_state(p_file uuid, p_user integer)
RETURNS TABLE (status text, upload_offset bigint, size bigint, queue_position integer, name text,
               media_type text, sha256 text, expected_sha256 text, batch_id uuid,
               created_at timestamptz, updated_at timestamptz, completed_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.status, a.upload_offset, a.size, a.queue_position, a.name, a.media_type, a.sha256,
           a.expected_sha256, a.batch_id, a.created_at, a.updated_at, a.completed_at
      FROM batchup.api_files a
     WHERE a.id = p_file AND (p_user IS NULL OR a.user_id = p_user);
END;

COMMENT ON FUNCTION batchup.file_state(uuid, integer) IS
    'One file as the API reports it (status as in batchup.api_files), for HEAD and downloads. No row when the file does not exist or is not p_user''s (p_user NULL: no ownership check).';

-- Gone since the writer lock reads the offset in claim_upload.
DROP FUNCTION IF EXISTS batchup.upload_offset(uuid);

-- A completed file as downloads serve it, with whether its batch has
-- expired (its data is then gone, or about to be).
CREATE OR REPLACE FUNCTION batchup.owned_file(p_file uuid, p_user integer)
RETURNS TABLE (id uuid, name text, size bigint, sha256 text, media_type text,
               completed_epoch bigint, crc32 bigint, batch_expired boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.id,
           f.name,
           f.size,
           f.sha256,
           coalesce(f.media_type, ''),
           floor(extract(epoch FROM f.completed_at))::bigint,
           coalesce(f.crc32, -1),
           batchup.batch_api_status(b.status, b.link_expires_at) = 'expired'
      FROM batchup.files f
      JOIN batchup.batches b ON b.id = f.batch_id
     WHERE f.id = p_file AND f.user_id = p_user AND f.status = 'completed';
END;

COMMENT ON FUNCTION batchup.owned_file(uuid, integer) IS
    'The completed file p_file of user p_user, as GET /api/v1/download/stream serves it: completed_epoch is its Last-Modified (whole seconds), crc32 -1 when not recorded, batch_expired true once its batch''s link ran out (its data is gone). No row when there is no such completed file of p_user.';

-- tus creation-defer-length (012): an upload created without its length
-- (Upload-Defer-Length: 1), a batch of its own.  Its size is p_max_size
-- (max_file_size: the most it may take) until set_upload_length; the
-- quota on bytes applies then, max_open_batches now.
DROP FUNCTION IF EXISTS batchup.create_deferred_upload(integer, text, text, bigint, integer, integer);

CREATE OR REPLACE FUNCTION batchup.create_deferred_upload(p_user integer, p_name text, p_media_type text,
                                                          p_max_size bigint, p_link_ttl_seconds integer,
                                                          p_max_open integer DEFAULT NULL,
                                                          p_max_files integer DEFAULT NULL)
RETURNS TABLE (batch_id uuid, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_ids record;
BEGIN
    IF p_max_size IS NULL OR p_max_size <= 0 THEN
        RAISE EXCEPTION 'p_max_size must be positive' USING ERRCODE = 'BU400';
    END IF;
    SELECT * INTO v_ids FROM batchup.create_upload(p_user, p_name, p_media_type, p_max_size, p_link_ttl_seconds,
                                                   NULL, p_max_open, p_max_files) c;
    UPDATE batchup.files f SET length_deferred = true WHERE f.id = v_ids.file_id;
    RETURN QUERY SELECT v_ids.batch_id, v_ids.file_id;
END;
$$;

COMMENT ON FUNCTION batchup.create_deferred_upload(integer, text, text, bigint, integer, integer, integer) IS
    'tus creation with Upload-Defer-Length: a batch of user p_user holding one file whose length is not known yet (length_deferred; size p_max_size, the most it may take, until batchup.set_upload_length). max_open_batches and max_user_files apply now (p_max_open, p_max_files), max_user_bytes when the length is set. Returns the batch and the file.';

-- The length of a deferred upload, told by a PATCH (Upload-Length), under
-- the user's advisory lock as every quota decision.  Results: set (also
-- when the same length is told again), fixed (the length is known and is
-- another), short (less than the bytes already stored), too_large (more
-- than the most it may take), gone (aborted or expired), not_found (not
-- p_user's).  BU413 when the length takes the user past p_max_bytes.
CREATE OR REPLACE FUNCTION batchup.set_upload_length(p_file uuid, p_user integer, p_length bigint,
                                                     p_max_bytes bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_file record;
BEGIN
    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);
    SELECT f.status, f.size, f.upload_offset, f.length_deferred INTO v_file
      FROM batchup.files f WHERE f.id = p_file AND f.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    ELSIF NOT v_file.length_deferred THEN
        RETURN CASE WHEN v_file.size = p_length THEN 'set' ELSE 'fixed' END;
    ELSIF v_file.status IN ('aborted', 'expired') THEN
        RETURN 'gone';
    ELSIF p_length IS NULL OR p_length < v_file.upload_offset THEN
        RETURN 'short';
    ELSIF p_length > v_file.size THEN
        RETURN 'too_large';
    END IF;
    PERFORM batchup.check_quota(p_user, p_length, p_max_bytes, NULL, 0, NULL);
    UPDATE batchup.files f SET size = p_length, length_deferred = false, updated_at = now() WHERE f.id = p_file;
    RETURN 'set';
END;
$$;

COMMENT ON FUNCTION batchup.set_upload_length(uuid, integer, bigint, bigint) IS
    'Sets the length of p_user''s deferred upload p_file (a PATCH''s Upload-Length): set, or fixed | short | too_large | gone | not_found without a change; BU413 past p_max_bytes (max_user_bytes). Under the user''s advisory lock.';
