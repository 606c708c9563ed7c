/** Where the default config lives: config/checkpoint.yml at the package root, used when --config.file is not given. */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_CONFIG_RELATIVE = path.join('config', 'checkpoint.yml');

/** Walks up from this file, so the path is right from src/ under ts-jest and from dist/src/ alike. */
export function defaultConfigFile(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, DEFAULT_CONFIG_RELATIVE);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(DEFAULT_CONFIG_RELATIVE);
  }
}
