/**
 * SMTP servers on 127.0.0.1 for the smtp prober's tests.
 *
 * The well-behaved ones are `smtp-server` (a real SMTP server implementation, run in the test
 * process): STARTTLS, implicit TLS, AUTH PLAIN/LOGIN, a refused recipient, and delivery of what
 * it accepts into Dovecot's Maildir. The hostile ones are small scripted `net` servers, because
 * no real server can be told to stall at a given command or to answer with garbage.
 */
import * as net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { TestPki } from './certs';
import type { Dovecot } from './dovecot';
import { listenOnLoopback, LOOPBACK } from './ports';

export const SMTP_USER = 'mailer';
export const SMTP_PASSWORD = 'smtp-s3cret-pw';
/** RCPT TO this address is refused with 550. */
export const REJECTED_RECIPIENT = 'nobody@example.test';
/** Accepted, but never delivered: the delivery check waits for it in vain. */
export const DROPPED_RECIPIENT = 'void@example.test';

export interface AcceptedMessage {
  from: string;
  to: string[];
  raw: string;
}

export interface SmtpTargets {
  /** 127.0.0.1:PORT — STARTTLS with the PKI's server certificate; AUTH only after STARTTLS. */
  starttls: string;
  /** 127.0.0.1:PORT — no STARTTLS; AUTH allowed in clear. */
  plain: string;
  /** smtps://127.0.0.1:PORT — implicit TLS. */
  implicit: string;
  /** 127.0.0.1:PORT — STARTTLS with an expired certificate. */
  expired: string;
  accepted: AcceptedMessage[];
  /** Connections the servers still hold. */
  openConnections(): number;
  close(): Promise<void>;
}

export async function startSmtpTargets(pki: TestPki, dovecot: Dovecot): Promise<SmtpTargets> {
  const accepted: AcceptedMessage[] = [];
  const base = (): SMTPServerOptions => ({
    name: 'mx.example.test',
    logger: false,
    size: 10 * 1024 * 1024,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    closeTimeout: 1000,
    key: pki.server.key,
    cert: pki.server.cert,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      if (address.address === REJECTED_RECIPIENT) callback(Object.assign(new Error('No such user here'), { responseCode: 550 }));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('latin1');
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address);
        accepted.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, raw });
        if (to.every((address) => address === DROPPED_RECIPIENT)) return callback();
        dovecot.deliver(Buffer.concat(chunks)).then(() => callback(), callback);
      });
    },
  });
  const servers = [
    new SMTPServer(base()),
    new SMTPServer({ ...base(), disabledCommands: ['STARTTLS'], allowInsecureAuth: true }),
    new SMTPServer({ ...base(), secure: true }),
    new SMTPServer({ ...base(), key: pki.expired.key, cert: pki.expired.cert }),
  ];
  const ports: number[] = [];
  for (const server of servers) {
    // A client that gives up mid-handshake (a refused certificate) is an error for the server; not for the test.
    server.on('error', () => undefined);
    ports.push(await listenOnLoopback(server.server));
  }
  return {
    starttls: `${LOOPBACK}:${ports[0]}`,
    plain: `${LOOPBACK}:${ports[1]}`,
    implicit: `smtps://${LOOPBACK}:${ports[2]}`,
    expired: `${LOOPBACK}:${ports[3]}`,
    accepted,
    openConnections: () => servers.reduce((sum, server) => sum + server.connections.size, 0),
    close: async () => {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/**
 * How a scripted server misbehaves. Verbs are SMTP commands in upper case, plus BANNER (the
 * greeting) and DOT (the end of the message).
 */
export interface Script {
  /** Sent on connect instead of the usual 220 banner. */
  greeting?: string;
  /** Raw replies by verb, instead of the usual ones. */
  replies?: Record<string, string>;
  /** Never answer this verb, nor anything after it. */
  stallOn?: string;
  /** Close the connection right after the greeting. */
  closeAfterGreeting?: boolean;
}

const USUAL_REPLIES: Record<string, string> = {
  EHLO: '250-scripted.example.test\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 1000000\r\n',
  HELO: '250 scripted.example.test\r\n',
  STARTTLS: '220 go ahead\r\n',
  AUTH: '235 ok\r\n',
  MAIL: '250 ok\r\n',
  RCPT: '250 ok\r\n',
  DATA: '354 go ahead\r\n',
  DOT: '250 queued\r\n',
  RSET: '250 ok\r\n',
  NOOP: '250 ok\r\n',
  QUIT: '221 bye\r\n',
};

export interface ScriptedServer {
  target: string;
  /** Connections still open on the server side. */
  openSockets(): number;
  /** The commands received, in order (verbs only). */
  verbs: string[];
  close(): Promise<void>;
}

export async function startScriptedServer(script: Script = {}): Promise<ScriptedServer> {
  const sockets = new Set<net.Socket>();
  const verbs: string[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    // Read and drop what arrives while stalling, so that the socket notices when the client goes away.
    if (script.stallOn === 'BANNER') return void socket.resume();
    socket.write(script.greeting ?? '220 scripted.example.test ESMTP\r\n');
    if (script.closeAfterGreeting) return void socket.end();
    let buffered = '';
    let inData = false;
    let stalled = false;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\n'); end !== -1 && !stalled; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end).replace(/\r$/, '');
        buffered = buffered.slice(end + 1);
        if (inData && line !== '.') continue;
        const verb = inData ? 'DOT' : line.replace(/ .*/s, '').toUpperCase();
        inData = false;
        verbs.push(verb);
        if (verb === script.stallOn) {
          stalled = true;
          return;
        }
        socket.write(script.replies?.[verb] ?? USUAL_REPLIES[verb] ?? '500 unknown command\r\n');
        if (verb === 'DATA') inData = true;
        // After STARTTLS a real server would start TLS; this one does not, so the client's handshake stalls.
        if (verb === 'STARTTLS') stalled = true;
        if (verb === 'QUIT') socket.end();
      }
    });
  });
  const port = await listenOnLoopback(server);
  return {
    target: `${LOOPBACK}:${port}`,
    openSockets: () => sockets.size,
    verbs,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
