// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
// `footfall serve` holding a day of simulated shoppers: every page loads without console
// errors (a screenshot of each is kept), the numbers shown equal the API's, and a click in the
// demo shop reaches the Live feed within two seconds.
//
// Run: FOOTFALL_BIN=target/debug/footfall node --test web/tests/
// Screenshots go to $FOOTFALL_ARTIFACTS (default web/test-artifacts).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.FOOTFALL_BIN || join(here, "../../target/debug/footfall");
const artifacts = process.env.FOOTFALL_ARTIFACTS || join(here, "../test-artifacts");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const KEY = "web-test-key";
const DESKTOP_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

let server;
let url;
let data;
let browser;

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(path, body) {
  const response = await fetch(`${url}${path}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.ok(response.ok, `${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

/** The first live snapshot of the SSE stream. */
async function liveSnapshot() {
  const response = await fetch(`${url}/api/v1/live`);
  const reader = response.body.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("live stream ended");
    text += new TextDecoder().decode(value);
    const line = text.split("\n").find((l) => l.startsWith("data:") && text.includes("\n\n"));
    if (line) {
      await reader.cancel();
      return JSON.parse(line.slice(5));
    }
  }
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  data = mkdtempSync(join(tmpdir(), "footfall-web-"));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(bin, ["serve", "--data", data, "--listen", `127.0.0.1:${port}`, "--write-key", KEY], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    if (i > 300) throw new Error("footfall serve did not start");
    await sleep(100);
  }
  // One message the collector refuses (a track without an event name): a dead letter.
  const refused = await fetch(`${url}/v1/track`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`${KEY}:`).toString("base64")}` },
    body: JSON.stringify({ userId: "u-bad", messageId: "bad-1" }),
  });
  assert.equal(refused.status, 400);
  const sim = spawnSync(bin, ["simulate", "--seed", "3", "--users", "150", "--days", "1", "--to", url, "--write-key", KEY], { stdio: ["ignore", "ignore", "inherit"] });
  assert.equal(sim.status, 0, "simulate");
  // Processed: the live view's count stops moving and the lake holds every event.
  let previous = -1;
  for (let i = 0; i < 100; i++) {
    const seen = (await liveSnapshot()).events_seen;
    if (seen === previous && seen > 0) break;
    previous = seen;
    await sleep(1500);
  }
  browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  await sleep(500);
  rmSync(data, { recursive: true, force: true });
});

/** Opens `path`, collecting console errors and uncaught exceptions. */
async function open(path) {
  // A headed Chrome's user agent: footfall's enrichment flags HeadlessChrome as a bot, and bots
  // are kept out of the live view, sessions and metrics.
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, userAgent: DESKTOP_CHROME });
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${url}${path}`);
  return { page, errors };
}

const PAGES = [
  ["live", '[data-testid="feed"]'],
  ["trends", '[data-testid="trend-table"]'],
  ["funnels", '[data-testid="funnel-table"]'],
  ["retention", '[data-testid="retention-table"]'],
  ["segments", '[data-testid="rfm-table"]'],
  ["churn", '[data-testid="churn-none"], [data-testid="churn-models"]'],
  ["quality", '[data-testid="freshness"]'],
];

test("every page loads without console errors; a screenshot of each is kept", async () => {
  for (const [name, ready] of PAGES) {
    const { page, errors } = await open(`/#${name}`);
    await page.waitForSelector(ready, { timeout: 15000 });
    await sleep(300);
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
    assert.equal(await page.locator('[data-testid="error"]').count(), 0, `${name}: ${await page.locator("main").innerText()}`);
    assert.deepEqual(errors, [], `${name} console`);
    if (name === "quality") {
      const reasons = await page.$$eval('[data-testid="reasons"] tbody tr', (rows) => rows.map((r) => r.cells[0].textContent));
      assert.ok(reasons.length >= 1, "the refused message is listed by reason");
    }
    await page.close();
  }
});

test("the funnel page shows the API's numbers for the same funnel", async () => {
  const to = new Date().toISOString();
  const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
  const steps = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"];
  const expected = await api("/api/v1/funnel", { steps, window: "1h", mode: "ordered", from, to });
  assert.ok(expected[0].persons > 10, JSON.stringify(expected));
  const query = new URLSearchParams({ steps: steps.join(","), window: "1h", from, to });
  const { page, errors } = await open(`/#funnels?${query}`);
  await page.waitForSelector('[data-testid="funnel-table"] tbody tr');
  const shown = await page.$$eval('[data-testid="funnel-table"] tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(
    shown.map((r) => [r[1], Number(r[2]), Number(r[5])]),
    expected.map((s) => [s.event, s.persons, s.dropoff]),
  );
  assert.deepEqual(errors, []);
  await page.close();
});

test("the live page shows the live stream's counts", async () => {
  const { page, errors } = await open("/#live");
  const snapshot = await liveSnapshot();
  const format = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 0 });
  await page.waitForFunction((text) => document.querySelector('[data-testid="kpi-events-seen"]').textContent === text, format(snapshot.events_seen), { timeout: 5000 });
  assert.equal(await page.textContent('[data-testid="kpi-late"]'), format(snapshot.late_seen));
  assert.deepEqual(errors, []);
  await page.close();
});

test("add to cart in the demo shop appears in the Live feed within two seconds", async () => {
  const user = `shop-${Date.now() % 100000}`;
  const shop = await open("/shop");
  await shop.page.waitForSelector('[data-testid="status"][data-ready="true"]', { timeout: 15000 });
  await shop.page.fill("#user", user);
  await shop.page.click('[data-testid="login"]');
  await shop.page.waitForFunction((u) => document.getElementById("status").textContent.includes(u), user);
  const live = await open("/#live");
  await live.page.waitForSelector('[data-testid="feed"]');
  const clicked = Date.now();
  await shop.page.click('[data-testid="add-sku-202"]');
  await live.page.waitForFunction(
    (u) => [...document.querySelectorAll('[data-testid="feed"] tbody tr')].some((r) => r.cells[1].textContent === "Product Added" && r.cells[2].textContent === u.slice(0, 12)),
    user,
    { timeout: 5000, polling: 50 },
  );
  const elapsed = Date.now() - clicked;
  console.log(`shop click → live feed: ${elapsed} ms`);
  assert.ok(elapsed <= 2000, `${elapsed} ms`);
  await live.page.screenshot({ path: join(artifacts, "live-after-shop.png") });
  await shop.page.screenshot({ path: join(artifacts, "shop.png") });
  assert.deepEqual(shop.errors, []);
  assert.deepEqual(live.errors, []);
});
