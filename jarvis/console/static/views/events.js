// Live events and logs: the four pub/sub channels as they stream (filtered by channel and text),
// and the stored system events searched by severity, time and text.
import { api, badge, h, live, session, since, Scope } from "../lib.js";

const MAX_LINES = 500;

export function render(root) {
  const scope = new Scope();
  const channels = session.current.channels;
  const on = new Set(channels);
  const text = h("input", { type: "search", placeholder: "filter text", "data-testid": "live-filter" });
  const pause = h("button", { class: "ghost", type: "button" }, "Pause");
  const stream = h("div", { class: "stream", "data-testid": "live-stream" });
  const state = h("span", { class: "muted" }, live.status === "open" ? "live" : "connecting…");
  let paused = false;
  pause.addEventListener("click", () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; });
  const chips = channels.map((c) => h("button", { class: "chip on", type: "button", onclick: (e) => {
    if (on.has(c)) on.delete(c); else on.add(c);
    e.target.classList.toggle("on", on.has(c));
  } }, c));

  const severity = h("select", { name: "min_severity", "data-testid": "events-severity" },
    ["debug", "info", "warning", "error", "critical"].map((x) => h("option", { value: x }, `${x}+`)));
  const from = h("input", { type: "datetime-local", name: "since" });
  const to = h("input", { type: "datetime-local", name: "until" });
  const query = h("input", { type: "search", name: "text", placeholder: "type, source, message or details contain" });
  const results = h("tbody", { "data-testid": "events-body" });
  const form = h("form", { class: "card row" }, h("label", {}, "severity", severity), h("label", {}, "since", from),
    h("label", {}, "until", to), h("label", {}, "text", query), h("button", { type: "submit" }, "Search events"));

  root.replaceChildren(h("h1", {}, "Events & logs"),
    h("h2", {}, "Live channels ", state), h("div", { class: "row" }, h("div", { class: "chips" }, chips), text, pause), stream,
    h("h2", {}, "System events"), form,
    h("table", {}, h("thead", {}, h("tr", {}, ["when", "severity", "type", "source", "message", "details"].map((t) => h("th", {}, t)))), results));

  scope.listen((m) => {
    if (m.kind === "status") { state.textContent = m.status === "open" ? "live" : "reconnecting…"; return; }
    if (paused || !on.has(m.channel)) return;
    const body = JSON.stringify(m.data);
    if (text.value && !`${m.channel} ${body}`.toLowerCase().includes(text.value.toLowerCase())) return;
    stream.prepend(h("div", { class: "line", "data-testid": "live-line" }, h("span", { class: "muted" }, new Date().toLocaleTimeString(), " "),
                     h("span", { class: "ch" }, m.channel), body));
    while (stream.childElementCount > MAX_LINES) stream.lastChild.remove();
  });

  const iso = (value) => value ? new Date(value).toISOString() : undefined;
  async function search() {
    const rows = await api("/console/api/events", { params: { min_severity: severity.value, since: iso(from.value),
                                                              until: iso(to.value), text: query.value, limit: 200 } });
    results.replaceChildren(...(rows.length ? rows.map((e) => h("tr", {}, h("td", { class: "muted", title: e.created_at }, `${since(e.created_at)} ago`),
      h("td", {}, badge(e.severity)), h("td", {}, e.event_type), h("td", {}, e.source), h("td", {}, e.message),
      h("td", { class: "mono" }, JSON.stringify(e.details)))) : [h("tr", {}, h("td", { class: "muted" }, "no events"))]));
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); search().catch((e) => results.replaceChildren(h("tr", {}, h("td", { class: "error" }, e.message)))); });
  search().catch(() => {});
  return scope;
}
