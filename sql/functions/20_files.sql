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

-- tus concatenation (013).  A partial upload is a tus creation without a
-- batch, whose batch is marked concat_partial: it takes slots, counts in
-- the quotas and expires as every upload does, but is never listed and
-- never completes.  Its last byte (batchup.commit_partial) leaves it at its
-- full offset with its slot freed; the final made of it deletes it when it
-- commits (batchup.drop_partials, in batchup.commit_file's transaction).
-- An empty partial is refused (BU400): a batch of an empty file completes
-- at birth, and a partial's batch must not.
CREATE OR REPLACE FUNCTION batchup.create_partial_upload(p_user integer, p_size bigint,
                                                         p_link_ttl_seconds integer,
                                                         p_max_bytes bigint DEFAULT NULL,
                                                         p_max_open integer DEFAULT NULL,
                                                         p_max_files integer DEFAULT NULL)
RETURNS TABLE (batch_id uuid, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_ids record;
BEGIN
    IF p_size IS NULL OR p_size <= 0 THEN
        RAISE EXCEPTION 'a partial upload holds at least one byte' USING ERRCODE = 'BU400';
    END IF;
    SELECT * INTO v_ids FROM batchup.create_upload(p_user, 'partial', NULL, p_size, p_link_ttl_seconds,
                                                   p_max_bytes, p_max_open, p_max_files) c;
    UPDATE batchup.batches b SET concat_partial = true WHERE b.id = v_ids.batch_id;
    RETURN QUERY SELECT v_ids.batch_id, v_ids.file_id;
END;
$$;

COMMENT ON FUNCTION batchup.create_partial_upload(integer, bigint, integer, bigint, integer, integer) IS
    'tus creation with Upload-Concat: partial: an upload of p_size bytes (at least 1) of user p_user in a batch of its own marked concat_partial (not listed, never completed), with the quotas of batchup.create_upload. Returns the batch and the file.';

-- The last byte of a partial upload is durable (in files/): the offset
-- reaches the size, the slot and the writer lock are freed, and the file
-- stays unfinished, for the final to take.  The result has the shape of
-- batchup.commit_file's, file_status 'partial'; BU423 when p_writer lost
-- the lock, as for any completion.
CREATE OR REPLACE FUNCTION batchup.commit_partial(p_file uuid, p_writer text)
RETURNS TABLE (batch_id uuid, batch_complete boolean, download_token text, file_status text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_batch uuid;
    v_file  record;
BEGIN
    UPDATE batchup.files f
       SET upload_offset = f.size, updated_at = now(), writer = NULL, writer_expires_at = NULL,
           release_requested = NULL
     WHERE f.id = p_file AND f.status IN ('pending', 'queued', 'uploading')
       AND (p_writer IS NULL OR f.writer = p_writer)
    RETURNING f.batch_id INTO v_batch;
    IF FOUND THEN
        DELETE FROM batchup.slots s WHERE s.file_id = p_file;
        RETURN QUERY SELECT v_batch, false, NULL::text, 'partial'::text;
        RETURN;
    END IF;
    SELECT f.batch_id, f.status INTO v_file FROM batchup.files f WHERE f.id = p_file;
    IF NOT FOUND THEN
        RETURN;
    ELSIF v_file.status IN ('pending', 'queued', 'uploading') THEN
        RAISE EXCEPTION 'file % is written by another request; this one lost its lock', p_file
            USING ERRCODE = 'BU423';
    END IF;
    RETURN QUERY SELECT v_file.batch_id, false, NULL::text, v_file.status::text;
END;
$$;

COMMENT ON FUNCTION batchup.commit_partial(uuid, text) IS
    'Internal (batchup.commit_file): the partial upload p_file has all its bytes: offset = size, slot and writer lock (p_writer''s, else BU423) freed, file left unfinished for its final. file_status partial, or the aborted/expired status when it lost against an abort or expiry.';

-- The final upload made of p_parts, in p_batch (a tus creation naming its
-- batch: batchup.join_batch with the summed length) or in a batch of its
-- own.  Results: created, or join_batch's matched | added (a new final);
-- existing (a retry: the final of the same user and parts); not_found (a
-- part that is not a partial upload of p_user), gone (a part aborted or
-- expired), incomplete (a part short of its length), too_large (the sum
-- past p_max_size), taken (a part belongs to another final), and
-- join_batch's refusals.  The final's bytes replace its partials' when it
-- commits, so the quotas count them once: the caps are raised by the
-- parts'.  Under the user's advisory lock.
CREATE OR REPLACE FUNCTION batchup.create_final(p_user integer, p_parts uuid[], p_name text,
                                                p_media_type text, p_batch uuid, p_max_size bigint,
                                                p_link_ttl_seconds integer, p_max_bytes bigint,
                                                p_max_open integer, p_max_files integer,
                                                p_max_batch_files integer)
RETURNS TABLE (result text, file_id uuid, upload_offset bigint, size bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n       integer := cardinality(p_parts);
    v_file    record;
    v_parts   record;
    v_refusal text;
BEGIN
    IF v_n IS NULL OR v_n NOT BETWEEN 1 AND 64
       OR (SELECT count(DISTINCT x) FROM unnest(p_parts) x) <> v_n THEN
        RAISE EXCEPTION 'a final upload names 1 to 64 different partial uploads' USING ERRCODE = 'BU400';
    END IF;
    PERFORM pg_advisory_xact_lock(batchup.lock_namespace(), p_user);
    SELECT f.id, f.upload_offset, f.size INTO v_file FROM batchup.files f
     WHERE f.concat_parts = p_parts AND f.user_id = p_user AND f.status NOT IN ('aborted', 'expired')
     LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'existing'::text, v_file.id, v_file.upload_offset, v_file.size;
        RETURN;
    END IF;
    SELECT count(*) AS n, count(*) FILTER (WHERE f.status IN ('aborted', 'expired')) AS gone,
           count(*) FILTER (WHERE f.upload_offset < f.size) AS short, coalesce(sum(f.size), 0) AS bytes
      INTO v_parts
      FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id AND b.concat_partial
     WHERE f.id = ANY (p_parts) AND f.user_id = p_user;
    v_refusal := CASE
        WHEN v_parts.n < v_n THEN 'not_found'
        WHEN v_parts.gone > 0 THEN 'gone'
        WHEN coalesce(p_max_size, 0) > 0 AND v_parts.bytes > p_max_size THEN 'too_large'
        WHEN v_parts.short > 0 THEN 'incomplete'
        WHEN EXISTS (SELECT 1 FROM batchup.files g WHERE g.concat_parts && p_parts
                        AND g.status NOT IN ('aborted', 'expired')) THEN 'taken'
        END;
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal, NULL::uuid, NULL::bigint, v_parts.bytes::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM batchup.create_final_file(p_user, p_parts, p_name, p_media_type, p_batch,
                                                         v_parts.bytes::bigint, p_link_ttl_seconds,
                                                         p_max_bytes, p_max_open, p_max_files,
                                                         p_max_batch_files);
END;
$$;

COMMENT ON FUNCTION batchup.create_final(integer, uuid[], text, text, uuid, bigint, integer, bigint, integer, integer, integer) IS
    'tus creation with Upload-Concat: final: (result, file, offset, size). created | matched | added (a new final of the summed size, in a batch of its own or in p_batch), existing (the final of the same user and parts: a retry), or without a file: not_found | gone | incomplete | too_large | taken, and join_batch''s refusals. Quota caps are raised by the parts'' counts and bytes, which the final replaces. Under the user''s advisory lock.';

-- create_final's creation, its checks passed: the final's file, marked with
-- its parts.  A declared file of the batch that a plain creation took
-- (join_batch's "existing") becomes the final only while no byte of it
-- arrived; otherwise the final matches nothing (no_match).
CREATE OR REPLACE FUNCTION batchup.create_final_file(p_user integer, p_parts uuid[], p_name text,
                                                     p_media_type text, p_batch uuid, p_size bigint,
                                                     p_link_ttl_seconds integer, p_max_bytes bigint,
                                                     p_max_open integer, p_max_files integer,
                                                     p_max_batch_files integer)
RETURNS TABLE (result text, file_id uuid, upload_offset bigint, size bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n     integer := cardinality(p_parts);
    v_bytes bigint := CASE WHEN coalesce(p_max_bytes, 0) > 0 THEN p_max_bytes + p_size END;
    v_files integer := CASE WHEN coalesce(p_max_files, 0) > 0 THEN p_max_files + v_n END;
    v_open  integer := CASE WHEN coalesce(p_max_open, 0) > 0 THEN p_max_open + v_n END;
    v_join  record;
BEGIN
    IF p_batch IS NULL THEN
        SELECT 'created'::text AS result, c.file_id, 0::bigint AS upload_offset INTO v_join
          FROM batchup.create_upload(p_user, p_name, p_media_type, p_size, p_link_ttl_seconds, v_bytes,
                                     v_open, v_files) c;
    ELSE
        SELECT j.result, j.file_id, j.upload_offset INTO v_join
          FROM batchup.join_batch(p_user, p_batch, p_name, p_media_type, p_size, v_bytes,
                                  p_max_batch_files, v_files) j;
    END IF;
    IF v_join.file_id IS NOT NULL THEN
        UPDATE batchup.files f SET concat_parts = p_parts
         WHERE f.id = v_join.file_id AND f.concat_parts IS NULL AND f.upload_offset = 0
           AND f.status IN ('pending', 'queued', 'uploading');
        IF NOT FOUND THEN
            v_join.result := 'no_match';
            v_join.file_id := NULL;
        END IF;
    END IF;
    RETURN QUERY SELECT v_join.result, v_join.file_id, v_join.upload_offset, p_size;
END;
$$;

COMMENT ON FUNCTION batchup.create_final_file(integer, uuid[], text, text, uuid, bigint, integer, bigint, integer, integer, integer) IS
    'Internal (batchup.create_final): the final''s file of p_size bytes, marked with its parts p_parts.';

-- The final p_final committed: its partial uploads go, rows (their
-- batches, and by the cascade their files and slots) in the final's
-- commit transaction, so that the commit is the one point of no return;
-- their data is removed by the worker after it, or by the orphan sweep
-- when a crash came between.  The number of partials deleted.
CREATE OR REPLACE FUNCTION batchup.drop_partials(p_final uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM batchup.batches b
     USING batchup.files f, batchup.files p
     WHERE p.id = p_final AND f.id = ANY (p.concat_parts) AND f.user_id = p.user_id
       AND b.id = f.batch_id AND b.concat_partial;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END;
$$;

COMMENT ON FUNCTION batchup.drop_partials(uuid) IS
    'Internal (batchup.commit_file): deletes the partial uploads (their batches, files and slots) of the final upload p_final; returns how many.';

-- What HEAD reports as Upload-Concat: "partial", "final;<url> <url>..."
-- (the parts' URLs, as the creation named them), or NULL.
CREATE OR REPLACE FUNCTION batchup.upload_concat(p_file uuid) RETURNS text
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT CASE WHEN b.concat_partial THEN 'partial'
                WHEN f.concat_parts IS NOT NULL
                THEN 'final;' || array_to_string(ARRAY(SELECT '/api/v1/files/' || x
                                                         FROM unnest(f.concat_parts) WITH ORDINALITY AS u(x, n)
                                                        ORDER BY n), ' ')
           END
      FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id
     WHERE f.id = p_file;
END;

COMMENT ON FUNCTION batchup.upload_concat(uuid) IS
    'tus Upload-Concat of file p_file: partial, final;<url> <url> (the parts in order), or NULL for any other upload.';
