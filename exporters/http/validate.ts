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
  problems.push(...authProblems(settings, path));
  problems.push(...mutuallyExclusive(settings, ['body', 'body_file'], [...path, 'body_file']));
  problems.push(...tlsConfigProblems(settings.tls_config, [...path, 'tls_config']));
  return problems;
}

/** blackbox_exporter's (Prometheus common's) rules: one way to authenticate, each with one secret source. */
function authProblems(settings: HttpSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const methods = (['basic_auth', 'bearer_token', 'bearer_token_file', 'authorization', 'oauth2'] as const).filter((key) => settings[key] !== undefined);
  const last = methods[methods.length - 1];
  if (methods.length > 1 && last)
    problems.push({ path: [...path, last], message: `at most one of basic_auth, bearer_token, bearer_token_file, authorization and oauth2 may be set (set: ${methods.join(', ')})` });
  const { authorization, oauth2 } = settings;
  if (authorization) {
    problems.push(...mutuallyExclusive(authorization, ['credentials', 'credentials_file'], [...path, 'authorization']));
    if (authorization.type.toLowerCase() === 'basic') problems.push({ path: [...path, 'authorization', 'type'], message: 'cannot be "Basic": use basic_auth instead' });
  }
  if (oauth2) {
    problems.push(...mutuallyExclusive(oauth2, ['client_secret', 'client_secret_file'], [...path, 'oauth2']));
    if (oauth2.client_secret === undefined && oauth2.client_secret_file === undefined) problems.push({ path: [...path, 'oauth2'], message: 'one of client_secret and client_secret_file must be set' });
    problems.push(...tlsConfigProblems(oauth2.tls_config, [...path, 'oauth2', 'tls_config']));
  }
  if (settings.proxy_connect_header && !settings.proxy_url) problems.push({ path: [...path, 'proxy_connect_header'], message: 'needs proxy_url: it is sent only in the CONNECT request to the proxy' });
  for (const [where, proxyUrl] of [
    [[...path, 'proxy_url'], settings.proxy_url],
    [[...path, 'oauth2', 'proxy_url'], oauth2?.proxy_url],
  ] as const) {
    if (proxyUrl !== undefined && !URL.canParse(proxyUrl))
      problems.push({ path: [...where], message: 'is not a URL (http://host:port, with user:password@ before the host if the proxy asks for a login)' });
  }
  return problems;
}
