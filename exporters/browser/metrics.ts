/**
 * The metrics of a browser journey. Registered up front, so a failed probe still shows them: the
 * failed step (-1: none), the page counters and the wait for a journey slot. Per step, duration
 * and success only for the steps that ran: a step after the failed one is absent, not 0 (a 0
 * would read as "fast" or as "failed"). Navigation timing and web vitals only when measured.
 */
import type { ProbeRegistry } from '../../src/probe/probe-registry';

export const NAVIGATION_TIMINGS = ['dns', 'connect', 'tls', 'ttfb', 'dom_content_loaded', 'load'] as const;
export type NavigationTiming = Partial<Record<(typeof NAVIGATION_TIMINGS)[number], number>>;

export interface WebVitals {
  lcp?: number;
  fcp?: number;
  cls?: number;
  inp?: number;
}

export interface PageCounters {
  requests: number;
  failedRequests: number;
  transferredBytes: number;
  consoleErrors: number;
  pageErrors: number;
}

export function createBrowserMetrics(registry: ProbeRegistry) {
  const stepDuration = registry.gauge('probe_browser_step_duration_seconds', 'How long each step of the journey took, for the steps that ran', ['step']);
  const stepSuccess = registry.gauge('probe_browser_step_success', 'Whether each step of the journey succeeded, for the steps that ran', ['step']);
  const failedStep = registry.gauge('probe_browser_failed_step', 'The index of the step that failed (0 is loading the target), -1 when none did');
  const slotWait = registry.gauge('probe_browser_slot_wait_seconds', 'How long the journey waited for a free slot in the shared browser');
  const counters = {
    requests: registry.gauge('probe_browser_requests', 'Requests the pages of the journey made'),
    failedRequests: registry.gauge('probe_browser_failed_requests', 'Requests that got no response (network error, aborted) or an error status (>= 400)'),
    transferredBytes: registry.gauge('probe_browser_transferred_bytes', 'Bytes of the responses received, headers and bodies as they came over the wire'),
    consoleErrors: registry.gauge('probe_browser_console_errors', 'Messages the pages logged to the console at level error'),
    pageErrors: registry.gauge('probe_browser_page_errors', 'Uncaught exceptions in the pages'),
  };
  failedStep.set(-1);
  slotWait.set(0);
  for (const counter of Object.values(counters)) counter.set(0);
  return {
    step(label: string, seconds: number, success: boolean) {
      stepDuration.labels(label).set(seconds);
      stepSuccess.labels(label).set(success ? 1 : 0);
    },
    failedStep: (index: number) => failedStep.set(index),
    slotWait: (seconds: number) => slotWait.set(seconds),
    counters(values: PageCounters) {
      for (const [key, series] of Object.entries(counters)) series.set(values[key as keyof PageCounters]);
    },
    navigation(timing: NavigationTiming) {
      const series = registry.gauge(
        'probe_browser_navigation_timing_seconds',
        'Navigation timing of the first page: dns, connect, tls as durations; ttfb, dom_content_loaded, load from the start of the navigation',
        ['timing'],
      );
      for (const name of NAVIGATION_TIMINGS) if (timing[name] !== undefined) series.labels(name).set(timing[name]);
    },
    vitals(vitals: WebVitals) {
      const vital = (name: string, help: string, value: number | undefined) => {
        if (value !== undefined) registry.gauge(name, help).set(value);
      };
      vital('probe_browser_largest_contentful_paint_seconds', 'Largest Contentful Paint of the first page', vitals.lcp);
      vital('probe_browser_first_contentful_paint_seconds', 'First Contentful Paint of the first page', vitals.fcp);
      vital('probe_browser_cumulative_layout_shift', 'Cumulative Layout Shift of the first page (largest session window, shifts after input left out)', vitals.cls);
      vital('probe_browser_interaction_to_next_paint_seconds', 'The slowest interaction with the first page, when the journey interacted with it', vitals.inp);
    },
  };
}

export type BrowserMetrics = ReturnType<typeof createBrowserMetrics>;
