/** The sftp prober as the runtime sees it: schema, extra rules and target check; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { SftpSettingsSchema } from './schema';
import { parseSftpTarget } from './target';
import { validateSftpSettings } from './validate';

export const sftpProber: ProberDefinition<typeof SftpSettingsSchema> = {
  schema: SftpSettingsSchema,
  validate: validateSftpSettings,
  checkTarget: (target) => {
    const parsed = parseSftpTarget(target);
    return 'problem' in parsed ? parsed.problem : undefined;
  },
  targetHost: (target) => {
    const parsed = parseSftpTarget(target);
    return 'problem' in parsed ? undefined : parsed.host;
  },
  load: async () => ({ probe: (await import('./prober')).probeSftp }),
};
