// SPDX-License-Identifier: BSD-2-Clause
// tus-concat.mjs: stock tus-js-client with parallelUploads: 4 (tus's
// concatenation extension) against batchup; driven by
// tests/integration/55-tus-concat-client.sh.
//
// A batch declares big.bin (a few MiB) and notes.txt.  tus-js-client sends
// big.bin as four partial uploads and one final naming the batch in its
// metadata; notes.txt goes as a plain upload.  Checked: the client reports
// success, it sent four partials and one final, the final is the declared
// file (same URL), the batch is complete with exactly its two files and
// one link, and big.bin downloads byte for byte with the SHA-256 the
// database recorded.  Then uploadLengthDeferred: a stream of unknown
// length, uploaded and stored byte for byte.
//
// Environment: BATCHUP_URL, TOKEN. Prints "ok - ..." / "not ok - ..." /
// "# ..." lines; exit status 0 when every check passed.

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';
import { check, deadline, finish, sha256 } from './tap.mjs';

const URL_BASE = process.env.BATCHUP_URL;
const TOKEN = process.env.TOKEN;
const AUTH = { Authorization: `Bearer ${TOKEN}` };
deadline(60);

function upload(input, options) {
  const sent = [];
  return new Promise((resolve) => {
    const up = new tus.Upload(input, {
      endpoint: `${URL_BASE}/api/v1/files`,
      headers: AUTH,
      retryDelays: [0, 1000, 3000, 5000],
      onBeforeRequest: (req) => {
        sent.push(`${req.getMethod()} ${req.getHeader('Upload-Concat') ?? ''}`);
      },
      onError: (e) => resolve({ error: e, up, sent }),
      onSuccess: () => resolve({ up, sent }),
      ...options,
    });
    up.start();
  });
}

const getJson = async (path) => (await fetch(`${URL_BASE}${path}`, { headers: AUTH })).json();
const download = async (id) => {
  const r = await fetch(`${URL_BASE}/api/v1/download/stream/${id}`, { headers: AUTH });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
};

// --- parallelUploads: 4 into a declared batch ------------------------------
const big = randomBytes(5 * 1024 * 1024 + 12345);
const notes = Buffer.from('four partials and one final\n');
const created = await fetch(`${URL_BASE}/api/v1/batches`, {
  method: 'POST',
  headers: { ...AUTH, 'Content-Type': 'application/json' },
  body: JSON.stringify({ files: [{ name: 'big.bin', size: big.length }, { name: 'notes.txt', size: notes.length }] }),
});
const batch = await created.json();
check(created.status === 201, 'a batch declaring big.bin and notes.txt', created.status);

const r = await upload(big, {
  parallelUploads: 4,
  metadata: { filename: 'big.bin', filetype: 'application/octet-stream', batch: batch.id },
});
check(!r.error, 'tus-js-client with parallelUploads: 4 reports success', r.error);
const partials = r.sent.filter((s) => s === 'POST partial').length;
const finals = r.sent.filter((s) => s.startsWith('POST final;')).length;
check(partials === 4 && finals === 1, `it sent 4 partial uploads and 1 final (${partials}, ${finals})`, r.sent.join('\n'));
const declared = batch.files.find((f) => f.name === 'big.bin');
check(r.up.url && r.up.url.endsWith(declared.upload_url),
  'the final is the declared big.bin (its upload URL)', `${r.up.url} vs ${declared.upload_url}`);

const n = await upload(notes, { metadata: { filename: 'notes.txt', filetype: 'text/plain', batch: batch.id } });
check(!n.error, 'notes.txt is uploaded as a plain upload', n.error);

const after = await getJson(`/api/v1/batches/${batch.id}`);
check(after.status === 'complete' && after.files.length === 2 && typeof after.download_url === 'string',
  'the batch is complete, with its two files and one link', JSON.stringify(after).slice(0, 400));
const stored = after.files.find((f) => f.name === 'big.bin');
check(stored && stored.sha256 === sha256(big), 'the SHA-256 recorded for big.bin is the source\'s',
  stored && stored.sha256);
const got = await download(declared.id);
check(got.status === 200 && sha256(got.body) === sha256(big),
  `big.bin downloads byte for byte (${got.body.length} bytes)`);
const list = await getJson('/api/v1/batches');
check(list.batches.length === 1, 'the listing shows one batch: no partial upload in it',
  JSON.stringify(list).slice(0, 400));

// --- uploadLengthDeferred -----------------------------------------------------
const data = randomBytes(700001);
const pieces = [];
for (let i = 0; i < data.length; i += 100000) pieces.push(data.subarray(i, i + 100000));
const d = await upload(Readable.from(pieces, { objectMode: false }), {
  uploadLengthDeferred: true,
  chunkSize: 256 * 1024,
  metadata: { filename: 'stream.bin', filetype: 'application/octet-stream' },
});
check(!d.error, 'tus-js-client with uploadLengthDeferred reports success', d.error);
if (!d.error) {
  const s = await download(d.up.url.split('/').pop());
  check(s.status === 200 && sha256(s.body) === sha256(data),
    `the deferred-length stream is stored byte for byte (${s.body.length} bytes)`);
}
finish();
