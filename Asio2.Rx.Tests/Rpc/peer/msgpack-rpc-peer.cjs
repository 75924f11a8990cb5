'use strict';
// An independent MessagePack-RPC peer on @msgpack/msgpack, for the interop tests (Asio2.Rx.Tests/Rpc/RpcInteropTests.cs).
// It follows the spec only (https://github.com/msgpack-rpc/msgpack-rpc/blob/master/spec.md): errors it sends are strings,
// it ignores notifications it does not know, and it knows nothing of Asio2.Rx's "$/" extensions.
//   node msgpack-rpc-peer.cjs server         listens on 127.0.0.1 (prints "PORT <n>") and serves calls
//   node msgpack-rpc-peer.cjs client <port>  calls a .NET server, prints one JSON line per result, then {"done":true}
// Modules resolve through NODE_PATH (Asio2.Rx.Tests/peers/node_modules).
const net = require('net');
const { encode, decodeMultiStream } = require('@msgpack/msgpack');

function peer(socket, handlers) {
  let nextId = 1;
  const pending = new Map();
  const send = (message) => socket.write(encode(message));
  const call = (method, ...params) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    send([0, id, method, params]);
  });
  (async () => {
    for await (const message of decodeMultiStream(socket)) {
      if (!Array.isArray(message)) throw new Error('not a MessagePack-RPC message');
      if (message[0] === 0) {
        const [, id, method, params] = message;
        const handler = handlers[method];
        if (!handler) { send([1, id, `method not found: ${method}`, null]); continue; }
        Promise.resolve().then(() => handler(...params)).then(
          (result) => send([1, id, null, result === undefined ? null : result]),
          (error) => send([1, id, String((error && error.message) || error), null]));
      } else if (message[0] === 1) {
        const [, id, error, result] = message;
        const p = pending.get(id);
        if (!p) continue;
        pending.delete(id);
        if (error !== null && error !== undefined) p.reject(error); else p.resolve(result);
      } else if (message[0] === 2) {
        const handler = handlers[message[1]];
        if (handler) handler(...message[2]);
      }
    }
  })().catch((e) => { console.error('peer failed:', e); process.exit(3); });
  return { call };
}

const held = new Map();
const serverHandlers = (self) => ({
  add: (a, b) => a + b,
  echo: (x) => x,
  fail: (text) => { throw new Error(text); },
  // hold(key) answers only when release(key) is called: the test decides the order of responses.
  hold: (key) => new Promise((resolve) => held.set(key, resolve)),
  release: (key) => { held.get(key)(key); held.delete(key); return true; },
  // Calls the caller back while serving its call.
  callback: async (n) => (await self().call('mul', n, 2)) + 1,
});

if (process.argv[2] === 'server') {
  const server = net.createServer((socket) => {
    let self = null;
    self = peer(socket, serverHandlers(() => self));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
} else {
  const out = (o) => console.log(JSON.stringify(o));
  const socket = net.connect(Number(process.argv[3]), '127.0.0.1', () => run().catch((e) => { out({ failed: String(e) }); process.exit(5); }));
  const run = async () => {
    const p = peer(socket, { node_add: (a, b) => a + b });
    out({ add: await p.call('add', 40, 2) });
    out({ echo_string: await p.call('echo_string', 'héllo') });
    out({ echo_bytes: Buffer.from(await p.call('echo_bytes', new Uint8Array([0, 1, 2, 255]))).toString('hex') });
    out({ echo_map: await p.call('echo_smap', { a: 1, b: 2 }) });
    out({ echo_nil: await p.call('echo_nullable', null) });
    out({ user: await p.call('get_user') });
    try { await p.call('no_such', 1); } catch (e) { out({ not_found: e }); }
    try { await p.call('add', 'x', 1); } catch (e) { out({ bad_args: e }); }
    const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => p.call('add', i, i)));
    out({ pipelined: many.length === 1000 && many.every((v, i) => v === 2 * i) });
    out({ ask_node: await p.call('ask_node', 5) });
    out({ done: true });
    socket.end();
  };
  socket.on('error', (e) => { console.error('socket failed:', e); process.exit(4); });
}
