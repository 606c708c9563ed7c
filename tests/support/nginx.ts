/**
 * Debian's nginx on a loopback port, serving one `server { }` block that the caller renders for
 * the port it gets (a shipped conf.d file with its addresses and paths changed). Everything it
 * writes (pid, temp files) stays in the caller's directory; its error log goes to the captured
 * output.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOOPBACK } from './ports';
import { hasExited, killAndWait, onFreePort, sleep, spawnLogged, startFailure, track, type LoggedChild } from './processes';

export const NGINX = '/usr/sbin/nginx';
const READY_TIMEOUT_MS = 15_000;

export interface Nginx {
  /** host:port it listens on. */
  address: string;
  spawned: LoggedChild;
  stop(): Promise<void>;
}

/** `server` renders the server block for the port nginx gets. */
export function startNginx(options: { dir: string; server: (port: number) => Promise<string> }): Promise<Nginx> {
  return onFreePort((port) => startOn(port, options));
}

async function startOn(port: number, options: { dir: string; server: (port: number) => Promise<string> }): Promise<Nginx> {
  await fs.mkdir(path.join(options.dir, 'temp'), { recursive: true });
  const serverFile = path.join(options.dir, 'server.conf');
  await fs.writeFile(serverFile, await options.server(port));
  const temp = (name: string): string => `${name}_temp_path ${path.join(options.dir, 'temp', name)};`;
  const configFile = path.join(options.dir, 'nginx.conf');
  // `user` matters only when the test runs as root (the workers would otherwise become nobody,
  // who cannot read the test's 0600 files); nginx ignores it, with a warning, otherwise.
  await fs.writeFile(
    configFile,
    `daemon off;
worker_processes 1;
user ${os.userInfo().username};
pid ${path.join(options.dir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 256; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${serverFile};
}
`,
  );
  const spawned = spawnLogged(NGINX, ['-p', options.dir, '-c', configFile, '-e', 'stderr']);
  track(spawned.child);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (hasExited(spawned.child) || spawned.spawnError()) {
      await killAndWait(spawned.child);
      throw startFailure(
        `nginx ${spawned.spawnError()?.message ?? `exited with ${spawned.child.exitCode ?? spawned.child.signalCode}`}:\n${spawned.logs()}`,
        /Address already in use/.test(spawned.logs()),
      );
    }
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      await killAndWait(spawned.child);
      throw new Error(`nginx not listening after ${READY_TIMEOUT_MS} ms:\n${spawned.logs()}`);
    }
    await sleep(100);
  }
  return { address: `${LOOPBACK}:${port}`, spawned, stop: () => killAndWait(spawned.child) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
