/**
 * Runs one probe of a module against a target: a fresh registry, the deadline as an AbortSignal,
 * retries inside that deadline, and the metrics every probe has whatever its prober. The probe
 * function is passed in (loaded from the prober table), so these rules hold for any prober.
 */
import { ProbeRegistry } from './probe-registry';
import type { Logger } from 'pino';
import { proberSettings, type ModuleConfig } from '../config/schema';
import { firstLine, ProbeFailure, type FailureReason } from './failure';
import { createPhaseTimer, type PhaseTimer } from './phases';
import { ProbeLog } from './probe-log';
import type { ProbeContext, Prober } from './prober';

export interface ProbeRequest {
  moduleName: string;
  module: ModuleConfig;
  /** The probe function of the module's prober. */
  prober: Prober;
  /** The target as given, and as the prober's `parseTarget` read it. */
  target: string;
  parsedTarget: unknown;
  hostname?: string;
  deadlineSeconds: number;
  /** Fires when the client that asked has gone: its answer can no longer be delivered. */
  clientGone?: AbortSignal;
  /** Where redirects and navigations may lead, for a restricted module. */
  destinations?: ProbeContext<unknown, unknown>['destinations'];
}

export interface ProbeResult {
  moduleName: string;
  prober: string;
  target: string;
  startedAt: Date;
  success: boolean;
  failure?: { reason: FailureReason; message: string };
  durationSeconds: number;
  attempts: number;
  log: ProbeLog;
  /** The last attempt's metrics with the runtime's own added. */
  registry: ProbeRegistry;
}

export async function runProbe(request: ProbeRequest, processLog?: Logger): Promise<ProbeResult> {
  const { module, deadlineSeconds } = request;
  // A child logger per probe costs CPU on every probe; make one only when its lines would be written.
  const forward = processLog?.isLevelEnabled('debug') ? processLog.child({ module: request.moduleName, target: request.target }) : undefined;
  const log = new ProbeLog(forward);
  const controller = new AbortController();
  const deadlineAt = Date.now() + deadlineSeconds * 1000;
  const deadline = setTimeout(() => controller.abort(new Error(`probe deadline of ${deadlineSeconds}s reached`)), deadlineSeconds * 1000);
  const clientGone = () => controller.abort(new Error('the client went away before the probe finished'));
  if (request.clientGone?.aborted) clientGone();
  request.clientGone?.addEventListener('abort', clientGone, { once: true });
  const startedAt = new Date();
  const started = performance.now();
  log.info('Beginning probe', { probe: module.prober, timeout_seconds: deadlineSeconds });

  let registry = new ProbeRegistry();
  let success = false;
  let failure: ProbeResult['failure'];
  let attempts = 0;
  try {
    while (attempts <= module.retries && !controller.signal.aborted) {
      attempts++;
      registry = new ProbeRegistry();
      failure = undefined;
      let phases: PhaseTimer<string> | undefined;
      const context: ProbeContext<unknown, unknown> = {
        target: request.parsedTarget,
        settings: proberSettings(module),
        registry,
        log,
        signal: controller.signal,
        deadline: deadlineAt,
        hostname: request.hostname,
        destinations: request.destinations,
        phases(protocol, names, help) {
          const timer = createPhaseTimer(registry, protocol, names, log, help);
          phases = timer;
          return timer;
        },
        fail(reason, message, fields = {}) {
          failure ??= { reason, message };
          log.error(message, { reason, ...fields });
          return false;
        },
      };
      try {
        success = await request.prober(context);
      } catch (error) {
        success = false;
        failThrown(context, error, phases?.current(), request.clientGone?.aborted === true);
      }
      if (success) break;
      if (attempts <= module.retries && !controller.signal.aborted) log.warn('Probe attempt failed, trying again', { attempt: attempts, retries: module.retries });
    }
  } finally {
    clearTimeout(deadline);
    request.clientGone?.removeEventListener('abort', clientGone);
  }
  if (!success) {
    failure ??= { reason: 'internal', message: 'prober returned false without saying why' };
    // Whatever the prober saw last (a reset socket, an aborted read), the cause was the abort:
    // the client leaving, or the deadline.
    if (request.clientGone?.aborted) failure = { reason: 'timeout', message: `the client went away before the probe finished, so it was stopped (${failure.message})` };
    else if (controller.signal.aborted) failure = { reason: 'timeout', message: failure.reason === 'timeout' ? failure.message : `deadline of ${deadlineSeconds}s reached (${failure.message})` };
  }
  const durationSeconds = (performance.now() - started) / 1000;
  addRuntimeMetrics(registry, { success, durationSeconds, deadlineSeconds, attempts, reason: failure?.reason });
  if (success) log.info('Probe succeeded', { duration_seconds: durationSeconds });
  else log.error('Probe failed', { duration_seconds: durationSeconds, reason: failure?.reason });
  return { moduleName: request.moduleName, prober: module.prober, target: request.target, startedAt, success, failure, durationSeconds, attempts, log, registry };
}

/**
 * How a thrown error ends a probe, the same for every prober. A ProbeFailure carries its reason;
 * but once the deadline fired, whatever broke (a reset socket, an aborted read) broke because of
 * it, so the probe timed out in the phase it was in. Anything else is a bug: `internal`.
 */
function failThrown(probe: ProbeContext<unknown, unknown>, error: unknown, phase: string | undefined, clientGone: boolean): void {
  if (error instanceof ProbeFailure && (error.reason === 'timeout' || !probe.signal.aborted)) {
    probe.fail(error.reason, error.message);
  } else if (probe.signal.aborted) {
    // The client leaving aborts the same signal; runProbe then says so around this message.
    const stopped = clientGone ? 'stopped' : 'deadline reached';
    probe.fail('timeout', phase === undefined ? stopped : `${stopped} in the ${phase} phase`);
  } else {
    probe.fail('internal', `prober threw: ${firstLine(String(error))}`);
  }
}

function addRuntimeMetrics(registry: ProbeRegistry, facts: { success: boolean; durationSeconds: number; deadlineSeconds: number; attempts: number; reason?: FailureReason }): void {
  registry.gauge('probe_success', 'Displays whether or not the probe was a success').set(facts.success ? 1 : 0);
  registry.gauge('probe_duration_seconds', 'Returns how long the probe took to complete in seconds').set(facts.durationSeconds);
  registry.gauge('probe_timeout_seconds', 'The deadline this probe ran under, in seconds').set(facts.deadlineSeconds);
  registry.gauge('probe_attempts', 'How many attempts the probe took, retries included').set(facts.attempts);
  if (facts.reason) registry.gauge('probe_failure_reason', 'Why the probe failed: 1 for the reason, present only on failure', ['reason']).labels(facts.reason).set(1);
}
