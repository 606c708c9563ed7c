/** The smtp prober as the runtime sees it: schema, extra rules and target parsing; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { SmtpSettingsSchema } from './schema';
import { parseSmtpTarget, type SmtpTarget } from './target';
import { validateSmtpSettings } from './validate';

export const smtpProber: ProberDefinition<typeof SmtpSettingsSchema, SmtpTarget> = {
  schema: SmtpSettingsSchema,
  validate: validateSmtpSettings,
  parseTarget: parseSmtpTarget,
  targetHost: (target) => target.host,
  load: async () => ({ probe: (await import('./prober')).probeSmtp }),
};
