/**
 * Parsed YAML or JSON read as the shape a test expects. The parsers return `any`; a test states the
 * parts it reads as a TypeBox schema (its type is the interface the test reads through), and a file
 * of another shape fails the test saying where it differs, not with a TypeError deep in an assertion.
 * Objects may hold more keys than the schema names: a test describes only what it reads.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** `value`, parsed from `what` (a file name, a response), checked against `schema`. */
export function parsedAs<Schema extends TSchema>(schema: Schema, value: unknown, what: string): Static<Schema> {
  if (Value.Check(schema, value)) return value;
  const problems = [...Value.Errors(schema, value)].slice(0, 5).map((error) => `${error.path || '/'}: ${error.message}`);
  throw new Error(`${what} does not have the shape this test reads: ${problems.join('; ')}`);
}
