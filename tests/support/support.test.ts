/**
 * Self-test of the test support library: if these fail, every other suite's
 * results mean nothing, so they check the fixtures against independent clients
 * (Node's own TLS/HTTP stack and the real blackbox_exporter).
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { startBlackbox, type Blackbox } from './blackbox';
import { makeTestPki, type TestPki } from './certs';
import { request } from './client';
import { AUTH_BEARER_TOKEN, AUTH_PASSWORD, AUTH_USER, CHUNKED_PARTS, GZIP_PLAIN_BODY, OK_BODY, OK_LAST_MODIFIED, startTargets, type Targets } from './http-targets';
import { metricNames, metricTypes, parseMetrics, seriesKey, value } from './metrics-text';
import { freePort, refusedPort } from './ports';

let pki: TestPki;
let targets: Targets;

beforeAll(async () => {
  pki = await makeTestPki();
  targets = await startTargets(pki);
});

afterAll(async () => {
  await targets?.close();
  await pki?.cleanup();
});

/** Error code of a rejected promise (e.g. CERT_HAS_EXPIRED), or 'resolved'. */
async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return String((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
}

describe('ports', () => {
  it('gives distinct usable ports, and a refused one', async () => {
    const [a, b] = await Promise.all([freePort(), freePort()]);
    expect(a).toBeGreaterThan(0);
    expect(a).not.toBe(b);
    const port = await refusedPort();
    const code = await errorCode(
      new Promise<void>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      }),
    );
    expect(code).toBe('ECONNREFUSED');
  });
});

describe('certs', () => {
  it('issues leaves with the expected validity', () => {
    const now = Date.now();
    expect(pki.server.notAfter.getTime()).toBeGreaterThan(now + 80 * 86_400_000);
    expect(pki.expired.notAfter.toISOString()).toBe('2021-01-01T00:00:00.000Z');
    expect(pki.caCert).toContain('BEGIN CERTIFICATE');
    expect(pki.client.key).toContain('PRIVATE KEY');
    expect(pki.server.certPath.startsWith(pki.dir)).toBe(true);
  });
});

describe('http targets', () => {
  it('serves /ok over plain HTTP via fetch', async () => {
    const res = await fetch(`${targets.http}/ok`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(OK_BODY);
    expect(res.headers.get('content-length')).toBe(String(OK_BODY.length));
    expect(res.headers.get('last-modified')).toBe(OK_LAST_MODIFIED);
    expect(res.headers.get('x-checkpoint')).toBe('ok-header');
  });

  it('serves /ok over HTTPS when the test CA is trusted, by IP and by localhost', async () => {
    for (const url of [targets.https, targets.localhost.https, targets.h2]) {
      const res = await request(`${url}/ok`, { ca: pki.caCert });
      expect(res.status).toBe(200);
      expect(res.body).toBe(OK_BODY);
    }
  });

  it('fails verification for the untrusted, expired and wrong-host servers', async () => {
    expect(await errorCode(request(`${targets.https}/ok`))).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(await errorCode(request(`${targets.expired}/ok`, { ca: pki.caCert }))).toBe('CERT_HAS_EXPIRED');
    expect(await errorCode(request(`${targets.wrongHost}/ok`, { ca: pki.caCert }))).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    // The wrong-host cert itself is fine: it verifies for the name it was issued for.
    const ok = await request(`${targets.wrongHost}/ok`, { ca: pki.caCert, servername: 'wrong.example' });
    expect(ok.status).toBe(200);
  });

  it('negotiates h2 via ALPN on the HTTP/2 server and not on the HTTPS one', async () => {
    const session = http2.connect(targets.h2, { ca: pki.caCert });
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      expect(session.alpnProtocol).toBe('h2');
      const stream = session.request({ ':path': '/ok' });
      const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
        let st = 0;
        let data = '';
        stream.on('response', (h) => (st = Number(h[':status'])));
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (data += c));
        stream.on('end', () => resolve([st, data]));
        stream.on('error', reject);
      });
      expect(status).toBe(200);
      expect(body).toBe(OK_BODY);
    } finally {
      session.close();
    }
    const h1 = await request(`${targets.https}/ok`, { ca: pki.caCert });
    expect(h1.httpVersion).toBe('1.1');
    const h1OnH2Server = await request(`${targets.h2}/echo`, { ca: pki.caCert });
    expect(JSON.parse(h1OnH2Server.body) as unknown).toMatchObject({ httpVersion: '1.1' });
  });

  it('serves the other routes', async () => {
    const base = targets.http;
    expect((await request(`${base}/status/503`)).status).toBe(503);
    expect((await request(`${base}/status/204`)).body).toBe('');
    expect((await request(`${base}/nope`)).status).toBe(404);

    const r3 = await request(`${base}/redirect/3`);
    expect(r3.status).toBe(302);
    expect(r3.headers.location).toBe('/redirect/2');
    const followed = await fetch(`${base}/redirect/3`);
    expect(followed.status).toBe(200);
    expect(await followed.text()).toBe('redirected');
    const to = await request(`${base}/redirect-to?url=${encodeURIComponent(`${targets.https}/ok`)}`);
    expect(to.status).toBe(302);
    expect(to.headers.location).toBe(`${targets.https}/ok`);

    const t0 = Date.now();
    expect((await request(`${base}/slow?ms=150`)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    // A client that gives up must not leave the server waiting (checked by close() not hanging).
    expect(await errorCode(request(`${base}/slow?ms=5000`, { timeoutMs: 50 }))).toMatch(/timed out|ECONNRESET/);

    expect((await request(`${base}/body?text=${encodeURIComponent('a b&c')}`)).body).toBe('a b&c');

    const gz = await request(`${base}/gzip`, { headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(gz.raw).toString('utf8')).toBe(GZIP_PLAIN_BODY);
    // fetch asks for gzip itself and decodes it transparently.
    expect(await (await fetch(`${base}/gzip`)).text()).toBe(GZIP_PLAIN_BODY);
    const plain = await request(`${base}/gzip`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(GZIP_PLAIN_BODY);

    const echo = await request(`${base}/echo`, { method: 'POST', body: 'ping', headers: { 'x-test': 'yes' } });
    const echoed = JSON.parse(echo.body) as { method: string; headers: Record<string, string>; body: string };
    expect(echoed).toMatchObject({ method: 'POST', body: 'ping', headers: { 'x-test': 'yes' } });

    const chunked = await request(`${base}/chunked`);
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.headers['content-length']).toBeUndefined();
    expect(chunked.body).toBe(CHUNKED_PARTS.join(''));

    const basic = `Basic ${Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64')}`;
    expect((await request(`${base}/auth`, { headers: { authorization: basic } })).status).toBe(200);
    expect((await request(`${base}/auth`, { headers: { authorization: `Bearer ${AUTH_BEARER_TOKEN}` } })).status).toBe(200);
    const denied = await request(`${base}/auth`, { headers: { authorization: 'Bearer nope' } });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^Basic/);

    expect(targets.requests.some((r) => r.url === '/echo' && r.method === 'POST')).toBe(true);
  });

  it('has a black hole that accepts and stays silent, and a refused port', async () => {
    const [host, port] = targets.blackHole.split(':');
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(port), host, () => {
        s.write('hello?\r\n\r\n');
        const timer = setTimeout(() => {
          s.destroy();
          resolve('silent');
        }, 200);
        s.once('data', () => {
          clearTimeout(timer);
          s.destroy();
          resolve('data');
        });
      });
      s.once('error', reject);
    });
    expect(got).toBe('silent');
    expect(await errorCode(request(`http://${targets.refused}/`))).toBe('ECONNREFUSED');
  });
});

describe('metrics-text', () => {
  const text = [
    '# HELP probe_success Displays whether or not the probe was a success',
    '# TYPE probe_success gauge',
    'probe_success 1',
    '# TYPE probe_ssl_earliest_cert_expiry gauge',
    'probe_ssl_earliest_cert_expiry 3.668918509e+09',
    '# TYPE weird gauge',
    'weird{z="last",a="with \\"quotes\\", a \\\\ and\\nnewline",} NaN',
    'weird{a="x"} +Inf',
    'weird{a="y"} -Inf 1700000000000',
    '# TYPE h histogram',
    'h_bucket{le="+Inf"} 3',
    'h_sum 0.5',
  ].join('\n');

  it('keys series with sorted labels and parses specials and exponents', () => {
    const m = parseMetrics(text);
    expect(m.get('probe_success')).toBe(1);
    expect(value(m, 'probe_ssl_earliest_cert_expiry')).toBe(3668918509);
    const key = seriesKey('weird', { z: 'last', a: 'with "quotes", a \\ and\nnewline' });
    expect(key).toBe('weird{a="with \\"quotes\\", a \\\\ and\\nnewline",z="last"}');
    expect(Number.isNaN(m.get(key))).toBe(true);
    expect(value(m, 'weird', { a: 'x' })).toBe(Infinity);
    expect(value(m, 'weird', { a: 'y' })).toBe(-Infinity);
    expect(value(m, 'h_bucket', { le: '+Inf' })).toBe(3);
    expect(value(m, 'missing')).toBeUndefined();
    expect([...metricNames(text)].sort()).toEqual(['h_bucket', 'h_sum', 'probe_ssl_earliest_cert_expiry', 'probe_success', 'weird'].sort());
    expect(metricTypes(text).get('h')).toBe('histogram');
  });

  it('rejects malformed input', () => {
    expect(() => parseMetrics('a 1\na 2')).toThrow(/duplicate series/);
    expect(() => parseMetrics('a{b="c} 1')).toThrow(/unterminated/);
    expect(() => parseMetrics('a{b="\\t"} 1')).toThrow(/invalid escape/);
    expect(() => parseMetrics('a one')).toThrow(/invalid sample value/);
    expect(() => parseMetrics('a')).toThrow(/expected "value/);
  });
});

describe('blackbox_exporter', () => {
  let bb: Blackbox;

  beforeAll(async () => {
    // JSON strings are valid YAML scalars, so paths are quoted safely.
    bb = await startBlackbox(
      [
        'modules:',
        '  http_2xx:',
        '    prober: http',
        '    timeout: 5s',
        '    http:',
        '      preferred_ip_protocol: ip4',
        '      tls_config:',
        `        ca_file: ${JSON.stringify(pki.caCertPath)}`,
        '  tcp_connect:',
        '    prober: tcp',
        '    timeout: 2s',
        '    tcp:',
        '      preferred_ip_protocol: ip4',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await bb?.stop();
  });

  it('probes the valid HTTPS target successfully', async () => {
    const r = await bb.probe('http_2xx', `${targets.https}/ok`, { scrapeTimeoutSeconds: 5 });
    expect(r.status).toBe(200);
    expect(value(r.metrics, 'probe_success')).toBe(1);
    expect(value(r.metrics, 'probe_http_status_code')).toBe(200);
    const expiry = value(r.metrics, 'probe_ssl_earliest_cert_expiry');
    expect(expiry).toBe(Math.floor(pki.server.notAfter.getTime() / 1000));
  });

  it('fails the expired and wrong-host targets', async () => {
    const expired = await bb.probe('http_2xx', `${targets.expired}/ok`);
    expect(value(expired.metrics, 'probe_success')).toBe(0);
    const wrong = await bb.probe('http_2xx', `${targets.wrongHost}/ok`);
    expect(value(wrong.metrics, 'probe_success')).toBe(0);
  });

  it('probes the localhost form and TCP targets', async () => {
    const local = await bb.probe('http_2xx', `${targets.localhost.https}/ok`);
    expect(value(local.metrics, 'probe_success')).toBe(1);
    expect(value((await bb.probe('tcp_connect', targets.blackHole)).metrics, 'probe_success')).toBe(1);
    expect(value((await bb.probe('tcp_connect', targets.refused)).metrics, 'probe_success')).toBe(0);
  });

  it('answers 400 for an unknown module', async () => {
    const r = await bb.probe('no_such_module', targets.http);
    expect(r.status).toBe(400);
    expect(r.metrics.size).toBe(0);
  });
});
