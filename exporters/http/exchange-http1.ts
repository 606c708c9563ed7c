/**
 * HTTP/1.x over the probe's own connection with node's http client: no agent and no pool, one
 * request and its response, then the socket is destroyed. Node's client costs a fraction of the
 * CPU of an undici Client built and torn down for every probe. Its parser copies every body chunk,
 * so a body of megabytes costs about a quarter more CPU per byte than with undici: a trade the
 * usual probe's body of kilobytes wins.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { readTlsFacts } from '../../src/net/tls-facts';
import type { HopRequest, HopResponse } from './exchange';
import { exchangeFailure, watchSocketErrors } from './exchange-failure';

/** Go's client sends `Content-Length: 0` without a body for these methods only. */
const METHODS_WITH_EMPTY_LENGTH = new Set(['POST', 'PUT', 'PATCH']);

export function exchangeHttp1(request: HopRequest): Promise<HopResponse> {
  const { socket, signal } = request;
  const socketError = watchSocketErrors(socket);
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    let closed = false;
    // Destroying the socket ends everything on it: node destroys an unfinished response, whose
    // reader then sees an error, or nothing when no one reads it.
    const close = async () => {
      if (closed) return;
      closed = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
    };
    const fail = (error: unknown) => {
      void close();
      reject(signal.aborted ? signal.reason : exchangeFailure(error, socketError()));
    };
    const onAbort = () => {
      // A body being read ends with the deadline's reason, not a connection reset.
      response?.destroy(signal.reason as Error);
      fail(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    const started = performance.now();
    let outgoing: http.ClientRequest;
    try {
      outgoing = http.request({
        method: request.method,
        path: request.requestTarget ?? `${request.url.pathname}${request.url.search}`,
        headers: wireHeaders(request),
        // The Host header is the prober's (a configured one, `?hostname=`, or the URL's).
        setHost: false,
        createConnection: () => socket,
      });
    } catch (error) {
      // A header value node refuses to send (a control character): the request never leaves.
      return fail(error);
    }
    if (!sendsContentLength(request)) {
      // Node would add `Content-Length: 0` or chunked encoding to a bodiless request of a method
      // it expects a body for (PROPFIND, anything but GET, HEAD, DELETE, OPTIONS); Go sends neither.
      outgoing.removeHeader('content-length');
      outgoing.removeHeader('transfer-encoding');
    }
    // Before the answer, an error fails the exchange. After it, node destroys an unfinished body
    // as merely "aborted"; handing it the error tells its reader why (a malformed chunk, a reset).
    // The listener stays to the end, so no error is ever unhandled.
    outgoing.on('error', (error) => {
      if (!response) fail(error);
      else if (!response.complete) response.destroy(error);
    });
    // A 101 (or any answer to CONNECT) hands the connection to a protocol a probe does not speak.
    // Without a listener node drops the connection and reports nothing, leaving the probe to its deadline.
    const switchedProtocols = (incoming: IncomingMessage) => fail(new Error(`the server switched protocols (status ${incoming.statusCode})`));
    outgoing.on('upgrade', switchedProtocols).on('connect', switchedProtocols);
    outgoing.once('response', (incoming: IncomingMessage) => {
      response = incoming;
      resolve({
        status: incoming.statusCode ?? 0,
        headers: headersByName(incoming.rawHeaders),
        httpVersion: incoming.httpVersion,
        tls: socket instanceof TLSSocket ? readTlsFacts(socket) : undefined,
        processingSeconds: (performance.now() - started) / 1000,
        body: incoming,
        close,
      });
    });
    outgoing.end(request.body);
  });
}

/**
 * What goes on the wire, as blackbox_exporter (Go's client) sends it: Host first, the prober's
 * headers, Content-Length (see sendsContentLength), and `Connection: close`, because this
 * connection carries one exchange.
 */
function wireHeaders(request: HopRequest): Record<string, string> {
  const { host, ...others } = request.headers;
  const headers: Record<string, string> = host === undefined ? {} : { host };
  Object.assign(headers, others);
  if (sendsContentLength(request)) headers['content-length'] = String(request.body === undefined ? 0 : Buffer.byteLength(request.body));
  headers.connection = 'close';
  return headers;
}

/** For a body that is not empty, and for a bodiless POST, PUT or PATCH, as Go does. */
function sendsContentLength(request: HopRequest): boolean {
  return (request.body !== undefined && request.body.length > 0) || METHODS_WITH_EMPTY_LENGTH.has(request.method);
}

/**
 * The headers by lower-case name: a value as a string, a repeated header as the array of its
 * values (Go's Header keeps each, and the header regexes try each), never joined as node's
 * `headers` would. No prototype, so a header named `constructor` or `__proto__` is only a header.
 */
function headersByName(raw: string[]): IncomingHttpHeaders {
  const headers = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < raw.length; i += 2) {
    const rawName = raw[i];
    const value = raw[i + 1];
    // Node gives names and values in pairs; a name without its value is no header.
    if (rawName === undefined || value === undefined) break;
    const name = rawName.toLowerCase();
    const earlier = headers[name];
    if (earlier === undefined) headers[name] = value;
    else if (typeof earlier === 'string') headers[name] = [earlier, value];
    else earlier.push(value);
  }
  return headers;
}
