-- SPDX-License-Identifier: BSD-2-Clause
-- 80_hooks.sql: batch-completion hooks: the triggers that fill the outbox
-- (batchup.hook_events, migration 007), the deliverer's three calls, the
-- administrators' view and retry.
--
-- Events are written by triggers on the status changes, in the same
-- transaction, so no code path can complete a batch (or abort or expire a
-- file) without its event, and no event exists for a change that rolled
-- back.  Each insert sends NOTIFY batchup_hook (delivered at commit), which
-- wakes the hooks child at once; its periodic timer covers retries and a
-- lost notification.
--
-- Delivery: hook_claim hands out one due event FOR UPDATE SKIP LOCKED and
-- moves its next_attempt_at past a lease in the same statement, so no other
-- deliverer, on this host or another, takes it while it is being delivered;
-- if the deliverer dies, the lease runs out and the event is claimed again.
-- hook_target_done records each target (command, url) that accepted it, so
-- a retry does not repeat them; hook_finish records the outcome.
--
-- Only what somebody will receive is queued: a running hooks child
-- registers the kinds it delivers (hook_register, renewed while it runs,
-- batchup.hook_subscribers), and the triggers write an event only while a
-- live registration names its kind.  With no hook configured nothing
-- piles up, and a hook configured later receives the events that happen
-- from then on, not a flood of old ones.  A registration outlives its
-- child by the lease, so a restart of the server loses no event.
--
-- Fairness: hook_claim serves users in turn, the one served longest ago
-- first (users.hook_served_at), then that user's oldest due event; a
-- user's thousands of events delay another user's next event by at most
-- one delivery per user with events waiting.

-- Does a live registration want events of kind p_kind?
CREATE OR REPLACE FUNCTION batchup.hook_wanted(p_kind text) RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM batchup.hook_subscribers s WHERE s.live_until > now() AND p_kind = ANY (s.kinds));

COMMENT ON FUNCTION batchup.hook_wanted(text) IS
    'Whether a hooks child registered for events of kind p_kind and its registration is live: the outbox triggers queue an event only then.';

-- A hooks child's registration, made when it starts and renewed while it
-- runs: deliverer names it (one per host), p_kinds the kinds it delivers.
CREATE OR REPLACE FUNCTION batchup.hook_register(p_deliverer text, p_kinds text[], p_lease_seconds integer)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM batchup.check_positive(p_lease_seconds, 'p_lease_seconds');
    INSERT INTO batchup.hook_subscribers AS s (deliverer, kinds, live_until)
    VALUES (p_deliverer, p_kinds, now() + make_interval(secs => p_lease_seconds))
    ON CONFLICT (deliverer) DO UPDATE SET kinds = EXCLUDED.kinds, live_until = EXCLUDED.live_until;
    DELETE FROM batchup.hook_subscribers s WHERE s.live_until < now() - interval '1 day';
END;
$$;

COMMENT ON FUNCTION batchup.hook_register(text, text[], integer) IS
    'The hooks child p_deliverer delivers events of kinds p_kinds: events of those kinds are queued for the next p_lease_seconds (the child renews it while it runs). Registrations dead for a day are forgotten.';

CREATE OR REPLACE FUNCTION batchup.hook_batch_complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT batchup.hook_wanted('batch_complete') THEN
        RETURN NULL;
    END IF;
    INSERT INTO batchup.hook_events (kind, batch_id, user_id) VALUES ('batch_complete', NEW.id, NEW.user_id)
    RETURNING id INTO v_id;
    PERFORM pg_notify('batchup_hook', v_id::text);
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION batchup.hook_batch_complete() IS
    'Trigger function: records the batch_complete event of a batch that just became complete, and sends NOTIFY batchup_hook; nothing when no live hooks child delivers that kind (batchup.hook_wanted).';

CREATE OR REPLACE TRIGGER hook_batch_complete
    AFTER UPDATE OF status ON batchup.batches
    FOR EACH ROW
    WHEN (NEW.status = 'complete' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION batchup.hook_batch_complete();

COMMENT ON TRIGGER hook_batch_complete ON batchup.batches IS
    'Writes the batch_complete hook event in the transaction that completes the batch.';

CREATE OR REPLACE TRIGGER hook_batch_complete_insert
    AFTER INSERT ON batchup.batches
    FOR EACH ROW
    WHEN (NEW.status = 'complete')
    EXECUTE FUNCTION batchup.hook_batch_complete();

COMMENT ON TRIGGER hook_batch_complete_insert ON batchup.batches IS
    'Writes the batch_complete hook event of a batch inserted complete (by hand: batchup itself always completes a batch by an UPDATE).';

CREATE OR REPLACE FUNCTION batchup.hook_file_finished() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id uuid;
BEGIN
    IF NOT batchup.hook_wanted('file_' || NEW.status) THEN
        RETURN NULL;
    END IF;
    INSERT INTO batchup.hook_events (kind, batch_id, file_id, user_id)
    VALUES ('file_' || NEW.status, NEW.batch_id, NEW.id, NEW.user_id) RETURNING id INTO v_id;
    PERFORM pg_notify('batchup_hook', v_id::text);
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION batchup.hook_file_finished() IS
    'Trigger function: records the file_aborted or file_expired event of a file that just became aborted or expired, and sends NOTIFY batchup_hook; nothing when no live hooks child delivers that kind.';

CREATE OR REPLACE TRIGGER hook_file_finished
    AFTER UPDATE OF status ON batchup.files
    FOR EACH ROW
    WHEN (NEW.status IN ('aborted', 'expired') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION batchup.hook_file_finished();

COMMENT ON TRIGGER hook_file_finished ON batchup.files IS
    'Writes the file_aborted / file_expired hook event in the transaction that aborts or expires the file.';

-- The JSON document of an event, as receivers get it (the command on its
-- standard input, the URL as the POST body).
CREATE OR REPLACE FUNCTION batchup.hook_payload(p_event uuid) RETURNS json
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT json_build_object(
               'id', e.id,
               'type', e.kind,
               'occurred_at', batchup.rfc3339(e.occurred_at),
               'attempt', e.attempts,
               'batch_id', e.batch_id,
               'user', u.name,
               'download_url', CASE WHEN b.download_token IS NOT NULL
                                    THEN '/api/v1/download/batch/' || b.download_token END,
               'expires_at', batchup.rfc3339(b.link_expires_at),
               'files_total', b.files_total,
               'file_id', e.file_id,
               'file_name', f.name)
      FROM batchup.hook_events e
      JOIN batchup.batches b ON b.id = e.batch_id
      JOIN batchup.users u ON u.id = b.user_id
      LEFT JOIN batchup.files f ON f.id = e.file_id
     WHERE e.id = p_event;
END;

COMMENT ON FUNCTION batchup.hook_payload(uuid) IS
    'The JSON of hook event p_event: id, type, occurred_at, attempt, batch_id, user, download_url (the batch link''s path, a secret; NULL before the batch completed), expires_at, files_total, file_id and file_name (file events).';

-- Hand out one due event of the kinds p_kinds, leased for p_lease_seconds.
-- Pending events of other kinds are marked skipped first, so that they do
-- not wait for ever.
CREATE OR REPLACE FUNCTION batchup.hook_claim(p_kinds text[], p_lease_seconds integer)
RETURNS TABLE (event_id uuid, kind text, batch_id uuid, file_id uuid, user_name text,
               download_url text, attempt integer, command_done boolean, url_done boolean,
               payload text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_event uuid;
    v_user  integer;
BEGIN
    PERFORM batchup.check_positive(p_lease_seconds, 'p_lease_seconds');
    UPDATE batchup.hook_events e
       SET status = 'skipped', last_error = 'its kind is not in hook_events'
     WHERE e.status = 'pending' AND e.next_attempt_at <= now() AND e.kind <> ALL (p_kinds);

    -- Users with a due event, the one served longest ago first; of the
    -- first whose events are not all taken by another deliverer, the
    -- oldest due event.  Found from the due events (an empty range of
    -- hook_events_due_idx when nothing is due, as most of the time), not
    -- from every user.
    FOR v_user IN
        SELECT u.id
          FROM (SELECT DISTINCT d.user_id FROM batchup.hook_events d
                 WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND d.kind = ANY (p_kinds)) w
          JOIN batchup.users u ON u.id = w.user_id
         ORDER BY u.hook_served_at NULLS FIRST, u.id
    LOOP
        WITH due AS (
            SELECT d.id FROM batchup.hook_events d
             WHERE d.user_id = v_user AND d.status = 'pending' AND d.next_attempt_at <= now()
               AND d.kind = ANY (p_kinds)
             ORDER BY d.next_attempt_at, d.id
             LIMIT 1
               FOR UPDATE SKIP LOCKED)
        UPDATE batchup.hook_events e
           SET attempts = e.attempts + 1, next_attempt_at = now() + make_interval(secs => p_lease_seconds)
          FROM due WHERE e.id = due.id
        RETURNING e.id INTO v_event;
        IF v_event IS NOT NULL THEN
            -- clock_timestamp: several claims in one transaction (a test)
            -- still take turns.
            UPDATE batchup.users u SET hook_served_at = clock_timestamp() WHERE u.id = v_user;
            EXIT;
        END IF;
    END LOOP;
    IF v_event IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
        SELECT e.id, e.kind, e.batch_id, e.file_id, u.name,
               CASE WHEN b.download_token IS NOT NULL THEN '/api/v1/download/batch/' || b.download_token END,
               e.attempts, 'command' = ANY (e.targets_done), 'url' = ANY (e.targets_done),
               batchup.hook_payload(e.id)::text
          FROM batchup.hook_events e
          JOIN batchup.batches b ON b.id = e.batch_id
          JOIN batchup.users u ON u.id = b.user_id
         WHERE e.id = v_event;
END;
$$;

COMMENT ON FUNCTION batchup.hook_claim(text[], integer) IS
    'The hooks child''s claim: one pending event of a kind in p_kinds whose next attempt is due, of the user with due events served longest ago (round robin across users), taken FOR UPDATE SKIP LOCKED, its attempts counted and its next_attempt_at moved p_lease_seconds ahead (the lease: no other deliverer takes it meanwhile). No row when none is due. Pending events of other kinds become skipped.';

CREATE OR REPLACE FUNCTION batchup.hook_target_done(p_event uuid, p_target text) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    UPDATE batchup.hook_events e
       SET targets_done = e.targets_done || p_target
     WHERE e.id = p_event AND e.status = 'pending' AND NOT (p_target = ANY (e.targets_done));
END;

COMMENT ON FUNCTION batchup.hook_target_done(uuid, text) IS
    'Records that target p_target (command or url) accepted event p_event: a retry of the event skips it.';

-- The outcome of one delivery attempt: p_error NULL when every configured
-- target accepted the event.  A failure schedules the next attempt after
-- p_retry_seconds doubled for each attempt before (at most an hour, or
-- p_retry_seconds when that is longer), or gives the event up once
-- p_max_attempts were made.
CREATE OR REPLACE FUNCTION batchup.hook_finish(p_event uuid, p_error text, p_retry_seconds integer,
                                               p_max_attempts integer) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_status text;
BEGIN
    PERFORM batchup.check_positive(p_retry_seconds, 'p_retry_seconds');
    PERFORM batchup.check_positive(p_max_attempts, 'p_max_attempts');
    IF p_error IS NULL THEN
        UPDATE batchup.hook_events e
           SET status = 'delivered', delivered_at = now(), last_error = NULL
         WHERE e.id = p_event AND e.status = 'pending'
        RETURNING e.status INTO v_status;
    ELSE
        UPDATE batchup.hook_events e
           SET last_error = left(p_error, 500),
               status = CASE WHEN e.attempts >= p_max_attempts THEN 'failed' ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => least(
                   p_retry_seconds::double precision * power(2, greatest(e.attempts - 1, 0)),
                   greatest(3600, p_retry_seconds)))
         WHERE e.id = p_event AND e.status = 'pending'
        RETURNING e.status INTO v_status;
    END IF;
    RETURN v_status;
END;
$$;

COMMENT ON FUNCTION batchup.hook_finish(uuid, text, integer, integer) IS
    'Records the outcome of a delivery attempt of p_event: delivered when p_error is NULL; else last_error, and the next attempt after p_retry_seconds * 2^(attempts - 1) (at most an hour), or failed once attempts reached p_max_attempts. Returns the new status (NULL: the event was not pending).';

CREATE OR REPLACE FUNCTION batchup.hook_retry(p_event uuid) RETURNS boolean
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    WITH again AS (
        UPDATE batchup.hook_events e
           SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
         WHERE e.id = p_event AND e.status IN ('failed', 'skipped')
        RETURNING e.id)
    SELECT count(*) = 1 FROM again;
END;

COMMENT ON FUNCTION batchup.hook_retry(uuid) IS
    'For administrators: deliver a failed or skipped event again, from its first attempt. Returns whether it was failed or skipped.';

CREATE OR REPLACE VIEW batchup.hook_deliveries AS
SELECT e.id AS event_id,
       e.kind,
       e.batch_id,
       e.file_id,
       u.name AS user_name,
       e.status,
       e.attempts,
       CASE WHEN e.status = 'pending' THEN e.next_attempt_at END AS next_attempt_at,
       e.delivered_at,
       e.last_error,
       e.targets_done,
       e.occurred_at
  FROM batchup.hook_events e
  JOIN batchup.batches b ON b.id = e.batch_id
  JOIN batchup.users u ON u.id = b.user_id;

COMMENT ON VIEW batchup.hook_deliveries IS
    'Hook events and their delivery: status (pending, delivered, failed, skipped), attempts made, when the next is due (pending only: after a failure the backoff, during a delivery its lease), when it was delivered, the last error, and the targets (command, url) that accepted it already.';
