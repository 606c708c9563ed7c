/**
 * Files and environment variables a module points at (secrets, CA files, request bodies), read
 * at every probe so that rotated secrets and certificates are picked up without a reload. A file
 * that cannot be read fails the probe with the reason `config`; a secret's content never reaches
 * a message or a log.
 */
import { readFile } from 'node:fs/promises';
import { ProbeFailure } from './failure';

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
 * A secret given as `<name>_file` or `<name>_env` (the schema allows at most one); undefined when
 * neither is set. `key` is the setting's path, for the message.
 */
export async function readSecret(source: { file?: string; env?: string }, key: string): Promise<string | undefined> {
  if (source.file !== undefined) return readSecretFile(source.file, `${key}_file`);
  if (source.env !== undefined) {
    const value = process.env[source.env];
    if (value === undefined) throw new ProbeFailure('config', `environment variable ${source.env} (${key}_env) is not set`);
    return value;
  }
  return undefined;
}
