/**
 * Child-process helpers shared by the launchers of real servers (blackbox.ts, sshd.ts,
 * postgres-server.ts, dovecot.ts): spawning with captured logs, bounded waits, kill-then-SIGKILL,
 * an exit hook for children left running, a promisified execFile, and the retry when freePort()
 * raced with another process for the port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { freePort, LOOPBACK } from './ports';

/** How long killAndWait waits after SIGTERM (and again after SIGKILL). */
export const STOP_TIMEOUT_MS = 5_000;
/** Cap on a child's captured output, so a chatty server cannot eat the test's memory. */
const MAX_LOG_CHARS = 1_000_000;
/** How long run() lets a tool take before killing it. */
const RUN_TIMEOUT_MS = 60_000;

// Polling loops (waiting for a server to listen or a PID to go) sleep between looks.
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// True once the child has ended, whether it exited, was killed, or never started (ENOENT sets exitCode).
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export interface LoggedChild {
  child: ChildProcess;
  /** What it wrote to stdout and stderr so far, capped at MAX_LOG_CHARS. */
  logs: () => string;
  /** The child's 'error' event (e.g. ENOENT), once it had one. */
  spawnError: () => Error | undefined;
}

// Spawns a server with stdout and stderr kept for error messages, and its 'error' event caught (an uncaught one would crash the worker).
export function spawnLogged(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): LoggedChild {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const append = (chunk: Buffer): void => {
    if (log.length < MAX_LOG_CHARS) log += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  return { child, logs: () => log, spawnError: () => spawnError };
}

// Children still running when the jest worker exits are killed, so a crashed or aborted suite
// never leaves a server behind holding a port.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

// Registers a child with the exit hook (installed on first use); killAndWait unregisters it.
export function track(child: ChildProcess): void {
  running.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const tracked of running) tracked.kill('SIGKILL');
  });
}

// Bounded wait for the child to exit, so a stuck server cannot hang jest; true when it did.
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

// SIGTERM, then SIGKILL for a server that ignores it, each wait bounded; a no-op for a child already gone.
export async function killAndWait(child: ChildProcess, ms = STOP_TIMEOUT_MS): Promise<void> {
  if (!hasExited(child)) {
    child.kill('SIGTERM');
    if (!(await waitExit(child, ms))) {
      child.kill('SIGKILL');
      await waitExit(child, ms);
    }
  }
  running.delete(child);
}

// Signals a process that is not our ChildProcess (a server's own children, a daemon's PID file); it may be gone already.
export function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

// Whether a PID we only know by number still runs (signal 0 checks without sending anything).
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// execFile as a promise of stdout for setup tools (useradd, initdb, ...): bounded by a timeout, in the C
// locale so the messages tests match are English, failing with the command and its stderr.
export function run(file: string, args: string[], options: { input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: RUN_TIMEOUT_MS, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (!error) resolve(stdout);
      else {
        const killed = error.signal ? ` (killed by ${error.signal})` : '';
        reject(new Error(`${path.basename(file)} ${args.join(' ')} failed${killed}: ${stderr.trim() || error.message}`));
      }
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Marks a failed start as caused by a port already in use, which onFreePort retries. */
export function startFailure(message: string, addressInUse: boolean): Error {
  return Object.assign(new Error(message), { addressInUse });
}

// freePort() can race with another process taking the port before the server binds it: runs `start`
// on a fresh port, up to 3 in all, retrying only a failure marked addressInUse (see startFailure).
export async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (attempt < attempts && (error as { addressInUse?: boolean }).addressInUse) continue;
      throw error;
    }
  }
}

// Waits for a Prometheus-ecosystem server's /-/ready, failing early with its log if it exits (a
// port taken by someone else is reported as such, for onFreePort to retry) and killing it if the
// start takes longer than `timeoutMs`.
export async function waitUntilReady(name: string, spawned: LoggedChild, url: string, timeoutMs: number): Promise<void> {
  const { child, logs } = spawned;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child) || spawned.spawnError()) {
      await killAndWait(child);
      const why = spawned.spawnError()?.message ?? `exited with ${child.exitCode ?? child.signalCode}`;
      throw startFailure(`${name} ${why}:\n${logs()}`, /address already in use/.test(logs()));
    }
    if (await answersReady(url)) return;
    if (Date.now() > deadline) {
      await killAndWait(child);
      throw new Error(`${name} not ready after ${timeoutMs} ms:\n${logs()}`);
    }
    await sleep(100);
  }
}

async function answersReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** A server started by startProcessServer. */
export interface ProcessServer {
  name: string;
  /** host:port */
  address: string;
  child: ChildProcess;
  logs: () => string;
}

/**
 * A server process (a checkpoint, node-exporter) on a free port of `host` (127.0.0.1 unless
 * given), ready when http://<address><readyPath> answers 200 with `headers`; its start is
 * retried on another port when the one it got was taken meanwhile. `env`, when given, is its
 * whole environment (the test's own otherwise).
 */
export function startProcessServer(
  name: string,
  file: string,
  args: (port: number) => string[],
  readyPath: string,
  headers: Record<string, string> = {},
  host = LOOPBACK,
  env?: NodeJS.ProcessEnv,
): Promise<ProcessServer> {
  return onFreePort(async (port) => {
    const spawned = spawnLogged(file, args(port), { env });
    const { child, logs } = spawned;
    track(child);
    const address = `${host}:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (hasExited(child) || spawned.spawnError()) {
        await killAndWait(child);
        throw startFailure(`${name}: ${spawned.spawnError()?.message ?? `exited with ${child.exitCode ?? child.signalCode}`}:\n${logs()}`, /address already in use|EADDRINUSE/i.test(logs()));
      }
      try {
        const response = await fetch(`http://${address}${readyPath}`, { headers, signal: AbortSignal.timeout(1000) });
        await response.arrayBuffer();
        if (response.ok) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await killAndWait(child);
        throw new Error(`${name} not ready after 30s:\n${logs()}`);
      }
      await sleep(100);
    }
    return { name, address, child, logs };
  });
}
