// Agents: status, heartbeat age, capabilities, running task and lock; an agent's own page.
import { age, api, badge, h, short, since, Scope } from "../lib.js";

const capabilityNames = (caps) => (caps || []).map((c) => (typeof c === "string" ? c : c.name || JSON.stringify(c)));

function list(root, scope) {
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  root.replaceChildren(h("h1", {}, "Agents"), note,
    h("table", { "data-testid": "agents-table" },
      h("thead", {}, h("tr", {}, ["name", "type", "status", "heartbeat", "capabilities", "running task", "lock"]
        .map((t) => h("th", {}, t)))), body));
  async function refresh() {
    const { agents, degraded } = await api("/console/api/agents");
    note.textContent = `${agents.length} agents` + (degraded.length ? ` — live status unknown (${degraded.join(", ")} down)` : "");
    body.replaceChildren(...agents.map((a) => h("tr", { class: "clickable", "data-testid": "agent-row", "data-name": a.name,
                                                     onclick: () => { location.hash = `#/agents/${a.id}`; } },
      h("td", {}, h("a", { href: `#/agents/${a.id}` }, a.name)), h("td", {}, a.type),
      h("td", {}, badge(a.live_status?.status || a.status)),
      h("td", {}, age(a.heartbeat_age_seconds)), h("td", {}, short(capabilityNames(a.capabilities).join(", "), 60)),
      h("td", { class: "mono" }, a.live_status?.current_task || "—"), h("td", { class: "mono" }, a.locked ? (a.lock_worker || "held") : "—"))));
  }
  scope.every(5000, () => refresh().catch((e) => { note.textContent = e.message; }));
  scope.listen((m) => { if (m.channel === "status_update" && m.data.agent_id && !m.data.task_id) refresh().catch(() => {}); });
}

function page(root, scope, id) {
  root.replaceChildren(h("p", { class: "muted" }, "loading…"));
  api(`/console/api/agents/${encodeURIComponent(id)}`).then((p) => {
    const a = p.agent;
    const memory = Object.entries(p.memory).map(([type, items]) => h("div", { class: "card", "data-testid": `memory-${type}` },
      h("h3", {}, `${type} (${items.length})`),
      items.length ? items.map((m) => h("div", { class: "mem" }, h("b", {}, m.key), " ", h("span", { class: "muted" }, `imp ${m.importance}`),
                                         h("div", {}, short(m.value, 200)))) : h("div", { class: "muted" }, "none")));
    root.replaceChildren(
      h("p", {}, h("a", { href: "#/agents" }, "← agents")),
      h("h1", { "data-testid": "agent-name" }, a.name, " ", badge(a.live_status?.status || a.status)),
      h("div", { class: "row" },
        h("div", { class: "muted" }, `${a.type} · heartbeat ${since(a.last_heartbeat)} ago · id `, h("code", {}, a.id)),
        h("a", { href: `#/graph?node=${a.id}`, "data-testid": "agent-graph-link" }, "graph around this agent →")),
      p.degraded.length ? h("div", { class: "banner" }, `degraded: ${p.degraded.join(", ")}`) : "",
      h("h2", {}, "Capabilities"), h("div", { class: "chips" }, capabilityNames(a.capabilities).map((c) => badge(c, ""))),
      h("h2", {}, "Memory by type"), h("div", { class: "memory-cols" }, memory),
      h("div", { class: "grid2" },
        h("div", {}, h("h2", {}, "Recent events"),
          h("table", {}, h("tbody", {}, p.events.length ? p.events.map((e) => h("tr", {},
            h("td", {}, badge(e.severity)), h("td", {}, e.event_type), h("td", {}, e.message),
            h("td", { class: "muted" }, since(e.created_at))))
            : h("tr", {}, h("td", { class: "muted" }, "none"))))),
        h("div", {}, h("h2", {}, "Collaborations"),
          h("table", {}, h("tbody", {}, p.collaborations.length ? p.collaborations.map((c) => h("tr", {},
            h("td", {}, h("a", { href: `#/agents/${c.id}` }, c.name)),
            h("td", { class: "muted" }, `${c.collaboration_count}×`))) : h("tr", {}, h("td", { class: "muted" }, "none")))))),
      h("h2", {}, "Tasks"),
      h("table", {}, h("tbody", {}, p.tasks.length ? p.tasks.map((t) => h("tr", {},
        h("td", {}, t.name), h("td", {}, badge(t.status)), h("td", { class: "muted" }, since(t.created_at))))
        : h("tr", {}, h("td", { class: "muted" }, "none")))));
  }).catch((e) => root.replaceChildren(h("p", { class: "error" }, e.message)));
}

export function render(root, { args }) {
  const scope = new Scope();
  if (args[0]) page(root, scope, args[0]); else list(root, scope);
  return scope;
}
