/**
 * The server's facts beside up/down, in one round trip, readable by any LOGIN role: every function
 * and view used is granted to PUBLIC (pg_monitor is not needed), and pg_stat_activity shows other
 * sessions' rows to anyone, only their details hidden. Needs PostgreSQL 10 or later.
 */
import type { ServerStats } from './metrics';
import type { PostgresSession } from './session';

/**
 * Connections count what max_connections limits: client backends (not autovacuum, WAL senders or
 * other background workers). The replication lag is 0 when everything received has been replayed,
 * as postgres_exporter users do: an idle primary writes no transactions, and the age of the last
 * replayed one would grow on a replica that is perfectly up to date.
 */
export const SERVER_STATS_QUERY = `SELECT
  current_setting('server_version_num') AS version_num,
  pg_is_in_recovery() AS in_recovery,
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
  current_setting('max_connections') AS max_connections,
  current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved_connections,
  CASE WHEN pg_is_in_recovery() THEN
    CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
         ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END
  END AS replication_lag_seconds,
  CASE WHEN pg_is_in_recovery() THEN greatest(0, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())) END AS replication_lag_bytes`;

/** The stats, read as text (see SERVER_TEXT in session.ts) and converted here. */
export async function readServerStats(session: PostgresSession): Promise<ServerStats> {
  const { firstRow } = await session.query(SERVER_STATS_QUERY, 'stats', 1);
  if (!firstRow) throw new Error('the stats query returned no row');
  const [versionNum, inRecovery, connections, maxConnections, reservedConnections, lagSeconds, lagBytes] = firstRow;
  return {
    versionNum: Number(versionNum),
    inRecovery: inRecovery === 't',
    connections: Number(connections),
    maxConnections: Number(maxConnections),
    reservedConnections: Number(reservedConnections),
    replicationLagSeconds: lagSeconds === null ? null : Number(lagSeconds),
    replicationLagBytes: lagBytes === null ? null : Number(lagBytes),
  };
}
