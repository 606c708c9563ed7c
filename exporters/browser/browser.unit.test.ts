/**
 * The browser prober's pure parts, without a browser or a server: reading targets, the config
 * rules of steps (one action, one way to find an element, URLs, paths and globs), a validated
 * step as the union the journey runs, and the pruning of the artifact directory.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import * as path from 'node:path';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';
import { proberSettings } from '../../src/config/schema';
import { ArtifactStore } from './artifacts';
import { journeyStep, type JourneyStep } from './journey-step';
import type { BrowserSettings } from './schema';
import { describeStep, SECRET_SHOWN_AS, stepLabel } from './steps';
import { parseBrowserTarget } from './target';

/** A browser module with this `browser:` section (YAML flow or block, indented by the caller), loaded as the checkpoint loads it. */
function load(section: string): BrowserSettings {
  const config = parseConfig(`modules:\n  login:\n    prober: browser\n    browser:\n${section.replace(/^/gm, '      ')}\n`, 'c.yml', builtInProbers, { checkSecretSources: false });
  const module = config.modules.login;
  if (!module) throw new Error('the module did not load');
  return proberSettings(module) as BrowserSettings;
}

/** The config problems of this section, as `path: message` without the file position. */
function problemsOf(section: string): string[] {
  try {
    load(section);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.replace(/^c\.yml:\d+:\d+: modules\.login\.browser\./, ''));
    throw error;
  }
  return [];
}

function problemOf(target: string): string | undefined {
  const parsed = parseBrowserTarget(target);
  return 'problem' in parsed ? parsed.problem : undefined;
}

describe('targets', () => {
  test('a start URL is read once, with its host and port', () => {
    const parsed = parseBrowserTarget('https://app.example.com/login?next=%2Fhome');
    expect(parsed).toEqual({ target: { url: new URL('https://app.example.com/login?next=%2Fhome'), host: 'app.example.com', port: 443, scheme: 'https' } });
    expect(parseBrowserTarget('http://[2001:db8::5]:8080/')).toMatchObject({ target: { host: '2001:db8::5', port: 8080 } });
  });

  test('a target that is not an http(s) URL, or holds credentials, is refused with a hint', () => {
    expect(problemOf('intranet.example.test')).toBe('target "intranet.example.test" is not a URL (the browser prober needs the start URL, such as https://app.example.com/login)');
    expect(problemOf('ftp://files.example/')).toBe('target scheme "ftp" is not supported by the browser prober (use http:// or https://)');
    expect(problemOf('https://alice:secret@app.example/')).toBe('credentials do not belong in a target, which becomes a label: log in with fill steps and value_file');
  });
});

describe('config rules', () => {
  test('a step has exactly one action', () => {
    expect(problemsOf('steps:\n  - {goto: /a, click: {text: B}}\n  - {name: nothing}')).toEqual([
      'steps.0: a step needs exactly one of goto, click, fill, press, select, wait_for, expect_text, expect_url, expect_title, screenshot, script (found goto, click)',
      'steps.1: a step needs exactly one of goto, click, fill, press, select, wait_for, expect_text, expect_url, expect_title, screenshot, script (found none)',
    ]);
  });

  test('an element is found one way; name goes with role, exact not with css or test_id', () => {
    expect(problemsOf('steps:\n  - click: {label: A, css: "#a"}\n  - click: {text: B, name: C}\n  - click: {css: "#d", exact: true}\n  - select: {option: x}')).toEqual([
      'steps.0.click: needs exactly one of role, text, label, placeholder, test_id, css to find the element (found label, css)',
      'steps.1.click.name: name goes with role',
      'steps.2.click.exact: exact goes with role, text, label or placeholder',
      'steps.3.select: needs exactly one of role, text, label, placeholder, test_id, css to find the element (found none)',
    ]);
    // press without an element goes to whatever has the focus.
    expect(problemsOf('steps:\n  - press: {key: Enter}')).toEqual([]);
  });

  test('fill types exactly one of value and value_file', () => {
    expect(problemsOf('steps:\n  - fill: {label: A}\n  - fill: {label: B, value: x, value_file: /run/secrets/b}')).toEqual([
      'steps.0.fill: needs exactly one of value and value_file',
      'steps.1.fill: needs exactly one of value and value_file',
    ]);
  });

  test('wait_for waits for one thing: an element (with its state), a URL, or network idle', () => {
    expect(problemsOf('steps:\n  - wait_for: {url: /home, network_idle: true}\n  - wait_for: {url: /home, state: hidden}\n  - wait_for: {network_idle: false}')).toEqual([
      'steps.0.wait_for: needs exactly one of an element (role, text, label, placeholder, test_id, css), url and network_idle',
      'steps.1.wait_for.state: state goes with an element',
      'steps.2.wait_for.network_idle: must be true (leave it out otherwise)',
    ]);
  });

  test('goto takes an http(s) URL or a path; expect_url and wait_for.url also a glob; never credentials', () => {
    expect(problemsOf('steps:\n  - goto: https://app.example/a\n  - goto: /a\n  - expect_url: "**/home"\n  - wait_for: {url: "*/home"}')).toEqual([]);
    expect(problemsOf('steps:\n  - goto: "**/home"\n  - goto: ftp://files.example/\n  - goto: "javascript:alert(1)"\n  - expect_url: home\n  - goto: https://alice:pw@app.example/')).toEqual([
      'steps.0.goto: "**/home" is neither a URL nor a path starting with /',
      'steps.1.goto: scheme "ftp" is not supported (use http:// or https://)',
      'steps.2.goto: scheme "javascript" is not supported (use http:// or https://)',
      'steps.3.expect_url: "home" is neither a URL nor a path starting with / nor a glob starting with *',
      'steps.4.goto: credentials do not belong in a URL: log in with a fill step and value_file',
    ]);
  });

  test('durations must be longer than 0s', () => {
    expect(problemsOf('step_timeout: 0s\nartifacts: {max_age: 0s}\nsteps:\n  - {expect_text: Hello, timeout: 0ms}')).toEqual([
      'step_timeout: must be longer than 0s',
      'artifacts.max_age: must be longer than 0s',
      'steps.0.timeout: must be longer than 0s',
    ]);
  });

  test('traces cannot be used with a value_file secret, which a trace would record', () => {
    expect(problemsOf('traces: true\nsteps:\n  - fill: {label: User, value: alice}\n  - fill: {label: Password, value_file: /run/secrets/pw}')).toEqual([
      'traces: traces: true cannot be used with value_file (steps.1): a trace records the typed values',
    ]);
  });
});

describe('a validated step as the journey runs it', () => {
  const steps = (yaml: string): JourneyStep[] => load(`steps:\n${yaml}`).steps.map(journeyStep);

  test('each action with exactly its own arguments', () => {
    expect(
      steps(`  - goto: /a
  - click: {role: button, name: Sign in, exact: true}
    name: Submit
  - fill: {label: User, value: alice}
  - fill: {placeholder: Password, value_file: /run/secrets/pw}
  - press: {key: Enter}
  - press: {test_id: search, key: Enter}
  - select: {css: "#country", option: Germany}
  - wait_for: {url: "**/home"}
  - wait_for: {network_idle: true}
  - wait_for: {text: Welcome, state: attached}
  - {expect_text: Welcome, timeout: 2s}
  - expect_url: /home
  - expect_title: Home
  - screenshot: after-login
  - script: /etc/checkpoint/journey.js`),
    ).toEqual([
      { action: 'goto', url: '/a' },
      { action: 'click', name: 'Submit', locator: { by: 'role', role: 'button', name: 'Sign in', exact: true } },
      { action: 'fill', locator: { by: 'label', value: 'User' }, value: 'alice' },
      { action: 'fill', locator: { by: 'placeholder', value: 'Password' }, value: { file: '/run/secrets/pw' } },
      { action: 'press', key: 'Enter' },
      { action: 'press', locator: { by: 'test_id', value: 'search' }, key: 'Enter' },
      { action: 'select', locator: { by: 'css', value: '#country' }, option: 'Germany' },
      { action: 'wait_for', until: { for: 'url', url: '**/home' } },
      { action: 'wait_for', until: { for: 'network_idle' } },
      { action: 'wait_for', until: { for: 'element', locator: { by: 'text', value: 'Welcome' }, state: 'attached' } },
      { action: 'expect_text', timeout: '2s', text: 'Welcome' },
      { action: 'expect_url', url: '/home' },
      { action: 'expect_title', title: 'Home' },
      { action: 'screenshot', shot: 'after-login' },
      { action: 'script', file: '/etc/checkpoint/journey.js' },
    ]);
  });

  test('is labelled by its name or action, and logged without the secret it types', () => {
    const [login, password, press] = steps('  - click: {role: button, name: Sign in}\n    name: Submit Login!\n  - fill: {label: Password, value_file: /run/secrets/pw}\n  - press: {key: Enter}');
    if (!login || !password || !press) throw new Error('three steps were loaded');
    expect([stepLabel(4, login), stepLabel(2, password)]).toEqual(['4-submit_login_', '2-fill']);
    expect(describeStep(login)).toEqual({ kind: 'click', element: 'role=button name="Sign in"' });
    expect(describeStep(password)).toEqual({ kind: 'fill', element: 'label="Password"', value: SECRET_SHOWN_AS });
    expect(describeStep(press)).toEqual({ kind: 'press', element: undefined, key: 'Enter' });
  });
});

describe('the artifact directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-artifacts-test-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  test('is pruned to max_bytes, oldest first, and to max_age', async () => {
    const store = new ArtifactStore({ dir: path.join(dir, 'prune'), max_bytes: 2500, max_age: '1h' });
    const target = new URL('http://127.0.0.1:8080/login');
    const written = [];
    for (const step of ['a', 'b', 'c']) {
      const file = await store.pathFor(target, step, 'png');
      await fs.writeFile(file, Buffer.alloc(1000));
      await fs.utimes(file, new Date(), new Date(Date.now() - (3 - written.length) * 60_000));
      written.push(path.basename(file));
    }
    const old = await store.pathFor(target, 'old', 'png');
    await fs.writeFile(old, 'x');
    await fs.utimes(old, new Date(), new Date(Date.now() - 2 * 3600_000));
    await store.prune();
    expect((await fs.readdir(store.dir)).sort()).toEqual(written.slice(1).sort());
  });
});
