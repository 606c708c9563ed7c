/** The sftp target: `host`, `host:port` or `sftp://host:port`, port 22 by default; never a user or a path. */
import { parseUrlTarget, type TargetParse } from '../../src/net/target-url';

export interface SftpTarget {
  /** Without the brackets of an IPv6 literal. */
  host: string;
  port: number;
}

export function parseSftpTarget(target: string): TargetParse<SftpTarget> {
  const parsed = parseUrlTarget(target, {
    prober: 'sftp',
    schemes: { sftp: 22 },
    bareScheme: 'sftp',
    expected: 'host:port or sftp://host:port',
    use: 'host:port or sftp://host:port',
    credentialsHint: 'set username and password_file or private_key_file in the module',
    hostAndPortOnly: 'an sftp target is only host and port: directories to list and check belong in the module (directory, round_trip, freshness)',
  });
  if ('problem' in parsed) return parsed;
  const { host, port } = parsed.target;
  return { target: { host, port } };
}
