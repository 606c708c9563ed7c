/**
 * Attacks that try to exhaust the built checkpoint: deadlines from a forged scrape timeout header,
 * probes nobody waits for, endless bodies, headers that never come, and a regular expression that
 * backtracks for ever. Each row: attack → expected answer; the process must stay up and answer.
 */
import * as http from 'node:http';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpointProcess, waitFor, type CheckpointProcess } from '../support/checkpoint-process';
import { startEndlessBody, type EndlessBody } from '../support/endless-body';
import { startTargets, type Targets } from '../support/http-targets';
import { parseMetrics, value } from '../support/metrics-text';
import { alive, hasExited } from '../support/processes';

/** `--probe.max-timeout` of the main process: no probe may run longer. */
const MAX_TIMEOUT_SECONDS = 5;

let pki: TestPki;
let targets: Targets;
let endless: EndlessBody;
let cp: CheckpointProcess;

// http_open has no timeout of its own, so only the header and --probe.max-timeout bound it.
const CONFIG = `
modules:
  http_open:
    prober: http
    http: {preferred_ip_protocol: ip4}
  http_short:
    prober: http
    timeout: 2s
    http: {preferred_ip_protocol: ip4}
  http_body_regex:
    prober: http
    timeout: 4s
    http: {preferred_ip_protocol: ip4, fail_if_body_not_matches_regexp: ['never-in-the-body']}
  http_catastrophic:
    prober: http
    timeout: 2s
    http: {preferred_ip_protocol: ip4, fail_if_body_not_matches_regexp: ['(a+)+$']}
`;

beforeAll(async () => {
  pki = await makeTestPki();
  [targets, endless] = await Promise.all([startTargets(pki), startEndlessBody()]);
  cp = await startCheckpointProcess(CONFIG, { flags: [`--probe.max-timeout=${MAX_TIMEOUT_SECONDS}s`] });
}, 60_000);

afterAll(async () => {
  await cp?.stop();
  await Promise.all([targets?.close(), endless?.close()]);
  await pki?.cleanup();
});

const probePath = (module: string, target: string, extra = '') => `/probe?module=${module}&target=${encodeURIComponent(target)}${extra}`;

async function selfMetric(process: CheckpointProcess, name: string): Promise<number | undefined> {
  return value(parseMetrics((await process.get('/metrics')).body), name);
}

/** The process is alive and its event loop answers. */
async function expectHealthy(process: CheckpointProcess): Promise<void> {
  expect(hasExited(process.spawned.child)).toBe(false);
  expect(alive(process.pid)).toBe(true);
  const healthy = await process.get('/-/healthy', { timeoutMs: 20_000 });
  expect(healthy.status).toBe(200);
}

describe('X-Prometheus-Scrape-Timeout-Seconds cannot stretch a probe', () => {
  // [attack, header value, expected: 400 (malformed) or the deadline the probe must run under]
  const headers: [string, string, 400 | { deadline: number }][] = [
    ['huge', '2000000', { deadline: MAX_TIMEOUT_SECONDS }],
    ["past setTimeout's 2^31 ms", '2147484', { deadline: MAX_TIMEOUT_SECONDS }],
    ['negative', '-1', 400],
    ['NaN', 'NaN', 400],
    ['Infinity', 'Infinity', 400],
    ['hexadecimal', '0x10', 400],
    ['overflows a double', '1e400', 400],
    ['zero', '0', 400],
    ['exponent of a huge number', '9e99', { deadline: MAX_TIMEOUT_SECONDS }],
    ['a number with text after it', '10s', 400],
    ['two values', '10, 20', 400],
  ];

  test.each(headers)('%s (%j) → %j', async (_attack, header, expected) => {
    const answer = await cp.get(probePath('http_open', `${targets.http}/ok`), { headers: { 'X-Prometheus-Scrape-Timeout-Seconds': header } });
    if (expected === 400) {
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 400, body: `invalid X-Prometheus-Scrape-Timeout-Seconds header: ${JSON.stringify(header)}\n` });
    } else {
      expect(answer.status).toBe(200);
      const timeout = value(parseMetrics(answer.body), 'probe_timeout_seconds');
      expect(timeout).toBe(expected.deadline);
    }
  });

  test('no header at all → the deadline is --probe.max-timeout, not 120 s', async () => {
    const answer = await cp.get(probePath('http_open', `${targets.http}/ok`));
    expect(value(parseMetrics(answer.body), 'probe_timeout_seconds')).toBe(MAX_TIMEOUT_SECONDS);
  });
});

describe('a probe nobody waits for', () => {
  // Its own process with a long cap: the probe can end only because the client went away, not
  // because a deadline came first within the time this test waits.
  let longCap: CheckpointProcess;
  beforeAll(async () => {
    longCap = await startCheckpointProcess(CONFIG, { flags: ['--probe.max-timeout=600s'] });
  }, 60_000);
  afterAll(() => longCap?.stop());

  test("a probe of a silent target whose client disconnects is aborted: checkpoint_probes_in_flight returns to 0 and the target's socket is closed", async () => {
    const socketsBefore = targets.openSockets();
    const url = `${longCap.url}${probePath('http_open', `http://${targets.blackHole}/`)}`;
    const client = http.get(url, { agent: false, headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '500' } });
    client.on('error', () => undefined);
    try {
      await waitFor('the probe to start', async () => ((await selfMetric(longCap, 'checkpoint_probes_in_flight')) === 1 ? true : undefined));
      await waitFor('the probe to reach the silent target', async () => (targets.openSockets() > socketsBefore ? true : undefined));
    } finally {
      client.destroy();
    }
    await waitFor('checkpoint_probes_in_flight to return to 0', async () => ((await selfMetric(longCap, 'checkpoint_probes_in_flight')) === 0 ? true : undefined), 60_000);
    await waitFor("the silent target's socket to close", async () => (targets.openSockets() <= socketsBefore ? true : undefined), 60_000);
    await expectHealthy(longCap);
  });
});

describe('bodies and headers that never end', () => {
  test('an endless body, no regex: the probe ends at its deadline, reading in constant memory, and the process survives', async () => {
    const answer = await cp.get(probePath('http_short', endless.url), { timeoutMs: 60_000 });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^probe_success 0$/m);
    expect(answer.body).toMatch(/^probe_failure_reason\{reason="timeout"\} 1$/m);
    expect(answer.body).toMatch(/^probe_timeout_seconds 2$/m);
    await expectHealthy(cp);
    await waitFor('the checkpoint to stop reading the endless body', async () => (endless.streaming() === 0 ? true : undefined));
  });

  test('an endless body with a body regex and no body_size_limit: the probe fails naming the 16 MiB limit', async () => {
    const answer = await cp.get(probePath('http_body_regex', endless.url, '&debug=true'), { timeoutMs: 60_000 });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^probe_success 0$/m);
    expect(answer.body).not.toContain('probe_failure_reason{reason="timeout"} 1');
    expect(answer.body).toMatch(/16 ?MiB|16777216/);
    await expectHealthy(cp);
  });

  test('a target that accepts and never sends headers: the probe fails with reason timeout at its deadline', async () => {
    const answer = await cp.get(probePath('http_short', `http://${targets.blackHole}/`), { timeoutMs: 60_000 });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('probe_failure_reason{reason="timeout"} 1');
    expect(value(parseMetrics(answer.body), 'probe_timeout_seconds')).toBe(2);
  });
});

describe('a regular expression that backtracks for ever', () => {
  // Its own process: if a match blocks the event loop, nothing else in it can run again.
  let victim: CheckpointProcess;
  beforeAll(async () => {
    victim = await startCheckpointProcess(CONFIG, { flags: [`--probe.max-timeout=${MAX_TIMEOUT_SECONDS}s`] });
  }, 60_000);
  afterAll(() => victim?.stop());

  // With JavaScript's backtracking RegExp, (a+)+$ against 40 'a's and a '!' takes about 2^40
  // steps and blocks the checkpoint's event loop: /-/healthy would never answer. RE2 is linear.
  test('(a+)+$ against "aaaa…a!" fired several times at once: /-/healthy keeps answering', async () => {
    const body = `${'a'.repeat(40)}!`;
    const target = `${targets.http}/body?text=${encodeURIComponent(body)}`;
    const probes = Array.from({ length: 4 }, () => victim.get(probePath('http_catastrophic', target), { timeoutMs: 60_000 }).catch((error: Error) => error));
    // Wait until the probes are running, so /-/healthy is asked while they match.
    await waitFor('the probes to start', async () => {
      const requested = targets.requests.filter((request) => request.url.startsWith('/body?text=aaaa')).length;
      return requested > 0 ? true : undefined;
    });
    const healthy = await victim.get('/-/healthy', { timeoutMs: 20_000 }).catch((error: Error) => error);
    expect(healthy).toMatchObject({ status: 200 });
    const answers = await Promise.all(probes);
    for (const answer of answers) expect(answer).toMatchObject({ status: 200 });
  });
});
