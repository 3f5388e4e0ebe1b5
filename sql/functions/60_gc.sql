-- SPDX-License-Identifier: BSD-2-Clause
-- 60_gc.sql: the maintenance pass.

-- The maintenance pass, run every few seconds by the master's gc child and
-- by `batchup gc`.  Only one runs at a time; a second one returns at once.
-- p_link_ttl_seconds is the link lifetime of a batch that completes here
-- (its last unfinished files expired, some completed; NULL: 7 days, the
-- default link_ttl_seconds); p_retention_seconds how long a purged batch's
-- rows are kept (NULL: for ever).  The one-argument form of before 010 is
-- gone: its callers now name the link lifetime.
DROP FUNCTION IF EXISTS batchup.gc(integer);

CREATE OR REPLACE FUNCTION batchup.gc(p_upload_expiry_seconds integer, p_link_ttl_seconds integer DEFAULT NULL,
                                      p_retention_seconds integer DEFAULT NULL)
RETURNS TABLE (kind text, file_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_files    uuid[];
    v_batches  uuid[];
    v_batch    record;
    v_user     integer;
BEGIN
    PERFORM batchup.check_positive(p_upload_expiry_seconds, 'p_upload_expiry_seconds');
    IF p_retention_seconds IS NOT NULL AND p_retention_seconds < 0 THEN
        RAISE EXCEPTION 'p_retention_seconds must be 0 or more, not %', p_retention_seconds USING ERRCODE = 'BU400';
    END IF;
    IF NOT pg_try_advisory_xact_lock(batchup.lock_namespace(), -1) THEN
        RETURN;
    END IF;

    -- Uploads nobody touched for too long.  What counts is the batch's last
    -- activity (its creation, any file's progress, claim or completion: the
    -- updated_at or last_seen_at of its files that are neither aborted nor
    -- expired), not the file's own: a file still waiting
    -- its turn in a batch whose other files are uploading is not abandoned,
    -- and expiring it would expire the batch and delete its completed
    -- files.  Rows locked by a request are in use: skip them.  Their slots
    -- go with them (trigger).
    -- An unfinished file's batch is 'uploading' (it changes status when its
    -- last file finishes), so the idle batches are found through the index
    -- of those, and their files through (batch_id, ordinal).
    WITH idle AS (
        SELECT b.id FROM batchup.batches b
         WHERE b.status = 'uploading'
           AND NOT EXISTS (
               SELECT 1 FROM batchup.files g
                WHERE g.batch_id = b.id AND g.status NOT IN ('aborted', 'expired')
                  AND greatest(g.updated_at, g.last_seen_at)
                      >= now() - make_interval(secs => p_upload_expiry_seconds))
    ), stale AS (
        SELECT f.id FROM batchup.files f JOIN idle ON f.batch_id = idle.id
         WHERE f.status IN ('pending', 'queued', 'uploading')
         ORDER BY f.id
           FOR NO KEY UPDATE OF f SKIP LOCKED
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
        PERFORM batchup.count_finished(v_batch.id, v_batch.n, coalesce(p_link_ttl_seconds, 604800));
    END LOOP;
    RETURN QUERY SELECT 'partial'::text, x.id FROM unnest(v_files) AS x(id);

    -- An open batch never finishes by itself (more files may come): one
    -- left alone as long, its unfinished files expired just above, expires
    -- here, and its completed files go with the purge below.  Its creation
    -- counts as activity, so a new open batch with no file yet lives too.
    UPDATE batchup.batches b SET status = 'expired'
     WHERE b.status = 'uploading' AND b.open AND b.files_remaining = 0
       AND b.created_at < now() - make_interval(secs => p_upload_expiry_seconds)
       AND NOT EXISTS (
           SELECT 1 FROM batchup.files g
            WHERE g.batch_id = b.id
              AND greatest(g.updated_at, g.last_seen_at)
                  >= now() - make_interval(secs => p_upload_expiry_seconds));

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

    -- Retention: purged batches older than p_retention_seconds are deleted
    -- with their files and hook events (the cascade), their data being
    -- gone since the purge; their old link then answers 404, not 410.
    -- Each user's under that user's lock, as create_batch counts the rows
    -- under it; a user busy now is done at a later pass.  At most 1000
    -- batches a pass keep the transaction short.
    IF p_retention_seconds IS NOT NULL THEN
        FOR v_user IN SELECT DISTINCT x.user_id
                        FROM (SELECT b.user_id FROM batchup.batches b
                               WHERE b.purged_at < now() - make_interval(secs => p_retention_seconds)
                               ORDER BY b.purged_at LIMIT 1000) x
                       ORDER BY 1 LOOP
            CONTINUE WHEN NOT pg_try_advisory_xact_lock(batchup.lock_namespace(), v_user);
            DELETE FROM batchup.batches b
             WHERE b.id IN (SELECT d.id FROM batchup.batches d
                             WHERE d.user_id = v_user
                               AND d.purged_at < now() - make_interval(secs => p_retention_seconds)
                             ORDER BY d.purged_at LIMIT 1000
                               FOR UPDATE SKIP LOCKED);
        END LOOP;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.gc(integer, integer, integer) IS
    'One maintenance pass: expires the unfinished files of batches with no activity (no file updated or asked for a slot) for p_upload_expiry_seconds (rows kind=partial: delete their partial data; a batch left with completed files completes, its link valid p_link_ttl_seconds), frees slots whose lease ran out, expires batches whose link ran out or that can never get one (rows kind=file: delete the stored data of these completed files; each is returned once), and deletes the rows of batches purged more than p_retention_seconds ago (NULL: never). Returns nothing when another pass is running (advisory lock (lock_namespace(), -1)).';

-- The orphan sweep: batchup gc lists the files it finds under storage_dir
-- (old enough that no upload can be just starting) and asks which of them
-- the database still wants.  Data is wanted while its file is unfinished,
-- or completed in a batch whose data was not handed out for deletion; the
-- rest (a deleted batch's file that a PATCH racing the DELETE re-created, a
-- crash between a commit and the removal) is removed by the caller.
CREATE OR REPLACE FUNCTION batchup.live_files(p_ids uuid[]) RETURNS TABLE (file_id uuid)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.id FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id
     WHERE f.id = ANY (p_ids)
       AND (f.status IN ('pending', 'queued', 'uploading')
            OR (f.status = 'completed' AND b.purged_at IS NULL));
END;

COMMENT ON FUNCTION batchup.live_files(uuid[]) IS
    'Of the file ids p_ids (found on disk by the orphan sweep), those whose data is still wanted: unfinished files, and completed files of batches not yet purged. The caller removes the data of the others.';

-- The orphan sweep's guard: the identity of this database, which `batchup
-- migrate` writes into storage_dir (.batchup-database) and the sweep
-- compares before it deletes anything there.
CREATE OR REPLACE FUNCTION batchup.installation_id() RETURNS uuid
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT i.id FROM batchup.installation i;
END;

COMMENT ON FUNCTION batchup.installation_id() IS
    'This database''s identity (batchup.installation): the orphan sweep deletes files only in a storage_dir whose marker file .batchup-database holds it.';

-- The shared store's check at start (migration 016, app/storecheck.c): the
-- other hosts seen within p_window_seconds, whose nonce files a starting
-- host p_host reads back from its storage_dir.  Rows older than the window
-- are forgotten first (a host removed for good).
CREATE OR REPLACE FUNCTION batchup.store_hosts_others(p_host text, p_window_seconds integer)
RETURNS TABLE (host text, nonce text, storage_dir text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM batchup.check_positive(p_window_seconds, 'p_window_seconds');
    DELETE FROM batchup.store_hosts s WHERE s.seen_at < now() - make_interval(secs => p_window_seconds);
    RETURN QUERY SELECT s.host, s.nonce, s.storage_dir FROM batchup.store_hosts s
                  WHERE s.host <> p_host ORDER BY s.host;
END;
$$;

COMMENT ON FUNCTION batchup.store_hosts_others(text, integer) IS
    'The hosts other than p_host that shared storage_dir within the last p_window_seconds (older rows are deleted): their nonces, which a starting host must find in its storage_dir/.batchup-hosts/.';

-- A host that passed the check records the nonce it wrote (p_register), or
-- a running one renews its row as long as the nonce is still its own.
CREATE OR REPLACE FUNCTION batchup.store_host_seen(p_host text, p_nonce text, p_storage_dir text,
                                                   p_register boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_register THEN
        INSERT INTO batchup.store_hosts AS s (host, nonce, storage_dir)
        VALUES (p_host, p_nonce, p_storage_dir)
        ON CONFLICT (host) DO UPDATE
           SET nonce = EXCLUDED.nonce, storage_dir = EXCLUDED.storage_dir, seen_at = now();
    ELSE
        UPDATE batchup.store_hosts s SET seen_at = now() WHERE s.host = p_host AND s.nonce = p_nonce;
    END IF;
END;
$$;

COMMENT ON FUNCTION batchup.store_host_seen(text, text, text, boolean) IS
    'Host p_host wrote p_nonce into p_storage_dir/.batchup-hosts/p_host and passed the start check (p_register: its row is written), or is still running with it (its row renewed, unless a newer start of the same host replaced the nonce).';
