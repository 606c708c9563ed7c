/**
 * Debian's Alertmanager (prometheus-alertmanager) on 127.0.0.1 and a random port, for tests of
 * alertmanager/: clustering off unless asked for (a gossip pair, each told the other's cluster
 * address), storage in the caller's directory (so a restart on the same directory is a real
 * restart), and a CA for the smarthost's certificate through SSL_CERT_FILE, which Go reads
 * instead of the system roots; the config under test stays as shipped.
 */
import type { ChildProcess } from 'node:child_process';
import { LOOPBACK } from './ports';
import { killAndWait, onFreePort, spawnLogged, track, waitUntilReady } from './processes';

export const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
export const AMTOOL = '/usr/bin/amtool';
const READY_TIMEOUT_MS = 15_000;

/** An alert as POSTed to /api/v2/alerts. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

/** An alert as GET /api/v2/alerts answers, reduced to what tests look at. */
export interface GettableAlert {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[]; silencedBy: string[] };
  receivers: { name: string }[];
}

export interface Alertmanager {
  url: string;
  child: ChildProcess;
  logs: () => string;
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  alerts(): Promise<GettableAlert[]>;
  stop(): Promise<void>;
}

export interface AlertmanagerOptions {
  configFile: string;
  storageDir: string;
  /** PEM file of the CA that signed the smarthost's certificate. */
  caFile?: string;
  /**
   * Gossip with peers: this instance's cluster port, the others' host:port, and how long the
   * second of a pair waits for the first's notification before sending itself (15s by default).
   */
  cluster?: { port: number; peers: string[]; peerTimeout?: string };
}

export function startAlertmanager(options: AlertmanagerOptions): Promise<Alertmanager> {
  return onFreePort((port) => startOn(port, options));
}

async function startOn(port: number, options: AlertmanagerOptions): Promise<Alertmanager> {
  const url = `http://${LOOPBACK}:${port}`;
  // env(1) sets the variable and execs, so the child is Alertmanager itself and signals reach it.
  const environment = options.caFile ? [`SSL_CERT_FILE=${options.caFile}`] : [];
  const spawned = spawnLogged('/usr/bin/env', [
    ...environment,
    ALERTMANAGER,
    `--config.file=${options.configFile}`,
    `--storage.path=${options.storageDir}`,
    `--web.listen-address=${LOOPBACK}:${port}`,
    `--web.external-url=${url}`,
    ...(options.cluster
      ? [
          `--cluster.listen-address=${LOOPBACK}:${options.cluster.port}`,
          ...options.cluster.peers.map((peer) => `--cluster.peer=${peer}`),
          ...(options.cluster.peerTimeout ? [`--cluster.peer-timeout=${options.cluster.peerTimeout}`] : []),
        ]
      : ['--cluster.listen-address=']),
    '--log.level=debug',
  ]);
  const { child, logs } = spawned;
  track(child);
  await waitUntilReady('alertmanager', spawned, url, READY_TIMEOUT_MS);
  return {
    url,
    child,
    logs,
    async postAlerts(alerts) {
      const response = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      if (!response.ok) throw new Error(`POST /api/v2/alerts: ${response.status} ${await response.text()}`);
    },
    async alerts() {
      const response = await fetch(`${url}/api/v2/alerts`);
      if (!response.ok) throw new Error(`GET /api/v2/alerts: ${response.status} ${await response.text()}`);
      return (await response.json()) as GettableAlert[];
    },
    stop: () => killAndWait(child),
  };
}
