/**
 * The contract between the runtime and a protocol. A prober is known to the runtime by its
 * definition (schema, rules, target check: light, for loading a config) and implemented by a
 * probe function that comes with its protocol library, imported on first use. The table of
 * definitions is built in src/cli/probers.ts and passed in (src/probe/prober-table.ts). A probe
 * gets everything it may touch through `ProbeContext`.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { ProbeRegistry } from './probe-registry';
import type { ConfigPath, ConfigProblem } from '../config/problems';
import type { FailureReason } from './failure';
import type { ProbeLog } from './probe-log';

export interface ProbeContext<Settings> {
  /** What to probe, as given in `?target=` (already checked by the prober's `checkTarget`). */
  target: string;
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
  /** Records why the probe failed and returns false, so a prober can `return probe.fail(...)`. */
  fail(reason: FailureReason, message: string, fields?: Record<string, string | number>): false;
}

/** Runs one probe. Catches its own errors: resolves false on failure after calling `fail`, never rejects. */
export type Prober<Settings> = (probe: ProbeContext<Settings>) => Promise<boolean>;

export interface ProberDefinition<Schema extends TSchema = TSchema, Settings = Static<Schema>> {
  /** The JSON Schema (TypeBox) of the module section named after the prober; its type is `Settings`. */
  schema: Schema;
  /** Rules the schema cannot say (regexes that compile, files that exist); every problem at once. */
  validate(settings: Settings, path: ConfigPath): ConfigProblem[];
  /** Why this target cannot be probed by this module, or undefined when it can. */
  checkTarget(target: string, settings: Settings): string | undefined;
  /** The host a (checked) target reaches, for allowed_targets; absent when targets are not hosts (containers). */
  targetHost?(target: string, settings: Settings): string | undefined;
  /**
   * Imports the probe function with its protocol library (a dynamic import), on the first probe
   * of a module of this prober: a checkpoint that probes only http never loads Chromium's driver.
   */
  load(): Promise<ProberImplementation<Settings>>;
}

export interface ProberImplementation<Settings> {
  probe: Prober<Settings>;
  /** Releases what the prober keeps between probes (a warm browser); called once as the checkpoint stops. */
  close?(): Promise<void>;
}
