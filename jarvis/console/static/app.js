// The console's shell: sign-in, navigation between views (#/name/arg?query), the live socket.
import { api, can, h, live, session, whenSignedOut } from "./lib.js";

const VIEWS = {
  overview: () => import("./views/overview.js"),
  search: () => import("./views/search.js"),
  agents: () => import("./views/agents.js"),
  tasks: () => import("./views/tasks.js"),
  graph: () => import("./views/graph.js"),
  events: () => import("./views/events.js"),
  operations: () => import("./views/operations.js"),
};
let current = null;
let routed = 0;  // the latest navigation: a slower, earlier one must not draw over it

const $ = (id) => document.getElementById(id);

function showSignIn(message = "") {
  session.current = null;
  live.close();
  if (current) { current.stop(); current = null; }
  $("shell").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("signin-key").focus();
}

async function showShell() {
  session.current = await api("/console/api/session");
  $("signin").hidden = true;
  $("shell").hidden = false;
  const who = session.current;
  $("whoami").replaceChildren(h("div", {}, `key: ${who.name}`), h("div", {}, `scopes: ${who.scopes.join(", ")}`),
                               who.user_id ? h("div", { "data-testid": "bound-user" }, `user: ${who.user_id}`) : "");
  // Operations are for an admin key not bound to a user (views/operations.js; the routes agree).
  document.querySelector(".sidebar a[data-view=operations]").hidden = !(can("admin") && !who.user_id);
  live.connect();
  route();
}

async function route() {
  if (!session.current) return;
  const [path, query] = (location.hash.slice(2) || "overview").split("?");
  const [name, ...args] = path.split("/");
  const load = VIEWS[name] || VIEWS.overview;
  document.querySelectorAll(".sidebar a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  if (current) { current.stop(); current = null; }
  const view = $("view");
  view.replaceChildren(h("p", { class: "muted" }, "loading…"));
  const mine = ++routed;
  const module = await load();
  if (mine !== routed) return;
  current = module.render(view, { args, query: new URLSearchParams(query || "") });
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-submit").disabled = true;
  try {
    await api("/console/session", { method: "POST", body: { api_key: $("signin-key").value.trim() } });
    $("signin-key").value = "";
    await showShell();
  } catch (error) {
    showSignIn(error.status === 401 ? "That key was refused." : error.message);
  } finally {
    $("signin-submit").disabled = false;
  }
});

$("signout").addEventListener("click", async () => {
  await api("/console/session", { method: "DELETE" }).catch(() => {});
  showSignIn("Signed out.");
});

whenSignedOut(() => showSignIn("Your session ended; sign in again."));
window.addEventListener("hashchange", route);
api("/console/api/session", { accept: [401] }).then((who) => who && who.scopes ? showShell() : showSignIn())
  .catch(() => showSignIn());
