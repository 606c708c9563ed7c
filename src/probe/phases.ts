/**
 * `probe_<protocol>_duration_seconds{phase}`: the time each step of a probe took, registered up
 * front at 0 so a probe that fails early still shows every phase, and the broken one is the
 * last that grew. Each phase's start is written to the probe log.
 */
import type { ProbeRegistry } from './probe-registry';
import type { LogFields, ProbeLog } from './probe-log';

export interface PhaseTimer<Phase extends string> {
  /** Runs `work` as `phase`; its time is recorded whether it succeeds or throws. */
  time<T>(phase: Phase, work: () => Promise<T>, fields?: LogFields): Promise<T>;
  /** Adds time measured elsewhere (a library callback) to `phase`. */
  add(phase: Phase, seconds: number): void;
  /**
   * Marks `phase` as the one the probe is in, for a prober that measures its phases elsewhere and
   * `add`s them once complete (blackbox_exporter's http phases count only completed steps).
   */
  enter(phase: Phase): void;
  /** The phase `time` began last: where a probe that hit its deadline was stuck. */
  current(): Phase | undefined;
}

/** `help` is the metric's HELP text, when one is owed to compatibility (blackbox_exporter's http). */
export function createPhaseTimer<Phase extends string>(
  registry: ProbeRegistry,
  protocol: string,
  phases: readonly Phase[],
  log: ProbeLog,
  help = `Duration of the ${protocol} probe by phase`,
): PhaseTimer<Phase> {
  const gauge = registry.gauge(`probe_${protocol}_duration_seconds`, help, ['phase']);
  for (const phase of phases) gauge.labels(phase).set(0);
  const add = (phase: Phase, seconds: number) => gauge.labels(phase).inc(seconds);
  let current: Phase | undefined;
  return {
    add,
    current: () => current,
    enter(phase) {
      current = phase;
    },
    async time(phase, work, fields = {}) {
      current = phase;
      log.info(`Phase ${phase}`, fields);
      const started = performance.now();
      try {
        return await work();
      } finally {
        add(phase, (performance.now() - started) / 1000);
      }
    },
  };
}
