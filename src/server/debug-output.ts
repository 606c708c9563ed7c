/** The plain-text page of one probe, for `?debug=true` and `/logs?id=`, laid out as blackbox_exporter's. */
import { moduleAsYaml } from '../config/redact';
import type { ModuleConfig } from '../config/schema';
import type { HistoryEntry } from '../probe/history';
import type { ProberTable } from '../probe/prober-table';

export function debugOutput(entry: HistoryEntry, module: ModuleConfig | undefined, probers: ProberTable): string {
  const sections = [
    `Logs for the probe:\n${entry.log.toText()}`,
    `Metrics that would have been returned:\n${entry.registry.metrics()}`,
    `Module configuration:\n${module ? moduleAsYaml(module, probers) : '(module no longer configured)\n'}`,
  ];
  return sections.join('\n\n\n');
}
