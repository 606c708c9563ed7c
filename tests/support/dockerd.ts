/**
 * A real Docker engine (Debian's docker.io dockerd) for the docker prober's tests, run as root in
 * its own temp dir: its own socket, data root, exec root and managed containerd, no bridge and no
 * iptables rules (containers run with networking "none"), the vfs storage driver (overlay2 may
 * not mount inside a container sandbox; the test image is a few MB). Optionally also a TLS
 * endpoint on 127.0.0.1 that requires a client certificate, as `dockerd --tlsverify` does.
 *
 * Never the system's engine: the daemon reads an empty config file instead of
 * /etc/docker/daemon.json, and everything it starts lives under its temp dir, which `stop()`
 * checks for leftovers (containerd shims and their processes) and `destroy()` removes.
 */
import * as fs from 'node:fs/promises';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { LOOPBACK } from './ports';
import { alive, killAndWait, onFreePort, run, sleep, spawnLogged, startFailure, track, tryKill, type LoggedChild } from './processes';

const DOCKERD = '/usr/sbin/dockerd';
const BUSYBOX = '/bin/busybox';
/** dockerd with its managed containerd is up in ~1 s here; generous for a loaded CI machine. */
const START_TIMEOUT_MS = 30_000;
/**
 * dockerd's overall wait for containers at shutdown. Each container's own stop timeout (10 s by
 * default) still applies, and busybox as PID 1 ignores SIGTERM: tests that stop the engine with a
 * container running give that container `StopTimeout: 1`.
 */
const SHUTDOWN_TIMEOUT_SECONDS = 1;
/** The applets the test containers use, linked to busybox in the image. */
const APPLETS = ['sh', 'sleep', 'true', 'false', 'head', 'tr', 'cat', 'echo', 'kill'];

export interface DockerdTls {
  caPath: string;
  certPath: string;
  keyPath: string;
}

export interface Dockerd {
  /** `unix:///…/docker.sock`, as the module's `host`. */
  host: string;
  socketPath: string;
  /** `tcp://127.0.0.1:port` of the TLS endpoint, when started with `tls`. */
  tlsHost?: string;
  /** A client with write access, for the tests' setup; the prober under test gets only reads. Keeps no idle connections. */
  admin: Docker;
  /** Connections open to the engine right now (unix socket and TLS port), seen from the kernel's tables. */
  engineConnections(): Promise<number>;
  /** Stops the daemon (its containers stop with it), keeping its data root for `start()`. */
  stop(): Promise<void>;
  /** Starts the stopped daemon again on the same data root and endpoints. */
  start(): Promise<void>;
  /** Stops the daemon and removes its temp dir. */
  destroy(): Promise<void>;
  logs(): string;
}

export async function startDockerd(options: { tls?: DockerdTls } = {}): Promise<Dockerd> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-dockerd-'));
  const socketPath = path.join(dir, 'docker.sock');
  const configFile = path.join(dir, 'daemon.json');
  await fs.writeFile(configFile, '{}\n');
  let daemon: LoggedChild | undefined;
  let tcpPort: number | undefined;

  const args = (port: number | undefined) => [
    `--config-file=${configFile}`,
    `--host=unix://${socketPath}`,
    ...(options.tls && port !== undefined
      ? [`--host=tcp://${LOOPBACK}:${port}`, '--tlsverify', `--tlscacert=${options.tls.caPath}`, `--tlscert=${options.tls.certPath}`, `--tlskey=${options.tls.keyPath}`]
      : []),
    `--data-root=${path.join(dir, 'data')}`,
    `--exec-root=${path.join(dir, 'exec')}`,
    `--pidfile=${path.join(dir, 'docker.pid')}`,
    '--bridge=none',
    '--iptables=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--storage-driver=vfs',
    `--shutdown-timeout=${SHUTDOWN_TIMEOUT_SECONDS}`,
  ];

  const launch = async (port: number | undefined): Promise<void> => {
    const child = spawnLogged(DOCKERD, args(port));
    track(child.child);
    daemon = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    const admin = adminClient(socketPath);
    for (;;) {
      const ended = child.spawnError() ?? (child.child.exitCode !== null || child.child.signalCode !== null);
      if (ended) {
        await killAndWait(child.child);
        throw startFailure(`dockerd did not start: ${child.spawnError()?.message ?? `exit ${child.child.exitCode}`}\n${child.logs()}`, /address already in use/.test(child.logs()));
      }
      try {
        await admin.ping();
        return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await stopDaemon();
        throw new Error(`dockerd did not answer /_ping within ${START_TIMEOUT_MS} ms:\n${child.logs()}`);
      }
      await sleep(100);
    }
  };

  const stopDaemon = async (): Promise<void> => {
    if (!daemon) return;
    await killAndWait(daemon.child, 20_000);
    daemon = undefined;
    await killLeftovers(dir);
  };

  if (options.tls) {
    await onFreePort(async (port) => {
      tcpPort = port;
      await launch(port);
    });
  } else {
    await launch(undefined);
  }

  return {
    host: `unix://${socketPath}`,
    socketPath,
    tlsHost: tcpPort === undefined ? undefined : `tcp://${LOOPBACK}:${tcpPort}`,
    admin: adminClient(socketPath),
    engineConnections: () => engineConnections(socketPath, tcpPort),
    stop: stopDaemon,
    start: () => launch(tcpPort),
    async destroy() {
      await stopDaemon();
      await unmountUnder(dir);
      await fs.rm(dir, { recursive: true, force: true });
    },
    logs: () => daemon?.logs() ?? '',
  };
}

/** Node's default agent keeps connections alive, which would count as the prober's in engineConnections(). */
function adminClient(socketPath: string): Docker {
  // docker-modem passes `agent` on; dockerode's types do not list it.
  return new Docker({ socketPath, agent: new http.Agent({ keepAlive: false }) } as Docker.DockerOptions);
}

/**
 * The engine's accepted connections: in /proc/net/unix, sockets bound to the engine's path in state
 * 03 (connected; 01 is the listener); in /proc/net/tcp and tcp6, sockets on the TLS port in state
 * 01 (established). Unlike the process's own handle list, this sees the idle keep-alive
 * connections an HTTP agent unrefs.
 */
async function engineConnections(socketPath: string, tcpPort: number | undefined): Promise<number> {
  const unix = (await fs.readFile('/proc/net/unix', 'utf8')).split('\n').filter((line) => line.endsWith(` ${socketPath}`) && line.split(/\s+/)[5] === '03').length;
  if (tcpPort === undefined) return unix;
  const port = `:${tcpPort.toString(16).toUpperCase().padStart(4, '0')}`;
  let tcp = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await fs.readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    tcp += lines.filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1]?.endsWith(port) && fields[3] === '01';
    }).length;
  }
  return unix + tcp;
}

/**
 * Processes the daemon left behind: containerd shims (their command line names the exec root) and
 * whatever runs under them. dockerd stops its containers and containerd at shutdown; this is for a
 * daemon that had to be killed.
 */
async function killLeftovers(dir: string): Promise<void> {
  const processes = await listProcesses();
  const roots = processes.filter((each) => each.cmdline.includes(dir)).map((each) => each.pid);
  const doomed = new Set(roots);
  // Descendants, by parent PID, bounded by the process count.
  for (let round = 0; round < processes.length; round++) {
    const before = doomed.size;
    for (const each of processes) if (doomed.has(each.ppid)) doomed.add(each.pid);
    if (doomed.size === before) break;
  }
  for (const pid of doomed) tryKill(pid, 'SIGKILL');
  for (let waited = 0; waited < 50 && [...doomed].some(alive); waited++) await sleep(100);
}

async function listProcesses(): Promise<{ pid: number; ppid: number; cmdline: string }[]> {
  const entries = (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const processes = await Promise.all(
    entries.map(async (name) => {
      try {
        const [cmdline, stat] = await Promise.all([fs.readFile(`/proc/${name}/cmdline`, 'utf8'), fs.readFile(`/proc/${name}/stat`, 'utf8')]);
        // The fields after the command name, which is in parentheses and may contain anything.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return { pid: Number(name), ppid, cmdline: cmdline.replace(/\0/g, ' ') };
      } catch {
        return undefined; // Gone meanwhile.
      }
    }),
  );
  return processes.filter((each): each is { pid: number; ppid: number; cmdline: string } => each !== undefined && each.pid !== process.pid);
}

/** Mounts the daemon left under its dir (container rootfs, shm), deepest first, so the dir can be removed. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await fs.readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined && mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) await run('/bin/umount', ['-l', mountPoint]).catch(() => undefined);
}

/**
 * Builds the test image without a registry: a root filesystem holding only a static busybox and
 * its applet links, as a tar, given to the engine's import (`docker import`).
 */
export async function importBusyboxImage(docker: Docker, repo: string, tag: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-busybox-rootfs-'));
  try {
    const rootfs = path.join(dir, 'rootfs');
    for (const sub of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp']) await fs.mkdir(path.join(rootfs, sub), { recursive: true });
    await fs.copyFile(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
    await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const applet of APPLETS) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
    const tarball = path.join(dir, 'rootfs.tar');
    await run('/bin/tar', ['-C', rootfs, '-cf', tarball, '.']);
    const progress = await docker.importImage(tarball, { repo, tag } as object);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())));
    return `${repo}:${tag}`;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
