/**
 * Runs the real blackbox_exporter (Debian package prometheus-blackbox-exporter)
 * as a child process, for side-by-side comparison with our exporter.
 *
 * Why the real binary: compatibility is the product's promise, so the reference
 * is the reference implementation, not our idea of it. A missing binary is an
 * error, never a skip, so a machine without it cannot pass the suite silently.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseMetrics } from './metrics-text';
import { LOOPBACK } from './ports';
import { hasExited, killAndWait, onFreePort, sleep, spawnLogged, startFailure, track } from './processes';

/** Where Debian installs it; BLACKBOX_EXPORTER_BIN overrides for other layouts. */
export const BLACKBOX_BIN = process.env.BLACKBOX_EXPORTER_BIN ?? '/usr/bin/prometheus-blackbox-exporter';

/** How long to wait for /-/healthy after spawning. */
const START_TIMEOUT_MS = 10_000;

export interface ProbeOptions {
  /** Sent as X-Prometheus-Scrape-Timeout-Seconds, as Prometheus does. */
  scrapeTimeoutSeconds?: number;
  /** Adds debug=true: the answer is then a text log, and `metrics` is left empty. */
  debug?: boolean;
}

export interface ProbeResult {
  status: number;
  text: string;
  /** Parsed series (see metrics-text.ts); empty unless status is 200 and debug is off. */
  metrics: Map<string, number>;
}

export interface Blackbox {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  pid: number;
  /** Path of the YAML config it was started with. */
  configFile: string;
  probe(module: string, target: string, opts?: ProbeOptions): Promise<ProbeResult>;
  /** What it wrote to stdout and stderr so far (its logs go to stderr). */
  logs(): string;
  /** SIGTERM (then SIGKILL after 5 s), waits for exit, removes the temp dir. */
  stop(): Promise<void>;
}

export interface StartBlackboxOptions {
  /** Extra command-line flags, e.g. ['--log.level=debug']. */
  args?: string[];
}

async function assertBinary(): Promise<void> {
  try {
    await fs.access(BLACKBOX_BIN, fsConstants.X_OK);
  } catch {
    throw new Error(
      `blackbox_exporter not found at ${BLACKBOX_BIN}: run \`apt-get install prometheus-blackbox-exporter\` ` + '(or set BLACKBOX_EXPORTER_BIN). The comparison tests need the real exporter.',
    );
  }
}

interface Spawned {
  child: ChildProcess;
  port: number;
  logs: () => string;
}

/** One attempt: spawn on `port` and wait for /-/healthy. */
async function spawnOnce(port: number, configFile: string, cwd: string, extraArgs: string[]): Promise<Spawned> {
  const { child, logs, spawnError } = spawnLogged(BLACKBOX_BIN, [`--config.file=${configFile}`, `--web.listen-address=${LOOPBACK}:${port}`, ...extraArgs], { cwd });
  track(child);

  const url = `http://${LOOPBACK}:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const error = spawnError();
    if (error || hasExited(child)) {
      await killAndWait(child);
      const why = error ? error.message : `exited with ${child.exitCode ?? child.signalCode}`;
      throw startFailure(`blackbox_exporter ${why} before becoming healthy:\n${logs()}`, /address already in use/i.test(logs()));
    }
    try {
      const res = await fetch(`${url}/-/healthy`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.ok) return { child, port, logs };
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  await killAndWait(child);
  throw new Error(`blackbox_exporter did not answer /-/healthy within ${START_TIMEOUT_MS} ms:\n${logs()}`);
}

/**
 * Writes `configYaml` to a temp file, starts blackbox_exporter on a random
 * 127.0.0.1 port and resolves once it is healthy. Always call stop().
 */
export async function startBlackbox(configYaml: string, options: StartBlackboxOptions = {}): Promise<Blackbox> {
  await assertBinary();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-blackbox-'));
  const configFile = path.join(dir, 'blackbox.yml');
  await fs.writeFile(configFile, configYaml);

  let spawned: Spawned;
  try {
    spawned = await onFreePort((port) => spawnOnce(port, configFile, dir, options.args ?? []));
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }

  const { child, port, logs } = spawned;
  const url = `http://${LOOPBACK}:${port}`;
  let stopped: Promise<void> | undefined;

  return {
    url,
    port,
    pid: child.pid ?? -1,
    configFile,
    logs,
    async probe(module: string, target: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
      const q = new URLSearchParams({ module, target });
      if (opts.debug) q.set('debug', 'true');
      const headers: Record<string, string> = {};
      if (opts.scrapeTimeoutSeconds !== undefined) {
        headers['X-Prometheus-Scrape-Timeout-Seconds'] = String(opts.scrapeTimeoutSeconds);
      }
      const res = await fetch(`${url}/probe?${q.toString()}`, { headers });
      const text = await res.text();
      const metrics = res.status === 200 && !opts.debug ? parseMetrics(text) : new Map<string, number>();
      return { status: res.status, text, metrics };
    },
    stop(): Promise<void> {
      // Idempotent: a second stop() (e.g. from afterAll after a test already stopped it) waits for the first.
      stopped ??= (async () => {
        await killAndWait(child);
        await fs.rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
