/**
 * The docker prober against a real dockerd (tests/support/dockerd.ts) started by this suite, with
 * containers run from an image imported from a static busybox: running, exited with a code,
 * created, paused, unhealthy, healthy, restarting, OOM-killed, and groups by label. The engine
 * also serves TLS on 127.0.0.1 with the test CA, requiring a client certificate.
 *
 * Stand-ins on unix sockets, each a real server: an HTTP server answering 403 to everything, as a
 * socket proxy (docker-socket-proxy) does for an endpoint it does not allow; one answering 200
 * with text that is not the API; one speaking no HTTP; and one that accepts and never answers.
 * The last test stops the engine and starts it again.
 */
import * as fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { makeTestPki, type TestPki } from '../../tests/support/certs';
import { importBusyboxImage, startDockerd, type Dockerd } from '../../tests/support/dockerd';
import { LOOPBACK, refusedPort } from '../../tests/support/ports';
import { eventually, probeWith, recordProbeSignals, type ProbeOptions, type Probed } from '../../tests/support/probe-harness';

let pki: TestPki;
let dockerd: Dockerd;
let image: string;
let standIns: { dir: string; forbidden: StandIn; notTheApi: StandIn; notHttp: StandIn; silent: StandIn; silentTcp: StandIn };
let baselineHandles: number;
let signals: ReturnType<typeof recordProbeSignals>;
/** Containers the current test created, removed after it. */
const created: Docker.Container[] = [];

const PROJECT_LABEL = 'com.docker.compose.project';
const SECOND = 1e9; // the engine's durations are in nanoseconds

beforeAll(async () => {
  pki = await makeTestPki();
  dockerd = await startDockerd({ tls: { caPath: pki.caCertPath, certPath: pki.server.certPath, keyPath: pki.server.keyPath } });
  image = await importBusyboxImage(dockerd.admin, 'checkpoint-test-busybox', 'latest');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-docker-standins-'));
  standIns = {
    dir,
    forbidden: await httpStandIn(path.join(dir, 'forbidden.sock'), 403, '{"message":"forbidden by the socket proxy"}'),
    notTheApi: await httpStandIn(path.join(dir, 'not-the-api.sock'), 200, 'hello, I am not a Docker engine'),
    notHttp: await rawStandIn(path.join(dir, 'not-http.sock'), 'SSH-2.0-OpenSSH_9.2p1\r\n'),
    silent: await rawStandIn(path.join(dir, 'silent.sock')),
    silentTcp: await rawStandIn({ host: '127.0.0.1', port: 0 }),
  };
  baselineHandles = openHandles();
  signals = recordProbeSignals();
}, 90_000);

afterAll(async () => {
  signals?.restore();
  for (const standIn of Object.values(standIns ?? {})) if (typeof standIn === 'object') await standIn.close();
  if (standIns) await fs.rm(standIns.dir, { recursive: true, force: true });
  await dockerd?.destroy();
  await pki?.cleanup();
}, 60_000);

// Every test removes its containers; every probe leaves no listener on its deadline and no connection open: in this
// process, at the stand-ins, or at the engine (where idle keep-alive connections, invisible in the handle list, would show).
afterEach(async () => {
  await Promise.all(created.splice(0).map((container) => container.remove({ force: true }).catch(() => undefined)));
  const left = signals.listenersLeft();
  expect(left).toEqual(left.map(() => 0));
  const standInConnections = () => [standIns.forbidden, standIns.notTheApi, standIns.notHttp, standIns.silent, standIns.silentTcp].reduce((sum, each) => sum + each.connections.size, 0);
  await eventually(async () => standInConnections() === 0 && openHandles() <= baselineHandles && (await dockerd.engineConnections()) === 0);
  expect({ standIns: standInConnections(), inProcess: openHandles(), engine: await dockerd.engineConnections() }).toEqual({ standIns: 0, inProcess: baselineHandles, engine: 0 });
});

/** Sockets of this process (TCP, TLS and unix alike); the engine's log pipes are in the baseline. */
function openHandles(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TLSWrap' || kind === 'PipeWrap').length;
}

function probe(target: string, section = '', options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('docker', target, [`host: ${dockerd.host}`, section].filter(Boolean).join('\n'), options);
}

function probeAt(host: string, target: string, options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('docker', target, `host: ${host}`, options);
}

/** Creates (and unless `start` is false, starts) a container of the test image, removed after the test. */
async function container(name: string, cmd: string[], extra: Partial<Docker.ContainerCreateOptions> = {}, start = true): Promise<Docker.Container> {
  const made = await dockerd.admin.createContainer({
    name,
    Image: image,
    Cmd: cmd,
    ...extra,
    HostConfig: { NetworkMode: 'none', ...extra.HostConfig },
  });
  created.push(made);
  if (start) await made.start();
  return made;
}

async function stateOf(made: Docker.Container): Promise<Docker.ContainerInspectInfo['State']> {
  return (await made.inspect()).State;
}

/** Waits (bounded) for the engine to report what `settled` wants of the container. */
async function until(made: Docker.Container, settled: (state: Docker.ContainerInspectInfo['State']) => boolean, ms = 15_000): Promise<void> {
  const reached = await eventually(async () => settled(await stateOf(made)), ms);
  if (!reached) throw new Error(`container did not reach the expected state within ${ms} ms: ${JSON.stringify(await stateOf(made))}`);
}

function stateSet(probed: Probed, container: string): Record<string, number | undefined> {
  const states = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead', 'missing'];
  return Object.fromEntries(states.map((state) => [state, probed.get('probe_docker_container_state', { container, state })]));
}

function currentState(probed: Probed, container: string): string[] {
  return Object.entries(stateSet(probed, container))
    .filter(([, value]) => value === 1)
    .map(([state]) => state);
}

function currentHealth(probed: Probed, container: string): string[] {
  return ['starting', 'healthy', 'unhealthy', 'none'].filter((status) => probed.get('probe_docker_container_health_status', { container, status }) === 1);
}

describe('one container by name or id', () => {
  test('a running container succeeds and reports its state, limits and usage', async () => {
    await container('web', ['sleep', '600'], { HostConfig: { NanoCpus: 0.5 * SECOND, Memory: 64 * 1024 * 1024 } });
    const probed = await probe('web');
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_docker_containers')).toBe(1);
    expect(stateSet(probed, 'web')).toEqual({ created: 0, running: 1, paused: 0, restarting: 0, removing: 0, exited: 0, dead: 0, missing: 0 });
    expect(currentHealth(probed, 'web')).toEqual(['none']);
    expect(probed.get('probe_docker_container_info', { container: 'web', image })).toBe(1);
    expect(probed.get('probe_docker_container_restart_count', { container: 'web' })).toBe(0);
    expect(probed.get('probe_docker_container_oom_killed', { container: 'web' })).toBe(0);
    expect(probed.get('probe_docker_container_exit_code', { container: 'web' })).toBe(0);
    expect(probed.get('probe_docker_container_uptime_seconds', { container: 'web' })).toBeGreaterThanOrEqual(0);
    expect(probed.get('probe_docker_container_cpu_limit_cores', { container: 'web' })).toBe(0.5);
    expect(probed.get('probe_docker_container_memory_limit_bytes', { container: 'web' })).toBe(64 * 1024 * 1024);
    expect(probed.get('probe_docker_container_cpu_usage_seconds', { container: 'web' })).toBeGreaterThan(0);
    expect(probed.get('probe_docker_container_memory_usage_bytes', { container: 'web' })).toBeGreaterThan(0);
    const engine = [...probed.metrics.keys()].find((key) => key.startsWith('probe_docker_engine_info{'));
    expect(engine).toMatch(/^probe_docker_engine_info\{api_version="1\.\d+",version="20\.10\.[^"]+"\}$/);
    for (const phase of ['connect', 'version', 'inspect', 'stats']) expect(probed.get('probe_docker_duration_seconds', { phase })).toBeGreaterThan(0);
    for (const phase of ['resolve', 'tls', 'list']) expect(probed.get('probe_docker_duration_seconds', { phase })).toBe(0);
    expect(probed.logText).toMatch(/msg="Container inspected" container=web state=running health=none/);
  });

  test('an id prefix finds the container, labelled with its name; stats: false reads no usage; a pinned API version works', async () => {
    const made = await container('by-id', ['sleep', '600']);
    const probed = await probe(made.id.slice(0, 12), 'stats: false\napi_version: "1.41"');
    expect(probed.result.success).toBe(true);
    expect(currentState(probed, 'by-id')).toEqual(['running']);
    expect(probed.names.has('probe_docker_container_cpu_usage_seconds')).toBe(false);
    expect(probed.get('probe_docker_duration_seconds', { phase: 'stats' })).toBe(0);
  });

  test('a container that does not exist fails with not_found and shows as missing', async () => {
    const probed = await probe('no-such-container');
    expect(probed.reason).toBe('not_found');
    expect(probed.get('probe_docker_containers')).toBe(0);
    expect(currentState(probed, 'no-such-container')).toEqual(['missing']);
    expect(probed.logText).toContain('no such container: no-such-container');
  });

  test('a container that exited with a code fails with assertion and reports the code', async () => {
    const made = await container('exits-7', ['sh', '-c', 'exit 7']);
    await until(made, (state) => state.Status === 'exited');
    const probed = await probe('exits-7');
    expect(probed.reason).toBe('assertion');
    expect(currentState(probed, 'exits-7')).toEqual(['exited']);
    expect(probed.get('probe_docker_container_exit_code', { container: 'exits-7' })).toBe(7);
    expect(probed.get('probe_docker_container_uptime_seconds', { container: 'exits-7' })).toBe(0);
    expect(probed.names.has('probe_docker_container_cpu_usage_seconds')).toBe(false);
    expect(probed.result.failure?.message).toContain('exits-7 is exited (exit code 7)');
  });

  test('a created but never started container and a stopped one fail with assertion', async () => {
    await container('never-started', ['sleep', '600'], {}, false);
    const stopped = await container('stopped', ['sleep', '600']);
    await stopped.stop({ t: 0 });
    const [neverStarted, wasStopped] = await Promise.all([probe('never-started'), probe('stopped')]);
    expect(neverStarted.reason).toBe('assertion');
    expect(currentState(neverStarted, 'never-started')).toEqual(['created']);
    expect(wasStopped.reason).toBe('assertion');
    expect(currentState(wasStopped, 'stopped')).toEqual(['exited']);
    expect(wasStopped.get('probe_docker_container_exit_code', { container: 'stopped' })).toBe(137);
  });

  test('a paused container fails with assertion', async () => {
    const made = await container('paused', ['sleep', '600']);
    await made.pause();
    const probed = await probe('paused');
    expect(probed.reason).toBe('assertion');
    expect(currentState(probed, 'paused')).toEqual(['paused']);
    await made.unpause();
  });

  test('a failing health check makes a running container fail with assertion; a passing one succeeds', async () => {
    const healthcheck = (command: string) => ({ Test: ['CMD', command], Interval: 0.1 * SECOND, Timeout: SECOND, Retries: 1 });
    const sick = await container('unhealthy', ['sleep', '600'], { Healthcheck: healthcheck('/bin/false') });
    const well = await container('healthy', ['sleep', '600'], { Healthcheck: healthcheck('/bin/true') });
    await until(sick, (state) => state.Health?.Status === 'unhealthy');
    await until(well, (state) => state.Health?.Status === 'healthy');
    const [unhealthy, healthy] = await Promise.all([probe('unhealthy'), probe('healthy')]);
    expect(unhealthy.reason).toBe('assertion');
    expect(currentState(unhealthy, 'unhealthy')).toEqual(['running']);
    expect(currentHealth(unhealthy, 'unhealthy')).toEqual(['unhealthy']);
    expect(unhealthy.result.failure?.message).toContain('unhealthy is running and unhealthy');
    expect(healthy.result.success).toBe(true);
    expect(currentHealth(healthy, 'healthy')).toEqual(['healthy']);
  });

  test('a container the engine keeps restarting fails with assertion and counts its restarts', async () => {
    const made = await container('crashloop', ['sh', '-c', 'exit 3'], { HostConfig: { RestartPolicy: { Name: 'always' } } });
    await until(made, (state) => state.Restarting);
    // Between restarts it runs for an instant; the engine's back-off makes "restarting" what a probe sees, bounded here.
    let probed: Probed | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      probed = await probe('crashloop');
      if (probed.get('probe_docker_container_state', { container: 'crashloop', state: 'restarting' }) === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(probed!.reason).toBe('assertion');
    expect(currentState(probed!, 'crashloop')).toEqual(['restarting']);
    expect(probed!.get('probe_docker_container_restart_count', { container: 'crashloop' })).toBeGreaterThanOrEqual(1);
    expect(probed!.get('probe_docker_container_exit_code', { container: 'crashloop' })).toBe(3);
  });

  test('a container killed for memory reports oom_killed', async () => {
    const limit = 8 * 1024 * 1024;
    // The shell keeps the command's output in memory: 64 MiB against an 8 MiB limit without swap.
    const made = await container('oom', ['sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo survived'], { HostConfig: { Memory: limit, MemorySwap: limit } });
    // The engine learns of the OOM kill from its own event, which may come after the exit (long
    // after, on a loaded machine: a clean CI run once saw it miss 15 s): wait for both.
    await until(made, (state) => state.Status === 'exited' && state.OOMKilled, 50_000);
    const probed = await probe('oom');
    expect(probed.reason).toBe('assertion');
    expect(probed.get('probe_docker_container_oom_killed', { container: 'oom' })).toBe(1);
    expect(probed.get('probe_docker_container_exit_code', { container: 'oom' })).toBe(137);
    expect(probed.get('probe_docker_container_memory_limit_bytes', { container: 'oom' })).toBe(limit);
    expect(probed.result.failure?.message).toContain('OOM-killed');
  }, 90_000);
});

describe('containers by label', () => {
  test('every container of a project: success while all run, assertion naming the one that does not', async () => {
    const labels = { [PROJECT_LABEL]: 'shop' };
    await container('shop-web', ['sleep', '600'], { Labels: labels });
    await container('shop-worker', ['sleep', '600'], { Labels: { ...labels, tier: 'back' } });
    await container('other-app', ['sleep', '600'], { Labels: { [PROJECT_LABEL]: 'other' } });
    const allRunning = await probe(`label:${PROJECT_LABEL}=shop`);
    expect(allRunning.result.success).toBe(true);
    expect(allRunning.get('probe_docker_containers')).toBe(2);
    expect(currentState(allRunning, 'shop-web')).toEqual(['running']);
    expect(currentState(allRunning, 'shop-worker')).toEqual(['running']);
    expect(allRunning.names.has('probe_docker_container_cpu_usage_seconds')).toBe(true);
    expect([...allRunning.metrics.keys()].some((key) => key.includes('other-app'))).toBe(false);
    expect(allRunning.get('probe_docker_duration_seconds', { phase: 'list' })).toBeGreaterThan(0);

    const narrowed = await probe(`label:${PROJECT_LABEL}=shop,tier=back`);
    expect(narrowed.get('probe_docker_containers')).toBe(1);

    const crashed = await container('shop-migrate', ['sh', '-c', 'exit 2'], { Labels: labels });
    await until(crashed, (state) => state.Status === 'exited');
    const oneDown = await probe(`label:${PROJECT_LABEL}=shop`);
    expect(oneDown.reason).toBe('assertion');
    expect(oneDown.get('probe_docker_containers')).toBe(3);
    expect(oneDown.result.failure?.message).toBe('1 of 3 container(s) not running and healthy: shop-migrate is exited (exit code 2)');
  });

  test('a selector that matches nothing fails with not_found; more than max_containers fails with config', async () => {
    const none = await probe(`label:${PROJECT_LABEL}=nothing-here`);
    expect(none.reason).toBe('not_found');
    expect(none.get('probe_docker_containers')).toBe(0);
    await container('many-1', ['sleep', '600'], { Labels: { many: 'yes' } });
    await container('many-2', ['sleep', '600'], { Labels: { many: 'yes' } });
    const tooMany = await probe('label:many', 'max_containers: 1');
    expect(tooMany.reason).toBe('config');
    expect(tooMany.result.failure?.message).toContain('matches 2 containers, more than max_containers (1)');
  });
});

describe('a remote engine over TLS', () => {
  const section = (tls: string) => [`host: ${dockerd.tlsHost}`, 'tls_config:', ...tls.split('\n').map((line) => `  ${line}`)].join('\n');

  test('with the CA and a client certificate the probe succeeds and reports the engine certificate', async () => {
    await container('remote', ['sleep', '600']);
    const probed = await probeWith('docker', 'remote', section(`ca_file: ${pki.caCertPath}\ncert_file: ${pki.client.certPath}\nkey_file: ${pki.client.keyPath}`));
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_ssl_earliest_cert_expiry')).toBe(pki.server.notAfter.getTime() / 1000);
    expect(probed.get('probe_docker_duration_seconds', { phase: 'tls' })).toBeGreaterThan(0);
  });

  test('without a client certificate, or with a CA that did not sign the engine, the reason is tls; an unreadable CA file is config', async () => {
    const noClientCert = await probeWith('docker', 'remote', section(`ca_file: ${pki.caCertPath}`));
    expect(noClientCert.reason).toBe('tls');
    const wrongCa = await probeWith('docker', 'remote', section(`ca_file: ${pki.wrongHost.certPath}\ncert_file: ${pki.client.certPath}\nkey_file: ${pki.client.keyPath}`));
    expect(wrongCa.reason).toBe('tls');
    const missingCa = await probeWith('docker', 'remote', section(`ca_file: ${path.join(pki.dir, 'no-such-ca.pem')}`));
    expect(missingCa.reason).toBe('config');
  });
});

describe('an engine that cannot be asked', () => {
  test('a socket that does not exist and a refused TCP port fail with connect', async () => {
    const missing = await probeAt(`unix://${path.join(standIns.dir, 'no-engine.sock')}`, 'web');
    expect(missing.reason).toBe('connect');
    expect(missing.result.failure?.message).toContain('does not exist');
    const refused = await probeAt(`tcp://127.0.0.1:${await refusedPort()}`, 'web');
    expect(refused.reason).toBe('connect');
  });

  test('a socket proxy that forbids the call fails with auth', async () => {
    const probed = await probeAt(`unix://${standIns.forbidden.path}`, 'web');
    expect(probed.reason).toBe('auth');
    expect(probed.result.failure?.message).toContain('HTTP 403: forbidden by the socket proxy');
  });

  test('an answer that is not the Docker API, or not HTTP, fails with protocol', async () => {
    const notTheApi = await probeAt(`unix://${standIns.notTheApi.path}`, 'web');
    expect(notTheApi.reason).toBe('protocol');
    expect(notTheApi.result.failure?.message).toContain('GET /version');
    const notHttp = await probeAt(`unix://${standIns.notHttp.path}`, 'web');
    expect(notHttp.reason).toBe('protocol');
  });

  test('an engine that never answers ends at the deadline with timeout', async () => {
    const started = Date.now();
    const probed = await probeAt(`unix://${standIns.silent.path}`, 'web', { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(4000);
    expect(probed.result.failure?.message).toContain('version');
  });

  test('a TCP endpoint that never completes the TLS handshake ends at the deadline with timeout in the tls phase', async () => {
    const started = Date.now();
    const probed = await probeWith('docker', 'web', [`host: tcp://${standIns.silentTcp.path}`, 'tls_config:', `  ca_file: ${pki.caCertPath}`].join('\n'), { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(4000);
    expect(probed.result.failure?.message).toBe('deadline reached in the tls phase');
  });
});

// Last: it stops the engine the other tests use.
describe('the engine stopped mid-suite', () => {
  test('the probe fails with connect while the engine is down and succeeds again once it is back', async () => {
    // busybox sleep as PID 1 ignores SIGTERM: a 1 s stop timeout instead of 10 keeps the engine's shutdown short.
    const made = await container('survivor', ['sleep', '600'], { StopTimeout: 1, HostConfig: { RestartPolicy: { Name: 'always' } } });
    expect((await probe('survivor')).result.success).toBe(true);
    await dockerd.stop();
    const down = await probe('survivor');
    expect(down.reason).toBe('connect');
    expect(down.get('probe_docker_duration_seconds', { phase: 'version' })).toBe(0);
    await dockerd.start();
    // The restart policy brings the container back with the engine.
    await until(made, (state) => state.Running);
    const back = await probe('survivor');
    expect(back.result.success).toBe(true);
    expect(currentState(back, 'survivor')).toEqual(['running']);
  }, 60_000);
});

interface StandIn {
  path: string;
  connections: Set<net.Socket>;
  close(): Promise<void>;
}

/** A real HTTP server on a unix socket that answers every request with `status` and `body`. */
async function httpStandIn(socketPath: string, status: number, body: string): Promise<StandIn> {
  const server = http.createServer((_request, response) => {
    response.writeHead(status, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain' });
    response.end(body);
  });
  return listen(server, socketPath);
}

/** A server (unix socket, or TCP on loopback) that writes `greeting` (or nothing) and then never answers. */
async function rawStandIn(address: string | { host: string; port: number }, greeting?: string): Promise<StandIn> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    // Reads and drops what the probe sends, so the probe closing its end is seen here.
    socket.resume();
    if (greeting) socket.end(greeting);
  });
  return listen(server, address);
}

async function listen(server: net.Server, address: string | { host: string; port: number }): Promise<StandIn> {
  const connections = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => (typeof address === 'string' ? server.listen(address, resolve) : server.listen(address.port, address.host, resolve)));
  const bound = server.address();
  return {
    path: typeof bound === 'string' ? bound : `${LOOPBACK}:${bound!.port}`,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
