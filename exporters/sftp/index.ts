/** The sftp prober as the runtime sees it: schema, extra rules and target parsing; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { SftpSettingsSchema } from './schema';
import { parseSftpTarget, type SftpTarget } from './target';
import { validateSftpSettings } from './validate';

export const sftpProber: ProberDefinition<typeof SftpSettingsSchema, SftpTarget> = {
  schema: SftpSettingsSchema,
  validate: validateSftpSettings,
  parseTarget: parseSftpTarget,
  targetHost: (target) => target.host,
  load: async () => ({ probe: (await import('./prober')).probeSftp }),
};
