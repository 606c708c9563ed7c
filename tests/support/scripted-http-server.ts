/**
 * A plain TCP server on 127.0.0.1 that answers every HTTP request with the same script of raw
 * bytes: what a broken or hostile server sends, which no HTTP server library would. It also keeps
 * each request exactly as it arrived, so a test can read what a client put on the wire.
 */
import net, { type Socket } from 'node:net';
import { listenOnLoopback, LOOPBACK } from './ports';

/**
 * Bytes to send, or what to do with the connection: the string `end` closes it cleanly, `reset`
 * with a TCP RST (so neither word can be sent as the whole of a step's bytes; a Buffer can). A
 * script that neither ends nor resets holds the connection open until the client closes it. The
 * type is plain `string`: the two words are strings too, and a union with them would say nothing more.
 */
export type ScriptStep = string | Buffer;

export interface ScriptedServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Each request as it arrived (latin1): request line, headers and body. */
  requests: string[];
  /** Connections still open on the server's side. */
  openSockets(): number;
  close(): Promise<void>;
}

export async function startScriptedServer(script: ScriptStep[]): Promise<ScriptedServer> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const request = completeRequest(received);
      if (request === undefined) return;
      // Keep reading (and dropping) so the client's close is noticed and the socket closes too.
      socket.off('data', onData).resume();
      requests.push(request);
      play(socket, script);
    };
    socket.on('data', onData);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://${LOOPBACK}:${port}`,
    requests,
    openSockets: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The request once its head and the body its Content-Length announces have arrived. */
function completeRequest(received: Buffer): string | undefined {
  const text = received.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? 0);
  return received.length >= headEnd + 4 + length ? text : undefined;
}

function play(socket: Socket, script: ScriptStep[]): void {
  for (const step of script) {
    if (step === 'end') return void socket.end();
    if (step === 'reset') return void socket.resetAndDestroy();
    socket.write(step);
  }
}
