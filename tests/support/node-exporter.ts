/**
 * Runs the real node-exporter (Debian package prometheus-node-exporter) on 127.0.0.1 and a free
 * port, scrapes it once and stops it: the dashboards' host panels are checked against the metric
 * names and types a real node-exporter exposes, not against a list someone typed.
 *
 * A missing binary is an error, never a skip, so a machine without it cannot pass silently.
 */
import type { ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { metricTypes } from './metrics-text';
import { LOOPBACK } from './ports';
import { hasExited, killAndWait, onFreePort, sleep, spawnLogged, startFailure, track } from './processes';

/** Where Debian installs it; NODE_EXPORTER_BIN overrides for other layouts. */
export const NODE_EXPORTER_BIN = process.env.NODE_EXPORTER_BIN ?? '/usr/bin/prometheus-node-exporter';

/** How long to wait for the first answer on /metrics after spawning. */
const START_TIMEOUT_MS = 10_000;

async function assertBinary(): Promise<void> {
  try {
    await fs.access(NODE_EXPORTER_BIN, fsConstants.X_OK);
  } catch {
    throw new Error(
      `node-exporter not found at ${NODE_EXPORTER_BIN}: run \`apt-get install prometheus-node-exporter\` ` + '(or set NODE_EXPORTER_BIN). The dashboard tests read its real metric names.',
    );
  }
}

/** One attempt: spawn on `port`, wait for /metrics to answer, return what it said. */
async function scrapeOnce(port: number): Promise<string> {
  // Debian's package starts a service with these defaults; the binary alone runs the same collectors.
  const { child, logs, spawnError } = spawnLogged(NODE_EXPORTER_BIN, [`--web.listen-address=${LOOPBACK}:${port}`]);
  track(child);
  try {
    return await firstScrape(child, port, logs, spawnError);
  } finally {
    await killAndWait(child);
  }
}

async function firstScrape(child: ChildProcess, port: number, logs: () => string, spawnError: () => Error | undefined): Promise<string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const error = spawnError();
    if (error || hasExited(child)) {
      const why = error ? error.message : `exited with ${child.exitCode ?? child.signalCode}`;
      throw startFailure(`node-exporter ${why} before answering:\n${logs()}`, /address already in use/i.test(logs()));
    }
    try {
      const res = await fetch(`http://${LOOPBACK}:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      if (res.ok) return text;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(`node-exporter did not answer /metrics within ${START_TIMEOUT_MS} ms:\n${logs()}`);
}

/** Starts node-exporter, scrapes /metrics once, stops it; resolves with metric name → type (counter, gauge, untyped, ...). */
export async function nodeExporterMetricTypes(): Promise<Map<string, string>> {
  await assertBinary();
  return metricTypes(await onFreePort(scrapeOnce));
}
