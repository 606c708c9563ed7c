/**
 * Drives a prober the way the checkpoint does: the module from YAML through parseConfig (so the
 * schema fills the defaults), the probe through runProbe, the answer read from the exposition
 * text. Also the leak checks every prober suite runs after each test.
 */
import { getEventListeners } from 'node:events';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import type { FailureReason } from '../../src/probe/failure';
import { runProbe, type ProbeResult } from '../../src/probe/run';
import { targetPolicies } from '../../src/security/allowed-targets';
import { metricNames, parseMetrics, value, type Labels } from './metrics-text';

export interface ProbeOptions {
  /** Module keys beside `prober:` and the prober's section (retries, timeout), as YAML. */
  moduleKeys?: string;
  hostname?: string;
  deadlineSeconds?: number;
}

export interface Probed {
  result: ProbeResult;
  metrics: Map<string, number>;
  names: Set<string>;
  reason: FailureReason | undefined;
  /** The probe log as logfmt lines, for checks that a step was logged or a secret was not. */
  logText: string;
  /** The value of a series; `undefined` when absent. */
  get(name: string, labels?: Labels): number | undefined;
}

/** Probes `target` with a module of `prober` whose section is `section` (YAML, may be empty). */
export async function probeWith(prober: string, target: string, section = '', options: ProbeOptions = {}): Promise<Probed> {
  const body = dedent(section || '{}');
  const moduleYaml = [`prober: ${prober}`, ...(options.moduleKeys ? [dedent(options.moduleKeys)] : []), `${prober}:`, ...body.split('\n').map((line) => `  ${line}`)].join('\n');
  // The target is declared by a monitor, as in production, so that a module restricted to its
  // allowed targets (a secret, a browser) probes it, and its redirects and navigations are held to them.
  const monitor = `monitors:\n  - {name: under_test, module: under_test, target: ${JSON.stringify(target)}}\n`;
  const config = parseConfig(`modules:\n  under_test:\n${moduleYaml.replace(/^/gm, '    ')}\n${monitor}`, `${prober}.test.yml`, builtInProbers, {
    // A secret file that vanished after the config loaded must still fail cleanly at probe time:
    // the suites test that path, tests/config the check at load.
    checkSecretSources: false,
  });
  const parsed = builtInProbers.definition(prober).parseTarget(target);
  if ('problem' in parsed) throw new Error(parsed.problem);
  const module = config.modules.under_test;
  if (!module) throw new Error('the test config has no module under_test');
  const result = await runProbe({
    moduleName: 'under_test',
    module,
    prober: await builtInProbers.prober(prober),
    target,
    parsedTarget: parsed.target,
    hostname: options.hostname,
    deadlineSeconds: options.deadlineSeconds ?? 10,
    destinations: targetPolicies(config, builtInProbers).get('under_test'),
  });
  const text = result.registry.metrics();
  const metrics = parseMetrics(text);
  // The runtime's promises, checked on every probe of every suite.
  expect(value(metrics, 'probe_success')).toBe(result.success ? 1 : 0);
  if (result.success) {
    expect(result.failure).toBeUndefined();
    expect([...metrics.keys()].filter((key) => key.startsWith('probe_failure_reason'))).toEqual([]);
  } else {
    expect(value(metrics, 'probe_failure_reason', { reason: result.failure!.reason })).toBe(1);
  }
  return {
    result,
    metrics,
    names: metricNames(text),
    reason: result.failure?.reason,
    logText: result.log.toText(),
    get: (name, labels) => value(metrics, name, labels),
  };
}

/** Strips the indentation of a template literal so modules can be written in place. */
export function dedent(text: string): string {
  const lines = text
    .replace(/^\n/, '')
    .replace(/\n\s*$/, '')
    .split('\n');
  const indent = Math.min(...lines.filter((line) => line.trim() !== '').map((line) => /^ */.exec(line)![0].length));
  return lines.map((line) => line.slice(indent)).join('\n');
}

/** Open socket handles of this process, client and server side alike. */
export function socketResources(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TLSWrap').length;
}

/**
 * Records the deadline signal of every probe from now on, so a suite can check after each test
 * that no listener was left on it (a listener per hop or phase adds up to Node's
 * MaxListenersExceededWarning). Call in beforeAll; `restore` in afterAll.
 */
export function recordProbeSignals(): { signals: AbortSignal[]; listenersLeft(): number[]; restore(): void } {
  const signals: AbortSignal[] = [];
  const RealAbortController = globalThis.AbortController;
  globalThis.AbortController = class RecordingAbortController extends RealAbortController {
    constructor() {
      super();
      signals.push(this.signal);
    }
  };
  return {
    signals,
    listenersLeft: () => signals.splice(0).map((signal) => getEventListeners(signal, 'abort').length),
    restore: () => {
      globalThis.AbortController = RealAbortController;
    },
  };
}

/**
 * Waits up to `ms` for `settled` to hold (sockets close a little after a probe ends), then returns
 * whether it does, for an `expect` with a readable diff.
 */
export async function eventually(settled: () => boolean | Promise<boolean>, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await settled()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return settled();
}
