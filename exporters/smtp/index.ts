/** The smtp prober as the runtime sees it: schema, extra rules and target check; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
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
  load: async () => ({ probe: (await import('./prober')).probeSmtp }),
};
