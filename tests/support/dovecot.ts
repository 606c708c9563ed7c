/**
 * A throw-away Dovecot IMAP server on 127.0.0.1, for the smtp prober's delivery check.
 *
 * Why Dovecot and not an IMAP library's test server: the delivery check must work against the
 * server mail systems actually run, with its STARTTLS, its search and its expunge. Dovecot runs
 * in the foreground (`-F`) from a config written to a temp dir, never the system instance; its
 * one mailbox is a Maildir that the test SMTP server delivers into with `deliverToMaildir`.
 *
 * Mail is owned by an unprivileged user (`nobody`): Dovecot refuses to serve mail as root.
 * Running the tests as root (as here and in CI) lets the launcher chown the Maildir to it.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import type { TestPki } from './certs';
import { LOOPBACK } from './ports';
import { hasExited, killAndWait, onFreePort, run, sleep, spawnLogged, startFailure, track } from './processes';

const DOVECOT = '/usr/sbin/dovecot';
/** The user mail belongs to; Dovecot's own processes run as `dovecot` and `dovenull`, which Debian's package creates. */
const MAIL_USER = 'nobody';
const START_TIMEOUT_MS = 15_000;

export interface Dovecot {
  /** imap://127.0.0.1:PORT, offering STARTTLS with the PKI's server certificate (plain LOGIN refused before it). */
  url: string;
  port: number;
  username: string;
  password: string;
  /** The mailbox's Maildir (INBOX). */
  maildir: string;
  /** Writes a message into INBOX as a delivery agent would (tmp/, then new/); `receivedAt` backdates its IMAP INTERNALDATE (Maildir's is the file's mtime). */
  deliver(message: Buffer | string, receivedAt?: Date): Promise<void>;
  /** Number of messages in INBOX (new/ and cur/), read from disk. */
  messageCount(): Promise<number>;
  /** Removes every message from INBOX on disk (a test that leaves one behind on purpose). */
  clear(): Promise<void>;
  /** Stops Dovecot by its PID and removes its directory. */
  stop(): Promise<void>;
}

export async function startDovecot(pki: TestPki): Promise<Dovecot> {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-dovecot-')));
  // Dovecot's login and mail processes run as other users and must reach the sockets and the Maildir.
  await fs.chmod(dir, 0o755);
  const username = 'probe@example.test';
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const maildir = path.join(dir, 'Maildir');
  const [uid, gid] = await Promise.all([idOf('-u', MAIL_USER), idOf('-g', MAIL_USER)]);
  for (const sub of ['', 'new', 'cur', 'tmp']) {
    await fs.mkdir(path.join(maildir, sub), { recursive: true });
    await fs.chown(path.join(maildir, sub), uid, gid);
  }
  await fs.mkdir(path.join(dir, 'home'));
  await fs.chown(path.join(dir, 'home'), uid, gid);
  await fs.writeFile(path.join(dir, 'users'), `${username}:{PLAIN}${password}::::::\n`);

  let started: { child: ChildProcess; port: number };
  try {
    started = await onFreePort(async (port) => {
      await fs.writeFile(path.join(dir, 'dovecot.conf'), config(dir, port, uid, gid, pki));
      await fs.rm(path.join(dir, 'dovecot.log'), { force: true });
      const { child, logs, spawnError } = spawnLogged(DOVECOT, ['-F', '-c', path.join(dir, 'dovecot.conf')]);
      track(child);
      try {
        await waitForGreeting(port, child);
        return { child, port };
      } catch (error) {
        await killAndWait(child);
        const output = logs() + (spawnError() ? String(spawnError()) : '');
        const log = await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '');
        throw startFailure(`dovecot did not start: ${(error as Error).message}\n${output}\n${log}`, /Address already in use/.test(output + log));
      }
    });
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
  const { child, port } = started;

  const deliver = async (message: Buffer | string, receivedAt?: Date) => {
    const name = `${Date.now()}.${process.pid}_${randomBytes(6).toString('hex')}.checkpoint-test`;
    const staging = path.join(maildir, 'tmp', name);
    await fs.writeFile(staging, message);
    await fs.chown(staging, uid, gid);
    if (receivedAt) await fs.utimes(staging, receivedAt, receivedAt);
    await fs.rename(staging, path.join(maildir, 'new', name));
  };
  const messageCount = async () => {
    const [fresh, seen] = await Promise.all([fs.readdir(path.join(maildir, 'new')), fs.readdir(path.join(maildir, 'cur'))]);
    return fresh.length + seen.length;
  };
  const clear = async () => {
    for (const sub of ['new', 'cur']) {
      for (const name of await fs.readdir(path.join(maildir, sub))) await fs.rm(path.join(maildir, sub, name), { force: true });
    }
  };
  return {
    url: `imap://${LOOPBACK}:${port}`,
    port,
    username,
    password,
    maildir,
    deliver,
    messageCount,
    clear,
    stop: async () => {
      // The master takes its children with it.
      await killAndWait(child);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

function config(dir: string, port: number, uid: number, gid: number, pki: TestPki): string {
  return `
base_dir = ${dir}/run
state_dir = ${dir}/state
listen = ${LOOPBACK}
protocols = imap
log_path = ${dir}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <${pki.server.certPath}
ssl_key = <${pki.server.keyPath}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/users
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${dir}/home
}
mail_location = maildir:${dir}/Maildir
service imap-login {
  inet_listener imap {
    address = ${LOOPBACK}
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`;
}

/** Resolves once the server greets on `port`; bounded, and fails at once if Dovecot exits. */
async function waitForGreeting(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`dovecot exited (${child.exitCode ?? child.signalCode})`);
    if (await greets(port)) return;
    await sleep(50);
  }
  throw new Error(`no IMAP greeting on port ${port} within ${START_TIMEOUT_MS} ms`);
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (chunk: Buffer) => {
      socket.end('a LOGOUT\r\n');
      done(chunk.toString().startsWith('* OK'));
    });
  });
}

async function idOf(flag: '-u' | '-g', name: string): Promise<number> {
  return Number((await run('id', [flag, name])).trim());
}
