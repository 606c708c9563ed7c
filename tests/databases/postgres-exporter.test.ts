/**
 * postgres_exporter against a real PostgreSQL 15, as compose.yaml runs it, scraped by a real
 * Prometheus with the shipped `postgres` job and the shipped rules:
 *
 *   a primary (archive_mode on, its archive_command made to fail by the archiver's test) with a replica
 *   streaming from it and a replication slot; the exporter's role created by the shipped
 *   compose/postgres/initdb/20-exporter-role.sh; Debian's prometheus-postgres-exporter logged in
 *   as that role, its password from a file, with compose.yaml's flags and queries file;
 *   Prometheus with prometheus/prometheus.yml's `postgres` job (its own job too, nothing else)
 *   and every rule file, timings scaled as tests/support/stack-config.ts says.
 *
 * It shows: the exporter's series reach Prometheus under the shipped job and labels; the role
 * reads statistics and no table's data; every query of the dashboards' "PostgreSQL server" row
 * (those the native smoke test leaves to this file) returns data; and alerts fire on the real
 * thing: a deadlock between two sessions (PostgresDeadlocks), a session left idle in a
 * transaction (PostgresIdleInTransaction, and it resolves at COMMIT), the archiver failing
 * (PostgresWALArchiveFailing), every connection slot taken while an application is refused
 * (PostgresTooManyConnections) and a restart (PostgresRestarted), each not firing before, and no
 * other PostgreSQL alert firing at all (long transactions, wraparound, slot lag, the exporter).
 * Waits are bounded polls; how long each took is printed, never asserted.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { isMap, isSeq, parseDocument } from 'yaml';
import { waitFor } from '../support/checkpoint-process';
import { loadDashboards } from '../support/dashboards';
import { LOOPBACK } from '../support/ports';
import { createExporterRole, EXPORTER_ROLE, startPostgresExporter } from '../support/postgres-exporter';
import { PROBE_USER, startPostgres, type PostgresServer } from '../support/postgres-server';
import { killAndWait, type ProcessServer } from '../support/processes';
import { startPrometheus, type Prometheus } from '../support/prometheus';
import { durationSeconds, INTERVALS, PROMETHEUS_FLAGS, PROMETHEUS_FILES, renderPrometheusConfig, renderRules, ROOT, TIME_SCALE, type Substitution } from '../support/stack-config';
import { panelQueries } from '../smoke/dashboard-panels';

/** Upper bound of every wait; never a measure of speed. */
const WAIT_MS = 120_000;
jest.setTimeout(WAIT_MS * 2);

const THIS_FILE = path.relative(ROOT, __filename);
/** The shipped postgres job's interval (its own or the global one), over the test's: how much shorter the rules' windows get. */
const SHIPPED_SCRAPE_INTERVAL = '15s';

let work = '';
let primary: PostgresServer | undefined;
let replica: PostgresServer | undefined;
let exporter: ProcessServer | undefined;
let prometheus: Prometheus | undefined;
let exporterPassword = '';
const clients: Client[] = [];
const suiteStart = Date.now();

const say = (line: string): void => {
  process.stdout.write(`[postgres-exporter ${((Date.now() - suiteStart) / 1000).toFixed(1)}s] ${line}\n`);
};

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-pg-exporter-test-')));
  // archive_mode needs a restart to change: on from the start, with an archive_command that
  // succeeds (`true`, keeping nothing) until the archiver's test makes it fail.
  primary = await startPostgres({ logins: [EXPORTER_ROLE], settings: ['archive_mode = on', "archive_command = 'true'"] });
  exporterPassword = randomBytes(12).toString('hex');
  const passwordFile = path.join(work, 'postgres_exporter_password');
  await fs.writeFile(passwordFile, `${exporterPassword}\n`, { mode: 0o600 });
  await createExporterRole(primary, passwordFile);
  await primary.admin("SELECT pg_create_physical_replication_slot('reporting', true)");
  replica = await startPostgres({ primaryOf: primary });
  exporter = await startPostgresExporter(primary, passwordFile);

  const promDir = path.join(work, 'prometheus');
  const substitutions: Substitution[] = [];
  const windowScale = durationSeconds(SHIPPED_SCRAPE_INTERVAL) / durationSeconds(INTERVALS.global.scrape_interval);
  substitutions.push(...(await renderRules(path.join(promDir, 'rules'), TIME_SCALE, windowScale)).substitutions);
  // The shipped config, rendered for loopback addresses, with only its postgres and prometheus jobs kept.
  const rendered = await renderPrometheusConfig(
    // The checkpoint jobs need a proxy and a password file to render; they are removed below.
    { alertmanagers: [], prometheus: `${LOOPBACK}:0`, postgresExporter: exporter.address, checkpointProxy: `${LOOPBACK}:9`, checkpointPasswordFile: passwordFile },
    PROMETHEUS_FILES.single,
  );
  substitutions.unshift(...rendered.substitutions.filter((s) => /^job (postgres|prometheus)\b|^global/.test(s.where)));
  const doc = parseDocument(rendered.yaml);
  const jobs = doc.get('scrape_configs');
  if (!isSeq(jobs)) throw new Error('prometheus.yml: scrape_configs is not a list');
  jobs.items = jobs.items.filter((job) => isMap(job) && ['postgres', 'prometheus'].includes(String(job.get('job_name'))));
  expect(jobs.items).toHaveLength(2);
  doc.delete('alerting');
  substitutions.push({ file: PROMETHEUS_FILES.single, where: 'jobs and alerting', from: 'all', to: 'postgres and prometheus only; no Alertmanager' });
  prometheus = await startPrometheus({ dir: promDir, flags: PROMETHEUS_FLAGS, config: (port) => doc.toString().replace(`${LOOPBACK}:0`, `${LOOPBACK}:${port}`) });
  say(`PostgreSQL ${primary.address} (replica ${replica.address}), postgres_exporter ${exporter.address}, Prometheus ${prometheus.url}`);
  say(`substitutions (durations divided by ${TIME_SCALE}, windows by ${windowScale}):\n${substitutions.map((s) => `    ${s.file}: ${s.where}: ${s.from} -> ${s.to}`).join('\n')}`);
}, 180_000);

afterAll(async () => {
  if (process.env.SMOKE_LOGS) say(`--- postgres_exporter log:\n${exporter?.logs() ?? ''}\n--- prometheus log:\n${prometheus?.logs() ?? ''}`);
  for (const client of clients) await client.end().catch(() => undefined);
  await prometheus?.stop();
  if (exporter) await killAndWait(exporter.child);
  await replica?.stop();
  await primary?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Helpers

/** waitFor with this suite's bound. */
const waitUntil = <T>(what: string, check: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> => waitFor(what, check, ms);

/** A session of the superuser over the unix socket, ended after the suite. */
async function session(name: string): Promise<Client> {
  const client = new Client({ host: primary!.socketDir, port: primary!.port, user: 'postgres', database: 'postgres', application_name: name });
  await client.connect();
  clients.push(client);
  return client;
}

/** The alerts `alertname` in `state` now, as "label=value ..." of the labels in `show`. */
async function alertsNamed(alertname: string, state: 'pending' | 'firing', show: string[] = ['datname']): Promise<string[]> {
  return (await prometheus!.alerts()).filter((a) => a.labels.alertname === alertname && a.state === state).map((a) => show.map((label) => `${label}=${a.labels[label] ?? ''}`).join(' '));
}

/** Waits for `alertname` to be firing with `labels`; returns how long it took. */
async function waitFiring(alertname: string, labels: Record<string, string>, since: number): Promise<string> {
  await waitUntil(`${alertname} firing with ${JSON.stringify(labels)}; alerts now: ${alertname}`, async () => {
    const alerts = await prometheus!.alerts();
    return alerts.some((a) => a.labels.alertname === alertname && a.state === 'firing' && Object.entries(labels).every(([k, v]) => a.labels[k] === v)) ? true : undefined;
  });
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

const elapsed = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)}s`;

// ---------------------------------------------------------------------------------------------

test("the exporter logs in as the shipped script's role, and its series reach Prometheus under the shipped job", async () => {
  const since = Date.now();
  const up = await waitUntil('pg_up{job="postgres"} == 1 in Prometheus', async () => {
    const samples = await prometheus!.query('pg_up{job="postgres"} == 1');
    return samples.length === 1 ? samples[0] : undefined;
  });
  say(`pg_up 1 in Prometheus after ${elapsed(since)}`);
  // The target as the shipped job labels it: the exporter's address, and the monitor of the same server.
  expect(up.metric).toEqual({ __name__: 'pg_up', job: 'postgres', instance: exporter!.address, monitor: 'postgres' });
  // Series of the default set, of the settings, and of the shipped queries file, for this server.
  for (const selector of [
    'pg_stat_database_xact_commit{job="postgres", datname="postgres"}',
    'pg_settings_max_connections{job="postgres"}',
    'pg_postmaster_start_time_seconds{job="postgres"}',
    'pg_database_wraparound_age_datfrozenxid_seconds{job="postgres", datname="postgres"}',
    'pg_replication_slots_pg_wal_lsn_diff{job="postgres", slot_name="reporting"}',
  ]) {
    const samples = await waitUntil(`${selector} in Prometheus`, async () => {
      const found = await prometheus!.query(selector);
      return found.length > 0 ? found : undefined;
    });
    expect([selector, samples[0]?.metric.server]).toEqual([selector, primary!.address]);
  }
  // The exporter's own login is the role the script made: a pg_monitor member, limited.
  const [role] = await primary!.admin(
    `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolconnlimit,
            array_to_string(ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1), ',') AS member_of
       FROM pg_roles r WHERE r.rolname = $1`,
    [EXPORTER_ROLE],
  );
  expect(role).toEqual({ rolsuper: 'f', rolcreaterole: 'f', rolcreatedb: 'f', rolreplication: 'f', rolconnlimit: '3', member_of: 'pg_monitor' });
  const sessions = await primary!.admin("SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1 AND client_addr = '127.0.0.1'", [EXPORTER_ROLE]);
  expect(Number(sessions[0]?.n)).toBeGreaterThanOrEqual(1);
});

test("the exporter's role reads every session's statistics but no table's data, and writes nothing", async () => {
  await primary!.admin('CREATE TABLE customers (id int PRIMARY KEY, email text)');
  await primary!.admin("INSERT INTO customers VALUES (1, 'alice@example.test')");
  const watcher = await session('busy-app');
  await watcher.query('SELECT 1');
  const asExporter = new Client({ host: primary!.host, port: primary!.port, user: EXPORTER_ROLE, password: exporterPassword, database: 'postgres', ssl: false });
  await asExporter.connect();
  clients.push(asExporter);
  // pg_read_all_stats (through pg_monitor): another role's session, its query included.
  const seen = await asExporter.query<{ query: string }>("SELECT query FROM pg_stat_activity WHERE application_name = 'busy-app'");
  expect(seen.rows).toEqual([{ query: 'SELECT 1' }]);
  const refused = async (sql: string): Promise<string> => {
    try {
      await asExporter.query(sql);
      return 'allowed';
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };
  // 42501: insufficient_privilege.
  expect(await refused('SELECT email FROM customers')).toBe('42501');
  expect(await refused("INSERT INTO customers VALUES (2, 'mallory@example.test')")).toBe('42501');
  expect(await refused('CREATE TABLE exfiltrate (x int)')).toBe('42501');
  expect(await refused("SELECT pg_read_file('postgresql.conf')")).toBe('42501');
});

test('every query of the "PostgreSQL server" row returns data', async () => {
  const [dashboard] = loadDashboards().filter((d) => d.panels.some((p) => p.type === 'row' && p.title === 'PostgreSQL server'));
  if (!dashboard) throw new Error('no dashboard has a "PostgreSQL server" row');
  const rowAt = dashboard.panels.findIndex((p) => p.type === 'row' && p.title === 'PostgreSQL server');
  const nextRow = dashboard.panels.findIndex((p, i) => i > rowAt && p.type === 'row');
  const rowPanels = dashboard.panels.slice(rowAt + 1, nextRow < 0 ? undefined : nextRow).map((p) => p.title);
  // The queries the native smoke test leaves to this file are exactly the row's.
  const queries = panelQueries().filter((q) => q.skipped?.includes(THIS_FILE));
  expect([...new Set(queries.map((q) => q.panel))].sort()).toEqual([...rowPanels].sort());
  expect(rowPanels.length).toBeGreaterThanOrEqual(7);
  const since = Date.now();
  // rate() and increase() need two samples in their window: a few scrapes after the start.
  const empty = await waitUntil('every query of the row with data', async () => {
    const without: string[] = [];
    for (const query of queries) if ((await prometheus!.query(query.expr)).length === 0) without.push(`"${query.panel}" ${query.refId}: ${query.expr}`);
    return without.length === 0 ? without : undefined;
  });
  expect(empty).toEqual([]);
  say(`${queries.length} queries of ${rowPanels.length} panels (${rowPanels.join(', ')}) with data after ${elapsed(since)}`);
});

test('a deadlock between two sessions makes PostgresDeadlocks fire for its database', async () => {
  expect(await alertsNamed('PostgresDeadlocks', 'firing')).toEqual([]);
  await primary!.admin('CREATE TABLE accounts (id int PRIMARY KEY, balance int)');
  await primary!.admin('INSERT INTO accounts VALUES (1, 100), (2, 100)');
  const [one, two] = [await session('transfer-1'), await session('transfer-2')];
  await one.query('BEGIN');
  await two.query('BEGIN');
  await one.query('UPDATE accounts SET balance = balance - 10 WHERE id = 1');
  await two.query('UPDATE accounts SET balance = balance - 10 WHERE id = 2');
  // Each now waits for the row the other holds: PostgreSQL cancels one after deadlock_timeout.
  const outcome = async (client: Client, id: number): Promise<string> =>
    client.query(`UPDATE accounts SET balance = balance + 10 WHERE id = ${id}`).then(
      () => 'ok',
      (error: { code?: string }) => error.code ?? 'error',
    );
  const since = Date.now();
  const results = await Promise.all([outcome(one, 2), outcome(two, 1)]);
  // 40P01: deadlock_detected, for exactly one of the two.
  expect(results.sort()).toEqual(['40P01', 'ok']);
  await one.query('ROLLBACK');
  await two.query('ROLLBACK');
  say(`deadlock: ${results.join(', ')}; PostgresDeadlocks firing after ${await waitFiring('PostgresDeadlocks', { datname: 'postgres', monitor: 'postgres' }, since)}`);
  // Only the database it happened in.
  expect(await alertsNamed('PostgresDeadlocks', 'firing')).toEqual(['datname=postgres']);
});

test('a session left idle in a transaction makes PostgresIdleInTransaction fire, and COMMIT resolves it', async () => {
  expect(await alertsNamed('PostgresIdleInTransaction', 'firing')).toEqual([]);
  const forgetful = await session('forgot-to-commit');
  await forgetful.query('BEGIN');
  await forgetful.query('SELECT balance FROM accounts WHERE id = 1 FOR UPDATE');
  const since = Date.now();
  // Over a minute old (the rule's threshold, not scaled), then its `for:` (5m, scaled).
  say(`idle in transaction: PostgresIdleInTransaction firing after ${await waitFiring('PostgresIdleInTransaction', { datname: 'postgres', monitor: 'postgres' }, since)}`);
  const committed = Date.now();
  await forgetful.query('COMMIT');
  await waitUntil('PostgresIdleInTransaction resolved after COMMIT', async () => ((await alertsNamed('PostgresIdleInTransaction', 'firing')).length === 0 ? true : undefined));
  say(`COMMIT: PostgresIdleInTransaction resolved after ${elapsed(committed)}`);
});

test('archive_command failing makes PostgresWALArchiveFailing fire', async () => {
  expect(await alertsNamed('PostgresWALArchiveFailing', 'firing', ['server'])).toEqual([]);
  // Archived so far (the replica's base backup ended a segment), never failed.
  const [before] = await primary!.admin('SELECT failed_count, archived_count FROM pg_stat_archiver');
  expect(before?.failed_count).toBe('0');
  await primary!.admin("ALTER SYSTEM SET archive_command = 'false'");
  await primary!.admin('SELECT pg_reload_conf()');
  // A complete segment for the archiver to try.
  await primary!.admin('INSERT INTO accounts SELECT g, 0 FROM generate_series(3, 1000) g');
  await primary!.admin('SELECT pg_switch_wal()');
  const since = Date.now();
  say(`archive_command 'false': PostgresWALArchiveFailing firing after ${await waitFiring('PostgresWALArchiveFailing', { server: primary!.address, monitor: 'postgres' }, since)}`);
  const after = await primary!.admin('SELECT failed_count, archived_count FROM pg_stat_archiver');
  expect(Number(after[0]?.failed_count)).toBeGreaterThan(0);
  expect(after[0]?.archived_count).toBe(before?.archived_count);
});

test('every connection slot taken makes PostgresTooManyConnections fire, when an application is refused', async () => {
  expect(await alertsNamed('PostgresTooManyConnections', 'firing', ['server'])).toEqual([]);
  const [limits] = await primary!.admin("SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int AS slots");
  const slots = Number(limits?.slots);
  // Sessions of the superuser (which may also use the reserved slots) until every ordinary slot is taken.
  const sessionsNow = async (): Promise<number> => Number((await primary!.admin("SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"))[0]?.n);
  const hogs: Client[] = [];
  while ((await sessionsNow()) < slots) hogs.push(await session(`hog-${hogs.length}`));
  // An ordinary role is refused now: 53300, too_many_connections.
  const app = new Client({ host: primary!.host, port: primary!.port, user: PROBE_USER, password: primary!.password, database: 'postgres', ssl: false });
  const refused = await app.connect().then(
    () => 'connected',
    (error: { code?: string; message?: string }) => error.code ?? error.message ?? 'error',
  );
  await app.end().catch(() => undefined);
  expect(refused).toBe('53300');
  const since = Date.now();
  say(
    `${hogs.length} sessions opened to fill ${slots} slots; PostgresTooManyConnections firing after ${await waitFiring('PostgresTooManyConnections', { server: primary!.address, monitor: 'postgres' }, since)}`,
  );
  for (const hog of hogs) await hog.end();
  clients.splice(0, clients.length, ...clients.filter((client) => !hogs.includes(client)));
  await waitUntil('PostgresTooManyConnections resolved once the sessions closed', async () =>
    (await alertsNamed('PostgresTooManyConnections', 'firing', ['server'])).length === 0 ? true : undefined,
  );
});

test('a restart makes PostgresRestarted fire', async () => {
  // The server started with the suite, before Prometheus watched it: not a restart.
  expect(await alertsNamed('PostgresRestarted', 'firing', ['server'])).toEqual([]);
  const [before] = await prometheus!.query('pg_postmaster_start_time_seconds{job="postgres"}');
  for (const client of clients.splice(0)) await client.end().catch(() => undefined);
  const since = Date.now();
  await primary!.restart();
  say(`pg_ctl restart took ${elapsed(since)}; PostgresRestarted firing after ${await waitFiring('PostgresRestarted', { server: primary!.address, monitor: 'postgres' }, since)}`);
  const [after] = await prometheus!.query('pg_postmaster_start_time_seconds{job="postgres"}');
  expect(Number(after?.value[1])).toBeGreaterThan(Number(before?.value[1]));
});

test('no other PostgreSQL alert fired on this server: what the tests did set off only its own', async () => {
  const seconds = Math.ceil((Date.now() - suiteStart) / 1000);
  const fired = await prometheus!.query(`group by (alertname) (max_over_time(ALERTS{alertname=~"Postgres.*", alertstate="firing"}[${seconds}s]))`);
  expect(fired.map((sample) => sample.metric.alertname).sort()).toEqual([
    'PostgresDeadlocks',
    'PostgresIdleInTransaction',
    'PostgresRestarted',
    'PostgresTooManyConnections',
    'PostgresWALArchiveFailing',
  ]);
});
