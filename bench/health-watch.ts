/**
 * /-/healthy watcher for bench/hostile-probes.ts, run as its own process so that the load
 * generator's event loop (busy issuing and reading hundreds of /probe requests) and its queues
 * never show up in the health latencies.
 *
 *   node dist/bench/health-watch.js --url=http://127.0.0.1:PORT/-/healthy [--interval-ms=50]
 *                                   [--timeout-ms=2000] [--max-s=120] [--max-checks=20000]
 *
 * GETs the URL with plain node:http, `agent: false` (a new connection each check, like a health
 * checker), one check at a time, the next one `interval-ms` after the previous one started (or at
 * once if it took longer). A check that has not finished after `timeout-ms` is destroyed and
 * recorded as failed, taking exactly `timeout-ms`.
 *
 * stdout, JSON lines: first {"ready":true,"pid":N}, then one line per check
 * {"t":EPOCH_MS,"ms":LATENCY,"ok":BOOL,"error"?:STR} where t is performance.timeOrigin +
 * performance.now() when the check started (comparable across processes on one host), and last,
 * on SIGTERM/SIGINT, stdin closing, --max-s or --max-checks, after the check in flight ended:
 * {"done":true,"checks":N,"loopDelayMaxMs":X,"loopDelayP99Ms":Y} (this process's own event-loop
 * delay, to show the watcher itself was not the one stalling).
 */
import * as http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { numberFlag, splitFlag } from './flags';

interface Opts {
  url: string;
  intervalMs: number;
  timeoutMs: number;
  maxS: number;
  maxChecks: number;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { url: '', intervalMs: 50, timeoutMs: 2000, maxS: 120, maxChecks: 20_000 };
  const num = numberFlag;
  for (const a of argv) {
    const { key, value: v } = splitFlag(a);
    if (key === '--url') o.url = v;
    else if (key === '--interval-ms') o.intervalMs = num(key, v, 1, 60_000);
    else if (key === '--timeout-ms') o.timeoutMs = num(key, v, 10, 60_000);
    else if (key === '--max-s') o.maxS = num(key, v, 1, 3600);
    else if (key === '--max-checks') o.maxChecks = Math.round(num(key, v, 1, 1_000_000));
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!/^http:\/\//.test(o.url)) throw new Error(`--url: expected http://..., got ${o.url || '(none)'}`);
  return o;
}

interface Check {
  t: number;
  ms: number;
  ok: boolean;
  error?: string;
}

function check(url: string, timeoutMs: number): Promise<Check> {
  return new Promise((resolve) => {
    const s = performance.now();
    let settled = false;
    const finish = (ok: boolean, error?: string, timedOut = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const rec: Check = { t: performance.timeOrigin + s, ms: timedOut ? timeoutMs : performance.now() - s, ok };
      if (error !== undefined) rec.error = error;
      resolve(rec);
    };
    const req = http.get(url, { agent: false }, (res) => {
      res.on('error', (err) => finish(false, err.message));
      res.on('end', () => finish(res.statusCode === 200, res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
      res.resume();
    });
    req.on('error', (err) => finish(false, err.message));
    const timer = setTimeout(() => {
      finish(false, `timeout after ${timeoutMs} ms`, true);
      req.destroy();
    }, timeoutMs);
  });
}

const write = (o: unknown): void => {
  // stdout is a pipe: synchronous on Linux, so nothing is lost when we exit right after.
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  const deadline = performance.now() + o.maxS * 1000;
  write({ ready: true, pid: process.pid });
  let n = 0;
  while (!stopping && n < o.maxChecks && performance.now() < deadline) {
    const rec = await check(o.url, o.timeoutMs);
    n++;
    write(rec);
    const wait = Math.max(0, o.intervalMs - rec.ms);
    // Sleep in small steps so a stop request is seen within ~10 ms.
    const until = performance.now() + wait;
    while (!stopping && performance.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(10, Math.max(0, until - performance.now()))));
    }
  }
  loop.disable();
  write({ done: true, checks: n, loopDelayMaxMs: loop.max / 1e6, loopDelayP99Ms: loop.percentile(99) / 1e6 });
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
