-- SPDX-License-Identifier: BSD-2-Clause
-- 10_common.sql: what every other definition uses: the advisory lock
-- namespace, the error codes, argument checks, time formatting, download
-- tokens, and the two derived states everything agrees on (a batch's status
-- as users see it, a waiter's place in its queue).
--
-- The files of sql/functions/ hold batchup's functions and views: the code
-- of the database, as opposed to its data (the tables of the numbered
-- migrations in sql/).  `batchup migrate` applies them all, in name order
-- and in one transaction, whenever their content changed since the last
-- run (batchup.schema_functions records a SHA-256 of each), so what runs is
-- always what these files say.  Every definition is CREATE OR REPLACE; one
-- whose signature changes drops the old one first, in the same file.
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
-- Errors carry SQLSTATEs of the class BU followed by the HTTP status the
-- worker answers with, one condition each; the worker's error table
-- (include/batchup/error.h) gives each the same code word the API uses:
--   BU400  bad_request        a bad argument (the C code checks first)
--   BU404  not_found          no such file
--   BU409  offset_mismatch    an offset going backwards or past the size
--   BU410  upload_gone        the file is completed, aborted or expired
--   BU460  checksum_mismatch  the bytes do not match the announced SHA-256

CREATE OR REPLACE FUNCTION batchup.lock_namespace() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 1651865712;

COMMENT ON FUNCTION batchup.lock_namespace() IS
    'The advisory lock namespace of batchup, 1651865712 (0x62757870, "buxp"): locks (NS, user id) serialise one user''s slot decisions, (NS, 0) the global active-users cap, (NS, -1) the maintenance pass. Appears as pg_locks.classid.';

CREATE OR REPLACE FUNCTION batchup.check_positive(p_value integer, p_name text) RETURNS void
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

CREATE OR REPLACE FUNCTION batchup.rfc3339(p_time timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

COMMENT ON FUNCTION batchup.rfc3339(timestamptz) IS
    'p_time as RFC 3339 in UTC to the second, e.g. 2025-01-31T12:00:00Z, whatever the session''s TimeZone.';

-- A fresh download token: two random UUIDs (244 random bits) in URL-safe
-- base64 without padding, 43 characters.  gen_random_uuid() draws from the
-- same strong source as pgcrypto, so pgcrypto is not needed.
CREATE OR REPLACE FUNCTION batchup.new_download_token() RETURNS text
LANGUAGE sql VOLATILE
RETURN translate(rtrim(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'base64'), '='),
                 '+/', '-_');

COMMENT ON FUNCTION batchup.new_download_token() IS
    'A new batch download token: 244 random bits, URL-safe base64 without padding.';

CREATE OR REPLACE FUNCTION batchup.batch_api_status(p_status text, p_link_expires_at timestamptz) RETURNS text
LANGUAGE sql STABLE
RETURN CASE WHEN p_status = 'complete' AND p_link_expires_at < now() THEN 'expired' ELSE p_status END;

COMMENT ON FUNCTION batchup.batch_api_status(text, timestamptz) IS
    'A batch''s status as users see it: complete only while its link lives, then expired.';

-- 1-based place of a waiter among its owner's live waiters, by (queued_at,
-- id).  Only meaningful for a live waiter; the views and claim_slot agree on
-- it because they all call this.
CREATE OR REPLACE FUNCTION batchup.queue_position(p_user integer, p_queued_at timestamptz, p_file uuid)
RETURNS integer
LANGUAGE sql STABLE
RETURN 1 + (SELECT count(*)::integer FROM batchup.files w
             WHERE w.user_id = p_user AND w.queued_at IS NOT NULL AND w.status = 'queued'
               AND w.queue_live_until >= now()
               AND (w.queued_at, w.id) < (p_queued_at, p_file));

COMMENT ON FUNCTION batchup.queue_position(integer, timestamptz, uuid) IS
    'Place (1 = next) of the waiter (p_queued_at, p_file) among the live waiters of p_user, first come first served.';
