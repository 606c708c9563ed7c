/** The browser rules a JSON Schema cannot say: one kind per step, one way to find an element, no secret in a trace. */
import type { ConfigPath, ConfigProblem } from '../../src/config/problems';
import { positiveDuration } from '../../src/config/rules';
import { LOCATOR_KEYS, STEP_KINDS, type BrowserSettings, type LocatorSettings, type Step } from './schema';
import { PAGE_SCHEMES } from './target';

export function validateBrowserSettings(settings: BrowserSettings, path: ConfigPath): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  problems.push(...positiveDuration(settings.step_timeout, [...path, 'step_timeout']));
  problems.push(...positiveDuration(settings.artifacts.max_age, [...path, 'artifacts', 'max_age']));
  settings.steps.forEach((step, index) => problems.push(...stepProblems(step, [...path, 'steps', index])));
  if (settings.traces) {
    const secret = settings.steps.findIndex((step) => step.fill?.value_file !== undefined);
    // A trace records every typed value and the DOM with it: a secret would end up in the zip file.
    if (secret !== -1) problems.push({ path: [...path, 'traces'], message: `traces: true cannot be used with value_file (steps.${secret}): a trace records the typed values` });
  }
  return problems;
}

function stepProblems(step: Step, path: ConfigPath): ConfigProblem[] {
  const kinds = STEP_KINDS.filter((kind) => step[kind] !== undefined);
  if (kinds.length !== 1) {
    const found = kinds.length === 0 ? 'none' : kinds.join(', ');
    return [{ path, message: `a step needs exactly one of ${STEP_KINDS.join(', ')} (found ${found})` }];
  }
  const problems: ConfigProblem[] = [];
  problems.push(...positiveDuration(step.timeout, [...path, 'timeout']));
  if (step.goto !== undefined) {
    const problem = urlProblem(step.goto, false);
    if (problem) problems.push({ path: [...path, 'goto'], message: problem });
  }
  if (step.click) problems.push(...locatorProblems(step.click, [...path, 'click'], true));
  if (step.select) problems.push(...locatorProblems(step.select, [...path, 'select'], true));
  // Without an element, press goes to whatever has the focus.
  if (step.press) problems.push(...locatorProblems(step.press, [...path, 'press'], false));
  if (step.fill) {
    problems.push(...locatorProblems(step.fill, [...path, 'fill'], true));
    if ((step.fill.value === undefined) === (step.fill.value_file === undefined)) problems.push({ path: [...path, 'fill'], message: 'needs exactly one of value and value_file' });
  }
  if (step.wait_for) {
    const wait = step.wait_for;
    const where = [...path, 'wait_for'];
    const hasLocator = LOCATOR_KEYS.some((key) => wait[key] !== undefined);
    const ways = [hasLocator, wait.url !== undefined, wait.network_idle !== undefined].filter(Boolean).length;
    if (ways !== 1) problems.push({ path: where, message: 'needs exactly one of an element (role, text, label, placeholder, test_id, css), url and network_idle' });
    if (hasLocator) problems.push(...locatorProblems(wait, where, true));
    if (wait.state !== undefined && !hasLocator) problems.push({ path: [...where, 'state'], message: 'state goes with an element' });
    if (wait.network_idle === false) problems.push({ path: [...where, 'network_idle'], message: 'must be true (leave it out otherwise)' });
    if (wait.url !== undefined) {
      const problem = urlProblem(wait.url, true);
      if (problem) problems.push({ path: [...where, 'url'], message: problem });
    }
  }
  if (step.expect_url !== undefined) {
    const problem = urlProblem(step.expect_url, true);
    if (problem) problems.push({ path: [...path, 'expect_url'], message: problem });
  }
  return problems;
}

function locatorProblems(locator: LocatorSettings, path: ConfigPath, required: boolean): ConfigProblem[] {
  const ways = LOCATOR_KEYS.filter((key) => locator[key] !== undefined);
  const problems: ConfigProblem[] = [];
  if (ways.length > 1 || (required && ways.length === 0)) {
    problems.push({ path, message: `needs exactly one of ${LOCATOR_KEYS.join(', ')} to find the element (found ${ways.length === 0 ? 'none' : ways.join(', ')})` });
  }
  if (locator.name !== undefined && locator.role === undefined) problems.push({ path: [...path, 'name'], message: 'name goes with role' });
  if (locator.exact !== undefined && (locator.css !== undefined || locator.test_id !== undefined))
    problems.push({ path: [...path, 'exact'], message: 'exact goes with role, text, label or placeholder' });
  return problems;
}

/**
 * A URL the browser may open or match: of the schemes a target may have, a path resolved against
 * the target, a glob (to match); never with credentials. Not parseUrlTarget: a step's URL is no
 * label, may be relative, and any scheme (`javascript:`) must be named in the message.
 */
function urlProblem(text: string, globs: boolean): string | undefined {
  if (text.startsWith('/') || (globs && text.startsWith('*'))) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is neither a URL nor a path starting with /${globs ? ' nor a glob starting with *' : ''}`;
  }
  const scheme = url.protocol.slice(0, -1);
  if (!Object.hasOwn(PAGE_SCHEMES, scheme)) return `scheme "${scheme}" is not supported (use http:// or https://)`;
  if (url.username || url.password) return 'credentials do not belong in a URL: log in with a fill step and value_file';
  return undefined;
}
