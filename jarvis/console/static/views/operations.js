// Operations: the last backups, the last retention dry run and verify, and the buttons that run
// them — only for an admin key not bound to a user (the routes refuse everyone else as well: what
// they show spans every user's data). Others get a note, and no link in the sidebar.
import { api, badge, bytes, can, h, session, since, Scope } from "../lib.js";

export const allowed = () => can("admin") && !session.current.user_id;

export function render(root) {
  const scope = new Scope();
  if (!allowed()) {
    root.replaceChildren(h("h1", {}, "Operations"),
      h("p", { class: "muted" }, "Read-only: operations need an admin key not bound to a user."));
    return scope;
  }
  const message = h("p", { class: "muted", "data-testid": "ops-message" });
  const backups = h("tbody", { "data-testid": "backups-body" });
  const retention = h("div", { "data-testid": "retention-report" });
  const verify = h("div", { "data-testid": "verify-report" });
  const button = (label, testid, path) => h("button", { "data-testid": testid, onclick: async (event) => {
    event.target.disabled = true;
    message.textContent = `${label}: running…`;
    try {
      const result = await api(`/console/api/operations/${path}`, { method: "POST" });
      await refresh();
      message.textContent = `${label}: done in ${result.seconds} s`;
    } catch (e) { message.textContent = `${label}: ${e.message}`; }
    event.target.disabled = false;
  } }, label);
  root.replaceChildren(h("h1", {}, "Operations"),
    h("div", { class: "row", "data-testid": "admin-actions" }, button("Back up now", "op-backup", "backup"),
      button("Retention dry run", "op-retention", "retention-dry-run"), button("Verify stores", "op-verify", "verify")),
    message,
    h("h2", {}, "Backups"),
    h("table", {}, h("thead", {}, h("tr", {}, ["backup", "taken", "duration", "size", "per store"].map((t) => h("th", {}, t)))), backups),
    h("div", { class: "grid2" }, h("div", {}, h("h2", {}, "Retention (dry run)"), retention), h("div", {}, h("h2", {}, "Verify"), verify)));

  function report(el, result, body) {
    if (!result) { el.replaceChildren(h("p", { class: "muted" }, "not run since the server started")); return; }
    el.replaceChildren(h("p", { class: "muted" }, `ran ${since(result.finished_at)} ago, ${result.seconds} s`), body(result));
  }

  async function refresh() {
    const ops = await api("/console/api/operations");
    backups.replaceChildren(...(ops.backups.length ? ops.backups.map((b) => h("tr", { "data-testid": "backup-row" },
      h("td", { class: "mono" }, b.name), h("td", {}, b.created_at ? `${since(b.created_at)} ago` : badge("incomplete", "bad")),
      h("td", {}, b.seconds != null ? `${b.seconds} s` : "—"), h("td", {}, b.bytes != null ? bytes(b.bytes) : "—"),
      h("td", { class: "muted" }, Object.entries(b.stores || {}).map(([st, x]) => `${st} ${bytes(x.bytes)} (${x.seconds} s)`).join(" · "))))
      : [h("tr", {}, h("td", { class: "muted" }, `no backups in ${ops.backup_dir}`))]));
    report(retention, ops.last_retention, (r) => h("table", {}, h("tbody", {},
      Object.entries(r.counts).map(([policy, n]) => h("tr", {}, h("td", {}, policy), h("td", {}, `would delete ${n}`))),
      r.dropped_partitions.map((p) => h("tr", {}, h("td", {}, `partition ${p}`), h("td", {}, "would drop"))))));
    report(verify, ops.last_verify, (r) => r.clean ? h("p", {}, badge("clean", "ok"), " every projection matches PostgreSQL")
      : h("table", {}, h("tbody", {}, r.differences.map((d) => h("tr", {}, h("td", {}, d.store), h("td", {}, d.what),
          h("td", {}, `${d.missing_count} missing, ${d.extra_count} extra`), h("td", { class: "mono" }, [...d.missing, ...d.extra].slice(0, 5).join(" ")),
          h("td", { "data-testid": "verify-repair" }, d.repair ? `repair: ${d.repair}` : ""))))));
  }
  scope.every(10000, () => refresh().catch((e) => { message.textContent = e.message; }));
  return scope;
}
