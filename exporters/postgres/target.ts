/**
 * A postgres target: `postgres://host:port/database`, `postgresql://...`, or `host[:port][/database]`.
 * Targets become a label, so credentials and connection parameters are refused: they belong in
 * the module, where secrets come from files and the environment.
 */
import { parseUrlTarget, type TargetParse } from '../../src/net/target-url';

export interface PostgresTarget {
  /** Without the brackets of an IPv6 literal. */
  host: string;
  port: number;
  /** From the URL's path; undefined when the target names none. */
  database?: string;
}

export function parsePostgresTarget(target: string): TargetParse<PostgresTarget> {
  const parsed = parseUrlTarget(target, {
    prober: 'postgres',
    schemes: { postgres: 5432, postgresql: 5432 },
    bareScheme: 'postgres',
    expected: 'a postgres URL or host:port',
    use: 'postgres://, postgresql:// or host:port',
    credentialsHint: 'use user and password_file in the module',
  });
  if ('problem' in parsed) return parsed;
  const { url, host, port } = parsed.target;
  if (url.search || url.hash) return { problem: 'connection parameters do not belong in a target: set sslmode and the rest in the module' };
  const path = url.pathname.replace(/^\//, '');
  if (path.includes('/')) return { problem: `target path "${url.pathname}" is not a database name` };
  try {
    return { target: { host, port, database: path === '' ? undefined : decodeURIComponent(path) } };
  } catch {
    return { problem: `target path "${url.pathname}" is not a valid percent-encoded database name` };
  }
}
