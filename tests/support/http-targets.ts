/**
 * Real probe targets on 127.0.0.1 for the HTTP/TCP/TLS prober tests.
 *
 * Why real servers and not mocks: the exporter under test is compared with
 * blackbox_exporter, a separate Go process, so both must be able to reach the
 * same targets over real sockets, and TLS/ALPN/redirect/timing behaviour can
 * only be observed on the wire.
 *
 * Every HTTP-speaking server shares one request handler (see ROUTES below), so
 * a route behaves the same over HTTP/1.1, HTTPS and HTTP/2.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import { Readable, type Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { makeTestPki, type TestPki } from './certs';
import { listenOnLoopback, LOOPBACK, refusedPort } from './ports';

/** Body of GET /ok. */
export const OK_BODY = 'hello checkpoint';
/** Last-Modified header of GET /ok (a fixed date, so tests can compare it). */
export const OK_LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
/** X-Checkpoint header of GET /ok. */
export const OK_HEADER_VALUE = 'ok-header';
/** Body of the final hop of /redirect/<n>. */
export const REDIRECTED_BODY = 'redirected';
/** Uncompressed body of GET /gzip. */
export const GZIP_PLAIN_BODY = 'hello gzip '.repeat(64);
/** Credentials accepted by GET /auth. */
export const AUTH_USER = 'probe';
export const AUTH_PASSWORD = 's3cret-pw';
export const AUTH_BEARER_TOKEN = 'tok-123';
/** What GET /truncated sends of the 1000 bytes its Content-Length promises, before it drops the connection. */
export const TRUNCATED_PART = 'only the beginning';
/** The byte GET /large repeats. */
export const LARGE_BODY_BYTE = 'x';
/** The encodings GET /large?encoding= can compress with; `deflate-raw` is deflate without the zlib wrapper. */
const LARGE_BODY_ENCODERS: Partial<Record<string, () => Transform>> = {
  gzip: () => zlib.createGzip(),
  deflate: () => zlib.createDeflate(),
  'deflate-raw': () => zlib.createDeflateRaw(),
};
/** Two pieces of GET /chunked, sent as separate writes. */
export const CHUNKED_PARTS = ['first chunk\n', 'second chunk\n'] as const;

/** What the handler saw, so tests can assert on what a prober actually sent. */
export interface RecordedRequest {
  /** Which server received it: 'http' | 'https' | 'h2' | 'expired' | 'wrongHost' | 'mtls'. */
  server: HttpServerName;
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** '1.1', '2.0', ... */
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
  /** Subject CN of the client certificate, on the mtls server; undefined elsewhere. */
  clientCertCN?: string;
}

export type HttpServerName = 'http' | 'https' | 'h2' | 'expired' | 'wrongHost' | 'mtls';

export interface Targets {
  /** http://127.0.0.1:PORT — plain HTTP/1.1. */
  http: string;
  /** https://127.0.0.1:PORT — HTTPS (HTTP/1.1 only), valid certificate. */
  https: string;
  /** https://127.0.0.1:PORT — HTTP/2 over TLS (ALPN h2, HTTP/1.1 also allowed), valid certificate. */
  h2: string;
  /** https://127.0.0.1:PORT — HTTPS whose certificate expired on 2021-01-01. */
  expired: string;
  /** https://127.0.0.1:PORT — HTTPS whose certificate names only wrong.example. */
  wrongHost: string;
  /**
   * https://127.0.0.1:PORT — HTTPS (HTTP/1.1 only), valid certificate, that requires a client
   * certificate issued by the test CA (pki.client) and drops a client without one (under
   * TLS 1.3 with an alert just after the handshake, before any request is read).
   */
  mtls: string;
  /**
   * Same servers addressed as localhost (the certificates cover DNS:localhost too).
   * The servers listen on 127.0.0.1 only, so these need localhost to resolve to
   * 127.0.0.1 (or the client to fall back to IPv4, e.g. Go with preferred_ip_protocol ip4).
   */
  localhost: Record<HttpServerName, string>;
  /** 127.0.0.1:PORT — accepts TCP connections and never writes to them; closes only when the client does. */
  blackHole: string;
  /** 127.0.0.1:PORT — nothing listens there: connections are refused. */
  refused: string;
  /** Bare port numbers of all of the above. */
  ports: Record<HttpServerName | 'blackHole' | 'refused', number>;
  /** Every HTTP request handled so far, oldest first (tests may clear it with `length = 0`). */
  requests: RecordedRequest[];
  /**
   * TCP connections the servers hold open right now, black hole included: a client that
   * forgets to close its sockets shows here, so tests can check that probes clean up.
   */
  openSockets(): number;
  /** Destroys every open socket and closes every server. */
  close(): Promise<void>;
}

/** The subset of the HTTP/1 and HTTP/2-compat request objects the handler uses. */
type Req = http.IncomingMessage | http2.Http2ServerRequest;

/** The subset of the HTTP/1 and HTTP/2-compat response objects the handler uses. */
interface Res {
  writeHead(statusCode: number, headers?: http.OutgoingHttpHeaders): unknown;
  write(chunk: string | Buffer): boolean;
  end(chunk: string | Buffer): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/** Pending timers of /slow and /chunked, cleared on close so jest sees no open handles. */
type TimerSet = Set<NodeJS.Timeout>;

function send(res: Res, status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': buf.length,
    ...headers,
  });
  res.end(buf);
}

/** True when Accept-Encoding lists gzip (or *) without q=0. */
function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value.split(',').some((item) => {
    const [coding, ...params] = item.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function isAuthorized(header: string | undefined): boolean {
  if (!header) return false;
  const [scheme, ...rest] = header.trim().split(/\s+/);
  const credentials = rest.join(' ');
  if (scheme?.toLowerCase() === 'bearer') return credentials === AUTH_BEARER_TOKEN;
  if (scheme?.toLowerCase() === 'basic') {
    return Buffer.from(credentials, 'base64').toString('utf8') === `${AUTH_USER}:${AUTH_PASSWORD}`;
  }
  return false;
}

async function readBody(req: Req, limit = 1024 * 1024): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) return undefined;
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Serves the routes below. Errors are answered with 500 instead of crashing the test process. */
function makeHandler(server: HttpServerName, requests: RecordedRequest[], timers: TimerSet) {
  return (req: Req, res: Res): void => {
    const peer = req.socket as net.Socket & { getPeerCertificate?: () => { subject?: { CN?: string } } };
    requests.push({
      server,
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      headers: { ...req.headers },
      clientCertCN: server === 'mtls' ? peer.getPeerCertificate?.()?.subject?.CN : undefined,
    });
    route(req, res, timers).catch((err: unknown) => {
      try {
        send(res, 500, `handler error: ${String(err)}\n`);
      } catch {
        // Headers already sent or socket gone: nothing more to do.
      }
    });
  };
}

async function route(req: Req, res: Res, timers: TimerSet): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://target.invalid');
  const p = url.pathname;
  let m: RegExpExecArray | null;

  if (p === '/') {
    send(res, 200, 'checkpoint test target\n');
  } else if (p === '/ok') {
    send(res, 200, OK_BODY, { 'last-modified': OK_LAST_MODIFIED, 'x-checkpoint': OK_HEADER_VALUE });
  } else if ((m = /^\/status\/(\d{3})$/.exec(p))) {
    const code = Number(m[1]);
    // 1xx cannot be a final status; anything outside 200-599 is a test bug.
    if (code < 200 || code > 599) send(res, 400, `unsupported status ${code}\n`);
    else send(res, code, code === 204 || code === 304 ? '' : `status ${code}\n`);
  } else if ((m = /^\/redirect\/(\d+)$/.exec(p))) {
    const n = Number(m[1]);
    if (n === 0) send(res, 200, REDIRECTED_BODY);
    // Relative Location, as most real servers send; clients resolve it against the request URL.
    else send(res, 302, `redirecting, ${n} to go\n`, { location: `/redirect/${n - 1}` });
  } else if (p === '/redirect-to') {
    const to = url.searchParams.get('url');
    if (!to) send(res, 400, 'missing url parameter\n');
    else send(res, 302, `redirecting to ${to}\n`, { location: to });
  } else if (p === '/slow') {
    const ms = Number(url.searchParams.get('ms') ?? '1000');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          resolve();
        },
        Number.isFinite(ms) && ms >= 0 ? ms : 1000,
      );
      timers.add(timer);
      // The client gave up (timeout) or the targets are closing: stop waiting.
      res.once('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
        resolve();
      });
    });
    send(res, 200, `slept ${ms} ms\n`);
  } else if (p === '/body') {
    send(res, 200, url.searchParams.get('text') ?? '');
  } else if (p === '/gzip') {
    if (acceptsGzip(req.headers['accept-encoding'])) {
      send(res, 200, zlib.gzipSync(GZIP_PLAIN_BODY), { 'content-encoding': 'gzip', vary: 'Accept-Encoding' });
    } else {
      send(res, 200, GZIP_PLAIN_BODY, { vary: 'Accept-Encoding' });
    }
  } else if (p === '/echo') {
    const body = await readBody(req);
    if (body === undefined) {
      send(res, 413, 'body too large\n');
      return;
    }
    const json = JSON.stringify({
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      body: body.toString('utf8'),
    });
    send(res, 200, json, { 'content-type': 'application/json' });
  } else if (p === '/chunked') {
    // No Content-Length: HTTP/1.1 uses Transfer-Encoding: chunked, HTTP/2 plain DATA frames.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.write(CHUNKED_PARTS[0]);
    // A short pause so the two parts really leave as two chunks.
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.end(CHUNKED_PARTS[1]);
    }, 20);
    timers.add(timer);
    res.once('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  } else if (p === '/truncated') {
    // Promises more than it sends, then drops the connection (HTTP/2: resets the stream), as a
    // backend that dies in the middle of an answer.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 1000 });
    res.write(TRUNCATED_PART);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if ('stream' in req) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else req.socket.destroy();
    }, 20);
    timers.add(timer);
  } else if (p === '/large') {
    const encoding = url.searchParams.get('encoding') ?? '';
    if (encoding !== '' && !(encoding in LARGE_BODY_ENCODERS)) send(res, 400, `unsupported encoding ${encoding}\n`);
    else await sendLarge(res, Number(url.searchParams.get('bytes') ?? '0'), encoding);
  } else if (p === '/auth') {
    const auth = req.headers.authorization;
    if (isAuthorized(typeof auth === 'string' ? auth : undefined)) send(res, 200, 'authorized\n');
    else send(res, 401, 'unauthorized\n', { 'www-authenticate': 'Basic realm="checkpoint"' });
  } else {
    send(res, 404, `no route for ${p}\n`);
  }
}

/**
 * GET /large?bytes=N[&encoding=gzip|deflate|deflate-raw]: N bytes of LARGE_BODY_BYTE made as they
 * are sent, at the pace the client reads them, so the target holds none of the body and a body of
 * any size costs it no memory. Compressed bodies have no Content-Length, as a server compressing
 * on the fly sends them.
 */
async function sendLarge(res: Res, bytes: number, encoding: string): Promise<void> {
  const block = Buffer.alloc(64 * 1024, LARGE_BODY_BYTE);
  function* blocks() {
    for (let left = bytes; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
  }
  const encoder = LARGE_BODY_ENCODERS[encoding];
  // Both deflate flavours are called deflate on the wire; servers disagree on which they send.
  const length = encoder ? { 'content-encoding': encoding.replace(/-raw$/, '') } : { 'content-length': bytes };
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', ...length });
  const sink = res as unknown as Writable;
  // A client that stops reading (a probe over its limit) ends the pipeline early: not an error here.
  await (encoder ? pipeline(Readable.from(blocks()), encoder(), sink) : pipeline(Readable.from(blocks()), sink)).catch(() => undefined);
}

/** Something with listen/close and 'connection' events: every server kind used here. */
type AnyServer = net.Server;

/**
 * Remembers the raw TCP sockets of a server. Destroying the raw socket also tears
 * down any TLS or HTTP/2 session on top of it, so close() cannot hang on keep-alive.
 */
function trackSockets(server: AnyServer, sockets: Set<net.Socket>): void {
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    // A client that resets the connection must not become an unhandled 'error'.
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
}

function closeServer(server: AnyServer): Promise<void> {
  return new Promise<void>((resolve) => {
    // An error here only means "was not listening"; either way it is closed now.
    server.close(() => resolve());
  });
}

/** Starts every target server; call close() in afterAll. */
export async function startTargets(pki: TestPki): Promise<Targets> {
  const requests: RecordedRequest[] = [];
  const timers: TimerSet = new Set();
  const sockets = new Set<net.Socket>();
  const h2Sessions = new Set<http2.Http2Session>();

  const tls = (pair: { cert: string; key: string }) => ({ cert: pair.cert, key: pair.key });

  const servers: Record<HttpServerName, AnyServer> = {
    http: http.createServer(makeHandler('http', requests, timers)),
    // ALPN offers http/1.1 only, so clients that would like h2 are told no.
    https: https.createServer({ ...tls(pki.server), ALPNProtocols: ['http/1.1'] }, makeHandler('https', requests, timers)),
    h2: http2.createSecureServer({ ...tls(pki.server), allowHTTP1: true }, makeHandler('h2', requests, timers)),
    expired: https.createServer({ ...tls(pki.expired), ALPNProtocols: ['http/1.1'] }, makeHandler('expired', requests, timers)),
    wrongHost: https.createServer({ ...tls(pki.wrongHost), ALPNProtocols: ['http/1.1'] }, makeHandler('wrongHost', requests, timers)),
    mtls: https.createServer({ ...tls(pki.server), ALPNProtocols: ['http/1.1'], ca: pki.caCert, requestCert: true, rejectUnauthorized: true }, makeHandler('mtls', requests, timers)),
  };
  (servers.h2 as http2.Http2SecureServer).on('session', (session: http2.Http2Session) => {
    h2Sessions.add(session);
    session.once('close', () => h2Sessions.delete(session));
  });

  const blackHole = net.createServer((socket) => {
    // Accept and hold: never write or end. What arrives is read and dropped, only so that the
    // socket notices when the client goes away and closes too: then openSockets() shows
    // whether a client left its connection open.
    socket.on('error', () => undefined);
    socket.resume();
  });

  const all: AnyServer[] = [...Object.values(servers), blackHole];
  for (const s of all) trackSockets(s, sockets);

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const session of h2Sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
    await Promise.all(all.map(closeServer));
  };

  try {
    const [httpPort, httpsPort, h2Port, expiredPort, wrongHostPort, mtlsPort, blackHolePort] = await Promise.all([
      listenOnLoopback(servers.http),
      listenOnLoopback(servers.https),
      listenOnLoopback(servers.h2),
      listenOnLoopback(servers.expired),
      listenOnLoopback(servers.wrongHost),
      listenOnLoopback(servers.mtls),
      listenOnLoopback(blackHole),
    ]);
    const refused = await refusedPort();
    const ports = {
      http: httpPort,
      https: httpsPort,
      h2: h2Port,
      expired: expiredPort,
      wrongHost: wrongHostPort,
      mtls: mtlsPort,
      blackHole: blackHolePort,
      refused,
    };
    const base = (host: string): Record<HttpServerName, string> => ({
      http: `http://${host}:${ports.http}`,
      https: `https://${host}:${ports.https}`,
      h2: `https://${host}:${ports.h2}`,
      expired: `https://${host}:${ports.expired}`,
      wrongHost: `https://${host}:${ports.wrongHost}`,
      mtls: `https://${host}:${ports.mtls}`,
    });
    return {
      ...base(LOOPBACK),
      localhost: base('localhost'),
      blackHole: `${LOOPBACK}:${ports.blackHole}`,
      refused: `${LOOPBACK}:${ports.refused}`,
      ports,
      requests,
      openSockets: () => sockets.size,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A test PKI and the targets, started before the suite's tests and stopped after them: the setup
 * the http suites share. Read `suite.pki` and `suite.targets` inside tests and hooks, once the
 * suite's `beforeAll` has run.
 */
export function targetsForSuite(): { readonly pki: TestPki; readonly targets: Targets } {
  let started: { pki: TestPki; targets: Targets } | undefined;
  beforeAll(async () => {
    const pki = await makeTestPki();
    started = { pki, targets: await startTargets(pki) };
  });
  afterAll(async () => {
    await started?.targets.close();
    await started?.pki.cleanup();
  });
  const get = () => {
    if (!started) throw new Error('the targets are read before the suite started them (or after it failed to)');
    return started;
  };
  return {
    get pki() {
      return get().pki;
    },
    get targets() {
      return get().targets;
    },
  };
}
