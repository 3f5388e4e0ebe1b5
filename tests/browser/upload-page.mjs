// SPDX-License-Identifier: BSD-2-Clause
// upload-page.mjs: the upload page (GET /) in a real browser, Debian's
// Chromium driven by playwright-core. Prints TAP.
//
// Environment: BATCHUP_URL (nginx in front of batchup), TOKEN (a user whose
// limit is 1, so a second file must show "Queued (n)"), STACK_DIR (scratch).
//
// What a person does, and what must follow:
//   1. paste the token, pick three files, press Upload: a file shows
//      "Queued (1)" while the other uploads, all end "Done", and the batch
//      link appears; the ZIP behind it holds the three files, byte-identical;
//   2. with the upload throttled, Pause stops it midway (the server keeps
//      what arrived), Resume finishes it;
//   3. a reload in the middle of an upload, then picking the same file again,
//      resumes the same batch instead of starting over.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";

const base = process.env.BATCHUP_URL;
const token = process.env.TOKEN;
const scratch = mkdtempSync(join(process.env.STACK_DIR || "/tmp", "browser-"));
let n = 0, failed = 0;
const ok = (cond, what) => { n++; if (!cond) failed++; console.log(`${cond ? "ok" : "not ok"} ${n} - ${what}`); };
const diag = (s) => console.log("# " + String(s).replace(/\n/g, "\n# "));
const sha = (b) => createHash("sha256").update(b).digest("hex");

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  diag(`timed out after ${ms} ms waiting for ${what}`);
  return false;
}

async function api(path, opts = {}) {
  return fetch(base + path, { ...opts, headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0", ...(opts.headers || {}) } });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // The clipboard as a person's browser has it: the page may write it, and
  // this test may read it back.
  const context = await browser.newContext();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(base).origin });
  const page = await context.newPage();
  page.on("pageerror", (e) => diag("page error: " + e.message));

  // 1. A batch of three files with a limit of 1.
  await page.goto(base + "/");
  ok((await page.title()) === "batchup", "GET / serves the upload page");
  await page.fill("#token", token);
  await page.click("#auth button");
  ok(await waitFor(async () => (await page.textContent("#who")) === "token OK", 5000, "token OK"),
     "the token is accepted and kept");
  const files = [
    { name: "first.bin", mimeType: "application/octet-stream", buffer: randomBytes(3 << 20) },
    { name: "zweite Datei ü.txt", mimeType: "text/plain", buffer: Buffer.from("hallo\n".repeat(50000)) },
    { name: "third.bin", mimeType: "application/octet-stream", buffer: randomBytes(1 << 20) },
  ];
  // Throttle so the queue is visible: 2 MB/s up.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 << 20 });
  await page.setInputFiles("#pick", files);
  await page.click("#start");
  ok(await waitFor(async () => /Queued \(\d+\)/.test(await page.textContent("#files")), 15000, "Queued (n)"),
     "a file waiting for the slot shows Queued (n)");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  ok(await waitFor(() => page.isVisible("#link"), 60000, "the batch link"), "the batch link appears when every file is done");
  const states = await page.$$eval(".file .state", (els) => els.map((e) => e.textContent));
  ok(states.length === 3 && states.every((s) => s === "Done"), `every file ends Done (${states.join(", ")})`);
  const url = await page.inputValue("#url");
  ok(/\/api\/v1\/download\/batch\/[A-Za-z0-9_-]{22,}$/.test(url), "the link is a batch download URL");
  await page.evaluate(() => navigator.clipboard.writeText("not the link"));
  await page.click("#copy");
  await waitFor(async () => (await page.textContent("#copy")) !== "Copy", 5000, "the copy button's answer");
  const label = await page.textContent("#copy");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  ok(copied === url && label === "Copied", `the copy button puts the link on the clipboard, then says so ("${label}")`);
  if (copied !== url) diag(`the clipboard holds "${copied}"`);
  const zip = Buffer.from(await (await fetch(url)).arrayBuffer());
  const zpath = join(scratch, "batch.zip");
  writeFileSync(zpath, zip);
  execFileSync("unzip", ["-q", "-o", zpath, "-d", join(scratch, "out")]);
  ok(files.every((f) => sha(readFileSync(join(scratch, "out", f.name))) === sha(f.buffer)),
     "the ZIP behind the link holds the three files, byte-identical");

  // 2. Pause and resume.
  // A file on disk, as a person would pick it twice: same name, size and
  // modification time (the page matches re-picked files by those).
  const big = { path: join(scratch, "paused.bin"), buffer: randomBytes(6 << 20) };
  writeFileSync(big.path, big.buffer);
  await page.reload();
  await cdp.detach();
  const cdp2 = await context.newCDPSession(page);
  await cdp2.send("Network.enable");
  await cdp2.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1 << 20 });
  await page.setInputFiles("#pick", [big.path]);
  await page.click("#start");
  await waitFor(async () => /Uploading \d+%/.test(await page.textContent("#files")), 10000, "Uploading");
  await new Promise((r) => setTimeout(r, 1500));
  await page.click("#pause");
  ok(await waitFor(async () => (await page.textContent("#files")).includes("Paused"), 5000, "Paused"),
     "Pause stops the upload and says so");
  const saved = JSON.parse(await page.evaluate(() => localStorage.getItem("batchup.batch")));
  // The server records a cut-off body once nginx tells it the client left,
  // a moment after the page has stopped: ask for a few seconds.
  let mid = 0;
  await waitFor(async () => {
    mid = (await (await api(`/api/v1/batches/${saved.id}`)).json()).files[0].offset;
    return mid > 0;
  }, 5000, "the kept offset");
  ok(mid > 0 && mid < big.buffer.length, `the server kept what arrived before the pause (${mid} of ${big.buffer.length} bytes)`);

  // 3. A reload in the middle, then the same file picked again: same batch, resumed.
  await page.reload();
  ok(await waitFor(async () => (await page.textContent("#note")).includes("the same files again"), 5000, "resume note"),
     "after a reload the page remembers the unfinished batch");
  await cdp2.detach();
  await page.setInputFiles("#pick", [big.path]);
  ok(await waitFor(async () => (await page.textContent("#note")).includes(saved.id), 5000, "the resume note"),
     "picking the same file again resumes that batch");
  await page.click("#start");
  ok(await waitFor(() => page.isVisible("#link"), 30000, "the link after resume"), "the resumed upload completes and the link appears");
  const b2 = await (await api(`/api/v1/batches/${saved.id}`)).json();
  ok(b2.status === "complete" && b2.files[0].status === "completed", "the same batch is complete");
  const got = Buffer.from(await (await api(`/api/v1/download/stream/${b2.files[0].id}`)).arrayBuffer());
  ok(sha(got) === sha(big.buffer), "the paused, reloaded and resumed file is byte-identical");
} catch (e) {
  ok(false, "the browser session ran to its end");
  diag(e.stack || e);
} finally {
  await browser.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
