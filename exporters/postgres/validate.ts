/** The postgres rules a JSON Schema cannot say: one password source, a regexp that compiles, TLS keys that mean something. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { tlsConfigProblems } from '../../src/net/tls-config';
import { regexpProblem } from '../../src/config/regexp';
import { secretSourceProblems } from '../../src/config/secrets';
import type { PostgresSettings } from './schema';

export function validatePostgresSettings(settings: PostgresSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  problems.push(...secretSourceProblems(settings, 'password', path));
  if (settings.expect_regexp !== undefined) {
    const problem = regexpProblem(settings.expect_regexp);
    if (problem) problems.push({ path: [...path, 'expect_regexp'], message: problem });
  }
  if (settings.tls_config !== undefined) {
    if (settings.sslmode === 'disable') {
      problems.push({ path: [...path, 'tls_config'], message: 'tls_config has no effect with sslmode disable' });
    } else if (settings.tls_config.insecure_skip_verify && settings.sslmode !== 'require') {
      problems.push({ path: [...path, 'tls_config', 'insecure_skip_verify'], message: `insecure_skip_verify contradicts sslmode ${settings.sslmode} (use sslmode require to skip verification)` });
    }
    problems.push(...tlsConfigProblems(settings.tls_config, [...path, 'tls_config']));
  }
  return problems;
}
