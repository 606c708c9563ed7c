/**
 * The shipped prometheus/ and alertmanager/ configs, rendered for a test stack on loopback: the
 * same files, with only addresses, paths and timings changed, each change made here in code so
 * that the smoke test can list them.
 *
 * Addresses. The checkpoints keep their compose names (checkpoint-a:9915...) in every target and
 * /sd URL: the probe job derives the `checkpoint` label from the /sd URL's host, and the rules join
 * the two jobs on it, so renaming them to 127.0.0.1:<port> would give both checkpoints the same
 * label. Prometheus reaches them instead through `proxy_url`, an HTTP proxy in the test that maps
 * each name to its loopback port. Alertmanager, node-exporter and Prometheus itself are plain
 * address substitutions (only their `instance` label changes, which no rule here joins on).
 *
 * Timings. Intervals are set to seconds, and every duration that decides when an alert fires or a
 * mail goes (`for:` in the rules; group_wait, group_interval, repeat_interval in Alertmanager) is
 * divided by TIME_SCALE and rounded up to whole seconds, so their order is kept. The rules' range
 * windows (`[1m]`) are divided by how much faster the test probes than the shipped probe job, so
 * each window holds as many probes as in production: the confirmation counts probes in a window.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';
import { LOOPBACK } from './ports';
import { run } from './processes';

/** The repository: the nearest folder above this file that holds the shipped prometheus/ (this file is in tests/support under jest, dist/tests/support in a built bench). */
export const ROOT = repositoryRoot(__dirname);
export const PROMETHEUS_DIR = path.join(ROOT, 'prometheus');
/** The checkpoint as `npm run build` makes it, and as users start it: bin/checkpoint, node with the memory flags, on that bundle. */
export const CHECKPOINT_BUNDLE = path.join(ROOT, 'dist', 'checkpoint.js');
export const CHECKPOINT_BIN = path.join(ROOT, 'bin', 'checkpoint');
export const ALERTMANAGER_DIR = path.join(ROOT, 'alertmanager');

/** Production durations are divided by this: a `for: 2m` becomes 4s, a group_interval of 5m 10s. */
export const TIME_SCALE = 30;
/** The test's own scrape and evaluation intervals. */
export const INTERVALS = {
  global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
  // The probe job: 2s between probes; the probe's deadline is this timeout less the checkpoint's
  // --timeout-offset (0.5s by default), so a TLS login to PostgreSQL has about a second.
  probe: { scrape_interval: '2s', scrape_timeout: '1900ms' },
};

/**
 * Prometheus's own flags for the test stack. --rules.alert.resend-delay (1m by default) is how
 * often a firing alert is sent again; an alert that fires at Prometheus's very first evaluations
 * (the Watchdog) is sent before the notifier has its Alertmanager from discovery, and so reaches
 * it one resend-delay later: 1m in production, scaled like the rest.
 */
export const PROMETHEUS_FLAGS = [`--rules.alert.resend-delay=${Math.max(1, Math.ceil(60 / TIME_SCALE))}s`];

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** Seconds in a Prometheus duration (`1h30m`, `90s`, `500ms`). */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) throw new Error(`not a Prometheus duration: ${text}`);
  let seconds = 0;
  for (const [, count, unit] of parts) {
    const unitSeconds = unit === undefined ? undefined : UNITS[unit];
    if (count === undefined || unitSeconds === undefined) throw new Error(`not a Prometheus duration: ${text}`);
    seconds += Number(count) * unitSeconds;
  }
  return seconds;
}

/** A production duration divided by `scale`, in whole seconds (at least 1s unless it was 0). */
export function scaledDuration(text: string, scale = TIME_SCALE): string {
  const seconds = durationSeconds(text);
  return seconds === 0 ? '0s' : `${Math.max(1, Math.ceil(seconds / scale))}s`;
}

/** One change made to a shipped file, for the test's report. */
export interface Substitution {
  file: string;
  where: string;
  from: string;
  to: string;
}

// ---------------------------------------------------------------------------------------------
// Prometheus

export interface PrometheusAddresses {
  /** host:port of the HTTP proxy that maps the checkpoints' compose names to loopback ports (for a config that scrapes checkpoints). */
  checkpointProxy?: string;
  /** host:port of each Alertmanager: Prometheus sends to all of them and scrapes each (none for a site's agent). */
  alertmanagers: string[];
  /** This Prometheus's own address (its `prometheus` or `agent` job). */
  prometheus: string;
  /** host:port of a node-exporter; without one the node job is dropped. */
  nodeExporter?: string;
  /** host:port of a postgres_exporter; without one the postgres job is dropped. */
  postgresExporter?: string;
  /** The file with the checkpoints' web password, in place of the compose secret's path (for a config that scrapes checkpoints). */
  checkpointPasswordFile?: string;
  /** host:port of a redis-exporter; without one the redis job is dropped. */
  redisExporter?: string;
}

/** The shipped configs of a Prometheus: the single place (compose.yaml), the central store of sites, a site's agent (rendered by its script first). */
export const PROMETHEUS_FILES = { single: 'prometheus/prometheus.yml', central: 'prometheus/central.yml', agent: 'prometheus/agent/agent.yml' } as const;

/** The login Prometheus sends to the checkpoints (job checkpoint's basic_auth in the shipped config). */
export async function shippedCheckpointLogin(): Promise<{ username: string; password_file: string }> {
  const config = await shippedPrometheusConfig();
  const auth = config.scrape_configs.find((scrape) => scrape.job_name === 'checkpoint')?.basic_auth;
  if (!auth?.username || !auth.password_file) throw new Error('prometheus/prometheus.yml: job checkpoint has no basic_auth with username and password_file');
  return { username: auth.username, password_file: auth.password_file };
}

/** host:port of every checkpoint in the shipped config (job checkpoint), by its `checkpoint` label. */
export async function shippedCheckpoints(): Promise<Map<string, string>> {
  const config = await shippedPrometheusConfig();
  const job = config.scrape_configs.find((scrape) => scrape.job_name === 'checkpoint');
  const checkpoints = new Map<string, string>();
  for (const group of job?.static_configs ?? []) for (const target of group.targets) checkpoints.set(group.labels?.checkpoint ?? target, target);
  return checkpoints;
}

/** The shipped prometheus/prometheus.yml, as far as the helpers here read it. */
async function shippedPrometheusConfig(): Promise<PrometheusConfig> {
  return parseDocument(await fs.readFile(path.join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')).toJS() as PrometheusConfig;
}

interface PrometheusConfig {
  global?: { scrape_interval?: string };
  scrape_configs: {
    job_name: string;
    scrape_interval?: string;
    basic_auth?: { username?: string; password_file?: string };
    static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  }[];
}

/**
 * A shipped Prometheus config for the test stack, and the changes made to it: `file` (relative to
 * the repository) as shipped, or `text` when a script rendered it first (a site's agent).
 */
export async function renderPrometheusConfig(addresses: PrometheusAddresses, file: string = PROMETHEUS_FILES.single, text?: string): Promise<{ yaml: string; substitutions: Substitution[] }> {
  const doc = parseDocument(text ?? (await fs.readFile(path.join(ROOT, file), 'utf8')));
  const substitutions: Substitution[] = [];
  const set = (where: string, keys: (string | number)[], to: unknown, target: Document | YAMLMap = doc): void => {
    const from = target.getIn(keys);
    target.setIn(keys, to);
    substitutions.push({ file, where, from: from === undefined ? '(absent)' : JSON.stringify(from), to: JSON.stringify(to) });
  };

  for (const [key, value] of Object.entries(INTERVALS.global)) {
    // An agent evaluates no rules: its config has no evaluation_interval.
    if (key !== 'evaluation_interval' || doc.hasIn(['rule_files'])) set(`global.${key}`, ['global', key], value);
  }
  if (doc.has('alerting')) set('alerting: Alertmanager address', ['alerting', 'alertmanagers', 0, 'static_configs', 0, 'targets'], addresses.alertmanagers);

  const jobs = doc.get('scrape_configs');
  if (!isSeq(jobs)) throw new Error(`${file}: scrape_configs is not a list`);
  const proxyUrl = `http://${addresses.checkpointProxy ?? ''}`;
  const checkpointJob = (name: string): void => {
    if (!addresses.checkpointProxy || !addresses.checkpointPasswordFile) throw new Error(`${file}: job ${name} scrapes checkpoints; the test stack gave no checkpoint proxy and password file`);
  };
  const dropped: number[] = [];
  jobs.items.forEach((item, index) => {
    if (!isMap(item)) throw new Error(`${file}: scrape_configs[${index}] is not a map`);
    const name = String(item.get('job_name'));
    const job = (keys: (string | number)[], to: unknown, why: string): void => set(`job ${name}: ${why}`, keys, to, item);
    // The checkpoints ask for a login: the shipped config sends one on every request to them,
    // with the password from the compose secret's path, which becomes the test's file.
    const password = (keys: (string | number)[], why: string): void => {
      if (!isScalar(item.getIn([...keys, 'username'], true)) || !isScalar(item.getIn([...keys, 'password_file'], true))) {
        throw new Error(`${file}: job ${name}: ${why} has no basic_auth with username and password_file (the checkpoints ask for a login)`);
      }
      checkpointJob(name);
      job([...keys, 'password_file'], addresses.checkpointPasswordFile, `${why}: the checkpoints' web password`);
    };
    switch (name) {
      case 'checkpoint':
        job(['proxy_url'], proxyUrl, "the checkpoints by their compose names, through the test's proxy");
        password(['basic_auth'], 'scrape');
        break;
      case 'probe': {
        job(['scrape_interval'], INTERVALS.probe.scrape_interval, 'interval');
        job(['scrape_timeout'], INTERVALS.probe.scrape_timeout, 'timeout');
        job(['proxy_url'], proxyUrl, "the checkpoints by their compose names, through the test's proxy");
        password(['basic_auth'], 'scrape');
        const sd = item.get('http_sd_configs');
        if (!isSeq(sd)) throw new Error(`${file}: job probe has no http_sd_configs`);
        sd.items.forEach((_, i) => {
          job(['http_sd_configs', i, 'proxy_url'], proxyUrl, `/sd URL ${i + 1} through the test's proxy`);
          password(['http_sd_configs', i, 'basic_auth'], `/sd URL ${i + 1}`);
        });
        break;
      }
      case 'node':
        if (addresses.nodeExporter) job(['static_configs', 0, 'targets'], [addresses.nodeExporter], 'node-exporter address');
        else dropped.push(index);
        break;
      case 'postgres':
        if (addresses.postgresExporter) job(['static_configs', 0, 'targets'], [addresses.postgresExporter], 'postgres_exporter address');
        else dropped.push(index);
        break;
      case 'cadvisor':
        // cAdvisor is not packaged in Debian.
        dropped.push(index);
        break;
      case 'alertmanager':
        job(['static_configs', 0, 'targets'], addresses.alertmanagers, 'Alertmanager address');
        break;
      case 'prometheus':
      case 'agent':
        job(['static_configs', 0, 'targets'], [addresses.prometheus], 'Prometheus address');
        break;
      case 'redis':
        if (addresses.redisExporter) job(['static_configs', 0, 'targets'], [addresses.redisExporter], 'redis-exporter address');
        else dropped.push(index);
        break;
      default:
        throw new Error(`${file}: job ${name} is new; say in tests/support/stack-config.ts how the test stack renders it`);
    }
  });
  for (const index of dropped.reverse()) {
    const name = String((jobs.items[index] as YAMLMap).get('job_name'));
    jobs.items.splice(index, 1);
    substitutions.push({ file, where: `job ${name}`, from: 'present', to: 'dropped (nothing to scrape in the test stack)' });
  }
  return { yaml: doc.toString(), substitutions };
}

/** The shipped probe job's scrape interval, in seconds (its own, or the global one). */
export async function shippedProbeInterval(): Promise<number> {
  const config = await shippedPrometheusConfig();
  const probe = config.scrape_configs.find((scrape) => scrape.job_name === 'probe');
  const interval = probe?.scrape_interval ?? config.global?.scrape_interval;
  if (!interval) throw new Error('prometheus/prometheus.yml: no scrape_interval for job probe');
  return durationSeconds(interval);
}

/** A PromQL range window or subquery range: `[5m]`, `[1h30m]`, `[1h:5m]`. */
const RANGE_WINDOW = /\[(?:\d+(?:ms|s|m|h|d|w|y))+(?::(?:\d+(?:ms|s|m|h|d|w|y))+)?\]/g;

/** Every range window (`[1m]`, and both parts of a subquery's `[1h:5m]`) in a PromQL expression or an annotation's query, divided by `scale`, in milliseconds where need be. */
export function scaleWindows(text: string, scale: number): string {
  if (scale === 1) return text;
  const divide = (duration: string): string => {
    const ms = Math.max(1, Math.round((durationSeconds(duration) * 1000) / scale));
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
  };
  return text.replace(RANGE_WINDOW, (window) => {
    const [range = '', step] = window.slice(1, -1).split(':');
    return `[${divide(range)}${step === undefined ? '' : `:${divide(step)}`}]`;
  });
}

/**
 * Writes prometheus/rules/*.yml into `outDir` with every `for:` divided by `scale` and every range
 * window (in expressions and in the annotations' queries) by `windowScale`, which the caller
 * derives from its probe interval (the shipped one over its own), so that each window holds as
 * many probes as in production; returns the changes and each alert's `for:` in seconds as written
 * (0 for an alert without one).
 */
export async function renderRules(outDir: string, scale: number, windowScale: number): Promise<{ substitutions: Substitution[]; fors: Map<string, number> }> {
  const rulesDir = path.join(PROMETHEUS_DIR, 'rules');
  await fs.mkdir(outDir, { recursive: true });
  const substitutions: Substitution[] = [];
  const fors = new Map<string, number>();
  for (const name of (await fs.readdir(rulesDir)).filter((n) => n.endsWith('.yml')).sort()) {
    const doc = parseDocument(await fs.readFile(path.join(rulesDir, name), 'utf8'));
    const groups = doc.get('groups');
    if (!isSeq(groups)) throw new Error(`prometheus/rules/${name}: no groups`);
    for (const group of groups.items) {
      if (!isMap(group)) continue;
      const rules = group.get('rules');
      if (!isSeq(rules)) continue;
      for (const rule of rules.items) {
        if (!isMap(rule)) continue;
        const ruleName = String(rule.get('alert') ?? rule.get('record'));
        const windowed: string[] = [];
        const scaleNode = (node: unknown): void => {
          if (!isScalar(node) || typeof node.value !== 'string') return;
          const to = scaleWindows(node.value, windowScale);
          if (to !== node.value) windowed.push(...(node.value.match(RANGE_WINDOW) ?? []));
          node.value = to;
        };
        scaleNode(rule.get('expr', true));
        const annotations = rule.get('annotations');
        if (isMap(annotations)) for (const pair of annotations.items) scaleNode(pair.value);
        if (windowed.length > 0) {
          const from = [...new Set(windowed)].join(' ');
          substitutions.push({ file: `prometheus/rules/${name}`, where: `${ruleName} windows`, from, to: scaleWindows(from, windowScale) });
        }
        if (rule.has('alert')) fors.set(ruleName, 0);
        const forNode = rule.get('for', true);
        if (!isScalar(forNode)) continue;
        const from = String(forNode.value);
        const to = scaledDuration(from, scale);
        forNode.value = to;
        fors.set(ruleName, durationSeconds(to));
        substitutions.push({ file: `prometheus/rules/${name}`, where: `${ruleName} for`, from, to });
      }
    }
    await fs.writeFile(path.join(outDir, name), doc.toString());
  }
  return { substitutions, fors };
}

// ---------------------------------------------------------------------------------------------
// Sites: a site's agent and the central place's remote-write gateway

/** What a site's agent is told by its environment (prometheus/agent/render-config.sh). */
export interface AgentSettings {
  /** Where render-config.sh writes agent.yml. */
  dir: string;
  site: string;
  remoteWriteUrl: string;
  username: string;
  passwordFile: string;
  caFile: string;
}

/** queue_config durations of the agent's remote write that decide how soon samples leave and retries come. */
const QUEUE_TIMINGS = ['batch_send_deadline', 'min_backoff', 'max_backoff'];

/**
 * Runs prometheus/agent/render-config.sh as compose.site.yaml does, with a clean environment, then
 * renders the result for the test stack like prometheus.yml (addresses, intervals), and divides the
 * remote-write queue's timings by TIME_SCALE. remote_timeout is kept: it is how long a request
 * into a firewall that drops it waits, and the partition test runs the real thing.
 */
export async function renderAgentConfig(settings: AgentSettings, addresses: PrometheusAddresses): Promise<{ yaml: string; substitutions: Substitution[] }> {
  const file = PROMETHEUS_FILES.agent;
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    SITE: settings.site,
    REMOTE_WRITE_URL: settings.remoteWriteUrl,
    REMOTE_WRITE_USERNAME: settings.username,
    REMOTE_WRITE_PASSWORD_FILE: settings.passwordFile,
    REMOTE_WRITE_CA_FILE: settings.caFile,
  };
  await run('/usr/bin/env', ['-i', ...Object.entries(env).map(([key, value]) => `${key}=${value}`), 'sh', path.join(PROMETHEUS_DIR, 'agent', 'render-config.sh'), settings.dir]);
  const rendered = await renderPrometheusConfig(addresses, file, await fs.readFile(path.join(settings.dir, 'agent.yml'), 'utf8'));
  const doc = parseDocument(rendered.yaml);
  const substitutions = [
    {
      file,
      where: 'render-config.sh',
      from: 'placeholders',
      to: `SITE ${settings.site}, REMOTE_WRITE_URL ${settings.remoteWriteUrl}, REMOTE_WRITE_USERNAME, REMOTE_WRITE_PASSWORD_FILE, REMOTE_WRITE_CA_FILE`,
    },
    ...rendered.substitutions,
  ];
  for (const key of QUEUE_TIMINGS) {
    const node = doc.getIn(['remote_write', 0, 'queue_config', key], true);
    if (!isScalar(node)) throw new Error(`${file}: remote_write[0].queue_config has no ${key}`);
    const from = String(node.value);
    node.value = scaledDuration(from);
    substitutions.push({ file, where: `remote_write queue_config.${key}`, from, to: String(node.value) });
  }
  return { yaml: doc.toString(), substitutions };
}

/** Where the central gateway (compose/central/remote-write-gateway.conf) finds its pieces in the test stack. */
export interface GatewaySettings {
  port: number;
  /** host:port of the central Prometheus, in place of prometheus:9090. */
  upstream: string;
  certFile: string;
  keyFile: string;
  htpasswdFile: string;
}

export const GATEWAY_FILE = 'compose/central/remote-write-gateway.conf';

/** The shipped nginx server block with its listen address, certificate, logins and upstream changed, each change found or the test fails. */
export async function renderGatewayConfig(settings: GatewaySettings): Promise<{ text: string; substitutions: Substitution[] }> {
  let text = await fs.readFile(path.join(ROOT, GATEWAY_FILE), 'utf8');
  const substitutions: Substitution[] = [];
  const replace = (where: string, from: RegExp, to: string): void => {
    const found = from.exec(text)?.[0];
    if (found === undefined) throw new Error(`${GATEWAY_FILE}: no ${where} (${from})`);
    text = text.replace(from, to);
    substitutions.push({ file: GATEWAY_FILE, where, from: found, to });
  };
  replace('listen', /listen 443 ssl;/, `listen ${LOOPBACK}:${settings.port} ssl;`);
  replace('certificate', /ssl_certificate \S+;/, `ssl_certificate ${settings.certFile};`);
  replace('certificate key', /ssl_certificate_key \S+;/, `ssl_certificate_key ${settings.keyFile};`);
  replace('logins', /auth_basic_user_file \S+;/, `auth_basic_user_file ${settings.htpasswdFile};`);
  replace('upstream', /set \$prometheus prometheus:9090;/, `set $prometheus ${settings.upstream};`);
  return { text, substitutions };
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

const ROUTE_TIMINGS = ['group_wait', 'group_interval', 'repeat_interval'];

/**
 * Runs alertmanager/render-config.sh as the compose file does, for `admins`, into `dir`, with a
 * clean environment; returns the rendered alertmanager.yml's path.
 */
export async function renderAlertmanagerConfig(options: { dir: string; admins: string[]; smarthost: string; user: string; passwordFile: string }): Promise<string> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ADMIN_EMAILS: options.admins.join(', '),
    GRAFANA_URL: 'https://grafana.example.test',
    ALERTMANAGER_URL: 'https://alertmanager.example.test',
    SMTP_SMARTHOST: options.smarthost,
    SMTP_FROM: 'checkpoint-alerts@example.test',
    SMTP_AUTH_USERNAME: options.user,
    SMTP_AUTH_PASSWORD_FILE: options.passwordFile,
  };
  await run('/usr/bin/env', ['-i', ...Object.entries(env).map(([key, value]) => `${key}=${value}`), 'sh', path.join(ALERTMANAGER_DIR, 'render-config.sh'), options.dir]);
  return path.join(options.dir, 'alertmanager.yml');
}

/** The group_wait and group_interval, in seconds, a route's alerts get (its own or inherited). */
export interface RouteTimings {
  groupWait: number;
  groupInterval: number;
}

/**
 * Scales the route tree's timings of an alertmanager.yml already rendered by
 * alertmanager/render-config.sh (which filled in the admins, the smarthost and the password file),
 * divided by `scale`; also the timings the critical and the warning routes end up with.
 */
export function scaleAlertmanagerConfig(rendered: string, scale = TIME_SCALE): { yaml: string; substitutions: Substitution[]; critical: RouteTimings; warning: RouteTimings } {
  const file = 'alertmanager/alertmanager.yml';
  const doc = parseDocument(rendered);
  const substitutions: Substitution[] = [];
  const bySeverity: Record<string, RouteTimings> = {};
  const walk = (route: unknown, where: string, inherited: RouteTimings): void => {
    if (!isMap(route)) return;
    const own = { ...inherited };
    for (const key of ROUTE_TIMINGS) {
      const node = route.get(key, true);
      if (!isScalar(node)) continue;
      const from = String(node.value);
      node.value = scaledDuration(from, scale);
      if (key === 'group_wait') own.groupWait = durationSeconds(String(node.value));
      if (key === 'group_interval') own.groupInterval = durationSeconds(String(node.value));
      substitutions.push({ file, where: `${where} ${key}`, from, to: String(node.value) });
    }
    const matchers = route.get('matchers');
    const severity = isSeq(matchers) ? /severity="(\w+)"/.exec(matchers.items.map(String).join(' '))?.[1] : undefined;
    if (severity && !bySeverity[severity]) bySeverity[severity] = own;
    const children = route.get('routes');
    if (isSeq(children)) children.items.forEach((child, i) => walk(child, `${where}.routes[${i}]${isMap(child) ? ` (${String(child.get('receiver'))})` : ''}`, own));
  };
  // Alertmanager's defaults, for a route tree that sets none.
  walk(doc.get('route'), 'route', { groupWait: 30, groupInterval: 300 });
  const { critical, warning } = bySeverity;
  if (!critical || !warning) throw new Error('alertmanager/alertmanager.yml: no route for severity="critical" and severity="warning"');
  return { yaml: doc.toString(), substitutions, critical, warning };
}

function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'prometheus', 'prometheus.yml'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no prometheus/prometheus.yml above ${from}`);
  }
}
