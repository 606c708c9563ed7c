/**
 * Reads, parses and validates the config file. Every problem is reported at once, each as
 * `file:line:column: key.path: message`, so `--config.check` fixes a file in one round.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { AnyProberDefinition, ProberTable, SettingsOf } from '../probe/prober-table';
import { configShellSchema, proberSettings, type CheckpointConfig, type ModuleConfig, type MonitorConfig } from './schema';
import { validatedSeconds } from './duration';
import { positiveDuration } from './rules';
import { ConfigError, type ConfigPath, type ConfigProblem } from './problems';
import { missingSecretSources, secretFields } from './secrets';
import { isPlainObject, parseYamlFile, type SchemaCheck } from './yaml-file';
import { parseRule } from '../security/allowed-targets';

export interface ParseOptions {
  /**
   * Whether every secret file must be readable and every secret variable set now (the default),
   * rather than first at probe time. Off only for reading a config meant for another machine.
   */
  checkSecretSources?: boolean;
  /**
   * The config is one a site runs from its signature (src/config/signature.ts): it must carry a
   * `serial:`, and no secret of its own, only the names of files and variables on the site.
   */
  signed?: boolean;
}

// No code optimization: the validators run once per load, and optimizing their code took longer than running them.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true, code: { optimize: false } });
/** The schema check of each prober table, made once. */
const validators = new WeakMap<ProberTable, SchemaCheck<CheckpointConfig>>();

function validatorFor(probers: ProberTable): SchemaCheck<CheckpointConfig> {
  let validate = validators.get(probers);
  if (!validate) {
    validate = configValidator(probers);
    validators.set(probers, validate);
  }
  return validate;
}

/**
 * The config's schema as one check: the config around the prober sections, then each module's
 * section against its prober's schema, compiled with the first config that has a module of that
 * prober. Compiling every prober's schema at once took over 200 ms of a start (ajv, measured),
 * most of it for probers a checkpoint may never use.
 */
function configValidator(probers: ProberTable): SchemaCheck<CheckpointConfig> {
  const shell = ajv.compile<CheckpointConfig>(configShellSchema(probers));
  const sections = new Map<string, ValidateFunction>();
  const sectionValidator = (prober: string) => {
    let validate = sections.get(prober);
    if (!validate) {
      validate = ajv.compile(probers.definition(prober).schema);
      sections.set(prober, validate);
    }
    return validate;
  };
  const check = ((value: unknown) => {
    const errors: ErrorObject[] = shell(value) ? [] : [...(shell.errors ?? [])];
    const modules = isPlainObject(value) && isPlainObject(value.modules) ? value.modules : {};
    for (const [name, module] of Object.entries(modules)) {
      if (!isPlainObject(module) || typeof module.prober !== 'string' || !probers.has(module.prober) || module[module.prober] === undefined) continue;
      const validate = sectionValidator(module.prober);
      if (validate(module[module.prober])) continue;
      const sectionPath = `/modules/${jsonPointerPart(name)}/${module.prober}`;
      errors.push(...(validate.errors ?? []).map((error) => ({ ...error, instancePath: `${sectionPath}${error.instancePath}` })));
    }
    check.errors = errors.length > 0 ? errors : null;
    return errors.length === 0;
  }) as SchemaCheck<CheckpointConfig>;
  return check;
}

function jsonPointerPart(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Why a signed config may not hold a secret: it travels to every site, and is kept on their disks. */
const INLINE_SECRET_IN_SIGNED = 'a signed config carries no secret: name a file or an environment variable on the site instead (the _file or _env key)';

/** A config loaded with `probers`: each module typed as its prober's (a union discriminated by `prober`). */
export type ConfigOf<Definitions extends Record<string, AnyProberDefinition>> = CheckpointConfig<ModuleConfig<SettingsOf<Definitions>>>;

export async function loadConfigFile<Definitions extends Record<string, AnyProberDefinition>>(
  file: string,
  probers: ProberTable<Definitions>,
  options: ParseOptions = {},
): Promise<ConfigOf<Definitions>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`${file}: cannot read config file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  return parseConfig(text, path.basename(file), probers, options);
}

/** `fileLabel` is what error messages call the file. */
export function parseConfig<Definitions extends Record<string, AnyProberDefinition>>(
  text: string,
  fileLabel: string,
  probers: ProberTable<Definitions>,
  options: ParseOptions = {},
): ConfigOf<Definitions> {
  const config = parseYamlFile(text, fileLabel, {
    validate: validatorFor(probers),
    // An empty or half-written file must never replace a running config with one that probes nothing.
    emptyFile: 'the config file is empty: it must define modules:',
    notAMapping: 'the config must be a mapping with modules: and monitors:',
    beforeSchema(raw) {
      addMissingProberSections(raw, probers);
      if (isPlainObject(raw.modules) && Object.keys(raw.modules).length === 0) return [{ path: ['modules'], message: 'no modules defined: a config must define at least one' }];
      return [];
    },
    afterSchema: (config) => semanticProblems(config, probers, options, () => true),
    // The parts the schema passed are typed as the config says: the same rules run on them.
    rulesWhereSchemaHolds: (raw, holds) => semanticProblems(raw as CheckpointConfig, probers, options, holds),
  });
  // Lookups by a name from a request or a monitor (`constructor`, `__proto__`) find only modules.
  config.modules = Object.assign(Object.create(null) as CheckpointConfig['modules'], config.modules);
  // The schema checked each module's section against its prober's schema, whose type that section has.
  return config as ConfigOf<Definitions>;
}

/** A module that names its prober but has no section for it gets an empty one, which ajv then fills with defaults. */
function addMissingProberSections(raw: Record<string, unknown>, probers: ProberTable): void {
  if (!isPlainObject(raw.modules)) return;
  for (const module of Object.values(raw.modules)) {
    if (isPlainObject(module) && typeof module.prober === 'string' && probers.has(module.prober) && module[module.prober] == null) {
      module[module.prober] = {};
    }
  }
}

/**
 * Rules that need more than one key at a time: the prober's own rules, references, uniqueness.
 * Each module and monitor is checked only where the schema holds for it (`holds`), so a config
 * with schema errors still gets every other problem reported in the same run.
 */
function semanticProblems(config: CheckpointConfig, probers: ProberTable, options: ParseOptions, holds: (path: ConfigPath) => boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (options.signed && config.serial === undefined)
    problems.push({ path: ['serial'], message: 'a signed config needs one: a whole number, greater with every version signed (a site refuses an older one)' });
  if (holds(['allowed_targets'])) problems.push(...allowedTargetsProblems(config.allowed_targets, ['allowed_targets']));
  const modules = isPlainObject(config.modules) ? config.modules : {};
  for (const [name, module] of Object.entries(modules)) {
    if (!holds(['modules', name])) continue;
    const definition = probers.definition(module.prober);
    if (module.allowed_targets !== undefined && !definition.targetHost) {
      // Its entries would match nothing: a docker target is a container, not a host.
      problems.push({ path: ['modules', name, 'allowed_targets'], message: `${module.prober} targets are not hosts: declare them as monitors instead`, atKey: true });
    } else {
      problems.push(...allowedTargetsProblems(module.allowed_targets, ['modules', name, 'allowed_targets']));
    }
    const secrets = secretFields(definition.schema, proberSettings(module), ['modules', name, module.prober]);
    if (options.checkSecretSources !== false) problems.push(...missingSecretSources(secrets));
    if (options.signed)
      problems.push(...secrets.filter((field) => field.kind === 'value' || field.kind === 'url').map((field) => ({ path: field.path, message: INLINE_SECRET_IN_SIGNED, atKey: true })));
    for (const other of probers.names) {
      if (other !== module.prober && module[other] !== undefined) {
        problems.push({ path: ['modules', name, other], message: `section does not match prober "${module.prober}"`, atKey: true });
      }
    }
    problems.push(...definition.validate(proberSettings(module), ['modules', name, module.prober]));
  }
  const seen = new Set<string>();
  (Array.isArray(config.monitors) ? config.monitors : []).forEach((monitor, index) => {
    if (!holds(['monitors', index])) return;
    if (seen.has(monitor.name)) problems.push({ path: ['monitors', index, 'name'], message: `duplicate monitor name "${monitor.name}"` });
    seen.add(monitor.name);
    problems.push(...scheduleProblems(monitor, ['monitors', index]));
    const module = Object.hasOwn(modules, monitor.module) ? modules[monitor.module] : undefined;
    if (!module) {
      problems.push({ path: ['monitors', index, 'module'], message: `unknown module "${monitor.module}"` });
      return;
    }
    // A module the schema refused has had its problems said; its targets cannot be judged.
    if (!holds(['modules', monitor.module])) return;
    const parsed = probers.definition(module.prober).parseTarget(monitor.target);
    if ('problem' in parsed) problems.push({ path: ['monitors', index, 'target'], message: parsed.problem });
    // What Prometheus sets from the scrape: the monitor's own, the checkpoint that probes it, and
    // the site a site's agent labels everything with (a monitor must not pose as another site).
    for (const label of Object.keys(monitor.labels)) {
      if (label.startsWith('__') || ['monitor', 'module', 'target', 'instance', 'job', 'checkpoint', 'site'].includes(label)) {
        problems.push({ path: ['monitors', index, 'labels', label], message: 'label name is reserved', atKey: true });
      }
    }
  });
  return problems;
}

/**
 * The longest interval a monitor may ask for: the shipped alert rules judge each checkpoint on its
 * probes of the last minutes (prometheus/rules/services.yml), and a monitor probed less often has
 * too few of them there to be confirmed down.
 */
const MAX_INTERVAL_SECONDS = 60;

/**
 * A monitor's own interval and timeout, as Prometheus will take them from /sd: longer than 0s, an
 * interval of at most a minute, and a timeout no longer than the interval (Prometheus drops a
 * target whose timeout is longer).
 */
function scheduleProblems(monitor: MonitorConfig, path: ConfigPath): ConfigProblem[] {
  const problems = [...positiveDuration(monitor.interval, [...path, 'interval']), ...positiveDuration(monitor.timeout, [...path, 'timeout'])];
  if (problems.length === 0 && monitor.interval !== undefined && validatedSeconds(monitor.interval) > MAX_INTERVAL_SECONDS) {
    problems.push({
      path: [...path, 'interval'],
      message: `interval ${monitor.interval} is longer than 1m: the alert rules confirm an outage on each checkpoint's probes of the last minutes, and would see too few`,
    });
  }
  if (problems.length > 0 || monitor.interval === undefined || monitor.timeout === undefined) return problems;
  if (validatedSeconds(monitor.timeout) > validatedSeconds(monitor.interval)) {
    problems.push({ path: [...path, 'timeout'], message: `timeout ${monitor.timeout} is longer than the monitor's interval ${monitor.interval}; Prometheus would drop the target` });
  }
  return problems;
}

function allowedTargetsProblems(entries: string[] | undefined, path: ConfigPath): ConfigProblem[] {
  return (entries ?? []).flatMap((entry, index) => {
    const rule = parseRule(entry);
    return 'problem' in rule ? [{ path: [...path, index], message: rule.problem }] : [];
  });
}
