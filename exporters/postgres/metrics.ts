/**
 * The metrics of a postgres probe. The address's (ip protocol, resolve) are registered up front,
 * as blackbox_exporter does; everything else appears only once measured, because a 0 there would
 * be a claim about a session or a server we never had: whether the session used TLS once it is
 * open, the query's duration and rows once it ran, the server's facts (version, recovery, lag,
 * connections) once read.
 */
import type { ProbeRegistry } from '../../src/probe/probe-registry';
import { createAddressMetrics } from '../../src/net/address-metrics';

export const POSTGRES_PHASES = ['resolve', 'connect', 'tls', 'auth', 'query', 'stats'] as const;
export type PostgresPhase = (typeof POSTGRES_PHASES)[number];

export interface ServerStats {
  versionNum: number;
  inRecovery: boolean;
  connections: number;
  maxConnections: number;
  reservedConnections: number;
  /** Present on a replica only. */
  replicationLagSeconds: number | null;
  replicationLagBytes: number | null;
}

export function createPostgresMetrics(registry: ProbeRegistry) {
  const metrics = {
    address: createAddressMetrics(registry),
    /** Whether the session uses TLS: known from the handshake on, or once it opened without. */
    sessionSsl(used: boolean) {
      registry.gauge('probe_postgres_ssl', 'Whether the connection used TLS').set(used ? 1 : 0);
    },
    queryDone(seconds: number, rows: number) {
      registry.gauge('probe_postgres_query_duration_seconds', "How long the module's query took, from sending it to its last row").set(seconds);
      registry.gauge('probe_postgres_query_rows', 'Rows the query returned; for a command that returns none, the rows it affected').set(rows);
    },
    serverVersion(serverVersion: string) {
      registry
        .gauge('probe_postgres_version_info', 'The server version the server reported at startup', ['version', 'server_version'])
        .labels(serverVersion.split(' ')[0] ?? serverVersion, serverVersion)
        .set(1);
    },
    serverStats(stats: ServerStats) {
      registry.gauge('probe_postgres_server_version_num', 'The server version as a number (server_version_num), e.g. 150004').set(stats.versionNum);
      registry.gauge('probe_postgres_in_recovery', 'Whether the server is a replica (pg_is_in_recovery())').set(stats.inRecovery ? 1 : 0);
      registry.gauge('probe_postgres_connections', "Client connections open on the server, the probe's own included").set(stats.connections);
      registry.gauge('probe_postgres_max_connections', "The server's max_connections").set(stats.maxConnections);
      registry.gauge('probe_postgres_reserved_connections', 'Connections of max_connections kept for superusers and pg_use_reserved_connections').set(stats.reservedConnections);
      if (stats.replicationLagSeconds !== null) {
        registry
          .gauge('probe_postgres_replication_lag_seconds', 'On a replica, how old the last replayed transaction is; 0 when everything received has been replayed')
          .set(stats.replicationLagSeconds);
      }
      if (stats.replicationLagBytes !== null) {
        registry.gauge('probe_postgres_replication_lag_bytes', 'On a replica, WAL received but not yet replayed, in bytes').set(stats.replicationLagBytes);
      }
    },
  };
  return metrics;
}

export type PostgresMetrics = ReturnType<typeof createPostgresMetrics>;
