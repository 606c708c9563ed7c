/** A problem found in a config file, and the error that carries all of them at once. */
export type ConfigPath = (string | number)[];

export interface ConfigProblem {
  path: ConfigPath;
  message: string;
  /** Point at the key itself rather than its value (unknown keys, duplicates). */
  atKey?: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export function dottedPath(path: ConfigPath): string {
  return path.map(String).join('.');
}
