/**
 * A TCP relay on 127.0.0.1 standing for a site's way out to the central place, which the test can
 * cut like a firewall that starts dropping packets: from the cut on, connections in progress are
 * broken and new ones are accepted but never answered, so the client's requests wait for their
 * own timeout (the agent's remote_timeout), as they would at a real firewall; healing breaks the
 * held connections and relays new ones again.
 */
import * as net from 'node:net';
import { listenOnLoopback, LOOPBACK } from '../support/ports';

export interface CuttableRelay {
  /** host:port to connect to instead of the upstream. */
  address: string;
  /** Connections accepted and held unanswered since the last cut. */
  held(): number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startCuttableRelay(upstream: { host: string; port: number }): Promise<CuttableRelay> {
  const relayed = new Set<net.Socket>();
  const held = new Set<net.Socket>();
  let cutOff = false;
  const keep = (set: Set<net.Socket>, socket: net.Socket): void => {
    set.add(socket);
    socket.on('close', () => set.delete(socket));
    // A reset from either side ends the pair; nothing to report.
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    if (cutOff) {
      keep(held, client);
      return;
    }
    const onward = net.connect(upstream);
    keep(relayed, client);
    keep(relayed, onward);
    client.pipe(onward);
    onward.pipe(client);
    client.on('close', () => onward.destroy());
    onward.on('close', () => client.destroy());
  });
  const port = await listenOnLoopback(server);
  const destroyAll = (set: Set<net.Socket>): void => {
    for (const socket of set) socket.destroy();
  };
  return {
    address: `${LOOPBACK}:${port}`,
    held: () => held.size,
    cut() {
      cutOff = true;
      destroyAll(relayed);
    },
    heal() {
      cutOff = false;
      destroyAll(held);
    },
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll(relayed);
        destroyAll(held);
        server.close(() => resolve());
      }),
  };
}
