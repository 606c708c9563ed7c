/**
 * One request and its response over a connection of its own (a fresh one every probe, so that
 * connect and TLS times are real): HTTP/1.x with node's client, HTTP/2 with undici, loaded only
 * once a target negotiates h2.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { TlsFacts } from '../../src/net/tls-facts';
import { firstLine, ProbeFailure } from '../../src/probe/failure';
import { exchangeHttp1 } from './exchange-http1';

export interface HopRequest {
  url: URL;
  /** The request line's target when it is not the URL's path: the absolute URI a forward proxy is asked for. */
  requestTarget?: string;
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
  if (socket instanceof TLSSocket && socket.alpnProtocol === 'h2') {
    // The socket is this function's until exchangeH2 takes it: an error on it while undici loads
    // must not go unhandled (exchangeH2 then fails the request), and an undici that cannot be
    // loaded (a broken install) must not leave it open.
    const untilWatched = () => undefined;
    socket.on('error', untilWatched);
    let h2: typeof import('./exchange-h2');
    try {
      h2 = await import('./exchange-h2');
    } catch (error) {
      socket.destroy();
      throw new ProbeFailure('internal', `the HTTP/2 client could not be loaded: ${firstLine(error)}`);
    } finally {
      socket.off('error', untilWatched);
    }
    return h2.exchangeH2({ ...request, socket });
  }
  return exchangeHttp1(request);
}
