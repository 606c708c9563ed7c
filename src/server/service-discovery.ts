/**
 * The monitors as Prometheus HTTP service discovery JSON. Each target carries its module as
 * `__param_module`, so a scrape config needs only the usual three relabel rules of /probe, and a
 * monitor's own `interval`/`timeout` as `__scrape_interval__`/`__scrape_timeout__`, which
 * Prometheus uses instead of the job's: one probe job serves monitors of different rhythms.
 */
import type { CheckpointConfig } from '../config/schema';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export function serviceDiscovery(config: CheckpointConfig): TargetGroup[] {
  return config.monitors.map((monitor) => ({
    targets: [monitor.target],
    labels: {
      ...monitor.labels,
      monitor: monitor.name,
      module: monitor.module,
      __param_module: monitor.module,
      ...(monitor.interval === undefined ? {} : { __scrape_interval__: monitor.interval }),
      ...(monitor.timeout === undefined ? {} : { __scrape_timeout__: monitor.timeout }),
    },
  }));
}
