/**
 * What an smtp target may be: `host:port`, `smtp://host[:port]` (port 25) or `smtps://host[:port]`
 * (implicit TLS, port 465). Nothing else: the target becomes a label, so no credentials, paths
 * or parameters.
 */
import { unbracketedHost } from '../../src/net/url-host';

export interface SmtpTarget {
  /** Without IPv6 brackets, as resolveTarget takes it. */
  host: string;
  port: number;
  implicitTls: boolean;
}

const DEFAULT_PORTS = { 'smtp:': 25, 'smtps:': 465 } as const;

/** The target, or a message saying why it is not one. */
export function parseSmtpTarget(target: string): SmtpTarget | string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
  let url: URL;
  try {
    url = new URL(hasScheme ? target : `smtp://${target}`);
  } catch {
    return `target ${JSON.stringify(target)} is not host:port or an smtp:// or smtps:// URL`;
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') return `target scheme "${url.protocol.slice(0, -1)}" is not supported by the smtp prober (use smtp:// or smtps://)`;
  if (url.username || url.password) return 'credentials do not belong in a target, which becomes a label: use auth.password_file or auth.password_env';
  if (url.hostname === '') return `target ${JSON.stringify(target)} has no host`;
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) return `target ${JSON.stringify(target)} has a path or parameters; an smtp target is only a host and a port`;
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  if (port === 0) return `target ${JSON.stringify(target)} has port 0`;
  return { host: unbracketedHost(url.hostname), port, implicitTls: url.protocol === 'smtps:' };
}
