-- 003_views.sql: what people see: the API's view of files and batches, and
-- the views a database administrator queries with psql.
--
-- Stored statuses are what the last writer wrote; what is true now also
-- depends on the clock.  A slot whose lease ran out is free even before a
-- reaper deletes its row; a waiter whose client stopped asking no longer
-- blocks anyone; a link past its expiry is dead even before batchup.gc
-- marks its batch expired.  Every reader goes through the definitions below
-- (batchup.api_files, batchup.batch_api_status), so the API, the CLI and the
-- administrator's views never disagree.

CREATE FUNCTION batchup.rfc3339(p_time timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

COMMENT ON FUNCTION batchup.rfc3339(timestamptz) IS
    'p_time as RFC 3339 in UTC to the second, e.g. 2025-01-31T12:00:00Z, whatever the session''s TimeZone.';

CREATE FUNCTION batchup.batch_api_status(p_status text, p_link_expires_at timestamptz) RETURNS text
LANGUAGE sql STABLE
RETURN CASE WHEN p_status = 'complete' AND p_link_expires_at < now() THEN 'expired' ELSE p_status END;

COMMENT ON FUNCTION batchup.batch_api_status(text, timestamptz) IS
    'A batch''s status as users see it: complete only while its link lives, then expired.';

CREATE VIEW batchup.api_files AS
SELECT f.id, f.batch_id, f.user_id, f.ordinal, f.name, f.media_type, f.size, f.upload_offset,
       f.expected_sha256, f.sha256, f.created_at, f.updated_at, f.completed_at, d.status,
       CASE WHEN d.status = 'queued' THEN batchup.queue_position(f.user_id, f.queued_at, f.id) END AS queue_position,
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

CREATE FUNCTION batchup.batch_json(p_batch uuid, p_user integer) RETURNS json
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
    'The API''s JSON for a batch (SPEC section 4), files in creation order; sha256 is the stored checksum, else the announced one. NULL when the batch does not exist or is not p_user''s (p_user NULL: no ownership check).';

CREATE FUNCTION batchup.file_state(p_file uuid, p_user integer)
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

-- The administrators' views (SPEC section 5).

CREATE VIEW batchup.active_slots AS
SELECT u.name AS user_name, s.file_id, f.batch_id, s.acquired_at, s.lease_expires_at,
       f.upload_offset AS bytes_received, f.size, s.user_id
  FROM batchup.slots s
  JOIN batchup.files f ON f.id = s.file_id
  JOIN batchup.users u ON u.id = s.user_id
 WHERE s.lease_expires_at >= now();

COMMENT ON VIEW batchup.active_slots IS
    'Upload slots held now, one row each (a slot whose lease ran out is free and not shown, even before its row is reaped).';

CREATE VIEW batchup.upload_queue AS
SELECT u.name AS user_name, f.id AS file_id, f.batch_id,
       row_number() OVER (PARTITION BY f.user_id ORDER BY f.queued_at, f.id)::integer AS position,
       f.queued_at, f.last_seen_at, f.queue_live_until, f.user_id
  FROM batchup.files f
  JOIN batchup.users u ON u.id = f.user_id
 WHERE f.status = 'queued' AND f.queue_live_until >= now();

COMMENT ON VIEW batchup.upload_queue IS
    'Files waiting for a slot whose client is still asking (live waiters), with their place in their owner''s first-come-first-served queue (position 1 = next). A waiter silent past queue_live_until drops out until it asks again, then rejoins at the back.';

CREATE VIEW batchup.batch_progress AS
SELECT b.id AS batch_id, u.name AS user_name,
       batchup.batch_api_status(b.status, b.link_expires_at) AS status,
       b.files_total,
       count(*) FILTER (WHERE f.status = 'completed')::integer AS files_completed,
       count(*) FILTER (WHERE f.status = 'aborted')::integer AS files_aborted,
       coalesce(sum(f.size) FILTER (WHERE f.status <> 'aborted'), 0)::bigint AS bytes_total,
       coalesce(sum(f.upload_offset) FILTER (WHERE f.status <> 'aborted'), 0)::bigint AS bytes_received,
       b.created_at, b.completed_at, b.download_token, b.link_expires_at
  FROM batchup.batches b
  JOIN batchup.users u ON u.id = b.user_id
  JOIN batchup.files f ON f.batch_id = b.id
 GROUP BY b.id, u.name;

COMMENT ON VIEW batchup.batch_progress IS
    'One row per batch: status as users see it, files completed and aborted, bytes received of bytes to send (aborted files left out), and the download token once complete.';
COMMENT ON COLUMN batchup.batch_progress.download_token IS
    'The link''s capability: anyone holding it can download the batch while the link lives.';

CREATE VIEW batchup.user_usage AS
SELECT u.name AS user_name, u.slot_limit,
       (SELECT count(*) FROM batchup.slots s
         WHERE s.user_id = u.id AND s.lease_expires_at >= now())::integer AS active,
       (SELECT count(*) FROM batchup.files f
         WHERE f.user_id = u.id AND f.status = 'queued' AND f.queue_live_until >= now())::integer AS queued,
       u.id AS user_id
  FROM batchup.users u;

COMMENT ON VIEW batchup.user_usage IS
    'Per user: slot_limit as stored (0 = the server''s per_user_limit, which only the configuration knows), slots held now (active) and live waiters (queued).';

CREATE VIEW batchup.user_list AS
SELECT uu.user_name, uu.slot_limit, uu.active, uu.queued, u.token_hash IS NOT NULL AS has_token, u.created_at
  FROM batchup.user_usage uu
  JOIN batchup.users u ON u.id = uu.user_id
 ORDER BY uu.user_name;

COMMENT ON VIEW batchup.user_list IS
    'What `batchup user list` prints, by name: limit (0 = server default), active and queued uploads, whether a token is set.';

CREATE VIEW batchup.slot_locks AS
SELECT l.pid, l.granted, k.key, u.name AS user_name,
       CASE WHEN k.key > 0 THEN 'user' WHEN k.key = 0 THEN 'active users cap' ELSE 'maintenance' END AS purpose,
       l.mode
  FROM pg_locks l
 -- objid is an oid (unsigned): key -1 reads 4294967295 there.
 CROSS JOIN LATERAL (SELECT (l.objid::bigint - CASE WHEN l.objid::bigint > 2147483647 THEN 4294967296 ELSE 0 END)::integer AS key) k
  LEFT JOIN batchup.users u ON u.id = k.key
 WHERE l.locktype = 'advisory' AND l.objsubid = 2
   AND l.classid = batchup.lock_namespace()::oid
   AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());

COMMENT ON VIEW batchup.slot_locks IS
    'batchup''s advisory locks in this database, held or awaited (granted false): pg_locks rows with classid = batchup.lock_namespace() (1651865712). key is the user id (user_name set), 0 for the global active-users cap, -1 for the maintenance pass.';
