/** The checkpoint's HTTP endpoints, against a real server and real probe targets on loopback. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpoint, type RunningCheckpoint } from '../support/checkpoint-server';
import { AUTH_PASSWORD, startTargets, type Targets } from '../support/http-targets';
import { stringContaining } from '../support/matchers';
import { parseMetrics, value } from '../support/metrics-text';
import { eventually } from '../support/probe-harness';

let pki: TestPki;
let targets: Targets;
let secretsDir: string;
let passwordFile: string;
let running: RunningCheckpoint;

function configYaml(extraModules = ''): string {
  return `
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  slow:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
  patient:
    prober: http
    timeout: 60s
    http:
      preferred_ip_protocol: ip4
  auth_file:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      headers:
        Authorization: "Bearer header-secret-91b2"
      basic_auth:
        username: probe
        password_file: ${passwordFile}
  auth_inline:
    prober: http
    timeout: 5s
    allowed_targets: [127.0.0.1]
    http:
      preferred_ip_protocol: ip4
      basic_auth:
        username: probe
        password: ${AUTH_PASSWORD}
${extraModules}
monitors:
  - name: web
    module: http_2xx
    target: ${targets.http}/ok
    labels:
      team: web
  - name: protected
    module: auth_file
    target: ${targets.http}/auth
`;
}

async function get(pathAndQuery: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${running.url}${pathAndQuery}`, { headers });
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

/**
 * Sockets that suites before this one in the same jest worker left behind (the smoke test's relay
 * leaves some in libuv's hands): not this suite's to judge. Its own must all be gone at the end.
 */
let socketsBefore: string[] = [];

beforeAll(async () => {
  await eventually(() => networkResources().length === 0, 5000);
  socketsBefore = networkResources();
  pki = await makeTestPki();
  targets = await startTargets(pki);
  secretsDir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-secrets-'));
  passwordFile = path.join(secretsDir, 'password');
  await writeFile(passwordFile, `${AUTH_PASSWORD}\n`);
  running = await startCheckpoint(configYaml(), { historyLimit: 3, enableLifecycle: true });
});

afterAll(async () => {
  await running?.stop();
  await targets?.close();
  await pki?.cleanup();
  await rm(secretsDir, { recursive: true, force: true });
  // Nothing a probe opened may outlive it: no socket, no server left behind.
  await eventually(() => networkResources().length <= socketsBefore.length);
  expect(networkResources().length).toBeLessThanOrEqual(socketsBefore.length);
});

function networkResources(): string[] {
  return process.getActiveResourcesInfo().filter((resource) => ['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap'].includes(resource));
}

describe('/probe', () => {
  test('answers the probe metrics in the text exposition format', async () => {
    const response = await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}`);
    expect(response.status).toBe(200);
    expect(response.type).toContain('text/plain; version=0.0.4');
    const metrics = parseMetrics(response.text);
    expect(value(metrics, 'probe_success')).toBe(1);
    expect(value(metrics, 'probe_http_status_code')).toBe(200);
    expect(value(metrics, 'probe_failure_reason', { reason: 'status_code' })).toBeUndefined();
  });

  test('takes http_2xx when no module is given, as blackbox_exporter does', async () => {
    const response = await get(`/probe?target=${encodeURIComponent(`${targets.http}/ok`)}`);
    expect(value(parseMetrics(response.text), 'probe_success')).toBe(1);
  });

  test('a failed probe says why on the closed set of reasons', async () => {
    const response = await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/status/503`)}`);
    const metrics = parseMetrics(response.text);
    expect(value(metrics, 'probe_success')).toBe(0);
    expect(value(metrics, 'probe_failure_reason', { reason: 'status_code' })).toBe(1);
  });

  test('the deadline follows the scrape timeout header less the offset, capped by the module timeout', async () => {
    const target = encodeURIComponent(`${targets.http}/ok`);
    const fromHeader = parseMetrics((await get(`/probe?module=http_2xx&target=${target}`, { 'X-Prometheus-Scrape-Timeout-Seconds': '2' })).text);
    expect(value(fromHeader, 'probe_timeout_seconds')).toBe(1.5);
    const fromModule = parseMetrics((await get(`/probe?module=http_2xx&target=${target}`, { 'X-Prometheus-Scrape-Timeout-Seconds': '30' })).text);
    expect(value(fromModule, 'probe_timeout_seconds')).toBe(5);
  });

  test('a slow target fails with reason timeout at the deadline', async () => {
    const response = await get(`/probe?module=slow&target=${encodeURIComponent(`${targets.http}/slow?ms=10000`)}`, { 'X-Prometheus-Scrape-Timeout-Seconds': '1.5' });
    const metrics = parseMetrics(response.text);
    expect(value(metrics, 'probe_success')).toBe(0);
    expect(value(metrics, 'probe_failure_reason', { reason: 'timeout' })).toBe(1);
    expect(value(metrics, 'probe_duration_seconds')).toBeLessThan(1.9);
  });

  test.each<[string, string, number, string]>([
    ['an unknown module', '/probe?module=nope&target=127.0.0.1', 400, 'Unknown module "nope"'],
    ['a missing target', '/probe?module=http_2xx', 400, 'Target parameter is missing'],
    ['a malformed target', '/probe?module=http_2xx&target=http%3A%2F%2F', 400, 'is not a URL'],
    ['a scheme the module does not support', '/probe?module=http_2xx&target=ftp%3A%2F%2Ffiles.example', 400, 'target scheme "ftp" is not supported by the http prober'],
    ['credentials in the target', '/probe?module=http_2xx&target=http%3A%2F%2Fu%3Ap%40example.com', 400, 'credentials do not belong in a target'],
    ...['constructor', '__proto__', 'toString', 'hasOwnProperty'].map((name): [string, string, number, string] => [
      `the module name ${name}`,
      `/probe?module=${name}&target=127.0.0.1`,
      400,
      `Unknown module "${name}"`,
    ]),
  ])('%s is refused with a clear message', async (_case, url, status, message) => {
    const response = await get(url);
    expect(response.status).toBe(status);
    expect(response.text).toContain(message);
  });

  test('a target no monitor of a module with a secret declares is refused with 403 and counted', async () => {
    const undeclared = `${targets.http}/ok`;
    const requestsBefore = targets.requests.length;
    const response = await get(`/probe?module=auth_file&target=${encodeURIComponent(undeclared)}`);
    expect([response.status, response.text]).toEqual([403, 'target not allowed: module "auth_file" may reach only the targets of its monitors and its allowed_targets (it carries a secret)\n']);
    expect(value(parseMetrics((await get('/metrics')).text), 'checkpoint_probes_forbidden_total', { module: 'auth_file' })).toBe(1);
    expect(targets.requests.length).toBe(requestsBefore);
    // The declared target of the same module is probed.
    expect((await get(`/probe?module=auth_file&target=${encodeURIComponent(`${targets.http}/auth`)}`)).text).toContain('probe_success 1');
  });

  test("a hostname parameter outside a restricted module's allowed hosts is refused: it would set the Host header and the name TLS verifies", async () => {
    const declared = encodeURIComponent(`${targets.http}/auth`);
    const requestsBefore = targets.requests.length;
    const refused = await get(`/probe?module=auth_file&target=${declared}&hostname=evil.example`);
    expect([refused.status, refused.text]).toEqual([403, 'hostname not allowed: module "auth_file" may reach only the targets of its monitors and its allowed_targets (it carries a secret)\n']);
    expect(targets.requests.length).toBe(requestsBefore);
    expect((await get(`/probe?module=auth_file&target=${declared}&hostname=127.0.0.1`)).text).toContain('probe_success 1');
  });

  test.each(['evil.example/path', 'a b', 'host\r\nX-Injected: 1', ''])('a hostname parameter %j that is not a host name is refused with 400', async (hostname) => {
    const response = await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}&hostname=${encodeURIComponent(hostname)}`);
    expect([response.status, response.text]).toEqual([400, `hostname parameter ${JSON.stringify(hostname)} is not a host name (or host:port)\n`]);
  });

  test('a probe whose client went away stops, and says so in its log', async () => {
    const client = new AbortController();
    const target = `${targets.http}/slow?ms=50000`;
    const answer = fetch(`${running.url}/probe?module=patient&target=${encodeURIComponent(target)}`, { signal: client.signal }).catch(() => undefined);
    expect(await eventually(async () => (await get('/metrics')).text.includes('checkpoint_probes_in_flight 1'), 10000)).toBe(true);
    client.abort();
    await answer;
    // Well before the module's 60 s timeout: only the client-gone abort can end it this early.
    expect(await eventually(() => running.checkpoint.history.list().some((entry) => entry.target === target), 20000)).toBe(true);
    const entry = running.checkpoint.history.list().find((candidate) => candidate.target === target)!;
    expect(entry.failure).toEqual({ reason: 'timeout', message: stringContaining('the client went away before the probe finished') });
    expect(value(parseMetrics((await get('/metrics')).text), 'checkpoint_probes_in_flight')).toBe(0);
  });

  test('a malformed scrape timeout header is refused with 400', async () => {
    const response = await get(`/probe?module=http_2xx&target=${encodeURIComponent(targets.http)}`, { 'X-Prometheus-Scrape-Timeout-Seconds': 'soon' });
    expect(response.status).toBe(400);
    expect(response.text).toContain('invalid X-Prometheus-Scrape-Timeout-Seconds header');
  });

  test('debug=true answers the log, the metrics and the module config', async () => {
    const response = await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}&debug=true`);
    expect(response.status).toBe(200);
    expect(response.text).toMatch(/^Logs for the probe:\n.*msg="Beginning probe"/);
    expect(response.text).toContain('msg="Probe succeeded"');
    expect(response.text).toContain('Metrics that would have been returned:\n');
    expect(response.text).toContain('probe_success 1');
    expect(response.text).toContain('Module configuration:\nprober: http');
  });
});

describe('probe history, /logs and the status page', () => {
  test('/logs?id= shows a recent probe; an unknown id is 404', async () => {
    await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}`);
    const [newest] = running.checkpoint.history.list();
    if (!newest) throw new Error('the probe just made is not in the history');
    const logs = await get(`/logs?id=${newest.id}`);
    expect(logs.status).toBe(200);
    expect(logs.text).toContain(`msg="Making HTTP request" url=${targets.http}/ok`);
    expect(logs.text).toContain('Logs for the probe:');
    expect((await get('/logs?id=999999')).status).toBe(404);
    expect((await get('/logs?id=abc')).status).toBe(404);
  });

  test('a failure stays visible after newer successes push it out of the recent list', async () => {
    const failed = `${targets.http}/status/500?marker=kept-failure`;
    await get(`/probe?module=http_2xx&target=${encodeURIComponent(failed)}`);
    for (let i = 0; i < 4; i++) await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}`);
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.text).toContain('kept-failure');
    const keptEntry = running.checkpoint.history.list().find((entry) => entry.target === failed);
    expect(keptEntry?.success).toBe(false);
    expect((await get(`/logs?id=${keptEntry!.id}`)).text).toContain('status code 500 is not valid');
  });

  test('the status page lists modules and monitors with probe links', async () => {
    const page = (await get('/')).text;
    for (const name of ['http_2xx', 'slow', 'auth_file', 'web', 'protected']) expect(page).toContain(`<td>${name}</td>`);
    expect(page).toContain(`probe?module=http_2xx&amp;target=${encodeURIComponent(`${targets.http}/ok`)}&amp;debug=true`);
  });
});

describe('/sd', () => {
  test('serves the monitors as Prometheus HTTP service discovery', async () => {
    const response = await get('/sd');
    expect(response.type).toContain('application/json');
    expect(JSON.parse(response.text)).toEqual([
      { targets: [`${targets.http}/ok`], labels: { team: 'web', monitor: 'web', module: 'http_2xx', __param_module: 'http_2xx' } },
      { targets: [`${targets.http}/auth`], labels: { monitor: 'protected', module: 'auth_file', __param_module: 'auth_file' } },
    ]);
  });
});

describe('secrets', () => {
  test('a password from a file and an inline one authenticate, and appear nowhere we show or log', async () => {
    const byFile = await get(`/probe?module=auth_file&target=${encodeURIComponent(`${targets.http}/auth`)}&debug=true`);
    expect(byFile.text).toContain('probe_success 1');
    const inline = await get(`/probe?module=auth_inline&target=${encodeURIComponent(`${targets.http}/auth`)}&debug=true`);
    expect(inline.text).toContain('probe_success 1');
    expect(inline.text).toContain('password: <secret>');
    expect(byFile.text).toContain('Authorization: <secret>');

    const shown = [byFile.text, inline.text, (await get('/')).text, (await get('/sd')).text, (await get('/metrics')).text, running.logLines.join('\n')];
    for (const id of running.checkpoint.history.list().map((entry) => entry.id)) shown.push((await get(`/logs?id=${id}`)).text);
    const basic = Buffer.from(`probe:${AUTH_PASSWORD}`).toString('base64');
    for (const text of shown) {
      for (const secret of [AUTH_PASSWORD, 'header-secret-91b2', basic]) expect(text).not.toContain(secret);
    }
  });
});

describe('/metrics and the lifecycle endpoints', () => {
  test('/metrics has the checkpoint own metrics and process metrics', async () => {
    const text = (await get('/metrics')).text;
    const metrics = parseMetrics(text);
    expect(value(metrics, 'checkpoint_probes_total', { module: 'http_2xx', prober: 'http', result: 'success' })).toBeGreaterThan(0);
    expect(value(metrics, 'checkpoint_probe_failures_total', { module: 'http_2xx', reason: 'status_code' })).toBeGreaterThan(0);
    expect(value(metrics, 'checkpoint_config_last_reload_successful')).toBe(1);
    expect(value(metrics, 'checkpoint_config_monitors')).toBe(2);
    expect(text).toMatch(/checkpoint_build_info\{version="\d+\.\d+\.\d+",nodejs_version="v20/);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('checkpoint_probe_duration_seconds_bucket');
  });

  test('/-/healthy and /-/ready answer 200', async () => {
    expect(await get('/-/healthy')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'Healthy\n' });
    expect(await get('/-/ready')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'Ready\n' });
    const head = await fetch(`${running.url}/-/healthy`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  test('the fast routes answer their exact paths to GET and HEAD only; anything else reaches the pages, which answer 404', async () => {
    for (const pathAndQuery of ['/probe/', '/PROBE', '/metrics/x', '/nothing-here']) expect((await get(pathAndQuery)).status).toBe(404);
    const post = await fetch(`${running.url}/probe?target=x`, { method: 'POST' });
    expect([post.status, (await post.text()).includes('probe_success')]).toEqual([404, false]);
  });

  test('a repeated query parameter counts as none, as blackbox_exporter refuses it', async () => {
    expect(await get(`/probe?module=http_2xx&target=${encodeURIComponent(targets.http)}&target=${encodeURIComponent(targets.http)}`)).toMatchObject({
      status: 400,
      text: 'Target parameter is missing\n',
    });
  });

  test('a reload with a broken file keeps the old config and says so in a metric; a good one swaps it', async () => {
    await running.writeConfig('modules:\n  broken:\n    prober: http\n    timeout: soon\n');
    const failed = await fetch(`${running.url}/-/reload`, { method: 'POST' });
    expect(failed.status).toBe(500);
    expect(await failed.text()).toContain('checkpoint.yml:4:14: modules.broken.timeout: must be a duration');
    expect(value(parseMetrics((await get('/metrics')).text), 'checkpoint_config_last_reload_successful')).toBe(0);
    expect((await get(`/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}`)).text).toContain('probe_success 1');

    await running.writeConfig(configYaml('  added_later:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n'));
    const reloaded = await fetch(`${running.url}/-/reload`, { method: 'POST' });
    expect(reloaded.status).toBe(200);
    expect(value(parseMetrics((await get('/metrics')).text), 'checkpoint_config_last_reload_successful')).toBe(1);
    expect((await get(`/probe?module=added_later&target=${encodeURIComponent(`${targets.http}/ok`)}`)).text).toContain('probe_success 1');
  });

  test('GET on /-/reload is not a reload', async () => {
    const response = await fetch(`${running.url}/-/reload`);
    expect([response.status, response.headers.get('allow'), await response.text()]).toEqual([405, 'POST', 'Only POST requests allowed\n']);
  });
});

describe('the limit on probes at once', () => {
  test('refuses with 503 and counts the refusal when the limit is reached', async () => {
    const limited = await startCheckpoint(configYaml(), { maxConcurrentProbes: 1 });
    try {
      const slow = fetch(`${limited.url}/probe?module=slow&target=${encodeURIComponent(`${targets.http}/slow?ms=1500`)}`);
      // Wait until the slow probe is really in flight before asking for a second one.
      for (let i = 0; i < 100 && !(await fetch(`${limited.url}/metrics`).then((r) => r.text())).includes('checkpoint_probes_in_flight 1'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const refused = await fetch(`${limited.url}/probe?module=http_2xx&target=${encodeURIComponent(`${targets.http}/ok`)}`);
      expect(refused.status).toBe(503);
      expect(await refused.text()).toContain('too many probes running (--probe.max-concurrent=1)');
      expect(await (await slow).text()).toContain('probe_success 1');
      const metrics = parseMetrics(await fetch(`${limited.url}/metrics`).then((r) => r.text()));
      expect(value(metrics, 'checkpoint_probes_rejected_total')).toBe(1);
      expect(value(metrics, 'checkpoint_probes_in_flight')).toBe(0);
    } finally {
      await limited.stop();
    }
  });
});
