/**
 * A postgres target: `postgres://host:port/database`, `postgresql://...`, or `host[:port][/database]`.
 * Targets become a label, so credentials and connection parameters are refused: they belong in
 * the module, where secrets come from files and the environment.
 */
import { unbracketedHost } from '../../src/net/url-host';

export const DEFAULT_PORT = 5432;

export interface PostgresTarget {
  /** Without the brackets of an IPv6 literal. */
  host: string;
  port: number;
  /** From the URL's path; undefined when the target names none. */
  database?: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The target's parts, or the reason it cannot be probed. */
export function parsePostgresTarget(target: string): PostgresTarget | { problem: string } {
  const scheme = SCHEME.exec(target)?.[1].toLowerCase();
  if (scheme !== undefined && scheme !== 'postgres' && scheme !== 'postgresql') {
    return { problem: `target scheme "${scheme}" is not supported by the postgres prober (use postgres://, postgresql:// or host:port)` };
  }
  let url: URL;
  try {
    url = new URL(scheme === undefined ? `postgres://${target}` : target);
  } catch {
    return { problem: `target ${JSON.stringify(target)} is not a postgres URL or host:port` };
  }
  if (url.username || url.password) return { problem: 'credentials do not belong in a target, which becomes a label: use user and password_file in the module' };
  if (url.search || url.hash) return { problem: 'connection parameters do not belong in a target: set sslmode and the rest in the module' };
  const host = unbracketedHost(url.hostname);
  if (host === '') return { problem: `target ${JSON.stringify(target)} has no host` };
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  if (port === 0) return { problem: 'target port 0 cannot be connected to' };
  const path = url.pathname.replace(/^\//, '');
  if (path.includes('/')) return { problem: `target path "${url.pathname}" is not a database name` };
  let database: string | undefined;
  try {
    database = path === '' ? undefined : decodeURIComponent(path);
  } catch {
    return { problem: `target path "${url.pathname}" is not a valid percent-encoded database name` };
  }
  return { host, port, database };
}
