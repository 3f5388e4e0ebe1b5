-- SPDX-License-Identifier: BSD-2-Clause
-- Hooks (migration 007, sql/functions/80_hooks.sql): the triggers write one
-- outbox row per batch completion and per file aborted or expired, in the
-- transaction of the change; hook_claim hands out a due event once (its
-- lease), marks kinds not asked for skipped; hook_target_done,
-- hook_finish (delivered, backoff, given up) and hook_retry; the view.
--
-- One transaction: now() stands still, so time passing is simulated by
-- moving next_attempt_at into the past.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(37);
\ir fixtures.psql
-- A hooks child delivering every kind (events are queued only then).
SELECT batchup.hook_register('h_test', ARRAY['batch_complete', 'file_aborted', 'file_expired'], 600);

SELECT has_table('batchup', 'hook_events', 'table batchup.hook_events');
SELECT has_view('batchup', 'hook_deliveries', 'view batchup.hook_deliveries');
SELECT has_trigger('batchup', 'batches', 'hook_batch_complete', 'completion trigger on batches');
SELECT has_trigger('batchup', 'batches', 'hook_batch_complete_insert', 'completion trigger on batch inserts');
SELECT has_trigger('batchup', 'files', 'hook_file_finished', 'abort/expiry trigger on files');
SELECT columns_are('batchup', 'hook_deliveries',
    ARRAY['event_id', 'kind', 'batch_id', 'file_id', 'user_name', 'status', 'attempts', 'next_attempt_at',
          'delivered_at', 'last_error', 'targets_done', 'occurred_at'],
    'hook_deliveries has the documented columns');

SELECT pg_temp.mkuser('h_ann');
SELECT pg_temp.mkbatch('h_ann', 'h_1', 'h_2');
SELECT pg_temp.mkbatch('h_ann', 'h_3', 'h_4', 'h_5');

-- Triggers.
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')), 0,
          'an uploading batch has no event');
SELECT is(pg_temp.claim('h_1'), 'granted', 'h_1 holds a slot');
SELECT is(pg_temp.complete('h_1'), false, 'h_1 completes, the batch does not');
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')), 0,
          'a completed file is no event');
SELECT is(pg_temp.claim('h_2'), 'granted', 'h_2 holds a slot');
SELECT is(pg_temp.complete('h_2'), true, 'h_2 completes the batch');
SELECT results_eq($$SELECT kind, status, attempts, file_id FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')$$,
                  $$VALUES ('batch_complete'::text, 'pending'::text, 0, NULL::uuid)$$,
                  'the completion wrote one pending batch_complete event');
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')), 1,
          'still one event for the batch');

SAVEPOINT before_abort;
SELECT is(batchup.abort_file(pg_temp.fid('h_3'), pg_temp.uid('h_ann'), 3600), 'aborted', 'h_3 aborted');
SELECT results_eq($$SELECT kind, file_id FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_3')$$,
                  $$VALUES ('file_aborted'::text, pg_temp.fid('h_3'))$$,
                  'the abort wrote a file_aborted event for the file');
ROLLBACK TO SAVEPOINT before_abort;
SELECT is((SELECT count(*)::integer FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_3')), 0,
          'rolled back with the abort: no event without its cause');
SELECT is(batchup.abort_file(pg_temp.fid('h_3'), pg_temp.uid('h_ann'), 3600), 'aborted', 'h_3 aborted again');
UPDATE batchup.files SET status = 'expired', updated_at = now() WHERE id = pg_temp.fid('h_4');
SELECT is((SELECT kind FROM batchup.hook_events WHERE file_id = pg_temp.fid('h_4')), 'file_expired',
          'a hand-written expiry writes a file_expired event too');

-- Claiming: only the kinds asked for; the others are skipped.
SELECT results_eq($$SELECT kind, batch_id, user_name, attempt, command_done, url_done,
                           download_url = '/api/v1/download/batch/' || (SELECT download_token FROM batchup.batches WHERE id = pg_temp.bid('h_1'))
                      FROM batchup.hook_claim(ARRAY['batch_complete'], 30)$$,
                  $$VALUES ('batch_complete'::text, pg_temp.bid('h_1'), 'h_ann'::text, 1, false, false, true)$$,
                  'hook_claim hands out the batch_complete event with its owner and link, attempt 1');
SELECT is((SELECT string_agg(kind || ':' || status, ',' ORDER BY kind) FROM batchup.hook_events WHERE file_id IS NOT NULL),
          'file_aborted:skipped,file_expired:skipped', 'file events, not asked for, are skipped');
SELECT is_empty($$SELECT * FROM batchup.hook_claim(ARRAY['batch_complete'], 30)$$,
                'a claimed event is leased: not handed out again');
SELECT ok((SELECT next_attempt_at = now() + interval '30 s' FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          'its next_attempt_at is the lease');
SELECT is((SELECT (batchup.hook_payload(id)::jsonb) - 'occurred_at' - 'expires_at' - 'download_url'
             FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          jsonb_build_object('id', (SELECT id FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
                             'type', 'batch_complete', 'attempt', 1, 'batch_id', pg_temp.bid('h_1'),
                             'user', 'h_ann', 'files_total', 2, 'file_id', NULL, 'file_name', NULL),
          'the JSON document of the event');

-- A failure: backoff.
SELECT lives_ok($$SELECT batchup.hook_target_done(e.id, 'command') FROM batchup.hook_events e WHERE e.batch_id = pg_temp.bid('h_1')$$,
                'one target accepted it');
SELECT is((SELECT batchup.hook_finish(id, 'url: HTTP 500', 10, 3) FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          'pending', 'a failed attempt leaves it pending');
SELECT results_eq($$SELECT attempts, next_attempt_at - now(), last_error, targets_done
                      FROM batchup.hook_deliveries WHERE batch_id = pg_temp.bid('h_1')$$,
                  $$VALUES (1, interval '10 s', 'url: HTTP 500'::text, ARRAY['command'])$$,
                  'the view: 1 attempt, the next after hook_retry_seconds, the error, the target done');
UPDATE batchup.hook_events SET next_attempt_at = now() WHERE batch_id = pg_temp.bid('h_1');
SELECT results_eq($$SELECT attempt, command_done, url_done FROM batchup.hook_claim(ARRAY['batch_complete'], 30)$$,
                  $$VALUES (2, true, false)$$, 'once due it is claimed again: attempt 2, the command already done');
SELECT is((SELECT batchup.hook_finish(id, 'url: HTTP 500', 10, 3) FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          'pending', 'the second failure leaves it pending too');
SELECT is((SELECT next_attempt_at - now() FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          interval '20 s', '... and doubles the delay (20 s)');
UPDATE batchup.hook_events SET next_attempt_at = now() WHERE batch_id = pg_temp.bid('h_1');
SELECT is((SELECT attempt FROM batchup.hook_claim(ARRAY['batch_complete'], 30)), 3, 'attempt 3');
SELECT is((SELECT batchup.hook_finish(id, 'url: timeout', 10, 3) FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          'failed', 'the third failure of 3 allowed gives it up');
SELECT results_eq($$SELECT status, next_attempt_at, last_error FROM batchup.hook_deliveries WHERE batch_id = pg_temp.bid('h_1')$$,
                  $$VALUES ('failed'::text, NULL::timestamptz, 'url: timeout'::text)$$,
                  'the view: failed, no next attempt, the last error');

-- Retry by hand, then success.
SELECT is((SELECT batchup.hook_retry(id) FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')), true,
          'hook_retry makes it pending again');
SELECT is((SELECT attempt FROM batchup.hook_claim(ARRAY['batch_complete'], 30)), 1, 'from attempt 1');
SELECT is((SELECT batchup.hook_finish(id, NULL, 10, 3) FROM batchup.hook_events WHERE batch_id = pg_temp.bid('h_1')),
          'delivered', 'a success: delivered');
SELECT results_eq($$SELECT status, delivered_at = now(), last_error, next_attempt_at FROM batchup.hook_deliveries
                     WHERE batch_id = pg_temp.bid('h_1')$$,
                  $$VALUES ('delivered'::text, true, NULL::text, NULL::timestamptz)$$,
                  'the view: delivered now, no error, no next attempt');

SELECT * FROM finish();
ROLLBACK;
