// SPDX-License-Identifier: BSD-2-Clause
// tus-queue.mjs: a file queued behind the per-user limit for about
// QUEUE_SECONDS must not fail in tus-js-client with its DEFAULT options
// (retryDelays [0, 1000, 3000, 5000]: about 9 s of retries on a 423);
// driven by tests/integration/60-tus-queue-hold.sh against a stack whose
// queue_hold_seconds holds a queued PATCH for its slot.
//
// The user's limit is 1. File A is a stream trickled at a fixed rate in
// small chunks, so that it holds the slot for about QUEUE_SECONDS; file B
// (1 MiB, default options: no chunkSize, no retryDelays) starts as soon as
// A holds the slot. Checked: A and B both succeed, no onError fires, B
// completes only after A (it waited its turn), it waited longer than the
// client's own retries would have lasted, and B's stored bytes are exact.
//
// Environment: BATCHUP_URL, TOKEN, QUEUE_SECONDS (default 30). Prints
// "ok - ..." / "not ok - ..." / "# ..." lines; exit status 0 when every
// check passed.

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tus from 'tus-js-client';
import { check, deadline, finish, sha256 } from './tap.mjs';

const URL_BASE = process.env.BATCHUP_URL;
const TOKEN = process.env.TOKEN;
const QUEUE = Number(process.env.QUEUE_SECONDS || 30);
const PIECE = 16 * 1024; // A's stream yields this much every PIECE_MS
const PIECE_MS = 250;
const A_SIZE = Math.round((QUEUE * 1000) / PIECE_MS) * PIECE;
const t0 = Date.now();
const now = () => (Date.now() - t0) / 1000;
deadline(QUEUE + 90);

// A's bytes, PIECE every PIECE_MS: the throttle.
async function* trickle(data) {
  for (let i = 0; i < data.length; i += PIECE) {
    yield data.subarray(i, i + PIECE);
    await sleep(PIECE_MS);
  }
}

function upload(name, source, extra) {
  const r = { statuses: [], errors: [], progress: 0 };
  r.done = new Promise((resolve) => {
    const up = new tus.Upload(source, {
      endpoint: `${URL_BASE}/api/v1/files`,
      headers: { Authorization: `Bearer ${TOKEN}` },
      metadata: { filename: name, filetype: 'application/octet-stream' },
      onAfterResponse: (req, res) => {
        if (req.getMethod() === 'PATCH') r.statuses.push(res.getStatus());
      },
      onProgress: (sent) => { r.progress = sent; },
      onError: (e) => { r.errors.push(e); r.end = now(); resolve(); },
      onSuccess: () => { r.end = now(); resolve(); },
      ...extra,
    });
    r.up = up;
    up.start();
  });
  return r;
}

const dataA = randomBytes(A_SIZE);
const dataB = randomBytes(1024 * 1024);
console.log(`# A: ${A_SIZE} bytes at ${(PIECE * 1000) / PIECE_MS / 1024} KiB/s (about ${QUEUE} s); B: ${dataB.length} bytes, default options`);
const a = upload('a.bin', Readable.from(trickle(dataA)), { uploadSize: A_SIZE, chunkSize: 64 * 1024 });
// A holds the slot once its first chunk is on its way.
for (let i = 0; i < 200 && a.progress === 0; i++) await sleep(50);
await sleep(500);
const bStart = now();
const b = upload('b.bin', dataB, {});
await Promise.all([a.done, b.done]);
const waited = b.end - bStart;
console.log(`# A ended at ${a.end.toFixed(1)} s, B started at ${bStart.toFixed(1)} s and ended at ${b.end.toFixed(1)} s (${waited.toFixed(1)} s); B's PATCH statuses: ${b.statuses.join(' ')}`);
check(a.errors.length === 0, 'A (throttled, holding the slot) succeeds', ...a.errors);
check(b.errors.length === 0, 'B, queued behind A with tus-js-client\'s default options, succeeds: no onError', ...b.errors);
check(b.end !== undefined && a.end !== undefined && b.end >= a.end - 0.5,
  `B completed after A released the slot (A ${a.end?.toFixed(1)} s, B ${b.end?.toFixed(1)} s)`);
check(waited > Math.min(QUEUE - 5, 20), `B waited in the queue for ${waited.toFixed(1)} s, far beyond the client's 9 s of retries`);
check(b.statuses.includes(204) && b.statuses.filter((s) => s >= 500).length === 0,
  `B's PATCHes ended in 204, none in 5xx (${b.statuses.join(' ')})`);
if (b.errors.length === 0) {
  const id = b.up.url.split('/').pop();
  const got = await fetch(`${URL_BASE}/api/v1/download/stream/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const body = Buffer.from(await got.arrayBuffer());
  check(got.status === 200 && sha256(body) === sha256(dataB), `B's stored file is its bytes, exactly (${body.length} bytes)`);
} else {
  check(false, 'B\'s stored file is its bytes, exactly (B failed)');
}
finish();
