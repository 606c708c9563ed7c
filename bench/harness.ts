/**
 * Helpers shared by the side-by-side benchmarks (http-vs-blackbox.ts, hostile-probes.ts):
 * starting children and stopping them by PID, /proc accounting of CPU and RSS, statistics and
 * the Markdown table with ratios.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Agent } from 'undici';

export const ROOT = path.resolve(__dirname, '..', '..');
export const OUT_DIR = path.join(ROOT, '.bench');

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/** Every child we started, so the finally block / signal handlers can stop them. */
const children = new Set<ChildProcess>();
/** Set by the signal handlers; loops check it and stop early. */
export const run = { aborted: false };
/** Every child started, in order, for writing their output tails after a run. */
export const startedChildren: Child[] = [];

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last ~16 KiB of combined stdout+stderr, for diagnostics. */
  tail: () => string;
  exited: () => boolean;
}

export function startChild(name: string, cmd: string, args: string[], onStdoutLine?: (l: string) => void): Child {
  const proc = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  if (proc.pid === undefined) {
    // spawn failures surface as an 'error' event; give a synchronous message too.
    throw new Error(`${name}: failed to spawn ${cmd}`);
  }
  children.add(proc);
  let buf = '';
  let lineBuf = '';
  let exitedFlag = false;
  const keep = (chunk: Buffer): void => {
    buf += chunk.toString('utf8');
    if (buf.length > 16384) buf = buf.slice(-16384);
  };
  proc.stdout?.on('data', (chunk: Buffer) => {
    keep(chunk);
    if (onStdoutLine) {
      lineBuf += chunk.toString('utf8');
      let nl: number;
      while ((nl = lineBuf.indexOf('\n')) >= 0) {
        onStdoutLine(lineBuf.slice(0, nl));
        lineBuf = lineBuf.slice(nl + 1);
      }
      if (lineBuf.length > 65536) lineBuf = '';
    }
  });
  proc.stderr?.on('data', keep);
  proc.stdin?.on('error', () => undefined);
  proc.on('error', (err) => {
    buf += `\n[spawn error] ${err.message}\n`;
    exitedFlag = true;
  });
  proc.on('exit', (code, signal) => {
    exitedFlag = true;
    buf += `\n[exited code=${code} signal=${signal}]\n`;
    children.delete(proc);
  });
  const child: Child = { name, proc, pid: proc.pid, tail: () => buf, exited: () => exitedFlag };
  startedChildren.push(child);
  return child;
}

export async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) {
    children.delete(c);
    return;
  }
  const done = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  try {
    process.kill(c.pid, 'SIGTERM');
  } catch {
    children.delete(c);
    return;
  }
  const t = await Promise.race([done.then(() => 'exited'), sleep(3000).then(() => 'timeout')]);
  if (t === 'timeout') {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await Promise.race([done, sleep(2000)]);
  }
  children.delete(c);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
}

/** Last-resort synchronous kill (process 'exit' handler). */
export function killAllSync(): void {
  for (const c of children) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

export function splitCmd(cmd: string, vars: Record<string, string>): string[] {
  const parts = cmd
    .trim()
    .split(/\s+/)
    .filter((p) => p.length > 0);
  return parts.map((p) => p.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m));
}

/**
 * An exporter from its command line (`{config}` and `{port}` filled in) on a free port; a command
 * starting with `node` runs on this process's Node. Returns the child, its port and its argv.
 */
export async function startExporter(name: string, cmd: string, configFile: string): Promise<{ child: Child; port: number; argv: string[] }> {
  const port = await getFreePort();
  const argv = splitCmd(cmd, { config: configFile, port: String(port) });
  const [bin, ...args] = argv;
  if (bin === undefined) throw new Error(`${name}: the command line is empty`);
  return { child: startChild(name, bin === 'node' ? process.execPath : bin, args), port, argv };
}

/**
 * Start a helper script of ours (a compiled bench module) as its own process and wait for the
 * first JSON line on its stdout that `accept` turns into a value (e.g. the port it listens on).
 */
export async function startJsonChild<T>(
  name: string,
  script: string,
  args: string[],
  accept: (line: unknown) => T | undefined,
  timeoutMs = 10_000,
  /** Every JSON line after the accepted one. */
  onLaterLine?: (line: unknown) => void,
  /** Run it under `nice -n N` (lower CPU priority than us and the exporters; same PID, nice execs). */
  nice?: number,
): Promise<{ child: Child; value: T }> {
  let resolveValue: (v: T) => void = () => undefined;
  const valueP = new Promise<T>((r) => (resolveValue = r));
  let got = false;
  const argv = [path.join(__dirname, script), ...args];
  const [cmd, cmdArgs] = nice ? ['nice', ['-n', String(nice), process.execPath, ...argv]] : [process.execPath, argv];
  const child = startChild(name, cmd, cmdArgs, (line) => {
    if (got) {
      try {
        onLaterLine?.(JSON.parse(line));
      } catch {
        /* ignore non-JSON output */
      }
      return;
    }
    try {
      const v = accept(JSON.parse(line));
      if (v !== undefined) {
        got = true;
        resolveValue(v);
      }
    } catch {
      /* ignore non-JSON output */
    }
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !child.exited() && !run.aborted) {
    const v = await Promise.race([valueP.then((x) => ({ x })), sleep(50).then(() => undefined)]);
    if (v) return { child, value: v.x };
  }
  throw new Error(`${name} did not start:\n${child.tail()}`);
}

/** bench/target-server.ts in its own process, on a free port. */
export async function startTarget(): Promise<{ child: Child; port: number }> {
  const { child, value } = await startJsonChild('target', 'target-server.js', ['0'], (j) => {
    const port = (j as { port?: unknown }).port;
    return typeof port === 'number' ? port : undefined;
  });
  return { child, port: value };
}

export async function waitHealthy(child: Child, port: number, timeoutMs: number, agent: Agent): Promise<number> {
  const t0 = performance.now();
  const deadline = t0 + timeoutMs;
  while (performance.now() < deadline && !run.aborted) {
    if (child.exited()) break;
    try {
      const r = await request(`http://127.0.0.1:${port}/-/healthy`, {
        dispatcher: agent,
        headersTimeout: 1000,
        bodyTimeout: 1000,
      });
      await r.body.text();
      if (r.statusCode === 200) return performance.now() - t0;
    } catch {
      /* not up yet */
    }
    await sleep(10);
  }
  throw new Error(`${child.name} did not become healthy on port ${port} within ${timeoutMs} ms:\n${child.tail()}`);
}

// ---------------------------------------------------------------------------
// /proc accounting
// ---------------------------------------------------------------------------

export const CLK_TCK = ((): number => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

export function readStat(pid: number): { ppid: number; ticks: number; childTicks: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the last ')' start at field 3 (state).
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0]=state(3) f[1]=ppid(4) ... utime(14)=f[11] stime(15)=f[12] cutime(16)=f[13] cstime(17)=f[14]
    return {
      ppid: Number(f[1]),
      ticks: Number(f[11]) + Number(f[12]),
      childTicks: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return undefined;
  }
}

/** PID plus all its live descendants (in case an exporter forks helpers). */
export function processTree(root: number): number[] {
  const byParent = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [root];
  }
  for (const e of entries) {
    const st = readStat(Number(e));
    if (!st) continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push(Number(e));
    byParent.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0 && out.length < 10_000) {
    const p = stack.pop() as number;
    out.push(p);
    for (const c of byParent.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** CPU seconds (user+system) of the tree, including reaped children of the root. */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const st = readStat(pid);
    if (!st) continue;
    ticks += st.ticks + (pid === root ? st.childTicks : 0);
  }
  return ticks / CLK_TCK;
}

export function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(s);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function treeKb(root: number, field: 'VmHWM' | 'VmRSS'): number {
  return processTree(root).reduce((acc, pid) => acc + statusKb(pid, field), 0);
}
export function parseMetric(body: string, name: string): number | undefined {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'm');
  const m = re.exec(body);
  if (!m) return undefined;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : undefined;
}

// ---------------------------------------------------------------------------
// Statistics / formatting
// ---------------------------------------------------------------------------

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[idx] ?? NaN;
}
export const median = (v: number[]): number => quantile(v, 0.5);

/** The checkpoint's side and blackbox_exporter's, in the order started: a bench that started other than two is broken. */
export function bothSides<T>(sides: readonly T[]): [T, T] {
  const [checkpoint, blackbox] = sides;
  if (checkpoint === undefined || blackbox === undefined || sides.length !== 2) throw new Error(`expected the checkpoint and blackbox_exporter sides, got ${sides.length}`);
  return [checkpoint, blackbox];
}

/** The item at `index`, counting round and round the list: for round-robin over a list that must not be empty. */
export function roundRobin<T>(list: readonly T[], index: number): T {
  const item = list[index % list.length];
  if (item === undefined) throw new Error('round-robin over an empty list');
  return item;
}

export function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v.toFixed(digits);
}

/** 'none': a fact worth comparing, with no better side (only the ratio is printed). */
export type Better = 'lower' | 'higher' | 'none';

export interface Row {
  metric: string;
  checkpoint: number | undefined;
  blackbox: number | undefined;
  digits: number;
  better: Better;
  /** Compare absolute values (for signed errors). */
  abs?: boolean;
}

export function ratioCell(r: Row): string {
  const a = r.checkpoint;
  const b = r.blackbox;
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return 'n/a';
  const x = r.abs ? Math.abs(a) : a;
  const y = r.abs ? Math.abs(b) : b;
  if (r.better === 'none') return y === 0 ? 'n/a' : `${(x / y).toFixed(2)}×`;
  const dir = `${r.better} is better`;
  if (y === 0) return x === 0 ? `= (${dir})` : `∞ (${dir})`;
  const ratio = x / y;
  let verdict: string;
  if (Math.abs(ratio - 1) < 0.1) verdict = 'even within ±10% noise';
  else if (ratio < 1 === (r.better === 'lower')) verdict = 'checkpoint better';
  else verdict = 'blackbox better';
  return `${ratio.toFixed(2)}× (${dir}${r.abs ? ', by |value|' : ''}; ${verdict})`;
}

export function table(rows: Row[]): string {
  const lines = ['| metric | checkpoint | blackbox_exporter | ratio (checkpoint/blackbox) |', '|---|---:|---:|---|'];
  for (const r of rows) {
    lines.push(`| ${r.metric} | ${fmt(r.checkpoint, r.digits)} | ${fmt(r.blackbox, r.digits)} | ${ratioCell(r)} |`);
  }
  return lines.join('\n');
}

/** The http module both exporters get, side by side: IPv4, no checks beyond a 2xx. */
export function httpModuleYaml(name: string, timeout: string): string {
  return ['modules:', `  ${name}:`, '    prober: http', `    timeout: ${timeout}`, '    http:', '      preferred_ip_protocol: ip4', ''].join('\n');
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

/**
 * Stop every child on exit and on SIGINT/SIGTERM/SIGHUP (a second signal kills at once), then run
 * `main`; exit 0 when it resolves, 1 when it throws.
 */
export function runMain(main: () => Promise<void>): void {
  process.on('exit', killAllSync);
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      signals++;
      run.aborted = true;
      log(`${sig}: stopping children`);
      if (signals > 1) {
        killAllSync();
        process.exit(130);
      }
      // Hard stop if the graceful path hangs.
      setTimeout(() => {
        killAllSync();
        process.exit(130);
      }, 8000).unref();
      void stopAll().then(() => process.exit(130));
    });
  }

  main().then(
    () => process.exit(0),
    async (err: unknown) => {
      log(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await stopAll();
      process.exit(1);
    },
  );
}
