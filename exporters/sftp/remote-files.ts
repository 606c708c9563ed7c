/**
 * The few sftp requests the probe makes, as promises that end at the deadline. A request the
 * server answers with a refusal (no such file, permission denied, failure) is an `assertion`: the
 * server works, the state of its files is what the module did not expect. Anything else (the
 * channel broke, a status the protocol did not foresee) is `protocol`.
 */
import type { FileEntryWithStats, SFTPWrapper } from 'ssh2';
import { abortable } from '../../src/probe/abortable';
import { ProbeFailure } from '../../src/probe/failure';
import type { SshSession } from './ssh-session';

/** SSH_FX_* status codes of SFTP version 3 (draft-ietf-secsh-filexfer-02, 7). */
const STATUS_NAMES: Record<number, string> = {
  1: 'EOF',
  2: 'NO_SUCH_FILE',
  3: 'PERMISSION_DENIED',
  4: 'FAILURE',
  5: 'BAD_MESSAGE',
  6: 'NO_CONNECTION',
  7: 'CONNECTION_LOST',
  8: 'OP_UNSUPPORTED',
};
const REFUSALS = new Set([2, 3, 4]);

/** The server refused a request; `status` is its SSH_FX_* name. */
export class SftpRefusal extends ProbeFailure {
  constructor(
    readonly status: string,
    message: string,
  ) {
    super('assertion', message);
  }
}

type Callback<T> = (error: (Error & { code?: unknown }) | null | undefined, value: T) => void;

export class RemoteFiles {
  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly session: SshSession,
    private readonly signal: AbortSignal,
  ) {}

  list(directory: string): Promise<FileEntryWithStats[]> {
    return this.request(`list ${directory}`, (done: Callback<FileEntryWithStats[]>) => this.sftp.readdir(directory, done));
  }

  /** Creates `path` (never overwrites: the open is exclusive) with `data`, readable by its owner only. */
  create(path: string, data: Buffer): Promise<void> {
    return this.request(`upload ${path}`, (done: Callback<void>) => this.sftp.writeFile(path, data, { flag: 'wx', mode: 0o600 }, (error) => done(error, undefined)));
  }

  read(path: string): Promise<Buffer> {
    return this.request(`read ${path}`, (done: Callback<Buffer>) => this.sftp.readFile(path, done));
  }

  remove(path: string): Promise<void> {
    return this.request(`delete ${path}`, (done: Callback<void>) => this.sftp.unlink(path, (error) => done(error, undefined)));
  }

  private request<T>(what: string, start: (done: Callback<T>) => void): Promise<T> {
    const answer = new Promise<T>((resolve, reject) => {
      start((error, value) => {
        if (!error) return resolve(value);
        const status = typeof error.code === 'number' ? STATUS_NAMES[error.code] : undefined;
        if (status && REFUSALS.has(error.code as number)) return reject(new SftpRefusal(status, `${what}: ${status}`));
        // Without a status the channel or the connection broke: the session knows why.
        reject(this.session.explain(new ProbeFailure('protocol', `${what}: ${status ?? error.message}`)));
      });
    });
    return abortable(answer, this.signal);
  }
}
