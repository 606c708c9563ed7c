/** Placeholder registration of the postgres prober, replaced by its implementation. */
import { Type } from '@sinclair/typebox';
import type { ProberDefinition } from '../../src/probe/prober';

const PostgresSettingsSchema = Type.Object({}, { additionalProperties: false });

export const postgresProber: ProberDefinition<typeof PostgresSettingsSchema> = {
  schema: PostgresSettingsSchema,
  validate: () => [],
  checkTarget: () => undefined,
  probe: async (probe) => probe.fail('internal', 'the postgres prober is not implemented yet'),
  secretKeys: [],
};
