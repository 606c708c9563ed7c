/**
 * A relay like tests/support/mail-sink.ts (STARTTLS with the test PKI, AUTH required) that
 * refuses some recipients at RCPT TO with 550, as a company server does for a mistyped or
 * deleted mailbox, and keeps what it accepts. Here rather than an option of the shared sink
 * because this suite alone needs it.
 */
import { SMTPServer } from 'smtp-server';
import type { TestPki } from '../support/certs';
import { parseMessage, type ReceivedMail } from '../support/mail-sink';
import { listenOnLoopback, LOOPBACK } from '../support/ports';
import { sleep } from '../support/processes';

export interface RefusingMailSink {
  smarthost: string;
  /** The messages accepted, envelope and all. */
  received: Pick<ReceivedMail, 'to' | 'subject' | 'headers'>[];
  /** Every RCPT TO answered 550, in order (one per attempt). */
  refused: string[];
  /** Waits until `done()` holds, up to `ms`; fails saying what came. */
  waitUntil(done: () => boolean, ms: number, what: string): Promise<void>;
  close(): Promise<void>;
}

export async function startRefusingMailSink(options: { pki: TestPki; user: string; password: string; refuse: string[] }): Promise<RefusingMailSink> {
  const refuse = new Set(options.refuse.map((address) => address.toLowerCase()));
  const received: RefusingMailSink['received'] = [];
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
        const { subject, headers } = parseMessage(Buffer.concat(chunks).toString('utf8'));
        received.push({ subject, headers, to: session.envelope.rcptTo.map((rcpt) => rcpt.address) });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  const port = await listenOnLoopback(server.server);
  return {
    smarthost: `${LOOPBACK}:${port}`,
    received,
    refused,
    async waitUntil(done, ms, what) {
      const deadline = Date.now() + ms;
      while (!done()) {
        if (Date.now() > deadline) {
          const accepted = received.map((mail) => `${mail.subject} to ${mail.to.join(',')}`).join(' | ') || 'none';
          throw new Error(`refusing mail sink: no ${what} after ${ms} ms; accepted: ${accepted}; refused: ${refused.join(',') || 'none'}`);
        }
        await sleep(100);
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
