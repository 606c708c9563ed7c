/**
 * The http prober: blackbox_exporter's http module, step for step, with the same metrics, and a
 * failure reason for every way it can fail.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ProbeContext } from '../../src/probe/prober';
import { ProbeFailure, type FailureReason } from '../../src/probe/failure';
import { BodyReadFailure, readBody, type Body } from './body';
import { exchange, type HopResponse } from './exchange';
import { openHopConnection } from './proxy';
import { createHttpMetrics, type HttpMetrics } from './metrics';
import { regexpMatches } from '../../src/config/regexp';
import { addOAuth2Token, readRequestParts, type RequestParts } from './request-parts';
import { tlsOptions } from '../../src/net/tls-config';
import { resolveTarget } from '../../src/net/resolve';
import type { HeaderMatchSettings, HttpSettings } from './schema';
import { bodySizeLimitBytes } from './size';
import { registerTlsMetrics } from '../../src/net/tls-facts';
import { unbracketedHost } from '../../src/net/url-host';
import type { HttpTarget } from './target';

/** Go's http.Client gives up after this many redirects, and so does blackbox_exporter. */
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Go's client drops these on a redirect to another host, whoever set them (credentials go too, see RequestParts). */
const SENSITIVE_HEADERS = ['www-authenticate', 'cookie2'];

interface Outcome {
  reason: FailureReason;
  message: string;
}

export async function probeHttp(probe: ProbeContext<HttpSettings, HttpTarget>): Promise<boolean> {
  const metrics = createHttpMetrics(probe);
  const open: HopResponse[] = [];
  try {
    const parts = await readRequestParts(probe.settings);
    const { response, redirects, followedAll } = await followRedirects(probe, parts, metrics, open);
    metrics.redirects.set(redirects);
    const outcome = await judgeResponse(probe, response, followedAll, metrics);
    if (outcome) return probe.fail(outcome.reason, outcome.message);
    return true;
  } finally {
    await Promise.all(open.map((hop) => hop.close()));
  }
}

/** Sends the request and follows redirects the way Go's client does; returns the last response. */
async function followRedirects(probe: ProbeContext<HttpSettings, HttpTarget>, parts: RequestParts, metrics: HttpMetrics, open: HopResponse[]) {
  const { settings, log, signal } = probe;
  const origin = probe.target.url;
  let url = origin;
  let method = settings.method.toUpperCase();
  let body = parts.body;
  // `?hostname=` or a configured Host header; like Go, kept only while redirects stay relative.
  let hostOverride: string | undefined = probe.hostname ?? parts.headers.host;
  for (let redirects = 0; ;) {
    const host = unbracketedHost(url.hostname);
    metrics.phases.enter('resolve');
    log.info('Resolving target address', { host, ip_protocol: settings.preferred_ip_protocol });
    const resolved = await resolveTarget(host, settings.preferred_ip_protocol, settings.ip_protocol_fallback, signal);
    log.info('Resolved target address', { host, ip: resolved.address });
    metrics.phases.add('resolve', resolved.seconds);
    if (url === origin) {
      metrics.address.report(resolved);
      await addOAuth2Token(parts, settings, signal);
    }

    const secure = url.protocol === 'https:';
    const hostHeader = hostOverride ?? url.host;
    metrics.phases.enter('connect');
    const connection = await openHopConnection({
      url,
      address: resolved.address,
      proxyUrl: settings.proxy_url,
      connectHeaders: settings.proxy_connect_header,
      tls: secure ? await tlsOptions(settings.tls_config, settings.tls_config?.server_name ?? probe.hostname ?? host, settings.enable_http2 ? ['h2', 'http/1.1'] : ['http/1.1']) : undefined,
      ipProtocol: settings.preferred_ip_protocol,
      ipProtocolFallback: settings.ip_protocol_fallback,
      signal,
      onTlsStart: () => metrics.phases.enter('tls'),
    });
    metrics.phases.add('connect', connection.connectSeconds);
    metrics.phases.add('tls', connection.tlsSeconds);

    const headers: Record<string, string> = { ...parts.headers, host: hostHeader, ...connection.proxyHeaders };
    if (!sameHostOrSubdomain(url, origin)) for (const name of SENSITIVE_HEADERS) delete headers[name];
    else Object.assign(headers, parts.credentials);
    log.info('Making HTTP request', { url: url.href, host: hostHeader, method, ...(settings.proxy_url !== undefined && { proxy: new URL(settings.proxy_url).host }) });
    metrics.phases.enter('processing');
    const response = await exchange({ url, requestTarget: connection.requestTarget, method, headers, body, socket: connection.socket, signal });
    open.push(response);
    metrics.phases.add('processing', response.processingSeconds);
    log.info('Received HTTP response', { status_code: response.status, http_version: response.httpVersion });

    const location = response.headers.location;
    if (!REDIRECT_STATUSES.has(response.status) || typeof location !== 'string') return { response, redirects, followedAll: true };
    redirects++;
    log.info('Received redirect', { location });
    if (!settings.follow_redirects || redirects > MAX_REDIRECTS) {
      log.info('Not following redirect', { reason: settings.follow_redirects ? `more than ${MAX_REDIRECTS} redirects` : 'follow_redirects is false' });
      return { response, redirects, followedAll: false };
    }
    await response.close();
    url = new URL(location, url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ProbeFailure('protocol', `redirect to a ${url.protocol} URL: only http and https redirects are followed`);
    }
    if (probe.destinations && !probe.destinations.allows(url)) {
      throw new ProbeFailure('forbidden', `redirect to ${url.host} refused: ${probe.destinations.description}`);
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(location)) hostOverride = undefined;
    if (response.status <= 303 && method !== 'HEAD') {
      method = 'GET';
      body = undefined;
    }
  }
}

/**
 * Whether credentials may go to `url`: Go's rule for sensitive headers on redirects, the target's
 * host or a subdomain of it, on any port or scheme (so an http to https redirect keeps them).
 */
function sameHostOrSubdomain(url: URL, origin: URL): boolean {
  return url.hostname === origin.hostname || url.hostname.endsWith(`.${origin.hostname}`);
}

/** The checks blackbox_exporter makes on the final response, in its order; the first failure is the reason. */
async function judgeResponse(probe: ProbeContext<HttpSettings, HttpTarget>, response: HopResponse, followedAll: boolean, metrics: HttpMetrics): Promise<Outcome | undefined> {
  const { settings, log } = probe;
  const failures: Outcome[] = [];
  metrics.statusCode.set(response.status);
  const contentLength = Number(response.headers['content-length']);
  metrics.contentLength.set(Number.isFinite(contentLength) && response.headers['content-length'] !== undefined ? contentLength : -1);

  if (!statusIsValid(response.status, settings.valid_status_codes)) {
    log.error('Invalid HTTP response status code', { status_code: response.status, valid_status_codes: settings.valid_status_codes.join(',') || '2xx' });
    failures.push({ reason: response.status === 401 || response.status === 407 ? 'auth' : 'status_code', message: `status code ${response.status} is not valid` });
  }
  if (failures.length === 0 && (settings.fail_if_header_matches.length > 0 || settings.fail_if_header_not_matches.length > 0)) {
    const headerFailure = checkHeaders(response.headers, settings);
    metrics.failedDueToRegex.set(headerFailure ? 1 : 0);
    if (headerFailure) {
      log.error(headerFailure);
      failures.push({ reason: 'assertion', message: headerFailure });
    }
  }
  if (followedAll) {
    metrics.phases.enter('transfer');
    const transferStarted = performance.now();
    const bodyRegexes = settings.fail_if_body_matches_regexp.length > 0 || settings.fail_if_body_not_matches_regexp.length > 0;
    let body: Body | undefined;
    try {
      body = await readBody(response.body, { compression: settings.compression, limitBytes: bodySizeLimitBytes(settings.body_size_limit), keep: bodyRegexes });
    } catch (error) {
      // A body that cannot be read fails the probe, but the answer's other facts (version, TLS)
      // are still reported, as blackbox_exporter does.
      if (!(error instanceof BodyReadFailure) || probe.signal.aborted) throw error;
      metrics.uncompressedBodyLength.set(error.bytesRead);
      log.error(error.message);
      failures.push({ reason: error.reason, message: error.message });
    }
    metrics.phases.add('transfer', (performance.now() - transferStarted) / 1000);
    if (body !== undefined) metrics.uncompressedBodyLength.set(body.length);
    if (body?.bytes !== undefined && failures.length === 0) {
      const bodyFailure = checkBody(body.bytes, settings);
      metrics.failedDueToRegex.set(bodyFailure ? 1 : 0);
      if (bodyFailure) {
        log.error(bodyFailure);
        failures.push({ reason: 'assertion', message: bodyFailure });
      }
    }
  }
  const lastModified = Date.parse(String(response.headers['last-modified'] ?? ''));
  if (Number.isFinite(lastModified)) metrics.lastModified(lastModified / 1000);

  metrics.version.set(Number(response.httpVersion));
  if (settings.valid_http_versions.length > 0 && !settings.valid_http_versions.includes(`HTTP/${response.httpVersion}` as never)) {
    log.error('Invalid HTTP version number', { version: `HTTP/${response.httpVersion}` });
    failures.push({ reason: 'assertion', message: `HTTP/${response.httpVersion} is not in valid_http_versions` });
  }
  if (response.tls) {
    metrics.ssl.set(1);
    registerTlsMetrics(probe.registry, response.tls);
    if (settings.fail_if_ssl) failures.push({ reason: 'assertion', message: 'final response used TLS and fail_if_ssl is set' });
  } else if (settings.fail_if_not_ssl) {
    failures.push({ reason: 'assertion', message: 'final response did not use TLS and fail_if_not_ssl is set' });
  }
  return failures[0];
}

function statusIsValid(status: number, valid: number[]): boolean {
  return valid.length > 0 ? valid.includes(status) : status >= 200 && status < 300;
}

function headerValues(headers: IncomingHttpHeaders, name: string): string[] {
  const value = headers[name.toLowerCase()];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The first header rule that fails, as a log message, or undefined. */
function checkHeaders(headers: IncomingHttpHeaders, settings: HttpSettings): string | undefined {
  const rules: [HeaderMatchSettings, boolean][] = [
    ...settings.fail_if_header_matches.map((rule): [HeaderMatchSettings, boolean] => [rule, true]),
    ...settings.fail_if_header_not_matches.map((rule): [HeaderMatchSettings, boolean] => [rule, false]),
  ];
  for (const [rule, failOnMatch] of rules) {
    const values = headerValues(headers, rule.header);
    if (values.length === 0) {
      if (rule.allow_missing) continue;
      return `Missing required header ${rule.header}`;
    }
    const matched = values.some((value) => regexpMatches(rule.regexp, value));
    if (failOnMatch && matched) return `Header ${rule.header} matched regular expression ${rule.regexp}`;
    if (!failOnMatch && !matched) return `Header ${rule.header} did not match regular expression ${rule.regexp}`;
  }
  return undefined;
}

function checkBody(body: Buffer, settings: HttpSettings): string | undefined {
  for (const pattern of settings.fail_if_body_matches_regexp) {
    if (regexpMatches(pattern, body)) return `Body matched regular expression ${pattern}`;
  }
  for (const pattern of settings.fail_if_body_not_matches_regexp) {
    if (!regexpMatches(pattern, body)) return `Body did not match regular expression ${pattern}`;
  }
  return undefined;
}
