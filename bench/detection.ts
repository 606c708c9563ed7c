/**
 * How fast, and how reliably, an outage reaches the admins' inbox: the shipped prometheus/ and
 * alertmanager/ files as they are, Debian's Prometheus and Alertmanager, two checkpoints and an
 * SMTP sink on loopback (bench/detection-stack.ts), probing one HTTP target this bench switches.
 *
 *   npm run bench:detection
 *   node dist/bench/detection.js [--time-scale=N] [--outages=N] [--quick]
 *
 * Scenarios, in this order (--quick: one hard outage and nothing else):
 *   hard outage ×N   after a random wait (up to one probe interval), the target down (503, or not
 *                    listening, in turn) until the MonitorDown page arrives and a random wait more
 *                    (up to one group_interval), then up until the RESOLVED mail: outage -> inbox,
 *                    recovery -> resolved
 *   blip             the target fails for less than one probe interval, timed from the probes it
 *                    saw so each checkpoint gets exactly one failed probe: must not page
 *   one checkpoint   checkpoint-b alone refused by the target (tests/smoke/loopback-network.ts's
 *                    relay) until the warning arrives: must not page, may warn
 *   flap             every other probe fails, from both checkpoints, for 10 minutes: should page
 *                    (issue 13); a flap without a page counts as a missed outage
 * A page is a mail with `Importance: high` (the critical receiver); one admin's copies are counted.
 * At --time-scale=N every interval, `for:` and route timing is divided by N: quicker, but those
 * numbers are not the product's. Every wait is bounded; every child is stopped by PID in a finally
 * block, also on Ctrl-C. Raw results go to .bench/detection.json; the last line of stdout is
 * `SUMMARY key=value ...`.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ReceivedMail } from '../tests/support/mail-sink';
import { numberFlag, splitFlag } from './flags';
import { ADMINS, MONITOR, scaledSeconds, startStack, type Stack, type TargetMode } from './detection-stack';
import { median, OUT_DIR } from './harness';

interface Settings {
  scale: number;
  outages: number;
  quick: boolean;
}

function parseArgs(argv: string[]): Settings {
  const settings: Settings = { scale: 1, outages: 5, quick: false };
  for (const arg of argv) {
    const { key, value } = splitFlag(arg);
    if (key === '--time-scale') settings.scale = numberFlag(key, value, 1, 120);
    else if (key === '--outages') settings.outages = Math.round(numberFlag(key, value, 1, 50));
    else if (key === '--quick') settings.quick = true;
    else throw new Error(`unknown argument: ${arg} (--time-scale=N, --outages=N, --quick)`);
  }
  if (settings.quick) settings.outages = 1;
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Waiting, bounded and interruptible

const aborter = new AbortController();
const benchStart = Date.now();

function say(line: string): void {
  process.stderr.write(`[detection ${((Date.now() - benchStart) / 1000).toFixed(1)}s] ${line}\n`);
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (aborter.signal.aborted) return reject(new Error('interrupted'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error('interrupted'));
    };
    const timer = setTimeout(
      () => {
        aborter.signal.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    aborter.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Polls `check` until it gives a value, up to `seconds`; undefined when the time ran out. */
async function within<T>(seconds: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch {
      // A query that failed is asked again.
    }
    if (Date.now() > deadline) return undefined;
    await pause(everyMs);
  }
}

async function mustWithin<T>(what: string, seconds: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const value = await within(seconds, check);
  if (value === undefined) throw new Error(`not within ${seconds.toFixed(0)}s: ${what}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Mails, stamped with when they arrived

interface Arrived {
  mail: ReceivedMail;
  at: number;
}

/** One admin's copies (each admin gets their own), stamped with the time this bench first saw them. */
class Inbox {
  readonly arrived: Arrived[] = [];
  private seen = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly stack: Stack) {
    this.timer = setInterval(() => this.poll(), 50);
  }
  poll(): void {
    const received = this.stack.mail.received;
    for (; this.seen < received.length; this.seen++) {
      const mail = received[this.seen];
      if (mail?.to.includes(ADMINS[0] ?? '')) this.arrived.push({ mail, at: Date.now() });
    }
  }
  first(since: number, pattern: RegExp): Arrived | undefined {
    this.poll();
    return this.arrived.find((a) => a.at >= since && pattern.test(a.mail.subject));
  }
  close(): void {
    clearInterval(this.timer);
  }
}

const isPage = (a: Arrived): boolean => a.mail.headers.importance === 'high' && a.mail.subject.startsWith('[FIRING');
const escaped = MONITOR.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const MONITOR_DOWN = new RegExp(`^\\[FIRING:\\d+\\] MonitorDown ${escaped}$`);
const MONITOR_RESOLVED = new RegExp(`^\\[RESOLVED\\] MonitorDown ${escaped}$`);
// Grouped by checkpoint (alertmanager.yml): the subject names checkpoint-b, the checkpoint refused.
const ONE_CHECKPOINT = /^\[FIRING:\d+\] MonitorFailingFromOneCheckpoint checkpoint-b$/;

// ---------------------------------------------------------------------------------------------
// Scenarios

interface Outcome {
  scenario: string;
  kind: 'outage' | 'blip' | 'one-checkpoint' | 'flap';
  /** Whether this scenario should page. */
  shouldPage: boolean;
  start: number;
  end: number;
  detail: string;
  outageToInboxS?: number;
  recoveryToResolvedS?: number;
  paged: boolean;
  warned?: boolean;
}

const seconds = (from: number, to: number): number => Math.round((to - from) / 100) / 10;

async function probeStates(stack: Stack): Promise<string[]> {
  const samples = await stack.prometheus.query(`probe_success{job="probe", monitor="${MONITOR}"}`);
  return samples.map((s) => `${s.metric.checkpoint}=${s.value[1]}`).sort();
}

async function waitAllUp(stack: Stack, bound: number): Promise<void> {
  const expected = JSON.stringify([...stack.checkpoints.keys()].map((c) => `${c}=1`).sort());
  await mustWithin(`${MONITOR} up from both checkpoints`, bound, async () => (JSON.stringify(await probeStates(stack)) === expected ? true : undefined));
}

/** Failed probes per checkpoint over the last `window` seconds, from Prometheus. */
async function failedProbes(stack: Stack, window: number): Promise<string> {
  const range = `[${Math.max(1, Math.ceil(window))}s]`;
  const sel = `probe_success{job="probe", monitor="${MONITOR}"}`;
  const samples = await stack.prometheus.query(`count_over_time(${sel}${range}) - sum_over_time(${sel}${range})`);
  return (
    samples
      .map((s) => `${s.metric.checkpoint} ${s.value[1]}`)
      .sort()
      .join(', ') || 'none'
  );
}

/**
 * The phases of the two checkpoints' probes, from the target's request log: Prometheus scrapes each
 * at a fixed offset, so the requests alternate between the two; the last two give both phases.
 */
function probePhases(stack: Stack): { first: number; second: number } {
  const requests = stack.target.requests;
  const last = requests[requests.length - 1];
  const before = requests[requests.length - 2];
  if (!last || !before) throw new Error('the target has seen fewer than two probes');
  return { first: before.at, second: last.at };
}

async function hardOutage(stack: Stack, inbox: Inbox, index: number, bounds: Bounds): Promise<Outcome> {
  const mode: TargetMode = index % 2 === 1 ? 'down' : 'closed';
  const scenario = `hard outage ${index} (${mode === 'down' ? '503' : 'not listening'})`;
  // A random wait first, up to one probe interval: each outage then starts at a random point
  // between the probes, as a real one does, not at the phase the previous recovery left.
  await pause(Math.random() * stack.timings.probeInterval * 1000);
  const start = Date.now();
  await stack.target.set(mode);
  say(`${scenario}: target ${mode}`);
  const page = await within(bounds.page, () => inbox.first(start, MONITOR_DOWN));
  // Then a random wait, up to one group_interval: recovering the moment the page arrives would
  // recover in step with Alertmanager's group ticks, which a real recovery is not.
  if (page) await pause(Math.random() * stack.timings.groupInterval * 1000);
  const recovered = Date.now();
  await stack.target.set('up');
  if (!page) {
    say(`${scenario}: NO PAGE within ${bounds.page}s: a missed outage; target up again`);
    await waitAllUp(stack, bounds.up);
    return { scenario, kind: 'outage', shouldPage: true, start, end: Date.now(), detail: `no page within ${bounds.page}s`, paged: false };
  }
  const toInbox = seconds(start, page.at);
  say(`${scenario}: "${page.mail.subject}" after ${toInbox}s; target up`);
  const resolved = await within(bounds.resolved, () => inbox.first(recovered, MONITOR_RESOLVED));
  const toResolved = resolved ? seconds(recovered, resolved.at) : undefined;
  say(`${scenario}: ${resolved ? `"${resolved.mail.subject}" ${toResolved}s after recovery` : `no RESOLVED mail within ${bounds.resolved}s of recovery`}`);
  await waitAllUp(stack, bounds.up);
  return {
    scenario,
    kind: 'outage',
    shouldPage: true,
    start,
    end: Date.now(),
    detail: resolved ? 'paged, resolved' : `paged, no RESOLVED within ${bounds.resolved}s`,
    outageToInboxS: toInbox,
    recoveryToResolvedS: toResolved,
    paged: true,
  };
}

async function blip(stack: Stack, inbox: Inbox, bounds: Bounds): Promise<Outcome> {
  const interval = stack.timings.probeInterval * 1000;
  const margin = Math.min(interval / 10, 1000);
  // The next probe of each checkpoint, in the order that makes the window shortest (at most half
  // an interval, plus margins): each checkpoint probes exactly once inside it.
  const { first, second } = probePhases(stack);
  let from = first + interval;
  let to = second + interval;
  if (to - from > interval / 2) [from, to] = [to, from + interval];
  while (from - margin < Date.now() + 50) {
    from += interval;
    to += interval;
  }
  const windowMs = to - from + 2 * margin;
  await pause(from - margin - Date.now());
  const start = Date.now();
  const served = stack.target.requests.length;
  await stack.target.set('down');
  await pause(windowMs);
  await stack.target.set('up');
  const failedServed = stack.target.requests.slice(served).filter((r) => r.status !== 200).length;
  say(`blip: target failed for ${(windowMs / 1000).toFixed(2)}s (probe interval ${stack.timings.probeInterval}s); ${failedServed} failed probe(s) served; watching ${bounds.quiet}s for a page`);
  const page = await within(bounds.quiet, () => inbox.arrived.find((a) => a.at >= start && isPage(a)));
  const failed = await failedProbes(stack, (Date.now() - start) / 1000 + stack.timings.probeInterval);
  say(`blip: failed probes per checkpoint (Prometheus): ${failed}; ${page ? `PAGED: "${page.mail.subject}"` : 'no page'}`);
  if (page) await within(bounds.resolved, () => inbox.first(page.at, MONITOR_RESOLVED));
  return { scenario: 'blip', kind: 'blip', shouldPage: false, start, end: Date.now(), detail: `failed ${(windowMs / 1000).toFixed(2)}s; failed probes: ${failed}`, paged: page !== undefined };
}

async function oneCheckpoint(stack: Stack, inbox: Inbox, bounds: Bounds): Promise<Outcome> {
  const blocked = stack.checkpoints.get('checkpoint-b') ?? [...stack.checkpoints.values()][1];
  const pid = blocked?.child.pid;
  if (!blocked || pid === undefined) throw new Error('no second checkpoint to block');
  const start = Date.now();
  stack.firewall.block(pid);
  say(`one checkpoint: ${blocked.name} (pid ${pid}) refused by the target's relay; waiting up to ${bounds.warning}s for the warning`);
  let page: Arrived | undefined;
  const warning = await within(bounds.warning, () => {
    page ??= inbox.arrived.find((a) => a.at >= start && isPage(a));
    return inbox.first(start, ONE_CHECKPOINT);
  });
  page ??= inbox.arrived.find((a) => a.at >= start && isPage(a));
  const refused = stack.firewall.refused;
  stack.firewall.unblock(pid);
  say(
    `one checkpoint: ${warning ? `warning "${warning.mail.subject}" after ${seconds(start, warning.at)}s` : 'no warning'}; ${page ? `PAGED: "${page.mail.subject}"` : 'no page'}; ${refused} connection(s) refused`,
  );
  await waitAllUp(stack, bounds.up);
  return {
    scenario: `one checkpoint (${blocked.name} blocked)`,
    kind: 'one-checkpoint',
    shouldPage: false,
    start,
    end: Date.now(),
    detail: `${warning ? `warned after ${seconds(start, warning.at)}s` : `no warning within ${bounds.warning}s`}; ${refused} connections refused`,
    paged: page !== undefined,
    warned: warning !== undefined,
  };
}

async function flap(stack: Stack, inbox: Inbox, bounds: Bounds): Promise<Outcome> {
  const interval = stack.timings.probeInterval * 1000;
  const duration = scaledSeconds('10m', stack.scale) * 1000;
  // Switch in the middle of the larger gap between the two checkpoints' probes: each half-period
  // then holds exactly one probe of each checkpoint, so both fail every other probe.
  const { first, second } = probePhases(stack);
  const gap = second - first;
  let boundary = gap <= interval / 2 ? second + (interval - gap) / 2 : first + gap / 2;
  while (boundary < Date.now() + 50) boundary += interval;
  await pause(boundary - Date.now());
  const start = Date.now();
  say(`flap: every other probe fails for ${duration / 1000}s (probe interval ${stack.timings.probeInterval}s)`);
  let page: Arrived | undefined;
  for (let k = 0; boundary + k * interval < start + duration; k++) {
    await pause(boundary + k * interval - Date.now());
    await stack.target.set(k % 2 === 0 ? 'down' : 'up');
    page ??= inbox.first(start, MONITOR_DOWN);
  }
  await stack.target.set('up');
  const ended = Date.now();
  const failed = await failedProbes(stack, (ended - start) / 1000);
  say(`flap: over; failed probes per checkpoint (Prometheus): ${failed}; ${page ? 'paged during the flap' : `no page yet, watching ${bounds.quiet}s more`}`);
  page ??= await within(bounds.quiet, () => inbox.first(start, MONITOR_DOWN));
  const toInbox = page ? seconds(start, page.at) : undefined;
  if (page) {
    say(`flap: "${page.mail.subject}" ${toInbox}s after the flap started`);
    await within(bounds.resolved, () => inbox.first(ended, MONITOR_RESOLVED));
  } else say('flap: NO PAGE: a missed outage');
  await waitAllUp(stack, bounds.up);
  return {
    scenario: 'flap (every other probe, 10m at scale 1)',
    kind: 'flap',
    shouldPage: true,
    start,
    end: Date.now(),
    detail: `${page ? `paged after ${toInbox}s` : 'no page'}; failed probes: ${failed}`,
    paged: page !== undefined,
  };
}

interface Bounds {
  /** Seconds: a page after an outage starts; a RESOLVED mail after recovery; all up again; quiet after a blip; a warning. */
  page: number;
  resolved: number;
  up: number;
  quiet: number;
  warning: number;
}

function boundsFor(stack: Stack): Bounds {
  const t = stack.timings;
  const slack = 30 / stack.scale + 5;
  return {
    page: Math.ceil(2 * (t.monitorDownFor + t.criticalGroupWait + 2 * t.probeInterval + 2 * t.evaluationInterval) + slack),
    resolved: Math.ceil(2 * t.groupInterval + 2 * t.probeInterval + 2 * t.evaluationInterval + slack),
    up: Math.ceil(4 * t.probeInterval + 30),
    quiet: Math.ceil(t.monitorDownFor + t.criticalGroupWait + 3 * t.probeInterval + 3 * t.evaluationInterval + slack),
    warning: Math.ceil(t.warningFor + t.warningGroupWait + 3 * t.probeInterval + 3 * t.evaluationInterval + slack),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (v: number | undefined): string => (v === undefined ? 'NA' : v.toFixed(1));

function report(settings: Settings, stack: Stack, inbox: Inbox, outcomes: Outcome[], bounds: Bounds): string {
  const expected = outcomes.filter((o) => o.shouldPage);
  // A false page: any page whose arrival falls in no scenario that should page (outage start to its end, flap start to its end).
  const pages = inbox.arrived.filter(isPage);
  const falsePages = pages.filter((p) => !expected.some((o) => p.at >= o.start && p.at <= o.end));
  const missed = expected.filter((o) => !o.paged).length;
  const toInbox = outcomes.filter((o) => o.kind === 'outage' && o.outageToInboxS !== undefined).map((o) => o.outageToInboxS!);
  const toResolved = outcomes.filter((o) => o.kind === 'outage' && o.recoveryToResolvedS !== undefined).map((o) => o.recoveryToResolvedS!);
  const summary = {
    median_outage_to_inbox_s: toInbox.length ? median(toInbox) : undefined,
    worst_outage_to_inbox_s: toInbox.length ? Math.max(...toInbox) : undefined,
    median_recovery_to_resolved_s: toResolved.length ? median(toResolved) : undefined,
    worst_recovery_to_resolved_s: toResolved.length ? Math.max(...toResolved) : undefined,
    false_pages: falsePages.length,
    missed_outages: missed,
  };
  const t = stack.timings;
  const lines = [
    '',
    `## Detection: outage -> inbox (time scale ${settings.scale}${settings.scale === 1 ? ', production timings' : `: every timing divided by ${settings.scale}; NOT the product's numbers`})`,
    '',
    `probe interval ${t.probeInterval}s, evaluation ${t.evaluationInterval}s, MonitorDown for ${t.monitorDownFor}s, critical group_wait ${t.criticalGroupWait}s, group_interval ${t.groupInterval}s; ` +
      `MonitorFailingFromOneCheckpoint for ${t.warningFor}s, warning group_wait ${t.warningGroupWait}s`,
    '',
    '| scenario | should page | paged | outage -> inbox s | recovery -> resolved s | verdict | detail |',
    '|---|---|---|---:|---:|---|---|',
    ...outcomes.map(
      (o) =>
        `| ${o.scenario} | ${o.shouldPage ? 'yes' : 'no'} | ${o.paged ? 'yes' : 'no'} | ${fmt(o.outageToInboxS)} | ${fmt(o.recoveryToResolvedS)} | ` +
        `${o.shouldPage === o.paged ? 'ok' : o.shouldPage ? 'MISSED' : 'FALSE PAGE'} | ${o.detail} |`,
    ),
    '',
    `outage -> inbox: median ${fmt(summary.median_outage_to_inbox_s)}s, worst ${fmt(summary.worst_outage_to_inbox_s)}s (${toInbox.length} paged outage(s)); ` +
      `recovery -> resolved: median ${fmt(summary.median_recovery_to_resolved_s)}s, worst ${fmt(summary.worst_recovery_to_resolved_s)}s`,
    `false pages: ${falsePages.length}${falsePages.length ? ` (${falsePages.map((p) => p.mail.subject).join(' | ')})` : ''}; missed outages: ${missed} of ${expected.length}`,
    `mails to ${ADMINS[0]}: ${inbox.arrived.map((a) => `+${seconds(benchStart, a.at)}s ${a.mail.subject}`).join(' | ') || 'none'}`,
  ];
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const raw = {
    date: new Date().toISOString(),
    settings,
    timings: t,
    bounds,
    substitutions: stack.substitutions,
    outcomes: outcomes.map((o) => ({ ...o, start: new Date(o.start).toISOString(), end: new Date(o.end).toISOString() })),
    mails: inbox.arrived.map((a) => ({ at: new Date(a.at).toISOString(), subject: a.mail.subject, importance: a.mail.headers.importance ?? null })),
    summary,
  };
  fs.writeFileSync(path.join(OUT_DIR, 'detection.json'), `${JSON.stringify(raw, null, 2)}\n`);
  lines.push(`raw results: ${path.relative(process.cwd(), path.join(OUT_DIR, 'detection.json'))}`);
  const scenarios = settings.quick ? 'outage' : 'outages,blip,one-checkpoint,flap';
  lines.push(
    `SUMMARY median_outage_to_inbox_s=${fmt(summary.median_outage_to_inbox_s)} worst_outage_to_inbox_s=${fmt(summary.worst_outage_to_inbox_s)} ` +
      `median_recovery_to_resolved_s=${fmt(summary.median_recovery_to_resolved_s)} false_pages=${summary.false_pages} missed_outages=${summary.missed_outages} ` +
      `time_scale=${settings.scale} outages=${settings.outages} scenarios=${scenarios}`,
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(settings: Settings, track: (stop: () => Promise<void>, children: () => ChildProcess[]) => void): Promise<void> {
  if (settings.scale !== 1) say(`time scale ${settings.scale}: every timing divided by ${settings.scale}; the numbers are NOT the product's (run without --time-scale for those)`);
  const stack = await startStack(settings.scale, say, track);
  const inbox = new Inbox(stack);
  try {
    const bounds = boundsFor(stack);
    say(
      `stack up: Prometheus ${stack.prometheus.url}, Alertmanager ${stack.alertmanager.url}, ${[...stack.checkpoints.values()].map((c) => `${c.name} ${c.address} (pid ${c.child.pid})`).join(', ')}, target ${stack.target.url}, SMTP ${stack.mail.smarthost}`,
    );
    say(`changes to the shipped files:\n${stack.substitutions.map((s) => `    ${s.file}: ${s.where}: ${s.from} -> ${s.to}`).join('\n')}`);
    say(`bounds (s): ${JSON.stringify(bounds)}`);
    // The Prometheus /sd refresh is 60s whatever the scale: the first discovery is at start.
    await waitAllUp(stack, bounds.up + 60);
    say(`${MONITOR} up from both checkpoints`);
    const watchdog = await mustWithin('the Watchdog mail (the alerting path works)', scaledSeconds('1m', settings.scale) + bounds.page, () => inbox.first(0, /^\[FIRING:1\] Watchdog$/));
    say(`Watchdog mail after ${seconds(benchStart, watchdog.at)}s: the alerting path works`);
    // A few quiet probes before the first outage.
    await pause(2 * stack.timings.probeInterval * 1000);

    const outcomes: Outcome[] = [];
    for (let i = 1; i <= settings.outages; i++) {
      outcomes.push(await hardOutage(stack, inbox, i, bounds));
      await pause(2 * stack.timings.probeInterval * 1000);
    }
    if (!settings.quick) {
      outcomes.push(await blip(stack, inbox, bounds));
      outcomes.push(await oneCheckpoint(stack, inbox, bounds));
      await pause(2 * stack.timings.probeInterval * 1000);
      outcomes.push(await flap(stack, inbox, bounds));
    }
    process.stdout.write(report(settings, stack, inbox, outcomes, bounds));
  } finally {
    inbox.close();
  }
}

function entry(): void {
  let settings: Settings;
  try {
    settings = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  let stopStack: () => Promise<void> = async () => undefined;
  let children: () => ChildProcess[] = () => [];
  const killAll = (): void => {
    for (const child of children()) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      say(`${signal}: stopping`);
      aborter.abort();
      if (++signals > 1) {
        killAll();
        process.exit(130);
      }
      // If stopping hangs, the children are killed anyway.
      setTimeout(() => {
        killAll();
        process.exit(130);
      }, 30_000).unref();
    });
  }
  let failed = false;
  main(settings, (stop, list) => {
    stopStack = stop;
    children = list;
  })
    .catch((error: unknown) => {
      failed = true;
      say(aborter.signal.aborted ? 'interrupted' : `FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    })
    .finally(async () => {
      say('stopping every process');
      await stopStack();
      process.exit(aborter.signal.aborted ? 130 : failed ? 1 : 0);
    });
}

entry();
