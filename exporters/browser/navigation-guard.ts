/**
 * Keeps a journey's pages on the module's allowed hosts (src/security/allowed-targets.ts). A
 * login form posted to the intranet must not reach another host, not even through a redirect:
 * a 307 would make the browser post the typed password again, to wherever Location points.
 * Playwright's page.route() sees only the first request of a redirect chain, so the guard asks
 * Chromium itself (the DevTools Fetch domain) to pause every document request, redirect hops
 * included, and lets through only those to allowed hosts. Nothing is sent before the check.
 */
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import type { ProbeContext } from '../../src/probe/prober';

type Destinations = NonNullable<ProbeContext<unknown>['destinations']>;

interface RequestPaused {
  requestId: string;
  request: { url: string };
  /** Set when the request follows a redirect the server answered. */
  redirectedRequestId?: string;
}

export class NavigationGuard {
  /** Why the journey was stopped, once a navigation was refused. */
  refusal?: string;

  private constructor(private readonly destinations: Destinations) {}

  /** Guards `page` and every page the journey opens later (popups, new tabs). */
  static async install(context: BrowserContext, page: Page, destinations: Destinations): Promise<NavigationGuard> {
    const guard = new NavigationGuard(destinations);
    context.on('page', (opened) => void guard.watch(context, opened).catch(() => undefined));
    await guard.watch(context, page);
    return guard;
  }

  private async watch(context: BrowserContext, page: Page): Promise<void> {
    const session = await context.newCDPSession(page);
    session.on('Fetch.requestPaused', (event: RequestPaused) => void this.decide(session, event));
    await session.send('Fetch.enable', { patterns: [{ urlPattern: '*', resourceType: 'Document', requestStage: 'Request' }] });
  }

  private async decide(session: CDPSession, event: RequestPaused): Promise<void> {
    const { url } = event.request;
    // A page or session closing under us ends the request anyway: a failed send is nothing to report.
    if (this.allowed(url)) {
      await session.send('Fetch.continueRequest', { requestId: event.requestId }).catch(() => undefined);
      return;
    }
    this.refusal ??= `${event.redirectedRequestId ? 'redirect' : 'navigation'} to ${hostOf(url)} refused: ${this.destinations.describe}`;
    await session.send('Fetch.failRequest', { requestId: event.requestId, errorReason: 'BlockedByClient' }).catch(() => undefined);
  }

  private allowed(url: string): boolean {
    const parsed = new URL(url);
    // about:blank and data: pages load nothing from anywhere.
    if (parsed.protocol === 'about:' || parsed.protocol === 'data:') return true;
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && this.destinations.allows(parsed);
  }
}

function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.host || parsed.protocol;
  } catch {
    return 'an invalid URL';
  }
}
