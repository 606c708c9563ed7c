/**
 * What the pages of a journey did, watched from outside: requests, failures, bytes, console
 * errors, uncaught exceptions, refused downloads, a main-frame navigation that failed, and the web vitals of the
 * first page, measured in the page by PerformanceObserver and reported through a binding.
 */
import type { BrowserContext, Page, Request, Response } from 'playwright-core';
import type { ProbeLog } from '../../src/probe/probe-log';
import type { NavigationTiming, PageCounters, WebVitals } from './metrics';

const BINDING = '__checkpointVital';
/** Console errors and page errors written to the probe log; the rest are only counted. */
const MAX_LOGGED = 5;
/** How long the byte counts of finished requests may take to arrive at the end. */
const SIZES_WAIT_MS = 500;

/**
 * Runs in every document before its own scripts. Each document reports under its own id, so the
 * vitals of the first page are told apart from those of the pages after it. CLS is the largest
 * session window (gaps under 1 s, at most 5 s), as web-vitals computes it; INP is the slowest
 * interaction (first-input counts too, whatever its duration), reported only once there is one.
 */
const VITALS_SCRIPT = `(() => {
  if (window.top !== window || !/^https?:$/.test(location.protocol)) return;
  const doc = String(Math.random()).slice(2);
  window.__checkpointDocument = doc;
  const report = (name, value) => { try { window.${BINDING}(doc, name, value); } catch (e) {} };
  const observe = (type, callback, extra) => { try { new PerformanceObserver((list) => callback(list.getEntries())).observe({ type, buffered: true, ...extra }); } catch (e) {} };
  observe('paint', (entries) => { for (const e of entries) if (e.name === 'first-contentful-paint') report('fcp', e.startTime / 1000); });
  observe('largest-contentful-paint', (entries) => { const last = entries[entries.length - 1]; if (last) report('lcp', last.startTime / 1000); });
  let cls = 0, session = 0, first = 0, previous = 0;
  observe('layout-shift', (entries) => {
    for (const e of entries) {
      if (e.hadRecentInput) continue;
      if (session > 0 && e.startTime - previous < 1000 && e.startTime - first < 5000) session += e.value; else { session = e.value; first = e.startTime; }
      previous = e.startTime;
      if (session > cls) { cls = session; report('cls', cls); }
    }
  });
  let inp = 0;
  const interactions = (entries) => { for (const e of entries) if ((e.interactionId || e.entryType === 'first-input') && e.duration >= inp) { inp = e.duration; report('inp', inp / 1000); } };
  observe('event', interactions, { durationThreshold: 16 });
  observe('first-input', interactions);
})();`;

/** Navigation timing of the document the page shows now, from its PerformanceNavigationTiming entry. */
const NAVIGATION_SCRIPT = `(() => {
  const n = performance.getEntriesByType('navigation')[0];
  return n ? { doc: window.__checkpointDocument, timing: n.toJSON() } : null;
})()`;

interface RawNavigationTiming {
  domainLookupStart: number;
  domainLookupEnd: number;
  connectStart: number;
  secureConnectionStart: number;
  connectEnd: number;
  responseStart: number;
  domContentLoadedEventStart: number;
  loadEventStart: number;
}

export class PageFacts {
  readonly counters: PageCounters = { requests: 0, failedRequests: 0, transferredBytes: 0, consoleErrors: 0, pageErrors: 0 };
  /** Why the main frame's last navigation failed, if it did (a net error or an error status). */
  navigationFailure: string | undefined;
  /** Set when the page's renderer crashed. */
  crashed = false;
  /** Downloads the pages started, each refused. */
  private downloads = 0;
  private readonly vitalsByDocument = new Map<string, WebVitals>();
  private firstDocument: string | undefined;
  private readonly sizes: Promise<void>[] = [];
  /** The journey's page, once it is open. */
  private page: Page | undefined;

  private constructor(private readonly scrub: (text: string) => string) {}

  /**
   * Starts watching a context; call it before the context's first page. The binding and the init
   * script then come with the page as it opens, instead of being evaluated into its blank document.
   */
  static async watch(context: BrowserContext, scrub: (text: string) => string): Promise<PageFacts> {
    const facts = new PageFacts(scrub);
    await Promise.all([
      context.exposeBinding(BINDING, (source, doc: unknown, name: unknown, value: unknown) => {
        if (source.page === facts.page && source.frame === source.page.mainFrame()) facts.vital(String(doc), String(name), Number(value));
      }),
      context.addInitScript(VITALS_SCRIPT),
    ]);
    context.on('request', () => facts.counters.requests++);
    context.on('requestfailed', (request) => facts.requestFailed(request));
    context.on('requestfinished', (request) => facts.requestFinished(request));
    context.on('response', (response) => facts.response(response));
    return facts;
  }

  /** Watches the journey's page: its console errors, uncaught exceptions, downloads and crash. Call before its first navigation. */
  watchPage(page: Page, log: ProbeLog): void {
    this.page = page;
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      if (this.counters.consoleErrors++ < MAX_LOGGED) log.warn('Console error', { text: excerpt(this.scrub(message.text())) });
    });
    page.on('pageerror', (error) => {
      if (this.counters.pageErrors++ < MAX_LOGGED) log.warn('Uncaught exception in the page', { error: excerpt(this.scrub(error.message)) });
    });
    // The context refuses downloads (acceptDownloads: false): a page must not fill the disk.
    page.on('download', (download) => {
      if (this.downloads++ < MAX_LOGGED) log.warn('Refused a download', { url: excerpt(this.scrub(download.url())), file: excerpt(download.suggestedFilename()) });
    });
    page.on('crash', () => {
      this.crashed = true;
    });
  }

  /** The first page's navigation timing; it also marks the document whose vitals are reported. */
  async firstPageTiming(): Promise<NavigationTiming | undefined> {
    const found = await this.page?.evaluate<{ doc?: string; timing: RawNavigationTiming } | null>(NAVIGATION_SCRIPT);
    if (!found) return undefined;
    this.firstDocument = found.doc;
    const t = found.timing;
    const seconds = (ms: number) => Math.max(0, ms) / 1000;
    const tls = t.secureConnectionStart > 0;
    return {
      dns: seconds(t.domainLookupEnd - t.domainLookupStart),
      connect: seconds((tls ? t.secureConnectionStart : t.connectEnd) - t.connectStart),
      tls: tls ? seconds(t.connectEnd - t.secureConnectionStart) : 0,
      ttfb: seconds(t.responseStart),
      ...(t.domContentLoadedEventStart > 0 ? { dom_content_loaded: seconds(t.domContentLoadedEventStart) } : {}),
      ...(t.loadEventStart > 0 ? { load: seconds(t.loadEventStart) } : {}),
    };
  }

  firstPageVitals(): WebVitals {
    return this.firstDocument === undefined ? {} : (this.vitalsByDocument.get(this.firstDocument) ?? {});
  }

  /** The counters with the byte counts of finished requests, waiting briefly for the last ones. */
  async finalCounters(): Promise<PageCounters> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.sizes), new Promise((resolve) => (timer = setTimeout(resolve, SIZES_WAIT_MS)))]);
    clearTimeout(timer);
    return { ...this.counters };
  }

  private vital(doc: string, name: string, value: number): void {
    if (!Number.isFinite(value) || !['lcp', 'fcp', 'cls', 'inp'].includes(name)) return;
    const vitals = this.vitalsByDocument.get(doc) ?? {};
    vitals[name as keyof WebVitals] = value;
    this.vitalsByDocument.set(doc, vitals);
  }

  private requestFailed(request: Request): void {
    this.counters.failedRequests++;
    const errorText = request.failure()?.errorText ?? 'failed';
    // A navigation replaced by another one (a redirect by script, a second click) is aborted on purpose.
    if (this.isMainNavigation(request) && errorText !== 'net::ERR_ABORTED') this.navigationFailure = `${excerpt(this.scrub(request.url()))} failed: ${errorText}`;
  }

  private requestFinished(request: Request): void {
    this.sizes.push(
      request.sizes().then(
        (sizes) => {
          this.counters.transferredBytes += sizes.responseHeadersSize + sizes.responseBodySize;
        },
        () => undefined,
      ),
    );
  }

  private response(response: Response): void {
    if (response.status() < 400) return;
    this.counters.failedRequests++;
    if (this.isMainNavigation(response.request())) this.navigationFailure = `${excerpt(this.scrub(response.url()))} answered ${response.status()}`;
  }

  private isMainNavigation(request: Request): boolean {
    try {
      return request.isNavigationRequest() && request.frame() === this.page?.mainFrame();
    } catch {
      // A request of a service worker has no frame.
      return false;
    }
  }
}

/** Text from the page, cut to a line of at most 200 characters: the page decides how long it is. */
export function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}
