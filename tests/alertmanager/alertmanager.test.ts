/**
 * alertmanager/: the shipped config and templates pass amtool, the routing tree sends each alert
 * where it should (amtool config routes test), render-config.sh fills in a site's settings or
 * refuses them (fewer than three admins without --allow-fewer-admins, among others), and a real
 * Alertmanager, from a config rendered by that script, delivers over STARTTLS with AUTH to a real
 * SMTP server: each of the three admins gets a readable mail of their own, resolved alerts are
 * sent, inhibited ones are not, a restart on the same storage does not resend, and an admin whose
 * address the server refuses at RCPT TO does not stop the others' mail.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, parseDocument, isMap, isSeq, type YAMLMap } from 'yaml';
import { AMTOOL, startAlertmanager, type Alertmanager, type PostableAlert } from '../support/alertmanager';
import { makeTestPki, type TestPki } from '../support/certs';
import { startMailSink, type MailSink, type ReceivedMail } from '../support/mail-sink';
import { listenOnLoopback, LOOPBACK } from '../support/ports';
import { run, sleep } from '../support/processes';

const ALERTMANAGER_DIR = path.join(__dirname, '..', '..', 'alertmanager');
const SHIPPED_CONFIG = path.join(ALERTMANAGER_DIR, 'alertmanager.yml');
const RENDER = path.join(ALERTMANAGER_DIR, 'render-config.sh');
/** Alertmanager's --data.retention default, which the stack keeps. */
const DATA_RETENTION_SECONDS = 120 * 3600;

const ADMINS = ['alice@example.test', 'bob@example.test', 'carol@example.test'];
const SMTP_USER = 'checkpoint-alerts';
const SMTP_PASSWORD = 'relay-s3cret-pw';
const GRAFANA_URL = 'https://grafana.example.test';
const ALERTMANAGER_URL = 'https://alertmanager.example.test';
const RUNBOOK = 'https://github.com/private-checkpoint/private-checkpoint/blob/main/docs/runbooks.md#';

let workDir: string;

beforeAll(async () => {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'alertmanager-test-'));
});
afterAll(async () => {
  await fs.rm(workDir, { recursive: true, force: true });
});

interface Rendered {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs render-config.sh with only PATH, the two site URLs and `env` in its environment, `options` before OUT_DIR. */
function renderResult(outDir: string, env: Record<string, string>, options: string[] = []): Promise<Rendered> {
  const assignments = Object.entries({ PATH: process.env.PATH ?? '/usr/bin:/bin', GRAFANA_URL, ALERTMANAGER_URL, ...env }).map(([key, value]) => `${key}=${value}`);
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/env', ['-i', ...assignments, 'sh', RENDER, ...options, outDir], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (!error) resolve({ code: 0, stdout, stderr });
      else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
      else reject(new Error(`render-config.sh did not run to its end: ${error.message}`));
    });
  });
}
/** Resolves to render-config.sh's stdout; rejects with its stderr when it fails. */
async function render(outDir: string, env: Record<string, string>, options: string[] = []): Promise<string> {
  const result = await renderResult(outDir, env, options);
  if (result.code !== 0) throw new Error(`render-config.sh failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}
/** The lines render-config.sh warns with on stderr. */
const warnings = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('WARNING'));

const amtool = (args: string[]): Promise<string> => run(AMTOOL, args);

describe('the shipped config', () => {
  test('passes amtool check-config, templates included', async () => {
    const out = await amtool(['check-config', SHIPPED_CONFIG]);
    expect(out).toContain('SUCCESS');
    expect(out).toContain('4 receivers');
  });

  // The receivers each alert reaches, in order; --verify.receivers makes amtool fail on a mismatch.
  test.each([
    ["Watchdog goes to the dead man's switch and to the admins", ['alertname=Watchdog', 'severity=none'], 'deadmansswitch,admins-watchdog'],
    ['Watchdog with a site label still goes to both', ['alertname=Watchdog', 'severity=none', 'site=paris'], 'deadmansswitch,admins-watchdog'],
    ['MonitorDown is critical', ['alertname=MonitorDown', 'severity=critical', 'monitor=orders-db'], 'admins-critical'],
    ['HostDown is critical', ['alertname=HostDown', 'severity=critical', 'instance=node-a:9100', 'job=node'], 'admins-critical'],
    ['CheckpointDown is critical', ['alertname=CheckpointDown', 'severity=critical', 'checkpoint=cp-a'], 'admins-critical'],
    ['MonitorFailingFromOneCheckpoint is a warning', ['alertname=MonitorFailingFromOneCheckpoint', 'severity=warning', 'monitor=orders-db', 'checkpoint=cp-a'], 'admins-warning'],
    ['a certificate expiring is a warning', ['alertname=MonitorCertificateExpiringSoon', 'severity=warning', 'monitor=shop'], 'admins-warning'],
    ['an alert without severity still reaches the admins', ['alertname=Unlabelled'], 'admins-warning'],
  ])('routes: %s', async (_name, labels, receivers) => {
    const out = await amtool(['config', 'routes', 'test', `--config.file=${SHIPPED_CONFIG}`, `--verify.receivers=${receivers}`, ...labels]);
    expect(out.trim()).toBe(receivers);
  });

  test('keeps every repeat_interval below the data retention, the Watchdog at 48h to the admins', () => {
    const config = parse(readFileSync(SHIPPED_CONFIG, 'utf8')) as { route: Route; receivers: Receiver[] };
    const routes = flatten(config.route);
    for (const route of routes) {
      if (route.repeat_interval) expect(seconds(route.repeat_interval)).toBeLessThan(DATA_RETENTION_SECONDS);
    }
    const watchdog = routes.filter((route) => route.matchers?.includes('alertname="Watchdog"'));
    expect(watchdog.map((route) => [route.receiver, route.continue ?? false, route.repeat_interval])).toEqual([
      ['deadmansswitch', true, '5m'],
      ['admins-watchdog', false, '48h'],
    ]);
    const byName = new Map(config.receivers.map((receiver) => [receiver.name, receiver]));
    expect(byName.get('deadmansswitch')?.webhook_configs?.[0]?.send_resolved).toBe(false);
    for (const name of ['admins-critical', 'admins-warning']) expect(byName.get(name)?.email_configs?.[0]?.send_resolved).toBe(true);
  });
});

interface Route {
  receiver?: string;
  matchers?: string[];
  continue?: boolean;
  repeat_interval?: string;
  routes?: Route[];
}
interface Receiver {
  name: string;
  email_configs?: { send_resolved?: boolean; to?: string; headers?: Record<string, string>; html?: string; text?: string }[];
  webhook_configs?: { send_resolved?: boolean; url?: string }[];
}
const flatten = (route: Route): Route[] => [route, ...(route.routes ?? []).flatMap(flatten)];
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const seconds = (duration: string): number => {
  let total = 0;
  for (const [, count, unit] of duration.matchAll(/(\d+)([smhdw])/g)) {
    const unitSeconds = unit === undefined ? undefined : UNIT_SECONDS[unit];
    if (count === undefined || unitSeconds === undefined) throw new Error(`cannot read the duration ${duration}`);
    total += Number(count) * unitSeconds;
  }
  return total;
};

const ADMIN_RECEIVERS = ['admins-warning', 'admins-critical', 'admins-watchdog'];

describe('render-config.sh', () => {
  test("fills in the admins, one e-mail config each, the smarthost and the dead man's switch, and the result checks", async () => {
    const out = path.join(workDir, 'render-full');
    const result = await renderResult(out, {
      ADMIN_EMAILS: 'alice@example.test, bob@example.test carol@example.test',
      GRAFANA_URL: 'https://grafana.example.test/',
      ALERTMANAGER_URL: 'https://alertmanager.example.test/',
      SMTP_SMARTHOST: 'relay.example.test:587',
      SMTP_FROM: 'Checkpoint <alerts@example.test>',
      SMTP_AUTH_PASSWORD_FILE: '/run/secrets/relay',
      DEADMANSSWITCH_URL: 'https://hc-ping.com/0f1e2d3c-aaaa-bbbb-cccc-123456789abc?a=1&b=2',
    });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain("3 admin(s), with the dead man's switch");
    const site = await fs.readFile(path.join(out, 'templates', 'site.tmpl'), 'utf8');
    expect(site).toContain('{{ define "admins" }}alice@example.test, bob@example.test, carol@example.test{{ end }}');
    expect(site).toContain('{{ define "grafana_url" }}https://grafana.example.test{{ end }}');
    expect(site).toContain('{{ define "alertmanager_url" }}https://alertmanager.example.test{{ end }}');
    const rendered = await fs.readFile(path.join(out, 'alertmanager.yml'), 'utf8');
    expect(rendered).not.toContain('admin email');
    const config = parse(rendered) as { global: Record<string, unknown>; receivers: Receiver[] };
    expect(config.global).toMatchObject({
      smtp_smarthost: 'relay.example.test:587',
      smtp_from: 'Checkpoint <alerts@example.test>',
      smtp_auth_username: 'checkpoint-alerts',
      smtp_auth_password_file: '/run/secrets/relay',
      smtp_require_tls: true,
    });
    // One e-mail config per admin in each admin receiver, the same but for `to`; the To header
    // still names them all.
    const shipped = parse(readFileSync(SHIPPED_CONFIG, 'utf8')) as { receivers: Receiver[] };
    for (const name of ADMIN_RECEIVERS) {
      const [template, ...more] = shipped.receivers.find((receiver) => receiver.name === name)?.email_configs ?? [];
      expect([name, more]).toEqual([name, []]);
      const emails = config.receivers.find((receiver) => receiver.name === name)?.email_configs ?? [];
      expect([name, emails.map((email) => email.to)]).toEqual([name, ADMINS]);
      for (const email of emails) {
        expect(email).toEqual({ ...template, to: email.to });
        expect(email.headers?.To).toBe('{{ template "admins" . }}');
      }
    }
    const deadmansswitch = config.receivers.find((receiver) => receiver.name === 'deadmansswitch');
    expect(deadmansswitch?.webhook_configs?.[0]?.url).toBe('https://hc-ping.com/0f1e2d3c-aaaa-bbbb-cccc-123456789abc?a=1&b=2');
    expect(await amtool(['check-config', path.join(out, 'alertmanager.yml')])).toContain('SUCCESS');
  });

  test("reads the dead man's switch URL from a file, and without one leaves a receiver that sends nothing, warning loudly", async () => {
    const urlFile = path.join(workDir, 'dms-url');
    await fs.writeFile(urlFile, 'https://hc-ping.com/from-a-file\n');
    const withFile = path.join(workDir, 'render-file');
    expect(warnings((await renderResult(withFile, { ADMIN_EMAILS: ADMINS.join(','), DEADMANSSWITCH_URL_FILE: urlFile })).stderr)).toEqual([]);
    const fromFile = parse(await fs.readFile(path.join(withFile, 'alertmanager.yml'), 'utf8')) as { receivers: Receiver[] };
    expect(fromFile.receivers.find((r) => r.name === 'deadmansswitch')?.webhook_configs?.[0]?.url).toBe('https://hc-ping.com/from-a-file');

    const without = path.join(workDir, 'render-without');
    const result = await renderResult(without, { ADMIN_EMAILS: ADMINS.join(',') });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('switch');
    expect(warnings(result.stderr)).toEqual([expect.stringMatching(/^WARNING: no dead man's switch \(DEADMANSSWITCH_URL or DEADMANSSWITCH_URL_FILE\).*alertmanager\/README\.md/)]);
    const rendered = await fs.readFile(path.join(without, 'alertmanager.yml'), 'utf8');
    const config = parse(rendered) as { receivers: Receiver[] };
    expect(config.receivers.find((r) => r.name === 'deadmansswitch')).toEqual({ name: 'deadmansswitch' });
    expect(rendered).not.toContain('deadmansswitch.invalid');
    // The route still sends the Watchdog there; it just goes nowhere.
    expect((await amtool(['config', 'routes', 'test', `--config.file=${path.join(without, 'alertmanager.yml')}`, 'alertname=Watchdog'])).trim()).toBe('deadmansswitch,admins-watchdog');
  });

  test('renders fewer than three admins only with --allow-fewer-admins, and says so', async () => {
    const out = path.join(workDir, 'render-fewer');
    const result = await renderResult(out, { ADMIN_EMAILS: 'alice@example.test', DEADMANSSWITCH_URL: 'https://hc-ping.com/x' }, ['--allow-fewer-admins']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('1 admin(s)');
    expect(warnings(result.stderr)).toEqual(['WARNING: ADMIN_EMAILS has 1 address(es), fewer than 3 (--allow-fewer-admins): fine for a demo, not for production']);
    const config = parse(await fs.readFile(path.join(out, 'alertmanager.yml'), 'utf8')) as { receivers: Receiver[] };
    for (const name of ADMIN_RECEIVERS) {
      expect([name, config.receivers.find((receiver) => receiver.name === name)?.email_configs?.map((email) => email.to)]).toEqual([name, ['alice@example.test']]);
    }
    expect(await amtool(['check-config', path.join(out, 'alertmanager.yml')])).toContain('SUCCESS');
    // Three or more need no flag, and the flag changes nothing for them.
    expect(warnings((await renderResult(out, { ADMIN_EMAILS: ADMINS.join(','), DEADMANSSWITCH_URL: 'https://hc-ping.com/x' }, ['--allow-fewer-admins'])).stderr)).toEqual([]);
  });

  const three = ADMINS.join(', ');
  test.each([
    ['no admins', {}, [], 'ADMIN_EMAILS is empty'],
    ['one admin', { ADMIN_EMAILS: 'alice@example.test' }, [], 'ADMIN_EMAILS has 1 address(es), at least 3 are required'],
    ['two admins', { ADMIN_EMAILS: 'alice@example.test bob@example.test' }, [], 'pass --allow-fewer-admins for a demo or a test'],
    ['no admins even with --allow-fewer-admins', { ADMIN_EMAILS: ' , ' }, ['--allow-fewer-admins'], 'ADMIN_EMAILS is empty'],
    ['the same admin twice, which would count as two', { ADMIN_EMAILS: 'alice@example.test, bob@example.test, Alice@example.test' }, [], 'ADMIN_EMAILS: Alice@example.test is listed twice'],
    ['an address that is not one', { ADMIN_EMAILS: 'alice@example.test, bob' }, [], 'ADMIN_EMAILS: not an e-mail address: bob'],
    ['a template in an address', { ADMIN_EMAILS: '{{ .x }}@example.test' }, [], 'not an e-mail address'],
    ['a quote in a setting', { ADMIN_EMAILS: three, SMTP_FROM: "o'brien@example.test" }, [], 'SMTP_FROM must not contain braces, quotes or backslashes'],
    ['a Grafana URL that is not one', { ADMIN_EMAILS: three, GRAFANA_URL: 'grafana:3000' }, [], 'GRAFANA_URL must be an http(s) URL'],
    // A link defaulting to localhost would lead an admin's phone nowhere.
    ['no Grafana URL', { ADMIN_EMAILS: three, GRAFANA_URL: '' }, [], "GRAFANA_URL is required: Grafana's address as the admins reach it"],
    ['no Alertmanager URL', { ADMIN_EMAILS: three, ALERTMANAGER_URL: '' }, [], "ALERTMANAGER_URL is required: Alertmanager's address as the admins reach it"],
    ['an Alertmanager URL with a quote', { ADMIN_EMAILS: three, ALERTMANAGER_URL: 'https://am.test/"' }, [], 'ALERTMANAGER_URL must not contain braces, quotes or backslashes'],
    ['both ways of giving the switch', { ADMIN_EMAILS: three, DEADMANSSWITCH_URL: 'https://x.test/', DEADMANSSWITCH_URL_FILE: '/dev/null' }, [], 'not both'],
    ['an unreadable switch file', { ADMIN_EMAILS: three, DEADMANSSWITCH_URL_FILE: '/nonexistent/url' }, [], 'cannot read /nonexistent/url'],
    ['an unknown option', { ADMIN_EMAILS: three }, ['--allow-fewer-admin'], 'unknown option --allow-fewer-admin; usage: render-config.sh [--allow-fewer-admins] OUT_DIR'],
  ])('refuses %s', async (_name, env, options, message) => {
    const out = path.join(workDir, 'render-refused');
    const result = await renderResult(out, env, options);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^render-config\.sh: /m);
    expect(result.stderr).toContain(message);
    await expect(fs.access(path.join(out, 'alertmanager.yml'))).rejects.toThrow();
  });

  // Alertmanager 0.25 does not trim the file: the newline would be part of the password (535).
  test('refuses an SMTP password file that ends with a newline', async () => {
    const passwordFile = path.join(workDir, 'password-with-newline');
    await fs.writeFile(passwordFile, 'secret\n');
    await expect(render(path.join(workDir, 'render-refused'), { ADMIN_EMAILS: ADMINS.join(','), SMTP_AUTH_PASSWORD_FILE: passwordFile })).rejects.toThrow(
      `${passwordFile} ends with a newline, which Alertmanager would send as part of the SMTP password`,
    );
  });
});

/** A dead man's switch endpoint, healthchecks.io style: it only counts what it receives. */
interface Switch {
  url: string;
  /** The alertname of each alert of each ping; undefined for an alert without one. */
  pings: { alertnames: (string | undefined)[]; status: string }[];
  close(): Promise<void>;
}
async function startSwitch(): Promise<Switch> {
  const pings: Switch['pings'] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const payload = JSON.parse(body) as { status: string; alerts: { labels: Record<string, string> }[] };
      pings.push({ status: payload.status, alertnames: payload.alerts.map((alert) => alert.labels.alertname) });
      response.end('OK');
    });
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://${LOOPBACK}:${port}/ping/some-uuid`,
    pings,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// The shipped timings, scaled down in the test's copy only: group_wait 30s and group_interval 5m
// would make a test of minutes. repeat_interval stays as shipped (hours), so nothing repeats here.
function scaleTimings(yamlText: string): string {
  const doc = parseDocument(yamlText);
  const visit = (route: YAMLMap): void => {
    if (route.has('group_wait') || route === doc.get('route')) route.set('group_wait', '1s');
    if (route.has('group_interval') || route === doc.get('route')) route.set('group_interval', '2s');
    const children = route.get('routes');
    if (isSeq(children)) for (const child of children.items) if (isMap(child)) visit(child);
  };
  const route = doc.get('route');
  if (!isMap(route)) throw new Error('alertmanager.yml has no route to scale the timings of');
  visit(route);
  return doc.toString();
}

describe('delivery by a real Alertmanager to a real SMTP server', () => {
  let pki: TestPki;
  let sink: MailSink;
  let deadmansswitch: Switch;
  let configFile: string;
  let storageDir: string;
  let alertmanager: Alertmanager | undefined;
  // Set just before each POST. Not earlier: Alertmanager flushes a new group at once, without its
  // group_wait, when the first alert started more than group_wait ago, and the rest of the batch
  // would then come in a second mail.
  let startedAt = '';

  const alert = (labels: { alertname: string } & Record<string, string>, annotations: Record<string, string> = {}, endsAt?: string): PostableAlert => ({
    labels,
    annotations: { runbook_url: RUNBOOK + labels.alertname.toLowerCase(), ...annotations },
    startsAt: startedAt,
    ...(endsAt ? { endsAt } : {}),
    generatorURL: 'http://prometheus.example.test/graph',
  });
  // As Prometheus sends it: the rule counts the checkpoints away (no `checkpoint` label) and names
  // those that see the failure, with their probes' reasons, in its `checkpoints` annotation; its
  // `since` is the first failed probe, earlier than the alert's startsAt.
  const SINCE = '2026-01-02 03:04:05 UTC';
  const monitorDown = (endsAt?: string): PostableAlert =>
    alert(
      { alertname: 'MonitorDown', severity: 'critical', monitor: 'orders-db', module: 'postgres', target: 'orders-db.internal:5432' },
      {
        summary: 'orders-db is down, confirmed from 2 checkpoint(s)',
        description: 'orders-db fails from every checkpoint: connect refused.',
        checkpoints: 'cp-a (connect), cp-b (connect)',
        since: SINCE,
        dashboard: '/d/checkpoint-overview?var-monitor=orders-db',
        value: '0',
      },
      endsAt,
    );
  // Each of these is silenced by an alert in `firing`, so none may ever reach the inbox.
  const inhibited = (endsAt?: string): PostableAlert[] => [
    alert({ alertname: 'MonitorFailingFromOneCheckpoint', severity: 'warning', monitor: 'orders-db', checkpoint: 'cp-a' }, { summary: 'orders-db fails from cp-a' }, endsAt),
    alert({ alertname: 'HostDiskFillingUp', severity: 'warning', instance: 'node-a:9100', job: 'node', mountpoint: '/data' }, { summary: 'disk filling up on node-a' }, endsAt),
    alert({ alertname: 'HostDiskNearlyFull', severity: 'critical', instance: 'node-a:9100', job: 'node', mountpoint: '/data' }, { summary: 'disk nearly full on node-a' }, endsAt),
    alert({ alertname: 'CheckpointNotProbing', severity: 'critical', checkpoint: 'cp-c', instance: 'cp-c:9115' }, { summary: 'cp-c does not probe' }, endsAt),
    alert({ alertname: 'TLSCertificateExpiringSoon', severity: 'warning', monitor: 'shop', target: 'https://shop.example/' }, { summary: 'shop certificate expires in 5 days' }, endsAt),
    alert({ alertname: 'PostgresReplicaLagging', severity: 'warning', monitor: 'billing-db', target: 'billing-db:5432' }, { summary: 'billing-db lags' }, endsAt),
    // A silent site's last samples (SiteDown berlin): its checkpoint down, a monitor failing from it.
    alert(
      { alertname: 'CheckpointDown', severity: 'critical', site: 'berlin', checkpoint: 'checkpoint-1', instance: 'checkpoint-1:9915', job: 'checkpoint' },
      { summary: 'berlin/checkpoint-1 is down' },
      endsAt,
    ),
    alert(
      { alertname: 'MonitorFailingFromOneCheckpoint', severity: 'warning', monitor: 'intranet', site: 'berlin', checkpoint: 'checkpoint-1' },
      { summary: 'intranet fails from berlin/checkpoint-1' },
      endsAt,
    ),
  ];
  const firing = (): PostableAlert[] => [
    monitorDown(),
    alert({ alertname: 'HostDown', severity: 'critical', instance: 'node-a:9100', job: 'node' }, { summary: 'Host node-a:9100 is down', dashboard: '/d/checkpoint-hosts?var-instance=node-a%3A9100' }),
    alert({ alertname: 'CheckpointDown', severity: 'critical', checkpoint: 'cp-c', instance: 'cp-c:9115', job: 'checkpoint' }, { summary: 'Checkpoint cp-c is down' }),
    alert({ alertname: 'TLSCertificateExpiryImminent', severity: 'critical', monitor: 'shop', target: 'https://shop.example/' }, { summary: 'shop certificate expires in 5 days' }),
    alert({ alertname: 'HostDiskFillingUpFast', severity: 'critical', instance: 'node-a:9100', job: 'node', mountpoint: '/data' }, { summary: 'disk full within 4 hours on node-a' }),
    alert({ alertname: 'HostDiskFillingUp', severity: 'warning', instance: 'node-a:9100', job: 'node', mountpoint: '/var' }, { summary: 'another disk filling up on node-a' }),
    alert({ alertname: 'PostgresDown', severity: 'critical', monitor: 'billing-db', target: 'billing-db:5432' }, { summary: 'billing-db is down' }),
    alert({ alertname: 'Watchdog', severity: 'none' }, { summary: 'The alerting path works' }),
    alert({ alertname: 'SiteDown', severity: 'critical', site: 'berlin' }, { summary: 'Site berlin sends nothing' }),
    // Not inhibited by SiteDown berlin nor by CheckpointDown berlin/checkpoint-1: the same
    // checkpoint name at another site.
    alert({ alertname: 'MonitorFailingFromOneCheckpoint', severity: 'warning', monitor: 'intranet', site: 'rome', checkpoint: 'checkpoint-1' }, { summary: 'intranet fails from rome/checkpoint-1' }),
  ];
  const bySubject = (subject: string) => (mail: ReceivedMail) => mail.subject === subject;
  /** The mails with `subject`, once each admin has had one; waitFor fails the test, listing what came, when they do not. */
  const mailsWithSubject = (subject: string): Promise<ReceivedMail[]> => sink.waitFor(bySubject(subject), 15_000, ADMINS.length);
  /** The first of them. */
  const mailWithSubject = async (subject: string): Promise<ReceivedMail> => {
    const [mail] = await mailsWithSubject(subject);
    if (!mail) throw new Error(`mail sink: waitFor resolved without a mail "${subject}"`);
    return mail;
  };
  /** Each subject once per admin, sorted: what the admins, together, should have received. */
  const perAdmin = (subjects: string[]): string[] => subjects.flatMap((subject) => ADMINS.map(() => subject)).sort();

  beforeAll(async () => {
    pki = await makeTestPki();
    sink = await startMailSink({ pki, user: SMTP_USER, password: SMTP_PASSWORD });
    deadmansswitch = await startSwitch();
    const passwordFile = path.join(workDir, 'smtp_password');
    await fs.writeFile(passwordFile, SMTP_PASSWORD, { mode: 0o600 });
    const runDir = path.join(workDir, 'run');
    // Rendered the way production renders it: same files, this site's settings.
    await render(runDir, {
      ADMIN_EMAILS: ADMINS.join(','),
      SMTP_SMARTHOST: sink.smarthost,
      SMTP_AUTH_USERNAME: SMTP_USER,
      SMTP_AUTH_PASSWORD_FILE: passwordFile,
      DEADMANSSWITCH_URL: deadmansswitch.url,
    });
    configFile = path.join(runDir, 'alertmanager.yml');
    await fs.writeFile(configFile, scaleTimings(await fs.readFile(configFile, 'utf8')));
    storageDir = path.join(workDir, 'storage');
    alertmanager = await startAlertmanager({ configFile, storageDir, caFile: pki.caCertPath });
  });

  afterAll(async () => {
    await alertmanager?.stop();
    await sink?.close();
    await deadmansswitch?.close();
    await pki?.cleanup();
  });

  test('each firing group reaches each of the three admins, in a mail of their own, over STARTTLS with AUTH; inhibited alerts do not', async () => {
    const am = alertmanager!;
    startedAt = new Date().toISOString();
    await am.postAlerts([...firing(), ...inhibited()]);
    // MonitorDown and the Watchdog carry no `instance` nor `checkpoint`: that they arrive while HostDown
    // and CheckpointDown fire shows that a label missing on both sides does not count as equal.
    const subjects = [
      '[FIRING:1] MonitorDown orders-db',
      '[FIRING:1] HostDown node-a:9100',
      '[FIRING:1] CheckpointDown cp-c',
      '[FIRING:1] TLSCertificateExpiryImminent shop',
      '[FIRING:1] HostDiskFillingUpFast node-a:9100',
      '[FIRING:1] HostDiskFillingUp node-a:9100',
      '[FIRING:1] PostgresDown billing-db',
      '[FIRING:1] Watchdog',
      '[FIRING:1] SiteDown berlin',
      '[FIRING:1] MonitorFailingFromOneCheckpoint rome/checkpoint-1',
    ];
    for (const subject of subjects) await mailsWithSubject(subject).catch((error: Error) => Promise.reject(new Error(`${error.message}\n${am.logs()}`)));
    // One more group_interval for anything late, then nothing but those.
    await sleep(3_000);
    expect(sink.received.map((mail) => mail.subject).sort()).toEqual(perAdmin(subjects));
    for (const subject of subjects) {
      // One envelope per admin (one email_config each): a server refusing one refuses only that one.
      expect([
        subject,
        sink.received
          .filter(bySubject(subject))
          .flatMap((mail) => mail.to)
          .sort(),
      ]).toEqual([subject, [...ADMINS].sort()]);
    }
    for (const mail of sink.received) {
      expect(mail.to).toHaveLength(1);
      expect(mail.user).toBe(SMTP_USER);
      expect(mail.secure).toBe(true);
      // The To header names every admin, so each one sees who else was told.
      for (const admin of ADMINS) expect(mail.headers.to).toContain(admin);
    }
    const suppressed = (await am.alerts()).filter((a) => a.status.inhibitedBy.length > 0).map((a) => a.labels.alertname);
    expect(suppressed.sort()).toEqual(
      [
        'CheckpointDown',
        'CheckpointNotProbing',
        'HostDiskFillingUp',
        'HostDiskNearlyFull',
        'MonitorFailingFromOneCheckpoint',
        'MonitorFailingFromOneCheckpoint',
        'PostgresReplicaLagging',
        'TLSCertificateExpiringSoon',
      ].sort(),
    );

    const down = await mailWithSubject('[FIRING:1] MonitorDown orders-db');
    expect(down.headers.importance).toBe('high');
    const dashboard = `${GRAFANA_URL}/d/checkpoint-overview?var-monitor=orders-db`;
    for (const body of [down.text, down.html]) {
      expect(body).toContain('orders-db is down, confirmed from 2 checkpoint(s)');
      // Both checkpoints that see the failure, with why, on one line.
      expect(body).toMatch(/Checkpoints: (<b>)?cp-a \(connect\), cp-b \(connect\)/);
      expect(body).not.toContain('Checkpoint: ');
      expect(body).toContain('orders-db.internal:5432 (postgres)');
      expect(body).toMatch(/Value: (<b>)?0/);
      expect(body).toContain(`Since: ${SINCE}`);
      expect(body).toContain(`${RUNBOOK}monitordown`);
      expect(body).toContain(dashboard);
      expect(body).toContain(ALERTMANAGER_URL);
    }
    expect(down.html).toContain(`href="${RUNBOOK}monitordown"`);
    expect(down.html).toContain(`href="${dashboard}"`);

    // An alert without a `since` annotation began when its condition did.
    const host = await mailWithSubject('[FIRING:1] HostDown node-a:9100');
    expect(host.text).toContain(`Since: ${startedAt.slice(0, 10)} ${startedAt.slice(11, 16)} UTC`);
    // Its own dashboard, from the rule's `dashboard` annotation.
    expect(host.text).toContain(`Dashboard: ${GRAFANA_URL}/d/checkpoint-hosts?var-instance=node-a%3A9100`);

    // An alert about one checkpoint names it from its `checkpoint` label.
    const checkpointDown = await mailWithSubject('[FIRING:1] CheckpointDown cp-c');
    expect(checkpointDown.text).toContain('Checkpoint: cp-c');
    expect(checkpointDown.html).toContain('Checkpoint: <b>cp-c</b>');
    expect(checkpointDown.text).not.toContain('Checkpoints:');

    const watchdog = await mailWithSubject('[FIRING:1] Watchdog');
    expect(watchdog.text).toContain('two days without it means alerts are not reaching you');
    expect(deadmansswitch.pings).toEqual([{ status: 'firing', alertnames: ['Watchdog'] }]);
  });

  test('the HTML is made for a phone: viewport, max-width, inline styles, nothing fetched', async () => {
    const down = await mailWithSubject('[FIRING:1] MonitorDown orders-db');
    expect(down.html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(down.html).toContain('max-width:600px');
    expect(down.html).not.toMatch(/<style|<link|<script|<img|src=/i);
    for (const mail of sink.received) expect(mail.subject.length).toBeLessThanOrEqual(60);
  });

  test('resolved alerts send a resolved mail; an alert that ends while inhibited sends none', async () => {
    const before = sink.received.length;
    const past = new Date(Date.now() - 1000).toISOString();
    startedAt = new Date(Date.now() - 60_000).toISOString();
    await alertmanager!.postAlerts([monitorDown(past), ...inhibited(past)]);
    const resolvedMails = await mailsWithSubject('[RESOLVED] MonitorDown orders-db');
    expect(resolvedMails.flatMap((mail) => mail.to).sort()).toEqual([...ADMINS].sort());
    const resolved = await mailWithSubject('[RESOLVED] MonitorDown orders-db');
    // A page is marked important; the news that it is over is not.
    expect(resolved.headers.importance).toBe('normal');
    expect(resolved.headers['x-priority']).toBe('3');
    for (const body of [resolved.text, resolved.html]) {
      expect(body).toContain('Resolved (1)');
      expect(body).toMatch(/Checkpoints: (<b>)?cp-a \(connect\), cp-b \(connect\)/);
      expect(body).toContain(`${GRAFANA_URL}/d/checkpoint-overview?var-monitor=orders-db`);
    }
    await sleep(3_000);
    expect(sink.received.slice(before).map((mail) => mail.subject)).toEqual(perAdmin(['[RESOLVED] MonitorDown orders-db']));
  });

  test('a restart on the same storage does not resend what was sent, and still sends what is new', async () => {
    await alertmanager!.stop();
    alertmanager = undefined;
    const before = sink.received.length;
    alertmanager = await startAlertmanager({ configFile, storageDir, caFile: pki.caCertPath });
    // Prometheus resends its firing alerts every minute; after a restart these are them.
    startedAt = new Date().toISOString();
    await alertmanager.postAlerts([
      ...firing().filter((a) => a.labels.alertname !== 'MonitorDown'),
      alert({ alertname: 'MonitorDown', severity: 'critical', monitor: 'billing-api' }, { summary: 'billing-api is down', checkpoints: 'cp-a, cp-b' }),
    ]);
    const billing = await mailWithSubject('[FIRING:1] MonitorDown billing-api');
    expect(billing.text).toContain('Checkpoints: cp-a, cp-b');
    expect(billing.html).toContain('Checkpoints: <b>cp-a, cp-b</b>');
    await sleep(3_000);
    expect(sink.received.slice(before).map((mail) => mail.subject)).toEqual(perAdmin(['[FIRING:1] MonitorDown billing-api']));
    expect(deadmansswitch.pings).toHaveLength(1);
  });

  test('a checkpoint whose network breaks sends one mail about that checkpoint, listing its monitors, not one per monitor', async () => {
    const before = sink.received.length;
    startedAt = new Date().toISOString();
    const monitors = ['web', 'shop', 'wiki'];
    await alertmanager!.postAlerts(
      monitors.map((monitor) =>
        alert(
          { alertname: 'MonitorFailingFromOneCheckpoint', severity: 'warning', monitor, checkpoint: 'cp-b', instance: `cp-b/${monitor}` },
          { summary: `${monitor} fails from cp-b only`, dashboard: `/d/checkpoint-overview?var-monitor=${monitor}&var-checkpoint=cp-b` },
        ),
      ),
    );
    const mail = await mailWithSubject('[FIRING:3] MonitorFailingFromOneCheckpoint cp-b');
    for (const monitor of monitors) expect(mail.text).toContain(`${monitor} fails from cp-b only`);
    // The monitors' dashboards differ: the overview for that checkpoint.
    expect(mail.text).toContain(`Dashboard: ${GRAFANA_URL}/d/checkpoint-overview?var-checkpoint=cp-b`);
    expect(mail.headers.importance).toBeUndefined();
    await sleep(3_000);
    expect(sink.received.slice(before).map((m) => m.subject)).toEqual(perAdmin(['[FIRING:3] MonitorFailingFromOneCheckpoint cp-b']));
  });
});

// One `to` listing every admin made one message: a server refusing one recipient at RCPT TO
// failed it for all, and Alertmanager retried it for all. One email_config per admin makes one
// message each.
describe('an admin whose address the mail server refuses', () => {
  const [alice, bob, carol] = ADMINS as [string, string, string];
  let pki: TestPki;
  let sink: MailSink;
  let renderedConfig: string;
  const running: Alertmanager[] = [];
  const subject = '[FIRING:1] MonitorDown orders-db';
  const monitorDown: PostableAlert = {
    labels: { alertname: 'MonitorDown', severity: 'critical', monitor: 'orders-db' },
    annotations: { summary: 'orders-db is down', runbook_url: `${RUNBOOK}monitordown` },
  };

  /** Starts Alertmanager on `configText`, with storage of its own. */
  const start = async (name: string, configText: string): Promise<Alertmanager> => {
    const configFile = path.join(workDir, 'refused', `${name}.yml`);
    await fs.writeFile(configFile, configText);
    const am = await startAlertmanager({ configFile, storageDir: path.join(workDir, 'refused', `${name}-storage`), caFile: pki.caCertPath });
    running.push(am);
    return am;
  };
  /** alertmanager_notifications_failed_total{integration="email"}, which AlertmanagerNotificationsFailing watches. */
  const failedEmails = async (am: Alertmanager): Promise<number> => {
    const text = await (await fetch(`${am.url}/metrics`)).text();
    return Number(/^alertmanager_notifications_failed_total\{integration="email"\} (\S+)$/m.exec(text)?.[1] ?? NaN);
  };
  const envelopes = (): string[][] => sink.received.filter((mail) => mail.subject === subject).map((mail) => mail.to);

  beforeAll(async () => {
    pki = await makeTestPki();
    sink = await startMailSink({ pki, user: SMTP_USER, password: SMTP_PASSWORD, refuse: [bob] });
    const passwordFile = path.join(workDir, 'refused-smtp-password');
    await fs.writeFile(passwordFile, SMTP_PASSWORD, { mode: 0o600 });
    const runDir = path.join(workDir, 'refused');
    await render(runDir, { ADMIN_EMAILS: ADMINS.join(', '), SMTP_SMARTHOST: sink.smarthost, SMTP_AUTH_USERNAME: SMTP_USER, SMTP_AUTH_PASSWORD_FILE: passwordFile });
    renderedConfig = scaleTimings(await fs.readFile(path.join(runDir, 'alertmanager.yml'), 'utf8'));
  });

  afterAll(async () => {
    for (const am of running) await am.stop();
    await sink?.close();
    await pki?.cleanup();
  });

  afterEach(() => {
    sink.received.length = 0;
    sink.refused.length = 0;
  });

  test('does not stop the others: they get the mail once, while Alertmanager retries the refused one alone and counts the failure', async () => {
    const am = await start('per-admin', renderedConfig);
    await am.postAlerts([{ ...monitorDown, startsAt: new Date().toISOString() }]);
    await sink.waitUntil(() => envelopes().length >= 2, 15_000, `"${subject}" to ${alice} and ${carol}`).catch((error: Error) => Promise.reject(new Error(`${error.message}\n${am.logs()}`)));
    // Retried: the first attempt was refused, and the next one too.
    await sink.waitUntil(() => sink.refused.length >= 2, 15_000, `second attempt for ${bob}`);
    // When its retries give up (after the group_interval, at least 10s), the failure is counted:
    // the metric AlertmanagerNotificationsFailing (prometheus/rules/alerting-path.yml) watches.
    const deadline = Date.now() + 30_000;
    while (!((await failedEmails(am)) >= 1)) {
      if (Date.now() > deadline) throw new Error(`alertmanager_notifications_failed_total{integration="email"} stayed at ${await failedEmails(am)}\n${am.logs()}`);
      await sleep(500);
    }
    // Alice and Carol once each: retrying Bob resends nothing to them.
    expect(envelopes().sort()).toEqual([[alice], [carol]]);
    expect(sink.refused.every((address) => address === bob)).toBe(true);
    expect(am.logs()).toContain(bob);
  });

  test('with the three in one `to`, as before, that one refusal loses the mail for all three', async () => {
    const doc = parseDocument(renderedConfig);
    const receivers = doc.get('receivers');
    if (!isSeq(receivers)) throw new Error('the rendered config has no receivers');
    for (const receiver of receivers.items) {
      const emails = isMap(receiver) ? receiver.get('email_configs') : undefined;
      if (!isSeq(emails)) continue;
      const first = emails.items[0];
      if (!isMap(first)) throw new Error('an email_configs without a config');
      first.set('to', ADMINS.join(', '));
      emails.items = [first];
    }
    const am = await start('one-to', doc.toString());
    await am.postAlerts([{ ...monitorDown, startsAt: new Date().toISOString() }]);
    // Refused, then retried and refused again: the first attempt is over, and nothing was accepted.
    await sink.waitUntil(() => sink.refused.length >= 2, 15_000, `second attempt for ${bob}`).catch((error: Error) => Promise.reject(new Error(`${error.message}\n${am.logs()}`)));
    expect(sink.received).toEqual([]);
  });
});
