// A real npm `ws` client (Debian's node-ws) for test_tls_clients.py: alice and bob connect
// over wss:// trusting the test CA, with permessage-deflate offered or not, exchange a small
// message and one far larger than the deflate window, and the result is printed as JSON.
//   node ws_node_client.js PORT CA_FILE deflate|plain BIG_BYTES
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const [port, caFile, mode, bigBytes] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const words = 'the meeting tomorrow see thanks can will just what about when there ok ' +
  'great lunch project review please send me link sure later today ';
let big = '';
for (let i = 0; big.length < Number(bigBytes); i++) big += words.split(' ')[(i * 7) % 20] + i + ' ';
big = big.slice(0, Number(bigBytes));

function open(name) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws?client_id=${name}`, {
      ca, perMessageDeflate: mode === 'deflate' ? { threshold: 0 } : false,
    });
    ws.once('upgrade', (res) => { ws.answered = res.headers['sec-websocket-extensions'] || ''; });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws, type) {
  return new Promise((resolve) => {
    const on = (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.type === type) {
        ws.off('message', on);
        resolve(msg);
      }
    };
    ws.on('message', on);
  });
}

(async () => {
  const alice = await open('node_alice');
  const bob = await open('node_bob');
  const pong = next(alice, 'pong');
  alice.send(JSON.stringify({ type: 'ping', ref: 1 }));
  await pong;
  const gotBig = next(bob, 'message');
  alice.send(JSON.stringify({ type: 'message', ref: 2, data: { to: 'node_bob', body: big } }));
  const m1 = await gotBig;
  const gotSmall = next(alice, 'message');
  bob.send(JSON.stringify({ type: 'message', ref: 3, data: { to: 'node_alice', body: 'hi' } }));
  const m2 = await gotSmall;
  console.log(JSON.stringify({
    extensions: [alice.extensions, bob.extensions],
    answered: [alice.answered, bob.answered],
    big_ok: m1.data.body === big && m1.data.from === 'node_alice',
    big_len: m1.data.body.length,
    small: m2.data.body,
  }));
  alice.close();
  bob.close();
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
