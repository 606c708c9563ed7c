/**
 * Opens a probe's connections, timing TCP and TLS apart so that every prober's `connect` and `tls`
 * phases are real, and ending them at the deadline. Failures carry their phase's reason.
 */
import net from 'node:net';
import tls from 'node:tls';
import { firstLine, ProbeFailure } from '../probe/failure';

export interface ConnectRequest {
  address: string;
  port: number;
  /** Set for https: the options of the handshake. */
  tls?: tls.ConnectionOptions;
  signal: AbortSignal;
  /** Called as the TLS handshake begins, for a prober that tracks its phase. */
  onTlsStart?(): void;
}

export interface OpenConnection {
  socket: net.Socket | tls.TLSSocket;
  connectSeconds: number;
  tlsSeconds: number;
}

export async function openConnection(request: ConnectRequest): Promise<OpenConnection> {
  const started = performance.now();
  const tcp = await settle(net.connect({ host: request.address, port: request.port }), 'connect', request.signal, 'connection');
  const connectSeconds = (performance.now() - started) / 1000;
  if (!request.tls) return { socket: tcp, connectSeconds, tlsSeconds: 0 };
  const handshakeStarted = performance.now();
  request.onTlsStart?.();
  const secure = await upgradeToTls(tcp, request.tls, request.signal, 'TLS handshake');
  return { socket: secure, connectSeconds, tlsSeconds: (performance.now() - handshakeStarted) / 1000 };
}

/**
 * A TLS handshake over an open connection: at once for https or implicit TLS, or after a
 * protocol's STARTTLS. On failure or at the deadline both sockets are destroyed. `what` names the
 * handshake in the failure message.
 */
export async function upgradeToTls(tcp: net.Socket, options: tls.ConnectionOptions, signal: AbortSignal, what: string): Promise<tls.TLSSocket> {
  let handshake: tls.TLSSocket;
  try {
    handshake = tls.connect({ ...options, socket: tcp });
  } catch (error) {
    // Thrown before any byte is sent: the options themselves are unusable (a cert_file or key_file
    // that is not PEM, a key that does not match). The module is at fault, and the connection closed.
    tcp.destroy();
    throw new ProbeFailure('config', `${what} not started: the TLS settings cannot be used: ${firstLine(error)}`);
  }
  return settle(handshake, 'secureConnect', signal, what).catch((error: unknown) => {
    tcp.destroy();
    throw error;
  });
}

/**
 * A connection to a local unix socket (an engine's API), destroyed on error or at the deadline.
 * `failure` says what a socket error means here (a socket the checkpoint may not open is not a
 * server that is down).
 */
export function openUnixConnection(path: string, signal: AbortSignal, failure: (error: NodeJS.ErrnoException) => Error): Promise<net.Socket> {
  return settle(net.connect({ path }), 'connect', signal, path, failure);
}

/** Waits for `event`; on error or abort the socket is destroyed, never left open. */
function settle<S extends net.Socket>(
  socket: S,
  event: 'connect' | 'secureConnect',
  signal: AbortSignal,
  what: string,
  failure = (error: NodeJS.ErrnoException): Error => new ProbeFailure(event === 'connect' ? 'connect' : 'tls', `${what} failed: ${error.code ? `${error.code}: ` : ''}${error.message}`),
): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    const cleanup = () => {
      socket.off(event, onReady);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onReady = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (error: NodeJS.ErrnoException) => {
      cleanup();
      socket.destroy();
      reject(failure(error));
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    socket.once(event, onReady);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
