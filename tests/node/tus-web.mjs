// SPDX-License-Identifier: BSD-2-Clause
// tus-web.mjs: the stock tus-js-client uploads one batch of 8 files for a
// user whose limit is 5, through whichever web server the stack runs
// (STACK_WEB); driven by tests/lib/web-e2e.sh. A sibling of tus-batch.mjs,
// whose checks assume nginx.
//
// Environment: BATCHUP_URL, STACK_DIR (storage/ and batchup.log live there),
// TOKEN (a user with limit 5), STACK_WEB (for the messages), CHUNK (the
// tus-js-client chunkSize, bytes), SCALE (file sizes are multiplied by it),
// and libpq's PGHOST/PGPORT/PGUSER/PGDATABASE for psql.
//
// Checked: the batch is created; every file is uploaded by the stock client;
// a sampler of batchup.active_slots never sees the user above 5 slots;
// queued files got 423 (batchup answers it only while all 5 are held) (the server's log) and the client saw 423s
// carrying Upload-Queue-Position 1 to 3; the client retried for no status but
// 423 (and, behind a server that closes the connection after an early 423,
// a transport error); the batch link is issued exactly once (one NOTIFY
// batchup_batch_complete for the batch, the same download_url on every
// look); every file downloads byte-identical.
//
// Prints "ok - ...", "not ok - ..." and "# ..." lines; exit status 0 when
// every check passed. Bounded: DRIVER_SECONDS (90) for the whole run.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as tus from 'tus-js-client';

const URL_BASE = process.env.BATCHUP_URL;
const STACK_DIR = process.env.STACK_DIR;
const TOKEN = process.env.TOKEN;
const WEB = process.env.STACK_WEB || 'nginx';
const CHUNK = Number(process.env.CHUNK || 256 * 1024);
const SCALE = Number(process.env.SCALE || 1);
const LIMIT = 5;
const KiB = 1024;
// The big ones first, so they ask for slots first and hold them while the
// last three wait.
const SIZES = [3072, 2560, 2048, 2048, 1536, 1024, 512, 100].map((k) => Math.round(k * KiB * SCALE));
const SAMPLE_MS = 20;

let failures = 0;
function check(cond, what, ...diag) {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) {
    failures++;
    for (const d of diag) console.log(`# ${String(d).replace(/\n/g, '\n# ')}`);
  }
  return cond;
}
const note = (msg) => console.log(`# ${msg}`);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

const watchdog = setTimeout(() => {
  console.log(`not ok - the driver finished within ${process.env.DRIVER_SECONDS || 90} s`);
  process.exit(1);
}, 1000 * Number(process.env.DRIVER_SECONDS || 90));

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(URL_BASE + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20000),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

// One psql session: LISTEN for completed batches, then count the user's
// active slots every SAMPLE_MS (psql prints notifications after a result).
function startSampler() {
  const s = { samples: 0, max: 0, over: [], notified: [], errors: '', stop: null };
  const psql = spawn('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  psql.stderr.on('data', (d) => { s.errors += d; });
  const query = 'SELECT count(*) FROM batchup.active_slots;\n';
  let running = true;
  let timer = null;
  const ask = () => { if (running) psql.stdin.write(query); };
  createInterface({ input: psql.stdout }).on('line', (line) => {
    const n = /^(\d+)$/.exec(line.trim());
    const m = /^Asynchronous notification "batchup_batch_complete" with payload "([^"]*)"/.exec(line.trim());
    if (m) {
      s.notified.push(m[1]);
    } else if (n) {
      const a = Number(n[1]);
      s.samples++;
      s.max = Math.max(s.max, a);
      if (a > LIMIT) s.over.push(`${Date.now()}: ${a} active slots`);
      timer = setTimeout(ask, SAMPLE_MS);
    }
  });
  psql.stdin.write('LISTEN batchup_batch_complete;\n');
  ask();
  s.stop = () => new Promise((resolve) => {
    running = false;
    clearTimeout(timer);
    // One last query, so that a notification still queued is printed.
    psql.stdin.write('SELECT 1 WHERE false;\n');
    psql.on('close', resolve);
    setTimeout(() => psql.stdin.end(), 300);
    setTimeout(() => { psql.kill('SIGKILL'); resolve(); }, 5000).unref();
  });
  return s;
}

function tusUpload(file, data, stats) {
  return new Promise((resolve) => {
    const upload = new tus.Upload(data, {
      uploadUrl: URL_BASE + file.upload_url,
      headers: { Authorization: `Bearer ${TOKEN}` },
      chunkSize: CHUNK,
      retryDelays: Array(150).fill(300),
      storeFingerprintForResuming: false,
      metadata: { filename: file.name },
      onAfterResponse(req, res) {
        if (res.getStatus() === 423) {
          stats.client423++;
          stats.positions.push(res.getHeader('Upload-Queue-Position'));
        }
      },
      onShouldRetry(err, attempt) {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        stats.retries[status] = (stats.retries[status] || 0) + 1;
        if (status === 0) stats.transport.push(String(err.message || err).split('\n')[0].slice(0, 200));
        return status === 423 || status === 409 || status === 0 || status >= 500;
      },
      onSuccess() { resolve({ ok: true }); },
      onError(err) { resolve({ ok: false, err: String(err).slice(0, 500) }); },
    });
    upload.start();
  });
}

async function main() {
  const datas = SIZES.map((n) => randomBytes(n));
  const created = await api('POST', '/api/v1/batches',
    { files: SIZES.map((n, i) => ({ name: `f${i}-${n}.bin`, size: n })) });
  if (!check(created.status === 201 && created.json?.files?.length === SIZES.length,
    `${WEB}: POST /api/v1/batches creates a batch of ${SIZES.length} files`, `${created.status}: ${created.text}`)) return;
  const batch = created.json;
  const stats = { retries: {}, transport: [], client423: 0, positions: [] };
  const sampler = startSampler();
  const t0 = Date.now();
  const results = await Promise.all(batch.files.map((f, i) => tusUpload(f, datas[i], stats)));
  const after = await api('GET', `/api/v1/batches/${batch.id}`);
  note(`${WEB}: uploads took ${Date.now() - t0} ms (chunkSize ${CHUNK}); retries by status `
    + `${JSON.stringify(stats.retries)}`);
  await new Promise((r) => setTimeout(r, 2 * SAMPLE_MS));
  await sampler.stop();

  const failed = results.filter((x) => !x.ok);
  check(failed.length === 0, `${WEB}: tus-js-client uploaded all ${SIZES.length} files`, ...failed.map((x) => x.err));
  check(sampler.samples >= 10 && sampler.over.length === 0,
    `${WEB}: ${sampler.samples} samples of batchup.active_slots, none above ${LIMIT}`,
    sampler.errors, ...sampler.over.slice(0, 5));
  note(`${WEB}: most active slots seen by the sampler: ${sampler.max}`);

  const log = readFileSync(`${STACK_DIR}/batchup.log`, 'utf8');
  const ids = new Set(batch.files.map((f) => f.id));
  let logged423 = 0;
  for (const m of log.matchAll(/"PATCH" "\/api\/v1\/files\/([0-9a-f-]{36})" 423\b/g)) if (ids.has(m[1])) logged423++;
  check(logged423 > 0, `${WEB}: the user reached the limit: queued files got 423 from batchup, which it answers `
    + `only while all ${LIMIT} slots are held (${logged423} PATCH ... 423 log lines)`);
  check(stats.client423 > 0 && stats.client423 <= logged423,
    `${WEB}: tus-js-client saw ${stats.client423} of them as 423 and went on by itself`,
    `client ${stats.client423}, log ${logged423}`);
  const badPos = stats.positions.filter((p) => !/^[1-3]$/.test(String(p)));
  check(stats.positions.length > 0 && badPos.length === 0,
    `${WEB}: every 423 the client saw carried Upload-Queue-Position 1 to ${SIZES.length - LIMIT} `
    + `(${[...new Set(stats.positions)].sort().join(',')})`, JSON.stringify(badPos));
  const other = Object.keys(stats.retries).filter((s) => s !== '423' && s !== '0');
  check(other.length === 0, `${WEB}: no retry for any HTTP status but 423`, JSON.stringify(stats.retries));
  for (const t of stats.transport.slice(0, 3)) note(`${WEB}: retried after a transport error: ${t}`);

  const url = after.json?.download_url || '';
  check(after.status === 200 && after.json?.status === 'complete'
    && /^\/api\/v1\/download\/batch\/[A-Za-z0-9_-]{22,}$/.test(url),
  `${WEB}: the first GET of the batch after the last upload is complete with its download_url`,
  `${after.status}: ${after.text.slice(0, 500)}`);
  const again = await api('GET', `/api/v1/batches/${batch.id}`);
  const mine = sampler.notified.filter((id) => id === batch.id).length;
  check(mine === 1 && again.json?.download_url === url,
    `${WEB}: the batch link was issued exactly once (${mine} NOTIFY batchup_batch_complete for the batch, `
    + 'the same download_url on a second look)', `notified ${JSON.stringify(sampler.notified)}`);

  const bad = [];
  for (let i = 0; i < batch.files.length; i++) {
    const res = await fetch(`${URL_BASE}/api/v1/download/stream/${batch.files[i].id}`,
      { headers: { Authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(20000) });
    const got = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || sha256(got) !== sha256(datas[i])) {
      bad.push(`${batch.files[i].name}: ${res.status}, ${got.length} bytes`);
    }
  }
  check(bad.length === 0, `${WEB}: all ${batch.files.length} files download byte-identical`, ...bad);
}

main().catch((e) => {
  console.log('not ok - the driver ran without an exception');
  console.log(`# ${String(e && e.stack || e).replace(/\n/g, '\n# ')}`);
  failures++;
}).finally(() => {
  clearTimeout(watchdog);
  process.exit(failures === 0 ? 0 : 1);
});
