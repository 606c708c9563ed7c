/**
 * Keeps a journey's pages on the module's allowed hosts (src/security/allowed-targets.ts). A
 * login form posted to the intranet must not reach another host, not even through a redirect:
 * a 307 would make the browser post the typed password again, to wherever Location points.
 *
 * Two hooks, because each sees what the other misses:
 * - Playwright's context.route() sees the first request of every navigation, of every page,
 *   popups included, before the page runs; but not the hops of a redirect chain.
 * - The DevTools Fetch domain, enabled on each page before its first request is let through,
 *   pauses every document request of that page, redirect hops included.
 * A request to a host outside the set is failed before anything is sent there.
 */
import type { BrowserContext, CDPSession, Page, Route } from 'playwright-core';
import type { ProbeContext } from '../../src/probe/prober';

type Destinations = NonNullable<ProbeContext<unknown, unknown>['destinations']>;

interface RequestPaused {
  requestId: string;
  request: { url: string };
  /** Set when the request follows a redirect the server answered. */
  redirectedRequestId?: string;
}

export class NavigationGuard {
  /** Why the journey was stopped, once a navigation was refused. */
  refusal?: string;
  private readonly watched = new WeakMap<Page, Promise<void>>();

  private constructor(
    private readonly context: BrowserContext,
    private readonly destinations: Destinations,
  ) {}

  /** Guards every page `context` opens from now on, popups included; call it before the context's first page. */
  static async install(context: BrowserContext, destinations: Destinations): Promise<NavigationGuard> {
    const guard = new NavigationGuard(context, destinations);
    await context.route('**/*', (route) => guard.routed(route));
    return guard;
  }

  private async routed(route: Route): Promise<void> {
    const request = route.request();
    if (!request.isNavigationRequest()) return route.fallback();
    if (!this.allowed(request.url())) {
      this.refuse(`navigation to ${hostOf(request.url())}`);
      return route.abort('blockedbyclient').catch(() => undefined);
    }
    // A popup's page: its redirect hops are seen only once its own Fetch domain is on.
    await this.watch(request.frame().page()).catch(() => undefined);
    return route.fallback();
  }

  /** Pauses every document request of `page` for a check (once per page): the journey's page is watched before its first step, a popup before its first request goes on. */
  watch(page: Page): Promise<void> {
    let watching = this.watched.get(page);
    if (!watching) {
      watching = (async () => {
        const session = await this.context.newCDPSession(page);
        session.on('Fetch.requestPaused', (event: RequestPaused) => void this.decide(session, event));
        await session.send('Fetch.enable', { patterns: [{ urlPattern: '*', resourceType: 'Document', requestStage: 'Request' }] });
      })();
      this.watched.set(page, watching);
    }
    return watching;
  }

  private async decide(session: CDPSession, event: RequestPaused): Promise<void> {
    const { url } = event.request;
    // A page or session closing under us ends the request anyway: a failed send is nothing to report.
    if (this.allowed(url)) {
      await session.send('Fetch.continueRequest', { requestId: event.requestId }).catch(() => undefined);
      return;
    }
    this.refuse(`${event.redirectedRequestId ? 'redirect' : 'navigation'} to ${hostOf(url)}`);
    await session.send('Fetch.failRequest', { requestId: event.requestId, errorReason: 'BlockedByClient' }).catch(() => undefined);
  }

  private refuse(what: string): void {
    this.refusal ??= `${what} refused: ${this.destinations.description}`;
  }

  private allowed(url: string): boolean {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
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
