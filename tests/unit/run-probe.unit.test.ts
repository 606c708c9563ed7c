/**
 * The rules every probe follows whatever its prober (src/probe/run.ts): retries within one
 * deadline, the deadline and a departed client as `timeout`, a throwing prober as `internal`,
 * and the runtime's own metrics. Driven with tiny probers written here, no protocol needed.
 */
import type { ModuleConfig } from '../../src/config/schema';
import { ProbeFailure } from '../../src/probe/failure';
import type { Prober } from '../../src/probe/prober';
import { runProbe, type ProbeResult } from '../../src/probe/run';
import { parseMetrics, value } from '../support/metrics-text';

function moduleWith(retries: number): ModuleConfig {
  return { prober: 'fake', retries, fake: {} };
}

async function run(prober: Prober, options: { retries?: number; deadlineSeconds?: number; clientGone?: AbortSignal } = {}) {
  const result = await runProbe({
    moduleName: 'under_test',
    module: moduleWith(options.retries ?? 0),
    prober,
    target: 'anything',
    parsedTarget: { parsed: 'anything' },
    deadlineSeconds: options.deadlineSeconds ?? 10,
    clientGone: options.clientGone,
  });
  return { result, metrics: parseMetrics(result.registry.metrics()) };
}

/** Resolves when the probe's signal fires: a prober that waits on the network until the deadline. */
const waitsForAbort: Prober = (probe) =>
  new Promise((resolve) => {
    const aborted = () => resolve(probe.fail('connect', 'connection aborted'));
    if (probe.signal.aborted) aborted();
    else probe.signal.addEventListener('abort', aborted, { once: true });
  });

function expectFailure(result: ProbeResult, reason: string, message: RegExp) {
  expect(result.success).toBe(false);
  expect(result.failure?.reason).toBe(reason);
  expect(result.failure?.message).toMatch(message);
}

test('a success reports the runtime metrics, with the settings and the parsed target passed through', async () => {
  const seen: unknown[] = [];
  const { result, metrics } = await run(async (probe) => {
    seen.push(probe.target, probe.settings);
    return true;
  });
  expect(seen).toEqual([{ parsed: 'anything' }, {}]);
  expect(result).toMatchObject({ success: true, attempts: 1, prober: 'fake', moduleName: 'under_test' });
  expect(value(metrics, 'probe_success')).toBe(1);
  expect(value(metrics, 'probe_attempts')).toBe(1);
  expect(value(metrics, 'probe_timeout_seconds')).toBe(10);
  expect(value(metrics, 'probe_duration_seconds')).toBeGreaterThanOrEqual(0);
  expect([...metrics.keys()].some((key) => key.startsWith('probe_failure_reason'))).toBe(false);
});

test("a failed attempt is retried up to `retries` times; the last attempt's own metrics are the answer", async () => {
  let attempts = 0;
  const { result, metrics } = await run(
    async (probe) => {
      attempts++;
      probe.registry.gauge(`fake_attempt_${attempts}`, 'which attempt wrote this registry').set(1);
      if (attempts < 3) return probe.fail('connect', `refused on attempt ${attempts}`);
      return true;
    },
    { retries: 5 },
  );
  expect(attempts).toBe(3);
  expect(result.success).toBe(true);
  expect(value(metrics, 'probe_attempts')).toBe(3);
  expect([...metrics.keys()].filter((key) => key.startsWith('fake_attempt'))).toEqual(['fake_attempt_3']);
  expect(result.log.toText()).toContain('Probe attempt failed, trying again');
});

test('retries run out: the first failure of the last attempt is the reason', async () => {
  const { result, metrics } = await run((probe) => Promise.resolve(probe.fail('status_code', 'status 500') || probe.fail('protocol', 'later problem')), { retries: 2 });
  expectFailure(result, 'status_code', /^status 500$/);
  expect(result.attempts).toBe(3);
  expect(value(metrics, 'probe_failure_reason', { reason: 'status_code' })).toBe(1);
});

test('the deadline ends the probe as `timeout`, whatever the prober saw, and stops the retries', async () => {
  let attempts = 0;
  const { result, metrics } = await run(
    (probe) => {
      attempts++;
      return waitsForAbort(probe);
    },
    { retries: 3, deadlineSeconds: 0.05 },
  );
  expectFailure(result, 'timeout', /^deadline of 0.05s reached \(connection aborted\)$/);
  expect(attempts).toBe(1);
  expect(value(metrics, 'probe_timeout_seconds')).toBe(0.05);
});

test('a client that went away stops the probe as `timeout`, saying so', async () => {
  const gone = new AbortController();
  const probing = run(
    (probe) => {
      gone.abort();
      return waitsForAbort(probe);
    },
    { clientGone: gone.signal },
  );
  expectFailure((await probing).result, 'timeout', /^the client went away before the probe finished/);
});

test('a prober that throws fails as `internal`; one that returns false silently too', async () => {
  expectFailure((await run(() => Promise.reject(new Error('bug')))).result, 'internal', /prober threw: Error: bug/);
  expectFailure((await run(() => Promise.resolve(false))).result, 'internal', /without saying why/);
});

describe('a prober may throw instead of returning probe.fail(): the runtime words the failure', () => {
  test('a ProbeFailure ends the probe with its reason and message', async () => {
    expectFailure((await run(() => Promise.reject(new ProbeFailure('auth', 'password refused')))).result, 'auth', /^password refused$/);
  });

  test('anything thrown after the deadline is a timeout in the phase the probe was in', async () => {
    const stuckInConnect: Prober = async (probe) => {
      const timer = probe.phases('fake', ['resolve', 'connect']);
      await timer.time('resolve', async () => undefined);
      await timer.time('connect', () => new Promise((_, reject) => probe.signal.addEventListener('abort', () => reject(new ProbeFailure('connect', 'socket reset')), { once: true })));
      return true;
    };
    const { result, metrics } = await run(stuckInConnect, { deadlineSeconds: 0.05 });
    expectFailure(result, 'timeout', /^deadline reached in the connect phase$/);
    expect(value(metrics, 'probe_fake_duration_seconds', { phase: 'connect' })).toBeGreaterThan(0);
  });

  test('a ProbeFailure that is itself a timeout keeps its own words', async () => {
    const cancelled: Prober = (probe) =>
      new Promise((_, reject) => probe.signal.addEventListener('abort', () => reject(new ProbeFailure('timeout', 'deadline reached; the server was asked to cancel')), { once: true }));
    expectFailure((await run(cancelled, { deadlineSeconds: 0.05 })).result, 'timeout', /^deadline reached; the server was asked to cancel$/);
  });

  test('a throw after the deadline outside any phase says so', async () => {
    const noPhases: Prober = (probe) => new Promise((_, reject) => probe.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    expectFailure((await run(noPhases, { deadlineSeconds: 0.05 })).result, 'timeout', /^deadline reached$/);
  });

  test('a client that went away while a phase ran: stopped in that phase, not a deadline', async () => {
    const gone = new AbortController();
    const stuck: Prober = async (probe) => {
      const timer = probe.phases('fake', ['connect']);
      await timer.time('connect', () => {
        const closed = new Promise((_, reject) => probe.signal.addEventListener('abort', () => reject(new Error('socket closed')), { once: true }));
        gone.abort();
        return closed;
      });
      return true;
    };
    expectFailure((await run(stuck, { clientGone: gone.signal })).result, 'timeout', /^the client went away before the probe finished, so it was stopped \(stopped in the connect phase\)$/);
  });
});
