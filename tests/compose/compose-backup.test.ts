/**
 * compose.yaml's backup job (postgres-backup, compose/backup/) read without Docker: that it logs in
 * as what the demo servers create, pins the SFTP server's key, and writes what the checkpoints'
 * backup monitor checks, on the schedule and retention the monitor's limits assume. The scripts
 * themselves run against real servers in tests/backups/postgres-backup.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { durationSeconds } from '../support/stack-config';
import { bindMounts, interpolate, read, repoFileIn, ROOT, secretNames, type Compose, type Service } from './compose-file';

const compose = parse(read('compose.yaml'), { merge: true }) as Compose;
const backup = compose.services['postgres-backup'] as Service;
const sftp = compose.services.sftp as Service;
const postgres = compose.services.postgres as Service;
const env = (key: string): string => {
  const value = backup.environment?.[key];
  if (value === undefined) throw new Error(`compose.yaml: postgres-backup has no ${key}`);
  return interpolate(String(value));
};

interface FreshnessModule {
  prober: string;
  sftp: { username: string; host_key_fingerprints: string[]; freshness: { directory: string; pattern: string; max_age: string; max_oldest_age: string; min_size_bytes: number; min_files: number } };
}
const checkpointConfig = parse(read('compose/checkpoint.yml')) as { modules: Record<string, FreshnessModule>; monitors: { name: string; module: string; target: string }[] };
const monitor = checkpointConfig.monitors.find((entry) => entry.name === 'postgres-backups');
const backupModule = checkpointConfig.modules[monitor?.module ?? ''];

const sshKeygen = (args: string[]): string => {
  const result = spawnSync('ssh-keygen', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

test('a postgres-backups monitor checks the dumps with the sftp prober, at the demo SFTP server', () => {
  expect(monitor).toEqual({ name: 'postgres-backups', module: 'sftp_postgres_backups', target: 'sftp://sftp:22', labels: { team: 'demo' } });
  expect(backupModule?.prober).toBe('sftp');
});

test('the job dumps as the role the demo database creates, with the secret the database reads', () => {
  const init = read('compose/postgres/initdb/30-backup-role.sh');
  expect(env('PGHOST')).toBe('postgres');
  expect(init).toContain(`CREATE ROLE ${env('PGUSER')} LOGIN PASSWORD :'password'`);
  expect(init).toContain(`GRANT pg_read_all_data TO ${env('PGUSER')};`);
  // Both read the same compose secret, at the path the script defaults to.
  const passwordFile = env('BACKUP_PGPASSWORD_FILE');
  expect(init).toContain(`\${POSTGRES_BACKUP_PASSWORD_FILE:-${passwordFile}}`);
  expect(repoFileIn(ROOT, compose, backup, passwordFile)).toBe(repoFileIn(ROOT, compose, postgres, passwordFile));
  expect(repoFileIn(ROOT, compose, backup, passwordFile)).toBe(path.join(ROOT, 'compose/demo-secrets/postgres_backup_password'));
});

test("the job logs in to the SFTP server's backup user with the key that server authorises, and accepts only the server's pinned host key", () => {
  // The private key's public half is the one the sftp service mounts as the backup user's authorized key.
  const privateKey = repoFileIn(ROOT, compose, backup, env('BACKUP_SFTP_KEY_FILE'));
  const authorized = repoFileIn(ROOT, compose, sftp, '/etc/ssh/backup_authorized_keys');
  expect(privateKey).toBe(path.join(ROOT, 'compose/demo-secrets/sftp_backup_key'));
  expect(authorized).toBe(path.join(ROOT, 'compose/sftp/backup_ed25519_key.pub'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-backup-'));
  try {
    const copy = path.join(dir, 'key');
    writeFileSync(copy, read('compose/demo-secrets/sftp_backup_key'));
    chmodSync(copy, 0o600);
    expect(sshKeygen(['-y', '-f', copy]).split(' ').slice(0, 2)).toEqual(read('compose/sftp/backup_ed25519_key.pub').split(' ').slice(0, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(env('BACKUP_SFTP_HOST')).toBe('sftp');
  const user = env('BACKUP_SFTP_USER');
  // Not a name Debian's base-passwd has taken already (`backup` is uid 34 there): the server would
  // keep that user, with its own home and groups, and never read the key.
  const debianUsers = readFileSync('/usr/share/base-passwd/passwd.master', 'utf8')
    .split('\n')
    .map((line) => line.split(':')[0]);
  expect(debianUsers).toContain('backup');
  expect(debianUsers).not.toContain(user);
  const entrypoint = read('compose/sftp/entrypoint.sh');
  expect(entrypoint).toContain(`useradd --create-home --shell /usr/sbin/nologin --gid backup-readers ${user}`);
  expect(entrypoint).toContain(`/etc/ssh/backup_authorized_keys /home/${user}/.ssh/authorized_keys`);
  const sshd = read('compose/sftp/sshd_config');
  expect(sshd).toMatch(new RegExp(`^AllowUsers .*\\b${user}\\b`, 'm'));
  // Key only, and chrooted to the backups.
  expect(sshd.slice(sshd.indexOf(`\nMatch User ${user}\n`))).toBe(`\nMatch User ${user}\n` + '  PasswordAuthentication no\n  ChrootDirectory /srv/backups\n  ForceCommand internal-sftp -u 077\n');
  // The host key the job accepts is the one the checkpoints pin.
  const hostKey = repoFileIn(ROOT, compose, backup, env('BACKUP_SFTP_HOST_KEY_FILE'));
  expect(hostKey).toBe(path.join(ROOT, 'compose/sftp/ssh_host_ed25519_key.pub'));
  const fingerprint = /^\d+ (SHA256:\S+) /.exec(sshKeygen(['-l', '-f', hostKey ?? '']))?.[1];
  expect(backupModule?.sftp.host_key_fingerprints).toEqual([fingerprint]);
  for (const mount of bindMounts(backup)) expect(mount.options).toContain('ro');
});

test('the job writes where the monitor looks, under the name it matches, and the server lets the checkpoints list it', () => {
  const freshness = backupModule?.sftp.freshness;
  // The job is chrooted to /srv/backups; the checkpoints' login is not.
  expect(freshness?.directory).toBe(`/srv/backups${env('BACKUP_SFTP_DIR')}`);
  // backup.sh names a dump <BACKUP_NAME>-<UTC time>.dump; BACKUP_NAME defaults to postgres.
  expect(backup.environment?.BACKUP_NAME).toBeUndefined();
  expect(read('compose/backup/backup.sh')).toContain('name=${BACKUP_NAME:-postgres}');
  expect(read('compose/backup/backup.sh')).toContain('dump="$name-$(date -u -d "@$started" +%Y%m%dT%H%M%SZ).dump"');
  expect(freshness?.pattern).toBe('postgres-*.dump');
  // The server creates the directory for the backup user, listable by group backups, which the checkpoints' login joins.
  const entrypoint = read('compose/sftp/entrypoint.sh');
  expect(entrypoint).toContain(`install -d -m 2750 -o ${env('BACKUP_SFTP_USER')} -g backup-readers ${freshness?.directory}`);
  expect(entrypoint).toContain(`usermod -a -G backup-readers ${backupModule?.sftp.username}`);
  expect(
    secretNames(backup)
      .map((ref) => ref.source)
      .sort(),
  ).toEqual(['postgres_backup_password', 'sftp_backup_key']);
});

test("the monitor's limits follow from the job's schedule and retention", () => {
  const schedule = env('BACKUP_SCHEDULE');
  expect(schedule).toBe('0 4 * * *');
  // schedule.sh accepts it, and says when.
  const checked = spawnSync('sh', [path.join(ROOT, 'compose/backup/schedule.sh'), '--check'], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { PATH: process.env.PATH, BACKUP_SCHEDULE: schedule, TZ: 'UTC' },
  });
  expect([checked.status, checked.stdout]).toEqual([0, 'schedule: a backup every day at 04:00 UTC\n']);
  const freshness = backupModule?.sftp.freshness;
  const day = 24 * 3600;
  const retention = Number(env('BACKUP_RETENTION_HOURS')) * 3600;
  expect(retention).toBe(2 * day);
  // Daily: the newest is at most a day old, plus a grace of a few hours.
  const maxAge = durationSeconds(freshness?.max_age ?? '');
  expect(maxAge).toBeGreaterThan(day);
  expect(maxAge).toBeLessThanOrEqual(day + 4 * 3600);
  // The oldest kept is at most the retention old, plus the same grace.
  expect(durationSeconds(freshness?.max_oldest_age ?? '') - retention).toBe(maxAge - day);
  expect(freshness?.min_size_bytes).toBeGreaterThan(0);
  expect(freshness?.min_files).toBeGreaterThanOrEqual(1);
});
