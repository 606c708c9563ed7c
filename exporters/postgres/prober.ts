/**
 * The postgres prober: resolve, connect, TLS per sslmode, log in, run the module's query, check
 * its first value, read the server's facts, and say goodbye. Each step is a phase of
 * probe_postgres_duration_seconds and a line of the probe log; each way to fail has its reason.
 */
import type { ProbeContext } from '../../src/probe/prober';
import { readSecret } from '../../src/probe/config-files';
import { validatedSeconds } from '../../src/config/duration';
import { openConnection } from '../../src/net/connect';
import { resolveTarget } from '../../src/net/resolve';
import { registerTlsMetrics } from '../../src/net/tls-facts';
import { expectationFailure, truncated } from './expectations';
import { createPostgresMetrics, POSTGRES_PHASES, type PostgresMetrics } from './metrics';
import type { PostgresSettings } from './schema';
import { readServerStats } from './server-stats';
import { openSession, type PostgresSession } from './session';
import { sslModeOptions } from './ssl-mode';
import type { PostgresTarget } from './target';

/** How long after the deadline the server's statement_timeout stops a query whose cancel request was lost. */
const STATEMENT_TIMEOUT_GRACE_MS = 1000;

export async function probePostgres(probe: ProbeContext<PostgresSettings, PostgresTarget>): Promise<boolean> {
  const { settings, log, signal, target } = probe;
  const metrics = createPostgresMetrics(probe.registry);
  const timer = probe.phases('postgres', POSTGRES_PHASES);
  let session: PostgresSession | undefined;
  try {
    const database = target.database ?? settings.database;
    const password = await readSecret(settings, 'password');
    const tls = await sslModeOptions(settings, settings.tls_config?.server_name ?? probe.hostname ?? target.host);

    const resolved = await timer.time('resolve', () => resolveTarget(target.host, settings.preferred_ip_protocol, settings.ip_protocol_fallback, signal), { target: target.host });
    metrics.address.report(resolved);
    log.info('Resolved target address', { target: target.host, ip: resolved.address });

    const { socket } = await timer.time('connect', () => openConnection({ address: resolved.address, port: target.port, signal }), { ip: resolved.address, port: target.port });
    log.info('Successfully dialed');

    let usedTls = false;
    const opened = await openSession({
      socket,
      address: resolved.address,
      port: target.port,
      user: settings.user,
      database,
      password,
      tls,
      sslmode: settings.sslmode,
      applicationName: settings.application_name,
      statementTimeoutMs: statementTimeoutMs(settings.statement_timeout, probe.deadline),
      maxMessageBytes: settings.max_message_bytes,
      onTls: (facts) => {
        // Measured here, before the login: a login refused over TLS still says the session used it.
        usedTls = true;
        metrics.sessionSsl(true);
        if (facts) registerTlsMetrics(probe.registry, facts);
      },
      timer,
      log,
      signal,
    });
    session = opened;
    if (!usedTls) metrics.sessionSsl(false);
    if (opened.serverVersion) metrics.serverVersion(opened.serverVersion);

    const queryStarted = performance.now();
    const outcome = await timer.time('query', () => opened.query(settings.query, 'query', settings.max_rows), { query: settings.query });
    metrics.queryDone((performance.now() - queryStarted) / 1000, outcome.rows);
    const firstValue = outcome.firstRow === undefined ? undefined : outcome.firstRow[0];
    log.info('Query done', { rows: outcome.rows, first_value: firstValue === undefined ? undefined : firstValue === null ? 'NULL' : truncated(firstValue) });

    if (settings.server_stats) {
      await timer.time('stats', () => collectServerStats(probe, opened, metrics));
    }

    const mismatch = expectationFailure(firstValue, settings);
    if (mismatch) return probe.fail('assertion', mismatch);
    return true;
  } finally {
    await session?.close();
  }
}

/**
 * The server's facts are extras: the probe asks whether a client can log in and query, so a stats
 * query that fails (a pooler that does not pass it on, a server older than 10) is logged and its
 * metrics left out, and the probe's result stands. Only the deadline fails the probe here.
 */
async function collectServerStats(probe: ProbeContext<PostgresSettings, PostgresTarget>, session: PostgresSession, metrics: PostgresMetrics): Promise<void> {
  try {
    const stats = await readServerStats(session);
    metrics.serverStats(stats);
    probe.log.info('Server stats read', {
      server_version_num: stats.versionNum,
      in_recovery: stats.inRecovery,
      connections: stats.connections,
      max_connections: stats.maxConnections,
      replication_lag_seconds: stats.replicationLagSeconds ?? undefined,
    });
  } catch (error) {
    if (probe.signal.aborted) throw error;
    probe.log.warn('Server stats query failed; their metrics are left out, the probe result does not depend on them', { err: (error as Error).message });
  }
}

/**
 * The server's own limit on the probe's statements. By default a little past the deadline, so the
 * cancel request normally ends the query first and this only catches a cancel that was lost.
 */
function statementTimeoutMs(configured: string | undefined, deadline: number): number {
  if (configured !== undefined) return validatedSeconds(configured) * 1000;
  return Math.max(1, Math.ceil(deadline - Date.now())) + STATEMENT_TIMEOUT_GRACE_MS;
}
