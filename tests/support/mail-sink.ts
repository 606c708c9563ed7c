/**
 * An SMTP server on 127.0.0.1 that keeps what it receives, for tests of what Alertmanager sends.
 *
 * It behaves like the relay a site would give Alertmanager: STARTTLS with the test PKI's server
 * certificate, AUTH PLAIN/LOGIN required and only allowed after STARTTLS, so a client that would
 * send the password in clear fails. Each accepted message is parsed just enough to check it:
 * headers, and the text and HTML parts decoded from quoted-printable or base64.
 */
import { SMTPServer } from 'smtp-server';
import type { TestPki } from './certs';
import { listenOnLoopback, LOOPBACK } from './ports';
import { sleep } from './processes';

export interface ReceivedMail {
  /** The envelope: MAIL FROM and every RCPT TO. */
  from: string;
  to: string[];
  /** The authenticated user, and whether the session was under TLS when the message came. */
  user: string | undefined;
  secure: boolean;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  subject: string;
  text: string;
  html: string;
  raw: string;
}

export interface MailSink {
  /** host:port for a smarthost setting. */
  smarthost: string;
  received: ReceivedMail[];
  /** Every RCPT TO answered 550 (see `refuse`), in order: one per attempt. */
  refused: string[];
  /** Waits until `count` messages match, up to `ms`; fails with what did arrive. */
  waitFor(match: (mail: ReceivedMail) => boolean, ms: number, count?: number): Promise<ReceivedMail[]>;
  /** Waits until `done()` holds, up to `ms`; fails naming `what`, and what was accepted and refused. */
  waitUntil(done: () => boolean, ms: number, what: string): Promise<void>;
  close(): Promise<void>;
}

export interface MailSinkOptions {
  pki: TestPki;
  user: string;
  password: string;
  /** Recipients refused at RCPT TO with 550, as a company server refuses a mistyped or deleted mailbox. */
  refuse?: string[];
}

export async function startMailSink(options: MailSinkOptions): Promise<MailSink> {
  const received: ReceivedMail[] = [];
  const refuse = new Set((options.refuse ?? []).map((address) => address.toLowerCase()));
  const refused: string[] = [];
  const server = new SMTPServer({
    name: 'relay.example.test',
    logger: false,
    key: options.pki.server.key,
    cert: options.pki.server.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    allowInsecureAuth: false,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      if (auth.username === options.user && auth.password === options.password) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      if (!refuse.has(address.address.toLowerCase())) return callback();
      refused.push(address.address);
      callback(Object.assign(new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown`), { responseCode: 550 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          ...parseMessage(raw),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          // smtp-server types the user as `any`: it is what onAuth above gave, the user name.
          user: typeof session.user === 'string' ? session.user : undefined,
          secure: session.secure,
          raw,
        });
        callback();
      });
    },
  });
  async function waitUntil(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) {
        const accepted = received.map((mail) => `${mail.subject} to ${mail.to.join(',')}`).join(' | ') || 'none';
        throw new Error(`mail sink: no ${what} after ${ms} ms; accepted: ${accepted}; refused: ${refused.join(',') || 'none'}`);
      }
      await sleep(100);
    }
  }

  // A client that drops the connection is an error for the server, not for the test.
  server.on('error', () => undefined);
  const port = await listenOnLoopback(server.server);
  return {
    smarthost: `${LOOPBACK}:${port}`,
    received,
    refused,
    waitUntil,
    async waitFor(match, ms, count = 1) {
      await waitUntil(() => received.filter(match).length >= count, ms, `${count} expected message(s)`);
      return received.filter(match);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Parsed = Pick<ReceivedMail, 'headers' | 'subject' | 'text' | 'html'>;

// Enough MIME for what Alertmanager writes: a multipart/alternative (or a single part) whose
// parts are text/plain and text/html, each quoted-printable, base64 or plain.
export function parseMessage(raw: string): Parsed {
  const { headers, body } = splitHeaders(raw);
  const parts: Record<string, string> = {};
  collectParts(headers, body, parts);
  return { headers, subject: decodeWords(headers.subject ?? ''), text: parts['text/plain'] ?? '', html: parts['text/html'] ?? '' };
}

function splitHeaders(entity: string): { headers: Record<string, string>; body: string } {
  const normalised = entity.replace(/\r\n/g, '\n');
  const end = normalised.indexOf('\n\n');
  const head = end === -1 ? normalised : normalised.slice(0, end);
  const body = end === -1 ? '' : normalised.slice(end + 2);
  const headers: Record<string, string> = {};
  // Folded lines continue the header above them.
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function collectParts(headers: Record<string, string>, body: string, parts: Record<string, string>): void {
  const contentType = headers['content-type'] ?? 'text/plain';
  const type = contentType.replace(/;.*/s, '').trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
    if (!boundary) return;
    const sections = body.split(`--${boundary}`).slice(1);
    for (const section of sections) {
      if (section.startsWith('--')) break;
      const part = splitHeaders(section.replace(/^\n/, ''));
      collectParts(part.headers, part.body, parts);
    }
    return;
  }
  parts[type] = decodeBody(body, headers['content-transfer-encoding'] ?? '7bit');
}

function decodeBody(body: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case 'quoted-printable':
      return Buffer.from(
        body.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        'latin1',
      ).toString('utf8');
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    default:
      return body;
  }
}

// RFC 2047 encoded words (=?UTF-8?q?...?= or ?b?), which Go's mime package writes for non-ASCII subjects.
function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([qQbB])\?([^?]*)\?=\s*/g, (_, _charset: string, kind: string, text: string) =>
    kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64').toString('utf8') : decodeBody(text.replace(/_/g, ' '), 'quoted-printable'),
  );
}
