/**
 * Attacks on the built checkpoint that try to take a module's secret to a server of the
 * attacker's (a capture server on 127.0.0.2 that records every connection and byte), each with
 * the answer the checkpoint must give. One checkpoint process serves every table here, so the
 * last describe can read everything it printed and served after all the attacks.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startCaptureServer, type CaptureServer } from '../support/capture-server';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpointProcess, type CheckpointProcess } from '../support/checkpoint-process';
import { AUTH_BEARER_TOKEN, AUTH_PASSWORD, startTargets, type Targets } from '../support/http-targets';
import { parseMetrics, value } from '../support/metrics-text';
import { refusedPort } from '../support/ports';
import { startWebApp, type WebApp } from '../support/web-app';

/** Distinctive secret values: none of them may ever show in anything the checkpoint prints or serves. */
const SECRET = {
  basicInline: 'SECRET-inline-basic-88aa',
  headerFile: 'SECRET-header-file-b71c',
  headerInline: 'SECRET-header-inline-5e02',
  authorization: 'Bearer SECRET-authz-plain-913d',
  cookie: 'session=SECRET-cookie-4a7e',
  proxyAuthorization: 'Basic SECRET-proxyauth-22f1',
  apiKey: 'SECRET-apikey-c0de',
  pgFile: 'SECRET-pg-file-1b2c',
  pgEnv: 'SECRET-pg-env-3d4e',
  sftpFile: 'SECRET-sftp-file-5f60',
  sftpEnv: 'SECRET-sftp-env-7a8b',
  smtpFile: 'SECRET-smtp-file-9c0d',
  smtpEnv: 'SECRET-smtp-env-e1f2',
  browserValue: 'SECRET-browser-value-a3b4',
  bearerInline: 'SECRET-bearer-inline-6d71',
  authorizationInline: 'SECRET-authorization-inline-0b3e',
  authorizationFile: 'SECRET-authorization-file-4c29',
  oauth2Inline: 'SECRET-oauth2-client-secret-8e15',
  proxyPassword: 'SECRET-proxy-password-2a97',
  connectHeader: 'SECRET-connect-header-f00d',
} as const;

const ENV = { CHECKPOINT_SEC_PG_PW: SECRET.pgEnv, CHECKPOINT_SEC_SFTP_PW: SECRET.sftpEnv, CHECKPOINT_SEC_SMTP_PW: SECRET.smtpEnv };

let dir: string;
let pki: TestPki;
let targets: Targets;
let web: WebApp;
/** The docker module's engine: a capture server of its own, so its declared probe can be seen arriving. */
let dockerEngine: CaptureServer;
let refused: string;
let sshKey: string;
let cp: CheckpointProcess;

async function secretFile(name: string, content: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `${content}\n`);
  return file;
}

async function config(): Promise<string> {
  const f = {
    basic: await secretFile('basic-password', AUTH_PASSWORD),
    bearer: await secretFile('bearer-token', AUTH_BEARER_TOKEN),
    header: await secretFile('header-token', SECRET.headerFile),
    pg: await secretFile('pg-password', SECRET.pgFile),
    sftp: await secretFile('sftp-password', SECRET.sftpFile),
    smtp: await secretFile('smtp-password', SECRET.smtpFile),
    browser: await secretFile('browser-value', SECRET.browserValue),
    authorization: await secretFile('authorization-credentials', SECRET.authorizationFile),
  };
  const tls = `{ca_file: ${pki.caCertPath}, cert_file: ${pki.client.certPath}, key_file: ${pki.client.keyPath}}`;
  const http = (keys: string) => `    prober: http\n    timeout: 2s\n    http:\n      preferred_ip_protocol: ip4\n${keys}`;
  const fingerprint = 'SHA256:' + 'A'.repeat(43);
  return `
# Every module that is not restricted by a secret or by being a browser module is restricted by this list.
allowed_targets: ['127.0.0.1']
modules:
  http_basic_file:
${http(`      basic_auth: {username: probe, password_file: ${f.basic}}\n`)}
  http_basic_inline:
${http(`      basic_auth: {username: probe, password: ${SECRET.basicInline}}\n`)}
  http_bearer_file:
${http(`      bearer_token_file: ${f.bearer}\n`)}
  http_header_secret_file:
${http(`      headers: {X-Token: {secret_file: ${f.header}}}\n`)}
  http_header_secret_inline:
${http(`      headers: {X-Token: {secret: ${SECRET.headerInline}}}\n`)}
  http_header_authorization:
${http(`      headers: {Authorization: '${SECRET.authorization}'}\n`)}
  http_header_cookie:
${http(`      headers: {Cookie: '${SECRET.cookie}'}\n`)}
  http_header_proxy_authorization:
${http(`      headers: {Proxy-Authorization: '${SECRET.proxyAuthorization}'}\n`)}
  http_header_api_key:
${http(`      headers: {X-Api-Key: '${SECRET.apiKey}'}\n`)}
  http_tls_key:
${http(`      tls_config: ${tls}\n`)}
  http_bearer_inline:
${http(`      bearer_token: ${SECRET.bearerInline}\n`)}
  http_authorization_inline:
${http(`      authorization: {type: Token, credentials: ${SECRET.authorizationInline}}\n`)}
  http_authorization_file:
${http(`      authorization: {credentials_file: ${f.authorization}}\n`)}
  http_oauth2_inline:
${http(`      oauth2: {client_id: probe, client_secret: ${SECRET.oauth2Inline}, token_url: 'http://${refused}/token'}\n`)}
  http_proxy_password:
${http(`      proxy_url: 'http://probe:${SECRET.proxyPassword}@${refused}'\n`)}
  http_proxy_connect_header:
${http(`      proxy_url: 'http://${refused}'\n      proxy_connect_header: {X-Tag: [${SECRET.connectHeader}]}\n`)}
  http_plain:
${http('')}
  http_control:
    allowed_targets: ['127.0.0.2']
${http('')}
  http_redirect_secret:
    allowed_targets: ['${targets.http}/redirect-to']
${http(`      basic_auth: {username: probe, password_file: ${f.basic}}\n`)}
  http_redirect_plain:
${http('')}
  pg_password_file:
    prober: postgres
    timeout: 2s
    postgres: {user: probe, password_file: ${f.pg}, sslmode: disable, preferred_ip_protocol: ip4}
  pg_password_env:
    prober: postgres
    timeout: 2s
    postgres: {user: probe, password_env: CHECKPOINT_SEC_PG_PW, sslmode: disable, preferred_ip_protocol: ip4}
  pg_tls_key:
    prober: postgres
    timeout: 2s
    postgres: {user: probe, sslmode: verify-full, tls_config: ${tls}, preferred_ip_protocol: ip4}
  pg_plain:
    prober: postgres
    timeout: 2s
    postgres: {user: probe, sslmode: disable, preferred_ip_protocol: ip4}
  sftp_password_file:
    prober: sftp
    timeout: 2s
    sftp: {username: probe, password_file: ${f.sftp}, host_key_fingerprints: ['${fingerprint}'], preferred_ip_protocol: ip4}
  sftp_password_env:
    prober: sftp
    timeout: 2s
    sftp: {username: probe, password_env: CHECKPOINT_SEC_SFTP_PW, host_key_fingerprints: ['${fingerprint}'], preferred_ip_protocol: ip4}
  sftp_private_key:
    prober: sftp
    timeout: 2s
    sftp: {username: probe, private_key_file: ${sshKey}, host_key_fingerprints: ['${fingerprint}'], preferred_ip_protocol: ip4}
  smtp_password_file:
    prober: smtp
    timeout: 2s
    smtp: {auth: {username: probe, password_file: ${f.smtp}}, preferred_ip_protocol: ip4}
  smtp_password_env:
    prober: smtp
    timeout: 2s
    smtp: {auth: {username: probe, password_env: CHECKPOINT_SEC_SMTP_PW}, preferred_ip_protocol: ip4}
  smtp_tls_key:
    prober: smtp
    timeout: 2s
    smtp: {tls_config: ${tls}, preferred_ip_protocol: ip4}
  docker_tls_key:
    prober: docker
    timeout: 2s
    docker: {host: 'tcp://${dockerEngine.host}:${dockerEngine.port}', tls_config: ${tls}, preferred_ip_protocol: ip4}
  browser_plain:
    prober: browser
    timeout: 12s
    allowed_targets: ['${web.url}/leave']
    browser:
      step_timeout: 5s
      screenshots: false
      steps:
        - click: {role: link, name: Elsewhere, exact: true}
        - expect_text: never here
  browser_value_file:
    prober: browser
    timeout: 12s
    allowed_targets: ['${web.url}/leave']
    browser:
      step_timeout: 5s
      screenshots: false
      steps:
        - fill: {label: Password, value_file: ${f.browser}}
        - click: {role: button, name: Send}
monitors:
  - {name: basic-file, module: http_basic_file, target: '${targets.http}/auth'}
  - {name: basic-inline, module: http_basic_inline, target: '${targets.http}/auth'}
  - {name: bearer-file, module: http_bearer_file, target: '${targets.http}/auth'}
  - {name: header-secret-file, module: http_header_secret_file, target: '${targets.http}/ok'}
  - {name: header-secret-inline, module: http_header_secret_inline, target: '${targets.http}/ok'}
  - {name: header-authorization, module: http_header_authorization, target: '${targets.http}/ok'}
  - {name: header-cookie, module: http_header_cookie, target: '${targets.http}/ok'}
  - {name: header-proxy-authorization, module: http_header_proxy_authorization, target: '${targets.http}/ok'}
  - {name: header-api-key, module: http_header_api_key, target: '${targets.http}/ok'}
  - {name: tls-key, module: http_tls_key, target: '${targets.mtls}/ok'}
  - {name: bearer-inline, module: http_bearer_inline, target: '${targets.http}/ok'}
  - {name: authorization-inline, module: http_authorization_inline, target: '${targets.http}/ok'}
  - {name: authorization-file, module: http_authorization_file, target: '${targets.http}/ok'}
  - {name: oauth2-inline, module: http_oauth2_inline, target: '${targets.http}/ok'}
  - {name: proxy-password, module: http_proxy_password, target: '${targets.http}/ok'}
  - {name: proxy-connect-header, module: http_proxy_connect_header, target: '${targets.https}/ok'}
  - {name: plain, module: http_plain, target: '${targets.http}/ok'}
  - {name: pg-file, module: pg_password_file, target: 'postgres://${refused}/postgres'}
  - {name: pg-env, module: pg_password_env, target: 'postgres://${refused}/postgres'}
  - {name: pg-tls, module: pg_tls_key, target: 'postgres://${refused}/postgres'}
  - {name: pg-plain, module: pg_plain, target: 'postgres://${refused}/postgres'}
  - {name: sftp-file, module: sftp_password_file, target: 'sftp://${refused}'}
  - {name: sftp-env, module: sftp_password_env, target: 'sftp://${refused}'}
  - {name: sftp-key, module: sftp_private_key, target: 'sftp://${refused}'}
  - {name: smtp-file, module: smtp_password_file, target: 'smtp://${refused}'}
  - {name: smtp-env, module: smtp_password_env, target: 'smtp://${refused}'}
  - {name: smtp-tls, module: smtp_tls_key, target: 'smtp://${refused}'}
  - {name: docker-tls, module: docker_tls_key, target: declared-container}
  - {name: browser-plain, module: browser_plain, target: '${web.url}/leave?to=%2Flogin'}
  - {name: browser-value-file, module: browser_value_file, target: '${web.url}/leave?to=%2Flogin'}
`;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-security-secrets-'));
  pki = await makeTestPki();
  [targets, web, dockerEngine] = await Promise.all([startTargets(pki), startWebApp(), startCaptureServer('127.0.0.2')]);
  refused = `127.0.0.1:${await refusedPort()}`;
  sshKey = path.join(dir, 'id_ed25519');
  await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'checkpoint-security-test', '-f', sshKey]);
  cp = await startCheckpointProcess(await config(), { flags: ['--probe.max-timeout=15s', '--log.level=debug'], env: ENV });
}, 120_000);

afterAll(async () => {
  await cp?.stop();
  await Promise.all([targets?.close(), web?.close(), dockerEngine?.close()]);
  await pki?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function forbiddenCount(module: string): Promise<number> {
  const metrics = parseMetrics((await cp.get('/metrics')).body);
  return value(metrics, 'checkpoint_probes_forbidden_total', { module }) ?? 0;
}

function probePath(module: string, target: string, extra = ''): string {
  return `/probe?module=${encodeURIComponent(module)}&target=${encodeURIComponent(target)}${extra}`;
}

const BECAUSE = {
  secret: 'it carries a secret',
  browser: 'it is a browser module',
  config: 'the config sets allowed_targets',
} as const;

const forbidden = (module: string, because: keyof typeof BECAUSE) =>
  `target not allowed: module "${module}" may reach only the targets of its monitors and its allowed_targets (${BECAUSE[because]})\n`;

type TargetAt = (capture: CaptureServer) => string;
const httpAt: TargetAt = (c) => `http://${c.host}:${c.port}/`;
const httpsAt: TargetAt = (c) => `https://${c.host}:${c.port}/`;
const postgresAt: TargetAt = (c) => `postgres://${c.host}:${c.port}/postgres`;
const sftpAt: TargetAt = (c) => `sftp://${c.host}:${c.port}`;
const smtpAt: TargetAt = (c) => `smtp://${c.host}:${c.port}`;

describe('every kind of secret × every prober, aimed at an undeclared target: 403, counted, nothing sent', () => {
  // [attack, module, target on the capture server, why the module is restricted]
  const attacks: [string, string, TargetAt, keyof typeof BECAUSE][] = [
    ['http basic_auth.password_file', 'http_basic_file', httpAt, 'secret'],
    ['http basic_auth.password (inline)', 'http_basic_inline', httpAt, 'secret'],
    ['http bearer_token_file', 'http_bearer_file', httpAt, 'secret'],
    ['http header {secret_file: F}', 'http_header_secret_file', httpAt, 'secret'],
    ['http header {secret: S}', 'http_header_secret_inline', httpAt, 'secret'],
    ['http plain Authorization header', 'http_header_authorization', httpAt, 'secret'],
    ['http plain Cookie header', 'http_header_cookie', httpAt, 'secret'],
    ['http plain Proxy-Authorization header', 'http_header_proxy_authorization', httpAt, 'secret'],
    ['http plain X-Api-Key header', 'http_header_api_key', httpAt, 'secret'],
    ['http tls_config.key_file', 'http_tls_key', httpsAt, 'secret'],
    ['http bearer_token (inline)', 'http_bearer_inline', httpAt, 'secret'],
    ['http authorization.credentials (inline)', 'http_authorization_inline', httpAt, 'secret'],
    ['http authorization.credentials_file', 'http_authorization_file', httpAt, 'secret'],
    ['http oauth2.client_secret (inline)', 'http_oauth2_inline', httpAt, 'secret'],
    ['http proxy_url with a password', 'http_proxy_password', httpAt, 'secret'],
    ['http proxy_connect_header', 'http_proxy_connect_header', httpsAt, 'secret'],
    ['http bare host:port target (no scheme)', 'http_basic_file', (c) => `${c.host}:${c.port}`, 'secret'],
    ['http upper-case scheme', 'http_basic_file', (c) => `HTTP://${c.host}:${c.port}/`, 'secret'],
    ["http the host of a declared target with a path of the attacker's", 'http_redirect_secret', (c) => `http://${c.host}:${c.port}/redirect-to`, 'secret'],
    ['postgres password_file', 'pg_password_file', postgresAt, 'secret'],
    ['postgres password_env', 'pg_password_env', postgresAt, 'secret'],
    ['postgres tls_config.key_file', 'pg_tls_key', postgresAt, 'secret'],
    ['postgres bare host:port target', 'pg_password_file', (c) => `${c.host}:${c.port}`, 'secret'],
    ['sftp password_file', 'sftp_password_file', sftpAt, 'secret'],
    ['sftp password_env', 'sftp_password_env', sftpAt, 'secret'],
    ['sftp private_key_file', 'sftp_private_key', sftpAt, 'secret'],
    ['smtp auth.password_file', 'smtp_password_file', smtpAt, 'secret'],
    ['smtp auth.password_env', 'smtp_password_env', smtpAt, 'secret'],
    ['smtp tls_config.key_file', 'smtp_tls_key', smtpAt, 'secret'],
    ['smtps (implicit TLS) with a password', 'smtp_password_file', (c) => `smtps://${c.host}:${c.port}`, 'secret'],
    ['browser fill.value_file', 'browser_value_file', httpAt, 'secret'],
    ['browser module without a secret', 'browser_plain', httpAt, 'browser'],
    ['http module without a secret, top-level allowed_targets set', 'http_plain', httpAt, 'config'],
    ['postgres module without a secret, top-level allowed_targets set', 'pg_plain', postgresAt, 'config'],
  ];

  let capture: CaptureServer;
  beforeEach(async () => {
    capture = await startCaptureServer('127.0.0.2');
  });
  afterEach(() => capture.close());

  test.each(attacks)('%s → 403 naming module %s and the rule', async (_attack, module, targetAt, because) => {
    const before = await forbiddenCount(module);
    const answer = await cp.get(probePath(module, targetAt(capture)));
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 403, body: forbidden(module, because) });
    expect(await forbiddenCount(module)).toBe(before + 1);
    expect({ connections: capture.connections, received: capture.received() }).toEqual({ connections: 0, received: '' });
  });

  test('docker tls_config.key_file, an undeclared container → 403, and its engine is not contacted', async () => {
    const before = await forbiddenCount('docker_tls_key');
    const answer = await cp.get(probePath('docker_tls_key', 'attackers-container'));
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 403, body: forbidden('docker_tls_key', 'secret') });
    expect(await forbiddenCount('docker_tls_key')).toBe(before + 1);
    expect({ connections: dockerEngine.connections, received: dockerEngine.received() }).toEqual({ connections: 0, received: '' });
  });

  test('a secret module on a host the top-level allowed_targets allows (127.0.0.1), not declared → 403: the top-level list never widens it', async () => {
    const local = await startCaptureServer('127.0.0.1');
    try {
      const answer = await cp.get(probePath('http_basic_file', httpAt(local)));
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 403, body: forbidden('http_basic_file', 'secret') });
      expect({ connections: local.connections, received: local.received() }).toEqual({ connections: 0, received: '' });
    } finally {
      await local.close();
    }
  });

  test('credentials written into the target (user@host) → 400, nothing sent', async () => {
    const answer = await cp.get(probePath('http_basic_file', `http://probe:${AUTH_PASSWORD}@${capture.host}:${capture.port}/`));
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 400, body: 'credentials do not belong in a target, which becomes a label: use basic_auth.password_file\n' });
    expect(capture.connections).toBe(0);
  });

  // Proves the capture server sees a probe that is let through, so "nothing captured" above means something.
  test('control: a module whose allowed_targets list the capture host reaches it', async () => {
    const answer = await cp.get(probePath('http_control', httpAt(capture)));
    expect(answer.status).toBe(200);
    expect(capture.connections).toBeGreaterThan(0);
  });
});

describe('the declared targets of the same modules are still probed', () => {
  // [module, declared target, whether the probe must succeed (real server and right secret) or only run]
  const declared: [string, () => string, boolean][] = [
    ['http_basic_file', () => `${targets.http}/auth`, true],
    ['http_basic_inline', () => `${targets.http}/auth`, false],
    ['http_bearer_file', () => `${targets.http}/auth`, true],
    ['http_header_secret_file', () => `${targets.http}/ok`, true],
    ['http_header_secret_inline', () => `${targets.http}/ok`, true],
    ['http_header_authorization', () => `${targets.http}/ok`, true],
    ['http_header_cookie', () => `${targets.http}/ok`, true],
    ['http_header_proxy_authorization', () => `${targets.http}/ok`, true],
    ['http_header_api_key', () => `${targets.http}/ok`, true],
    ['http_tls_key', () => `${targets.mtls}/ok`, true],
    ['http_bearer_inline', () => `${targets.http}/ok`, true],
    ['http_authorization_inline', () => `${targets.http}/ok`, true],
    ['http_authorization_file', () => `${targets.http}/ok`, true],
    // Their token endpoint or proxy is a refused port: the probe runs, and fails there.
    ['http_oauth2_inline', () => `${targets.http}/ok`, false],
    ['http_proxy_password', () => `${targets.http}/ok`, false],
    ['http_proxy_connect_header', () => `${targets.https}/ok`, false],
    ['http_plain', () => `${targets.http}/ok`, true],
    ['pg_password_file', () => `postgres://${refused}/postgres`, false],
    ['pg_password_env', () => `postgres://${refused}/postgres`, false],
    ['pg_tls_key', () => `postgres://${refused}/postgres`, false],
    ['pg_plain', () => `postgres://${refused}/postgres`, false],
    ['sftp_password_file', () => `sftp://${refused}`, false],
    ['sftp_password_env', () => `sftp://${refused}`, false],
    ['sftp_private_key', () => `sftp://${refused}`, false],
    ['smtp_password_file', () => `smtp://${refused}`, false],
    ['smtp_password_env', () => `smtp://${refused}`, false],
    ['smtp_tls_key', () => `smtp://${refused}`, false],
    ['docker_tls_key', () => 'declared-container', false],
  ];

  test.each(declared)("%s on its monitor's target → 200 (probe_success 1 where the target is real)", async (module, target, succeeds) => {
    const answer = await cp.get(probePath(module, target()), { timeoutMs: 30_000 });
    expect(answer.status).toBe(200);
    expect(answer.body).not.toContain('reason="forbidden"');
    if (succeeds) expect(answer.body).toMatch(/^probe_success 1$/m);
  });

  test("the docker module's declared container does reach its engine", async () => {
    expect(dockerEngine.connections).toBeGreaterThan(0);
  });

  test('the top-level list admits a module without a secret to other targets on 127.0.0.1', async () => {
    const answer = await cp.get(probePath('http_plain', `${targets.http}/status/204`));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^probe_success 1$/m);
  });
});

describe('redirects of a restricted module leave its hosts: the probe fails, nothing is sent', () => {
  let capture: CaptureServer;
  beforeEach(async () => {
    capture = await startCaptureServer('127.0.0.2');
  });
  afterEach(() => capture.close());

  const via = (location: string) => `${targets.http}/redirect-to?url=${encodeURIComponent(location)}`;
  // [attack, module, Location the declared target answers with, expected probe_failure_reason]
  const redirects: [string, string, (c: CaptureServer) => string, string][] = [
    ['redirect to another host (secret module)', 'http_redirect_secret', (c) => `http://${c.host}:${c.port}/steal`, 'forbidden'],
    ['redirect to another host (top-level restricted module)', 'http_redirect_plain', (c) => `http://${c.host}:${c.port}/steal`, 'forbidden'],
    ['scheme-relative redirect //host', 'http_redirect_secret', (c) => `//${c.host}:${c.port}/steal`, 'forbidden'],
    ['redirect with userinfo naming the allowed host', 'http_redirect_secret', (c) => `http://127.0.0.1@${c.host}:${c.port}/steal`, 'forbidden'],
    ['redirect to the capture host written in hex', 'http_redirect_secret', (c) => `http://0x7f000002:${c.port}/steal`, 'forbidden'],
    ['redirect to an IPv4-mapped IPv6 address', 'http_redirect_secret', (c) => `http://[::ffff:127.0.0.2]:${c.port}/steal`, 'forbidden'],
    ['second hop of a redirect chain', 'http_redirect_secret', (c) => via(`http://${c.host}:${c.port}/steal`), 'forbidden'],
    ['redirect to gopher:', 'http_redirect_secret', (c) => `gopher://${c.host}:${c.port}/steal`, 'protocol'],
    ['redirect to ftp:', 'http_redirect_secret', (c) => `ftp://${c.host}:${c.port}/steal`, 'protocol'],
    ['redirect to file:', 'http_redirect_secret', () => 'file:///etc/passwd', 'protocol'],
    ['redirect to javascript:', 'http_redirect_secret', () => 'javascript:alert(document.cookie)', 'protocol'],
  ];

  test.each(redirects)('%s (module %s) → probe_failure_reason', async (_attack, module, location, reason) => {
    const answer = await cp.get(probePath(module, via(location(capture))));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^probe_success 0$/m);
    expect(answer.body).toContain(`probe_failure_reason{reason="${reason}"} 1`);
    expect({ connections: capture.connections, received: capture.received() }).toEqual({ connections: 0, received: '' });
  });
});

describe('navigations of a browser journey leave its hosts: the probe fails with forbidden, nothing is sent', () => {
  let capture: CaptureServer;
  beforeEach(async () => {
    capture = await startCaptureServer('127.0.0.2');
  });
  afterEach(() => capture.close());

  const leave = (c: CaptureServer) => `${web.url}/leave?to=${encodeURIComponent(`http://${c.host}:${c.port}/steal`)}`;

  // Chromium may preconnect to a link's host when the pointer is over it (a TCP connection, no
  // byte): the promise is that no request goes there, so the bytes are checked, not connections.
  test.each([
    ['a link to another host', 'browser_plain', 'navigation', 'browser'],
    ['a typed secret posted to the app, answered 307 to another host', 'browser_value_file', 'redirect', 'secret'],
  ] as const)('%s (%s) → reason forbidden', async (_attack, module, kind, because) => {
    const answer = await cp.get(probePath(module, leave(capture)), { timeoutMs: 60_000 });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('probe_failure_reason{reason="forbidden"} 1');
    expect(capture.received()).toBe('');
    const debug = await cp.get(probePath(module, leave(capture), '&debug=true'), { timeoutMs: 60_000 });
    // The probe log is logfmt, which escapes the quotes of the message.
    expect(debug.body).toContain(`${kind} to ${capture.host}:${capture.port} refused: module \\"${module}\\" may reach only the targets of its monitors and its allowed_targets (${BECAUSE[because]})`);
    expect(capture.received()).toBe('');
  });
});

describe('after all the attacks, no secret value shows anywhere', () => {
  async function secretsUsed(): Promise<string[]> {
    const values: string[] = [
      ...Object.values(SECRET),
      AUTH_PASSWORD,
      AUTH_BEARER_TOKEN,
      Buffer.from(`probe:${AUTH_PASSWORD}`).toString('base64'),
      Buffer.from(`probe:${SECRET.proxyPassword}`).toString('base64'),
      Buffer.from(`probe:${SECRET.oauth2Inline}`).toString('base64'),
    ];
    // Private keys: every full line of base64 in them (the PEM armour lines are not secret).
    for (const key of [await readFile(pki.client.keyPath, 'utf8'), await readFile(sshKey, 'utf8')]) {
      values.push(...key.split('\n').filter((line) => line.length >= 20 && !line.startsWith('-----')));
    }
    return values;
  }

  function leaks(text: string, secrets: string[]): string[] {
    return secrets.filter((secret) => text.includes(secret));
  }

  test('not in stdout/stderr, /metrics, /sd, the status page, /logs or ?debug=true', async () => {
    const secrets = await secretsUsed();
    const metricsText = (await cp.get('/metrics')).body;
    const sdText = (await cp.get('/sd')).body;
    const statusPage = (await cp.get('/')).body;
    const pages: Record<string, string> = { '/metrics': metricsText, '/sd': sdText, '/': statusPage };
    for (const id of new Set([...statusPage.matchAll(/logs\?id=(\d+)/g)].map((m) => m[1]))) {
      pages[`/logs?id=${id}`] = (await cp.get(`/logs?id=${id}`)).body;
    }
    expect(Object.keys(pages).filter((page) => page.startsWith('/logs')).length).toBeGreaterThan(10);
    for (const module of [
      'http_basic_file',
      'http_basic_inline',
      'http_header_secret_inline',
      'http_header_authorization',
      'http_header_cookie',
      'http_header_proxy_authorization',
      'http_header_api_key',
      'http_tls_key',
      'http_bearer_inline',
      'http_authorization_inline',
      'http_oauth2_inline',
      'http_proxy_password',
      'http_proxy_connect_header',
      'pg_password_env',
      'sftp_private_key',
      'smtp_password_env',
      'docker_tls_key',
    ]) {
      const sd = JSON.parse(sdText) as { targets: string[]; labels: Record<string, string> }[];
      const target = sd.find((group) => group.labels.module === module)?.targets[0];
      if (target === undefined) throw new Error(`/sd lists no target of module ${module}`);
      pages[`debug ${module}`] = (await cp.get(probePath(module, target, '&debug=true'), { timeoutMs: 30_000 })).body;
    }
    // The debug pages must show the config they hide things in, or this test proves nothing.
    expect(pages['debug http_basic_inline']).toContain('<secret>');
    expect(pages['debug http_proxy_password']).toContain(`proxy_url: http://probe:<secret>@${refused}/`);
    pages['process output'] = cp.output();
    const found = Object.fromEntries(
      Object.entries(pages)
        .map(([page, text]): [string, string[]] => [page, leaks(text, secrets)])
        .filter(([, leaked]) => leaked.length > 0),
    );
    expect(found).toEqual({});
  });
});
