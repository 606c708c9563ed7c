/** The sftp rules a JSON Schema cannot say: one way to each secret, some way to log in, a host key policy, a glob that compiles. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { secretSourceProblems } from '../../src/config/secrets';
import { globProblem } from './glob';
import type { SftpSettings } from './schema';

export function validateSftpSettings(settings: SftpSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (key: string, message: string) => problems.push({ path: [...path, key], message });
  problems.push(...secretSourceProblems(settings, 'password', path));
  problems.push(...secretSourceProblems(settings, 'passphrase', path));
  const hasPassphrase = settings.passphrase_file !== undefined || settings.passphrase_env !== undefined;
  if (hasPassphrase && settings.private_key_file === undefined) at(settings.passphrase_file !== undefined ? 'passphrase_file' : 'passphrase_env', 'a passphrase needs private_key_file');
  if (settings.password_file === undefined && settings.password_env === undefined && settings.private_key_file === undefined) {
    problems.push({ path, message: 'no credentials: set password_file, password_env or private_key_file' });
  }
  // No trust on first use: a checkpoint that accepted whatever key it saw would not notice a man in the middle.
  if (settings.host_key_fingerprints.length === 0 && !settings.insecure_skip_host_key_check) {
    problems.push({ path, message: "no host key pinned: set host_key_fingerprints (ssh-keygen -lf on the server's host key), or insecure_skip_host_key_check: true" });
  }
  // Both keys always have a value (their defaults), so this is not mutuallyExclusive's "both set".
  if (settings.host_key_fingerprints.length > 0 && settings.insecure_skip_host_key_check) {
    at('insecure_skip_host_key_check', 'host_key_fingerprints and insecure_skip_host_key_check are mutually exclusive');
  }
  if (settings.freshness) {
    const problem = globProblem(settings.freshness.pattern);
    if (problem) problems.push({ path: [...path, 'freshness', 'pattern'], message: problem });
  }
  return problems;
}
