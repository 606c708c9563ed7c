/**
 * Secrets are known by a mark on their schema field, not by a list of key names: a field is a
 * secret value (hidden wherever the config is shown), a secret file or a secret environment
 * variable (named in the config, read at every probe). The marks decide three things:
 * what `?debug=true` and the status page hide, which modules carry a secret and so may probe
 * only their own targets (src/security/allowed-targets.ts), and which files and variables
 * `--config.check` makes sure exist.
 */
import { accessSync, constants } from 'node:fs';
import { Type, type StringOptions, type TOptional, type TSchema, type TString } from '@sinclair/typebox';
import type { ConfigPath, ConfigProblem } from './problems';
import { mutuallyExclusive } from './rules';

export type SecretKind = 'value' | 'file' | 'env' | 'url';

/** The JSON Schema keyword carrying the mark; ajv ignores it (strict: false). */
const MARK = 'secret';
/** On a record (`headers:`): keys whose plain values are secrets all the same. */
const SECRET_KEYS_MARK = 'secretKeys';

const HIDDEN = '<secret>';

/** A secret written in the config itself (blackbox_exporter's inline `password`). */
export function SecretValue(options: StringOptions = {}) {
  return Type.String({ ...options, [MARK]: 'value' });
}

/**
 * A URL whose password, when it has one (`http://user:pass@proxy`), is a secret: only the
 * password is hidden, and a URL without one is no secret at all.
 */
export function SecretUrl(options: StringOptions = {}) {
  return Type.String({ ...options, [MARK]: 'url' });
}

/** A file holding a secret, read at every probe (a trailing newline is ignored). */
export function SecretFile(options: StringOptions = {}) {
  return Type.String({ minLength: 1, ...options, [MARK]: 'file' });
}

/** An environment variable holding a secret, read at every probe. */
export function SecretEnv(options: StringOptions = {}) {
  return Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternMessage: 'must be an environment variable name', ...options, [MARK]: 'env' });
}

/** Whether a schema node is a secret field, for messages that must not quote its value. */
export function isSecretSchema(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && MARK in schema;
}

export interface SecretField {
  kind: SecretKind;
  path: ConfigPath;
  /** The secret itself for `value`, a path for `file`, a variable name for `env`. */
  value: string;
}

/** Every secret field set in `value`, found by walking it beside its (validated) schema. */
export function secretFields(schema: TSchema, value: unknown, path: ConfigPath = []): SecretField[] {
  const found: SecretField[] = [];
  walk(schema, value, path, (kind, fieldPath, fieldValue) => {
    found.push({ kind, path: fieldPath, value: fieldValue });
    return fieldValue;
  });
  return found;
}

/** A copy of `value` with every secret value replaced by `<secret>`; files and variables stay named. */
export function redactSecrets(schema: TSchema, value: unknown): unknown {
  return walk(schema, value, [], (kind, _path, fieldValue) => (kind === 'value' ? HIDDEN : kind === 'url' ? withHiddenPassword(fieldValue) : fieldValue));
}

function withHiddenPassword(value: string): string {
  const url = new URL(value);
  // Set as a placeholder, then shown unencoded: `<secret>` would be percent-encoded in a URL.
  url.password = 'p';
  return url.href.replace(':p@', `:${HIDDEN}@`);
}

/** The secret files that cannot be read and the variables that are not set, as problems. */
export function missingSecretSources(fields: SecretField[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const field of fields) {
    if (field.kind === 'file') {
      try {
        accessSync(field.value, constants.R_OK);
      } catch (error) {
        problems.push({ path: field.path, message: `cannot read secret file ${field.value}: ${(error as NodeJS.ErrnoException).code ?? 'error'}` });
      }
    } else if (field.kind === 'env' && process.env[field.value] === undefined) {
      problems.push({ path: field.path, message: `environment variable ${field.value} is not set` });
    }
  }
  return problems;
}

type Visit = (kind: SecretKind, path: ConfigPath, value: string) => unknown;

function walk(schema: TSchema, value: unknown, path: ConfigPath, visit: Visit): unknown {
  const node = schema as Record<string, unknown>;
  if (typeof value === 'string' && isSecretSchema(node)) {
    const kind = node[MARK] as SecretKind;
    if (kind !== 'url') return visit(kind, path, value);
    // A URL is a secret in its password only; one that does not parse (refused at load, but
    // shown in the refusal) may hold a password anywhere, so all of it is one.
    if (!URL.canParse(value)) return visit('value', path, value);
    return new URL(value).password === '' ? value : visit('url', path, value);
  }
  if (Array.isArray(node.anyOf)) {
    // A union (a header given as a string or as { secret_file }): the branch of the value's shape.
    const branch = (node.anyOf as TSchema[]).find((option) => shapeFits(option, value));
    return branch ? walk(branch, value, path, visit) : value;
  }
  if (Array.isArray(value)) {
    const items = node.items as TSchema | undefined;
    return items ? value.map((item, index) => walk(items, item, [...path, index], visit)) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  const properties = (node.properties ?? {}) as Record<string, TSchema>;
  const patterns = Object.values((node.patternProperties ?? {}) as Record<string, TSchema>);
  const secretKeys = new Set(((node[SECRET_KEYS_MARK] ?? []) as string[]).map((key) => key.toLowerCase()));
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => {
      const innerPath = [...path, key];
      if (typeof inner === 'string' && secretKeys.has(key.toLowerCase())) return [key, visit('value', innerPath, inner)];
      const innerSchema = properties[key] ?? patterns[0];
      return [key, innerSchema ? walk(innerSchema, inner, innerPath, visit) : inner];
    }),
  );
}

function shapeFits(schema: TSchema, value: unknown): boolean {
  const type = (schema as { type?: string }).type;
  if (type === 'object') return typeof value === 'object' && value !== null && !Array.isArray(value);
  if (type === 'array') return Array.isArray(value);
  return type === undefined || typeof value === type || (type === 'integer' && typeof value === 'number');
}

/** Marks a record's keys whose plain string values are secrets (credential headers). */
export function secretKeysMark(keys: readonly string[]): Record<string, readonly string[]> {
  return { [SECRET_KEYS_MARK]: keys };
}

/**
 * A secret that may come from a file or from the environment, `<name>_file` and `<name>_env`:
 * the pair as every prober spells it. `secretSourceProblems` holds the rules for it.
 */
export function SecretSource<const Name extends string>(name: Name, what: string) {
  return {
    [`${name}_file`]: Type.Optional(SecretFile({ description: `file holding the ${what} (a trailing newline is ignored)` })),
    [`${name}_env`]: Type.Optional(SecretEnv({ description: `environment variable holding the ${what}` })),
  } as { [Key in `${Name}_file` | `${Name}_env`]: TOptional<TString> };
}

/** A section with the `SecretSource` pair `name`, as validated: at most one of the two set. */
export type SecretSourceOf<Name extends string> = { [Key in `${Name}_file` | `${Name}_env`]?: string };

/**
 * The rules of a `SecretSource` pair: not both, and, when `required`, one of them. The clash is
 * reported at `<name>_env`, or at `clashAt` for a section that is only the pair (smtp's auth:).
 */
export function secretSourceProblems<Name extends string>(section: SecretSourceOf<Name>, name: Name, path: ConfigPath, options: { required?: boolean; clashAt?: ConfigPath } = {}): ConfigProblem[] {
  const file = `${name}_file` as const;
  const env = `${name}_env` as const;
  const clash = mutuallyExclusive(section, [file, env], options.clashAt ?? [...path, env]);
  if (clash.length > 0) return clash;
  if (options.required && section[file] === undefined && section[env] === undefined) return [{ path, message: `needs ${file} or ${env}` }];
  return [];
}
