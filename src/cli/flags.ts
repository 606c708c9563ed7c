/** Prometheus-style flags (`--config.file=F`), parsed with node:util so every flag is declared in one table. */
import { parseArgs } from 'node:util';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../observability/logger';
import { parseDurationSeconds } from '../config/duration';
import { MAX_TIMER_SECONDS } from '../probe/deadline';

export const DEFAULT_LISTEN_ADDRESS = ':9915';

export const SERVER_FLAGS = {
  'config.file': { type: 'string', help: 'Checkpoint configuration file (default: config/checkpoint.yml of the package)' },
  'config.check': { type: 'boolean', help: 'Validate the configuration file, print every problem, and exit' },
  'config.url': { type: 'string', help: 'Pull a signed configuration from this https:// URL (and its signature from <url>.sig) instead of --config.file' },
  'config.public-key': { type: 'string', multiple: true, help: 'With --config.url: a trusted Ed25519 public key (PEM); repeat it during a key rotation' },
  'config.poll-interval': { type: 'string', default: '1m', help: 'With --config.url: how often to fetch it again' },
  'config.url.ca-file': { type: 'string', help: "With --config.url: the CA bundle (PEM) for the central place's certificate, instead of the system's" },
  'config.url.bearer-token-file': { type: 'string', help: 'With --config.url: a file holding a bearer token to send (read at every fetch)' },
  'config.cache-dir': { type: 'string', help: 'With --config.url: where the last accepted config and its signature are kept, to start from while the central place is down' },
  'web.listen-address': { type: 'string', default: DEFAULT_LISTEN_ADDRESS, help: 'Address to listen on for the web interface, /probe and /metrics' },
  'web.config.file': { type: 'string', help: 'Prometheus exporter-toolkit web config (TLS, basic auth, headers) for every endpoint' },
  'timeout-offset': { type: 'string', default: '0.5', help: 'Seconds subtracted from the Prometheus scrape timeout to give the probe deadline' },
  'probe.max-concurrent': { type: 'string', default: '256', help: 'Probes allowed to run at once; more are refused with 503' },
  'probe.max-timeout': { type: 'string', default: '120s', help: 'The longest any probe may run, whatever its module or the scrape timeout header says' },
  'web.enable-lifecycle': { type: 'boolean', help: 'Enable POST /-/reload (SIGHUP always reloads)' },
  'history.limit': { type: 'string', default: '100', help: 'Recent probes kept for the status page and /logs' },
  'log.level': { type: 'string', default: 'info', help: `Only log messages with the given severity or above: ${LOG_LEVELS.join(', ')}` },
  'log.format': { type: 'string', default: 'logfmt', help: `Output format of log messages: ${LOG_FORMATS.join(', ')}` },
  version: { type: 'boolean', help: 'Show the version and exit' },
  help: { type: 'boolean', short: 'h', help: 'Show this help and exit' },
} as const;

export const PROBE_FLAGS = {
  module: { type: 'string', help: 'Module to probe with (default http_2xx)' },
  target: { type: 'string', help: 'Target to probe' },
  hostname: { type: 'string', help: "Host header and TLS name to use instead of the target's" },
  'config.file': SERVER_FLAGS['config.file'],
  'timeout-offset': SERVER_FLAGS['timeout-offset'],
  'probe.max-timeout': SERVER_FLAGS['probe.max-timeout'],
  'log.level': { type: 'string', default: 'warn', help: SERVER_FLAGS['log.level'].help },
  'log.format': SERVER_FLAGS['log.format'],
  help: SERVER_FLAGS.help,
} as const;

type FlagTable = Record<string, { type: 'string' | 'boolean'; default?: string; short?: string; multiple?: boolean; help: string }>;

/** A flag's value: a list for a repeatable one, a string or a switch otherwise. */
type FlagValue<Flag> = Flag extends { multiple: true } ? string[] | undefined : Flag extends { type: 'boolean' } ? boolean | undefined : string;

export class UsageError extends Error {}

export function parseFlags<Table extends FlagTable>(table: Table, args: string[]) {
  // parseArgs refuses keys that are present but undefined, so copy only what a flag sets.
  const options = Object.fromEntries(
    Object.entries(table).map(([name, flag]) => [
      name,
      { type: flag.type, ...(flag.default !== undefined && { default: flag.default }), ...(flag.short && { short: flag.short }), ...(flag.multiple && { multiple: true }) },
    ]),
  );
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as { [Name in keyof Table]: FlagValue<Table[Name]> };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function helpText(usage: string, table: FlagTable): string {
  const lines = Object.entries(table).map(([name, flag]) => {
    const left = `${flag.short ? `-${flag.short}, ` : '    '}--${name}${flag.type === 'string' ? '=VALUE' : ''}`;
    return `  ${left.padEnd(34)} ${flag.help}${flag.default !== undefined ? ` (default: ${flag.default})` : ''}`;
  });
  return `${usage}\n\nFlags:\n${lines.join('\n')}\n`;
}

export function positiveNumber(name: string, text: string, integer = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number >= 0, got ${JSON.stringify(text)}`);
  return value;
}

/** A positive Prometheus duration ("120s", "2m") that a timer can hold. */
export function timeoutDuration(name: string, text: string): number {
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined || seconds <= 0 || seconds > MAX_TIMER_SECONDS) {
    throw new UsageError(`--${name} must be a duration such as 120s or 5m, above 0 and at most ${MAX_TIMER_SECONDS}s, got ${JSON.stringify(text)}`);
  }
  return seconds;
}

export function logLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) throw new UsageError(`--log.level must be one of ${LOG_LEVELS.join(', ')}`);
  return text as LogLevel;
}

export function logFormat(text: string): LogFormat {
  if (!(LOG_FORMATS as readonly string[]).includes(text)) throw new UsageError(`--log.format must be one of ${LOG_FORMATS.join(', ')}`);
  return text as LogFormat;
}

/** ":9915", "127.0.0.1:9915" or "[::1]:9915" into what net.Server.listen takes. */
export function listenAddress(text: string): { host?: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new UsageError(`--web.listen-address must look like :9915, 127.0.0.1:9915 or [::1]:9915, got ${JSON.stringify(text)}`);
  return { host: match[1] ?? (match[2] || undefined), port };
}
