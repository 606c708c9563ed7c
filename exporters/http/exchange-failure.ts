/** What went wrong in an exchange, as the probe's failure reason: the same for HTTP/1.x and HTTP/2. */
import type net from 'node:net';
import { ProbeFailure } from '../../src/probe/failure';

/**
 * Remembers the socket's first error. A TLS alert after the handshake (a client certificate
 * refused under TLS 1.3) shows only here: the HTTP clients report it as a closed connection. Listening from
 * the start also means no socket error ever goes unhandled, before an HTTP client is attached or
 * after it lets go.
 */
export function watchSocketErrors(socket: net.Socket): () => NodeJS.ErrnoException | undefined {
  let first: NodeJS.ErrnoException | undefined;
  socket.on('error', (error: NodeJS.ErrnoException) => {
    first ??= error;
  });
  return () => first;
}

/** A TLS error on the socket fails the probe as 'tls'; anything else the server did wrong as 'protocol'. */
export function exchangeFailure(error: unknown, socketError: NodeJS.ErrnoException | undefined): ProbeFailure {
  if (socketError && isTlsError(socketError)) return new ProbeFailure('tls', `TLS failed after the handshake: ${describe(socketError)}`);
  return new ProbeFailure('protocol', `HTTP request failed: ${describe(error)}`);
}

/** OpenSSL's errors, alerts from the peer among them (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED). */
function isTlsError(error: NodeJS.ErrnoException): boolean {
  return /^ERR_SSL_|^ERR_TLS_/.test(error.code ?? '');
}

function describe(error: unknown): string {
  const err = error as { code?: string; message?: string };
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? error);
}
