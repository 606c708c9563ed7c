/**
 * A step as a journey runs it: one action with exactly its own arguments. In the config a step is
 * one object with a key per action, so that a mistake reads as one plain line (validate.ts checks
 * that exactly one action is set, and one way to find an element); `journeyStep` reads a
 * validated step into this union, so the code that runs a step never asks which keys are there.
 */
import type { AriaRole, LocatorSettings, Step, StepKind } from './schema';

/** How a step finds its element, the Playwright way: getByRole, getByText, ... or a CSS selector. */
export type LocatorSpec =
  { by: 'role'; role: AriaRole; name?: string; exact?: boolean } | { by: 'text' | 'label' | 'placeholder'; value: string; exact?: boolean } | { by: 'test_id' | 'css'; value: string };

type ElementState = 'visible' | 'hidden' | 'attached' | 'detached';

/** What a wait_for step waits for: the page at a URL, a quiet network, or an element in a state. */
export type WaitCondition = { for: 'url'; url: string } | { for: 'network_idle' } | { for: 'element'; locator: LocatorSpec; state?: ElementState };

interface StepOptions {
  /** The step label is `<index>-<name>`, `<index>-<action>` without one. */
  name?: string;
  /** The step's own timeout, a duration; the module's step_timeout without one. */
  timeout?: string;
}

/** The arguments of each action. Keyed by the schema's step kinds: a kind it gains does not compile until it has its own here. */
interface ActionArguments {
  goto: { url: string };
  click: { locator: LocatorSpec };
  /** The text to type, or the file of a secret to type (read before the journey, never logged). */
  fill: { locator: LocatorSpec; value: string | { file: string } };
  /** Without an element, the key goes to whatever has the focus. */
  press: { locator?: LocatorSpec; key: string };
  select: { locator: LocatorSpec; option: string };
  wait_for: { until: WaitCondition };
  expect_text: { text: string };
  expect_url: { url: string };
  expect_title: { title: string };
  /** The screenshot's name, part of its file name. */
  screenshot: { shot: string };
  script: { file: string };
}

export type JourneyStep = { [Action in StepKind]: StepOptions & { action: Action } & ActionArguments[Action] }[StepKind];

/** A validated step as the union; a step the validation should have refused is a bug, and throws. */
export function journeyStep(step: Step): JourneyStep {
  const options: StepOptions = { name: step.name, timeout: step.timeout };
  if (step.goto !== undefined) return { ...options, action: 'goto', url: step.goto };
  if (step.click !== undefined) return { ...options, action: 'click', locator: requiredLocator(step.click, 'click') };
  if (step.fill !== undefined) {
    const { value, value_file } = step.fill;
    const typed = value ?? (value_file === undefined ? unvalidated('fill has neither value nor value_file') : { file: value_file });
    return { ...options, action: 'fill', locator: requiredLocator(step.fill, 'fill'), value: typed };
  }
  if (step.press !== undefined) return { ...options, action: 'press', locator: locatorSpec(step.press), key: step.press.key };
  if (step.select !== undefined) return { ...options, action: 'select', locator: requiredLocator(step.select, 'select'), option: step.select.option };
  if (step.wait_for !== undefined) return { ...options, action: 'wait_for', until: waitCondition(step.wait_for) };
  if (step.expect_text !== undefined) return { ...options, action: 'expect_text', text: step.expect_text };
  if (step.expect_url !== undefined) return { ...options, action: 'expect_url', url: step.expect_url };
  if (step.expect_title !== undefined) return { ...options, action: 'expect_title', title: step.expect_title };
  if (step.screenshot !== undefined) return { ...options, action: 'screenshot', shot: step.screenshot };
  if (step.script !== undefined) return { ...options, action: 'script', file: step.script };
  return unvalidated('the step has no action');
}

/** The way `settings` finds its element, or undefined when it names none. */
function locatorSpec(settings: LocatorSettings): LocatorSpec | undefined {
  const { exact } = settings;
  if (settings.role !== undefined) return { by: 'role', role: settings.role, name: settings.name, exact };
  if (settings.text !== undefined) return { by: 'text', value: settings.text, exact };
  if (settings.label !== undefined) return { by: 'label', value: settings.label, exact };
  if (settings.placeholder !== undefined) return { by: 'placeholder', value: settings.placeholder, exact };
  if (settings.test_id !== undefined) return { by: 'test_id', value: settings.test_id };
  if (settings.css !== undefined) return { by: 'css', value: settings.css };
  return undefined;
}

function requiredLocator(settings: LocatorSettings, action: string): LocatorSpec {
  return locatorSpec(settings) ?? unvalidated(`${action} names no element`);
}

function waitCondition(wait: NonNullable<Step['wait_for']>): WaitCondition {
  if (wait.url !== undefined) return { for: 'url', url: wait.url };
  if (wait.network_idle) return { for: 'network_idle' };
  const locator = locatorSpec(wait);
  return locator ? { for: 'element', locator, state: wait.state } : unvalidated('wait_for has nothing to wait for');
}

function unvalidated(what: string): never {
  throw new Error(`${what}: the config validation should have refused this step`);
}
