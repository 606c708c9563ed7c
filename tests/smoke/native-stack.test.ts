/**
 * The native smoke test: the whole stack from Debian's packages and our own build, on loopback, with
 * the shipped configs of prometheus/ and alertmanager/ (rendered by tests/support/stack-config.ts:
 * addresses, paths and timings only, listed at the start of the output).
 *
 *   two `checkpoint` processes (dist/, as built by `npm run build`), each with the same monitors:
 *     orders-db   a real PostgreSQL 15 over TLS (verify-full), behind a relay that can refuse one
 *                 checkpoint's connections (tests/smoke/loopback-network.ts)
 *     intranet    a small HTTP server
 *   Prometheus, Alertmanager (config from alertmanager/render-config.sh), node-exporter, and an SMTP
 *   sink with STARTTLS and AUTH standing in for the site's relay.
 *
 * The scenario runs in this order (the issue's step 6, PostgreSQL back, is the end of step 3's
 * outage, and steps 4 and 5 need PostgreSQL up to tell a one-checkpoint problem from an outage):
 *   1 every monitor up from both checkpoints, every dashboard panel this stack can feed has data
 *   2 the Watchdog mail reaches the three admins
 *   3 PostgreSQL stopped: PostgresDown mailed (time from the stop printed)
 *   6 PostgreSQL started: the resolved mail
 *   4 checkpoint-b alone refused by the database: MonitorFailingFromOneCheckpoint, no page
 *   5 checkpoint-b killed: CheckpointDown, and no MonitorDown/PostgresDown for what it probed
 * Waits are bounded polls; nothing is asserted about how fast, only printed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { startAlertmanager, type Alertmanager } from '../support/alertmanager';
import { makeTestPki, type TestPki } from '../support/certs';
import { waitFor } from '../support/checkpoint-process';
import { startMailSink, type MailSink, type ReceivedMail } from '../support/mail-sink';
import { NODE_EXPORTER_BIN } from '../support/node-exporter';
import { freePort, LOOPBACK } from '../support/ports';
import { PROBE_USER, startPostgres, type PostgresServer } from '../support/postgres-server';
import { hasExited, killAndWait, run, sleep, startProcessServer, type ProcessServer } from '../support/processes';
import { startPrometheus, type Prometheus } from '../support/prometheus';
import {
  CHECKPOINT_BIN,
  CHECKPOINT_BUNDLE,
  durationSeconds,
  INTERVALS,
  PROMETHEUS_FLAGS,
  renderPrometheusConfig,
  renderAlertmanagerConfig,
  renderRules,
  scaledDuration,
  scaleAlertmanagerConfig,
  shippedCheckpointLogin,
  shippedCheckpoints,
  shippedProbeInterval,
  TIME_SCALE,
  type Substitution,
} from '../support/stack-config';
import { describePanel, panelQueries, type PanelQuery } from './dashboard-panels';
import { startClientFirewall, startNameProxy, type ClientFirewall, type NameProxy } from './loopback-network';

const PG_BIN = '/usr/lib/postgresql/15/bin';

const ADMINS = ['alice@example.test', 'bob@example.test', 'carol@example.test'];
const SMTP_USER = 'checkpoint-alerts';
const SMTP_PASSWORD = 'smoke-relay-pw';
const RUNBOOKS = 'https://github.com/private-checkpoint/private-checkpoint/blob/main/docs/runbooks.md#';
const DB_MONITOR = 'orders-db';
const HTTP_MONITOR = 'intranet';
/** Upper bound of every wait for something to happen; never a measure of speed. */
const WAIT_MS = 60_000;

/** The checkpoints' web password, and the Authorization header the test's own requests send. */
const WEB_PASSWORD = randomBytes(12).toString('hex');
let webAuthorization: Record<string, string> = {};
let intranetUrl = '';

jest.setTimeout(WAIT_MS * 3);

let work: string;
let pki: TestPki | undefined;
let postgres: PostgresServer | undefined;
let firewall: ClientFirewall | undefined;
let intranet: http.Server | undefined;
let names: NameProxy | undefined;
let mail: MailSink | undefined;
/** The gossip pair, each with its cluster port (to find the one that sends). */
const alertmanagers: { am: Alertmanager; clusterPort: number }[] = [];
let prometheus: Prometheus | undefined;
const servers: ProcessServer[] = [];
const checkpoints = new Map<string, ProcessServer>();
const substitutions: Substitution[] = [];
const suiteStart = Date.now();

const say = (line: string): void => {
  process.stdout.write(`[smoke ${((Date.now() - suiteStart) / 1000).toFixed(1)}s] ${line}\n`);
};

beforeAll(async () => {
  if (!existsSync(CHECKPOINT_BUNDLE)) throw new Error(`${CHECKPOINT_BUNDLE} is missing: run \`npm run build\` first (the smoke test runs the built checkpoint)`);
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-smoke-')));
  pki = await makeTestPki(work);

  postgres = await startPostgres({ tls: { certPath: pki.server.certPath, keyPath: pki.server.keyPath } });
  firewall = await startClientFirewall({ host: LOOPBACK, port: postgres.port });
  intranet = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('intranet home\n'));
  await new Promise<void>((resolve) => intranet?.listen(0, LOOPBACK, resolve));
  intranetUrl = `http://${LOOPBACK}:${(intranet.address() as AddressInfo).port}/`;

  // The same monitors, module names and targets in both checkpoints: one monitor seen from two places.
  const passwordFile = path.join(work, 'orders-db.password');
  await fs.writeFile(passwordFile, postgres.password, { mode: 0o600 });
  const checkpointConfig = `modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  postgres_login:
    prober: postgres
    timeout: 5s
    postgres:
      user: ${PROBE_USER}
      password_file: ${passwordFile}
      sslmode: verify-full
      tls_config:
        ca_file: ${pki.caCertPath}
      preferred_ip_protocol: ip4
monitors:
  - name: ${DB_MONITOR}
    module: postgres_login
    target: ${firewall.address}
    labels:
      team: shop
  - name: ${HTTP_MONITOR}
    module: http_2xx
    target: ${intranetUrl}
    labels:
      team: it
`;
  // The login the shipped prometheus.yml sends, as compose/checkpoint-web.yml asks for it: the
  // user's bcrypt hash in a web config, the password in the file Prometheus reads.
  const login = await shippedCheckpointLogin();
  const webPasswordFile = path.join(work, 'checkpoint-web.password');
  await fs.writeFile(webPasswordFile, WEB_PASSWORD, { mode: 0o600 });
  const webConfigFile = path.join(work, 'checkpoint-web.yml');
  await fs.writeFile(webConfigFile, `basic_auth_users:\n  ${login.username}: ${JSON.stringify(bcrypt.hashSync(WEB_PASSWORD, 10))}\n`);
  webAuthorization = { authorization: `Basic ${Buffer.from(`${login.username}:${WEB_PASSWORD}`).toString('base64')}` };
  const webFlags = [`--web.config.file=${webConfigFile}`];
  const shipped = await shippedCheckpoints();
  const nameMap = new Map<string, string>();
  for (const [name, address] of shipped) {
    const configFile = path.join(work, `${name}.yml`);
    await fs.writeFile(configFile, checkpointConfig);
    const server = await startProcessServer(name, CHECKPOINT_BIN, (port) => [`--config.file=${configFile}`, `--web.listen-address=${LOOPBACK}:${port}`, ...webFlags], '/-/ready', webAuthorization);
    servers.push(server);
    checkpoints.set(name, server);
    nameMap.set(address, server.address);
  }
  names = await startNameProxy(nameMap);
  const nodeExporter = await startProcessServer('node-exporter', NODE_EXPORTER_BIN, (port) => [`--web.listen-address=${LOOPBACK}:${port}`], '/metrics');
  servers.push(nodeExporter);

  mail = await startMailSink({ pki, user: SMTP_USER, password: SMTP_PASSWORD });
  const amDir = path.join(work, 'alertmanager');
  const smtpPasswordFile = path.join(work, 'smtp.password');
  await fs.writeFile(smtpPasswordFile, SMTP_PASSWORD);
  const amConfig = await renderAlertmanagerConfig({ dir: amDir, admins: ADMINS, smarthost: mail.smarthost, user: SMTP_USER, passwordFile: smtpPasswordFile });
  const scaled = scaleAlertmanagerConfig(await fs.readFile(amConfig, 'utf8'));
  await fs.writeFile(amConfig, scaled.yaml);
  substitutions.push(
    {
      file: 'alertmanager/alertmanager.yml',
      where: 'render-config.sh',
      from: 'placeholders',
      to: `ADMIN_EMAILS (3), SMTP_SMARTHOST ${mail.smarthost}, SMTP_FROM, SMTP_AUTH_USERNAME, SMTP_AUTH_PASSWORD_FILE; no dead man's switch URL`,
    },
    ...scaled.substitutions,
  );
  // Two Alertmanagers in a gossip cluster, as a site runs them: Prometheus sends every alert to
  // both, and through their shared notification log only one of them mails it. The second waits
  // --cluster.peer-timeout for the first's notification: scaled like the rest, or an alert that
  // fires and resolves within it (seconds, here) would be mailed again by the second, after its
  // RESOLVED.
  const peerTimeout = scaledDuration('15s');
  const clusterPorts = [await freePort(), await freePort()];
  for (const [i, clusterPort] of clusterPorts.entries()) {
    const peers = clusterPorts.filter((p) => p !== clusterPort).map((p) => `${LOOPBACK}:${p}`);
    const am = await startAlertmanager({ configFile: amConfig, storageDir: path.join(amDir, `data-${i}`), caFile: pki.caCertPath, cluster: { port: clusterPort, peers, peerTimeout } });
    alertmanagers.push({ am, clusterPort });
  }
  substitutions.push({ file: 'compose.yaml: alertmanager command line', where: 'flag', from: '--cluster.peer-timeout=15s (default)', to: `--cluster.peer-timeout=${peerTimeout}` });
  await waitUntil('the two Alertmanagers see each other', async () => ((await clusterPeers()).length === 2 ? true : undefined));

  const promDir = path.join(work, 'prometheus');
  // Windows hold as many probes as in production: the test probes every 2s, the shipped job every 15s.
  const windowScale = (await shippedProbeInterval()) / durationSeconds(INTERVALS.probe.scrape_interval);
  substitutions.push(...(await renderRules(path.join(promDir, 'rules'), TIME_SCALE, windowScale)).substitutions);
  let promSubstitutions: Substitution[] = [];
  const addresses = { checkpointProxy: names.address, alertmanagers: alertmanagers.map(({ am }) => new URL(am.url).host), nodeExporter: nodeExporter.address, checkpointPasswordFile: webPasswordFile };
  const firstRender = await renderPrometheusConfig({ ...addresses, prometheus: `${LOOPBACK}:0` });
  prometheus = await startPrometheus({
    dir: promDir,
    flags: PROMETHEUS_FLAGS,
    config: (port) => {
      // Only the prometheus job's own address depends on the port.
      promSubstitutions = firstRender.substitutions.map((s) => (s.where === 'job prometheus: Prometheus address' ? { ...s, to: JSON.stringify([`${LOOPBACK}:${port}`]) } : s));
      return firstRender.yaml.replace(`${LOOPBACK}:0`, `${LOOPBACK}:${port}`);
    },
  });
  substitutions.unshift(...promSubstitutions, ...PROMETHEUS_FLAGS.map((flag) => ({ file: 'prometheus command line', where: 'flag', from: '--rules.alert.resend-delay=1m (default)', to: flag })));
  substitutions.push({
    file: 'compose.yaml: checkpoint command line',
    where: '--web.config.file',
    from: '/etc/checkpoint/web.yml (compose/checkpoint-web.yml)',
    to: `${webConfigFile} (user ${login.username}, a password of this run)`,
  });

  say(
    `stack up in ${((Date.now() - suiteStart) / 1000).toFixed(1)}s: Prometheus ${prometheus.url}, Alertmanagers ${alertmanagers.map(({ am }) => am.url).join(' and ')}, ` +
      `${[...checkpoints.values()].map((c) => `${c.name} ${c.address}`).join(', ')}, PostgreSQL ${postgres.address} behind ${firewall.address}, SMTP ${mail.smarthost}`,
  );
  say(`substitutions in the shipped configs (durations divided by ${TIME_SCALE}):\n${substitutions.map((s) => `    ${s.file}: ${s.where}: ${s.from} -> ${s.to}`).join('\n')}`);
}, 180_000);

afterAll(async () => {
  // SMOKE_LOGS=1 prints every server's log, for a failure that needs more than the test's messages.
  if (process.env.SMOKE_LOGS) {
    for (const [name, logs] of [
      ['prometheus', prometheus?.logs],
      ...alertmanagers.map(({ am }, i) => [`alertmanager-${i + 1}`, am.logs] as const),
      ...servers.map((s) => [s.name, s.logs] as const),
    ] as const) {
      say(`--- ${name} log:\n${logs?.() ?? ''}`);
    }
  }
  await prometheus?.stop();
  for (const { am } of alertmanagers) await am.stop();
  for (const server of servers.reverse()) await killAndWait(server.child);
  await names?.close();
  await firewall?.close();
  await new Promise<void>((resolve) => (intranet ? intranet.close(() => resolve()) : resolve()));
  intranet?.closeAllConnections();
  await mail?.close();
  await postgres?.stop();
  await pki?.cleanup();
  if (work) await fs.rm(work, { recursive: true, force: true });
  say(`total ${((Date.now() - suiteStart) / 1000).toFixed(1)}s`);
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Helpers

/** waitFor with this suite's bound. */
const waitUntil = <T>(what: string, check: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> => waitFor(what, check, ms);

const elapsed = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)}s`;

/** probe_success per checkpoint and monitor, as "checkpoint/monitor=value". */
async function probeStates(): Promise<string[]> {
  const samples = await prometheus!.query('probe_success{job="probe"}');
  return samples.map((s) => `${s.metric.checkpoint}/${s.metric.monitor}=${s.value[1]}`).sort();
}

async function waitAllUp(): Promise<void> {
  const expected = [...checkpoints.keys()].flatMap((cp) => [DB_MONITOR, HTTP_MONITOR].map((m) => `${cp}/${m}=1`)).sort();
  await waitUntil(`every monitor up from every checkpoint (${expected.join(', ')})`, async () => {
    const states = await probeStates();
    return JSON.stringify(states) === JSON.stringify(expected) ? states : undefined;
  });
}

/** Mails whose subject starts with `prefix`, received after `since` (index into mail.received). */
function mailsAfter(since: number, match: (m: ReceivedMail) => boolean): ReceivedMail[] {
  return mail!.received.slice(since).filter(match);
}

async function waitMail(since: number, what: string, match: (m: ReceivedMail) => boolean): Promise<ReceivedMail> {
  return waitUntil(
    `a mail: ${what}; received so far: ${
      mail!.received
        .slice(since)
        .map((m) => m.subject)
        .join(' | ') || 'none'
    }`,
    async () => mailsAfter(since, match)[0],
  );
}

const subject =
  (pattern: RegExp) =>
  (m: ReceivedMail): boolean =>
    pattern.test(m.subject);
const isPage = (m: ReceivedMail): boolean => m.headers.importance === 'high';

/**
 * Each admin gets their own copy (one e-mail config per admin, so a refused address blocks no
 * one else), whose To header names them all: `message` is one copy; waits for the other two.
 */
async function expectToAllAdmins(message: ReceivedMail): Promise<void> {
  expect(message.to).toHaveLength(1);
  for (const admin of ADMINS) expect(message.headers.to).toContain(admin);
  expect(message.secure).toBe(true);
  expect(message.user).toBe(SMTP_USER);
  for (const admin of ADMINS) await mail!.waitFor((m) => m.subject === message.subject && m.to.includes(admin), 30_000);
}

/** Alert names (with their label `key`) that were pending or firing at any time in the last `seconds`. */
async function alertsSeen(seconds: number, selector: string): Promise<string[]> {
  const samples = await prometheus!.query(`max_over_time(ALERTS{${selector}}[${Math.max(1, Math.ceil(seconds))}s])`);
  return samples.map((s) => `${s.metric.alertname}${s.metric.monitor ? ` ${s.metric.monitor}` : ''}${s.metric.checkpoint ? ` ${s.metric.checkpoint}` : ''} (${s.metric.alertstate})`).sort();
}

/** Stops or starts the PostgreSQL cluster in place, as its owner, with pg_ctl. */
async function pgCtl(action: 'stop' | 'start'): Promise<void> {
  const dataDir = pgDataDir;
  const args = action === 'stop' ? ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'] : ['start', '-D', dataDir, '-l', path.join(path.dirname(dataDir), 'postgres.log'), '-w', '-t', '30'];
  const command = path.join(PG_BIN, 'pg_ctl');
  if (process.getuid?.() === 0) await run('/usr/sbin/runuser', ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}
let pgDataDir = '';

/** The cluster's members as a running Alertmanager of the pair sees them: name and gossip address. */
async function clusterPeers(): Promise<{ name: string; address: string }[]> {
  for (const { am } of alertmanagers) {
    if (hasExited(am.child)) continue;
    const status = (await (await fetch(`${am.url}/api/v2/status`, { signal: AbortSignal.timeout(5_000) })).json()) as { cluster?: { peers?: { name: string; address: string }[] } };
    return status.cluster?.peers ?? [];
  }
  return [];
}

const panelResults = new Map<PanelQuery, boolean>();
let scenarioStart = new Date();

// ---------------------------------------------------------------------------------------------
// The scenario

test('1. every monitor is up from both checkpoints, and every dashboard panel this stack feeds has data', async () => {
  expect(checkpoints.size).toBe(2);
  const since = Date.now();
  await waitAllUp();
  say(`step 1: all ${checkpoints.size * 2} probes up after ${elapsed(since)}: ${(await probeStates()).join(', ')}`);
  scenarioStart = new Date();
  // Prometheus reached each checkpoint by its compose name, so the `checkpoint` label is the shipped one.
  for (const address of (await shippedCheckpoints()).values()) expect(names!.forwarded.get(address)).toBeGreaterThan(0);
  // Prometheus sent the shipped login on every request to a checkpoint: scrapes of /metrics and
  // /probe, and the /sd discovery.
  const login = await shippedCheckpointLogin();
  const expected = `Basic ${Buffer.from(`${login.username}:${WEB_PASSWORD}`).toString('base64')}`;
  for (const address of (await shippedCheckpoints()).values()) {
    for (const endpoint of ['/metrics', '/sd', '/probe']) {
      expect([address, endpoint, [...(names!.authorizations.get(`${address}${endpoint}`) ?? [])]]).toEqual([address, endpoint, [expected]]);
    }
  }
  // With a web config, the checkpoints refuse a request without the login on every endpoint
  // Prometheus uses: the monitors above are up because Prometheus sent it.
  for (const checkpoint of checkpoints.values()) {
    for (const endpoint of ['/metrics', '/sd', `/probe?module=http_2xx&target=${encodeURIComponent(intranetUrl)}`]) {
      const without = await fetch(`http://${checkpoint.address}${endpoint}`, { signal: AbortSignal.timeout(10_000) });
      await without.arrayBuffer();
      expect([checkpoint.name, endpoint, without.status]).toEqual([checkpoint.name, endpoint, 401]);
    }
  }
  say('step 1: the checkpoints answer 401 without the login on /metrics, /sd and /probe');
  const [dataDirectory] = await postgres!.admin('SHOW data_directory');
  if (!dataDirectory) throw new Error('SHOW data_directory returned no row');
  pgDataDir = String(dataDirectory.data_directory);

  // rate() over [1m] needs two samples of each counter: a few scrapes after everything is up.
  await sleep(5_000);
  const queries = panelQueries();
  const skipped = queries.filter((q) => q.skipped);
  const checked = queries.filter((q) => !q.skipped);
  expect(checked.length).toBeGreaterThan(0);
  for (const query of checked) panelResults.set(query, (await prometheus!.query(query.expr)).length > 0);
  const empty = checked.filter((q) => !panelResults.get(q));
  say(
    `step 1: ${checked.length} panel queries checked, ${checked.length - empty.length} with data now; ${skipped.length} skipped:\n` +
      skipped.map((q) => `    skipped ${describePanel(q)}: ${q.skipped}`).join('\n'),
  );
  // A query that can only have data while something fails ("Current failures") is checked again
  // over the whole scenario, after the outages, in the last test.
  const onlyOnFailure = (q: PanelQuery): boolean => /probe_failure_reason\{[^}]*\}\s*==\s*1/.test(q.expr);
  expect(empty.filter((q) => !onlyOnFailure(q)).map(describePanel)).toEqual([]);
});

test('2. the Watchdog mail reaches all three admins', async () => {
  const since = Date.now();
  const watchdog = await waitMail(0, 'Watchdog', subject(/^\[FIRING:1\] Watchdog$/));
  say(`step 2: Watchdog mail "${watchdog.subject}" to ${watchdog.to.join(', ')} (${elapsed(suiteStart)} after the suite started, waited ${elapsed(since)} in this step)`);
  await expectToAllAdmins(watchdog);
  expect(watchdog.text).toContain('This message proves that the alerting path works');
  expect(watchdog.text).toContain(`${RUNBOOKS}watchdog`);
});

let stoppedAt = 0;

test('3. PostgreSQL stopped: PostgresDown is mailed to all three admins with the monitor, both checkpoints and the runbook', async () => {
  const mark = mail!.received.length;
  stoppedAt = Date.now();
  await pgCtl('stop');
  say(`step 3: PostgreSQL stopped (pg_ctl stop -m fast took ${elapsed(stoppedAt)})`);

  const down = await waitMail(mark, 'PostgresDown orders-db', subject(new RegExp(`^\\[FIRING:1\\] PostgresDown ${DB_MONITOR}$`)));
  const seconds = ((Date.now() - stoppedAt) / 1000).toFixed(1);
  say(
    `step 3: TIME FROM STOPPING POSTGRESQL TO THE POSTGRESDOWN MAIL: ${seconds}s ` +
      `(probe every 2s, down at the second failed probe from both checkpoints, critical group_wait 10s/${TIME_SCALE} = 1s; in production under a minute)`,
  );
  await expectToAllAdmins(down);
  expect(isPage(down)).toBe(true);
  expect(down.text).toContain(`PostgreSQL ${DB_MONITOR} is down, confirmed from 2 checkpoint(s)`);
  expect(down.text).toContain(`Target: ${firewall!.address} (postgres_login)`);
  // The checkpoints that see the failure, named (the rule's `checkpoints` annotation), in both bodies.
  // Each with the reasons its probes gave in the last window: `connect` ("server down" in the
  // runbook), and possibly another from a probe caught in the middle of the server's shutdown
  // ("checkpoint-a (connect, tls)").
  const named = /Checkpoints: (.*)/.exec(down.text)?.[1] ?? '';
  const seenFrom = [...named.matchAll(/([\w-]+) \(([^)]*)\)/g)].map((m) => ({ checkpoint: m[1], reasons: (m[2] ?? '').split(', ') }));
  expect(seenFrom.map((n) => n.checkpoint)).toEqual([...checkpoints.keys()].sort());
  for (const { checkpoint, reasons } of seenFrom) expect([checkpoint, reasons]).toEqual([checkpoint, expect.arrayContaining(['connect'])]);
  expect(down.html).toContain(`Checkpoints: <b>${named}</b>`);
  // Since the first failed probe: after the stop, before the mail (to the second: the rule writes no milliseconds).
  const since = /Since: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/.exec(down.text)?.[1];
  expect(since).toBeDefined();
  const sinceMs = Date.parse(`${since}Z`.replace(' ', 'T'));
  expect([Math.floor(stoppedAt / 1000) * 1000 <= sinceMs, sinceMs <= Date.now()]).toEqual([true, true]);
  // The database's own dashboard, under GRAFANA_URL.
  expect(down.text).toContain(`Dashboard: https://grafana.example.test/d/checkpoint-databases-mail?var-monitor=${DB_MONITOR}`);
  expect(down.text).toContain(`Runbook: ${RUNBOOKS}postgresdown`);
  expect(down.html).toContain(`${RUNBOOKS}postgresdown`);

  // Both checkpoints report the failure, and the shipped rules page with PostgresDown, not MonitorDown.
  const failing = await prometheus!.query(`probe_success{job="probe", monitor="${DB_MONITOR}"} == 0`);
  expect(failing.map((s) => s.metric.checkpoint).sort()).toEqual([...checkpoints.keys()].sort());
  const reasons = await prometheus!.query(`probe_failure_reason{job="probe", monitor="${DB_MONITOR}"} == 1`);
  say(`step 3: failure reasons: ${reasons.map((s) => `${s.metric.checkpoint}=${s.metric.reason}`).join(', ')}`);
  // What the runbook tells the admin to look at first: `connect` is "server down".
  expect(reasons.map((s) => s.metric.reason)).toEqual(['connect', 'connect']);
  expect(await alertsSeen((Date.now() - stoppedAt) / 1000, 'alertname="MonitorDown"')).toEqual([]);
  expect(mailsAfter(mark, subject(/MonitorDown/))).toEqual([]);
});

test('6. PostgreSQL started again: the resolved mail arrives', async () => {
  const mark = mail!.received.length;
  const startedAt = Date.now();
  await pgCtl('start');
  const resolved = await waitMail(mark, 'RESOLVED PostgresDown', subject(new RegExp(`^\\[RESOLVED\\] PostgresDown ${DB_MONITOR}$`)));
  say(`step 6: PostgreSQL started; resolved mail after ${elapsed(startedAt)} (a window after the last failed probe, 1m as 8s here, then the critical group_interval, 30s/${TIME_SCALE} = 1s)`);
  await expectToAllAdmins(resolved);
  expect(resolved.text).toContain('Resolved (1):');
  expect(resolved.text).toContain(`PostgreSQL ${DB_MONITOR} is down`);
  await waitAllUp();
});

test('4. one checkpoint alone loses the database: only the warning fires, no page', async () => {
  const b = checkpoints.get('checkpoint-b');
  expect(b?.child.pid).toBeDefined();
  const mark = mail!.received.length;
  const blockedAt = Date.now();
  firewall!.block(b!.child.pid!);
  say(`step 4: ${DB_MONITOR} refused for checkpoint-b only (pid ${b!.child.pid})`);

  // Grouped by checkpoint: one mail about checkpoint-b, whatever number of monitors fail from it.
  const warning = await waitMail(mark, 'MonitorFailingFromOneCheckpoint checkpoint-b', subject(/^\[FIRING:1\] MonitorFailingFromOneCheckpoint checkpoint-b$/));
  say(`step 4: warning mail "${warning.subject}" after ${elapsed(blockedAt)} (rule for: 10m/${TIME_SCALE} = 20s, warning group_wait 2m/${TIME_SCALE} = 4s)`);
  await expectToAllAdmins(warning);
  expect(isPage(warning)).toBe(false);
  expect(warning.text).toContain(`${DB_MONITOR} fails from checkpoint-b only`);
  expect(warning.text).toContain('Checkpoint: checkpoint-b');
  expect(warning.text).toContain(`${RUNBOOKS}monitorfailingfromonecheckpoint`);
  expect(firewall!.refused).toBeGreaterThan(0);

  const states = await probeStates();
  expect(states).toContain(`checkpoint-a/${DB_MONITOR}=1`);
  expect(states).toContain(`checkpoint-b/${DB_MONITOR}=0`);
  const window = (Date.now() - blockedAt) / 1000;
  // Host alerts (job="node") are about the machine the test runs on, not about this scenario.
  expect(await alertsSeen(window, 'severity="critical", job!="node"')).toEqual([]);
  expect(mailsAfter(mark, (m) => isPage(m) && !/^\[\w+(:\d+)?\] Host/.test(m.subject)).map((m) => m.subject)).toEqual([]);
  const reasons = await prometheus!.query(`probe_failure_reason{job="probe", monitor="${DB_MONITOR}"} == 1`);
  say(`step 4: failure reasons: ${reasons.map((s) => `${s.metric.checkpoint}=${s.metric.reason}`).join(', ')}`);

  firewall!.unblock(b!.child.pid!);
  await waitAllUp();
});

test('5. a checkpoint is killed: CheckpointDown fires, and the monitors it probed do not page', async () => {
  const b = checkpoints.get('checkpoint-b')!;
  const mark = mail!.received.length;
  const killedAt = Date.now();
  b.child.kill('SIGKILL');
  await killAndWait(b.child);
  say(`step 5: checkpoint-b killed (SIGKILL, pid ${b.child.pid})`);

  const down = await waitMail(mark, 'CheckpointDown checkpoint-b', subject(/^\[FIRING:1\] CheckpointDown checkpoint-b$/));
  say(`step 5: "${down.subject}" after ${elapsed(killedAt)} (rule for: 2m/${TIME_SCALE} = 4s)`);
  await expectToAllAdmins(down);
  expect(isPage(down)).toBe(true);
  expect(down.text).toContain('Checkpoint checkpoint-b is down');
  expect(down.text).toContain(`${RUNBOOKS}checkpointdown`);
  const firing = (await prometheus!.alerts()).filter((a) => a.state === 'firing' && a.labels.alertname === 'CheckpointDown');
  expect(firing.map((a) => a.labels.checkpoint)).toEqual(['checkpoint-b']);

  // Long enough for a MonitorDown or PostgresDown to have gone pending, fired and been mailed.
  await sleep(10_000);
  const window = (Date.now() - killedAt) / 1000;
  expect(await alertsSeen(window, 'alertname=~"MonitorDown|PostgresDown"')).toEqual([]);
  expect(mailsAfter(mark, subject(/MonitorDown|PostgresDown/)).map((m) => m.subject)).toEqual([]);
  // checkpoint-a still probes both monitors and sees them up; checkpoint-b's probes report nothing.
  expect(await probeStates()).toEqual([`checkpoint-a/${DB_MONITOR}=1`, `checkpoint-a/${HTTP_MONITOR}=1`].sort());
  say(
    `step 5: ${window.toFixed(0)}s after the kill: no MonitorDown/PostgresDown; pages since the kill: ${mailsAfter(mark, isPage)
      .map((m) => m.subject)
      .join(' | ')}`,
  );
});

test('7. the Alertmanager that sends is killed during an outage: each admin still gets the page and its RESOLVED exactly once (checkpoint-a alone confirms now)', async () => {
  const mark = mail!.received.length;
  // The pair decides who sends by the order of their cluster names: the first sends at once, the
  // second waits its peer timeout (15s) for the first's entry in the shared notification log.
  // Kill the first, so the second has to take over.
  const peers = (await clusterPeers()).sort((a, b) => a.name.localeCompare(b.name));
  expect(peers).toHaveLength(2);
  const victim = alertmanagers.find(({ clusterPort }) => peers[0]?.address === `${LOOPBACK}:${clusterPort}`);
  if (!victim) throw new Error(`no Alertmanager of the pair has the cluster address ${peers[0]?.address}`);
  const killedAt = Date.now();
  await pgCtl('stop');
  victim.am.child.kill('SIGKILL');
  await killAndWait(victim.am.child);
  say(`step 7: PostgreSQL stopped, and the Alertmanager at ${victim.am.url} (first in the cluster's order) killed`);

  const down = await waitMail(mark, 'PostgresDown orders-db from the surviving Alertmanager', subject(new RegExp(`^\\[FIRING:1\\] PostgresDown ${DB_MONITOR}$`)));
  say(`step 7: "${down.subject}" after ${elapsed(killedAt)}, sent by the survivor`);
  await expectToAllAdmins(down);
  await pgCtl('start');
  await waitMail(mark, 'RESOLVED PostgresDown orders-db', subject(new RegExp(`^\\[RESOLVED\\] PostgresDown ${DB_MONITOR}$`)));

  // The killed one stays down: this is the last scenario. Past the survivor's peer timeout and
  // a few group intervals, a second copy would have come by now.
  await sleep(5_000);
  for (const wanted of [`[FIRING:1] PostgresDown ${DB_MONITOR}`, `[RESOLVED] PostgresDown ${DB_MONITOR}`]) {
    const copies = mailsAfter(mark, (m) => m.subject === wanted)
      .flatMap((m) => m.to)
      .sort();
    expect([wanted, copies]).toEqual([wanted, [...ADMINS].sort()]);
  }
  say(
    `step 7: each admin got the page and its RESOLVED once; mails in this step: ${mailsAfter(mark, () => true)
      .map((m) => m.subject)
      .join(' | ')}`,
  );
});

test('every dashboard panel this stack feeds had data during the scenario', async () => {
  const empty: PanelQuery[] = [];
  for (const [query, now] of panelResults) {
    if (now) continue;
    const series = await prometheus!.queryRange(query.expr, scenarioStart, new Date(), 1);
    if (series.length === 0) empty.push(query);
    else say(`panels: ${describePanel(query)} had no data while all was up, and had data during the outages`);
  }
  expect(panelResults.size).toBeGreaterThan(0);
  expect(empty.map(describePanel)).toEqual([]);
  say(`panels: ${panelResults.size} queries checked, all with data; mails received in all: ${mail!.received.length}: ${mail!.received.map((m) => m.subject).join(' | ')}`);
});

test('the Alertmanager pair mailed the Watchdog once to each admin, though both got it all along', () => {
  const copies = mail!.received
    .filter((m) => m.subject === '[FIRING:1] Watchdog')
    .flatMap((m) => m.to)
    .sort();
  expect(copies).toEqual([...ADMINS].sort());
});
