/**
 * The backup chain of issue 16 with real servers on loopback: a PostgreSQL 15 with the `backup`
 * role made by the shipped compose/postgres/initdb/30-backup-role.sh; the shipped
 * compose/backup/backup.sh run on demand (and schedule.sh once on its clock) with Debian's pg_dump
 * and sftp, uploading by key to a real sshd; a built checkpoint whose sftp monitors check each
 * backup directory as compose/checkpoint.yml's postgres-backups does; and Prometheus with the
 * shipped rules (their `for:` divided by TIME_SCALE) scraping those monitors.
 *
 * One directory per case; the checkpoint and Prometheus start once every case is set up, so that
 * what they see from their first probe on is the final state of each:
 *   fresh     a good run: dumped, uploaded (restorable), the dump from three days ago pruned
 *   missing   the run fails (the database refuses the login): nothing uploaded, nothing pruned,
 *             the last dump 30 h old -> BackupMissing
 *   unpruned  the run uploads but cannot delete a dump from three days ago -> BackupRetentionBroken
 *   empty     the newest dump is empty -> BackupTooSmall
 *   scheduled schedule.sh with BACKUP_SCHEDULE set to the coming minute: a dump arrives there
 *   pruned    schedule.sh set to that minute of another hour: it only prunes, a dump two days old
 * None of them is "the SFTP server down" (SFTPDown, MonitorDown), and every query of the databases
 * dashboard's Backups row has data. Waits are bounded polls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCheckpointProcess, waitFor, type CheckpointProcess } from '../support/checkpoint-process';
import { stringContaining } from '../support/matchers';
import { LOOPBACK } from '../support/ports';
import { startPostgres, type PostgresServer } from '../support/postgres-server';
import { describePanel, panelQueries } from '../smoke/dashboard-panels';
import { killAndWait, spawnLogged, waitExit } from '../support/processes';
import { startPrometheus, type Prometheus } from '../support/prometheus';
import { createTestUser, generateSshKey, startSshd, type Sshd, type SshKey, type TestUser } from '../support/sshd';
import { durationSeconds, INTERVALS, PROMETHEUS_FLAGS, renderRules, ROOT, shippedProbeInterval, TIME_SCALE } from '../support/stack-config';

const BACKUP_SCRIPT = path.join(ROOT, 'compose/backup/backup.sh');
const SCHEDULE_SCRIPT = path.join(ROOT, 'compose/backup/schedule.sh');
const ROLE_SCRIPT = path.join(ROOT, 'compose/postgres/initdb/30-backup-role.sh');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const CASES = ['fresh', 'missing', 'unpruned', 'empty', 'scheduled', 'pruned'] as const;
type Case = (typeof CASES)[number];
/** The cases the checkpoint's monitors check (`scheduled` and `pruned` only show that the schedule runs). */
const MONITORED: Case[] = ['fresh', 'missing', 'unpruned', 'empty'];
const HOUR = 3600;
/** The panels of the databases dashboard's Backups row. */
const BACKUP_PANELS = ['Dumps kept', 'Oldest dump age', 'Newest dump size'];
/** Upper bound of every wait for something to happen; never a measure of speed. */
const WAIT_MS = 150_000;
jest.setTimeout(WAIT_MS * 2);

let work: string;
let postgres: PostgresServer | undefined;
let sshd: Sshd | undefined;
let jobUser: TestUser | undefined;
let checkUser: TestUser | undefined;
let jobKey: SshKey;
let checkpoint: CheckpointProcess | undefined;
let prometheus: Prometheus | undefined;
type Scheduler = { child: ChildProcess; logs: () => string };
const schedulers: Scheduler[] = [];
let backupPassword: string;
const dirs = {} as Record<Case, string>;

/** The environment compose.yaml gives postgres-backup, pointed at this test's servers. */
function backupEnvironment(target: Case, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    TMPDIR: work,
    PGHOST: LOOPBACK,
    PGPORT: String(postgres!.port),
    PGUSER: 'backup',
    PGDATABASE: 'postgres',
    BACKUP_PGPASSWORD_FILE: path.join(work, 'postgres_backup_password'),
    BACKUP_SFTP_HOST: LOOPBACK,
    BACKUP_SFTP_PORT: String(sshd!.port),
    BACKUP_SFTP_USER: jobUser!.name,
    BACKUP_SFTP_KEY_FILE: jobKey.privateKeyFile,
    BACKUP_SFTP_HOST_KEY_FILE: path.join(work, 'sftp_host_key.pub'),
    BACKUP_SFTP_DIR: dirs[target],
    BACKUP_RETENTION_HOURS: '48',
    ...overrides,
  };
}

/** One run of the shipped backup.sh: its exit code and everything it printed. */
function runBackup(target: Case, overrides: Record<string, string> = {}, args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [BACKUP_SCRIPT, ...args], { env: backupEnvironment(target, overrides), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** `postgres-<UTC time>.dump` for a time `ageSeconds` ago, as backup.sh names its dumps. */
function dumpName(ageSeconds: number): string {
  const stamp = new Date(Date.now() - ageSeconds * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `postgres-${stamp}.dump`;
}

/** A file made as if `ageSeconds` ago: its name's time and its modification time agree. */
async function oldFile(dir: string, name: string, ageSeconds: number, content: Buffer | string, owner?: TestUser): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, content, { mode: 0o600 });
  if (owner) await fs.chown(file, owner.uid, owner.gid);
  const then = new Date(Date.now() - ageSeconds * 1000);
  await fs.utimes(file, then, then);
  return file;
}

const dumpsIn = async (dir: string): Promise<string[]> => (await fs.readdir(dir)).filter((name) => /^postgres-\d{8}T\d{6}Z\.dump$/.test(name)).sort();

/** The checkpoint's config: one sftp module per case, with compose/checkpoint.yml's limits for a daily dump kept two days. */
function checkpointConfig(passwordFile: string): string {
  const modules = MONITORED.map(
    (name) => `  backups_${name}:
    prober: sftp
    timeout: 10s
    sftp:
      username: ${checkUser!.name}
      password_file: ${passwordFile}
      host_key_fingerprints: ["${sshd!.hostKeyFingerprint}"]
      preferred_ip_protocol: ip4
      directory: ${dirs[name]}
      freshness:
        directory: ${dirs[name]}
        pattern: "postgres-*.dump"
        max_age: 26h
        max_oldest_age: 2d2h
        min_size_bytes: 512
        min_files: 2`,
  );
  const monitors = MONITORED.map((name) => `  - {name: ${name}, module: backups_${name}, target: "sftp://${LOOPBACK}:${sshd!.port}"}`);
  return `modules:\n${modules.join('\n')}\nmonitors:\n${monitors.join('\n')}\n`;
}

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-backup-test-')));
  await fs.chmod(work, 0o755);

  // The database, and the role the shipped init script makes, as the postgres image runs it.
  backupPassword = `${randomBytes(12).toString('hex')}:\\x`;
  await fs.writeFile(path.join(work, 'postgres_backup_password'), `${backupPassword}\n`, { mode: 0o600 });
  postgres = await startPostgres({ logins: ['backup'] });
  await new Promise<void>((resolve, reject) => {
    const init = spawnLogged('sh', [ROLE_SCRIPT], {
      env: {
        PATH: `${PG_BIN}:${process.env.PATH}`,
        PGHOST: postgres!.socketDir,
        PGPORT: String(postgres!.port),
        POSTGRES_USER: 'postgres',
        POSTGRES_DB: 'postgres',
        POSTGRES_BACKUP_PASSWORD_FILE: path.join(work, 'postgres_backup_password'),
      },
    });
    init.child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${ROLE_SCRIPT} exited with ${code}:\n${init.logs()}`))));
  });
  await postgres.admin('CREATE TABLE orders (id serial PRIMARY KEY, placed timestamptz NOT NULL DEFAULT now(), note text)');
  await postgres.admin("INSERT INTO orders (note) SELECT 'order ' || n FROM generate_series(1, 200) AS n");

  // The SFTP server: the job's login by key, the checkpoint's by password; the checkpoint may list
  // the backup directories (their group), as compose/sftp/entrypoint.sh sets them up.
  jobUser = await createTestUser('pc-backup-job', path.join(work, 'job-home'));
  checkUser = await createTestUser('pc-backup-check', path.join(work, 'check-home'));
  jobKey = await generateSshKey(path.join(work, 'job_key'));
  sshd = await startSshd({ user: [jobUser.name, checkUser.name], authorizedKeys: [jobKey.publicKeyLine] });
  await fs.writeFile(path.join(work, 'sftp_host_key.pub'), `${sshd.hostPublicKey}\n`);
  for (const name of CASES) {
    dirs[name] = path.join(work, 'backups', name);
    await fs.mkdir(dirs[name], { recursive: true });
    await fs.chown(dirs[name], jobUser.uid, checkUser.gid);
    await fs.chmod(dirs[name], 0o2750);
  }
  await fs.chmod(path.join(work, 'backups'), 0o755);
}, 120_000);

afterAll(async () => {
  for (const scheduler of schedulers) await killAndWait(scheduler.child);
  await prometheus?.stop();
  await checkpoint?.stop();
  await sshd?.stop();
  await postgres?.stop();
  await jobUser?.remove();
  await checkUser?.remove();
  if (work) await fs.rm(work, { recursive: true, force: true });
}, 60_000);

/** The checkpoint, checking every monitored directory, and Prometheus scraping it with the shipped rules. */
async function startWatching(): Promise<void> {
  const checkPasswordFile = path.join(work, 'sftp_check_password');
  await fs.writeFile(checkPasswordFile, checkUser!.password, { mode: 0o600 });
  checkpoint = await startCheckpointProcess(checkpointConfig(checkPasswordFile));

  // Prometheus with every shipped rule, and a probe job shaped as the shipped one (job "probe",
  // the monitors from /sd, target and checkpoint labels).
  const promDir = path.join(work, 'prometheus');
  const windowScale = (await shippedProbeInterval()) / durationSeconds(INTERVALS.probe.scrape_interval);
  await renderRules(path.join(promDir, 'rules'), TIME_SCALE, windowScale);
  prometheus = await startPrometheus({
    dir: promDir,
    flags: PROMETHEUS_FLAGS,
    config: () => `global:
  scrape_interval: ${INTERVALS.global.scrape_interval}
  evaluation_interval: ${INTERVALS.global.evaluation_interval}
rule_files: [rules/*.yml]
scrape_configs:
  - job_name: probe
    metrics_path: /probe
    scrape_interval: ${INTERVALS.probe.scrape_interval}
    scrape_timeout: ${INTERVALS.probe.scrape_timeout}
    http_sd_configs:
      - url: ${new URL('/sd', checkpoint!.url).href}
        refresh_interval: 5s
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: target}
      - {target_label: checkpoint, replacement: checkpoint-a}
      - {target_label: __address__, replacement: ${new URL(checkpoint!.url).host}}
      - {source_labels: [checkpoint, monitor], separator: /, target_label: instance}
`,
  });
}

test('the backup role reads every table and writes none', async () => {
  const role = await postgres!.admin("SELECT rolsuper, rolcreaterole, rolcreatedb, rolconnlimit, pg_has_role('backup', 'pg_read_all_data', 'member') AS reads FROM pg_roles WHERE rolname = 'backup'");
  expect(role).toEqual([{ rolsuper: 'f', rolcreaterole: 'f', rolcreatedb: 'f', rolconnlimit: '2', reads: 't' }]);
  const rights = await postgres!.admin(
    "SELECT has_table_privilege('backup', 'orders', 'SELECT') AS reads, has_table_privilege('backup', 'orders', 'INSERT') AS inserts, has_table_privilege('backup', 'orders', 'DELETE') AS deletes",
  );
  expect(rights).toEqual([{ reads: 't', inserts: 'f', deletes: 'f' }]);
});

test('a good run dumps, uploads a restorable dump, prunes only the dumps older than the retention, and prints no secret', async () => {
  const dir = dirs.fresh;
  const threeDays = await oldFile(dir, dumpName(72 * HOUR), 72 * HOUR, 'an old dump', jobUser);
  const yesterday = await oldFile(dir, dumpName(24 * HOUR), 24 * HOUR, 'yesterday', jobUser);
  const notADump = await oldFile(dir, 'notes.txt', 72 * HOUR, 'not a dump', jobUser);
  // What a failed upload three days ago left behind goes too.
  const partial = await oldFile(dir, `.${dumpName(72 * HOUR)}.partial`, 72 * HOUR, 'half a dump', jobUser);
  const run = await runBackup('fresh');
  process.stdout.write(`backup.sh, a good run:\n${run.output}`);
  expect(run).toEqual({ code: 0, output: stringContaining('backup: pruned 2 file(s) older than 48 hours:') });
  expect(run.output).not.toContain(backupPassword);
  const dumps = await dumpsIn(dir);
  expect(dumps).toHaveLength(2);
  expect(dumps).toContain(path.basename(yesterday));
  expect(dumps).not.toContain(path.basename(threeDays));
  await expect(fs.stat(notADump)).resolves.toBeTruthy();
  await expect(fs.stat(partial)).rejects.toThrow(/ENOENT/);
  // Nothing half-uploaded is left, and the new dump is the job's alone (the checkpoint lists, never reads).
  expect((await fs.readdir(dir)).filter((name) => name.endsWith('.partial'))).toEqual([]);
  const newest = path.join(dir, dumps[dumps.length - 1] ?? '');
  const stat = await fs.stat(newest);
  expect({ owner: stat.uid, size: stat.size > 512 }).toEqual({ owner: jobUser!.uid, size: true });
  // A real dump: pg_restore reads its table of contents, the orders table among it.
  const listing = spawnLogged(`${PG_BIN}/pg_restore`, ['--list', newest]);
  expect(await waitExit(listing.child, 30_000)).toBe(true);
  expect(listing.logs()).toMatch(/TABLE DATA public orders/);
});

test('--prune-only deletes a dump made off the schedule once it is past the retention, and dumps nothing', async () => {
  const before = await dumpsIn(dirs.fresh);
  const offSchedule = await oldFile(dirs.fresh, dumpName(48 * HOUR + 60), 48 * HOUR + 60, 'made by hand two days ago', jobUser);
  const run = await runBackup('fresh', {}, ['--prune-only']);
  expect(run).toEqual({ code: 0, output: stringContaining(`backup: pruned 1 file(s) older than 48 hours: ${path.basename(offSchedule)}\n`) });
  expect(run.output).not.toContain('backup: dumped');
  expect(await dumpsIn(dirs.fresh)).toEqual(before);
});

test('a retention under an hour is refused before anything is done', async () => {
  const before = await dumpsIn(dirs.fresh);
  const run = await runBackup('fresh', { BACKUP_RETENTION_HOURS: '0' });
  expect(run).toEqual({ code: 1, output: "backup: FAILED: BACKUP_RETENTION_HOURS must be a whole number of hours, at least 1: got '0'\n" });
  expect(await dumpsIn(dirs.fresh)).toEqual(before);
});

test('a run whose dump fails uploads nothing and prunes nothing', async () => {
  await oldFile(dirs.missing, dumpName(40 * HOUR), 40 * HOUR, 'x'.repeat(2048), jobUser);
  const lastGood = await oldFile(dirs.missing, dumpName(30 * HOUR), 30 * HOUR, 'x'.repeat(2048), jobUser);
  const before = await dumpsIn(dirs.missing);
  const wrongPassword = path.join(work, 'wrong_password');
  await fs.writeFile(wrongPassword, 'not the password\n');
  const run = await runBackup('missing', { BACKUP_PGPASSWORD_FILE: wrongPassword });
  expect(run.code).toBe(1);
  expect(run.output).toContain('backup: FAILED: pg_dump of database postgres on 127.0.0.1 as backup failed');
  expect(run.output).toContain('password authentication failed for user "backup"');
  expect(await dumpsIn(dirs.missing)).toEqual(before);
  expect(before).toHaveLength(2);
  expect(before).toContain(path.basename(lastGood));
});

test('a run refuses an SFTP server whose host key is not the pinned one, and sends it nothing', async () => {
  const other = await generateSshKey(path.join(work, 'not_the_host_key'));
  const pinned = path.join(work, 'other_host_key.pub');
  await fs.writeFile(pinned, `${other.publicKeyLine}\n`);
  const before = await fs.readdir(dirs.empty);
  const run = await runBackup('empty', { BACKUP_SFTP_HOST_KEY_FILE: pinned });
  expect(run.code).toBe(1);
  expect(run.output).toMatch(/Host key verification failed/);
  expect(run.output).toContain('backup: FAILED: upload of');
  expect(await fs.readdir(dirs.empty)).toEqual(before);
});

test('a prune that fails makes the run fail, after the upload', async () => {
  // A dump from three days ago that the job may not delete: the directory is root's and sticky, the file root's.
  await fs.chown(dirs.unpruned, 0, checkUser!.gid);
  await fs.chmod(dirs.unpruned, 0o1777);
  const stuck = await oldFile(dirs.unpruned, dumpName(72 * HOUR), 72 * HOUR, 'x'.repeat(2048));
  const run = await runBackup('unpruned');
  expect(run.code).toBe(1);
  expect(run.output).toContain(`backup: FAILED: pruning dumps older than 48 hours in 127.0.0.1:${dirs.unpruned} failed`);
  const dumps = await dumpsIn(dirs.unpruned);
  expect(dumps).toHaveLength(2);
  expect(dumps).toContain(path.basename(stuck));
});

test('schedule.sh runs the backup at the minute BACKUP_SCHEDULE names, and prunes alone at that minute of other hours', async () => {
  // The coming minute, in UTC. A minute later than that if it is about to turn, so the schedulers surely start before it.
  const at = new Date(Date.now() + (new Date().getUTCSeconds() > 50 ? 120_000 : 60_000));
  const hhmm = (hour: number) => `${String(hour).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
  // One scheduler whose hour is this one: it backs up; one whose hour is another: it only prunes.
  const otherHour = (at.getUTCHours() + 1) % 24;
  const stale = await oldFile(dirs.pruned, dumpName(49 * HOUR), 49 * HOUR, 'made by hand two days ago', jobUser);
  const start = (target: Case, hour: number) => spawnLogged('sh', [SCHEDULE_SCRIPT], { env: { ...backupEnvironment(target), BACKUP_SCHEDULE: `${at.getUTCMinutes()} ${hour} * * *`, TZ: 'UTC' } });
  schedulers.push(start('scheduled', at.getUTCHours()), start('pruned', otherHour));
  const [backingUp, pruning] = schedulers as [Scheduler, Scheduler];
  for (const [scheduler, hour] of [
    [backingUp, at.getUTCHours()],
    [pruning, otherHour],
  ] as const) {
    const said = await waitFor('the scheduler to say when it runs', async () => /^schedule: .*$/m.exec(scheduler.logs())?.[0]);
    expect(said).toBe(`schedule: a backup every day at ${hhmm(hour)} UTC`);
  }
  // Nothing before that minute.
  expect(await dumpsIn(dirs.scheduled)).toEqual([]);
  await waitFor('a dump from the scheduled run', async () => ((await dumpsIn(dirs.scheduled)).length === 1 ? true : undefined), WAIT_MS);
  expect(backingUp.logs()).toContain('backup: uploaded postgres-');
  await waitFor('the hourly prune', async () => ((await dumpsIn(dirs.pruned)).length === 0 ? true : undefined), WAIT_MS);
  expect(pruning.logs()).toContain(`backup: pruned 1 file(s) older than 48 hours: ${path.basename(stale)}`);
  expect(pruning.logs()).not.toContain('backup: dumped');
  // A SIGTERM (docker stop) ends each at once, mid-wait, with status 0.
  for (const scheduler of schedulers.splice(0)) {
    scheduler.child.kill('SIGTERM');
    expect(await waitExit(scheduler.child, 10_000)).toBe(true);
    expect(scheduler.child.exitCode).toBe(0);
  }
});

test('Prometheus with the shipped rules says which backup is broken, and never that the SFTP server is down', async () => {
  // The newest dump of `empty` is empty, yesterday's was good.
  await oldFile(dirs.empty, dumpName(24 * HOUR), 24 * HOUR, 'x'.repeat(2048), jobUser);
  await oldFile(dirs.empty, dumpName(60), 60, '', jobUser);
  await startWatching();

  const expected: Record<string, string> = { BackupMissing: 'missing', BackupRetentionBroken: 'unpruned', BackupTooSmall: 'empty' };
  const backupAlerts = async (): Promise<string[]> =>
    (await prometheus!.alerts())
      .filter((alert) => alert.state === 'firing' && /^(Backup|SFTP|MonitorDown)/.test(alert.labels.alertname ?? ''))
      .map((alert) => `${alert.labels.alertname} ${alert.labels.monitor}`)
      .sort();
  const want = Object.entries(expected).map(([alert, monitor]) => `${alert} ${monitor}`);
  const firing = await waitFor(
    `${want.join(', ')} firing`,
    async () => {
      const now = await backupAlerts();
      return want.every((alert) => now.includes(alert)) ? now : undefined;
    },
    WAIT_MS,
  );
  // Each broken set raises its own alert and nothing else; the good sets none.
  expect(firing).toEqual(want.sort());
  const success = await prometheus!.query('probe_success{job="probe"}');
  expect(Object.fromEntries(success.map((sample) => [sample.metric.monitor, sample.value[1]]))).toEqual({ fresh: '1', missing: '0', unpruned: '0', empty: '0' });
  // Every query of the dashboard's Backups row has data: the sets and their limits.
  const backupPanels = panelQueries().filter((query) => BACKUP_PANELS.includes(query.panel));
  expect(new Set(backupPanels.map((query) => query.panel))).toEqual(new Set(BACKUP_PANELS));
  for (const query of backupPanels) {
    const result = await prometheus!.query(query.expr);
    expect([describePanel(query), result.length > 0]).toEqual([describePanel(query), true]);
  }
  // Since the first scrape, SFTPDown and MonitorDown have never even been pending.
  expect(await prometheus!.query('max_over_time(ALERTS{alertname=~"SFTPDown|MonitorDown"}[10m])')).toEqual([]);
});
