/**
 * One SMTP conversation over a socket we opened: a command, then its reply, never two commands in
 * flight (no blind pipelining). Written here rather than taken from a mail library because the
 * probe needs the reply code of every step, exact timing per phase, and hard limits against a
 * server that floods, stalls or speaks another protocol.
 *
 * Limits: a reply line may be 4 KiB (RFC 5321 says 512 octets; real servers exceed it a little
 * with long EHLO lines), a reply at most 100 lines. Beyond either, or on anything that is not an
 * SMTP reply, the probe fails with reason `protocol`. A stall is left to the deadline, which
 * destroys the socket.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { upgradeToTls } from '../../src/net/connect';
import { ProbeFailure } from '../../src/probe/failure';
import type { ProbeLog } from '../../src/probe/probe-log';

export const MAX_REPLY_LINE_BYTES = 4096;
export const MAX_REPLY_LINES = 100;

export interface SmtpReply {
  code: number;
  /** The text of each line, after the code and its separator. */
  lines: string[];
}

const REPLY_LINE = /^([2-5][0-9][0-9])([ -]|$)(.*)$/s;

export class SmtpSession {
  private socket: net.Socket | tls.TLSSocket;
  /** The TCP socket under a STARTTLS upgrade, destroyed with it. */
  private readonly tcp: net.Socket;
  /** Bytes of the line being received, read as latin1 so that one character is one byte. */
  private partial = '';
  private readonly lines: string[] = [];
  private ended = false;
  /** The first failure, boxed: what failed the session is `unknown` (an abort's reason), and is thrown as it came. */
  private failed?: { error: unknown };
  private wake?: () => void;
  private readonly onAbort = () => this.fail(this.signal.reason);

  constructor(
    socket: net.Socket | tls.TLSSocket,
    private readonly signal: AbortSignal,
    private readonly log: ProbeLog,
    /** Told the code of every reply, for probe_smtp_status_code. */
    private readonly onReply: (code: number) => void,
  ) {
    this.socket = socket;
    this.tcp = socket;
    this.attach(socket);
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  get encrypted(): boolean {
    return this.socket instanceof tls.TLSSocket;
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.socket instanceof tls.TLSSocket ? this.socket : undefined;
  }

  /** Sends one command and reads its reply. `shown` is what the log gets instead (credentials). */
  async command(line: string, shown = line): Promise<SmtpReply> {
    this.send(line, shown);
    return this.readReply();
  }

  /** Sends one line without waiting for a reply (the message body, before its final reply). */
  send(line: string, shown?: string): void {
    if (this.failed) throw this.failed.error;
    // A reply nobody asked for means the server is out of step with us (or someone injects
    // data): everything after would be misread.
    if (this.lines.length > 0 || this.partial !== '') throw new ProbeFailure('protocol', `the server sent data before ${describeCommand(shown ?? line)}: ${excerpt(this.lines[0] ?? this.partial)}`);
    if (shown !== undefined) this.log.info('Sending command', { command: shown });
    this.socket.write(`${line}\r\n`);
  }

  /** Writes raw bytes (the message) as they are. */
  write(data: string): void {
    if (this.failed) throw this.failed.error;
    this.socket.write(data, 'latin1');
  }

  /** The next reply, all its lines; fails on anything that is not one. */
  async readReply(): Promise<SmtpReply> {
    const lines: string[] = [];
    let code: number | undefined;
    for (;;) {
      const line = await this.nextLine(lines.length > 0);
      const match = REPLY_LINE.exec(line);
      if (!match) throw new ProbeFailure('protocol', `the server's answer is not an SMTP reply: ${excerpt(line)}`);
      // The three groups always take part in a match; the defaults only satisfy the type.
      const [, codeText = '', separator, text = ''] = match;
      const lineCode = Number(codeText);
      if (code !== undefined && lineCode !== code) throw new ProbeFailure('protocol', `a multi-line reply changed its code from ${code} to ${lineCode}`);
      code = lineCode;
      lines.push(text);
      if (separator !== '-') break;
      if (lines.length >= MAX_REPLY_LINES) throw new ProbeFailure('protocol', `a reply of more than ${MAX_REPLY_LINES} lines`);
    }
    this.onReply(code);
    this.log.info('Received reply', { code, text: excerpt(lines[0] ?? ''), lines: lines.length });
    return { code, lines };
  }

  /**
   * A TLS handshake over the connection: at once for implicit TLS, or after STARTTLS's 220.
   * Anything the server sent before the handshake is refused (CVE-2011-0411: after STARTTLS it
   * would be read as if it had come over TLS).
   */
  async upgrade(options: tls.ConnectionOptions, what: string): Promise<tls.TLSSocket> {
    if (this.failed) throw this.failed.error;
    if (this.lines.length > 0 || this.partial !== '') throw new ProbeFailure('protocol', `the server sent data before the ${what}: ${excerpt(this.lines[0] ?? this.partial)}`);
    this.detach(this.socket);
    const secure = await upgradeToTls(this.tcp, options, this.signal, what);
    // Our reader takes over before any I/O callback can run, so no data or error finds the socket unheard.
    this.attach(secure);
    this.socket = secure;
    return secure;
  }

  /**
   * QUIT and its reply. A clean end is part of a healthy server: a missing or odd answer fails
   * the probe like any other step.
   */
  quit(): Promise<SmtpReply> {
    return this.command('QUIT');
  }

  /**
   * Closes the connection; when `politely`, a QUIT goes first without waiting for its reply, so a
   * probe that failed on a refusal still ends the conversation the way a client should.
   */
  close(politely = false): void {
    this.signal.removeEventListener('abort', this.onAbort);
    const socket = this.socket;
    if (politely && !this.failed && !this.ended && socket.writable) {
      this.failed = { error: new ProbeFailure('internal', 'the session is closed') };
      // destroySoon: FIN after the QUIT is flushed, then the socket is freed.
      socket.end('QUIT\r\n');
      socket.destroySoon();
      socket.once('close', () => this.tcp.destroy());
      return;
    }
    this.failed ??= { error: new ProbeFailure('internal', 'the session is closed') };
    socket.destroy();
    this.tcp.destroy();
  }

  private async nextLine(midReply: boolean): Promise<string> {
    for (;;) {
      if (this.failed) throw this.failed.error;
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.ended) {
        const tail = this.partial === '' ? '' : `: ${excerpt(this.partial)}`;
        throw new ProbeFailure('protocol', midReply || this.partial !== '' ? `the server closed the connection in the middle of a reply${tail}` : 'the server closed the connection');
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  private readonly onData = (chunk: Buffer) => {
    this.partial += chunk.toString('latin1');
    for (let end = this.partial.indexOf('\n'); end !== -1; end = this.partial.indexOf('\n')) {
      const line = this.partial.slice(0, end).replace(/\r$/, '');
      this.partial = this.partial.slice(end + 1);
      if (line.length > MAX_REPLY_LINE_BYTES) return this.fail(new ProbeFailure('protocol', `a reply line longer than ${MAX_REPLY_LINE_BYTES} bytes`));
      this.lines.push(line);
      if (this.lines.length > MAX_REPLY_LINES) return this.fail(new ProbeFailure('protocol', `more than ${MAX_REPLY_LINES} reply lines unread`));
    }
    if (this.partial.length > MAX_REPLY_LINE_BYTES) return this.fail(new ProbeFailure('protocol', `a reply line longer than ${MAX_REPLY_LINE_BYTES} bytes`));
    this.wake?.();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.wake?.();
  };

  private readonly onError = (error: NodeJS.ErrnoException) => {
    const tlsError = /^ERR_SSL_|^ERR_TLS_/.test(error.code ?? '');
    this.fail(new ProbeFailure(tlsError ? 'tls' : 'connect', `${tlsError ? 'TLS' : 'connection'} error: ${error.code ? `${error.code}: ` : ''}${error.message}`));
  };

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Hands the socket to TLS: our reader must not take the handshake's bytes. An error still has a listener. */
  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onEnd);
    socket.off('error', this.onError);
    socket.on('error', () => undefined);
  }

  /** The first failure wins; the socket goes at once, so a flood or a stall costs nothing more. */
  private fail(reason: unknown): void {
    this.failed ??= { error: reason };
    this.socket.destroy();
    this.tcp.destroy();
    this.wake?.();
  }
}

/** A server's text, safe for a log line or a message: printable, and short. */
export function excerpt(text: string): string {
  const printable = text.replace(/[^\x20-\x7E]/g, '?');
  return printable.length > 120 ? `${printable.slice(0, 120)}...` : printable;
}

function describeCommand(shown: string): string {
  return (shown.split(' ', 1)[0] ?? '').toUpperCase();
}
