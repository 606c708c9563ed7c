/**
 * Debian's postgres_exporter (package prometheus-postgres-exporter, the version compose.yaml
 * pins) against a PostgreSQL of tests/support/postgres-server.ts, set up as the compose stack
 * sets it up: the role created by the shipped compose/postgres/initdb/20-exporter-role.sh, the
 * password in a file (DATA_SOURCE_PASS_FILE), the shipped queries file, the flags of compose.yaml.
 *
 * Also the real exporter's metric names and types for tests/grafana: scraped from a primary that
 * has a replica streaming from it and a replication slot, so that the replication families,
 * which the exporter only writes when it has rows for them, are there too.
 *
 * A missing binary is an error, never a skip.
 */
import { constants as fsConstants, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { metricTypes } from './metrics-text';
import { LOOPBACK } from './ports';
import { startPostgres, type PostgresServer } from './postgres-server';
import { killAndWait, run, sleep, startProcessServer, type ProcessServer } from './processes';
import { ROOT } from './stack-config';

export const POSTGRES_EXPORTER_BIN = process.env.POSTGRES_EXPORTER_BIN ?? '/usr/bin/prometheus-postgres-exporter';
/** The shipped script that creates the exporter's role, as the postgres image runs it on an empty data directory. */
export const EXPORTER_ROLE_SCRIPT = path.join(ROOT, 'compose', 'postgres', 'initdb', '20-exporter-role.sh');

interface ComposeExporter {
  command: string[];
  environment: Record<string, string>;
  volumes: string[];
}

/** compose.yaml's postgres-exporter service, as far as the test stack copies it. */
function composeExporter(): ComposeExporter {
  const compose = parse(readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeExporter | undefined> };
  const service = compose.services['postgres-exporter'];
  if (!service) throw new Error('compose.yaml has no service postgres-exporter');
  return service;
}

/** The role compose.yaml's exporter logs in as (DATA_SOURCE_USER). */
export const EXPORTER_ROLE = composeExporter().environment.DATA_SOURCE_USER ?? '';

/**
 * compose.yaml's flags, each file the container reads from a mount given as the repository file
 * mounted there (--extend.query-path=/etc/postgres-exporter/queries.yaml becomes
 * compose/postgres-exporter/queries.yaml).
 */
export function composeExporterFlags(): string[] {
  const service = composeExporter();
  const mounts = service.volumes.map((volume) => volume.split(':')).map(([source = '', target = '']) => ({ source, target }));
  return service.command.map((flag) => {
    const value = flag.slice(flag.indexOf('=') + 1);
    const mount = mounts.find((m) => m.target === value);
    return mount ? `${flag.slice(0, flag.indexOf('='))}=${path.join(ROOT, mount.source)}` : flag;
  });
}

/** Runs the shipped 20-exporter-role.sh against `server` as the postgres image does (psql as its superuser), the password read from `passwordFile`. */
export async function createExporterRole(server: PostgresServer, passwordFile: string): Promise<void> {
  await run('/usr/bin/env', [
    '-i',
    `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
    `PGHOST=${server.socketDir}`,
    `PGPORT=${server.port}`,
    'POSTGRES_USER=postgres',
    'POSTGRES_DB=postgres',
    `EXPORTER_PASSWORD_FILE=${passwordFile}`,
    'sh',
    EXPORTER_ROLE_SCRIPT,
  ]);
}

/**
 * The exporter logged in to `server` over TCP as EXPORTER_ROLE, its password from `passwordFile`,
 * with compose.yaml's flags; ready once /metrics answers.
 */
export async function startPostgresExporter(server: PostgresServer, passwordFile: string): Promise<ProcessServer> {
  try {
    await fs.access(POSTGRES_EXPORTER_BIN, fsConstants.X_OK);
  } catch {
    throw new Error(`postgres_exporter not found at ${POSTGRES_EXPORTER_BIN}: run \`apt-get install prometheus-postgres-exporter\` (or set POSTGRES_EXPORTER_BIN).`);
  }
  // As compose.yaml's environment: the address, the user and the password's file; no DSN with a password in it.
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    DATA_SOURCE_URI: `${server.address}/postgres?sslmode=disable`,
    DATA_SOURCE_USER: EXPORTER_ROLE,
    DATA_SOURCE_PASS_FILE: passwordFile,
  };
  return startProcessServer('postgres_exporter', POSTGRES_EXPORTER_BIN, (port) => [`--web.listen-address=${LOOPBACK}:${port}`, ...composeExporterFlags()], '/metrics', {}, LOOPBACK, env);
}

/** Polls the exporter's /metrics until `ready` says yes, up to `ms`; the last text, or an error naming what was missing. */
export async function scrapeUntil(exporter: ProcessServer, what: string, ready: (text: string) => boolean, ms = 60_000): Promise<string> {
  const deadline = Date.now() + ms;
  let text = '';
  for (;;) {
    try {
      const response = await fetch(`http://${exporter.address}/metrics`, { signal: AbortSignal.timeout(10_000) });
      text = await response.text();
      if (response.ok && ready(text)) return text;
    } catch {
      // Not answering yet.
    }
    if (Date.now() > deadline) throw new Error(`postgres_exporter: not within ${ms} ms: ${what}\n${exporter.logs()}`);
    await sleep(250);
  }
}

/** Metric families the exporter writes only for rows it has: a connected replica, a replication slot. */
const ON_ROWS_ONLY = ['pg_stat_replication_pg_wal_lsn_diff', 'pg_replication_slots_pg_wal_lsn_diff'];

/**
 * Starts a primary with the exporter's role, a replication slot and a streaming replica, and the
 * exporter on the primary; scrapes until every family is there, stops everything; resolves with
 * metric name → type.
 */
export async function postgresExporterMetricTypes(): Promise<Map<string, string>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-pg-exporter-'));
  const passwordFile = path.join(dir, 'password');
  await fs.writeFile(passwordFile, 'catalog-only-password', { mode: 0o600 });
  let primary: PostgresServer | undefined;
  let replica: PostgresServer | undefined;
  let exporter: ProcessServer | undefined;
  try {
    primary = await startPostgres({ logins: [EXPORTER_ROLE] });
    await createExporterRole(primary, passwordFile);
    await primary.admin("SELECT pg_create_physical_replication_slot('catalog_slot', true)");
    replica = await startPostgres({ primaryOf: primary });
    exporter = await startPostgresExporter(primary, passwordFile);
    const text = await scrapeUntil(exporter, `pg_up 1 and ${ON_ROWS_ONLY.join(', ')}`, (body) => /^pg_up 1$/m.test(body) && ON_ROWS_ONLY.every((name) => body.includes(`\n${name}{`)));
    return metricTypes(text);
  } finally {
    if (exporter) await killAndWait(exporter.child);
    await replica?.stop();
    await primary?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
