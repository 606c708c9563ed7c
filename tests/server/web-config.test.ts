/**
 * `--web.config.file` against a real checkpoint on loopback: HTTPS with certificates from a test
 * CA, every client auth type, basic auth, headers, and the file edited while the checkpoint runs
 * (read again per request and per connection, so no restart).
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../../src/config/problems';
import { BasicAuthChecker, basicCredentials, MAX_CHECKS_AT_ONCE } from '../../src/server/basic-auth';
import { parseWebConfig } from '../../src/server/web-config';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpoint, type RunningCheckpoint } from '../support/checkpoint-server';
import { request, type GetOptions } from '../support/client';
import { stringContaining } from '../support/matchers';

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
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: 'ECONNRESET', message: stringContaining('before secure TLS connection was established') });
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: 'ECONNRESET', message: stringContaining('before secure TLS connection was established') });
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
    const endpoints: [string, string][] = [
      ['GET', '/'],
      ['GET', '/metrics'],
      ['GET', '/sd'],
      ['GET', '/probe?target=127.0.0.1'],
      ['GET', '/logs?id=1'],
      ['GET', '/-/healthy'],
      ['POST', '/-/reload'],
    ];
    for (const [method, urlPath] of endpoints) {
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

describe('a web config that would enforce less than at start is invalid until a restart', () => {
  const users = (...names: string[]) => `basic_auth_users:\n${names.map((name) => `  ${name}: ${hash(`${name}-secret`)}\n`).join('')}`;
  const as = (name: string) => ({ headers: { authorization: authorization(name, `${name}-secret`) } });
  const refusals = (what: string) => running!.logLines.filter((line) => line.includes(what));

  test('emptied in place (truncate, then write): 500 with and without a login, one log line, until it is back', async () => {
    const yaml = users('alice');
    await start(yaml);
    expect((await get('/-/healthy', as('alice'))).status).toBe(200);
    await truncate(webConfigFile, 0);
    for (const options of [{}, as('alice'), {}, as('alice')]) {
      expect(await get('/-/healthy', options)).toMatchObject({ status: 500, body: 'Invalid web config, see the checkpoint log\n' });
    }
    const logged = refusals('Web config is invalid');
    expect(logged).toHaveLength(1); // once per distinct problem, not per request
    expect(logged[0]).toContain(`${webConfigFile}: the web config would turn basic auth off; restart the checkpoint to do that`);
    await writeFile(webConfigFile, yaml);
    expect((await get('/-/healthy')).status).toBe(401);
    expect((await get('/-/healthy', as('alice'))).status).toBe(200);
  });

  test('`basic_auth_users:` with nothing under it, or the section gone, is no login: 500', async () => {
    await start(users('alice'));
    for (const yaml of ['basic_auth_users:\n', 'basic_auth_users: {}\n', 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n']) {
      await writeFile(webConfigFile, yaml);
      expect([yaml, (await get('/-/healthy')).status]).toEqual([yaml, 500]);
      expect([yaml, (await get('/-/healthy', as('alice'))).status]).toEqual([yaml, 500]);
    }
  });

  test('users and hashes stay live: added, changed, some removed', async () => {
    await start(users('alice'));
    await writeFile(webConfigFile, users('alice', 'bob'));
    expect((await get('/-/healthy', as('bob'))).status).toBe(200);
    await writeFile(webConfigFile, users('bob'));
    expect((await get('/-/healthy', as('alice'))).status).toBe(401);
    expect((await get('/-/healthy', as('bob'))).status).toBe(200);
    expect(refusals('Web config is invalid')).toHaveLength(0);
  });

  test('started with an empty file (exporter-toolkit: no TLS, no auth): open, and a login added later may be taken away again', async () => {
    await start('');
    expect((await get('/-/healthy')).status).toBe(200);
    await writeFile(webConfigFile, users('alice'));
    expect((await get('/-/healthy')).status).toBe(401);
    expect((await get('/-/healthy', as('alice'))).status).toBe(200);
    // Back to what it was at start: no less than that.
    await truncate(webConfigFile, 0);
    expect((await get('/-/healthy')).status).toBe(200);
  });

  test('a weaker client_auth_type refuses new connections, one log line, until it is back; a stronger one applies', async () => {
    const verified = tlsBlock(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCertPath}\n`);
    const client = { cert: pki.client.cert, key: pki.client.key };
    await start(verified);
    expect((await get('/-/healthy', client)).status).toBe(200);
    // Cut off after key_file: a valid file, with NoClientCert.
    const weaker: [string, string][] = [
      [tlsBlock(), 'NoClientCert'],
      [tlsBlock('  client_auth_type: RequireAnyClientCert\n'), 'RequireAnyClientCert'],
      [tlsBlock(`  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${pki.caCertPath}\n`), 'VerifyClientCertIfGiven'],
    ];
    for (const [yaml, type] of weaker) {
      await writeFile(webConfigFile, yaml);
      await expect(get('/-/healthy', client)).rejects.toMatchObject({ code: 'ECONNRESET', message: stringContaining('before secure TLS connection was established') });
      await expect(get('/-/healthy', client)).rejects.toMatchObject({ code: 'ECONNRESET' });
      const logged = refusals(`weaken client_auth_type from RequireAndVerifyClientCert to ${type}`);
      expect([type, logged.length]).toEqual([type, 1]);
      expect(logged[0]).toContain('refusing new TLS connections');
      expect(logged[0]).toContain('restart the checkpoint to do that');
    }
    await writeFile(webConfigFile, verified);
    expect((await get('/-/healthy', client)).status).toBe(200);
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: CERTIFICATE_REQUIRED_ALERT });
  });

  test('RequireAnyClientCert at start: VerifyClientCertIfGiven is weaker (no certificate needed), RequireAndVerifyClientCert is not', async () => {
    const client = { cert: pki.client.cert, key: pki.client.key };
    await start(tlsBlock('  client_auth_type: RequireAnyClientCert\n'));
    await writeFile(webConfigFile, tlsBlock(`  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${pki.caCertPath}\n`));
    await expect(get('/-/healthy', client)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await writeFile(webConfigFile, tlsBlock(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCertPath}\n`));
    expect((await get('/-/healthy', client)).status).toBe(200);
    // Back to the start's type is no weakening either.
    await writeFile(webConfigFile, tlsBlock('  client_auth_type: RequireAnyClientCert\n'));
    expect((await get('/-/healthy', { cert: otherPki.client.cert, key: otherPki.client.key })).status).toBe(200);
  });

  test('emptied under HTTPS with basic auth: new connections refused, TLS and login named once each', async () => {
    const yaml = `${tlsBlock()}${users('alice')}`;
    await start(yaml);
    await writeFile(webConfigFile, '');
    await expect(get('/-/healthy', as('alice'))).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(get('/-/healthy')).rejects.toMatchObject({ code: 'ECONNRESET' });
    const logged = refusals('refusing new TLS connections');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('the web config would turn basic auth off');
    expect(logged[0]).toContain('the web config would turn TLS off');
    await writeFile(webConfigFile, yaml);
    expect((await get('/-/healthy', as('alice'))).status).toBe(200);
  });
});

describe('bcrypt checks: bounded, and each wrong password paid once', () => {
  const USERS = { alice: hash('alice-secret'), bob: hash('bob-secret') };
  /** A stand-in for bcrypt.compare whose checks end when the test says. */
  function heldCompare() {
    const calls: { password: string; hash: string; finish: () => void }[] = [];
    const compare = (password: string, storedHash: string) =>
      new Promise<boolean>((resolve) => calls.push({ password, hash: storedHash, finish: () => resolve(bcrypt.compareSync(password, storedHash)) }));
    /** The check at `index` (negative from the last), which the test expects to have started. */
    const call = (index: number) => {
      const started = calls.at(index);
      if (!started) throw new Error(`password check ${index} was not started; ${calls.length} were`);
      return started;
    };
    return { calls, call, compare };
  }
  const login = (user: string, password: string) => ({ user, password });

  test(`at most ${MAX_CHECKS_AT_ONCE} at once; one more is busy at once; the same check again waits for the running one`, async () => {
    const { calls, call, compare } = heldCompare();
    const checker = new BasicAuthChecker(compare);
    const first = checker.check(USERS, login('alice', 'guess-1'));
    const second = checker.check(USERS, login('mallory', 'guess-2')); // an unknown user takes a slot too
    expect(await checker.check(USERS, login('alice', 'guess-3'))).toBe('busy');
    expect(await checker.check(USERS, login('nobody', 'guess-4'))).toBe('busy');
    expect(checker.busyCount).toBe(2);
    const again = checker.check(USERS, login('alice', 'guess-1'));
    expect(calls.map((call) => call.password)).toEqual(['guess-1', 'guess-2']);
    // The unknown user is checked against a configured hash: the same cost as a real check.
    expect(call(1).hash).toBe(USERS.alice);
    calls.forEach((call) => call.finish());
    expect(await Promise.all([first, second, again])).toEqual(['refused', 'refused', 'refused']);
    // Slots free again.
    const right = checker.check(USERS, login('bob', 'bob-secret'));
    call(2).finish();
    expect(await right).toBe('accepted');
  });

  test('the same wrong password, and the same unknown user, cost no second check; the right password stays cheap', async () => {
    const { calls, call, compare } = heldCompare();
    const checker = new BasicAuthChecker(compare);
    const settle = async (attempt: Promise<string>) => {
      call(-1).finish();
      return attempt;
    };
    expect(await settle(checker.check(USERS, login('alice', 'wrong')))).toBe('refused');
    expect(await settle(checker.check(USERS, login('mallory', 'alice-secret')))).toBe('refused');
    expect(await settle(checker.check(USERS, login('alice', 'alice-secret')))).toBe('accepted');
    expect(calls).toHaveLength(3);
    // Two checks held open: the limit is reached, yet the remembered answers need none.
    const held = [checker.check(USERS, login('bob', 'x')), checker.check(USERS, login('bob', 'y'))];
    expect(await checker.check(USERS, login('alice', 'wrong'))).toBe('refused');
    expect(await checker.check(USERS, login('mallory', 'alice-secret'))).toBe('refused');
    expect(await checker.check(USERS, login('alice', 'alice-secret'))).toBe('accepted');
    expect(await checker.check(USERS, login('alice', 'wrong-2'))).toBe('busy');
    expect(calls).toHaveLength(5);
    calls.slice(3).forEach((call) => call.finish());
    expect(await Promise.all(held)).toEqual(['refused', 'refused']);
    // A new hash for alice: her old refusal and her old success are checked afresh.
    const changed = { ...USERS, alice: hash('wrong') };
    const refreshed = checker.check(changed, login('alice', 'wrong'));
    call(-1).finish();
    expect(await refreshed).toBe('accepted');
    expect(calls).toHaveLength(6);
  });

  test('a flood of wrong passwords gets 429 with Retry-After: 1 beyond the limit and 401 otherwise; a remembered login gets in meanwhile', async () => {
    // Cost 12: a check takes several of bcryptjs's 100 ms slices, so others arrive while it runs.
    await start(`basic_auth_users:\n  alice: ${bcrypt.hashSync('alice-secret', 12)}\n`);
    const right = { headers: { authorization: authorization('alice', 'alice-secret') } };
    expect((await get('/-/healthy', right)).status).toBe(200);
    const flood = Array.from({ length: 10 }, (_, i) => get('/-/healthy', { headers: { authorization: authorization(i % 2 ? 'alice' : `user-${i}`, `guess-${i}`) } }));
    const during = await get('/-/healthy', right);
    const answers = await Promise.all(flood);
    expect(during.status).toBe(200);
    const busy = answers.filter((answer) => answer.status === 429);
    expect(busy.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.status !== 429).every((answer) => answer.status === 401)).toBe(true);
    expect(busy[0]?.headers['retry-after']).toBe('1');
    expect(busy[0]?.body).toBe('Too many login attempts at once, retry in a second\n');
    const warnings = running!.logLines.filter((line) => line.includes('Too many password checks at once'));
    expect(warnings).toHaveLength(1); // at most once per 10 s
    expect(warnings[0]).not.toMatch(/guess|alice|user-/);
  });
});

test('the headers of http_server_config go on every response, 401s too', async () => {
  await start(
    `http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Content-Security-Policy: default-src 'self'\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  alice: ${hash('alice-secret')}\n`,
  );
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
    const error = await startCheckpoint(CONFIG, { webConfigFile }).then(
      () => undefined,
      (refused: unknown) => refused,
    );
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
