-- SPDX-License-Identifier: BSD-2-Clause
-- 70_views.sql: the views a database administrator queries with psql.
--
-- Each shows what is true now (leases and queue liveness read against the
-- clock), through the same definitions the API uses.

CREATE OR REPLACE VIEW batchup.active_slots AS
SELECT u.name AS user_name,
       s.file_id,
       f.batch_id,
       s.acquired_at,
       s.lease_expires_at,
       f.upload_offset AS bytes_received,
       f.size,
       s.user_id
  FROM batchup.slots s
  JOIN batchup.files f ON f.id = s.file_id
  JOIN batchup.users u ON u.id = s.user_id
 WHERE s.lease_expires_at >= now();

COMMENT ON VIEW batchup.active_slots IS
    'Upload slots held now, one row each (a slot whose lease ran out is free and not shown, even before its row is reaped).';

CREATE OR REPLACE VIEW batchup.upload_queue AS
SELECT u.name AS user_name,
       f.id AS file_id,
       f.batch_id,
       row_number() OVER (PARTITION BY f.user_id ORDER BY f.queued_at, f.id)::integer AS position,
       f.queued_at,
       f.last_seen_at,
       f.queue_live_until,
       f.user_id
  FROM batchup.files f
  JOIN batchup.users u ON u.id = f.user_id
 WHERE f.queued_at IS NOT NULL
   AND f.status = 'queued'
   AND f.queue_live_until >= now();

COMMENT ON VIEW batchup.upload_queue IS
    'Files waiting for a slot whose client is still asking (live waiters), with their place in their owner''s first-come-first-served queue (position 1 = next). A waiter silent past queue_live_until drops out until it asks again, then rejoins at the back.';

CREATE OR REPLACE VIEW batchup.batch_progress AS
SELECT b.id AS batch_id,
       u.name AS user_name,
       batchup.batch_api_status(b.status, b.link_expires_at) AS status,
       b.files_total,
       count(*) FILTER (WHERE f.status = 'completed')::integer AS files_completed,
       count(*) FILTER (WHERE f.status = 'aborted')::integer AS files_aborted,
       coalesce(sum(f.size) FILTER (WHERE f.status <> 'aborted'), 0)::bigint AS bytes_total,
       coalesce(sum(f.upload_offset) FILTER (WHERE f.status <> 'aborted'), 0)::bigint AS bytes_received,
       b.created_at,
       b.completed_at,
       b.download_token::text AS download_token,
       b.link_expires_at
  FROM batchup.batches b
  JOIN batchup.users u ON u.id = b.user_id
  JOIN batchup.files f ON f.batch_id = b.id
 GROUP BY b.id, u.name;

COMMENT ON VIEW batchup.batch_progress IS
    'One row per batch: status as users see it, files completed and aborted, bytes received of bytes to send (aborted files left out), and the download token once complete.';
COMMENT ON COLUMN batchup.batch_progress.download_token IS
    'The link''s capability: anyone holding it can download the batch while the link lives.';

CREATE OR REPLACE VIEW batchup.user_usage AS
SELECT u.name AS user_name,
       u.slot_limit,
       (SELECT count(*)
          FROM batchup.slots s
         WHERE s.user_id = u.id
           AND s.lease_expires_at >= now())::integer AS active,
       (SELECT count(*)
          FROM batchup.files f
         WHERE f.user_id = u.id
           AND f.queued_at IS NOT NULL
           AND f.status = 'queued'
           AND f.queue_live_until >= now())::integer AS queued,
       u.id AS user_id
  FROM batchup.users u;

COMMENT ON VIEW batchup.user_usage IS
    'Per user: slot_limit as stored (0 = the server''s per_user_limit, which only the configuration knows), slots held now (active) and live waiters (queued).';

CREATE OR REPLACE VIEW batchup.user_list AS
SELECT uu.user_name,
       uu.slot_limit,
       uu.active,
       uu.queued,
       u.token_hash IS NOT NULL AS has_token,
       u.created_at
  FROM batchup.user_usage uu
  JOIN batchup.users u ON u.id = uu.user_id
 ORDER BY uu.user_name;

COMMENT ON VIEW batchup.user_list IS
    'What `batchup user list` prints, by name: limit (0 = server default), active and queued uploads, whether a token is set.';

CREATE OR REPLACE VIEW batchup.slot_locks AS
SELECT l.pid,
       l.granted,
       k.key,
       u.name AS user_name,
       CASE WHEN k.key > 0 THEN 'user'
            WHEN k.key = 0 THEN 'active users cap'
            ELSE 'maintenance'
       END AS purpose,
       l.mode
  FROM pg_locks l
 -- objid is an oid (unsigned): key -1 reads 4294967295 there.
 CROSS JOIN LATERAL (SELECT (l.objid::bigint - CASE WHEN l.objid::bigint > 2147483647
                                                    THEN 4294967296 ELSE 0 END)::integer AS key) k
  LEFT JOIN batchup.users u ON u.id = k.key
 WHERE l.locktype = 'advisory'
   AND l.objsubid = 2
   AND l.classid = batchup.lock_namespace()::oid
   AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());

COMMENT ON VIEW batchup.slot_locks IS
    'batchup''s advisory locks in this database, held or awaited (granted false): pg_locks rows with classid = batchup.lock_namespace() (1651865712). key is the user id (user_name set), 0 for the global active-users cap, -1 for the maintenance pass.';
