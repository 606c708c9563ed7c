/**
 * A target that answers 200 and then streams a body that never ends, as fast as the client reads
 * it: what an attacker points a checkpoint at to fill its memory. It stops writing only when the
 * client goes away. (A target that never sends headers is http-targets.ts's `blackHole`.)
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback, LOOPBACK } from './ports';

export interface EndlessBody {
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** Body bytes handed to the kernel so far, all responses together. */
  bytesSent(): number;
  /** Responses still being streamed (their client has not gone away). */
  streaming(): number;
  close(): Promise<void>;
}

/** 64 KiB of 'a': large writes keep the server's own CPU low while it floods the client. */
const CHUNK = Buffer.alloc(64 * 1024, 'a');

export async function startEndlessBody(): Promise<EndlessBody> {
  let sent = 0;
  const active = new Set<http.ServerResponse>();
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => {
    active.add(res);
    res.on('close', () => active.delete(res));
    res.writeHead(200, { 'content-type': 'text/plain' });
    // Write until the socket's buffer is full, then wait for 'drain': flat out, but never more
    // than the client takes, so the server's memory stays small.
    const pump = (): void => {
      while (!res.destroyed) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://${LOOPBACK}:${port}/`,
    bytesSent: () => sent,
    streaming: () => active.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
