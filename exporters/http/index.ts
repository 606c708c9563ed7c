/** The http prober as the runtime sees it: schema, extra rules and target check; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { urlHost } from '../../src/net/url-host';
import { withDefaultScheme } from './target';
import { HttpSettingsSchema } from './schema';
import { validateHttpSettings } from './validate';

export const httpProber: ProberDefinition<typeof HttpSettingsSchema> = {
  schema: HttpSettingsSchema,
  validate: validateHttpSettings,
  checkTarget,
  targetHost: (target) => urlHost(withDefaultScheme(target)),
  load: async () => ({ probe: (await import('./prober')).probeHttp }),
};

function checkTarget(target: string): string | undefined {
  let url: URL;
  try {
    url = new URL(withDefaultScheme(target));
  } catch {
    return `target ${JSON.stringify(target)} is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `target scheme "${url.protocol.slice(0, -1)}" is not supported by the http prober (use http:// or https://)`;
  if (url.hostname === '') return `target ${JSON.stringify(target)} has no host`;
  if (url.username || url.password) return 'credentials do not belong in a target, which becomes a label: use basic_auth.password_file';
  return undefined;
}
