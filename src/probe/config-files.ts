/**
 * Files and environment variables a module points at (secrets, CA files, request bodies), read
 * at every probe so that rotated secrets and certificates are picked up without a reload. A file
 * that cannot be read fails the probe with the reason `config`; a secret's content never reaches
 * a message or a log.
 */
import { readFile } from 'node:fs/promises';
import { ProbeFailure } from './failure';
import type { SecretSourceOf } from '../config/secrets';

export async function readConfigFile(file: string, key: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ProbeFailure('config', `cannot read ${key} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** A secret file's content without the trailing newline editors add. */
export async function readSecretFile(file: string, key: string): Promise<string> {
  return (await readConfigFile(file, key)).toString('utf8').trim();
}

/**
 * The secret of a section's `SecretSource` pair `name` (`<name>_file` or `<name>_env`, at most one
 * set); undefined when neither is. `key` is where the pair sits, for the message (`auth.password`).
 */
export async function readSecret<Name extends string>(section: SecretSourceOf<Name>, name: Name, key: string = name): Promise<string | undefined> {
  const file = section[`${name}_file`];
  if (file !== undefined) return readSecretFile(file, `${key}_file`);
  const env = section[`${name}_env`];
  if (env !== undefined) {
    const value = process.env[env];
    if (value === undefined) throw new ProbeFailure('config', `environment variable ${env} (${key}_env) is not set`);
    return value;
  }
  return undefined;
}
