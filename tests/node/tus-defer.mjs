// SPDX-License-Identifier: BSD-2-Clause
// tus-defer.mjs: stock tus-js-client with uploadLengthDeferred (a stream
// whose length nobody knows in advance) against batchup; driven by
// tests/integration/57-tus-defer-length.sh.
//
// Two streams, read in chunks of 256 KiB: one of four chunks (the length
// rides on the PATCH of the last bytes), one shorter than a chunk (the one
// PATCH tells the length). Checked for each:
// the client reports success, the file is completed with the stream's
// length and SHA-256, and its bytes download identical.
//
// Environment: BATCHUP_URL, TOKEN. Prints "ok - ..." / "not ok - ..." /
// "# ..." lines; exit status 0 when every check passed.

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';
import { check, deadline, finish, sha256 } from './tap.mjs';

const URL_BASE = process.env.BATCHUP_URL;
const TOKEN = process.env.TOKEN;
const CHUNK = 256 * 1024;
deadline(60);

// A stream of data in pieces of 100,000 bytes: nothing tells its length.
function streamOf(data) {
  const pieces = [];
  for (let i = 0; i < data.length; i += 100000) pieces.push(data.subarray(i, i + 100000));
  return Readable.from(pieces, { objectMode: false });
}

async function upload(name, data) {
  const patches = [];
  return new Promise((resolve) => {
    const up = new tus.Upload(streamOf(data), {
      endpoint: `${URL_BASE}/api/v1/files`,
      uploadLengthDeferred: true,
      chunkSize: CHUNK,
      headers: { Authorization: `Bearer ${TOKEN}` },
      metadata: { filename: name, filetype: 'application/octet-stream' },
      retryDelays: [0, 1000, 3000],
      onBeforeRequest: (req) => {
        if (req.getMethod() === 'PATCH') patches.push(req);
      },
      onError: (e) => resolve({ error: e, up, patches }),
      onSuccess: () => resolve({ up, patches }),
    });
    up.start();
  });
}

async function verify(what, name, data) {
  const r = await upload(name, data);
  check(!r.error, `${what}: tus-js-client with uploadLengthDeferred reports success`, r.error);
  if (r.error) return;
  const lengths = r.patches.map((p) => p.getHeader('Upload-Length')).filter((v) => v !== undefined);
  check(lengths.length === 1 && Number(lengths[0]) === data.length,
    `${what}: the length was told once, by a PATCH (${lengths.join(',')})`);
  const head = await fetch(r.up.url, { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN}`, 'Tus-Resumable': '1.0.0' } });
  check(head.headers.get('upload-length') === String(data.length) && head.headers.get('upload-offset') === String(data.length),
    `${what}: HEAD reports the upload complete at ${data.length} bytes`,
    `${head.status} ${head.headers.get('upload-offset')}/${head.headers.get('upload-length')}`);
  const id = r.up.url.split('/').pop();
  const got = await fetch(`${URL_BASE}/api/v1/download/stream/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const body = Buffer.from(await got.arrayBuffer());
  check(got.status === 200 && sha256(body) === sha256(data) && got.headers.get('etag')?.includes(sha256(data)),
    `${what}: the stored file is the stream, byte for byte (${body.length} bytes)`);
}

await verify('a stream of 1,000,037 bytes', 'stream-a.bin', randomBytes(1000037));
await verify('a stream of 5,000 bytes', 'stream-b.bin', randomBytes(5000));
finish();
