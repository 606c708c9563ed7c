/** The docker prober as the runtime sees it: schema, extra rules and target check; the probe function loads on first use. */
import type { ProberDefinition } from '../../src/probe/prober';
import { DockerSettingsSchema } from './schema';
import { parseDockerTarget } from './target';
import { validateDockerSettings } from './validate';

export const dockerProber: ProberDefinition<typeof DockerSettingsSchema> = {
  schema: DockerSettingsSchema,
  validate: validateDockerSettings,
  checkTarget: (target) => {
    const parsed = parseDockerTarget(target);
    return 'problem' in parsed ? parsed.problem : undefined;
  },
  load: async () => ({ probe: (await import('./prober')).probeDocker }),
};
