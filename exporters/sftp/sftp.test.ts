/**
 * The sftp prober against a real OpenSSH sshd (tests/support/sshd.ts) with a real system user,
 * driven the way the checkpoint drives it (tests/support/probe-harness.ts). Servers that stall
 * are real too: listeners that never speak SSH, and sshd whose session processes are stopped
 * (SIGSTOP) at the moment the probe enters a phase, which is what a hung server looks like.
 */
import { readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProbeLog } from '../../src/probe/probe-log';
import { LOOPBACK, refusedPort } from '../../tests/support/ports';
import { eventually, probeWith, recordProbeSignals, socketResources, type ProbeOptions, type Probed } from '../../tests/support/probe-harness';
import { createTestUser, generateSshKey, startSshd, type Sshd, type SshKey, type TestUser } from '../../tests/support/sshd';
import { startUnacceptingListener } from '../../tests/support/unaccepting-listener';
import type { SftpPhase } from './metrics';

const USER = 'checkpoint-sftp';
const PASSPHRASE = 'correct horse battery staple';
const HOUR = 3600;

let base: string;
let user: TestUser;
let sshd: Sshd;
/** Same user, same config, another host key: what a checkpoint sees when the server is replaced or intercepted. */
let impostor: Sshd;
let keys: { plain: SshKey; encrypted: SshKey; stranger: SshKey };
let files: { password: string; wrongPassword: string; passphrase: string; wrongPassphrase: string };
let listeners: Listeners;
let baselineSockets: number;
let signals: ReturnType<typeof recordProbeSignals>;
/** The phase whose start stops sshd's session processes, for the deadline tests. */
let freezeAt: SftpPhase | undefined;

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-sftp-test-'));
  // The user's home is inside: sshd's session, running as the user, must be able to reach it.
  await fs.chmod(base, 0o755);
  user = await createTestUser(USER, path.join(base, 'home'));
  const secret = (name: string) => path.join(base, name);
  keys = {
    plain: await generateSshKey(secret('id_plain')),
    encrypted: await generateSshKey(secret('id_encrypted'), PASSPHRASE),
    stranger: await generateSshKey(secret('id_stranger')),
  };
  files = { password: secret('password'), wrongPassword: secret('wrong-password'), passphrase: secret('passphrase'), wrongPassphrase: secret('wrong-passphrase') };
  await fs.writeFile(files.password, `${user.password}\n`, { mode: 0o600 });
  await fs.writeFile(files.wrongPassword, 'not-the-password', { mode: 0o600 });
  await fs.writeFile(files.passphrase, PASSPHRASE, { mode: 0o600 });
  await fs.writeFile(files.wrongPassphrase, 'not the passphrase', { mode: 0o600 });
  await makeHome();
  [sshd, impostor, listeners] = await Promise.all([startSshd({ user: USER, authorizedKeys: [keys.plain.publicKeyLine, keys.encrypted.publicKeyLine] }), startSshd({ user: USER }), startListeners()]);
  baselineSockets = socketResources();
  signals = recordProbeSignals();
  // eslint-disable-next-line @typescript-eslint/unbound-method -- the original, kept before the spy replaces it, is called below with the spied log as `this`
  const info = ProbeLog.prototype.info;
  jest.spyOn(ProbeLog.prototype, 'info').mockImplementation(function (this: ProbeLog, msg, fields) {
    if (freezeAt !== undefined && msg === `Phase ${freezeAt}`) sshd.freezeSessions();
    info.call(this, msg, fields);
  });
});

afterAll(async () => {
  jest.restoreAllMocks();
  signals?.restore();
  await Promise.all([sshd?.stop(), impostor?.stop(), listeners?.close()]);
  await user?.remove();
  if (base) await fs.rm(base, { recursive: true, force: true });
});

// Every probe must leave nothing behind: no listener on its deadline signal, no socket in this
// process, no connection or session process on any server, frozen or not.
afterEach(async () => {
  freezeAt = undefined;
  sshd.thawSessions();
  const left = signals.listenersLeft();
  expect(left).toEqual(left.map(() => 0));
  const leaks = async () => ({
    inProcess: socketResources() - baselineSockets,
    listenerSockets: listeners.openSockets(),
    sshdConnections: (await sshd.openConnections()) + (await impostor.openConnections()),
    sshdSessions: sshd.sessionPids().length + impostor.sessionPids().length,
  });
  const none = { inProcess: 0, listenerSockets: 0, sshdConnections: 0, sshdSessions: 0 };
  await eventually(async () => JSON.stringify(await leaks()) === JSON.stringify(none), 5000);
  expect(await leaks()).toEqual(none);
  for (const name of readdirSync(home('incoming'))) if (name.startsWith('.checkpoint-probe-')) await fs.rm(home('incoming', name));
});

function home(...parts: string[]): string {
  return path.join(user.home, ...parts);
}

const now = () => Date.now() / 1000;

/**
 * The user's files: `backups/fresh` (newest match an hour old, plus things the glob must skip),
 * `backups/stale` (three days old), `incoming` (writable), `readonly` (root's).
 */
async function makeHome(): Promise<void> {
  const file = async (relative: string, ageSeconds: number, content = 'x') => {
    await fs.writeFile(home(relative), content);
    await fs.chown(home(relative), user.uid, user.gid);
    await fs.utimes(home(relative), now() - ageSeconds, now() - ageSeconds);
  };
  for (const dir of ['backups', 'backups/fresh', 'backups/stale', 'backups/fresh/db-9.sql.gz', 'incoming']) {
    await fs.mkdir(home(dir), { mode: 0o755 });
    await fs.chown(home(dir), user.uid, user.gid);
  }
  await fs.mkdir(home('readonly'), { mode: 0o755 });
  await file('backups/fresh/db-1.sql.gz', 2 * HOUR, 'older backup');
  await file('backups/fresh/db-2.sql.gz', HOUR, 'newest backup!');
  await file('backups/fresh/.db-3.sql.gz', 60);
  await file('backups/fresh/notes.txt', 60);
  await file('backups/stale/db-1.sql.gz', 72 * HOUR);
}

interface Listeners {
  /** Accepts and never writes. */
  silent: number;
  /** Sends an SSH identification, then nothing: the key exchange never starts. */
  bannerOnly: number;
  /** Answers like a web server and hangs up. */
  notSsh: number;
  openSockets(): number;
  close(): Promise<void>;
}

async function startListeners(): Promise<Listeners> {
  const sockets = new Set<net.Socket>();
  const listener = (greeting: string | undefined, hangUp: boolean) =>
    net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      // Reading what arrives lets the socket notice when the client goes away.
      socket.resume();
      if (greeting) socket.write(greeting);
      if (hangUp) socket.end();
    });
  const silent = listener(undefined, false);
  const bannerOnly = listener('SSH-2.0-OpenSSH_9.9 stalled\r\n', false);
  const notSsh = listener('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n', true);
  const servers = [silent, bannerOnly, notSsh];
  const listen = (server: net.Server) => new Promise<number>((resolve) => server.listen(0, LOOPBACK, () => resolve((server.address() as net.AddressInfo).port)));
  const ports = await Promise.all([listen(silent), listen(bannerOnly), listen(notSsh)]);
  return {
    silent: ports[0],
    bannerOnly: ports[1],
    notSsh: ports[2],
    openSockets: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

interface Login {
  auth?: string;
  hostKey?: string;
}

/** An sftp section: the test user with its password and sshd's pinned host key unless `login` says otherwise, then `extra`. */
function section(extra = '', login: Login = {}): string {
  return [`username: ${USER}`, login.auth ?? `password_file: ${files.password}`, login.hostKey ?? `host_key_fingerprints: ["${sshd.hostKeyFingerprint}"]`, extra].join('\n');
}

function probe(target: string, sftpSection = section(), options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('sftp', target, sftpSection, options);
}

const target = () => `${LOOPBACK}:${sshd.port}`;

function expectNoSecrets(probed: Probed): void {
  for (const secret of [user.password, PASSPHRASE]) {
    expect(probed.logText).not.toContain(secret);
    expect(probed.result.failure?.message ?? '').not.toContain(secret);
  }
}

describe('connecting and logging in', () => {
  test('a password login lists the directory and reports the server and its host key', async () => {
    const probed = await probe(target());
    expect(probed.result.success).toBe(true);
    for (const phase of ['resolve', 'connect', 'handshake', 'auth', 'subsystem', 'list']) {
      expect(probed.get('probe_sftp_duration_seconds', { phase })).toBeGreaterThan(0);
    }
    for (const phase of ['upload', 'download', 'delete', 'freshness']) expect(probed.get('probe_sftp_duration_seconds', { phase })).toBe(0);
    expect(probed.get('probe_sftp_directory_entries')).toBe(3);
    expect(probed.get('probe_sftp_host_key_info', { type: 'ssh-ed25519', fingerprint_sha256: sshd.hostKeyFingerprint })).toBe(1);
    const serverInfo = [...probed.metrics.keys()].find((key) => key.startsWith('probe_sftp_server_info'));
    expect(serverInfo).toMatch(/^probe_sftp_server_info\{version="SSH-2\.0-OpenSSH_[^"]+"\}$/);
    expect(probed.get('probe_ip_protocol')).toBe(4);
    expect(probed.names.has('probe_sftp_newest_file_age_seconds')).toBe(false);
    for (const step of [
      'Resolved target address',
      'Connected',
      'Server identification',
      'Server host key',
      'SSH handshake done',
      'Trying authentication method',
      'Authenticated',
      'Opened sftp subsystem',
      'Listed directory',
    ]) {
      expect(probed.logText).toMatch(new RegExp(` msg="?${step}"?( |$)`, 'm'));
    }
    expectNoSecrets(probed);
  });

  test('an sftp:// target, a host name and an IPv6 literal in brackets work, port 22 being the default', async () => {
    expect((await probe(`sftp://${LOOPBACK}:${sshd.port}`)).result.success).toBe(true);
    expect((await probe(`localhost:${sshd.port}`, section('preferred_ip_protocol: ip4'))).result.success).toBe(true);
    const v6 = await probe(`[::1]:${sshd.port}`);
    expect(v6.result.success).toBe(true);
    expect(v6.get('probe_ip_protocol')).toBe(6);
  });

  test('a wrong password fails with reason auth and names what the server accepts', async () => {
    const probed = await probe(target(), section('', { auth: `password_file: ${files.wrongPassword}` }));
    expect(probed.reason).toBe('auth');
    expect(probed.result.failure?.message).toBe(`the server refused user ${USER} (tried password; it accepts publickey, password)`);
    expect(probed.get('probe_sftp_duration_seconds', { phase: 'auth' })).toBeGreaterThan(0);
    expect(probed.get('probe_sftp_duration_seconds', { phase: 'subsystem' })).toBe(0);
    expect(probed.logText).not.toContain('not-the-password');
    expectNoSecrets(probed);
  });

  test('the password can come from an environment variable; a missing one is a config failure', async () => {
    process.env.CHECKPOINT_SFTP_TEST_PASSWORD = user.password;
    try {
      expect((await probe(target(), section('', { auth: 'password_env: CHECKPOINT_SFTP_TEST_PASSWORD' }))).result.success).toBe(true);
    } finally {
      delete process.env.CHECKPOINT_SFTP_TEST_PASSWORD;
    }
    const missing = await probe(target(), section('', { auth: 'password_env: CHECKPOINT_SFTP_TEST_PASSWORD' }));
    expect(missing.reason).toBe('config');
    expect(missing.result.failure?.message).toBe('environment variable CHECKPOINT_SFTP_TEST_PASSWORD (password_env) is not set');
  });

  test('a private key logs in, and an encrypted one with its passphrase from a file or the environment', async () => {
    const plain = await probe(target(), section('', { auth: `private_key_file: ${keys.plain.privateKeyFile}` }));
    expect(plain.result.success).toBe(true);
    expect(plain.logText).toContain('msg=Authenticated username=checkpoint-sftp method=publickey');
    const encrypted = await probe(target(), section('', { auth: `private_key_file: ${keys.encrypted.privateKeyFile}\npassphrase_file: ${files.passphrase}` }));
    expect(encrypted.result.success).toBe(true);
    expectNoSecrets(encrypted);
    process.env.CHECKPOINT_SFTP_TEST_PASSPHRASE = PASSPHRASE;
    try {
      const fromEnv = await probe(target(), section('', { auth: `private_key_file: ${keys.encrypted.privateKeyFile}\npassphrase_env: CHECKPOINT_SFTP_TEST_PASSPHRASE` }));
      expect(fromEnv.result.success).toBe(true);
      expectNoSecrets(fromEnv);
    } finally {
      delete process.env.CHECKPOINT_SFTP_TEST_PASSPHRASE;
    }
  });

  test('a key that cannot be decrypted is a config failure, before any connection', async () => {
    const wrong = await probe(target(), section('', { auth: `private_key_file: ${keys.encrypted.privateKeyFile}\npassphrase_file: ${files.wrongPassphrase}` }));
    expect(wrong.reason).toBe('config');
    expect(wrong.result.failure?.message).toBe(`private_key_file ${keys.encrypted.privateKeyFile} cannot be decrypted with the passphrase, or is not a private key`);
    expect(wrong.logText).not.toContain('not the passphrase');
    expect(wrong.get('probe_sftp_duration_seconds', { phase: 'connect' })).toBe(0);
    const noPassphrase = await probe(target(), section('', { auth: `private_key_file: ${keys.encrypted.privateKeyFile}` }));
    expect(noPassphrase.reason).toBe('config');
    expect(noPassphrase.result.failure?.message).toBe(`private_key_file ${keys.encrypted.privateKeyFile} is encrypted and neither passphrase_file nor passphrase_env is set`);
  });

  test('a key the server does not know fails with reason auth; with a password as well, the password still logs in', async () => {
    const stranger = await probe(target(), section('', { auth: `private_key_file: ${keys.stranger.privateKeyFile}` }));
    expect(stranger.reason).toBe('auth');
    expect(stranger.result.failure?.message).toBe(`the server refused user ${USER} (tried publickey; it accepts publickey, password)`);
    const both = await probe(target(), section('', { auth: `private_key_file: ${keys.stranger.privateKeyFile}\npassword_file: ${files.password}` }));
    expect(both.result.success).toBe(true);
    expect(both.logText).toContain('msg=Authenticated username=checkpoint-sftp method=password');
  });
});

describe('the host key', () => {
  test('a server with another host key fails with reason host_key before any login, and shows the key it presented', async () => {
    const probed = await probe(`${LOOPBACK}:${impostor.port}`);
    expect(probed.reason).toBe('host_key');
    expect(probed.result.failure?.message).toBe(
      `host key ${impostor.hostKeyFingerprint} (ssh-ed25519) is not one of the pinned host_key_fingerprints: the server's key changed, or someone is in the middle`,
    );
    expect(probed.get('probe_sftp_host_key_info', { type: 'ssh-ed25519', fingerprint_sha256: impostor.hostKeyFingerprint })).toBe(1);
    expect(probed.logText).not.toContain('Trying authentication method');
    expect(probed.get('probe_sftp_duration_seconds', { phase: 'auth' })).toBe(0);
  });

  // The impostor knows the user's password (same system user): only the host key tells them apart.
  test('during a key rotation either pinned key is accepted', async () => {
    const rotation = `host_key_fingerprints: ["${impostor.hostKeyFingerprint}", "${sshd.hostKeyFingerprint}"]`;
    expect((await probe(target(), section('', { hostKey: rotation }))).result.success).toBe(true);
    expect((await probe(`${LOOPBACK}:${impostor.port}`, section('', { hostKey: rotation }))).result.success).toBe(true);
  });

  test('insecure_skip_host_key_check accepts any key and still reports it', async () => {
    const probed = await probe(`${LOOPBACK}:${impostor.port}`, section('', { hostKey: 'insecure_skip_host_key_check: true' }));
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_sftp_host_key_info', { type: 'ssh-ed25519', fingerprint_sha256: impostor.hostKeyFingerprint })).toBe(1);
    expect(probed.logText).toContain('pinned="not checked"');
  });
});

describe('directories and files', () => {
  test('a missing directory fails with reason assertion', async () => {
    const probed = await probe(target(), section('directory: no-such-dir'));
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toBe('list no-such-dir: NO_SUCH_FILE');
    expect(probed.names.has('probe_sftp_directory_entries')).toBe(false);
  });

  test('an absolute directory is listed', async () => {
    const probed = await probe(target(), section(`directory: ${home('backups/fresh')}`));
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_sftp_directory_entries')).toBe(5);
  });

  test('a listing over max_entries fails with reason assertion, naming the limit; up to it the entries are counted', async () => {
    // Far more than one READDIR answer holds (OpenSSH sends at most 100 names in one).
    await fs.mkdir(home('many'));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => fs.writeFile(home('many', `file-${i}`), '')));
    try {
      const over = await probe(target(), section('directory: many\nmax_entries: 999'));
      expect(over.reason).toBe('assertion');
      expect(over.result.failure?.message).toBe('list many: more than max_entries (999) entries');
      expect(over.names.has('probe_sftp_directory_entries')).toBe(false);

      const within = await probe(target(), section('directory: many\nmax_entries: 1000'));
      expect(within.result.success).toBe(true);
      expect(within.get('probe_sftp_directory_entries')).toBe(1000);
    } finally {
      await fs.rm(home('many'), { recursive: true });
    }
  });

  test('the round trip writes, reads back and deletes its file, and removes what an earlier probe left an hour ago', async () => {
    const leftover = home('incoming', '.checkpoint-probe-0123456789abcdef');
    const inFlight = home('incoming', '.checkpoint-probe-fedcba9876543210');
    for (const file of [leftover, inFlight]) {
      await fs.writeFile(file, 'left');
      await fs.chown(file, user.uid, user.gid);
    }
    await fs.utimes(leftover, now() - 2 * HOUR, now() - 2 * HOUR);
    const probed = await probe(target(), section('round_trip:\n  directory: incoming'));
    expect(probed.result.success).toBe(true);
    for (const phase of ['upload', 'download', 'delete']) expect(probed.get('probe_sftp_duration_seconds', { phase })).toBeGreaterThan(0);
    const uploaded = /msg="Uploaded file" path=(incoming\/\.checkpoint-probe-[0-9a-f]{16}) bytes=4096/.exec(probed.logText);
    expect(uploaded).not.toBeNull();
    expect(probed.logText).toContain(`msg="Read back the same bytes" path=${uploaded![1]}`);
    expect(probed.logText).toContain(`msg="Deleted file" path=${uploaded![1]}`);
    expect(probed.logText).toContain('msg="Deleted a file an earlier probe left behind" path=incoming/.checkpoint-probe-0123456789abcdef');
    expect(await fs.readdir(home('incoming'))).toEqual(['.checkpoint-probe-fedcba9876543210']);
  });

  test('a round trip the server refuses fails with reason assertion, and the other checks still report', async () => {
    const probed = await probe(target(), section('round_trip:\n  directory: readonly\nfreshness:\n  directory: backups/fresh\n  pattern: "*.sql.gz"'));
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toMatch(/^upload readonly\/\.checkpoint-probe-[0-9a-f]{16}: PERMISSION_DENIED$/);
    expect(probed.get('probe_sftp_matching_files')).toBe(2);
    expect(await fs.readdir(home('readonly'))).toEqual([]);
  });
});

describe('freshness', () => {
  const freshness = (directory: string, pattern: string, maxAge = '26h') => section(`freshness:\n  directory: ${directory}\n  pattern: "${pattern}"\n  max_age: ${maxAge}`);

  test('the newest matching regular file is reported, skipping dot files, directories and other names', async () => {
    const probed = await probe(target(), freshness('backups/fresh', '*.sql.gz'));
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_sftp_matching_files')).toBe(2);
    expect(probed.get('probe_sftp_newest_file_size_bytes')).toBe('newest backup!'.length);
    expect(probed.get('probe_sftp_newest_file_age_seconds')).toBeGreaterThanOrEqual(HOUR - 5);
    expect(probed.get('probe_sftp_newest_file_age_seconds')).toBeLessThan(HOUR + 60);
    const mtime = (await fs.stat(home('backups/fresh/db-2.sql.gz'))).mtimeMs / 1000;
    expect(probed.get('probe_sftp_newest_file_timestamp_seconds')).toBe(Math.floor(mtime));
    expect(probed.get('probe_sftp_newest_file_max_age_seconds')).toBe(26 * HOUR);
    expect(probed.get('probe_sftp_duration_seconds', { phase: 'freshness' })).toBeGreaterThan(0);
    expect(probed.logText).toContain('file=db-2.sql.gz');
  });

  test('a newest file older than max_age fails with reason assertion and still reports its age', async () => {
    const probed = await probe(target(), freshness('backups/stale', '*.sql.gz'));
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toMatch(/^the newest file matching \*\.sql\.gz in backups\/stale, db-1\.sql\.gz, is 2592\d\ds old, older than max_age 26h$/);
    expect(probed.get('probe_sftp_newest_file_age_seconds')).toBeGreaterThan(72 * HOUR - 5);
    expect(probed.get('probe_sftp_matching_files')).toBe(1);
  });

  test('as a backup set: enough files, none older than the retention, the newest not too small', async () => {
    const set = (limits: string) => section(`freshness:\n  directory: backups/fresh\n  pattern: "*.sql.gz"\n  max_age: 26h\n${limits}`);
    const kept = await probe(target(), set('  min_files: 2\n  max_oldest_age: 3h\n  min_size_bytes: 14'));
    expect([kept.reason, kept.result.failure?.message]).toEqual([undefined, undefined]);
    expect(kept.get('probe_sftp_oldest_file_age_seconds')).toBeGreaterThanOrEqual(2 * HOUR - 5);
    expect(kept.get('probe_sftp_oldest_file_age_seconds')).toBeLessThan(2 * HOUR + 60);
    expect([kept.get('probe_sftp_min_files'), kept.get('probe_sftp_oldest_file_max_age_seconds'), kept.get('probe_sftp_newest_file_min_size_bytes')]).toEqual([2, 3 * HOUR, 14]);

    // Too few kept, the oldest not pruned, the newest too small: one failure naming all three.
    const broken = await probe(target(), set('  min_files: 3\n  max_oldest_age: 90m\n  min_size_bytes: 15'));
    expect(broken.reason).toBe('assertion');
    expect(broken.result.failure?.message).toMatch(
      /^the newest file matching \*\.sql\.gz in backups\/fresh, db-2\.sql\.gz, is 14 bytes, smaller than min_size_bytes 15; 2 file\(s\) in backups\/fresh match \*\.sql\.gz, fewer than min_files 3; the oldest file matching \*\.sql\.gz in backups\/fresh, db-1\.sql\.gz, is 72\d\ds old, older than max_oldest_age 90m$/,
    );
    expect(broken.get('probe_sftp_oldest_file_age_seconds')).toBeGreaterThanOrEqual(2 * HOUR - 5);
    expect(broken.get('probe_sftp_newest_file_size_bytes')).toBe(14);
  });

  test('no matching file fails with reason assertion and reports zero matches', async () => {
    const probed = await probe(target(), freshness('backups/fresh', '*.tar'));
    expect(probed.reason).toBe('assertion');
    expect(probed.result.failure?.message).toBe('no file in backups/fresh matches *.tar');
    expect(probed.get('probe_sftp_matching_files')).toBe(0);
    expect(probed.names.has('probe_sftp_newest_file_age_seconds')).toBe(false);
  });
});

describe('servers that fail or hang', () => {
  const DEADLINE = 2;

  function expectTimeout(probed: Probed, phase: SftpPhase): void {
    expect(probed.reason).toBe('timeout');
    expect(probed.result.failure?.message).toBe(`deadline reached in the ${phase} phase`);
    expect(probed.result.durationSeconds).toBeGreaterThanOrEqual(DEADLINE - 0.1);
    expect(probed.result.durationSeconds).toBeLessThan(DEADLINE + 3);
  }

  test('a connect that never completes times out in the connect phase', async () => {
    const listener = await startUnacceptingListener();
    try {
      expectTimeout(await probe(`${LOOPBACK}:${listener.port}`, section(), { deadlineSeconds: DEADLINE }), 'connect');
    } finally {
      listener.close();
    }
  });

  test('a server that accepts and never speaks times out in the handshake', async () => {
    const probed = await probe(`${LOOPBACK}:${listeners.silent}`, section(), { deadlineSeconds: DEADLINE });
    expectTimeout(probed, 'handshake');
  });

  test('a server that identifies and then stalls times out in the handshake, its identification reported', async () => {
    const probed = await probe(`${LOOPBACK}:${listeners.bannerOnly}`, section(), { deadlineSeconds: DEADLINE });
    expectTimeout(probed, 'handshake');
    expect(probed.get('probe_sftp_server_info', { version: 'SSH-2.0-OpenSSH_9.9 stalled' })).toBe(1);
  });

  const everything = 'round_trip:\n  directory: incoming\nfreshness:\n  directory: backups/fresh\n  pattern: "*.sql.gz"';
  test.each(['auth', 'subsystem', 'list', 'upload', 'download', 'delete', 'freshness'] as const)(
    'sshd hanging in phase %s: the probe ends at the deadline and sshd ends its session',
    async (phase) => {
      freezeAt = phase;
      const probed = await probe(target(), section(everything), { deadlineSeconds: DEADLINE });
      expectTimeout(probed, phase);
      expect(sshd.sessionPids().length).toBeGreaterThan(0);
      expectNoSecrets(probed);
    },
  );

  test('a server that is not SSH fails with reason protocol and says what it sent', async () => {
    const probed = await probe(`${LOOPBACK}:${listeners.notSsh}`);
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toBe('the server did not identify as SSH; it sent "HTTP/1.1 400 Bad Request"');
  });

  test('a refused connection fails with reason connect', async () => {
    const probed = await probe(`${LOOPBACK}:${await refusedPort()}`);
    expect(probed.reason).toBe('connect');
    expect(probed.get('probe_sftp_duration_seconds', { phase: 'handshake' })).toBe(0);
  });
});
