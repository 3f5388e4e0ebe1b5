// SPDX-License-Identifier: BSD-2-Clause
// tus-halfopen.mjs: stock tus-js-client, with its default retry delays,
// completes an upload whose connection went half-open mid-body; driven by
// tests/integration/60-tus-js-client.sh.
//
// The client talks to batchup's nginx through a small TCP proxy started
// here. While the first PATCH's body flows, the proxy drops the client's
// side of that connection (the client sees it reset) and keeps the server's
// side open without sending another byte: nginx and batchup's worker are
// left waiting for a body that will never come, as when a phone's network
// changes mid-upload. The client retries by itself (HEAD, then PATCH from
// the offset the HEAD reports); the new PATCH takes the upload over from
// the stalled request. Checked: the upload completes, within a bound, with
// the stored file byte-identical, in more than one PATCH.
//
// Environment: BATCHUP_URL, TOKEN_A (a user with a free slot), DRIVER_SECONDS
// (60). Prints "ok - ..." / "not ok - ..." / "# ..." lines; exit status 0
// when every check passed.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import * as tus from 'tus-js-client';
import { check, deadline, finish, sha256 } from './tap.mjs';

const URL_BASE = process.env.BATCHUP_URL;
const TOKEN = process.env.TOKEN_A;
const SIZE = 8 * 1024 * 1024 + 13;
const DROP_AFTER = 2 * 1024 * 1024; // body bytes forwarded before the drop
deadline(Number(process.env.DRIVER_SECONDS || 60), true);

// The proxy: every connection is forwarded both ways; the first one that
// carries a PATCH is cut on the client's side after DROP_AFTER bytes of it,
// its server side kept open and silent.
const upstream = new URL(URL_BASE);
const proxy = { dropped: null, held: [], patches: 0, heads: 0 };
const server = net.createServer((client) => {
  const up = net.connect(Number(upstream.port), upstream.hostname);
  let seen = 0, patching = false;
  client.on('data', (chunk) => {
    const text = chunk.subarray(0, 16).toString('latin1');
    if (text.startsWith('PATCH ')) { proxy.patches++; patching = true; seen = 0; }
    if (text.startsWith('HEAD ')) proxy.heads++;
    if (patching && proxy.dropped === null) {
      seen += chunk.length;
      if (seen >= DROP_AFTER) {
        up.write(chunk.subarray(0, chunk.length - (seen - DROP_AFTER)));
        proxy.dropped = Date.now();
        proxy.held.push(up); // open, silent: half-open for the server
        up.removeAllListeners('data');
        up.on('data', () => {});
        client.resetAndDestroy();
        return;
      }
    }
    up.write(chunk);
  });
  up.on('data', (d) => { if (!client.destroyed) client.write(d); });
  up.on('error', () => client.destroy());
  client.on('error', () => {});
  client.on('close', () => { if (!proxy.held.includes(up)) up.end(); });
  up.on('close', () => { if (!client.destroyed) client.end(); });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

async function api(method, path, body) {
  const res = await fetch(URL_BASE + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20000),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

const data = randomBytes(SIZE);
const created = await api('POST', '/api/v1/batches', { files: [{ name: 'halfopen.bin', size: SIZE }] });
check(created.status === 201, 'POST /api/v1/batches: 201', JSON.stringify(created.json));
const file = created.json.files[0];
const errors = [];
const result = await new Promise((resolve) => {
  const upload = new tus.Upload(data, {
    uploadUrl: base + file.upload_url,
    headers: { Authorization: `Bearer ${TOKEN}` },
    storeFingerprintForResuming: false,
    // retryDelays: tus-js-client's default ([0, 1000, 3000, 5000]).
    onShouldRetry(err) { errors.push(String(err.message || err).split('\n')[0].slice(0, 200)); return true; },
    onSuccess() { resolve({ ok: true, at: Date.now() }); },
    onError(err) { resolve({ ok: false, at: Date.now(), err: String(err) }); },
  });
  upload.start();
});
check(proxy.dropped !== null, `the proxy dropped the first PATCH's connection after ${DROP_AFTER} bytes, keeping batchup's side open`);
check(result.ok, 'tus-js-client (default retry delays) completes the upload after the drop', result.err || '');
const took = proxy.dropped ? (result.at - proxy.dropped) / 1000 : -1;
console.log(`# from the drop to the end: ${took.toFixed(1)} s; ${proxy.patches} PATCHes, ${proxy.heads} HEADs; client errors: ${JSON.stringify(errors)}`);
check(proxy.patches >= 2, `the client resumed with a new PATCH (${proxy.patches} PATCHes, ${proxy.heads} HEADs)`);
check(took >= 0 && took < 15, `... within 15 s of the drop (${took.toFixed(1)} s; the stalled request would wait 30 s for body_timeout)`);
const got = await fetch(`${URL_BASE}/api/v1/download/stream/${file.id}`, {
  headers: { Authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(20000),
});
const body = Buffer.from(await got.arrayBuffer());
check(got.status === 200 && sha256(body) === sha256(data), 'the stored file is byte-identical',
  `status ${got.status}, ${body.length} bytes`);
for (const s of proxy.held) s.destroy();
server.close();
finish();
