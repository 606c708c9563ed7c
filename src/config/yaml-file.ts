/**
 * A YAML config file against its JSON Schema and its own rules, with every problem reported at
 * once, each as `file:line:column: key.path: message`, in the file's order. Shared by the config
 * file (load.ts) and the web config (server/web-config.ts).
 */
import type { ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';
import { ConfigError, dottedPath, type ConfigPath, type ConfigProblem } from './problems';
import { isSecretSchema } from './secrets';
import { firstLine } from '../probe/failure';

/** A compiled schema, as ajv's: true when the value holds, else its `errors`. */
export interface SchemaCheck<T> {
  (value: unknown): value is T;
  errors?: ErrorObject[] | null;
}

/** A file's rules; the hooks are functions, not methods: they are called (and handed on) without a `this`. */
export interface YamlFileRules<T> {
  /** The compiled schema; an ajv with `verbose: true` lets enum problems quote the value found. */
  validate: SchemaCheck<T>;
  /** The one problem of a file with no value at all (empty, or comments only); without it such a file is an empty mapping. */
  emptyFile?: string;
  /** The one problem of a file whose value is not a mapping. */
  notAMapping: string;
  /** Before the schema: may change the value in place; returns problems the schema does not find. */
  beforeSchema?: (raw: Record<string, unknown>) => ConfigProblem[];
  /** A file's own wording for a schema error; undefined keeps the common one. */
  describeSchemaError?: (error: ErrorObject, path: ConfigPath) => ConfigProblem | undefined;
  /** Once the schema holds: the rules it cannot say. */
  afterSchema: (value: T) => ConfigProblem[];
  /**
   * When the schema does not hold: the same rules for the parts that do, so one run reports every
   * problem. `holds(path)` is false where a schema error lies at or below `path`; such parts
   * must be skipped, their values are not what the type says. Without it, rules wait for the schema.
   */
  rulesWhereSchemaHolds?: (raw: Record<string, unknown>, holds: (path: ConfigPath) => boolean) => ConfigProblem[];
}

/** `text` as a `T`, or a ConfigError with every problem; `fileLabel` is what the messages call the file. */
export function parseYamlFile<T>(text: string, fileLabel: string, rules: YamlFileRules<T>): T {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const locate = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${fileLabel}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => `${locate(error.pos[0])}: invalid YAML: ${firstLine(error.message)}`));
  }
  let raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) {
    if (rules.emptyFile !== undefined) throw new ConfigError([`${fileLabel}:1:1: ${rules.emptyFile}`]);
    raw = {};
  }
  if (!isPlainObject(raw)) throw new ConfigError([`${fileLabel}:1:1: ${rules.notAMapping}`]);

  const problems: ConfigProblem[] = rules.beforeSchema?.(raw) ?? [];
  if (rules.validate(raw)) {
    problems.push(...rules.afterSchema(raw));
  } else {
    // A key that breaks a propertyNames rule comes as two errors, the rule's and the key's: the key's says it.
    const errors = (rules.validate.errors ?? []).filter((error) => error.propertyName === undefined);
    const schemaProblems = errors.map((error) => problemFromAjv(error, rules.describeSchemaError));
    problems.push(...schemaProblems);
    // Judged by where each problem is said, which for an unknown or misnamed key is the key itself.
    const holds = (path: ConfigPath) => !schemaProblems.some((problem) => path.every((part, index) => problem.path[index] === part));
    problems.push(...(rules.rulesWhereSchemaHolds?.(raw, holds) ?? []));
  }

  if (problems.length > 0) {
    // In the file's order, whichever check found them (the sort is stable: ties keep the order found).
    const located = problems.map((problem) => ({ offset: offsetOf(doc, problem), problem }));
    located.sort((a, b) => a.offset - b.offset);
    throw new ConfigError(located.map(({ offset, problem }) => `${locate(offset)}: ${dottedPath(problem.path)}: ${problem.message}`));
  }
  // No problems: the schema held.
  return raw as T;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where an ajv error lies, as a config path (its JSON pointer decoded; indexes as numbers). */
function pathOf(error: ErrorObject): ConfigPath {
  return error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function problemFromAjv(error: ErrorObject, describe: YamlFileRules<unknown>['describeSchemaError']): ConfigProblem {
  const path = pathOf(error);
  const own = describe?.(error, path);
  if (own) return own;
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: [...path, error.params.additionalProperty as string], message: 'unknown key', atKey: true };
    case 'required':
      return { path, message: `missing required key "${error.params.missingProperty as string}"` };
    case 'enum':
      // A secret typed into the wrong field must not end up in a log through its error message.
      // (Without ajv's `verbose` there is neither the field's schema nor a value to quote.)
      if (error.data === undefined || isSecretSchema(error.parentSchema)) return { path, message: `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}` };
      return { path, message: `${JSON.stringify(error.data)} is not one of: ${(error.params.allowedValues as unknown[]).join(', ')}` };
    case 'pattern':
      return { path, message: (error.parentSchema?.patternMessage as string | undefined) ?? `must match ${error.params.pattern as string}` };
    case 'propertyNames': {
      const pattern = (error.schema as { pattern?: string } | undefined)?.pattern;
      return { path: [...path, error.params.propertyName as string], message: `invalid key "${error.params.propertyName as string}"${pattern ? `: must match ${pattern}` : ''}`, atKey: true };
    }
    default:
      return { path, message: error.message ?? error.keyword };
  }
}

/**
 * Where a problem sits in the file: the value, or the key for unknown keys; when the path does
 * not exist (a missing key), the deepest part of it that does.
 */
function offsetOf(doc: Document, problem: ConfigProblem): number {
  const { path } = problem;
  for (let length = path.length; length > 0; length--) {
    const parentPath = path.slice(0, length - 1);
    const collection = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
    const part = length === path.length && !problem.atKey ? 'value' : 'key';
    const offset = offsetInCollection(collection, path[length - 1] ?? '', part);
    if (offset !== undefined) return offset;
  }
  return doc.contents?.range?.[0] ?? 0;
}

function offsetInCollection(collection: unknown, key: string | number, part: 'key' | 'value'): number | undefined {
  if (isMap(collection)) {
    const pair = collection.items.find((item) => isScalar(item.key) && String(item.key.value) === String(key));
    if (!pair || !isNode(pair.key)) return undefined;
    const node = part === 'value' && isNode(pair.value) ? pair.value : pair.key;
    return node.range?.[0];
  }
  if (isSeq(collection) && typeof key === 'number') {
    const item = collection.items[key];
    return isNode(item) ? item.range?.[0] : undefined;
  }
  return undefined;
}
