// SPDX-License-Identifier: BSD-2-Clause
// uppy-batch.mjs: the README's Uppy recipe in a real browser (Debian's
// Chromium driven by playwright-core), with the real uppy npm package
// (Dashboard + Tus), from a page of another origin. Prints TAP.
//
// Environment: BATCHUP_URL (nginx in front of batchup, whose cors_origins
// lists http://127.0.0.1:PAGE_PORT), PAGE_PORT (the second loopback port,
// where this script serves uppy-page.html and Uppy's bundle), TOKEN (a user
// whose limit is LIMIT, default 5), STACK_DIR (scratch), QUEUE_SECONDS (below).
//
// What must follow: eight files picked in the Dashboard and uploaded all
// succeed; they form one batch (the user has no other), complete, with one
// link; the ZIP behind it holds the eight files byte for byte; at no moment
// did the user hold more than five slots, and some files did wait (423).
//
// With QUEUE_SECONDS set (tests/integration/87-uppy-queue-hold.sh), the
// upload is throttled so hard that the three files beyond the limit wait
// about that long for a slot, far longer than tus-js-client's default
// retries of a 423 last (about 9 s): the server holds their PATCHes
// (queue_hold_seconds), and all must still succeed with Uppy's defaults.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.BATCHUP_URL;
const token = process.env.TOKEN;
const pagePort = Number(process.env.PAGE_PORT);
const scratch = mkdtempSync(join(process.env.STACK_DIR || "/tmp", "uppy-"));
let n = 0, failed = 0;
const ok = (cond, what) => { n++; if (!cond) failed++; console.log(`${cond ? "ok" : "not ok"} ${n} - ${what}`); };
const diag = (s) => console.log("# " + String(s).replace(/\n/g, "\n# "));
const sha = (b) => createHash("sha256").update(b).digest("hex");
const queueSeconds = Number(process.env.QUEUE_SECONDS || 0);
const limit = Number(process.env.LIMIT || 5);

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  diag(`timed out after ${ms} ms waiting for ${what}`);
  return false;
}

async function api(path) {
  return fetch(base + path, { headers: { Authorization: `Bearer ${token}` } });
}

// The second origin: the page and Uppy's browser bundle, nothing else.
const dist = join(here, "node_modules", "uppy", "dist");
const statics = {
  "/": ["text/html; charset=utf-8", join(here, "uppy-page.html")],
  "/uppy.min.mjs": ["text/javascript", join(dist, "uppy.min.mjs")],
  "/uppy.min.css": ["text/css", join(dist, "uppy.min.css")],
};
const server = createServer((req, res) => {
  const hit = statics[new URL(req.url, "http://x").pathname];
  if (!hit) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { "Content-Type": hit[0] });
  res.end(readFileSync(hit[1]));
});
await new Promise((r) => server.listen(pagePort, "127.0.0.1", r));
const pageOrigin = `http://127.0.0.1:${pagePort}`;

// The most slots the user holds, sampled while the upload runs.
let maxSlots = 0, sampling = true;
const sampler = (async () => {
  while (sampling) {
    try {
      const v = Number(execFileSync("psql", ["-XAtc", "SELECT count(*) FROM batchup.slots WHERE lease_expires_at > now()"]).toString());
      if (v > maxSlots) maxSlots = v;
    } catch (e) { /* the stack's database is there; a failed sample is skipped */ }
    await new Promise((r) => setTimeout(r, 50));
  }
})();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext()).newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => diag("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  const statuses = {};
  page.on("response", (r) => { if (r.url().startsWith(base)) statuses[r.status()] = (statuses[r.status()] || 0) + 1; });
  // Per upload URL: when its first PATCH went out, its first 423, its 204.
  const firstPatch = {}, first423 = {}, done204 = {};
  if (queueSeconds > 0) page.on("request", (r) => {
    if (r.method() !== "PATCH" || !r.url().startsWith(base)) return;
    firstPatch[r.url()] ??= Date.now();
  });
  if (queueSeconds > 0) page.on("response", (r) => {
    if (r.request().method() !== "PATCH" || !r.url().startsWith(base)) return;
    if (r.status() === 423) first423[r.url()] ??= Date.now();
    if (r.status() === 204) done204[r.url()] = Date.now();
  });
  ok(new URL(base).origin !== pageOrigin, `the page (${pageOrigin}) is of another origin than batchup (${new URL(base).origin})`);
  await page.goto(`${pageOrigin}/?api=${encodeURIComponent(base)}&token=${encodeURIComponent(token)}`);
  ok(await waitFor(() => page.evaluate(() => !!window.uppy), 10000, "Uppy"), "the page loads Uppy (Dashboard + Tus)");

  const files = [];
  for (let i = 1; i <= 8; i++)
    files.push({ name: `photo ${i}.bin`, mimeType: "application/octet-stream",
                 buffer: randomBytes((i % 3 + 1) << (queueSeconds > 0 ? 18 : 20)) });
  await page.locator("input.uppy-Dashboard-input").first().setInputFiles(files);
  ok(await waitFor(async () => (await page.evaluate(() => window.uppy.getFiles().length)) === 8, 10000, "8 files in Uppy"),
     "eight files are picked in the Dashboard");
  // Throttled (8 MB/s up) so that eight uploads against a limit of five
  // overlap (three wait, 423), without outlasting Uppy's retries of a 423
  // (100 ms, 1 s, 3 s, 5 s).
  // With QUEUE_SECONDS (and a limit of LIMIT, 2: Chromium sends at most six
  // requests to one origin at once, so five slots would leave nobody
  // queued), the files are a quarter of the size and the throttle is set so
  // that the first file commits after about that long: about 3 MiB go up
  // before then, across the six connections (the held ones' bodies too).
  const up = queueSeconds > 0 ? Math.round((3 << 20) / queueSeconds) : 8 << 20;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: up });
  const started = Date.now();
  await page.click(".uppy-StatusBar-actionBtn--upload");
  ok(await waitFor(() => page.evaluate(() => !!window.done), 90000 + queueSeconds * 2000, "Uppy's complete event"), "Uppy reports the upload complete");
  diag(`the upload took ${((Date.now() - started) / 1000).toFixed(1)} s at ${up} bytes/s up`);
  if (queueSeconds > 0) {
    const t = await page.evaluate(() => window.successes || []);
    diag(`seconds from the start to each file's success: ${t.map((w) => w.toFixed(1)).join(" ")}`);
    const urls = Object.keys(done204);
    const queued = urls.map((u) => (done204[u] - firstPatch[u]) / 1000);
    const after423 = urls.filter((u) => first423[u]).map((u) => (done204[u] - first423[u]) / 1000);
    diag(`seconds from each file's first PATCH to its 204: ${queued.map((w) => w.toFixed(1)).join(" ")}`);
    diag(`seconds from a file's first 423 to its 204: ${after423.map((w) => w.toFixed(1)).join(" ")}`);
    const longest = Math.max(0, ...queued), longest423 = Math.max(0, ...after423);
    ok(longest >= Math.min(queueSeconds * 0.7, queueSeconds - 5),
       `a file waited ${longest.toFixed(1)} s from its first PATCH to its 204 (a queue of about ${queueSeconds} s asked)`);
    ok(longest423 > 9, `a file succeeded ${longest423.toFixed(1)} s after its first 423: longer than tus-js-client's default retries of a 423 last (about 9 s)`);
    // Uppy 6 re-queues a 423 for as long as it comes, so its files survive
    // a long queue without the hold too; what the hold changes there is
    // fewer 423s and bodies sent again, and a queued file starting as soon
    // as its slot frees (tests/integration/87-uppy-queue-hold.sh).
  }
  const done = await page.evaluate(() => window.done);
  ok(done && done.ok === 8 && done.failed === 0, `all eight files succeeded (${JSON.stringify(done)})`);
  sampling = false;
  await sampler;
  ok(maxSlots >= 1 && maxSlots <= limit, `the user never held more than ${limit} slots (at most ${maxSlots} seen)`);
  diag(`responses from batchup by status: ${JSON.stringify(statuses)}`);
  ok((statuses[423] || 0) >= 1, `the limit made some files wait (${statuses[423] || 0} answers 423), and Uppy retried them`);
  const ids = await page.evaluate(() => [...new Set(window.uppy.getFiles().map((f) => f.meta.batch))]);
  ok(ids.length === 1 && /^[0-9a-f-]{36}$/.test(ids[0]), `every file carried the same batch id (${ids.join(", ")})`);
  ok(!consoleErrors.some((e) => /CORS|Access-Control/i.test(e)), "no CORS error in the console");

  const list = await (await api("/api/v1/batches?files=1")).json();
  ok(list.batches.length === 1 && list.batches[0].id === ids[0], `the user has exactly one batch (${list.batches.length})`);
  const batch = list.batches[0];
  ok(batch.status === "complete" && batch.files.length === 8 && batch.files.every((f) => f.status === "completed"),
     `it is complete with its eight files (${batch.status}, ${batch.files.length})`);
  ok(/^\/api\/v1\/download\/batch\/[A-Za-z0-9_-]{22,}$/.test(batch.download_url || ""), "it has one link");
  const zip = Buffer.from(await (await fetch(base + batch.download_url)).arrayBuffer());
  const zpath = join(scratch, "batch.zip");
  writeFileSync(zpath, zip);
  execFileSync("unzip", ["-q", "-o", zpath, "-d", join(scratch, "out")]);
  const names = readdirSync(join(scratch, "out")).sort();
  ok(names.length === 8 && files.every((f) => names.includes(f.name)), `the ZIP holds the eight names (${names.length})`);
  ok(files.every((f) => sha(readFileSync(join(scratch, "out", f.name))) === sha(f.buffer)), "the ZIP is byte-exact");
} catch (e) {
  ok(false, "the run went through: " + (e && e.stack || e));
} finally {
  sampling = false;
  await browser.close();
  server.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
