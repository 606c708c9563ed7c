/**
 * The config file's JSON Schema, the single source of truth: the TypeScript types below are
 * derived from it, and ajv fills its defaults.
 */
import { Type, type Static, type TOptional } from '@sinclair/typebox';
import { PROBERS, PROBER_NAMES, type ProberName } from '../probers';
import { Duration, StrictObject, StringEnum } from './schema-helpers';

type ProberSections = { [Name in ProberName]: TOptional<(typeof PROBERS)[Name]['schema']> };
/** Each prober's settings live under a key named after it (`http:`), as in blackbox_exporter. */
const proberSections = Object.fromEntries(Object.entries(PROBERS).map(([name, definition]) => [name, Type.Optional(definition.schema)])) as ProberSections;

/** Host names, `*.domain`, IP addresses, CIDRs or URL prefixes; parsed by src/security/allowed-targets.ts. */
function AllowedTargets(description: string) {
  return Type.Array(Type.String({ minLength: 1 }), { description });
}

export const ModuleSchema = StrictObject({
  prober: StringEnum(PROBER_NAMES),
  timeout: Type.Optional(Duration({ description: 'at most this long per probe; the scrape timeout may cut it shorter' })),
  retries: Type.Integer({ minimum: 0, maximum: 10, default: 0, description: 'a failed probe is tried again at once, within the same deadline' }),
  allowed_targets: Type.Optional(AllowedTargets('restricts the module to its monitors\' targets and these (src/security/allowed-targets.ts)')),
  ...proberSections,
});

const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';

export const MonitorSchema = StrictObject({
  name: Type.String({ minLength: 1 }),
  module: Type.String({ minLength: 1 }),
  target: Type.String({ minLength: 1 }),
  labels: Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String(), { default: {} }),
});

export const ConfigSchema = StrictObject({
  allowed_targets: Type.Optional(AllowedTargets('when set, restricts every module: one without a secret (and not a browser module) may probe its monitors\' targets, these and its own list')),
  modules: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), ModuleSchema),
  monitors: Type.Array(MonitorSchema, { default: [] }),
});

export type ModuleConfig = Static<typeof ModuleSchema>;
export type MonitorConfig = Static<typeof MonitorSchema>;
export type CheckpointConfig = Static<typeof ConfigSchema>;

/** The module's section for its own prober, after validation always present. */
export function proberSettings(module: ModuleConfig): unknown {
  return (module as Record<string, unknown>)[module.prober];
}
