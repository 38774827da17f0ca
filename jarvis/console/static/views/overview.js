// Overview: the five stores, the outbox, the queues and the request metrics, every 2 s.
// Everything here comes from /health, /metrics (Prometheus text) and /console/api/outbox.
import { age, api, h, s, Scope } from "../lib.js";

const STORES = ["postgres", "redis", "neo4j", "chroma", "qdrant"];
const QUEUES = [["task:queue:high", "high"], ["task:queue:medium", "medium"], ["task:queue:low", "low"],
                ["task:inflight", "in flight"], ["task:delayed", "delayed"]];
const HISTORY = 60;

/** Samples of a Prometheus text exposition: [{name, labels, value}]. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const p of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    samples.push({ name: m[1], labels, value: parseFloat(m[3]) });
  }
  return samples;
}

/** Totals of the request counter and latency histogram (the console's own polling excluded). */
function requestTotals(samples) {
  const own = (l) => (l.route || "").startsWith("/console") || l.route === "/metrics" || l.route === "/health";
  const totals = { count: 0, errors: 0, sum: 0, n: 0, buckets: new Map() };
  for (const { name, labels, value } of samples) {
    if (own(labels)) continue;
    if (name === "jarvis_http_requests_total") {
      totals.count += value;
      if (labels.status?.startsWith("5")) totals.errors += value;
    } else if (name === "jarvis_http_request_duration_seconds_sum") totals.sum += value;
    else if (name === "jarvis_http_request_duration_seconds_count") totals.n += value;
    else if (name === "jarvis_http_request_duration_seconds_bucket") {
      totals.buckets.set(labels.le, (totals.buckets.get(labels.le) || 0) + value);
    }
  }
  return totals;
}

function quantile(buckets, previous, q) {
  const deltas = [...buckets.entries()].map(([le, v]) => [le === "+Inf" ? Infinity : parseFloat(le),
                                                          v - (previous?.get(le) || 0)]).sort((a, b) => a[0] - b[0]);
  const total = deltas.length ? deltas[deltas.length - 1][1] : 0;
  if (total <= 0) return null;
  const found = deltas.find(([, v]) => v >= q * total);
  return found && Number.isFinite(found[0]) ? found[0] : null;
}

export function render(root) {
  const scope = new Scope();
  const tiles = h("div", { class: "tiles", "data-testid": "store-tiles" });
  const status = h("span", { class: "badge" }, "…");
  const outbox = h("div", { class: "stats" });
  const lag = h("tbody");
  const queues = h("div", { class: "stats" });
  const requests = h("div", { class: "stats" });
  const spark = s("svg", { class: "spark", viewBox: `0 0 ${HISTORY} 40`, preserveAspectRatio: "none" });
  const updated = h("span", { class: "muted" });
  root.replaceChildren(
    h("h1", {}, "Overview ", status, " ", updated),
    h("h2", {}, "Stores"), tiles,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Outbox"), outbox,
        h("h3", {}, "Projection lag"),
        h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "store"), h("th", {}, "pending"),
                                       h("th", {}, "oldest pending"), h("th", {}, "dead letters"))), lag)),
      h("div", {}, h("h2", {}, "Task queues"), queues,
        h("h2", {}, "Requests"), requests, spark)));
  let previous = null;
  const rates = [];

  const stat = (label, value, testid) => h("div", { class: "stat", "data-testid": testid },
                                           h("div", { class: "label" }, label), h("div", { class: "value" }, value));

  async function refresh() {
    const [health, metricsText, lagging] = await Promise.all([
      api("/health", { accept: [503] }), api("/metrics").catch(() => ""), api("/console/api/outbox").catch(() => null)]);
    status.textContent = health.status;
    status.className = `badge ${health.status === "ok" ? "ok" : health.status === "down" ? "bad" : "degraded"}`;
    status.dataset.testid = "overall-status";
    tiles.replaceChildren(...STORES.map((name) => {
      const store = health.stores.find((x) => x.store === name) || { up: false };
      return h("div", { class: `tile ${store.up ? "up" : "down"}`, "data-testid": `store-${name}`,
                        "data-up": store.up ? "true" : "false" },
        h("div", { class: "name" }, name),
        h("div", { class: "big" }, store.latency_ms != null ? `${store.latency_ms.toFixed(1)} ms` : "—"),
        h("div", { class: "state" }, store.up ? "up" : "down"),
        h("div", { class: "muted" }, store.up ? (store.version || "") : (store.detail || "not answering")));
    }));
    const samples = parseMetrics(metricsText);
    const one = (name, labels = {}) => samples.find((x) => x.name === name &&
      Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    outbox.replaceChildren(
      stat("pending events", one("jarvis_outbox_pending_events") ?? "—", "outbox-pending"),
      stat("oldest pending", age(one("jarvis_outbox_oldest_pending_seconds")), "outbox-oldest"),
      stat("dead letters", one("jarvis_outbox_dead_events") ?? "—", "outbox-dead"));
    const perStore = lagging?.stores || {};
    lag.replaceChildren(...["neo4j", "chroma", "qdrant", "redis"].map((name) => {
      const row = perStore[name] || { pending: 0, dead: 0, oldest_pending_seconds: 0 };
      return h("tr", {}, h("td", {}, name), h("td", {}, row.pending), h("td", {}, row.pending ? age(row.oldest_pending_seconds) : "—"),
               h("td", {}, row.dead));
    }));
    queues.replaceChildren(...QUEUES.map(([key, label]) => stat(label, one("jarvis_task_queue_length", { queue: key }) ?? "—",
                                                                `queue-${label.replace(" ", "-")}`)));
    const totals = requestTotals(samples);
    const now = performance.now();
    if (previous) {
      const seconds = (now - previous.at) / 1000;
      const rate = Math.max(0, (totals.count - previous.count) / seconds);
      const n = totals.n - previous.n;
      rates.push(rate); if (rates.length > HISTORY) rates.shift();
      const p95 = quantile(totals.buckets, previous.buckets, 0.95);
      requests.replaceChildren(
        stat("requests / s", rate.toFixed(1), "requests-rate"),
        stat("mean latency", n > 0 ? `${(((totals.sum - previous.sum) / n) * 1000).toFixed(1)} ms` : "—", "requests-latency"),
        stat("p95 ≤", p95 != null ? `${(p95 * 1000).toFixed(0)} ms` : "—", "requests-p95"),
        stat("5xx since start", totals.errors, "requests-errors"));
      const top = Math.max(1, ...rates);
      spark.replaceChildren(s("polyline", { points: rates.map((r, i) => `${i + HISTORY - rates.length},${40 - (r / top) * 38}`).join(" ") }));
    } else {
      requests.replaceChildren(stat("requests since start", totals.count, "requests-total"));
    }
    previous = { ...totals, at: now };
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  scope.every(2000, () => refresh().catch((e) => { updated.textContent = `update failed: ${e.message}`; }));
  return scope;
}
