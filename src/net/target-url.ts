/**
 * Reading a target that is a URL or a bare `host[:port]`, once for every prober that takes one
 * (http, browser, postgres, sftp, smtp). A target becomes a label, so what must never be in a
 * label (credentials) is refused here, with a hint at where the prober takes them instead.
 */
import { unbracketedHost } from './url-host';

/** A parsed target, or why the target cannot be probed: what every prober's `parseTarget` returns. */
export type TargetParse<Target> = { target: Target } | { problem: string };

export interface UrlTargetRules {
  /** The prober's name, for messages. */
  prober: string;
  /** The schemes the prober takes (without `:`), each with its default port. */
  schemes: Record<string, number>;
  /** The scheme a target without one is read with; when absent, a target must be a URL. */
  bareScheme?: string;
  /** What a target should look like, for a target that cannot be read: "a URL", "host:port or sftp://host:port". */
  expected: string;
  /** The forms to use instead of an unsupported scheme: "http:// or https://". */
  use: string;
  /** Where credentials go instead of the target: "use basic_auth.password_file". */
  credentialsHint: string;
  /** What messages call the text: `target` (the default; it becomes a label), or `URL` for a URL in a module's settings. */
  subject?: 'target' | 'URL';
  /** When set, a path, query or fragment is refused with this message: the target is a host and a port only. */
  hostAndPortOnly?: string;
}

export interface UrlTarget {
  url: URL;
  /** Without the brackets of an IPv6 literal, as the resolver and connect() take it. */
  host: string;
  /** The URL's port, or the scheme's default. */
  port: number;
  /** The scheme, lower case, without `:`. */
  scheme: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function parseUrlTarget(target: string, rules: UrlTargetRules): TargetParse<UrlTarget> {
  const subject = rules.subject ?? 'target';
  // `target "db:5432"` or `URL "imap://..."`, as the messages name it.
  const quoted = `${subject} ${JSON.stringify(target)}`;
  const named = SCHEME.exec(target)?.[1]?.toLowerCase();
  if (named !== undefined && !Object.hasOwn(rules.schemes, named)) {
    return { problem: `${subject} scheme "${named}" is not supported by the ${rules.prober} prober (use ${rules.use})` };
  }
  if (named === undefined && rules.bareScheme === undefined) return { problem: `${quoted} is not ${rules.expected}` };
  let url: URL;
  try {
    url = new URL(named === undefined ? `${rules.bareScheme}://${target}` : target);
  } catch {
    return { problem: `${quoted} is not ${rules.expected}` };
  }
  const scheme = url.protocol.slice(0, -1);
  if (url.username || url.password) {
    const where = subject === 'target' ? 'a target, which becomes a label' : `the ${subject}`;
    return { problem: `credentials do not belong in ${where}: ${rules.credentialsHint}` };
  }
  const host = unbracketedHost(url.hostname);
  if (host === '') return { problem: `${quoted} has no host` };
  if (rules.hostAndPortOnly !== undefined && ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash)) return { problem: rules.hostAndPortOnly };
  const port = url.port === '' ? (rules.schemes[scheme] ?? 0) : Number(url.port);
  if (port === 0) return { problem: `${quoted} has port 0, which cannot be connected to` };
  return { target: { url, host, port, scheme } };
}
