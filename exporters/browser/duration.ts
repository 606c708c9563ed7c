/** Durations of the browser section, read at probe time from a config the schema and validate.ts accepted. */
import { parseDurationSeconds } from '../../src/config/duration';

/** `duration` in milliseconds; one that is not a duration here got past the config validation, a bug: it throws. */
export function validatedMs(duration: string): number {
  const seconds = parseDurationSeconds(duration);
  if (seconds === undefined) throw new Error(`${JSON.stringify(duration)} is not a duration, and the config validation should have refused it`);
  return seconds * 1000;
}
