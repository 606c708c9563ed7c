/**
 * The monitors as Prometheus HTTP service discovery JSON. Each target carries its module as
 * `__param_module`, so a scrape config needs only the usual three relabel rules of /probe.
 */
import type { CheckpointConfig } from '../config/schema';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export function serviceDiscovery(config: CheckpointConfig): TargetGroup[] {
  return config.monitors.map((monitor) => ({
    targets: [monitor.target],
    labels: { ...monitor.labels, monitor: monitor.name, module: monitor.module, __param_module: monitor.module },
  }));
}
