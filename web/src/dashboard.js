// footfall's dashboard: one page per hash route, each reading footfall's own API.
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

// ---------------------------------------------------------------------------------------------
// API access: a bearer token from ?token= (kept in localStorage) when footfall has one.

const params = new URLSearchParams(location.search);
if (params.get("token")) localStorage.setItem("footfall-token", params.get("token"));
const token = () => localStorage.getItem("footfall-token");

async function api(path, body) {
  const headers = { "content-type": "application/json" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  const response = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = { error: text };
  }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

const sql = (query) => api("/api/v1/sql", { query });

// ---------------------------------------------------------------------------------------------
// Small DOM helpers.

const page = () => document.getElementById("page");
const esc = (v) => String(v ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const fmt = (n, digits = 0) => (n == null || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pct = (x) => (x == null ? "–" : `${(100 * x).toFixed(1)}%`);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

function table(columns, rows, testid) {
  const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${esc(c.label)}</th>`).join("");
  const body = rows
    .map((r) => `<tr>${columns.map((c) => `<td class="${c.num ? "num" : ""}">${c.html ? c.value(r) : esc(c.value(r))}</td>`).join("")}</tr>`)
    .join("");
  return `<table data-testid="${testid}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function showError(where, error) {
  where.innerHTML = `<p class="error" data-testid="error">${esc(error.message || error)}</p>`;
}

const charts = [];
function chart(element) {
  const c = echarts.init(element);
  charts.push(c);
  return c;
}
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

// Work a page started that must stop when the user leaves it.
let cleanups = [];
function onLeave(fn) {
  cleanups.push(fn);
}

// ---------------------------------------------------------------------------------------------
// Live: the SSE stream of the processor's live view, plus a 30-minute funnel and top pages.

const LIVE_FUNNEL = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"];

function live() {
  page().innerHTML = `
    <div class="kpis">
      <div class="kpi"><div class="label">events / s (last 10 s)</div><div class="value" data-testid="kpi-events-per-second">–</div></div>
      <div class="kpi"><div class="label">active persons (5 min)</div><div class="value" data-testid="kpi-active-persons">–</div></div>
      <div class="kpi"><div class="label">revenue / min</div><div class="value" data-testid="kpi-revenue-per-minute">–</div></div>
      <div class="kpi"><div class="label">orders (10 min)</div><div class="value" data-testid="kpi-orders">–</div></div>
      <div class="kpi"><div class="label">events processed</div><div class="value" data-testid="kpi-events-seen">–</div></div>
      <div class="kpi"><div class="label">late events</div><div class="value" data-testid="kpi-late">–</div></div>
    </div>
    <div class="grid">
      <div class="card"><h2>Events per 10 seconds</h2><div class="chart" id="live-chart"></div></div>
      <div class="card"><h2>Funnel, last 30 minutes</h2><div class="chart" id="live-funnel"></div><div id="live-funnel-table"></div></div>
    </div>
    <div class="grid">
      <div class="card"><h2>Recent events</h2><div class="feed" id="feed"></div></div>
      <div class="card"><h2>Top pages and products, last 30 minutes</h2><div id="top-pages"></div><div id="top-products"></div></div>
    </div>`;
  const eventsChart = chart(document.getElementById("live-chart"));
  const funnelChart = chart(document.getElementById("live-funnel"));
  let latest = null;
  // EventSource cannot send an Authorization header: the token goes as a parameter.
  const source = new EventSource(token() ? `/api/v1/live?token=${encodeURIComponent(token())}` : "/api/v1/live");
  source.addEventListener("live", (message) => {
    latest = JSON.parse(message.data);
  });
  source.onerror = () => {
    document.getElementById("status").textContent = "live stream reconnecting…";
  };
  // Render at most four times a second, whatever the stream's rate.
  const render = setInterval(() => {
    if (!latest) return;
    renderLive(latest, eventsChart);
    document.getElementById("status").textContent = `live · ${new Date().toLocaleTimeString()}`;
    // For measurements (bench/live_browser.mjs): what was just drawn.
    document.dispatchEvent(new CustomEvent("footfall:live-rendered", { detail: latest }));
  }, 250);
  const refresh = async () => {
    const to = Date.now();
    try {
      const steps = await api("/api/v1/funnel", { steps: LIVE_FUNNEL, window: "30m", from: iso(to - 30 * 60_000), to: iso(to + 1000) });
      renderFunnel(steps, funnelChart, document.getElementById("live-funnel-table"), "live-funnel");
      const since = `now() - INTERVAL '30 minutes'`;
      const pages = await sql(`SELECT path, count(*) AS views FROM events WHERE type = 'page' AND event_time > ${since} AND path IS NOT NULL GROUP BY path ORDER BY views DESC, path LIMIT 5`);
      document.getElementById("top-pages").innerHTML = table(
        [{ label: "page", value: (r) => r.path }, { label: "views", num: true, value: (r) => fmt(r.views) }],
        pages.rows,
        "top-pages",
      );
      const products = await sql(`SELECT json_get_str(properties, 'name') AS product, count(*) AS views FROM events WHERE event = 'Product Viewed' AND event_time > ${since} GROUP BY 1 ORDER BY views DESC, product LIMIT 5`);
      document.getElementById("top-products").innerHTML = table(
        [{ label: "product", value: (r) => r.product }, { label: "views", num: true, value: (r) => fmt(r.views) }],
        products.rows,
        "top-products",
      );
    } catch (error) {
      showError(document.getElementById("live-funnel-table"), error);
    }
  };
  refresh();
  const timer = setInterval(refresh, 5000);
  onLeave(() => {
    source.close();
    clearInterval(render);
    clearInterval(timer);
  });
}

function renderLive(s, eventsChart) {
  const buckets = s.buckets || [];
  // The newest bucket is still filling: rates come from the last complete one.
  const complete = buckets.length > 1 ? buckets[buckets.length - 2] : buckets[0];
  const lastMinute = buckets.slice(-7, -1);
  const set = (id, text) => {
    document.querySelector(`[data-testid="${id}"]`).textContent = text;
  };
  set("kpi-events-per-second", fmt(complete ? complete.events / 10 : 0, 1));
  set("kpi-active-persons", fmt(s.active_persons));
  set("kpi-revenue-per-minute", fmt(lastMinute.reduce((sum, b) => sum + b.revenue, 0), 2));
  set("kpi-orders", fmt(buckets.reduce((sum, b) => sum + b.orders, 0)));
  set("kpi-events-seen", fmt(s.events_seen));
  set("kpi-late", fmt(s.late_seen));
  eventsChart.setOption({
    animation: false,
    grid: { left: 40, right: 10, top: 10, bottom: 24 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "time" },
    yAxis: { type: "value" },
    series: [{ type: "line", showSymbol: false, areaStyle: {}, data: buckets.map((b) => [b.start / 1000, b.events]) }],
  });
  document.getElementById("feed").innerHTML = table(
    [
      { label: "time", value: (e) => new Date(e.time / 1000).toLocaleTimeString() },
      { label: "event", value: (e) => e.event },
      { label: "person", value: (e) => e.person_id.slice(0, 12) },
      { label: "page", value: (e) => e.path || "" },
      { label: "device", value: (e) => e.device_type },
      { label: "channel", value: (e) => e.channel },
      { label: "revenue", num: true, value: (e) => (e.revenue == null ? "" : fmt(e.revenue, 2)) },
    ],
    s.recent || [],
    "feed",
  );
}

// ---------------------------------------------------------------------------------------------
// Funnels.

function renderFunnel(steps, barChart, tableElement, testid) {
  const first = steps.filter((s) => s.breakdown == null || s.breakdown === steps[0].breakdown);
  barChart.setOption({
    animation: false,
    grid: { left: 40, right: 10, top: 10, bottom: 40 },
    tooltip: {},
    xAxis: { type: "category", data: first.map((s) => s.event), axisLabel: { interval: 0, rotate: 15 } },
    yAxis: { type: "value" },
    series: [
      { type: "bar", stack: "f", name: "persons", data: first.map((s) => s.persons) },
      { type: "bar", stack: "f", name: "dropped", itemStyle: { color: "#d9dde8" }, data: first.map((s) => s.dropoff) },
    ],
  });
  tableElement.innerHTML = table(
    [
      { label: "step", value: (s) => s.step },
      { label: "event", value: (s) => (s.optional ? `?${s.event}` : s.event) },
      ...(steps.some((s) => s.breakdown != null) ? [{ label: "breakdown", value: (s) => s.breakdown ?? "(none)" }] : []),
      { label: "persons", num: true, value: (s) => s.persons },
      { label: "from start", num: true, value: (s) => pct(s.conversion_from_start) },
      { label: "from previous", num: true, value: (s) => pct(s.conversion_from_previous) },
      { label: "drop-off", num: true, value: (s) => s.dropoff },
      { label: "median s", num: true, value: (s) => fmt(s.median_seconds_to_convert) },
    ],
    steps,
    testid,
  );
}

function funnels() {
  page().innerHTML = `
    <form id="funnel-form">
      <label>steps (comma separated; ?optional)<input name="steps" size="60" value="${LIVE_FUNNEL.join(",")}"></label>
      <label>window<input name="window" size="5" value="1h"></label>
      <label>mode<select name="mode"><option>ordered</option><option>strict</option><option>any</option></select></label>
      <label>breakdown<select name="breakdown"><option value="">none</option><option>device</option><option>channel</option><option>campaign</option><option>country</option></select></label>
      <label>from<input name="from" size="22" placeholder="30 days ago"></label>
      <label>to<input name="to" size="22" placeholder="now"></label>
      <button>Run</button>
    </form>
    <div class="card"><div class="chart" id="funnel-chart"></div><div id="funnel-table"></div></div>`;
  const bars = chart(document.getElementById("funnel-chart"));
  const form = document.getElementById("funnel-form");
  const run = async (event) => {
    event?.preventDefault();
    const f = new FormData(form);
    const body = { steps: f.get("steps").split(",").map((s) => s.trim()).filter(Boolean), window: f.get("window"), mode: f.get("mode") };
    if (f.get("breakdown")) body.breakdown = f.get("breakdown");
    if (f.get("from")) body.from = f.get("from");
    if (f.get("to")) body.to = f.get("to");
    try {
      renderFunnel(await api("/api/v1/funnel", body), bars, document.getElementById("funnel-table"), "funnel-table");
    } catch (error) {
      showError(document.getElementById("funnel-table"), error);
    }
  };
  form.addEventListener("submit", run);
  prefill(form);
  run();
}

// Fills a form from ?key=value parameters of the hash (`#funnels?from=…`).
function prefill(form) {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  for (const [key, value] of query) if (form.elements[key]) form.elements[key].value = value;
}

// ---------------------------------------------------------------------------------------------
// Trends: the metrics API.

function trends() {
  page().innerHTML = `
    <form id="trend-form">
      <label>metric<select name="metric"><option>events</option><option>uniques</option><option>revenue</option><option>orders</option></select></label>
      <label>event<input name="event" placeholder="all"></label>
      <label>step<select name="step"><option>1m</option><option>5m</option><option selected>1h</option><option>1d</option></select></label>
      <label>breakdown<select name="by"><option value="">none</option><option>device</option><option>channel</option><option>event</option></select></label>
      <label>from<input name="from" size="22" placeholder="24 hours ago"></label>
      <label>to<input name="to" size="22" placeholder="now"></label>
      <button>Run</button>
    </form>
    <div class="card"><div class="chart" id="trend-chart" style="height:360px"></div><div id="trend-table"></div></div>`;
  const lines = chart(document.getElementById("trend-chart"));
  const form = document.getElementById("trend-form");
  const run = async (event) => {
    event?.preventDefault();
    const query = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) query.set(k, v);
    try {
      const answer = await api(`/api/v1/metrics?${query}`);
      const by = answer.by;
      lines.setOption(
        {
          animation: false,
          grid: { left: 50, right: 10, top: 30, bottom: 24 },
          tooltip: { trigger: "axis" },
          legend: { type: "scroll" },
          xAxis: { type: "time" },
          yAxis: { type: "value" },
          series: answer.series.map((s) => ({
            type: "line",
            showSymbol: false,
            name: by ? s[by] : answer.metric,
            data: s.points.map((p) => [p.time, p.value]),
          })),
        },
        true,
      );
      const totals = answer.series.map((s) => ({ name: by ? s[by] : answer.metric, total: s.points.reduce((a, p) => a + p.value, 0) }));
      document.getElementById("trend-table").innerHTML = table(
        [{ label: by || "metric", value: (r) => r.name }, { label: "total", num: true, value: (r) => fmt(r.total, answer.metric === "revenue" ? 2 : 0) }],
        totals,
        "trend-table",
      );
    } catch (error) {
      showError(document.getElementById("trend-table"), error);
    }
  };
  form.addEventListener("submit", run);
  prefill(form);
  run();
}

// ---------------------------------------------------------------------------------------------
// Retention: a cohort heat map as a table.

function retention() {
  page().innerHTML = `
    <form id="retention-form">
      <label>start event<input name="start" value="Product Viewed"></label>
      <label>return event<input name="return" value="Order Completed"></label>
      <label>period<select name="period"><option>day</option><option>week</option></select></label>
      <label>periods<input name="periods" size="3" value="7"></label>
      <label>cohorts<select name="cohorts"><option>first_time</option><option>recurring</option></select></label>
      <label>mode<select name="mode"><option>bounded</option><option>unbounded</option></select></label>
      <button>Run</button>
    </form>
    <div class="card"><div id="retention-table"></div></div>`;
  const form = document.getElementById("retention-form");
  const run = async (event) => {
    event?.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    f.periods = Number(f.periods);
    try {
      const cells = await api("/api/v1/retention", f);
      const cohorts = [...new Set(cells.map((c) => c.cohort))];
      const periods = Math.max(0, ...cells.map((c) => c.period));
      const cell = (c) => {
        if (!c) return "";
        const shade = `rgba(59,110,245,${(c.percent / 100).toFixed(2)})`;
        const ink = c.percent > 55 ? "#fff" : "inherit";
        return `<span style="display:block;background:${shade};color:${ink};padding:2px 4px">${c.percent.toFixed(1)}%${c.incomplete ? "…" : ""}</span>`;
      };
      const rows = cohorts.map((cohort) => ({ cohort, cells: cells.filter((c) => c.cohort === cohort) }));
      document.getElementById("retention-table").innerHTML = table(
        [
          { label: "cohort", value: (r) => r.cohort },
          { label: "persons", num: true, value: (r) => r.cells[0].cohort_size },
          ...Array.from({ length: periods + 1 }, (_, k) => ({ label: `${f.period[0]}${k}`, html: true, value: (r) => cell(r.cells.find((c) => c.period === k)) })),
        ],
        rows,
        "retention-table",
      );
    } catch (error) {
      showError(document.getElementById("retention-table"), error);
    }
  };
  form.addEventListener("submit", run);
  run();
}

// ---------------------------------------------------------------------------------------------
// Segments: RFM and behavioural clusters.

async function segments() {
  page().innerHTML = `<div class="grid"><div class="card"><h2>RFM segments</h2><div id="rfm"></div></div>
    <div class="card"><h2>Behavioural clusters</h2><div id="clusters"></div></div></div>`;
  try {
    const answer = await api("/api/v1/segments", {});
    document.getElementById("rfm").innerHTML =
      `<p>${fmt(answer.buyers)} buyers as of ${esc(answer.as_of)}</p>` +
      table(
        [
          { label: "segment", value: (s) => s.segment },
          { label: "persons", num: true, value: (s) => fmt(s.persons) },
          { label: "recency days", num: true, value: (s) => fmt(s.mean_recency_days, 1) },
          { label: "orders", num: true, value: (s) => fmt(s.mean_frequency, 2) },
          { label: "revenue", num: true, value: (s) => fmt(s.mean_monetary, 2) },
        ],
        answer.segments,
        "rfm-table",
      );
    const c = answer.clusters;
    document.getElementById("clusters").innerHTML = c
      ? `<p>k = ${c.k} (best silhouette) over ${fmt(c.persons)} active persons</p>` +
        table(
          [
            { label: "cluster", value: (p) => p.cluster },
            { label: "persons", num: true, value: (p) => fmt(p.persons) },
            { label: "stands out by", value: (p) => p.label },
            { label: "events 30d", num: true, value: (p) => fmt(p.means.events_30d, 1) },
            { label: "orders", num: true, value: (p) => fmt(p.means.orders, 2) },
            { label: "recency days", num: true, value: (p) => fmt(p.means.recency_days, 1) },
          ],
          c.profiles,
          "cluster-table",
        )
      : "<p>Too few active persons to cluster.</p>";
  } catch (error) {
    showError(page(), error);
  }
}

// ---------------------------------------------------------------------------------------------
// Churn: the latest model and scores.

async function churn() {
  page().innerHTML = `<div class="grid"><div class="card"><h2>Churn risk</h2><div class="chart" id="churn-chart"></div><div id="churn-model"></div></div>
    <div class="card"><h2>Most at risk</h2><div id="churn-top"></div></div></div>`;
  try {
    const answer = await api("/api/v1/churn", { top: 20 });
    if (!answer.report) {
      document.getElementById("churn-model").innerHTML = `<p data-testid="churn-none">No model yet: run <code>footfall churn train</code> and <code>footfall churn score</code>.</p>`;
      return;
    }
    document.getElementById("churn-model").innerHTML =
      `<p>trained ${esc(answer.trained_at)}; scoring model <b>${esc(answer.report.chosen)}</b></p>` +
      table(
        [
          { label: "model", value: (m) => m.model },
          { label: "ROC AUC", num: true, value: (m) => fmt(m.auc, 3) },
          { label: "precision@10%", num: true, value: (m) => pct(m.precision_at_10pct) },
        ],
        answer.report.models,
        "churn-models",
      );
    if (answer.scored) {
      chart(document.getElementById("churn-chart")).setOption({
        animation: false,
        grid: { left: 40, right: 10, top: 10, bottom: 24 },
        xAxis: { type: "category", data: answer.scored.histogram.map((_, i) => `${i * 10}–${i * 10 + 10}%`) },
        yAxis: { type: "value" },
        series: [{ type: "bar", data: answer.scored.histogram }],
      });
      document.getElementById("churn-top").innerHTML = table(
        [
          { label: "rank", value: (s) => s.rank },
          { label: "person", value: (s) => s.person_id },
          { label: "risk", num: true, value: (s) => pct(s.churn_probability) },
          { label: "recency days", num: true, value: (s) => fmt(s.recency_days, 1) },
          { label: "orders", num: true, value: (s) => fmt(s.orders) },
        ],
        answer.scored.top,
        "churn-top",
      );
    }
  } catch (error) {
    showError(page(), error);
  }
}

// ---------------------------------------------------------------------------------------------
// Data quality: accepted vs dead-lettered per minute, reasons, late events, lag.

async function quality() {
  page().innerHTML = `<div class="card"><h2>Accepted and dead-lettered events per minute, last hour</h2><div class="chart" id="quality-chart"></div></div>
    <div class="grid"><div class="card"><h2>Dead letters by reason, last 24 hours</h2><div id="reasons"></div></div>
    <div class="card"><h2>Freshness</h2><div id="lag"></div></div></div>`;
  try {
    const since = `now() - INTERVAL '1 hour'`;
    const [accepted, rejected, reasons, lag] = await Promise.all([
      sql(`SELECT date_trunc('minute', received_at) AS minute, count(*) AS n FROM raw_events WHERE received_at > ${since} GROUP BY 1 ORDER BY 1`),
      sql(`SELECT date_trunc('minute', received_at) AS minute, count(*) AS n FROM dead_letters WHERE received_at > ${since} GROUP BY 1 ORDER BY 1`),
      sql(`SELECT reason_code, count(*) AS n, min(reason) AS example FROM dead_letters WHERE received_at > now() - INTERVAL '1 day' GROUP BY 1 ORDER BY n DESC`),
      sql(`SELECT count(*) FILTER (WHERE late) AS late, max(event_time) AS latest_event, max(received_at) AS latest_received FROM events`),
    ]);
    const now = Date.now();
    chart(document.getElementById("quality-chart")).setOption({
      animation: false,
      grid: { left: 40, right: 10, top: 40, bottom: 24 },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "time", min: now - 3_600_000, max: now + 60_000 },
      yAxis: { type: "value" },
      series: [
        { type: "bar", name: "accepted", data: accepted.rows.map((r) => [r.minute, r.n]) },
        { type: "bar", name: "dead-lettered", data: rejected.rows.map((r) => [r.minute, r.n]) },
      ],
    });
    document.getElementById("reasons").innerHTML = table(
      [{ label: "reason", value: (r) => r.reason_code }, { label: "count", num: true, value: (r) => fmt(r.n) }, { label: "example", value: (r) => r.example }],
      reasons.rows,
      "reasons",
    );
    const row = lag.rows[0] || {};
    const behind = row.latest_received ? (Date.now() - Date.parse(row.latest_received)) / 1000 : null;
    document.getElementById("lag").innerHTML = table(
      [{ label: "measure", value: (r) => r[0] }, { label: "value", num: true, value: (r) => r[1] }],
      [
        ["late events (all time)", fmt(row.late)],
        ["latest event time in the lake", row.latest_event ?? "–"],
        ["seconds since the lake's latest event was received", fmt(behind, 1)],
      ],
      "freshness",
    );
  } catch (error) {
    showError(page(), error);
  }
}

// ---------------------------------------------------------------------------------------------
// Routing.

const pages = { live, trends, funnels, retention, segments, churn, quality };

function route() {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  charts.splice(0).forEach((c) => c.dispose());
  const name = (location.hash.slice(1).split("?")[0] || "live").toLowerCase();
  const show = pages[name] || live;
  document.querySelectorAll("nav a[data-page]").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  document.getElementById("status").textContent = "";
  show();
}

window.addEventListener("hashchange", route);
route();
