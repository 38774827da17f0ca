// What every view shares: building DOM safely, calling the API with the session, the live socket.

export const session = { current: null };

/** An element: h("td", {class: "x", onclick}, "text", child). Text is always text, never HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") el.style.cssText = v;  // through the CSSOM: the page's CSP forbids inline style attributes
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const child of children.flat()) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

export class ApiError extends Error {
  constructor(status, message, field) { super(message); this.status = status; this.field = field; }
}

let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

/** Call the API with the session cookie; a request that changes something carries the CSRF token. */
export async function api(path, { method = "GET", body, params, accept = [] } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.current?.csrf) headers["X-CSRF-Token"] = session.current.csrf;
  const response = await fetch(url, { method, headers, credentials: "same-origin",
                                      body: body === undefined ? undefined : JSON.stringify(body) });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (response.status === 401 && session.current) onSignedOut();
  if (!response.ok && !accept.includes(response.status)) {
    const error = data && data.error ? data.error : { message: typeof data === "string" ? data : response.statusText };
    throw new ApiError(response.status, error.message || String(error), error.field);
  }
  return data;
}

export const can = (scope) => {
  const scopes = session.current?.scopes || [];
  return scopes.includes(scope) || scopes.includes("admin");
};

export function age(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export const since = (iso) => iso ? age((Date.now() - Date.parse(iso)) / 1000) : "—";
export const bytes = (n) => n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
export const badge = (text, kind) => h("span", { class: `badge ${kind || text}` }, text);
export const short = (text, n = 120) => !text ? "" : (String(text).length > n ? String(text).slice(0, n) + "…" : String(text));

export function toast(message) {
  const el = h("div", { class: "toast", role: "status" }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), 3500);
}

/** A view's timers and listeners, all stopped when the view is left. */
export class Scope {
  constructor() { this.stops = []; }
  every(ms, fn) { fn(); const id = setInterval(fn, ms); this.stops.push(() => clearInterval(id)); }
  listen(fn) { this.stops.push(live.listen(fn)); }
  stop() { this.stops.splice(0).forEach((fn) => fn()); }
}

/** One WebSocket to /api/v1/live for the whole page (the cookie signs it in), reconnecting. */
export const live = {
  socket: null, listeners: new Set(), retry: 500, status: "closed",
  connect() {
    if (this.socket) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/live`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => { this.retry = 500; };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.subscribed) { this.status = "open"; this.emit({ kind: "status", status: "open" }); return; }
      this.emit(message);
    };
    socket.onclose = (event) => {
      this.socket = null; this.status = "closed";
      this.emit({ kind: "status", status: "closed", code: event.code });
      if (event.code === 4401 || event.code === 4403 || !session.current) return;
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  },
  close() { if (this.socket) { const sock = this.socket; this.socket = null; sock.onclose = null; sock.close(); } },
  listen(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); },
  emit(message) { this.listeners.forEach((fn) => { try { fn(message); } catch (e) { console.error(e); } }); },
};
