/** A probe's registry (src/probe/probe-registry.ts) writes exactly the text prom-client writes for the same gauges. */
import { Gauge, Registry } from 'prom-client';
import { ProbeRegistry } from '../../src/probe/probe-registry';
import { parseMetrics } from '../support/metrics-text';

/** The same registrations and values, written by a registry of each kind. */
function both(
  fill: (
    gauge: (name: string, help: string, labelNames?: string[]) => { set(v: number): void; inc(v?: number): void; labels(...values: string[]): { set(v: number): void; inc(v?: number): void } },
  ) => void,
) {
  const probe = new ProbeRegistry();
  fill((name, help, labelNames = []) => probe.gauge(name, help, labelNames));
  const reference = new Registry();
  fill((name, help, labelNames = []) => new Gauge({ name, help, labelNames, registers: [reference] }));
  return { ours: probe.metrics(), theirs: reference.metrics() };
}

test('gauges with and without labels, set and added to, unset ones, and no gauge at all', async () => {
  const { ours, theirs } = both((gauge) => {
    gauge('probe_success', 'Displays whether or not the probe was a success').set(1);
    gauge('probe_never_set', 'A gauge without labels is 0 until set');
    const phases = gauge('probe_http_duration_seconds', 'Duration by phase', ['phase']);
    for (const phase of ['resolve', 'connect', 'tls']) phases.labels(phase).set(0);
    phases.labels('connect').inc(0.000123);
    phases.labels('resolve').inc();
    gauge('probe_labelled_never_set', 'No series until one is set', ['reason']);
    const counter = gauge('probe_attempts', 'Added to');
    counter.inc();
    counter.inc(2);
  });
  expect(ours).toBe(await theirs);
  expect(new ProbeRegistry().metrics()).toBe(await new Registry().metrics());
});

test('escapes in help and label values, several labels, and the values Go reads (NaN, infinities, tiny, huge, negative)', async () => {
  const { ours, theirs } = both((gauge) => {
    gauge('probe_help_escapes', 'A back\\slash and a\nnew line').set(-0.5);
    gauge('probe_ssl_last_chain_info', 'Leaf facts', ['fingerprint_sha256', 'subject', 'issuer']).labels('ab:cd', 'CN=a "quoted" \\ name\nnext', '').set(1);
    const values = gauge('probe_values', 'Edge values', ['kind']);
    values.labels('nan').set(NaN);
    values.labels('inf').set(Infinity);
    values.labels('-inf').set(-Infinity);
    values.labels('tiny').set(1e-9);
    values.labels('huge').set(1.7e308);
    values.labels('big integer').set(1_700_000_000_123);
  });
  expect(ours).toBe(await theirs);
  expect(parseMetrics(ours).get('probe_values{kind="nan"}')).toBeNaN();
});

test('a name registered twice or a wrong number of label values is a programming error, as in prom-client', () => {
  const registry = new ProbeRegistry();
  const gauge = registry.gauge('probe_x', 'x', ['a', 'b']);
  expect(() => registry.gauge('probe_x', 'again')).toThrow('already been registered');
  // The label values' count is typed; a caller that gets around the type still gets the error.
  const untypedLabels = gauge.labels.bind(gauge) as (...values: string[]) => unknown;
  expect(() => untypedLabels('only one')).toThrow('probe_x has labels ["a","b"], got 1 values');
});
