/**
 * One step of a journey: what it does in the page, how it is described in the log, and what
 * reason it fails with. Every step runs under a Playwright timeout: its own (`timeout`, else
 * `step_timeout`), never past the probe's deadline. A step that runs out of its own time fails
 * with its kind's reason; one that runs out of the probe's time fails with `timeout`.
 */
import path from 'node:path';
import { errors, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { abortable } from '../../src/probe/abortable';
import { firstLine, ProbeFailure } from '../../src/probe/failure';
import type { LogFields } from '../../src/probe/probe-log';
import { excerpt } from './page-facts';
import type { JourneyStep, LocatorSpec, WaitCondition } from './journey-step';

export const SECRET_SHOWN_AS = '<secret from value_file>';

/** What a journey script gets as its third argument. */
export interface JourneyInfo {
  /** The target, the journey's start URL. */
  target: string;
}

export type JourneyScript = (page: Page, context: BrowserContext, journey: JourneyInfo) => Promise<void>;

export interface StepRun {
  page: Page;
  context: BrowserContext;
  target: URL;
  /** The deadline: a script that awaits something else than Playwright still loses the race against it. */
  signal: AbortSignal;
  /** Playwright timeout for this step, in ms. */
  timeoutMs: number;
  /** The secret typed by this step (fill with value_file), read before the journey began. */
  secret?: string;
  /** A journey script's function, loaded before the journey began. */
  script?: JourneyScript;
  /** Takes a screenshot for a `screenshot` step; returns the file or why there is none. */
  screenshot(name: string): Promise<LogFields>;
}

/** `<index>-<name or action>`, lower case [a-z0-9_-], bounded: the `step` label's value. */
export function stepLabel(index: number, step: JourneyStep): string {
  const name = (step.name ?? step.action)
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .slice(0, 40);
  return `${index}-${name}`;
}

/** The step for the log: its kind and arguments, with a secret replaced. */
export function describeStep(step: JourneyStep): LogFields {
  const kind = step.action;
  switch (step.action) {
    case 'goto':
    case 'expect_url':
      return { kind, url: step.url };
    case 'script':
      return { kind, file: step.file };
    case 'expect_text':
      return { kind, value: step.text };
    case 'expect_title':
      return { kind, value: step.title };
    case 'screenshot':
      return { kind, value: step.shot };
    case 'click':
      return { kind, element: describeLocator(step.locator) };
    case 'fill':
      return { kind, element: describeLocator(step.locator), value: typeof step.value === 'string' ? step.value : SECRET_SHOWN_AS };
    case 'press':
      return { kind, element: step.locator && describeLocator(step.locator), key: step.key };
    case 'select':
      return { kind, element: describeLocator(step.locator), option: step.option };
    case 'wait_for':
      return { kind, ...describeWait(step.until) };
  }
}

function describeWait(until: WaitCondition): LogFields {
  switch (until.for) {
    case 'url':
      return { url: until.url };
    case 'network_idle':
      return { until: 'network idle' };
    case 'element':
      return { element: describeLocator(until.locator), state: until.state };
  }
}

function describeLocator(locator: LocatorSpec): string {
  switch (locator.by) {
    case 'role':
      return `role=${locator.role}${locator.name !== undefined ? ` name=${JSON.stringify(locator.name)}` : ''}${locator.exact ? ' (exact)' : ''}`;
    case 'text':
    case 'label':
    case 'placeholder':
      return `${locator.by}=${JSON.stringify(locator.value)}${locator.exact ? ' (exact)' : ''}`;
    case 'test_id':
    case 'css':
      return `${locator.by}=${JSON.stringify(locator.value)}`;
  }
}

export function locate(page: Page, locator: LocatorSpec): Locator {
  switch (locator.by) {
    case 'role':
      return page.getByRole(locator.role, { name: locator.name, exact: locator.exact });
    case 'text':
      return page.getByText(locator.value, { exact: locator.exact });
    case 'label':
      return page.getByLabel(locator.value, { exact: locator.exact });
    case 'placeholder':
      return page.getByPlaceholder(locator.value, { exact: locator.exact });
    case 'test_id':
      return page.getByTestId(locator.value);
    case 'css':
      return page.locator(locator.value);
  }
}

/** Runs the step; throws what Playwright threw (see stepFailure) or a ProbeFailure. */
export async function runStep(step: JourneyStep, run: StepRun): Promise<LogFields> {
  const { page, timeoutMs: timeout } = run;
  switch (step.action) {
    case 'goto': {
      const url = new URL(step.url, run.target).href;
      const response = await page.goto(url, { timeout, waitUntil: 'load' });
      if (response && response.status() >= 400) throw new ProbeFailure('navigation', `${url} answered ${response.status()}`);
      return { status: response?.status() };
    }
    case 'click':
      await locate(page, step.locator).click({ timeout });
      return {};
    case 'fill':
      await locate(page, step.locator).fill(typeof step.value === 'string' ? step.value : secretOf(run), { timeout });
      return {};
    case 'press':
      if (step.locator) await locate(page, step.locator).press(step.key, { timeout });
      else await page.keyboard.press(step.key);
      return {};
    case 'select':
      await locate(page, step.locator).selectOption(step.option, { timeout });
      return {};
    case 'wait_for':
      await waitFor(page, step.until, run.target, timeout);
      return {};
    case 'expect_text':
      await page.getByText(step.text).first().waitFor({ state: 'visible', timeout });
      return {};
    case 'expect_url':
      await page.waitForURL(urlMatcher(step.url, run.target), { timeout, waitUntil: 'commit' });
      return { url: excerpt(page.url()) };
    case 'expect_title':
      await page.waitForFunction(`document.title.replace(/\\s+/g, ' ').trim() === ${JSON.stringify(step.title.replace(/\s+/g, ' ').trim())}`, undefined, { timeout });
      return {};
    case 'screenshot':
      return await run.screenshot(step.shot);
    case 'script':
      await abortable(scriptOf(run)(page, run.context, { target: run.target.href }), run.signal);
      return {};
  }
}

/** The journey's files are read before it starts (journey-files.ts): one missing here is a bug, not a config error. */
function secretOf(run: StepRun): string {
  if (run.secret === undefined) throw new Error('the value_file of this fill step was not read before the journey');
  return run.secret;
}

function scriptOf(run: StepRun): JourneyScript {
  if (run.script === undefined) throw new Error('the script of this step was not loaded before the journey');
  return run.script;
}

/** Whether Playwright says the page, context or browser is gone (closed, crashed, disconnected). */
export function isGone(error: unknown): boolean {
  return /has been closed|Browser closed|Target closed|browser has disconnected|Target crashed/i.test(firstLine(error));
}

async function waitFor(page: Page, until: WaitCondition, target: URL, timeout: number): Promise<void> {
  switch (until.for) {
    case 'url':
      return page.waitForURL(urlMatcher(until.url, target), { timeout });
    case 'network_idle':
      return page.waitForLoadState('networkidle', { timeout });
    case 'element':
      return locate(page, until.locator).waitFor({ state: until.state ?? 'visible', timeout });
  }
}

/** A glob (starting with *) as Playwright matches it; anything else is one exact URL, a path taken on the target. */
function urlMatcher(text: string, target: URL): string | ((url: URL) => boolean) {
  if (text.startsWith('*')) return text;
  const expected = new URL(text, target).href;
  return (url) => url.href === expected;
}

/**
 * The reason for a step's error. Playwright's timeout means: no such element (`not_found`), the
 * page did not get there (`navigation`), the check did not hold (`assertion`). Other errors of a
 * goto are network errors (`navigation`); of a script, its own checks (`assertion`).
 */
export async function stepFailure(step: JourneyStep, error: unknown, run: StepRun): Promise<ProbeFailure> {
  if (error instanceof ProbeFailure) return error;
  const message = firstLine(error);
  if (isGone(error)) return new ProbeFailure('browser_crash', `the page or browser went away: ${message}`);
  if (error instanceof errors.TimeoutError) return timedOut(step, message, run);
  if (step.action === 'goto') {
    const url = new URL(step.url, run.target).href;
    // Playwright's words for a navigation that turned into a download, which the context refuses (acceptDownloads: false).
    if (message.includes('Download is starting')) return new ProbeFailure('navigation', `${excerpt(url)} is a download, and the browser prober refuses downloads`);
    return new ProbeFailure('navigation', `${step.action} failed: ${message}`);
  }
  if (step.action === 'script') return new ProbeFailure('assertion', `the script ${path.basename(step.file)} failed: ${message}`);
  return new ProbeFailure('assertion', `${step.action} failed: ${message}`);
}

/** A step that ran out of its own time, by what it waited for. */
async function timedOut(step: JourneyStep, message: string, run: StepRun): Promise<ProbeFailure> {
  const seconds = run.timeoutMs / 1000;
  switch (step.action) {
    case 'goto':
      return new ProbeFailure('navigation', `${new URL(step.url, run.target).href} did not load within ${seconds}s`);
    case 'wait_for':
      return waitTimedOut(step.until, seconds, run);
    case 'expect_text':
      return new ProbeFailure('assertion', `the text ${JSON.stringify(step.text)} did not appear within ${seconds}s`);
    case 'expect_url':
      return new ProbeFailure('assertion', `the URL is ${excerpt(run.page.url())}, not ${step.url} (waited ${seconds}s)`);
    case 'expect_title':
      return new ProbeFailure('assertion', `the title is ${JSON.stringify(excerpt(await run.page.title().catch(() => '?')))}, not ${JSON.stringify(step.title)} (waited ${seconds}s)`);
    case 'script':
      return new ProbeFailure('not_found', `the script ${path.basename(step.file)} timed out: ${message}`);
    case 'screenshot':
      return new ProbeFailure('not_found', `the screenshot ${step.shot} could not be taken within ${seconds}s`);
    case 'click':
    case 'fill':
    case 'press':
    case 'select':
      return new ProbeFailure('not_found', `no element ${step.locator ? describeLocator(step.locator) : ''} could be used for ${step.action} within ${seconds}s`);
  }
}

function waitTimedOut(until: WaitCondition, seconds: number, run: StepRun): ProbeFailure {
  switch (until.for) {
    case 'url':
      return new ProbeFailure('navigation', `the page did not reach ${until.url} within ${seconds}s (it is at ${excerpt(run.page.url())})`);
    case 'network_idle':
      return new ProbeFailure('navigation', `the network did not become idle within ${seconds}s`);
    case 'element':
      return new ProbeFailure('not_found', `no element ${describeLocator(until.locator)} became ${until.state ?? 'visible'} within ${seconds}s`);
  }
}
