// SPDX-License-Identifier: BSD-2-Clause
// tus-cluster-seed.mjs: the seed story, with the stock tus-js-client, through
// the cluster's load balancer (every request to the next host); driven by
// tests/cluster/run.sh.
//
// The user "seed" (TOKEN, limit 3) uploads a batch of 4 files at once, then,
// with the limit raised to 5 in SQL (batchup.set_user_limit), a batch of 8.
// A psql session (libpq's PG* environment: the primary) samples the user's
// rows of batchup.active_slots meanwhile: never above the limit, and the
// limit reached. Every file is read back through the load balancer and
// compared byte for byte; each batch completes with a link that answers.
//
// Environment: BATCHUP_URL (the load balancer), TOKEN. Prints "ok - what" or
// "not ok - what" lines and "# ..." diagnostics; exit status 0 when every
// check passed. Bounded: DRIVER_SECONDS (90), finite retryDelays.

import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import * as tus from 'tus-js-client';

const URL_BASE = process.env.BATCHUP_URL;
const TOKEN = process.env.TOKEN;
const KiB = 1024;
const CHUNK = 256 * KiB;
const SAMPLE_MS = 50;

let failures = 0;
function check(cond, what, ...diag) {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) {
    failures++;
    for (const d of diag) console.log(`# ${d}`);
  }
}

setTimeout(() => {
  console.log(`not ok - the driver finished within ${process.env.DRIVER_SECONDS || 90} s`);
  process.exit(1);
}, 1000 * Number(process.env.DRIVER_SECONDS || 90)).unref();

async function api(method, path, body) {
  const res = await fetch(URL_BASE + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20000),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, host: res.headers.get('x-cluster-host'), buf };
}

// One psql session asking for the user's active slots every SAMPLE_MS.
function startSampler(limit) {
  const s = { samples: 0, max: 0, over: [], errors: '' };
  const psql = spawn('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  psql.stderr.on('data', (d) => { s.errors += d; });
  const query = "SELECT count(*) FROM batchup.active_slots WHERE user_name = 'seed';\n";
  let running = true;
  let timer = null;
  const ask = () => { if (running) psql.stdin.write(query); };
  createInterface({ input: psql.stdout }).on('line', (line) => {
    const n = Number(line.trim());
    if (/^\d+$/.test(line.trim())) {
      s.samples++;
      s.max = Math.max(s.max, n);
      if (n > limit) s.over.push(`${Date.now()}: ${n}`);
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

function tusUpload(file, data, stats) {
  return new Promise((resolve) => {
    const upload = new tus.Upload(data, {
      uploadUrl: URL_BASE + file.upload_url,
      headers: { Authorization: `Bearer ${TOKEN}` },
      chunkSize: CHUNK,
      retryDelays: Array(120).fill(250),
      storeFingerprintForResuming: false,
      onShouldRetry(err) {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        stats[status] = (stats[status] || 0) + 1;
        return status === 423 || status === 409 || status === 0 || status >= 500;
      },
      onSuccess() { resolve({ ok: true }); },
      onError(err) { resolve({ ok: false, err: String(err) }); },
    });
    upload.start();
  });
}

async function story(limit, count) {
  execFileSync('psql', ['-XAtq', '-c', `SELECT batchup.set_user_limit('seed', ${limit})`]);
  const sizes = Array.from({ length: count }, (_, i) => 3072 * KiB + 4099 * i);
  const datas = sizes.map((n) => randomBytes(n));
  const created = await api('POST', '/api/v1/batches',
    { files: sizes.map((n, i) => ({ name: `seed-${limit}-${i}.bin`, size: n })) });
  check(created.status === 201, `limit ${limit}: the batch of ${count} files is created (${created.status})`);
  if (created.status !== 201) return;
  const batch = JSON.parse(created.buf);
  const stats = {};
  const sampler = startSampler(limit);
  const results = await Promise.all(batch.files.map((f, i) => tusUpload(f, datas[i], stats)));
  await sampler.stop();
  check(results.every((r) => r.ok), `limit ${limit}: tus-js-client uploaded all ${count} files`,
    ...results.filter((r) => !r.ok).map((r) => r.err));
  console.log(`# limit ${limit}: retried statuses ${JSON.stringify(stats)}; ${sampler.samples} samples, `
    + `most active slots ${sampler.max}`);
  check(sampler.samples >= 5 && sampler.over.length === 0,
    `limit ${limit}: never more than ${limit} active slots (${sampler.samples} samples)`, ...sampler.over.slice(0, 5),
    sampler.errors);
  check(sampler.max === limit, `limit ${limit}: the limit was reached (most seen ${sampler.max})`);
  const hosts = new Set();
  let same = 0;
  for (let i = 0; i < count; i++) {
    const r = await api('GET', `/api/v1/download/stream/${batch.files[i].id}`);
    hosts.add(r.host);
    if (r.status === 200 && createHash('sha256').update(r.buf).digest('hex')
        === createHash('sha256').update(datas[i]).digest('hex')) same++;
  }
  check(same === count, `limit ${limit}: all ${count} files read back byte-exact (${same})`);
  const after = await api('GET', `/api/v1/batches/${batch.id}`);
  const b = JSON.parse(after.buf);
  check(b.status === 'complete' && b.download_url, `limit ${limit}: the batch is complete with its link`);
  if (b.download_url) {
    const zip = await fetch(URL_BASE + b.download_url, { signal: AbortSignal.timeout(20000) });
    await zip.arrayBuffer();
    check(zip.status === 200, `limit ${limit}: its link answers 200 through the load balancer (${zip.status})`);
  }
}

await story(3, 4);
await story(5, 8);
process.exit(failures === 0 ? 0 : 1);
