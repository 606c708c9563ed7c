/**
 * The contract between the runtime and a protocol. A prober is known to the runtime by its
 * definition (schema, rules, target parsing: light, for loading a config) and implemented by a
 * probe function that comes with its protocol library, imported on first use. The table of
 * definitions is built in src/cli/probers.ts and passed in (src/probe/prober-table.ts). A probe
 * gets everything it may touch through `ProbeContext`.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { ProbeRegistry } from './probe-registry';
import type { ConfigPath, ConfigProblem } from '../config/problems';
import type { FailureReason } from './failure';
import type { PhaseTimer } from './phases';
import type { ProbeLog } from './probe-log';
import type { TargetParse } from '../net/target-url';

export interface ProbeContext<Settings, Target> {
  /** What to probe, as the prober's `parseTarget` read it from `?target=`. */
  target: Target;
  /** The module's section for this prober (`modules.<name>.<prober>`), validated, defaults filled. */
  settings: Settings;
  /** This probe's own registry: nothing in it outlives the probe. */
  registry: ProbeRegistry;
  log: ProbeLog;
  /** Fires at the deadline; every network call must take it, and close what it opened when it fires. */
  signal: AbortSignal;
  /** When `signal` fires, in `Date.now()` milliseconds: for limits a server enforces itself (a statement timeout). */
  deadline: number;
  /** blackbox_exporter's `?hostname=` parameter: the Host header / TLS name to use instead of the target's. */
  hostname?: string;
  /**
   * Set when the module may reach only an allowed set of hosts (src/security/allowed-targets.ts):
   * a redirect or navigation elsewhere fails with `forbidden` before anything is sent there.
   */
  destinations?: { allows(url: URL): boolean; description: string };
  /**
   * The timer of this probe's phases (`probe_<protocol>_duration_seconds{phase}`, src/probe/phases.ts).
   * The runtime reads the phase it was in when the deadline fires, to say where the probe was stuck.
   */
  phases<Phase extends string>(protocol: string, phases: readonly Phase[], help?: string): PhaseTimer<Phase>;
  /** Records why the probe failed and returns false, so a prober can `return probe.fail(...)`. */
  fail(reason: FailureReason, message: string, fields?: Record<string, string | number>): false;
}

export interface ProberDefinition<Schema extends TSchema = TSchema, Target = unknown, Settings = Static<Schema>> {
  /** The JSON Schema (TypeBox) of the module section named after the prober; its type is `Settings`. */
  schema: Schema;
  /** Rules the schema cannot say (regexes that compile, files that exist); every problem at once. */
  validate(settings: Settings, path: ConfigPath): ConfigProblem[];
  /**
   * Reads a target (`?target=`, a monitor's `target:`), once: the parsed value is what the probe
   * gets as `probe.target`. A problem is the 400 answer and the config error.
   */
  parseTarget(target: string): TargetParse<Target>;
  /** The host a parsed target reaches, for allowed_targets; absent when targets are not hosts (containers). */
  targetHost?(target: Target): string;
  /**
   * Imports the probe function with its protocol library (a dynamic import), on the first probe
   * of a module of this prober: a checkpoint that probes only http never loads Chromium's driver.
   */
  load(): Promise<ProberImplementation<Settings, Target>>;
}

export interface ProberImplementation<Settings, Target> {
  /**
   * Runs one probe; resolves true on success. A probe fails by `return probe.fail(reason, message)`
   * or by throwing: the runtime (src/probe/run.ts) turns a `ProbeFailure` into its reason, anything
   * thrown once the deadline fired into `timeout` in the current phase, and anything else into
   * `internal`. Whatever it opened it closes, also when it throws.
   */
  probe(probe: ProbeContext<Settings, Target>): Promise<boolean>;
  /** Releases what the prober keeps between probes (a warm browser); called once as the checkpoint stops. */
  close?(): Promise<void>;
}

/** A probe function, as the runtime calls it. */
export type Prober<Settings = unknown, Target = unknown> = ProberImplementation<Settings, Target>['probe'];
