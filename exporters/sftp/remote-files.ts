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
const SSH_FX_EOF = 1;

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
    /** The most entries a listing may have: the server decides how many it sends, and each is held. */
    private readonly maxEntries: number,
  ) {}

  /**
   * The directory's entries, read one READDIR answer (one packet, at most 256 KiB) at a time and
   * refused as soon as there are more than maxEntries. ssh2's readdir(path) would gather them all.
   */
  async list(directory: string): Promise<FileEntryWithStats[]> {
    const what = `list ${directory}`;
    const handle = await this.request(what, (done: Callback<Buffer>) => this.sftp.opendir(directory, done));
    try {
      const entries: FileEntryWithStats[] = [];
      for (;;) {
        const batch = await this.request(what, (done: Callback<FileEntryWithStats[] | undefined>) =>
          this.sftp.readdir(handle, (error, list) => (error && (error as { code?: unknown }).code === SSH_FX_EOF ? done(null, undefined) : done(error, list))),
        );
        if (batch === undefined) return entries;
        entries.push(...batch);
        if (entries.length > this.maxEntries) throw new ProbeFailure('assertion', `${what}: more than max_entries (${this.maxEntries}) entries`);
      }
    } finally {
      await this.close(directory, handle);
    }
  }

  /** Creates `path` (never overwrites: the open is exclusive) with `data`, readable by its owner only. */
  create(path: string, data: Buffer): Promise<void> {
    return this.request(`upload ${path}`, (done: Callback<void>) => this.sftp.writeFile(path, data, { flag: 'wx', mode: 0o600 }, (error) => done(error, undefined)));
  }

  /** At most `maxBytes` of the file: ssh2's readFile would allocate whatever size the server says the file has. */
  async read(path: string, maxBytes: number): Promise<Buffer> {
    const what = `read ${path}`;
    const handle = await this.request(what, (done: Callback<Buffer>) => this.sftp.open(path, 'r', done));
    try {
      const buffer = Buffer.alloc(maxBytes);
      let filled = 0;
      while (filled < maxBytes) {
        const bytes = await this.request(what, (done: Callback<number>) => this.sftp.read(handle, buffer, filled, maxBytes - filled, filled, (error, count) => done(error, count)));
        if (bytes === 0) break;
        filled += bytes;
      }
      return buffer.subarray(0, filled);
    } finally {
      await this.close(path, handle);
    }
  }

  remove(path: string): Promise<void> {
    return this.request(`delete ${path}`, (done: Callback<void>) => this.sftp.unlink(path, (error) => done(error, undefined)));
  }

  /** Frees the server's handle; a broken connection or the deadline has freed it already. */
  private async close(path: string, handle: Buffer): Promise<void> {
    if (this.signal.aborted) return;
    await this.request(`close ${path}`, (done: Callback<void>) => this.sftp.close(handle, (error) => done(error, undefined))).catch(() => undefined);
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
