/**
 * A real OpenSSH sshd (Debian's /usr/sbin/sshd) for the sftp prober's tests: its own host key,
 * config and PID file in a temp dir, listening on 127.0.0.1 and ::1 on a free port, with a system
 * user whose password and authorized key the test chooses.
 *
 * Why root: sshd must switch to the test user for each session (privilege separation, internal-sftp
 * running as that user) and checks the password against /etc/shadow. The suite runs as root here
 * and in CI; anything else is an error with a clear message, never a skip.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { hasExited, killAndWait, onFreePort, run, sleep, spawnLogged, startFailure, track, tryKill } from './processes';

export const SSHD_BIN = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
/** sshd's privilege separation directory; Debian's package creates it only at boot (tmpfiles). */
const PRIVSEP_DIR = '/run/sshd';

const START_TIMEOUT_MS = 10_000;

export interface SshKey {
  privateKeyFile: string;
  /** The `ssh-ed25519 AAAA... comment` line, for an authorized_keys file. */
  publicKeyLine: string;
  /** As `ssh-keygen -lf` prints it: `SHA256:<base64 without padding>`. */
  fingerprint: string;
}

/** An ed25519 key pair made by ssh-keygen, encrypted when `passphrase` is not empty. */
export async function generateSshKey(file: string, passphrase = ''): Promise<SshKey> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'checkpoint-test', '-f', file]);
  const publicKeyLine = (await fs.readFile(`${file}.pub`, 'utf8')).trim();
  // `256 SHA256:... comment (ED25519)`
  const listed = await run(SSH_KEYGEN, ['-l', '-f', `${file}.pub`]);
  const fingerprint = /^\d+ (SHA256:\S+) /.exec(listed)?.[1];
  if (fingerprint === undefined) throw new Error(`ssh-keygen -l printed no SHA256 fingerprint: ${listed}`);
  return { privateKeyFile: file, publicKeyLine, fingerprint };
}

export interface TestUser {
  name: string;
  password: string;
  home: string;
  uid: number;
  gid: number;
  /** Deletes the system user if this run created it (see createTestUser). */
  remove(): Promise<void>;
}

/**
 * The system user `name`, created if missing (no login shell: internal-sftp needs none), with
 * `home` as its home directory and a fresh random password. A user this call created is deleted
 * by `remove()`; one that already existed (left by a run that crashed) is kept, with a random
 * password nobody knows once this run ends.
 */
export async function createTestUser(name: string, home: string): Promise<TestUser> {
  assertRoot();
  const existed = (await passwdEntry(name)) !== undefined;
  if (existed) await run('/usr/sbin/usermod', ['--home', home, name]);
  else await run('/usr/sbin/useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', name]);
  const password = randomBytes(18).toString('base64url');
  await run('/usr/sbin/chpasswd', [], { input: `${name}:${password}\n` });
  const entry = await passwdEntry(name);
  if (!entry) throw new Error(`user ${name} is missing right after useradd`);
  await fs.mkdir(home, { recursive: true });
  await fs.chown(home, entry.uid, entry.gid);
  return {
    name,
    password,
    home,
    uid: entry.uid,
    gid: entry.gid,
    async remove() {
      if (!existed) await run('/usr/sbin/userdel', [name]);
    },
  };
}

export interface Sshd {
  port: number;
  pid: number;
  /** The host key's fingerprint as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** The host key's public half, `ssh-ed25519 AAAA... comment`, as a client pins it. */
  hostPublicKey: string;
  /** PIDs of every process sshd forked for connections (monitor, session, internal-sftp). */
  sessionPids(): number[];
  /** Server-side TCP connections to this sshd that are not closed yet (established or closing). */
  openConnections(): Promise<number>;
  /**
   * Stops every session process (SIGSTOP): the server hangs wherever it was. Synchronous, so a
   * test can freeze the server between a client's step and its next request.
   */
  freezeSessions(): void;
  /** Lets frozen session processes run again, so they notice a closed connection and exit. */
  thawSessions(): void;
  logs(): string;
  /** SIGTERM (then SIGKILL), the session processes too; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** The only user allowed to log in, or the only users. */
  user: string | string[];
  /** Lines of the authorized_keys file every login uses. */
  authorizedKeys?: string[];
}

/** Starts sshd with its own ed25519 host key; resolves once it listens on both loopback addresses. */
export async function startSshd(options: SshdOptions): Promise<Sshd> {
  assertRoot();
  await fs.mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-sshd-'));
  try {
    // sshd reads authorized_keys as the user; the host key inside stays readable by root only.
    await fs.chmod(dir, 0o755);
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    const { fingerprint, publicKeyLine } = await generateSshKey(hostKey);
    const authorizedKeys = path.join(dir, 'authorized_keys');
    await fs.writeFile(authorizedKeys, (options.authorizedKeys ?? []).map((line) => `${line}\n`).join(''), { mode: 0o644 });
    const configFile = path.join(dir, 'sshd_config');
    const penalties = (await opensshVersion()) >= 9.8 ? ['PerSourcePenalties no'] : [];
    // A port taken by another process on either address counts as a freePort() race (see onFreePort).
    return await onFreePort(async (port) => {
      const users = ([] as string[]).concat(options.user).join(' ');
      await fs.writeFile(configFile, sshdConfig({ port, dir, hostKey, authorizedKeys, users, extra: penalties }));
      return handle(await spawnSshd(configFile), port, { fingerprint, publicKeyLine }, dir);
    });
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function sshdConfig(settings: { port: number; dir: string; hostKey: string; authorizedKeys: string; users: string; extra: string[] }): string {
  return [
    `Port ${settings.port}`,
    'ListenAddress 127.0.0.1',
    'ListenAddress ::1',
    `HostKey ${settings.hostKey}`,
    `PidFile ${path.join(settings.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${settings.authorizedKeys}`,
    'PasswordAuthentication yes',
    'PubkeyAuthentication yes',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The home and authorized_keys are set up by root in temp dirs, which StrictModes would refuse.
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    'PermitRootLogin no',
    `AllowUsers ${settings.users}`,
    'LogLevel VERBOSE',
    ...settings.extra,
    '',
  ].join('\n');
}

interface Spawned {
  child: ChildProcess;
  logs: () => string;
}

async function spawnSshd(configFile: string): Promise<Spawned> {
  // -D: stay in the foreground, so the child is sshd itself; -e: log to stderr, which we keep.
  const { child, logs, spawnError } = spawnLogged(SSHD_BIN, ['-D', '-e', '-f', configFile]);
  track(child);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const log = logs();
    if (/Server listening on 127\.0\.0\.1 port/.test(log) && /Server listening on ::1 port/.test(log)) return { child, logs };
    // sshd goes on with the addresses it could bind; the tests need both, so any failure ends the attempt.
    const failedBind = /Bind to port \d+ on (\S+) failed: ([^.\n]*)/.exec(log);
    if (failedBind || spawnError() || hasExited(child)) {
      await killAndWait(child);
      const why =
        spawnError()?.message ?? (failedBind ? `cannot listen on ${failedBind[1]} (${failedBind[2]}; the tests need 127.0.0.1 and ::1)` : `exited with ${child.exitCode ?? child.signalCode}`);
      throw startFailure(`sshd ${why}:\n${logs()}`, /Address already in use/.test(logs()));
    }
    await sleep(20);
  }
  await killAndWait(child);
  throw new Error(`sshd did not listen within ${START_TIMEOUT_MS} ms:\n${logs()}`);
}

function handle({ child, logs }: Spawned, port: number, hostKey: { fingerprint: string; publicKeyLine: string }, dir: string): Sshd {
  const pid = child.pid!;
  const signalSessions = (signal: NodeJS.Signals) => {
    for (const session of descendants(pid)) tryKill(session, signal);
  };
  let stopped: Promise<void> | undefined;
  return {
    port,
    pid,
    hostKeyFingerprint: hostKey.fingerprint,
    hostPublicKey: hostKey.publicKeyLine,
    sessionPids: () => descendants(pid),
    openConnections: () => openServerConnections(port),
    freezeSessions: () => signalSessions('SIGSTOP'),
    thawSessions: () => signalSessions('SIGCONT'),
    logs,
    stop() {
      stopped ??= (async () => {
        const sessions = descendants(pid);
        await killAndWait(child);
        for (const session of sessions) {
          tryKill(session, 'SIGCONT');
          tryKill(session, 'SIGKILL');
        }
        await fs.rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** Every process below `root` in the process tree, read from /proc. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so split after the last one.
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    frontier = [...parents].filter(([, parent]) => frontier.includes(parent)).map(([pid]) => pid);
    found.push(...frontier);
  }
  return found;
}

/** TCP states (from include/net/tcp_states.h) in which the server side still holds the connection. */
const OPEN_STATES = new Set(['01' /* ESTABLISHED */, '03' /* SYN_RECV */, '08' /* CLOSE_WAIT */]);

async function openServerConnections(port: number): Promise<number> {
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await fs.readFile(table, 'utf8')).trim().split('\n').slice(1);
    for (const line of lines) {
      // `sl local_address rem_address st ...`, an address being `HEXIP:HEXPORT`.
      const [, local, , state] = line.trim().split(/\s+/);
      if (local === undefined || state === undefined) continue;
      if (parseInt(local.slice(local.indexOf(':') + 1), 16) === port && OPEN_STATES.has(state)) count++;
    }
  }
  return count;
}

async function passwdEntry(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const line = (await fs.readFile('/etc/passwd', 'utf8')).split('\n').find((entry) => entry.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function opensshVersion(): Promise<number> {
  // `sshd -V` prints `OpenSSH_9.2p1 Debian-..., OpenSSL ...` to stderr and exits 0 (older: 1).
  const text = await new Promise<string>((resolve) => execFile(SSHD_BIN, ['-V'], (_error, stdout, stderr) => resolve(`${stdout}${stderr}`)));
  const match = /OpenSSH_(\d+\.\d+)/.exec(text);
  if (!match) throw new Error(`cannot read the OpenSSH version from \`${SSHD_BIN} -V\`: ${text}`);
  return Number(match[1]);
}

function assertRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the sftp tests start their own sshd and create a system user, which needs root: run them as root (as CI does)');
  }
}
