/**
 * The Grafana dashboards' panel queries, as the smoke test runs them against its Prometheus: the
 * variables replaced as Grafana would with "All" selected, and each query put in or out of scope
 * by the metrics this native stack produces. Out of scope is said with its reason, never dropped
 * silently.
 */
import { concrete, loadDashboards, panelTargets } from '../support/dashboards';

/** Metric name prefixes nothing in the native stack produces, and why. */
export const NOT_IN_THIS_STACK: [RegExp, string][] = [
  [/\bprobe_browser_\w+/, "no browser journey monitor: Chromium journeys are covered by the browser prober's own tests"],
  [/\bprobe_docker_\w+/, 'no Docker daemon in the native stack: no docker monitor'],
  [/\bprobe_smtp_\w+/, "no SMTP monitor (the SMTP sink is Alertmanager's relay, not a probed server)"],
  [/\bprobe_sftp_\w+/, 'no SFTP monitor: tests/backups/postgres-backup.test.ts runs the Backups row against a real sshd'],
  [/\bprobe_postgres_replication_\w+/, 'no PostgreSQL replica in the native stack'],
  [/\bcontainer_\w+/, 'cAdvisor is not packaged in Debian: its job is dropped'],
  // Every Redis panel query, `up` of the exporter too, selects job="redis".
  [/\bjob="redis"/, 'no Redis in the native stack: tests/databases/redis-exporter.test.ts runs every Redis panel query against a real Redis and redis_exporter'],
  [/\bpg_\w+/, 'no postgres_exporter here: tests/databases/postgres-exporter.test.ts runs these queries against a real one'],
];

/** Grafana's interval variables. 1m holds enough samples at the test's 1-2s intervals. */
const INTERVALS: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: '5m', __auto: '15s' };

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  /** As Prometheus gets it. */
  expr: string;
  /** Why this stack cannot answer it; undefined when it should. */
  skipped?: string;
}

/** Every panel query of every dashboard, with the variables filled in. */
export function panelQueries(): PanelQuery[] {
  return loadDashboards()
    .flatMap((dashboard) => panelTargets(dashboard))
    .filter((target) => target.expr)
    .map((target) => {
      const expr = concrete(target.expr ?? '', INTERVALS);
      const skipped = NOT_IN_THIS_STACK.find(([pattern]) => pattern.test(expr))?.[1];
      return { dashboard: target.dashboard, panel: target.panel ?? '(untitled)', refId: target.refId ?? '?', expr, skipped };
    });
}

export const describePanel = (query: PanelQuery): string => `${query.dashboard} / "${query.panel}" ${query.refId}`;
