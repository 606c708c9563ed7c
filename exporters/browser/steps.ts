/**
 * One step of a journey: what it does in the page, how it is described in the log, and what
 * reason it fails with. Every step runs under a Playwright timeout: its own (`timeout`, else
 * `step_timeout`), never past the probe's deadline. A step that runs out of its own time fails
 * with its kind's reason; one that runs out of the probe's time fails with `timeout`.
 */
import path from 'node:path';
import { errors, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { abortable } from '../../src/probe/abortable';
import { firstLine, ProbeFailure, type FailureReason } from '../../src/probe/failure';
import type { LogFields } from '../../src/probe/probe-log';
import { excerpt } from './page-facts';
import { STEP_KINDS, type LocatorSettings, type Step, type StepKind, type WaitForSettings } from './schema';

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

export function stepKind(step: Step): StepKind {
  return STEP_KINDS.find((kind) => step[kind] !== undefined)!;
}

/** `<index>-<name or kind>`, lower case [a-z0-9_-], bounded: the `step` label's value. */
export function stepLabel(index: number, step: Step): string {
  const name = (step.name ?? stepKind(step)).toLowerCase().replace(/[^a-z0-9_-]+/g, '_').slice(0, 40);
  return `${index}-${name}`;
}

/** The step for the log: its kind and arguments, with a secret replaced. */
export function describeStep(step: Step): LogFields {
  const kind = stepKind(step);
  const argument = step[kind]!;
  if (typeof argument === 'string') return { kind, [kind === 'goto' || kind === 'expect_url' ? 'url' : kind === 'script' ? 'file' : 'value']: argument };
  const fields: LogFields = { kind };
  const locator = describeLocator(argument);
  if (locator) fields.element = locator;
  if (step.fill) fields.value = step.fill.value_file !== undefined ? SECRET_SHOWN_AS : step.fill.value;
  if (step.press) fields.key = step.press.key;
  if (step.select) fields.option = step.select.option;
  if (step.wait_for?.url !== undefined) fields.url = step.wait_for.url;
  if (step.wait_for?.network_idle) fields.until = 'network idle';
  if (step.wait_for?.state) fields.state = step.wait_for.state;
  return fields;
}

export function describeLocator(locator: LocatorSettings): string | undefined {
  const exact = locator.exact ? ' (exact)' : '';
  if (locator.role) return `role=${locator.role}${locator.name !== undefined ? ` name=${JSON.stringify(locator.name)}` : ''}${exact}`;
  if (locator.text !== undefined) return `text=${JSON.stringify(locator.text)}${exact}`;
  if (locator.label !== undefined) return `label=${JSON.stringify(locator.label)}${exact}`;
  if (locator.placeholder !== undefined) return `placeholder=${JSON.stringify(locator.placeholder)}${exact}`;
  if (locator.test_id !== undefined) return `test_id=${JSON.stringify(locator.test_id)}`;
  if (locator.css !== undefined) return `css=${JSON.stringify(locator.css)}`;
  return undefined;
}

export function locate(page: Page, locator: LocatorSettings): Locator {
  const exact = locator.exact;
  if (locator.role) return page.getByRole(locator.role, { name: locator.name, exact });
  if (locator.text !== undefined) return page.getByText(locator.text, { exact });
  if (locator.label !== undefined) return page.getByLabel(locator.label, { exact });
  if (locator.placeholder !== undefined) return page.getByPlaceholder(locator.placeholder, { exact });
  if (locator.test_id !== undefined) return page.getByTestId(locator.test_id);
  return page.locator(locator.css!);
}

/** Runs the step; throws what Playwright threw (see stepFailure) or a ProbeFailure. */
export async function runStep(step: Step, run: StepRun): Promise<LogFields> {
  const { page, timeoutMs: timeout } = run;
  switch (stepKind(step)) {
    case 'goto': {
      const url = new URL(step.goto!, run.target).href;
      const response = await page.goto(url, { timeout, waitUntil: 'load' });
      if (response && response.status() >= 400) throw new ProbeFailure('navigation', `${url} answered ${response.status()}`);
      return { status: response?.status() };
    }
    case 'click':
      await locate(page, step.click!).click({ timeout });
      return {};
    case 'fill':
      await locate(page, step.fill!).fill(step.fill!.value ?? run.secret ?? '', { timeout });
      return {};
    case 'press':
      if (describeLocator(step.press!)) await locate(page, step.press!).press(step.press!.key, { timeout });
      else await page.keyboard.press(step.press!.key);
      return {};
    case 'select':
      await locate(page, step.select!).selectOption(step.select!.option, { timeout });
      return {};
    case 'wait_for':
      await waitFor(page, step.wait_for!, run.target, timeout);
      return {};
    case 'expect_text':
      await page.getByText(step.expect_text!).first().waitFor({ state: 'visible', timeout });
      return {};
    case 'expect_url':
      await page.waitForURL(urlMatcher(step.expect_url!, run.target), { timeout, waitUntil: 'commit' });
      return { url: excerpt(page.url()) };
    case 'expect_title':
      await page.waitForFunction(`document.title.replace(/\\s+/g, ' ').trim() === ${JSON.stringify(step.expect_title!.replace(/\s+/g, ' ').trim())}`, undefined, { timeout });
      return {};
    case 'screenshot':
      return await run.screenshot(step.screenshot!);
    case 'script':
      await abortable(run.script!(page, run.context, { target: run.target.href }), run.signal);
      return {};
  }
}

/** Whether Playwright says the page, context or browser is gone (closed, crashed, disconnected). */
export function isGone(error: unknown): boolean {
  return /has been closed|Browser closed|Target closed|browser has disconnected|Target crashed/i.test(firstLine(error));
}

async function waitFor(page: Page, wait: WaitForSettings, target: URL, timeout: number): Promise<void> {
  if (wait.url !== undefined) await page.waitForURL(urlMatcher(wait.url, target), { timeout });
  else if (wait.network_idle) await page.waitForLoadState('networkidle', { timeout });
  else await locate(page, wait).waitFor({ state: wait.state ?? 'visible', timeout });
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
export async function stepFailure(step: Step, error: unknown, run: StepRun): Promise<ProbeFailure> {
  if (error instanceof ProbeFailure) return error;
  const kind = stepKind(step);
  const message = firstLine(error);
  if (isGone(error)) return new ProbeFailure('browser_crash', `the page or browser went away: ${message}`);
  const seconds = run.timeoutMs / 1000;
  if (error instanceof errors.TimeoutError) {
    switch (kind) {
      case 'goto':
        return new ProbeFailure('navigation', `${new URL(step.goto!, run.target).href} did not load within ${seconds}s`);
      case 'wait_for':
        if (step.wait_for!.url !== undefined) return new ProbeFailure('navigation', `the page did not reach ${step.wait_for!.url} within ${seconds}s (it is at ${excerpt(run.page.url())})`);
        if (step.wait_for!.network_idle) return new ProbeFailure('navigation', `the network did not become idle within ${seconds}s`);
        return new ProbeFailure('not_found', `no element ${describeLocator(step.wait_for!)} became ${step.wait_for!.state ?? 'visible'} within ${seconds}s`);
      case 'expect_text':
        return new ProbeFailure('assertion', `the text ${JSON.stringify(step.expect_text)} did not appear within ${seconds}s`);
      case 'expect_url':
        return new ProbeFailure('assertion', `the URL is ${excerpt(run.page.url())}, not ${step.expect_url} (waited ${seconds}s)`);
      case 'expect_title':
        return new ProbeFailure('assertion', `the title is ${JSON.stringify(excerpt(await run.page.title().catch(() => '?')))}, not ${JSON.stringify(step.expect_title)} (waited ${seconds}s)`);
      case 'script':
        return new ProbeFailure('not_found', `the script ${path.basename(step.script!)} timed out: ${message}`);
      default: {
        const locator = step[kind] as LocatorSettings;
        return new ProbeFailure('not_found', `no element ${describeLocator(locator) ?? ''} could be used for ${kind} within ${seconds}s`);
      }
    }
  }
  // Playwright's words for a navigation that turned into a download, which the context refuses (acceptDownloads: false).
  if (kind === 'goto' && message.includes('Download is starting')) return new ProbeFailure('navigation', `${excerpt(new URL(step.goto!, run.target).href)} is a download, and the browser prober refuses downloads`);
  const reason: FailureReason = kind === 'goto' ? 'navigation' : 'assertion';
  return new ProbeFailure(reason, kind === 'script' ? `the script ${path.basename(step.script!)} failed: ${message}` : `${kind} failed: ${message}`);
}
