/**
 * The connection to the engine. The prober opens it itself (unix socket, or TCP then TLS through
 * the shared helpers) so that connect and TLS are phases with their own failure reasons, then
 * hands it to dockerode through an HTTP agent that reuses it for every request of the probe.
 * Should the engine close it between requests, or a few stats calls run side by side, the agent
 * opens more the same way; all of them are destroyed when the probe ends.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { ProbeFailure } from '../../src/probe/failure';
import { openConnection, openUnixConnection, upgradeToTls } from '../../src/net/connect';
import { resolveTarget } from '../../src/net/resolve';
import { tlsOptions } from '../../src/net/tls-config';
import { readTlsFacts, type TlsFacts } from '../../src/net/tls-facts';
import type { ProbeLog } from '../../src/probe/probe-log';
import type { PhaseTimer } from '../../src/probe/phases';
import type { DockerEndpoint } from './endpoint';
import type { DockerPhase } from './metrics';
import type { DockerSettings } from './schema';

/** Requests of one probe in flight at once: the stats calls of a label selector's containers. */
export const MAX_PARALLEL_REQUESTS = 4;

export interface EngineSession {
  docker: Docker;
  /** Destroys every connection the probe opened. */
  close(): void;
}

interface OpenOptions {
  endpoint: DockerEndpoint;
  settings: DockerSettings;
  timer: PhaseTimer<DockerPhase>;
  log: ProbeLog;
  signal: AbortSignal;
  onTls(facts: TlsFacts | undefined): void;
}

export async function openEngine(options: OpenOptions): Promise<EngineSession> {
  const { endpoint, settings, timer, log, signal } = options;
  const sockets = new Set<Duplex>();
  const track = <S extends Duplex>(socket: S): S => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    return socket;
  };
  const close = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  try {
    let connect: () => Promise<Duplex>;
    let first: Duplex;
    if (endpoint.kind === 'unix') {
      connect = () => openUnixConnection(endpoint.path, signal, (error) => socketFailure(endpoint.path, error));
      first = await timer.time('connect', async () => track(await connect()), { socket: endpoint.path });
    } else {
      const tls = endpoint.tls ? await tlsOptions(settings.tls_config, settings.tls_config?.server_name ?? endpoint.host, ['http/1.1']) : undefined;
      const resolved = await timer.time('resolve', () => resolveTarget(endpoint.host, settings.preferred_ip_protocol, settings.ip_protocol_fallback, signal), { host: endpoint.host });
      log.info('Resolved engine address', { host: endpoint.host, ip: resolved.address });
      connect = async () => (await openConnection({ address: resolved.address, port: endpoint.port, tls, signal })).socket;
      const tcp = await timer.time('connect', async () => track((await openConnection({ address: resolved.address, port: endpoint.port, signal })).socket), {
        ip: resolved.address,
        port: endpoint.port,
      });
      first = tcp;
      if (tls) {
        const secure = await timer.time('tls', async () => track(await upgradeToTls(tcp, tls, signal, 'TLS handshake with the engine')));
        options.onTls(readTlsFacts(secure));
        first = secure;
      }
    }
    log.info('Connected to the engine');
    const agent = new EngineAgent(first, async () => track(await connect()));
    // docker-modem passes `agent` on to every request; dockerode's types do not list it.
    const dockerOptions: Docker.DockerOptions & { agent: http.Agent } = {
      // Every key given, so that DOCKER_HOST, DOCKER_CERT_PATH and friends in the checkpoint's environment change nothing.
      ...(endpoint.kind === 'unix' ? { socketPath: endpoint.path, host: undefined } : { host: endpoint.host, port: endpoint.port, socketPath: undefined }),
      // The agent's connections are TLS already: dockerode speaks plain HTTP over them.
      protocol: 'http',
      ca: undefined,
      cert: undefined,
      key: undefined,
      timeout: undefined,
      version: settings.api_version === undefined ? undefined : `v${settings.api_version}`,
      agent,
    };
    const docker = new Docker(dockerOptions);
    return {
      docker,
      close: () => {
        agent.close();
        close();
      },
    };
  } catch (error) {
    close();
    throw error;
  }
}

/** Hands out the connection opened in the connect phase first, then opens new ones with `connect`. */
class EngineAgent extends http.Agent {
  private closed = false;

  constructor(
    private ready: Duplex | undefined,
    private readonly connect: () => Promise<Duplex>,
  ) {
    super({ keepAlive: true, maxSockets: MAX_PARALLEL_REQUESTS });
  }

  /** Ends the agent for good: requests still queued in it fail instead of opening a connection after the probe. */
  close(): void {
    this.closed = true;
    this.destroy();
  }

  override createConnection(_options: unknown, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    const ready = this.ready;
    this.ready = undefined;
    if (ready && !ready.destroyed) return ready;
    if (this.closed) {
      process.nextTick(() => callback?.(new Error('the probe has ended'), undefined as unknown as Duplex));
      return undefined;
    }
    this.connect().then(
      (socket) => callback?.(null, socket),
      (error: Error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** A socket the checkpoint may not open is a permission problem (`auth`); one that is not there or refuses is an engine that is down (`connect`). */
function socketFailure(path: string, error: NodeJS.ErrnoException): ProbeFailure {
  switch (error.code) {
    case 'EACCES':
    case 'EPERM':
      return new ProbeFailure('auth', `permission denied on the engine socket ${path}: the checkpoint's user needs access to it (see README)`);
    case 'ENOENT':
      return new ProbeFailure('connect', `the engine socket ${path} does not exist: is the engine running, and the socket mounted?`);
    case 'ECONNREFUSED':
      return new ProbeFailure('connect', `the engine socket ${path} refuses connections: the engine is not running`);
    default:
      return new ProbeFailure('connect', `cannot connect to the engine socket ${path}: ${error.code ?? error.message}`);
  }
}
