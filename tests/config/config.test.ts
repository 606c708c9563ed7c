/**
 * Every rejected config is a fixture in tests/fixtures/config/, paired here with the exact
 * messages `checkpoint --config.check` prints for it: all problems at once, each with file,
 * line, column and key.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultConfigFile } from '../../src/config/default-config';
import { builtInProbers } from '../../src/cli/probers';
import { loadConfigFile, parseConfig } from '../../src/config/load';
import { proberSettings } from '../../src/config/schema';
import type { HttpSettings } from '../../exporters/http/schema';
import { ConfigError } from '../../src/config/problems';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'config');

const INVALID: Record<string, string[]> = {
  'invalid-allowed-targets.yml': [
    'invalid-allowed-targets.yml:1:77: allowed_targets.3: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8 or fd00::/8',
    'invalid-allowed-targets.yml:1:92: allowed_targets.4: "not a host" is not a host name, *.domain, IP address, CIDR or URL prefix',
    'invalid-allowed-targets.yml:1:106: allowed_targets.5: "https://[bad" is not a valid URL prefix',
    'invalid-allowed-targets.yml:5:35: modules.web.allowed_targets.1: "*." is not a host name, *.domain, IP address, CIDR or URL prefix',
    'invalid-allowed-targets.yml:5:41: modules.web.allowed_targets.2: "intranet.example.test:443" is not a host name, *.domain, IP address, CIDR or URL prefix',
  ],
  'invalid-docker-allowed-targets.yml': ['invalid-docker-allowed-targets.yml:4:5: modules.stack.allowed_targets: docker targets are not hosts: declare them as monitors instead'],
  'invalid-empty.yml': ['invalid-empty.yml:1:1: the config file is empty: it must define modules:'],
  'invalid-missing-secret.yml': [
    'invalid-missing-secret.yml:6:22: modules.db.postgres.password_file: cannot read secret file tests/fixtures/config/no-such-secret: ENOENT',
    'invalid-missing-secret.yml:12:23: modules.mail.smtp.auth.password_env: environment variable CHECKPOINT_TEST_UNSET_VARIABLE is not set',
  ],
  'invalid-no-modules.yml': [
    'invalid-no-modules.yml:2:10: modules: no modules defined: a config must define at least one',
    'invalid-no-modules.yml:5:13: monitors.0.module: unknown module "http_2xx"',
  ],
  'invalid-prototype-names.yml': [
    'invalid-prototype-names.yml:6:13: monitors.0.module: unknown module "constructor"',
    'invalid-prototype-names.yml:9:13: monitors.1.module: unknown module "__proto__"',
    'invalid-prototype-names.yml:12:13: monitors.2.module: unknown module "toString"',
  ],
  'invalid-auth-clash.yml': ['invalid-auth-clash.yml:6:9: modules.web.http.basic_auth: password and password_file are mutually exclusive'],
  'invalid-browser-steps.yml': [
    'invalid-browser-steps.yml:6:11: modules.login.browser.steps.0: a step needs exactly one of goto, click, fill, press, select, wait_for, expect_text, expect_url, expect_title, screenshot, script (found goto, click)',
    'invalid-browser-steps.yml:8:17: modules.login.browser.steps.1.fill: needs exactly one of role, text, label, placeholder, test_id, css to find the element (found label, css)',
    'invalid-browser-steps.yml:8:17: modules.login.browser.steps.1.fill: needs exactly one of value and value_file',
    'invalid-browser-steps.yml:9:17: modules.login.browser.steps.2.fill: needs exactly one of value and value_file',
    'invalid-browser-steps.yml:10:21: modules.login.browser.steps.3.wait_for: needs exactly one of an element (role, text, label, placeholder, test_id, css), url and network_idle',
    'invalid-browser-steps.yml:11:40: modules.login.browser.steps.4.click.name: name goes with role',
    'invalid-browser-steps.yml:12:17: modules.login.browser.steps.5.goto: scheme "ftp" is not supported (use http:// or https://)',
    'invalid-browser-steps.yml:13:11: modules.login.browser.steps.6: a step needs exactly one of goto, click, fill, press, select, wait_for, expect_text, expect_url, expect_title, screenshot, script (found none)',
  ],
  'invalid-browser-target.yml': [
    'invalid-browser-target.yml:7:13: monitors.0.target: credentials do not belong in a target, which becomes a label: log in with fill steps and value_file',
    'invalid-browser-target.yml:10:13: monitors.1.target: target scheme "ftp" is not supported by the browser prober (use http:// or https://)',
    'invalid-browser-target.yml:13:13: monitors.2.target: target "intranet.example.test" is not a URL (the browser prober needs the start URL, such as https://app.example.com/login)',
  ],
  'invalid-browser-trace-secret.yml': [
    'invalid-browser-trace-secret.yml:5:15: modules.login.browser.traces: traces: true cannot be used with value_file (steps.1): a trace records the typed values',
    'invalid-browser-trace-secret.yml:6:21: modules.login.browser.step_timeout: must be longer than 0s',
  ],
  'invalid-browser-unknown-key.yml': [
    'invalid-browser-unknown-key.yml:5:7: modules.login.browser.headless: unknown key',
    'invalid-browser-unknown-key.yml:7:48: modules.login.browser.steps.0.click.nth: unknown key',
    'invalid-browser-unknown-key.yml:9:11: modules.login.browser.steps.1.wait: unknown key',
  ],
  'invalid-docker-host.yml': [
    'invalid-docker-host.yml:5:13: modules.local.docker.host: tls_config applies to a tcp:// host, not to a unix socket',
    'invalid-docker-host.yml:11:13: modules.remote.docker.host: "https://docker.internal:2376" is not unix:///path or tcp://host:port',
  ],
  'invalid-docker-target.yml': [
    'invalid-docker-target.yml:7:13: monitors.0.target: target "/shop-web-1": write the container name without the leading /',
    'invalid-docker-target.yml:10:13: monitors.1.target: label selector term "=x" is not key or key=value',
    'invalid-docker-target.yml:13:13: monitors.2.target: target "tcp://docker.internal:2376" is not a container name or id, nor label:key=value (the engine is set in the module\'s host)',
  ],
  'invalid-docker-tls-pair.yml': ['invalid-docker-tls-pair.yml:7:9: modules.remote.docker.tls_config: cert_file and key_file go together'],
  'invalid-docker-unknown-key.yml': [
    'invalid-docker-unknown-key.yml:6:7: modules.containers.docker.socket_path: unknown key',
    'invalid-docker-unknown-key.yml:7:20: modules.containers.docker.api_version: must be an engine API version such as 1.41',
  ],
  'invalid-many-problems.yml': [
    'invalid-many-problems.yml:4:14: modules.web.retries: must be >= 0',
    'invalid-many-problems.yml:6:15: modules.web.http.method: must be an HTTP method such as GET or POST',
    'invalid-many-problems.yml:7:30: modules.web.http.preferred_ip_protocol: "ip5" is not one of: ip4, ip6',
    'invalid-many-problems.yml:9:9: modules.web.http.tls_config.insecure_skip_verfy: unknown key',
    'invalid-many-problems.yml:11:5: monitors.0: missing required key "module"',
    'invalid-many-problems.yml:12:5: monitors.0.modul: unknown key',
  ],
  'invalid-missing-prober.yml': ['invalid-missing-prober.yml:3:5: modules.web: missing required key "prober"'],
  'invalid-monitor-module.yml': ['invalid-monitor-module.yml:6:13: monitors.0.module: unknown module "website"'],
  'invalid-monitor-target.yml': [
    'invalid-monitor-target.yml:7:13: monitors.0.target: target scheme "ftp" is not supported by the http prober (use http:// or https://)',
    'invalid-monitor-target.yml:8:11: monitors.1.name: duplicate monitor name "intranet"',
    'invalid-monitor-target.yml:10:13: monitors.1.target: credentials do not belong in a target, which becomes a label: use basic_auth.password_file',
  ],
  'invalid-not-a-mapping.yml': ['invalid-not-a-mapping.yml:1:1: the config must be a mapping with modules: and monitors:'],
  'invalid-postgres-password-clash.yml': [
    'invalid-postgres-password-clash.yml:7:21: modules.db.postgres.password_env: environment variable PG_PROBE_PASSWORD is not set',
    'invalid-postgres-password-clash.yml:7:21: modules.db.postgres.password_env: password_file and password_env are mutually exclusive',
  ],
  'invalid-postgres-target.yml': [
    'invalid-postgres-target.yml:10:13: monitors.0.target: credentials do not belong in a target, which becomes a label: use user and password_file in the module',
    'invalid-postgres-target.yml:13:13: monitors.1.target: connection parameters do not belong in a target: set sslmode and the rest in the module',
    'invalid-postgres-target.yml:16:13: monitors.2.target: target scheme "redis" is not supported by the postgres prober (use postgres://, postgresql:// or host:port)',
  ],
  'invalid-postgres-tls-and-regexp.yml': [
    'invalid-postgres-tls-and-regexp.yml:9:31: modules.db.postgres.tls_config.insecure_skip_verify: insecure_skip_verify contradicts sslmode verify-full (use sslmode require to skip verification)',
    'invalid-postgres-tls-and-regexp.yml:11:22: modules.db.postgres.expect_regexp: invalid regular expression "^(t|f": missing closing ): `^(t|f`',
  ],
  'invalid-postgres-unknown-key.yml': ['invalid-postgres-unknown-key.yml:7:7: modules.db.postgres.sslrootcert: unknown key'],
  'invalid-regex.yml': [
    'invalid-regex.yml:7:11: modules.web.http.fail_if_body_matches_regexp.1: invalid regular expression "(unclosed": missing closing ): `(unclosed`',
    'invalid-regex.yml:8:11: modules.web.http.fail_if_body_matches_regexp.2: invalid regular expression "(\\\\w+) \\\\1": invalid escape sequence: `\\1` (RE2 syntax, as blackbox_exporter: no lookaround or backreferences)',
    'invalid-regex.yml:10:11: modules.web.http.fail_if_body_not_matches_regexp.0: invalid regular expression "(?i)Welcome(?! back)": invalid or unsupported Perl syntax: `(?!` (RE2 syntax, as blackbox_exporter: no lookaround or backreferences)',
  ],
  'invalid-reserved-label.yml': [
    'invalid-reserved-label.yml:9:7: monitors.0.labels.__address__: label name is reserved',
    'invalid-reserved-label.yml:11:7: monitors.0.labels.job: label name is reserved',
    'invalid-reserved-label.yml:12:7: monitors.0.labels.site: label name is reserved',
  ],
  'invalid-sftp-policy.yml': [
    "invalid-sftp-policy.yml:5:7: modules.backup_server.sftp: no host key pinned: set host_key_fingerprints (ssh-keygen -lf on the server's host key), or insecure_skip_host_key_check: true",
    'invalid-sftp-policy.yml:7:21: modules.backup_server.sftp.password_env: environment variable SFTP_PASSWORD is not set',
    'invalid-sftp-policy.yml:7:21: modules.backup_server.sftp.password_env: password_file and password_env are mutually exclusive',
    'invalid-sftp-policy.yml:10:18: modules.backup_server.sftp.freshness.pattern: invalid glob "db-[0-9.sql.gz": [ without its closing ]',
  ],
  'invalid-sftp-target.yml': [
    'invalid-sftp-target.yml:11:13: monitors.0.target: credentials do not belong in a target, which becomes a label: set username and password_file or private_key_file in the module',
    'invalid-sftp-target.yml:14:13: monitors.1.target: an sftp target is only host and port: directories to list and check belong in the module (directory, round_trip, freshness)',
  ],
  'invalid-sftp-unknown-key.yml': ['invalid-sftp-unknown-key.yml:7:7: modules.backup_server.sftp.host_key_fingerprint: unknown key'],
  'invalid-smtp-delivery.yml': [
    'invalid-smtp-delivery.yml:6:9: modules.mail.smtp.delivery: delivery needs mail: there is no message to look for without it',
    'invalid-smtp-delivery.yml:6:9: modules.mail.smtp.delivery: needs password_file or password_env',
    'invalid-smtp-delivery.yml:6:15: modules.mail.smtp.delivery.imap: credentials do not belong in the URL: use password_file or password_env',
    'invalid-smtp-delivery.yml:8:24: modules.mail.smtp.delivery.poll_interval: must be longer than 0s',
  ],
  'invalid-smtp-secret-clash.yml': [
    'invalid-smtp-secret-clash.yml:6:25: modules.mail.smtp.require_starttls: require_starttls needs starttls: true',
    'invalid-smtp-secret-clash.yml:8:9: modules.mail.smtp.auth: password_file and password_env are mutually exclusive',
    'invalid-smtp-secret-clash.yml:10:23: modules.mail.smtp.auth.password_env: environment variable SMTP_PASSWORD is not set',
  ],
  'invalid-smtp-target.yml': [
    'invalid-smtp-target.yml:7:13: monitors.0.target: credentials do not belong in a target, which becomes a label: use auth.password_file or auth.password_env',
    'invalid-smtp-target.yml:10:13: monitors.1.target: target scheme "https" is not supported by the smtp prober (use smtp:// or smtps://)',
    'invalid-smtp-target.yml:13:13: monitors.2.target: target "smtps://relay.example.test/submit" has a path or parameters; an smtp target is only a host and a port',
  ],
  'invalid-smtp-unknown-key.yml': ['invalid-smtp-unknown-key.yml:5:7: modules.mail.smtp.require_tls: unknown key', 'invalid-smtp-unknown-key.yml:9:9: modules.mail.smtp.auth.password: unknown key'],
  'invalid-timeout.yml': ['invalid-timeout.yml:4:14: modules.web.timeout: must be a duration such as 5s, 500ms or 1m30s'],
  'invalid-unknown-key.yml': ['invalid-unknown-key.yml:5:7: modules.web.http.valid_status_code: unknown key'],
  'invalid-unknown-prober.yml': ['invalid-unknown-prober.yml:3:13: modules.icmp_check.prober: "icmp" is not one of: http, browser, docker, postgres, sftp, smtp'],
  'invalid-wrong-type.yml': ['invalid-wrong-type.yml:6:27: modules.web.http.valid_status_codes: must be array'],
  'invalid-yaml.yml': ['invalid-yaml.yml:3:13: invalid YAML: Nested mappings are not allowed in compact mappings', 'invalid-yaml.yml:3:13: invalid YAML: Implicit keys need to be on a single line'],
};

function problemsOf(file: string): string[] {
  try {
    parseConfig(readFileSync(path.join(FIXTURES, file), 'utf8'), file, builtInProbers);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('invalid configs', () => {
  test('every fixture has its expected messages here, and every entry here its fixture', () => {
    const fixtures = readdirSync(FIXTURES).filter((file) => file.startsWith('invalid-'));
    expect(fixtures.sort()).toEqual(Object.keys(INVALID).sort());
  });

  test.each(Object.entries(INVALID))('%s', (file, expected) => {
    expect(problemsOf(file)).toEqual(expected);
  });

  test('a file that cannot be read names the file and the cause', async () => {
    await expect(loadConfigFile('/nonexistent/checkpoint.yml', builtInProbers)).rejects.toThrow('/nonexistent/checkpoint.yml: cannot read config file: ENOENT');
  });
});

describe('valid configs', () => {
  test('the schema fills blackbox_exporter defaults into an http module', () => {
    const config = parseConfig('modules:\n  web:\n    prober: http\n', 'inline.yml', builtInProbers);
    expect(config.monitors).toEqual([]);
    expect(config.modules.web).toMatchObject({
      prober: 'http',
      retries: 0,
      http: {
        valid_status_codes: [],
        method: 'GET',
        follow_redirects: true,
        preferred_ip_protocol: 'ip6',
        ip_protocol_fallback: true,
        fail_if_ssl: false,
        fail_if_not_ssl: false,
        compression: '',
      },
    });
  });

  test('an error in a secret field names the field, never the value', () => {
    const yaml = [
      'modules:',
      '  web:',
      '    prober: http',
      '    http:',
      '      basic_auth: {username: probe, password: [hunter2-in-a-list]}',
      '      headers:',
      '        X-Auth-Token: {secret: 42, secret_file: /dev/null, typo: hunter3}',
      '        Authorization: [hunter4]',
    ].join('\n');
    let problems: string[] = [];
    try {
      parseConfig(yaml, 'inline.yml', builtInProbers);
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain('modules.web.http.basic_auth.password');
    expect(problems.join('\n')).not.toMatch(/hunter/);
  });

  test('the default config validates and has blackbox_exporter module names', async () => {
    const config = await loadConfigFile(defaultConfigFile(), builtInProbers);
    expect(Object.keys(config.modules)).toEqual(expect.arrayContaining(['http_2xx', 'http_post_2xx']));
    const post = config.modules.http_post_2xx;
    if (!post) throw new Error('the default config has no module http_post_2xx');
    expect((proberSettings(post) as HttpSettings).method).toBe('POST');
  });

  test("blackbox_exporter's own example http modules are accepted as they are", () => {
    const blackboxStyle = `
modules:
  http_2xx_example:
    prober: http
    timeout: 5s
    http:
      valid_http_versions: ["HTTP/1.1", "HTTP/2.0"]
      valid_status_codes: []
      method: GET
      headers:
        Host: vhost.example.com
        Accept-Language: en-US
        Origin: example.com
      follow_redirects: true
      fail_if_ssl: false
      fail_if_not_ssl: false
      fail_if_body_matches_regexp:
        - "Could not connect to database"
      fail_if_body_not_matches_regexp:
        - "Download the latest version here"
      fail_if_header_matches:
        - header: Set-Cookie
          allow_missing: true
          regexp: '.*'
      fail_if_header_not_matches:
        - header: Access-Control-Allow-Origin
          regexp: '(\\*|example\\.com)'
      tls_config:
        insecure_skip_verify: false
      preferred_ip_protocol: "ip4"
      ip_protocol_fallback: false
  http_post_2xx:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        Content-Type: application/json
      body: '{}'
  http_basic_auth_example:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        Host: "login.example.com"
      basic_auth:
        username: "username"
        password: "mysecret"
  http_custom_ca_example:
    prober: http
    http:
      method: GET
      tls_config:
        ca_file: "/certs/my_cert.crt"
  http_gzip:
    prober: http
    http:
      method: GET
      compression: gzip
`;
    const config = parseConfig(blackboxStyle, 'blackbox.yml', builtInProbers);
    expect(Object.keys(config.modules)).toHaveLength(5);
  });
});
