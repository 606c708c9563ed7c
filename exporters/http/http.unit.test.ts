/**
 * The http prober's pure parts, without a server: reading targets, the config rules a schema
 * cannot say, and body_size_limit as blackbox_exporter reads it.
 */
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';
import { proberSettings } from '../../src/config/schema';
import { redactSecrets, secretFields } from '../../src/config/secrets';
import { HttpSettingsSchema } from './schema';
import { bodySizeLimitBytes } from './size';
import { parseHttpTarget } from './target';

function problemOf(target: string): string | undefined {
  const parsed = parseHttpTarget(target);
  return 'problem' in parsed ? parsed.problem : undefined;
}

/** The config problems of an http module with this `http:` section (YAML), as `path: message`. */
function problemsOf(section: string): string[] {
  try {
    parseConfig(`modules:\n  web:\n    prober: http\n    http:\n${section.replace(/^/gm, '      ')}\n`, 'c.yml', builtInProbers, { checkSecretSources: false });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.replace(/^c\.yml:\d+:\d+: modules\.web\.http\./, ''));
    throw error;
  }
  return [];
}

describe('targets', () => {
  test("a URL is read once: host without brackets, the port or the scheme's", () => {
    expect(parseHttpTarget('https://intranet.example/health?full=1')).toEqual({
      target: { url: new URL('https://intranet.example/health?full=1'), host: 'intranet.example', port: 443, scheme: 'https' },
    });
    expect(parseHttpTarget('HTTP://[2001:db8::1]:8080/')).toMatchObject({ target: { host: '2001:db8::1', port: 8080, scheme: 'http' } });
  });

  test('a target without a scheme is http, as in blackbox_exporter', () => {
    expect(parseHttpTarget('127.0.0.1:9100/metrics')).toMatchObject({ target: { url: new URL('http://127.0.0.1:9100/metrics'), host: '127.0.0.1', port: 9100 } });
    expect(parseHttpTarget('intranet.example')).toMatchObject({ target: { host: 'intranet.example', port: 80 } });
  });

  test('another scheme, credentials, a port 0 or no URL at all is refused', () => {
    expect(problemOf('ftp://files.example/')).toBe('target scheme "ftp" is not supported by the http prober (use http:// or https://)');
    expect(problemOf('https://probe:secret@intranet.example/')).toBe('credentials do not belong in a target, which becomes a label: use basic_auth.password_file');
    expect(problemOf('http://intranet.example:0/')).toBe('target "http://intranet.example:0/" has port 0, which cannot be connected to');
    expect(problemOf('http://intra net.example/')).toBe('target "http://intra net.example/" is not a URL');
  });
});

describe('config rules', () => {
  test('one password source, one auth method, one body source', () => {
    expect(problemsOf('basic_auth: {username: probe, password: pw, password_file: /run/secrets/pw}\nbearer_token_file: /run/secrets/token\nbody: x\nbody_file: /etc/checkpoint/body.json')).toEqual([
      'basic_auth: password and password_file are mutually exclusive',
      'bearer_token_file: at most one of basic_auth, bearer_token, bearer_token_file, authorization and oauth2 may be set (set: basic_auth, bearer_token_file)',
      'body_file: body and body_file are mutually exclusive',
    ]);
  });

  test("one way to authenticate, as blackbox_exporter's rules say", () => {
    expect(problemsOf('bearer_token: a\nbearer_token_file: /run/secrets/token')).toEqual([
      'bearer_token_file: at most one of basic_auth, bearer_token, bearer_token_file, authorization and oauth2 may be set (set: bearer_token, bearer_token_file)',
    ]);
    expect(problemsOf('basic_auth: {username: probe, password_file: /run/secrets/pw}\noauth2: {client_id: c, client_secret_file: /run/secrets/c, token_url: http://idp/token}')).toEqual([
      'oauth2: at most one of basic_auth, bearer_token, bearer_token_file, authorization and oauth2 may be set (set: basic_auth, oauth2)',
    ]);
  });

  test('authorization: one credentials source, and not Basic', () => {
    expect(problemsOf('authorization: {type: basic, credentials: a, credentials_file: /run/secrets/a}')).toEqual([
      'authorization: credentials and credentials_file are mutually exclusive',
      'authorization.type: cannot be "Basic": use basic_auth instead',
    ]);
    expect(problemsOf('authorization: {credentials_file: /run/secrets/a}')).toEqual([]);
  });

  test('oauth2: client_id, token_url and exactly one secret source', () => {
    expect(problemsOf('oauth2: {client_id: c, token_url: http://idp/token}')).toEqual(['oauth2: one of client_secret and client_secret_file must be set']);
    expect(problemsOf('oauth2: {client_id: c, client_secret: s, client_secret_file: /run/secrets/c, token_url: http://idp/token}')).toEqual([
      'oauth2: client_secret and client_secret_file are mutually exclusive',
    ]);
    expect(problemsOf('oauth2: {client_secret: s}').join('\n')).toMatch(/client_id[\s\S]*token_url|token_url[\s\S]*client_id/);
    expect(problemsOf('oauth2: {client_id: c, client_secret: s, token_url: ftp://idp/token}')).toEqual(['oauth2.token_url: must be an http:// or https:// URL']);
  });

  test('proxy_url is an http:// proxy; proxy_connect_header needs it', () => {
    expect(problemsOf('proxy_url: socks5://proxy:1080')).toEqual(['proxy_url: must be an http:// forward proxy URL (https targets go through it with CONNECT)']);
    expect(problemsOf('proxy_connect_header: {X-Tag: [a]}')).toEqual(['proxy_connect_header: needs proxy_url: it is sent only in the CONNECT request to the proxy']);
    expect(problemsOf('proxy_url: http://proxy:3128\nproxy_connect_header: {X-Tag: [a]}')).toEqual([]);
  });

  test('every regexp compiles as RE2 would, each reported where it is', () => {
    expect(problemsOf("fail_if_body_matches_regexp: ['ok', '(unclosed']\nfail_if_header_not_matches:\n  - {header: X-A, regexp: 'a(?!b)'}")).toEqual([
      'fail_if_body_matches_regexp.1: invalid regular expression "(unclosed": missing closing ): `(unclosed`',
      'fail_if_header_not_matches.0.regexp: invalid regular expression "a(?!b)": invalid or unsupported Perl syntax: `(?!` (RE2 syntax, as blackbox_exporter: no lookaround or backreferences)',
    ]);
  });
});

describe('secrets of the new keys', () => {
  const section = [
    'proxy_url: http://probe:proxy-pw@proxy:3128',
    'proxy_connect_header: {X-Tag: [connect-secret]}',
    'oauth2: {client_id: c, client_secret: client-secret, token_url: http://idp/token, proxy_url: http://proxy:3128}',
  ].join('\n');
  const settingsOf = (yaml: string) => {
    const config = parseConfig(`modules:\n  web:\n    prober: http\n    http:\n${yaml.replace(/^/gm, '      ')}\n`, 'c.yml', builtInProbers, { checkSecretSources: false });
    return proberSettings(config.modules.web!);
  };

  test('are hidden where the config is shown; a proxy URL keeps all but its password', () => {
    const shown = JSON.stringify(redactSecrets(HttpSettingsSchema, settingsOf(section)));
    expect(shown).not.toMatch(/proxy-pw|connect-secret|client-secret/);
    expect(shown).toContain('"proxy_url":"http://probe:<secret>@proxy:3128/"');
    expect(shown).toContain('"proxy_url":"http://proxy:3128"');
    expect(JSON.stringify(redactSecrets(HttpSettingsSchema, settingsOf('bearer_token: tok')))).toContain('"bearer_token":"<secret>"');
    expect(JSON.stringify(redactSecrets(HttpSettingsSchema, settingsOf('authorization: {credentials: cred}')))).toContain('"credentials":"<secret>"');
  });

  test('a proxy URL that does not parse is refused, and hidden whole wherever it is shown', () => {
    const notAUrl = 'is not a URL (http://host:port, with user:password@ before the host if the proxy asks for a login)';
    expect(problemsOf('proxy_url: "http://u:hunter2@proxy:99999"')).toEqual([`proxy_url: ${notAUrl}`]);
    expect(problemsOf('oauth2: {client_id: c, client_secret: s, token_url: "http://idp/token", proxy_url: "http://u:pw@proxy:3128 x"}')).toEqual([`oauth2.proxy_url: ${notAUrl}`]);
    // Where an unparsed one is shown anyway (the refusal's context, a debug view): no part of it.
    const unparsed = { proxy_url: 'http://u:hunter2@proxy:99999' };
    expect(JSON.stringify(redactSecrets(HttpSettingsSchema, unparsed))).toBe('{"proxy_url":"<secret>"}');
    expect(secretFields(HttpSettingsSchema, unparsed).map((field) => `${field.kind} ${field.path.join('.')}`)).toEqual(['value proxy_url']);
  });

  test('make a module one with a secret, except a proxy URL without a password', () => {
    const paths = (yaml: string) => secretFields(HttpSettingsSchema, settingsOf(yaml)).map((field) => `${field.kind} ${field.path.join('.')}`);
    expect(paths(section)).toEqual(['url proxy_url', 'value proxy_connect_header.X-Tag.0', 'value oauth2.client_secret']);
    expect(paths('proxy_url: http://proxy:3128')).toEqual([]);
    expect(paths('bearer_token: t')).toEqual(['value bearer_token']);
    expect(paths('authorization: {credentials_file: /run/secrets/a}')).toEqual(['file authorization.credentials_file']);
  });
});

describe('body_size_limit', () => {
  test('a byte count, or a size in Go units (KB is KiB, as Go reads it); 0 or none is no limit', () => {
    expect([1000, '512B', '1KB', '1KiB', '10MB', '1GiB'].map(bodySizeLimitBytes)).toEqual([1000, 512, 1024, 1024, 10 * 1024 ** 2, 1024 ** 3]);
    expect([0, '0', undefined].map(bodySizeLimitBytes)).toEqual([undefined, undefined, undefined]);
  });
});
