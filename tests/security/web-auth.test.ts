/**
 * Attacks on the built checkpoint behind `--web.config.file`: every endpoint without credentials,
 * with wrong ones and with the right ones; over TLS that requires a client certificate, without
 * one, with one of another CA, and with the right one; a flood of wrong passwords against a real
 * cost factor; and the file emptied in place while the checkpoint runs.
 */
import { truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpointProcess, type CheckpointProcess } from '../support/checkpoint-process';
import { request } from '../support/client';
import { startTargets, type Targets } from '../support/http-targets';

const USER = 'prometheus';
const PASSWORD = 'web-auth-SECRET-5d1e';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const RIGHT = basic(USER, PASSWORD);
// Cost 4, bcrypt's lowest: the tests check behaviour, not bcrypt's slowness.
const HASH = bcrypt.hashSync(PASSWORD, 4);

let pki: TestPki;
/** A second CA: its client certificate is one the checkpoint's CA never issued. */
let otherPki: TestPki;
let targets: Targets;
let withLogin: CheckpointProcess;
let withClientCerts: CheckpointProcess;
/** A login with cost 12: each bcrypt check takes several of bcryptjs's 100 ms slices, so a flood overlaps it. */
let withSlowHash: CheckpointProcess;
const SLOW_WEB_CONFIG = `basic_auth_users:\n  ${USER}: ${bcrypt.hashSync(PASSWORD, 12)}\n`;

const CONFIG = 'modules:\n  http_ok:\n    prober: http\n    timeout: 2s\n    http:\n      preferred_ip_protocol: ip4\n';

beforeAll(async () => {
  [pki, otherPki] = await Promise.all([makeTestPki(), makeTestPki()]);
  targets = await startTargets(pki);
  [withLogin, withClientCerts, withSlowHash] = await Promise.all([
    startCheckpointProcess(CONFIG, {
      flags: ['--web.enable-lifecycle', '--probe.max-timeout=5s'],
      webConfigYaml: `basic_auth_users:\n  ${USER}: ${HASH}\n`,
    }),
    startCheckpointProcess(CONFIG, {
      flags: ['--probe.max-timeout=5s'],
      tls: true,
      webConfigYaml: `tls_server_config:\n  cert_file: ${pki.server.certPath}\n  key_file: ${pki.server.keyPath}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCertPath}\n`,
      requestDefaults: { ca: pki.caCert, cert: pki.client.cert, key: pki.client.key },
    }),
    startCheckpointProcess(CONFIG, { webConfigYaml: SLOW_WEB_CONFIG }),
  ]);
  // One probe, so that /logs?id=1 exists for the rows below.
  const probed = await withLogin.get(`/probe?module=http_ok&target=${encodeURIComponent(`${targets.http}/ok`)}`, { headers: { authorization: RIGHT } });
  expect(probed.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await Promise.all([withLogin?.stop(), withClientCerts?.stop(), withSlowHash?.stop()]);
  await targets?.close();
  await Promise.all([pki?.cleanup(), otherPki?.cleanup()]);
});

const endpoints: [string, string][] = [
  ['GET', '/probe?module=http_ok&target=http%3A%2F%2F127.0.0.1%3A1%2F'],
  ['GET', '/metrics'],
  ['GET', '/sd'],
  ['GET', '/'],
  ['GET', '/logs?id=1'],
  ['GET', '/-/healthy'],
  ['GET', '/-/ready'],
  ['POST', '/-/reload'],
  ['GET', '/probe?module=http_ok&target=x&debug=true'],
  ['GET', '/no-such-page'],
];

describe('basic auth on every endpoint', () => {
  // [attack, Authorization header (undefined: none)]
  const wrong: [string, string | undefined][] = [
    ['no credentials', undefined],
    ['wrong password', basic(USER, 'guess')],
    ['unknown user', basic('admin', PASSWORD)],
    ['empty user and password', basic('', '')],
    ['the right password with a different case of user', basic(USER.toUpperCase(), PASSWORD)],
    ['a password that is a prefix of the right one', basic(USER, PASSWORD.slice(0, -1))],
    ['the bcrypt hash itself as the password', basic(USER, HASH)],
    ['not base64', 'Basic !!!not-base64!!!'],
    ['no colon', `Basic ${Buffer.from(USER).toString('base64')}`],
    ['a bearer token', `Bearer ${PASSWORD}`],
  ];
  const cases = wrong.flatMap(([attack, header]) => endpoints.map(([method, path]) => [attack, method, path, header] as const));

  test.each(cases)('%s: %s %s → 401 with WWW-Authenticate: Basic', async (_attack, method, path, header) => {
    const answer = await withLogin.get(path, { method, headers: header === undefined ? {} : { authorization: header } });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Basic');
    // A refusal says nothing about what is behind it.
    expect(answer.body).not.toMatch(/probe_|checkpoint_|http_ok|Healthy|Ready/);
  });

  test.each(endpoints.filter(([, path]) => path !== '/no-such-page' && !path.includes('target=x')))('the right credentials: %s %s → 200', async (method, path) => {
    const answer = await withLogin.get(path, { method, headers: { authorization: RIGHT } });
    expect(answer.status).toBe(200);
  });
});

describe('TLS with client_auth_type: RequireAndVerifyClientCert', () => {
  // [attack, client certificate, how the checkpoint refuses: the error code the client sees]
  test.each([
    // OpenSSL's own refusal during the handshake: the TLS 1.3 certificate_required alert.
    ['no client certificate', {}, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
    // Node's refusal once the handshake is done and the certificate does not verify: the
    // connection is closed under the request the client has already sent.
    ['a client certificate of another CA', { cert: () => otherPki.client.cert, key: () => otherPki.client.key }, 'ECONNRESET'],
    ["the server's own certificate as a client certificate (not for clientAuth)", { cert: () => pki.server.cert, key: () => pki.server.key }, 'ECONNRESET'],
  ])('%s → refused', async (_attack, client: { cert?: () => string; key?: () => string }, code) => {
    const attempt = request(`${withClientCerts.url}/-/healthy`, { ca: pki.caCert, cert: client.cert?.(), key: client.key?.() });
    await expect(attempt).rejects.toMatchObject({ code });
  });

  test("plain HTTP to the TLS port → no answer of the checkpoint's", async () => {
    const attempt = request(`${withClientCerts.url.replace('https:', 'http:')}/-/healthy`).then(
      (answer) => answer.status,
      () => 'refused',
    );
    expect(await attempt).not.toBe(200);
  });

  test.each(endpoints.filter(([, path]) => path !== '/no-such-page' && !path.includes('target=x') && path !== '/-/reload' && path !== '/logs?id=1'))(
    'the right client certificate: %s %s → 200',
    async (method, path) => {
      const answer = await withClientCerts.get(path, { method });
      expect(answer.status).toBe(200);
    },
  );
});

describe('the login under pressure', () => {
  test('a flood of wrong passwords: 429 with Retry-After: 1 beyond two bcrypt checks at once, 401 otherwise; a remembered login still gets in', async () => {
    // Checked once by bcrypt, remembered from then on.
    expect((await withSlowHash.get('/-/healthy', { headers: { authorization: RIGHT } })).status).toBe(200);
    const flood = Array.from({ length: 30 }, (_, i) => withSlowHash.get('/metrics', { headers: { authorization: basic(i % 3 ? USER : `intruder-${i}`, `guess-${i}`) }, timeoutMs: 30_000 }));
    const during = await withSlowHash.get('/-/healthy', { headers: { authorization: RIGHT }, timeoutMs: 30_000 });
    const answers = await Promise.all(flood);
    expect(during.status).toBe(200);
    const statuses = answers.map((answer) => answer.status);
    expect(statuses).toContain(429);
    expect(statuses.filter((status) => status !== 429 && status !== 401)).toEqual([]);
    const busy = answers.find((answer) => answer.status === 429)!;
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.body).toBe('Too many login attempts at once, retry in a second\n');
    expect(busy.body).not.toMatch(/checkpoint_|Healthy/);
    // Counted in the log, without a user name or password.
    const warnings = withSlowHash
      .output()
      .split('\n')
      .filter((line) => line.includes('Too many password checks at once'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toMatch(/guess|intruder|prometheus|web-auth-SECRET/);
  });

  test('the web config emptied in place while running: 500 with and without the login, never 200, until it is back', async () => {
    const webConfigFile = path.join(withSlowHash.dir, 'web.yml');
    await truncate(webConfigFile, 0);
    try {
      for (const headers of [{}, { authorization: RIGHT }]) {
        for (const [method, urlPath] of endpoints) {
          const answer = await withSlowHash.get(urlPath, { method, headers });
          expect([method, urlPath, answer.status]).toEqual([method, urlPath, 500]);
          expect(answer.body).toBe('Invalid web config, see the checkpoint log\n');
        }
      }
      await writeFile(webConfigFile, 'basic_auth_users:\n');
      expect((await withSlowHash.get('/metrics')).status).toBe(500);
      expect(withSlowHash.output()).toContain('the web config would turn basic auth off; restart the checkpoint to do that');
    } finally {
      await writeFile(webConfigFile, SLOW_WEB_CONFIG);
    }
    expect((await withSlowHash.get('/metrics')).status).toBe(401);
    expect((await withSlowHash.get('/-/healthy', { headers: { authorization: RIGHT } })).status).toBe(200);
  });
});
