/**
 * The `checkpoint` binary as an SRE or a CI job runs it: flags, --config.check, the probe
 * subcommand, SIGHUP reload and a clean stop. Runs the built dist/ (npm test builds first).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { request, type SimpleResponse } from '../support/client';
import { freePort } from '../support/ports';
import { makeTestPki, type TestPki } from '../support/certs';
import { startTargets, type Targets } from '../support/http-targets';

/** The checkpoint as users run it: bin/checkpoint on the bundle `npm run build` makes. */
const BIN = path.join(__dirname, '..', '..', 'bin', 'checkpoint');
const BUNDLE = path.join(__dirname, '..', '..', 'dist', 'checkpoint.js');
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'config');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function checkpoint(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(BIN, args, { timeout: 20000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let dir: string;
let configFile: string;
let pki: TestPki;
let targets: Targets;

beforeAll(async () => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` (npm test does)`);
  dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-cli-'));
  configFile = path.join(dir, 'checkpoint.yml');
  pki = await makeTestPki();
  targets = await startTargets(pki);
  await writeFile(configFile, 'modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n');
});

afterAll(async () => {
  await targets?.close();
  await pki?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

test('--version and --help', async () => {
  const version = await checkpoint('--version');
  expect(version.code).toBe(0);
  expect(version.stdout).toMatch(/^checkpoint, version \d+\.\d+\.\d+/);
  const help = await checkpoint('--help');
  expect(help.code).toBe(0);
  for (const flag of [
    '--config.file',
    '--web.listen-address',
    '--web.config.file',
    '--log.level',
    '--log.format',
    '--timeout-offset',
    '--probe.max-timeout',
    '--web.enable-lifecycle',
    '--config.check',
  ])
    expect(help.stdout).toContain(flag);
});

test('an unknown flag or a bad flag value exits 2 with a message', async () => {
  const unknown = await checkpoint('--no-such-flag');
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("Unknown option '--no-such-flag'");
  const badAddress = await checkpoint(`--config.file=${configFile}`, '--web.listen-address=nowhere');
  expect(badAddress.code).toBe(2);
  expect(badAddress.stderr).toContain('--web.listen-address must look like :9915');
});

test('--config.check accepts a good file and lists every problem of a bad one', async () => {
  const good = await checkpoint(`--config.file=${configFile}`, '--config.check');
  expect(good).toMatchObject({ code: 0, stdout: `${configFile}: OK (1 modules, 0 monitors)\n` });
  const bad = await checkpoint(`--config.file=${path.join(FIXTURES, 'invalid-many-problems.yml')}`, '--config.check');
  expect(bad.code).toBe(2);
  expect(bad.stderr.split('\n').filter((line) => line.startsWith('invalid-many-problems.yml:'))).toHaveLength(6);
  expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
});

test('the default config file is valid', async () => {
  const run = await checkpoint('--config.check');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('config/checkpoint.yml: OK');
});

test('checkpoint probe prints metrics and log, and exits by probe_success', async () => {
  const ok = await checkpoint('probe', `--config.file=${configFile}`, '--module=http_2xx', `--target=${targets.http}/ok`);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain('probe_success 1');
  expect(ok.stderr).toContain('msg="Probe succeeded"');
  const failed = await checkpoint('probe', `--config.file=${configFile}`, '--module=http_2xx', `--target=${targets.http}/status/500`);
  expect(failed.code).toBe(1);
  expect(failed.stdout).toContain('probe_failure_reason{reason="status_code"} 1');
  expect(failed.stderr).toContain('status code 500 is not valid');
  const refused = await checkpoint('probe', `--config.file=${configFile}`, '--module=nope', `--target=${targets.http}/ok`);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('Unknown module "nope"');
  const noTarget = await checkpoint('probe', `--config.file=${configFile}`);
  expect(noTarget.code).toBe(2);
  expect(noTarget.stderr).toContain('--target is required');
});

describe('--web.config.file', () => {
  const webConfig = (name: string, yaml: string) => {
    const file = path.join(dir, name);
    return writeFile(file, yaml).then(() => file);
  };

  test.each([
    ['an unknown key', 'tls_server_config:\n  cert_fil: server.pem\n', (file: string) => `${file}:2:3: tls_server_config.cert_fil: unknown key`],
    [
      'a password that is not a bcrypt hash',
      'basic_auth_users:\n  alice: secret\n',
      (file: string) => `${file}:2:10: basic_auth_users.alice: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
    ],
    // Not an empty list of users, which would let every request in.
    [
      'a user whose hash was never pasted',
      'basic_auth_users:\n  alice:\n',
      (file: string) => `${file}:2:9: basic_auth_users.alice: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
    ],
    [
      'a missing certificate file',
      'tls_server_config:\n  cert_file: /nonexistent/server.pem\n  key_file: /nonexistent/server-key.pem\n',
      (file: string) => `${file}: tls_server_config.cert_file: cannot read /nonexistent/server.pem: ENOENT`,
    ],
  ])('%s exits 2 with one line naming the file, before anything starts', async (_case, yaml, message) => {
    const file = await webConfig('web-bad.yml', yaml);
    const run = await checkpoint(`--config.file=${configFile}`, `--web.config.file=${file}`, '--web.listen-address=127.0.0.1:0');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`checkpoint: invalid configuration:\n${message(file)}\n`);
  });

  test('a missing web config file exits 2', async () => {
    const run = await checkpoint(`--config.file=${configFile}`, `--web.config.file=${path.join(dir, 'nowhere.yml')}`);
    expect(run).toMatchObject({ code: 2, stderr: `checkpoint: invalid configuration:\n${path.join(dir, 'nowhere.yml')}: cannot read web config file: ENOENT\n` });
  });

  test('--config.check checks it too', async () => {
    const file = await webConfig('web-check.yml', `tls_server_config:\n  cert_file: ${pki.server.certPath}\n  key_file: ${pki.server.keyPath}\n`);
    const run = await checkpoint(`--config.file=${configFile}`, `--web.config.file=${file}`, '--config.check');
    expect(run).toMatchObject({ code: 0, stdout: `${configFile}: OK (1 modules, 0 monitors)\n${file}: OK\n` });
  });

  test('serves HTTPS with basic auth', async () => {
    const file = await webConfig(
      'web.yml',
      `tls_server_config:\n  cert_file: ${pki.server.certPath}\n  key_file: ${pki.server.keyPath}\nbasic_auth_users:\n  prometheus: ${bcrypt.hashSync('scrape-secret', 4)}\n`,
    );
    const port = await freePort();
    const child = spawn(BIN, [`--config.file=${configFile}`, `--web.config.file=${file}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      const url = `https://127.0.0.1:${port}/-/healthy`;
      let denied: SimpleResponse | undefined;
      for (let i = 0; i < 100 && !denied; i++) {
        denied = await request(url, { ca: pki.caCert }).catch(() => undefined);
        if (!denied) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(denied).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Basic' } });
      const authorization = `Basic ${Buffer.from('prometheus:scrape-secret').toString('base64')}`;
      expect((await request(url, { ca: pki.caCert, headers: { authorization } })).status).toBe(200);
      expect(log).toMatch(/msg=Listening .*tls=true basic_auth=true/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('the server', () => {
  let child: ChildProcess;
  let url: string;
  let log = '';

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(BIN, [`--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${port}`, '--log.format=json'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`${url}/-/healthy`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`checkpoint did not start:\n${log}`);
  });

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  test('logs JSON with --log.format=json', () => {
    const first = JSON.parse(log.replace(/\n.*/s, '')) as Record<string, unknown>;
    expect(first).toMatchObject({ level: 'info', msg: 'Starting checkpoint' });
  });

  test('SIGHUP reloads the config file', async () => {
    await writeFile(
      configFile,
      `modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\nmonitors:\n  - name: after-reload\n    module: http_2xx\n    target: ${targets.http}/ok\n`,
    );
    child.kill('SIGHUP');
    let monitors: unknown[] = [];
    for (let i = 0; i < 100 && monitors.length === 0; i++) {
      monitors = (await fetch(`${url}/sd`).then((r) => r.json())) as unknown[];
      if (monitors.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(monitors).toHaveLength(1);
  });

  test('SIGTERM stops it cleanly', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toContain('"msg":"Shutting down"');
  });
});
