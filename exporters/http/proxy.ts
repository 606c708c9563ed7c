/**
 * A hop's connection: straight to the target, or through the module's `proxy_url`, an http://
 * forward proxy, as Go's transport does it: an http target is asked of the proxy by absolute URI,
 * an https one through a CONNECT tunnel, with `proxy_connect_header` in the CONNECT only.
 * Credentials in the proxy URL go to the proxy as Proxy-Authorization, never to the target.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { openConnection, upgradeToTls, type OpenConnection } from '../../src/net/connect';
import { resolveTarget } from '../../src/net/resolve';
import { unbracketedHost } from '../../src/net/url-host';
import { ProbeFailure } from '../../src/probe/failure';
import { USER_AGENT } from '../../src/version';

export interface HopConnectionRequest {
  url: URL;
  /** The target's resolved address: connected to without a proxy, the CONNECT's authority with one. */
  address: string;
  proxyUrl?: string;
  connectHeaders?: Record<string, string[]>;
  tls?: tls.ConnectionOptions;
  ipProtocol: 'ip4' | 'ip6';
  ipProtocolFallback: boolean;
  signal: AbortSignal;
  onTlsStart?(): void;
}

export interface HopConnection extends OpenConnection {
  /** The request line's target through a proxy (`http://10.0.0.1:8080/path`); else the URL's path. */
  requestTarget?: string;
  /** Proxy-Authorization, for a request the proxy forwards (http targets). */
  proxyHeaders: Record<string, string>;
}

/** The most a CONNECT answer's head may take: a proxy sending more is not one. */
const MAX_CONNECT_HEAD_BYTES = 16 * 1024;

export async function openHopConnection(request: HopConnectionRequest): Promise<HopConnection> {
  const { url, signal } = request;
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  if (request.proxyUrl === undefined) {
    return { ...(await openConnection({ address: request.address, port, tls: request.tls, signal, onTlsStart: () => request.onTlsStart?.() })), proxyHeaders: {} };
  }
  const proxy = new URL(request.proxyUrl);
  const proxyAddress = await resolveTarget(unbracketedHost(proxy.hostname), request.ipProtocol, request.ipProtocolFallback, signal).catch((error: unknown) => {
    throw asProxyFailure(error);
  });
  const toProxy = await openConnection({ address: proxyAddress.address, port: Number(proxy.port) || 80, signal }).catch((error: unknown) => {
    throw asProxyFailure(error);
  });
  const proxyHeaders: Record<string, string> = {};
  if (proxy.username !== '' || proxy.password !== '') {
    const userinfo = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    proxyHeaders['proxy-authorization'] = `Basic ${Buffer.from(userinfo).toString('base64')}`;
  }
  // As blackbox_exporter 0.23 asks a proxy: an http target by its name (the proxy resolves it),
  // the tunnel for an https one to the address it resolved itself (the certificate is still checked against the name).
  if (!request.tls) return { ...toProxy, requestTarget: `${url.protocol}//${url.host}${url.pathname}${url.search}`, proxyHeaders };
  const authority = `${request.address.includes(':') ? `[${request.address}]` : request.address}:${port}`;

  const tunnelStarted = performance.now();
  await connectTunnel(toProxy.socket, authority, { ...proxyHeaders, ...joined(request.connectHeaders ?? {}) }, signal);
  const connectSeconds = toProxy.connectSeconds + (performance.now() - tunnelStarted) / 1000;
  const handshakeStarted = performance.now();
  request.onTlsStart?.();
  const socket = await upgradeToTls(toProxy.socket, request.tls, signal, 'TLS handshake');
  return { socket, connectSeconds, tlsSeconds: (performance.now() - handshakeStarted) / 1000, proxyHeaders: {} };
}

/** A failure to reach the proxy says so: the target itself was never tried. */
function asProxyFailure(error: unknown): unknown {
  return error instanceof ProbeFailure ? new ProbeFailure(error.reason, `proxy: ${error.message}`) : error;
}

function joined(headers: Record<string, string[]>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, values]) => [name, values.join(', ')]));
}

/**
 * Asks the proxy for a tunnel and waits for its answer. A 407 is the proxy refusing our
 * credentials (`auth`); any other refusal means the target could not be reached (`connect`).
 */
function connectTunnel(socket: net.Socket, authority: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
  for (const value of Object.values(headers)) {
    // A header value is the module's, but a line break in it would write a request of its own.
    if (/[\r\n]/.test(value)) return Promise.reject(new ProbeFailure('config', 'proxy_connect_header: a value holds a line break'));
  }
  const head = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, `User-Agent: ${USER_AGENT}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n');
  return new Promise<void>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_CONNECT_HEAD_BYTES) fail(new ProbeFailure('protocol', 'proxy: the answer to CONNECT is not HTTP'));
        return;
      }
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
      if (status === undefined) return fail(new ProbeFailure('protocol', 'proxy: the answer to CONNECT is not HTTP'));
      if (!status.startsWith('2')) return fail(new ProbeFailure(status === '407' ? 'auth' : 'connect', `proxy refused the tunnel to ${authority}: status ${status}`));
      cleanup();
      socket.pause();
      // Bytes past the head are already the target's (a TLS server does not speak first, but be exact).
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve();
    };
    const onError = (error: NodeJS.ErrnoException) => fail(new ProbeFailure('connect', `proxy: the tunnel to ${authority} failed: ${error.code ?? error.message}`));
    const onClose = () => fail(new ProbeFailure('connect', `proxy closed the connection before answering CONNECT ${authority}`));
    const onAbort = () => fail(signal.reason);
    if (signal.aborted) return onAbort();
    socket.on('data', onData).once('error', onError).once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.write(head);
  });
}
