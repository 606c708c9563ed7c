/**
 * Debian's Prometheus (package prometheus) on 127.0.0.1 and a random port, for the smoke test of
 * the whole stack: TSDB in the caller's directory, the config written there by the caller for the
 * port it gets (the config names Prometheus's own address in its `prometheus` job), and a few
 * helpers over the HTTP API (instant and range queries, alerts, targets).
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LOOPBACK } from './ports';
import { killAndWait, onFreePort, spawnLogged, track, waitUntilReady } from './processes';

export const PROMETHEUS = '/usr/bin/prometheus';
const READY_TIMEOUT_MS = 30_000;

/** One series of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
/** One series of a range query's answer. */
export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}
/** An alert as /api/v1/alerts gives it. */
export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}
/** A scrape target as /api/v1/targets gives it. */
export interface ScrapeTarget {
  labels: Record<string, string>;
  scrapePool: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  /** The target's own, from `__scrape_interval__`/`__scrape_timeout__` or its job: "30s", "1m". */
  scrapeInterval: string;
  scrapeTimeout: string;
}

export interface Prometheus {
  url: string;
  port: number;
  child: ChildProcess;
  logs: () => string;
  query(expr: string): Promise<Sample[]>;
  queryRange(expr: string, start: Date, end: Date, stepSeconds: number): Promise<RangeSeries[]>;
  /** Every stored sample of `selector` from `start` to `end`, as Prometheus keeps them (no step). */
  samples(selector: string, start: Date, end: Date): Promise<RangeSeries[]>;
  alerts(): Promise<PrometheusAlert[]>;
  targets(): Promise<ScrapeTarget[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Directory for prometheus.yml (and whatever it references relatively, e.g. rules/) and the TSDB. */
  dir: string;
  /** The config for Prometheus listening on `port`; written to dir/prometheus.yml before each start attempt. */
  config: (port: number) => string;
  /** More command-line flags (e.g. a shorter --rules.alert.resend-delay). */
  flags?: string[];
  /** Agent mode (--enable-feature=agent), as a site runs it: a WAL instead of the TSDB, no rules, no queries. */
  agent?: boolean;
  /** The loopback address to listen on (a site's own, 127.0.0.2...); 127.0.0.1 by default. */
  host?: string;
}

export function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  return onFreePort((port) => startOn(port, options));
}

async function startOn(port: number, options: PrometheusOptions): Promise<Prometheus> {
  const host = options.host ?? LOOPBACK;
  const url = `http://${host}:${port}`;
  const configFile = path.join(options.dir, 'prometheus.yml');
  await fs.mkdir(options.dir, { recursive: true });
  await fs.writeFile(configFile, options.config(port));
  const storage = options.agent ? ['--enable-feature=agent', `--storage.agent.path=${path.join(options.dir, 'wal')}`] : [`--storage.tsdb.path=${path.join(options.dir, 'data')}`];
  const spawned = spawnLogged(PROMETHEUS, [
    `--config.file=${configFile}`,
    ...storage,
    `--web.listen-address=${host}:${port}`,
    `--web.external-url=${url}`,
    '--log.level=info',
    ...(options.flags ?? []),
  ]);
  const { child, logs } = spawned;
  track(child);
  await waitUntilReady('prometheus', spawned, url, READY_TIMEOUT_MS);

  async function api<T>(pathAndQuery: string): Promise<T> {
    const response = await fetch(`${url}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (!response.ok || body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${response.status} ${body.error ?? ''}`);
    return body.data;
  }

  return {
    url,
    port,
    child,
    logs,
    async query(expr) {
      const data = await api<{ resultType: string; result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.resultType === 'vector' ? data.result : [];
    },
    async queryRange(expr, start, end, stepSeconds) {
      const params = new URLSearchParams({ query: expr, start: String(start.getTime() / 1000), end: String(end.getTime() / 1000), step: String(stepSeconds) });
      return (await api<{ result: RangeSeries[] }>(`/api/v1/query_range?${params.toString()}`)).result;
    },
    async samples(selector, start, end) {
      const range = `${Math.ceil((end.getTime() - start.getTime()) / 1000)}s`;
      const params = new URLSearchParams({ query: `${selector}[${range}]`, time: String(end.getTime() / 1000) });
      const data = await api<{ resultType: string; result: RangeSeries[] }>(`/api/v1/query?${params.toString()}`);
      return data.resultType === 'matrix' ? data.result : [];
    },
    async alerts() {
      return (await api<{ alerts: PrometheusAlert[] }>('/api/v1/alerts')).alerts;
    },
    async targets() {
      return (await api<{ activeTargets: ScrapeTarget[] }>('/api/v1/targets?state=active')).activeTargets;
    },
    stop: () => killAndWait(child),
  };
}
