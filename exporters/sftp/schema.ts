/**
 * The `sftp:` section of a module. Credentials are only ever files or environment variables;
 * the server's host key is pinned by fingerprint, or its check is switched off explicitly.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, IpProtocolKeys, StrictObject } from '../../src/config/schema-helpers';
import { SecretFile, SecretSource } from '../../src/config/secrets';

/** What `ssh-keygen -lf` prints for a key: SHA-256 of the key blob, base64 without padding (43 characters). */
export const FINGERPRINT_PATTERN = '^SHA256:[A-Za-z0-9+/]{43}$';

const Path = (description: string) => Type.String({ minLength: 1, description });

export const SftpSettingsSchema = StrictObject({
  username: Type.String({ minLength: 1 }),
  ...SecretSource('password', 'password'),
  private_key_file: Type.Optional(SecretFile({ description: 'OpenSSH or PEM private key file' })),
  ...SecretSource('passphrase', 'private key passphrase'),
  host_key_fingerprints: Type.Array(Type.String({ pattern: FINGERPRINT_PATTERN, patternMessage: 'must be a fingerprint as `ssh-keygen -lf` prints it: SHA256: and 43 base64 characters' }), {
    default: [],
    description: 'the host keys the server may present; more than one during a key rotation',
  }),
  insecure_skip_host_key_check: Type.Boolean({ default: false, description: 'accept any host key (no protection against a man in the middle)' }),
  ...IpProtocolKeys,
  directory: Type.String({ minLength: 1, default: '.', description: 'the directory listed on every probe; relative paths start at the login directory' }),
  max_entries: Type.Integer({ minimum: 1, default: 10000, description: 'a directory listing (directory, freshness, round_trip cleanup) with more entries fails the probe' }),
  round_trip: Type.Optional(
    StrictObject({
      directory: Path('where a small file is written, read back and deleted'),
    }),
  ),
  freshness: Type.Optional(
    StrictObject({
      directory: Path('the directory whose newest matching file is checked'),
      pattern: Type.String({ minLength: 1, description: 'shell glob on file names: *, ?, [abc], [!abc], [a-z]; a leading dot must be matched literally' }),
      max_age: Type.Optional(Duration({ description: 'the probe fails when the newest matching file is older' })),
      // A backup set, not only its newest file: retention keeps enough, prunes the old, writes no empty dump.
      min_files: Type.Optional(Type.Integer({ minimum: 1, description: 'the probe fails when fewer files match (retention deleting too much, or backups not running)' })),
      max_oldest_age: Type.Optional(Duration({ description: 'the probe fails when the oldest matching file is older (retention not pruning)' })),
      min_size_bytes: Type.Optional(Type.Integer({ minimum: 0, description: 'the probe fails when the newest matching file is smaller (an empty or truncated dump)' })),
    }),
  ),
});

export type SftpSettings = Static<typeof SftpSettingsSchema>;
