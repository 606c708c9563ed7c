/**
 * A real Redis (Debian's redis-server 7.0) and a real redis_exporter (Debian's
 * prometheus-redis-exporter), both from the shipped files: compose/redis/redis.conf with its
 * address, paths and way of running changed, the demo ACL file with the test's own admin user
 * added, and redis-exporter's flags from compose.yaml with only the address and the password
 * file's path changed (the password file itself keyed by the test's address). Each change is
 * listed as a Substitution, for the tests' report.
 *
 * Why runuser: a test that makes a snapshot fail takes the write permission off the data
 * directory, which root ignores; as root here (and in CI), Redis runs as Debian's `redis` user.
 * As any other user it runs as that user.
 *
 * The test's own commands (SET, BGSAVE...) go over a small RESP client below, logged in as an
 * admin user with a random password that no command line carries.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { metricTypes } from './metrics-text';
import { LOOPBACK } from './ports';
import { alive, killAndWait, onFreePort, run, sleep, startFailure, startProcessServer, tryKill, type ProcessServer } from './processes';
import { ROOT, type Substitution } from './stack-config';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
export const REDIS_EXPORTER_BIN = process.env.REDIS_EXPORTER_BIN ?? '/usr/bin/prometheus-redis-exporter';

const REDIS_CONF = 'compose/redis/redis.conf';
const ACL_FILE = 'compose/demo-secrets/redis_users.acl';
const EXPORTER_PASSWORD_FILE = 'compose/demo-secrets/redis_exporter_password.json';
/** The test's own login, added to the ACL file: everything, for SET, GET, BGSAVE and the ACL log. */
const ADMIN_USER = 'test-admin';

export interface RedisServer {
  port: number;
  /** host:port */
  address: string;
  /** Where Redis writes its snapshots (`dir`): a test may take its permissions away. */
  dataDir: string;
  /** The PID of redis-server itself (from its pid file). */
  pid: number;
  substitutions: Substitution[];
  /** Runs one command as the test's admin user; the reply, or the error reply as an Error. */
  command(...args: string[]): Promise<RespValue>;
  /** Runs one command logged in as `user` with `password` (e.g. the exporter's user). */
  commandAs(user: string, password: string, ...args: string[]): Promise<RespValue>;
  /** Redis's own log file. */
  logs(): Promise<string>;
  /** SIGTERM by PID, waited for (a final snapshot if it can), leaving the directory. Safe to call twice. */
  stop(): Promise<void>;
  /** stop(), then the directory removed. */
  remove(): Promise<void>;
}

/** A RESP reply: a status or bulk string, an integer, nil, or an array of those. */
export type RespValue = string | number | null | RespValue[];

/** The shipped redis.conf with one directive's value replaced; the test fails naming a directive it no longer has. */
function replaceDirective(text: string, directive: string, to: string, substitutions: Substitution[]): string {
  const pattern = new RegExp(`^${directive} .*$`, 'm');
  const found = pattern.exec(text)?.[0];
  if (found === undefined) throw new Error(`${REDIS_CONF}: no ${directive} directive`);
  substitutions.push({ file: REDIS_CONF, where: directive, from: found, to: `${directive} ${to}` });
  return text.replace(pattern, `${directive} ${to}`);
}

export async function startRedis(): Promise<RedisServer> {
  const owner = await redisOwner();
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-redis-')));
  const dataDir = path.join(dir, 'data');
  const runDir = path.join(dir, 'run');
  const aclFile = path.join(dir, 'users.acl');
  const confFile = path.join(dir, 'redis.conf');
  const adminPassword = randomBytes(18).toString('base64url');
  const substitutions: Substitution[] = [];
  let pid = 0;
  let port = 0;
  try {
    await fs.mkdir(dataDir);
    await fs.mkdir(runDir);
    // The ACL file as shipped, and the test's admin (Redis keeps only its hash once loaded).
    const adminLine = `user ${ADMIN_USER} on >${adminPassword} ~* &* +@all`;
    await fs.writeFile(aclFile, `${(await fs.readFile(path.join(ROOT, ACL_FILE), 'utf8')).trimEnd()}\n${adminLine}\n`, { mode: 0o600 });
    substitutions.push({ file: ACL_FILE, where: 'users', from: 'default, exporter', to: `default, exporter, ${ADMIN_USER} (the test's own commands)` });
    for (const owned of [dir, dataDir, runDir, aclFile]) if (owner) await fs.chown(owned, owner.uid, owner.gid);

    port = await onFreePort(async (candidate) => {
      const local: Substitution[] = [];
      let text = await fs.readFile(path.join(ROOT, REDIS_CONF), 'utf8');
      text = replaceDirective(text, 'bind', LOOPBACK, local);
      text = replaceDirective(text, 'port', String(candidate), local);
      text = replaceDirective(text, 'aclfile', aclFile, local);
      text = replaceDirective(text, 'dir', dataDir, local);
      // How it runs here: in the background, with a pid file to stop it by and a log file to read.
      const running = `daemonize yes\npidfile ${path.join(runDir, 'redis.pid')}\nlogfile ${path.join(runDir, 'redis.log')}\n`;
      local.push({ file: REDIS_CONF, where: 'appended', from: '(absent)', to: running.trim().replace(/\n/g, '; ') });
      await fs.writeFile(confFile, `${text}\n${running}`);
      await fs.rm(path.join(runDir, 'redis.log'), { force: true });
      // With daemonize, redis-server exits once the child runs, or fails with the config error.
      await runAs(owner, REDIS_SERVER_BIN, [confFile]).catch(async (error: Error) => {
        throw new Error(`redis-server did not start: ${error.message}\n${await readOr(path.join(runDir, 'redis.log'))}`);
      });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const log = await readOr(path.join(runDir, 'redis.log'));
        if (/Ready to accept connections/.test(log)) break;
        if (/Address already in use|Could not create server TCP listening socket/.test(log)) throw startFailure(`redis-server on port ${candidate}:\n${log}`, true);
        if (Date.now() > deadline) throw new Error(`redis-server not ready after 30s:\n${log}`);
        await sleep(50);
      }
      pid = Number((await fs.readFile(path.join(runDir, 'redis.pid'), 'utf8')).trim());
      substitutions.push(...local);
      return candidate;
    });
  } catch (error) {
    if (pid > 0) await stopPid(pid);
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }

  let stopped = false;
  const server: RedisServer = {
    port,
    address: `${LOOPBACK}:${port}`,
    dataDir,
    pid,
    substitutions,
    command: (...args) => respCommand(port, ADMIN_USER, adminPassword, args),
    commandAs: (user, password, ...args) => respCommand(port, user, password, args),
    logs: () => readOr(path.join(runDir, 'redis.log')),
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopPid(pid);
    },
    async remove() {
      await server.stop();
      // The data directory may have been made read-only by a test: give it back to be removed.
      await fs.chmod(dataDir, 0o700).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

async function readOr(file: string): Promise<string> {
  return fs.readFile(file, 'utf8').catch(() => '');
}

async function stopPid(pid: number): Promise<void> {
  tryKill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) tryKill(pid, 'SIGKILL');
}

interface Owner {
  uid: number;
  gid: number;
}

/** Debian's redis user when we are root (so that file permissions hold for Redis), undefined otherwise. */
async function redisOwner(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'redis']), run('id', ['-g', 'redis'])]);
  return { uid: Number(uid), gid: Number(gid) };
}

function runAs(owner: Owner | undefined, command: string, args: string[]): Promise<string> {
  return owner ? run('/usr/sbin/runuser', ['-u', 'redis', '--', command, ...args]) : run(command, args);
}

// ---------------------------------------------------------------------------------------------
// RESP: AUTH and one command on a fresh connection

/** One command as `user`, on its own connection: AUTH then the command, pipelined; the command's reply. */
function respCommand(port: number, user: string, password: string, args: string[]): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`redis ${args[0] ?? ''}: no reply in 10s`)));
    let buffer = Buffer.alloc(0);
    const replies: (RespValue | Error)[] = [];
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseReply(buffer, 0);
        if (!parsed) break;
        replies.push(parsed.value);
        buffer = buffer.subarray(parsed.end);
      }
      if (replies.length < 2) return;
      socket.end();
      const [auth, reply] = replies;
      if (auth instanceof Error) reject(new Error(`redis AUTH ${user}: ${auth.message}`));
      else if (reply instanceof Error) reject(reply);
      else resolve(reply as RespValue);
    });
    socket.on('error', reject);
    socket.write(encode(['AUTH', user, password]) + encode(args));
  });
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/** One reply starting at `at`, or undefined while it is incomplete; an error reply is an Error. */
function parseReply(buffer: Buffer, at: number): { value: RespValue | Error; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buffer[at] ?? 0)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, end);
        if (!item) return undefined;
        if (item.value instanceof Error) return { value: item.value, end: item.end };
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`redis: not a RESP reply: ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------
// redis_exporter

export interface RedisExporter extends ProcessServer {
  /** The file the exporter reads the password from, keyed by the test's address. */
  passwordFile: string;
  /** The exporter's full command line, as the OS has it (/proc/<pid>/cmdline). */
  commandLine(): Promise<string>;
  substitutions: Substitution[];
  stop(): Promise<void>;
}

/** The redis-exporter service's flags in compose.yaml. */
async function shippedExporterFlags(): Promise<string[]> {
  const compose = parse(await fs.readFile(path.join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, { command?: string[] }> };
  const command = compose.services['redis-exporter']?.command;
  if (!Array.isArray(command)) throw new Error('compose.yaml: service redis-exporter has no command list');
  return command;
}

/**
 * Debian's redis_exporter for `redis`, with compose.yaml's flags: --redis.addr pointed at the test's
 * Redis, --redis.password-file at a copy of the demo password file keyed by that address, and a
 * listen address added. `workDir` holds the password file.
 */
export async function startRedisExporter(redis: RedisServer, workDir: string): Promise<RedisExporter> {
  const substitutions: Substitution[] = [];
  const address = `redis://${redis.address}`;
  const passwordFile = path.join(workDir, 'redis_exporter_password.json');
  const shipped = JSON.parse(await fs.readFile(path.join(ROOT, EXPORTER_PASSWORD_FILE), 'utf8')) as Record<string, string>;
  const entries = Object.entries(shipped);
  const [shippedAddress, password] = entries[0] ?? [];
  if (shippedAddress === undefined || password === undefined || entries.length !== 1) throw new Error(`${EXPORTER_PASSWORD_FILE}: not one address and its password`);
  await fs.writeFile(passwordFile, JSON.stringify({ [address]: password }), { mode: 0o600 });
  substitutions.push({ file: EXPORTER_PASSWORD_FILE, where: 'address', from: shippedAddress, to: address });

  const flags = (await shippedExporterFlags()).map((flag) => {
    const [name] = flag.split('=');
    const to = name === '--redis.addr' ? `${name}=${address}` : name === '--redis.password-file' ? `${name}=${passwordFile}` : flag;
    if (to !== flag) substitutions.push({ file: 'compose.yaml', where: `redis-exporter ${name ?? flag}`, from: flag, to });
    return to;
  });
  if (!flags.some((flag) => flag.startsWith('--redis.password-file='))) throw new Error('compose.yaml: redis-exporter has no --redis.password-file');
  const server = await startProcessServer('redis_exporter', REDIS_EXPORTER_BIN, (port) => [...flags, `--web.listen-address=${LOOPBACK}:${port}`], '/health');
  substitutions.push({ file: 'compose.yaml', where: 'redis-exporter --web.listen-address', from: '(absent: :9121)', to: `${server.address}` });
  return {
    ...server,
    passwordFile,
    substitutions,
    commandLine: async () => (await fs.readFile(`/proc/${server.child.pid ?? 0}/cmdline`, 'utf8')).replace(/\0/g, ' '),
    stop: () => killAndWait(server.child),
  };
}

/** The exporter's password, from the shipped demo file (the one the test's file holds too). */
export async function shippedExporterPassword(): Promise<{ user: string; password: string }> {
  const shipped = JSON.parse(await fs.readFile(path.join(ROOT, EXPORTER_PASSWORD_FILE), 'utf8')) as Record<string, string>;
  const password = Object.values(shipped)[0];
  const user = (await shippedExporterFlags()).find((flag) => flag.startsWith('--redis.user='))?.split('=')[1];
  if (!password || !user) throw new Error('compose.yaml and the demo password file: no redis-exporter user and password');
  return { user, password };
}

/**
 * Starts Redis and the exporter, scrapes /metrics once, stops both: the metric names and types a
 * real redis_exporter reports for a real Redis 7.0 (for the dashboard checks).
 */
export async function redisExporterMetricTypes(): Promise<Map<string, string>> {
  const redis = await startRedis();
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-redis-exporter-'));
  let exporter: RedisExporter | undefined;
  try {
    exporter = await startRedisExporter(redis, workDir);
    const response = await fetch(`http://${exporter.address}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    if (!response.ok || !/^redis_up 1$/m.test(text))
      throw new Error(
        `redis_exporter did not reach Redis:\n${text
          .split('\n')
          .filter((line) => line.startsWith('redis_'))
          .join('\n')}\n${exporter.logs()}`,
      );
    return metricTypes(text);
  } finally {
    await exporter?.stop();
    await redis.remove();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}
