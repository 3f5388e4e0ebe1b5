// SPDX-License-Identifier: BSD-2-Clause
// upload-page-open.mjs: the upload page as a person leaves it open, in
// Debian's Chromium driven by playwright-core. Prints TAP.
//
// Environment: BATCHUP_URL (nginx in front of batchup), TOKEN (a user of
// its own whose limit is 1 and who has no batches yet), STACK_DIR (the
// stack's folder: its batchup.log is read, screenshots go to
// STACK_DIR/artefacts), ARTEFACTS (a second folder for the screenshots,
// build/artefacts), BIG_FILE (a sparse file larger than max_user_bytes).
//
// What a person does, and what must follow:
//   1. keyboard only: Tab to the token, type it, Enter; every focused
//      control shows a focus ring;
//   2. the list of their batches, newest first, with status, file count,
//      size, link and copy button, expiry; Delete asks first, and deletes;
//   3. three files with a limit of 1, started with Enter on Upload: per-file
//      size, progress bar (role=progressbar, aria-valuenow), rate, and
//      "Queued (1)" and "Queued (2)" at once; a total with ETA; the batch
//      completes;
//   4. a folder picked (webkitdirectory) uploads with its relative paths as
//      names; files dropped on the page are taken;
//   5. the page closed mid-upload, opened again, the same file picked: it
//      says it resumes, and completes sending only the bytes the server did
//      not have;
//   6. errors in words: a refused token (401), a batch over the quota (413),
//      a network loss that heals by itself;
//   7. every button and input has an accessible name; at 360 px nothing
//      scrolls sideways; screenshots at 360 and 1280 px.
import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, copyFileSync } from "node:fs";
import { join } from "node:path";

const base = process.env.BATCHUP_URL;
const token = process.env.TOKEN;
const stackDir = process.env.STACK_DIR || "/tmp";
const scratch = mkdtempSync(join(stackDir, "browser-open-"));
const shots = [join(stackDir, "artefacts"), process.env.ARTEFACTS].filter(Boolean);
for (const d of shots) mkdirSync(d, { recursive: true });
let n = 0, failed = 0;
const ok = (cond, what) => { n++; if (!cond) failed++; console.log(`${cond ? "ok" : "not ok"} ${n} - ${what}`); return cond; };
const diag = (s) => console.log("# " + String(s).replace(/\n/g, "\n# "));
const sha = (b) => createHash("sha256").update(b).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { if (await fn()) return true; } catch (e) { /* the page is between states */ }
    await sleep(100);
  }
  diag(`timed out after ${ms} ms waiting for ${what}`);
  return false;
}

async function api(path, opts = {}) {
  return fetch(base + path, { ...opts, headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0", ...(opts.headers || {}) } });
}

async function offsetOf(url) {
  return Number((await api(url, { method: "HEAD" })).headers.get("Upload-Offset"));
}

// Tab from where the focus is until the element with this id has it; the
// number of presses is bounded, so an unreachable control fails.
async function tabTo(page, id) {
  for (let i = 0; i < 40; i++) {
    if ((await page.evaluate(() => document.activeElement && document.activeElement.id)) === id) return true;
    await page.keyboard.press("Tab");
  }
  return false;
}

async function screenshot(page, name) {
  const first = join(shots[0], name);
  await page.screenshot({ path: first, fullPage: true });
  for (const d of shots.slice(1)) copyFileSync(first, join(d, name));
  diag(`screenshot ${name} in ${shots.join(" and ")}`);
}

async function throttle(cdp, bytesPerSecond) {
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(base).origin });
  let page = await context.newPage();
  let cdp = null;
  // Each part runs to its end or fails on its own, so that one failing part
  // still lets the others show what works.
  const part = async (what, fn) => {
    try { await fn(); } catch (e) { ok(false, `${what}: ran to its end`); diag(e.stack || e); }
  };
  page.on("pageerror", (e) => diag("page error: " + e.message));

  // Two batches made through the API before the page opens: an older
  // complete one (an empty file completes at creation) and a newer one
  // still uploading.
  const mk = async (files) => (await api("/api/v1/batches", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ files }) })).json();
  const older = await mk([{ name: "empty.txt", size: 0 }]);
  await sleep(50);
  const newer = await mk([{ name: "ten.bin", size: 10 }, { name: "more.bin", size: 2048 }]);

  // 1. Keyboard only: Tab to the token field, type, Enter.
  await part("the keyboard", async () => {
    await page.goto(base + "/");
    ok(await tabTo(page, "token"), "Tab reaches the token field");
    await page.keyboard.type(token);
    await page.keyboard.press("Enter");
    ok(await waitFor(async () => (await page.textContent("#who")) === "token OK", 5000, "token OK"),
       "Enter in the token field saves it and the server accepts it");
    const ring = await page.evaluate(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; });
    ok(!/^none/.test(ring) && !/ 0px$/.test(ring), `the focused control shows a focus ring (outline ${ring})`);
  });

  // 2. The batch list.
  await part("the batch list", async () => {
    ok(await waitFor(async () => (await page.$$("#batches li[data-id]")).length === 2, 5000, "two batches listed"),
       "the page lists the person's batches");
    const items = await page.$$eval("#batches li[data-id]", (lis) => lis.map((li) => ({
      id: li.dataset.id, status: li.querySelector(".status").textContent, count: li.querySelector(".count").textContent,
      link: (li.querySelector(".linkrow input") || {}).value || "", copy: !!li.querySelector(".linkrow button"),
      expires: li.querySelector(".expires").textContent })));
    ok(items[0].id === newer.id && items[1].id === older.id, "newest first");
    ok(items[0].status === "uploading" && /^2 files, 2\.0 KiB/.test(items[0].count),
       `the uploading batch shows its status, file count and size (${items[0].status}: ${items[0].count})`);
    const olderNow = await (await api(`/api/v1/batches/${older.id}`)).json();
    ok(items[1].status === "complete" && olderNow.download_url && items[1].link.endsWith(olderNow.download_url) && items[1].copy,
       `the complete batch shows its link and a Copy button (${items[1].link})`);
    ok(/^link expires \S/.test(items[1].expires), `its expiry is shown (${items[1].expires})`);
    await page.evaluate(() => navigator.clipboard.writeText("not the link"));
    await page.click(`#batches li[data-id="${older.id}"] .linkrow button`);
    await waitFor(async () => (await page.evaluate(() => navigator.clipboard.readText())) !== "not the link", 3000, "clipboard");
    ok((await page.evaluate(() => navigator.clipboard.readText())) === items[1].link, "the list's Copy button puts that link on the clipboard");
    page.once("dialog", (d) => d.dismiss());
    await page.click(`#batches li[data-id="${newer.id}"] .del`);
    await sleep(500);
    ok((await api(`/api/v1/batches/${newer.id}`)).status === 200 && (await page.$(`#batches li[data-id="${newer.id}"]`)) !== null,
       "Delete, declined in its confirmation, deletes nothing");
    let asked = "";
    page.once("dialog", (d) => { asked = d.message(); d.accept(); });
    await page.click(`#batches li[data-id="${newer.id}"] .del`);
    ok(await waitFor(async () => (await page.$(`#batches li[data-id="${newer.id}"]`)) === null, 5000, "the item gone"),
       `Delete, confirmed ("${asked}"), removes the batch from the list`);
    ok((await api(`/api/v1/batches/${newer.id}`)).status === 404, "and from the server (404)");
  });

  // 3. Three files, limit 1, started from the keyboard; queue, rate, ETA.
  await part("three files with a limit of 1", async () => {
    cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await throttle(cdp, 512 << 10);
    const three = ["one.bin", "two.bin", "three.bin"].map((name, i) => ({ name, mimeType: "application/octet-stream", buffer: randomBytes((2 + i) << 20) }));
    await page.setInputFiles("#pick", three);
    ok(await tabTo(page, "start"), "Tab reaches the Upload button");
    await page.keyboard.press("Enter");
    let seen = null;
    const queued = await waitFor(async () => {
      seen = await page.$$eval(".file", (rows) => rows.map((r) => ({
        name: r.querySelector(".name").textContent, size: r.querySelector(".size").textContent,
        state: r.querySelector(".state").textContent, rate: r.querySelector(".rate").textContent,
        now: Number(r.querySelector('[role="progressbar"]').getAttribute("aria-valuenow")) })));
      const st = seen.map((r) => r.state);
      return st.includes("Queued (1)") && st.includes("Queued (2)") && seen.some((r) => /^Uploading/.test(r.state) && r.now > 0 && /\/s$/.test(r.rate));
    }, 20000, "Queued (1), Queued (2) and an upload with a rate");
    ok(queued, "Enter on Upload starts it: one file uploads (bar, rate), the others show Queued (1) and Queued (2)");
    diag(JSON.stringify(seen));
    ok(seen && seen.map((r) => r.size).join(",") === "2.0 MiB,3.0 MiB,4.0 MiB", "each file shows its size");
    const sum = await page.textContent("#summary");
    ok(/9\.0 MiB.*\/s, about .+ left.*queued 2/.test(sum), `a total with rate and time left ("${sum}")`);
    ok((await page.getAttribute("#summary", "aria-live")) === "polite", "the total is an aria-live region");
    await screenshot(page, "upload-page-1280-queue.png");
    await throttle(cdp, -1);
    ok(await waitFor(() => page.isVisible("#link"), 60000, "the batch link"), "the three files complete and the link appears");
    await page.focus("#copy");
    await page.keyboard.press("Space");
    ok(await waitFor(async () => (await page.textContent("#copy")) === "Copied", 3000, "Copied"), "Space on Copy copies the link");
  });

  // 4. A folder picked, and files dropped.
  await part("a folder and a drop", async () => {
    const dir = join(scratch, "album");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "a.txt"), "alpha\n");
    writeFileSync(join(dir, "sub", "b.txt"), "beta beta\n");
    await page.setInputFiles("#folder", dir);
    await waitFor(async () => (await page.$$(".file")).length === 2, 3000, "two rows");
    await page.click("#start");
    ok(await waitFor(async () => (await page.isVisible("#link")) && !(await page.textContent("#files")).includes("Uploading"), 15000, "folder done"),
       "the folder uploads");
    const folderBatch = (await (await api("/api/v1/batches?limit=1&files=1")).json()).batches[0];
    const names = (folderBatch.files || []).map((f) => f.name).sort();
    ok(names.join(",") === "album/a.txt,album/sub/b.txt", `its files are named by their relative paths (${names.join(", ")})`);
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["dropped one"], "drop-1.txt", { type: "text/plain" }));
      dt.items.add(new File(["dropped two!"], "drop-2.txt", { type: "text/plain" }));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    ok(await waitFor(async () => (await page.$$eval(".file .name", (e) => e.map((x) => x.textContent))).join(",") === "drop-1.txt,drop-2.txt", 3000, "dropped rows"),
       "files dropped on the page are taken");
    await page.click("#start");
    await waitFor(() => page.isVisible("#link"), 15000, "dropped files done");
    const dropBatch = (await (await api("/api/v1/batches?limit=1&files=1")).json()).batches[0];
    ok(dropBatch.status === "complete" && dropBatch.files.map((f) => f.name).sort().join(",") === "drop-1.txt,drop-2.txt", "and upload as one batch");
    // The total counts this batch's files only, not rows of the one before.
    const total = await page.textContent("#summary");
    ok(/^2 files, 23 B of 23 B \(100%\)/.test(total), `the total is this batch's ("${total}")`);
  });

  // 7a. Screenshots and the width check with the list, the files and the link shown.
  await part("360 px and the screenshots", async () => {
    await loadList(page);
    await screenshot(page, "upload-page-1280.png");
    await page.setViewportSize({ width: 360, height: 800 });
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    ok(widths[0] <= widths[1], `no horizontal scroll at 360 px (scrollWidth ${widths[0]}, clientWidth ${widths[1]})`);
    await screenshot(page, "upload-page-360.png");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  // 7b. Every control has an accessible name, as Chromium's accessibility
  await part("accessible names", async () => {
    // tree (what a screen reader reads) gives it.
    const ax = await cdp.send("Accessibility.getFullAXTree");
    const controls = ax.nodes.filter((x) => !x.ignored && ["button", "textbox", "progressbar", "checkbox", "combobox", "link"].includes(x.role && x.role.value));
    const nameless = controls.filter((x) => !(x.name && String(x.name.value).trim()));
    ok(controls.length >= 10 && nameless.length === 0,
       `all ${controls.length} controls have an accessible name` + (nameless.length ? ` (nameless: ${nameless.map((x) => x.role.value).join(", ")})` : ""));
    const bars = ax.nodes.filter((x) => !x.ignored && x.role && x.role.value === "progressbar");
    ok(bars.length === 2 && bars.every((b) => (b.properties || []).some((p) => p.name === "valuetext" || p.name === "valuemax")),
       `the files' progress bars are progressbars with values (${bars.length})`);
  });

  // 5. Closed mid-upload, opened again, the same file picked again.
  await part("resume after the page was closed", async () => {
    const big = join(scratch, "resume.bin");
    const bigBuf = randomBytes(6 << 20);
    writeFileSync(big, bigBuf);
    await throttle(cdp, 1 << 20);
    await page.setInputFiles("#pick", big);
    await page.click("#start");
    await waitFor(async () => /Uploading [1-9]/.test(await page.textContent("#files")), 15000, "Uploading");
    await sleep(1500);
    const saved = JSON.parse(await page.evaluate(() => localStorage.getItem("batchup.batch")));
    const fps = await page.evaluate(() => localStorage.getItem("batchup.fingerprints"));
    ok(saved && fps && fps.includes("resume.bin") && fps.includes(saved.id), "the file's fingerprint maps to its batch in localStorage");
    await cdp.detach();
    await page.close();
    // Wait until the server's offset holds still: the cut-off body is kept.
    const rb = await (await api(`/api/v1/batches/${saved.id}`)).json();
    const url = rb.files[0].upload_url;
    let kept = -1;
    await waitFor(async () => { const o = await offsetOf(url); const same = o === kept && o > 0; kept = o; await sleep(400); return same; }, 10000, "a still offset");
    ok(kept > 0 && kept < bigBuf.length, `the server kept ${kept} of ${bigBuf.length} bytes of the closed page`);
    const logBefore = readFileSync(join(stackDir, "batchup.log"), "utf8").split("\n").length;
    page = await context.newPage();
    page.on("pageerror", (e) => diag("page error: " + e.message));
    await page.goto(base + "/");
    ok(await waitFor(async () => (await page.textContent("#note")).includes("pick (or drop) the same files again"), 5000, "resume note"),
       "opened again, the page says an unfinished batch waits for the same files");
    await page.setInputFiles("#pick", big);
    ok(await waitFor(async () => (await page.textContent("#note")).includes(saved.id) && (await page.textContent("#note")).includes("already on the server"), 5000, "resumes note"),
       "the same file picked again: the page says it resumes that batch");
    await page.click("#start");
    ok(await waitFor(() => page.isVisible("#link"), 30000, "the link after resume"), "the resumed upload completes");
    const lines = readFileSync(join(stackDir, "batchup.log"), "utf8").split("\n").slice(logBefore - 1);
    const fileId = url.split("/").pop();
    const resent = lines.filter((l) => l.includes(`request "PATCH" "/api/v1/files/${fileId}" 204 `))
      .map((l) => Number(/ 204 (\d+) /.exec(l)[1])).reduce((a, b) => a + b, 0);
    ok(resent === bigBuf.length - kept, `the second page sent ${resent} bytes: exactly the ${bigBuf.length - kept} the server lacked`);
    const done = await (await api(`/api/v1/batches/${saved.id}`)).json();
    const got = Buffer.from(await (await api(`/api/v1/download/stream/${done.files[0].id}`)).arrayBuffer());
    ok(done.status === "complete" && sha(got) === sha(bigBuf), "the same batch is complete and the file byte-identical");
  });

  // 6. Errors in words. A network loss first: it heals by itself.
  await part("errors in words", async () => {
    const net = await context.newCDPSession(page);
    await net.send("Network.enable");
    await throttle(net, 512 << 10);
    const lossy = { name: "lossy.bin", mimeType: "application/octet-stream", buffer: randomBytes(3 << 20) };
    await page.setInputFiles("#pick", lossy);
    await page.click("#start");
    await waitFor(async () => /Uploading [1-9]/.test(await page.textContent("#files")), 15000, "Uploading");
    await net.send("Network.emulateNetworkConditions", { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    ok(await waitFor(async () => /Connection lost: retrying by itself/.test(await page.textContent("#files")), 10000, "Connection lost"),
       "a network loss is said in words, with an automatic retry");
    await sleep(1500);
    await throttle(net, -1);
    ok(await waitFor(() => page.isVisible("#link"), 40000, "the link after the loss"), "back online, the upload completes without the person");
    const lossBatch = (await (await api("/api/v1/batches?limit=1&files=1")).json()).batches[0];
    const lossGot = Buffer.from(await (await api(`/api/v1/download/stream/${lossBatch.files[0].id}`)).arrayBuffer());
    ok(sha(lossGot) === sha(lossy.buffer), "and the file is byte-identical");
    await net.detach();

    await page.setInputFiles("#pick", process.env.BIG_FILE);
    await page.click("#start");
    ok(await waitFor(async () => /over a limit of your account \(413\)/.test(await page.textContent("#note")), 5000, "413 words"),
       `a batch over the quota is said in words ("${await page.textContent("#note")}")`);

    await page.fill("#token", "not-a-token");
    await page.press("#token", "Enter");
    ok(await waitFor(async () => /does not accept this token \(401\)/.test(await page.textContent("#who")), 5000, "401 words"),
       `a refused token is said in words ("${await page.textContent("#who")}")`);
  });

} catch (e) {
  ok(false, "the browser session ran to its end");
  diag(e.stack || e);
} finally {
  await browser.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);

async function loadList(p) {
  await p.click("#refresh");
  await sleep(500);
}
