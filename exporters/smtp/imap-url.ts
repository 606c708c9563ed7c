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
    subject: 'URL',
    expected: 'a URL',
    use: 'imap:// or imaps://',
    credentialsHint: 'use password_file or password_env',
    hostAndPortOnly: `URL ${JSON.stringify(text)} has a path or parameters; the mailbox is set with mailbox:`,
  });
  if ('problem' in parsed) return parsed;
  const { host, port, scheme } = parsed.target;
  return { target: { host, port, implicitTls: scheme === 'imaps' } };
}
