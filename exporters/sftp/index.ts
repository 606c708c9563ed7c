/** Placeholder registration of the sftp prober, replaced by its implementation. */
import { Type } from '@sinclair/typebox';
import type { ProberDefinition } from '../../src/probe/prober';

const SftpSettingsSchema = Type.Object({}, { additionalProperties: false });

export const sftpProber: ProberDefinition<typeof SftpSettingsSchema> = {
  schema: SftpSettingsSchema,
  validate: () => [],
  checkTarget: () => undefined,
  probe: async (probe) => probe.fail('internal', 'the sftp prober is not implemented yet'),
  secretKeys: [],
};
