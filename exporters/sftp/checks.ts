/**
 * What the probe checks once logged in: the directory lists, a file makes the round trip, the
 * newest backup is fresh. Each throws a ProbeFailure; `assertion` ones leave the session usable.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { validatedSeconds } from '../../src/config/duration';
import { ProbeFailure } from '../../src/probe/failure';
import type { ProbeLog } from '../../src/probe/probe-log';
import { globMatches } from './glob';
import type { SftpMetrics } from './metrics';
import { SftpRefusal, type RemoteFiles } from './remote-files';
import type { SftpSettings } from './schema';

/** Small enough to cost nothing, large enough to span more than one SSH packet of a slow cipher. */
const ROUND_TRIP_BYTES = 4096;
const PROBE_FILE_PREFIX = '.checkpoint-probe-';
const PROBE_FILE_NAME = /^\.checkpoint-probe-[0-9a-f]{16}$/;
/** A probe file older than this was left by a probe that hit its deadline; no live probe runs that long. */
const LEFTOVER_AGE_SECONDS = 3600;
/** Bounds the cleanup one probe does, so a directory full of leftovers cannot eat its deadline. */
const MAX_LEFTOVERS_REMOVED = 10;

export interface CheckContext {
  files: RemoteFiles;
  metrics: SftpMetrics;
  log: ProbeLog;
  signal: AbortSignal;
}

export async function listDirectory({ files, metrics, log }: CheckContext, directory: string): Promise<void> {
  const entries = await metrics.phases.time('list', () => files.list(directory), { directory });
  metrics.directoryEntries(entries.length);
  log.info('Listed directory', { directory, entries: entries.length });
}

/**
 * Writes a small random file under a fresh name, reads it back, compares byte for byte, and
 * deletes it whatever happened, unless the deadline passed (the connection is gone then): such a
 * leftover is removed by a later round trip once it is an hour old.
 */
export async function roundTrip(context: CheckContext, directory: string): Promise<void> {
  const { files, metrics, log, signal } = context;
  const path = posix.join(directory, `${PROBE_FILE_PREFIX}${randomBytes(8).toString('hex')}`);
  const content = randomBytes(ROUND_TRIP_BYTES);
  /** The first failure, boxed so that whatever was thrown is thrown again as it came. */
  let failed: { error: unknown } | undefined;
  try {
    await metrics.phases.time('upload', () => files.create(path, content), { path, bytes: content.length });
    log.info('Uploaded file', { path, bytes: content.length });
    // One byte more than written, so that a longer file shows as different without being read whole.
    const readBack = await metrics.phases.time('download', () => files.read(path, content.length + 1), { path });
    if (!readBack.equals(content)) throw new ProbeFailure('assertion', `the ${readBack.length} bytes read back from ${path} differ from the ${content.length} written`);
    log.info('Read back the same bytes', { path, bytes: readBack.length });
  } catch (error) {
    failed = { error };
  }
  if (!signal.aborted) {
    try {
      await metrics.phases.time('delete', () => removeProbeFiles(context, directory, path), { path });
    } catch (error) {
      // A failed upload may have created nothing to delete; any other delete failure counts.
      const nothingToDelete = failed !== undefined && error instanceof SftpRefusal && error.status === 'NO_SUCH_FILE';
      if (!nothingToDelete) failed ??= { error };
    }
  }
  if (failed) throw failed.error;
}

async function removeProbeFiles({ files, log, signal }: CheckContext, directory: string, path: string): Promise<void> {
  await files.remove(path);
  log.info('Deleted file', { path });
  try {
    const now = Date.now() / 1000;
    const leftovers = (await files.list(directory)).filter((entry) => PROBE_FILE_NAME.test(entry.filename) && now - entry.attrs.mtime > LEFTOVER_AGE_SECONDS);
    for (const leftover of leftovers.slice(0, MAX_LEFTOVERS_REMOVED)) {
      const leftoverPath = posix.join(directory, leftover.filename);
      await files.remove(leftoverPath);
      log.info('Deleted a file an earlier probe left behind', { path: leftoverPath });
    }
  } catch (error) {
    // Cleaning up after earlier probes is a courtesy: it fails this probe only when the connection does.
    if (signal.aborted || !(error instanceof SftpRefusal)) throw error;
    log.warn('Could not clean up after earlier probes', { err: error.message });
  }
}

/**
 * The matching regular files as a backup set: the newest one's age, size and time and whether it
 * is too old or too small, how many there are, and the oldest one's age (retention pruning). Every
 * limit crossed is named in the one failure.
 */
export async function checkFreshness({ files, metrics, log }: CheckContext, freshness: NonNullable<SftpSettings['freshness']>): Promise<void> {
  const { directory, pattern } = freshness;
  const maxAgeSeconds = freshness.max_age === undefined ? undefined : validatedSeconds(freshness.max_age);
  const maxOldestAgeSeconds = freshness.max_oldest_age === undefined ? undefined : validatedSeconds(freshness.max_oldest_age);
  if (maxAgeSeconds !== undefined) metrics.maxAge(maxAgeSeconds);
  metrics.backupSetLimits({ minFiles: freshness.min_files, maxOldestAgeSeconds, minSizeBytes: freshness.min_size_bytes });
  const entries = await metrics.phases.time('freshness', () => files.list(directory), { directory, pattern });
  // Symbolic links are not followed: their own time says nothing about the file they point at.
  const matching = entries.filter((entry) => entry.attrs.isFile() && globMatches(pattern, entry.filename));
  metrics.matchingFiles(matching.length);
  if (matching.length === 0) throw new ProbeFailure('assertion', `no file in ${directory} matches ${pattern}`);
  const newest = matching.reduce((found, entry) => (entry.attrs.mtime > found.attrs.mtime ? entry : found));
  const oldest = matching.reduce((found, entry) => (entry.attrs.mtime < found.attrs.mtime ? entry : found));
  const now = Date.now() / 1000;
  const ageSeconds = now - newest.attrs.mtime;
  const oldestAgeSeconds = now - oldest.attrs.mtime;
  metrics.newestFile({ ageSeconds, mtimeSeconds: newest.attrs.mtime, sizeBytes: newest.attrs.size });
  metrics.oldestFile(oldestAgeSeconds);
  log.info('Matching files', {
    directory,
    pattern,
    file: newest.filename,
    age_seconds: Math.round(ageSeconds),
    size_bytes: newest.attrs.size,
    matching_files: matching.length,
    oldest: oldest.filename,
    oldest_age_seconds: Math.round(oldestAgeSeconds),
  });
  const problems: string[] = [];
  if (maxAgeSeconds !== undefined && ageSeconds > maxAgeSeconds) {
    problems.push(`the newest file matching ${pattern} in ${directory}, ${newest.filename}, is ${Math.round(ageSeconds)}s old, older than max_age ${freshness.max_age}`);
  }
  if (freshness.min_size_bytes !== undefined && newest.attrs.size < freshness.min_size_bytes) {
    problems.push(`the newest file matching ${pattern} in ${directory}, ${newest.filename}, is ${newest.attrs.size} bytes, smaller than min_size_bytes ${freshness.min_size_bytes}`);
  }
  if (freshness.min_files !== undefined && matching.length < freshness.min_files) {
    problems.push(`${matching.length} file(s) in ${directory} match ${pattern}, fewer than min_files ${freshness.min_files}`);
  }
  if (maxOldestAgeSeconds !== undefined && oldestAgeSeconds > maxOldestAgeSeconds) {
    problems.push(`the oldest file matching ${pattern} in ${directory}, ${oldest.filename}, is ${Math.round(oldestAgeSeconds)}s old, older than max_oldest_age ${freshness.max_oldest_age}`);
  }
  if (problems.length > 0) throw new ProbeFailure('assertion', problems.join('; '));
}
