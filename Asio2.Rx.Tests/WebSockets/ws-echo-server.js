// A node `ws` echo server for the interop tests. Prints its port, then echoes every message with its kind.
// Commands (text): "fragments" -> one message sent in three fragments; "ping" -> pings the client and says "pong"
// when the pong arrives; "close:<code>:<reason>" -> closes with that code. Logs "closed <code> <reason>" on close.
// With a certificate chain and key it serves wss:// (an https server underneath).
// Usage: node ws-echo-server.js [deflate|plain] [cert.pem key.pem]
const { WebSocketServer } = require('ws');
const fs = require('fs');
const https = require('https');
const deflate = process.argv[2] === 'deflate';
const options = { perMessageDeflate: deflate, maxPayload: 64 * 1024 * 1024 };
let wss;
if (process.argv[3]) {
  const server = https.createServer({ cert: fs.readFileSync(process.argv[3]), key: fs.readFileSync(process.argv[4]) });
  wss = new WebSocketServer({ server, ...options });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
} else {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  wss.on('listening', () => console.log(wss.address().port));
}
wss.on('connection', (ws, req) => {
  console.log('extensions ' + (req.headers['sec-websocket-extensions'] || '-') + ' auth ' + (req.headers['authorization'] || '-') +
    ' tls ' + (req.socket.encrypted ? 'yes' : 'no'));
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === 'fragments') {
      ws.send('frag', { fin: false });
      ws.send('men', { fin: false });
      ws.send('ted', { fin: true });
    } else if (text === 'ping') {
      ws.once('pong', () => ws.send('pong'));
      ws.ping();
    } else if (text !== null && text.startsWith('close:')) {
      const [, code, reason] = text.split(':');
      ws.close(Number(code), reason);
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
  ws.on('close', (code, reason) => console.log('closed ' + code + ' ' + reason.toString()));
});
