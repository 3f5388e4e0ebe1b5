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
