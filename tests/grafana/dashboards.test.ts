/**
 * grafana/: the provisioning files say what Grafana loads, and every dashboard holds up without a
 * running Grafana: stable uids, a datasource variable, label_values templating, links to the other
 * dashboards, and panel queries that are valid PromQL (Debian's promtool parses them), ask only for
 * metric names something in the stack exposes, and read counters only through rate() and friends.
 *
 * Where the metric names come from:
 *   - our exporters and the runtime: scanned from the sources that register them (exporters/ and
 *     src/), so a renamed metric fails here, and prom-client's default metrics as prom-client
 *     itself lists them; Prometheus's recording rules from prometheus/rules/;
 *   - node-exporter: a real one (Debian's prometheus-node-exporter), started and scraped once;
 *   - redis_exporter: a real one (Debian's prometheus-redis-exporter) on a real Redis 7.0 from the
 *     shipped config, started and scraped once;
 *   - postgres_exporter: a real one (Debian's prometheus-postgres-exporter) on a real PostgreSQL
 *     with a replica and a replication slot, set up as compose.yaml sets it up, scraped once;
 *   - cAdvisor and Prometheus itself: the lists below, with where they come from.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse, stringify } from 'yaml';
import { anyString, stringMatching } from '../support/matchers';
import { parsedAs } from '../support/parsed';
import { allPanels, concrete as concreteWith, loadDashboards, panelTargets, queryPanels, variablesIn, type Dashboard, type Variable } from '../support/dashboards';
import { nodeExporterMetricTypes } from '../support/node-exporter';
import { redisExporterMetricTypes } from '../support/redis-server';
import { postgresExporterMetricTypes } from '../support/postgres-exporter';

const ROOT = path.join(__dirname, '..', '..');
const GRAFANA = path.join(ROOT, 'grafana');
/** Where the compose file mounts grafana/dashboards in the Grafana container (grafana/README.md). */
const DASHBOARDS_MOUNT = '/etc/grafana/dashboards';
const DATASOURCE_REF = '${datasource}';

/** The uids other parts link to (Alertmanager's e-mails open /d/checkpoint-overview?var-monitor=...). */
const UIDS = ['checkpoint-overview', 'checkpoint-browser', 'checkpoint-databases-mail', 'checkpoint-hosts', 'checkpoint-containers'];

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/**
 * cAdvisor is not packaged in Debian, so it cannot be started here the way node-exporter is: these
 * are the cAdvisor metrics the dashboards and rules use, with their types as cAdvisor's own table
 * of Prometheus metrics gives them (github.com/google/cadvisor, docs/storage/prometheus.md). Add a
 * name from that table when a panel needs it.
 */
const CADVISOR_METRICS: Record<string, MetricType> = {
  container_cpu_usage_seconds_total: 'counter',
  container_cpu_cfs_throttled_seconds_total: 'counter',
  container_memory_working_set_bytes: 'gauge',
  container_memory_usage_bytes: 'gauge',
  container_spec_memory_limit_bytes: 'gauge',
  container_spec_cpu_quota: 'gauge',
  container_spec_cpu_period: 'gauge',
  container_network_receive_bytes_total: 'counter',
  container_network_transmit_bytes_total: 'counter',
  container_fs_usage_bytes: 'gauge',
  container_fs_reads_bytes_total: 'counter',
  container_fs_writes_bytes_total: 'counter',
  container_last_seen: 'gauge',
  container_start_time_seconds: 'gauge',
};

/**
 * Series Prometheus makes itself: per scrape target ("Jobs and instances" in Prometheus's docs) and
 * per alerting rule (ALERTS, ALERTS_FOR_STATE).
 */
const PROMETHEUS_METRICS: Record<string, MetricType> = {
  up: 'gauge',
  scrape_duration_seconds: 'gauge',
  scrape_samples_scraped: 'gauge',
  scrape_samples_post_metric_relabeling: 'gauge',
  scrape_series_added: 'gauge',
  ALERTS: 'gauge',
  ALERTS_FOR_STATE: 'gauge',
};

/** Functions that read a counter correctly across its resets. */
const RESET_AWARE = new Set(['rate', 'irate', 'increase', 'resets', 'changes']);

/** Grafana's interval variables, replaced by a duration for promtool. */
const INTERVALS: Record<string, string> = { __rate_interval: '5m', __interval: '1m', __range: '1h', __auto: '1m' };

// ---------------------------------------------------------------------------------------------
// The dashboards

const dashboards: Dashboard[] = loadDashboards();

const variableQuery = (variable: Variable): string => (typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? ''));

/** One PromQL expression from a dashboard, and where it is. */
interface Query {
  dashboard: string;
  where: string;
  expr: string;
}

const LABEL_VALUES = /^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*$/s;

const queries: Query[] = dashboards.flatMap((dashboard) => [
  ...panelTargets(dashboard).map((target) => ({ dashboard: target.dashboard, where: `panel "${target.panel}" query ${target.refId}`, expr: target.expr ?? '' })),
  // label_values(selector, label) is Grafana's, not PromQL; its selector is PromQL.
  ...dashboard.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => ({ dashboard: dashboard.title, where: `variable $${variable.name}`, expr: LABEL_VALUES.exec(variableQuery(variable))?.[1] ?? variableQuery(variable) })),
]);

const describeQuery = (query: Query): string => `${query.dashboard}, ${query.where}: ${query.expr}`;

/** The expression as promtool gets it: intervals become INTERVALS' durations, every other variable the regex `.*`. */
const concrete = (expr: string): string => concreteWith(expr, INTERVALS);

// ---------------------------------------------------------------------------------------------
// Reading metric names out of PromQL

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'start', 'end']);

/**
 * The expression with everything that is not a metric name, a function or an operator blanked out:
 * strings, comments, label matchers, ranges and subquery steps, number and duration literals, and
 * the label lists of by/without/on/ignoring/group_left/group_right.
 */
function skeleton(expr: string): string {
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ')
    .replace(/(^|[^\w:.])(?:0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[a-z]*)/gi, '$1 ');
}

interface MetricUse {
  name: string;
  /** The function whose argument list the name sits in directly; undefined at the top level. */
  enclosingFunction: string | undefined;
}

function metricUses(expr: string): MetricUse[] {
  const s = skeleton(concrete(expr));
  const uses: MetricUse[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const name = m[0];
    const end = (m.index ?? 0) + name.length;
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (/^\s*\(/.test(s.slice(end))) continue; // a function or an aggregation
    uses.push({ name, enclosingFunction: enclosingFunction(s, m.index ?? 0) });
  }
  return uses;
}

function enclosingFunction(s: string, at: number): string | undefined {
  let depth = 0;
  for (let i = at - 1; i >= 0; i--) {
    if (s[i] === ')') depth++;
    else if (s[i] === '(') {
      if (depth > 0) depth--;
      else return /([A-Za-z_]\w*)\s*$/.exec(s.slice(0, i))?.[1];
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// What our code registers

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(file);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [file] : [];
  });
}

const TYPES: Record<string, MetricType> = { Gauge: 'gauge', Counter: 'counter', Histogram: 'histogram', Summary: 'summary' };

/**
 * The metrics one source file registers: with prom-client (`new Gauge({ name: '...' })` and the
 * like), in a probe's registry (`registry.gauge('...')`), calls of the file's helpers that wrap
 * one (`gauge('probe_x', ...)`, a helper calling a helper with its `name`), and phase timers
 * (`probe.phases('sftp', ...)`, or `createPhaseTimer(registry, 'sftp', ...)` under it, registers
 * probe_sftp_duration_seconds).
 */
function registeredMetrics(source: string): Map<string, MetricType> {
  const found = new Map<string, MetricType>();
  for (const m of source.matchAll(/new\s+(Gauge|Counter|Histogram|Summary)\s*(?:<[^>]*>)?\(\s*\{\s*name:\s*['"]([A-Za-z_:][\w:]*)['"]/g)) {
    found.set(m[2] as string, TYPES[m[1] as string] as MetricType);
  }
  for (const m of source.matchAll(/\.gauge\(\s*['"]([A-Za-z_:][\w:]*)['"]/g)) found.set(m[1] as string, 'gauge');
  for (const m of source.matchAll(/(?:createPhaseTimer\s*\(\s*[\w.]+\s*,|\.phases\s*\()\s*['"](\w+)['"]/g)) found.set(`probe_${m[1]}_duration_seconds`, 'gauge');

  // Helpers: functions with a `name` parameter that pass it to a metric constructor or to another helper.
  const helpers = new Map<string, MetricType>();
  const definitions = [...source.matchAll(/(?:const|function)\s+(\w+)\s*(?:=\s*)?\(([^)]*)\)/g)]
    .filter((m) => /\bname\b/.test(m[2] as string))
    .map((m) => ({ helper: m[1] as string, body: source.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 400) }));
  for (let changed = true; changed;) {
    changed = false;
    for (const { helper, body } of definitions) {
      if (helpers.has(helper)) continue;
      const direct = /new\s+(Gauge|Counter|Histogram|Summary)\s*(?:<[^>]*>)?\(\s*\{\s*name\s*[,}]/.exec(body);
      const probeGauge = /\.gauge\(\s*name\b/.test(body);
      const viaHelper = [...body.matchAll(/(?<!\.)\b(\w+)\(\s*name\b/g)].map((m) => helpers.get(m[1] as string)).find(Boolean);
      const type = direct ? TYPES[direct[1] as string] : probeGauge ? 'gauge' : viaHelper;
      if (type) {
        helpers.set(helper, type);
        changed = true;
      }
    }
  }
  for (const [helper, type] of helpers) {
    for (const m of source.matchAll(new RegExp(`\\b${helper}\\(\\s*(?:[\\w.]+\\s*,\\s*)?['"]([A-Za-z_:][\\w:]*)['"]`, 'g'))) found.set(m[1] as string, type);
  }
  return found;
}

/** A histogram or summary is scraped as its _bucket, _sum and _count series (and quantiles under its own name). */
function addSeries(catalog: Map<string, { type: MetricType; source: string }>, name: string, type: MetricType, source: string): void {
  if (type === 'histogram' || type === 'summary') {
    if (type === 'histogram') catalog.set(`${name}_bucket`, { type: 'counter', source });
    else catalog.set(name, { type: 'gauge', source });
    catalog.set(`${name}_sum`, { type: 'counter', source });
    catalog.set(`${name}_count`, { type: 'counter', source });
  } else {
    catalog.set(name, { type, source });
  }
}

/** The part of a rule file the catalog reads: the names of the recording rules. */
const RecordingRules = Type.Object({ groups: Type.Array(Type.Object({ rules: Type.Array(Type.Object({ record: Type.Optional(Type.String()) })) })) });

async function ourMetrics(): Promise<Map<string, { type: MetricType; source: string }>> {
  const catalog = new Map<string, { type: MetricType; source: string }>();
  let defaultMetrics = false;
  for (const file of [...sourceFiles(path.join(ROOT, 'exporters')), ...sourceFiles(path.join(ROOT, 'src'))]) {
    const source = readFileSync(file, 'utf8');
    for (const [name, type] of registeredMetrics(source)) addSeries(catalog, name, type, path.relative(ROOT, file));
    if (/\bcollectDefaultMetrics\s*\(/.test(source)) defaultMetrics = true;
  }
  if (defaultMetrics) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    for (const metric of await registry.getMetricsAsJSON()) addSeries(catalog, metric.name, String(metric.type) as MetricType, 'prom-client default metrics');
    registry.clear();
  }
  for (const file of readdirSync(path.join(ROOT, 'prometheus', 'rules')).filter((name) => name.endsWith('.yml'))) {
    const rules = parsedAs(RecordingRules, parse(readFileSync(path.join(ROOT, 'prometheus', 'rules', file), 'utf8')), `prometheus/rules/${file}`);
    for (const rule of rules.groups.flatMap((group) => group.rules)) {
      if (rule.record) catalog.set(rule.record, { type: 'gauge', source: `prometheus/rules/${file}` });
    }
  }
  return catalog;
}

// ---------------------------------------------------------------------------------------------
// promtool

function promtool(args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}` }));
  });
}

// ---------------------------------------------------------------------------------------------

/** The parts of the provisioning files the tests read; the rest each test matches as a whole. */
const DatasourcesYml = Type.Object({ apiVersion: Type.Number(), datasources: Type.Array(Type.Object({ uid: Type.String(), isDefault: Type.Optional(Type.Boolean()) })) });
const DashboardsYml = Type.Object({ apiVersion: Type.Number(), providers: Type.Array(Type.Record(Type.String(), Type.Unknown())) });

describe('provisioning', () => {
  const read = (file: string): unknown => parse(readFileSync(path.join(GRAFANA, 'provisioning', file), 'utf8'));

  test('datasources: Prometheus and Alertmanager with fixed uids, Prometheus the default', () => {
    const { apiVersion, datasources } = parsedAs(DatasourcesYml, read('datasources/datasources.yml'), 'grafana/provisioning/datasources/datasources.yml');
    expect(apiVersion).toBe(1);
    const byUid = new Map(datasources.map((ds) => [ds.uid, ds]));
    expect([...byUid.keys()].sort()).toEqual(['alertmanager', 'prometheus']);
    expect(byUid.get('prometheus')).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(byUid.get('alertmanager')).toMatchObject({ type: 'alertmanager', url: 'http://alertmanager:9093', jsonData: { implementation: 'prometheus' } });
    expect(byUid.get('alertmanager')?.isDefault).toBeFalsy();
  });

  test('dashboards: one file provider reading the mounted grafana/dashboards', () => {
    const { apiVersion, providers } = parsedAs(DashboardsYml, read('dashboards/dashboards.yml'), 'grafana/provisioning/dashboards/dashboards.yml');
    expect(apiVersion).toBe(1);
    expect(providers).toHaveLength(1);
    expect(providers[0]).toMatchObject({ type: 'file', options: { path: DASHBOARDS_MOUNT } });
    expect(readFileSync(path.join(GRAFANA, 'README.md'), 'utf8')).toContain(`grafana/dashboards:${DASHBOARDS_MOUNT}`);
  });
});

describe('dashboards', () => {
  test('one per uid the stack links to, each uid and title once', () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual([...UIDS].sort());
    expect(new Set(dashboards.map((d) => d.title)).size).toBe(dashboards.length);
  });

  describe.each(dashboards.map((d) => [d.title, d] as const))('%s', (_, dashboard) => {
    const variables = dashboard.templating.list;

    test('has a datasource variable defaulting to the provisioned Prometheus', () => {
      const datasource = variables.find((v) => v.name === 'datasource');
      expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus', current: { value: 'prometheus' } });
    });

    test('templates from label_values through the datasource variable', () => {
      const queryVariables = variables.filter((v) => v.type === 'query');
      expect(queryVariables.length).toBeGreaterThan(0);
      for (const variable of queryVariables) {
        expect({ variable: variable.name, query: variableQuery(variable) }).toEqual({ variable: variable.name, query: stringMatching(LABEL_VALUES) });
        expect({ variable: variable.name, datasource: variable.datasource?.uid }).toEqual({ variable: variable.name, datasource: DATASOURCE_REF });
      }
    });

    test('links to every other dashboard, keeping the time range and variables', () => {
      for (const uid of UIDS.filter((uid) => uid !== dashboard.uid)) {
        expect(dashboard.links).toContainEqual(expect.objectContaining({ type: 'link', url: `/d/${uid}`, includeVars: true, keepTime: true }));
      }
    });

    test('every panel and query uses the datasource variable', () => {
      for (const panel of queryPanels(dashboard)) {
        expect({ panel: panel.title, datasource: panel.datasource?.uid }).toEqual({ panel: panel.title, datasource: DATASOURCE_REF });
        expect({ panel: panel.title, targets: (panel.targets ?? []).length > 0 }).toEqual({ panel: panel.title, targets: true });
        for (const target of panel.targets ?? []) {
          expect({ panel: panel.title, refId: target.refId, datasource: target.datasource?.uid }).toEqual({ panel: panel.title, refId: target.refId, datasource: DATASOURCE_REF });
        }
      }
    });

    test('stays readable: 6 panels or more, at most 12 under one row, with titles, unique ids, units on every graph', () => {
      const panels = queryPanels(dashboard);
      expect(panels.length).toBeGreaterThanOrEqual(6);
      // A row is a screen of its own: the panels from one row to the next (the dashboard's top
      // counts as a row), or inside a collapsed row.
      const sections: { row: string; panels: number }[] = [{ row: '(top)', panels: 0 }];
      for (const panel of dashboard.panels) {
        if (panel.type === 'row') sections.push({ row: panel.title ?? '(untitled row)', panels: (panel.panels ?? []).length });
        else (sections.at(-1) as { panels: number }).panels++;
      }
      for (const section of sections) expect({ row: section.row, panels: Math.min(section.panels, 12) }).toEqual({ row: section.row, panels: section.panels });
      const ids = allPanels(dashboard).map((panel) => panel.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const panel of panels) {
        expect(panel.title).toBeTruthy();
        expect(panel.gridPos).toBeDefined();
        if (['timeseries', 'stat', 'bargauge', 'gauge'].includes(panel.type)) {
          expect({ panel: panel.title, unit: panel.fieldConfig?.defaults?.unit }).toEqual({ panel: panel.title, unit: anyString() });
        }
      }
    });

    test("uses only variables it defines, and Grafana's interval variables", () => {
      const defined = new Set([...variables.map((v) => v.name), ...Object.keys(INTERVALS)]);
      const used = queries.filter((q) => q.dashboard === dashboard.title).flatMap((q) => variablesIn(q.expr).map((name) => ({ name, query: describeQuery(q) })));
      expect(used.filter(({ name }) => !defined.has(name))).toEqual([]);
    });
  });

  test('the overview has the monitor variable the alert e-mails link to', () => {
    const overview = dashboards.find((d) => d.uid === 'checkpoint-overview');
    const monitor = overview?.templating.list.find((v) => v.name === 'monitor');
    expect(monitor).toMatchObject({ type: 'query', multi: true, includeAll: true });
    expect(variableQuery(monitor as Variable)).toMatch(/^label_values\(probe_success\{.*\}, monitor\)$/);
  });
});

describe('panel queries', () => {
  test('there are queries to check', () => {
    expect(queries.length).toBeGreaterThan(40);
    expect(queries.filter((q) => q.expr.trim() === '')).toEqual([]);
  });

  test('are valid PromQL (promtool check rules)', async () => {
    // Each expression becomes a recording rule: promtool parses every expr and names each one it refuses.
    const recordName = (i: number): string => `panel:query:${i}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'checkpoint-grafana-'));
    try {
      const file = path.join(dir, 'panels.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules: queries.map((q, i) => ({ record: recordName(i), expr: concrete(q.expr) })) }] }));
      const { ok, output } = await promtool(['check', 'rules', file]);
      if (!ok) {
        const refused = queries
          .map((q, i) => ({ q, line: output.split('\n').find((line) => line.includes(`"${recordName(i)}"`)) }))
          .filter(({ line }) => line !== undefined)
          .map(({ q, line }) => `${describeQuery(q)}\n    ${line?.replace(/^.*?could not parse expression: /, '')}`);
        throw new Error(`promtool refused ${refused.length ? 'these queries' : 'the queries'}:\n${refused.join('\n') || output}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('name no metric by __name__, so every name is visible to the checks below', () => {
    expect(queries.filter((q) => /__name__/.test(q.expr)).map(describeQuery)).toEqual([]);
  });

  describe('metric names', () => {
    let catalog: Map<string, { type: MetricType; source: string }>;

    beforeAll(async () => {
      catalog = await ourMetrics();
      for (const [name, type] of await nodeExporterMetricTypes()) catalog.set(name, { type: type as MetricType, source: 'node-exporter' });
      for (const [name, type] of await redisExporterMetricTypes()) catalog.set(name, { type: type as MetricType, source: 'redis_exporter' });
      for (const [name, type] of await postgresExporterMetricTypes()) catalog.set(name, { type: type as MetricType, source: 'postgres_exporter' });
      for (const [name, type] of Object.entries(CADVISOR_METRICS)) catalog.set(name, { type, source: 'cAdvisor' });
      for (const [name, type] of Object.entries(PROMETHEUS_METRICS)) catalog.set(name, { type, source: 'Prometheus' });
      // Two PostgreSQL clusters (a primary and its replica) start for postgres_exporter's catalog.
    }, 120_000);

    test('the catalog finds what the code registers', () => {
      // A scan that silently found nothing would pass every query below.
      expect(catalog.get('probe_success')).toMatchObject({ type: 'gauge' });
      // A prober asks for its phase timer where it runs (probe.phases), or in its metrics module.
      expect(catalog.get('probe_http_duration_seconds')).toMatchObject({ type: 'gauge', source: stringMatching(/^exporters\/http\/(metrics|prober)\.ts$/) });
      expect(catalog.get('probe_sftp_duration_seconds')).toMatchObject({ type: 'gauge', source: stringMatching(/^exporters\/sftp\/(metrics|prober)\.ts$/) });
      expect(catalog.get('probe_docker_duration_seconds')).toMatchObject({ type: 'gauge', source: 'exporters/docker/prober.ts' });
      expect(catalog.get('probe_ssl_earliest_cert_expiry')).toMatchObject({ type: 'gauge', source: 'src/net/tls-facts.ts' });
      expect(catalog.get('checkpoint_probes_total')).toMatchObject({ type: 'counter', source: 'src/observability/self-metrics.ts' });
      expect(catalog.get('checkpoint_probe_duration_seconds_bucket')).toMatchObject({ type: 'counter' });
      expect(catalog.get('monitor:probe_down:confirmed')).toBeDefined();
      expect(catalog.get('node_cpu_seconds_total')).toMatchObject({ type: 'counter', source: 'node-exporter' });
      expect(catalog.get('pg_stat_database_xact_commit')).toMatchObject({ type: 'counter', source: 'postgres_exporter' });
      // From the shipped queries file (compose/postgres-exporter/queries.yaml), and only with a replica connected.
      expect(catalog.get('pg_postmaster_start_time_seconds')).toMatchObject({ type: 'gauge', source: 'postgres_exporter' });
      expect(catalog.get('pg_stat_replication_pg_wal_lsn_diff')).toMatchObject({ type: 'gauge', source: 'postgres_exporter' });
      expect(catalog.get('redis_rdb_last_bgsave_status')).toMatchObject({ type: 'gauge', source: 'redis_exporter' });
    });

    test('every metric a query names is exposed by our exporters, node-exporter, postgres_exporter, redis_exporter, cAdvisor or Prometheus', () => {
      const unknown = queries.flatMap((q) =>
        metricUses(q.expr)
          .filter((use) => !catalog.has(use.name))
          .map((use) => `${use.name} in ${describeQuery(q)}`),
      );
      expect(unknown).toEqual([]);
    });

    test('counters are read only through rate, irate, increase, resets or changes', () => {
      const isCounter = (name: string): boolean => catalog.get(name)?.type === 'counter' || name.endsWith('_total');
      const bare = queries.flatMap((q) =>
        metricUses(q.expr)
          .filter((use) => isCounter(use.name) && !RESET_AWARE.has(use.enclosingFunction ?? ''))
          .map((use) => `${use.name} ${use.enclosingFunction ? `inside ${use.enclosingFunction}()` : 'bare'} in ${describeQuery(q)}`),
      );
      expect(bare).toEqual([]);
    });
  });
});

describe('the PromQL reader', () => {
  // The checks above are only as good as the reader: these pin down what it finds and skips.
  const names = (expr: string): string[] => metricUses(expr).map((use) => use.name);

  test('finds metric names, not functions, keywords, labels, strings, durations or numbers', () => {
    expect(names('sum by (instance, mode) (rate(node_cpu_seconds_total{job="node", mode!~"idle|x"}[5m] offset 1h)) / on (instance) group_left (cpu) count(up) > 0.9e3')).toEqual([
      'node_cpu_seconds_total',
      'up',
    ]);
    expect(names('label_replace(vector(1), "service", "$1", "foo_total", "(.+)") unless on (service) ALERTS and ignoring (a) bool node_load1 * 2')).toEqual(['ALERTS', 'node_load1']);
    expect(names('monitor:probe_down:confirmed >= clamp_max(monitor:probe_reporting:count, 2)')).toEqual(['monitor:probe_down:confirmed', 'monitor:probe_reporting:count']);
    expect(names('time() - node_boot_time_seconds{instance=~".*"}')).toEqual(['node_boot_time_seconds']);
  });

  test('knows the function a name sits in directly', () => {
    const fn = (expr: string): (string | undefined)[] => metricUses(expr).map((use) => use.enclosingFunction);
    expect(fn('sum by (le) (rate(a_bucket[5m]))')).toEqual(['rate']);
    expect(fn('sum(a_total)')).toEqual(['sum']);
    expect(fn('a_total + rate(b_total[1m])')).toEqual([undefined, 'rate']);
    expect(fn('max by (x) (increase(c_total{y="(z)"}[1h])) / count(d)')).toEqual(['increase', 'count']);
  });

  test('replaces Grafana variables with what promtool can parse', () => {
    expect(concrete('rate(x{a=~"$checkpoint", b=~"${monitor:regex}"}[$__rate_interval])')).toBe('rate(x{a=~".*", b=~".*"}[5m])');
    expect(variablesIn('x{a=~"$checkpoint", b="${monitor:pipe}"}[$__range] and [[old]] "$1"')).toEqual(['checkpoint', 'monitor', '__range', 'old']);
  });
});
