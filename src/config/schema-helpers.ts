/** Small TypeBox building blocks shared by the runtime's schema and the probers' schemas. */
import { Type, type TSchema, type TUnsafe, type ObjectOptions, type TProperties } from '@sinclair/typebox';
import { DURATION_PATTERN } from './duration';

/** A string from a fixed list, as a plain JSON Schema `enum` so ajv reports one clear error. */
export function StringEnum<const Values extends readonly string[]>(values: Values, options: { default?: Values[number]; description?: string } = {}): TUnsafe<Values[number]> {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], ...options });
}

/** An object that refuses unknown keys, as blackbox_exporter does. */
export function StrictObject<Properties extends TProperties>(properties: Properties, options: ObjectOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/**
 * A map whose keys must match `namePattern` and whose values are all `value`. (A TypeBox Record
 * with a pattern key checks only the values of keys that match, and lets any other key through
 * unchecked: a module or label name that breaks the rule must be an error instead.)
 */
export function NamedRecord<Value extends TSchema>(namePattern: string, value: Value, options: ObjectOptions = {}) {
  return Type.Record(Type.String(), value, { ...options, propertyNames: { pattern: namePattern } });
}

/** A Prometheus duration such as "5s" or "1m30s". */
export function Duration(options: { description?: string; default?: string } = {}) {
  return Type.String({ pattern: DURATION_PATTERN, patternMessage: 'must be a duration such as 5s, 500ms or 1m30s', ...options });
}

export type { TSchema };

/** blackbox_exporter's `preferred_ip_protocol` and `ip_protocol_fallback`, for every prober that resolves a name. */
export const IpProtocolKeys = {
  preferred_ip_protocol: StringEnum(['ip4', 'ip6'], { default: 'ip6' }),
  ip_protocol_fallback: Type.Boolean({ default: true }),
};
