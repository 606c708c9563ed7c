/**
 * The http prober against real servers on 127.0.0.1 (tests/support/http-targets.ts), driven the
 * way the checkpoint drives it: modules from YAML through parseConfig (so the schema fills the
 * defaults), probes through runProbe, answers read from the exposition text.
 */
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { USER_AGENT } from '../../src/version';
import { EXPIRED_NOT_AFTER, makeTestPki, type TestPki } from '../../tests/support/certs';
import { AUTH_BEARER_TOKEN, AUTH_PASSWORD, AUTH_USER, GZIP_PLAIN_BODY, OK_BODY, OK_LAST_MODIFIED, startTargets, type RecordedRequest, type Targets } from '../../tests/support/http-targets';
import { startScriptedServer, type ScriptStep } from '../../tests/support/scripted-http-server';
import { startUnacceptingListener } from '../../tests/support/unaccepting-listener';
import { dedent, eventually, probeWith, recordProbeSignals, socketResources, type ProbeOptions, type Probed } from '../../tests/support/probe-harness';

let pki: TestPki;
let targets: Targets;
/** Secret and body files the modules point at, in the PKI's temporary directory. */
let files: { password: string; passwordWithNewline: string; wrongPassword: string; token: string; body: string; missing: string };
/** Sockets and TLS wraps alive once the targets listen, before any probe. */
let baselineSockets: number;

let signals: ReturnType<typeof recordProbeSignals>;

const BODY_FILE_TEXT = 'line one\nline two\n';

beforeAll(async () => {
  pki = await makeTestPki();
  targets = await startTargets(pki);
  const file = (name: string) => path.join(pki.dir, name);
  files = {
    password: file('password'),
    passwordWithNewline: file('password-nl'),
    wrongPassword: file('wrong-password'),
    token: file('token'),
    body: file('body.txt'),
    missing: file('no-such-file'),
  };
  await fs.writeFile(files.password, AUTH_PASSWORD);
  await fs.writeFile(files.passwordWithNewline, `${AUTH_PASSWORD}\n`);
  await fs.writeFile(files.wrongPassword, 'not-the-password');
  await fs.writeFile(files.token, `${AUTH_BEARER_TOKEN}\n`);
  await fs.writeFile(files.body, BODY_FILE_TEXT);
  baselineSockets = socketResources();
  signals = recordProbeSignals();
});

afterAll(async () => {
  signals.restore();
  await targets?.close();
  await pki?.cleanup();
});

beforeEach(() => {
  targets.requests.length = 0;
});

// Every probe must leave nothing behind: no listener on its deadline signal, no socket on either
// side. Checked after every test, not once at the end, because the servers drop idle keep-alive
// connections after 5 s, which would hide a socket a probe forgot to close.
afterEach(async () => {
  expect(signals.signals.length).toBeGreaterThan(0);
  const left = signals.listenersLeft();
  expect(left).toEqual(left.map(() => 0));
  await eventually(() => targets.openSockets() === 0 && socketResources() <= baselineSockets);
  expect({ serverSide: targets.openSockets(), inProcess: socketResources() }).toEqual({ serverSide: 0, inProcess: baselineSockets });
});

/** Probes `target` with a module whose `http:` section is `httpSection` (YAML, may be empty). */
function probe(target: string, httpSection = '', options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('http', target, httpSection, options);
}

/** The requests the targets saw since the test began, without the noise of other servers. */
function seen(server?: RecordedRequest['server']): RecordedRequest[] {
  return targets.requests.filter((request) => server === undefined || request.server === server);
}

function header(request: RecordedRequest | undefined, name: string): string | undefined {
  const raw = request?.headers[name];
  return Array.isArray(raw) ? raw.join(', ') : raw;
}

function unixSeconds(date: Date | string): number {
  return (typeof date === 'string' ? Date.parse(date) : date.getTime()) / 1000;
}

describe('status codes and redirects', () => {
  test('a 2xx answer succeeds and reports what blackbox_exporter reports', async () => {
    const probed = await probe(`${targets.http}/ok`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_status_code')).toBe(200);
    expect(probed.get('probe_http_version')).toBe(1.1);
    expect(probed.get('probe_http_ssl')).toBe(0);
    expect(probed.get('probe_http_redirects')).toBe(0);
    expect(probed.get('probe_failed_due_to_regex')).toBe(0);
    expect(probed.get('probe_http_content_length')).toBe(OK_BODY.length);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(OK_BODY.length);
    expect(probed.get('probe_http_last_modified_timestamp_seconds')).toBe(unixSeconds(OK_LAST_MODIFIED));
    expect(probed.get('probe_ip_protocol')).toBe(4);
    expect(probed.get('probe_attempts')).toBe(1);
    expect(probed.get('probe_timeout_seconds')).toBe(10);
    for (const phase of ['resolve', 'connect', 'tls', 'processing', 'transfer']) {
      expect(probed.get('probe_http_duration_seconds', { phase })).toBeGreaterThanOrEqual(0);
    }
    expect(probed.get('probe_http_duration_seconds', { phase: 'tls' })).toBe(0);
    expect(probed.names.has('probe_ssl_earliest_cert_expiry')).toBe(false);
    const [request] = seen('http');
    expect(request).toMatchObject({ method: 'GET', url: '/ok', httpVersion: '1.1' });
    expect(header(request, 'user-agent')).toBe(USER_AGENT);
  });

  test('a target without a scheme is probed over http', async () => {
    const probed = await probe(`127.0.0.1:${targets.ports.http}/ok`);
    expect(probed.result.success).toBe(true);
    expect(seen('http')).toHaveLength(1);
  });

  test('a chain of redirects is followed to its end', async () => {
    const probed = await probe(`${targets.http}/redirect/3`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_redirects')).toBe(3);
    expect(probed.get('probe_http_status_code')).toBe(200);
    expect(seen('http').map((request) => request.url)).toEqual(['/redirect/3', '/redirect/2', '/redirect/1', '/redirect/0']);
  });

  test('follow_redirects: false stops at the first redirect, which is not a 2xx', async () => {
    const probed = await probe(`${targets.http}/redirect/2`, 'follow_redirects: false');
    expect(probed.reason).toBe('status_code');
    expect(probed.get('probe_http_status_code')).toBe(302);
    expect(probed.get('probe_http_redirects')).toBe(1);
    expect(seen('http')).toHaveLength(1);

    const accepted = await probe(
      `${targets.http}/redirect/2`,
      `
      follow_redirects: false
      valid_status_codes: [302]
    `,
    );
    expect(accepted.result.success).toBe(true);
  });

  test('ten redirects are followed, the eleventh is not', async () => {
    const ten = await probe(`${targets.http}/redirect/10`);
    expect(ten.result.success).toBe(true);
    expect(ten.get('probe_http_redirects')).toBe(10);

    targets.requests.length = 0;
    const eleven = await probe(`${targets.http}/redirect/11`);
    expect(eleven.reason).toBe('status_code');
    expect(eleven.get('probe_http_redirects')).toBe(11);
    expect(eleven.get('probe_http_status_code')).toBe(302);
    expect(eleven.get('probe_http_uncompressed_body_length')).toBe(0);
    expect(seen('http')).toHaveLength(11);
  });

  test.each([404, 500])('a %i answer fails with reason status_code', async (code) => {
    const probed = await probe(`${targets.http}/status/${code}`);
    expect(probed.reason).toBe('status_code');
    expect(probed.get('probe_http_status_code')).toBe(code);
    expect(probed.get('probe_failed_due_to_regex')).toBe(0);
  });

  test('a 401 answer fails with reason auth', async () => {
    const probed = await probe(`${targets.http}/auth`);
    expect(probed.reason).toBe('auth');
    expect(probed.get('probe_http_status_code')).toBe(401);
  });

  test('valid_status_codes replaces the 2xx rule', async () => {
    const section = 'valid_status_codes: [404, 500]';
    expect((await probe(`${targets.http}/status/404`, section)).result.success).toBe(true);
    expect((await probe(`${targets.http}/status/500`, section)).result.success).toBe(true);
    const ok = await probe(`${targets.http}/ok`, section);
    expect(ok.reason).toBe('status_code');
    expect(ok.get('probe_http_status_code')).toBe(200);
  });
});

describe('failures before an answer', () => {
  test('a response slower than the deadline ends the probe at the deadline with reason timeout', async () => {
    const probed = await probe(`${targets.http}/slow?ms=30000`, '', { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(probed.get('probe_http_status_code')).toBe(0);
    expect(probed.get('probe_timeout_seconds')).toBe(1);
    expect(probed.result.durationSeconds).toBeGreaterThanOrEqual(0.9);
    expect(probed.result.durationSeconds).toBeLessThan(4);
    expect(seen('http')).toHaveLength(1);
  });

  test('a server that accepts and never answers times out', async () => {
    const probed = await probe(targets.blackHole, '', { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(probed.result.failure?.message).toBe('deadline reached in the processing phase');
    expect(probed.result.durationSeconds).toBeGreaterThanOrEqual(0.9);
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test('a connect that never completes times out', async () => {
    const listener = await startUnacceptingListener();
    try {
      const probed = await probe(`http://127.0.0.1:${listener.port}/`, '', { deadlineSeconds: 1 });
      expect(probed.reason).toBe('timeout');
      expect(probed.result.failure?.message).toBe('deadline reached in the connect phase');
      expect(probed.get('probe_http_duration_seconds', { phase: 'connect' })).toBe(0);
      expect(probed.result.durationSeconds).toBeLessThan(4);
    } finally {
      listener.close();
    }
  });

  test('a TLS target that never answers times out in the handshake', async () => {
    const probed = await probe(`https://${targets.blackHole}/`, '', { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(probed.result.failure?.message).toBe('deadline reached in the tls phase');
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test('a refused connection fails with reason connect', async () => {
    const probed = await probe(`http://${targets.refused}/`);
    expect(probed.reason).toBe('connect');
    expect(probed.get('probe_http_status_code')).toBe(0);
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test('a name that does not resolve fails with reason dns', async () => {
    const probed = await probe('http://does-not-exist.invalid/', 'preferred_ip_protocol: ip4');
    expect(probed.reason).toBe('dns');
    expect(probed.get('probe_http_status_code')).toBe(0);
  });

  // An IPv4 literal, not localhost: whether localhost has an IPv6 address depends on the machine.
  test('a target without an address of the preferred family fails with reason dns when fallback is off', async () => {
    const noFallback = await probe(
      `${targets.http}/ok`,
      `
      preferred_ip_protocol: ip6
      ip_protocol_fallback: false
    `,
    );
    expect(noFallback.reason).toBe('dns');
    const fallback = await probe(`${targets.http}/ok`, 'preferred_ip_protocol: ip6');
    expect(fallback.result.success).toBe(true);
    expect(fallback.get('probe_ip_protocol')).toBe(4);
  });

  test('a password_file gone since the config loaded fails with reason config, before any request', async () => {
    const probed = await probe(
      `${targets.http}/auth`,
      `
      basic_auth:
        username: ${AUTH_USER}
        password_file: ${files.missing}
    `,
    );
    expect(probed.reason).toBe('config');
    expect(probed.result.failure?.message).toContain('basic_auth.password_file');
    expect(seen()).toHaveLength(0);
  });

  test('retries: 1 tries a failing target twice and reports probe_attempts 2', async () => {
    const probed = await probe(`${targets.http}/status/500`, '', { moduleKeys: 'retries: 1' });
    expect(probed.reason).toBe('status_code');
    expect(probed.get('probe_attempts')).toBe(2);
    expect(seen('http')).toHaveLength(2);

    targets.requests.length = 0;
    const ok = await probe(`${targets.http}/ok`, '', { moduleKeys: 'retries: 1' });
    expect(ok.get('probe_attempts')).toBe(1);
    expect(seen('http')).toHaveLength(1);
  });
});

describe('broken answers', () => {
  test.each(['http', 'h2'] as const)('a body cut short (%s) fails with reason protocol', async (server) => {
    const probed = await probe(
      `${targets[server]}/truncated`,
      `
      tls_config:
        ca_file: ${pki.caCertPath}
    `,
    );
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toMatch(/body/);
    expect(probed.get('probe_http_status_code')).toBe(200);
    // The answer's other facts are still reported.
    expect(probed.get('probe_http_version')).toBe(server === 'h2' ? 2 : 1.1);
    expect(probed.get('probe_http_ssl')).toBe(server === 'h2' ? 1 : 0);
  });

  test('body_size_limit fails a body larger than the limit', async () => {
    const over = await probe(`${targets.http}/ok`, `body_size_limit: ${OK_BODY.length - 1}B`);
    expect(over.reason).toBe('protocol');
    expect(over.result.failure?.message).toContain('body_size_limit');
    expect((await probe(`${targets.http}/ok`, `body_size_limit: ${OK_BODY.length}B`)).result.success).toBe(true);
  });

  test('body_size_limit holds the uncompressed body, so a small compressed one can still exceed it', async () => {
    const probed = await probe(
      `${targets.http}/gzip`,
      `
      compression: gzip
      body_size_limit: 100B
    `,
    );
    expect(probed.reason).toBe('protocol');
    expect(probed.get('probe_http_content_length')).toBeLessThan(100);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(100);
  });
});

describe('large bodies', () => {
  const MiB = 1024 * 1024;

  test('a 64 MiB body no regex reads is counted, not kept, and the probe succeeds', async () => {
    const probed = await probe(`${targets.http}/large?bytes=${64 * MiB}`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_content_length')).toBe(64 * MiB);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(64 * MiB);
  });

  test.each(['gzip', 'deflate', 'deflate-raw'])('a 64 MiB %s body is decompressed as it streams and measured uncompressed', async (encoding) => {
    const compression = encoding.replace(/-raw$/, '');
    const probed = await probe(`${targets.http}/large?bytes=${64 * MiB}&encoding=${encoding}`, `compression: ${compression}`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_content_length')).toBe(-1);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(64 * MiB);
  });

  test('body_size_limit still fails a body no regex reads', async () => {
    const probed = await probe(`${targets.http}/large?bytes=${2 * MiB}&encoding=gzip`, 'compression: gzip\nbody_size_limit: 1MiB');
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toBe(`response body larger than body_size_limit (${MiB} bytes)`);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(MiB);
  });

  test('a body regex with no body_size_limit keeps at most 16 MiB: a larger body fails, naming the limit', async () => {
    const section = `fail_if_body_not_matches_regexp: ['^x+$']`;
    const over = await probe(`${targets.http}/large?bytes=${16 * MiB + 1}`, section);
    expect(over.reason).toBe('protocol');
    expect(over.result.failure?.message).toBe('response body larger than 16 MiB, the most kept for the body regexes when the module sets no body_size_limit');
    expect(over.get('probe_http_uncompressed_body_length')).toBe(16 * MiB);
    expect(over.get('probe_failed_due_to_regex')).toBe(0);

    expect((await probe(`${targets.http}/large?bytes=${16 * MiB}`, section)).result.success).toBe(true);
  });

  test('a body regex reads past 16 MiB when body_size_limit allows it', async () => {
    const probed = await probe(`${targets.http}/large?bytes=${20 * MiB}&encoding=gzip`, `compression: gzip\nbody_size_limit: 32MiB\nfail_if_body_matches_regexp: ['y']`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(20 * MiB);
  });
});

describe('regular expressions', () => {
  test('fail_if_body_not_matches_regexp passes on a match, Go flags included, and fails on a miss', async () => {
    const section = `fail_if_body_not_matches_regexp: ['(?i)HELLO CHECKPOINT']`;
    const hit = await probe(`${targets.http}/ok`, section);
    expect(hit.result.success).toBe(true);
    expect(hit.get('probe_failed_due_to_regex')).toBe(0);

    const miss = await probe(`${targets.http}/body?text=${encodeURIComponent('something else')}`, section);
    expect(miss.reason).toBe('assertion');
    expect(miss.get('probe_failed_due_to_regex')).toBe(1);
    expect(miss.get('probe_http_status_code')).toBe(200);
  });

  test('fail_if_body_matches_regexp fails on a match', async () => {
    const section = `fail_if_body_matches_regexp: ['check.oint$']`;
    const matched = await probe(`${targets.http}/ok`, section);
    expect(matched.reason).toBe('assertion');
    expect(matched.get('probe_failed_due_to_regex')).toBe(1);
    expect((await probe(`${targets.http}/body?text=fine`, section)).result.success).toBe(true);
  });

  test('matching is linear in the body: (a+)+$ against a body built to make a backtracking engine hang', async () => {
    const hostile = encodeURIComponent(`${'a'.repeat(10_000)}!`);
    const probed = await probe(`${targets.http}/body?text=${hostile}`, `fail_if_body_matches_regexp: ['(a+)+$']`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_failed_due_to_regex')).toBe(0);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(10_001);
  });

  test('(?s) lets a dot cross lines, as in Go', async () => {
    const body = encodeURIComponent('first\nsecond');
    expect((await probe(`${targets.http}/body?text=${body}`, `fail_if_body_not_matches_regexp: ['first.second']`)).reason).toBe('assertion');
    expect((await probe(`${targets.http}/body?text=${body}`, `fail_if_body_not_matches_regexp: ['(?s)first.second']`)).result.success).toBe(true);
  });

  test('fail_if_header_not_matches checks the header case-insensitively by name', async () => {
    const section = `
      fail_if_header_not_matches:
        - header: x-CHECKPOINT
          regexp: '^ok-'
    `;
    const hit = await probe(`${targets.http}/ok`, section);
    expect(hit.result.success).toBe(true);
    expect(hit.get('probe_failed_due_to_regex')).toBe(0);

    const missing = await probe(`${targets.http}/`, section);
    expect(missing.reason).toBe('assertion');
    expect(missing.get('probe_failed_due_to_regex')).toBe(1);
  });

  test('allow_missing lets a header rule pass when the header is absent', async () => {
    const section = `
      fail_if_header_not_matches:
        - header: X-Checkpoint
          regexp: '^ok-'
          allow_missing: true
    `;
    expect((await probe(`${targets.http}/`, section)).result.success).toBe(true);
    const present = await probe(`${targets.http}/ok`, section.replace("'^ok-'", "'^nope'"));
    expect(present.reason).toBe('assertion');
  });

  test('fail_if_header_matches fails when the header matches', async () => {
    const probed = await probe(
      `${targets.http}/ok`,
      `
      fail_if_header_matches:
        - header: Content-Type
          regexp: 'text/plain'
    `,
    );
    expect(probed.reason).toBe('assertion');
    expect(probed.get('probe_failed_due_to_regex')).toBe(1);
  });
});

describe('TLS', () => {
  const caFile = () => `
    tls_config:
      ca_file: ${pki.caCertPath}
  `;

  test('tls_config.ca_file verifies the target and the ssl metrics describe its leaf', async () => {
    const probed = await probe(`${targets.https}/ok`, caFile());
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_ssl')).toBe(1);
    expect(probed.get('probe_http_version')).toBe(1.1);
    expect(probed.get('probe_ssl_earliest_cert_expiry')).toBe(unixSeconds(pki.server.notAfter));
    expect(probed.get('probe_ssl_last_chain_expiry_timestamp_seconds')).toBe(unixSeconds(pki.server.notAfter));
    expect(probed.get('probe_tls_version_info', { version: 'TLS 1.3' })).toBe(1);
    expect(probed.get('probe_http_duration_seconds', { phase: 'tls' })).toBeGreaterThan(0);
    const fingerprint = new X509Certificate(pki.server.cert).fingerprint256.replace(/:/g, '').toLowerCase();
    const info = [...probed.metrics.keys()].filter((key) => key.startsWith('probe_ssl_last_chain_info{'));
    expect(info).toEqual([`probe_ssl_last_chain_info{fingerprint_sha256="${fingerprint}",issuer="CN=Private Checkpoint Test CA",subject="CN=localhost",subjectalternative="localhost"}`]);
  });

  test('without the CA the certificate is not trusted', async () => {
    const probed = await probe(`${targets.https}/ok`);
    expect(probed.reason).toBe('tls');
    expect(probed.names.has('probe_ssl_earliest_cert_expiry')).toBe(false);
    expect(seen()).toHaveLength(0);
  });

  test('an expired certificate fails with reason tls, and passes with insecure_skip_verify', async () => {
    const expired = await probe(`${targets.expired}/ok`, caFile());
    expect(expired.reason).toBe('tls');
    expect(expired.get('probe_http_ssl')).toBe(0);
    expect(expired.names.has('probe_ssl_earliest_cert_expiry')).toBe(false);

    const skipped = await probe(
      `${targets.expired}/ok`,
      `
      tls_config:
        insecure_skip_verify: true
    `,
    );
    expect(skipped.result.success).toBe(true);
    expect(skipped.get('probe_http_ssl')).toBe(1);
    expect(skipped.get('probe_ssl_earliest_cert_expiry')).toBe(unixSeconds(`${EXPIRED_NOT_AFTER.slice(0, 4)}-01-01T00:00:00Z`));
  });

  test('a certificate for another name fails with reason tls, and passes with insecure_skip_verify', async () => {
    const wrong = await probe(`${targets.wrongHost}/ok`, caFile());
    expect(wrong.reason).toBe('tls');
    expect(wrong.result.failure?.message).toMatch(/altname|hostname/i);

    const skipped = await probe(
      `${targets.wrongHost}/ok`,
      `
      tls_config:
        insecure_skip_verify: true
    `,
    );
    expect(skipped.result.success).toBe(true);
  });

  test('tls_config.server_name picks the name the certificate is checked against', async () => {
    const probed = await probe(
      `${targets.wrongHost}/ok`,
      `
      tls_config:
        ca_file: ${pki.caCertPath}
        server_name: wrong.example
    `,
    );
    expect(probed.result.success).toBe(true);
  });

  test('a client certificate from cert_file/key_file is presented, and its absence is a tls failure', async () => {
    const withCert = await probe(
      `${targets.mtls}/ok`,
      `
      tls_config:
        ca_file: ${pki.caCertPath}
        cert_file: ${pki.client.certPath}
        key_file: ${pki.client.keyPath}
    `,
    );
    expect(withCert.result.success).toBe(true);
    expect(seen('mtls')[0]?.clientCertCN).toBe('checkpoint-probe');

    const without = await probe(`${targets.mtls}/ok`, caFile());
    expect(without.reason).toBe('tls');
    expect(without.get('probe_http_status_code')).toBe(0);
    expect(seen('mtls')).toHaveLength(1);
  });

  test('a cert_file that is not PEM fails with reason config, and the connection it opened is closed', async () => {
    const notPem = path.join(pki.dir, 'not-a-certificate.pem');
    await fs.writeFile(notPem, 'this is not a certificate\n');
    const probed = await probe(
      `${targets.mtls}/ok`,
      `
      tls_config:
        ca_file: ${pki.caCertPath}
        cert_file: ${notPem}
        key_file: ${pki.client.keyPath}
    `,
    );
    expect(probed.reason).toBe('config');
    expect(probed.result.failure?.message).toMatch(/^TLS handshake not started: the TLS settings cannot be used: /);
    expect(seen('mtls')).toHaveLength(0);
    // The afterEach check finds no socket left on either side.
  });

  test('fail_if_ssl fails a TLS answer; fail_if_not_ssl fails a plain one', async () => {
    const ssl = await probe(`${targets.https}/ok`, `${dedent(caFile())}\nfail_if_ssl: true`);
    expect(ssl.reason).toBe('assertion');
    expect(ssl.get('probe_http_ssl')).toBe(1);
    expect((await probe(`${targets.http}/ok`, 'fail_if_ssl: true')).result.success).toBe(true);

    const plain = await probe(`${targets.http}/ok`, 'fail_if_not_ssl: true');
    expect(plain.reason).toBe('assertion');
    expect(plain.get('probe_http_ssl')).toBe(0);
    expect((await probe(`${targets.https}/ok`, `${dedent(caFile())}\nfail_if_not_ssl: true`)).result.success).toBe(true);
  });

  test('fail_if_not_ssl looks at the final response, after a redirect to https', async () => {
    const to = `https://localhost:${targets.ports.https}/ok`;
    const probed = await probe(`${targets.http}/redirect-to?url=${encodeURIComponent(to)}`, `${dedent(caFile())}\nfail_if_not_ssl: true\npreferred_ip_protocol: ip4`);
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_redirects')).toBe(1);
    expect(probed.get('probe_http_ssl')).toBe(1);
  });
});

describe('HTTP versions', () => {
  const caFile = () => `
    tls_config:
      ca_file: ${pki.caCertPath}
  `;

  test('HTTP/1.1 over plain and TLS reports probe_http_version 1.1', async () => {
    expect((await probe(`${targets.http}/ok`)).get('probe_http_version')).toBe(1.1);
    expect((await probe(`${targets.https}/ok`, caFile())).get('probe_http_version')).toBe(1.1);
  });

  test('HTTP/2 is negotiated with a server that offers it, unless enable_http2 is false', async () => {
    const h2 = await probe(`${targets.h2}/ok`, caFile());
    expect(h2.result.success).toBe(true);
    expect(h2.get('probe_http_version')).toBe(2);
    expect(h2.get('probe_http_content_length')).toBe(OK_BODY.length);
    expect(h2.get('probe_http_last_modified_timestamp_seconds')).toBe(unixSeconds(OK_LAST_MODIFIED));
    expect(seen('h2')[0]?.httpVersion).toBe('2.0');

    targets.requests.length = 0;
    const h1 = await probe(`${targets.h2}/ok`, `${dedent(caFile())}\nenable_http2: false`);
    expect(h1.get('probe_http_version')).toBe(1.1);
    expect(seen('h2')[0]?.httpVersion).toBe('1.1');
  });

  test('HTTP/2 follows redirects and reads a body sent in pieces', async () => {
    const redirected = await probe(`${targets.h2}/redirect/2`, caFile());
    expect(redirected.result.success).toBe(true);
    expect(redirected.get('probe_http_redirects')).toBe(2);
    const chunked = await probe(`${targets.h2}/chunked`, `${dedent(caFile())}\nfail_if_body_not_matches_regexp: ['first chunk\\n(?:.|\\n)*second chunk']`);
    expect(chunked.result.success).toBe(true);
    expect(chunked.get('probe_http_content_length')).toBe(-1);
  });

  test('valid_http_versions fails a version not listed', async () => {
    const section = `${dedent(caFile())}\nvalid_http_versions: ['HTTP/2.0']`;
    const h1 = await probe(`${targets.https}/ok`, section);
    expect(h1.reason).toBe('assertion');
    expect(h1.get('probe_http_version')).toBe(1.1);
    expect((await probe(`${targets.h2}/ok`, section)).result.success).toBe(true);
  });
});

describe('what the probe sends', () => {
  test('compression: gzip asks for gzip and measures the body both ways', async () => {
    const probed = await probe(`${targets.http}/gzip`, 'compression: gzip');
    expect(probed.result.success).toBe(true);
    expect(header(seen('http')[0], 'accept-encoding')).toBe('gzip');
    const sent = probed.get('probe_http_content_length');
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(GZIP_PLAIN_BODY.length);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(GZIP_PLAIN_BODY.length);
  });

  test('an Accept-Encoding header in the module is sent as written', async () => {
    const probed = await probe(
      `${targets.http}/gzip`,
      `
      compression: gzip
      headers:
        Accept-Encoding: 'br;q=1.0, gzip;q=0.9'
    `,
    );
    expect(probed.result.success).toBe(true);
    expect(header(seen('http')[0], 'accept-encoding')).toBe('br;q=1.0, gzip;q=0.9');
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(GZIP_PLAIN_BODY.length);
  });

  test('compression: gzip fails on a body that is not gzip', async () => {
    const probed = await probe(`${targets.http}/ok`, 'compression: gzip');
    expect(probed.reason).toBe('protocol');
  });

  test('POST sends the configured body and headers', async () => {
    const probed = await probe(
      `${targets.http}/echo`,
      `
      method: POST
      headers:
        Content-Type: text/plain
        X-Probe-Header: probe-value
        User-Agent: custom-agent/1
      body: plain-text-body-123
      fail_if_body_not_matches_regexp:
        - '"method":"POST"'
        - '"body":"plain-text-body-123"'
    `,
    );
    expect(probed.result.success).toBe(true);
    const [request] = seen('http');
    expect(request?.method).toBe('POST');
    expect(header(request, 'x-probe-header')).toBe('probe-value');
    expect(header(request, 'content-type')).toBe('text/plain');
    expect(header(request, 'user-agent')).toBe('custom-agent/1');
    expect(header(request, 'content-length')).toBe(String('plain-text-body-123'.length));
  });

  test('body_file is read and sent as it is', async () => {
    const probed = await probe(
      `${targets.http}/echo`,
      `
      method: PUT
      body_file: ${files.body}
      fail_if_body_not_matches_regexp: ['"body":"line one\\\\nline two\\\\n"']
    `,
    );
    expect(probed.result.success).toBe(true);
    expect(seen('http')[0]?.method).toBe('PUT');
    expect(header(seen('http')[0], 'content-length')).toBe(String(Buffer.byteLength(BODY_FILE_TEXT)));
  });

  test('basic_auth with password_file is accepted; a wrong password fails with reason auth', async () => {
    for (const file of [files.password, files.passwordWithNewline]) {
      const probed = await probe(
        `${targets.http}/auth`,
        `
        basic_auth:
          username: ${AUTH_USER}
          password_file: ${file}
      `,
      );
      expect(probed.result.success).toBe(true);
    }
    const wrong = await probe(
      `${targets.http}/auth`,
      `
      basic_auth:
        username: ${AUTH_USER}
        password_file: ${files.wrongPassword}
    `,
    );
    expect(wrong.reason).toBe('auth');
    expect(wrong.get('probe_http_status_code')).toBe(401);
  });

  test('bearer_token_file is sent as a bearer token', async () => {
    const probed = await probe(`${targets.http}/auth`, `bearer_token_file: ${files.token}`);
    expect(probed.result.success).toBe(true);
    expect(header(seen('http')[0], 'authorization')).toBe(`Bearer ${AUTH_BEARER_TOKEN}`);
  });

  test('credentials follow a redirect on the same host, to https too, but never to another host', async () => {
    const auth = `
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: ${pki.caCertPath}
      basic_auth:
        username: ${AUTH_USER}
        password_file: ${files.password}
    `;
    const sameHost = `https://127.0.0.1:${targets.ports.https}/auth`;
    expect((await probe(`${targets.http}/redirect-to?url=${encodeURIComponent(sameHost)}`, auth)).result.success).toBe(true);

    // Another host the module's allowed_targets admits: the request goes there without credentials.
    targets.requests.length = 0;
    const otherHost = `http://localhost:${targets.ports.http}/auth`;
    const headers = `headers:\n  Cookie: session=1\n  X-Auth-Token: {secret_file: ${files.password}}`;
    const probed = await probe(`${targets.http}/redirect-to?url=${encodeURIComponent(otherHost)}`, `${dedent(auth)}\n${headers}`, { moduleKeys: 'allowed_targets: [localhost]' });
    expect(probed.reason).toBe('auth');
    const [first, second] = seen('http');
    expect(header(first, 'authorization')).toMatch(/^Basic /);
    expect(header(first, 'cookie')).toBe('session=1');
    expect(header(first, 'x-auth-token')).toBe(AUTH_PASSWORD);
    expect(second).toBeDefined();
    expect(header(second, 'authorization')).toBeUndefined();
    expect(header(second, 'cookie')).toBeUndefined();
    expect(header(second, 'x-auth-token')).toBeUndefined();
  });

  test('a module with a secret does not follow a redirect to a host outside its allowed targets', async () => {
    const otherHost = `http://localhost:${targets.ports.http}/ok`;
    const probed = await probe(
      `${targets.http}/redirect-to?url=${encodeURIComponent(otherHost)}`,
      `
      preferred_ip_protocol: ip4
      bearer_token_file: ${files.password}
    `,
    );
    expect(probed.reason).toBe('forbidden');
    expect(probed.result.failure?.message).toBe(
      `redirect to localhost:${targets.ports.http} refused: module "under_test" may reach only the targets of its monitors and its allowed_targets (it carries a secret)`,
    );
    expect(seen('http')).toHaveLength(1);
  });

  test.each(['gopher://127.0.0.1:70/x', 'ftp://127.0.0.1/x', 'file:///etc/passwd', 'javascript:alert(1)'])('a redirect to %s fails with reason protocol', async (location) => {
    const probed = await probe(`${targets.http}/redirect-to?url=${encodeURIComponent(location)}`, 'preferred_ip_protocol: ip4');
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toBe(`redirect to a ${new URL(location).protocol} URL: only http and https redirects are followed`);
    expect(seen('http')).toHaveLength(1);
  });

  test('the hostname parameter sets the Host header and the TLS name', async () => {
    const plain = await probe(`${targets.http}/echo`, '', { hostname: 'virtual.example' });
    expect(plain.result.success).toBe(true);
    expect(header(seen('http')[0], 'host')).toBe('virtual.example');

    targets.requests.length = 0;
    const secure = await probe(
      `${targets.https}/echo`,
      `
      tls_config:
        ca_file: ${pki.caCertPath}
    `,
      { hostname: 'localhost' },
    );
    expect(secure.result.success).toBe(true);
    expect(header(seen('https')[0], 'host')).toBe('localhost');
  });

  test('a Host override survives relative redirects but not absolute ones, as in Go', async () => {
    const relative = await probe(`${targets.http}/redirect/1`, '', { hostname: 'virtual.example' });
    expect(relative.result.success).toBe(true);
    expect(seen('http').map((request) => header(request, 'host'))).toEqual(['virtual.example', 'virtual.example']);

    targets.requests.length = 0;
    const absolute = `${targets.http}/ok`;
    const probed = await probe(
      `${targets.http}/redirect-to?url=${encodeURIComponent(absolute)}`,
      `
      headers:
        Host: virtual.example
    `,
    );
    expect(probed.result.success).toBe(true);
    expect(seen('http').map((request) => header(request, 'host'))).toEqual(['virtual.example', `127.0.0.1:${targets.ports.http}`]);
  });
});

/** Answers a raw TCP server sends, byte for byte: broken, hostile or merely unusual HTTP/1.x. */
describe('answers as raw bytes', () => {
  /** Probes a server that answers every request with `script`; the server is closed afterwards. */
  async function probeScripted(script: ScriptStep[], httpSection = '', options: ProbeOptions = {}): Promise<Probed & { requests: string[] }> {
    const server = await startScriptedServer(script);
    try {
      const probed = await probe(`${server.url}/path?q=1`, httpSection, options);
      // The probe closed its side: the server's side follows, unless the probe left its socket open.
      expect(await eventually(() => server.openSockets() === 0)).toBe(true);
      return { ...probed, requests: server.requests };
    } finally {
      await server.close();
    }
  }

  const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

  // As blackbox_exporter sends it (Go's client with keep-alives off): Host first, Content-Length
  // for a body and for a bodiless POST, PUT or PATCH only, and Connection: close, as this
  // connection carries one exchange. Header names are not case-sensitive; ours are lower case.
  test.each([
    ['GET', 'method: GET', ''],
    ['a bodiless POST', 'method: POST', 'content-length: 0\r\n'],
    ['DELETE', 'method: DELETE', ''],
    ['PROPFIND', 'method: PROPFIND', ''],
    ['a POST with a body', 'method: POST\nbody: abc\nheaders: {Content-Type: text/plain}', 'content-type: text/plain\r\ncontent-length: 3\r\n'],
  ])('%s goes out as blackbox_exporter sends it', async (_name, section, extra) => {
    const probed = await probeScripted([OK], section, { hostname: 'virtual.example' });
    expect(probed.result.success).toBe(true);
    const method = /\w+/.exec(section.slice('method: '.length))?.[0];
    const body = /body: (\w+)/.exec(section)?.[1] ?? '';
    expect(probed.requests).toEqual([`${method} /path?q=1 HTTP/1.1\r\nhost: virtual.example\r\nuser-agent: ${USER_AGENT}\r\n${extra}connection: close\r\n\r\n${body}`]);
  });

  test.each<[string, ScriptStep[]]>([
    ['garbage instead of a status line', ['this is not HTTP\r\n\r\n']],
    ['binary noise', [Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10])]],
    ['headers larger than 16 KiB', [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`]],
    ['a close before any answer', ['end']],
    ['a close in the middle of the headers', ['HTTP/1.1 200 OK\r\nX-Half: ', 'end']],
    ['a reset before any answer', ['reset']],
    ['only an interim 100 Continue, then a close', ['HTTP/1.1 100 Continue\r\n\r\n', 'end']],
    ['a 101 Switching Protocols nobody asked for', ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n']],
  ])('%s fails with reason protocol at once, the connection closed', async (_name, script) => {
    const probed = await probeScripted(script, '', { deadlineSeconds: 5 });
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toMatch(/^HTTP request failed: /);
    expect(probed.get('probe_http_status_code')).toBe(0);
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  test.each<[string, ScriptStep[], RegExp]>([
    ['a malformed chunk', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n'], /chunk size/],
    ['a chunked body cut short', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 'end'], /after 3 bytes/],
    ['a reset in the body', ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc', 'reset'], /after 3 bytes/],
  ])('%s fails reading the body with reason protocol, the status still reported', async (_name, script, message) => {
    const probed = await probeScripted(script);
    expect(probed.reason).toBe('protocol');
    expect(probed.result.failure?.message).toMatch(/^reading the response body failed/);
    expect(probed.result.failure?.message).toMatch(message);
    expect(probed.get('probe_http_status_code')).toBe(200);
  });

  // The server holds these connections open: only the probe's close ends them.
  test('a redirect whose body never ends is left at once, followed or not', async () => {
    const script = [`HTTP/1.1 302 Found\r\nLocation: ${targets.http}/ok\r\nContent-Length: 100\r\n\r\npartial`];
    const followed = await probeScripted(script, '', { deadlineSeconds: 5 });
    expect(followed.result.success).toBe(true);
    expect(followed.get('probe_http_redirects')).toBe(1);
    const stopped = await probeScripted(script, 'follow_redirects: false', { deadlineSeconds: 5 });
    expect(stopped.reason).toBe('status_code');
    expect(stopped.get('probe_http_status_code')).toBe(302);
    expect(stopped.result.durationSeconds).toBeLessThan(4);
  });

  test('a body that stalls is ended at the deadline with reason timeout', async () => {
    const probed = await probeScripted(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'], '', { deadlineSeconds: 1 });
    expect(probed.reason).toBe('timeout');
    expect(probed.get('probe_http_status_code')).toBe(200);
    expect(probed.result.durationSeconds).toBeLessThan(4);
  });

  // Go's client skips interim answers and reads no body where HTTP says there is none, whatever
  // Content-Length says; blackbox_exporter then reports the final answer.
  test.each<[string, ScriptStep[], number]>([
    ['100 Continue', ['HTTP/1.1 100 Continue\r\n\r\n', OK], 200],
    ['103 Early Hints', [`HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n${OK}`], 200],
    ['a 204 with a Content-Length', ['HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'], 204],
  ])('%s: the final answer is reported', async (_name, script, status) => {
    const probed = await probeScripted(script, 'valid_status_codes: [200, 204]');
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_status_code')).toBe(status);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(status === 204 ? 0 : 2);
  });

  test('the answer to HEAD has no body, whatever its Content-Length says', async () => {
    const probed = await probeScripted(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'], 'method: HEAD');
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_content_length')).toBe(1000);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe(0);
  });

  test('an HTTP/1.0 answer, its body ended by the close, reports probe_http_version 1.0', async () => {
    const probed = await probeScripted(['HTTP/1.0 200 OK\r\n\r\nuntil the close', 'end'], "valid_http_versions: ['HTTP/1.0']");
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_http_version')).toBe(1);
    expect(probed.get('probe_http_content_length')).toBe(-1);
    expect(probed.get('probe_http_uncompressed_body_length')).toBe('until the close'.length);
  });

  test('the values of a repeated header are matched one by one, never joined, as Go does', async () => {
    const probed = await probeScripted(
      ['HTTP/1.1 200 OK\r\nX-Repeated: first\r\nX-Repeated: second\r\nContent-Length: 2\r\n\r\nok'],
      `
      fail_if_header_not_matches:
        - header: X-Repeated
          regexp: '^second$'
      fail_if_header_matches:
        - header: X-Repeated
          regexp: ','
    `,
    );
    expect(probed.result.success).toBe(true);
  });
});
