/**
 * The sftp probe's metrics. The phase durations are registered up front (at 0) so a failed probe
 * still shows every phase and the broken one is the last that grew; every other series is a fact
 * and appears only once it was measured, so a probe that never listed its directory does not
 * claim an empty one.
 */
import type { ProbeRegistry } from '../../src/probe/probe-registry';
import { createAddressMetrics } from '../../src/net/address-metrics';
import type { PhaseTimer } from '../../src/probe/phases';

export const SFTP_PHASES = ['resolve', 'connect', 'handshake', 'auth', 'subsystem', 'list', 'upload', 'download', 'delete', 'freshness'] as const;
export type SftpPhase = (typeof SFTP_PHASES)[number];

export interface NewestFile {
  ageSeconds: number;
  mtimeSeconds: number;
  sizeBytes: number;
}

/** `phases` is the probe's timer of SFTP_PHASES (`probe.phases`), which the checks and the session time themselves with. */
export function createSftpMetrics(registry: ProbeRegistry, phases: PhaseTimer<SftpPhase>) {
  return {
    phases,
    address: createAddressMetrics(registry),
    serverVersion(version: string) {
      registry.gauge('probe_sftp_server_info', "The server's SSH identification string", ['version']).labels(version).set(1);
    },
    hostKey(type: string, fingerprint: string) {
      registry.gauge('probe_sftp_host_key_info', 'The host key the server presented, pinned or not', ['type', 'fingerprint_sha256']).labels(type, fingerprint).set(1);
    },
    directoryEntries(count: number) {
      registry.gauge('probe_sftp_directory_entries', 'Entries in the listed directory, without . and ..').set(count);
    },
    matchingFiles(count: number) {
      registry.gauge('probe_sftp_matching_files', 'Regular files in the freshness directory whose name matches the pattern').set(count);
    },
    maxAge(seconds: number) {
      registry.gauge('probe_sftp_newest_file_max_age_seconds', "The module's freshness.max_age").set(seconds);
    },
    backupSetLimits(limits: { minFiles?: number; maxOldestAgeSeconds?: number; minSizeBytes?: number }) {
      if (limits.minFiles !== undefined) registry.gauge('probe_sftp_min_files', "The module's freshness.min_files").set(limits.minFiles);
      if (limits.maxOldestAgeSeconds !== undefined) registry.gauge('probe_sftp_oldest_file_max_age_seconds', "The module's freshness.max_oldest_age").set(limits.maxOldestAgeSeconds);
      if (limits.minSizeBytes !== undefined) registry.gauge('probe_sftp_newest_file_min_size_bytes', "The module's freshness.min_size_bytes").set(limits.minSizeBytes);
    },
    oldestFile(ageSeconds: number) {
      registry.gauge('probe_sftp_oldest_file_age_seconds', 'Age of the oldest matching file by its modification time, as seen by the checkpoint clock').set(ageSeconds);
    },
    newestFile(file: NewestFile) {
      registry.gauge('probe_sftp_newest_file_age_seconds', 'Age of the newest matching file by its modification time, as seen by the checkpoint clock').set(file.ageSeconds);
      registry.gauge('probe_sftp_newest_file_timestamp_seconds', 'Modification time of the newest matching file in unixtime').set(file.mtimeSeconds);
      registry.gauge('probe_sftp_newest_file_size_bytes', 'Size of the newest matching file').set(file.sizeBytes);
    },
  };
}

export type SftpMetrics = ReturnType<typeof createSftpMetrics>;
