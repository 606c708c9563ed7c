/**
 * Config rules that a JSON Schema cannot say and that several probers share; each prober's
 * validate.ts calls them, so one rule has one wording wherever it applies.
 */
import { parseDurationSeconds } from './duration';
import type { ConfigPath, ConfigProblem } from './problems';

/** Two keys of which at most one may be set; the problem is reported at `at` (the later key, or the section). */
export function mutuallyExclusive<Section extends object>(section: Section, keys: readonly [keyof Section & string, keyof Section & string], at: ConfigPath): ConfigProblem[] {
  const set = keys.filter((key) => section[key] !== undefined);
  return set.length > 1 ? [{ path: at, message: `${keys[0]} and ${keys[1]} are mutually exclusive` }] : [];
}

/** A duration that must be longer than 0s (the schema has checked that it is a duration), when set. */
export function positiveDuration(value: string | undefined, at: ConfigPath): ConfigProblem[] {
  if (value === undefined) return [];
  return (parseDurationSeconds(value) ?? 0) > 0 ? [] : [{ path: at, message: 'must be longer than 0s' }];
}
