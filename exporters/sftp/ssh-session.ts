/**
 * One SSH connection over a socket the prober opened (so resolve and connect are timed apart):
 * the handshake with the host key check, the login, and the sftp channel. ssh2 reports trouble
 * as events; this turns each into a ProbeFailure with its reason, and makes every wait end at the
 * deadline, which destroys the socket.
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Client, type AuthenticationType, type NegotiatedAlgorithms, type SFTPWrapper } from 'ssh2';
import { abortable } from '../../src/probe/abortable';
import { ProbeFailure } from '../../src/probe/failure';
import type { ProbeLog } from '../../src/probe/probe-log';
import type { Credentials } from './credentials';
import { describeHostKey, type HostKey } from './host-key';
import type { SftpMetrics } from './metrics';

/** RFC 4253 4.2 allows lines before the identification; a server that sends this much without one is not SSH. */
const MAX_BYTES_BEFORE_IDENT = 8192;

export interface HostKeyPolicy {
  /** Empty when `insecure_skip_host_key_check` is set. */
  pinned: string[];
}

export interface SessionRequest {
  socket: Socket;
  credentials: Credentials;
  hostKeys: HostKeyPolicy;
  signal: AbortSignal;
  log: ProbeLog;
  metrics: SftpMetrics;
}

type AuthMethod = { type: 'publickey'; username: string; key: NonNullable<Credentials['privateKey']> } | { type: 'password'; username: string; password: string };

export class SshSession {
  private readonly client = new Client();
  /** What the server showed before its identification (or instead of it), for the message when it is not SSH. */
  private received = Buffer.alloc(0);
  private rejectedKey: HostKey | undefined;
  private readonly triedMethods: string[] = [];
  private acceptedMethods: string[] | undefined;
  /** The first failure ssh2 reported, translated; the session is unusable after it. */
  private failure: ProbeFailure | undefined;
  private readonly onAbort = () => this.request.socket.destroy();

  private constructor(private readonly request: SessionRequest) {
    // ssh2 emits 'error' at any time, also between our waits; an unheard 'error' would crash the process.
    this.client.on('error', (error: Error & { level?: string }) => {
      this.failure ??= this.translate(error);
    });
    request.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Handshake and login, timed as the phases `handshake` and `auth`. */
  static async open(request: SessionRequest): Promise<SshSession> {
    const session = new SshSession(request);
    try {
      await session.handshake();
      await session.authenticate();
      return session;
    } catch (error) {
      session.close();
      throw error;
    }
  }

  /** Opens the sftp subsystem channel (phase `subsystem`). */
  async sftp(): Promise<SFTPWrapper> {
    const { metrics, log } = this.request;
    const sftp = await metrics.phases.time('subsystem', () =>
      this.guard(
        new Promise<SFTPWrapper>((resolve, reject) =>
          this.client.sftp((error, channel) => (error ? reject(this.failure ?? new ProbeFailure('protocol', `the server did not open the sftp subsystem: ${error.message}`)) : resolve(channel))),
        ),
      ),
    );
    // Like the client, the channel may report errors between requests.
    sftp.on('error', (error: Error) => {
      this.failure ??= new ProbeFailure('protocol', `sftp channel: ${error.message}`);
    });
    log.info('Opened sftp subsystem');
    return sftp;
  }

  /**
   * Why a request on this session failed: the session's own failure when ssh2 reported one (the
   * connection broke), else `fallback`.
   */
  explain(fallback: ProbeFailure): ProbeFailure {
    return this.failure ?? fallback;
  }

  /**
   * Ends the connection and frees the socket now. Before the deadline the server gets an SSH
   * disconnect and a FIN; at the deadline the socket was already destroyed.
   */
  close(): void {
    const { socket, signal } = this.request;
    signal.removeEventListener('abort', this.onAbort);
    if (signal.aborted || socket.destroyed) {
      socket.destroy();
      return;
    }
    this.client.end();
    // Closes the socket once the disconnect is written, without waiting for the server's answer.
    socket.destroySoon();
  }

  private async handshake(): Promise<void> {
    const { socket, credentials, metrics, log } = this.request;
    const negotiated = await metrics.phases.time('handshake', () => {
      const methods = this.authMethods(credentials);
      this.client.connect({
        sock: socket,
        username: credentials.username,
        // The deadline ends every wait; ssh2's own timer (20 s by default) would only compete with it.
        readyTimeout: 0,
        hostVerifier: (blob: Buffer) => this.verifyHostKey(blob),
        authHandler: (methodsLeft: AuthenticationType[] | null, partialSuccess: boolean | null) => this.nextAuthMethod(methods, methodsLeft, partialSuccess === true),
      });
      // ssh2 paused the socket and resumes it with its own reader: this one only sees the same bytes.
      socket.on('data', this.watchIdentification);
      return this.next<NegotiatedAlgorithms>('handshake');
    });
    log.info('SSH handshake done', { kex: negotiated.kex, host_key_algorithm: negotiated.serverHostKey, cipher: negotiated.cs.cipher, mac: negotiated.cs.mac || 'implicit' });
  }

  private async authenticate(): Promise<void> {
    const { credentials, metrics, log } = this.request;
    await metrics.phases.time('auth', () => this.next('ready'), { username: credentials.username });
    log.info('Authenticated', { username: credentials.username, method: this.triedMethods.at(-1) });
  }

  private authMethods(credentials: Credentials): AuthMethod[] {
    const methods: AuthMethod[] = [];
    if (credentials.privateKey) methods.push({ type: 'publickey', username: credentials.username, key: credentials.privateKey });
    if (credentials.password !== undefined) methods.push({ type: 'password', username: credentials.username, password: credentials.password });
    return methods;
  }

  /** ssh2's auth handler: the next configured method, or false when none is left. */
  private nextAuthMethod(methods: AuthMethod[], methodsLeft: AuthenticationType[] | null, partialSuccess: boolean): AuthMethod | false {
    // The first call comes before any attempt, without a list; later ones follow the server's answer.
    if (methodsLeft) {
      this.acceptedMethods = methodsLeft;
      const answer = partialSuccess ? 'Server accepted the last method and asks for another' : 'Server refused the last method';
      this.request.log.info(answer, { method: this.triedMethods.at(-1), server_accepts: methodsLeft.join(',') });
    }
    const method = methods.shift();
    if (!method) return false;
    this.triedMethods.push(method.type);
    this.request.log.info('Trying authentication method', { method: method.type, username: method.username });
    return method;
  }

  private verifyHostKey(blob: Buffer): boolean {
    const { hostKeys, metrics, log } = this.request;
    const key = describeHostKey(blob);
    metrics.hostKey(key.type, key.fingerprint);
    const pinned = hostKeys.pinned.includes(key.fingerprint);
    log.info('Server host key', { type: key.type, fingerprint_sha256: key.fingerprint, pinned: hostKeys.pinned.length === 0 ? 'not checked' : pinned });
    if (hostKeys.pinned.length > 0 && !pinned) this.rejectedKey = key;
    return this.rejectedKey === undefined;
  }

  private readonly watchIdentification = (chunk: Buffer) => {
    this.received = Buffer.concat([this.received, chunk]);
    const lines = this.received.toString('latin1').split('\n').slice(0, -1);
    const identification = lines.map((line) => line.replace(/\r$/, '')).find((line) => line.startsWith('SSH-'));
    if (identification) {
      this.request.metrics.serverVersion(identification);
      this.request.log.info('Server identification', { version: identification });
    }
    if (identification || this.received.length > MAX_BYTES_BEFORE_IDENT) this.request.socket.off('data', this.watchIdentification);
  };

  /** Resolves on ssh2's `event`; rejects when ssh2 reports an error, the connection closes, or the deadline passes. */
  private next<T = void>(event: 'handshake' | 'ready'): Promise<T> {
    return this.guard(
      new Promise<T>((resolve, reject) => {
        // ssh2's typings overload `on` per event name; the plain EventEmitter signature serves all three.
        const events: EventEmitter = this.client;
        const settle = (outcome: () => void) => () => {
          events.off(event, onEvent).off('error', onError).off('close', onClose);
          outcome();
        };
        const onEvent = (value: T) => settle(() => resolve(value))();
        const onError = (error: Error & { level?: string }) => settle(() => reject(this.failure ?? this.translate(error)))();
        const onClose = settle(() => reject(this.failure ?? new ProbeFailure('protocol', `the server closed the connection before the ${event === 'handshake' ? 'SSH handshake' : 'login'} was done`)));
        events.on(event, onEvent).on('error', onError).on('close', onClose);
      }),
    );
  }

  /** `work`, ending at the deadline (the abort listener has already destroyed the socket then). */
  private guard<T>(work: Promise<T>): Promise<T> {
    return abortable(work, this.request.signal);
  }

  private translate(error: Error & { level?: string; code?: string | number }): ProbeFailure {
    if (this.rejectedKey) {
      return new ProbeFailure(
        'host_key',
        `host key ${this.rejectedKey.fingerprint} (${this.rejectedKey.type}) is not one of the pinned host_key_fingerprints: the server's key changed, or someone is in the middle`,
      );
    }
    if (error.level === 'client-authentication') {
      const accepts = this.acceptedMethods ? `; it accepts ${this.acceptedMethods.join(', ')}` : '';
      return new ProbeFailure('auth', `the server refused user ${this.request.credentials.username} (tried ${this.triedMethods.join(', ') || 'no method'}${accepts})`);
    }
    const text = this.received.toString('latin1');
    if (!/^SSH-|\nSSH-/.test(text)) {
      const firstLine = (text.split('\n', 1)[0] ?? '').replace(/\r$/, '').slice(0, 80);
      return new ProbeFailure('protocol', firstLine ? `the server did not identify as SSH; it sent ${JSON.stringify(firstLine)}` : 'the server closed the connection without identifying as SSH');
    }
    if (error.level === 'client-socket') return new ProbeFailure('protocol', `the connection failed: ${error.code ?? error.message}`);
    return new ProbeFailure('protocol', `SSH: ${error.message}`);
  }
}
