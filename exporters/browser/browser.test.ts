/**
 * The browser prober in Debian's real Chromium against a small web app on 127.0.0.1
 * (tests/support/web-app.ts): a login journey that works, and each way a journey breaks; the
 * isolation of probes in the shared browser; its relaunch after a crash or a hang; secrets.
 * Driven the way the checkpoint drives it (probeWith), and once through the real HTTP endpoints.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import * as path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { startCaptureServer, type CaptureServer } from '../../tests/support/capture-server';
import { startCheckpoint } from '../../tests/support/checkpoint-server';
import { refusedPort } from '../../tests/support/ports';
import { eventually, probeWith, recordProbeSignals, type ProbeOptions, type Probed } from '../../tests/support/probe-harness';
import { DOWNLOAD_BYTES, SLOW_IMAGE_MS, startWebApp, WEB_PASSWORD, WEB_USER, type WebApp } from '../../tests/support/web-app';
import { chromium } from 'playwright-core';
import { builtInProbers } from '../../src/cli/probers';
import { CHECKPOINT_DISABLED_FEATURES, launchArgs } from './chromium-switches';
import { sharedBrowsers } from './shared-browser';

// Chromium on a shared, loaded machine: a journey that succeeds in a second when the CPU is idle
// may take many times that. Deadlines and step timeouts are generous wherever the page or element
// waited for does come; only a wait for what never comes is kept short, and no test times anything.
jest.setTimeout(180_000);

/** The deadline of a probe whose journey should get where it goes. */
const ROOMY_DEADLINE_SECONDS = 30;
/** What a probe may take past its deadline on a loaded machine (closing its context), before it counts as not ending at its deadline. */
const PAST_DEADLINE_MS = 10_000;

let app: WebApp;
let dir: string;
let files: { password: string; wrongPassword: string; missing: string; script: string; failingScript: string };
let signals: ReturnType<typeof recordProbeSignals>;

beforeAll(async () => {
  app = await startWebApp();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'checkpoint-browser-test-'));
  const file = (name: string) => path.join(dir, name);
  files = { password: file('password'), wrongPassword: file('wrong-password'), missing: file('no-such-file'), script: file('journey.js'), failingScript: file('failing.js') };
  await fs.writeFile(files.password, `${WEB_PASSWORD}\n`);
  await fs.writeFile(files.wrongPassword, 'not-the-password-at-all');
  await fs.writeFile(
    files.script,
    `module.exports = async (page, context, journey) => {
      await page.goto(new URL('/home', journey.target).href);
      await page.getByRole('link', { name: 'Reports' }).waitFor();
    };`,
  );
  await fs.writeFile(files.failingScript, `module.exports = async (page) => { if ((await page.title()) !== 'Elsewhere') throw new Error('not where the script expected'); };`);
  signals = recordProbeSignals();
});

afterAll(async () => {
  signals?.restore();
  await builtInProbers.close();
  await app?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

// Nothing may outlive a probe: no context in the shared browser, no listener on its deadline,
// no connection to the web app.
afterEach(async () => {
  const left = signals.listenersLeft();
  expect(left).toEqual(left.map(() => 0));
  await eventually(() => sharedBrowsers.openContexts() === 0 && app.openConnections() === 0, 15_000);
  expect({ contexts: sharedBrowsers.openContexts(), connections: app.openConnections() }).toEqual({ contexts: 0, connections: 0 });
});

function probe(target: string, section = '', options: ProbeOptions = {}): Promise<Probed> {
  return probeWith('browser', `${app.url}${target}`, [`artifacts: {dir: ${path.join(dir, 'artifacts')}}`, section].join('\n'), { deadlineSeconds: ROOMY_DEADLINE_SECONDS, ...options });
}

const LOGIN_STEPS = (passwordFile: string) => `
steps:
  - fill: {label: Username, value: ${WEB_USER}}
  - fill: {label: Password, value_file: ${passwordFile}}
  - select: {label: Country, option: Germany}
  - click: {role: button, name: Sign in}
    name: Submit Login!
  - expect_url: /home
  - expect_text: Welcome ${WEB_USER}
  - expect_title: Home`;

/** Chromium processes started by this jest worker (the browser's children are its own). */
function ourChromiums(): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,comm=']).toString();
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, ppid, comm]) => Number(ppid) === process.pid && /chrom/.test(comm ?? ''))
    .map(([pid]) => Number(pid));
}

/** The shared browser's Chromium; a test that expected one fails here when there is none. */
function ourChromium(): number {
  const [pid] = ourChromiums();
  if (pid === undefined) throw new Error('no Chromium of this worker is running');
  return pid;
}

/** The processes of a process group (Chromium leads its own; its children share it). */
function processGroup(pgid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=']).toString();
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .flatMap(([pid, group]) => (group === pgid && pid !== undefined ? [pid] : []));
}

/** The one artifact a probe saved; a test that expected exactly one fails here otherwise. */
function onlyArtifact(saved: string[]): string {
  const [file, ...others] = saved;
  if (file === undefined || others.length > 0) throw new Error(`expected one new artifact, found ${JSON.stringify(saved)}`);
  return file;
}

async function artifactFiles(): Promise<string[]> {
  return (await fs.readdir(path.join(dir, 'artifacts')).catch(() => [] as string[])).sort();
}

describe('a login journey', () => {
  test('succeeds, with a duration and success per step, navigation timing, web vitals and page counters', async () => {
    const probed = await probe('/login', LOGIN_STEPS(files.password));
    expect(probed.reason).toBeUndefined();
    const labels = ['0-goto', '1-fill', '2-fill', '3-select', '4-submit_login_', '5-expect_url', '6-expect_text', '7-expect_title'];
    for (const step of labels) {
      expect(probed.get('probe_browser_step_success', { step })).toBe(1);
      expect(probed.get('probe_browser_step_duration_seconds', { step })).toBeGreaterThan(0);
    }
    expect(probed.get('probe_browser_failed_step')).toBe(-1);
    for (const timing of ['dns', 'connect', 'tls', 'ttfb', 'dom_content_loaded', 'load']) expect(probed.get('probe_browser_navigation_timing_seconds', { timing })).toBeGreaterThanOrEqual(0);
    expect(probed.get('probe_browser_navigation_timing_seconds', { timing: 'load' })).toBeGreaterThan(0);
    expect(probed.get('probe_browser_first_contentful_paint_seconds')).toBeGreaterThan(0);
    expect(probed.get('probe_browser_largest_contentful_paint_seconds')).toBeGreaterThan(0);
    expect(probed.get('probe_browser_cumulative_layout_shift')).toBeUndefined();
    // GET /login, POST /login, GET /home at least.
    expect(probed.get('probe_browser_requests')).toBeGreaterThanOrEqual(3);
    expect(probed.get('probe_browser_failed_requests')).toBe(0);
    expect(probed.get('probe_browser_transferred_bytes')).toBeGreaterThan(500);
    expect(probed.get('probe_browser_console_errors')).toBe(0);
    expect(probed.get('probe_browser_page_errors')).toBe(0);
    expect(app.homeCookies.at(-1)).toMatch(/^session=[a-f0-9]+$/);
    expect(probed.logText).toContain('value="<secret from value_file>"');
    expect(probed.logText).not.toContain(WEB_PASSWORD);
  });

  test('press, wait_for (url, element, network idle) and a screenshot step', async () => {
    const before = await artifactFiles();
    const probed = await probe(
      '/login',
      `steps:
  - fill: {css: "#user", value: ${WEB_USER}}
  - fill: {label: Password, value_file: ${files.password}}
  - press: {label: Password, key: Enter}
  - wait_for: {url: "**/home"}
  - wait_for: {role: heading, name: Welcome ${WEB_USER}}
  - wait_for: {network_idle: true}
  - screenshot: after-login`,
    );
    expect(probed.reason).toBeUndefined();
    expect(probed.get('probe_browser_step_success', { step: '7-screenshot' })).toBe(1);
    const saved = (await artifactFiles()).filter((name) => !before.includes(name));
    expect(saved).toEqual([expect.stringMatching(/-7-after-login-\w+\.png$/)]);
    expect(probed.logText).toContain(onlyArtifact(saved));
  });

  test('a wrong password fails expect_url, the step after the login, with reason assertion and a screenshot', async () => {
    const before = await artifactFiles();
    // The other steps get the default step_timeout; only the URL that never comes is waited for briefly.
    const probed = await probe('/login', LOGIN_STEPS(files.wrongPassword).replace('- expect_url: /home', '- {expect_url: /home, timeout: 1s}'));
    expect(probed.reason).toBe('assertion');
    expect(probed.get('probe_browser_failed_step')).toBe(5);
    expect(probed.get('probe_browser_step_success', { step: '4-submit_login_' })).toBe(1);
    expect(probed.get('probe_browser_step_success', { step: '5-expect_url' })).toBe(0);
    // Steps after the failed one did not run: absent, not 0.
    expect(probed.get('probe_browser_step_success', { step: '6-expect_text' })).toBeUndefined();
    expect(probed.result.failure?.message).toMatch(/^step 5-expect_url: the URL is .*\/login, not \/home/);
    const saved = (await artifactFiles()).filter((name) => !before.includes(name));
    expect(saved).toEqual([expect.stringMatching(/^.*-127\.0\.0\.1_\d+-5-expect_url-\w+\.png$/)]);
    expect(probed.logText).toContain(path.join(dir, 'artifacts', onlyArtifact(saved)));
    expect(probed.logText).not.toContain('not-the-password-at-all');
  });

  test('expect_text that does not hold fails with reason assertion on its step', async () => {
    const probed = await probe('/login', `steps:\n  - {expect_text: Welcome ${WEB_USER}, timeout: 1s}`);
    expect(probed.reason).toBe('assertion');
    expect(probed.get('probe_browser_failed_step')).toBe(1);
    expect(probed.result.failure?.message).toContain('the text "Welcome alice" did not appear within 1s');
  });

  test('a missing element fails with reason not_found', async () => {
    const probed = await probe('/login', 'steps:\n  - click: {role: button, name: Register}\n    timeout: 1s');
    expect(probed.reason).toBe('not_found');
    expect(probed.get('probe_browser_failed_step')).toBe(1);
    expect(probed.result.failure?.message).toContain('no element role=button name="Register" could be used for click within 1s');
  });

  test('a slow resource past the deadline fails with reason timeout, within the deadline', async () => {
    // The image answers 8 s after it is asked for: after this deadline however slow the machine,
    // which leaves the page time to load and ask for it.
    const deadlineSeconds = 5;
    expect(SLOW_IMAGE_MS).toBeGreaterThan(deadlineSeconds * 1000);
    const started = Date.now();
    const probed = await probe('/slow-resource', '', { deadlineSeconds });
    expect(probed.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(deadlineSeconds * 1000 + PAST_DEADLINE_MS);
    expect(probed.get('probe_browser_failed_step')).toBe(0);
    expect(probed.get('probe_browser_requests')).toBeGreaterThanOrEqual(2);
  });

  test('a page that never finishes loading fails with reason timeout; no screenshot is taken at the deadline', async () => {
    const before = await artifactFiles();
    const started = Date.now();
    const probed = await probe('/never-loads', '', { deadlineSeconds: 2 });
    expect(probed.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000 + PAST_DEADLINE_MS);
    expect(await artifactFiles()).toEqual(before);
  });

  test('a download a click starts is refused and logged; the journey goes on', async () => {
    const sentBefore = app.downloadBytesSent();
    const probed = await probe('/downloads', `steps:\n  - click: {role: link, name: Get the export}\n  - expect_text: Exports`);
    expect(probed.result.success).toBe(true);
    expect(probed.logText).toMatch(/msg="Refused a download" url=http:\/\/127\.0\.0\.1:\d+\/download file=export\.bin/);
    // Cancelled at once: of the 200 MiB offered, no more than socket buffers' worth left the server.
    expect(app.downloadBytesSent() - sentBefore).toBeLessThan(DOWNLOAD_BYTES / 10);
  });

  test('a target that is a download fails step 0 with reason navigation, saying downloads are refused', async () => {
    const sentBefore = app.downloadBytesSent();
    const probed = await probe('/download');
    expect(probed.reason).toBe('navigation');
    expect(probed.result.failure?.message).toMatch(/^step 0-goto: http:\/\/127\.0\.0\.1:\d+\/download is a download, and the browser prober refuses downloads$/);
    expect(app.downloadBytesSent() - sentBefore).toBeLessThan(DOWNLOAD_BYTES / 10);
  });

  test('a page that throws is counted, with its console error, and logged', async () => {
    const probed = await probe('/throws');
    expect(probed.result.success).toBe(true);
    expect(probed.get('probe_browser_page_errors')).toBe(1);
    expect(probed.get('probe_browser_console_errors')).toBe(1);
    expect(probed.logText).toContain('boom from the page');
  });

  test('a 500 mid-journey fails the step that led there with reason navigation', async () => {
    const probed = await probe('/login', `${LOGIN_STEPS(files.password)}\n  - click: {role: link, name: Reports}\n  - expect_text: Reports`);
    expect(probed.reason).toBe('navigation');
    expect(probed.get('probe_browser_failed_step')).toBeGreaterThanOrEqual(8);
    expect(probed.result.failure?.message).toMatch(/\/error answered 500/);
    expect(probed.get('probe_browser_failed_requests')).toBe(1);
  });

  test('a target that answers 500 fails step 0 with reason navigation; a refused connection too', async () => {
    const probed = await probe('/error');
    expect(probed.reason).toBe('navigation');
    expect(probed.get('probe_browser_failed_step')).toBe(0);
    expect(probed.names.has('probe_browser_navigation_timing_seconds')).toBe(false);
    const refused = await probeWith('browser', `http://127.0.0.1:${await refusedPort()}/`, `screenshots: false`, { deadlineSeconds: ROOMY_DEADLINE_SECONDS });
    expect(refused.reason).toBe('navigation');
    expect(refused.result.failure?.message).toContain('ERR_CONNECTION_REFUSED');
  });

  test('screenshots: false saves nothing; traces: true saves the trace of a failed journey', async () => {
    const before = await artifactFiles();
    const off = await probe('/error', 'screenshots: false');
    expect(off.reason).toBe('navigation');
    expect(await artifactFiles()).toEqual(before);
    const traced = await probe('/error', 'screenshots: false\ntraces: true');
    expect(traced.reason).toBe('navigation');
    const saved = (await artifactFiles()).filter((name) => !before.includes(name));
    expect(saved).toEqual([expect.stringMatching(/-0-goto-\w+\.zip$/)]);
    const zip = await fs.readFile(path.join(dir, 'artifacts', onlyArtifact(saved)));
    expect(zipEntries(zip).map((entry) => entry.name)).toContain('trace.trace');
  });

  test('a journey script runs as one step; one that throws fails with reason assertion', async () => {
    const ok = await probe('/login', `${LOGIN_STEPS(files.password)}\n  - script: ${files.script}`);
    expect(ok.reason).toBeUndefined();
    expect(ok.get('probe_browser_step_success', { step: '8-script' })).toBe(1);
    const failing = await probe('/login', `steps:\n  - script: ${files.failingScript}`);
    expect(failing.reason).toBe('assertion');
    expect(failing.result.failure?.message).toContain('not where the script expected');
  });

  test('an unreadable value_file or script fails with reason config before the browser is used', async () => {
    const missingSecret = await probe('/login', `steps:\n  - fill: {label: Password, value_file: ${files.missing}}`);
    expect(missingSecret.reason).toBe('config');
    expect(missingSecret.names.has('probe_browser_step_success')).toBe(false);
    const missingScript = await probe('/login', `steps:\n  - script: ${files.missing}.js`);
    expect(missingScript.reason).toBe('config');
  });
});

describe('the shared browser', () => {
  test('two probes in a row do not share cookies', async () => {
    const first = await probe('/login', LOGIN_STEPS(files.password));
    expect(first.result.success).toBe(true);
    const second = await probe('/home', 'steps:\n  - {expect_url: /home, timeout: 1s}');
    // Without the first probe's cookie, /home sends the browser to the login page.
    expect(second.reason).toBe('assertion');
    expect(app.homeCookies.at(-1)).toBeUndefined();
  });

  test('a journey waits for a free slot within its deadline, and says so when it runs out', async () => {
    // The busy journey holds the one slot until its deadline (its page never loads, and its step
    // waits longer than that), long past the waiting one's: that slot never comes, however slow the machine.
    const busy = probe('/never-loads', 'max_concurrent_journeys: 1\nstep_timeout: 60s', { deadlineSeconds: 15 });
    expect(await eventually(() => sharedBrowsers.openContexts() === 1, 10_000)).toBe(true);
    const waiting = await probe('/login', 'max_concurrent_journeys: 1', { deadlineSeconds: 1 });
    expect(waiting.reason).toBe('timeout');
    expect(waiting.result.failure?.message).toContain('waiting for a free journey slot');
    expect((await busy).reason).toBe('timeout');
    const after = await probe('/login', 'max_concurrent_journeys: 1');
    expect(after.result.success).toBe(true);
    expect(after.get('probe_browser_slot_wait_seconds')).toBeLessThan(0.5);
  });

  test('a Chromium killed during a journey fails that probe with browser_crash; the next probe relaunches it and succeeds', async () => {
    await probe('/login');
    const pid = ourChromium();
    expect(pid).toBeGreaterThan(0);
    const running = probe('/slow-resource');
    await eventually(() => (app.requests.get('/slow-image') ?? 0) > 0 && sharedBrowsers.openContexts() === 1, 20_000);
    const slowImages = app.requests.get('/slow-image');
    expect(slowImages).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const crashed = await running;
    expect(crashed.reason).toBe('browser_crash');
    // Its renderers, GPU and network processes go with it, not left as orphans.
    expect(await eventually(() => processGroup(pid).length === 0, 15_000)).toBe(true);
    const next = await probe('/login', LOGIN_STEPS(files.password));
    expect(next.result.success).toBe(true);
    expect(ourChromiums()).not.toContain(pid);
    expect(next.logText).toContain('Launching the shared browser');
  });

  test('a hung Chromium is killed, the probe fails with browser_crash, and the next probe succeeds', async () => {
    await probe('/login');
    const pid = ourChromium();
    process.kill(pid, 'SIGSTOP');
    const hung = await probe('/login');
    expect(hung.reason).toBe('browser_crash');
    expect(hung.result.failure?.message).toContain('did not open a context within 5s');
    const next = await probe('/login');
    expect(next.result.success).toBe(true);
    expect(ourChromiums()).not.toContain(pid);
  });
});

describe("the browser's command line", () => {
  const features = (arg: string) => arg.slice('--disable-features='.length).split(',');

  // Chromium reads only the last --disable-features: ours must hold Playwright's, and a module's.
  test("one --disable-features, last, holds Playwright's features, ours and the module's; Chromium applies it", async () => {
    const launch = { executable_path: '/usr/bin/chromium', args: ['--disable-features=DocumentPictureInPictureAPI'] };
    const server = await chromium.launchServer({ executablePath: launch.executable_path, args: launchArgs(launch) });
    const browser = await chromium.connect(server.wsEndpoint());
    try {
      const switches = server.process().spawnargs.filter((arg) => arg.startsWith('--disable-features='));
      expect(switches).toHaveLength(2);
      const [playwrights, ours] = [features(switches[0] ?? ''), features(switches.at(-1) ?? '')];
      expect(ours).toEqual(expect.arrayContaining([...playwrights, ...CHECKPOINT_DISABLED_FEATURES, 'DocumentPictureInPictureAPI']));

      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${app.url}/login`);
      // The module's feature is off (the API it gates is gone), and no window preloads the address bar's drop-downs.
      expect(await page.evaluate("'documentPictureInPicture' in window")).toBe(false);
      const cdp = await browser.newBrowserCDPSession();
      const { targetInfos } = (await cdp.send('Target.getTargets')) as { targetInfos: { url: string }[] };
      expect(targetInfos.map((target) => target.url)).toEqual([`${app.url}/login`]);
      await context.close();
    } finally {
      await browser.close();
      await server.close();
    }
  });
});

describe('allowed hosts', () => {
  let capture: CaptureServer;
  beforeAll(async () => {
    capture = await startCaptureServer();
  });
  afterAll(() => capture?.close());

  const leave = () => `/leave?to=${encodeURIComponent(`${capture.url}/steal`)}`;
  beforeEach(() => {
    capture.connections = 0;
  });

  // Chromium may open a TCP connection to a link's host as the mouse moves over it (a preconnect,
  // no byte sent); what matters is that no request goes there.
  test("a link to a host outside the module's allowed targets fails the step with reason forbidden, and no byte reaches that host", async () => {
    const probed = await probe(leave(), 'steps:\n  - click: {role: link, name: Elsewhere, exact: true}\n  - expect_text: never here');
    expect(probed.reason).toBe('forbidden');
    expect(probed.result.failure?.message).toBe(
      `step 1-click: navigation to ${capture.host}:${capture.port} refused: module "under_test" may reach only the targets of its monitors and its allowed_targets (it is a browser module)`,
    );
    expect(capture.received()).toBe('');
  });

  test('a typed password posted to the app and redirected elsewhere with 307 is not posted again there', async () => {
    const probed = await probe(leave(), `steps:\n  - fill: {label: Password, value_file: ${files.password}}\n  - click: {role: button, name: Send}`);
    expect(probed.reason).toBe('forbidden');
    expect(probed.result.failure?.message).toContain(`redirect to ${capture.host}:${capture.port} refused`);
    expect(probed.logText).not.toContain(WEB_PASSWORD);
    expect({ connections: capture.connections, received: capture.received() }).toEqual({ connections: 0, received: '' });
  });

  test('a page opened in a new tab is held to the allowed hosts too', async () => {
    // The text never comes; while it is waited for, the new tab's navigation is refused.
    const probed = await probe(leave(), 'steps:\n  - click: {role: link, name: Elsewhere in a new tab}\n  - {expect_text: never here, timeout: 10s}');
    expect(probed.reason).toBe('forbidden');
    expect(probed.result.failure?.message).toContain(`navigation to ${capture.host}:${capture.port} refused`);
    expect(capture.received()).toBe('');
  });

  test('allowed_targets admits another host for navigations', async () => {
    const probed = await probe(leave(), 'steps:\n  - click: {role: link, name: Elsewhere, exact: true}', { moduleKeys: `allowed_targets: [${capture.host}]`, deadlineSeconds: 10 });
    // The capture server answers nothing: the journey times out there, after the browser connected.
    expect(probed.reason).toBe('timeout');
    expect(capture.connections).toBeGreaterThan(0);
  });
});

describe('secrets', () => {
  test('a value_file secret is absent from logs, ?debug=true and the status page, and traces refuse it', async () => {
    const config = `
modules:
  login:
    prober: browser
    timeout: ${ROOMY_DEADLINE_SECONDS}s
    browser:
      artifacts: {dir: ${path.join(dir, 'artifacts')}}
${LOGIN_STEPS(files.password).replace(/^/gm, '      ')}
        - {expect_text: Goodbye, timeout: 1s}
monitors:
  - {name: login, module: login, target: ${JSON.stringify(`${app.url}/login`)}}
`;
    const checkpoint = await startCheckpoint(config);
    try {
      const target = encodeURIComponent(`${app.url}/login`);
      const debug = await (await fetch(`${checkpoint.url}/probe?module=login&target=${target}&debug=true`)).text();
      expect(debug).toContain('probe_browser_failed_step 8');
      expect(debug).toContain('<secret from value_file>');
      const status = await (await fetch(`${checkpoint.url}/`)).text();
      expect(status).toContain('login');
      for (const text of [debug, status, checkpoint.logLines.join('\n')]) expect(text).not.toContain(WEB_PASSWORD);
    } finally {
      await checkpoint.stop();
    }
    await expect(probe('/login', `traces: true\n${LOGIN_STEPS(files.password)}`)).rejects.toThrow(/traces: true cannot be used with value_file \(steps.1\)/);
  });
});

describe('shutdown', () => {
  test('close() ends the shared browser: no Chromium of ours is left', async () => {
    await probe('/login');
    const pid = ourChromium();
    expect(ourChromiums()).toEqual([pid]);
    await builtInProbers.close();
    expect(await eventually(() => ourChromiums().length === 0 && processGroup(pid).length === 0, 15_000)).toBe(true);
  });
});

/** The entries of a zip file (its central directory), inflated: enough to look inside a Playwright trace. */
function zipEntries(zip: Buffer): { name: string; data: Buffer }[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(offset + 10);
    const size = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const local = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataStart, dataStart + size);
    entries.push({ name, data: method === 8 ? inflateRawSync(raw) : raw });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
