// Knowledge graph explorer: the 1-3 hop neighbourhood of a topic or a node, drawn with SVG and a
// small force layout (repulsion between nodes, springs along relationships, a pull to the centre);
// clicking a node fetches its own neighbours and adds them.
import { api, h, s, Scope } from "../lib.js";

const COLOURS = { Knowledge: "#4fa3ff", Agent: "#2ecc71", Task: "#f5b942", User: "#c678dd", Model: "#ff7f50",
                  Capability: "#56d4c9" };
const W = 1000, H = 560;

export class Layout {
  constructor() { this.nodes = new Map(); this.edges = new Map(); }
  add(graph, near) {
    const origin = near && this.nodes.get(near);
    for (const n of graph.nodes) {
      if (this.nodes.has(n.key)) continue;
      const angle = Math.random() * Math.PI * 2, r = origin ? 40 : 150 * Math.random();
      this.nodes.set(n.key, { ...n, x: (origin ? origin.x : W / 2) + r * Math.cos(angle),
                              y: (origin ? origin.y : H / 2) + r * Math.sin(angle) });
    }
    for (const e of graph.edges) this.edges.set(`${e.type}|${e.source}|${e.target}`, e);
  }
  /** One step of Fruchterman-Reingold: every pair repels (k²/d), every relationship pulls (d²/k),
   *  a weak gravity keeps separate pieces in view; no node moves further than *heat*. */
  tick(heat) {
    const nodes = [...this.nodes.values()];
    const k = Math.min(150, 0.7 * Math.sqrt((W * H) / Math.max(nodes.length, 1)));
    for (const n of nodes) { n.dx = 0; n.dy = 0; }
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i], b = nodes[j];
        let dx = a.x - b.x, dy = a.y - b.y, d = Math.hypot(dx, dy);
        if (d < 0.01) { dx = Math.random() - 0.5; dy = Math.random() - 0.5; d = Math.hypot(dx, dy); }
        const f = (k * k) / d;
        a.dx += (dx / d) * f; a.dy += (dy / d) * f; b.dx -= (dx / d) * f; b.dy -= (dy / d) * f;
      }
    }
    for (const e of this.edges.values()) {
      const a = this.nodes.get(e.source), b = this.nodes.get(e.target);
      if (!a || !b || a === b) continue;
      const dx = a.x - b.x, dy = a.y - b.y, d = Math.hypot(dx, dy) || 0.01, f = (d * d) / k;
      a.dx -= (dx / d) * f; a.dy -= (dy / d) * f; b.dx += (dx / d) * f; b.dy += (dy / d) * f;
    }
    for (const n of nodes) {
      n.dx += (W / 2 - n.x) * 0.08 * (k / 60); n.dy += (H / 2 - n.y) * 0.08 * (k / 60);
      const d = Math.hypot(n.dx, n.dy) || 1, step = Math.min(d, heat);
      n.x = Math.min(W - 60, Math.max(20, n.x + (n.dx / d) * step));
      n.y = Math.min(H - 20, Math.max(20, n.y + (n.dy / d) * step));
    }
  }
}

export function render(root, { query }) {
  const scope = new Scope();
  const topic = h("input", { name: "topic", placeholder: "knowledge topic", value: query.get("topic") || "", "data-testid": "graph-topic" });
  const node = h("input", { name: "node", size: 36, placeholder: "or a node id (agent, task, …)", value: query.get("node") || "" });
  const hops = h("select", { name: "hops" }, [1, 2, 3].map((n) => h("option", { value: n, selected: n === 2 }, n)));
  const info = h("p", { class: "muted", "data-testid": "graph-info" }, "Start from a topic or a node; click a node to expand it.");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-testid": "graph-svg" });
  const form = h("form", { class: "card row" }, h("label", {}, "topic", topic), h("label", {}, "node", node),
    h("label", {}, "hops", hops), h("button", { type: "submit", "data-testid": "graph-go" }, "Explore"));
  root.replaceChildren(h("h1", {}, "Knowledge graph"), form,
    h("div", { class: "legend" }, Object.entries(COLOURS).map(([label, c]) => h("span", {}, h("i", { style: `background:${c}` }), label))),
    info, h("div", { class: "graph-wrap" }, svg));
  let layout = new Layout();
  let frame = null;
  scope.stops.push(() => cancelAnimationFrame(frame));

  function draw() {
    const lines = [...layout.edges.values()].map((e) => {
      const a = layout.nodes.get(e.source), b = layout.nodes.get(e.target);
      if (!a || !b) return null;
      return s("g", {}, s("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y }, s("title", {}, e.type)),
        s("text", { class: "edge-label", x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }, e.type));
    }).filter(Boolean);
    const circles = [...layout.nodes.values()].map((n) => s("g", { class: "node", "data-key": n.key, "data-label": n.label,
                                                                  transform: `translate(${n.x},${n.y})`, onclick: () => expand(n.key) },
      s("circle", { r: n.expanded ? 9 : 7, fill: COLOURS[n.label] || "#999", stroke: n.expanded ? "#fff" : "none" },
        s("title", {}, `${n.label}: ${n.caption}${n.kind ? ` (${n.kind})` : ""}\n${n.key}`)),
      s("text", { x: 11, y: 4 }, String(n.caption || n.key).slice(0, 28))));
    svg.replaceChildren(...lines, ...circles);
    info.textContent = `${layout.nodes.size} nodes, ${layout.edges.size} relationships — click a node to expand it`;
    svg.dataset.nodes = layout.nodes.size;
  }

  function animate() {
    cancelAnimationFrame(frame);
    let heat = W / 10;
    const step = () => {
      for (let i = 0; i < 3; i++) { layout.tick(heat); heat *= 0.97; }
      draw();
      if (heat > 0.5) frame = requestAnimationFrame(step);
    };
    step();
  }

  async function expand(key) {
    const n = layout.nodes.get(key);
    try {
      const graph = await api("/console/api/graph", { params: { node: key, hops: 1 } });
      if (n) n.expanded = true;
      layout.add(graph, key);
      animate();
    } catch (e) { info.textContent = e.message; }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = topic.value.trim() ? { topic: topic.value.trim() } : { node: node.value.trim() };
    try {
      const graph = await api("/console/api/graph", { params: { ...params, hops: hops.value } });
      layout = new Layout();
      if (!graph.nodes.length) { svg.replaceChildren(); info.textContent = "nothing found there"; return; }
      layout.add(graph);
      const start = layout.nodes.get(graph.start);
      if (start) start.expanded = true;
      animate();
    } catch (e) { info.textContent = `${e.field ? e.field + ": " : ""}${e.message}`; }
  });
  if (topic.value || node.value) form.requestSubmit();
  return scope;
}
