/**
 * The warm Chromium every journey shares: launched on first use, relaunched after it crashed or
 * hung, closed when the checkpoint stops. Each journey gets its own fresh context (no cookies,
 * cache or storage from another probe). Modules with the same launch settings share one browser;
 * different settings (another executable, other flags) get one each.
 *
 * The browser runs as a Playwright browser server we connect to, because that is the documented
 * way to hold the process itself: a browser that stops answering is killed, not waited for.
 */
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type BrowserServer } from 'playwright-core';
import { setTimeout as delay } from 'node:timers/promises';
import { abortable } from '../../src/probe/abortable';
import { firstLine, ProbeFailure } from '../../src/probe/failure';
import type { ProbeLog } from '../../src/probe/probe-log';
import { launchArgs } from './chromium-switches';
import { JourneySlots } from './journey-slots';
import type { LaunchSettings } from './schema';

/** A browser that does not open a context in this time is taken as hung, killed and replaced. */
export const HANG_TIMEOUT_MS = 5_000;
/** Closing a context takes milliseconds; a browser that needs more than this after the deadline is hung. */
const CLOSE_GRACE_MS = 1_000;
/** How long a first launch may take; it goes on for the next probe if this probe's deadline ends first. */
const LAUNCH_TIMEOUT_MS = 30_000;

interface Running {
  server: BrowserServer;
  browser: Browser;
  broken: boolean;
}

/** What a journey needs from a browser; the benchmark swaps in a fresh browser per probe. */
export interface BrowserSource {
  slots(launch: LaunchSettings): JourneySlots;
  /** A fresh context, or a ProbeFailure: `browser_crash` (hung, crashed, cannot start), `config` (no such executable), `timeout`. */
  newContext(launch: LaunchSettings, options: BrowserContextOptions, signal: AbortSignal, log: ProbeLog): Promise<BrowserContext>;
  /** Closes a context, killing the browser when it does not answer (by the deadline, or a second after it). */
  closeContext(launch: LaunchSettings, context: BrowserContext, deadline: number): Promise<void>;
  close(): Promise<void>;
}

export class SharedBrowser {
  readonly slots = new JourneySlots();
  private running: Running | undefined;
  private launching: Promise<Running> | undefined;

  constructor(private readonly launch: LaunchSettings) {}

  async newContext(options: BrowserContextOptions, signal: AbortSignal, log: ProbeLog): Promise<BrowserContext> {
    const running = await this.ready(signal, log);
    const opening = running.browser.newContext(options);
    let outcome: 'context' | 'hung' | 'aborted';
    const hang = new AbortController();
    try {
      outcome = await Promise.race([
        opening.then(() => 'context' as const),
        delay(HANG_TIMEOUT_MS, 'hung' as const, { signal: hang.signal }),
        new Promise<'aborted'>((resolve) => (signal.aborted ? resolve('aborted') : signal.addEventListener('abort', () => resolve('aborted'), { once: true, signal: hang.signal }))),
      ]);
    } catch (error) {
      throw running.broken ? crashed(error) : error;
    } finally {
      hang.abort();
    }
    if (outcome === 'context') return opening;
    // The context may still arrive after we stopped waiting: nobody else will close it.
    opening
      .then(
        (context) => context.close(),
        () => undefined,
      )
      .catch(() => undefined);
    if (outcome === 'aborted') throw new ProbeFailure('timeout', 'the deadline passed while the browser opened a context');
    log.error('The browser did not open a context in time: killing it', { wait_seconds: HANG_TIMEOUT_MS / 1000 });
    await this.kill(running);
    throw new ProbeFailure('browser_crash', `the browser did not open a context within ${HANG_TIMEOUT_MS / 1000}s: it was killed and is relaunched for the next probe`);
  }

  /** Closes a journey's context; a browser that does not manage it in time is killed, so the probe's answer is not late. */
  async closeContext(context: BrowserContext, deadline: number): Promise<void> {
    // Only the browser the context lives in: it may be an older one, already replaced.
    const running = this.running?.browser === context.browser() ? this.running : undefined;
    const closed = await settlesWithin(context.close(), Math.min(HANG_TIMEOUT_MS, Math.max(CLOSE_GRACE_MS, deadline - Date.now())));
    if (!closed && running) await this.kill(running);
  }

  /** Pages of all journeys still open, for tests that check nothing outlives a probe. */
  openContexts(): number {
    return this.running && !this.running.broken ? this.running.browser.contexts().length : 0;
  }

  async close(): Promise<void> {
    const running = this.running ?? (await this.launching?.catch(() => undefined));
    this.running = undefined;
    if (!running) return;
    running.broken = true;
    await running.browser.close().catch(() => undefined);
    // close() lets Chromium shut down cleanly; one that does not is killed.
    if (!(await settlesWithin(running.server.close(), HANG_TIMEOUT_MS))) await running.server.kill().catch(() => undefined);
  }

  private async ready(signal: AbortSignal, log: ProbeLog): Promise<Running> {
    if (this.running && !this.running.broken) return this.running;
    if (!this.launching) {
      log.info('Launching the shared browser', { executable: this.launch.executable_path, previous: this.running ? 'crashed or hung' : 'none' });
      this.launching = this.start().finally(() => {
        this.launching = undefined;
      });
    }
    const launching = this.launching;
    // The launch is shared: a probe whose deadline ends first leaves it running for the next one.
    launching.catch(() => undefined);
    return abortable(launching, signal).catch((error: unknown) => {
      throw signal.aborted ? new ProbeFailure('timeout', 'the deadline passed while the browser was starting') : launchFailure(error, this.launch.executable_path);
    });
  }

  private async start(): Promise<Running> {
    const server = await chromium.launchServer({
      executablePath: this.launch.executable_path,
      args: launchArgs(this.launch),
      timeout: LAUNCH_TIMEOUT_MS,
      // The checkpoint decides when the browser goes (close()), not a signal sent to the process group.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    let browser: Browser;
    try {
      browser = await chromium.connect(server.wsEndpoint(), { timeout: LAUNCH_TIMEOUT_MS });
    } catch (error) {
      await server.kill().catch(() => undefined);
      throw error;
    }
    const running: Running = { server, browser, broken: false };
    const lost = () => {
      running.broken = true;
      void this.kill(running);
    };
    browser.on('disconnected', lost);
    server.on('close', lost);
    this.running = running;
    return running;
  }

  private async kill(running: Running): Promise<void> {
    running.broken = true;
    const pid = running.server.process().pid;
    await running.server.kill().catch(() => undefined);
    // Playwright starts Chromium as the leader of its own process group, but once the leader is
    // gone (crashed, killed) it no longer signals the group: the renderers, GPU and network
    // processes would linger as orphans until they notice.
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    }
  }
}

/** One SharedBrowser per distinct launch settings. */
export class SharedBrowsers implements BrowserSource {
  private readonly browsers = new Map<string, SharedBrowser>();

  get(launch: LaunchSettings): SharedBrowser {
    const key = JSON.stringify([launch.executable_path, launchArgs(launch)]);
    let browser = this.browsers.get(key);
    if (!browser) this.browsers.set(key, (browser = new SharedBrowser(launch)));
    return browser;
  }

  slots(launch: LaunchSettings): JourneySlots {
    return this.get(launch).slots;
  }

  newContext(launch: LaunchSettings, options: BrowserContextOptions, signal: AbortSignal, log: ProbeLog): Promise<BrowserContext> {
    return this.get(launch).newContext(options, signal, log);
  }

  closeContext(launch: LaunchSettings, context: BrowserContext, deadline: number): Promise<void> {
    return this.get(launch).closeContext(context, deadline);
  }

  openContexts(): number {
    return [...this.browsers.values()].reduce((sum, browser) => sum + browser.openContexts(), 0);
  }

  async close(): Promise<void> {
    await Promise.all([...this.browsers.values()].map((browser) => browser.close()));
  }
}

export const sharedBrowsers = new SharedBrowsers();

/** Whether `promise` settles (either way) within `ms`; the timer goes as soon as it does. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      delay(ms, false, { signal: timer.signal }),
    ]);
  } finally {
    timer.abort();
  }
}

/** A failure to launch: a missing executable is the config's fault, anything else the browser's. */
function launchFailure(error: unknown, executable: string): ProbeFailure {
  if (error instanceof ProbeFailure) return error;
  const message = firstLine(error);
  if (/ENOENT|doesn't exist|no such file/i.test(message)) return new ProbeFailure('config', `the browser executable ${executable} does not exist`);
  return new ProbeFailure('browser_crash', `the browser did not start: ${message}`);
}

function crashed(error: unknown): ProbeFailure {
  return new ProbeFailure('browser_crash', `the browser went away: ${firstLine(error)}`);
}
