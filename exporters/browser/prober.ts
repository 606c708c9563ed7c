/**
 * The browser prober: wait for a journey slot, open a fresh context in the shared Chromium, load
 * the target (step 0), run the module's steps, and report step timings, the first page's
 * navigation timing and web vitals, and what the pages did. On failure, a screenshot (and a
 * trace) of the page. The deadline closes the context, which ends whatever step was running.
 */
import { errors, type BrowserContext, type Page } from 'playwright-core';
import { firstLine, ProbeFailure } from '../../src/probe/failure';
import type { ProbeContext } from '../../src/probe/prober';
import type { LogFields } from '../../src/probe/probe-log';
import { ArtifactStore } from './artifacts';
import { validatedSeconds } from '../../src/config/duration';
import { readJourneyFiles, type JourneyFiles } from './journey-files';
import { journeyStep, type JourneyStep } from './journey-step';
import { createBrowserMetrics, type BrowserMetrics } from './metrics';
import { NavigationGuard } from './navigation-guard';
import { PageFacts } from './page-facts';
import type { BrowserSettings } from './schema';
import { sharedBrowsers, type BrowserSource } from './shared-browser';
import { describeStep, isGone, locate, runStep, stepFailure, stepLabel, type StepRun } from './steps';
import type { BrowserTarget } from './target';

/** A failure screenshot may take this long, if the deadline leaves it the time. */
const SCREENSHOT_TIMEOUT_MS = 3_000;

interface Journey {
  probe: ProbeContext<BrowserSettings, BrowserTarget>;
  metrics: BrowserMetrics;
  target: URL;
  /** Step 0, loading the target, then the module's steps. */
  steps: JourneyStep[];
  files: JourneyFiles;
  artifacts: ArtifactStore;
  /** Present when the module's pages must stay on its allowed hosts. */
  guard?: NavigationGuard;
  /** Secret values, cut out of every message that reaches the log. */
  scrub: (text: string) => string;
}

export function probeBrowser(probe: ProbeContext<BrowserSettings, BrowserTarget>): Promise<boolean> {
  return runJourney(probe, sharedBrowsers);
}

/** The journey in `browsers`: the shared warm browser, or (in the benchmark) a fresh one per probe. */
export async function runJourney(probe: ProbeContext<BrowserSettings, BrowserTarget>, browsers: BrowserSource): Promise<boolean> {
  const { settings, log, signal } = probe;
  const metrics = createBrowserMetrics(probe.registry);
  let release: (() => void) | undefined;
  let scrub = (text: string) => text;
  try {
    const target = probe.target.url;
    const moduleSteps = settings.steps.map(journeyStep);
    const files = await readJourneyFiles(moduleSteps);
    // A form sent with GET puts a typed secret into the URL, encoded: hide its encoded forms too.
    const forms = [...files.secrets.values()].filter((secret) => secret !== '').flatMap((secret) => [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)]);
    const hidden = [...new Set(forms)];
    scrub = (text) => hidden.reduce((scrubbed, secret) => scrubbed.split(secret).join('<secret>'), text);

    const waitStarted = performance.now();
    release = await browsers.slots(settings.launch).acquire(settings.max_concurrent_journeys, signal);
    const waited = (performance.now() - waitStarted) / 1000;
    metrics.slotWait(waited);
    if (waited > 0.001) log.info('Waited for a free journey slot', { wait_seconds: waited, max_concurrent_journeys: settings.max_concurrent_journeys });

    const context = await browsers.newContext(settings.launch, { ignoreHTTPSErrors: settings.ignore_https_errors, acceptDownloads: false }, signal, log);
    const steps: JourneyStep[] = [{ action: 'goto', url: target.href }, ...moduleSteps];
    const journey: Journey = { probe, metrics, target, steps, files, artifacts: new ArtifactStore(settings.artifacts), scrub };
    // The deadline ends the journey at once: closing the context ends every pending step.
    const onAbort = () => void context.close().catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await runInContext(journey, context);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await browsers.closeContext(settings.launch, context, probe.deadline);
    }
  } catch (error) {
    throw journeyFailure(error, scrub);
  } finally {
    release?.();
  }
}

/**
 * What a failed journey throws, for the runtime to report: with the typed secrets cut out of its
 * message, and a browser that went away as `browser_crash`. The deadline's `timeout` is the
 * runtime's to give, whatever broke once it fired.
 */
function journeyFailure(error: unknown, scrub: (text: string) => string): Error {
  if (error instanceof ProbeFailure) return new ProbeFailure(error.reason, scrub(error.message));
  if (isGone(error)) return new ProbeFailure('browser_crash', `the browser went away: ${scrub(firstLine(error))}`);
  // A bug: the runtime reports it as `internal`, named as it was thrown (TypeError: ...).
  const scrubbed = new Error(scrub(firstLine(error)));
  if (error instanceof Error) scrubbed.name = error.name;
  return scrubbed;
}

async function runInContext(journey: Journey, context: BrowserContext): Promise<boolean> {
  const { probe, metrics } = journey;
  const { settings, log, signal } = probe;
  if (settings.traces) await context.tracing.start({ screenshots: true, snapshots: true });
  // The context's hooks before its page: the page opens with them (one burst of messages), instead
  // of having each added to it, one round trip after the other.
  const [guard, facts] = await Promise.all([probe.destinations ? NavigationGuard.install(context, probe.destinations) : undefined, PageFacts.watch(context, journey.scrub)]);
  journey.guard = guard;
  const page = await context.newPage();
  facts.watchPage(page, log);
  await guard?.watch(page);
  /** The step running, so a failure knows which one it was; undefined once all succeeded. */
  let current: { index: number; step: JourneyStep } | undefined;
  try {
    for (const [index, step] of journey.steps.entries()) {
      current = { index, step };
      await timedStep(journey, context, page, facts, index, step);
      if (index === 0) {
        const timing = await facts.firstPageTiming();
        if (timing) metrics.navigation(timing);
      }
    }
    current = undefined;
    if (settings.traces) await context.tracing.stop();
    return true;
  } catch (error) {
    metrics.failedStep(current?.index ?? -1);
    if (!signal.aborted && current) await saveArtifacts(journey, context, page, stepLabel(current.index, current.step));
    throw error;
  } finally {
    metrics.counters(await facts.finalCounters());
    metrics.vitals(facts.firstPageVitals());
  }
}

async function timedStep(journey: Journey, context: BrowserContext, page: Page, facts: PageFacts, index: number, step: JourneyStep): Promise<void> {
  const { probe, metrics, files } = journey;
  const { settings, log, signal } = probe;
  const label = stepLabel(index, step);
  const stepMs = validatedSeconds(step.timeout ?? settings.step_timeout) * 1000;
  const remainingMs = probe.deadline - Date.now();
  // The last step before the deadline gets what is left; running out of it is the deadline's fault.
  const cappedByDeadline = remainingMs <= stepMs;
  const timeoutMs = Math.max(1, Math.min(stepMs, remainingMs));
  // Scripts call Playwright without a timeout of their own: they get this step's.
  context.setDefaultTimeout(timeoutMs);
  log.info(`Step ${label}`, { ...describeStep(step), timeout_seconds: timeoutMs / 1000 });
  const started = performance.now();
  const run: StepRun = {
    page,
    context,
    target: journey.target,
    signal,
    timeoutMs,
    secret: files.secrets.get(index),
    script: files.scripts.get(index),
    screenshot: (name) => screenshotStep(journey, page, name, index),
  };
  try {
    if (signal.aborted) throw new ProbeFailure('timeout', 'the deadline passed');
    const fields = await runStep(step, run);
    // A refused navigation may leave the page looking fine (the old page stays): it fails the step.
    if (journey.guard?.refusal) throw new ProbeFailure('forbidden', journey.guard.refusal);
    // A click or a script may have led the page to an error status or a network error.
    if (facts.navigationFailure) throw new ProbeFailure('navigation', facts.navigationFailure);
    const seconds = (performance.now() - started) / 1000;
    metrics.step(label, seconds, true);
    // A form sent with GET would put the typed secret into the URL the step reports.
    const shown = Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, typeof value === 'string' ? journey.scrub(value) : value]));
    log.info(`Step ${label} succeeded`, { duration_seconds: seconds, ...shown });
  } catch (error) {
    const seconds = (performance.now() - started) / 1000;
    metrics.step(label, seconds, false);
    // The deadline, a crash and a failed navigation come before the step's own reason.
    if (signal.aborted || (cappedByDeadline && error instanceof errors.TimeoutError)) throw new ProbeFailure('timeout', `step ${label} did not finish before the deadline`);
    if (journey.guard?.refusal) throw new ProbeFailure('forbidden', `step ${label}: ${journey.guard.refusal}`);
    if (facts.crashed) throw new ProbeFailure('browser_crash', `step ${label}: the page crashed`);
    const failure = await stepFailure(step, error, run);
    // Looking for the welcome text after a 500 is not the problem: the 500 is.
    if (facts.navigationFailure && (failure.reason === 'not_found' || failure.reason === 'assertion')) throw new ProbeFailure('navigation', `step ${label}: ${facts.navigationFailure}`);
    throw new ProbeFailure(failure.reason, `step ${label}: ${failure.message}`);
  }
}

/** Elements typed into from value_file: masked in every screenshot. */
function secretFields(journey: Journey, page: Page) {
  return journey.steps.flatMap((step) => (step.action === 'fill' && typeof step.value !== 'string' ? [locate(page, step.locator)] : []));
}

async function screenshotStep(journey: Journey, page: Page, name: string, index: number): Promise<LogFields> {
  if (!journey.probe.settings.screenshots) return { screenshot: 'skipped (screenshots: false)' };
  const file = await journey.artifacts.pathFor(journey.target, `${index}-${name}`, 'png');
  await page.screenshot({ path: file, mask: secretFields(journey, page), timeout: screenshotTimeout(journey) });
  await journey.artifacts.prune();
  return { screenshot: file };
}

function screenshotTimeout(journey: Journey): number {
  return Math.max(1, Math.min(SCREENSHOT_TIMEOUT_MS, journey.probe.deadline - Date.now()));
}

/** The failed page as a screenshot and, with traces: true, the trace; their paths go to the log. An artifact that cannot be saved does not change the failure. */
async function saveArtifacts(journey: Journey, context: BrowserContext, page: Page, label: string): Promise<void> {
  const { settings, log } = journey.probe;
  try {
    if (settings.screenshots && !page.isClosed()) {
      const file = await journey.artifacts.pathFor(journey.target, label, 'png');
      await page.screenshot({ path: file, mask: secretFields(journey, page), timeout: screenshotTimeout(journey) });
      log.info('Saved a screenshot of the failed step', { path: file });
    }
    if (settings.traces) {
      const file = await journey.artifacts.pathFor(journey.target, label, 'zip');
      await context.tracing.stop({ path: file });
      log.info('Saved a trace of the journey', { path: file });
    }
    await journey.artifacts.prune();
  } catch (error) {
    log.warn('Could not save the artifacts of the failed step', { error: journey.scrub(String(error)).split('\n')[0] });
  }
}
