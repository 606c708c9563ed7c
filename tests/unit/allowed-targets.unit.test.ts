/** Which targets and hosts a restricted module may reach: the rules of allowed_targets, and who is restricted. */
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { parseRule, targetPolicies, TargetPolicy } from '../../src/security/allowed-targets';
import { stringContaining } from '../support/matchers';

function policy(entries: string[], monitors: { target: string; host?: string }[] = []): TargetPolicy {
  const rules = entries.map((entry) => {
    const rule = parseRule(entry);
    if ('problem' in rule) throw new Error(rule.problem);
    return rule;
  });
  return new TargetPolicy('m', 'secret', monitors, rules);
}

test.each([
  // entries, target, its host, allowed
  [['intranet.example'], 'https://intranet.example/x', 'intranet.example', true],
  [['Intranet.Example.'], 'https://intranet.example/x', 'INTRANET.example', true],
  [['intranet.example'], 'https://evil.example/', 'evil.example', false],
  [['intranet.example'], 'https://intranet.example.evil.test/', 'intranet.example.evil.test', false],
  [['*.corp.example'], 'db.corp.example:5432', 'db.corp.example', true],
  [['*.corp.example'], 'a.b.corp.example:5432', 'a.b.corp.example', true],
  [['*.corp.example'], 'corp.example:5432', 'corp.example', false],
  [['*.corp.example'], 'evilcorp.example:5432', 'evilcorp.example', false],
  [['10.0.0.0/8'], 'http://10.1.2.3/', '10.1.2.3', true],
  [['10.0.0.0/8'], 'http://11.1.2.3/', '11.1.2.3', false],
  // A CIDR admits addresses, never a name that may resolve into it.
  [['10.0.0.0/8'], 'http://db.corp.example/', 'db.corp.example', false],
  [['fd00::/8'], 'http://[fd12::1]/', 'fd12::1', true],
  [['::1'], 'http://[::1]:8080/', '::1', true],
  [['https://intranet.example/app/'], 'https://intranet.example/app/health', 'intranet.example', true],
  [['https://intranet.example/app/'], 'https://intranet.example/admin', 'intranet.example', false],
  [['https://intranet.example/app/'], 'http://intranet.example/app/health', 'intranet.example', false],
  // Containers have no host: only exact monitor targets and URL prefixes could admit them.
  [['*.corp.example'], 'shop-web', undefined, false],
])('%j admits %s: %p', (entries, target, host, expected) => {
  expect(policy(entries).allowsTarget(target, host)).toBe(expected);
});

test('a monitor admits exactly its own target, and its host for redirects', () => {
  const restricted = policy([], [{ target: 'https://intranet.example/login', host: 'intranet.example' }]);
  expect(restricted.allowsTarget('https://intranet.example/login', 'intranet.example')).toBe(true);
  expect(restricted.allowsTarget('https://intranet.example/other', 'intranet.example')).toBe(false);
  expect(restricted.allows(new URL('https://intranet.example/home'))).toBe(true);
  expect(restricted.allows(new URL('https://evil.example/home'))).toBe(false);
});

test('a URL prefix admits its host for redirects and navigations', () => {
  expect(policy(['https://intranet.example/app/']).allows(new URL('https://intranet.example/sso/login'))).toBe(true);
});

test.each(['10.0.0.0/33', '10.0.0/8', 'not a host', 'host:443', '*.', 'https://[bad', '-leading.example'])('%s is refused with a reason', (entry) => {
  expect(parseRule(entry)).toEqual({ problem: stringContaining(JSON.stringify(entry)) });
});

describe('which modules are restricted', () => {
  const config = (topLevel: string) =>
    parseConfig(
      `${topLevel}
modules:
  open: {prober: http}
  listed: {prober: http, allowed_targets: [a.example]}
  secret: {prober: http, http: {basic_auth: {username: u, password: p}}}
  header_secret: {prober: http, http: {headers: {X-Auth-Token: {secret: t}}}}
  credential_header: {prober: http, http: {headers: {Authorization: Bearer t}}}
  client_key: {prober: postgres, postgres: {user: u, tls_config: {cert_file: c.pem, key_file: /dev/null}}}
  journey: {prober: browser}
  login_journey: {prober: browser, allowed_targets: [app.example, 'https://app.example/login'], browser: {steps: [{fill: {label: Password, value_file: /dev/null}}]}}
`,
      'restricted.yml',
      builtInProbers,
    );

  test('without a top-level list: modules with a secret, browser modules and modules with their own list', () => {
    const causes = Object.fromEntries([...targetPolicies(config(''), builtInProbers).entries()].map(([name, policy]) => [name, policy.cause]));
    expect(causes).toEqual({
      listed: 'allowed_targets',
      secret: 'secret',
      header_secret: 'secret',
      credential_header: 'secret',
      client_key: 'secret',
      journey: 'browser',
      login_journey: 'secret',
    });
  });

  test('a top-level list restricts every module, and never widens one with a secret', () => {
    const policies = targetPolicies(config('allowed_targets: [wide.example]'), builtInProbers);
    expect(policies.get('open')?.allowsTarget('http://wide.example/', 'wide.example')).toBe(true);
    expect(policies.get('open')?.allowsTarget('http://other.example/', 'other.example')).toBe(false);
    expect(policies.get('listed')?.allowsTarget('http://a.example/', 'a.example')).toBe(true);
    expect(policies.get('secret')?.allowsTarget('http://wide.example/', 'wide.example')).toBe(false);
    expect(policies.get('journey')?.allowsTarget('http://wide.example/', 'wide.example')).toBe(false);
  });

  test('a journey that types a secret starts only where a monitor or a URL prefix says; its host rules admit navigations only', () => {
    const login = targetPolicies(config(''), builtInProbers).get('login_journey')!;
    expect(login.allowsTarget('https://app.example/login?next=/home', 'app.example')).toBe(true);
    expect(login.allowsTarget('https://app.example/uploads/look-alike.html', 'app.example')).toBe(false);
    expect(login.allows(new URL('https://app.example/home'))).toBe(true);
  });
});
