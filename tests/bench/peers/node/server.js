// A minimal Node WebSocket server (npm `ws`) speaking enough of switchboard's protocol for
// the benchmark's direct, fanout, broadcast and idle scenarios: client_id identity,
// ping -> pong, message -> ack + delivery, join/publish, broadcast, read. It stores nothing:
// it is the yardstick sb-bench compares switchboard with, each event encoded once and the
// same Buffer sent to every recipient.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const listen = process.argv[2] || '127.0.0.1:8091';
const [host, port] = listen.split(':');
const CLIENT_ID = /^[A-Za-z0-9._@:-]{1,64}$/;

const users = new Map(); // user -> Set of sockets
const rooms = new Map(); // room -> Set of sockets
const all = new Set();
let seq = 0;

const nextId = () => String(++seq).padStart(20, '0');

function reply(ws, type, ref, data) {
  const env = { type, data };
  if (ref !== undefined) env.ref = ref;
  ws.send(JSON.stringify(env));
}

function fail(ws, ref, code, message) {
  reply(ws, 'error', ref, { code, message });
}

function deliver(targets, except, buf) {
  for (const t of targets) {
    if (t !== except && t.readyState === 1) t.send(buf, { binary: false });
  }
}

function stamp(ws, d) {
  d.id = nextId();
  d.from = ws.user;
  d.ts = Date.now();
  return { id: d.id, ts: d.ts };
}

function handle(ws, raw) {
  let env;
  try {
    env = JSON.parse(raw);
  } catch (e) {
    return fail(ws, undefined, 'bad_json', 'not a JSON object');
  }
  if (!env || typeof env !== 'object') return fail(ws, undefined, 'bad_json', 'not an object');
  const d = env.data && typeof env.data === 'object' ? env.data : {};
  const ref = env.ref;
  switch (env.type) {
    case 'ping':
      return reply(ws, 'pong', ref, { ts: Date.now() });
    case 'message': {
      const to = typeof d.to === 'string' ? [d.to] : Array.isArray(d.to) ? d.to : [];
      if (to.length === 0) return fail(ws, ref, 'bad_request', 'to is required');
      const ack = stamp(ws, d);
      const buf = Buffer.from(JSON.stringify({ type: 'message', data: d }));
      for (const u of to) {
        const set = users.get(u);
        if (set) deliver(set, null, buf);
      }
      return reply(ws, 'ack', ref, ack);
    }
    case 'read':
      return reply(ws, 'read', ref, { ids: Array.isArray(d.ids) ? d.ids : [] });
    case 'join': {
      if (typeof d.room !== 'string' || !d.room) return fail(ws, ref, 'bad_request', 'room');
      let set = rooms.get(d.room);
      if (!set) rooms.set(d.room, (set = new Set()));
      set.add(ws);
      ws.rooms.add(d.room);
      const names = [...new Set([...set].map((s) => s.user))];
      return reply(ws, 'join', ref, { room: d.room, users: names });
    }
    case 'publish': {
      if (!ws.rooms.has(d.room)) return fail(ws, ref, 'forbidden', 'not in room');
      const ack = stamp(ws, d);
      deliver(rooms.get(d.room), ws, Buffer.from(JSON.stringify({ type: 'publish', data: d })));
      return reply(ws, 'ack', ref, ack);
    }
    case 'broadcast': {
      const ack = stamp(ws, d);
      deliver(all, ws, Buffer.from(JSON.stringify({ type: 'broadcast', data: d })));
      return reply(ws, 'ack', ref, ack);
    }
    default:
      return fail(ws, ref, 'unknown_type', 'unknown type');
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'Content-Type': 'text/plain' });
  res.end(req.url === '/health' ? 'ok' : 'not found');
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  const user = url.searchParams.get('client_id') || '';
  if (url.pathname !== '/ws' || !CLIENT_ID.test(user) || user === '0') {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.user = user;
    ws.rooms = new Set();
    let set = users.get(user);
    if (!set) users.set(user, (set = new Set()));
    set.add(ws);
    all.add(ws);
    ws.on('message', (data) => handle(ws, data));
    ws.on('close', () => {
      set.delete(ws);
      if (set.size === 0) users.delete(user);
      for (const r of ws.rooms) rooms.get(r)?.delete(ws);
      all.delete(ws);
    });
  });
});

server.listen(Number(port), host);
