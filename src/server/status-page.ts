/** The status page at `/`: modules, monitors and the recent probes, with links to their logs. Secrets never reach it. */
import { proberSettings, type CheckpointConfig } from '../config/schema';
import { redactModule } from '../config/redact';
import type { HistoryEntry } from '../probe/history';
import type { ProberTable } from '../probe/prober-table';
import { VERSION } from '../version';

export function statusPage(config: CheckpointConfig, probes: HistoryEntry[], probers: ProberTable): string {
  const probeLink = (module: string, target: string, debug: boolean) => `probe?module=${encodeURIComponent(module)}&amp;target=${encodeURIComponent(target)}${debug ? '&amp;debug=true' : ''}`;
  const modules = Object.entries(config.modules).map(
    ([name, module]) =>
      `<tr><td>${escape(name)}</td><td>${module.prober}</td><td>${escape(module.timeout ?? 'scrape timeout')}</td><td>${module.retries}</td><td><code>${escape(JSON.stringify(proberSettings(redactModule(module, probers))))}</code></td></tr>`,
  );
  const monitors = config.monitors.map(
    (monitor) =>
      `<tr><td>${escape(monitor.name)}</td><td>${escape(monitor.module)}</td><td>${escape(monitor.target)}</td><td>${escape(
        Object.entries(monitor.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
      )}</td>` + `<td><a href="${probeLink(monitor.module, monitor.target, false)}">probe</a> <a href="${probeLink(monitor.module, monitor.target, true)}">debug</a></td></tr>`,
  );
  const recent = probes.map(
    (entry) =>
      `<tr class="${entry.success ? 'ok' : 'failed'}"><td>${entry.startedAt.toISOString()}</td><td>${escape(entry.moduleName)}</td><td>${escape(entry.target)}</td>` +
      `<td>${entry.success ? 'Success' : 'Failure'}</td><td>${entry.failure?.reason ?? ''}</td><td>${entry.durationSeconds.toFixed(3)}s</td><td>${entry.attempts}</td><td><a href="logs?id=${entry.id}">Logs</a></td></tr>`,
  );
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Private Checkpoint</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d1d1f}table{border-collapse:collapse;margin-bottom:2rem;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}tr.failed td{background:#fde8e8}code{font-size:.8rem;word-break:break-all}
</style></head><body>
<h1>Private Checkpoint</h1>
<p>Version ${escape(VERSION)} · <a href="metrics">Metrics</a> · <a href="sd">Service discovery</a> · <a href="-/healthy">Health</a></p>
<h2>Modules</h2>
<table><tr><th>Name</th><th>Prober</th><th>Timeout</th><th>Retries</th><th>Settings</th></tr>${modules.join('')}</table>
<h2>Monitors</h2>
<table><tr><th>Name</th><th>Module</th><th>Target</th><th>Labels</th><th></th></tr>${monitors.join('') || '<tr><td colspan="5">No monitors configured.</td></tr>'}</table>
<h2>Recent probes</h2>
<p>Newest first. Failures stay listed after newer successes push them out of the recent list.</p>
<table><tr><th>Started</th><th>Module</th><th>Target</th><th>Result</th><th>Reason</th><th>Duration</th><th>Attempts</th><th>Debug</th></tr>${recent.join('') || '<tr><td colspan="8">No probes yet.</td></tr>'}</table>
</body></html>
`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
