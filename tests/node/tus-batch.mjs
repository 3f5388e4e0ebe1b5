// SPDX-License-Identifier: BSD-2-Clause
// tus-batch.mjs: the stock tus-js-client uploads two users' batches at once
// against a running batchup stack; driven by tests/integration/60-tus-js-client.sh.
//
// Environment: BATCHUP_URL, STACK_DIR (storage/ and batchup.log live there),
// TOKEN_A (user "alice", default limit 5), TOKEN_B (user "bob", limit 1), and
// libpq's PGHOST/PGPORT/PGUSER/PGDATABASE for psql.
//
// It prints one line per check, "ok - what" or "not ok - what", and "# ..."
// diagnostics; the wrapper turns them into numbered TAP. Exit status 0 when
// every check passed. Everything is bounded: the whole run gives up after
// DRIVER_SECONDS (120) and every upload has a finite retryDelays list.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as tus from 'tus-js-client';

const URL_BASE = process.env.BATCHUP_URL;
const STACK_DIR = process.env.STACK_DIR;
const USERS = [
  { name: 'alice', token: process.env.TOKEN_A, limit: 5 },
  { name: 'bob', token: process.env.TOKEN_B, limit: 1 },
];
const MiB = 1024 * 1024;
// Varied sizes, the big ones first so that they are the first to ask for
// slots and hold them long enough for the sampler to see the limit reached.
const SIZES = {
  alice: [16 * MiB + 1, 12 * MiB, 10 * MiB - 5, 8 * MiB + 7, 8 * MiB, 1.5 * MiB, MiB, 300 * 1024, 64 * 1024 + 1,
          1000, 17, 1, 0],
  bob: [2 * MiB, MiB + 3, 100 * 1024, 5],
};
const CHUNK = 64 * 1024;
const SAMPLE_MS = 50;

let failures = 0;
function check(cond, what, ...diag) {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) {
    failures++;
    for (const d of diag) console.log(`# ${String(d).replace(/\n/g, '\n# ')}`);
  }
  return cond;
}
function note(msg) {
  console.log(`# ${msg}`);
}
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

const watchdog = setTimeout(() => {
  console.log(`not ok - the driver finished within ${process.env.DRIVER_SECONDS || 120} s`);
  process.exit(1);
}, 1000 * Number(process.env.DRIVER_SECONDS || 120));

async function api(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(URL_BASE + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20000),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

// One psql session, fed a query every SAMPLE_MS (after the previous answer),
// counting each user's rows of batchup.active_slots.
function startSampler() {
  const s = { samples: 0, max: { alice: 0, bob: 0 }, over: [], stop: null, errors: '' };
  const psql = spawn('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  psql.stderr.on('data', (d) => { s.errors += d; });
  const query = "SELECT count(*) FILTER (WHERE user_name = 'alice') || ' ' || "
    + "count(*) FILTER (WHERE user_name = 'bob') FROM batchup.active_slots;\n";
  let running = true;
  let timer = null;
  const ask = () => { if (running) psql.stdin.write(query); };
  createInterface({ input: psql.stdout }).on('line', (line) => {
    const m = /^(\d+) (\d+)$/.exec(line.trim());
    if (m) {
      const a = Number(m[1]), b = Number(m[2]);
      s.samples++;
      s.max.alice = Math.max(s.max.alice, a);
      s.max.bob = Math.max(s.max.bob, b);
      if (a > 5 || b > 1) s.over.push(`${Date.now()}: alice ${a}, bob ${b}`);
    }
    timer = setTimeout(ask, SAMPLE_MS);
  });
  ask();
  s.stop = () => new Promise((resolve) => {
    running = false;
    clearTimeout(timer);
    psql.on('close', resolve);
    psql.stdin.end();
    setTimeout(() => { psql.kill('SIGKILL'); resolve(); }, 5000).unref();
  });
  return s;
}

// Upload one file with tus-js-client to the upload_url of an existing batch
// file; resolves with what happened (never rejects).
function tusUpload(user, file, data, stats) {
  return new Promise((resolve) => {
    const started = Date.now();
    const upload = new tus.Upload(data, {
      uploadUrl: URL_BASE + file.upload_url,
      headers: { Authorization: `Bearer ${user.token}` },
      chunkSize: CHUNK,
      retryDelays: Array(60).fill(500),
      storeFingerprintForResuming: false,
      metadata: { filename: file.name },
      onShouldRetry(err, attempt) {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        stats.retries[status] = (stats.retries[status] || 0) + 1;
        if (status === 0) stats.transport.push(String(err.message || err).split('\n')[0].slice(0, 300));
        stats.maxAttempt = Math.max(stats.maxAttempt, attempt + 1);
        return status === 423 || status === 409 || status === 0 || status >= 500;
      },
      onSuccess() { resolve({ ok: true, ms: Date.now() - started }); },
      onError(err) { resolve({ ok: false, ms: Date.now() - started, err: String(err) }); },
    });
    upload.start();
  });
}

async function userRun(user) {
  const sizes = SIZES[user.name];
  const datas = sizes.map((n) => randomBytes(n));
  const body = { files: sizes.map((n, i) => ({ name: `${user.name}-${i}-${n}.bin`, size: n })) };
  const created = await api('POST', '/api/v1/batches', user.token, body);
  if (!check(created.status === 201 && created.json?.files?.length === sizes.length,
    `${user.name}: POST /api/v1/batches creates a batch of ${sizes.length} files (201)`,
    `got ${created.status}: ${created.text}`)) {
    return null;
  }
  const batch = created.json;
  const stats = { retries: {}, maxAttempt: 0, transport: [] };
  const results = await Promise.all(batch.files.map((f, i) => tusUpload(user, f, datas[i], stats)));
  // The very first look at the batch after the last onSuccess.
  const after = await api('GET', `/api/v1/batches/${batch.id}`, user.token);
  return { user, batch, datas, results, stats, after };
}

async function main() {
  const sampler = startSampler();
  const t0 = Date.now();
  const runs = await Promise.all(USERS.map((u) => userRun(u)));
  const uploadMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 2 * SAMPLE_MS));
  await sampler.stop();
  note(`uploads took ${uploadMs} ms; ${sampler.samples} samples of active_slots`);
  if (runs.some((r) => r === null)) return;

  for (const r of runs) {
    const failed = r.results.filter((x) => !x.ok);
    check(failed.length === 0, `${r.user.name}: tus-js-client uploaded all ${r.results.length} files`,
      ...failed.map((x) => x.err));
    note(`${r.user.name}: client retries by status ${JSON.stringify(r.stats.retries)}, `
      + `longest run of retries ${r.stats.maxAttempt}`);
  }

  check(sampler.samples >= 20, `the sampler took at least 20 samples (${sampler.samples})`,
    sampler.errors);
  check(sampler.over.length === 0, 'no sample shows alice above 5 or bob above 1 active slots',
    ...sampler.over.slice(0, 10));
  check(sampler.max.alice === 5, `alice reached her limit of 5 active slots (max seen ${sampler.max.alice})`);
  check(sampler.max.bob === 1, `bob reached his limit of 1 active slot (max seen ${sampler.max.bob})`);

  // 423s: the server's log, per user, against what the clients saw.
  const log = readFileSync(`${STACK_DIR}/batchup.log`, 'utf8');
  const metrics = await fetch(`${URL_BASE}/metrics`).then((x) => x.text());
  const waitsMetric = Number((/^batchup_slot_waits_total (\d+)/m.exec(metrics) || [])[1]);
  let logTotal = 0;
  for (const r of runs) {
    const ids = new Set(r.batch.files.map((f) => f.id));
    let n = 0;
    const queuedFiles = new Set();
    for (const m of log.matchAll(/request "PATCH" "\/api\/v1\/files\/([0-9a-f-]{36})" 423\b/g)) {
      if (ids.has(m[1])) { n++; queuedFiles.add(m[1]); }
    }
    logTotal += n;
    const client423 = r.stats.retries[423] || 0;
    check(n > 0, `${r.user.name}: queued files got 423 (${n} PATCH ... 423 log lines, `
      + `${queuedFiles.size} distinct files) and went on by themselves`);
    check(client423 === n, `${r.user.name}: tus-js-client saw as many 423s as the server logged (${client423})`,
      `log ${n}, client ${client423}`);
    // Status 0 (no response) is tolerated: nginx answers an early 423 with
    // "Connection: keep-alive" but closes the connection when the request
    // body was not read, so a client reusing it sees ECONNRESET and retries.
    const other = Object.keys(r.stats.retries).filter((s) => s !== '423' && s !== '0');
    check(other.length === 0, `${r.user.name}: no retry for any HTTP status but 423`,
      JSON.stringify(r.stats.retries));
    for (const t of r.stats.transport) note(`${r.user.name}: retried after a transport error: ${t}`);
  }
  check(waitsMetric === logTotal, `/metrics batchup_slot_waits_total (${waitsMetric}) equals the 423 log lines (${logTotal})`);

  for (const r of runs) {
    const b = r.after;
    check(b.status === 200 && b.json?.status === 'complete'
      && /^\/api\/v1\/download\/batch\/[A-Za-z0-9_-]{22,}$/.test(b.json?.download_url || '')
      && typeof b.json?.expires_at === 'string',
    `${r.user.name}: the first GET of the batch after the last upload has status complete, `
      + 'download_url and expires_at', `${b.status}: ${b.text}`);
    const files = b.json?.files || [];
    const allDone = files.length === r.datas.length && files.every((f) => f.status === 'completed'
      && f.offset === f.size && f.download_url === `/api/v1/download/stream/${f.id}`);
    check(allDone, `${r.user.name}: every file is completed at its full size with its download_url`,
      b.text.slice(0, 2000));

    // Byte-identical: the download, the stored file, and the recorded sha256.
    const bad = [];
    for (let i = 0; i < r.batch.files.length; i++) {
      const f = r.batch.files[i];
      const want = sha256(r.datas[i]);
      const res = await fetch(`${URL_BASE}/api/v1/download/stream/${f.id}`,
        { headers: { Authorization: `Bearer ${r.user.token}` }, signal: AbortSignal.timeout(20000) });
      const got = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || got.length !== r.datas[i].length || sha256(got) !== want) {
        bad.push(`${f.name}: download ${res.status}, ${got.length} bytes, sha256 ${sha256(got)} != ${want}`);
      }
      const path = `${STACK_DIR}/storage/files/${f.id.slice(0, 2)}/${f.id}`;
      if (r.datas[i].length > 0) {
        if (!existsSync(path)) bad.push(`${f.name}: ${path} missing`);
        else if (sha256(readFileSync(path)) !== want) bad.push(`${f.name}: ${path} differs`);
      }
    }
    check(bad.length === 0, `${r.user.name}: all ${r.batch.files.length} files download byte-identical `
      + '(sha256), and each stored file under storage/files matches', ...bad);
  }

  const ids = runs.flatMap((r) => r.batch.files.map((f) => f.id));
  const wantSha = new Map(runs.flatMap((r) => r.batch.files.map((f, i) => [f.id, sha256(r.datas[i])])));
  const rows = await new Promise((resolve) => {
    const p = spawn('psql', ['-XAtF', ' ', '-c',
      `SELECT id, sha256 FROM batchup.files WHERE id IN (${ids.map((x) => `'${x}'`).join(',')})`]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('close', () => resolve(out.trim().split('\n').filter(Boolean).map((l) => l.split(' '))));
  });
  const shaBad = rows.filter(([id, sha]) => wantSha.get(id) !== sha);
  check(rows.length === ids.length && shaBad.length === 0,
    `the database records the right sha256 for all ${ids.length} files`, JSON.stringify(shaBad));
  const slotsLeft = await new Promise((resolve) => {
    const p = spawn('psql', ['-XAtc', 'SELECT count(*) FROM batchup.slots']);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('close', () => resolve(out.trim()));
  });
  check(slotsLeft === '0', 'no slot is left held once every file completed', `slots: ${slotsLeft}`);
}

main().catch((e) => {
  console.log(`not ok - the driver ran without an exception`);
  console.log(`# ${String(e && e.stack || e).replace(/\n/g, '\n# ')}`);
  failures++;
}).finally(() => {
  clearTimeout(watchdog);
  process.exit(failures === 0 ? 0 : 1);
});
