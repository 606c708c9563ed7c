/** The metrics every http probe exposes, registered up front as blackbox_exporter does, so a failed probe still reports them. */
import type { ProbeContext } from '../../src/probe/prober';
import { createAddressMetrics } from '../../src/net/address-metrics';

/** `probe_http_duration_seconds{phase}`, blackbox_exporter's phases, each summed over all redirects. */
export const HTTP_PHASES = ['resolve', 'connect', 'tls', 'processing', 'transfer'] as const;
export type HttpPhase = (typeof HTTP_PHASES)[number];

export function createHttpMetrics(probe: Pick<ProbeContext<unknown, unknown>, 'registry' | 'phases'>) {
  const { registry } = probe;
  const metrics = {
    phases: probe.phases('http', HTTP_PHASES, 'Duration of http request by phase, summed over all redirects'),
    contentLength: registry.gauge('probe_http_content_length', 'Length of http content response'),
    uncompressedBodyLength: registry.gauge('probe_http_uncompressed_body_length', 'Length of uncompressed response body'),
    redirects: registry.gauge('probe_http_redirects', 'The number of redirects'),
    ssl: registry.gauge('probe_http_ssl', 'Indicates if SSL was used for the final redirect'),
    statusCode: registry.gauge('probe_http_status_code', 'Response HTTP status code'),
    version: registry.gauge('probe_http_version', 'Returns the version of HTTP of the probe response'),
    failedDueToRegex: registry.gauge('probe_failed_due_to_regex', 'Indicates if probe failed due to regex'),
    address: createAddressMetrics(registry),
    lastModified(seconds: number) {
      registry.gauge('probe_http_last_modified_timestamp_seconds', 'Returns the Last-Modified HTTP response header in unixtime').set(seconds);
    },
  };
  for (const series of [metrics.contentLength, metrics.uncompressedBodyLength, metrics.redirects, metrics.ssl, metrics.statusCode, metrics.version, metrics.failedDueToRegex]) series.set(0);
  return metrics;
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
