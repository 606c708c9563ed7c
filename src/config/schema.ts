/**
 * The config file's JSON Schema, the single source of truth: ajv validates against it and fills
 * its defaults, and the TypeScript types below are derived from it. The keys every module has are
 * fixed here; each prober's own section (`http:`) comes from the prober table the config is
 * loaded with (src/probe/prober-table.ts), and its type is the prober's own.
 */
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import type { ProberTable } from '../probe/prober-table';
import { Duration, NamedRecord, StrictObject, StringEnum } from './schema-helpers';

/** Host names, `*.domain`, IP addresses, CIDRs or URL prefixes; parsed by src/security/allowed-targets.ts. */
function AllowedTargets(description: string) {
  return Type.Array(Type.String({ minLength: 1 }), { description });
}

/** The keys of a module beside `prober:` and the prober's section. */
const MODULE_KEYS = {
  timeout: Type.Optional(Duration({ description: 'at most this long per probe; the scrape timeout may cut it shorter' })),
  retries: Type.Integer({ minimum: 0, maximum: 10, default: 0, description: 'a failed probe is tried again at once, within the same deadline' }),
  allowed_targets: Type.Optional(AllowedTargets("restricts the module to its monitors' targets and these (src/security/allowed-targets.ts)")),
};

const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';

export const MonitorSchema = StrictObject({
  name: Type.String({ minLength: 1 }),
  module: Type.String({ minLength: 1 }),
  target: Type.String({ minLength: 1 }),
  labels: NamedRecord(LABEL_NAME, Type.String(), { default: {} }),
  interval: Type.Optional(Duration({ description: "how often Prometheus probes this monitor, instead of the probe job's scrape_interval (/sd passes it as __scrape_interval__)" })),
  timeout: Type.Optional(Duration({ description: "the scrape timeout of this monitor's probes, instead of the job's (/sd passes it as __scrape_timeout__); at most its interval" })),
});

function configSchemaWith<Module extends TSchema>(module: Module) {
  return StrictObject({
    serial: Type.Optional(Type.Integer({ minimum: 1, description: 'the version of a signed config: a site runs only a serial greater than the one it runs (docs/security.md)' })),
    allowed_targets: Type.Optional(AllowedTargets("when set, restricts every module: one without a secret (and not a browser module) may probe its monitors' targets, these and its own list")),
    modules: NamedRecord('^[A-Za-z0-9_.-]+$', module),
    monitors: Type.Array(MonitorSchema, { default: [] }),
  });
}

/**
 * The config's schema for the probers of `probers`, but for what is inside each prober's section:
 * `prober:` names one of them, and each may have its section, whose own schema is the prober's
 * (checked apart, see load.ts, so that a config compiles only the schemas of the probers it uses).
 */
export function configShellSchema(probers: ProberTable) {
  const sections = Object.fromEntries(probers.names.map((name) => [name, Type.Optional(Type.Unknown())]));
  return configSchemaWith(StrictObject({ prober: StringEnum(probers.names), ...MODULE_KEYS, ...sections }));
}

/** The keys every module has beside `prober:` (which the loader checks against the prober table, see configShellSchema) and its section. */
type ModuleKeys = Static<TObject<typeof MODULE_KEYS>>;

/**
 * A module of a prober table whose probers' settings are `Sections` (by prober name): a union
 * discriminated by `prober`, whose section named after it has that prober's type. With the
 * default, the runtime's view: it knows the shared keys, and a section only as its prober's.
 */
export type ModuleConfig<Sections extends Record<string, unknown> = Record<string, unknown>> = {
  [Name in keyof Sections & string]: ModuleKeys & { prober: Name } & { readonly [Section in Name]: Sections[Name] };
}[keyof Sections & string];
export type MonitorConfig = Static<typeof MonitorSchema>;
/** A loaded config; its modules are those of the prober table it was loaded with (`ModuleConfig`). */
export type CheckpointConfig<Module = ModuleConfig> = Omit<Static<ReturnType<typeof configSchemaWith>>, 'modules'> & { modules: Record<string, Module> };

/** The module's section for its own prober, after validation always present. */
export function proberSettings(module: ModuleConfig): unknown {
  return module[module.prober];
}
