/**
 * The running checkpoint: its config (swapped only after a new one validates), its probe
 * history, its own metrics and the limit on probes running at once. The HTTP server and
 * SIGHUP are just ways in.
 */
import type { Logger } from 'pino';
import { ConfigError } from './config/problems';
import type { CheckpointConfig } from './config/schema';
import { ConfigRejected, ConfigUnavailable, type ConfigSource } from './config/source';
import { createSelfMetrics, type SelfMetrics } from './observability/self-metrics';
import { probeDeadlineSeconds } from './probe/deadline';
import { ProbeHistory, type HistoryEntry } from './probe/history';
import type { ProberTable } from './probe/prober-table';
import { runProbe } from './probe/run';
import { validatedSeconds } from './config/duration';
import { targetPolicies, type TargetPolicy } from './security/allowed-targets';

export interface CheckpointOptions {
  /** Where the config comes from: a file, or a signed config at a URL (src/config/source.ts). */
  source: ConfigSource;
  /** The probers modules may name (src/cli/probers.ts). */
  probers: ProberTable;
  timeoutOffsetSeconds: number;
  /** `--probe.max-timeout`: the longest any probe may run. */
  maxTimeoutSeconds: number;
  maxConcurrentProbes: number;
  historyLimit: number;
  logger: Logger;
}

export interface ProbeParams {
  module?: string;
  target?: string;
  hostname?: string;
  scrapeTimeoutHeader?: string;
  /** Fires when whoever asked for the probe has gone: the probe stops and frees its slot. */
  clientGone?: AbortSignal;
}

/** What a probe request came to: a probe that ran, or a refusal with its HTTP status. */
export type ProbeOutcome = { ran: HistoryEntry } | { refused: number; message: string };

/**
 * Which part of a probe request a restricted module may not reach, if any. `hostname` sets the
 * Host header and the name TLS verifies, so it is held to the allowed hosts too: otherwise a
 * certificate for any name would do to receive the module's secret.
 */
function outsidePolicy(policy: TargetPolicy, target: string, targetHost: string | undefined, hostname: URL | undefined): 'target' | 'hostname' | undefined {
  if (!policy.allowsTarget(target, targetHost)) return 'target';
  if (hostname && !policy.allows(hostname)) return 'hostname';
  return undefined;
}

/** `?hostname=` as a URL to check against the allowed hosts; null when it is not a host name. */
function hostnameAsUrl(hostname: string): URL | null {
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$/.test(hostname)) return null;
  try {
    return new URL(`http://${hostname}/`);
  } catch {
    return null;
  }
}

/** blackbox_exporter's default when `?module=` is left out. */
export const DEFAULT_MODULE = 'http_2xx';

export class Checkpoint {
  readonly history: ProbeHistory;
  readonly metrics: SelfMetrics = createSelfMetrics();
  private running = 0;
  /** Where the running config came from, for the log: the file, or the URL (or cache) with its serial and key. */
  loadedFrom: Record<string, string | number> = {};
  private reloading: Promise<{ ok: true } | { ok: false; error: string }> | undefined;
  /** The restricted modules of `current`, computed with it. */
  private policies: Map<string, TargetPolicy>;

  private constructor(
    readonly options: CheckpointOptions,
    private current: CheckpointConfig,
  ) {
    this.policies = targetPolicies(current, options.probers);
    this.history = new ProbeHistory(options.historyLimit);
    this.metrics.recordReload(true, current.monitors.length);
  }

  /** Loads the config; a ConfigError (or a source's refusal) here is the caller's to print before exiting. */
  static async start(options: CheckpointOptions): Promise<Checkpoint> {
    const loaded = await options.source.load();
    if (!loaded.changed) throw new Error(`${options.source.location}: no config`);
    const checkpoint = new Checkpoint(options, loaded.config);
    checkpoint.loadedFrom = loaded.details;
    return checkpoint;
  }

  get config(): CheckpointConfig {
    return this.current;
  }

  /**
   * Asks the source again (the file re-read, the URL fetched); on any problem the running config
   * stays and the error is returned. A refused config counts in checkpoint_config_rejected_total
   * by reason; a URL that cannot be fetched is no verdict on the config, and counts apart.
   */
  reload(): Promise<{ ok: true } | { ok: false; error: string }> {
    // One at a time: a poll, a SIGHUP and a POST /-/reload that meet share the one in progress,
    // so two fetches never judge their serials against the same running config.
    this.reloading ??= this.loadAndSwap().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async loadAndSwap(): Promise<{ ok: true } | { ok: false; error: string }> {
    const from = this.options.source.location;
    try {
      const loaded = await this.options.source.load();
      if (!loaded.changed) return { ok: true };
      this.policies = targetPolicies(loaded.config, this.options.probers);
      this.current = loaded.config;
      this.loadedFrom = loaded.details;
      this.metrics.recordReload(true, this.current.monitors.length);
      this.options.logger.info({ ...loaded.details, modules: Object.keys(this.current.modules).length, monitors: this.current.monitors.length }, 'Loaded config');
      return { ok: true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof ConfigUnavailable) {
        this.metrics.configFetchFailures.inc();
        this.options.logger.warn({ from, err: message }, 'Could not fetch the config, keeping the running one');
        return { ok: false, error: message };
      }
      const reason = error instanceof ConfigRejected ? error.reason : error instanceof ConfigError ? 'invalid_config' : undefined;
      if (reason) this.metrics.configRejected.labels(reason).inc();
      this.metrics.recordReload(false);
      this.options.logger.error({ from, reason, err: message }, 'Config refused, keeping the running one');
      return { ok: false, error: message };
    }
  }

  async probe(params: ProbeParams): Promise<ProbeOutcome> {
    const moduleName = params.module || DEFAULT_MODULE;
    // The loader gives modules a null prototype, so `constructor` or `__proto__` finds nothing.
    const module = this.current.modules[moduleName];
    if (!module) return { refused: 400, message: `Unknown module ${JSON.stringify(moduleName)}` };
    if (!params.target) return { refused: 400, message: 'Target parameter is missing' };
    const definition = this.options.probers.definition(module.prober);
    const parsed = definition.parseTarget(params.target);
    if ('problem' in parsed) return { refused: 400, message: parsed.problem };
    const hostname = params.hostname === undefined ? undefined : hostnameAsUrl(params.hostname);
    if (hostname === null) return { refused: 400, message: `hostname parameter ${JSON.stringify(params.hostname)} is not a host name (or host:port)` };
    const policy = this.policies.get(moduleName);
    const refusedPart = policy && outsidePolicy(policy, params.target, definition.targetHost?.(parsed.target), hostname);
    if (policy && refusedPart) {
      this.metrics.forbidden.labels(moduleName).inc();
      this.options.logger.warn({ module: moduleName, target: params.target, hostname: params.hostname }, "Refused a probe outside the module's allowed targets");
      return { refused: 403, message: `${refusedPart} not allowed: ${policy.description}` };
    }
    const deadlineSeconds = probeDeadlineSeconds({
      moduleTimeoutSeconds: module.timeout === undefined ? undefined : validatedSeconds(module.timeout),
      scrapeTimeoutHeader: params.scrapeTimeoutHeader,
      offsetSeconds: this.options.timeoutOffsetSeconds,
      maxSeconds: this.options.maxTimeoutSeconds,
    });
    if (typeof deadlineSeconds !== 'number') return { refused: 400, message: deadlineSeconds.error };
    if (this.running >= this.options.maxConcurrentProbes) {
      this.metrics.rejected.inc();
      return { refused: 503, message: `too many probes running (--probe.max-concurrent=${this.options.maxConcurrentProbes}); try again later` };
    }

    this.running++;
    this.metrics.inFlight.inc();
    try {
      // The first probe of a prober imports it; the deadline starts after that one-time cost.
      const prober = await this.options.probers.prober(module.prober);
      const result = await runProbe(
        { moduleName, module, prober, target: params.target, parsedTarget: parsed.target, hostname: params.hostname, deadlineSeconds, clientGone: params.clientGone, destinations: policy },
        this.options.logger,
      );
      this.metrics.recordProbe(result);
      return { ran: this.history.add(result) };
    } finally {
      this.running--;
      this.metrics.inFlight.dec();
    }
  }
}
