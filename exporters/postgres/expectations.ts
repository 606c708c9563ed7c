/**
 * `expect_value` and `expect_regexp`: checks on the first column of the query's first row, as the
 * server printed it (values are never parsed, so `t`, `2024-01-01 00:00:00+00` and `1.50` compare
 * exactly as psql shows them).
 */
import { regexpMatches } from '../../src/config/regexp';
import type { PostgresSettings } from './schema';

/**
 * Why the first value fails the module's expectations, or undefined when it meets them (or there
 * are none). `firstValue` is undefined when the query returned no row, null for SQL NULL.
 */
export function expectationFailure(firstValue: string | null | undefined, settings: Pick<PostgresSettings, 'expect_value' | 'expect_regexp'>): string | undefined {
  const { expect_value: expected, expect_regexp: pattern } = settings;
  if (expected === undefined && pattern === undefined) return undefined;
  if (firstValue === undefined) return 'the query returned no row to check';
  if (firstValue === null) return 'the first value is NULL, which matches no expectation';
  if (expected !== undefined && firstValue !== expected) return `the first value ${quoted(firstValue)} is not the expected ${quoted(expected)}`;
  if (pattern !== undefined && !regexpMatches(pattern, firstValue)) return `the first value ${quoted(firstValue)} does not match expect_regexp ${JSON.stringify(pattern)}`;
  return undefined;
}

/** Values go into log lines and failure messages; a long one is cut so neither grows without bound. */
export function truncated(value: string): string {
  return value.length > 200 ? `${value.slice(0, 200)}...` : value;
}

function quoted(value: string): string {
  return JSON.stringify(truncated(value));
}
