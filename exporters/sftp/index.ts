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
  probe: probeSftp,
  // The module holds no secret values, only where to find them (files, variable names), which the
  // status page may show. Key names here are hidden for every prober, so none is listed.
  secretKeys: [],
};
