/**
 * parseUrlTarget (src/net/target-url.ts), the target reading every URL-ish prober shares: schemes
 * and their default ports, the bare host:port form, credentials and port 0 refused, IPv6 literals,
 * and the host-and-port-only rule. The rules below are made up for the test; each prober's own
 * rules and wording are tested beside it.
 */
import { parseUrlTarget, type UrlTargetRules } from '../../src/net/target-url';

/** URLs only, like http. */
const WEB: UrlTargetRules = {
  prober: 'web',
  schemes: { http: 80, https: 443 },
  expected: 'a URL',
  use: 'http:// or https://',
  credentialsHint: 'use basic_auth.password_file',
};

/** A URL or a bare host[:port], a host and a port only, like sftp. */
const FILES: UrlTargetRules = {
  prober: 'files',
  schemes: { sftp: 22 },
  bareScheme: 'sftp',
  expected: 'host:port or sftp://host:port',
  use: 'sftp:// or host:port',
  credentialsHint: 'use username and password_file in the module',
  hostAndPortOnly: 'a files target is a host and a port: set the directory in the module',
};

function parsed(target: string, rules: UrlTargetRules) {
  const result = parseUrlTarget(target, rules);
  if ('problem' in result) throw new Error(`unexpected problem: ${result.problem}`);
  const { url, ...rest } = result.target;
  return { ...rest, href: url.href };
}

function problem(target: string, rules: UrlTargetRules): string | undefined {
  const result = parseUrlTarget(target, rules);
  return 'problem' in result ? result.problem : undefined;
}

test.each([
  // target, host, port, scheme
  ['http://example.com/health', 'example.com', 80, 'http'],
  ['https://example.com', 'example.com', 443, 'https'],
  ['https://example.com:8443/x?y=1#z', 'example.com', 8443, 'https'],
  // The scheme is read without regard to case, and given back in lower case.
  ['HTTPS://Example.COM/', 'example.com', 443, 'https'],
  // A port that is the scheme's default is the default all the same.
  ['http://example.com:80/', 'example.com', 80, 'http'],
  ['http://10.0.0.7:8080/', '10.0.0.7', 8080, 'http'],
  // An IPv6 literal: the host without its brackets, as connect() takes it.
  ['http://[::1]:8080/', '::1', 8080, 'http'],
  ['https://[fd00::7]/', 'fd00::7', 443, 'https'],
])('URL %p: host %p, port %p, scheme %p', (target, host, port, scheme) => {
  expect(parsed(target, WEB)).toMatchObject({ host, port, scheme });
});

test.each([
  // target, host, port
  ['files.example:2222', 'files.example', 2222],
  ['files.example', 'files.example', 22],
  ['sftp://files.example', 'files.example', 22],
  ['sftp://files.example:2222', 'files.example', 2222],
  ['SFTP://files.example:2222/', 'files.example', 2222],
  ['10.0.0.7:22', '10.0.0.7', 22],
  ['[fd00::7]:2222', 'fd00::7', 2222],
  ['[::1]', '::1', 22],
])('bare or sftp:// %p: host %p, port %p', (target, host, port) => {
  expect(parsed(target, FILES)).toMatchObject({ host, port, scheme: 'sftp' });
});

test('a bare target is read with the bare scheme, so its URL is a whole one', () => {
  expect(parsed('files.example:2222', FILES).href).toBe('sftp://files.example:2222');
});

test.each([
  ['ftp://example.com/', WEB, 'target scheme "ftp" is not supported by the web prober (use http:// or https://)'],
  ['FTP://example.com/', WEB, 'target scheme "ftp" is not supported by the web prober (use http:// or https://)'],
  ['http://files.example', FILES, 'target scheme "http" is not supported by the files prober (use sftp:// or host:port)'],
])('%p: an unsupported scheme is named, with the ones to use', (target, rules, message) => {
  expect(problem(target, rules)).toBe(message);
});

test.each([
  // Without a bare scheme a target must be a URL.
  ['example.com', WEB, 'target "example.com" is not a URL'],
  ['example.com:443', WEB, 'target "example.com:443" is not a URL'],
  ['', WEB, 'target "" is not a URL'],
  // What the URL parser refuses: a space in the host, a port out of range, an unclosed bracket.
  ['http://exa mple.com/', WEB, 'target "http://exa mple.com/" is not a URL'],
  ['files.example:70000', FILES, 'target "files.example:70000" is not host:port or sftp://host:port'],
  ['[fd00::7:22', FILES, 'target "[fd00::7:22" is not host:port or sftp://host:port'],
  ['sftp://:22', FILES, 'target "sftp://:22" is not host:port or sftp://host:port'],
])('%p cannot be read', (target, rules, message) => {
  expect(problem(target, rules)).toBe(message);
});

test.each([
  ['https://user:secret@example.com/', WEB, 'credentials do not belong in a target, which becomes a label: use basic_auth.password_file'],
  ['https://user@example.com/', WEB, 'credentials do not belong in a target, which becomes a label: use basic_auth.password_file'],
  ['sftp://:secret@files.example', FILES, 'credentials do not belong in a target, which becomes a label: use username and password_file in the module'],
  ['probe@files.example:22', FILES, 'credentials do not belong in a target, which becomes a label: use username and password_file in the module'],
])('%p: credentials are refused, with where they go instead', (target, rules, message) => {
  expect(problem(target, rules)).toBe(message);
});

test.each([
  ['http://example.com:0/', WEB],
  ['files.example:0', FILES],
  ['sftp://files.example:00', FILES],
])('%p: port 0 is refused', (target, rules) => {
  expect(problem(target, rules)).toBe(`target ${JSON.stringify(target)} has port 0, which cannot be connected to`);
});

test('a scheme whose default port is 0 needs a port in the target', () => {
  const rules: UrlTargetRules = { ...FILES, schemes: { sftp: 22, custom: 0 } };
  expect(problem('custom://files.example', rules)).toBe('target "custom://files.example" has port 0, which cannot be connected to');
  expect(parsed('custom://files.example:9000', rules)).toMatchObject({ port: 9000, scheme: 'custom' });
});

test('a URL without a host is refused', () => {
  const rules: UrlTargetRules = { ...FILES, hostAndPortOnly: undefined };
  expect(problem('sftp:///home', rules)).toBe('target "sftp:///home" has no host');
});

test.each(['sftp://files.example:22/upload', 'files.example:22/upload', 'files.example:22?depth=1', 'files.example#x'])('%p: host-and-port-only refuses a path, query or fragment', (target) => {
  expect(problem(target, FILES)).toBe('a files target is a host and a port: set the directory in the module');
});

test('host-and-port-only takes a lone trailing slash; without the rule a path is left to the prober', () => {
  expect(parsed('sftp://files.example:22/', FILES)).toMatchObject({ host: 'files.example', port: 22 });
  expect(parsed('sftp://files.example/upload', { ...FILES, hostAndPortOnly: undefined }).href).toBe('sftp://files.example/upload');
});
