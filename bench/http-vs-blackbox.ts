/**
 * Side-by-side benchmark: Private Checkpoint vs blackbox_exporter, HTTP prober.
 *
 *   npm run bench                       # build, then run with defaults
 *   node dist/bench/http-vs-blackbox.js [options]
 *
 * Options:
 *   --checkpoint-cmd="CMD ARGS..."  command for the checkpoint side; {config} and
 *                                   {port} are substituted. Default:
 *                                   "bin/checkpoint --config.file={config}
 *                                    --web.listen-address=127.0.0.1:{port}"
 *                                   (the literal word "blackbox" runs blackbox_exporter
 *                                   on both sides: harness self-test)
 *   --blackbox-bin=PATH             default /usr/bin/prometheus-blackbox-exporter
 *   --quick                         1/10 of the probe counts (harness smoke test)
 *
 * One run: start a target server (own process), start both exporters with the same
 * module YAML on random free ports, warm both up, then measure each metric on one
 * exporter at a time, alternating which goes first. Every loop is bounded by a count
 * and a deadline; every child is stopped by PID in a finally block (also on Ctrl-C).
 * Results: Markdown table on stdout, plus .bench/http-vs-blackbox.md and .json.
 */
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import {
  CLK_TCK,
  OUT_DIR,
  ROOT,
  bothSides,
  cpuSeconds,
  fmt,
  httpModuleYaml,
  log,
  median,
  parseMetric,
  quantile,
  ratioCell,
  run,
  runMain,
  startExporter,
  stopChild,
  startTarget,
  startedChildren,
  stopAll,
  table,
  treeKb,
  waitHealthy,
  type Child,
  type Row,
} from './harness';

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

const MODULE = 'http_2xx';
const MODULE_YAML = httpModuleYaml(MODULE, '5s');

interface Level {
  concurrency: number;
  probes: number;
  capMs: number;
}

interface Settings {
  checkpointCmd: string;
  blackboxBin: string;
  quick: boolean;
  warmupProbes: number;
  directProbes: number;
  delayProbes: number;
  levels: Level[];
  phaseCapMs: number; // cap for warmup / direct / delay50 phases
  startupTimeoutMs: number;
  /** Fresh starts of each exporter for startup time and idle memory (medians reported). */
  starts: number;
  /** When, after /-/healthy, an exporter's RSS is read: just started, and idle (at rest, no probe yet). */
  startedRssAfterMs: number;
  idleRssAfterMs: number;
  globalDeadlineMs: number; // no new probes are started after this (from start)
  requestTimeoutMs: number;
}

const DEFAULT_CHECKPOINT_CMD = 'bin/checkpoint --config.file={config} --web.listen-address=127.0.0.1:{port}';

function parseArgs(argv: string[]): Settings {
  let checkpointCmd = DEFAULT_CHECKPOINT_CMD;
  let blackboxBin = '/usr/bin/prometheus-blackbox-exporter';
  let quick = false;
  // One iterator, so that value() can take the next argument as a flag's value.
  const args = argv.values();
  for (const a of args) {
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(0, eq) : a;
    const inline = eq >= 0 ? a.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args.next();
      if (next.done) throw new Error(`missing value for ${key}`);
      return next.value;
    };
    switch (key) {
      case '--checkpoint-cmd':
        checkpointCmd = value();
        break;
      case '--blackbox-bin':
        blackboxBin = value();
        break;
      case '--quick':
        quick = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write('usage: node dist/bench/http-vs-blackbox.js [--checkpoint-cmd="CMD {config} {port}"|blackbox] [--blackbox-bin=PATH] [--quick]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument: ${a}`);
    }
  }
  if (checkpointCmd === 'blackbox') {
    checkpointCmd = `${blackboxBin} --config.file={config} --web.listen-address=127.0.0.1:{port}`;
  }
  const scale = quick ? 0.1 : 1;
  const n = (x: number): number => Math.max(10, Math.round(x * scale));
  return {
    checkpointCmd,
    blackboxBin,
    quick,
    // Enough for V8 to have compiled the hot path: with 100, the c=1 level measured the JIT at
    // work (1.67 ms of CPU per probe there, 0.84-0.94 once warm, against blackbox's 0.92-0.99).
    warmupProbes: n(2000),
    directProbes: n(300),
    // The median of 50 moved by a few tenths of a millisecond from run to run; 200 hold it.
    delayProbes: n(200),
    levels: [
      // Each round of a level is a quarter of these: long enough that the 10 ms ticks of
      // /proc's CPU times are a few percent of it.
      { concurrency: 1, probes: n(1200), capMs: 15_000 },
      { concurrency: 16, probes: n(3000), capMs: 15_000 },
      { concurrency: 64, probes: n(6000), capMs: 15_000 },
    ],
    phaseCapMs: 6_000,
    startupTimeoutMs: 20_000,
    starts: quick ? 2 : 3,
    startedRssAfterMs: 2_000,
    // V8 gives memory back to the system once a process has been quiet for about 8 s.
    idleRssAfterMs: 12_000,
    globalDeadlineMs: 170_000,
    requestTimeoutMs: 7_000, // module timeout 5s + 2s slack
  };
}

// ---------------------------------------------------------------------------
// Load generation
// ---------------------------------------------------------------------------

interface RunResult {
  label: string;
  concurrency: number;
  requested: number;
  completed: number;
  elapsedMs: number;
  capped: boolean;
  latenciesMs: number[];
  non200: number;
  probeFailed: number;
  transportErrors: number;
  missingMetric: number;
  /** In-flight requests aborted when the time cap fired (not counted as completed or errors). */
  cutAtCap: number;
  durationsS: number[]; // probe_duration_seconds values, when collected
  cpuSeconds?: number;
  firstError?: string;
}

interface Target {
  name: string;
  url: string; // base URL, e.g. http://127.0.0.1:9115
  pid: number;
  child: Child;
  agent: Agent;
}

/**
 * Run `total` requests with `concurrency` workers, stopping early at `deadline`
 * (performance.now() ms). kind 'probe' checks probe_success; 'direct' just needs 2xx.
 */
async function runLoad(opts: {
  label: string;
  url: string;
  agent: Agent;
  concurrency: number;
  total: number;
  deadline: number;
  kind: 'probe' | 'direct';
  collectDuration: boolean;
  timeoutMs: number;
  freshConnection: boolean;
}): Promise<RunResult> {
  const res = emptyRun(opts.label, opts.concurrency, opts.total);
  let issued = 0;
  const t0 = performance.now();
  // At the deadline, abort whatever is still in flight so a hung exporter cannot
  // stretch a level past its cap.
  const cap = new AbortController();
  // Every in-flight request (and its body stream) listens on this one signal.
  setMaxListeners(opts.concurrency * 4 + 16, cap.signal);
  const capTimer = setTimeout(() => cap.abort(), Math.max(0, opts.deadline - t0));
  const worker = async (): Promise<void> => {
    while (issued < opts.total && !run.aborted) {
      if (performance.now() >= opts.deadline) {
        res.capped = true;
        return;
      }
      issued++;
      const s = performance.now();
      try {
        const r = await request(opts.url, {
          dispatcher: opts.agent,
          headersTimeout: opts.timeoutMs,
          bodyTimeout: opts.timeoutMs,
          reset: opts.freshConnection,
          signal: cap.signal,
        });
        const body = await r.body.text();
        const lat = performance.now() - s;
        res.latenciesMs.push(lat);
        res.completed++;
        if (r.statusCode !== 200) {
          res.non200++;
          if (!res.firstError) res.firstError = `HTTP ${r.statusCode}: ${body.slice(0, 200)}`;
          continue;
        }
        if (opts.kind === 'probe') {
          const ok = parseMetric(body, 'probe_success');
          if (ok === undefined) {
            res.missingMetric++;
            if (!res.firstError) res.firstError = `no probe_success in body: ${body.slice(0, 200)}`;
          } else if (ok !== 1) {
            res.probeFailed++;
            if (!res.firstError) res.firstError = `probe_success=${ok}`;
          }
          if (opts.collectDuration) {
            const d = parseMetric(body, 'probe_duration_seconds');
            if (d === undefined) res.missingMetric++;
            else res.durationsS.push(d);
          }
        }
      } catch (err) {
        if (cap.signal.aborted) {
          res.cutAtCap++;
          res.capped = true;
          return;
        }
        res.completed++;
        res.transportErrors++;
        if (!res.firstError) res.firstError = `transport: ${(err as Error).message}`;
        // Back off a little so a dead exporter does not turn into a hot loop.
        await sleep(5);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, () => worker()));
  clearTimeout(capTimer);
  res.elapsedMs = performance.now() - t0;
  return res;
}

/** Measurement rounds per level (ABBA order); counts are split between them. */
const ROUNDS = 4;

/** Probes for round `round` when `total` is split over ROUNDS rounds. */
function share(total: number, round: number): number {
  const base = Math.floor(total / ROUNDS);
  return round < total % ROUNDS ? base + 1 : base;
}

/** A run with nothing counted yet. */
function emptyRun(label: string, concurrency: number, requested: number): RunResult {
  return {
    label,
    concurrency,
    requested,
    completed: 0,
    elapsedMs: 0,
    capped: false,
    latenciesMs: [],
    non200: 0,
    probeFailed: 0,
    transportErrors: 0,
    missingMetric: 0,
    cutAtCap: 0,
    durationsS: [],
  };
}

/** Combine the rounds of one level for one exporter into a single result. */
function mergeRuns(rs: RunResult[]): RunResult {
  const out = emptyRun(rs[0]?.label ?? '?', rs[0]?.concurrency ?? 0, 0);
  for (const r of rs) {
    out.requested += r.requested;
    out.completed += r.completed;
    out.elapsedMs += r.elapsedMs;
    out.capped = out.capped || r.capped;
    out.latenciesMs.push(...r.latenciesMs);
    out.non200 += r.non200;
    out.probeFailed += r.probeFailed;
    out.transportErrors += r.transportErrors;
    out.missingMetric += r.missingMetric;
    out.cutAtCap += r.cutAtCap;
    out.durationsS.push(...r.durationsS);
    if (r.cpuSeconds !== undefined) out.cpuSeconds = (out.cpuSeconds ?? 0) + r.cpuSeconds;
    if (!out.firstError && r.firstError) out.firstError = r.firstError;
  }
  return out;
}

function errorsOf(r: RunResult): number {
  return r.non200 + r.probeFailed + r.transportErrors + r.missingMetric;
}

interface SideData {
  name: string;
  command: string[];
  port: number;
  pid: number;
  /** Time from spawn to the first 200 from /-/healthy, one per fresh start. */
  startupsMs: number[];
  /** VmRSS `startedRssAfterMs` after /-/healthy, one per fresh start (KiB). */
  startedRssKb: number[];
  /** VmRSS `idleRssAfterMs` after /-/healthy, no probe in between, one per fresh start (KiB). */
  idleRssKb: number[];
  warmup?: RunResult;
  levels: RunResult[];
  delay50?: RunResult;
  peakRssSampledKb: number;
  vmHwmKb: number;
  cpuBaselineSeconds: number;
  cpuTotalSeconds: number;
}

/** One fresh start of an exporter: spawn to /-/healthy, then its RSS just started and at rest; stopped by PID. */
async function measureFreshStart(name: string, cmd: string, configFile: string, cfg: Settings, agent: Agent): Promise<{ startupMs: number; startedRssKb: number; idleRssKb: number }> {
  const { child, port } = await startExporter(`${name}-start`, cmd, configFile);
  try {
    const startupMs = await waitHealthy(child, port, cfg.startupTimeoutMs, agent);
    await sleep(cfg.startedRssAfterMs);
    const startedRssKb = treeKb(child.pid, 'VmRSS');
    await sleep(cfg.idleRssAfterMs - cfg.startedRssAfterMs);
    return { startupMs, startedRssKb, idleRssKb: treeKb(child.pid, 'VmRSS') };
  } finally {
    await stopChild(child.proc);
  }
}

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const tStart = performance.now();
  // Counted from the end of the fresh starts (which take their own fixed time), see below.
  let globalDeadline = tStart + cfg.globalDeadlineMs;
  const capAt = (ms: number): number => Math.min(performance.now() + ms, globalDeadline);

  fs.mkdirSync(OUT_DIR, { recursive: true });
  const configFile = path.join(OUT_DIR, 'http-vs-blackbox.modules.yml');
  fs.writeFileSync(configFile, MODULE_YAML);

  if (!fs.existsSync(cfg.blackboxBin)) throw new Error(`blackbox_exporter not found at ${cfg.blackboxBin}`);
  if (cfg.checkpointCmd === DEFAULT_CHECKPOINT_CMD && !fs.existsSync(path.join(ROOT, 'dist/checkpoint.js'))) {
    throw new Error('dist/checkpoint.js not found: run `npm run build` first (or pass --checkpoint-cmd)');
  }

  const agents: Agent[] = [];
  const mkAgent = (): Agent => {
    const a = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 10_000, connect: { timeout: 5000 } });
    agents.push(a);
    return a;
  };
  let sampler: NodeJS.Timeout | undefined;

  try {
    const specs: [string, string][] = [
      ['checkpoint', cfg.checkpointCmd],
      ['blackbox_exporter', `${cfg.blackboxBin} --config.file={config} --web.listen-address=127.0.0.1:{port}`],
    ];

    // --- target ---------------------------------------------------------
    const target = await startTarget();
    const targetBase = `http://127.0.0.1:${target.port}`;
    log(`target server pid=${target.child.pid} on ${targetBase}`);

    // --- startup and idle memory: fresh starts, alternating sides ----------
    const startups = new Map<string, { startupsMs: number[]; startedRssKb: number[]; idleRssKb: number[] }>();
    for (let i = 0; i < cfg.starts; i++) {
      const order = i % 2 === 0 ? specs : [...specs].reverse();
      for (const [name, cmd] of order) {
        const measured = await measureFreshStart(name, cmd, configFile, cfg, mkAgent());
        const list = startups.get(name) ?? { startupsMs: [], startedRssKb: [], idleRssKb: [] };
        list.startupsMs.push(measured.startupMs);
        list.startedRssKb.push(measured.startedRssKb);
        list.idleRssKb.push(measured.idleRssKb);
        startups.set(name, list);
      }
    }
    for (const [name, list] of startups) {
      const mib = (kbs: number[]) => kbs.map((kb) => (kb / 1024).toFixed(1)).join(', ');
      log(`${name}: startups ${list.startupsMs.map((ms) => ms.toFixed(0)).join(', ')} ms; RSS just started ${mib(list.startedRssKb)}, idle ${mib(list.idleRssKb)} MiB`);
    }

    globalDeadline = performance.now() + cfg.globalDeadlineMs;

    // --- exporters ------------------------------------------------------
    const sides: { t: Target; d: SideData }[] = [];
    for (const [name, cmd] of specs) {
      const { child, port, argv } = await startExporter(name, cmd, configFile);
      const agent = mkAgent();
      log(`${name}: pid=${child.pid} ${argv.join(' ')}`);
      const startupMs = await waitHealthy(child, port, cfg.startupTimeoutMs, agent);
      log(`${name}: healthy after ${startupMs.toFixed(0)} ms (measured apart, in fresh starts)`);
      sides.push({
        t: { name, url: `http://127.0.0.1:${port}`, pid: child.pid, child, agent },
        d: {
          name,
          command: argv,
          port,
          pid: child.pid,
          ...(startups.get(name) ?? { startupsMs: [], startedRssKb: [], idleRssKb: [] }),
          levels: [],
          peakRssSampledKb: 0,
          vmHwmKb: 0,
          cpuBaselineSeconds: cpuSeconds(child.pid),
          cpuTotalSeconds: 0,
        },
      });
    }

    sampler = setInterval(() => {
      for (const s of sides) {
        const kb = treeKb(s.t.pid, 'VmRSS');
        if (kb > s.d.peakRssSampledKb) s.d.peakRssSampledKb = kb;
      }
    }, 200);
    sampler.unref();

    const probeUrl = (t: Target, p: string): string => `${t.url}/probe?module=${MODULE}&target=${encodeURIComponent(targetBase + p)}`;

    const ensureAlive = (t: Target): void => {
      if (t.child.exited()) throw new Error(`${t.name} exited during the benchmark:\n${t.child.tail()}`);
    };

    // --- warm-up (both) -------------------------------------------------
    for (const s of sides) {
      log(`${s.t.name}: warm-up ${cfg.warmupProbes} probes`);
      s.d.warmup = await runLoad({
        label: 'warmup',
        url: probeUrl(s.t, '/'),
        agent: s.t.agent,
        concurrency: 8,
        total: cfg.warmupProbes,
        deadline: capAt(cfg.phaseCapMs),
        kind: 'probe',
        collectDuration: false,
        timeoutMs: cfg.requestTimeoutMs,
        freshConnection: false,
      });
      ensureAlive(s.t);
    }

    // --- direct GET baseline (no exporter) --------------------------------
    // New TCP connection per request, like an exporter probe does.
    log(`direct GET baseline: ${cfg.directProbes} requests at c=1`);
    const directAgent = mkAgent();
    const directRun = (label: string, freshConnection: boolean) =>
      runLoad({
        label,
        url: `${targetBase}/`,
        agent: directAgent,
        concurrency: 1,
        total: cfg.directProbes,
        deadline: capAt(cfg.phaseCapMs),
        kind: 'direct',
        collectDuration: false,
        timeoutMs: cfg.requestTimeoutMs,
        freshConnection,
      });
    const direct = await directRun('direct', true);
    // Same, keep-alive (reported for reference only).
    const directKeepAlive = await directRun('direct-keepalive', false);
    log(
      `direct GET median ${median(direct.latenciesMs).toFixed(3)} ms (new connection), ` +
        `${median(directKeepAlive.latenciesMs).toFixed(3)} ms (keep-alive); errors ${errorsOf(direct) + errorsOf(directKeepAlive)}`,
    );

    // --- throughput levels -------------------------------------------------
    // Each level is split into ROUNDS halves run A,B then B,A (the first side
    // alternating per level), so drift and "who ran first" bias cancel out.
    for (const [li, lv] of cfg.levels.entries()) {
      const first = li % 2 === 0 ? sides : [...sides].reverse();
      const parts = new Map<string, RunResult[]>();
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? first : [...first].reverse();
        for (const s of order) {
          if (run.aborted) throw new Error('aborted');
          ensureAlive(s.t);
          const cpu0 = cpuSeconds(s.t.pid);
          const r = await runLoad({
            label: `c=${lv.concurrency}`,
            url: probeUrl(s.t, '/'),
            agent: s.t.agent,
            concurrency: lv.concurrency,
            total: share(lv.probes, round),
            deadline: capAt(lv.capMs / ROUNDS),
            kind: 'probe',
            collectDuration: false,
            timeoutMs: cfg.requestTimeoutMs,
            freshConnection: false,
          });
          r.cpuSeconds = cpuSeconds(s.t.pid) - cpu0;
          parts.set(s.t.name, [...(parts.get(s.t.name) ?? []), r]);
          await sleep(100);
        }
      }
      for (const s of sides) {
        const r = mergeRuns(parts.get(s.t.name) ?? []);
        s.d.levels.push(r);
        log(
          `${s.t.name} c=${lv.concurrency}: ${r.completed}/${r.requested} in ${(r.elapsedMs / 1000).toFixed(2)} s ` +
            `= ${((r.completed * 1000) / r.elapsedMs).toFixed(0)}/s, p50 ${median(r.latenciesMs).toFixed(2)} ms, ` +
            `errors ${errorsOf(r)}${r.capped ? ' (time cap hit)' : ''}${r.firstError ? ` first: ${r.firstError}` : ''}`,
        );
      }
    }

    // --- probe_duration_seconds accuracy against /delay50 ----------------
    {
      const parts = new Map<string, RunResult[]>();
      const first = [...sides].reverse();
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? first : [...first].reverse();
        for (const s of order) {
          if (run.aborted) throw new Error('aborted');
          ensureAlive(s.t);
          const r = await runLoad({
            label: 'delay50',
            url: probeUrl(s.t, '/delay50'),
            agent: s.t.agent,
            concurrency: 1,
            total: share(cfg.delayProbes, round),
            deadline: capAt(cfg.phaseCapMs),
            kind: 'probe',
            collectDuration: true,
            timeoutMs: cfg.requestTimeoutMs,
            freshConnection: false,
          });
          parts.set(s.t.name, [...(parts.get(s.t.name) ?? []), r]);
        }
      }
      for (const s of sides) {
        s.d.delay50 = mergeRuns(parts.get(s.t.name) ?? []);
        log(`${s.t.name} delay50: median probe_duration_seconds ${median(s.d.delay50.durationsS).toFixed(4)} s over ${s.d.delay50.durationsS.length}`);
      }
    }

    // --- resources --------------------------------------------------------
    for (const s of sides) {
      ensureAlive(s.t);
      s.d.vmHwmKb = treeKb(s.t.pid, 'VmHWM');
      const rss = treeKb(s.t.pid, 'VmRSS');
      if (rss > s.d.peakRssSampledKb) s.d.peakRssSampledKb = rss;
      s.d.cpuTotalSeconds = cpuSeconds(s.t.pid) - s.d.cpuBaselineSeconds;
    }
    clearInterval(sampler);
    sampler = undefined;

    // --- report -----------------------------------------------------------
    const [cp, bb] = bothSides(sides.map((s) => s.d));
    const directMedian = median(direct.latenciesMs);
    const lvl = (d: SideData, c: number): RunResult | undefined => d.levels.find((r) => r.concurrency === c);
    const rate = (r: RunResult | undefined): number | undefined => (r && r.elapsedMs > 0 ? (r.completed * 1000) / r.elapsedMs : undefined);
    const cpuPer1k = (rs: (RunResult | undefined)[]): number | undefined => {
      let cpu = 0;
      let n = 0;
      for (const r of rs) {
        if (!r || r.cpuSeconds === undefined) continue;
        cpu += r.cpuSeconds;
        n += r.completed;
      }
      return n > 0 ? (cpu * 1000) / n : undefined;
    };
    const allErrors = (d: SideData, pick: (r: RunResult) => number): number => [...d.levels, ...(d.delay50 ? [d.delay50] : [])].reduce((a, r) => a + pick(r), 0);

    const rows: Row[] = [];
    for (const lv of cfg.levels) {
      const c = lv.concurrency;
      rows.push({ metric: `probes/s, c=${c}`, checkpoint: rate(lvl(cp, c)), blackbox: rate(lvl(bb, c)), digits: 0, better: 'higher' });
    }
    for (const lv of cfg.levels) {
      const c = lv.concurrency;
      const a = lvl(cp, c);
      const b = lvl(bb, c);
      rows.push({ metric: `p50 /probe latency ms, c=${c}`, checkpoint: a && median(a.latenciesMs), blackbox: b && median(b.latenciesMs), digits: 2, better: 'lower' });
      rows.push({ metric: `p99 /probe latency ms, c=${c}`, checkpoint: a && quantile(a.latenciesMs, 0.99), blackbox: b && quantile(b.latenciesMs, 0.99), digits: 2, better: 'lower' });
    }
    const c1cp = lvl(cp, 1);
    const c1bb = lvl(bb, 1);
    rows.push({
      metric: `overhead ms (median /probe c=1 − median direct GET, new conn, ${fmt(directMedian, 2)} ms)`,
      checkpoint: c1cp && median(c1cp.latenciesMs) - directMedian,
      blackbox: c1bb && median(c1bb.latenciesMs) - directMedian,
      digits: 2,
      better: 'lower',
    });
    rows.push({
      metric: 'probe_duration_seconds error ms (median − 50 ms, /delay50)',
      checkpoint: cp.delay50 && (median(cp.delay50.durationsS) - 0.05) * 1000,
      blackbox: bb.delay50 && (median(bb.delay50.durationsS) - 0.05) * 1000,
      digits: 2,
      better: 'lower',
      abs: true,
    });
    rows.push({ metric: 'peak RSS MiB (VmHWM)', checkpoint: cp.vmHwmKb / 1024, blackbox: bb.vmHwmKb / 1024, digits: 1, better: 'lower' });
    rows.push({ metric: 'peak RSS MiB (VmRSS sampled 200 ms)', checkpoint: cp.peakRssSampledKb / 1024, blackbox: bb.peakRssSampledKb / 1024, digits: 1, better: 'lower' });
    for (const lv of cfg.levels) {
      const c = lv.concurrency;
      rows.push({ metric: `CPU s / 1000 probes, c=${c}`, checkpoint: cpuPer1k([lvl(cp, c)]), blackbox: cpuPer1k([lvl(bb, c)]), digits: 3, better: 'lower' });
    }
    rows.push({ metric: 'CPU s / 1000 probes, all levels', checkpoint: cpuPer1k(cp.levels), blackbox: cpuPer1k(bb.levels), digits: 3, better: 'lower' });
    rows.push({ metric: 'CPU s total (whole run incl. warm-up)', checkpoint: cp.cpuTotalSeconds, blackbox: bb.cpuTotalSeconds, digits: 2, better: 'lower' });
    rows.push({ metric: `startup to /-/healthy ms (median of ${cfg.starts} fresh starts)`, checkpoint: median(cp.startupsMs), blackbox: median(bb.startupsMs), digits: 0, better: 'lower' });
    rows.push({
      metric: `RSS MiB just started (${cfg.startedRssAfterMs / 1000} s after /-/healthy; median of ${cfg.starts})`,
      checkpoint: median(cp.startedRssKb) / 1024,
      blackbox: median(bb.startedRssKb) / 1024,
      digits: 1,
      better: 'lower',
    });
    rows.push({
      metric: `idle RSS MiB (${cfg.idleRssAfterMs / 1000} s after /-/healthy, no probe; median of ${cfg.starts})`,
      checkpoint: median(cp.idleRssKb) / 1024,
      blackbox: median(bb.idleRssKb) / 1024,
      digits: 1,
      better: 'lower',
    });
    rows.push({ metric: 'errors: non-200 answers', checkpoint: allErrors(cp, (r) => r.non200), blackbox: allErrors(bb, (r) => r.non200), digits: 0, better: 'lower' });
    rows.push({ metric: 'errors: probe_success=0', checkpoint: allErrors(cp, (r) => r.probeFailed), blackbox: allErrors(bb, (r) => r.probeFailed), digits: 0, better: 'lower' });
    rows.push({ metric: 'errors: transport (timeout/reset)', checkpoint: allErrors(cp, (r) => r.transportErrors), blackbox: allErrors(bb, (r) => r.transportErrors), digits: 0, better: 'lower' });
    rows.push({ metric: 'errors: missing metric in answer', checkpoint: allErrors(cp, (r) => r.missingMetric), blackbox: allErrors(bb, (r) => r.missingMetric), digits: 0, better: 'lower' });
    rows.push({
      metric: 'probes completed / requested',
      checkpoint: [...cp.levels].reduce((a, r) => a + r.completed, 0) / [...cp.levels].reduce((a, r) => a + r.requested, 0),
      blackbox: [...bb.levels].reduce((a, r) => a + r.completed, 0) / [...bb.levels].reduce((a, r) => a + r.requested, 0),
      digits: 3,
      better: 'higher',
    });

    const totalS = (performance.now() - tStart) / 1000;
    const cappedNotes = sides
      .flatMap((s) => [s.d.warmup, ...s.d.levels, s.d.delay50].map((r) => [s.d.name, r] as const))
      .filter(([, r]) => r?.capped)
      .map(([n, r]) => `${n} ${r?.label}: time cap hit after ${r?.completed}/${r?.requested} answers (${r?.cutAtCap} in flight cut off)`);
    const firstErrors = sides
      .flatMap((s) => [...s.d.levels, ...(s.d.delay50 ? [s.d.delay50] : [])].map((r) => [s.d.name, r] as const))
      .filter(([, r]) => r.firstError)
      .map(([n, r]) => `${n} ${r.label}: ${(r.firstError ?? '').replace(/\s+/g, ' ').trim()}`);

    const header = [
      `# HTTP probe benchmark: Private Checkpoint vs blackbox_exporter`,
      '',
      `- date: ${new Date().toISOString()}`,
      `- host: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, CLK_TCK ${CLK_TCK}`,
      `- checkpoint: \`${cp.command.join(' ')}\``,
      `- blackbox_exporter: \`${bb.command.join(' ')}\``,
      `- module: \`${MODULE}\` (prober http, timeout 5s, preferred_ip_protocol ip4); target ${targetBase}/ (200, 3-byte body), /delay50`,
      `- probes per level: ${cfg.levels.map((l) => `c=${l.concurrency}: ${l.probes} (cap ${l.capMs / 1000} s)`).join(', ')}; warm-up ${cfg.warmupProbes}; delay50 ${cfg.delayProbes}; direct GET ${cfg.directProbes} (new connection each)${cfg.quick ? ' — QUICK MODE (1/10 counts)' : ''}`,
      `- direct GET of target at c=1 (no exporter): median ${fmt(directMedian, 3)} ms with a new TCP connection per request (the overhead baseline, since each probe opens a new connection), ${fmt(median(directKeepAlive.latenciesMs), 3)} ms keep-alive`,
      `- exporters measured one at a time; each level split into ${ROUNDS} rounds run in A,B,B,A,... order (first side alternating per level); load generator: undici keep-alive pool in this process; target in its own process`,
      `- noise: an A/A run (\`--checkpoint-cmd=blackbox\`, blackbox_exporter on both sides) on a 2-core VM gave ratios within about ±10% for throughput/p50/CPU and more for p99; treat smaller differences as noise`,
      `- total bench time: ${totalS.toFixed(1)} s`,
      '',
    ].join('\n');
    const notes = [
      ...(cappedNotes.length ? ['', '**Time caps hit:**', ...cappedNotes.map((n) => `- ${n}`)] : []),
      ...(firstErrors.length ? ['', '**First error per run:**', ...firstErrors.map((n) => `- ${n}`)] : []),
    ].join('\n');
    const md = `${header}\n${table(rows)}\n${notes}\n`;
    process.stdout.write(`\n${table(rows)}\n${notes}\n`);

    const slim = (r: RunResult | undefined): unknown =>
      r && {
        ...r,
        latenciesMs: r.latenciesMs.map((x) => Math.round(x * 1000) / 1000),
        summary: {
          probesPerSecond: rate(r),
          p50Ms: median(r.latenciesMs),
          p99Ms: quantile(r.latenciesMs, 0.99),
          medianDurationS: r.durationsS.length ? median(r.durationsS) : undefined,
          errors: errorsOf(r),
        },
      };
    const json = {
      date: new Date().toISOString(),
      host: { cpus: os.cpus().length, model: os.cpus()[0]?.model, totalMemBytes: os.totalmem(), node: process.version, clkTck: CLK_TCK },
      settings: cfg,
      moduleYaml: MODULE_YAML,
      totalSeconds: totalS,
      direct: slim(direct),
      directKeepAlive: slim(directKeepAlive),
      exporters: sides.map((s) => ({
        ...s.d,
        warmup: slim(s.d.warmup),
        levels: s.d.levels.map((r) => slim(r)),
        delay50: slim(s.d.delay50),
      })),
      table: rows.map((r) => ({ ...r, ratio: ratioCell(r) })),
    };
    fs.writeFileSync(path.join(OUT_DIR, 'http-vs-blackbox.md'), md);
    fs.writeFileSync(path.join(OUT_DIR, 'http-vs-blackbox.json'), `${JSON.stringify(json, null, 2)}\n`);
    log(`wrote ${path.relative(ROOT, path.join(OUT_DIR, 'http-vs-blackbox.md'))} and .json (${totalS.toFixed(1)} s total)`);
  } finally {
    if (sampler) clearInterval(sampler);
    await stopAll();
    // Keep the tail of each child's output for post-mortems.
    for (const c of startedChildren) {
      try {
        fs.writeFileSync(path.join(OUT_DIR, `http-vs-blackbox.${c.name}.log`), c.tail());
      } catch {
        /* best effort */
      }
    }
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }
}

runMain(main);
