// Search playground: POST /api/v1/search across chosen scopes; each hit with its score, the store
// that answered, and the row behind it; `degraded` when a projection was down.
import { api, badge, h, session, short, Scope } from "../lib.js";

const DEFAULT_SCOPES = ["knowledge", "conversations", "code"];

function caption(item) {
  return item.topic ? `${item.topic}: ${item.content}` : item.content || item.description || item.name || item.key || item.id;
}

export function render(root, { query }) {
  const scope = new Scope();
  const stores = session.current.search_scopes;
  const input = h("input", { type: "search", name: "query", size: 60, placeholder: "what are you looking for?",
                             "data-testid": "search-query", value: query.get("q") || "" });
  const boxes = Object.keys(stores).map((name) => h("label", { class: "chipbox" },
    h("span", {}, h("input", { type: "checkbox", value: name, checked: DEFAULT_SCOPES.includes(name),
                               "data-testid": `scope-${name}` }), ` ${name}`)));
  const agent = h("input", { name: "agent_id", size: 36, placeholder: "agent id (for memory)" });
  const mode = h("select", { name: "mode" }, ["hybrid", "vector", "keyword"].map((m) => h("option", { value: m }, m)));
  const limit = h("input", { type: "number", name: "limit", min: 1, max: 100, value: 10, style: "width:70px" });
  const out = h("div", { "data-testid": "search-results" });
  const form = h("form", { class: "card" },
    h("div", { class: "row" }, h("label", {}, "query", input), h("label", {}, "mode", mode), h("label", {}, "limit", limit),
      h("button", { type: "submit", "data-testid": "search-run" }, "Search")),
    h("div", { class: "row", style: "margin-top:8px" }, boxes, h("label", {}, "agent", agent)));
  root.replaceChildren(h("h1", {}, "Search playground"), form, out);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scopes = boxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
    const body = { query: input.value, scopes, mode: mode.value, limit: Number(limit.value) || 10 };
    if (agent.value.trim()) body.agent_id = agent.value.trim();
    out.replaceChildren(h("p", { class: "muted" }, "searching…"));
    const started = performance.now();
    try {
      const answer = await api("/api/v1/search", { method: "POST", body });
      const ms = performance.now() - started;
      const rows = answer.results.map((hit, i) => {
        const store = stores[hit.scope];
        const answered = answer.degraded.includes(store) ? "postgres (pgvector)" : store;
        const keyword = body.mode !== "vector" && store !== "postgres" ? " + postgres (BM25)" : "";
        return h("tr", { "data-testid": "search-hit" },
          h("td", {}, i + 1), h("td", {}, badge(hit.scope, "")), h("td", { class: "mono" }, hit.score.toFixed(3)),
          h("td", {}, answered + (body.mode === "keyword" ? "" : keyword),
            answer.degraded.includes(store) ? [" ", badge("degraded")] : ""),
          h("td", {}, h("div", { "data-testid": "hit-caption" }, short(caption(hit.item), 160)),
            h("details", {}, h("summary", {}, "row"), h("pre", {}, JSON.stringify(hit.item, null, 2)))));
      });
      out.replaceChildren(
        answer.degraded.length ? h("div", { class: "banner", "data-testid": "search-degraded" },
          `degraded: ${answer.degraded.join(", ")} did not answer; pgvector in PostgreSQL answered instead`) : "",
        h("p", { class: "muted" }, `${answer.results.length} hits in ${ms.toFixed(0)} ms (${answer.mode})`),
        h("table", {}, h("thead", {}, h("tr", {}, ["#", "scope", "score", "answered by", "hit"].map((t) => h("th", {}, t)))),
          h("tbody", {}, rows)));
    } catch (error) {
      out.replaceChildren(h("p", { class: "error" }, `${error.field ? error.field + ": " : ""}${error.message}`));
    }
  });
  if (input.value) form.requestSubmit();
  return scope;
}
