/**
 * Reads, parses and validates the config file. Every problem is reported at once, each as
 * `file:line:column: key.path: message`, so `--config.check` fixes a file in one round.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';
import { proberDefinition, PROBERS, type ProberName } from '../probers';
import { ConfigSchema, ModuleSchema, proberSettings, type CheckpointConfig } from './schema';
import { ConfigError, dottedPath, type ConfigPath, type ConfigProblem } from './problems';
import { isSecretSchema, missingSecretSources, secretFields } from './secrets';
import { parseRule } from '../security/allowed-targets';

export interface ParseOptions {
  /**
   * Whether every secret file must be readable and every secret variable set now (the default),
   * rather than first at probe time. Off only for reading a config meant for another machine.
   */
  checkSecretSources?: boolean;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const validateSchema = ajv.compile<CheckpointConfig>(ConfigSchema);

export async function loadConfigFile(file: string, options: ParseOptions = {}): Promise<CheckpointConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`${file}: cannot read config file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  return parseConfig(text, path.basename(file), options);
}

/** `fileLabel` is what error messages call the file. */
export function parseConfig(text: string, fileLabel: string, options: ParseOptions = {}): CheckpointConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const locate = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${fileLabel}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => `${locate(error.pos[0])}: invalid YAML: ${firstLine(error.message)}`));
  }
  const raw: unknown = doc.toJS();
  // An empty or half-written file must never replace a running config with one that probes nothing.
  if (raw === null || raw === undefined) throw new ConfigError([`${fileLabel}:1:1: the config file is empty: it must define modules:`]);
  if (!isPlainObject(raw)) throw new ConfigError([`${fileLabel}:1:1: the config must be a mapping with modules: and monitors:`]);
  addMissingProberSections(raw);

  const problems: ConfigProblem[] = [];
  if (isPlainObject(raw.modules) && Object.keys(raw.modules).length === 0) problems.push({ path: ['modules'], message: 'no modules defined: a config must define at least one' });
  const valid = validateSchema(raw);
  if (!valid) problems.push(...(validateSchema.errors ?? []).map(problemFromAjv));
  else problems.push(...semanticProblems(raw, options));

  if (problems.length > 0) {
    const located = problems.map((problem) => ({ offset: offsetOf(doc, problem), problem }));
    located.sort((a, b) => a.offset - b.offset);
    throw new ConfigError(located.map(({ offset, problem }) => `${locate(offset)}: ${dottedPath(problem.path)}: ${problem.message}`));
  }
  const config = raw as unknown as CheckpointConfig;
  // Lookups by a name from a request or a monitor (`constructor`, `__proto__`) find only modules.
  config.modules = Object.assign(Object.create(null) as CheckpointConfig['modules'], config.modules);
  return config;
}

/** A module that names its prober but has no section for it gets an empty one, which ajv then fills with defaults. */
function addMissingProberSections(raw: Record<string, unknown>): void {
  if (!isPlainObject(raw.modules)) return;
  for (const module of Object.values(raw.modules)) {
    if (isPlainObject(module) && typeof module.prober === 'string' && module.prober in PROBERS && module[module.prober] == null) {
      module[module.prober] = {};
    }
  }
}

/** Rules that need more than one key at a time: the prober's own rules, references, uniqueness. */
function semanticProblems(config: CheckpointConfig, options: ParseOptions): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  problems.push(...allowedTargetsProblems(config.allowed_targets, ['allowed_targets']));
  for (const [name, module] of Object.entries(config.modules)) {
    problems.push(...allowedTargetsProblems(module.allowed_targets, ['modules', name, 'allowed_targets']));
    if (options.checkSecretSources !== false) problems.push(...missingSecretSources(secretFields(ModuleSchema, module, ['modules', name])));
    const definition = proberDefinition(module.prober);
    for (const other of Object.keys(PROBERS) as ProberName[]) {
      if (other !== module.prober && (module as Record<string, unknown>)[other] !== undefined) {
        problems.push({ path: ['modules', name, other], message: `section does not match prober "${module.prober}"`, atKey: true });
      }
    }
    problems.push(...definition.validate(proberSettings(module), ['modules', name, module.prober]));
  }
  const seen = new Set<string>();
  config.monitors.forEach((monitor, index) => {
    if (seen.has(monitor.name)) problems.push({ path: ['monitors', index, 'name'], message: `duplicate monitor name "${monitor.name}"` });
    seen.add(monitor.name);
    const module = Object.hasOwn(config.modules, monitor.module) ? config.modules[monitor.module] : undefined;
    if (!module) {
      problems.push({ path: ['monitors', index, 'module'], message: `unknown module "${monitor.module}"` });
      return;
    }
    const targetProblem = proberDefinition(module.prober).checkTarget(monitor.target, proberSettings(module));
    if (targetProblem) problems.push({ path: ['monitors', index, 'target'], message: targetProblem });
    for (const label of Object.keys(monitor.labels)) {
      if (label.startsWith('__') || ['monitor', 'module', 'target', 'instance', 'job'].includes(label)) {
        problems.push({ path: ['monitors', index, 'labels', label], message: 'label name is reserved', atKey: true });
      }
    }
  });
  return problems;
}

function allowedTargetsProblems(entries: string[] | undefined, path: ConfigPath): ConfigProblem[] {
  return (entries ?? []).flatMap((entry, index) => {
    const rule = parseRule(entry);
    return 'problem' in rule ? [{ path: [...path, index], message: rule.problem }] : [];
  });
}

function problemFromAjv(error: ErrorObject): ConfigProblem {
  const path: ConfigPath = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: [...path, error.params.additionalProperty as string], message: 'unknown key', atKey: true };
    case 'required':
      return { path, message: `missing required key "${error.params.missingProperty as string}"` };
    case 'enum':
      // A secret typed into the wrong field must not end up in a log through its error message.
      if (isSecretSchema(error.parentSchema)) return { path, message: `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}` };
      return { path, message: `${JSON.stringify(error.data)} is not one of: ${(error.params.allowedValues as unknown[]).join(', ')}` };
    case 'pattern':
      return { path, message: (error.parentSchema?.patternMessage as string | undefined) ?? `must match ${error.params.pattern as string}` };
    case 'propertyNames':
      return { path, message: `invalid key "${error.params.propertyName as string}"` };
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
    const offset = offsetInCollection(collection, path[length - 1], part);
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}
