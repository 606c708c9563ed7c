/**
 * Which targets a module may probe. A checkpoint's /probe endpoint would otherwise send a module's
 * credentials, or run a browser journey, wherever a caller points it. A module that carries a
 * secret (by the schema's marks, src/config/secrets.ts) and every browser module may probe only
 * the targets of its own monitors and its `allowed_targets`; a top-level `allowed_targets`
 * restricts every other module the same way. Redirects and navigations of a restricted module
 * are held to the same set, by host (src/probe/prober.ts `destinations`).
 */
import { BlockList, isIP } from 'node:net';
import type { CheckpointConfig, ModuleConfig } from '../config/schema';
import { proberSettings } from '../config/schema';
import { secretFields } from '../config/secrets';
import { unbracketedHost } from '../net/url-host';
import type { AnyProberDefinition, ProberTable } from '../probe/prober-table';

/** One `allowed_targets` entry: a host name, `*.` and a domain, an IP address, a CIDR, or a URL prefix. */
type Rule = { kind: 'host'; host: string } | { kind: 'subdomains'; suffix: string } | { kind: 'cidr'; range: BlockList } | { kind: 'url'; prefix: string; host: string };

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

/** The rule an entry stands for, or why it is none. */
export function parseRule(entry: string): Rule | { problem: string } {
  if (entry.includes('://')) {
    try {
      const url = new URL(entry);
      return { kind: 'url', prefix: url.href, host: normalizeHost(url.hostname) };
    } catch {
      return { problem: `${JSON.stringify(entry)} is not a valid URL prefix` };
    }
  }
  const slash = entry.indexOf('/');
  if (slash >= 0) {
    const address = entry.slice(0, slash);
    const family = isIP(address);
    const bits = Number(entry.slice(slash + 1));
    if (family === 0 || !/^\d{1,3}$/.test(entry.slice(slash + 1)) || bits > (family === 4 ? 32 : 128)) {
      return { problem: `${JSON.stringify(entry)} is not a CIDR such as 10.0.0.0/8 or fd00::/8` };
    }
    const range = new BlockList();
    range.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'cidr', range };
  }
  if (isIP(unbracketedHost(entry))) return { kind: 'host', host: normalizeHost(entry) };
  const host = normalizeHost(entry);
  if (host.startsWith('*.') && HOST_NAME.test(host.slice(2))) return { kind: 'subdomains', suffix: host.slice(1) };
  if (HOST_NAME.test(host)) return { kind: 'host', host };
  return { problem: `${JSON.stringify(entry)} is not a host name, *.domain, IP address, CIDR or URL prefix` };
}

type RestrictionCause = 'secret' | 'browser' | 'allowed_targets';

const CAUSE_TEXT: Record<RestrictionCause, string> = {
  secret: 'it carries a secret',
  browser: 'it is a browser module',
  allowed_targets: 'the config sets allowed_targets',
};

/** The set of targets and destinations one restricted module may reach. */
export class TargetPolicy {
  private readonly monitorTargets: Set<string>;
  private readonly monitorHosts: Set<string>;

  constructor(
    readonly moduleName: string,
    readonly cause: RestrictionCause,
    monitors: { target: string; host?: string }[],
    private readonly rules: Rule[],
    /**
     * Only monitors and URL prefixes admit a target, host rules only redirects and navigations:
     * a journey that types a secret must start on a page the config names, not on any page of
     * an allowed host that a caller picks (a page a user of that host wrote, say).
     */
    private readonly targetsByUrlOnly = false,
  ) {
    this.monitorTargets = new Set(monitors.map((monitor) => monitor.target));
    this.monitorHosts = new Set(monitors.flatMap((monitor) => (monitor.host ? [normalizeHost(monitor.host)] : [])));
  }

  /** A `/probe` target: one of the module's monitors' targets exactly, or one its rules allow. */
  allowsTarget(target: string, host: string | undefined): boolean {
    if (this.monitorTargets.has(target)) return true;
    return this.rules.some((rule) => {
      if (rule.kind === 'url') return asUrl(target)?.startsWith(rule.prefix) === true;
      return !this.targetsByUrlOnly && host !== undefined && hostMatches(rule, normalizeHost(host));
    });
  }

  /**
   * A redirect or navigation, judged by host: a host of the module's monitors, or one its rules
   * allow (a URL prefix allows its host: a login page beside the app is not another server).
   */
  allows(url: URL): boolean {
    const host = normalizeHost(url.hostname);
    return this.monitorHosts.has(host) || this.rules.some((rule) => hostMatches(rule, host));
  }

  /** For messages: which rule holds and why. */
  get description(): string {
    return `module "${this.moduleName}" may reach only the targets of its monitors and its allowed_targets (${CAUSE_TEXT[this.cause]})`;
  }
}

/** Each restricted module's policy; a module missing from the map is open, as in blackbox_exporter. */
export function targetPolicies(config: CheckpointConfig, probers: ProberTable): Map<string, TargetPolicy> {
  const policies = new Map<string, TargetPolicy>();
  const topLevel = config.allowed_targets;
  for (const [name, module] of Object.entries(config.modules)) {
    const definition = probers.definition(module.prober);
    const cause = restrictionCause(module, definition, topLevel !== undefined);
    if (!cause) continue;
    // A module with a secret keeps it from what the whole checkpoint may reach: only its own list.
    const entries = [...(cause === 'allowed_targets' ? (topLevel ?? []) : []), ...(module.allowed_targets ?? [])];
    const rules = entries.map(parseRule).filter((rule): rule is Rule => !('problem' in rule));
    const monitors = config.monitors.filter((monitor) => monitor.module === name).map((monitor) => ({ target: monitor.target, host: monitorHost(definition, monitor.target) }));
    policies.set(name, new TargetPolicy(name, cause, monitors, rules, module.prober === 'browser' && cause === 'secret'));
  }
  return policies;
}

/** The host a (validated) monitor's target reaches, when the prober's targets are hosts. */
function monitorHost(definition: AnyProberDefinition, target: string): string | undefined {
  const parsed = definition.parseTarget(target);
  return 'problem' in parsed ? undefined : definition.targetHost?.(parsed.target);
}

function restrictionCause(module: ModuleConfig, definition: AnyProberDefinition, topLevelSet: boolean): RestrictionCause | undefined {
  if (secretFields(definition.schema, proberSettings(module)).length > 0) return 'secret';
  if (module.prober === 'browser') return 'browser';
  if (topLevelSet || module.allowed_targets !== undefined) return 'allowed_targets';
  return undefined;
}

function hostMatches(rule: Rule, host: string): boolean {
  switch (rule.kind) {
    case 'host':
      return rule.host === host;
    case 'subdomains':
      return host.endsWith(rule.suffix);
    case 'cidr': {
      const family = isIP(host);
      // Literal addresses only: a name is not resolved here, so a CIDR never admits a name.
      return family !== 0 && rule.range.check(host, family === 4 ? 'ipv4' : 'ipv6');
    }
    case 'url':
      return rule.host === host;
  }
}

function normalizeHost(host: string): string {
  return unbracketedHost(host.toLowerCase()).replace(/\.$/, '');
}

function asUrl(target: string): string | undefined {
  try {
    return new URL(target).href;
  } catch {
    return undefined;
  }
}
