/**
 * Side by side with the reference: Debian's blackbox_exporter and our checkpoint run the SAME
 * module file, probe the same real targets through their /probe endpoints, and must agree on
 * the metrics dashboards and alerts read. Where they do not, the table says why, and the reason
 * belongs in the README's list of deliberate differences.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { BLACKBOX_BIN, startBlackbox, type Blackbox } from '../support/blackbox';
import { makeTestPki, type TestPki } from '../support/certs';
import { startCheckpoint, type RunningCheckpoint } from '../support/checkpoint-server';
import { startForwardProxy, type ForwardProxy } from '../support/forward-proxy';
import { AUTH_BEARER_TOKEN, AUTH_PASSWORD, AUTH_USER, startTargets, type Targets } from '../support/http-targets';
import { startOAuth2Server, type OAuth2Server } from '../support/oauth2-server';
import { metricNames, parseMetrics, value } from '../support/metrics-text';
import { sleep } from '../support/processes';

/**
 * Metrics we add to every probe (or to some) that blackbox_exporter 0.23 does not have, on
 * purpose. Everything else must match blackbox_exporter's set of names, case by case.
 */
export const DELIBERATE_EXTRA_METRICS: Readonly<Record<string, string>> = {
  probe_timeout_seconds: 'the deadline the probe ran under (module timeout or scrape timeout less the offset), so a timeout can be told from a slow answer',
  probe_attempts: 'how many tries the probe took: modules may set `retries`, which blackbox_exporter does not have',
  probe_failure_reason: 'why a probe failed, on a closed set of reasons (dns, connect, tls, timeout, ...), so alerts can say why without reading the debug log',
  probe_tls_cipher_info: 'the negotiated cipher suite; newer blackbox_exporter releases expose it under this name, 0.23 does not',
};

/**
 * Series whose values are timings, so never equal between two runs: compared by name only.
 * Every other series (probe_success, probe_http_status_code, probe_http_redirects,
 * probe_http_ssl, probe_failed_due_to_regex, probe_http_version, probe_ssl_earliest_cert_expiry,
 * the body lengths, the ssl/tls info labels, the address hash, ...) must have the same labels
 * and value as blackbox_exporter's, unless the case names it as a deliberate difference.
 */
const TIMINGS = new Set(['probe_duration_seconds', 'probe_http_duration_seconds', 'probe_dns_lookup_time_seconds']);

interface Case {
  name: string;
  module: string;
  target: (targets: Targets) => string;
  /** What both are expected to say, so a case cannot pass by both failing for a reason it did not mean to test. */
  success: 0 | 1;
  /** Where we differ on purpose: the metrics left out of the comparison, and why. */
  deliberate?: { differs: string[]; because: string };
  /** What our probe must report instead, for the metrics (without labels) of a deliberate difference. */
  ours?: Record<string, number>;
}

let pki: TestPki;
let targets: Targets;
let blackbox: Blackbox;
let configDir: string;
let ours: RunningCheckpoint;

let proxy: ForwardProxy;
/** The same proxy, but one that wants PROXY_USER:PROXY_PASSWORD (in the module's proxy_url). */
let authProxy: ForwardProxy;
let oauth: OAuth2Server;

const passwordFile = () => path.join(configDir, 'password');
const tokenFile = () => path.join(configDir, 'token');
const clientSecretFile = () => path.join(configDir, 'client-secret');
const PROXY_USER = 'prox y';
const PROXY_PASSWORD = 'pr0xy:pw@';
const CLIENT_ID = 'checkpoint probe';
const CLIENT_SECRET = 'cl1ent&secret';
/** The forward proxies and the token endpoint tell the two probers apart by their User-Agent. */
const GO_CLIENT = /^(Blackbox Exporter|Go-http-client)\//;
const OURS = /^Private-Checkpoint/;

/** The one module file both exporters load. `preferred_ip_protocol: ip4` because the targets listen on 127.0.0.1 only. */
function modulesYaml(): string {
  const ca = pki.caCertPath;
  return `
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  no_follow:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      follow_redirects: false
  body_regex:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ['(?i)HELLO CHECKPOINT']
  header_regex:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches:
        - header: X-Checkpoint
          regexp: '^ok-'
  header_absent_allowed:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_matches:
        - header: X-Not-There
          regexp: '.*'
          allow_missing: true
  https_ca:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: ${ca}
  https_insecure:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        insecure_skip_verify: true
  https_client_cert:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: ${ca}
        cert_file: ${pki.client.certPath}
        key_file: ${pki.client.keyPath}
  h1_only:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      enable_http2: false
      tls_config:
        ca_file: ${ca}
  want_h2:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_http_versions: ['HTTP/2.0']
      tls_config:
        ca_file: ${ca}
  valid_404:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [404]
  short_timeout:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
  not_ssl:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
      tls_config:
        ca_file: ${ca}
  gzip:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      compression: gzip
      headers:
        Accept-Encoding: gzip
  gzip_no_header:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      compression: gzip
  ip6_only:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip6
      ip_protocol_fallback: false
  ip6_fallback:
    prober: http
    timeout: 5s
    http: {}
  small_limit:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      body_size_limit: 10B
  gzip_small_limit:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      compression: gzip
      body_size_limit: 100B
      headers:
        Accept-Encoding: gzip
  basic_auth:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      basic_auth:
        username: ${AUTH_USER}
        password_file: ${passwordFile()}
  bearer_inline:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      bearer_token: ${AUTH_BEARER_TOKEN}
  authorization_file:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      authorization:
        credentials_file: ${tokenFile()}
  authorization_inline:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      authorization:
        type: Bearer
        credentials: ${AUTH_BEARER_TOKEN}
  authorization_custom_type:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      authorization:
        type: Token
        credentials_file: ${tokenFile()}
  via_proxy:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      proxy_url: ${proxy.url}
      proxy_connect_header:
        X-Tunnel-Tag: [conformance]
      tls_config:
        ca_file: ${ca}
  via_auth_proxy:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      proxy_url: ${withCredentials(authProxy.url, PROXY_USER, PROXY_PASSWORD)}
      tls_config:
        ca_file: ${ca}
  via_auth_proxy_wrong_password:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      proxy_url: ${withCredentials(authProxy.url, PROXY_USER, 'wrong')}
      tls_config:
        ca_file: ${ca}
  via_proxy_down:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      proxy_url: http://127.0.0.1:${targets.ports.refused}
  oauth2:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: ${CLIENT_ID}
        client_secret_file: ${clientSecretFile()}
        token_url: ${oauth.tokenUrl}
        scopes: [probe, read]
        endpoint_params: {audience: checkpoint, lifetime: '3600'}
  oauth2_short_lived:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: ${CLIENT_ID}
        client_secret: ${CLIENT_SECRET}
        token_url: ${oauth.tokenUrl}
        scopes: [probe, read]
        # Within the 10 s margin both clients keep before an expiry: every token is already stale.
        endpoint_params: {audience: checkpoint, lifetime: '5'}
  oauth2_through_proxy:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: ${CLIENT_ID}
        client_secret_file: ${clientSecretFile()}
        token_url: ${oauth.tokenUrl}
        scopes: [probe, read]
        endpoint_params: {audience: checkpoint, lifetime: '3600', via: proxy}
        proxy_url: ${proxy.url}
  oauth2_short_lived_through_proxy:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: ${CLIENT_ID}
        client_secret_file: ${clientSecretFile()}
        token_url: ${oauth.tokenUrl}
        scopes: [probe, read]
        endpoint_params: {audience: checkpoint, lifetime: '5'}
        proxy_url: ${proxy.url}
  oauth2_expiring:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: ${CLIENT_ID}
        client_secret_file: ${clientSecretFile()}
        token_url: ${oauth.tokenUrl}
        scopes: [probe, read]
        # Kept 2 s: 12 s less the 10 s margin.
        endpoint_params: {audience: checkpoint, lifetime: '12'}
  oauth2_wrong_secret:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: ${CLIENT_ID}
        client_secret: not-the-secret
        token_url: ${oauth.tokenUrl}
        scopes: [probe, read]
        endpoint_params: {audience: checkpoint}
`;
}

/** A proxy URL with credentials, percent-encoded as a URL must have them. */
function withCredentials(url: string, user: string, password: string): string {
  const withUser = new URL(url);
  withUser.username = user;
  withUser.password = password;
  return withUser.href;
}

const INSECURE_CHAIN_EXPIRY =
  'with insecure_skip_verify Go verifies no chain, and blackbox_exporter reports the zero time (-62135596800, year 1) as the last chain expiry; we report the earliest expiry of the chain the server presented, so expiry alerts still work on such modules';

const CASES: Case[] = [
  { name: '200', module: 'http_2xx', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'target without a scheme', module: 'http_2xx', target: (t) => `127.0.0.1:${t.ports.http}/ok`, success: 1 },
  { name: '404', module: 'http_2xx', target: (t) => `${t.http}/status/404`, success: 0 },
  { name: '500', module: 'http_2xx', target: (t) => `${t.http}/status/500`, success: 0 },
  { name: '401', module: 'http_2xx', target: (t) => `${t.http}/auth`, success: 0 },
  { name: 'redirect chain', module: 'http_2xx', target: (t) => `${t.http}/redirect/3`, success: 1 },
  { name: 'ten redirects', module: 'http_2xx', target: (t) => `${t.http}/redirect/10`, success: 1 },
  { name: 'too many redirects', module: 'http_2xx', target: (t) => `${t.http}/redirect/11`, success: 0 },
  { name: 'follow_redirects false', module: 'no_follow', target: (t) => `${t.http}/redirect/2`, success: 0 },
  { name: 'body regex hit, (?i)', module: 'body_regex', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'body regex miss', module: 'body_regex', target: (t) => `${t.http}/body?text=nope`, success: 0 },
  { name: 'header regex hit', module: 'header_regex', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'header regex, header missing', module: 'header_regex', target: (t) => `${t.http}/`, success: 0 },
  { name: 'header regex, allow_missing', module: 'header_absent_allowed', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'https with ca_file', module: 'https_ca', target: (t) => `${t.https}/ok`, success: 1 },
  { name: 'https by name with ca_file', module: 'https_ca', target: (t) => `${t.localhost.https}/ok`, success: 1 },
  { name: 'https without the CA', module: 'http_2xx', target: (t) => `${t.https}/ok`, success: 0 },
  { name: 'expired certificate', module: 'https_ca', target: (t) => `${t.expired}/ok`, success: 0 },
  {
    name: 'expired certificate, insecure_skip_verify',
    module: 'https_insecure',
    target: (t) => `${t.expired}/ok`,
    success: 1,
    ours: { probe_ssl_last_chain_expiry_timestamp_seconds: Date.parse('2021-01-01T00:00:00Z') / 1000 },
    deliberate: {
      differs: ['probe_ssl_last_chain_expiry_timestamp_seconds'],
      because: INSECURE_CHAIN_EXPIRY,
    },
  },
  { name: 'wrong host name', module: 'https_ca', target: (t) => `${t.wrongHost}/ok`, success: 0 },
  {
    name: 'wrong host name, insecure_skip_verify',
    module: 'https_insecure',
    target: (t) => `${t.wrongHost}/ok`,
    success: 1,
    deliberate: {
      differs: ['probe_ssl_last_chain_expiry_timestamp_seconds'],
      because: INSECURE_CHAIN_EXPIRY,
    },
  },
  { name: 'client certificate', module: 'https_client_cert', target: (t) => `${t.mtls}/ok`, success: 1 },
  { name: 'client certificate missing', module: 'https_ca', target: (t) => `${t.mtls}/ok`, success: 0 },
  { name: 'h2', module: 'https_ca', target: (t) => `${t.h2}/ok`, success: 1 },
  { name: 'h2 redirect chain', module: 'https_ca', target: (t) => `${t.h2}/redirect/2`, success: 1 },
  { name: 'h2 server, enable_http2 false', module: 'h1_only', target: (t) => `${t.h2}/ok`, success: 1 },
  { name: 'valid_http_versions HTTP/2.0 against h2', module: 'want_h2', target: (t) => `${t.h2}/ok`, success: 1 },
  { name: 'valid_http_versions HTTP/2.0 against HTTP/1.1', module: 'want_h2', target: (t) => `${t.https}/ok`, success: 0 },
  { name: 'valid_status_codes', module: 'valid_404', target: (t) => `${t.http}/status/404`, success: 1 },
  { name: 'valid_status_codes, 200 not listed', module: 'valid_404', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'connection refused', module: 'http_2xx', target: (t) => t.refused, success: 0 },
  { name: 'black hole, 1s timeout', module: 'short_timeout', target: (t) => t.blackHole, success: 0 },
  { name: 'slow answer, 1s timeout', module: 'short_timeout', target: (t) => `${t.http}/slow?ms=20000`, success: 0 },
  { name: 'unresolvable name', module: 'http_2xx', target: () => 'http://does-not-exist.invalid/', success: 0 },
  // An IPv4 literal, not localhost: whether localhost has an IPv6 address depends on the machine.
  { name: 'no IPv6 address, fallback off', module: 'ip6_only', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'no IPv6 address, default fallback to IPv4', module: 'ip6_fallback', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'fail_if_not_ssl on http', module: 'not_ssl', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'fail_if_not_ssl on https', module: 'not_ssl', target: (t) => `${t.https}/ok`, success: 1 },
  { name: 'fail_if_not_ssl after a redirect to https', module: 'not_ssl', target: (t) => `${t.http}/redirect-to?url=${encodeURIComponent(`${t.localhost.https}/ok`)}`, success: 1 },
  { name: 'compression gzip with Accept-Encoding', module: 'gzip', target: (t) => `${t.http}/gzip`, success: 1 },
  { name: 'body cut short', module: 'http_2xx', target: (t) => `${t.http}/truncated`, success: 0 },
  { name: 'h2 body cut short', module: 'https_ca', target: (t) => `${t.h2}/truncated`, success: 0 },
  { name: 'gzip body that is not gzip', module: 'gzip', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'body_size_limit exceeded', module: 'small_limit', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'body_size_limit exceeded once uncompressed', module: 'gzip_small_limit', target: (t) => `${t.http}/gzip`, success: 0 },
  { name: 'body_size_limit not exceeded', module: 'small_limit', target: (t) => `${t.http}/body?text=short`, success: 1 },
  { name: 'basic_auth with password_file', module: 'basic_auth', target: (t) => `${t.http}/auth`, success: 1 },
  { name: 'bearer_token inline', module: 'bearer_inline', target: (t) => `${t.http}/auth`, success: 1 },
  { name: 'authorization with credentials_file, type Bearer by default', module: 'authorization_file', target: (t) => `${t.http}/auth`, success: 1 },
  { name: 'authorization with inline credentials', module: 'authorization_inline', target: (t) => `${t.http}/auth`, success: 1 },
  { name: 'authorization of a type the target refuses', module: 'authorization_custom_type', target: (t) => `${t.http}/auth`, success: 0 },
  { name: 'http through the proxy', module: 'via_proxy', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'https through the proxy (CONNECT)', module: 'via_proxy', target: (t) => `${t.https}/ok`, success: 1 },
  { name: 'h2 through the proxy (CONNECT)', module: 'via_proxy', target: (t) => `${t.h2}/ok`, success: 1 },
  { name: 'redirects through the proxy', module: 'via_proxy', target: (t) => `${t.http}/redirect/2`, success: 1 },
  { name: 'http through a proxy with credentials', module: 'via_auth_proxy', target: (t) => `${t.http}/ok`, success: 1 },
  { name: 'https through a proxy with credentials', module: 'via_auth_proxy', target: (t) => `${t.https}/ok`, success: 1 },
  { name: 'http through a proxy refusing the credentials (407)', module: 'via_auth_proxy_wrong_password', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'https through a proxy refusing the credentials (407 to CONNECT)', module: 'via_auth_proxy_wrong_password', target: (t) => `${t.https}/ok`, success: 0 },
  { name: 'proxy down', module: 'via_proxy_down', target: (t) => `${t.http}/ok`, success: 0 },
  { name: 'oauth2 client credentials', module: 'oauth2', target: () => `${oauth.url}/protected`, success: 1 },
  { name: 'oauth2 token endpoint through the proxy', module: 'oauth2_through_proxy', target: () => `${oauth.url}/protected`, success: 1 },
  { name: 'oauth2 secret refused by the token endpoint', module: 'oauth2_wrong_secret', target: () => `${oauth.url}/protected`, success: 0 },
  {
    name: 'oauth2 token not sent to another host after a redirect',
    module: 'oauth2',
    target: () => `${oauth.url}/redirect-to?url=${encodeURIComponent(`${oauth.localhostUrl}/protected`)}`,
    success: 1,
    ours: { probe_success: 0, probe_http_status_code: 401 },
    deliberate: {
      differs: ['probe_success', 'probe_http_status_code'],
      because: 'blackbox_exporter sends the OAuth2 token to every host a redirect leads to; we send it only to the target host and its subdomains, as any other credential',
    },
  },
  {
    name: 'compression gzip without Accept-Encoding',
    module: 'gzip_no_header',
    target: (t) => `${t.http}/gzip`,
    // Check that blackbox_exporter still fails here; if a fix lands upstream, this row goes.
    success: 0,
    ours: { probe_success: 1 },
    deliberate: {
      differs: ['probe_success', 'probe_http_content_length', 'probe_http_uncompressed_body_length'],
      because:
        'blackbox_exporter 0.23 does not ask for the encoding that `compression` names, so a server that negotiates answers plainly and the decompression fails; we send `Accept-Encoding: <compression>` unless the module sets that header',
    },
  },
  {
    name: 'basic_auth not sent to another host after a redirect',
    module: 'basic_auth',
    target: (t) => `${t.http}/redirect-to?url=${encodeURIComponent(`${t.localhost.http}/auth`)}`,
    success: 1,
    ours: { probe_success: 0, probe_http_status_code: 401 },
    deliberate: {
      differs: ['probe_success', 'probe_http_status_code', 'probe_http_content_length', 'probe_http_uncompressed_body_length'],
      because:
        'blackbox_exporter adds basic_auth and bearer tokens to every request, including a redirect to another host; we send credentials only to the target host and its subdomains, as Go does for an Authorization header',
    },
  },
];

beforeAll(async () => {
  pki = await makeTestPki();
  targets = await startTargets(pki);
  configDir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-conformance-'));
  await fs.writeFile(passwordFile(), AUTH_PASSWORD);
  await fs.writeFile(tokenFile(), `${AUTH_BEARER_TOKEN}\n`);
  await fs.writeFile(clientSecretFile(), CLIENT_SECRET);
  proxy = await startForwardProxy();
  authProxy = await startForwardProxy();
  authProxy.requireAuthorization = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`;
  oauth = await startOAuth2Server({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scope: 'probe read', params: { audience: 'checkpoint' } });
  blackbox = await startBlackbox(modulesYaml());
  // timeoutOffsetSeconds 0.5 (the helper's default) is blackbox_exporter's --timeout-offset default.
  ours = await startCheckpoint(withLocalTargetsAllowed(modulesYaml()), { maxConcurrentProbes: 16, historyLimit: 10 });
});

afterAll(async () => {
  await blackbox?.stop();
  await ours?.stop();
  await targets?.close();
  await proxy?.close();
  await authProxy?.close();
  await oauth?.close();
  await pki?.cleanup();
  if (configDir) await fs.rm(configDir, { recursive: true, force: true });
});

/**
 * The same modules for the checkpoint, each allowed to probe the local targets: a module with a
 * secret (basic_auth, a client key) probes only its declared targets, a key blackbox_exporter
 * does not know (a deliberate difference, README).
 */
function withLocalTargetsAllowed(yaml: string): string {
  const config = parse(yaml) as { modules: Record<string, Record<string, unknown>> };
  for (const module of Object.values(config.modules)) module.allowed_targets = ['127.0.0.1', 'localhost', 'does-not-exist.invalid'];
  return stringify(config);
}

async function probeOurs(module: string, target: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${ours.url}/probe?${new URLSearchParams({ module, target }).toString()}`);
  return { status: response.status, text: await response.text() };
}

test('the deliberate differences each give a reason', () => {
  for (const [name, reason] of Object.entries(DELIBERATE_EXTRA_METRICS)) {
    expect(name).toMatch(/^probe_[a-z_]+$/);
    expect(reason.length).toBeGreaterThan(20);
  }
  for (const row of CASES.filter((c) => c.deliberate)) expect(row.deliberate!.because.length).toBeGreaterThan(20);
});

test.each(CASES.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
  const target = row.target(targets);
  const [theirs, ours] = await Promise.all([blackbox.probe(row.module, target), probeOurs(row.module, target)]);
  expect(theirs.status).toBe(200);
  expect(ours.status).toBe(200);
  const theirMetrics = theirs.metrics;
  const ourMetrics = parseMetrics(ours.text);
  const excluded = new Set(row.deliberate?.differs ?? []);

  expect(value(theirMetrics, 'probe_success')).toBe(row.success);
  const mismatches: string[] = [];
  for (const key of new Set([...theirMetrics.keys(), ...ourMetrics.keys()])) {
    const name = key.replace(/\{.*$/, '');
    if (name in DELIBERATE_EXTRA_METRICS || TIMINGS.has(name) || excluded.has(name)) continue;
    if (ourMetrics.get(key) !== theirMetrics.get(key)) mismatches.push(`${key}: blackbox_exporter ${theirMetrics.get(key)}, ours ${ourMetrics.get(key)}`);
  }
  for (const [name, expected] of Object.entries(row.ours ?? {})) {
    if (ourMetrics.get(name) !== expected) mismatches.push(`${name}: expected ours to be ${expected} (a deliberate difference), got ${ourMetrics.get(name)}`);
  }
  expect(mismatches).toEqual([]);

  const ourNames = [...metricNames(ours.text)].filter((name) => !(name in DELIBERATE_EXTRA_METRICS)).sort();
  expect(ourNames).toEqual([...metricNames(theirs.text)].sort());
  // Dashboards and people read the HELP lines too: the same metric says the same thing.
  const theirHelp = helpLines(theirs.text);
  expect(ourNames.map((name) => [name, helpLines(ours.text).get(name)])).toEqual(ourNames.map((name) => [name, theirHelp.get(name)]));
});

/** Each metric's HELP text, by name. */
function helpLines(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# HELP (\S+) (.*)$/gm)].map((match) => [match[1] ?? '', match[2] ?? '']));
}

/** Probes with both, one after the other (so the servers' records come in a known order). */
async function probeBoth(module: string, target: string): Promise<void> {
  const theirs = await blackbox.probe(module, target);
  const answer = await probeOurs(module, target);
  expect([theirs.status, answer.status]).toEqual([200, 200]);
}

describe('what reaches the proxy and the token endpoint, from each prober', () => {
  test('http by absolute URI with the name, https by CONNECT to the resolved address with proxy_connect_header', async () => {
    proxy.requests.length = 0;
    await probeBoth('via_proxy', `${targets.localhost.http}/ok`);
    await probeBoth('via_proxy', `${targets.localhost.https}/ok`);
    const seen = proxy.requests.map((request) => ({
      client: GO_CLIENT.test(String(request.headers['user-agent'])) ? 'go' : OURS.test(String(request.headers['user-agent'])) ? 'ours' : request.headers['user-agent'],
      method: request.method,
      target: request.target,
      tag: request.headers['x-tunnel-tag'],
    }));
    expect(seen).toEqual([
      { client: 'go', method: 'GET', target: `http://localhost:${targets.ports.http}/ok`, tag: undefined },
      { client: 'ours', method: 'GET', target: `http://localhost:${targets.ports.http}/ok`, tag: undefined },
      { client: 'go', method: 'CONNECT', target: `127.0.0.1:${targets.ports.https}`, tag: 'conformance' },
      { client: 'ours', method: 'CONNECT', target: `127.0.0.1:${targets.ports.https}`, tag: 'conformance' },
    ]);
  });

  test("the proxy URL's credentials go to the proxy as Proxy-Authorization, in requests and in CONNECT", async () => {
    authProxy.requests.length = 0;
    await probeBoth('via_auth_proxy', `${targets.http}/ok`);
    await probeBoth('via_auth_proxy', `${targets.https}/ok`);
    expect(authProxy.requests.map((request) => [request.method, request.headers['proxy-authorization']])).toEqual([
      ['GET', authProxy.requireAuthorization],
      ['GET', authProxy.requireAuthorization],
      ['CONNECT', authProxy.requireAuthorization],
      ['CONNECT', authProxy.requireAuthorization],
    ]);
  });

  test('a proxy refusing the tunnel fails our probe as auth (407); an unreachable proxy as connect', async () => {
    expect((await probeOurs('via_auth_proxy_wrong_password', `${targets.https}/ok`)).text).toContain('probe_failure_reason{reason="auth"} 1');
    expect((await probeOurs('via_proxy_down', `${targets.http}/ok`)).text).toContain('probe_failure_reason{reason="connect"} 1');
  });

  test('authorization: the type and the credentials as written, from both', async () => {
    targets.requests.length = 0;
    await probeBoth('authorization_custom_type', `${targets.http}/auth`);
    expect(targets.requests.map((request) => request.headers.authorization)).toEqual([`Token ${AUTH_BEARER_TOKEN}`, `Token ${AUTH_BEARER_TOKEN}`]);
  });

  test('oauth2: blackbox_exporter asks for a token at every probe; we keep one per module until 10 s before it expires', async () => {
    oauth.issued.length = 0;
    oauth.refusals.length = 0;
    for (let i = 0; i < 3; i++) await probeBoth('oauth2_through_proxy', `${oauth.url}/protected`);
    for (let i = 0; i < 3; i++) await probeBoth('oauth2_short_lived', `${oauth.url}/protected`);
    const count = (client: RegExp, lifetime: number) => oauth.issued.filter((token) => client.test(token.userAgent) && token.expiresIn === lifetime).length;
    // The 3600 s token was fetched by the table's case already: none is fetched again.
    expect({ goLong: count(GO_CLIENT, 3600), oursLong: count(OURS, 3600), goShort: count(GO_CLIENT, 5), oursShort: count(OURS, 5) }).toEqual({ goLong: 3, oursLong: 0, goShort: 3, oursShort: 3 });
    expect(oauth.refusals).toEqual([]);
    expect(oauth.issued.map((token) => token.userAgent).filter((agent) => !GO_CLIENT.test(agent) && !OURS.test(agent))).toEqual([]);
  });

  test('oauth2: our kept token is fetched anew once it is within 10 s of its expiry', async () => {
    oauth.issued.length = 0;
    const ours12 = () => oauth.issued.filter((token) => OURS.test(token.userAgent) && token.expiresIn === 12);
    const deadline = Date.now() + 30_000;
    // Probe until a second token comes: the first is kept 2 s, so it takes a few probes at most.
    while (ours12().length < 2 && Date.now() < deadline) {
      expect((await probeOurs('oauth2_expiring', `${oauth.url}/protected`)).text).toMatch(/^probe_success 1$/m);
      await sleep(200);
    }
    expect(ours12()).toHaveLength(2);
    expect(oauth.refusals).toEqual([]);
  });

  test("oauth2: the token request alone goes through oauth2's proxy_url, with the client's secret; the target gets only the token", async () => {
    proxy.requests.length = 0;
    oauth.seenAuthorizations.length = 0;
    await probeBoth('oauth2_short_lived_through_proxy', `${oauth.url}/protected`);
    const clientBasic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID).replace(/%20/g, '+')}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;
    expect(proxy.requests.map((request) => [request.method, request.target])).toEqual([
      ['POST', oauth.tokenUrl],
      ['POST', oauth.tokenUrl],
    ]);
    expect(proxy.requests.map((request) => request.headers.authorization === clientBasic || request.headers.authorization)).toEqual([true, true]);
    expect(oauth.seenAuthorizations.map((authorization) => oauth.issuedToken(authorization))).toEqual([true, true]);
  });
});

describe('keys newer than blackbox_exporter 0.23', () => {
  test.each(['no_proxy: localhost', 'proxy_from_environment: true'])('%s: refused by blackbox_exporter 0.23, and by us as an unknown key', async (line) => {
    const file = path.join(configDir, 'newer-keys.yml');
    const yaml = `modules:\n  m:\n    prober: http\n    http:\n      proxy_url: http://127.0.0.1:3128\n      ${line}\n`;
    await fs.writeFile(file, yaml);
    const check = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(BLACKBOX_BIN, [`--config.file=${file}`, '--config.check'], (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, output: `${stdout}${stderr}` }));
    });
    expect(check.code).not.toBe(0);
    expect(check.output).toContain(`field ${line.split(':')[0]} not found`);
    expect(() => parseConfig(yaml, 'c.yml', builtInProbers, { checkSecretSources: false })).toThrow(/must NOT have additional properties|unknown key/);
  });
});
