/**
 * Hostile probe targets for bench/hostile-probes.ts, run as their own child process so that
 * their CPU time is never charged to an exporter. Three plain TCP servers on 127.0.0.1:
 *
 *   silent       accepts the connection, reads the request, never answers
 *   slow-header  sends "HTTP/1.1 200 OK\r\n" then one byte of a header line every 500 ms,
 *                never ending the headers
 *   endless-body valid headers (chunked), then an endless body of 64 KiB chunks written as fast
 *                as the socket takes them
 *
 * Every connection is closed by the server after MAX_CONNECTION_MS at the latest, so nothing
 * here runs unbounded. Prints one JSON line {"silent":P,"slowHeader":P,"endlessBody":P} once
 * all three listen. A line "stats" on stdin is answered with {"stats":{...}} on stdout:
 * connections accepted, open now, and body bytes written, per server.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';

const MAX_CONNECTION_MS = 60_000;
const SLOW_BYTE_MS = 500;
const CHUNK = 64 * 1024;

interface Stats {
  accepted: number;
  open: number;
  bytes: number;
}

type Handler = (socket: net.Socket, stats: Stats) => void;

/** The first request bytes arrive: call `onRequest` once, keep draining whatever else is sent. */
function onFirstData(socket: net.Socket, onRequest: () => void): void {
  let started = false;
  socket.on('data', () => {
    if (started) return;
    started = true;
    onRequest();
  });
}

const silent: Handler = (socket) => {
  socket.resume();
};

const slowHeader: Handler = (socket, stats) => {
  onFirstData(socket, () => {
    const head = 'HTTP/1.1 200 OK\r\nX-Slow: ';
    socket.write(head);
    stats.bytes += head.length;
    const timer = setInterval(() => {
      if (socket.destroyed) return;
      socket.write('a');
      stats.bytes += 1;
    }, SLOW_BYTE_MS);
    socket.once('close', () => clearInterval(timer));
  });
};

const endlessBody: Handler = (socket, stats) => {
  const data = Buffer.alloc(CHUNK, 'x');
  const frame = Buffer.concat([Buffer.from(`${CHUNK.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
  onFirstData(socket, () => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    const pump = (): void => {
      while (!socket.destroyed) {
        stats.bytes += CHUNK;
        if (!socket.write(frame)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
};

const servers: net.Server[] = [];
const stats: Record<string, Stats> = {};
const sockets = new Set<net.Socket>();

function serve(name: string, handler: Handler): Promise<number> {
  const st: Stats = { accepted: 0, open: 0, bytes: 0 };
  stats[name] = st;
  const server = net.createServer((socket) => {
    st.accepted++;
    st.open++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    const limit = setTimeout(() => socket.destroy(), MAX_CONNECTION_MS);
    socket.once('close', () => {
      clearTimeout(limit);
      st.open--;
      sockets.delete(socket);
    });
    handler(socket, st);
  });
  server.maxConnections = 4096;
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', 1024, () => resolve((server.address() as AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const ports = {
    silent: await serve('silent', silent),
    slowHeader: await serve('slowHeader', slowHeader),
    endlessBody: await serve('endlessBody', endlessBody),
  };
  process.stdout.write(`${JSON.stringify(ports)}\n`);
}

const stop = (): void => {
  for (const s of servers) s.close();
  for (const s of sockets) s.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Commands on stdin; if the parent disappears (stdin closed), do not linger.
let input = '';
process.stdin.on('data', (chunk: Buffer) => {
  input += chunk.toString('utf8');
  let nl: number;
  while ((nl = input.indexOf('\n')) >= 0) {
    const cmd = input.slice(0, nl).trim();
    input = input.slice(nl + 1);
    if (cmd === 'stats') process.stdout.write(`${JSON.stringify({ stats })}\n`);
  }
  if (input.length > 4096) input = '';
});
process.stdin.on('end', stop);
process.stdin.on('error', stop);

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
