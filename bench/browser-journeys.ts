/**
 * Benchmark: browser journeys with the warm shared Chromium (what the browser prober does)
 * against launching a fresh Chromium for every probe (what a naive exporter does).
 *
 *   npm run build && node dist/bench/browser-journeys.js [--seconds=20]
 *
 * For each way and 1, 2 and 4 journeys at once: the login journey of the test web app
 * (tests/support/web-app.ts, in this process, on 127.0.0.1) runs in a loop for --seconds, after
 * one warm-up journey, its pages held to the app's host by the navigation guard as every browser
 * module's are. Reported: journeys per minute (successful ones) and peak memory of this process
 * and every Chromium process under it, sampled from /proc every 100 ms, as the sum of RSS (shared
 * pages counted in each process, an overestimate) and of PSS (shared pages split between the
 * processes sharing them, the fair sum). A Markdown table goes to stdout.
 */
import { ProbeRegistry } from '../src/probe/probe-registry';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { builtInProbers } from '../src/cli/probers';
import { parseConfig } from '../src/config/load';
import { targetPolicies, type TargetPolicy } from '../src/security/allowed-targets';
import { ProbeLog } from '../src/probe/probe-log';
import { createPhaseTimer } from '../src/probe/phases';
import type { ProbeContext } from '../src/probe/prober';
import { runJourney } from '../exporters/browser/prober';
import type { BrowserSettings } from '../exporters/browser/schema';
import { parseBrowserTarget } from '../exporters/browser/target';
import { JourneySlots } from '../exporters/browser/journey-slots';
import { launchArgs } from '../exporters/browser/chromium-switches';
import { sharedBrowsers, type BrowserSource } from '../exporters/browser/shared-browser';
import { startWebApp, WEB_PASSWORD, WEB_USER } from '../tests/support/web-app';

const CONCURRENCY = [1, 2, 4];
const DEADLINE_SECONDS = 20;
const SAMPLE_MS = 100;

/** A fresh Chromium per journey, closed with its context. */
class FreshBrowserPerProbe implements BrowserSource {
  private readonly unlimited = new JourneySlots();
  private readonly browsers = new Map<BrowserContext, Browser>();

  slots(): JourneySlots {
    return this.unlimited;
  }

  async newContext(launch: BrowserSettings['launch'], options: Parameters<Browser['newContext']>[0]): Promise<BrowserContext> {
    const browser = await chromium.launch({ executablePath: launch.executable_path, args: launchArgs(launch) });
    const context = await browser.newContext(options);
    this.browsers.set(context, browser);
    return context;
  }

  async closeContext(_launch: BrowserSettings['launch'], context: BrowserContext): Promise<void> {
    await context.close().catch(() => undefined);
    await this.browsers.get(context)?.close();
    this.browsers.delete(context);
  }

  async close(): Promise<void> {
    await Promise.all([...this.browsers.values()].map((browser) => browser.close()));
  }
}

/** The login module, and the policy every browser module runs under: its pages may reach only its monitor's host. */
interface LoginModule {
  settings: BrowserSettings;
  destinations: TargetPolicy;
}

function loginModule(concurrency: number, target: string): LoginModule {
  const yaml = `modules:
  login:
    prober: browser
    browser:
      max_concurrent_journeys: ${concurrency}
      screenshots: false
      steps:
        - fill: {label: Username, value: ${WEB_USER}}
        - fill: {label: Password, value: ${WEB_PASSWORD}}
        - click: {role: button, name: Sign in}
        - expect_url: /home
        - expect_text: Welcome ${WEB_USER}
monitors:
  - {name: login, module: login, target: ${JSON.stringify(target)}}
`;
  const config = parseConfig(yaml, 'bench.yml', builtInProbers);
  const login = config.modules.login;
  // A browser module is always held to its monitors' targets; without that the bench would measure something else.
  const destinations = targetPolicies(config, builtInProbers).get('login');
  if (login?.prober !== 'browser' || !destinations) throw new Error('bench.yml: module "login" is missing or not held to its monitor\'s target');
  return { settings: login.browser, destinations };
}

async function journey(target: string, module: LoginModule, source: BrowserSource): Promise<boolean> {
  const signal = AbortSignal.timeout(DEADLINE_SECONDS * 1000);
  const log = new ProbeLog();
  let failure: string | undefined;
  const registry = new ProbeRegistry();
  const parsed = parseBrowserTarget(target);
  if ('problem' in parsed) throw new Error(parsed.problem);
  const probe: ProbeContext<BrowserSettings, typeof parsed.target> = {
    target: parsed.target,
    settings: module.settings,
    registry,
    log,
    signal,
    deadline: Date.now() + DEADLINE_SECONDS * 1000,
    destinations: module.destinations,
    phases: (protocol, names, help) => createPhaseTimer(registry, protocol, names, log, help),
    fail(reason, message) {
      failure ??= `${reason}: ${message}`;
      return false;
    },
  };
  const ok = await runJourney(probe, source);
  if (!ok) console.error(`journey failed: ${failure}`);
  return ok;
}

/** This process and all its descendants, from /proc. */
function processTree(): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // Gone while we looked.
    }
  }
  const tree = [process.pid];
  // An array's iterator reads its length at every step, so it goes on to the children pushed here.
  for (const pid of tree) tree.push(...(children.get(pid) ?? []));
  return tree;
}

/** Sum of RSS and of PSS over the tree, in bytes. */
function memory(): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of processTree()) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
      // Gone while we looked.
    }
  }
  return { rss, pss };
}

interface Result {
  way: string;
  concurrency: number;
  journeys: number;
  failures: number;
  perMinute: number;
  peakRss: number;
  peakPss: number;
}

async function measure(way: string, source: BrowserSource, target: string, concurrency: number, seconds: number): Promise<Result> {
  const module = loginModule(concurrency, target);
  // The warm-up: the shared browser's launch is not what is measured; for fresh, it is the same journey.
  await journey(target, module, source);
  let journeys = 0;
  let failures = 0;
  const peak = { rss: 0, pss: 0 };
  const sampler = setInterval(() => {
    const now = memory();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.pss = Math.max(peak.pss, now.pss);
  }, SAMPLE_MS);
  const started = performance.now();
  const endAt = started + seconds * 1000;
  const worker = async () => {
    // Bounded by time and by a count no machine reaches in the time.
    for (let i = 0; i < 100_000 && performance.now() < endAt; i++) {
      if (await journey(target, module, source)) journeys++;
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  return { way, concurrency, journeys, failures, perMinute: (journeys / elapsed) * 60, peakRss: peak.rss, peakPss: peak.pss };
}

async function main(): Promise<void> {
  const seconds = Number(process.argv.find((arg) => arg.startsWith('--seconds='))?.split('=')[1] ?? 20);
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be between 1 and 600');
  const app = await startWebApp();
  const fresh = new FreshBrowserPerProbe();
  const results: Result[] = [];
  try {
    const target = `${app.url}/login`;
    for (const concurrency of CONCURRENCY) {
      results.push(await measure('warm shared browser', sharedBrowsers, target, concurrency, seconds));
      await sharedBrowsers.close();
      results.push(await measure('fresh browser per probe', fresh, target, concurrency, seconds));
      await fresh.close();
      console.error(`done: ${concurrency} at once`);
    }
  } finally {
    await sharedBrowsers.close();
    await fresh.close();
    await app.close();
  }
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
  const lines = [
    `Login journey (6 steps), ${seconds} s per row, ${process.env.BENCH_MACHINE ?? `${cpus().length} CPUs`}`,
    '',
    '| journeys at once | way | journeys/min | failed | peak RSS sum (MiB) | peak PSS sum (MiB) |',
    '|---:|---|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.concurrency} | ${r.way} | ${r.perMinute.toFixed(0)} | ${r.failures} | ${mib(r.peakRss)} | ${mib(r.peakPss)} |`),
  ];
  const byConcurrency = CONCURRENCY.map((c) => {
    const [warm, fresh] = [results.find((r) => r.concurrency === c && r.way.startsWith('warm'))!, results.find((r) => r.concurrency === c && r.way.startsWith('fresh'))!];
    return `| ${c} | ${(warm.perMinute / fresh.perMinute).toFixed(1)}x | ${(warm.peakPss / fresh.peakPss).toFixed(2)}x |`;
  });
  lines.push('', '| journeys at once | warm/fresh journeys per minute | warm/fresh peak PSS |', '|---:|---:|---:|', ...byConcurrency);
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
