// Tasks by state, changing live (the status_update and task_assignment channels), and a form
// to submit a task (write scope only: the form is absent for a read key, the API refuses it too).
import { api, badge, can, h, live, short, since, Scope, toast } from "../lib.js";

const STATES = ["pending", "running", "completed", "failed", "cancelled"];

export function render(root, { query }) {
  const scope = new Scope();
  let status = query.get("status") || "";
  const chips = h("div", { class: "chips", "data-testid": "task-counts" });
  const body = h("tbody", { "data-testid": "tasks-body" });
  const liveNote = h("span", { class: "muted", "data-testid": "live-status" }, live.status === "open" ? "live" : "connecting…");
  const recent = new Set();
  const form = can("write") ? creation() : "";
  root.replaceChildren(h("h1", {}, "Tasks ", liveNote), form, chips,
    h("table", {}, h("thead", {}, h("tr", {}, ["name", "status", "priority", "type", "agent", "requested by", "attempts", "created"]
      .map((t) => h("th", {}, t)))), body));

  async function refresh() {
    const { tasks, counts } = await api("/console/api/tasks", { params: { status, limit: 100 } });
    chips.replaceChildren(h("button", { class: `chip ${status ? "" : "on"}`, onclick: () => { status = ""; refresh(); } },
                            `all ${Object.values(counts).reduce((a, b) => a + b, 0)}`),
      ...STATES.map((st) => h("button", { class: `chip ${status === st ? "on" : ""}`, "data-testid": `count-${st}`,
                                          onclick: () => { status = st; refresh(); } }, `${st} ${counts[st]}`)));
    body.replaceChildren(...tasks.map((t) => h("tr", { "data-testid": "task-row", "data-id": t.id, "data-name": t.name,
                                                    class: recent.has(t.id) ? "flash" : "" },
      h("td", {}, t.name, t.description ? h("div", { class: "muted" }, short(t.description, 80)) : ""),
      h("td", {}, badge(t.status)), h("td", {}, t.priority), h("td", {}, t.type),
      h("td", {}, t.agent_id ? h("a", { href: `#/agents/${t.agent_id}` }, t.agent_name || t.agent_id.slice(0, 8)) : "—"),
      h("td", {}, t.requested_by || "—"), h("td", {}, `${t.attempts}/${t.max_attempts}`), h("td", { class: "muted" }, since(t.created_at)))));
    recent.clear();
  }

  let pending = null;
  scope.listen((m) => {
    if (m.kind === "status") { liveNote.textContent = m.status === "open" ? "live" : "reconnecting…"; return; }
    if ((m.channel === "status_update" || m.channel === "task_assignment") && m.data.task_id) {
      recent.add(m.data.task_id);
      clearTimeout(pending);
      pending = setTimeout(() => refresh().catch(() => {}), 150);  // a burst of changes: one reload
    }
  });
  scope.every(60000, () => refresh().catch((e) => body.replaceChildren(h("tr", {}, h("td", { class: "error" }, e.message)))));
  return scope;

  function creation() {
    const name = h("input", { name: "name", required: true, size: 30, "data-testid": "task-name" });
    const type = h("select", { name: "type" }, ["chat", "voice", "autonomous", "scheduled"].map((t) => h("option", {}, t)));
    const priority = h("input", { type: "number", name: "priority", min: 1, max: 10, value: 5, style: "width:60px" });
    const description = h("input", { name: "description", size: 40 });
    const error = h("span", { class: "error" });
    const f = h("form", { class: "card", "data-testid": "task-form" },
      h("div", { class: "row" }, h("label", {}, "name", name), h("label", {}, "type", type), h("label", {}, "priority", priority),
        h("label", {}, "description", description), h("button", { type: "submit", "data-testid": "task-submit" }, "Submit task"), error));
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        const body = { name: name.value, type: type.value, priority: Number(priority.value) };
        if (description.value) body.description = description.value;
        const task = await api("/api/v1/tasks", { method: "POST", body });
        toast(`task ${task.name} submitted (queue ${task.queue || "pending repair"})`);  // it appears through the live channel
        name.value = ""; description.value = "";
      } catch (e) {
        error.textContent = `${e.field ? e.field + ": " : ""}${e.message}`;
      }
    });
    return f;
  }
}
