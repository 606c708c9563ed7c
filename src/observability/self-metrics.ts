/** The checkpoint's own metrics on /metrics: what it probed, how it went, its config and process. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { VERSION } from '../version';
import type { ProbeResult } from '../probe/run';

export function createSelfMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  new Gauge({ name: 'checkpoint_build_info', help: 'A metric with a constant 1 value labeled by version and Node.js version', labelNames: ['version', 'nodejs_version'], registers })
    .labels(VERSION, process.version)
    .set(1);
  const probes = new Counter({ name: 'checkpoint_probes_total', help: 'Probes run, by module, prober and result', labelNames: ['module', 'prober', 'result'], registers });
  const failures = new Counter({ name: 'checkpoint_probe_failures_total', help: 'Failed probes, by module and failure reason', labelNames: ['module', 'reason'], registers });
  const durations = new Histogram({
    name: 'checkpoint_probe_duration_seconds',
    help: 'How long probes took, by module',
    labelNames: ['module'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const inFlight = new Gauge({ name: 'checkpoint_probes_in_flight', help: 'Probes running now', registers });
  const rejected = new Counter({ name: 'checkpoint_probes_rejected_total', help: 'Probes refused with 503 because --probe.max-concurrent were already running', registers });
  const forbidden = new Counter({
    name: 'checkpoint_probes_forbidden_total',
    help: "Probes refused with 403 because the target is outside the module's allowed targets",
    labelNames: ['module'],
    registers,
  });
  const reloadSuccessful = new Gauge({ name: 'checkpoint_config_last_reload_successful', help: 'Whether the last configuration reload attempt was successful', registers });
  const reloadTimestamp = new Gauge({ name: 'checkpoint_config_last_reload_success_timestamp_seconds', help: 'Timestamp of the last successful configuration reload', registers });
  const monitors = new Gauge({ name: 'checkpoint_config_monitors', help: 'Monitors in the loaded configuration', registers });
  const configRejected = new Counter({
    name: 'checkpoint_config_rejected_total',
    help: 'Configurations refused, by reason: invalid_config, replay, signature_missing, signature_malformed, unknown_key, bad_signature',
    labelNames: ['reason'],
    registers,
  });
  const configFetchFailures = new Counter({ name: 'checkpoint_config_fetch_failures_total', help: 'Fetches of --config.url that got no config (unreachable, timeout, HTTP error)', registers });

  return {
    registry,
    inFlight,
    rejected,
    forbidden,
    configRejected,
    configFetchFailures,
    recordProbe(result: ProbeResult) {
      probes.labels(result.moduleName, result.prober, result.success ? 'success' : 'failure').inc();
      if (result.failure) failures.labels(result.moduleName, result.failure.reason).inc();
      durations.labels(result.moduleName).observe(result.durationSeconds);
    },
    recordReload(ok: boolean, monitorCount?: number) {
      reloadSuccessful.set(ok ? 1 : 0);
      if (ok) reloadTimestamp.setToCurrentTime();
      if (monitorCount !== undefined) monitors.set(monitorCount);
    },
  };
}

export type SelfMetrics = ReturnType<typeof createSelfMetrics>;
