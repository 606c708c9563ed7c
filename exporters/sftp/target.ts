/** The sftp target: `host`, `host:port` or `sftp://host:port`, port 22 by default; never a user or a path. */
import { unbracketedHost } from '../../src/net/url-host';

export const DEFAULT_SSH_PORT = 22;

export interface SftpTarget {
  /** Without the brackets of an IPv6 literal. */
  host: string;
  port: number;
}

/** The target's host and port, or the reason it cannot be probed. */
export function parseSftpTarget(target: string): SftpTarget | { problem: string } {
  let url: URL;
  try {
    // A bare `host:port` is read as sftp://host:port; URL parses brackets, ports and userinfo alike.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `sftp://${target}`);
  } catch {
    return { problem: `target ${JSON.stringify(target)} is not host:port or sftp://host:port` };
  }
  if (url.protocol !== 'sftp:') return { problem: `target scheme "${url.protocol.slice(0, -1)}" is not supported by the sftp prober (use host:port or sftp://host:port)` };
  if (url.username || url.password) return { problem: 'credentials do not belong in a target, which becomes a label: set username and password_file or private_key_file in the module' };
  if (url.hostname === '') return { problem: `target ${JSON.stringify(target)} has no host` };
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
    return { problem: 'an sftp target is only host and port: directories to list and check belong in the module (directory, round_trip, freshness)' };
  }
  return { host: unbracketedHost(url.hostname), port: url.port === '' ? DEFAULT_SSH_PORT : Number(url.port) };
}
