/**
 * One request and its response over a connection of its own (a fresh one every probe, so that
 * connect and TLS times are real). undici speaks HTTP/1.1 and HTTP/2 over the socket we opened.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { Client } from 'undici';
import { ProbeFailure } from '../../src/probe/failure';
import { readTlsFacts, type TlsFacts } from '../../src/net/tls-facts';

export interface HopRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  socket: net.Socket | TLSSocket;
  signal: AbortSignal;
}

export interface HopResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** "1.0", "1.1" or "2.0", as Go's resp.Proto without "HTTP/". */
  httpVersion: string;
  tls?: TlsFacts;
  processingSeconds: number;
  body: Readable;
  /** Frees the connection; safe to call more than once. */
  close(): Promise<void>;
}

export async function exchange(request: HopRequest): Promise<HopResponse> {
  const { socket } = request;
  const http2 = socket instanceof TLSSocket && socket.alpnProtocol === 'h2';
  const statusLineVersion = sniffStatusLineVersion(socket);
  // undici reports a TLS alert after the handshake (a client certificate refused under TLS 1.3)
  // only as "other side closed"; the socket's own error says what happened. Listening from the
  // start also means no socket error can ever go unhandled while undici is not yet attached.
  let socketError: NodeJS.ErrnoException | undefined;
  socket.on('error', (error: NodeJS.ErrnoException) => {
    socketError ??= error;
  });
  const client = new Client(request.url.origin, {
    // The socket is already open, so the request goes over exactly this connection. undici
    // hangs if the callback comes back synchronously, hence the tick.
    connect: (_options, callback) => process.nextTick(callback, null, socket),
    allowH2: http2,
    pipelining: 1,
    // The probe's deadline governs; undici's own timers would only race it.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  let body: Readable | undefined;
  const close = async () => {
    // A body never read (a redirect hop, a refused status) holds undici's abort listener on the
    // probe's signal until it is destroyed: ten redirects would trip MaxListenersExceededWarning.
    // A body read to its end lets the client close quietly: destroy() builds an error with a stack
    // trace, which profiling showed as a tenth of the checkpoint's CPU per probe.
    if (body?.readableEnded) {
      await client.close().catch(() => undefined);
    } else {
      body?.on('error', () => undefined).destroy();
      await client.destroy().catch(() => undefined);
    }
    socket.destroy();
  };
  const started = performance.now();
  try {
    const response = await client.request({
      path: `${request.url.pathname}${request.url.search}`,
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
    });
    body = response.body;
    return {
      status: response.statusCode,
      headers: response.headers as IncomingHttpHeaders,
      httpVersion: http2 ? '2.0' : (statusLineVersion() ?? '1.1'),
      tls: socket instanceof TLSSocket ? readTlsFacts(socket) : undefined,
      processingSeconds: (performance.now() - started) / 1000,
      body: response.body,
      close,
    };
  } catch (error) {
    await close();
    if (request.signal.aborted) throw error;
    if (socketError && isTlsError(socketError)) throw new ProbeFailure('tls', `TLS failed after the handshake: ${describe(socketError)}`);
    throw new ProbeFailure('protocol', `HTTP request failed: ${describe(error)}`);
  }
}

/**
 * undici does not report the version of an HTTP/1.x status line, and blackbox_exporter's
 * probe_http_version does; we read it off the first bytes the server sends.
 */
function sniffStatusLineVersion(socket: net.Socket): () => string | undefined {
  let version: string | undefined;
  const push = socket.push.bind(socket);
  socket.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (version === undefined && Buffer.isBuffer(chunk)) version = /^HTTP\/(\d\.\d) /.exec(chunk.toString('latin1', 0, 16))?.[1] ?? '';
    return push(chunk, encoding);
  };
  return () => version || undefined;
}

/** OpenSSL's errors, alerts from the peer among them (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED). */
function isTlsError(error: NodeJS.ErrnoException): boolean {
  return /^ERR_SSL_|^ERR_TLS_/.test(error.code ?? '');
}

function describe(error: unknown): string {
  const err = error as { code?: string; message?: string };
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? error);
}
