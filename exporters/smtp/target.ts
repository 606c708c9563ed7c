/**
 * What an smtp target may be: `host:port`, `smtp://host[:port]` (port 25) or `smtps://host[:port]`
 * (implicit TLS, port 465). Nothing else: the target becomes a label, so no credentials, paths
 * or parameters.
 */
import { parseUrlTarget, type TargetParse } from '../../src/net/target-url';

export interface SmtpTarget {
  /** Without IPv6 brackets, as resolveTarget takes it. */
  host: string;
  port: number;
  implicitTls: boolean;
}

export function parseSmtpTarget(target: string): TargetParse<SmtpTarget> {
  const parsed = parseUrlTarget(target, {
    prober: 'smtp',
    schemes: { smtp: 25, smtps: 465 },
    bareScheme: 'smtp',
    expected: 'host:port or an smtp:// or smtps:// URL',
    use: 'smtp:// or smtps://',
    credentialsHint: 'use auth.password_file or auth.password_env',
    hostAndPortOnly: `target ${JSON.stringify(target)} has a path or parameters; an smtp target is only a host and a port`,
  });
  if ('problem' in parsed) return parsed;
  const { host, port, scheme } = parsed.target;
  return { target: { host, port, implicitTls: scheme === 'smtps' } };
}
