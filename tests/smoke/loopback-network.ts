/**
 * The two pieces of network the smoke test puts between the real processes, both on 127.0.0.1:
 *
 * - NameProxy: an HTTP forward proxy that Prometheus uses (`proxy_url`) to reach the checkpoints
 *   by their compose names (checkpoint-a:9915), so the shipped scrape config keeps those names and
 *   the `checkpoint` label it derives from them. An unmapped name or a dead upstream is a 502.
 *
 * - ClientFirewall: a TCP relay in front of a server that refuses (TCP reset) the connections of
 *   chosen client processes only. It tells clients apart the way a host firewall's owner match does:
 *   the accepted socket's peer port is looked up in /proc/net/tcp, and its inode among the blocked
 *   process's file descriptors. This is "block the target for one checkpoint only" with the same
 *   target address in both checkpoints, so Prometheus sees one monitor from two checkpoints. The
 *   refusal is a reset right after the client connected (a firewall rule would refuse the SYN, but
 *   a userspace relay learns who the client is only once it has accepted), so the blocked
 *   checkpoint's probes fail in their first exchange with the server rather than at connect.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { listenOnLoopback, LOOPBACK } from '../support/ports';
import { sleep } from '../support/processes';

export interface NameProxy {
  address: string;
  /** Forwarded requests, by host:port. */
  forwarded: Map<string, number>;
  /** Forwarded requests by host:port and path (without the query), each with the Authorization headers seen ('' for none). */
  authorizations: Map<string, Set<string>>;
  close(): Promise<void>;
}

export async function startNameProxy(names: Map<string, string>): Promise<NameProxy> {
  const forwarded = new Map<string, number>();
  const authorizations = new Map<string, Set<string>>();
  const server = http.createServer((request, response) => {
    let url: URL;
    try {
      url = new URL(request.url ?? '');
    } catch {
      response.writeHead(400).end('absolute URL expected\n');
      return;
    }
    const upstream = names.get(url.host);
    if (!upstream) {
      response.writeHead(502).end(`no such host in the test stack: ${url.host}\n`);
      return;
    }
    forwarded.set(url.host, (forwarded.get(url.host) ?? 0) + 1);
    const key = `${url.host}${url.pathname}`;
    if (!authorizations.has(key)) authorizations.set(key, new Set());
    authorizations.get(key)!.add(request.headers.authorization ?? '');
    const [host, port] = upstream.split(':');
    const outgoing = http.request({ host, port: Number(port), method: request.method, path: `${url.pathname}${url.search}`, headers: { ...request.headers, host: url.host } }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    outgoing.on('error', (error) => {
      if (!response.headersSent) response.writeHead(502).end(`${url.host}: ${error.message}\n`);
      else response.destroy();
    });
    request.pipe(outgoing);
  });
  const port = await listenOnLoopback(server);
  return {
    address: `${LOOPBACK}:${port}`,
    forwarded,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ClientFirewall {
  address: string;
  /** Connections refused because their client was blocked. */
  refused: number;
  block(pid: number): void;
  unblock(pid: number): void;
  close(): Promise<void>;
}

export async function startClientFirewall(upstream: { host: string; port: number }): Promise<ClientFirewall> {
  const blocked = new Set<number>();
  const open = new Set<net.Socket>();
  const state = { refused: 0, closed: false, following: false };
  const servers = new Set<net.Server>();

  const relay = (client: net.Socket): void => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    void (async () => {
      if (blocked.size > 0 && (await ownerIn(client, blocked))) {
        state.refused++;
        client.resetAndDestroy();
        return;
      }
      const server = net.connect(upstream.port, upstream.host);
      open.add(server);
      server.on('close', () => open.delete(server));
      server.once('connect', () => {
        client.pipe(server);
        server.pipe(client);
        client.resume();
      });
      server.on('error', (error: NodeJS.ErrnoException) => {
        client.resetAndDestroy();
        if (error.code === 'ECONNREFUSED') void followRefusal();
      });
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
    })();
  };

  const listen = async (port: number): Promise<number> => {
    const server = net.createServer({ pauseOnConnect: true }, relay);
    servers.add(server);
    server.on('close', () => servers.delete(server));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, LOOPBACK, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };

  // A relay accepts before it knows whether the server will: a stopped server would read as a
  // reset after connecting (reason tls) where, reached directly, it refuses the connection (reason
  // connect). So while the server refuses, the relay stops listening too, and listens again, on
  // the same port, once the server accepts. Only the first connection after a stop sees the reset.
  const followRefusal = async (): Promise<void> => {
    if (state.following || state.closed) return;
    state.following = true;
    for (const server of servers) server.close();
    while (!state.closed && !(await accepts(upstream))) await sleep(200);
    if (!state.closed) await listen(port);
    state.following = false;
  };

  const port = await listen(0);
  return {
    address: `${LOOPBACK}:${port}`,
    get refused() {
      return state.refused;
    },
    block: (pid) => blocked.add(pid),
    unblock: (pid) => blocked.delete(pid),
    async close() {
      state.closed = true;
      for (const socket of open) socket.destroy();
      await Promise.all([...servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

function accepts(upstream: { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(upstream.port, upstream.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether the process at the other end of this loopback connection is one of `pids`. */
async function ownerIn(socket: net.Socket, pids: Set<number>): Promise<boolean> {
  const inode = await socketInode(socket.remotePort ?? 0, socket.localPort ?? 0);
  if (!inode) return false;
  for (const pid of pids) {
    const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === `socket:[${inode}]`) return true;
    }
  }
  return false;
}

/** The inode of the client's end: the /proc/net/tcp row whose local port is the client's and remote port ours. */
async function socketInode(clientPort: number, serverPort: number): Promise<string | undefined> {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  const table = await fs.readFile('/proc/net/tcp', 'utf8');
  for (const line of table.split('\n').slice(1)) {
    const [, local, remote, , , , , , , inode] = line.trim().split(/\s+/);
    if (inode !== undefined && local?.endsWith(`:${hex(clientPort)}`) && remote?.endsWith(`:${hex(serverPort)}`)) return inode;
  }
  return undefined;
}
