/** Placeholder registration of the docker prober, replaced by its implementation. */
import { Type } from '@sinclair/typebox';
import type { ProberDefinition } from '../../src/probe/prober';

const DockerSettingsSchema = Type.Object({}, { additionalProperties: false });

export const dockerProber: ProberDefinition<typeof DockerSettingsSchema> = {
  schema: DockerSettingsSchema,
  validate: () => [],
  checkTarget: () => undefined,
  probe: async (probe) => probe.fail('internal', 'the docker prober is not implemented yet'),
  secretKeys: [],
};
