/**
 * HTTP/2 over the probe's own TLS connection (ALPN chose h2), with undici. Only this path loads
 * undici, and exchange.ts imports it the first time a target speaks h2.
 */
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Client } from 'undici';
import { readTlsFacts } from '../../src/net/tls-facts';
import type { HopRequest, HopResponse } from './exchange';
import { exchangeFailure, watchSocketErrors } from './exchange-failure';

export async function exchangeH2(request: HopRequest & { socket: TLSSocket }): Promise<HopResponse> {
  const { socket } = request;
  const socketError = watchSocketErrors(socket);
  const client = new Client(request.url.origin, {
    // The socket is already open, so the request goes over exactly this connection. undici
    // hangs if the callback comes back synchronously, hence the tick.
    connect: (_options, callback) => process.nextTick(callback, null, socket),
    allowH2: true,
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
      headers: response.headers,
      httpVersion: '2.0',
      tls: readTlsFacts(socket),
      processingSeconds: (performance.now() - started) / 1000,
      body: response.body,
      close,
    };
  } catch (error) {
    await close();
    if (request.signal.aborted) throw error;
    throw exchangeFailure(error, socketError());
  }
}
