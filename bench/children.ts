/**
 * What the benchmarks share: child processes (exporters, the target server) started and always
 * stopped by PID, free ports, readiness, and /proc accounting of CPU and memory per process tree.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Agent } from 'undici';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Every child we started, so the finally block / signal handlers can stop them. */
const children = new Set<ChildProcess>();
let aborted = false;
/** Every child ever started, exited or not, for their output after the run. */
export const startedChildren: Child[] = [];

/** True once a signal asked the run to stop: loops check it to stop issuing work. */
export function isAborted(): boolean {
  return aborted;
}

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
function killAllSync(): void {
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
  const parts = cmd.trim().split(/\s+/).filter((p) => p.length > 0);
  return parts.map((p) => p.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m));
}

export async function startTarget(): Promise<{ child: Child; port: number }> {
  const script = path.join(__dirname, 'target-server.js');
  let resolvePort: (p: number) => void = () => undefined;
  const portP = new Promise<number>((r) => (resolvePort = r));
  const child = startChild('target', process.execPath, [script, '0'], (line) => {
    try {
      const j = JSON.parse(line) as { port?: number };
      if (typeof j.port === 'number') resolvePort(j.port);
    } catch {
      /* ignore non-JSON output */
    }
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !child.exited() && !aborted) {
    const p = await Promise.race([portP, sleep(50).then(() => 0)]);
    if (p > 0) return { child, port: p };
  }
  throw new Error(`target server did not start:\n${child.tail()}`);
}

export async function waitHealthy(child: Child, port: number, timeoutMs: number, agent: Agent): Promise<number> {
  const t0 = performance.now();
  const deadline = t0 + timeoutMs;
  while (performance.now() < deadline && !aborted) {
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

function readStat(pid: number): { ppid: number; ticks: number; childTicks: number } | undefined {
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
function processTree(root: number): number[] {
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

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
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

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/**
 * Stops every child when this process exits or is interrupted: gracefully on the first signal,
 * at once on a second one or when the graceful stop hangs.
 */
export function stopChildrenOnExit(): void {
  process.on('exit', killAllSync);
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      signals++;
      aborted = true;
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
}
