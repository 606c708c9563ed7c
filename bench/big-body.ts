/**
 * Memory of a probe of a big body: the checkpoint and Debian's blackbox_exporter side by side, each
 * probing a 200 MB body (no body regex) served by the target server in its own process.
 *
 *   npm run bench:big-body
 *   node dist/bench/big-body.js [--bytes=N] [--probes=N] [--blackbox-bin=PATH]
 *
 * For each exporter, one at a time: a few small probes to warm it up, then each big probe alone,
 * with the exporter's peak RSS reset just before it (writing 5 to /proc/PID/clear_refs) and read
 * after it (VmHWM), so the growth is the probe's own, exactly, not a sample. The goal for the
 * checkpoint is at most 20 MiB added: the body is counted as it streams, never held. The first big
 * probe in a process adds more, once, whatever the body's size: Node allocates a new buffer for
 * every socket read and frees them only at the next garbage collection (a bare Node socket reading
 * the same body adds about as much); later probes reuse that memory.
 * A Markdown table goes to stdout and to .bench/big-body.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { numberFlag, splitFlag } from './flags';
import { OUT_DIR, ROOT, runMain, httpModuleYaml, log, startExporter, startTarget, stopAll, stopChild, treeKb, waitHealthy } from './harness';

const MODULE = 'http_big';
const MODULE_YAML = httpModuleYaml(MODULE, '60s');
const GOAL_MIB = 20;
const WARMUP_PROBES = 20;

interface Settings {
  bytes: number;
  probes: number;
  blackboxBin: string;
}

function parseArgs(argv: string[]): Settings {
  const settings: Settings = { bytes: 200_000_000, probes: 3, blackboxBin: '/usr/bin/prometheus-blackbox-exporter' };
  for (const arg of argv) {
    const { key, value } = splitFlag(arg);
    if (key === '--bytes') settings.bytes = Math.round(numberFlag(key, value, 1, 2 ** 40));
    else if (key === '--probes') settings.probes = Math.round(numberFlag(key, value, 1, 100));
    else if (key === '--blackbox-bin') settings.blackboxBin = value;
    else throw new Error(`unknown argument: ${arg} (--bytes=N, --probes=N, --blackbox-bin=PATH)`);
  }
  return settings;
}

interface BigProbe {
  success?: number;
  uncompressedBytes?: number;
  seconds: number;
  /** Peak RSS during the probe less RSS just before it. */
  growthMiB: number;
}

interface Side {
  name: string;
  baselineMiB: number;
  probes: BigProbe[];
}

async function probe(exporter: string, target: string, agent: Agent): Promise<Pick<BigProbe, 'success' | 'uncompressedBytes'>> {
  const answer = await request(`${exporter}/probe?module=${MODULE}&target=${encodeURIComponent(target)}`, {
    dispatcher: agent,
    headers: { 'x-prometheus-scrape-timeout-seconds': '90' },
    headersTimeout: 90_000,
    bodyTimeout: 90_000,
  });
  const text = await answer.body.text();
  const value = (name: string) => {
    const found = new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(text);
    return found ? Number(found[1]) : undefined;
  };
  return { success: value('probe_success'), uncompressedBytes: value('probe_http_uncompressed_body_length') };
}

/** Resets the peak RSS the kernel keeps for `pid` (VmHWM) to its current RSS. */
function resetPeak(pid: number): void {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

async function measure(name: string, command: string, configFile: string, targetBase: string, settings: Settings, agent: Agent): Promise<Side> {
  const { child, port } = await startExporter(name, command, configFile);
  const exporter = `http://127.0.0.1:${port}`;
  await waitHealthy(child, port, 20_000, agent);
  for (let i = 0; i < WARMUP_PROBES; i++) await probe(exporter, `${targetBase}/`, agent);
  const side: Side = { name, baselineMiB: treeKb(child.pid, 'VmRSS') / 1024, probes: [] };
  for (let i = 0; i < settings.probes; i++) {
    const before = treeKb(child.pid, 'VmRSS');
    resetPeak(child.pid);
    const started = performance.now();
    const result = await probe(exporter, `${targetBase}/big?bytes=${settings.bytes}`, agent);
    const seconds = (performance.now() - started) / 1000;
    const growthMiB = (treeKb(child.pid, 'VmHWM') - before) / 1024;
    side.probes.push({ ...result, seconds, growthMiB });
    log(`${name}: probe ${i + 1}: success ${result.success}, ${result.uncompressedBytes} bytes in ${seconds.toFixed(2)} s, peak RSS +${growthMiB.toFixed(1)} MiB`);
  }
  // One exporter at a time, so that neither competes with the other for the machine.
  await stopChild(child.proc);
  return side;
}

function table(sides: Side[], settings: Settings): string {
  const max = (side: Side) => Math.max(...side.probes.map((p) => p.growthMiB));
  const rows = [
    ['RSS before the big probes, MiB', ...sides.map((s) => s.baselineMiB.toFixed(1))],
    ['peak RSS added by one probe, MiB (worst of the probes)', ...sides.map((s) => max(s).toFixed(1))],
    ['peak RSS added, each probe, MiB', ...sides.map((s) => s.probes.map((p) => p.growthMiB.toFixed(1)).join(' / '))],
    ['probe_success', ...sides.map((s) => s.probes.map((p) => p.success).join(' / '))],
    ['probe_http_uncompressed_body_length', ...sides.map((s) => s.probes.map((p) => p.uncompressedBytes).join(' / '))],
    ['seconds per probe', ...sides.map((s) => s.probes.map((p) => p.seconds.toFixed(2)).join(' / '))],
  ];
  return [`| ${settings.bytes} bytes, no body regex | ${sides.map((s) => s.name).join(' | ')} |`, `|---|${sides.map(() => '---:').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join(
    '\n',
  );
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'dist/checkpoint.js'))) throw new Error('dist/checkpoint.js not found: run `npm run build` first');
  if (!fs.existsSync(settings.blackboxBin)) throw new Error(`blackbox_exporter not found at ${settings.blackboxBin}`);
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const configFile = path.join(OUT_DIR, 'big-body.modules.yml');
  fs.writeFileSync(configFile, MODULE_YAML);
  const agent = new Agent({ connections: 4 });
  try {
    const target = await startTarget();
    const targetBase = `http://127.0.0.1:${target.port}`;
    const listen = '--config.file={config} --web.listen-address=127.0.0.1:{port}';
    const checkpoint = await measure('checkpoint', `bin/checkpoint ${listen}`, configFile, targetBase, settings, agent);
    const sides: Side[] = [checkpoint, await measure('blackbox_exporter', `${settings.blackboxBin} ${listen}`, configFile, targetBase, settings, agent)];
    const worst = Math.max(...checkpoint.probes.map((p) => p.growthMiB));
    const markdown = `${table(sides, settings)}\n\nGoal: the checkpoint adds at most ${GOAL_MIB} MiB: ${worst <= GOAL_MIB ? 'met' : 'NOT met'} (${worst.toFixed(1)} MiB).\n`;
    process.stdout.write(`\n${markdown}`);
    fs.writeFileSync(path.join(OUT_DIR, 'big-body.md'), markdown);
  } finally {
    await stopAll();
    await agent.close();
  }
}

runMain(main);
