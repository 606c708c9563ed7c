/** Prometheus duration strings ("1m30s", "500ms", "5s"), as blackbox_exporter's `timeout:` accepts them. */
const UNIT_SECONDS = {
  y: 365 * 24 * 3600,
  w: 7 * 24 * 3600,
  d: 24 * 3600,
  h: 3600,
  m: 60,
  s: 1,
  ms: 0.001,
} as const;

export const DURATION_PATTERN = '^((\\d+)y)?((\\d+)w)?((\\d+)d)?((\\d+)h)?((\\d+)m)?((\\d+)s)?((\\d+)ms)?$';

const DURATION = new RegExp(DURATION_PATTERN);

/** Seconds in a Prometheus duration, or undefined when the text is not one. */
export function parseDurationSeconds(text: string): number | undefined {
  if (text === '' || !DURATION.test(text)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|[ywdhms])/g)) seconds += Number(amount) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  return seconds;
}

/**
 * Seconds in a duration the config's schema has already accepted (a module's timeout, a prober's
 * interval): read at probe time. One that is not a duration got past the validation, a bug: it throws.
 */
export function validatedSeconds(duration: string): number {
  const seconds = parseDurationSeconds(duration);
  if (seconds === undefined) throw new Error(`${JSON.stringify(duration)} is not a duration, and the config validation should have refused it`);
  return seconds;
}
