/**
 * `--web.config.file` against a real checkpoint on loopback: HTTPS with certificates from a test
 * CA, every client auth type, basic auth, headers, and the file edited while the checkpoint runs
 * (read again per request and per connection, so no restart).
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../../src/config/problems';
import { basicCredentials } from '../../src/server/basic-auth';
import { parseWebConfig } from '../../src/server/web-config';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpoint, type RunningCheckpoint } from '../support/checkpoint-server';
import { request, type GetOptions } from '../support/client';

const CONFIG = 'modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n';
/** Cost 4, bcrypt's lowest: the tests check behaviour, not bcrypt's slowness. */
const hash = (password: string) => bcrypt.hashSync(password, 4);

let pki: TestPki;
/** A second CA: its client certificate is one the first CA never issued. */
let otherPki: TestPki;
let dir: string;
let webConfigFile: string;
let running: RunningCheckpoint | undefined;

beforeAll(async () => {
  [pki, otherPki] = await Promise.all([makeTestPki(), makeTestPki()]);
});

afterAll(async () => {
  await pki?.cleanup();
  await otherPki?.cleanup();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-web-config-'));
  webConfigFile = path.join(dir, 'web.yml');
  // The server's certificate as files of the test's own, so a test can rotate them.
  await copyFile(pki.server.certPath, path.join(dir, 'server.pem'));
  await copyFile(pki.server.keyPath, path.join(dir, 'server-key.pem'));
});

afterEach(async () => {
  await running?.stop();
  running = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function start(webConfigYaml: string): Promise<RunningCheckpoint> {
  await writeFile(webConfigFile, webConfigYaml);
  running = await startCheckpoint(CONFIG, { webConfigFile });
  return running;
}

/** The server's TLS alert refusing the client's protocol versions, as Node's client reports it. */
const PROTOCOL_VERSION_ALERT = 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION';
/** The server's TLS 1.3 alert for a client that sent no certificate where one is required. */
const CERTIFICATE_REQUIRED_ALERT = 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED';
/**
 * The checkpoint closing the connection once the handshake is done (a certificate the client
 * auth type does not accept): with TLS 1.3 the client has finished its handshake and sent the
 * request by then, so it sees the connection reset, not an alert.
 */
const CLOSED_AFTER_HANDSHAKE = 'ECONNRESET';

/** A TLS block with relative paths, which are read from the web config's directory. */
function tlsBlock(extra = ''): string {
  return `tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n${extra}`;
}

function get(urlPath: string, options: GetOptions = {}) {
  return request(`${running!.url}${urlPath}`, { ca: pki.caCert, ...options });
}

function authorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A bare TLS handshake with the checkpoint trusting the test CA; resolves the protocol version. */
function handshake(options: tls.ConnectionOptions): Promise<string | null> {
  const { port } = new URL(running!.url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca: pki.caCert, ...options }, () => {
      resolve(socket.getProtocol());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

/** The SHA-256 fingerprint of the certificate the checkpoint presents to a new connection. */
function servedCertificate(): Promise<string> {
  const { port } = new URL(running!.url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  test('serves HTTPS with the certificate of the web config, TLS 1.2 at least by default', async () => {
    await start(tlsBlock());
    expect(running!.url).toMatch(/^https:/);
    const response = await get('/-/healthy');
    expect(response).toMatchObject({ status: 200, body: 'Healthy\n' });
    expect(await servedCertificate()).toBe(new X509Certificate(pki.server.cert).fingerprint256);
    // OpenSSL 3 cannot complete TLS 1.0 or 1.1 at its default security level, so the client gets
    // level 0; the code is of the alert the server sent (a client unable to offer them would fail
    // with ERR_SSL_NO_PROTOCOLS_AVAILABLE instead, and a closed port with ECONNREFUSED).
    await expect(handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toMatchObject({ code: PROTOCOL_VERSION_ALERT });
    await expect(handshake({ maxVersion: 'TLSv1.2' })).resolves.toBe('TLSv1.2');
  });

  test('min_version TLS13 refuses a TLS 1.2 client', async () => {
    await start(tlsBlock('  min_version: TLS13\n'));
    await expect(handshake({ maxVersion: 'TLSv1.2' })).rejects.toMatchObject({ code: PROTOCOL_VERSION_ALERT });
    await expect(handshake({})).resolves.toBe('TLSv1.3');
  });

  describe('client_auth_type', () => {
    const credentials = {
      'a certificate of the client CA': () => ({ cert: pki.client.cert, key: pki.client.key }),
      'a certificate of another CA': () => ({ cert: otherPki.client.cert, key: otherPki.client.key }),
      'no certificate': () => ({}),
    };
    // [type, client, admitted: 200, or the error code of the refusal]
    test.each([
      ['RequireAndVerifyClientCert', 'a certificate of the client CA', 200],
      ['RequireAndVerifyClientCert', 'a certificate of another CA', CLOSED_AFTER_HANDSHAKE],
      ['RequireAndVerifyClientCert', 'no certificate', CERTIFICATE_REQUIRED_ALERT],
      ['RequireClientCert', 'a certificate of another CA', 200],
      ['VerifyClientCertIfGiven', 'a certificate of the client CA', 200],
      ['VerifyClientCertIfGiven', 'a certificate of another CA', CLOSED_AFTER_HANDSHAKE],
      ['VerifyClientCertIfGiven', 'no certificate', 200],
      ['RequireAnyClientCert', 'a certificate of another CA', 200],
      ['RequireAnyClientCert', 'no certificate', CLOSED_AFTER_HANDSHAKE],
      ['RequireClientCert', 'no certificate', CLOSED_AFTER_HANDSHAKE],
      ['RequestClientCert', 'a certificate of another CA', 200],
      ['RequestClientCert', 'no certificate', 200],
      ['NoClientCert', 'no certificate', 200],
    ] as const)('%s with %s: %s', async (type, what, outcome) => {
      const ca = type === 'NoClientCert' ? '' : `  client_ca_file: ${pki.caCertPath}\n`;
      await start(tlsBlock(`  client_auth_type: ${type}\n${ca}`));
      const response = get('/-/healthy', credentials[what]());
      if (outcome === 200) expect((await response).status).toBe(200);
      else await expect(response).rejects.toMatchObject({ code: outcome });
    });
  });

  test('a rotated certificate is served to new connections without a restart', async () => {
    await start(tlsBlock());
    expect(await servedCertificate()).toBe(new X509Certificate(pki.server.cert).fingerprint256);
    await copyFile(otherPki.server.certPath, path.join(dir, 'server.pem'));
    await copyFile(otherPki.server.keyPath, path.join(dir, 'server-key.pem'));
    expect(await servedCertificate()).toBe(new X509Certificate(otherPki.server.cert).fingerprint256);
    expect((await get('/-/healthy', { ca: otherPki.caCert })).status).toBe(200);
    expect(running!.logLines.some((line) => line.includes('TLS settings reloaded'))).toBe(true);
  });

  test('OpenSSL builds a secure context only for files that changed, and refuses broken ones without parsing them again', async () => {
    await start(tlsBlock());
    const spy = jest.spyOn(tls, 'createSecureContext');
    // The server's: the test's client builds one for each request too.
    const built = () => spy.mock.calls.filter(([options]) => options !== undefined && 'honorCipherOrder' in options).length;
    try {
      for (let i = 0; i < 3; i++) expect((await get('/-/healthy')).status).toBe(200);
      expect(built()).toBe(0);
      await copyFile(pki.client.keyPath, path.join(dir, 'server-key.pem'));
      for (let i = 0; i < 3; i++) await expect(get('/-/healthy')).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(built()).toBe(1);
      await copyFile(pki.server.keyPath, path.join(dir, 'server-key.pem'));
      expect((await get('/-/healthy')).status).toBe(200);
      expect((await get('/-/healthy')).status).toBe(200);
      // The same files as at start: their digest is the current one, so nothing to build.
      expect(built()).toBe(1);
      await copyFile(otherPki.server.certPath, path.join(dir, 'server.pem'));
      await copyFile(otherPki.server.keyPath, path.join(dir, 'server-key.pem'));
      expect((await get('/-/healthy', { ca: otherPki.caCert })).status).toBe(200);
      expect((await get('/-/healthy', { ca: otherPki.caCert })).status).toBe(200);
      // Checked, then set on the server: once per change.
      expect(built()).toBe(3);
    } finally {
      spy.mockRestore();
    }
  });

  test('a client auth type turned on while running applies to new connections', async () => {
    await start(tlsBlock());
    expect((await get('/-/healthy')).status).toBe(200);
    await writeFile(webConfigFile, tlsBlock(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCertPath}\n`));
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: CERTIFICATE_REQUIRED_ALERT });
    expect((await get('/-/healthy', { cert: pki.client.cert, key: pki.client.key })).status).toBe(200);
  });

  test('a certificate file gone missing refuses new connections and says why, until it is back', async () => {
    await start(tlsBlock());
    await rm(path.join(dir, 'server.pem'));
    // Closed before the handshake: not a refused TCP connection, and no TLS alert either.
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: 'ECONNRESET', message: expect.stringContaining('before secure TLS connection was established') });
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: 'ECONNRESET', message: expect.stringContaining('before secure TLS connection was established') });
    const errors = running!.logLines.filter((line) => line.includes('refusing new TLS connections'));
    expect(errors).toHaveLength(1); // once per problem, not per connection
    expect(errors[0]).toContain(`tls_server_config.cert_file: cannot read ${path.join(dir, 'server.pem')}: ENOENT`);
    await copyFile(pki.server.certPath, path.join(dir, 'server.pem'));
    expect((await get('/-/healthy')).status).toBe(200);
  });
});

test('TLS turned on while serving plain HTTP is a warning that it takes a restart, once each time', async () => {
  await start('basic_auth_users:\n');
  const warnings = () => running!.logLines.filter((line) => line.includes('level=warn') && line.includes('TLS on or off takes a restart'));
  await writeFile(webConfigFile, tlsBlock());
  expect((await get('/-/healthy')).status).toBe(200);
  expect((await get('/-/healthy')).status).toBe(200);
  expect(warnings()).toHaveLength(1);
  await writeFile(webConfigFile, 'basic_auth_users:\n');
  expect((await get('/-/healthy')).status).toBe(200);
  await writeFile(webConfigFile, tlsBlock());
  expect((await get('/-/healthy')).status).toBe(200);
  expect(warnings()).toHaveLength(2);
  expect(warnings()[0]).toContain(`file=${webConfigFile}`);
});

describe('basic auth', () => {
  const users = (password: string) => `basic_auth_users:\n  alice: ${hash(password)}\n`;

  test.each([
    ['no credentials', undefined],
    ['an unknown user', authorization('mallory', 'alice-secret')],
    ['a wrong password', authorization('alice', 'wrong')],
    ['not basic auth', 'Bearer alice-secret'],
  ])('%s gets 401 with WWW-Authenticate: Basic', async (_case, header) => {
    await start(users('alice-secret'));
    const response = await get('/metrics', { headers: header ? { authorization: header } : {} });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic');
    expect(response.body).toBe('Unauthorized\n');
  });

  test('every endpoint asks, and the right user and password get in', async () => {
    await start(users('alice-secret'));
    for (const [method, urlPath] of [['GET', '/'], ['GET', '/metrics'], ['GET', '/sd'], ['GET', '/probe?target=127.0.0.1'], ['GET', '/logs?id=1'], ['GET', '/-/healthy'], ['POST', '/-/reload']]) {
      expect([urlPath, (await get(urlPath, { method })).status]).toEqual([urlPath, 401]);
    }
    const response = await get('/metrics', { headers: { authorization: authorization('alice', 'alice-secret') } });
    expect(response.status).toBe(200);
    expect(response.body).toContain('checkpoint_build_info');
    // Again, now from the cache of checks bcrypt accepted.
    expect((await get('/-/healthy', { headers: { authorization: authorization('alice', 'alice-secret') } })).status).toBe(200);
  });

  test('works with TLS together', async () => {
    await start(`${tlsBlock()}${users('alice-secret')}`);
    expect((await get('/-/healthy')).status).toBe(401);
    expect((await get('/-/healthy', { headers: { authorization: authorization('alice', 'alice-secret') } })).status).toBe(200);
  });

  test('a new password takes effect without a restart', async () => {
    await start(users('old-secret'));
    expect((await get('/-/healthy', { headers: { authorization: authorization('alice', 'old-secret') } })).status).toBe(200);
    await writeFile(webConfigFile, users('new-secret'));
    expect((await get('/-/healthy', { headers: { authorization: authorization('alice', 'old-secret') } })).status).toBe(401);
    expect((await get('/-/healthy', { headers: { authorization: authorization('alice', 'new-secret') } })).status).toBe(200);
  });

  test('a web config broken while running answers 500 with one line and logs why, without the hash', async () => {
    await start(users('alice-secret'));
    await writeFile(webConfigFile, 'basic_auth_users:\n  alice: plain-text-password\n');
    const response = await get('/-/healthy', { headers: { authorization: authorization('alice', 'alice-secret') } });
    expect(response).toMatchObject({ status: 500, body: 'Invalid web config, see the checkpoint log\n' });
    const logged = running!.logLines.filter((line) => line.includes('Web config is invalid'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('basic_auth_users.alice: not a bcrypt hash');
    expect(logged[0]).not.toContain('plain-text-password');
    expect(logged[0]).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });
});

test('the headers of http_server_config go on every response, 401s too', async () => {
  await start(`http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Content-Security-Policy: default-src 'self'\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  alice: ${hash('alice-secret')}\n`);
  for (const headers of [{}, { authorization: authorization('alice', 'alice-secret') }]) {
    const response = await get('/-/healthy', { headers });
    expect(response.headers).toMatchObject({
      'x-frame-options': 'deny',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'",
      'strict-transport-security': 'max-age=31536000',
    });
  }
});

describe('an invalid web config is refused at start with every problem, each naming the file', () => {
  async function refusal(webConfigYaml: string): Promise<string[]> {
    await writeFile(webConfigFile, webConfigYaml);
    const error = await startCheckpoint(CONFIG, { webConfigFile }).then(() => undefined, (refused: unknown) => refused);
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }

  test('unknown keys, and exporter-toolkit keys the checkpoint does not support', async () => {
    expect(await refusal(`${tlsBlock('  cert_fiel: server.pem\n  client_allowed_sans: [a]\n')}rate_limit:\n  burst: 1\n`)).toEqual([
      `${webConfigFile}:4:3: tls_server_config.cert_fiel: unknown key`,
      `${webConfigFile}:5:3: tls_server_config.client_allowed_sans: exporter-toolkit key the checkpoint does not support`,
      `${webConfigFile}:6:1: rate_limit: exporter-toolkit key the checkpoint does not support`,
    ]);
  });

  test('a password that is not a bcrypt hash', async () => {
    expect(await refusal(`basic_auth_users:\n  alice: ${hash('ok')}\n  bob: secret\n`)).toEqual([
      `${webConfigFile}:3:8: basic_auth_users.bob: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
    ]);
  });

  test('a user whose hash was never pasted is no hash either, never a list without that user', async () => {
    expect(await refusal('basic_auth_users:\n  alice:\n')).toEqual([
      // Where the hash goes.
      `${webConfigFile}:2:9: basic_auth_users.alice: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
    ]);
    // With the others, whichever check finds them, and with a problem elsewhere in the file.
    expect(await refusal(`basic_auth_users:\n  alice: ${hash('ok')}\n  bob:\n  carol: secret\n  dave: 42\nhttp_server_config:\n  http2: maybe\n`)).toEqual([
      `${webConfigFile}:3:7: basic_auth_users.bob: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
      `${webConfigFile}:4:10: basic_auth_users.carol: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
      `${webConfigFile}:5:9: basic_auth_users.dave: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
      `${webConfigFile}:7:10: http_server_config.http2: must be boolean`,
    ]);
  });

  test('a certificate file that is not there', async () => {
    expect(await refusal('tls_server_config:\n  cert_file: missing.pem\n  key_file: server-key.pem\n')).toEqual([
      `${webConfigFile}: tls_server_config.cert_file: cannot read ${path.join(dir, 'missing.pem')}: ENOENT`,
    ]);
  });

  test("exporter-toolkit's rules: cert and key together, a client CA to verify against and only with client auth, headers and their values", async () => {
    expect(await refusal('tls_server_config:\n  cert_file: server.pem\n  client_auth_type: RequireAndVerifyClientCert\n')).toEqual([
      `${webConfigFile}:2:3: tls_server_config: key_file is missing; TLS needs cert_file and key_file together`,
      `${webConfigFile}:3:21: tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file to verify client certificates against`,
    ]);
    expect(await refusal(tlsBlock(`  client_ca_file: ${pki.caCertPath}\n  min_version: TLS13\n  max_version: TLS12\n`))).toEqual([
      `${webConfigFile}:4:19: tls_server_config.client_ca_file: set, but client_auth_type asks for no client certificate`,
      `${webConfigFile}:5:16: tls_server_config.min_version: TLS13 is above max_version TLS12`,
    ]);
    expect(await refusal('http_server_config:\n  headers:\n    X-Frame-Options: allow\n    Server: checkpoint\n')).toEqual([
      `${webConfigFile}:3:22: http_server_config.headers.X-Frame-Options: must be one of: deny, sameorigin`,
      `${webConfigFile}:4:5: http_server_config.headers.Server: unknown key`,
    ]);
  });

  test('a key that does not match its certificate', async () => {
    await copyFile(pki.client.keyPath, path.join(dir, 'server-key.pem'));
    const [problem] = await refusal(tlsBlock());
    expect(problem).toMatch(new RegExp(`^${webConfigFile}: tls_server_config: the certificate, key or client CA does not load: .*key values mismatch`));
  });
});

describe('parsing', () => {
  test('empty sections are Go zero values, relative paths are from the file, defaults as exporter-toolkit', () => {
    expect(parseWebConfig('basic_auth_users:\nhttp_server_config:\ntls_server_config:\n', '/etc/web.yml')).toEqual({});
    expect(parseWebConfig('', '/etc/web.yml')).toEqual({});
    expect(parseWebConfig('# nothing yet\n', '/etc/web.yml')).toEqual({});
    // Only a whole top-level section: an empty value below one is a problem, not an absence.
    expect(() => parseWebConfig('http_server_config:\n  headers:\n', '/etc/web.yml')).toThrow(new ConfigError(['/etc/web.yml:2:11: http_server_config.headers: must be object']));
    expect(() => parseWebConfig('rate_limit:\n', '/etc/web.yml')).toThrow(new ConfigError(['/etc/web.yml:1:1: rate_limit: exporter-toolkit key the checkpoint does not support']));
    expect(parseWebConfig('tls_server_config:\n  cert_file: a.pem\n  key_file: /k/b.pem\n', '/etc/checkpoint/web.yml').tls_server_config).toEqual({
      cert_file: '/etc/checkpoint/a.pem',
      key_file: '/k/b.pem',
      min_version: 'TLS12',
      max_version: 'TLS13',
      prefer_server_cipher_suites: true,
    });
  });

  test('Basic credentials: a password may hold colons; anything else is none', () => {
    expect(basicCredentials(authorization('alice', 'a:b'))).toEqual({ user: 'alice', password: 'a:b' });
    expect(basicCredentials(`basic ${Buffer.from('bob:').toString('base64')}`)).toEqual({ user: 'bob', password: '' });
    expect(basicCredentials('Bearer x')).toBeUndefined();
    expect(basicCredentials(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBeUndefined();
    expect(basicCredentials(undefined)).toBeUndefined();
  });
});
