'use strict';
// A flaky upstream for the demo: healthy, then failing (503s and dropped
// connections) for a while, then healthy again. Prints its port on stdout.
const http = require('node:http');

const outageStartsAfterMs = Number(process.env.OUTAGE_AFTER_MS ?? 2000);
const outageLastsMs = Number(process.env.OUTAGE_FOR_MS ?? 4000);
const startedAt = Date.now();
let served = 0;

const server = http.createServer((req, res) => {
  served++;
  const t = Date.now() - startedAt;
  const down = t >= outageStartsAfterMs && t < outageStartsAfterMs + outageLastsMs;
  if (!down) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ quote: 42, served }));
  } else if (served % 3 === 0) {
    req.socket.destroy(); // a dropped connection
  } else {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('service unavailable');
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ upstreamServed: served })}\n`);
  process.exit(0);
});
