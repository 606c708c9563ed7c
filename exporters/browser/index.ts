/** Placeholder registration of the browser prober, replaced by its implementation. */
import { Type } from '@sinclair/typebox';
import type { ProberDefinition } from '../../src/probe/prober';

const BrowserSettingsSchema = Type.Object({}, { additionalProperties: false });

export const browserProber: ProberDefinition<typeof BrowserSettingsSchema> = {
  schema: BrowserSettingsSchema,
  validate: () => [],
  checkTarget: () => undefined,
  probe: async (probe) => probe.fail('internal', 'the browser prober is not implemented yet'),
  secretKeys: [],
};
