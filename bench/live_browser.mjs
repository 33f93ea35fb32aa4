// The Live page in a real browser under load: acknowledgement → drawn latency, page weight and
// first render time (until the first live snapshot is drawn).
//
// A `footfall serve` (release by default) runs the whole pipeline while `footfall simulate
// --rate R` sends live traffic. Headless Chromium (Debian's, via playwright-core) shows the
// Live page. Every PERIOD ms a probe sends one `track` event with a unique name and notes when
// its acknowledgement came back; the page announces each snapshot it draws
// (`footfall:live-rendered`), and the first drawn snapshot whose buckets hold the probe's name
// ends its latency. Prints JSON: p50/p99/max latency, probes missing, the load actually sent,
// the page's weight (bytes transferred, by kind) and first contentful paint / first live
// number times.
//
//   cargo build --release -p footfall
//   node bench/live_browser.mjs --rate 10000 --seconds 30 [--bin PATH]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "../web/node_modules/playwright-core/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const target = process.env.CARGO_TARGET_DIR || join(here, "../target");
const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "10000" },
    seconds: { type: "string", default: "30" },
    period: { type: "string", default: "100" },
    bin: { type: "string", default: join(target, "release/footfall") },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const KEY = "browser-bench-key";
const PROBE = "Browser Probe ";
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const url = `http://127.0.0.1:${port}`;
const data = mkdtempSync(join(tmpdir(), "footfall-browser-bench-"));
const server = spawn(args.bin, ["serve", "--data", data, "--listen", `127.0.0.1:${port}`, "--write-key", KEY], { stdio: "ignore" });
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${url}/healthz`)).ok) break;
  } catch {}
  if (i > 300) throw new Error("footfall serve did not start");
  await sleep(100);
}

const browser = await chromium.launch({ executablePath: args.chromium, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
const page = await browser.newPage({ userAgent: UA, viewport: { width: 1400, height: 900 } });
const drawn = new Map(); // probe name → when first drawn (ms since epoch)
await page.exposeFunction("__probeDrawn", (names) => {
  const now = Date.now();
  for (const name of names) if (!drawn.has(name)) drawn.set(name, now);
});
await page.addInitScript((prefix) => {
  document.addEventListener("footfall:live-rendered", (e) => {
    const names = new Set();
    for (const b of e.detail.buckets || []) for (const name of Object.keys(b.by_event || {})) if (name.startsWith(prefix)) names.add(name);
    if (names.size) window.__probeDrawn([...names]);
  });
}, PROBE);

// Page weight and first render on an idle server first.
const navigationStart = Date.now();
await page.goto(`${url}/#live`);
await page.waitForFunction(() => document.getElementById("status")?.textContent.startsWith("live"), null, { timeout: 10000 });
const firstNumberMs = Date.now() - navigationStart;
const weight = await page.evaluate(() => {
  const byKind = {};
  let total = 0;
  for (const r of performance.getEntriesByType("resource")) {
    if (r.initiatorType === "fetch" || r.name.includes("/api/")) continue;
    const kind = r.name.split("?")[0].split(".").pop();
    byKind[kind] = (byKind[kind] || 0) + r.encodedBodySize;
    total += r.encodedBodySize;
  }
  const nav = performance.getEntriesByType("navigation")[0];
  total += nav.encodedBodySize;
  byKind.html = nav.encodedBodySize;
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return { total, byKind, fcpMs: fcp ? Math.round(fcp.startTime) : null, domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd) };
});

// Load and probes.
const sim = spawn(args.bin, ["simulate", "--rate", args.rate, "--duration", args.seconds, "--to", url, "--write-key", KEY], { stdio: ["ignore", "ignore", "pipe"] });
let simOutput = "";
sim.stderr.on("data", (d) => (simOutput += d));
await sleep(2000); // let the load settle
const acked = new Map();
const probeUntil = Date.now() + (Number(args.seconds) - 4) * 1000;
for (let n = 0; Date.now() < probeUntil; n++) {
  const name = `${PROBE}${n}`;
  const body = JSON.stringify({ userId: `probe-${n}`, event: name, messageId: `browser-probe-${n}` });
  const response = await fetch(`${url}/v1/track`, { method: "POST", headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`${KEY}:`).toString("base64")}` }, body });
  if (response.ok) acked.set(name, Date.now());
  await sleep(Number(args.period));
}
await new Promise((resolve) => sim.on("exit", resolve));
await sleep(3000);
await browser.close();
server.kill("SIGTERM");
await sleep(1000);
rmSync(data, { recursive: true, force: true });

const latencies = [...acked].filter(([name]) => drawn.has(name)).map(([name, at]) => drawn.get(name) - at).sort((a, b) => a - b);
const quantile = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
const sent = /simulated (\d+) events in ([\d.]+) s/.exec(simOutput);
console.log(
  JSON.stringify(
    {
      rate_asked: Number(args.rate),
      rate_sent: sent ? Math.round(Number(sent[1]) / Number(sent[2])) : null,
      probes: acked.size,
      missing: acked.size - latencies.length,
      latency_ms: { p50: quantile(0.5), p99: quantile(0.99), max: latencies.at(-1) },
      page: { bytes: weight.total, by_kind: weight.byKind, first_contentful_paint_ms: weight.fcpMs, dom_content_loaded_ms: weight.domContentLoadedMs, first_live_render_ms: firstNumberMs },
    },
    null,
    2,
  ),
);
