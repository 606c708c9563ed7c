/**
 * prometheus/: the config and the alerting rules pass Debian's promtool (check config, check
 * rules, and the unit tests in prometheus/tests), every alert carries what an on-call person
 * needs (severity, summary, description, a runbook that exists), and every alert has a unit
 * test that makes it fire.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

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

const ruleFiles = yamlFiles(RULES, '.yml');
const unitTestFiles = yamlFiles(UNIT_TESTS, '.test.yml');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Alert extends Rule {
  alert: string;
  file: string;
}

const alerts: Alert[] = ruleFiles.flatMap((file) =>
  (parse(readFileSync(file, 'utf8')) as { groups: { rules: Rule[] }[] }).groups
    .flatMap((group) => group.rules)
    .filter((rule): rule is Rule & { alert: string } => typeof rule.alert === 'string')
    .map((rule) => ({ ...rule, file: path.basename(file) })),
);

/** Runs promtool; resolves with its output, or fails the test with everything it said. */
function promtool(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error) reject(new Error(`promtool ${args.join(' ')} failed:\n${output}`));
      else resolve(output);
    });
  });
}

const relative = (file: string): string => path.relative(ROOT, file);

describe('promtool', () => {
  test('check config accepts prometheus.yml and the rule files it loads', async () => {
    await expect(promtool(['check', 'config', relative(path.join(PROMETHEUS, 'prometheus.yml'))])).resolves.toContain('SUCCESS');
  });

  test('check rules accepts every rule file', async () => {
    expect(ruleFiles.map((file) => path.basename(file))).toEqual(
      expect.arrayContaining(['servers.yml', 'services.yml', 'resources.yml', 'checkpoints.yml', 'watchdog.yml']),
    );
    await expect(promtool(['check', 'rules', ...ruleFiles.map(relative)])).resolves.toContain('SUCCESS');
  });

  test('the unit tests pass', async () => {
    expect(unitTestFiles.length).toBeGreaterThan(0);
    const output = await promtool(['test', 'rules', ...unitTestFiles.map(relative)]);
    expect(output).not.toContain('FAILED');
  });
});

describe('prometheus.yml', () => {
  const config = parse(readFileSync(path.join(PROMETHEUS, 'prometheus.yml'), 'utf8'));
  const job = (name: string) => config.scrape_configs.find((scrape: { job_name: string }) => scrape.job_name === name);

  test('scrapes the checkpoints, probes through each of them, and scrapes the hosts and containers', () => {
    for (const name of ['checkpoint', 'probe', 'node', 'cadvisor']) expect(job(name)).toBeDefined();
    expect(job('probe').metrics_path).toBe('/probe');
    expect(job('probe').http_sd_configs.map((sd: { url: string }) => sd.url)).toEqual([
      'http://checkpoint-a:9915/sd',
      'http://checkpoint-b:9915/sd',
    ]);
    const targetLabels = job('probe').relabel_configs.map((rule: { target_label: string }) => rule.target_label);
    expect(targetLabels).toEqual(expect.arrayContaining(['__param_target', 'target', 'checkpoint', '__address__', 'instance']));
  });

  test('sends alerts to Alertmanager and loads rules/*.yml', () => {
    expect(config.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093']);
    expect(config.rule_files).toEqual(['rules/*.yml']);
  });
});

describe('every alert', () => {
  const runbookAnchors = new Set(
    [...readFileSync(RUNBOOKS, 'utf8').matchAll(/^## (\S+)\s*$/gm)].flatMap((match) => match[1]?.toLowerCase() ?? []),
  );

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
      const suite = parse(readFileSync(file, 'utf8')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] | null }[] }[];
      };
      for (const test of suite.tests) {
        for (const check of test.alert_rule_test ?? []) if ((check.exp_alerts ?? []).length > 0) fired.add(check.alertname);
      }
    }
    expect(alerts.map((alert) => alert.alert).filter((name) => !fired.has(name))).toEqual([]);
  });
});
