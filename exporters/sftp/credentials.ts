/**
 * The login, read at every probe so a rotated password or key is picked up without a reload. A
 * file or variable that cannot be read, or a key that cannot be decrypted, fails with `config`;
 * the messages are ours, never a library's, so no secret can slip into them.
 */
import { utils, type ParsedKey } from 'ssh2';
import { readConfigFile, readSecret } from '../../src/probe/config-files';
import { ProbeFailure } from '../../src/probe/failure';
import type { SftpSettings } from './schema';

export interface Credentials {
  username: string;
  password?: string;
  privateKey?: ParsedKey;
}

export async function readCredentials(settings: SftpSettings): Promise<Credentials> {
  const password = await readSecret(settings, 'password');
  if (settings.private_key_file === undefined) return { username: settings.username, password };
  const keyText = await readConfigFile(settings.private_key_file, 'private_key_file');
  const passphrase = await readSecret(settings, 'passphrase');
  return { username: settings.username, password, privateKey: parsePrivateKey(keyText, passphrase, settings.private_key_file) };
}

function parsePrivateKey(text: Buffer, passphrase: string | undefined, file: string): ParsedKey {
  const parsed = utils.parseKey(text, passphrase);
  // An OpenSSH file holds one key; ssh2 returns it in a list.
  const key = Array.isArray(parsed) ? (parsed as ParsedKey[])[0] : parsed;
  if (key instanceof Error || key === undefined || !key.isPrivateKey()) {
    // ssh2's message is only read to tell the cases apart, never passed on.
    const missingPassphrase = key instanceof Error && /no passphrase given/.test(key.message);
    const why = missingPassphrase
      ? 'is encrypted and neither passphrase_file nor passphrase_env is set'
      : passphrase === undefined
        ? 'is not a private key ssh2 can read'
        : 'cannot be decrypted with the passphrase, or is not a private key';
    throw new ProbeFailure('config', `private_key_file ${file} ${why}`);
  }
  return key;
}
