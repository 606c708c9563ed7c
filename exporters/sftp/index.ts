/** The sftp prober as the runtime sees it: schema, extra rules, target check and probe function. */
import type { ProberDefinition } from '../../src/probe/prober';
import { probeSftp } from './prober';
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
  probe: probeSftp,
};
