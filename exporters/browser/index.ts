/** The browser prober as the runtime sees it: schema, extra rules and target parsing; the probe function and the shared browser load on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { BrowserSettingsSchema } from './schema';
import { parseBrowserTarget, type BrowserTarget } from './target';
import { validateBrowserSettings } from './validate';

export const browserProber: ProberDefinition<typeof BrowserSettingsSchema, BrowserTarget> = {
  schema: BrowserSettingsSchema,
  validate: validateBrowserSettings,
  parseTarget: parseBrowserTarget,
  targetHost: (target) => target.host,
  load: async () => {
    const [{ probeBrowser }, { sharedBrowsers }] = await Promise.all([import('./prober'), import('./shared-browser')]);
    return { probe: probeBrowser, close: () => sharedBrowsers.close() };
  },
};
