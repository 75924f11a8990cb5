// A node `ws` client for the interop tests: connects to argv[2], sends text, binary, an empty and a 16 MiB message,
// a fragmented message and a ping, checks the echoes, then closes with 4003. Prints "ok" or "fail <why>", and the
// close code it saw. The pong may come before or after the last echo (the server answers the ping when it reads it,
// and echoes a message when its handler runs): "ok" waits for both. For wss:// URLs, ca.pem is the only CA trusted.
// Usage: node ws-echo-client.js <url> [deflate|plain] [ca.pem]
const WebSocket = require('ws');
const crypto = require('crypto');
const fs = require('fs');
const ca = process.argv[4] ? fs.readFileSync(process.argv[4]) : undefined;
const ws = new WebSocket(process.argv[2], { perMessageDeflate: process.argv[3] === 'deflate', maxPayload: 64 * 1024 * 1024, ca });
const big = crypto.randomBytes(16 * 1024 * 1024);
const expected = [['text', 'héllo'], ['binary', Buffer.from([1, 2, 3])], ['binary', Buffer.alloc(0)], ['binary', big], ['text', 'fragmented']];
let i = 0, pong = false;
const fail = (why) => { console.log('fail ' + why); process.exit(1); };
const finishWhenDone = () => {
  if (i !== expected.length || !pong) return;
  console.log('ok');
  ws.close(4003, 'node done');
};
ws.on('open', () => {
  console.log('extensions ' + (ws.extensions || '-'));
  ws.send('héllo');
  ws.send(Buffer.from([1, 2, 3]));
  ws.send(Buffer.alloc(0));
  ws.send(big);
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  ws.ping('are you there');
});
ws.on('pong', (data) => {
  if (data.toString() !== 'are you there') fail('pong payload ' + data.toString());
  pong = true;
  finishWhenDone();
});
ws.on('message', (data, isBinary) => {
  const [kind, value] = expected[i++];
  if ((kind === 'binary') !== isBinary) fail('kind of message ' + i);
  if (!Buffer.from(value).equals(Buffer.from(data))) fail('content of message ' + i);
  finishWhenDone();
});
ws.on('close', (code, reason) => { console.log('closed ' + code + ' ' + reason.toString()); process.exit(0); });
ws.on('error', (e) => fail(e.message));
