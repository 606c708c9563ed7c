/** The browser prober as the runtime sees it: schema, extra rules and target check; the probe function and the shared browser load on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { urlHost } from '../../src/net/url-host';
import { BrowserSettingsSchema } from './schema';
import { validateBrowserSettings } from './validate';

export const browserProber: ProberDefinition<typeof BrowserSettingsSchema> = {
  schema: BrowserSettingsSchema,
  validate: validateBrowserSettings,
  checkTarget,
  targetHost: urlHost,
  load: async () => {
    const [{ probeBrowser }, { sharedBrowsers }] = await Promise.all([import('./prober'), import('./shared-browser')]);
    return { probe: probeBrowser, close: () => sharedBrowsers.close() };
  },
};

function checkTarget(target: string): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return `target ${JSON.stringify(target)} is not a URL (the browser prober needs the start URL, such as https://app.example.com/login)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `target scheme "${url.protocol.slice(0, -1)}" is not supported by the browser prober (use http:// or https://)`;
  if (url.username || url.password) return 'credentials do not belong in a target, which becomes a label: log in with fill steps and value_file';
  return undefined;
}
