// The Node.js backend of the proxy tests: Node's own http server, as deployed, on
// PORTS ports (port 0 each, printed as "backend listening on 127.0.0.1:PORT").
// Its keepAliveTimeout is Node's default (5 s, advertised as "Keep-Alive: timeout=5")
// unless KEEPALIVE_MS shortens it, so a test can see races in less time.
// Every request is answered "node METHOD TARGET BODYLEN SHA1\n" once its body is read.
'use strict';
const http = require('http');
const crypto = require('crypto');

const ports = Number(process.env.PORTS || 1);
const keepAliveMs = process.env.KEEPALIVE_MS ? Number(process.env.KEEPALIVE_MS) : null;

function handle(req, res) {
  const sha = crypto.createHash('sha1');
  let len = 0;
  req.on('data', (d) => { sha.update(d); len += d.length; });
  req.on('end', () => {
    const body = `node ${req.method} ${req.url} ${len} ${sha.digest('hex')}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

for (let i = 0; i < ports; i++) {
  const server = http.createServer(handle);
  if (keepAliveMs !== null) server.keepAliveTimeout = keepAliveMs;
  server.listen(0, '127.0.0.1', () => {
    console.log(`backend listening on 127.0.0.1:${server.address().port}`);
  });
}
