/** The http rules a JSON Schema cannot say: regexes must compile, auth methods and body sources must not clash. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { mutuallyExclusive } from '../../src/config/rules';
import { tlsConfigProblems } from '../../src/net/tls-config';
import { regexpProblem } from '../../src/config/regexp';
import type { HttpSettings } from './schema';

export function validateHttpSettings(settings: HttpSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const regexes: [ConfigPath, string][] = [
    ...settings.fail_if_body_matches_regexp.map((pattern, index): [ConfigPath, string] => [['fail_if_body_matches_regexp', index], pattern]),
    ...settings.fail_if_body_not_matches_regexp.map((pattern, index): [ConfigPath, string] => [['fail_if_body_not_matches_regexp', index], pattern]),
    ...settings.fail_if_header_matches.map((rule, index): [ConfigPath, string] => [['fail_if_header_matches', index, 'regexp'], rule.regexp]),
    ...settings.fail_if_header_not_matches.map((rule, index): [ConfigPath, string] => [['fail_if_header_not_matches', index, 'regexp'], rule.regexp]),
  ];
  for (const [where, pattern] of regexes) {
    const problem = regexpProblem(pattern);
    if (problem) problems.push({ path: [...path, ...where], message: problem });
  }
  if (settings.basic_auth) problems.push(...mutuallyExclusive(settings.basic_auth, ['password', 'password_file'], [...path, 'basic_auth']));
  problems.push(...mutuallyExclusive(settings, ['basic_auth', 'bearer_token_file'], [...path, 'bearer_token_file']));
  problems.push(...mutuallyExclusive(settings, ['body', 'body_file'], [...path, 'body_file']));
  problems.push(...tlsConfigProblems(settings.tls_config, [...path, 'tls_config']));
  return problems;
}
