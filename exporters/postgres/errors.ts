/**
 * How what went wrong maps onto the closed set of failure reasons. The server says why in a
 * SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html); pg and Node say it
 * in error codes and messages.
 */
import { DatabaseError } from 'pg';
import { ProbeFailure, type FailureReason } from '../../src/probe/failure';

/** SQLSTATEs that mean one reason wherever they arrive; classes by their first two characters. */
const SQLSTATE_REASONS: Record<string, FailureReason> = {
  '28': 'auth', // invalid authorization: wrong password, no pg_hba.conf entry, client certificate required
  '42501': 'auth', // insufficient_privilege: the credentials work but the role lacks a grant
  '3D000': 'config', // invalid_catalog_name: the target names a database the server does not have
  '08': 'connect', // connection exception
  '53300': 'connect', // too_many_connections: the server turns new connections away
  '57P01': 'connect', // admin_shutdown
  '57P02': 'connect', // crash_shutdown
  '57P03': 'connect', // cannot_connect_now: starting up, shutting down, or a standby without hot_standby
  '57014': 'timeout', // query_canceled: statement_timeout, or a cancel request
  '08P01': 'protocol', // protocol_violation, e.g. a pooler refusing a startup parameter
};

function sqlstateReason(code: string): FailureReason | undefined {
  return SQLSTATE_REASONS[code] ?? SQLSTATE_REASONS[code.slice(0, 2)];
}

export type ConversationStage = 'tls' | 'auth' | 'query' | 'stats';

/**
 * The failure for `error`, raised during `stage`. A server error the table does not name fails
 * the startup as `protocol` and a query as `assertion`: the server is up and answering, and the
 * question the module asks came back as an error (a health function that raises, a missing table).
 */
export function classify(error: unknown, stage: ConversationStage): ProbeFailure {
  if (error instanceof ProbeFailure) return error;
  if (error instanceof DatabaseError) {
    const code = error.code ?? '';
    const reason = sqlstateReason(code) ?? (stage === 'query' || stage === 'stats' ? 'assertion' : 'protocol');
    return new ProbeFailure(reason, `server error ${code}${stage === 'query' || stage === 'stats' ? ` in the ${stage}` : ' during startup'}: ${error.message}`);
  }
  const { code, message } = error as NodeJS.ErrnoException;
  const described = code ? `${code}: ${message}` : String(message ?? error);
  // OpenSSL's errors, alerts from the peer among them (a client certificate refused under TLS 1.3 arrives after the handshake).
  if (stage === 'tls' || /^ERR_SSL_|^ERR_TLS_/.test(code ?? '')) {
    if (/error establishing an SSL connection/.test(message ?? ''))
      return new ProbeFailure('protocol', 'the server answered the TLS request with something other than yes or no: not a PostgreSQL server?');
    if (/does not support SSL/.test(message ?? '')) return new ProbeFailure('tls', 'the server does not offer TLS (ssl = off), and the module requires it (sslmode)');
    return new ProbeFailure('tls', `TLS failed: ${described}`);
  }
  if (/^SASL/.test(message ?? '')) return new ProbeFailure('auth', `SCRAM authentication failed: ${message}`);
  if (code === 'ECONNRESET' || code === 'EPIPE') return new ProbeFailure('connect', `connection lost in the ${stage} phase: ${described}`);
  if (/Connection terminated/.test(message ?? '')) {
    return new ProbeFailure(stage === 'auth' ? 'protocol' : 'connect', `the server closed the connection in the ${stage} phase`);
  }
  return new ProbeFailure('protocol', `${stage} failed: ${described}`);
}
