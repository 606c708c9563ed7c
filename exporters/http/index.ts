/** The http prober as the runtime sees it: schema, extra rules and target parsing; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { HttpSettingsSchema } from './schema';
import { parseHttpTarget, type HttpTarget } from './target';
import { validateHttpSettings } from './validate';

export const httpProber: ProberDefinition<typeof HttpSettingsSchema, HttpTarget> = {
  schema: HttpSettingsSchema,
  validate: validateHttpSettings,
  parseTarget: parseHttpTarget,
  targetHost: (target) => target.host,
  load: async () => ({ probe: (await import('./prober')).probeHttp }),
};
