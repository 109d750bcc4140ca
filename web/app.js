/* switchboard demo client: plain JavaScript over the native protocol
 * (docs/protocol.md), no framework, no build step.
 *
 * State lives in `state`; the server is the source of truth for rooms,
 * members and inboxes, and localStorage keeps this browser's history of
 * conversations (the server forgets a direct message once it is read).
 *
 * Ticks on the messages I send directly:
 *   pending   (clock)  sent, no ack yet
 *   sent      ✓        ack: stored in the recipient's inbox
 *   delivered ✓✓       the recipient was online (per `list`) at or after the ack:
 *                      the server pushes stored messages to every connection
 *   read      ✓✓ blue  a `receipt` came back: the recipient sent `read`
 * The protocol has no delivery receipt, hence "online per list" for delivered.
 *
 * Rooms: a join after a reconnect carries `since`, the newest publication
 * this browser has, and the server replays what was missed
 * (`recovered: true`); otherwise the page loads the room's `history`. */
"use strict";

const $ = (sel) => document.querySelector(sel);
const USER_RE = /^[A-Za-z0-9._@:-]{1,64}$/;
const HISTORY_MAX = 200;   // messages kept per conversation in localStorage
const LIST_EVERY_MS = 4000;

const state = {
  me: null,                // my user name, from `me`
  name: "", token: "", server: "",
  ws: null,
  ref: 0,
  pending: new Map(),      // ref -> {resolve, reject, kind, msg}
  outbox: [],              // frames waiting for a connection
  rooms: new Map(),        // room -> {members: Set}
  chats: new Map(),        // key ("room:x", "dm:bob", "broadcast") -> {messages: [], unread: 0}
  online: new Set(),
  active: null,            // chat key on screen
  seen: new Set(),         // ids already shown (the inbox is at-least-once)
  backoff: 500,
  retryTimer: null,
  listTimer: null,
  everOpened: false,
  early: [],               // events that came before `me` told who I am
  stopped: false,          // signed out or refused: no reconnect
};

/* --- small helpers ------------------------------------------------------ */

function colorFor(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 62% 52%)`;
}

function avatar(name, small, online) {
  const a = document.createElement("div");
  a.className = "avatar" + (small ? " small" : "");
  a.style.background = colorFor(name);
  a.textContent = name.slice(0, 1);
  if (online) {
    const p = document.createElement("span");
    p.className = "presence";
    a.appendChild(p);
  }
  return a;
}

function time(ts) {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

let toastTimer = null;
function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

function chat(key) {
  if (!state.chats.has(key)) state.chats.set(key, { messages: [], unread: 0 });
  return state.chats.get(key);
}

function storageKey() { return `switchboard-demo:${state.me}`; }

function save() {
  if (!state.me) return;
  const chats = {};
  for (const [key, c] of state.chats) chats[key] = { messages: c.messages.slice(-HISTORY_MAX), unread: c.unread };
  try {
    localStorage.setItem(storageKey(), JSON.stringify({ chats, rooms: [...state.rooms.keys()] }));
  } catch (e) { /* full or disabled: history stays in memory */ }
}

function load() {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(storageKey()) || "null"); } catch (e) { saved = null; }
  if (!saved) return [];
  for (const [key, c] of Object.entries(saved.chats || {})) {
    state.chats.set(key, { messages: c.messages || [], unread: c.unread || 0 });
    for (const m of c.messages || []) if (m.id) state.seen.add(m.id);
  }
  return saved.rooms || [];
}

/* --- connection ---------------------------------------------------------- */

function defaultServer() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host || "127.0.0.1:8080"}/ws`;
}

function setConn(kind, text) {
  const el = $("#conn-status");
  el.dataset.state = kind;
  $("#conn-text").textContent = text;
  // Writing stays possible offline: messages wait in the outbox.
  $("#composer").disabled = !state.active;
  $("#send-btn").disabled = !state.active;
}

function connect() {
  clearTimeout(state.retryTimer);
  const url = new URL(state.server);
  if (state.token) url.searchParams.set("token", state.token);
  else url.searchParams.set("client_id", state.name);
  setConn("connecting", state.everOpened ? "Reconnecting…" : "Connecting…");
  let ws;
  try {
    ws = new WebSocket(url.toString());
  } catch (e) {
    signinError(`Bad server address: ${e.message}`);
    return;
  }
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 500;
    send("me", {}).then((me) => {
      const first = !state.everOpened;
      state.everOpened = true;
      if (first) startApp(me.user);
      setConn("online", "Connected");
      $("#banner").hidden = true;
      // Rooms are per connection: join them again after a reconnect.
      for (const room of state.rooms.keys()) joinRoom(room, true);
      flushOutbox();
      refreshOnline();
    }).catch((e) => toast(`me: ${e.message}`));
  };
  ws.onmessage = (ev) => {
    let frame;
    try { frame = JSON.parse(ev.data); } catch (e) { return; }
    onFrame(frame);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    // Unanswered requests: their messages go back to the outbox.
    for (const [, p] of state.pending) {
      if (p.msg && p.msg.status === "pending") state.outbox.push(p.frame);
      p.reject(new Error("connection closed"));
    }
    state.pending.clear();
    if (!state.everOpened) {
      signinError(state.token ? "The server refused this token, or is not reachable."
                              : "The server refused this name, or is not reachable.");
      return;
    }
    if (state.stopped) return;
    if (ev.code === 4001 || ev.code === 1008) {
      const why = ev.code === 4001 ? "Signed in elsewhere: this session was replaced."
                                   : `Disconnected by the server${ev.reason ? ": " + ev.reason : ""}.`;
      setConn("offline", "Offline");
      showBanner(why, "Reconnect", () => { state.backoff = 500; connect(); });
      return;
    }
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  const delay = Math.min(state.backoff, 15000) * (0.8 + Math.random() * 0.4);
  state.backoff = Math.min(state.backoff * 2, 15000);
  let left = Math.ceil(delay / 1000);
  setConn("offline", `Offline · retrying in ${left}s`);
  const tick = setInterval(() => {
    left -= 1;
    if (left > 0 && !state.ws) setConn("offline", `Offline · retrying in ${left}s`);
  }, 1000);
  state.retryTimer = setTimeout(() => { clearInterval(tick); if (!state.stopped) connect(); }, delay);
}

function showBanner(text, action, fn) {
  const b = $("#banner");
  b.textContent = text + " ";
  if (action) {
    const a = document.createElement("button");
    a.className = "ghost";
    a.textContent = action;
    a.onclick = fn;
    b.appendChild(a);
  }
  b.hidden = false;
}

/* Send a command; resolves with the reply's data, rejects with an error. */
function send(type, data, extra) {
  const ref = ++state.ref;
  const frame = { type, ref, data };
  return new Promise((resolve, reject) => {
    state.pending.set(ref, Object.assign({ resolve, reject, frame }, extra || {}));
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
    else { state.pending.delete(ref); state.outbox.push(frame); reject(new Error("queued")); }
  });
}

/* Frames written while offline: sent again, with their message, once connected. */
function flushOutbox() {
  const frames = state.outbox;
  state.outbox = [];
  for (const frame of frames) {
    const msg = findPendingMessage(frame);
    sendMessageFrame(frame.type, frame.data, msg);
  }
}

function findPendingMessage(frame) {
  for (const c of state.chats.values())
    for (const m of c.messages) if (m.frame === frame.data && m.status === "pending") return m;
  return null;
}

function onFrame(f) {
  if (f.ref !== undefined && state.pending.has(f.ref)) {
    const p = state.pending.get(f.ref);
    state.pending.delete(f.ref);
    if (f.type === "error") p.reject(Object.assign(new Error(f.data.message), { code: f.data.code }));
    else p.resolve(f.data, f.type);
    return;
  }
  if (!state.me) { state.early.push(f); return; } // the backlog can precede `me`
  const d = f.data || {};
  switch (f.type) {
  case "message": onDirect(d); break;
  case "publish": onPublish(d); break;
  case "broadcast": onBroadcast(d); break;
  case "presence": onPresence(d); break;
  case "receipt": onReceipt(d); break;
  case "error": toast(`${d.code}: ${d.message}`); break;
  default: break;
  }
}

/* --- events -------------------------------------------------------------- */

function addMessage(key, m) {
  const c = chat(key);
  if (m.id) {
    if (state.seen.has(m.id)) return false;
    state.seen.add(m.id);
  }
  c.messages.push(m);
  if (c.messages.length > HISTORY_MAX * 2) c.messages.splice(0, c.messages.length - HISTORY_MAX);
  if (!m.mine && m.kind !== "system" && key !== state.active) c.unread += 1;
  save();
  if (key === state.active) renderMessages();
  renderLists();
  return true;
}

function onDirect(d) {
  if (!d.from) return;
  const key = `dm:${d.from}`;
  const isNew = addMessage(key, { id: d.id, from: d.from, text: textOf(d), ts: d.ts, kind: "dm", mine: false, acked: false });
  // On screen: tell the sender, and take it out of my inbox.
  if (isNew && key === state.active && document.visibilityState === "visible") markRead(key);
}

// My other tabs' publications and broadcasts reach this one too: shown as mine.
function onPublish(d) {
  addMessage(`room:${d.room}`, { id: d.id, from: d.from, text: textOf(d), ts: d.ts, kind: "room",
                                 mine: d.from === state.me, status: "sent" });
}

function onBroadcast(d) {
  addMessage("broadcast", { id: d.id, from: d.from, text: textOf(d), ts: d.ts, kind: "broadcast",
                            mine: d.from === state.me, status: "sent" });
}

function onPresence(d) {
  const r = state.rooms.get(d.room);
  if (!r) return;
  if (d.event === "join") { r.members.add(d.user); state.online.add(d.user); }
  else r.members.delete(d.user);
  addMessage(`room:${d.room}`, { kind: "system", text: `${d.user} ${d.event === "join" ? "joined" : "left"}`, ts: Date.now() });
  renderMembers();
  refreshOnline();
}

function onReceipt(d) {
  for (const c of state.chats.values())
    for (const m of c.messages)
      if (m.id === d.id && m.mine) { m.status = "read"; save(); renderMessages(); return; }
}

function textOf(d) {
  if (typeof d.text === "string") return d.text;
  const rest = Object.assign({}, d);
  for (const k of ["id", "from", "to", "room", "ts"]) delete rest[k];
  return JSON.stringify(rest);
}

/* --- commands ------------------------------------------------------------ */

function markRead(key) {
  const c = chat(key);
  const ids = c.messages.filter((m) => !m.mine && m.id && !m.readSent && m.kind === "dm").map((m) => m.id);
  c.unread = 0;
  renderLists();
  if (!ids.length) { save(); return; }
  for (const m of c.messages) if (ids.includes(m.id)) m.readSent = true;
  save();
  send("read", { ids }).catch(() => {
    for (const m of c.messages) if (ids.includes(m.id)) m.readSent = false;
  });
}

/* The id of the newest publication of room this browser has: `since` of a
 * join, so the server replays what came after it (docs/history.md). */
function lastPublication(room) {
  const msgs = chat(`room:${room}`).messages;
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].id && msgs[i].kind === "room") return msgs[i].id;
  return null;
}

/* The room's stored publications (none when the server keeps no history),
 * for a first join or when a recovery could not reach back far enough. */
function loadHistory(room) {
  return send("history", { room, limit: 50 }).then((d) => {
    for (const m of d.messages) onPublish(m);
  }).catch(() => {});
}

function joinRoom(room, again) {
  if (!state.rooms.has(room)) state.rooms.set(room, { members: new Set() });
  const since = lastPublication(room);
  send("join", since ? { room, since } : { room }).then((d) => {
    const r = state.rooms.get(room);
    if (!r) return;
    r.members = new Set(d.users);
    for (const u of d.users) state.online.add(u);
    if (d.recovered) {
      // The missed publications follow this reply, before anything live.
      if (again) addMessage(`room:${room}`, { kind: "system", recovered: true, text: "Reconnected · missed messages recovered", ts: Date.now() });
    } else {
      if (since) addMessage(`room:${room}`, { kind: "system", recovered: false, text: "Reconnected · history reloaded", ts: Date.now() });
      loadHistory(room);
    }
    renderLists();
    renderMembers();
    save();
  }).catch((e) => {
    if (e.message === "queued" || e.message === "connection closed") return;
    state.rooms.delete(room);
    toast(`Cannot join ${room}: ${e.message}`);
    renderLists();
  });
  if (!again) { save(); open(`room:${room}`); }
}

function leaveRoom(room) {
  send("leave", { room }).catch(() => {});
  state.rooms.delete(room);
  state.chats.delete(`room:${room}`);
  save();
  open(null);
}

function refreshOnline() {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  send("list", {}).then((d) => {
    state.online = new Set(d.users);
    // Delivered: a recipient online after the ack has the message on a device.
    let changed = false;
    for (const [key, c] of state.chats) {
      if (!key.startsWith("dm:") || !state.online.has(key.slice(3))) continue;
      for (const m of c.messages) if (m.mine && m.status === "sent") { m.status = "delivered"; changed = true; }
    }
    if (changed) { save(); renderMessages(); }
    renderLists();
    renderMembers();
  }).catch(() => {});
}

function sendMessageFrame(type, data, msg) {
  send(type, data, { msg }).then((ack) => {
    if (!msg) return;
    msg.id = ack.id;
    msg.ts = ack.ts;
    state.seen.add(ack.id);
    if (type === "message") msg.status = state.online.has(data.to) ? "delivered" : "sent";
    else msg.status = "sent";
    save();
    renderMessages();
  }).catch((e) => {
    if (e.message === "queued" || e.message === "connection closed") return; // sent again later
    if (msg) { msg.status = "failed"; msg.error = e.message; save(); renderMessages(); }
    toast(`Not sent: ${e.message}`);
  });
}

function submitComposer(text) {
  const key = state.active;
  if (!key || !text.trim()) return;
  let type, data, kind;
  if (key.startsWith("dm:")) { type = "message"; data = { to: key.slice(3), text }; kind = "dm"; }
  else if (key.startsWith("room:")) { type = "publish"; data = { room: key.slice(5), text }; kind = "room"; }
  else { type = "broadcast"; data = { text }; kind = "broadcast"; }
  const msg = { from: state.me, text, ts: Date.now(), kind, mine: true, status: "pending", frame: data };
  chat(key).messages.push(msg);
  save();
  renderMessages();
  renderLists();
  sendMessageFrame(type, data, msg);
}

/* --- rendering ----------------------------------------------------------- */

const shown = new WeakSet(); // messages already on screen once

function open(key) {
  state.active = key;
  if (key) {
    chat(key);
    if (key.startsWith("dm:")) markRead(key);
    else chat(key).unread = 0;
  }
  $("#composer").disabled = !key;
  $("#send-btn").disabled = !key;
  if (key) $("#composer").focus();
  renderLists();
  renderMessages();
  renderMembers();
  save();
}

function listItem(opts) {
  const li = document.createElement("li");
  li.className = "item" + (opts.active ? " active" : "") + (opts.unread ? " unread" : "");
  for (const [k, v] of Object.entries(opts.data || {})) li.dataset[k] = v;
  if (opts.avatar) li.appendChild(avatar(opts.avatar, true, opts.online));
  else {
    const h = document.createElement("span");
    h.className = "hash";
    h.textContent = opts.icon || "#";
    li.appendChild(h);
  }
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = opts.label;
  li.appendChild(label);
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = opts.unread || "";
  badge.hidden = !opts.unread;
  li.appendChild(badge);
  if (opts.onclick) li.onclick = opts.onclick;
  return li;
}

function renderLists() {
  const b = $("#announcements li");
  const bc = chat("broadcast");
  b.classList.toggle("active", state.active === "broadcast");
  b.classList.toggle("unread", bc.unread > 0);
  b.querySelector(".badge").textContent = bc.unread || "";
  b.querySelector(".badge").hidden = !bc.unread;

  const rooms = $("#rooms-list");
  rooms.replaceChildren(...[...state.rooms.keys()].sort().map((room) => listItem({
    label: room, data: { room }, active: state.active === `room:${room}`,
    unread: chat(`room:${room}`).unread, onclick: () => open(`room:${room}`),
  })));

  const peers = [...state.chats.keys()].filter((k) => k.startsWith("dm:")).map((k) => k.slice(3));
  const last = (p) => { const m = chat(`dm:${p}`).messages; return m.length ? m[m.length - 1].ts : 0; };
  peers.sort((a, b2) => last(b2) - last(a));
  $("#dm-list").replaceChildren(...peers.map((peer) => listItem({
    label: peer, data: { peer }, avatar: peer, online: state.online.has(peer),
    active: state.active === `dm:${peer}`, unread: chat(`dm:${peer}`).unread,
    onclick: () => open(`dm:${peer}`),
  })));

  const others = [...state.online].filter((u) => u !== state.me).sort();
  $("#online-count").textContent = String(others.length);
  $("#online-list").replaceChildren(...others.map((user) => listItem({
    label: user, data: { user }, avatar: user, online: true, onclick: () => open(`dm:${user}`),
  })));
}

function renderMembers() {
  const key = state.active;
  const pane = $("#members-pane");
  if (!key || !key.startsWith("room:") || !state.rooms.has(key.slice(5))) { pane.hidden = true; return; }
  const members = [...state.rooms.get(key.slice(5)).members].sort();
  pane.hidden = false;
  $("#members-count").textContent = String(members.length);
  $("#members").replaceChildren(...members.map((user) => listItem({
    label: user === state.me ? `${user} (you)` : user, data: { user }, avatar: user, online: true,
    onclick: user === state.me ? null : () => open(`dm:${user}`),
  })));
  $("#chat-sub").textContent = `${members.length} member${members.length === 1 ? "" : "s"} online`;
}

function renderMessages() {
  const key = state.active;
  const box = $("#messages");
  const title = $("#chat-title");
  const sub = $("#chat-sub");
  $("#leave-btn").hidden = !(key && key.startsWith("room:"));
  if (!key) {
    title.textContent = `Welcome, ${state.me || ""}`;
    sub.textContent = "Rooms, direct messages and announcements, live.";
    box.replaceChildren($("#empty") || emptyState());
    $("#empty").hidden = false;
    return;
  }
  if (key === "broadcast") { title.textContent = "⚑ Everyone"; sub.textContent = "Broadcasts reach every connected user. Not stored."; }
  else if (key.startsWith("room:")) { title.textContent = `# ${key.slice(5)}`; }
  else {
    const peer = key.slice(3);
    title.textContent = peer;
    sub.textContent = state.online.has(peer) ? "online" : "offline · messages wait in their inbox";
  }
  const nodes = [];
  let lastDay = "";
  for (const m of chat(key).messages) {
    const day = new Date(m.ts).toDateString();
    if (day !== lastDay) {
      const d = document.createElement("div");
      d.className = "day";
      d.textContent = day === new Date().toDateString() ? "Today" : day;
      nodes.push(d);
      lastDay = day;
    }
    if (m.kind === "system") {
      const s = document.createElement("div");
      s.className = "system";
      if (m.recovered !== undefined) s.dataset.recovered = String(m.recovered);
      s.textContent = m.text;
      nodes.push(s);
      continue;
    }
    const row = document.createElement("div");
    row.className = "msg" + (m.mine ? " mine" : "") + (m.kind === "broadcast" ? " broadcast" : "");
    if (!shown.has(m)) { row.classList.add("new"); shown.add(m); } // animate arrivals only
    if (m.id) row.dataset.id = m.id;
    if (m.mine) row.dataset.status = m.kind === "dm" ? m.status : (m.status === "delivered" ? "sent" : m.status);
    row.appendChild(avatar(m.from || "?", true, false));
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (!m.mine && m.kind !== "dm") {
      const from = document.createElement("div");
      from.className = "from";
      from.style.color = colorFor(m.from || "?");
      from.textContent = m.from;
      bubble.appendChild(from);
    }
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = m.text;
    bubble.appendChild(text);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = time(m.ts);
    if (m.mine) {
      const t = document.createElement("span");
      t.className = "ticks";
      t.title = m.status === "failed" ? `not sent: ${m.error}` : m.status;
      meta.appendChild(t);
    }
    bubble.appendChild(meta);
    row.appendChild(bubble);
    nodes.push(row);
  }
  box.replaceChildren(...nodes);
  box.scrollTop = box.scrollHeight;
}

function emptyState() {
  const e = document.createElement("div");
  e.className = "empty";
  e.id = "empty";
  e.innerHTML = '<div class="empty-art">◆</div><p>Pick a room or a person on the left, or join <b>lobby</b> to start.</p>';
  return e;
}

/* --- sign-in and wiring -------------------------------------------------- */

function signinError(text) {
  state.stopped = true;
  if (state.ws) state.ws.close();
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#signin-error").textContent = text;
  $("#signin-btn").disabled = false;
}

function startApp(user) {
  state.me = user;
  const rooms = load();
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#me-name").textContent = user;
  const av = $("#me-avatar");
  av.textContent = user.slice(0, 1);
  av.style.background = colorFor(user);
  document.title = `${user} · switchboard`;
  try { sessionStorage.setItem("switchboard-demo-session", JSON.stringify({ name: state.name, token: state.token, server: state.server })); } catch (e) { /* ignore */ }
  for (const room of rooms) if (!state.rooms.has(room)) state.rooms.set(room, { members: new Set() });
  clearInterval(state.listTimer);
  state.listTimer = setInterval(refreshOnline, LIST_EVERY_MS);
  open(null);
  const early = state.early;
  state.early = [];
  for (const f of early) onFrame(f);
}

function signIn(name, token, server) {
  state.name = name;
  state.token = token;
  state.server = server || defaultServer();
  state.stopped = false;
  state.everOpened = false;
  $("#signin-error").textContent = "";
  $("#signin-btn").disabled = true;
  connect();
}

function signOut() {
  state.stopped = true;
  clearTimeout(state.retryTimer);
  clearInterval(state.listTimer);
  if (state.ws) state.ws.close(1000, "signed out");
  try { sessionStorage.removeItem("switchboard-demo-session"); } catch (e) { /* ignore */ }
  location.reload();
}

function wire() {
  $("#server").value = defaultServer();
  $("#signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = $("#name").value.trim();
    const token = $("#token").value.trim();
    if (!token && !USER_RE.test(name)) {
      $("#signin-error").textContent = "A name is 1 to 64 of A-Z a-z 0-9 . _ @ : -";
      return;
    }
    signIn(name, token, $("#server").value.trim());
  });
  $("#join-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const room = $("#join-room").value.trim();
    if (!room) return;
    $("#join-room").value = "";
    if (state.rooms.has(room)) open(`room:${room}`); else joinRoom(room, false);
  });
  $("#dm-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const user = $("#dm-user").value.trim();
    if (!USER_RE.test(user)) { toast("Not a user name"); return; }
    $("#dm-user").value = "";
    open(`dm:${user}`);
  });
  $("#announcements li").addEventListener("click", () => open("broadcast"));
  $("#composer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("#composer");
    const text = input.value;
    input.value = "";
    submitComposer(text);
  });
  $("#leave-btn").addEventListener("click", () => {
    if (state.active && state.active.startsWith("room:")) leaveRoom(state.active.slice(5));
  });
  $("#signout-btn").addEventListener("click", signOut);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.active && state.active.startsWith("dm:")) markRead(state.active);
  });
  // A reload keeps the session of this tab.
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem("switchboard-demo-session") || "null"); } catch (e) { saved = null; }
  if (saved && (saved.name || saved.token)) signIn(saved.name, saved.token, saved.server);
}

wire();
