/**
 * The Grafana dashboards (grafana/dashboards/*.json) as tests read them: loaded, their panels
 * walked (those inside collapsed rows too), each panel query listed with its dashboard, panel and
 * refId, and Grafana's template variables ($var, ${var:format}, [[var]]) replaced to give the
 * PromQL Prometheus would get.
 *
 * Why it exists: tests/grafana checks these queries without a running Grafana (promtool, metric
 * names) and tests/smoke runs them against a live Prometheus; both must read the same panels and
 * fill in variables the same way. Each test keeps its own interval durations and its own checks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const DASHBOARDS_DIR = path.join(__dirname, '..', '..', 'grafana', 'dashboards');

export interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
export interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { unit?: string } };
}
export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: { type?: string; uid?: string };
  current?: { value?: unknown };
  multi?: boolean;
  includeAll?: boolean;
}
export interface DashboardLink {
  type: string;
  url?: string;
  includeVars?: boolean;
  keepTime?: boolean;
}
export interface Dashboard {
  uid: string;
  title: string;
  /** The file name in grafana/dashboards. */
  file: string;
  panels: Panel[];
  templating: { list: Variable[] };
  links: DashboardLink[];
}

/** Every dashboard, in file name order. */
export function loadDashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ ...(JSON.parse(readFileSync(path.join(DASHBOARDS_DIR, name), 'utf8')) as Omit<Dashboard, 'file'>), file: name }));
}

/** Every panel, those inside collapsed rows too. */
export const allPanels = (dashboard: Dashboard): Panel[] => dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
/** Every panel but the rows: those that hold queries. */
export const queryPanels = (dashboard: Dashboard): Panel[] => allPanels(dashboard).filter((panel) => panel.type !== 'row');

/** One query of one panel, as the dashboard has it (variables not yet replaced), and where it is. */
export interface PanelTarget {
  /** The dashboard's title. */
  dashboard: string;
  /** The panel's title. */
  panel: string | undefined;
  refId: string | undefined;
  expr: string | undefined;
}

/** Every query of every panel of one dashboard, in panel order, targets without an expr too. */
export function panelTargets(dashboard: Dashboard): PanelTarget[] {
  return queryPanels(dashboard).flatMap((panel) => (panel.targets ?? []).map((target) => ({ dashboard: dashboard.title, panel: panel.title, refId: target.refId, expr: target.expr })));
}

/** A Grafana variable reference: $name, ${name}, ${name:format} or [[name]] / [[name:format]]. */
const VARIABLE = /\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]/g;

/** Grafana variables used in a string: $name, ${name}, ${name:format}, [[name]]. */
export function variablesIn(text: string): string[] {
  return [...text.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);
}

/**
 * The expression as Prometheus would get it with "All" selected: Grafana's interval variables
 * ($__rate_interval, $__interval, $__range, $__auto) become the caller's durations, every other
 * variable the regex `.*` (all the dashboards use them as `=~"$var"`).
 */
export function concrete(expr: string, intervals: Record<string, string>): string {
  return expr.replace(VARIABLE, (_, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    return intervals[name] ?? '.*';
  });
}
