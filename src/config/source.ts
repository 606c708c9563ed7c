/**
 * Where a checkpoint's config comes from: a file on disk (`--config.file`), or a signed config
 * pulled from the central place (`--config.url`, url-source.ts). The checkpoint asks its source
 * at start, at each reload and, for a URL, at each poll; it swaps the running config only for
 * one its source accepted.
 */
import { loadConfigFile } from './load';
import type { CheckpointConfig } from './schema';
import type { SignatureProblem } from './signature';
import type { ProberTable } from '../probe/prober-table';

/** A config to run, with what the log says about it; or `changed: false`, nothing new. */
export type ConfigLoad = { changed: true; config: CheckpointConfig; details: Record<string, string | number> } | { changed: false };

/** Why a config was refused: checkpoint_config_rejected_total's `reason`. */
export type RejectReason = 'invalid_config' | 'replay' | SignatureProblem;

/** A config that was there and was refused; the running one stays. */
export class ConfigRejected extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

/** A config that could not be fetched (the central place down, a timeout, a 500): nothing to judge. */
export class ConfigUnavailable extends Error {}

export interface ConfigSource {
  /** The file or URL, for the log. */
  readonly location: string;
  load(): Promise<ConfigLoad>;
}

export function fileSource(file: string, probers: ProberTable): ConfigSource {
  return {
    location: file,
    // A ConfigError (the file's problems, each at its line) is the checkpoint's to count as invalid_config.
    load: async () => ({ changed: true, config: await loadConfigFile(file, probers), details: { file } }),
  };
}
