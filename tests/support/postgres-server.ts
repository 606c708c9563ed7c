/**
 * Throw-away PostgreSQL clusters for the postgres prober's tests, from Debian's postgresql-15
 * binaries: initdb in a temporary directory, one TCP listener on 127.0.0.1 and a free port, a unix
 * socket in the same directory for the tests' own superuser connection (trust, no password), and
 * SCRAM for everything over TCP. A replica is a pg_basebackup -R of a running primary.
 *
 * Why runuser: postgres refuses to run as root, and the tests run as root here and in CI. As any
 * other user the binaries run directly, as that user.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { LOOPBACK } from './ports';
import { alive, onFreePort, run, sleep, startFailure, tryKill } from './processes';

const BIN = '/usr/lib/postgresql/15/bin';

/** The role the probes log in as: a plain LOGIN role, no grants beyond PUBLIC's. */
export const PROBE_USER = 'checkpoint';

export interface PostgresServerOptions {
  /** Serve TLS with this certificate and key (ssl = on); without, ssl = off. */
  tls?: { certPath: string; keyPath: string };
  /** Start as a streaming replica of this running primary (pg_basebackup -R). */
  primaryOf?: PostgresServer;
  /** PROBE_USER's password; random when not given (a replica always has its primary's). */
  password?: string;
  /** More roles that may log in over TCP with SCRAM, as PROBE_USER does; the test creates them. */
  logins?: string[];
  /** More postgresql.conf lines (`archive_mode = on`...), after the ones every cluster gets. */
  settings?: string[];
}

export interface PostgresServer {
  host: typeof LOOPBACK;
  port: number;
  /** `host:port`, a target as the prober takes it. */
  address: string;
  /** PROBE_USER's password (a replica shares its primary's). */
  password: string;
  /** The directory of the unix socket the superuser connects through (trust, no password), for psql's PGHOST or a client's host. */
  socketDir: string;
  /** Runs `sql` as the superuser over the unix socket; the rows, each value as text. */
  admin(sql: string, params?: unknown[]): Promise<Record<string, string | null>[]>;
  /** Restarts the server in place (pg_ctl restart, fast shutdown): same data, port and roles, a new postmaster start time. */
  restart(): Promise<void>;
  /** Stops the postmaster by its PID (immediate shutdown) and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

interface Cluster {
  dir: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
}

export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const owner = await postgresOwner();
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-pg-')));
  const cluster: Cluster = { dir, dataDir: path.join(dir, 'data'), socketDir: dir, logFile: path.join(dir, 'postgres.log') };
  let port: number;
  try {
    if (owner) await fs.chown(dir, owner.uid, owner.gid);
    if (options.primaryOf) {
      const primary = options.primaryOf;
      await runAs(owner, 'pg_basebackup', ['-h', socketDirOf(primary), '-p', String(primary.port), '-U', 'postgres', '-D', cluster.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
    } else {
      await runAs(owner, 'initdb', ['-D', cluster.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-locale', '--no-instructions']);
      await fs.writeFile(path.join(cluster.dataDir, 'pg_hba.conf'), hba(options.logins ?? []));
    }
    if (options.tls) {
      await installFile(options.tls.certPath, path.join(cluster.dataDir, 'server.crt'), 0o644, owner);
      await installFile(options.tls.keyPath, path.join(cluster.dataDir, 'server.key'), 0o600, owner);
    }
    // A retry on another port appends the settings again: the last `port =` in postgresql.conf wins.
    port = await onFreePort(async (candidate) => {
      await fs.appendFile(path.join(cluster.dataDir, 'postgresql.conf'), settings(candidate, cluster.socketDir, Boolean(options.tls)) + (options.settings ?? []).map((line) => `${line}\n`).join(''));
      try {
        await runAs(owner, 'pg_ctl', ['start', '-D', cluster.dataDir, '-l', cluster.logFile, '-w', '-t', '30']);
        return candidate;
      } catch (error) {
        const log = await fs.readFile(cluster.logFile, 'utf8').catch(() => '');
        throw startFailure(`PostgreSQL did not start on port ${candidate}: ${(error as Error).message}\n${log}`, /could not bind|Address already in use/.test(log));
      }
    });
  } catch (error) {
    await stopCluster(cluster);
    throw error;
  }

  const password = options.primaryOf?.password ?? options.password ?? randomBytes(12).toString('hex');
  const admin = (sql: string, params: unknown[] = []) => adminQuery(cluster.socketDir, port, sql, params);
  if (!options.primaryOf) await admin(`CREATE ROLE ${PROBE_USER} LOGIN PASSWORD '${password}'`);
  let stopped = false;
  const server: PostgresServer = {
    host: LOOPBACK,
    port,
    address: `${LOOPBACK}:${port}`,
    password,
    socketDir: cluster.socketDir,
    admin,
    async restart() {
      await runAs(owner, 'pg_ctl', ['restart', '-D', cluster.dataDir, '-l', cluster.logFile, '-m', 'fast', '-w', '-t', '30']);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopCluster(cluster);
    },
  };
  socketDirs.set(server, cluster.socketDir);
  return server;
}

/** The superuser over the unix socket only; the probe role (and `logins`) with SCRAM over TCP, with or without TLS. */
function hba(logins: string[]): string {
  return `local all postgres trust
local replication postgres trust
${[PROBE_USER, ...logins].map((role) => `hostssl all ${role} 127.0.0.1/32 scram-sha-256\nhost all ${role} 127.0.0.1/32 scram-sha-256\n`).join('')}`;
}

/** Appended to postgresql.conf, so they win over initdb's (and, for a replica, over its primary's). */
function settings(port: number, socketDir: string, tls: boolean): string {
  return `
listen_addresses = '${LOOPBACK}'
port = ${port}
unix_socket_directories = '${socketDir}'
max_connections = 30
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
ssl = ${tls ? 'on' : 'off'}
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
`;
}

const socketDirs = new WeakMap<PostgresServer, string>();

function socketDirOf(server: PostgresServer): string {
  const dir = socketDirs.get(server);
  if (!dir) throw new Error('not a server started by startPostgres');
  return dir;
}

async function adminQuery(socketDir: string, port: number, sql: string, params: unknown[]): Promise<Record<string, string | null>[]> {
  const client = new Client({
    host: socketDir,
    port,
    user: 'postgres',
    database: 'postgres',
    password: '',
    ssl: false,
    application_name: 'test-admin',
    types: { getTypeParser: () => (value: string) => value },
  });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as Record<string, string | null>[];
  } finally {
    await client.end();
  }
}

async function stopCluster(cluster: Cluster): Promise<void> {
  const pidText = await fs.readFile(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidText?.split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0) {
    // SIGQUIT is postgres' immediate shutdown: nothing to flush in a throw-away cluster.
    tryKill(pid, 'SIGQUIT');
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) tryKill(pid, 'SIGKILL');
  }
  await fs.rm(cluster.dir, { recursive: true, force: true });
}

interface Owner {
  uid: number;
  gid: number;
}

/** The postgres system user when we are root (files must be its own), undefined otherwise. */
async function postgresOwner(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid), gid: Number(gid) };
}

async function installFile(from: string, to: string, mode: number, owner: Owner | undefined): Promise<void> {
  await fs.copyFile(from, to);
  await fs.chmod(to, mode);
  if (owner) await fs.chown(to, owner.uid, owner.gid);
}

function runAs(owner: Owner | undefined, tool: string, args: string[]): Promise<string> {
  const command = path.join(BIN, tool);
  return owner ? run('/usr/sbin/runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);
}
