/**
 * Attacks on the built checkpoint's config: reloading it from outside (the lifecycle API, a
 * browser page of another site), wiping it by writing an empty or half-written file over it, and
 * module names that are properties of every JavaScript object. Each row: attack → expected answer.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTestPki, type TestPki } from '../support/certs';
import { runCheckpoint, startCheckpointProcess, waitFor, type CheckpointProcess } from '../support/checkpoint-process';
import { startTargets, type Targets } from '../support/http-targets';
import { parseMetrics, value } from '../support/metrics-text';

let pki: TestPki;
let targets: Targets;
/** Started without --web.enable-lifecycle. */
let closed: CheckpointProcess;
/** Started with --web.enable-lifecycle. */
let open: CheckpointProcess;

const GOOD = 'modules:\n  http_ok:\n    prober: http\n    timeout: 2s\n    http:\n      preferred_ip_protocol: ip4\n';
const withMonitor = (name: string) => `${GOOD}monitors:\n  - {name: ${name}, module: http_ok, target: '${targets.http}/ok'}\n`;

beforeAll(async () => {
  pki = await makeTestPki();
  targets = await startTargets(pki);
  [closed, open] = await Promise.all([
    startCheckpointProcess(GOOD, { flags: ['--probe.max-timeout=5s'] }),
    startCheckpointProcess(GOOD, { flags: ['--probe.max-timeout=5s', '--web.enable-lifecycle'] }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([closed?.stop(), open?.stop()]);
  await targets?.close();
  await pki?.cleanup();
});

async function lastReloadSuccessful(cp: CheckpointProcess): Promise<number | undefined> {
  return value(parseMetrics((await cp.get('/metrics')).body), 'checkpoint_config_last_reload_successful');
}

/** The `monitor` label of each /sd group, undefined for a group without one. */
async function monitorNames(cp: CheckpointProcess): Promise<(string | undefined)[]> {
  const groups = JSON.parse((await cp.get('/sd')).body) as { labels: Record<string, string> }[];
  return groups.map((group) => group.labels.monitor);
}

describe('the lifecycle API', () => {
  test.each([
    ['POST /-/reload without --web.enable-lifecycle', 403, 'POST', {}, 'Lifecycle API is not enabled.\n'],
    ['GET /-/reload without --web.enable-lifecycle', 403, 'GET', {}, 'Lifecycle API is not enabled.\n'],
  ])('%s → %i', async (_attack, status, method, headers, body) => {
    const answer = await closed.get('/-/reload', { method, headers });
    expect({ status: answer.status, body: answer.body }).toEqual({ status, body });
  });

  test('SIGHUP still reloads without the flag', async () => {
    await closed.writeConfig(withMonitor('after-sighup'));
    process.kill(closed.pid, 'SIGHUP');
    expect(await waitFor('the SIGHUP reload', async () => ((await monitorNames(closed)).includes('after-sighup') ? true : undefined))).toBe(true);
  });

  // [attack, expected status, method, headers, expected body]
  const withFlag: [string, number, string, Record<string, string>, string][] = [
    ['GET /-/reload', 405, 'GET', {}, 'Only POST requests allowed\n'],
    ['POST /-/reload', 200, 'POST', {}, 'Config reloaded\n'],
    ['POST from a page of another site (Sec-Fetch-Site: cross-site)', 403, 'POST', { 'Sec-Fetch-Site': 'cross-site' }, 'Cross-site request refused: Sec-Fetch-Site is cross-site\n'],
    ['POST from a sibling subdomain (Sec-Fetch-Site: same-site)', 403, 'POST', { 'Sec-Fetch-Site': 'same-site' }, 'Cross-site request refused: Sec-Fetch-Site is same-site\n'],
    ['POST with Origin: http://evil.example', 403, 'POST', { Origin: 'http://evil.example' }, 'Cross-site request refused: Origin http://evil.example is not this server\n'],
    ['POST with Origin: null (a sandboxed page)', 403, 'POST', { Origin: 'null' }, 'Cross-site request refused: Origin "null" is not a URL\n'],
    ['POST typed by the admin (Sec-Fetch-Site: none)', 200, 'POST', { 'Sec-Fetch-Site': 'none' }, 'Config reloaded\n'],
  ];

  test.each(withFlag)('with --web.enable-lifecycle: %s → %i', async (_attack, status, method, headers, body) => {
    const answer = await open.get('/-/reload', { method, headers });
    expect({ status: answer.status, body: answer.body }).toEqual({ status, body });
  });

  test("with --web.enable-lifecycle: POST with the checkpoint's own Origin → 200", async () => {
    const answer = await open.get('/-/reload', { method: 'POST', headers: { Origin: open.url } });
    expect(answer.status).toBe(200);
  });
});

describe('a config that cannot wipe itself', () => {
  // [what is written over the running config, the first line --config.check must print]
  const broken: [string, string, (file: string) => RegExp][] = [
    ['an empty file', '', (f) => new RegExp(`^${f}:1:1: the config file is empty: it must define modules:$`, 'm')],
    ['a file of only a comment', '# being rewritten\n', (f) => new RegExp(`^${f}:1:1: the config file is empty`, 'm')],
    ['modules: {}', 'modules: {}\n', (f) => new RegExp(`^${f}:1:10: modules: no modules defined`, 'm')],
    ['truncated YAML (an unclosed flow sequence)', 'modules:\n  http_ok:\n    prober: http\n    http: {valid_status_codes: [200,', (f) => new RegExp(`^${f}:\\d+:\\d+: invalid YAML`, 'm')],
    ['truncated in the middle of a value', 'modules:\n  http_ok:\n    prober: ht', (f) => new RegExp(`^${f}:3:13: modules.http_ok.prober: "ht" is not one of`, 'm')],
    ['truncated after the modules: key', 'modules:\n', (f) => new RegExp(`^${f}:\\d+:\\d+: modules: `, 'm')],
  ];

  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-security-wipe-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test.each(broken)('%s: --config.check exits 2 with file:line:col', async (_case, yaml, message) => {
    const file = path.join(dir, 'broken.yml');
    await writeFile(file, yaml);
    const run = await runCheckpoint([`--config.file=${file}`, '--config.check']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message('broken.yml'));
    expect(run.stderr).not.toMatch(/TypeError|\n\s+at /);
  });

  test.each(broken)('%s over the running config: SIGHUP and POST /-/reload are refused, the old module still probes', async (_case, yaml) => {
    // A good config first, so that each row starts from a successful reload.
    await open.writeConfig(withMonitor('before-wipe'));
    expect((await open.get('/-/reload', { method: 'POST' })).status).toBe(200);
    expect(await lastReloadSuccessful(open)).toBe(1);

    await open.writeConfig(yaml);
    process.kill(open.pid, 'SIGHUP');
    await waitFor('the SIGHUP reload to fail', async () => ((await lastReloadSuccessful(open)) === 0 ? true : undefined));
    const posted = await open.get('/-/reload', { method: 'POST' });
    expect(posted.status).toBe(500);
    expect(posted.body).toMatch(/^Failed to reload config, the running config stays:\ncheckpoint\.yml:\d+:\d+: /);
    expect(await lastReloadSuccessful(open)).toBe(0);

    expect(await monitorNames(open)).toEqual(['before-wipe']);
    const probed = await open.get(`/probe?module=http_ok&target=${encodeURIComponent(`${targets.http}/ok`)}`);
    expect(probed.status).toBe(200);
    expect(probed.body).toMatch(/^probe_success 1$/m);
  });
});

describe('module names that every JavaScript object has', () => {
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

  test.each(names)('/probe?module=%s → 400 Unknown module', async (name) => {
    const answer = await closed.get(`/probe?module=${encodeURIComponent(name)}&target=${encodeURIComponent(`${targets.http}/ok`)}`);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 400, body: `Unknown module ${JSON.stringify(name)}\n` });
  });

  test.each(names)('--config.check on a monitor of module %s → exit 2, file:line:col, no TypeError', async (name) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-security-proto-'));
    try {
      const file = path.join(dir, 'proto.yml');
      await writeFile(file, `${GOOD}monitors:\n  - name: m\n    module: ${name}\n    target: http://127.0.0.1/\n`);
      const run = await runCheckpoint([`--config.file=${file}`, '--config.check']);
      expect(run).toEqual({ code: 2, stdout: '', stderr: `checkpoint: invalid configuration:\nproto.yml:9:13: monitors.0.module: unknown module "${name}"\n` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
