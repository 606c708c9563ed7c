/**
 * A minimal HTTP(S) client for tests, on node:http / node:https.
 *
 * Why not global fetch: Node 20's fetch cannot be told which CA to trust
 * without the undici package's Agent, and tests need to trust the test CA (or
 * see verification fail). agent:false gives each request its own connection, so
 * nothing stays pooled after a test and jest sees no open handles.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface GetOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** PEM of the CA to trust (replaces the system store, as for `ca` in node:tls). */
  ca?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: string;
  key?: string;
  /** TLS SNI / name to verify, when it differs from the URL's host. */
  servername?: string;
  /** Give up after this many ms (default 10 s). */
  timeoutMs?: number;
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body decoded as UTF-8. */
  body: string;
  /** Body bytes as received (e.g. still gzip-compressed). */
  raw: Buffer;
  httpVersion: string;
}

/** Sends one request and reads the whole (not decompressed) response body as UTF-8. */
export function request(url: string, opts: GetOptions = {}): Promise<SimpleResponse> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<SimpleResponse>((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        servername: opts.servername,
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: raw.toString('utf8'),
            raw,
            httpVersion: res.httpVersion,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}
