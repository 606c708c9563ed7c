/**
 * Probe target for the benchmark, run as its own child process so that its CPU
 * time is never charged to either exporter.
 *
 *   GET /         -> 200, small body
 *   GET /delay50  -> 200 after a fixed 50 ms delay
 *   GET /big?bytes=N -> 200, N bytes made as they are sent (so this process holds none of them)
 *   anything else -> 404
 *
 * Listens on 127.0.0.1 (port from argv[2], default 0 = random) and prints one
 * JSON line `{"port":N}` on stdout once it is listening.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const DELAY_MS = 50;
const BODY = 'ok\n';

const BLOCK = Buffer.alloc(64 * 1024, 'x');

function* blocksOf(bytes: number): Generator<Buffer> {
  for (let left = bytes; left > 0; left -= BLOCK.length) yield left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left);
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const reply = (status: number, body: string): void => {
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  // Drain any request body so the connection stays usable.
  req.resume();
  if (path === '/') {
    reply(200, BODY);
  } else if (path === '/delay50') {
    setTimeout(() => reply(200, BODY), DELAY_MS);
  } else if (path === '/big') {
    const bytes = Number(new URL(req.url ?? '/', 'http://target.invalid').searchParams.get('bytes') ?? '0');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': bytes });
    // At the pace the client reads; a client that goes away ends it.
    pipeline(Readable.from(blocksOf(bytes)), res).catch(() => undefined);
  } else {
    reply(404, 'not found\n');
  }
});

server.keepAliveTimeout = 5000;
server.maxRequestsPerSocket = 0;

const port = Number(process.argv[2] ?? '0');
server.listen(port, '127.0.0.1', () => {
  const addr = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// If the parent disappears (stdin closed), do not linger.
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
