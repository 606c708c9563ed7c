/**
 * prometheus/: the config and the alerting rules pass Debian's promtool (check config, check
 * rules, and the unit tests in prometheus/tests), every alert carries what an on-call person
 * needs (severity, summary, description, a runbook that exists), and every alert has a unit
 * test that makes it fire.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { parse } from 'yaml';
import { parsedAs } from '../support/parsed';
import { promtool } from '../support/promtool';

const ROOT = path.join(__dirname, '..', '..');
const PROMETHEUS = path.join(ROOT, 'prometheus');
const RULES = path.join(PROMETHEUS, 'rules');
const UNIT_TESTS = path.join(PROMETHEUS, 'tests');
const RUNBOOKS = path.join(ROOT, 'docs', 'runbooks.md');
const RUNBOOK_BASE = 'https://github.com/private-checkpoint/private-checkpoint/blob/main/docs/runbooks.md#';

const yamlFiles = (dir: string, suffix: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => path.join(dir, name));

const relative = (file: string): string => path.relative(ROOT, file);

const ruleFiles = yamlFiles(RULES, '.yml');
const unitTestFiles = yamlFiles(UNIT_TESTS, '.test.yml');

const Rule = Type.Object({
  alert: Type.Optional(Type.String()),
  record: Type.Optional(Type.String()),
  expr: Type.String(),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
});
type Rule = Static<typeof Rule>;
const RuleFile = Type.Object({ groups: Type.Array(Type.Object({ rules: Type.Array(Rule) })) });
interface Alert extends Rule {
  alert: string;
  file: string;
}

/** A YAML file of the repository, as the parts `schema` names. */
const readYaml = <Schema extends TSchema>(schema: Schema, file: string): Static<Schema> => parsedAs(schema, parse(readFileSync(file, 'utf8')), relative(file));

const alerts: Alert[] = ruleFiles.flatMap((file) =>
  readYaml(RuleFile, file)
    .groups.flatMap((group) => group.rules)
    .filter((rule): rule is Rule & { alert: string } => typeof rule.alert === 'string')
    .map((rule) => ({ ...rule, file: path.basename(file) })),
);

describe('promtool', () => {
  // prometheus.yml (one place) and central.yml (the central store of sites); a site's agent.yml is
  // a template, checked once rendered (tests/compose/compose-site.test.ts).
  test.each(['prometheus.yml', 'central.yml'])('check config accepts %s and the rule files it loads', async (file) => {
    await expect(promtool(['check', 'config', relative(path.join(PROMETHEUS, file))])).resolves.toContain('SUCCESS');
  });

  test('check rules accepts every rule file', async () => {
    expect(ruleFiles.map((file) => path.basename(file))).toEqual(expect.arrayContaining(['servers.yml', 'services.yml', 'resources.yml', 'checkpoints.yml', 'watchdog.yml']));
    await expect(promtool(['check', 'rules', ...ruleFiles.map(relative)])).resolves.toContain('SUCCESS');
  });

  test('the unit tests pass', async () => {
    expect(unitTestFiles.length).toBeGreaterThan(0);
    const output = await promtool(['test', 'rules', ...unitTestFiles.map(relative)]);
    expect(output).not.toContain('FAILED');
  });
});

/** The parts of prometheus.yml the tests below read. */
const PrometheusYml = Type.Object({
  scrape_configs: Type.Array(
    Type.Object({
      job_name: Type.String(),
      metrics_path: Type.Optional(Type.String()),
      http_sd_configs: Type.Optional(Type.Array(Type.Object({ url: Type.String() }))),
      relabel_configs: Type.Optional(Type.Array(Type.Object({ target_label: Type.Optional(Type.String()) }))),
    }),
  ),
  alerting: Type.Object({ alertmanagers: Type.Array(Type.Object({ static_configs: Type.Array(Type.Object({ targets: Type.Array(Type.String()) })) })) }),
  rule_files: Type.Array(Type.String()),
});

describe('prometheus.yml', () => {
  const config = readYaml(PrometheusYml, path.join(PROMETHEUS, 'prometheus.yml'));
  /** The scrape job `name`; a test that needs one that is not there fails saying so. */
  const job = (name: string) => {
    const found = config.scrape_configs.find((scrape) => scrape.job_name === name);
    if (!found) throw new Error(`prometheus.yml has no scrape job "${name}"`);
    return found;
  };

  test('scrapes the checkpoints, probes through each of them, and scrapes the hosts and containers', () => {
    for (const name of ['checkpoint', 'probe', 'node', 'cadvisor']) expect(job(name)).toBeDefined();
    expect(job('probe').metrics_path).toBe('/probe');
    expect(job('probe').http_sd_configs?.map((sd) => sd.url)).toEqual(['http://checkpoint-a:9915/sd', 'http://checkpoint-b:9915/sd']);
    const targetLabels = job('probe').relabel_configs?.map((rule) => rule.target_label);
    expect(targetLabels).toEqual(expect.arrayContaining(['__param_target', 'target', 'checkpoint', '__address__', 'instance']));
  });

  test('sends alerts to both Alertmanagers of the pair and loads rules/*.yml', () => {
    expect(config.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['alertmanager:9093', 'alertmanager-2:9093']);
    expect(config.rule_files).toEqual(['rules/*.yml']);
  });
});

/** The parts of a promtool unit test file read below: which alerts each test expects to fire. */
const UnitTestFile = Type.Object({
  tests: Type.Array(
    Type.Object({ alert_rule_test: Type.Optional(Type.Array(Type.Object({ alertname: Type.String(), exp_alerts: Type.Optional(Type.Union([Type.Array(Type.Unknown()), Type.Null()])) }))) }),
  ),
});

describe('every alert', () => {
  const runbookAnchors = new Set([...readFileSync(RUNBOOKS, 'utf8').matchAll(/^## (\S+)\s*$/gm)].flatMap((match) => match[1]?.toLowerCase() ?? []));

  test('there are alerts, each name once', () => {
    const names = alerts.map((alert) => alert.alert);
    expect(names.length).toBeGreaterThan(30);
    expect(new Set(names).size).toBe(names.length);
  });

  test.each(alerts.map((alert) => [alert.alert, alert]))('%s has a severity, a summary, a description and a runbook', (_name, alert) => {
    expect(['critical', 'warning', 'none']).toContain(alert.labels?.severity);
    expect(alert.annotations?.summary).toMatch(/\S/);
    expect(alert.annotations?.description).toMatch(/Look first at|look first at/);
    expect(alert.annotations?.runbook_url).toBe(`${RUNBOOK_BASE}${alert.alert.toLowerCase()}`);
    expect(runbookAnchors).toContain(alert.alert.toLowerCase());
  });

  test('docs/runbooks.md has no section for an alert that does not exist', () => {
    const names = new Set(alerts.map((alert) => alert.alert.toLowerCase()));
    expect([...runbookAnchors].filter((anchor) => !names.has(anchor))).toEqual([]);
  });

  test('has a promtool unit test in which it fires', () => {
    const fired = new Set<string>();
    for (const file of unitTestFiles) {
      const suite = readYaml(UnitTestFile, file);
      for (const test of suite.tests) {
        for (const check of test.alert_rule_test ?? []) if ((check.exp_alerts ?? []).length > 0) fired.add(check.alertname);
      }
    }
    expect(alerts.map((alert) => alert.alert).filter((name) => !fired.has(name))).toEqual([]);
  });
});
