/** Placeholder registration of the smtp prober, replaced by its implementation. */
import { Type } from '@sinclair/typebox';
import type { ProberDefinition } from '../../src/probe/prober';

const SmtpSettingsSchema = Type.Object({}, { additionalProperties: false });

export const smtpProber: ProberDefinition<typeof SmtpSettingsSchema> = {
  schema: SmtpSettingsSchema,
  validate: () => [],
  checkTarget: () => undefined,
  probe: async (probe) => probe.fail('internal', 'the smtp prober is not implemented yet'),
  secretKeys: [],
};
