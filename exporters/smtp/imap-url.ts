/**
 * The delivery check's IMAP server: `imap://host[:port]` (STARTTLS, port 143) or
 * `imaps://host[:port]` (implicit TLS, port 993). Read by the shared target parser, once at
 * config load (validate.ts) and the same way by every probe that connects to it (delivery.ts).
 */
import { parseUrlTarget, type TargetParse } from '../../src/net/target-url';

export interface ImapServer {
  /** Without IPv6 brackets, as resolveTarget takes it. */
  host: string;
  port: number;
  implicitTls: boolean;
}

export function parseImapUrl(text: string): TargetParse<ImapServer> {
  const parsed = parseUrlTarget(text, {
    prober: 'smtp',
    schemes: { imap: 143, imaps: 993 },
    expected: 'a URL',
    use: 'imap:// or imaps://',
    credentialsHint: 'use password_file or password_env',
    hostAndPortOnly: `${JSON.stringify(text)} has a path or parameters; the mailbox is set with mailbox:`,
  });
  if ('problem' in parsed) return { problem: forTheImapKey(parsed.problem) };
  const { host, port, scheme } = parsed.target;
  return { target: { host, port, implicitTls: scheme === 'imaps' } };
}

/**
 * parseUrlTarget words its problems for a target, which becomes a label; this URL is a key of the
 * module (`delivery.imap`), so its problems say "the URL" and keep the wording they always had.
 */
function forTheImapKey(problem: string): string {
  if (problem.startsWith('credentials do not belong')) return 'credentials do not belong in the URL: use password_file or password_env';
  return problem.replace(/^target /, '');
}
