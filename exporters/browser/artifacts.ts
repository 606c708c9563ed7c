/**
 * Screenshots and traces of failed journeys, kept in a directory of their own under a size and
 * age limit: after each write the oldest files go first. Names carry the time, the target's host
 * and the step, never a path or parameter of the target (which may hold tokens).
 */
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validatedSeconds } from '../../src/config/duration';
import type { BrowserSettings } from './schema';

export const DEFAULT_ARTIFACTS_DIR = path.join(os.tmpdir(), 'checkpoint-browser-artifacts');

export class ArtifactStore {
  readonly dir: string;

  constructor(private readonly settings: BrowserSettings['artifacts']) {
    this.dir = settings.dir ?? DEFAULT_ARTIFACTS_DIR;
  }

  /** A path for a new artifact; the directory exists (only for its owner: failed pages may show personal data). */
  async pathFor(target: URL, step: string, extension: 'png' | 'zip'): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const time = new Date().toISOString().replace(/[:.]/g, '-');
    const host = target.host.replace(/[^A-Za-z0-9.-]/g, '_');
    const unique = Math.random().toString(36).slice(2, 8);
    return path.join(this.dir, `${time}-${host}-${step}-${unique}.${extension}`);
  }

  /** Deletes files past max_age, then the oldest until the directory fits max_bytes. */
  async prune(): Promise<void> {
    const maxAgeMs = validatedSeconds(this.settings.max_age) * 1000;
    const files = [];
    for (const name of await readdir(this.dir).catch(() => [])) {
      const file = path.join(this.dir, name);
      // Another probe may prune the same directory at the same moment.
      const info = await stat(file).catch(() => undefined);
      if (info?.isFile()) files.push({ file, size: info.size, mtime: info.mtimeMs });
    }
    files.sort((a, b) => a.mtime - b.mtime);
    let total = files.reduce((sum, entry) => sum + entry.size, 0);
    const now = Date.now();
    for (const entry of files) {
      if (now - entry.mtime <= maxAgeMs && total <= this.settings.max_bytes) break;
      await unlink(entry.file).catch(() => undefined);
      total -= entry.size;
    }
  }
}
