/** Hides secrets before a module's config is shown (`?debug=true`, the status page). */
import { stringify } from 'yaml';
import { PROBERS } from '../probers';
import type { ModuleConfig } from './schema';

export const HIDDEN = '<secret>';

const SECRET_KEYS = new Set(Object.values(PROBERS).flatMap((definition) => definition.secretKeys.map((key) => key.toLowerCase())));

export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, SECRET_KEYS.has(key.toLowerCase()) ? HIDDEN : redact(inner)]));
}

export function moduleAsYaml(module: ModuleConfig): string {
  return stringify(redact(module));
}
