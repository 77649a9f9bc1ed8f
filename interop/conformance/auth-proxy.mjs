// A reverse proxy that adds `Authorization: Bearer $PROEM_KEY` to every request, for the MCP
// conformance suite, which cannot send a key. Everything else passes unchanged in both
// directions: method, path, headers (Host and Origin included, so the server's own Host/Origin
// checks see what the suite sent), the body, and the response streamed as it arrives (SSE).
//
// Usage: PROEM_KEY=pmk_… node auth-proxy.mjs LISTEN_PORT UPSTREAM_PORT
// Prints `listening` on stdout once the port is open.
import http from 'node:http';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const key = process.env.PROEM_KEY;
if (!listenPort || !upstreamPort || !key) {
  console.error('usage: PROEM_KEY=pmk_… node auth-proxy.mjs LISTEN_PORT UPSTREAM_PORT');
  process.exit(2);
}

// One connection per request, so closing a client connection closes exactly its upstream one
// (a dropped SSE stream must look dropped to the server).
const agent = new http.Agent({ keepAlive: false });

const server = http.createServer((req, res) => {
  // rawHeaders keeps names, order and repeats as sent; only the key is added.
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() !== 'authorization') {
      headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
  }
  headers.push('Authorization', `Bearer ${key}`);
  const upstream = http.request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent },
    (up) => {
      res.writeHead(up.statusCode, up.statusMessage, up.rawHeaders);
      res.flushHeaders();
      up.pipe(res);
      up.on('error', () => res.destroy());
    },
  );
  upstream.on('error', (e) => {
    if (res.headersSent) {
      res.destroy();
    } else {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`auth-proxy: ${e.message}\n`);
    }
  });
  // The client went away (the suite cancels streams it is done with): so does the upstream leg.
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
});

server.listen(listenPort, '127.0.0.1', () => console.log('listening'));
