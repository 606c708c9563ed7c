/** Used when Prometheus does not say how long it will wait (a curl, a probe from the shell). */
export const DEFAULT_SCRAPE_TIMEOUT_SECONDS = 120;

export interface DeadlineInputs {
  /** The module's `timeout:`, if it has one. */
  moduleTimeoutSeconds?: number;
  /** The raw `X-Prometheus-Scrape-Timeout-Seconds` header, if the request had one. */
  scrapeTimeoutHeader?: string;
  /** `--timeout-offset`: kept back so the answer reaches Prometheus before it gives up. */
  offsetSeconds: number;
  /** `--probe.max-timeout`: no probe runs longer, whatever the module or the header says. */
  maxSeconds: number;
}

/** setTimeout fires at once past 2^31-1 ms; `--probe.max-timeout` may not come near it. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * How long a probe may run: the smallest of the module's timeout, the scrape timeout less the
 * offset, and the cap. Returns an error text for a header that is not a positive number, so the
 * caller can answer 400 instead of guessing.
 */
export function probeDeadlineSeconds(inputs: DeadlineInputs): number | { error: string } {
  const uncapped = uncappedDeadlineSeconds(inputs);
  return typeof uncapped === 'number' ? Math.min(uncapped, inputs.maxSeconds, MAX_TIMER_SECONDS) : uncapped;
}

function uncappedDeadlineSeconds(inputs: DeadlineInputs): number | { error: string } {
  let scrapeSeconds = DEFAULT_SCRAPE_TIMEOUT_SECONDS;
  if (inputs.scrapeTimeoutHeader !== undefined) {
    const text = inputs.scrapeTimeoutHeader.trim();
    const parsed = Number(text);
    // A plain decimal, as Prometheus sends it; Number() alone would also take hex and "Infinity".
    if (!/^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) || !Number.isFinite(parsed) || parsed <= 0) {
      return { error: `invalid X-Prometheus-Scrape-Timeout-Seconds header: ${JSON.stringify(inputs.scrapeTimeoutHeader)}` };
    }
    scrapeSeconds = parsed;
  }
  const allowed = scrapeSeconds - inputs.offsetSeconds;
  const moduleSeconds = inputs.moduleTimeoutSeconds;
  if (moduleSeconds !== undefined && moduleSeconds > 0 && (moduleSeconds < allowed || allowed <= 0)) return moduleSeconds;
  // An offset larger than a tiny scrape timeout must not leave a probe with no time at all.
  return allowed > 0 ? allowed : scrapeSeconds;
}
