/**
 * Hostile targets benchmark: does a burst of probes against targets that never answer, answer
 * too slowly or never stop answering keep the exporter's own /-/healthy quick? Private
 * Checkpoint and blackbox_exporter side by side.
 *
 *   npm run bench:hostile
 *   node dist/bench/hostile-probes.js [--probes=256] [--rounds=2] [--cap-s=30] [--rss-cap-mib=4096]
 *                                     [--kinds=silent,slowHeader,endlessBody] [--nice=10] [--checkpoint-cmd="CMD {config} {port}"] [--blackbox-bin=PATH]
 *
 * One run: start the hostile targets (bench/hostile-targets.ts, own process), start both
 * exporters with the same module (http, timeout 5s, no regex) on random free ports, then for
 * each round and one exporter at a time (A,B,B,A,...): fire --probes /probe requests at once,
 * spread round-robin over the silent, slow-header and endless-body targets, each with its own
 * client timeout, while a watcher in its own process (bench/health-watch.ts, started before the
 * burst, stopped by PID after it) GETs /-/healthy with node:http on a new connection every 50 ms,
 * so this process's own event-loop delays and queues are not in the health latencies. The
 * round ends when every probe ended or after --cap-s. The hostile targets run under nice 10 and
 * this load generator drops to nice 10 during the burst (--nice=0: off), so on a small machine
 * they take CPU only the exporter and the watcher leave (in production they are other hosts);
 * the exporters and the watcher stay at nice 0. The checkpoint's own event-loop delay during the
 * burst comes from its /metrics (prom-client, reset by the scrape just before). RSS is sampled every 100 ms; an exporter
 * whose RSS passes --rss-cap-mib is killed by PID and its remaining rounds skipped. Every child
 * is stopped by PID in a finally block (also on Ctrl-C).
 * Results: Markdown table on stdout, plus .bench/hostile-probes.md and .json.
 */
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
  roundRobin,
  run,
  runMain,
  startExporter,
  startJsonChild,
  startedChildren,
  stopAll,
  stopChild,
  table,
  treeKb,
  waitHealthy,
  type Child,
  type Row,
} from './harness';
import { numberFlag, splitFlag } from './flags';

const MODULE = 'http_hostile';
const MODULE_YAML = httpModuleYaml(MODULE, '5s');
const KINDS = ['silent', 'slowHeader', 'endlessBody'] as const;
type Kind = (typeof KINDS)[number];
const DEFAULT_CHECKPOINT_CMD = 'bin/checkpoint --config.file={config} --web.listen-address=127.0.0.1:{port} --probe.max-concurrent=512 --probe.max-timeout=10s';

interface Settings {
  checkpointCmd: string;
  blackboxBin: string;
  probes: number;
  rounds: number;
  capMs: number;
  rssCapKb: number;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  probeClientTimeoutMs: number;
  globalDeadlineMs: number;
  startupTimeoutMs: number;
  /** Which hostile targets the probes are spread over (default all three). */
  kinds: Kind[];
  /** Niceness of the hostile targets' process and, during a burst, of this load generator (0: off). */
  nice: number;
}

function parseArgs(argv: string[]): Settings {
  const cfg: Settings = {
    checkpointCmd: DEFAULT_CHECKPOINT_CMD,
    blackboxBin: '/usr/bin/prometheus-blackbox-exporter',
    probes: 256,
    rounds: 2,
    capMs: 30_000,
    rssCapKb: 4096 * 1024,
    healthIntervalMs: 50,
    healthTimeoutMs: 2_000,
    probeClientTimeoutMs: 15_000, // module timeout 5 s (max-timeout 10 s) + slack
    globalDeadlineMs: 240_000,
    startupTimeoutMs: 20_000,
    kinds: [...KINDS],
    nice: 10,
  };
  const num = numberFlag;
  for (const a of argv) {
    const { key, value: v } = splitFlag(a);
    switch (key) {
      case '--checkpoint-cmd':
        cfg.checkpointCmd = v;
        break;
      case '--blackbox-bin':
        cfg.blackboxBin = v;
        break;
      case '--probes':
        cfg.probes = Math.round(num(key, v, 3, 2048));
        break;
      case '--rounds':
        cfg.rounds = Math.round(num(key, v, 1, 10));
        break;
      case '--cap-s':
        cfg.capMs = num(key, v, 1, 120) * 1000;
        break;
      case '--kinds': {
        const ks = v.split(',').filter((k) => k.length > 0);
        const bad = ks.filter((k) => !(KINDS as readonly string[]).includes(k));
        if (ks.length === 0 || bad.length > 0) throw new Error(`--kinds: expected a comma-separated subset of ${KINDS.join(',')}, got ${v}`);
        cfg.kinds = ks as Kind[];
        break;
      }
      case '--nice':
        cfg.nice = Math.round(num(key, v, 0, 19));
        break;
      case '--rss-cap-mib':
        cfg.rssCapKb = num(key, v, 64, 65536) * 1024;
        break;
      case '-h':
      case '--help':
        process.stdout.write(
          'usage: node dist/bench/hostile-probes.js [--probes=256] [--rounds=2] [--cap-s=30] [--rss-cap-mib=4096] [--kinds=silent,slowHeader,endlessBody] [--nice=10] [--checkpoint-cmd="CMD {config} {port}"|blackbox] [--blackbox-bin=PATH]\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument: ${a}`);
    }
  }
  if (cfg.checkpointCmd === 'blackbox') {
    cfg.checkpointCmd = `${cfg.blackboxBin} --config.file={config} --web.listen-address=127.0.0.1:{port}`;
  }
  return cfg;
}

// ---------------------------------------------------------------------------
// One round
// ---------------------------------------------------------------------------

type Outcome = 'success' | 'failed' | 'non200' | 'clientTimeout' | 'transport' | 'cutAtCap' | 'missingMetric';

interface ProbeRecord {
  kind: Kind;
  outcome: Outcome;
  ms: number;
  status?: number;
  durationS?: number;
  error?: string;
}

interface HealthRecord {
  atMs: number; // when the check started, since the burst started (watcher's clock: performance.timeOrigin + now)
  ms: number;
  ok: boolean;
  error?: string;
}

interface TargetStats {
  accepted: number;
  open: number;
  bytes: number;
}

interface RoundResult {
  exporter: string;
  round: number;
  probes: ProbeRecord[];
  /** Checks that started during the burst (atMs >= 0, until the last probe ended). */
  health: HealthRecord[];
  /** Checks between the watcher's start and the burst (idle baseline, not in the table). */
  healthBefore: HealthRecord[];
  /** The watcher process's own event-loop delay over the round (ms), to show it did not stall. */
  watcherLoopDelayMaxMs?: number;
  watcherCpuSeconds: number;
  /** The exporter's own event-loop delay during the burst, from its /metrics (prom-client, checkpoint only). */
  exporterLoopDelayMaxMs?: number;
  exporterLoopDelayP99Ms?: number;
  /** CPU s of this load generator process and of the hostile targets' process during the round. */
  loadGenCpuSeconds: number;
  targetsCpuSeconds: number;
  lastProbeEndedMs: number;
  capped: boolean;
  cpuSeconds: number;
  rssBeforeKb: number;
  peakRssKb: number;
  rssCapHit: boolean;
  endlessBodyBytes: number;
  burstStartEpochMs: number;
  /** Connections to the hostile targets still open 1 s after the round, minus those open before it. */
  openAfterRound: number;
  exitedDuringRound: boolean;
}

interface Side {
  name: string;
  child: Child;
  pid: number;
  port: number;
  url: string;
  command: string[];
  agent: Agent;
  /** For waitHealthy and /metrics only; the round's /-/healthy checks run in bench/health-watch.ts. */
  healthAgent: Agent;
  startupMs: number;
  dead: boolean;
  rounds: RoundResult[];
  vmHwmKb: number;
}

/**
 * bench/health-watch.ts in its own process (started at our own priority, which is the normal
 * one between bursts), checking the exporter's /-/healthy until stopped by PID.
 */
async function startWatcher(side: Side, round: number, cfg: Settings): Promise<{ child: Child; lines: unknown[]; done: () => boolean }> {
  const lines: unknown[] = [];
  let done = false;
  const { child } = await startJsonChild(
    `health-watch-${side.name}-r${round + 1}`,
    'health-watch.js',
    [`--url=${side.url}/-/healthy`, `--interval-ms=${cfg.healthIntervalMs}`, `--timeout-ms=${cfg.healthTimeoutMs}`, `--max-s=${Math.ceil(cfg.capMs / 1000) + 30}`, '--max-checks=20000'],
    (j) => ((j as { ready?: unknown }).ready === true ? true : undefined),
    10_000,
    (j) => {
      if (lines.length < 25_000) lines.push(j);
      if ((j as { done?: unknown }).done === true) done = true;
    },
  );
  return { child, lines, done: () => done };
}

/** The exporter's own event-loop delay from its /metrics (prom-client resets it on every scrape). */
async function exporterLoopDelay(side: Side): Promise<{ maxMs?: number; p99Ms?: number }> {
  try {
    const r = await request(`${side.url}/metrics`, {
      dispatcher: side.healthAgent,
      headersTimeout: 5000,
      bodyTimeout: 5000,
      signal: AbortSignal.timeout(5000),
    });
    const body = await r.body.text();
    const max = parseMetric(body, 'nodejs_eventloop_lag_max_seconds');
    const p99 = parseMetric(body, 'nodejs_eventloop_lag_p99_seconds');
    return { maxMs: max === undefined ? undefined : max * 1000, p99Ms: p99 === undefined ? undefined : p99 * 1000 };
  } catch {
    return {};
  }
}

function setOwnPriority(nice: number): void {
  try {
    os.setPriority(nice); // this thread (on Linux niceness is per thread): the load generator's event loop
  } catch (err) {
    log(`could not set own priority to ${nice}: ${(err as Error).message}`);
  }
}

async function oneProbe(side: Side, kind: Kind, targetUrl: string, cfg: Settings, cap: AbortSignal): Promise<ProbeRecord> {
  const s = performance.now();
  const rec: ProbeRecord = { kind, outcome: 'transport', ms: 0 };
  const timeout = AbortSignal.timeout(cfg.probeClientTimeoutMs);
  try {
    const r = await request(`${side.url}/probe?module=${MODULE}&target=${encodeURIComponent(targetUrl)}`, {
      dispatcher: side.agent,
      headersTimeout: cfg.probeClientTimeoutMs,
      bodyTimeout: cfg.probeClientTimeoutMs,
      signal: AbortSignal.any([timeout, cap]),
    });
    const body = await r.body.text();
    rec.status = r.statusCode;
    if (r.statusCode !== 200) {
      rec.outcome = 'non200';
      rec.error = body.slice(0, 200);
    } else {
      const ok = parseMetric(body, 'probe_success');
      rec.durationS = parseMetric(body, 'probe_duration_seconds');
      rec.outcome = ok === undefined ? 'missingMetric' : ok === 1 ? 'success' : 'failed';
    }
  } catch (err) {
    rec.outcome = cap.aborted ? 'cutAtCap' : timeout.aborted ? 'clientTimeout' : 'transport';
    rec.error = (err as Error).message;
  }
  rec.ms = performance.now() - s;
  return rec;
}

async function runRound(
  side: Side,
  round: number,
  cfg: Settings,
  targets: Record<Kind, string>,
  targetsPid: number,
  targetStats: () => Promise<Record<Kind, TargetStats> | undefined>,
): Promise<RoundResult> {
  const before = await targetStats();
  const rssBeforeKb = treeKb(side.pid, 'VmRSS');
  const res: RoundResult = {
    exporter: side.name,
    round,
    probes: [],
    health: [],
    healthBefore: [],
    watcherCpuSeconds: 0,
    loadGenCpuSeconds: 0,
    targetsCpuSeconds: 0,
    lastProbeEndedMs: 0,
    capped: false,
    cpuSeconds: 0,
    rssBeforeKb,
    peakRssKb: rssBeforeKb,
    rssCapHit: false,
    endlessBodyBytes: 0,
    burstStartEpochMs: 0,
    openAfterRound: 0,
    exitedDuringRound: false,
  };
  // Scrape once to reset the exporter's event-loop delay histogram, then start the watcher and
  // give it a few idle checks as a baseline.
  await exporterLoopDelay(side);
  const watcher = await startWatcher(side, round, cfg);
  try {
    await sleep(4 * cfg.healthIntervalMs);
    await burst(side, cfg, targets, targetsPid, res);
  } finally {
    res.watcherCpuSeconds = cpuSeconds(watcher.child.pid);
    await stopChild(watcher.child.proc); // SIGTERM by PID (SIGKILL after 3 s); it ends the check in flight first
    for (let i = 0; i < 40 && !watcher.done(); i++) await sleep(50);
    if (!watcher.done()) log(`health watcher ${watcher.child.pid} did not report done; its last checks may be missing`);
  }
  const t0Epoch = res.burstStartEpochMs;
  for (const j of watcher.lines) {
    const l = j as { t?: number; ms?: number; ok?: boolean; error?: string; done?: boolean; loopDelayMaxMs?: number };
    if (l.done) {
      res.watcherLoopDelayMaxMs = l.loopDelayMaxMs;
      continue;
    }
    if (typeof l.t !== 'number' || typeof l.ms !== 'number') continue;
    const rec: HealthRecord = { atMs: l.t - t0Epoch, ms: l.ms, ok: l.ok === true };
    if (l.error) rec.error = l.error;
    if (rec.atMs < 0) res.healthBefore.push(rec);
    else if (rec.atMs <= res.lastProbeEndedMs) res.health.push(rec);
  }
  await sleep(1000);
  const after = await targetStats();
  if (before && after) {
    res.endlessBodyBytes = after.endlessBody.bytes - before.endlessBody.bytes;
    res.openAfterRound = KINDS.reduce((a, k) => a + after[k].open - before[k].open, 0);
  }
  return res;
}

/** The burst itself: every probe at once, the load generator at lower priority meanwhile. */
async function burst(side: Side, cfg: Settings, targets: Record<Kind, string>, targetsPid: number, res: RoundResult): Promise<void> {
  const cpu0 = cpuSeconds(side.pid);
  const tgtCpu0 = cpuSeconds(targetsPid);
  const own0 = process.cpuUsage();
  const cap = new AbortController();
  const capTimer = setTimeout(() => cap.abort(), cfg.capMs);
  const sampler = setInterval(() => {
    const kb = treeKb(side.pid, 'VmRSS');
    if (kb > res.peakRssKb) res.peakRssKb = kb;
    if (kb > cfg.rssCapKb && !res.rssCapHit) {
      res.rssCapHit = true;
      log(`${side.name}: RSS ${(kb / 1024).toFixed(0)} MiB passed the cap, killing pid ${side.pid}`);
      try {
        process.kill(side.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      cap.abort();
    }
  }, 100);
  if (cfg.nice > 0) setOwnPriority(cfg.nice);
  const t0 = performance.now();
  res.burstStartEpochMs = performance.timeOrigin + t0;
  const probes = Array.from({ length: cfg.probes }, (_, i) => {
    const kind = roundRobin(cfg.kinds, i);
    return oneProbe(side, kind, targets[kind], cfg, cap.signal).then((r) => {
      res.lastProbeEndedMs = Math.max(res.lastProbeEndedMs, performance.now() - t0);
      return r;
    });
  });
  try {
    res.probes = await Promise.all(probes);
  } finally {
    if (cfg.nice > 0) setOwnPriority(0); // needs root (CAP_SYS_NICE); otherwise we stay at cfg.nice (logged)
    clearTimeout(capTimer);
    clearInterval(sampler);
  }
  res.capped = cap.signal.aborted;
  res.cpuSeconds = cpuSeconds(side.pid) - cpu0;
  res.targetsCpuSeconds = cpuSeconds(targetsPid) - tgtCpu0;
  const own = process.cpuUsage(own0);
  res.loadGenCpuSeconds = (own.user + own.system) / 1e6;
  res.exitedDuringRound = side.child.exited();
  if (side.name === 'checkpoint') {
    const d = await exporterLoopDelay(side);
    res.exporterLoopDelayMaxMs = d.maxMs;
    res.exporterLoopDelayP99Ms = d.p99Ms;
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const tStart = performance.now();
  const loadAtStart = os.loadavg();
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const configFile = path.join(OUT_DIR, 'hostile-probes.modules.yml');
  fs.writeFileSync(configFile, MODULE_YAML);
  if (!fs.existsSync(cfg.blackboxBin)) throw new Error(`blackbox_exporter not found at ${cfg.blackboxBin}`);
  if (cfg.checkpointCmd === DEFAULT_CHECKPOINT_CMD && !fs.existsSync(path.join(ROOT, 'dist/checkpoint.js'))) {
    throw new Error('dist/checkpoint.js not found: run `npm run build` first (or pass --checkpoint-cmd)');
  }
  const agents: Agent[] = [];
  const mkAgent = (connections: number): Agent => {
    const a = new Agent({ connections, pipelining: 1, keepAliveTimeout: 10_000, connect: { timeout: 5000 } });
    agents.push(a);
    return a;
  };
  const sides: Side[] = [];
  try {
    // --- hostile targets ------------------------------------------------
    let statsWaiter: ((s: Record<Kind, TargetStats>) => void) | undefined;
    const { child: target, value: ports } = await startJsonChild(
      'hostile-targets',
      'hostile-targets.js',
      [],
      (j) => {
        const p = j as Partial<Record<Kind, number>>;
        return KINDS.every((k) => typeof p[k] === 'number') ? (p as Record<Kind, number>) : undefined;
      },
      10_000,
      (j) => {
        const s = (j as { stats?: Record<Kind, TargetStats> }).stats;
        if (s && statsWaiter) statsWaiter(s);
      },
      cfg.nice > 0 ? cfg.nice : undefined,
    );
    const targets = Object.fromEntries(KINDS.map((k) => [k, `http://127.0.0.1:${ports[k]}/`])) as Record<Kind, string>;
    log(`hostile targets pid=${target.pid}: ${KINDS.map((k) => `${k} ${targets[k]}`).join(', ')}`);
    const targetStats = async (): Promise<Record<Kind, TargetStats> | undefined> => {
      const p = new Promise<Record<Kind, TargetStats>>((r) => (statsWaiter = r));
      target.proc.stdin?.write('stats\n');
      const s = await Promise.race([p, sleep(2000).then(() => undefined)]);
      statsWaiter = undefined;
      return s;
    };

    // --- exporters ------------------------------------------------------
    const specs: [string, string][] = [
      ['checkpoint', cfg.checkpointCmd],
      ['blackbox_exporter', `${cfg.blackboxBin} --config.file={config} --web.listen-address=127.0.0.1:{port}`],
    ];
    for (const [name, cmd] of specs) {
      const { child, port, argv } = await startExporter(name, cmd, configFile);
      const healthAgent = mkAgent(4);
      log(`${name}: pid=${child.pid} ${argv.join(' ')}`);
      const startupMs = await waitHealthy(child, port, cfg.startupTimeoutMs, healthAgent);
      log(`${name}: healthy after ${startupMs.toFixed(0)} ms, RSS ${(treeKb(child.pid, 'VmRSS') / 1024).toFixed(1)} MiB`);
      sides.push({
        name,
        child,
        pid: child.pid,
        port,
        url: `http://127.0.0.1:${port}`,
        command: argv,
        agent: mkAgent(cfg.probes * 2),
        healthAgent,
        startupMs,
        dead: false,
        rounds: [],
        vmHwmKb: 0,
      });
    }

    // --- rounds, A,B,B,A,... --------------------------------------------
    for (let round = 0; round < cfg.rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        if (run.aborted) throw new Error('aborted');
        if (performance.now() - tStart > cfg.globalDeadlineMs) {
          log(`global deadline passed, no more rounds`);
          break;
        }
        if (side.dead) continue;
        if (side.child.exited()) {
          side.dead = true;
          log(`${side.name} is not running any more, skipping its rounds`);
          continue;
        }
        log(`${side.name} round ${round + 1}: ${cfg.probes} probes at once`);
        const r = await runRound(side, round, cfg, targets, target.pid, targetStats);
        side.rounds.push(r);
        if (r.rssCapHit || side.child.exited()) side.dead = true;
        const hl = r.health.filter((h) => h.ok).map((h) => h.ms);
        log(
          `${side.name} round ${round + 1}: last probe ended after ${(r.lastProbeEndedMs / 1000).toFixed(2)} s${r.capped ? ' (cap hit)' : ''}; ` +
            `outcomes ${JSON.stringify(countOutcomes(r.probes))}; /-/healthy ${hl.length}/${r.health.length} ok, ` +
            `p50 ${fmt(median(hl), 1)} p99 ${fmt(quantile(hl, 0.99), 1)} max ${fmt(Math.max(...hl), 1)} ms; ` +
            `peak RSS ${(r.peakRssKb / 1024).toFixed(1)} MiB; CPU ${r.cpuSeconds.toFixed(2)} s; ` +
            `endless body ${(r.endlessBodyBytes / 2 ** 20).toFixed(0)} MiB; connections left open ${r.openAfterRound}; ` +
            `own event-loop delay max ${fmt(r.exporterLoopDelayMaxMs, 1)} ms; watcher's ${fmt(r.watcherLoopDelayMaxMs, 1)} ms; ` +
            `CPU load generator ${r.loadGenCpuSeconds.toFixed(2)} s, targets ${r.targetsCpuSeconds.toFixed(2)} s, watcher ${r.watcherCpuSeconds.toFixed(2)} s`,
        );
        await sleep(500);
      }
    }
    for (const s of sides) s.vmHwmKb = s.child.exited() ? 0 : treeKb(s.pid, 'VmHWM');

    // --- report -----------------------------------------------------------
    const [cp, bb] = bothSides(sides);
    const all = <T>(s: Side, pick: (r: RoundResult) => T[]): T[] => s.rounds.flatMap(pick);
    const okHealth = (s: Side): number[] => all(s, (r) => r.health.filter((h) => h.ok).map((h) => h.ms));
    // Percentiles over every check, a failed one counted at the time it took to fail (the 2 s
    // client timeout for a stall), so a stall cannot drop out of p99 by failing.
    const allHealth = (s: Side): number[] => all(s, (r) => r.health.map((h) => h.ms));
    const healthFail = (s: Side): number => all(s, (r) => r.health.filter((h) => !h.ok)).length;
    const outcomes = (s: Side, o: Outcome, kind?: Kind): number => all(s, (r) => r.probes.filter((p) => p.outcome === o && (kind === undefined || p.kind === kind))).length;
    const ended = (s: Side): number => all(s, (r) => r.probes.filter((p) => p.status !== undefined)).length;
    const sent = (s: Side): number => all(s, (r) => r.probes).length;
    const answerMs = (s: Side, kind: Kind): number[] => all(s, (r) => r.probes.filter((p) => p.kind === kind && p.status !== undefined).map((p) => p.ms));
    const maxOf = (s: Side, pick: (r: RoundResult) => number): number | undefined => (s.rounds.length ? Math.max(...s.rounds.map(pick)) : undefined);
    const meanOf = (s: Side, pick: (r: RoundResult) => number): number | undefined => (s.rounds.length ? s.rounds.reduce((a, r) => a + pick(r), 0) / s.rounds.length : undefined);
    const row = (metric: string, f: (s: Side) => number | undefined, digits: number, better: Row['better']): Row => ({
      metric,
      checkpoint: f(cp),
      blackbox: f(bb),
      digits,
      better,
    });
    const rows: Row[] = [
      row('`/-/healthy` p50 ms (a timeout counts as 2000)', (s) => median(allHealth(s)), 1, 'lower'),
      row('`/-/healthy` p99 ms (a timeout counts as 2000)', (s) => quantile(allHealth(s), 0.99), 1, 'lower'),
      row('`/-/healthy` max ms (a timeout counts as 2000)', (s) => (allHealth(s).length ? Math.max(...allHealth(s)) : undefined), 1, 'lower'),
      row('`/-/healthy` checks slower than 100 ms (incl. timeouts)', (s) => allHealth(s).filter((ms) => ms >= 100).length, 0, 'lower'),
      row('`/-/healthy` checks answered 200', (s) => okHealth(s).length, 0, 'higher'),
      row('`/-/healthy` failures (timeout 2 s, error, non-200)', healthFail, 0, 'lower'),
      row('probes sent', sent, 0, 'higher'),
      row('probes answered (any HTTP status)', ended, 0, 'higher'),
      row('probe_success=0 answers', (s) => outcomes(s, 'failed'), 0, 'higher'),
      row('probe_success=1 answers (should be 0)', (s) => outcomes(s, 'success'), 0, 'lower'),
      row('non-200 answers', (s) => outcomes(s, 'non200'), 0, 'lower'),
      row('client timeouts (15 s) / transport errors / cut at cap', (s) => outcomes(s, 'clientTimeout') + outcomes(s, 'transport') + outcomes(s, 'cutAtCap'), 0, 'lower'),
      ...cfg.kinds.map((k) => row(`median s to answer, ${k}`, (s) => median(answerMs(s, k)) / 1000, 2, 'lower')),
      ...cfg.kinds.map((k) => row(`max s to answer, ${k}`, (s) => (answerMs(s, k).length ? Math.max(...answerMs(s, k)) / 1000 : undefined), 2, 'lower')),
      row('s until the last probe ended (max over rounds)', (s) => maxOf(s, (r) => r.lastProbeEndedMs / 1000), 2, 'lower'),
      row('RSS before a round MiB (max)', (s) => maxOf(s, (r) => r.rssBeforeKb / 1024), 1, 'lower'),
      row('peak RSS during a round MiB (sampled 100 ms)', (s) => maxOf(s, (r) => r.peakRssKb / 1024), 1, 'lower'),
      row('peak RSS MiB (VmHWM, whole run)', (s) => (s.vmHwmKb ? s.vmHwmKb / 1024 : undefined), 1, 'lower'),
      row('CPU s per round (mean)', (s) => meanOf(s, (r) => r.cpuSeconds), 2, 'lower'),
      row('endless body MiB the target wrote to it per round (mean)', (s) => meanOf(s, (r) => r.endlessBodyBytes / 2 ** 20), 0, 'none'),
      row('target connections left open 1 s after a round (max)', (s) => maxOf(s, (r) => r.openAfterRound), 0, 'lower'),
      row('killed at the RSS cap', (s) => s.rounds.filter((r) => r.rssCapHit).length, 0, 'lower'),
      row('its own event-loop delay max ms during a burst (prom-client /metrics; Node only)', (s) => maxOf(s, (r) => r.exporterLoopDelayMaxMs ?? NaN), 1, 'lower'),
      row('its own event-loop delay p99 ms during a burst (max over rounds)', (s) => maxOf(s, (r) => r.exporterLoopDelayP99Ms ?? NaN), 1, 'lower'),
      row("health watcher's own event-loop delay max ms (max over rounds)", (s) => maxOf(s, (r) => r.watcherLoopDelayMaxMs ?? NaN), 1, 'none'),
      row('load generator CPU s per round (mean)', (s) => meanOf(s, (r) => r.loadGenCpuSeconds), 2, 'none'),
      row("hostile targets' CPU s per round (mean)", (s) => meanOf(s, (r) => r.targetsCpuSeconds), 2, 'none'),
    ];

    const claim = sides.map((s) => {
      const h = allHealth(s);
      const max = h.length ? Math.max(...h) : NaN;
      const pass = h.length > 0 && healthFail(s) === 0 && max < 100;
      return `- ${s.name}: /-/healthy ${okHealth(s).length} answered, ${healthFail(s)} failed, p99 ${fmt(quantile(h, 0.99), 1)} ms, max ${fmt(max, 1)} ms → claim "${cfg.probes} concurrent hostile probes leave /-/healthy answering in under 100 ms" ${pass ? 'HOLDS (every check < 100 ms)' : quantile(h, 0.99) < 100 && healthFail(s) === 0 ? 'holds at p99, not at max' : 'DOES NOT HOLD'}`;
    });
    const totalS = (performance.now() - tStart) / 1000;
    const header = [
      '# Hostile targets benchmark: Private Checkpoint vs blackbox_exporter',
      '',
      `- date: ${new Date().toISOString()}`,
      `- host: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, CLK_TCK ${CLK_TCK}`,
      `- checkpoint: \`${cp.command.join(' ')}\``,
      `- blackbox_exporter: \`${bb.command.join(' ')}\``,
      `- module: \`${MODULE}\` (prober http, timeout 5s, preferred_ip_protocol ip4, no regex)`,
      `- per round: ${cfg.probes} /probe requests at once, round-robin over the ${cfg.kinds.join(' / ')} targets (own process), client timeout ${cfg.probeClientTimeoutMs / 1000} s each, round cap ${cfg.capMs / 1000} s; /-/healthy every ${cfg.healthIntervalMs} ms on a new connection (node:http, agent: false) from its own process (bench/health-watch.ts, started before and stopped after each burst), timeout ${cfg.healthTimeoutMs / 1000} s counted as ${cfg.healthTimeoutMs} ms; ${cfg.rounds} rounds per exporter, one exporter under load at a time (A,B,B,A); RSS cap ${cfg.rssCapKb / 1024} MiB`,
      `- priority: exporters and health watcher at nice 0; ${cfg.nice > 0 ? `hostile targets' process at nice ${cfg.nice} and the load generator at nice ${cfg.nice} during each burst` : 'everything at nice 0 (--nice=0)'}; load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
      `- the endless-body target streams as fast as the socket takes it, so it competes with the exporter for the 2 cores; numbers vary by run`,
      `- total bench time: ${totalS.toFixed(1)} s`,
      '',
    ].join('\n');
    const md = `${header}\n${table(rows)}\n\n${claim.join('\n')}\n`;
    process.stdout.write(`\n${table(rows)}\n\n${claim.join('\n')}\n`);
    const json = {
      date: new Date().toISOString(),
      loadAverageAtStart: loadAtStart,
      host: { cpus: os.cpus().length, model: os.cpus()[0]?.model, totalMemBytes: os.totalmem(), node: process.version, clkTck: CLK_TCK },
      settings: cfg,
      moduleYaml: MODULE_YAML,
      targets,
      totalSeconds: totalS,
      exporters: sides.map((s) => ({
        name: s.name,
        command: s.command,
        pid: s.pid,
        startupMs: s.startupMs,
        vmHwmKb: s.vmHwmKb,
        rounds: s.rounds.map((r) => ({
          ...r,
          outcomes: countOutcomes(r.probes),
          probes: r.probes.map((p) => ({ ...p, ms: Math.round(p.ms * 10) / 10 })),
          health: r.health.map((h) => ({ ...h, atMs: Math.round(h.atMs), ms: Math.round(h.ms * 100) / 100 })),
        })),
      })),
      table: rows.map((r) => ({ ...r, ratio: ratioCell(r) })),
    };
    fs.writeFileSync(path.join(OUT_DIR, 'hostile-probes.md'), md);
    fs.writeFileSync(path.join(OUT_DIR, 'hostile-probes.json'), `${JSON.stringify(json, null, 2)}\n`);
    log(`wrote .bench/hostile-probes.md and .json (${totalS.toFixed(1)} s total)`);
  } finally {
    await stopAll();
    for (const c of startedChildren) {
      try {
        fs.writeFileSync(path.join(OUT_DIR, `hostile-probes.${c.name}.log`), c.tail());
      } catch {
        /* best effort */
      }
    }
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }
}

function countOutcomes(ps: ProbeRecord[]): Partial<Record<Outcome, number>> {
  const out: Partial<Record<Outcome, number>> = {};
  for (const p of ps) out[p.outcome] = (out[p.outcome] ?? 0) + 1;
  return out;
}

runMain(main);
