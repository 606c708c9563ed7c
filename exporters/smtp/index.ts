/** The smtp prober as the runtime sees it: schema, extra rules, target check and probe function. */
import type { ProberDefinition } from '../../src/probe/prober';
import { probeSmtp } from './prober';
import { SmtpSettingsSchema } from './schema';
import { parseSmtpTarget } from './target';
import { validateSmtpSettings } from './validate';

export const smtpProber: ProberDefinition<typeof SmtpSettingsSchema> = {
  schema: SmtpSettingsSchema,
  validate: validateSmtpSettings,
  checkTarget: (target) => {
    const parsed = parseSmtpTarget(target);
    return typeof parsed === 'string' ? parsed : undefined;
  },
  targetHost: (target) => {
    const parsed = parseSmtpTarget(target);
    return typeof parsed === 'string' ? undefined : parsed.host;
  },
  probe: probeSmtp,
};
