/** The metrics every http probe exposes, registered up front as blackbox_exporter does, so a failed probe still reports them. */
import type { ProbeRegistry } from '../../src/probe/probe-registry';
import { createAddressMetrics } from '../../src/net/address-metrics';

export const HTTP_PHASES = ['resolve', 'connect', 'tls', 'processing', 'transfer'] as const;
export type HttpPhase = (typeof HTTP_PHASES)[number];

export function createHttpMetrics(registry: ProbeRegistry) {
  const gauge = (name: string, help: string, labelNames: string[] = []) => registry.gauge(name, help, labelNames);
  const phases = gauge('probe_http_duration_seconds', 'Duration of http request by phase, summed over all redirects', ['phase']);
  for (const phase of HTTP_PHASES) phases.labels(phase).set(0);
  const metrics = {
    phases,
    contentLength: gauge('probe_http_content_length', 'Length of http content response'),
    uncompressedBodyLength: gauge('probe_http_uncompressed_body_length', 'Length of uncompressed response body'),
    redirects: gauge('probe_http_redirects', 'The number of redirects'),
    ssl: gauge('probe_http_ssl', 'Indicates if SSL was used for the final redirect'),
    statusCode: gauge('probe_http_status_code', 'Response HTTP status code'),
    version: gauge('probe_http_version', 'Returns the version of HTTP of the probe response'),
    failedDueToRegex: gauge('probe_failed_due_to_regex', 'Indicates if probe failed due to regex'),
    address: createAddressMetrics(registry),
    lastModified(seconds: number) {
      gauge('probe_http_last_modified_timestamp_seconds', 'Returns the Last-Modified HTTP response header in unixtime').set(seconds);
    },
    addPhase(phase: HttpPhase, seconds: number) {
      phases.labels(phase).inc(seconds);
    },
  };
  for (const series of [metrics.contentLength, metrics.uncompressedBodyLength, metrics.redirects, metrics.ssl, metrics.statusCode, metrics.version, metrics.failedDueToRegex]) series.set(0);
  return metrics;
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
