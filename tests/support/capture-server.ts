/**
 * A listener that records every connection and every byte sent to it, and answers nothing: the
 * place an attacker would point a checkpoint at. "Nothing captured" means no connection at all.
 */
import net, { type AddressInfo, type Socket } from 'node:net';

export interface CaptureServer {
  host: string;
  port: number;
  /** `http://host:port` */
  url: string;
  connections: number;
  /** What arrived, all connections together (latin1). */
  received(): string;
  close(): Promise<void>;
}

export async function startCaptureServer(host = '127.0.0.2'): Promise<CaptureServer> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    capture.connections++;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const capture: CaptureServer = {
    host,
    port,
    url: `http://${host}:${port}`,
    connections: 0,
    received: () => Buffer.concat(chunks).toString('latin1'),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return capture;
}
